// libpod: the public C++ API of pod. The `pod` command is a thin client of it:
// each verb parses its flags, makes one of these calls and prints the result.
//
//   #include <pod/pod.hpp>
//   pod::Runtime rt = pod::Runtime::open("/var/lib/pod");
//   pod::PodSpec spec;
//   spec.apps.push_back({.image = "example.com/busybox", .exec = "/bin/echo", .args = {"hi"}, .args_given = true});
//   std::string uuid = rt.create_pod(spec);     // prepared
//   int status = rt.run_pod(uuid);              // runs it to its end: the pod's exit status
//   rt.remove_pod(uuid);
//
// Every call returns its result or throws pod::Error (include/pod/error.hpp);
// no other exception escapes. Build against it with
// `pkg-config --cflags --libs pod`. Reference: Documentation/api.md.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pod/error.hpp>
#include <pod/spec.hpp>
#include <pod/types.hpp>

namespace pod {

// Overrides for a prepared pod's run-time options when it is started.
struct StartOptions {
  std::optional<std::string> net, hostname, notify_ready;
  std::optional<std::vector<std::string>> dns;
  std::optional<std::vector<std::pair<std::string, std::string>>> hosts;
  std::optional<bool> interactive;
  bool debug = false;
  std::vector<std::string> net_config_dirs;  // with `net`: as PodSpec::net_config_dirs
};

struct StopOptions {
  bool force = false;                              // SIGKILL at once instead of SIGTERM
  std::chrono::milliseconds timeout{30000};        // how long to wait for the pod to exit
};

struct KillOptions {
  int signal = 15;   // SIGTERM
  std::string app;   // "" = every app (unless `apps` names some)
  std::vector<std::string> apps;  // several apps (with `app`, that one too); one outcome each
};

// Which part of the apps' logs to read (Runtime::read_logs).
struct LogOptions {
  std::vector<std::string> apps;   // empty: every app of the pod
  bool follow = false;             // keep reading until the pod has exited
  std::optional<size_t> tail;      // only the last N lines of each app's log so far
  // By the time each line arrived, as the log's time index recorded it
  // (Documentation/pod-lifecycle.md, "Logs"; at most 1 ms early). Lines without
  // a recorded time (an older pod init wrote them) are left out by since/until
  // and shown unstamped by timestamps, with a notice saying how many.
  std::optional<TimePoint> since;  // only lines that arrived at or after it (the index seeked)
  std::optional<TimePoint> until;  // only lines that arrived at or before it; following ends once it has passed
  bool timestamps = false;         // each line prefixed with its time, RFC 3339 UTC with 9 digits, and a space
};

// An app of a pod as the app operations see it (Runtime::list_apps).
struct AppState {
  std::string name, image_name, image_id;
  std::string state;                 // "created" (not started yet), "running" or "exited"
  std::optional<int> pid;            // its main process (pid namespace of the pod's init)
  std::optional<int> exit_code;      // once exited: 128+N when killed by signal N
  std::optional<int> signal;
  std::optional<TimePoint> started, finished;
  std::vector<std::string> after;    // the apps it starts after (--after)
  std::vector<std::string> after_ready;  // those of them it waits for to be ready (--after NAME:ready)
  std::string error;                 // why it failed without running
  bool notifies = false;             // it has a NOTIFY_SOCKET (--notify-ready=app)
  std::optional<AppReadyInfo> readiness;  // what it said there, once it said something
};

struct AppStopOptions {
  bool force = false;                         // SIGKILL at once instead of SIGTERM
  std::chrono::milliseconds timeout{10000};   // SIGTERM -> SIGKILL; the call then waits this long again
};

// What exec_capture ran: its exit code (128+N for signal N) and output.
struct ExecResult {
  int exit_code = 0;
  std::string out, err;
  bool timed_out = false;
};

// The stdin, stdout and stderr of a streamed exec (Runtime::exec_stream): fds of the caller (the command
// gets copies), -1 for /dev/null. With tty, `in`, `out` and `err` are the slave of a pty the caller opened
// and keeps the master of: the command gets it as its controlling terminal.
struct ExecIo {
  int in = -1, out = -1, err = -1;
  bool tty = false;
};

// A command running in an app of a running pod (Runtime::exec_stream). Destroying it while the command
// still runs kills it, as kill() does.
class ExecProcess {
 public:
  ExecProcess();
  ~ExecProcess();
  ExecProcess(ExecProcess&&) noexcept;
  ExecProcess& operator=(ExecProcess&&) noexcept;
  // Its exit code once it has ended (128+N for signal N); nullopt while it runs after `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGKILL to the command and to every process it started that is still in its process group, then
  // reap it. A tty command leads a session of its own: it gets SIGHUP when the caller closes the master.
  void kill();

