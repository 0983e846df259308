#include "service/auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace gongji {

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256: OpenSSL's EVP_Digest failed");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string role_name(Role r) {
  switch (r) {
    case Role::desk: return "desk";
    case Role::auditor: return "auditor";
    case Role::ops: return "ops";
    case Role::intake: return "intake";
  }
  return "?";
}

bool role_allows(Role r, Area a) {
  switch (a) {
    case Area::person: return r == Role::desk || r == Role::auditor;
    case Area::audit: return r == Role::auditor;
    case Area::ops: return r == Role::ops;
    case Area::intake: return r == Role::intake;
  }
  return false;
}

namespace {
bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

TokenTable TokenTable::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw TokenFileError("tokens file " + path + ": cannot be read");
  TokenTable t;
  std::map<std::string, int> lines;  // hash -> the line that gave it
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream fields(line);
    std::string hash, role, name, extra;
    if (!(fields >> hash) || hash.starts_with("#")) continue;
    const std::string where = "tokens file " + path + ":" + std::to_string(n) + ": ";
    if (!is_sha256_hex(hash))
      throw TokenFileError(where + "field 'sha256': expected 64 lower-case hex digits (the token's SHA-256)");
    if (!(fields >> role >> name) || (fields >> extra))
      throw TokenFileError(where + "expected three fields: sha256 role name");
    std::optional<Role> r;
    for (Role each : {Role::desk, Role::auditor, Role::ops, Role::intake})
      if (role == role_name(each)) r = each;
    if (!r) throw TokenFileError(where + "field 'role': expected desk, auditor, ops or intake, got '" + role + "'");
    if (auto seen = lines.find(hash); seen != lines.end())
      throw TokenFileError(where + "field 'sha256': the same hash as line " + std::to_string(seen->second) +
                           " (one token, one role)");
    lines[hash] = n;
    t.add(hash, name, *r);
  }
  if (t.size() == 0)
    throw TokenFileError("tokens file " + path + ": holds no token, so every request would be refused (401); add a "
                         "line 'sha256 role name'");
  return t;
}

void TokenTable::add(const std::string& sha256, const std::string& name, Role role) {
  by_hash_[sha256] = Principal{name, role};
}

std::optional<Principal> TokenTable::authenticate(std::string_view token) const {
  if (token.empty()) return std::nullopt;
  auto it = by_hash_.find(sha256_hex(token));
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

bool RateLimiter::admit(const std::string& who, std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  const double cap = std::max(rate_, 1.0);  // a rate below 1/s still admits one request
  auto [it, fresh] = buckets_.try_emplace(who, Bucket{cap, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(cap, b.tokens + elapsed * rate_);
    b.at = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace gongji
