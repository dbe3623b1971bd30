#include "cri/stream_tokens.hpp"

#include <sys/random.h>

#include <cerrno>

#include "util/error.hpp"

namespace pod::cri {

namespace {
std::string random_token() {
  unsigned char b[16];
  for (size_t got = 0; got < sizeof b;) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("getrandom");
    got += static_cast<size_t>(n);
  }
  static const char hex[] = "0123456789abcdef";
  std::string t;
  for (unsigned char c : b) t += {hex[c >> 4], hex[c & 15]};
  return t;
}
}  // namespace

void TokenCache::drop_expired(Clock::time_point now) {
  for (auto it = pending_.begin(); it != pending_.end();) it = it->second.expires <= now ? pending_.erase(it) : ++it;
}

std::string TokenCache::put(StreamRequest r) {
  std::string token = random_token();
  std::lock_guard lock(m_);
  const auto now = Clock::now();
  drop_expired(now);
  if (pending_.size() >= kMaxPending)
    throw Error("too many streaming requests pending (" + std::to_string(kMaxPending) + "): try again within a minute",
                EAGAIN, ErrorKind::Conflict);
  pending_.emplace(token, Entry{now + lifetime_, std::move(r)});
  return token;
}

std::optional<StreamRequest> TokenCache::take(const std::string& token) {
  std::lock_guard lock(m_);
  auto it = pending_.find(token);
  if (it == pending_.end()) return std::nullopt;
  Entry e = std::move(it->second);
  pending_.erase(it);
  if (e.expires <= Clock::now()) return std::nullopt;
  return std::move(e.request);
}

}  // namespace pod::cri
