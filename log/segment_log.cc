// The embedded log: per partition a folder of segment files, each record framed as
//   u32 length | u32 crc32c(body) | body = i64 ingested_ms | payload
// little-endian. Segment files are named by the offset of their first record. An id index (RocksDB under
// index/) holds, per event id, a hash of its canonical JSON and where its first copy lives ("id/<id>"), where each
// further copy lives ("c/<partition>/<id>"), up to which offset each partition is synced ("end/<p>": the count, a
// space and the checksum of the record before it in 8 hex digits, the anchor that ties the index to this log; a count
// alone from gongjis before the anchor, whose next sync adds it) and, for each
// sealed segment, its record count and byte length ("seg/<p>/<base>", checked on open with a stat), and a truncation
// not finished ("cut/<p>", PendingCut). On open, records past the synced end (appended before a crash, not yet
// indexed) are written again, fdatasynced and indexed (rewrite_unsynced).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <new>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <xxhash.h>

#include "log/crc32c.h"
#include "log/event_log.h"
#include "log/fault_probe.h"
#include "log/io_error.h"
#include "log/rocksdb_info_log.h"
#include "log/rocksdb_open.h"
#include "events/fb_codec.h"
#include "events/partition.h"
#include "oplog/oplog.h"

namespace fs = std::filesystem;

namespace gongji {

std::string LogFinding::message() const { return file + " at byte " + std::to_string(byte) + ": " + what; }

std::string TruncatePlan::describe() const {
  std::string s = "a cut of partition " + std::to_string(partition) + " at offset " + std::to_string(offset) +
                  " drops " + std::to_string(records) + " readable records and " + std::to_string(bytes) +
                  " bytes: " + file + " is cut at byte " + std::to_string(byte);
  for (const auto& r : removed) s += "; " + r + " is deleted";
  return s;
}

namespace {

constexpr uint64_t kSegmentBytes = 128ull << 20;
constexpr size_t kHeader = 8;
constexpr size_t kReadBuffer = 1 << 20;  // the stream buffer of read()
constexpr uint32_t kMaxBody = 8 + kMaxEventBytes;  // a frame body: ingested_ms and the payload
constexpr int kPosBits = 28;  // a segment stays below 128 MiB + one record < 2^28 bytes
constexpr uint64_t kNoCopy = ~0ull;  // an index entry whose record a truncation dropped

// A limit a test may lower through the environment variable `name` (tests only): a value in [lo, dflt], else dflt.
uint64_t test_limit(const char* name, uint64_t lo, uint64_t dflt) {
  if (const char* env = std::getenv(name)) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    if (*env && !*end && v >= lo && v <= dflt) return v;
  }
  return dflt;
}

uint64_t segment_bytes() { return test_limit("GONGJI_LOG_SEGMENT_BYTES", 64, kSegmentBytes); }

// How many new index entries (ids and copies) an append may leave pending before it syncs the log itself: the
// pending entries are the only memory an ingest holds per event, so this bounds an ingest of any size (a city-year
// of 37 M events held 8.9 GiB when the only sync came at the end of the file). A sync here is the same sync() a
// caller makes: it writes and fdatasyncs the segments, then records the ids. About 40 MB at the default.
// GONGJI_LOG_SYNC_IDS (tests only) lowers it.
constexpr size_t kSyncIds = size_t{1} << 18;

size_t sync_ids() { return test_limit("GONGJI_LOG_SYNC_IDS", 1, kSyncIds); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string seg_name(uint64_t base) {
  char b[32];
  std::snprintf(b, sizeof b, "%020llu.seg", static_cast<unsigned long long>(base));
  return b;
}

std::string part_name(int p) {
  char b[16];
  std::snprintf(b, sizeof b, "p%04d", p);
  return b;
}

// THE list of the files the log owns (issue 8 item 2): anything else in the log folder is refused.
//   <dir>/meta            the partition count
//   <dir>/index/          the id index (RocksDB; its own files)
//   <dir>/pNNNN/          one folder per partition, 0 <= NNNN < partitions
//   <dir>/pNNNN/<20 digits>.seg   segments, named by the offset of their first record
bool owned_top(const std::string& name, int partitions) {
  if (name == "meta" || name == "index") return true;
  if (name.size() != 5 || name[0] != 'p' || !std::all_of(name.begin() + 1, name.end(), ::isdigit)) return false;
  return std::stoi(name.substr(1)) < partitions;
}
bool owned_in_partition(const std::string& name) {
  return name.size() == 24 && name.ends_with(".seg") && std::all_of(name.begin(), name.begin() + 20, ::isdigit);
}

// "no space left on device: <path>" (strerror in lower case, then the path).
[[noreturn]] void io_fail(int err, const fs::path& path) { throw LogError(io_error(err, path.string())); }

// The errno a probe injects at `point` (0: none); a torn action crashes at once (nothing half done here).
int injected(const char* point) {
  int e = probe::fail_errno(point);
  if (e < 0) probe::crash_now();
  return e;
}

// fsync of a file or a folder; `point` (or nullptr) names the probe that may fail it.
void fsync_path(const fs::path& p, const char* point = nullptr) {
  int err = point ? injected(point) : 0;
  if (!err) err = fsync_errno(p.string());
  if (err) io_fail(err, p);
}

[[noreturn]] void refuse(const LogFinding& f) { throw LogError("embedded log: " + f.message()); }

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& s, int64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

#pragma pack(push, 1)
struct IdEntry {
  uint64_t hash;       // xxh3-64 of the canonical JSON
  uint32_t partition;  // where the event's first copy lives
  uint64_t offset;     // kNoCopy when a truncation dropped it
};
#pragma pack(pop)

// The length of the valid frame at `pos` of `data` (0: none).
size_t frame_at(const std::string& data, size_t pos) {
  if (pos + kHeader > data.size()) return 0;
  uint32_t hdr[2];
  std::memcpy(hdr, data.data() + pos, kHeader);
  if (hdr[0] < 8 || hdr[0] > kMaxBody || pos + kHeader + hdr[0] > data.size()) return 0;
  if (crc32c(data.data() + pos + kHeader, hdr[0]) != hdr[1]) return 0;
  return kHeader + hdr[0];
}

struct Scan {
  uint64_t count = 0, valid = 0, size = 0;  // whole valid records from the start, the bytes they span, file size
  bool later_valid = false;                 // a valid record starts somewhere after the first failing one
  uint64_t last_start = 0;                  // where the last whole record starts (when count > 0)
  uint32_t last_crc = 0;                    // and its checksum
  // The file could not be opened, or ended before its size or failed a read while scanned: the rest is unread.
  std::optional<LogFinding> failed;
};

// `from_byte`: where a record starts (a refresh resumes there; count and valid then count from it, size is the
// file's size from it). `look_past`: whether to look for a valid record after a failing one (later_valid). The file
// is read as it is when the scan starts, 4 MiB at a time into one buffer (read whole into a new string, and with
// read()'s seeks below, the tails cost every command opening a 10% city-year's log about 5 s: ops/bench/README.md).
// A file that cannot be opened, or that ends before that size or fails a read while scanned: Scan::failed, naming
// the file and byte (an open refuses it, `log verify` lists it).
Scan scan_segment(const fs::path& file, uint64_t max_records = ~0ull, uint64_t from_byte = 0, bool look_past = true) {
  constexpr uint64_t kChunk = 4ull << 20;
  Scan s;
  errno = 0;
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  const int open_err = in ? injected("log.scan_open") : (errno ? errno : EIO);
  if (open_err) {
    s.failed = LogFinding{file.string(), from_byte, "cannot open it: " + io_error_text(open_err)};
    return s;
  }
  const uint64_t end = static_cast<uint64_t>(std::max<std::streamoff>(in.tellg(), 0));
  s.size = end > from_byte ? end - from_byte : 0;
  if (s.size) in.seekg(static_cast<std::streamoff>(from_byte));
  std::string window;  // bytes [base, base + window.size()) of the scanned range, read in order
  uint64_t base = 0;
  // Whether bytes [pos, pos + n) are in the window, reading on when they are in the file (pos >= base).
  auto have = [&](uint64_t pos, uint64_t n) {
    if (pos + n <= base + window.size()) return true;
    if (pos + n > s.size) return false;
    window.erase(0, pos - base);
    base = pos;
    const size_t kept = window.size();
    window.resize(std::min(std::max(n, kChunk), s.size - pos));
    const int read_err = injected("log.scan_read");  // a read failing as a bad sector's would, nothing read
    if (!read_err) in.read(window.data() + kept, static_cast<std::streamsize>(window.size() - kept));
    const auto got = read_err ? 0 : static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0));
    if (kept + got < window.size()) {
      s.failed = LogFinding{file.string(), from_byte + base + kept + got,
                            read_err || in.bad()
                                ? io_error_text(read_err ? read_err : EIO) + " while scanning it"
                                : "it ended before the size it had when its scan began (cut while read)"};
      window.resize(kept + got);
    }
    return pos + n <= base + window.size();
  };
  while (s.count < max_records && have(s.valid, kHeader) && !s.failed) {
    uint32_t length;
    std::memcpy(&length, window.data() + (s.valid - base), sizeof length);
    have(s.valid, kHeader + std::min<uint64_t>(length, kMaxBody));  // frame_at refuses what is not there
    size_t n = frame_at(window, s.valid - base);
    if (!n) break;
    ++s.count;
    s.last_start = s.valid;
    std::memcpy(&s.last_crc, window.data() + (s.valid - base) + 4, 4);
    s.valid += n;
  }
  if (s.failed || s.count == max_records || !look_past) return s;
  if (!have(s.valid, s.size - s.valid) || s.failed) return s;
  for (uint64_t q = s.valid + 1; q + kHeader < s.size && !s.later_valid; ++q)
    s.later_valid = frame_at(window, q - base);
  return s;
}

