// Fuzz target: the embedded log's reader (log/event_log.h), through its public API only. Each input becomes the
// one segment file of a one-partition log, DIR/p0000/00000000000000000000.seg, beside a fresh meta and id index
// (copied from a template made once). The first input byte picks how the rest becomes the segment:
//   even: the bytes are the segment, as they are (a flipped, torn or forged file);
//   odd:  the bytes are records, each "u16 length (little-endian) | payload", framed here with their true CRC (so
//         that payloads reach the decoder and the id index), and whatever cannot be a whole record is appended as
//         raw bytes after the last frame (a torn or damaged tail).
// Contract under test: verify_segment_log, open_segment_log (read-only and read-write) and reading every record
// either succeed or throw LogError/EventError, nothing else. Properties checked when they succeed:
//   - offsets are 0, 1, 2, ... and read_at(offset, locator) gives the same record as read();
//   - the read-only reader and the read-write reader deliver the same records (a torn tail is not read by the one,
//     truncated by the other);
//   - recovery is idempotent: a log that opened read-write opens again with the same records, and verify then
//     reports nothing.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "log/crc32c.h"
#include "events/event.h"
#include "log/event_log.h"
#include "events/fb_codec.h"
#include "tests/fuzz/fuzz_check.h"

using namespace gongji;
namespace fs = std::filesystem;

namespace {

struct Rec {
  uint64_t offset = 0, locator = 0;
  int64_t ingested_ms = 0;
  std::string payload;
  bool operator==(const Rec&) const = default;
};

fs::path base_dir;

void remove_base() {
  std::error_code ec;
  if (!base_dir.empty()) fs::remove_all(base_dir, ec);
}

// The template log (made once per process): an empty one-partition log, closed.
const fs::path& template_log() {
  static const fs::path tmpl = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/gongji-fuzz-log-XXXXXX";
    if (!mkdtemp(pattern.data())) fuzz::finding("cannot make a temporary folder");
    base_dir = pattern;
    std::atexit(remove_base);
    fs::path t = base_dir / "template";
    open_segment_log(t.string(), 1).reset();
    return t;
  }();
  return tmpl;
}

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }

// The odd-mode segment: framed records, then the raw rest.
std::string framed(const uint8_t* data, size_t size) {
  std::string seg;
  size_t i = 0;
  while (i + 2 <= size) {
    size_t len = data[i] | (size_t(data[i + 1]) << 8);
    if (i + 2 + len > size) break;
    std::string body(8, '\0');
    int64_t ts = 1700000000000 + static_cast<int64_t>(i);
    std::memcpy(body.data(), &ts, 8);
    body.append(reinterpret_cast<const char*>(data + i + 2), len);
    put_u32(seg, static_cast<uint32_t>(body.size()));
    put_u32(seg, crc32c(body.data(), body.size()));
    seg += body;
    i += 2 + len;
  }
  seg.append(reinterpret_cast<const char*>(data + i), size - i);
  return seg;
}

// Every record of partition 0, each also read back with read_at and decoded (EventError allowed).
std::vector<Rec> read_all(EventLog& log) {
  FUZZ_CHECK(log.partitions() == 1, "partition count changed");
  std::vector<Rec> recs;
  log.read(0, 0, [&](const LogRecord& r) {
    FUZZ_CHECK(r.partition == 0 && r.offset == recs.size(), "offsets not 0, 1, 2, ...");
    recs.push_back({r.offset, r.locator, r.ingested_ms, std::string(r.payload)});
    return true;
  });
  FUZZ_CHECK(log.end_offset(0) == recs.size(), "end_offset disagrees with the records read");
  for (const Rec& rec : recs) {
    bool seen = false;
    log.read_at(0, rec.offset, rec.locator, [&](const LogRecord& r) {
      seen = true;
      FUZZ_CHECK(r.payload == rec.payload && r.ingested_ms == rec.ingested_ms, "read_at differs from read");
    });
    FUZZ_CHECK(seen, "read_at delivered nothing");
    try {
      (void)decode_event(rec.payload);
    } catch (const EventError&) {
    }
  }
  return recs;
}

// Opens the log and reads it: the records, or false when the open or the read refused (LogError/EventError).
bool open_and_read(const fs::path& dir, bool read_only, std::vector<Rec>& out) {
  try {
    auto log = open_segment_log(dir.string(), 1, read_only);
    out = read_all(*log);
    return true;
  } catch (const LogError&) {
    return false;
  } catch (const EventError&) {
    return false;
  }
}

void run(const uint8_t* data, size_t size) {
  const fs::path& tmpl = template_log();
  fs::path dir = base_dir / "work";
  fs::remove_all(dir);
  fs::copy(tmpl, dir, fs::copy_options::recursive);
  {
    std::string seg;
    if (size && (data[0] & 1)) seg = framed(data + 1, size - 1);
    else if (size) seg.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    std::ofstream(dir / "p0000" / "00000000000000000000.seg", std::ios::binary | std::ios::trunc) << seg;
  }
  try {
    (void)verify_segment_log(dir.string());
  } catch (const LogError&) {
  }
  std::vector<Rec> ro, rw, again;
  bool ro_ok = open_and_read(dir, true, ro);
  bool rw_ok = open_and_read(dir, false, rw);
  if (ro_ok && rw_ok) FUZZ_CHECK(ro == rw, "the read-only and the read-write reader deliver different records");
  if (!rw_ok) return;
  FUZZ_CHECK(open_and_read(dir, false, again), "a log that opened read-write refuses to open a second time");
  FUZZ_CHECK(again == rw, "a second read-write open delivers different records");
  std::vector<LogFinding> findings = verify_segment_log(dir.string());
  FUZZ_CHECK(findings.empty(), "verify finds a problem in a log that opened read-write: " + findings.front().message());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::no_foreign_exception("segment_log", [&] { run(data, size); });
  return 0;
}
