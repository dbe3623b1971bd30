#include "cri/stream_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace pod::cri {

namespace {
constexpr size_t kOutboxLimit = 1 << 20;

// What a request that could not start streams: its error on the error channel.
class FailedSession final : public Session {
 public:
  FailedSession(const std::string& message, Wake wake) : Session(std::move(wake)) {
    send(kError, error_status_json(message));
    finish();
  }
  void on_message(const std::string&) override {}
};
}  // namespace

std::unique_ptr<Session> start_session(const Env& env, const StreamRequest& req, int version, Session::Wake wake) {
  try {
    if (auto* e = std::get_if<ExecRequest>(&req)) return make_exec_session(env, *e, version, wake);
    return make_port_forward_session(env, std::get<PortForwardRequest>(req), wake);
  } catch (const pod::Error& e) {
    return std::make_unique<FailedSession>(e.what(), wake);
  }
}

std::string exit_status_json(int exit_code, const std::vector<std::string>& cmd) {
  if (exit_code == 0) return R"({"metadata":{},"status":"Success"})";
  std::string shown;
  for (const auto& a : cmd) shown += (shown.empty() ? "" : " ") + a;
  const std::string code = std::to_string(exit_code);
  nlohmann::json j = {
      {"metadata", nlohmann::json::object()},
      {"status", "Failure"},
      {"message", "command terminated with non-zero exit code: error executing command [" + shown + "], exit code " + code},
      {"reason", "NonZeroExitCode"},
      {"details", {{"causes", {{{"reason", "ExitCode"}, {"message", code}}}}}}};
  return j.dump();
}

std::string error_status_json(const std::string& message) {
  nlohmann::json j = {{"metadata", nlohmann::json::object()}, {"status", "Failure"}, {"message", message},
                      {"reason", "InternalError"}, {"code", 500},
                      {"details", {{"causes", {{{"message", message}}}}}}};
  return j.dump();
}

void Session::send(unsigned char channel, std::string_view data) {
  std::string msg(1, static_cast<char>(channel));
  msg.append(data);
  {
    std::unique_lock lock(m_);
    room_.wait(lock, [&] { return stopping_ || bytes_ < kOutboxLimit; });
    if (stopping_) return;
    bytes_ += msg.size();
    out_.push_back(std::move(msg));
  }
  wake_();
}

void Session::finish() {
  {
    std::lock_guard lock(m_);
    finished_ = true;
  }
  wake_();
}

void Session::stop_sending() {
  std::lock_guard lock(m_);
  stopping_ = true;
  room_.notify_all();
}

std::optional<std::string> Session::next() {
  std::lock_guard lock(m_);
  if (out_.empty()) return std::nullopt;
  std::string msg = std::move(out_.front());
  out_.pop_front();
  bytes_ -= msg.size();
  room_.notify_all();
  return msg;
}

bool Session::finished() {
  std::lock_guard lock(m_);
  return finished_ && out_.empty();
}

FdWriter::FdWriter(UniqueFd fd) : fd_(std::move(fd)) {
  if (int fl = ::fcntl(fd_.get(), F_GETFL); fl < 0 || ::fcntl(fd_.get(), F_SETFL, fl | O_NONBLOCK) < 0)
    throw_sys("cannot make a stream's fd non-blocking");
  thread_ = std::thread([this] { run(); });
}

FdWriter::~FdWriter() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FdWriter::write(std::string data) {
  if (data.empty()) return;
  {
    std::lock_guard lock(m_);
    if (eof_) return;
    queue_.push_back(std::move(data));
  }
  cv_.notify_all();
}

void FdWriter::close() {
  {
    std::lock_guard lock(m_);
    eof_ = true;
  }
  cv_.notify_all();
}

void FdWriter::run() {
  for (;;) {
    std::string data;
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return stop_ || eof_ || !queue_.empty(); });
      if (stop_ || (queue_.empty() && eof_)) break;
      data = std::move(queue_.front());
      queue_.pop_front();
    }
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pollfd p{fd_.get(), POLLOUT, 0};
        ::poll(&p, 1, 100);
        std::lock_guard lock(m_);
        if (stop_) return;
        continue;
      }
      // The reader is gone (EPIPE, a reset connection): what it was sent is dropped.
      std::lock_guard lock(m_);
      queue_.clear();
      eof_ = true;
      break;
    }
  }
  fd_.reset();
}

}  // namespace pod::cri
