// The embedded log: per partition a folder of segment files, each record framed as
//   u32 length | u32 crc32c(body) | body = i64 ingested_ms | payload
// little-endian. Segment files are named by the offset of their first record. An id index (RocksDB under
// index/) maps each event id to a hash of its canonical JSON and records up to which offset each partition is
// indexed; on open, records past that point (appended before a crash, not yet indexed) are indexed again.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <xxhash.h>

#include "events/crc32c.h"
#include "events/event_log.h"
#include "events/fb_codec.h"
#include "events/partition.h"

namespace fs = std::filesystem;

namespace gongji {
namespace {

constexpr uint64_t kSegmentBytes = 128ull << 20;
constexpr size_t kHeader = 8;
constexpr uint32_t kMaxRecord = 64u << 20;
constexpr int kPosBits = 28;  // a segment stays below 128 MiB + one record < 2^28 bytes

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string seg_name(uint64_t base) {
  char b[32];
  std::snprintf(b, sizeof b, "%020llu.seg", static_cast<unsigned long long>(base));
  return b;
}

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& s, int64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

#pragma pack(push, 1)
struct IdEntry {
  uint64_t hash;       // xxh3-64 of the canonical JSON
  uint32_t partition;  // where the event's first copy lives
  uint64_t offset;
};
#pragma pack(pop)

struct Partition {
  fs::path dir;
  std::vector<uint64_t> bases;  // segment base offsets, ascending
  uint64_t end = 0;             // next offset
  uint64_t tail_bytes = 0;      // size of the last segment
  int fd = -1;                  // last segment, open for append
  std::string pending;          // framed records not yet written
  bool dirty = false;
};

// Scans a segment file; returns the number of whole valid records and the byte length they span.
std::pair<uint64_t, uint64_t> scan_valid(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t count = 0, pos = 0;
  std::string body;
  for (;;) {
    uint32_t hdr[2];
    if (!in.read(reinterpret_cast<char*>(hdr), kHeader)) break;
    if (hdr[0] < 8 || hdr[0] > kMaxRecord) break;
    body.resize(hdr[0]);
    if (!in.read(body.data(), hdr[0])) break;
    if (crc32c(body.data(), body.size()) != hdr[1]) break;
    ++count;
    pos += kHeader + hdr[0];
  }
  return {count, pos};
}

class SegmentLog final : public EventLog {
 public:
  SegmentLog(const std::string& dir, int partitions, bool read_only) : dir_(dir), read_only_(read_only) {
    fs::create_directories(dir_);
    fs::path meta = dir_ / "meta";
    if (fs::exists(meta)) {
      std::ifstream in(meta);
      if (!(in >> partitions_) || partitions_ < 1) throw LogError("embedded log: unreadable " + meta.string());
    } else {
      if (partitions < 1 || partitions > 4096) throw LogError("embedded log: partitions must be 1..4096");
      partitions_ = partitions;
      std::ofstream(meta) << partitions_ << "\n";
    }
    parts_.resize(partitions_);
    for (int p = 0; p < partitions_; ++p) open_partition(p);  // (read_only_ is set before this)
    rocksdb::Options opt;
    opt.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    auto st = read_only ? rocksdb::DB::OpenForReadOnly(opt, (dir_ / "index").string(), &db)
                        : rocksdb::DB::Open(opt, (dir_ / "index").string(), &db);
    if (!st.ok()) throw LogError("embedded log: cannot open id index: " + st.ToString());
    index_.reset(db);
    if (!read_only) reindex_tails();
  }

  ~SegmentLog() override {
    try {
      if (!read_only_) sync();
    } catch (...) {
    }
    for (auto& p : parts_)
      if (p.fd >= 0) ::close(p.fd);
  }

  int partitions() const override { return partitions_; }

  AppendResult append(const Event& e) override {
    if (read_only_) throw LogError("embedded log: opened read-only");
    std::string canon = canonical_json(e);
    uint64_t h = XXH3_64bits(canon.data(), canon.size());
    auto known = lookup(e.id);
    if (known) return known->hash == h ? AppendResult::duplicate : AppendResult::conflict;
    std::string payload = encode_event(e);
    int64_t ts = now_ms();
    auto parts = partitions_for(e, partitions_);
    pending_ids_[e.id] = {h, static_cast<uint32_t>(parts[0]), parts_[parts[0]].end};
    for (int p : parts) frame(p, ts, payload);
    return AppendResult::appended;
  }