// scan_segment, its Scan::failed refused (LogError naming the file and byte).
Scan scan_whole(const fs::path& file, uint64_t max_records = ~0ull) {
  Scan s = scan_segment(file, max_records);
  if (s.failed) refuse(*s.failed);
  return s;
}

// What the id index says about the partitions' files.
struct IndexView {
  std::map<int, uint64_t> synced;                                    // end/<p>
  std::map<int, uint32_t> anchors;  // end/<p>'s checksum of the record at synced - 1, where the index holds one
  std::map<std::pair<int, uint64_t>, std::pair<uint64_t, uint64_t>> sealed;  // seg/<p>/<base> -> count, bytes
};

// end/<p>'s value: the synced count, and the anchor after it where there is one (a count of 0 has none).
std::string end_value(uint64_t count, uint32_t crc) {
  char hex[10];
  std::snprintf(hex, sizeof hex, " %08x", crc);
  return std::to_string(count) + (count ? hex : "");
}
struct SyncedEnd {
  uint64_t count = 0;
  std::optional<uint32_t> anchor;
};
SyncedEnd read_end_value(std::string_view v, const fs::path& index, std::string_view key) {
  SyncedEnd e;
  const char *end = v.data() + v.size(), *at = std::from_chars(v.data(), end, e.count).ptr;
  uint32_t crc = 0;
  const bool anchored = at + 9 == end && *at == ' ' && std::from_chars(at + 1, end, crc, 16).ptr == end;
  if (at == v.data() || (at != end && !anchored))
    throw LogError("embedded log: id index " + index.string() + ": a damaged entry " + std::string(key) + " (\"" +
                   std::string(v.substr(0, 40)) + "\"): nothing was changed");
  if (anchored) e.anchor = crc;
  return e;
}

// A read of the index that fails (a table failing its checksum, an I/O error) ends its iteration early: refused as a
// LogError naming the index and RocksDB's text (the table and offset), never taken for an index that lists less.
void check_index_read(const rocksdb::Iterator& it, const fs::path& index, const std::string& what) {
  if (!it.status().ok())
    throw LogError("embedded log: id index read failed: " + index.string() + ": " + what + ": " +
                   it.status().ToString());
}

IndexView load_index_view(rocksdb::DB& db, const fs::path& index) {
  IndexView v;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("end/"); it->Valid() && it->key().starts_with("end/"); it->Next()) {
    const int p = std::stoi(it->key().ToString().substr(4));
    const SyncedEnd e = read_end_value(it->value().ToStringView(), index, it->key().ToStringView());
    v.synced[p] = e.count;
    if (e.anchor) v.anchors[p] = *e.anchor;
  }
  check_index_read(*it, index, "the partitions' synced ends");  // (before the next Seek, which forgets a failure)
  for (it->Seek("seg/"); it->Valid() && it->key().starts_with("seg/"); it->Next()) {
    std::string k = it->key().ToString().substr(4), val = it->value().ToString();
    auto slash = k.find('/'), sp = val.find(' ');
    v.sealed[{std::stoi(k.substr(0, slash)), std::stoull(k.substr(slash + 1))}] = {
        std::stoull(val.substr(0, sp)), std::stoull(val.substr(sp + 1))};
  }
  check_index_read(*it, index, "the sealed segments");
  return v;
}

std::string sealed_key(int p, uint64_t base) { return "seg/" + std::to_string(p) + "/" + std::to_string(base); }

// A truncation whose index batch is written and whose files may not all be cut yet (truncate_segment_log): under
// cut/<p>, "<offset> <byte> <segment cut> <segment removed>..." (names in the partition's folder), deleted once the
// files are cut. Until then the records it drops are still in the files, and an open would take them for an unsynced
// tail. An entry that does not read so, or names a file the log would not own, is damage (LogError naming it).
struct PendingCut {
  int partition = 0;
  uint64_t offset = 0, byte = 0;
  std::string cut;
  std::vector<std::string> removed;
  std::string where(const fs::path& dir) const { return (dir / part_name(partition) / cut).string(); }
};
std::string cut_key(int p) { return "cut/" + std::to_string(p); }

std::vector<PendingCut> pending_cuts(rocksdb::DB& db, const fs::path& dir, int partitions) {
  std::vector<PendingCut> cuts;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("cut/"); it->Valid() && it->key().starts_with("cut/"); it->Next()) {
    PendingCut c;
    std::istringstream in(it->value().ToString());
    const std::string key = it->key().ToString();
    const auto [end, ec] = std::from_chars(key.data() + 4, key.data() + key.size(), c.partition);
    bool whole = ec == std::errc() && end == key.data() + key.size() && c.partition >= 0 &&
                 c.partition < partitions && (in >> c.offset >> c.byte >> c.cut) && owned_in_partition(c.cut);
    for (std::string name; whole && in >> name;) c.removed.push_back(name), whole = owned_in_partition(name);
    if (!whole) throw LogError("embedded log: id index " + (dir / "index").string() + ": a damaged entry " + key);
    cuts.push_back(std::move(c));
  }
  check_index_read(*it, dir / "index", "the truncations not finished");
  return cuts;
}

