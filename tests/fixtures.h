// Shared fixtures for tests that use the real log and the real RocksDB store.
#pragma once
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "events/event_json.h"
#include "ledger/policy.h"
#include "log/event_log.h"
#include "ops/generator.h"
#include "projections/store.h"

namespace gongji::test {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gongji-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

// A tmpfs mounted at `path` for the test's lifetime (a real full disk); always unmounted, also when an assertion
// fails. Needs root: a test skips with `error` when `mounted` is false.
struct Tmpfs {
  std::string path;
  bool mounted = false;
  std::string error;
  Tmpfs(const std::string& p, const std::string& size) : path(p) {
    fs::create_directories(path);
    mounted = ::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted) error = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted) ::umount2(path.c_str(), MNT_DETACH);
  }
  bool resize(const std::string& size) {
    return ::mount("tmpfs", path.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }
  uint64_t used_kib() const {
    struct statvfs v{};
    statvfs(path.c_str(), &v);
    return (v.f_blocks - v.f_bfree) * v.f_frsize / 1024;
  }
};

// The built-in policy with ORD-LIM's 2023 employee limit (1600.00) set to `yuan` (e.g. "2000.00"): the other policy
// of the what-if and policy-change tests.
inline std::string policy_with_2023_employee_limit(const std::string& yuan) {
  const std::string from = "- {from: 2023-01-01, value: \"1600.00\"}";
  std::string text = default_policy_text();
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("the built-in policy no longer holds " + from);
  return text.replace(at, from.size(), "- {from: 2023-01-01, value: \"" + yuan + "\"}");
}

// The event of type S that a JSON line gives: a test that changes a field of a parsed event.
template <typename S>
S parse_as(const std::string& line) {
  const Event e = parse_event(line);
  if (const S* s = e.as<S>()) return *s;
  throw std::runtime_error(std::string("parse_as: the line is a ") + type_name(e.type()) + ": " + line);
}

inline std::string read_file(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command; returns its exit status and (if wanted) its stdout.
inline int run(const std::string& cmd, std::string* out = nullptr) {
  FILE* f = popen(cmd.c_str(), "r");
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  int st = pclose(f);
  if (out) *out = s;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

inline std::string gongji(const std::string& args) { return std::string(GONGJI_BIN) + " " + args; }

// Appends every line of a JSON Lines text to a log (validating each).
inline void ingest_lines(EventLog& log, const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) log.append(parse_event(line));
  log.sync();
}

inline std::string generated(int people, uint64_t seed = 7) {
  std::string out;
  GeneratorOptions opt;
  opt.people = people;
  opt.seed = seed;
  generate_population(opt, [&](const std::string& l) { out += l + "\n"; });
  return out;
}

// Facility T1 (a township health center, level 1, ordinary outpatient) and employee P in service, both from
// 2022-01-01: the two JSON lines most fold tests start from.
inline std::string township_t1_and_employee_p() {
  return R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,)"
         R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
         R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
         R"("scheme":"employee","status":"in_service"})" "\n";
}

// Employee P's claim K (400.00 of drugs at T9, level 1: 70.00 fund) submitted as c1 before P's enrolment was logged
// (refused UNKNOWN_PERSON: no history of P holds the id), settled on its second submission c2, then reversed (r): a
// claim whose first settlement record is not the one a reversal undoes (Store::settled_settlement). (Refused for an
// unknown facility instead, c1 would take the id and c2 be a DUPLICATE_CLAIM: §4, "whatever that one's outcome".)
inline std::string claim_settled_on_resubmission_then_reversed() {
  const std::string claim = R"(,"claim":"K","person":"P","facility":"T9","benefit":"ordinary",)"
                            R"("items":[{"category":"drug","amount":"400.00"}]})" "\n";
  return R"({"type":"facility_registered","id":"f","at":"2022-07-01","facility":"T9","level":1,)"
         R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
         R"({"type":"claim","id":"c1","date":"2023-03-01")" + claim +
         R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
         R"("scheme":"employee","status":"in_service"})" "\n"
         R"({"type":"claim","id":"c2","date":"2023-03-03")" + claim +
         R"({"type":"claim_reversed","id":"r","at":"2023-03-10","person":"P","claim":"K"})" "\n";
}

inline std::string all_outputs(const Store& s) {
  std::string out;
  s.outputs([&](const nlohmann::json& r) {
    out += r.dump() + "\n";
    return true;
  });
  return out;
}

}  // namespace gongji::test