 private:
  friend class Runtime;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct GcOptions {
  std::chrono::milliseconds grace_period = std::chrono::minutes(30);
  std::chrono::milliseconds expire_prepared = std::chrono::hours(24);
  bool mark_only = false;
};

struct GcReport {
  std::vector<std::string> marked, collected, kept, failures, detached;
};

struct SpecialFile {
  std::string path;
  unsigned mode = 0;
};

struct ImageGcReport {
  std::vector<std::string> temp_removed, trees_removed, images_removed;
};

struct VerifyReport {
  std::vector<std::string> ok, bad;  // "image <id>" / "tree <id>"; bad ones with the reason
  std::string quarantine;            // where bad items were moved
};

// One finding of fsck (Documentation/fsck.md).
struct FsckFinding {
  std::string area;          // "images", "pods" or "host"
  std::string item;          // a path relative to the data dir (a host path for a cgroup)
  std::string problem;       // what is wrong
  std::string action;        // what a repair does; without one (repairable false), why nothing is done
  bool repairable = false;   // a repair can fix it without losing a live pod or a referenced image
  bool repaired = false;     // this run repaired it
  std::string repair_error;  // this run tried and failed: why
};

// A started pod: the process that runs it (the stage1 run entrypoint).
// Destroying a running handle stops nothing: pods outlive their starter, as
// with `pod run &`. wait() returns the pod's exit status.
class RunningPod {
 public:
  RunningPod(std::string uuid, int pid) : uuid_(std::move(uuid)), pid_(pid) {}
  const std::string& uuid() const { return uuid_; }
  int pid() const { return pid_; }
  int wait();  // the pod exit status (stage1-abi.md); once

 private:
  std::string uuid_;
  int pid_;
  std::optional<int> status_;
};

class Runtime {
 public:
  // The data dir: `dir`, else $POD_DIR, else the built-in default. With
  // `read_only` the handle only reads (status, list, logs, manifests, image
  // list): it works on a read-only data dir, and calls that write fail there.
  static Runtime open(const std::string& dir = "", bool read_only = false);
  ~Runtime();
  Runtime(Runtime&&) noexcept;
  Runtime& operator=(Runtime&&) noexcept;

  const std::string& data_dir() const;
  // Where debug lines go (none by default). Setting one also passes --debug to the stage1's entrypoints.
  void set_debug_log(std::function<void(const std::string&)> log);
  // Where notices of gc and remove go ("detached a busy mount", …); none by default.
  void set_notice_log(std::function<void(const std::string&)> log);

  // What this host and build support; needs no data dir.
  static HostFeatures host_features();