// Finishes each truncation `index` marks as not finished, as truncate_segment_log would have (the later segments
// removed, the last first, then the cut, each fsynced, then the mark deleted, synced), and says so on stderr. Only
// while the partition's synced end is still the truncation's offset: else something wrote to the log since (a gongji
// that did not know the mark), and nothing is changed (LogError). The caller holds the index's lock.
void finish_cuts(rocksdb::DB& index, const fs::path& dir, int partitions) {
  for (const PendingCut& c : pending_cuts(index, dir, partitions)) {
    std::string end;
    const std::string key = "end/" + std::to_string(c.partition);
    const rocksdb::Status got = index.Get(rocksdb::ReadOptions(), key, &end);
    const uint64_t synced = got.ok() ? read_end_value(end, dir / "index", key).count : 0;
    if (!got.ok() || synced != c.offset)
      refuse({c.where(dir), c.byte, "a `log truncate` of partition " + std::to_string(c.partition) + " at offset " +
                                        std::to_string(c.offset) + " did not finish, and the index's synced end "
                                        "is now " + (got.ok() ? std::to_string(synced) : got.ToString()) +
                                        ": nothing changed"});
    const fs::path pdir = dir / part_name(c.partition), cut = pdir / c.cut;
    std::error_code ec;
    for (auto r = c.removed.rbegin(); r != c.removed.rend(); ++r) {
      if (!fs::remove(pdir / *r, ec) && ec) io_fail(ec.value(), pdir / *r);
      fsync_path(pdir);
    }
    if (const uint64_t size = fs::file_size(cut, ec); !ec && size > c.byte) {
      fs::resize_file(cut, c.byte, ec);
      if (ec) io_fail(ec.value(), cut);
      fsync_path(cut);
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (const rocksdb::Status st = index.Delete(wo, cut_key(c.partition)); !st.ok())
      throw LogError("embedded log: id index write failed: " + (dir / "index").string() + ": " + st.ToString());
    oplog::warn("embedded log: finished a `log truncate` of partition " + std::to_string(c.partition) +
                " that had not finished: " + cut.string() + " cut at byte " + std::to_string(c.byte));
  }
}

// A record of a segment: its file, where it starts and its checksum.
struct RecordAt {
  fs::path file;
  uint64_t byte = 0;
  uint32_t crc = 0;
};

// The state of one partition's folder, checked against the index. `full`: scan every segment (verify); otherwise
// sealed segments the index recorded are checked with a stat.
struct PartCheck {
  std::vector<uint64_t> bases;
  std::vector<std::pair<uint64_t, uint64_t>> unrecorded;  // sealed segments the index lacks: base, count
  std::vector<uint64_t> sealed_bytes;                     // per sealed segment
  uint64_t end = 0, tail_bytes = 0;
  uint64_t last_start = 0;  // the last segment's last whole record: where it starts, its checksum
  uint32_t last_crc = 0;
  std::optional<RecordAt> end_record;  // the record at end - 1 (end > 0), in whichever segment
  std::optional<LogFinding> torn;  // a torn tail: cut the last segment at torn->byte
  std::vector<LogFinding> findings;
};

// A partition's segments, by base offset: every name of a segment, whatever it is (a folder or a link in a
// segment's place is check_layout's finding, and an open refuses it).
std::vector<uint64_t> list_bases(const fs::path& pdir) {
  std::vector<uint64_t> bases;
  for (auto& entry : fs::directory_iterator(pdir)) {
    auto fn = entry.path().filename().string();
    if (owned_in_partition(fn)) bases.push_back(std::stoull(fn.substr(0, 20)));
  }
  std::sort(bases.begin(), bases.end());
  return bases;
}

// Checks the sealed segment i (not the last); returns its record count.
uint64_t check_sealed(const fs::path& pdir, int p, size_t i, const IndexView& idx, bool full, PartCheck& c) {
  uint64_t base = c.bases[i];
  fs::path file = pdir / seg_name(base);
  uint64_t size = fs::file_size(file);
  c.sealed_bytes.push_back(size);
  auto rec = idx.sealed.find({p, base});
  if (size == 0) {
    c.findings.push_back({file.string(), 0, "zero-length segment in the middle of the partition"});
    return rec == idx.sealed.end() ? 0 : rec->second.first;
  }
  if (rec != idx.sealed.end() && size != rec->second.second)
    c.findings.push_back({file.string(), std::min(size, rec->second.second),
                          "sealed segment is " + std::to_string(size) + " bytes, the index recorded " +
                              std::to_string(rec->second.second) + " when it was sealed"});
  if (!full && rec != idx.sealed.end()) return rec->second.first;
  Scan s = scan_segment(file);
  if (s.failed)
    c.findings.push_back(*s.failed);
  else if (s.valid < s.size)
    c.findings.push_back({file.string(), s.valid, "record at offset " + std::to_string(base + s.count) +
                                                      " fails its length or checksum (not at the partition's tail)"});
  else if (rec != idx.sealed.end() && s.count != rec->second.first)
    c.findings.push_back({file.string(), 0, "sealed segment holds " + std::to_string(s.count) +
                                                " records, the index recorded " + std::to_string(rec->second.first)});
  if (rec == idx.sealed.end()) c.unrecorded.push_back({base, s.count});
  return rec != idx.sealed.end() ? rec->second.first : s.count;
}

// The record at `offset` of the partition in `pdir` whose segments begin at `bases` (below its end, at or past the
// first base) into `r`: its segment, where it starts and its checksum; or the finding naming the file and byte where
// its segment does not read that far (damage an open's stat of a sealed segment does not see).
std::optional<LogFinding> read_record_at(const fs::path& pdir, const std::vector<uint64_t>& bases, uint64_t offset,
                                         RecordAt& r) {
  auto it = std::upper_bound(bases.begin(), bases.end(), offset);
  const uint64_t base = it == bases.begin() ? 0 : *--it, n = offset - base + 1;
  const fs::path file = pdir / seg_name(base);
  const Scan s = scan_segment(file, n, 0, false);
  if (s.failed) return s.failed;
  if (s.count != n)
    return LogFinding{file.string(), s.valid, "record at offset " + std::to_string(base + s.count) + " fails its "
                      "length or checksum (the record at offset " + std::to_string(offset) + " is read through it)"};
  r = RecordAt{file, s.last_start, s.last_crc};
  return std::nullopt;
}
// read_record_at, its finding refused (LogError).
RecordAt record_at(const fs::path& pdir, const std::vector<uint64_t>& bases, uint64_t offset) {
  RecordAt r;
  if (const std::optional<LogFinding> f = read_record_at(pdir, bases, offset, r)) refuse(*f);
  return r;
}

void check_last(const fs::path& pdir, int p, const IndexView& idx, PartCheck& c) {
  uint64_t base = c.bases.back();
  fs::path file = pdir / seg_name(base);
  if (auto rec = idx.sealed.find({p, base}); rec != idx.sealed.end())
    c.findings.push_back({(pdir / seg_name(base + rec->second.first)).string(), 0,
                          "segment missing: " + seg_name(base) + " was sealed and nothing follows it"});
  Scan s = scan_segment(file);
  c.end = base + s.count;
  c.tail_bytes = s.valid;
  c.last_start = s.last_start;
  c.last_crc = s.last_crc;
  if (s.count > 0) c.end_record = RecordAt{file, s.last_start, s.last_crc};
  if (s.failed) {
    c.findings.push_back(*s.failed);
  } else if (s.valid < s.size) {
    if (s.later_valid)
      c.findings.push_back({file.string(), s.valid, "record at offset " + std::to_string(c.end) +
                                                        " fails its length or checksum and valid records follow it"});
    else
      c.torn = LogFinding{file.string(), s.valid, "torn tail of " + std::to_string(s.size - s.valid) + " bytes",
                          LogFinding::Torn{p, c.end}};
  }
  auto synced = idx.synced.find(p);  // (a scan that failed counted only what it read: its finding is the one)
  if (!s.failed && synced != idx.synced.end() && synced->second > c.end)
    c.findings.push_back({file.string(), s.valid, "the index records " + std::to_string(synced->second) +
                                                      " records synced, the partition holds " +
                                                      std::to_string(c.end) + ": a synced record is lost"});
}

// The index's anchor of partition `p` (end/<p>) against the log: the record at the synced end - 1 must be the one
// the index was written with. An index of another log (another data dir's, or this log's from before a `log
// truncate`, put back from a backup) would take this log's events for the ones it lists: each one a duplicate, never
// appended, while every command exits 0 (the fault hunt: 1,000 of 3,150 events dropped). An index of a gongji before
// the anchor has none to check until its next sync.
void check_anchor(const fs::path& pdir, int p, const IndexView& idx, PartCheck& c) {
  const auto anchor = idx.anchors.find(p);
  const auto synced = idx.synced.find(p);
  if (anchor == idx.anchors.end() || synced == idx.synced.end() || synced->second == 0 || synced->second > c.end)
    return;  // (more than the partition holds: check_last's finding)
  const uint64_t at = synced->second - 1;
  RecordAt r;
  if (at + 1 == c.end && c.end_record) r = *c.end_record;
  else if (std::optional<LogFinding> f = read_record_at(pdir, c.bases, at, r))
    return c.findings.push_back(*f);  // damage where the anchor's record is: the segment's finding, not the index's
  if (r.crc == anchor->second) return;
  char want[9], have[9];
  std::snprintf(want, sizeof want, "%08x", anchor->second);
  std::snprintf(have, sizeof have, "%08x", r.crc);
  c.findings.push_back(
      {r.file.string(), r.byte,
       "the id index (" + (pdir.parent_path() / "index").string() + ") is another log's: it records partition " +
           std::to_string(p) + " synced to offset " + std::to_string(synced->second) + ", the record at offset " +
           std::to_string(at) + " with checksum " + want + ", and this log's record there has checksum " + have +
           " (an index put back from another data dir, or from before a `log truncate`): it would take this log's "
           "events for the ones it lists, and drop them as duplicates. Put back the index this log was written "
           "with; nothing was changed"});
}

PartCheck check_partition(const fs::path& pdir, int p, const IndexView& idx, bool full) {
  PartCheck c;
  c.bases = list_bases(pdir);
  if (c.bases.empty()) {
    auto synced = idx.synced.find(p);
    if (synced != idx.synced.end() && synced->second > 0)
      c.findings.push_back({pdir.string(), 0, "no segments, the index records " + std::to_string(synced->second) +
                                                  " records synced"});
    return c;
  }
  if (c.bases[0] != 0)
    c.findings.push_back({(pdir / seg_name(0)).string(), 0, "first segment missing (the partition starts at offset " +
                                                                std::to_string(c.bases[0]) + ")"});
  for (size_t i = 0; i + 1 < c.bases.size(); ++i) {
    size_t before = c.findings.size();
    uint64_t count = check_sealed(pdir, p, i, idx, full, c);
    if (c.findings.size() == before && c.bases[i] + count != c.bases[i + 1])
      c.findings.push_back({(pdir / seg_name(c.bases[i + 1])).string(), 0,
                            "segment does not follow its predecessor, which ends at offset " +
                                std::to_string(c.bases[i] + count)});
  }
  check_last(pdir, p, idx, c);
  if (c.findings.empty()) check_anchor(pdir, p, idx, c);
  return c;
}

// The partition count from `dir`/meta; a finding when it is missing or unreadable.
std::optional<int> read_meta(const fs::path& dir, std::vector<LogFinding>& findings) {
  std::ifstream in(dir / "meta");
  int n = 0;
  std::string rest;
  if (!in || !(in >> n) || n < 1 || n > 4096 || (in >> rest)) {
    findings.push_back({(dir / "meta").string(), 0, "missing or unreadable meta (expected the partition count)"});
    return std::nullopt;
  }
  return n;
}

// A folder's entries by name: what `log verify` and `audit` report comes in one order, whatever the file system's.
std::vector<fs::directory_entry> entries_by_name(const fs::path& dir) {
  std::vector<fs::directory_entry> all(fs::directory_iterator(dir), fs::directory_iterator{});
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return all;
}

void check_layout(const fs::path& dir, int partitions, std::vector<LogFinding>& findings) {
  for (auto& e : entries_by_name(dir))
    if (!owned_top(e.path().filename().string(), partitions))
      findings.push_back({e.path().string(), 0, "not a file of the log"});
  for (int p = 0; p < partitions; ++p) {
    fs::path pdir = dir / part_name(p);
    if (!fs::is_directory(pdir)) {
      findings.push_back({pdir.string(), 0, "partition folder missing"});
      continue;
    }
    for (auto& e : entries_by_name(pdir))  // a link is not a file of the log: a cut would cut its target
      if (!owned_in_partition(e.path().filename().string()) || e.is_symlink() || !e.is_regular_file())
        findings.push_back({e.path().string(), 0, "not a file of the log"});
  }
}

// Opens the id index; only create() makes a new one (a log whose index is gone cannot tell a torn tail from damage).
std::unique_ptr<rocksdb::DB> open_index(const fs::path& dir, bool read_only, bool create = false) {
  rocksdb::Options opt;
  opt.create_if_missing = create;
  // Nearly every lookup of an ingest misses (a new id): a Bloom filter answers it from memory, where without one each
  // level's index block is searched. Tables written before without a filter are read as they are.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  opt.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // The same for the memtable, where the ingest's new ids are until a flush: without a filter each miss searched
  // its skip list (about 16% of a 10%-of-the-city ingest's main thread, perf).
  opt.memtable_whole_key_filtering = true;
  opt.memtable_prefix_bloom_size_ratio = 0.02;
  opt.compression = rocksdb::kLZ4Compression;
  // RocksDB's own LOG writer aborts on a full disk (log/rocksdb_info_log.h); read-only opens write nothing.
  if (create) fs::create_directories(dir / "index");
  opt.info_log = std::make_shared<TolerantInfoLog>(read_only ? "" : (dir / "index").string());
  rocksdb::DB* db = nullptr;
  const std::string path = (dir / "index").string();
  const auto read = [&](rocksdb::DB** to) { return rocksdb::DB::OpenForReadOnly(opt, path, to); };
  auto st = read_only ? open_beside_writer(read, &db) : rocksdb::DB::Open(opt, path, &db);
  if (st.IsNoSpace())
    throw LogError(io_error(ENOSPC, (dir / "index").string()) + " (opening the id index: " + st.ToString() + ")");
  if (!st.ok()) {
    std::string what = "embedded log: cannot open id index " + path + ": " + st.ToString();
    // RocksDB's refusal for a lock held names the LOCK file only: say who holds it (another process; not this one).
    if (what.find(path + "/LOCK: ") != std::string::npos)
      if (const std::optional<long> writer = lock_holder(path))
        what += ": process " + std::to_string(*writer) + " has the log open for writing (an ingest, a fold "
                "starting or a log truncate); one process writes it at a time";
    throw LogError(what);
  }
  return std::unique_ptr<rocksdb::DB>(db);
}

struct Partition {
  fs::path dir;
  std::vector<uint64_t> bases;  // segment base offsets, ascending
  uint64_t end = 0;             // next offset
  uint64_t tail_bytes = 0;      // size of the last segment
  uint64_t last_start = 0;      // read-only: the last whole record read (end > its segment's base): its byte and
  uint32_t last_crc = 0;        //   checksum, which a refresh finds unchanged unless the file was cut under it
  int fd = -1;                  // last segment, open for append
  std::string pending;          // framed records not yet written
  bool dirty = false;
  uint64_t synced = 0;          // the end the id index records (EventLog::synced_end); a reader's, as opened
  uint32_t end_crc = 0;         // a writer's: the checksum of the record at end - 1, the anchor sync() records
};

class SegmentLog final : public EventLog {
 public:
  struct CopyTag {};
  // reader_copy(): the partitions' state without their descriptors (a reader's are only closed) or the index (a
  // reader drops it after open).
  SegmentLog(const SegmentLog& other, CopyTag)
      : dir_(other.dir_), read_only_(true), roll_bytes_(other.roll_bytes_), partitions_(other.partitions_),
        parts_(other.parts_) {
    for (auto& p : parts_) p.fd = -1;
  }

  SegmentLog(const std::string& dir, int partitions, bool read_only)
      : dir_(dir), read_only_(read_only), roll_bytes_(segment_bytes()), sync_ids_(sync_ids()) {
    if (!fs::exists(dir_ / "meta")) {
      if (read_only_) throw LogError("embedded log: no log in " + dir_.string() + " (no meta)");
      create(partitions);
    }
    std::vector<LogFinding> findings;
    auto n = read_meta(dir_, findings);
    if (!n) refuse(findings.front());
    partitions_ = *n;
    check_layout(dir_, partitions_, findings);
    if (!findings.empty()) refuse(findings.front());
    if (!fs::exists(dir_ / "index" / "CURRENT"))
      refuse({(dir_ / "index").string(), 0,
              "the id index is missing: without it a torn tail cannot be told from damage to synced records "
              "(restore the folder from a backup; nothing was changed)"});
    index_ = open_index(dir_, read_only_);
    finish_pending_cuts();
    IndexView idx = load_index_view(*index_, dir_ / "index");
    std::vector<PartCheck> checks;
    for (int p = 0; p < partitions_; ++p) {
      checks.push_back(check_partition(dir_ / part_name(p), p, idx, false));
      if (!checks.back().findings.empty()) refuse(checks.back().findings.front());
    }
    parts_.resize(partitions_);
    try {
      for (int p = 0; p < partitions_; ++p) {
        open_partition(p, checks[p]);
        auto synced = idx.synced.find(p);  // at most the end: check_last refuses a synced record lost
        parts_[p].synced = synced == idx.synced.end() ? 0 : synced->second;
      }
      if (!read_only_) reindex_tails(idx);
    } catch (...) {  // a refused open leaves no descriptor behind (the service opens logs for as long as it runs)
      for (auto& part : parts_)
        if (part.fd >= 0) ::close(part.fd);
      throw;
    }
    if (read_only_) index_.reset();  // a reader looks nothing up; held open, it would pin the files the writer compacts
  }

  ~SegmentLog() override {
    try {
      if (!read_only_ && !failed_) sync();
    } catch (...) {
    }
    for (auto& p : parts_)
      if (p.fd >= 0) ::close(p.fd);
  }

  int partitions() const override { return partitions_; }

  std::unique_ptr<EventLog> reader_copy() const override {
    if (!read_only_) return nullptr;
    return std::unique_ptr<EventLog>(new SegmentLog(*this, CopyTag{}));
  }

  void check_records(int partition, uint64_t from) override {
    read(partition, from, [](const LogRecord&) { return true; });
  }

  AppendResult append(const Event& e) override {
    writable();
    std::string canon = canonical_json(e);
    uint64_t h = XXH3_64bits(canon.data(), canon.size());
    auto known = lookup(e.id());
    if (known && known->hash != h) return AppendResult::conflict;
    std::vector<int> missing;
    for (int p : partitions_for(e, partitions_))
      if (!known || !has_copy(*known, p, e.id())) missing.push_back(p);
    if (missing.empty()) return AppendResult::duplicate;
    std::string payload = encode_event(e);
    if (payload.size() > kMaxEventBytes)
      throw RecordTooLarge("embedded log: event " + e.id() + " encodes to " + std::to_string(payload.size()) +
                           " bytes, more than the limit of " + std::to_string(kMaxEventBytes));
    for (int p : missing) {
      uint64_t off = parts_[p].end;
      if (!known || known->partition == static_cast<uint32_t>(p) || known->offset == kNoCopy) {
        known = IdEntry{h, static_cast<uint32_t>(p), off};
        pending_ids_[e.id()] = *known;
      } else {
        pending_copies_[copy_key(p, e.id())] = off;
      }
      frame(p, payload);
    }
    if (pending_ids_.size() + pending_copies_.size() >= sync_ids_) sync();
    return AppendResult::appended;
  }

  void append_raw(int partition, std::string_view payload) override {
    writable();
    if (payload.size() > kMaxEventBytes) throw RecordTooLarge("embedded log: raw record too large");
    frame(partition, payload);
  }

  void read_at(int partition, uint64_t offset, uint64_t locator,
               const std::function<void(const LogRecord&)>& fn) override {
    Partition& part = parts_.at(partition);
    if (offset >= part.end) throw LogError("embedded log: offset " + std::to_string(offset) + " is past the end");
    if (!part.pending.empty()) write_pending(part);
    fs::path file = part.dir / seg_name(locator >> kPosBits);
    uint64_t byte = locator & ((1ull << kPosBits) - 1);
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(byte));
    uint32_t hdr[2];
    std::string body;
    if (!in.read(reinterpret_cast<char*>(hdr), kHeader) || hdr[0] < 8 || hdr[0] > kMaxBody)
      refuse({file.string(), byte, "no record for offset " + std::to_string(offset)});
    body.resize(hdr[0]);
    if (!in.read(body.data(), hdr[0]) || crc32c(body.data(), body.size()) != hdr[1])
      refuse({file.string(), byte, "checksum mismatch for offset " + std::to_string(offset)});
    LogRecord rec;
    rec.partition = partition;
    rec.offset = offset;
    std::memcpy(&rec.ingested_ms, body.data(), 8);
    rec.payload = std::string_view(body).substr(8);
    rec.locator = locator;
    fn(rec);
  }

  // Writes and fdatasyncs every partition, then (only then) records the new ends and ids in the index: the index
  // never claims a record that is not durable.
  void sync() override {
    if (read_only_) return;
    writable();
    rocksdb::WriteBatch batch;
    bool synced = false;
    for (int p = 0; p < partitions_; ++p) {
      Partition& part = parts_[p];
      if (!part.pending.empty()) write_pending(part);
      if (part.dirty) {
        datasync(part);
        batch.Put("end/" + std::to_string(p), end_value(part.end, part.end_crc));
        synced = true;
      }
    }
    if (synced) probe::crash_point("log.after_fsync");
    if (!synced && pending_ids_.empty() && pending_copies_.empty() && pending_sealed_.empty()) return;
    // In key order: the keys are distinct, so the order changes nothing in the index, but RocksDB's memtable
    // inserts ordered keys several times faster than hash-map order (a sync carries up to 262,144 ids). The
    // keys are sorted as values (short ids stay inside the vector), not through pointers into the maps.
    struct Put {
      std::string key;
      char value[sizeof(IdEntry)];
      size_t size;
    };
    std::vector<Put> puts;
    puts.reserve(pending_ids_.size() + pending_copies_.size());
    for (const auto& [id, where] : pending_ids_) {
      puts.push_back({"id/" + id, {}, sizeof where});
      std::memcpy(puts.back().value, &where, sizeof where);
    }
    for (const auto& [key, off] : pending_copies_) {
      puts.push_back({key, {}, sizeof off});
      std::memcpy(puts.back().value, &off, sizeof off);
    }
    std::sort(puts.begin(), puts.end(), [](const Put& a, const Put& b) { return a.key < b.key; });
    for (const Put& put : puts) batch.Put(put.key, std::string_view(put.value, put.size));
    for (auto& [key, val] : pending_sealed_) batch.Put(key, val);
    commit(batch);
    for (auto& part : parts_) part.synced = part.end;  // every partition written and fdatasynced above
    pending_ids_.clear();
    pending_copies_.clear();
    pending_sealed_.clear();
  }

  uint64_t end_offset(int partition) override { return parts_.at(partition).end; }
  uint64_t synced_end(int partition) override { return parts_.at(partition).synced; }

  void refresh() override {
    if (!read_only_) return;  // a writer's ends are its own
    std::vector<Partition> next = parts_;
    for (int p = 0; p < partitions_; ++p) refresh_partition(next[p]);
    for (int p = 0; p < partitions_; ++p) {
      parts_[p].bases = std::move(next[p].bases);
      parts_[p].end = next[p].end;
      parts_[p].tail_bytes = next[p].tail_bytes;
      parts_[p].last_start = next[p].last_start;
      parts_[p].last_crc = next[p].last_crc;
    }
  }

  void read(int partition, uint64_t from, const std::function<bool(const LogRecord&)>& fn) override {
    Partition& part = parts_.at(partition);
    if (!part.pending.empty()) write_pending(part);
    auto it = std::upper_bound(part.bases.begin(), part.bases.end(), from);
    size_t seg = it == part.bases.begin() ? 0 : static_cast<size_t>(it - part.bases.begin() - 1);
    if (from >= part.end) return;
    std::string body;
    // Records before `from` are skipped through the stream's buffer, not seeked past one by one (a system call each:
    // with the open's scan above, about 5 s at every command opening a 10% city-year's log, where Store::check_log
    // reads each partition's last folded record: ops/bench/README.md).
    const auto buffer = std::make_unique_for_overwrite<char[]>(kReadBuffer);
    for (; seg < part.bases.size(); ++seg) {
      fs::path file = part.dir / seg_name(part.bases[seg]);
      std::ifstream in;
      in.rdbuf()->pubsetbuf(buffer.get(), static_cast<std::streamsize>(kReadBuffer));
      in.open(file, std::ios::binary);
      uint64_t off = part.bases[seg];
      uint64_t limit = seg + 1 < part.bases.size() ? part.bases[seg + 1] : part.end;
      uint64_t pos = 0;
      while (off < limit) {
        uint32_t hdr[2];
        if (!in.read(reinterpret_cast<char*>(hdr), kHeader) || hdr[0] < 8 || hdr[0] > kMaxBody)
          refuse({file.string(), pos, "corrupt record header at offset " + std::to_string(off)});
        if (off < from) {
          in.ignore(hdr[0]);
          ++off;
          pos += kHeader + hdr[0];
          continue;
        }
        body.resize(hdr[0]);
        if (!in.read(body.data(), hdr[0]) || crc32c(body.data(), body.size()) != hdr[1])
          refuse({file.string(), pos, "checksum mismatch at offset " + std::to_string(off)});
        LogRecord rec;
        rec.partition = partition;
        rec.offset = off;
        std::memcpy(&rec.ingested_ms, body.data(), 8);
        rec.payload = std::string_view(body).substr(8);
        rec.locator = (part.bases[seg] << kPosBits) | pos;
        pos += kHeader + hdr[0];
        if (!fn(rec)) return;
        ++off;
      }
    }
  }

 private:
  void writable() {
    if (read_only_) throw LogError("embedded log: opened read-only");
    if (failed_) throw LogError("embedded log: an earlier write failed; open the log again");
  }

  // A read-only log's view of one partition brought up to its files: the records after `end` in the last segment
  // read so far, then every later segment. A segment with a successor must hold whole records up to its end and end
  // where its successor begins; the last one is read up to its first incomplete or failing record (the writer may
  // be writing it; a torn tail is the writer's to truncate).
  void refresh_partition(Partition& part) const {
    const std::vector<uint64_t> bases = list_bases(part.dir);
    auto changed = [&](const std::string& what) {
      return LogError("embedded log: " + part.dir.string() + ": " + what + " since the log was opened (truncated or "
                      "replaced?): open it again");
    };
    if (bases.empty()) {
      if (part.end == 0) return;
      throw changed("the segments are gone");
    }
    // part.bases is {0} for a partition that had no file yet (open_partition)
    if (bases.size() < part.bases.size() || !std::equal(part.bases.begin(), part.bases.end(), bases.begin()))
      throw changed("the segments changed");
    uint64_t end = part.end, tail = part.tail_bytes, last_start = part.last_start;
    uint32_t last_crc = part.last_crc;
    // `gongji log truncate` inside the last segment read cuts the file under the reader, and appends may grow it
    // again: the file must still hold what was read, ending with the same last record.
    const fs::path known = part.dir / seg_name(part.bases.back());
    if (end > part.bases.back()) {
      std::error_code ec;
      const uint64_t size = fs::file_size(known, ec);
      uint32_t hdr[2] = {0, 0};
      std::ifstream in(known, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(last_start));
      if (ec || size < tail || !in.read(reinterpret_cast<char*>(hdr), kHeader) ||
          hdr[0] != tail - last_start - kHeader || hdr[1] != last_crc)
        throw changed(seg_name(part.bases.back()) + " no longer ends its first " + std::to_string(tail) +
                      " bytes with the record read at byte " + std::to_string(last_start));
    }
    for (size_t i = part.bases.size() - 1; i < bases.size(); ++i) {
      const fs::path file = part.dir / seg_name(bases[i]);
      if (i >= part.bases.size()) {  // a new segment: it continues the one before
        if (end != bases[i])
          throw changed("segment " + seg_name(bases[i - 1]) + " ends at offset " + std::to_string(end) + " but " +
                        seg_name(bases[i]) + " follows it");
        tail = 0;
      }
      const Scan s = scan_segment(file, ~0ull, tail, false);
      if (s.failed) refuse(*s.failed);
      if (s.count) {
        last_start = tail + s.last_start;
        last_crc = s.last_crc;
      }
      end += s.count;
      tail += s.valid;
      if (i + 1 < bases.size() && s.valid < s.size)
        refuse({file.string(), tail, "record at offset " + std::to_string(end) +
                                         " fails its length or checksum (not at the partition's tail)"});
    }
    part.bases = bases;
    part.end = end;
    part.tail_bytes = tail;
    part.last_start = last_start;
    part.last_crc = last_crc;
  }

  // A new log: partition folders and the index first, the meta last (atomically), each fsynced. A folder without
  // meta that holds any record is refused (it is not a new log).
  void create(int partitions) {
    if (partitions < 1 || partitions > 4096) throw LogError("embedded log: partitions must be 1..4096");
    if (fs::exists(dir_))
      for (auto& e : fs::recursive_directory_iterator(dir_))
        if (e.is_regular_file() && e.path().extension() == ".seg" && e.file_size() > 0)
          refuse({(dir_ / "meta").string(), 0, "missing, but " + e.path().string() + " holds records"});
    fs::create_directories(dir_);
    for (int p = 0; p < partitions; ++p) fs::create_directories(dir_ / part_name(p));
    fs::path tmp = dir_ / "meta.tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << partitions << "\n";
      if (!out.flush()) io_fail(errno ? errno : EIO, tmp);
    }
    fsync_path(tmp);
    open_index(dir_, false, true).reset();  // the index exists before the meta that makes the log
    fs::rename(tmp, dir_ / "meta");
    fsync_path(dir_);
  }

  void open_partition(int p, const PartCheck& c) {
    Partition& part = parts_[p];
    part.dir = dir_ / part_name(p);
    part.bases = c.bases;
    if (part.bases.empty()) part.bases.push_back(0);
    fs::path last = part.dir / seg_name(part.bases.back());
    if (c.torn && !read_only_) {
      oplog::warn("embedded log: truncating a torn tail: " + c.torn->message());
      fs::resize_file(last, c.torn->byte);
      fsync_path(last);
    }
    if (!read_only_ && c.bases.empty()) {
      int fd = ::open(last.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) io_fail(errno, last);
      ::close(fd);
      fsync_path(part.dir);
    }
    part.end = c.end;
    part.tail_bytes = c.tail_bytes;
    part.last_start = c.last_start;
    part.last_crc = c.last_crc;
    // The anchor the next sync records: the last segment's last record, or (a segment just begun, a cut at a
    // segment's start) the one before it, read only by a writer.
    if (!read_only_ && c.end > 0)
      part.end_crc = c.end_record ? c.end_record->crc : record_at(part.dir, c.bases, c.end - 1).crc;
    for (auto [base, count] : c.unrecorded) {
      size_t i = std::find(c.bases.begin(), c.bases.end(), base) - c.bases.begin();
      pending_sealed_[sealed_key(p, base)] = std::to_string(count) + " " + std::to_string(c.sealed_bytes[i]);
    }
    if (read_only_ && c.bases.empty()) return;
    part.fd = ::open(last.c_str(), (read_only_ ? O_RDONLY : O_WRONLY | O_APPEND) | O_CLOEXEC);
    if (part.fd < 0) io_fail(errno, last);
  }

  // Buffers a record; write_pending gives it its ingestion time and checksum.
  void frame(int p, std::string_view payload) {
    Partition& part = parts_.at(p);
    if (part.tail_bytes + part.pending.size() >= roll_bytes_) roll(p);
    const auto body = static_cast<uint32_t>(8 + payload.size());
    put_u32(part.pending, body);
    put_u32(part.pending, 0);  // the checksum of the body: write_pending's, with the time it is written at
    put_i64(part.pending, 0);
    part.pending.append(payload);
    ++part.end;
    if (part.pending.size() > (1u << 20)) write_pending(part);
  }

  // Seals the last segment (written, fdatasynced, its count and length recorded at the next sync) and starts the
  // next; the new file and its folder are fsynced before anything is appended to it.
  void roll(int p) {
    Partition& part = parts_[p];
    write_pending(part);
    if (part.dirty) datasync(part);
    uint64_t base = part.bases.back();
    pending_sealed_[sealed_key(p, base)] = std::to_string(part.end - base) + " " + std::to_string(part.tail_bytes);
    fs::path next = part.dir / seg_name(part.end);
    if (int err = injected("log.before_segment_create")) fail(err, next);
    int fd = ::open(next.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(errno, next);
    if (int err = injected("log.after_segment_create")) fail(err, part.dir);
    if (::fsync(fd) != 0) fail(errno, next);
    try {
      fsync_path(part.dir);
    } catch (const LogError&) {
      failed_ = true;
      throw;
    }
    ::close(part.fd);
    part.fd = fd;
    part.bases.push_back(part.end);
    part.tail_bytes = 0;
    part.dirty = true;
  }

  [[noreturn]] void fail(int err, const fs::path& path) {
    failed_ = true;
    io_fail(err, path);
  }

  fs::path tail_file(const Partition& part) const { return part.dir / seg_name(part.bases.back()); }

  void datasync(Partition& part) {
    int err = injected("log.before_fsync");
    if (!err && ::fdatasync(part.fd) != 0) err = errno;
    if (err) fail(err, tail_file(part));
    part.dirty = false;
  }

  // TIME-ASOF: a record's ingestion time is when it is written to its segment, where readers see it. Stamped when
  // append() buffered it, a record written later (past 1 MiB of the partition's buffer, or at the sync that ends an
  // ingest: seconds later, or minutes when the feed into `ingest -` pauses) was invisible to a `--known-at` asked
  // between, which then answered without it. So every buffered record gets the time and its checksum here.
  void write_pending(Partition& part) {
    if (failed_) throw LogError("embedded log: an earlier write failed; open the log again");
    const int64_t now = now_ms();
    for (size_t at = 0; at < part.pending.size();) {
      uint32_t body = 0;
      std::memcpy(&body, part.pending.data() + at, 4);
      std::memcpy(part.pending.data() + at + kHeader, &now, 8);
      const uint32_t crc = crc32c(part.pending.data() + at + kHeader, body);
      std::memcpy(part.pending.data() + at + 4, &crc, 4);
      at += kHeader + body;
      if (at == part.pending.size()) part.end_crc = crc;
    }
    const char* p = part.pending.data();
    size_t left = part.pending.size();
    int err = probe::fail_errno("log.before_write");
    if (err < 0) {  // torn: about half is written, then the process dies
      ssize_t n = ::write(part.fd, p, left / 2);
      (void)n;
      probe::crash_now();
    }
    if (err) fail(err, tail_file(part));
    while (left > 0) {
      ssize_t n = ::write(part.fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(errno, tail_file(part));
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    probe::crash_point("log.after_write");
    part.tail_bytes += part.pending.size();
    part.pending.clear();
    part.dirty = true;
  }

  void commit(rocksdb::WriteBatch& batch) {
    fs::path where = dir_ / "index";
    if (int err = injected("log.before_index_commit")) fail(err, where);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto st = index_->Write(wo, &batch);
    if (!st.ok()) {
      failed_ = true;
      if (st.IsNoSpace()) io_fail(ENOSPC, where);
      throw LogError("embedded log: id index write failed: " + where.string() + ": " + st.ToString());
    }
    probe::crash_point("log.after_index_commit");
  }

  static std::string copy_key(int p, const std::string& id) { return "c/" + std::to_string(p) + "/" + id; }

  std::optional<IdEntry> lookup(const std::string& id) {
    auto it = pending_ids_.find(id);
    if (it != pending_ids_.end()) return it->second;
    std::string v;
    auto st = index_->Get(rocksdb::ReadOptions(), "id/" + id, &v);
    if (st.IsNotFound()) return std::nullopt;
    if (!st.ok() || v.size() != sizeof(IdEntry)) throw LogError("embedded log: id index read failed: " + st.ToString());
    IdEntry e;
    std::memcpy(&e, v.data(), sizeof e);
    return e;
  }

  // Whether partition p holds a copy of the event `known` describes (an entry past the end was dropped).
  bool has_copy(const IdEntry& known, int p, const std::string& id) {
    if (known.partition == static_cast<uint32_t>(p)) return known.offset < parts_[p].end;
    std::string key = copy_key(p, id);
    if (auto it = pending_copies_.find(key); it != pending_copies_.end()) return it->second < parts_[p].end;
    std::string v;
    auto st = index_->Get(rocksdb::ReadOptions(), key, &v);
    if (st.IsNotFound()) return false;
    uint64_t off = 0;
    if (!st.ok() || v.size() != sizeof off) throw LogError("embedded log: id index read failed: " + st.ToString());
    std::memcpy(&off, v.data(), sizeof off);
    return off < parts_[p].end;
  }

  // A `log truncate` that did not finish (its index batch written, a crash before its files were all cut): a writer
  // finishes it (finish_cuts) before anything else reads the files: else their dropped records would be indexed
  // again as an unsynced tail, and folded. A reader refuses, naming it (it would read those records).
  void finish_pending_cuts() {
    if (!read_only_) return finish_cuts(*index_, dir_, partitions_);
    for (const PendingCut& c : pending_cuts(*index_, dir_, partitions_))
      refuse({c.where(dir_), c.byte, "a `gongji log truncate` of partition " + std::to_string(c.partition) +
                                         " did not finish (or is still running): `gongji log truncate --yes` "
                                         "finishes it, as does a command that opens the log for writing (ingest, "
                                         "fold)"});
  }

  // Records appended but not indexed before a crash are indexed now, so idempotence survives a crash.
  void reindex_tails(const IndexView& idx) {
    for (int p = 0; p < partitions_; ++p) {
      auto s = idx.synced.find(p);
      uint64_t indexed = s == idx.synced.end() ? 0 : s->second;
      if (indexed == parts_[p].end) continue;
      std::optional<uint64_t> first;  // where the first record past the synced end is
      read(p, indexed, [&](const LogRecord& r) {
        if (!first) first = r.locator;
        try {
          Event e = decode_event(r.payload);
          std::string canon = canonical_json(e);
          auto known = lookup(e.id());
          if (!known || known->offset == kNoCopy)
            pending_ids_[e.id()] = {XXH3_64bits(canon.data(), canon.size()), static_cast<uint32_t>(p), r.offset};
          else if (known->partition != static_cast<uint32_t>(p))
            pending_copies_[copy_key(p, e.id())] = r.offset;
        } catch (const LogError&) {
          throw;  // the id index could not be read (lookup): its records are not taken for indexed (sync, below)
        } catch (const std::bad_alloc&) {
          throw;
        } catch (const std::exception&) {
          // an undecodable record has no id to index; the fold dead-letters it
        }
        return true;
      });
      if (first) rewrite_unsynced(parts_[p], *first);
      parts_[p].dirty = true;
    }
    sync();
  }

  // Writes the records past the index's synced end again, the same bytes, in every segment from `locator` on, and
  // fdatasyncs each: only then may sync() record them as synced. An fdatasync that failed (EIO, or ENOSPC from a
  // delayed allocation) leaves Linux's pages of the file readable but marked clean: this open reads the records from
  // memory, and an fdatasync alone would write nothing and return 0, so the index would call synced records that
  // are not on the disk (after a power loss: "a synced record is lost", past what a fold took from them). Written
  // again, the pages are dirty and the fdatasync writes them, or fails and the open refuses.
  void rewrite_unsynced(const Partition& part, uint64_t locator) {
    const uint64_t first_base = locator >> kPosBits;
    std::string bytes;
    for (size_t seg = 0; seg < part.bases.size(); ++seg) {
      if (part.bases[seg] < first_base) continue;
      const fs::path file = part.dir / seg_name(part.bases[seg]);
      const uint64_t from = part.bases[seg] == first_base ? locator & ((1ull << kPosBits) - 1) : 0;
      const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) fail(errno, file);
      int err = 0;
      bytes.resize(kReadBuffer);
      for (uint64_t at = from; !err;) {  // up to the file's end: an open cut any torn tail off, a sealed one is whole
        const ssize_t n = ::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(at));
        if (n == 0) break;
        if (n < 0) {
          if (errno != EINTR) err = errno;
          continue;
        }
        for (ssize_t put = 0; put < n && !err;) {
          const ssize_t w = ::pwrite(fd, bytes.data() + put, static_cast<size_t>(n - put), static_cast<off_t>(at));
          if (w <= 0) {
            if (w == 0 || errno != EINTR) err = w == 0 ? EIO : errno;
            continue;
          }
          put += w;
          at += static_cast<uint64_t>(w);
        }
      }
      if (!err && ::fdatasync(fd) != 0) err = errno;
      ::close(fd);
      if (err) fail(err, file);
    }
  }

  fs::path dir_;
  bool read_only_ = false;
  bool failed_ = false;  // a write failed: what is in the files is no longer what this object believes
  uint64_t roll_bytes_;
  size_t sync_ids_ = kSyncIds;  // append() syncs when this many index entries are pending
  int partitions_ = 0;
  std::vector<Partition> parts_;
  std::unique_ptr<rocksdb::DB> index_;
  std::unordered_map<std::string, IdEntry> pending_ids_;
  std::unordered_map<std::string, uint64_t> pending_copies_;  // c/<p>/<id> -> offset
  std::map<std::string, std::string> pending_sealed_;         // seg/<p>/<base> -> "count bytes"
};

}  // namespace

