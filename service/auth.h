// Who may ask what of the query service (issue 11 item 2): bearer tokens, their roles, and a rate per token.
//
// The tokens file holds no token, only its SHA-256 (lower-case hex), one per line with a role and a name:
//   # sha256-hex                                                        role     name
//   9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08    desk     desk-anna
// (`printf %s "$TOKEN" | sha256sum` gives the hash). Blank lines and lines starting with '#' are skipped. Roles:
//   desk     persons and claims (person, settlements, claim, statement)
//   auditor  also facilities, fund months and audit results
//   ops      metrics and health only
//   intake   writes events (POST /v1/events, `gongji serve` only) and reads nothing
// A malformed line, or a hash a previous line already gave, is refused with TokenFileError naming the file, line
// and field.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gongji {

// SHA-256 of `data` as 64 lower-case hex digits (OpenSSL's EVP digest).
std::string sha256_hex(std::string_view data);

enum class Role { desk, auditor, ops, intake };
// What an endpoint reads: a person's data, the auditor's views (facilities, fund, audit), or operations'; or, for
// intake, what it writes: events into the log.
enum class Area { person, audit, ops, intake };

std::string role_name(Role r);
// desk: person; auditor: person and audit; ops: ops; intake: intake.
bool role_allows(Role r, Area a);

struct TokenFileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Principal {
  std::string name;
  Role role = Role::desk;
};

class TokenTable {
 public:
  TokenTable() = default;
  // Reads `path` (format above). TokenFileError on a malformed line, an unreadable file or one without a token.
  static TokenTable load(const std::string& path);
  // Adds one hash (tests, and load()).
  void add(const std::string& sha256, const std::string& name, Role role);
  // The principal whose hash is the token's, or nullopt. Compares hashes, never tokens.
  std::optional<Principal> authenticate(std::string_view token) const;
  size_t size() const { return by_hash_.size(); }

 private:
  std::map<std::string, Principal> by_hash_;
};

// A token bucket per principal: `per_second` requests a second, bursts up to that many. Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(double per_second) : rate_(per_second) {}
  // True when `who` may make one more request now (and counts it).
  bool admit(const std::string& who, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  double rate_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace gongji
