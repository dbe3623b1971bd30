// The sessions of the streaming server: exec (a command's stdio, a pty with tty) and port-forward (TCP
// connections to 127.0.0.1 in the sandbox's network namespace).
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "cri/stream_session.hpp"
#include "util/error.hpp"

namespace pod::cri {

namespace {

// One fd a session reads and the channel its bytes go to.
struct Source {
  UniqueFd fd;
  unsigned char channel;
  bool send = true;  // false: read and dropped (a stream the client did not ask for)
};

// Read every source until each has ended (EOF; EIO for a pty master whose slave is closed) or `stop`;
// their bytes go to `send`; `ended(i)` is called when source i ends.
template <class Send, class Ended>
void pump(std::vector<Source>& srcs, const std::atomic<bool>& stop, Send&& send, Ended&& ended) {
  std::vector<size_t> open;
  for (size_t i = 0; i < srcs.size(); ++i) open.push_back(i);
  char buf[32768];
  while (!open.empty() && !stop) {
    std::vector<pollfd> p;
    for (size_t i : open) p.push_back({srcs[i].fd.get(), POLLIN, 0});
    if (::poll(p.data(), p.size(), 100) < 0 && errno != EINTR) throw_sys("poll");
    for (size_t k = p.size(); k-- > 0;) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Source& s = srcs[open[k]];
      ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n > 0) {
        if (s.send) send(s.channel, std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      ended(open[k]);
      open.erase(open.begin() + static_cast<long>(k));
    }
  }
}

UniqueFd dup_fd(int fd) {
  UniqueFd d(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!d) throw_sys("dup");
  return d;
}

class ExecSession final : public Session {
 public:
  ExecSession(const Env& env, const ExecRequest& r, int version, Wake wake)
      : Session(std::move(wake)), version_(version), tty_(r.tty) {
    auto rt = env.runtime();
    ExecIo io;
    io.tty = r.tty;
    UniqueFd child_in, child_out, child_err;  // the command's ends, closed here once it has them
    UniqueFd stdin_w;
    if (r.tty) {
      int m = -1, s = -1;
      if (::openpty(&m, &s, nullptr, nullptr, nullptr) < 0) throw_sys("cannot open a pty for the exec");
      master_ = UniqueFd(m);
      child_in = UniqueFd(s);
      ::fcntl(m, F_SETFD, FD_CLOEXEC);
      ::fcntl(s, F_SETFD, FD_CLOEXEC);
      io.in = io.out = io.err = child_in.get();
      srcs_.push_back({dup_fd(m), kStdout, r.out});
      if (r.in) stdin_w = dup_fd(m);
    } else {
      if (r.in) {
        auto [rd, wr] = make_pipe();
        child_in = std::move(rd), stdin_w = std::move(wr);
        io.in = child_in.get();
      }
      if (r.out) {
        auto [rd, wr] = make_pipe();
        srcs_.push_back({std::move(rd), kStdout});
        child_out = std::move(wr);
        io.out = child_out.get();
      }
      if (r.err) {
        auto [rd, wr] = make_pipe();
        srcs_.push_back({std::move(rd), kStderr});
        child_err = std::move(wr);
        io.err = child_err.get();
      }
    }
    proc_ = rt.exec_stream(r.uuid, r.app, r.cmd, io);
    child_in.reset(), child_out.reset(), child_err.reset();
    if (stdin_w) stdin_ = std::make_unique<FdWriter>(std::move(stdin_w));
    thread_ = std::thread([this, cmd = r.cmd] { run(cmd); });
  }

  ~ExecSession() override {
    stop_ = true;
    stop_sending();
    thread_.join();
    stdin_.reset();
    proc_.kill();  // a client gone mid-exec leaves nothing running
  }

