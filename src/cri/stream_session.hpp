// One websocket stream of the streaming server (Documentation/kubernetes.md, "Streaming"): a command's
// stdio (exec) or TCP connections in a pod (port-forward), as the channels of the kubelet's channel
// protocol (v4/v5.channel.k8s.io): every binary message starts with its channel's number. Threads of the
// session move bytes between its fds and its outbox; the server's event loop (one thread) hands the
// client's messages in (on_message) and takes the outbox's messages out (next).
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "cri/env.hpp"
#include "cri/stream_tokens.hpp"
#include "util/fs.hpp"

namespace pod::cri {

// The channels of a stream (the kubelet's remotecommand constants).
enum Channel : unsigned char { kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4, kClose = 255 };

class Session {
 public:
  using Wake = std::function<void()>;  // thread-safe: tells the event loop that a message is ready
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // A whole message of the client (event loop thread).
  virtual void on_message(const std::string& msg) = 0;
  // The next message to send, nullopt when none is ready.
  std::optional<std::string> next();
  // Every message has been taken: the stream ends.
  bool finished();

 protected:
  explicit Session(Wake wake) : wake_(std::move(wake)) {}
  // Queue a message on `channel` (any thread). Blocks while more than 1 MiB waits for the client, unless
  // the session is being closed (then the message is dropped).
  void send(unsigned char channel, std::string_view data);
  void finish();        // after the last send
  void stop_sending();  // the client is gone: senders no longer block (destructors, first)

 private:
  Wake wake_;
  std::mutex m_;
  std::condition_variable room_;
  std::deque<std::string> out_;
  size_t bytes_ = 0;
  bool finished_ = false, stopping_ = false;
};

// Writes what it is given to an fd from a thread of its own (the event loop never blocks on a full pipe or
// socket) and closes the fd after close(); the destructor drops what is left and closes it.
class FdWriter {
 public:
  explicit FdWriter(UniqueFd fd);
  ~FdWriter();
  FdWriter(const FdWriter&) = delete;
  FdWriter& operator=(const FdWriter&) = delete;
  void write(std::string data);
  void close();

 private:
  void run();
  UniqueFd fd_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool eof_ = false, stop_ = false;
  std::thread thread_;
};

// The session of a request taken from the token cache; `version` is the channel protocol's (4 or 5). A
// request that cannot start (the container has stopped, say) gives a session that reports why on the error
// channel and ends.
std::unique_ptr<Session> start_session(const Env& env, const StreamRequest& req, int version, Session::Wake wake);

// The two kinds (stream_exec.cpp); they throw pod::Error when the request cannot start.
std::unique_ptr<Session> make_exec_session(const Env& env, const ExecRequest& r, int version, Session::Wake wake);
std::unique_ptr<Session> make_port_forward_session(const Env& env, const PortForwardRequest& r, Session::Wake wake);

// The metav1.Status JSON of the error channel for an exit code (Success, or Failure NonZeroExitCode with
// the code as the ExitCode cause), or for an error that kept the command from running.
std::string exit_status_json(int exit_code, const std::vector<std::string>& cmd);
std::string error_status_json(const std::string& message);

}  // namespace pod::cri
