#include "console.hpp"

#include <unistd.h>

#include "../common/frame.hpp"

namespace podkvm {

ConsoleRelay::ConsoleRelay(const std::string& socket_path) : sock_(socket_path) {
  if (stdin_is_tty()) {
    termios t;
    if (::tcgetattr(STDIN_FILENO, &t) == 0) {
      saved_ = t;
      ::cfmakeraw(&t);
      ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
  }
}

ConsoleRelay::~ConsoleRelay() {
  if (saved_) ::tcsetattr(STDIN_FILENO, TCSANOW, &*saved_);
}

bool ConsoleRelay::stdin_is_tty() { return ::isatty(STDIN_FILENO) == 1; }

void ConsoleRelay::add_pollfds(std::vector<pollfd>& p) const {
  sock_.add_pollfds(p);
  p.push_back({sock_.connected() && input_open_ && !stdin_done_ ? STDIN_FILENO : -1, POLLIN, 0});
}

bool ConsoleRelay::copy_output() {
  char buf[16384];
  ssize_t n = ::read(sock_.conn(), buf, sizeof buf);
  if (n <= 0) return false;
  write_all(STDOUT_FILENO, buf, static_cast<size_t>(n));
  return true;
}

void ConsoleRelay::handle(const std::vector<pollfd>& p) {
  for (const auto& q : p) {
    if (sock_.readable(q)) {
      if (!copy_output()) sock_.close_conn();  // the VMM is gone
    } else if (q.fd == STDIN_FILENO && (q.revents & (POLLIN | POLLHUP)) && sock_.connected()) {
      char buf[4096];
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n > 0) {
        write_all(sock_.conn(), buf, static_cast<size_t>(n));
      } else {
        stdin_done_ = true;
        if (!saved_) write_all(sock_.conn(), "\x04", 1);  // end of file for the app's tty
      }
    }
  }
}

void ConsoleRelay::drain() {
  if (!sock_.connected()) return;
  while (copy_output()) {
  }
}

}  // namespace podkvm
