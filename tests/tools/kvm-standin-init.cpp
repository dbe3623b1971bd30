// A minimal stand-in for the pod init (stage1/init), used by the stage1-kvm
// tests and image until the real init is merged: it follows the same contract
// (Documentation/stage1-abi.md) for what the tests check.
//
// Reads /pod/pod, starts every app (chroot into /opt/stage2/<app>/rootfs, the
// app's environment, user, group and working directory, output to
// /pod/logs/<app>.log), writes /pod/ready, forwards SIGTERM/SIGINT to the apps
// (SIGKILL after 10 s), writes /pod/appstatus/<app> as each app exits and
// exits with the pod exit status. Static: it runs inside the VM.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

using json = nlohmann::json;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_atomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, data.data(), data.size());
  fsync(fd);
  close(fd);
  rename(tmp.c_str(), path.c_str());
}

long id_of(const json& j) {
  if (j.is_number_integer()) return j.get<long>();
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    if (s.empty() || s == "root") return 0;
    return strtol(s.c_str(), nullptr, 10);
  }
  return 0;
}

pid_t start_app(const json& app) {
  std::string name = app.value("name", "");
  json a = app.value("app", json::object());
  std::vector<std::string> exec = a.value("exec", std::vector<std::string>{});
  mkdir("/pod/logs", 0755);
  int log = open(("/pod/logs/" + name + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid != 0) {
    if (log >= 0) close(log);
    return pid;
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  setsid();
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) dup2(devnull, 0);
  if (log >= 0) {
    dup2(log, 1);
    dup2(log, 2);
  }
  std::string root = "/opt/stage2/" + name + "/rootfs";
  if (chroot(root.c_str()) != 0) {
    fprintf(stderr, "init: chroot %s: %s\n", root.c_str(), strerror(errno));
    _exit(125);
  }
  std::string wd = a.value("workingDirectory", "/");
  if (chdir(wd.empty() ? "/" : wd.c_str()) != 0) {
    fprintf(stderr, "init: chdir %s: %s\n", wd.c_str(), strerror(errno));
    _exit(125);
  }
  clearenv();
  setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  for (const auto& e : a.value("environment", json::array()))
    setenv(e.value("name", "").c_str(), e.value("value", "").c_str(), 1);
  setenv("AC_APP_NAME", name.c_str(), 1);
  std::vector<gid_t> groups;
  for (const auto& g : a.value("supplementaryGIDs", json::array())) groups.push_back(static_cast<gid_t>(id_of(g)));
  if (setgroups(groups.size(), groups.data()) != 0 || setgid(static_cast<gid_t>(id_of(a.value("group", json("0"))))) != 0 ||
      setuid(static_cast<uid_t>(id_of(a.value("user", json("0"))))) != 0) {
    fprintf(stderr, "init: cannot switch user: %s\n", strerror(errno));
    _exit(125);
  }
  if (exec.empty()) _exit(125);
  std::vector<char*> argv;
  for (auto& s : exec) argv.push_back(s.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  fprintf(stderr, "init: exec %s: %s\n", argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

}  // namespace

int main() {
  json pm = json::parse(slurp("/pod/pod"), nullptr, false);
  if (pm.is_discarded()) {
    fprintf(stderr, "init: cannot parse /pod/pod\n");
    return 125;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

  mkdir("/pod/appstatus", 0755);
  std::vector<std::string> order;
  std::map<pid_t, std::string> running;
  std::map<std::string, int> codes;
  for (const auto& app : pm.value("apps", json::array())) {
    order.push_back(app.value("name", ""));
    running[start_app(app)] = order.back();
  }
  write_atomic("/pod/ready", "");

  bool stopping = false;
  while (!running.empty()) {
    pollfd p{sfd, POLLIN, 0};
    int n = poll(&p, 1, stopping ? 10000 : -1);
    if (n == 0 && stopping) {
      for (auto& [pid, nm] : running) kill(-pid, SIGKILL), kill(pid, SIGKILL);
      continue;
    }
    signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si) continue;
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      stopping = true;
      for (auto& [pid, nm] : running) kill(pid, SIGTERM);
      continue;
    }
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
      auto it = running.find(w);
      if (it == running.end()) continue;
      json rec;
      if (WIFEXITED(st)) {
        rec = {{"exitCode", WEXITSTATUS(st)}};
      } else {
        rec = {{"exitCode", 128 + WTERMSIG(st)}, {"signal", WTERMSIG(st)}};
      }
      codes[it->second] = rec["exitCode"].get<int>();
      write_atomic("/pod/appstatus/" + it->second, rec.dump());
      running.erase(it);
    }
  }
  for (const auto& nm : order)
    if (codes[nm] != 0) return codes[nm];
  return 0;
}
