// `--interactive` under the kvm flavour: the guest's serial console is the
// app's tty. qemu serves it on a unix socket this side listens on (as for
// pod.notify) and run relays between it and its own stdin/stdout:
//  * a terminal on stdin is put in raw mode for the life of the pod (keys,
//    ^C included, go to the app's tty; the guest echoes) and restored on
//    every way out (destructor);
//  * stdin is held back until the pod init reports the apps started: bytes
//    that reach the guest before the app has opened its tty are dropped by
//    the guest kernel, which would eat the start of piped input;
//  * stdin that is not a terminal (a pipe, a file) ends with ^D, the tty's
//    end of file, once it is exhausted; the guest then runs the console
//    without echo and without \n -> \r\n (kernel parameter pod.console=pipe),
//    so output is what the app wrote.
#pragma once
#include <poll.h>
#include <termios.h>

#include <optional>
#include <string>
#include <vector>

#include "hostutil.hpp"

namespace podkvm {

class ConsoleRelay {
 public:
  explicit ConsoleRelay(const std::string& socket_path);
  ConsoleRelay(const ConsoleRelay&) = delete;
  ConsoleRelay& operator=(const ConsoleRelay&) = delete;
  ~ConsoleRelay();

  // Is stdin a terminal (else the guest is told pod.console=pipe)?
  static bool stdin_is_tty();
  void add_pollfds(std::vector<pollfd>& p) const;
  void handle(const std::vector<pollfd>& p);
  // From now on stdin goes to the guest.
  void open_input() { input_open_ = true; }
  // After the VMM exited: what it wrote last.
  void drain();

 private:
  bool copy_output();
  VmmSocket sock_;
  bool input_open_ = false, stdin_done_ = false;
  std::optional<termios> saved_;
};

}  // namespace podkvm