  // --- pods ---
  // Resolve (fetching as needed) the images, render them and prepare a pod.
  // Returns its UUID; the pod is prepared. On error nothing is left but an
  // aborted prepare for gc.
  std::string create_pod(const PodSpec& spec);
  // Start a prepared pod in a child process and return at once.
  RunningPod start_pod(const std::string& uuid, const StartOptions& opts = {});
  // Start and wait: the pod's exit status.
  int run_pod(const std::string& uuid, const StartOptions& opts = {});
  // Become the pod: exec its stage1 in place of this process (what `pod run`
  // does, so that the caller's pid is the pod's supervisor). Returns only by throwing.
  [[noreturn]] void exec_pod(const std::string& uuid, const StartOptions& opts = {});
  // create_pod + exec_pod, keeping the pod locked in between (no window for gc).
  [[noreturn]] void exec_new_pod(const PodSpec& spec);
  // Ask a running pod to stop and wait until it has exited (an error after
  // the timeout). A pod that has already exited is not an error: false.
  bool stop_pod(const std::string& uuid, const StopOptions& opts = {});
  PodStatus pod_status(const std::string& uuid) const;
  // pod_status, with every joined network of the running pod checked by its
  // CNI plugins (CHECK): PodNetworkInfo::check. A pod not running is a conflict.
  PodStatus check_pod_networks(const std::string& uuid) const;
  // Deliver a signal to the apps (or one app) of a running pod, through its
  // init; each app's outcome (ok: signalled). A paused pod is resumed first.
  std::vector<AppOutcome> kill_pod(const std::string& uuid, const KillOptions& opts = {});
  // Freeze every process of a running pod (the VM, for a VM flavour); its
  // status is "paused" until resume_pod. False when it was paused already.
  bool pause_pod(const std::string& uuid);
  // Thaw a paused pod. False when it was not paused.
  bool resume_pod(const std::string& uuid);
  // CPU time, memory and process counts of a running pod and its apps.
  PodStats pod_stats(const std::string& uuid) const;
  // Stop a running pod (or take an exited one) and start its same trees
  // again as a new run: same UUID, volumes, network config and runtime.json;
  // the exit records of the last run are reset, the apps' tree changes and
  // logs kept (Documentation/pod-lifecycle.md). `detach`: the new run's stdio
  // is /dev/null and it is in a session of its own (it outlives the caller).
  RunningPod restart_pod(const std::string& uuid, const StopOptions& stop = {}, bool detach = true);
  // Wait until the pod has exited, or with `until_ready` until every app has
  // been started (or it exited); false when `timeout` passed first.
  bool wait_pod(const std::string& uuid, std::optional<std::chrono::milliseconds> timeout,
                bool until_ready = false) const;
  // Every pod but embryos and garbage; `summary` reads only what `pod list` shows (faster).
  std::vector<PodStatus> list_pods(bool summary = false) const;
  // Remove a pod that is not running (rm): stage1 teardown, unmount, delete.
  void remove_pod(const std::string& uuid);
  GcReport gc(const GcOptions& opts);
  // The reified pod manifest (JSON text), as the stage1 reads it.
  std::string pod_manifest(const std::string& uuid) const;
  // An app's output so far (logs/<app>.log).
  std::string app_log(const std::string& uuid, const std::string& app) const;
  // Write app `app` ("" = the pod's only app) of an exited pod, with the
  // changes it made to its tree, as a new ACI at `out` (temp file + rename;
  // `overwrite`: replace an existing file). Returns the ACI's image ID. A pod
  // that is running or busy is refused (Conflict).
  std::string export_app(const std::string& uuid, const std::string& app, const std::string& out, bool overwrite = false);
  // The apps' output, as `sink(app, bytes)` calls: what the logs hold now
  // (its last `tail` lines per app, those within since/until) and, with
  // `follow`, what the apps write until the pod has exited, `until` has passed,
  // or `sink` returns false. Lines it cannot time are said as notices.
  void read_logs(const std::string& uuid, const LogOptions& opts,
                 const std::function<bool(const std::string& app, const std::string& data)>& sink) const;
  // The full UUID of a UUID or unique prefix (NotFound / Usage errors otherwise).
  std::string resolve_pod(const std::string& uuid_or_prefix) const;

  // --- networks (Documentation/networking.md) ---
  // Can a pod of this data dir join `net` (a --net value: host, none, or CNI
  // networks)? Returns when it can; throws the reason (a bad config, a missing
  // plugin, an unknown network) when not.
  void check_network(const std::string& net, const std::vector<std::string>& net_config_dirs = {}) const;

  // --- apps in a running pod (Documentation/api.md, "Apps in a running pod") ---
  // Their stage1 must declare pod/stage1/app-ops (native and nspawn do; others: ENOTSUP).
  // Every call takes the pod's apps lock ($P/apps.lock): they serialize against each other and gc.
  //
  // Prepare a pod with no apps (spec.apps empty; spec.sandbox is implied) and
  // start it detached; returns its UUID once it runs. It runs until stop_pod.
  std::string create_sandbox(const PodSpec& spec);
  // Render `app`'s image and add it to the running pod `uuid` as "created"
  // (not started); returns its name. `fetch`: how its image is fetched. A kill -9 at any point leaves either no
  // app (what was staged is cleaned by the next add or gc) or a created one.
  std::string add_app(const std::string& uuid, const AppSpec& app, const FetchOptions& fetch = {});
  // Start a created app (after the apps it names with --after have started).
  AppState start_app(const std::string& uuid, const std::string& app);
  // Stop running apps (every running app when `apps` is empty), dependents
  // first; waits until each exited. One outcome per app (ok: it has exited).
  std::vector<AppOutcome> stop_apps(const std::string& uuid, const std::vector<std::string>& apps,
                                    const AppStopOptions& opts = {});
  // The app's CRI log file (AppSpec::cri_log) opened anew at its path: after the caller renamed the old one
  // (log rotation). Conflict when the app has none.
  void reopen_app_log(const std::string& uuid, const std::string& app);
  // New resource limits for an app of a running pod (`pod app update`, CRI UpdateContainerResources):
  // each of memory, cpu, cpu_shares and pids_limit given replaces the app's, the others stay (any other
  // field set is a usage error). The pod init writes them to the app's cgroups at once (a running app
  // started without a limit of that kind is refused: Conflict), then the pod manifest records them.
  AppState update_app_resources(const std::string& uuid, const std::string& app, const IsolatorSpec& resources);
  // Remove an app that is not running: its tree, its records and log, its manifest entry.
  void remove_app(const std::string& uuid, const std::string& app);
  // Every app of the pod in manifest order (a pod that is not running: from
  // its exit records), or one of them (NotFound when it has no such app).
  std::vector<AppState> list_apps(const std::string& uuid) const;
  AppState app_status(const std::string& uuid, const std::string& app) const;