  void append_raw(int partition, std::string_view payload) override { frame(partition, now_ms(), payload); }

  void read_at(int partition, uint64_t offset, uint64_t locator,
               const std::function<void(const LogRecord&)>& fn) override {
    Partition& part = parts_.at(partition);
    if (offset >= part.end) throw LogError("embedded log: offset " + std::to_string(offset) + " is past the end");
    if (!part.pending.empty()) write_pending(part);
    fs::path file = part.dir / seg_name(locator >> kPosBits);
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(locator & ((1ull << kPosBits) - 1)));
    uint32_t hdr[2];
    std::string body;
    if (!in.read(reinterpret_cast<char*>(hdr), kHeader) || hdr[0] < 8 || hdr[0] > kMaxRecord)
      throw LogError("embedded log: no record at " + file.string() + " for offset " + std::to_string(offset));
    body.resize(hdr[0]);
    if (!in.read(body.data(), hdr[0]) || crc32c(body.data(), body.size()) != hdr[1])
      throw LogError("embedded log: checksum mismatch in " + file.string() + " for offset " + std::to_string(offset));
    LogRecord rec;
    rec.partition = partition;
    rec.offset = offset;
    std::memcpy(&rec.ingested_ms, body.data(), 8);
    rec.payload = std::string_view(body).substr(8);
    rec.locator = locator;
    fn(rec);
  }

  void sync() override {
    rocksdb::WriteBatch batch;
    bool any = false;
    for (int p = 0; p < partitions_; ++p) {
      Partition& part = parts_[p];
      if (!part.pending.empty()) write_pending(part);
      if (part.dirty) {
        if (::fdatasync(part.fd) != 0) throw LogError("embedded log: fdatasync failed: " + std::string(strerror(errno)));
        part.dirty = false;
        batch.Put("end/" + std::to_string(p), std::to_string(part.end));
        any = true;
      }
    }
    for (auto& [id, where] : pending_ids_)
      batch.Put("id/" + id, std::string_view(reinterpret_cast<const char*>(&where), sizeof where));
    if (any || !pending_ids_.empty()) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      auto st = index_->Write(wo, &batch);
      if (!st.ok()) throw LogError("embedded log: id index write failed: " + st.ToString());
    }
    pending_ids_.clear();
  }

  uint64_t end_offset(int partition) override { return parts_.at(partition).end; }

