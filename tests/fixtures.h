// Shared fixtures for tests that use the real log and the real RocksDB store.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "events/event_json.h"
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

inline std::string all_outputs(const Store& s) {
  std::string out;
  s.outputs([&](const nlohmann::json& r) {
    out += r.dump() + "\n";
    return true;
  });
  return out;
}

}  // namespace gongji::test
