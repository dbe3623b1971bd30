#include "cri/stream_server.hpp"

#include <signal.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <libwebsockets.h>
#include <map>
#include <vector>

#include "cri/stream_session.hpp"
#include "util/error.hpp"

namespace pod::cri {

namespace {
constexpr size_t kMaxMessage = 4u << 20;  // a client message bigger than this closes its stream
constexpr const char* kV5 = "v5.channel.k8s.io";
constexpr const char* kV4 = "v4.channel.k8s.io";

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);

// The first is the HTTP protocol, also the websocket's when the client asks for no subprotocol.
const lws_protocols kProtocols[] = {
    {"http", callback, 0, 0, 0, nullptr, 0},
    {kV5, callback, 0, 65536, 0, nullptr, 0},
    {kV4, callback, 0, 65536, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

// "/exec/TOKEN" -> {"exec", "TOKEN"}; {"", ""} for any other path.
std::pair<std::string, std::string> route(const std::string& path) {
  for (const char* kind : {"exec", "portforward"}) {
    const std::string prefix = std::string("/") + kind + "/";
    if (path.rfind(prefix, 0) == 0 && path.size() > prefix.size() && path.find('/', prefix.size()) == std::string::npos)
      return {kind, path.substr(prefix.size())};
  }
  return {"", ""};
}

int http_status(lws* wsi, unsigned code, const std::string& msg) {
  lws_return_http_status(wsi, code, msg.c_str());
  return 1;
}

void log_line(int level, const char* line) {
  (void)level;
  std::cerr << "pod-cri: streaming: " << line;
}
}  // namespace

struct StreamServer::Loop {
  Loop(const Env& e, TokenCache& t) : env(e), tokens(t) {}
  const Env& env;
  TokenCache& tokens;
  lws_context* ctx = nullptr;
  std::atomic<bool> stop{false};
  struct Conn {
    std::unique_ptr<Session> session;
    std::string rx;  // the client's message so far
  };
  std::map<lws*, StreamRequest> pending;  // upgrade accepted, not established yet
  std::map<lws*, Conn> conns;

  // The request of a websocket upgrade of /KIND/TOKEN: taken from the cache, with the port-forward's ports
  // from the URL (?port=N, repeatable) when it gives some. An HTTP status (>0) when refused.
  int confirm_upgrade(lws* wsi) {
    char uri[1024] = "";
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0) return http_status(wsi, 414, "URI too long");
    const auto [kind, token] = route(uri);
    if (kind.empty()) return http_status(wsi, HTTP_STATUS_NOT_FOUND, "no such stream");
    auto req = tokens.take(token);
    if (!req || (kind == "exec") != std::holds_alternative<ExecRequest>(*req))
      return http_status(wsi, HTTP_STATUS_NOT_FOUND, "unknown, used or expired token");
    if (auto* pf = std::get_if<PortForwardRequest>(&*req)) {
      std::vector<int> ports;
      char arg[256];
      for (int i = 0; lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; ++i) {
        if (std::strncmp(arg, "port=", 5) != 0) continue;
        char* end = nullptr;
        long p = std::strtol(arg + 5, &end, 10);
        if (end == arg + 5 || *end || p < 1 || p > 65535)
          return http_status(wsi, HTTP_STATUS_BAD_REQUEST, std::string("bad port ") + (arg + 5));
        ports.push_back(static_cast<int>(p));
      }
      if (!ports.empty()) pf->ports = ports;
      if (pf->ports.empty()) return http_status(wsi, HTTP_STATUS_BAD_REQUEST, "no port to forward (?port=N)");
    }
    pending.insert_or_assign(wsi, std::move(*req));
    return 0;
  }

  int established(lws* wsi) {
    auto it = pending.find(wsi);
    if (it == pending.end()) return -1;
    StreamRequest req = std::move(it->second);
    pending.erase(it);
    const char* proto = lws_get_protocol(wsi)->name;
    const int version = std::strcmp(proto, kV5) == 0 ? 5 : std::strcmp(proto, kV4) == 0 ? 4 : 0;
    if (version == 0 && std::holds_alternative<ExecRequest>(req)) {
      const std::string why = std::string("exec needs the subprotocol ") + kV5 + " or " + kV4;
      lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                       reinterpret_cast<unsigned char*>(const_cast<char*>(why.data())), why.size());
      return -1;
    }
    lws_context* c = ctx;
    conns[wsi].session = start_session(env, req, version ? version : 4, [c] { lws_cancel_service(c); });
    lws_callback_on_writable(wsi);
    return 0;
  }

