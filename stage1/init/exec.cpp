#include "exec.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <type_traits>

#include "cgroups.hpp"
#include "rootfs.hpp"
#include "seccomp-filter.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/inroot.hpp"

namespace pod::init {

namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env)
    if (e.compare(0, name.size() + 1, name + "=") == 0) return e.substr(name.size() + 1);
  return "";
}

void set_env(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  for (auto& e : env)
    if (e.compare(0, name.size() + 1, name + "=") == 0) {
      e = name + "=" + value;
      return;
    }
  env.push_back(name + "=" + value);
}

bool is_executable_file(int rootfd, const std::string& path) {
  UniqueFd fd = try_open_in_root(rootfd, path, O_PATH);
  if (!fd) return false;
  struct stat st = stat_fd(fd.get());
  return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

// appc: no "/" in argv[0] -> search $PATH (the app's) inside the rootfs.
std::string find_executable(int rootfd, const std::string& name, const std::string& path_var,
                            const std::string& app) {
  if (name.find('/') != std::string::npos) {
    if (!is_executable_file(rootfd, name))
      throw Error("app " + app + ": " + name + " does not exist in the app's rootfs or is not an executable file");
    return name;
  }
  size_t i = 0;
  while (i <= path_var.size()) {
    size_t j = path_var.find(':', i);
    if (j == std::string::npos) j = path_var.size();
    std::string dir = path_var.substr(i, j - i);
    i = j + 1;
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (is_executable_file(rootfd, candidate)) return candidate;
  }
  throw Error("app " + app + ": " + name + " not found in PATH " + path_var + " of the app's rootfs");
}

[[noreturn]] void fail(const std::string& what, int err = errno) {
  throw Error(what + (err ? std::string(": ") + std::strerror(err) : ""), err);
}

// Bounding set, inheritable and ambient sets reduced to `keep` (libcap):
// after execve a root app can only have these, a non-root app none.
void restrict_capabilities(const std::vector<int>& keep) {
  auto kept = [&](int c) { return std::find(keep.begin(), keep.end(), c) != keep.end(); };
  const int n = static_cast<int>(cap_max_bits());
  for (int c = 0; c < n; ++c)
    if (!kept(c) && cap_drop_bound(static_cast<cap_value_t>(c)) < 0 && errno != EINVAL)
      fail("cannot drop " + isolators::capability_name(c) + " from the bounding set");
  if (cap_reset_ambient() < 0 && errno != EINVAL) fail("cannot clear the ambient capabilities");
  cap_t caps = cap_get_proc();
  if (!caps) fail("cap_get_proc");
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> guard(caps, cap_free);
  for (int c = 0; c < n; ++c) {
    cap_value_t v = static_cast<cap_value_t>(c);
    if (!kept(c) && cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_CLEAR) < 0) fail("cap_set_flag");
  }
  if (cap_set_proc(caps) < 0) fail("cannot set the capabilities");
}

// The app's own seccomp set (libseccomp), on top of the pod's allow list:
// installed last, its errno wins. A retain set always keeps what the app's
// process needs from here to its execve.
void load_app_seccomp(const isolators::Seccomp& s) {
  if (s.all) return;
  const uint32_t refuse = SCMP_ACT_ERRNO(static_cast<uint16_t>(s.errnum ? s.errnum : EPERM));
  scmp_filter_ctx ctx = seccomp_init(s.retain ? refuse : SCMP_ACT_ALLOW);
  if (!ctx) fail("seccomp_init", ENOMEM);
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> guard(ctx, seccomp_release);
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc < 0) fail("seccomp_attr_set", -rc);
  std::vector<int> calls = s.syscalls;
  if (s.retain)
    for (const char* n : {"execve", "setgroups", "setresgid", "setresuid", "write", "exit", "exit_group", "rt_sigreturn"})
      calls.push_back(seccomp_syscall_resolve_name(n));
  for (int nr : calls)
    if (int rc = seccomp_rule_add(ctx, s.retain ? SCMP_ACT_ALLOW : refuse, nr, 0); rc < 0 && rc != -EEXIST)
      fail("seccomp_rule_add " + std::to_string(nr), -rc);
  if (int rc = seccomp_load(ctx); rc < 0) fail("cannot install the app's seccomp filter", -rc);
}

void load_filter(const unsigned char* bpf, size_t size) {
  struct sock_fprog prog {};
  prog.len = static_cast<unsigned short>(size / sizeof(struct sock_filter));
  prog.filter = reinterpret_cast<struct sock_filter*>(const_cast<unsigned char*>(bpf));
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) fail("cannot install the seccomp filter");
}