std::unique_ptr<EventLog> open_segment_log(const std::string& dir, int partitions, bool read_only) {
  return std::make_unique<SegmentLog>(dir, partitions, read_only);
}

std::vector<LogFinding> verify_segment_log(const std::string& dir) {
  std::vector<LogFinding> f;
  fs::path d(dir);
  if (!fs::is_directory(d)) return {{dir, 0, "no log folder"}};
  auto n = read_meta(d, f);
  if (!n) return f;
  check_layout(d, *n, f);
  std::unique_ptr<rocksdb::DB> db;
  try {
    db = open_index(d, true);
  } catch (const LogError& e) {
    f.push_back({(d / "index").string(), 0, e.what()});
    return f;
  }
  // Every block of the index, the event ids' and copies' too, which no read below meets (a finding; the segments are
  // still checked, against what the index's other blocks say).
  if (const rocksdb::Status st = db->VerifyChecksum(); !st.ok())
    f.push_back({(d / "index").string(), 0, "embedded log: id index read failed: " + (d / "index").string() + ": " +
                                               st.ToString()});
  IndexView idx;
  try {
    idx = load_index_view(*db, d / "index");
    for (const PendingCut& c : pending_cuts(*db, d, *n))
      f.push_back({c.where(d), c.byte, "a `log truncate` of partition " + std::to_string(c.partition) + " at offset " +
                                           std::to_string(c.offset) + " did not finish (or is still running)"});
  } catch (const LogError& e) {
    if (f.empty() || f.back().file != (d / "index").string()) f.push_back({(d / "index").string(), 0, e.what()});
    return f;  // (the index's damage once: a failed read of it follows from its checksums' finding)
  }
  for (int p = 0; p < *n; ++p) {
    fs::path pdir = d / part_name(p);
    if (!fs::is_directory(pdir)) continue;  // reported by check_layout
    PartCheck c;
    try {
      c = check_partition(pdir, p, idx, true);
    } catch (const fs::filesystem_error& e) {  // a segment's name on what is not a file (reported by check_layout)
      f.push_back({e.path1().string(), 0, "cannot check the partition past it: " + io_error_text(e.code().value())});
      continue;
    }
    f.insert(f.end(), c.findings.begin(), c.findings.end());
    if (c.torn)
      f.push_back({c.torn->file, c.torn->byte, c.torn->what + " (an open for writing truncates it)", c.torn->torn});
  }
  return f;
}

