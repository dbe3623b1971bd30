// The appc metadata service (Documentation/metadata-service.md): what a pod's
// apps reach at $AC_METADATA_URL.
//
// Daemonless in spirit: the server keeps no state of its own. A pod is
// registered by files in its own pod dir (stage0 writes them at prepare with
// --mds-register) and the URL names the pod and its token:
//   $AC_METADATA_URL = <base>/<pod uuid>/<token>
// so a request finds its pod with one lookup in the data dir, a pod's
// registration goes away with the pod, and killing or restarting the server
// loses nothing.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace pod::mds {

inline constexpr uint16_t kDefaultPort = 18112;                     // rkt's port for the apps
inline constexpr const char* kDefaultUrl = "http://127.0.0.1:18112";
inline constexpr const char* kTokenFile = "mds/token";        // in $P: 128 random bits, hex
inline constexpr const char* kKeyFile = "mds/hmac-key";       // in $P: 64 random bytes, mode 0600

// Register a pod being prepared (pod_dirfd = $P): make its token and HMAC
// key, and return its AC_METADATA_URL under `base_url` (http://HOST:PORT).
std::string register_pod(int pod_dirfd, const std::string& uuid, const std::string& base_url);
// pod::Error (usage) unless `base_url` is http://HOST:PORT[/] with a numeric
// IPv4 host; failed when nothing accepts a connection there (the service is
// not running: a registered pod's apps would find nothing).
void check_reachable(const std::string& base_url);
// pod::Error (usage) when a pod on network `net` (runtime.json's: host, none,
// or CNI networks when `cni`) could not reach `base_url` from its own network
// namespace: a loopback address there is the pod's own loopback, and
// --net=none has nothing else.
void check_pod_network(const std::string& base_url, const std::string& net, bool cni);

struct Request {
  std::string method;  // GET, POST, ...
  std::string path;    // the URL path, without the query
  std::map<std::string, std::string> headers;  // names in lower case
  std::map<std::string, std::string> form;     // POSTed application/x-www-form-urlencoded fields
};

struct Reply {
  int status = 200;
  std::string content_type = "text/plain; charset=us-ascii";
  std::string body;
};

// Answers requests from the pods of one data dir. Thread-safe (reads only).
class Service {
 public:
  explicit Service(std::string data_dir) : data_dir_(std::move(data_dir)) {}
  Reply handle(const Request& r) const;

 private:
  std::string data_dir_;
};

}  // namespace pod::mds
