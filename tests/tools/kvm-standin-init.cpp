// A minimal stand-in for the pod init (stage1/init), used in the stage1-kvm
// image only when stage1/ is not part of the build: it follows the same
// contract (Documentation/stage1-abi.md) for what the tests check, including
// `init enter --app=NAME -- CMD` and volumes from /host-volumes/<name> and
// /pod/volumes/<name>.
//
// Reads /pod/pod, starts every app (chroot into /opt/stage2/<app>/rootfs, the
// app's environment, user, group and working directory, output to
// /pod/logs/<app>.log), writes /pod/ready, forwards SIGTERM/SIGINT to the apps
// (SIGKILL after 10 s), writes /pod/appstatus/<app> as each app exits and
// exits with the pod exit status. Static: it runs inside the VM.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
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

void mkdir_p(const std::string& path) {
  for (size_t i = 1; i <= path.size(); i++)
    if (i == path.size() || path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
}

void mount_volumes(const json& pm, const json& app) {
  std::string root = "/opt/stage2/" + app.value("name", "") + "/rootfs";
  for (const auto& m : app.value("mounts", json::array())) {
    std::string vname = m.value("volume", "");
    std::string path = m.value("path", "");
    for (const auto& v : pm.value("volumes", json::array())) {
      if (v.value("name", "") != vname || path.empty()) continue;
      std::string src = (v.value("kind", "") == "host" ? "/host-volumes/" : "/pod/volumes/") + vname;
      mkdir_p(src);
      mkdir_p(root + path);
      if (mount(src.c_str(), (root + path).c_str(), nullptr, MS_BIND, nullptr) != 0)
        fprintf(stderr, "init: volume %s: %s\n", vname.c_str(), strerror(errno));
    }
  }
}

// chroot into the app, its environment and user, then exec `exec`.
[[noreturn]] void exec_as_app(const json& app, std::vector<std::string> exec) {
  std::string name = app.value("name", "");
  json a = app.value("app", json::object());
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
  for (auto& x : exec) argv.push_back(x.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  fprintf(stderr, "init: exec %s: %s\n", argv[0], strerror(errno));
  _exit(errno == ENOENT ? 127 : 126);
}

pid_t start_app(const json& pm, const json& app) {
  std::string name = app.value("name", "");
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
  mount_volumes(pm, app);
  exec_as_app(app, app.value("app", json::object()).value("exec", std::vector<std::string>{}));
}

int enter_mode(int argc, char** argv, const json& pm) {
  std::string name;
  std::vector<std::string> cmd;
  int i = 2;
  for (; i < argc; i++) {
    std::string x = argv[i];
    if (x == "--") {
      i++;
      break;
    }
    if (x.rfind("--app=", 0) == 0) name = x.substr(6);
  }
  for (; i < argc; i++) cmd.emplace_back(argv[i]);
  for (const auto& app : pm.value("apps", json::array()))
    if (app.value("name", "") == name) exec_as_app(app, cmd);
  fprintf(stderr, "init: no app named %s in this pod\n", name.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  json pm = json::parse(slurp("/pod/pod"), nullptr, false);
  if (pm.is_discarded()) {
    fprintf(stderr, "init: cannot parse /pod/pod\n");
    return 125;
  }
  if (argc >= 2 && std::string(argv[1]) == "enter") return enter_mode(argc, argv, pm);
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
    running[start_app(pm, app)] = order.back();
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