std::optional<long> segment_log_writer(const std::string& dir) {
  return lock_holder((fs::path(dir) / "index").string());
}

int segment_log_partitions(const std::string& dir) {
  std::vector<LogFinding> f;
  auto n = read_meta(fs::path(dir), f);
  if (!n) refuse(f.front());
  return *n;
}

TruncatePlan plan_segment_log_truncate(const std::string& dir, int partition, uint64_t offset) {
  std::vector<LogFinding> f;
  fs::path d(dir);
  auto n = read_meta(d, f);
  if (!n) refuse(f.front());
  if (partition < 0 || partition >= *n)
    throw LogError("embedded log: no partition " + std::to_string(partition) + " (the log has " +
                   std::to_string(*n) + ")");
  fs::path pdir = d / part_name(partition);
  std::vector<LogFinding> layout;
  check_layout(d, *n, layout);
  for (const LogFinding& x : layout)
    if (fs::path(x.file).parent_path() == pdir || x.file == pdir.string()) refuse(x);
  auto bases = list_bases(pdir);
  auto it = std::upper_bound(bases.begin(), bases.end(), offset);
  if (it == bases.begin()) throw LogError("embedded log: no segment of partition " + std::to_string(partition) +
                                          " holds offset " + std::to_string(offset));
  size_t i = static_cast<size_t>(it - bases.begin() - 1);
  TruncatePlan plan;
  plan.partition = partition;
  plan.offset = offset;
  plan.file = (pdir / seg_name(bases[i])).string();
  Scan kept = scan_whole(plan.file, offset - bases[i]);
  if (kept.count < offset - bases[i] && i + 1 == bases.size() && kept.valid == fs::file_size(plan.file))
    throw LogError("embedded log: nothing to drop: partition " + std::to_string(partition) + " ends at offset " +
                   std::to_string(bases[i] + kept.count) + ", before " + std::to_string(offset));
  if (kept.count < offset - bases[i])
    refuse({plan.file, kept.valid, "record at offset " + std::to_string(bases[i] + kept.count) +
                                       " is damaged, before offset " + std::to_string(offset) +
                                       ": truncate at that offset or earlier"});
  Scan whole = scan_whole(plan.file);
  // The cut is made in place (resize_file): another name of the same file, a copy made with `cp -al` or `ln`, would
  // be cut with it. Later segments are only unlinked, so their other names keep them.
  if (uintmax_t links = fs::hard_link_count(plan.file); links > 1 && kept.valid < whole.size)
    refuse({plan.file, kept.valid, "the segment has " + std::to_string(links) + " names (hard links: a copy made " +
                                       "with cp -al or ln), and the cut would cut every one; make that copy with " +
                                       "cp without -l, or remove the other names, then truncate again"});
  plan.byte = kept.valid;
  plan.records = whole.count - std::min(whole.count, kept.count);
  plan.bytes = whole.size - kept.valid;
  for (size_t j = i + 1; j < bases.size(); ++j) {
    fs::path later = pdir / seg_name(bases[j]);
    Scan s = scan_whole(later);
    plan.records += s.count;
    plan.bytes += s.size;
    plan.removed.push_back(later.string());
  }
  if (plan.bytes == 0)
    throw LogError("embedded log: nothing to drop: partition " + std::to_string(partition) + " ends at offset " +
                   std::to_string(offset) + " or before");
  return plan;
}

