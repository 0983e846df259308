// Writes the committed seed corpora of the fuzz targets: corpus/<target>/ under OUT, from the repository's own
// files (tests/scenarios, ledger/policy/weihai.yaml). Run by hand after the event schema or the scenarios change:
//   build/fuzz/fuzz_make_seeds . tests/fuzz/corpus
// Seeds are small on purpose: a few dozen files per target.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "events/event.h"
#include "events/event_json.h"
#include "log/event_log.h"
#include "events/fb_codec.h"

using namespace gongji;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const fs::path& p, size_t max) {
  std::vector<std::string> out;
  std::istringstream in(slurp(p));
  for (std::string l; out.size() < max && std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << bytes;
}

std::string num(size_t i) { return (i < 10 ? "0" : "") + std::to_string(i); }

// A real segment: `events` appended to a fresh one-partition log, the file's bytes.
std::string real_segment(const std::vector<Event>& events) {
  fs::path dir = fs::temp_directory_path() / ("gongji-seeds-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    auto log = open_segment_log(dir.string(), 1);
    for (const Event& e : events) log->append(e);
    log->sync();
  }
  std::string seg = slurp(dir / "p0000" / "00000000000000000000.seg");
  fs::remove_all(dir);
  return seg;
}

void event_seeds(const fs::path& src, const fs::path& out) {
  std::vector<std::string> json = lines(src / "tests/scenarios/every_type.jsonl", 40);
  for (const auto& l : lines(src / "tests/scenarios/malformed.jsonl", 13)) json.push_back(l);
  for (const char* f : {"chronic_employee", "away_and_emergency", "resident_acupuncture"})
    for (const auto& l : lines(src / "tests/scenarios/examples" / (std::string(f) + ".jsonl"), 4)) json.push_back(l);
  std::vector<Event> valid;
  for (size_t i = 0; i < json.size(); ++i) {
    put(out / "event_json", "line" + num(i) + ".json", json[i]);
    try {
      valid.push_back(parse_event(json[i]));
    } catch (const EventError&) {
    }
  }
  for (size_t i = 0; i < valid.size() && i < 40; ++i)
    put(out / "event_fb", "event" + num(i) + ".fb", encode_event(valid[i]));

  // The segment target: even first byte = raw segment bytes, odd = records to frame (segment_log_fuzz.cc).
  std::vector<Event> some(valid.begin(), valid.begin() + std::min<size_t>(valid.size(), 6));
  std::string seg = real_segment(some);
  fs::path sd = out / "segment_log";
  put(sd, "empty", std::string(1, '\0'));
  put(sd, "real", '\0' + seg);
  put(sd, "torn_tail", '\0' + seg.substr(0, seg.size() - 5));
  std::string flipped = seg;
  flipped[flipped.size() / 2] ^= 0x20;
  put(sd, "flipped_middle", '\0' + flipped);
  put(sd, "doubled", '\0' + seg + seg);
  std::string records(1, '\1');
  for (const Event& e : some) {
    std::string fb = encode_event(e);
    records += static_cast<char>(fb.size() & 0xff);
    records += static_cast<char>(fb.size() >> 8);
    records += fb;
  }
  put(sd, "framed", records);
  put(sd, "framed_torn", records + "\x10\x00\x00\x00garbage");
  put(sd, "framed_garbage_record", std::string("\1\5\0hello", 8) + records.substr(1));
}

void policy_seeds(const fs::path& src, const fs::path& out) {
  std::string full = slurp(src / "ledger/policy/weihai.yaml");
  fs::path pd = out / "policy";
  put(pd, "weihai.yaml", full);
  auto variant = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string v = full;
    auto at = v.find(from);
    if (at == std::string::npos) return;
    v.replace(at, from.size(), to);
    put(pd, name, v);
  };
  variant("rate_above_one.yaml", "\"0.70\"", "\"1.70\"");
  variant("negative_money.yaml", "\"300.00\"", "\"-300.00\"");
  variant("gap.yaml", "- {from: 2023-01-01, value: \"1600.00\"}", "- {from: 2023-01-02, value: \"1600.00\"}");
  variant("no_window.yaml", "window:", "windoww:");
  variant("bad_date.yaml", "to: 2027-06-30", "to: 2027-02-30");
  const char* smalls[] = {
      "window: {from: 2022-07-01, to: 2027-06-30}\nparameters:\n  minor.age_below:\n    rule: P-MINOR\n"
      "    article: Art.11\n    values: [{from: 2022-07-01, value: 18}]\n",
      "window: {from: 2022-07-01, to: 2027-06-30}\nparameters: {ordinary.deductible.employee: {rule: ORD-DED, "
      "article: Art.11, values: [{from: 2022-07-01, value: [\"300.00\", \"500.00\", \"700.00\"]}]}}\n",
      "window: [1, 2]\n",
      "a: &x {b: *x}\n",
      "parameters: !!binary aGVsbG8=\n",
      "",
      "---\n...\n---\n",
      "window: {from: 2022-07-01, to: 2027-06-30}\nparameters: {x: {values: [{from: 2022-07-01, value: 0.99999}]}}\n",
  };
  for (size_t i = 0; i < std::size(smalls); ++i) put(pd, "small" + num(i) + ".yaml", smalls[i]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_make_seeds SOURCE_DIR OUT_DIR\n";
    return 2;
  }
  event_seeds(argv[1], argv[2]);
  policy_seeds(argv[1], argv[2]);
  return 0;
}