// A rootless pod mapped without /etc/subgid (Documentation/rootless.md) may not
// call setgroups(2) (/proc/self/setgroups is "deny"): the app keeps the groups it
// has, which is fine when it asks for none beyond its gid.
bool groups_denied_and_unneeded(const Credentials& c) {
  if (errno != EPERM) return false;
  char buf[16] = {};
  int fd = ::open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n < 4 || std::string(buf, 4) != "deny") return false;
  for (gid_t g : c.groups)
    if (g != c.gid) return false;
  return true;
}

}  // namespace

ExecSpec prepare_exec(const App& app, bool with_term, std::vector<std::string> argv) {
  ExecSpec s;
  s.app = app.name;
  s.root = app_rootfs(app.name);
  const bool entered = !argv.empty();
  s.argv = entered ? std::move(argv) : app.exec;
  s.capabilities = app.capabilities;
  s.keep_all_capabilities = app.keep_all_capabilities;
  s.no_new_privs = app.no_new_privs;
  s.default_seccomp = app.default_seccomp;
  s.seccomp = app.iso.seccomp;
  s.oom_score_adj = app.iso.oom_score_adj;
  UniqueFd rootfd = open_dir(s.root);
  try {
    s.creds = resolve_credentials(rootfd.get(), app.user, app.group, app.supplementary_gids);
  } catch (const Error& e) {
    throw e.with_context("app " + app.name);
  }
  s.env = {std::string("PATH=") + kDefaultPath, "AC_APP_NAME=" + app.name, "container=pod", "HOME=" + s.creds.home};
  if (const char* term = ::getenv("TERM"); term && with_term) s.env.push_back(std::string("TERM=") + term);
  for (const auto& [k, v] : app.environment) set_env(s.env, k, v);
  // The executor's, not the image's to override (appc: set for the app and its event handlers).
  if (!app.metadata_url.empty()) set_env(s.env, "AC_METADATA_URL", app.metadata_url);
  // The app's own readiness goes through the socket prepare_app_rootfs bound
  // (not for commands run by enter: they are not the service).
  if (!entered && !app_notify_source(app.name).empty()) set_env(s.env, "NOTIFY_SOCKET", kAppNotifySocket);

  s.cwd = app.working_dir;
  UniqueFd cwd = try_open_in_root(rootfd.get(), s.cwd, O_PATH | O_DIRECTORY);
  if (!cwd) throw Error("app " + app.name + ": working directory " + s.cwd + " does not exist in the app's rootfs");
  s.path = find_executable(rootfd.get(), s.argv[0], env_value(s.env, "PATH"), app.name);
  return s;
}

void apply_app(const ExecSpec& s) {
  if (s.oom_score_adj) write_control("/proc/self/oom_score_adj", std::to_string(*s.oom_score_adj));
  if (::chdir(s.root.c_str()) < 0 || ::chroot(".") < 0) fail("cannot chroot into " + s.root);
  if (::chdir(s.cwd.c_str()) < 0) fail("cannot change to working directory " + s.cwd);
  if (!s.keep_all_capabilities) restrict_capabilities(s.capabilities);
  if (s.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("cannot set no_new_privs");
  // Before dropping root: without no_new_privs loading needs CAP_SYS_ADMIN.
  // The allow list keeps setgroups/setgid/setuid/execve.
  if (s.default_seccomp) load_filter(bpf::kAllowList, sizeof bpf::kAllowList);
  load_filter(bpf::kAuditMask, sizeof bpf::kAuditMask);
  if (s.seccomp) load_app_seccomp(*s.seccomp);
  if (::setgroups(s.creds.groups.size(), s.creds.groups.data()) < 0 && !groups_denied_and_unneeded(s.creds))
    fail("setgroups");
  if (::setresgid(s.creds.gid, s.creds.gid, s.creds.gid) < 0) fail("setgid " + std::to_string(s.creds.gid));
  if (::setresuid(s.creds.uid, s.creds.uid, s.creds.uid) < 0) fail("setuid " + std::to_string(s.creds.uid));
}

void exec_app(const ExecSpec& s) {
  apply_app(s);
  std::vector<char*> argv, envp;
  for (const auto& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : s.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ::execve(s.path.c_str(), argv.data(), envp.data());
  fail("cannot execute " + s.path);
}

}  // namespace pod::init