// Under the id index's lock, held from the plan's check to the last fsync, so that no ingest appends between them
// (an open for writing takes the same lock): the plan is made again and must equal the one given, else nothing
// changes. Then the index (a lower synced end, entries of dropped records forgotten, and the truncation marked as
// not finished: PendingCut), then the files, then the mark deleted: a crash in between leaves the mark, and the next
// writable open finishes the cut (SegmentLog::finish_pending_cuts), as does this function run again
// (LogCorruption.ACrashAtEachStepOfTheCutIsFinishedByTheNextWriterOrByRunningItAgain).
namespace {
// The id index, open for writing: its lock held from a truncation's check to its last fsync. Held by another process
// (an ingest, a fold starting): LogError saying so, nothing changed.
std::unique_ptr<rocksdb::DB> open_index_to_truncate(const fs::path& d) {
  try {
    return open_index(d, false);
  } catch (const LogError& e) {
    // RocksDB's lock refusal names the index's LOCK file ("While lock file: <dir>/index/LOCK: Resource temporarily
    // unavailable"; held in this process: "lock hold by current process, ...: <dir>/index/LOCK: No locks
    // available"); any other failure (a full disk, an I/O error) is its own
    const std::string what = e.what();
    if (what.find((d / "index" / "LOCK").string() + ": ") == std::string::npos)
      throw LogError(what + ": nothing changed");
    if (what.find("has the log open for writing") != std::string::npos)  // open_index named the process
      throw LogError(what + "; once it has ended, truncate again: nothing changed");
    throw LogError(what + ": another process may have the log open for writing (an ingest, or a fold starting); "
                   "once it has ended, truncate again: nothing changed");
  }
}
}  // namespace

