#include "appflags.hpp"

#include "context.hpp"

#include "config/config.hpp"
#include "mds/mds.hpp"
#include "run/hooks.hpp"
#include "run/podspec.hpp"
#include "run/privateusers.hpp"
#include "stage1abi/options.hpp"
#include "util/time.hpp"
#include "util/error.hpp"
#include "util/split.hpp"

namespace pod::cli {

void add_pod_flags(CLI::App& c, PodSpec& s, PodFlagStrings& f) {
  c.add_option("--volume", f.volumes, "NAME,kind=host,source=PATH[,readOnly=true] or NAME,kind=empty[,mode=,uid=,gid=]");
  c.add_option("--net", s.net,
               "Networks: host, none, or NAME[:CNI_ARGS][,NAME…] of CNI networks (default: default, when the stage1 "
               "joins CNI networks, else host)");
  c.add_option("--publish", s.publish, "[HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]: publish a pod port on the host (repeatable)");
  c.add_option("--port", s.ports, "NAME:HOSTPORT: publish the image's port NAME on the host (repeatable)");
  c.add_option("--hostname", s.hostname, "Pod hostname (default pod-<uuid prefix>)");
  c.add_option("--dns", s.dns, "Name server for the pod's /etc/resolv.conf (repeatable); host: copy the host's");
  c.add_option("--dns-search", s.dns_search, "Search domain for the pod's /etc/resolv.conf (repeatable)");
  c.add_option("--dns-opt", s.dns_options, "Option line entry for the pod's /etc/resolv.conf, e.g. ndots:2 (repeatable)");
  c.add_option("--hosts-entry", f.hosts, "IP=HOSTNAME line for the pod's /etc/hosts (repeatable)");
  c.add_flag("--interactive", s.interactive, "Pass the terminal through to the (single) app");
  c.add_option("--insecure-options", f.insecure,
               "Comma list: image (accept unsigned images), http (plain-http registries), tls (any certificate), "
               "isolators (run with isolators the stage1 cannot enforce), seccomp, capabilities, paths (turn off the "
               "default seccomp filter, capability set, masked paths), all, none");
  c.add_option("--platform", s.fetch.platform, "OS/ARCH[/VARIANT] to pick from an image index (default linux/amd64)");
  add_image_limit_flags(c, f.limits);
  c.add_option("--stage1-path", s.stage1.path, "Stage1 image file");
  c.add_option("--stage1-name", s.stage1.name, "Stage1 image name in the store");
  c.add_option("--stage1-hash", s.stage1.hash, "Stage1 image ID in the store");
  c.add_option("--stage1-flavor", s.stage1.flavor, "Stage1 flavour by name (stage1.json; default: the configured one)");
  c.add_option("--stage1-opt", f.stage1_opts,
               "NAME=VALUE: an option the stage1 declares (repeatable); Documentation/stage1-abi.md");
  c.add_option("--notify-ready", s.notify_ready,
               "sd_notify READY=1: none, started or app (default: app when an image declares "
               "appc.io/executor/supports-systemd-notify, else started)")
      ->check(CLI::IsMember({"none", "started", "app"}));
  c.add_flag("--no-overlay", s.no_overlay, "Copy image trees into the pod instead of mounting overlayfs");
  c.add_option("--uuid-file-save", s.uuid_file_save, "Write the pod UUID to this file as soon as it exists");
  // A flag (a value only with '='): `--private-users IMAGE` must not take the image as its value.
  c.add_flag("--private-users{auto},--user-ns{auto}", s.private_users,
             "[=UID[:COUNT]] run the pod in a user namespace with host ids of its own (a free range of 65536 unless "
             "given; Documentation/isolation.md)");
  c.add_flag("--mds-register", f.mds_register,
             "Register the pod with the metadata service (pod metadata-service): $AC_METADATA_URL for its apps");
  c.add_option("--mds-url", f.mds_url, std::string("The metadata service's base URL for --mds-register (default ") +
                                          mds::kDefaultUrl + ")");
  c.add_option("--hook", f.hooks, "prestart=CMD, poststart=CMD or poststop=CMD: a host command fed the pod's state "
                                  "JSON (repeatable)");
  c.add_option("--hook-timeout", f.hook_timeout, "How long each hook may run")->capture_default_str();
}

void finish_pod_flags(PodSpec& s, const PodFlagStrings& f, const std::string& data_dir) {
  if (!s.private_users.empty() && s.private_users != "auto")
    (void)run::parse_private_users(s.private_users);  // a usage error now, not after a fetch
  for (const auto& v : f.volumes) s.volumes.push_back(run::parse_volume(v));
  for (const auto& h : f.hosts) s.hosts.push_back(run::parse_hosts_entry(h));
  for (const auto& h : f.hooks) s.hooks.push_back(run::parse_hook_flag(h));
  s.hook_timeout = parse_duration(f.hook_timeout, "--hook-timeout");
  for (const auto& o : f.stage1_opts) {
    auto [k, v] = stage1::parse_option_flag(o);
    if (!s.stage1.options.emplace(k, v).second) throw usage_error("--stage1-opt " + k + " is given twice");
  }
  if (!f.mds_url.empty() && !f.mds_register) throw usage_error("--mds-url needs --mds-register");
  if (f.mds_register) s.mds_register = f.mds_url.empty() ? mds::kDefaultUrl : f.mds_url;
  // The isolation values are the pod's; the rest are the fetch's.
  const config::Config cfg = config::load(data_dir);
  std::string fetch_list;
  for (const auto& v : split_isolation_insecure(insecure_or_config(f.insecure, cfg), s.insecure_isolation))
    fetch_list += (fetch_list.empty() ? "" : ",") + v;
  s.fetch = apply_image_limits(f.limits, parse_insecure_options(fetch_list, std::move(s.fetch)), cfg);
  apply_pod_config(s, cfg);
}

namespace {
// Per-app isolation flags (Documentation/isolation.md), bound to strings; set
// in the spec when given.
struct IsolatorFlagBinding {
  const char* flag;
  const char* help;
  std::optional<std::string> IsolatorSpec::*field;
  std::string value;
  CLI::Option* opt = nullptr;
};

std::vector<IsolatorFlagBinding> isolator_flags() {
  return {
      {"--memory", "Memory limit: bytes, or k/M/G (1000^n), Ki/Mi/Gi (1024^n)", &IsolatorSpec::memory, {}, nullptr},
      {"--cpu", "CPU limit: 500m (milli-CPUs), 1, 1.5", &IsolatorSpec::cpu, {}, nullptr},
      {"--cpu-shares", "CPU weight relative to other apps (2-262144, default 1024)", &IsolatorSpec::cpu_shares, {}, nullptr},
      {"--pids-limit", "Most processes and threads of the app at once", &IsolatorSpec::pids_limit, {}, nullptr},
      {"--caps-retain", "Capabilities kept (CAP_X,CAP_Y,…), all others dropped", &IsolatorSpec::caps_retain, {}, nullptr},
      {"--caps-remove", "Capabilities dropped from the default set (CAP_X,…)", &IsolatorSpec::caps_remove, {}, nullptr},
      {"--seccomp", "mode=retain|remove[,errno=ENAME],SYSCALL|@group,…", &IsolatorSpec::seccomp, {}, nullptr},
      {"--oom-score-adj", "The app's OOM score adjustment (-1000 to 1000)", &IsolatorSpec::oom_score_adj, {}, nullptr},
  };
}

AppSpec parse_group(std::vector<std::string> group) {
  AppSpec a;
  std::string exec, user, group_name, workdir;
  std::vector<std::string> env, mounts;
  CLI::App g{"app flags", "IMAGE"};
  g.add_option("image", a.image, "Image")->required();
  g.add_option("args", a.args, "Arguments after --");
  auto* o_exec = g.add_option("--exec", exec, "Command to run instead of the image's");
  g.add_option("--name", a.name, "App name");
  g.add_option("--set-env", env, "NAME=VALUE");
  g.add_option("--set-env-file", a.env_files, "File of NAME=VALUE lines");
  g.add_flag("--inherit-env", a.inherit_env, "Pass stage0's environment to the app");
  auto* o_user = g.add_option("--user", user, "User name or uid");
  auto* o_group = g.add_option("--group", group_name, "Group name or gid");
  auto* o_wd = g.add_option("--working-dir", workdir, "Working directory");
  g.add_option("--mount", mounts, "volume=NAME,target=PATH");
  g.add_flag("--readonly-rootfs", a.readonly_rootfs, "Mount the app's root read-only");
  g.add_option("--after", a.after, "Start after app NAME has started (NAME:ready: once it has sent READY=1), stop before it (repeatable)");
  auto iso_flags = isolator_flags();
  for (auto& b : iso_flags) b.opt = g.add_option(b.flag, b.value, b.help);
  const bool has_dashdash = std::find(group.begin(), group.end(), "--") != group.end();
  std::reverse(group.begin(), group.end());
  try {
    g.parse(group);
  } catch (const CLI::ParseError& e) {
    throw usage_error(std::string("app flags: ") + e.what());
  }
  if (a.args.size() > 0 && !has_dashdash)
    throw usage_error("unexpected argument \"" + a.args.front() + "\" after image " + a.image +
                      "; put app arguments after --, and separate apps with ---");
  a.args_given = has_dashdash;
  if (o_exec->count()) a.exec = exec;
  if (o_user->count()) a.user = user;
  if (o_group->count()) a.group = group_name;
  if (o_wd->count()) a.working_dir = workdir;
  for (const auto& b : iso_flags)
    if (b.opt->count()) a.isolators.*(b.field) = b.value;
  for (const auto& e : env) a.set_env.push_back(run::parse_env(e, "--set-env"));
  for (const auto& m : mounts) a.mounts.push_back(run::parse_mount(m));
  return a;
}
}  // namespace

std::vector<std::string> split_isolation_insecure(const std::string& list, std::vector<std::string>& isolation) {
  std::vector<std::string> rest;
  for (const auto& v : list.empty() ? std::vector<std::string>{} : split(list, ',')) {
    const bool all = v == "all" || v == "all-run";
    for (const char* k : {"isolators", "seccomp", "capabilities", "paths"})
      if ((v == k || all) && std::find(isolation.begin(), isolation.end(), k) == isolation.end()) isolation.emplace_back(k);
    if (all || (v != "isolators" && v != "seccomp" && v != "capabilities" && v != "paths")) rest.push_back(v);
  }
  return rest;
}

std::vector<AppSpec> parse_app_groups(const std::vector<std::string>& rest) {
  std::vector<AppSpec> apps;
  std::vector<std::string> cur;
  for (const auto& a : rest) {
    if (a == "---") {
      if (cur.empty()) throw usage_error("empty app group before ---");
      apps.push_back(parse_group(cur));
      cur.clear();
    } else {
      cur.push_back(a);
    }
  }
  if (!cur.empty()) apps.push_back(parse_group(cur));
  if (apps.empty()) throw usage_error("no image given: pod run|prepare [flags] IMAGE [app flags] [--- IMAGE …]");
  return apps;
}

}  // namespace pod::cli
