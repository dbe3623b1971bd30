#include "util/process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace pod {

void run_checked(const std::vector<std::string>& argv, const std::string& what) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_sys("fork");
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(wr.get(), 2);
    ::execvp(av[0], av.data());
    ::dprintf(2, "cannot execute %s: %s", av[0], std::strerror(errno));
    ::_exit(127);
  }
  wr.reset();
  std::string err;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    err.append(buf, static_cast<size_t>(n));
    if (err.size() > 8192) err.erase(0, err.size() - 8192);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  throw Error(what + " failed" + (err.empty() ? "" : ": " + err));
}

}  // namespace pod