bool finish_segment_log_truncations(const std::string& dir) {
  fs::path d(dir);
  std::unique_ptr<rocksdb::DB> db = open_index_to_truncate(d);
  const int partitions = segment_log_partitions(dir);
  const bool any = !pending_cuts(*db, d, partitions).empty();
  finish_cuts(*db, d, partitions);
  return any;
}

void truncate_segment_log(const std::string& dir, const TruncatePlan& plan) {
  fs::path d(dir), pdir = d / part_name(plan.partition);
  std::unique_ptr<rocksdb::DB> db = open_index_to_truncate(d);
  for (const PendingCut& c : pending_cuts(*db, d, segment_log_partitions(dir)))  // (finish_segment_log_truncations)
    refuse({c.where(d), c.byte, "a `log truncate` of partition " + std::to_string(c.partition) + " did not finish: "
                                    "it is finished first (`gongji log truncate --yes` does): nothing changed"});
  if (TruncatePlan now = plan_segment_log_truncate(dir, plan.partition, plan.offset); !(now == plan))
    throw LogError("embedded log: partition " + std::to_string(plan.partition) +
                   " changed since the truncation was planned: planned, " + plan.describe() + "; now, " +
                   now.describe() + ": nothing changed; plan it again");
  rocksdb::WriteBatch batch;
  std::string p = std::to_string(plan.partition);
  const uint32_t kept = plan.offset ? record_at(pdir, list_bases(pdir), plan.offset - 1).crc : 0;  // its anchor
  batch.Put("end/" + p, end_value(plan.offset, kept));
  std::string cut = std::to_string(plan.offset) + " " + std::to_string(plan.byte) + " " +
                    fs::path(plan.file).filename().string();
  for (const std::string& r : plan.removed) cut += " " + fs::path(r).filename().string();
  batch.Put(cut_key(plan.partition), cut);  // until the files are cut (PendingCut)
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  uint64_t cut_base = std::stoull(fs::path(plan.file).filename().string().substr(0, 20));
  for (it->Seek("seg/" + p + "/"); it->Valid() && it->key().starts_with("seg/" + p + "/"); it->Next())
    if (std::stoull(it->key().ToString().substr(5 + p.size())) >= cut_base) batch.Delete(it->key());
  check_index_read(*it, d / "index", "the sealed segments of partition " + p);
  for (it->Seek("c/" + p + "/"); it->Valid() && it->key().starts_with("c/" + p + "/"); it->Next()) {
    uint64_t off = 0;
    if (it->value().size() == sizeof off) std::memcpy(&off, it->value().data(), sizeof off);
    if (off >= plan.offset) batch.Delete(it->key());
  }
  check_index_read(*it, d / "index", "the copies of partition " + p);
  for (it->Seek("id/"); it->Valid() && it->key().starts_with("id/"); it->Next()) {
    IdEntry e;
    if (it->value().size() != sizeof e) continue;
    std::memcpy(&e, it->value().data(), sizeof e);
    if (e.partition != static_cast<uint32_t>(plan.partition) || e.offset < plan.offset) continue;
    e.offset = kNoCopy;  // the hash stays, so a conflicting re-ingest is still refused
    batch.Put(it->key(), std::string_view(reinterpret_cast<const char*>(&e), sizeof e));
  }
  check_index_read(*it, d / "index", "the event ids");
  it.reset();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto st = db->Write(wo, &batch);
  if (st.IsNoSpace()) throw LogError(io_error(ENOSPC, (d / "index").string()) + " (" + st.ToString() + ")");
  if (!st.ok())
    throw LogError("embedded log: id index write failed: " + (d / "index").string() + ": " + st.ToString());
  // The later segments go first, the last one first, then the cut: a crash at any step (each preceded by the probe)
  // leaves a log that opens, holding a prefix of what it held, and the same truncation can be run again.
  for (auto r = plan.removed.rbegin(); r != plan.removed.rend(); ++r) {  // each synced: a power loss keeps the order
    probe::crash_point("log.truncate_before_cut");
    fs::remove(*r);
    fsync_path(pdir);
  }
  probe::crash_point("log.truncate_before_cut");
  fs::resize_file(plan.file, plan.byte);
  fsync_path(plan.file);
  probe::crash_point("log.truncate_before_unmark");
  st = db->Delete(wo, cut_key(plan.partition));
  if (!st.ok()) throw LogError("embedded log: id index write failed: " + (d / "index").string() + ": " + st.ToString());
}

}  // namespace gongji