  int receive(lws* wsi, const void* in, size_t len) {
    auto it = conns.find(wsi);
    if (it == conns.end()) return -1;
    std::string& rx = it->second.rx;
    if (rx.size() + len > kMaxMessage) {
      lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, nullptr, 0);
      return -1;
    }
    rx.append(static_cast<const char*>(in), len);
    if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
      it->second.session->on_message(rx);
      rx.clear();
    }
    return 0;
  }

  int writeable(lws* wsi) {
    auto it = conns.find(wsi);
    if (it == conns.end()) return 0;
    Session& s = *it->second.session;
    if (auto msg = s.next()) {
      std::vector<unsigned char> buf(LWS_PRE + msg->size());
      std::memcpy(buf.data() + LWS_PRE, msg->data(), msg->size());
      if (lws_write(wsi, buf.data() + LWS_PRE, msg->size(), LWS_WRITE_BINARY) < static_cast<int>(msg->size()))
        return -1;
      lws_callback_on_writable(wsi);
      return 0;
    }
    if (s.finished()) {
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, nullptr, 0);
      return -1;
    }
    return 0;
  }
};

namespace {
int callback(lws* wsi, lws_callback_reasons reason, void*, void* in, size_t len) {
  auto* L = static_cast<StreamServer::Loop*>(lws_context_user(lws_get_context(wsi)));
  switch (reason) {
    case LWS_CALLBACK_HTTP: {  // a request that is no upgrade
      const bool stream = !route(static_cast<const char*>(in)).first.empty();
      lws_return_http_status(wsi, stream ? HTTP_STATUS_BAD_REQUEST : HTTP_STATUS_NOT_FOUND,
                             stream ? "streams are websocket upgrades (v5.channel.k8s.io, v4.channel.k8s.io); "
                                      "SPDY is not served"
                                    : "no such stream");
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      if (std::strcmp(static_cast<const char*>(in), "websocket") != 0)
        return http_status(wsi, HTTP_STATUS_BAD_REQUEST, "only websocket upgrades are served (no SPDY)");
      return L->confirm_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED: return L->established(wsi);
    case LWS_CALLBACK_RECEIVE: return L->receive(wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE: return L->writeable(wsi);
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      for (auto& c : L->conns) lws_callback_on_writable(c.first);
      return 0;
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
      L->pending.erase(wsi);
      L->conns.erase(wsi);  // a session ended by its client kills what it started
      return 0;
    default: return lws_callback_http_dummy(wsi, reason, nullptr, in, len);
  }
}
}  // namespace

StreamServer::StreamServer(const Env& env) : loop_(std::make_unique<Loop>(env, tokens_)) {
  ::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not the end of the server
  lws_set_log_level(LLL_ERR, log_line);
  const std::string& addr = env.opts.stream_address;
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  if (addr.find(':') == std::string::npos) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  info.user = loop_.get();
  loop_->ctx = lws_create_context(&info);
  if (!loop_->ctx) throw Error("cannot start the streaming server (libwebsockets)", 0, ErrorKind::Io);
  info.port = env.opts.stream_port;
  info.iface = addr.c_str();
  info.protocols = kProtocols;
  info.vhost_name = "stream";
  lws_vhost* vh = lws_create_vhost(loop_->ctx, &info);
  const std::string where = addr + ":" + std::to_string(env.opts.stream_port);
  if (!vh) {
    lws_context_destroy(loop_->ctx);
    throw Error("cannot listen on " + where + " for the streaming server (--stream-address, --stream-port: an "
                "address of this host and a free port)", EADDRINUSE, ErrorKind::Io).with_item(where);
  }
  const bool v6 = addr.find(':') != std::string::npos;
  base_ = "http://" + (v6 ? "[" + addr + "]" : addr) + ":" + std::to_string(lws_get_vhost_listen_port(vh));
  thread_ = std::thread([L = loop_.get()] {
    while (!L->stop) lws_service(L->ctx, 0);
    L->conns.clear();  // first: the sessions kill what they run and join their threads, which wake the loop
    lws_context_destroy(L->ctx);
  });
}

StreamServer::~StreamServer() {
  loop_->stop = true;
  lws_cancel_service(loop_->ctx);
  thread_.join();
}

std::string StreamServer::url_for(StreamRequest req) {
  const char* kind = std::holds_alternative<ExecRequest>(req) ? "exec" : "portforward";
  return base_ + "/" + kind + "/" + tokens_.put(std::move(req));
}

}  // namespace pod::cri