  void read(int partition, uint64_t from, const std::function<bool(const LogRecord&)>& fn) override {
    Partition& part = parts_.at(partition);
    if (!part.pending.empty()) write_pending(part);
    auto it = std::upper_bound(part.bases.begin(), part.bases.end(), from);
    size_t seg = it == part.bases.begin() ? 0 : static_cast<size_t>(it - part.bases.begin() - 1);
    std::string body;
    for (; seg < part.bases.size(); ++seg) {
      fs::path file = part.dir / seg_name(part.bases[seg]);
      std::ifstream in(file, std::ios::binary);
      uint64_t off = part.bases[seg];
      uint64_t limit = seg + 1 < part.bases.size() ? part.bases[seg + 1] : part.end;
      uint64_t pos = 0;
      while (off < limit) {
        uint32_t hdr[2];
        if (!in.read(reinterpret_cast<char*>(hdr), kHeader) || hdr[0] < 8 || hdr[0] > kMaxRecord)
          throw LogError("embedded log: corrupt record header in " + file.string() + " at offset " +
                         std::to_string(off));
        if (off < from) {
          in.seekg(hdr[0], std::ios::cur);
          ++off;
          pos += kHeader + hdr[0];
          continue;
        }
        body.resize(hdr[0]);
        if (!in.read(body.data(), hdr[0]) || crc32c(body.data(), body.size()) != hdr[1])
          throw LogError("embedded log: checksum mismatch in " + file.string() + " at offset " + std::to_string(off));
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
  void open_partition(int p) {
    Partition& part = parts_[p];
    char name[16];
    std::snprintf(name, sizeof name, "p%04d", p);
    part.dir = dir_ / name;
    fs::create_directories(part.dir);
    for (auto& entry : fs::directory_iterator(part.dir)) {
      auto fn = entry.path().filename().string();
      if (fn.size() == 24 && fn.ends_with(".seg")) part.bases.push_back(std::stoull(fn.substr(0, 20)));
    }
    std::sort(part.bases.begin(), part.bases.end());
    if (part.bases.empty()) part.bases.push_back(0);
    fs::path last = part.dir / seg_name(part.bases.back());
    if (!fs::exists(last)) std::ofstream(last, std::ios::binary);
    auto [count, bytes] = scan_valid(last);
    if (!read_only_ && fs::file_size(last) != bytes) fs::resize_file(last, bytes);  // a torn or corrupt tail
    part.end = part.bases.back() + count;
    part.tail_bytes = bytes;
    part.fd = ::open(last.c_str(), (read_only_ ? O_RDONLY : O_WRONLY | O_APPEND) | O_CLOEXEC);
    if (part.fd < 0) throw LogError("embedded log: cannot open " + last.string());
  }

  void frame(int p, int64_t ts, std::string_view payload) {
    Partition& part = parts_.at(p);
    std::string body;
    put_i64(body, ts);
    body.append(payload);
    if (part.tail_bytes + part.pending.size() >= kSegmentBytes) roll(part);
    put_u32(part.pending, static_cast<uint32_t>(body.size()));
    put_u32(part.pending, crc32c(body.data(), body.size()));
    part.pending.append(body);
    ++part.end;
    if (part.pending.size() > (1u << 20)) write_pending(part);
  }

  void roll(Partition& part) {
    write_pending(part);
    if (part.dirty && ::fdatasync(part.fd) != 0) throw LogError("embedded log: fdatasync failed");
    ::close(part.fd);
    part.bases.push_back(part.end);
    fs::path next = part.dir / seg_name(part.end);
    part.fd = ::open(next.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (part.fd < 0) throw LogError("embedded log: cannot create " + next.string());
    part.tail_bytes = 0;
    part.dirty = true;
  }

  void write_pending(Partition& part) {
    const char* p = part.pending.data();
    size_t left = part.pending.size();
    while (left > 0) {
      ssize_t n = ::write(part.fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw LogError("embedded log: write failed: " + std::string(strerror(errno)));
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    part.tail_bytes += part.pending.size();
    part.pending.clear();
    part.dirty = true;
  }

  std::optional<IdEntry> lookup(const std::string& id) {
    auto it = pending_ids_.find(id);
    if (it != pending_ids_.end()) return it->second;
    std::string v;
    auto st = index_->Get(rocksdb::ReadOptions(), "id/" + id, &v);
    if (st.IsNotFound()) return std::nullopt;
    if (!st.ok() || v.size() != sizeof(IdEntry)) throw LogError("embedded log: id index read failed: " + st.ToString());
    IdEntry e;
    std::memcpy(&e, v.data(), sizeof e);
    if (e.partition >= parts_.size() || e.offset >= parts_[e.partition].end) return std::nullopt;  // lost tail
    return e;
  }

  // Records appended but not indexed before a crash are indexed now, so idempotence survives a crash.
  void reindex_tails() {
    for (int p = 0; p < partitions_; ++p) {
      std::string v;
      uint64_t indexed = 0;
      if (index_->Get(rocksdb::ReadOptions(), "end/" + std::to_string(p), &v).ok()) indexed = std::stoull(v);
      if (indexed > parts_[p].end) indexed = parts_[p].end;  // the tail was torn after indexing
      if (indexed == parts_[p].end) continue;
      read(p, indexed, [&](const LogRecord& r) {
        try {
          Event e = decode_event(r.payload);
          std::string canon = canonical_json(e);
          pending_ids_[e.id] = {XXH3_64bits(canon.data(), canon.size()), static_cast<uint32_t>(p), r.offset};
        } catch (const std::exception&) {
          // an undecodable record has no id to index; the fold dead-letters it
        }
        return true;
      });
      parts_[p].dirty = true;
    }
    sync();
  }

  fs::path dir_;
  bool read_only_ = false;
  int partitions_ = 0;
  std::vector<Partition> parts_;
  std::unique_ptr<rocksdb::DB> index_;
  std::unordered_map<std::string, IdEntry> pending_ids_;
};

}  // namespace

std::unique_ptr<EventLog> open_segment_log(const std::string& dir, int partitions, bool read_only) {
  return std::make_unique<SegmentLog>(dir, partitions, read_only);
}

}  // namespace gongji