  void on_message(const std::string& msg) override {
    if (msg.empty()) return;
    const auto ch = static_cast<unsigned char>(msg[0]);
    if (ch == kStdin && stdin_) stdin_->write(msg.substr(1));
    else if (ch == kResize && tty_) resize(msg.substr(1));
    else if (ch == kClose && version_ >= 5 && msg.size() >= 2 && msg[1] == kStdin && stdin_ && !tty_) stdin_->close();
  }

 private:
  void resize(const std::string& json) {
    auto j = nlohmann::json::parse(json, nullptr, false);
    if (!j.is_object() || !j.contains("Width") || !j.contains("Height") || !j["Width"].is_number_unsigned() ||
        !j["Height"].is_number_unsigned())
      return;  // as the kubelet: a malformed resize is ignored
    winsize ws{};
    ws.ws_col = j["Width"].get<unsigned short>();
    ws.ws_row = j["Height"].get<unsigned short>();
    ::ioctl(master_.get(), TIOCSWINSZ, &ws);
  }

  void run(const std::vector<std::string>& cmd) {
    try {
      pump(srcs_, stop_, [&](unsigned char ch, std::string_view d) { send(ch, d); }, [](size_t) {});
      while (!stop_) {
        if (auto code = proc_.wait_for(std::chrono::milliseconds(100))) {
          send(kError, exit_status_json(*code, cmd));
          break;
        }
      }
    } catch (const std::exception& e) {
      send(kError, error_status_json(e.what()));
    }
    finish();
  }

  const int version_;
  const bool tty_;
  UniqueFd master_;
  std::vector<Source> srcs_;
  ExecProcess proc_;
  std::unique_ptr<FdWriter> stdin_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Port i has the data channel 2i and the error channel 2i+1; each starts with the port (2 bytes, little-endian).
class PortForwardSession final : public Session {
 public:
  PortForwardSession(const Env& env, const PortForwardRequest& r, Wake wake) : Session(std::move(wake)) {
    auto rt = env.runtime();
    for (size_t i = 0; i < r.ports.size(); ++i) {
      const auto data = static_cast<unsigned char>(2 * i), error = static_cast<unsigned char>(2 * i + 1);
      const char port[2] = {static_cast<char>(r.ports[i] & 0xff), static_cast<char>((r.ports[i] >> 8) & 0xff)};
      send(data, std::string_view(port, 2));
      send(error, std::string_view(port, 2));
      try {
        UniqueFd sock(rt.connect_in_pod(r.uuid, r.ports[i]));
        writers_.push_back(std::make_unique<FdWriter>(dup_fd(sock.get())));
        srcs_.push_back({std::move(sock), data});
      } catch (const pod::Error& e) {
        send(error, e.what());
        writers_.push_back(nullptr);
      }
    }
    thread_ = std::thread([this] { run(); });
  }

  ~PortForwardSession() override {
    stop_ = true;
    stop_sending();
    thread_.join();
  }

  void on_message(const std::string& msg) override {
    if (msg.empty()) return;
    const auto ch = static_cast<unsigned char>(msg[0]);
    if (ch % 2 == 0 && ch / 2 < writers_.size() && writers_[ch / 2]) writers_[ch / 2]->write(msg.substr(1));
  }

 private:
  void run() {
    try {
      pump(srcs_, stop_, [&](unsigned char ch, std::string_view d) { send(ch, d); }, [](size_t) {});
    } catch (const std::exception& e) {
      send(1, e.what());
    }
    finish();
  }

  std::vector<std::unique_ptr<FdWriter>> writers_;  // by port; null when its connection failed
  std::vector<Source> srcs_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Session> make_exec_session(const Env& env, const ExecRequest& r, int version, Session::Wake wake) {
  return std::make_unique<ExecSession>(env, r, version, std::move(wake));
}

std::unique_ptr<Session> make_port_forward_session(const Env& env, const PortForwardRequest& r, Session::Wake wake) {
  return std::make_unique<PortForwardSession>(env, r, std::move(wake));
}

}  // namespace pod::cri