  // --- inside a running pod ---
  // Run `cmd` in app `app` ("" = the only app) of a running pod, with this
  // process's stdin/stdout/stderr; returns its exit status.
  int exec_in_pod(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd,
                  bool tty = false);
  // Run `cmd` in app `app` of a running pod with its stdin empty and its
  // stdout and stderr captured (at most 16 MiB each); after `timeout` it is
  // killed (timed_out). What CRI's ExecSync needs.
  ExecResult exec_capture(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd,
                          std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Start `cmd` in app `app` of a running pod with its stdio on `io` and return at once (CRI Exec).
  ExecProcess exec_stream(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd,
                          const ExecIo& io);
  // A TCP connection to 127.0.0.1:`port` in the network namespace of a running pod (CRI PortForward);
  // the caller owns the returned socket. ConnectionRefused and the like are Io errors naming the port.
  int connect_in_pod(const std::string& uuid, int port);
  // The same in place of this process (`pod enter`).
  [[noreturn]] void enter_pod(const std::string& uuid, const std::string& app, const std::vector<std::string>& cmd,
                              bool tty = false);

  // --- images ---
  // A file, URL or name; returns the image ID (already stored: O(1)).
  std::string fetch_image(const std::string& ref, const FetchOptions& opts = {});
  std::vector<ImageSummary> list_images() const;
  ImageSummary image_status(const std::string& ref) const;  // by ID (prefix) or name[:version]
  std::string image_manifest(const std::string& ref, bool pretty = true) const;  // JSON text
  std::vector<SpecialFile> image_setuid_files(const std::string& ref) const;      // setuid/setgid entries
  // Write a stored image as an ACI file (same image ID).
  void export_image(const std::string& ref, const std::string& file, bool overwrite) const;
  // Write an image to `dir`: as stored (extract) or rendered (dependencies and pathWhitelist applied).
  void extract_image(const std::string& ref, const std::string& dir, bool render, bool rootfs_only, bool overwrite);
  // Remove trees no pod uses and images unused for `grace`; stale temp files.
  ImageGcReport gc_images(std::chrono::milliseconds grace);
  // Re-hash blobs and trees of `refs` (all when empty); what does not match is quarantined.
  VerifyReport verify_images(const std::vector<std::string>& refs);
  // Make a deterministic ACI from DIR (manifest + rootfs/); returns its image ID.
  static std::string build_image(const std::string& dir, const std::string& out, std::optional<int64_t> mtime,
                                 bool overwrite);
  // Returns the full ID removed and the rendered trees kept because pods still use them.
  std::pair<std::string, std::vector<std::string>> remove_image(const std::string& ref);

  // --- fsck (Documentation/fsck.md) ---
  // Check the image store, the pod store and what pods left on the host; with `repair`, fix what can be
  // fixed without losing a live pod or a referenced image. Without `repair` it writes nothing and works
  // on a read_only handle.
  std::vector<FsckFinding> fsck(bool repair);

  // --- the appc metadata service (Documentation/metadata-service.md) ---
  // Serve it to the pods of this data dir registered with PodSpec::mds_register,
  // on each `listen` address (tcp://IPV4:PORT, unix:PATH), on systemd's
  // sockets, or on tcp://127.0.0.1:18112; until SIGTERM, SIGINT or SIGHUP.
  // `listening` is called with each address once it accepts requests.
  void serve_metadata(const std::vector<std::string>& listen,
                      const std::function<void(const std::string&)>& listening = {}) const;

  // --- image trust (Documentation/trust.md) ---
  // The key in `file` (exactly one OpenPGP public key), for review; changes nothing.
  static TrustedKey read_key_file(const std::string& file);
  // Trust the key in `file` for image names under `prefix` (or all, with `root`), in the data dir's store.
  TrustedKey trust_key(const std::string& file, const std::string& prefix, bool root = false);
  // The keys of the system store ($POD_TRUST_SYSTEM_DIR or /etc/pod/trustedkeys), then the local one.
  std::vector<TrustedKey> list_trusted_keys() const;
  // Remove a local key from every prefix it is trusted for; returns those entries (NotFound when none).
  std::vector<TrustedKey> untrust_key(const std::string& fingerprint);

 private:
  struct Impl;
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pod
