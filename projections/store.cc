#include "projections/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <filesystem>
#include <exception>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <rocksdb/cache.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>
#include <xxhash.h>

#include "log/fault_probe.h"
#include "log/io_error.h"
#include "events/fb_codec.h"
#include "log/rocksdb_info_log.h"
#include "log/rocksdb_open.h"
#include "oplog/oplog.h"
#include "events/partition.h"
#include "events/text.h"
#include "ledger/state_codec.h"
#include "readback/output_lines.h"

namespace gongji {

using nlohmann::json;

namespace {
// `v` in lowercase hex, zero-padded to at least `width` digits: snprintf's "%0<width>llx", without its cost (a fold
// makes several keys per event with these).
std::string hex_padded(uint64_t v, size_t width) {
  char b[16];
  size_t n = 0;
  do {
    b[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  std::string s(std::max(width, n), '0');
  for (size_t i = 0; i < n; ++i) s[s.size() - 1 - i] = b[i];
  return s;
}
}  // namespace

std::string hex4(int v) { return hex_padded(static_cast<uint32_t>(v), 4); }
std::string hex8(uint64_t v) { return hex_padded(v, 8); }
std::string hex16(uint64_t v) { return hex_padded(v, 16); }

Settlement decode_stored_settlement(std::string_view stored, std::string_view key) {
  try {
    return decode_settlement(stored);
  } catch (const StateCodecError& e) {
    throw StoreError("the store holds a damaged output record under " + std::string(key) + ": " + e.what());
  }
}

// A partition's meta as stored: its binary form (store format 7), or the JSON object of formats 6 and older, which
// only a read-only open of such a store (and migrate_meta) still meets. StoreError naming the key when damaged.
PartitionMeta stored_meta(std::string_view stored, const std::string& key) {
  try {
    if (!stored.starts_with('{')) return decode_meta(stored);
    const json j = json::parse(stored);  // {"last_closed": M or null}, M a month's number (ledger/state.h Month)
    PartitionMeta m;
    if (j.contains("last_closed") && !j["last_closed"].is_null()) m.last_closed = j["last_closed"].get<Month>();
    return m;
  } catch (const StateCodecError& e) {
    throw StoreError("the store holds a damaged partition meta under " + key + ": " + e.what());
  } catch (const json::exception& e) {
    throw StoreError("the store holds a damaged partition meta under " + key + ": " + e.what());
  }
}

// A record of the other kinds in its stored form (store format 6); StoreError naming the key when damaged.
bool is_stored_record(std::string_view stored) {
  return !stored.empty() && static_cast<uint8_t>(stored[0]) == kRecordFormat;
}
Record decode_stored_record(std::string_view stored, std::string_view key) {
  try {
    return decode_record(stored);
  } catch (const StateCodecError& e) {
    throw StoreError("the store holds a damaged output record under " + std::string(key) + ": " + e.what());
  }
}

std::string output_line(std::string_view stored, std::string_view key) {
  if (stored.starts_with('{')) return std::string(stored);
  if (is_stored_record(stored)) return record_line(decode_stored_record(stored, key));
  return decode_stored_settlement(stored, key).to_line();
}

// A stored output record as the fold returned it (Store::outbox).
Output stored_record(std::string_view stored, std::string_view key) {
  if (is_stored_record(stored)) return output_of(decode_stored_record(stored, key));
  if (!stored.starts_with('{')) {
    auto s = std::make_shared<const Settlement>(decode_stored_settlement(stored, key));
    return Output{"settlement", s->claim, "", s->person, s};
  }
  if (std::optional<Record> r = record_from_line(stored)) {
    Output o = output_of(std::move(*r));
    o.text = std::string(stored);
    return o;
  }
  // A settlement kept as a line (a store a migration has still to convert, or one put there by hand): as data, for
  // what its fields say.
  if (std::optional<Settlement> s = settlement_from_line(stored, false)) {
    auto kept = std::make_shared<const Settlement>(std::move(*s));
    return Output{"settlement", kept->claim, std::string(stored), kept->person, kept};
  }
  // Not a record that reads back to itself (changed by hand): its text, as it was published before, if its kind is
  // one of EVENTS.md's.
  static const std::set<std::string, std::less<>> kKinds = {"reversal", "account_credit", "account_debit",
                                                            "refusal", "contribution_mismatch", "dead_letter"};
  const json j = json::parse(stored, nullptr, false);
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !kKinds.count(j["kind"].get<std::string>()))
    throw StoreError("the store holds a damaged output record under " + std::string(key) +
                     ": not a JSON output record of a known kind");
  const auto text = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  return Output{j["kind"].get<std::string>(), text("claim"), std::string(stored), text("person")};
}

std::string key_part(std::string_view id) {
  if (id.find_first_of("%/") == std::string_view::npos) return std::string(id);
  std::string out;
  out.reserve(id.size() + 8);
  for (char c : id) {
    if (c == '%') out += "%25";
    else if (c == '/') out += "%2F";
    else out += c;
  }
  return out;
}

std::string key_part_decode(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (size_t i = 0; i < part.size(); ++i) {
    if (part[i] == '%' && part.substr(i, 3) == "%25") out += '%', i += 2;
    else if (part[i] == '%' && part.substr(i, 3) == "%2F") out += '/', i += 2;
    else out += part[i];
  }
  return out;
}

AmbiguousClaimError::AmbiguousClaimError(const std::string& c, std::vector<std::string> ps, bool m)
    : std::runtime_error("claim " + c + " is held by several persons"), claim(c), persons(std::move(ps)), more(m) {}

namespace {

// A stored decimal number (a position, a count); a value that is not one is store damage, named by its key.
uint64_t stored_number(std::string_view v, const std::string& key) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty())
    throw StoreError("the store holds a damaged value under " + key + ": '" + std::string(v.substr(0, 40)) + "'");
  return n;
}

// RocksDB's failures as StoreError. A full disk in the one wording of issue 8 item 3: "no space left on device:
// <path>" (`path`, the store or checkpoint written; else `what`), then what was done and RocksDB's own text.
void check(const rocksdb::Status& s, const std::string& what, const std::string& path = "") {
  if (s.IsNoSpace())
    throw StoreError(io_error(ENOSPC, path.empty() ? what : path) + " (" + what + ": " + s.ToString() + ")");
  if (!s.ok()) throw StoreError(what + ": " + s.ToString());
}

// Whether a point read found its key: false only when the store does not hold it. Any other failure (a table whose
// block fails its checksum, an I/O error) is a StoreError, never taken for an absent key.
bool found(const rocksdb::Status& s, const std::string& what, const std::string& path = "") {
  if (s.IsNotFound()) return false;
  check(s, what, path);
  return true;
}

constexpr const char* kFormatKey = "n/format";  // Store::check_format
// The fixed-width end of c/ and r/ keys: "<partition, 4>/<offset, 16>/<n, 8>" (the o/ key without "o/").
constexpr size_t kIndexTailSize = 4 + 1 + 16 + 1 + 8;
// Present while migrate_outputs, migrate_to_8, migrate_persons or migrate_facilities runs (n/format already says 6,
// 8, 9, 12, 13, 14 or 15,
// which older binaries refuse as newer); it names the format the migration started from.
constexpr const char* kMigratingKey = "n/migrating";

std::string policy_key(const std::string& version) { return "v/" + key_part(version); }

bool output_as_data(std::string_view v, std::string_view key, const Store::OutputDataFn& fn);
uint64_t output_key_offset(std::string_view key, size_t prefix_size);
// Where an output key o/<partition, 4>/<offset, 16>/<n, 8> puts its record; a damaged key is a StoreError naming it.
struct OutputPosition {
  int partition = 0;
  uint64_t offset = 0, n = 0;
};
OutputPosition output_key_position(std::string_view key) {
  OutputPosition at;
  at.offset = output_key_offset(key, 7);  // checks the offset's 16 digits and the '/' after them
  const auto hex = [&](size_t from, size_t size, auto& out) {
    const std::string_view digits = key.substr(std::min(from, key.size()), size);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out, 16);
    return digits.size() == size && ec == std::errc() && end == digits.data() + size;
  };
  if (key.size() != 32 || key[6] != '/' || !hex(2, 4, at.partition) || !hex(24, 8, at.n))
    throw StoreError("the store holds a damaged output key " + std::string(key.substr(0, 80)));
  return at;
}

// The t/ month index (store.h): the month a month view counts an output record in, and its kind ('s' a settlement,
// 'r' a reversal, 'a' an account movement); nullopt for a record no view counts.
std::optional<std::pair<Month, char>> month_entry(const Settlement* s, const Record* r) {
  if (s) return std::pair{month_of(s->date), 's'};
  if (!r) return std::nullopt;
  if (const auto* v = std::get_if<Reversal>(r)) return std::pair{month_of(v->date), 'r'};
  if (const auto* m = std::get_if<AccountMovement>(r)) return std::pair{month_of(m->at), 'a'};
  return std::nullopt;
}
std::string month_prefix(int partition, Month month) {
  return "t/" + hex4(partition) + "/" + format_month(month) + "/";
}
// A t/ key holds the entries of one month among the records of kMonthBlock log offsets. A key an entry made the
// fold of 10% of the city about 10% slower (3 M more keys, ops/bench/README.md). A block's chunks are put again
// whole at each commit that adds to them, so `serve` committing a few records at a time rewrites up to a block's
// entries (about 9 bytes each) for each: 1,024 offsets keep that to some KB, at some thousand keys more.
constexpr uint64_t kMonthBlock = 1024;

void put_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) out += static_cast<char>(v | 0x80);
  out += static_cast<char>(v);
}
std::optional<uint64_t> get_varint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t{byte & 0x7fu} << shift;
    if (byte < 0x80) return v;
  }
  return std::nullopt;
}

// The t/ keys of one partition, fed each output record the fold puts, in log order: by PartitionFolder, and by
// Store::migrate_to_11 from the o/ records, so that both put the same keys. A key's value, whatever the batches:
// its entries in log order, each varint(offset - the block's first), varint(n), the kind, and for a settlement
// varint(size) and its facility. The chunks of the block being fed are kept, and put again when they grow.
struct MonthIndexOfPartition {
  int partition = 0;
  uint64_t block = UINT64_MAX;       // offset / kMonthBlock of the records fed last
  std::map<Month, std::string> chunks;  // that block's entries, by month
  std::set<Month> changed;           // chunks to put

  void add(uint64_t offset, uint64_t n, const Settlement* s, const Record* r, rocksdb::WriteBatch& batch) {
    const auto e = month_entry(s, r);
    if (!e) return;
    if (offset / kMonthBlock != block) {
      put(batch);
      chunks.clear();
      block = offset / kMonthBlock;
    }
    std::string& c = chunks[e->first];
    put_varint(c, offset - block * kMonthBlock);
    put_varint(c, n);
    c += e->second;
    if (e->second == 's') {
      put_varint(c, s->facility.size());
      c += s->facility;
    }
    changed.insert(e->first);
  }
  void put(rocksdb::WriteBatch& batch) {
    for (Month m : changed) batch.Put(month_prefix(partition, m) + hex16(block * kMonthBlock), chunks[m]);
    changed.clear();
  }
};

// One entry of a t/ value (MonthIndexOfPartition), decoded.
struct MonthIndexEntry {
  uint64_t offset = 0, n = 0;
  char kind = 0;
  std::string_view facility;
};
// The entries of the t/ value `v` under `key`, in order; a value that does not decode is a StoreError naming the key.
std::vector<MonthIndexEntry> month_index_entries(std::string_view key, std::string_view v, const std::string& dir) {
  uint64_t first = 0;
  const std::string_view hex = key.substr(key.size() - std::min<size_t>(key.size(), 16));
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), first, 16);
  if (key.size() < 17 || key[key.size() - 17] != '/' || ec != std::errc() || end != hex.data() + hex.size())
    throw StoreError("the store at " + dir + " holds a damaged month index key " + std::string(key.substr(0, 80)));
  std::vector<MonthIndexEntry> out;
  while (!v.empty()) {
    MonthIndexEntry e;
    const auto delta = get_varint(v), n = get_varint(v);
    const bool after = out.empty() || (delta && n && std::pair(first + *delta, *n) >
                                                          std::pair(out.back().offset, out.back().n));
    if (delta && n && *delta < kMonthBlock && after && !v.empty()) {
      e.offset = first + *delta, e.n = *n, e.kind = v.front();
      v.remove_prefix(1);
      if (e.kind == 'r' || e.kind == 'a') {
        out.push_back(e);
        continue;
      }
      if (const auto size = e.kind == 's' ? get_varint(v) : std::nullopt; size && *size <= v.size()) {
        e.facility = v.substr(0, *size);
        v.remove_prefix(*size);
        out.push_back(e);
        continue;
      }
    }
    throw StoreError("the store at " + dir + " holds a damaged month index entry under " + std::string(key));
  }
  return out;
}

// The chunks of the block holding offset `next` of `partition` as the store holds them, to fold on from: rebuilt
// from the o/ records of the block before `next`, as they were fed (a t/ value read back would do as well; the
// records need no scan of the index for the months present).
MonthIndexOfPartition stored_months(rocksdb::DB* db, int partition, uint64_t next, const std::string& dir) {
  MonthIndexOfPartition m;
  m.partition = partition;
  if (next % kMonthBlock == 0) return m;
  rocksdb::WriteBatch unused;
  const std::string prefix = "o/" + hex4(partition) + "/", to = prefix + hex16(next);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix + hex16(next / kMonthBlock * kMonthBlock)); it->Valid() && it->key().compare(to) < 0;
       it->Next()) {
    const std::string_view key = it->key().ToStringView();
    const OutputPosition at = output_key_position(key);
    output_as_data(it->value().ToStringView(), key, [&](const Settlement* s, const Record* r) {
      m.add(at.offset, at.n, s, r, unused);
      return true;
    });
  }
  check(it->status(), "read the output records of partition " + std::to_string(partition), dir);
  m.changed.clear();  // what the store holds already
  return m;
}

// The l/ index (store.h): where a partition's latest date rose, its date and the record's ingestion time.
constexpr size_t kLatestValueSize = 12;
std::string latest_prefix(int partition) { return "l/" + hex4(partition) + "/"; }
std::string latest_value(Date date, int64_t ingested_ms) {
  std::string v(kLatestValueSize, '\0');
  std::memcpy(v.data(), &date, 4);
  std::memcpy(v.data() + 4, &ingested_ms, 8);
  return v;
}
// u/<partition> (store.h): the latest ingestion time of the events folded there, then Store::Disorder: the first
// offset whose event was ingested before one ahead of it in the log (UINT64_MAX: none) and the window of ingestion
// times such events span.
constexpr size_t kOrderingValueSize = 32;
constexpr Date kNoDate = std::numeric_limits<Date>::min();  // no event yet (any Date, 1900 included, is later)

// The l/ and u/ keys of one partition, fed each event the fold applies, in log order: by PartitionFolder, and by
// Store::record_latest_dates from the log for a format-9 store, so that both put the same keys.
struct DatesOfPartition {
  int partition = 0;
  Date latest = kNoDate;                  // the latest date of the events fed
  int64_t max_ingested = INT64_MIN;       // their latest ingestion time
  std::optional<Store::Disorder> disorder;  // events ingested before one ahead of them in the log
  bool ordering_changed = false;          // u/ to put

  void add(uint64_t offset, Date at, int64_t ingested_ms, rocksdb::WriteBatch& batch) {
    if (at > latest) {
      latest = at;
      batch.Put(latest_prefix(partition) + hex16(offset), latest_value(at, ingested_ms));
    }
    if (ingested_ms < max_ingested) {  // out of log order: a time in [ingested_ms, max_ingested) admits no prefix
      if (!disorder) disorder = Store::Disorder{offset, ingested_ms, max_ingested};
      disorder->from_ms = std::min(disorder->from_ms, ingested_ms);
      disorder->to_ms = std::max(disorder->to_ms, max_ingested);
      ordering_changed = true;
    }
    if (ingested_ms > max_ingested) max_ingested = ingested_ms, ordering_changed = true;
  }
  void put_ordering(rocksdb::WriteBatch& batch) {
    if (!ordering_changed) return;
    const Store::Disorder d = disorder.value_or(Store::Disorder{UINT64_MAX, 0, 0});
    std::string v(kOrderingValueSize, '\0');
    std::memcpy(v.data(), &max_ingested, 8);
    std::memcpy(v.data() + 8, &d.first_offset, 8);
    std::memcpy(v.data() + 16, &d.from_ms, 8);
    std::memcpy(v.data() + 24, &d.to_ms, 8);
    batch.Put("u/" + hex4(partition), v);
    ordering_changed = false;
  }
};

// A partition's u/ value: {its latest ingestion time, its disorder}; {INT64_MIN, none} before any event. A damaged
// one: StoreError naming the key.
std::pair<int64_t, std::optional<Store::Disorder>> stored_ordering(rocksdb::DB* db, int partition,
                                                                   const std::string& dir) {
  const std::string key = "u/" + hex4(partition);
  std::string v;
  const rocksdb::Status st = db->Get(rocksdb::ReadOptions(), key, &v);
  if (st.IsNotFound()) return {INT64_MIN, std::nullopt};
  check(st, "read " + key, dir);
  if (v.size() != kOrderingValueSize) throw StoreError("the store at " + dir + " holds a damaged " + key);
  int64_t max_ingested;
  Store::Disorder d;
  std::memcpy(&max_ingested, v.data(), 8);
  std::memcpy(&d.first_offset, v.data() + 8, 8);
  std::memcpy(&d.from_ms, v.data() + 16, 8);
  std::memcpy(&d.to_ms, v.data() + 24, 8);
  return {max_ingested, d.first_offset == UINT64_MAX ? std::nullopt : std::optional<Store::Disorder>(d)};
}

// What the store holds of a partition's l/ and u/ keys, to fold on from.
DatesOfPartition stored_dates(const Store& store, rocksdb::DB* db, int partition) {
  DatesOfPartition d;
  d.partition = partition;
  d.latest = store.latest_date(partition).value_or(kNoDate);
  std::tie(d.max_ingested, d.disorder) = stored_ordering(db, partition, store.dir());
  return d;
}

// The o/ value of an output record (store.h): a settlement's or another kind's binary form; a record read from a
// line changed by hand (it carries that text) stays that line.
std::string stored_output(const Output& o) {
  if (o.settlement) return encode_settlement(*o.settlement);
  if (o.record && o.text.empty()) return encode_record(*o.record);
  return o.line();
}

// w/<partition>/<person>: the persons a monthly close visits (store.h).
std::string work_key(int partition, const std::string& person) {
  return "w/" + hex4(partition) + "/" + key_part(person);
}

// The digest an event id was folded with, nullopt when it never was. A read error or a damaged entry is store
// damage (StoreError, not poison): taking it for "never seen" would apply the event a second time.
std::optional<uint64_t> folded_digest(rocksdb::DB* db, const std::string& idkey) {
  std::string v;
  auto st = db->Get(rocksdb::ReadOptions(), idkey, &v);
  if (st.IsNotFound()) return std::nullopt;
  check(st, "read event id " + idkey);
  if (v.size() != 8) throw StoreError("the store holds a damaged event id entry under " + idkey);
  uint64_t h;
  std::memcpy(&h, v.data(), 8);
  return h;
}

// Reads `keys` (sorted, no two alike) in one MultiGet, which probes each table's filter and index once for the keys
// it may hold instead of once a key; got(i, status, value) is called for each key in order. Issue 10: a person or
// event id looked up alone took a third of a city-year fold's CPU (FoldOptions::read_ahead).
void read_sorted(rocksdb::DB* db, const std::vector<rocksdb::Slice>& keys,
                 const std::function<void(size_t, const rocksdb::Status&, const rocksdb::PinnableSlice&)>& got) {
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db->MultiGet(rocksdb::ReadOptions(), db->DefaultColumnFamily(), keys.size(), keys.data(), values.data(),
               statuses.data(), true);
  for (size_t i = 0; i < keys.size(); ++i) got(i, statuses[i], values[i]);
}

// StateAccess over RocksDB for one partition: reads through a cache, collects what changed.
class PartitionState final : public StateAccess {
 public:
  PartitionState(rocksdb::DB* db, int partition) : db_(db), partition_(partition) { load_meta(); }

  // Forgets every cached and changed value: the state reads exactly what the store last committed (issue 8 item 4:
  // a poison record is rolled back by resetting here and re-applying the batch's earlier records).
  void reset() {
    persons_.clear();
    last_ = nullptr;
    spilled_.clear();
    persons_read_ahead_.clear();
    cached_bytes_ = 0;
    facilities_.clear();
    dirty_persons_.clear();
    dirty_facilities_.clear();
    meta_dirty_ = false;
    load_meta();
  }

  PersonState* person(const std::string& id) override {
    auto it = persons_.find(id);
    if (it != persons_.end()) {
      if (!it->second.state) return nullptr;
      last_ = &*it;
      return &*it->second.state;
    }
    if (auto sp = spilled_.find(id); sp != spilled_.end()) {  // changed in this batch: cached again, still changed
      const std::string v = std::move(sp->second.value);
      spilled_.erase(sp);
      cached_bytes_ += v.size();
      Entry& e = *persons_.emplace(id, Cached{decode_person(v), v.size()}).first;
      mark_dirty(e);
      last_ = &e;
      return &*e.second.state;
    }
    std::optional<std::string> v;
    if (auto read = persons_read_ahead_.find(id); read != persons_read_ahead_.end()) {  // taken once
      v = std::move(read->second);
      persons_read_ahead_.erase(read);
      ++taken_ahead_;
    } else {
      v.emplace();
      auto s = db_->Get(rocksdb::ReadOptions(), person_key(id), &*v);
      if (s.IsNotFound()) v.reset();
      else check(s, "read person " + id);
    }
    if (!v) {
      persons_.emplace(id, Cached{});
      return nullptr;
    }
    ++reads_;
    cached_bytes_ += v->size();
    Entry& e = *persons_.emplace(id, Cached{decode_person(*v), v->size()}).first;
    last_ = &e;
    return &*e.second.state;
  }
  // PartitionFolder::prefetch reads ahead the persons this is true for: neither in memory nor read ahead already.
  bool reads_from_store(const std::string& id) const {
    return !persons_.contains(id) && !spilled_.contains(id) && !persons_read_ahead_.contains(id);
  }
  std::string person_key(const std::string& id) const { return "p/" + hex4(partition_) + "/" + key_part(id); }
  // Keeps what the store holds under a person's key (nullopt: nothing), read ahead, until person() takes it (once).
  // Contract: a person is read ahead only while reads_from_store() holds, and leaves persons_read_ahead_ before it
  // can change in memory (person() takes it, create_person() drops it), so a commit never writes a person still
  // read ahead (flush_into checks): what is read ahead stays what the store holds, across commits.
  void keep_read_ahead(std::string id, std::optional<std::string> value) {
    persons_read_ahead_.emplace(std::move(id), std::move(value));
  }
  // Forgets what was read ahead and not taken (PartitionFolder::apply_reading_ahead, at a chunk's end).
  void drop_read_ahead() {
    if (!persons_read_ahead_.empty()) persons_read_ahead_.clear();
  }
  size_t persons_read_ahead() const { return persons_read_ahead_.size(); }
  // FoldOptions::read_ahead: persons a close reads ahead at a time (for_each_person), and whether
  // PartitionFolder::prefetch reads ahead at all (0: neither reads anything ahead).
  void set_read_ahead(size_t n) { read_ahead_ = n; }
  size_t read_ahead() const { return read_ahead_; }
  // Visit::monthly_work reads the w/ index (store.h), which flush_into() keeps, and the cached and spilled persons
  // not yet flushed; Visit::everyone reads every p/ key. A close visits every person of the partition in December
  // (ledger.cc close_period): a person this visit brought into a full cache leaves it after its visit, spilled
  // (encoded, about a tenth of its size in memory) when the visit changed it, so the visit streams. The persons it
  // visits from the store are read ahead read_ahead_ at a time (read_ahead_from), each taken by its visit's person().
  void for_each_person(Visit which, const std::function<void(PersonState&)>& fn) override {
    std::set<std::string> ids;
    const std::string prefix = (which == Visit::everyone ? "p/" : "w/") + hex4(partition_) + "/";
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
      ids.insert(key_part_decode(it->key().ToStringView().substr(prefix.size())));
    check(it->status(), "list the persons of partition " + std::to_string(partition_));
    for (const auto& [id, p] : persons_)
      if (p.state && (which == Visit::everyone || has_monthly_work(*p.state))) ids.insert(id);
    for (const auto& [id, sp] : spilled_)
      if (which == Visit::everyone || sp.monthly_work) ids.insert(id);
    auto ahead = ids.begin();  // the persons before it were read ahead where they were to be read from the store
    for (auto at = ids.begin(); at != ids.end(); ++at) {
      if (at == ahead) ahead = read_ahead_from(ahead, ids.end());
      const std::string& id = *at;
      const bool was_cached = persons_.contains(id);
      PersonState* p = person(id);
      if (!p)
        throw StoreError("the store indexes person " + id + " under " + work_key(partition_, id) + " but holds no " +
                         person_key(id) + ": the store is damaged");
      fn(*p);
      if (!was_cached && cached_bytes_ > max_bytes_) leave_cache(id);
    }
  }
  PersonState& create_person(const std::string& id) override {
    spilled_.erase(id);
    persons_read_ahead_.erase(id);
    Entry& e = *persons_.try_emplace(id).first;
    Cached& slot = e.second;
    cached_bytes_ -= slot.bytes;
    slot.state = PersonState{};
    slot.bytes = 0;
    slot.state->id = id;
    mark_dirty(e);
    last_ = &e;
    return *slot.state;
  }
  FacilityState* facility(const std::string& id) override {
    auto it = facilities_.find(id);
    if (it != facilities_.end()) return it->second ? &*it->second : nullptr;
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), facility_key(id), &v);
    if (s.IsNotFound()) {
      facilities_[id] = std::nullopt;
      return nullptr;
    }
    check(s, "read facility " + id);
    return &*(facilities_[id] = decode_facility(v));
  }
  FacilityState& create_facility(const std::string& id) override {
    auto& slot = facilities_[id];
    slot = FacilityState{};
    slot->id = id;
    dirty_facilities_.insert(id);
    return *slot;
  }
  PartitionMeta& meta() override { return meta_; }
  // The person is one person() or create_person() returned (StateAccess), most often the last one: no lookup then.
  // Throws std::logic_error for a person not in the cache.
  void touch_person(const std::string& id) override {
    if (last_ && last_->first == id) return mark_dirty(*last_);
    auto it = persons_.find(id);
    if (it == persons_.end() || !it->second.state)
      throw std::logic_error("touch_person: person " + id + " is not in the cache");
    mark_dirty(*it);
  }
  void touch_facility(const std::string& id) override { dirty_facilities_.insert(id); }
  void touch_meta() override { meta_dirty_ = true; }

  // Moves what changed into the batch; the cache stays warm.
  void flush_into(rocksdb::WriteBatch& b) {
    if (!persons_read_ahead_.empty()) {  // keep_read_ahead's contract
      for (Entry* e : dirty_persons_) check_not_read_ahead(e->first);
      for (const auto& [id, sp] : spilled_) check_not_read_ahead(id);
    }
    for (Entry* e : dirty_persons_) {
      Cached& c = e->second;
      const PersonState& p = *c.state;
      const std::string v = encode_person(p);
      cached_bytes_ = cached_bytes_ - c.bytes + v.size();
      c.bytes = v.size();
      c.dirty = false;
      ++writes_, write_bytes_ += v.size();
      b.Put(person_key(e->first), v);
      if (has_monthly_work(p)) b.Put(work_key(partition_, e->first), "");  // never deleted: stays true
    }
    for (auto it = spilled_.begin(); it != spilled_.end(); it = spilled_.erase(it)) {  // each freed once in the batch
      ++writes_, write_bytes_ += it->second.value.size();
      b.Put(person_key(it->first), it->second.value);
      if (it->second.monthly_work) b.Put(work_key(partition_, it->first), "");
    }
    for (const auto& id : dirty_facilities_) b.Put(facility_key(id), encode_facility(*facilities_.at(id)));
    if (meta_dirty_) b.Put("m/" + hex4(partition_), encode_meta(meta_));
    dirty_persons_.clear();
    dirty_facilities_.clear();
    meta_dirty_ = false;
  }
  // Bounds memory (issue 10): forgets every cached person once their encodings add up to more than the budget
  // (set_cache_bytes) and none is changed. A person in memory took about ten times its encoding in person format 1
  // (measured on a fold of 10% of the city: 0.5 KB against 50 bytes early in a year, 2 KB against 200 bytes late),
  // so the budget is on the encodings. Person formats 2 and 3 are smaller, so the same budget holds more persons
  // (FoldOptions::person_cache_bytes): the fold's peak RSS (ops/bench/scale.sh) is what says what it costs.
  void set_cache_bytes(size_t max_bytes) { max_bytes_ = max_bytes; }
  void set_max_persons(size_t n) { max_persons_ = n; }  // FoldOptions::max_persons_in_memory
  void trim() {
    if ((cached_bytes_ > max_bytes_ || persons_.size() >= max_persons_) && dirty_persons_.empty()) {
      persons_.clear();
      last_ = nullptr;
      cached_bytes_ = 0;
    }
  }
  size_t cached_persons() const { return persons_.size(); }  // PartitionFolder::persons_in_memory
  uint64_t take_reads() { return std::exchange(reads_, 0); }
  uint64_t take_taken_ahead() { return std::exchange(taken_ahead_, 0); }  // persons person() took from read-ahead
  uint64_t take_spills() { return std::exchange(spills_, 0); }
  // Persons put (p/) and the bytes of their encodings, since the last take_writes().
  std::pair<uint64_t, uint64_t> take_writes() { return {std::exchange(writes_, 0), std::exchange(write_bytes_, 0)}; }

 private:
  // for_each_person: reads ahead, in one sorted read, the persons of [from, end) that reads_from_store(), looking at
  // most read_ahead_ of them (all of them when read_ahead_ is 0: none is read ahead then); returns where it stopped.
  // Nothing commits during a close, so what it reads ahead stays what the store holds (keep_read_ahead).
  std::set<std::string>::const_iterator read_ahead_from(std::set<std::string>::const_iterator from,
                                                        std::set<std::string>::const_iterator end) {
    if (read_ahead_ == 0) return end;
    std::vector<std::pair<std::string, const std::string*>> wanted;  // key, id
    for (size_t n = 0; from != end && n < read_ahead_; ++from, ++n)
      if (reads_from_store(*from)) wanted.emplace_back(person_key(*from), &*from);
    if (wanted.empty()) return from;
    std::sort(wanted.begin(), wanted.end());
    std::vector<rocksdb::Slice> keys;
    keys.reserve(wanted.size());
    for (const auto& w : wanted) keys.emplace_back(w.first);
    read_sorted(db_, keys, [&](size_t i, const rocksdb::Status& st, const rocksdb::PinnableSlice& v) {
      if (st.ok()) keep_read_ahead(*wanted[i].second, std::string(v.ToStringView()));
      else if (st.IsNotFound()) keep_read_ahead(*wanted[i].second, std::nullopt);
      // else: person() reads it again and reports the error
    });
    return from;
  }
  void check_not_read_ahead(const std::string& id) const {
    if (persons_read_ahead_.contains(id))
      throw std::logic_error("person " + id + " is written while read ahead (PartitionState::keep_read_ahead)");
  }
  std::string facility_key(const std::string& id) const { return "f/" + hex4(partition_) + "/" + key_part(id); }
  // A person leaves the cache: a changed one is encoded into spilled_ (flush_into puts it; person() takes it back).
  void leave_cache(const std::string& id) {
    auto it = persons_.find(id);
    cached_bytes_ -= it->second.bytes;
    if (it->second.dirty) {
      // Listed last when the visit brought it in and changed it (for_each_person: `fn` reads no other person,
      // ledger.h), so found from the end at once.
      auto listed = std::find(dirty_persons_.rbegin(), dirty_persons_.rend(), &*it);
      if (listed == dirty_persons_.rend())
        throw std::logic_error("person " + id + " is marked changed but not listed (PartitionState)");
      dirty_persons_.erase(std::next(listed).base());
      const PersonState& p = *it->second.state;
      spilled_[id] = {encode_person(p), has_monthly_work(p)};
      ++spills_;
    }
    if (last_ == &*it) last_ = nullptr;
    persons_.erase(it);
  }
  void load_meta() {
    meta_ = PartitionMeta{};
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), "m/" + hex4(partition_), &v);
    if (s.IsNotFound()) return;
    check(s, "read partition meta");
    meta_ = stored_meta(v, "m/" + hex4(partition_));
  }

  rocksdb::DB* db_;
  int partition_;
  struct Cached {
    std::optional<PersonState> state;  // nullopt: known absent
    size_t bytes = 0;                  // its encoding as last read or written
    bool dirty = false;                // changed since the last flush_into: listed once in dirty_persons_
  };
  std::unordered_map<std::string, Cached> persons_;
  using Entry = std::pair<const std::string, Cached>;  // an element of persons_: its address is stable until erased
  // The changed persons, each once (flush_into puts them; their order does not matter: the batch is sorted before it
  // is written, puts_in_key_order). Every erase from persons_ drops its entry here first (leave_cache) or happens
  // with none listed (trim) or with the list cleared (reset).
  std::vector<Entry*> dirty_persons_;
  // What person() last returned other than null, or create_person() made; nullptr once erased.
  Entry* last_ = nullptr;
  void mark_dirty(Entry& e) {
    if (!e.second.dirty) e.second.dirty = true, dirty_persons_.push_back(&e);
  }
  size_t cached_bytes_ = 0;  // the sum of `bytes`
  size_t max_bytes_ = FoldOptions{}.person_cache_bytes;
  size_t max_persons_ = FoldOptions{}.max_persons_in_memory;  // trim() empties a cache of this many, as past max_bytes_
  uint64_t reads_ = 0;       // persons found in the store, since the last take_reads()
  uint64_t taken_ahead_ = 0;  // persons person() took from persons_read_ahead_, since the last take_taken_ahead()
  size_t read_ahead_ = FoldOptions{}.read_ahead;
  uint64_t spills_ = 0;      // persons spilled, since the last take_spills()
  uint64_t writes_ = 0, write_bytes_ = 0;  // persons put and their encodings' bytes, since the last take_writes()
  struct Spilled {
    std::string value;  // encode_person
    bool monthly_work = false;
  };
  std::unordered_map<std::string, Spilled> spilled_;  // changed in this batch, out of the cache (leave_cache)
  std::unordered_map<std::string, std::optional<std::string>> persons_read_ahead_;  // keep_read_ahead
  std::unordered_map<std::string, std::optional<FacilityState>> facilities_;
  std::unordered_set<std::string> dirty_facilities_;
  PartitionMeta meta_;
  bool meta_dirty_ = false;
};

}  // namespace

namespace {

namespace fs = std::filesystem;

[[noreturn]] void io_fail(int err, const std::string& path) { throw StoreError(io_error(err, path)); }


// Writes a whole file and fsyncs it; every failure (ENOSPC on write, EIO on fsync) throws with the path.
void write_file_synced(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail(errno, path);
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      io_fail(err, path);
    }
    done += static_cast<size_t>(n);
  }
  int rc = ::fsync(fd), err = errno;
  if (::close(fd) != 0 && rc == 0) rc = -1, err = errno;
  if (rc != 0) io_fail(err, path);
}

std::string durable_file(const std::string& dir) { return dir + "/" + kDurableFile; }

// `file` parsed as JSON (discarded when it is not JSON). One that cannot be read is a StoreError naming it: a folder
// in its place (libstdc++ throws from the read, naming no file: the fault hunt), or a read that fails.
nlohmann::json parse_json_file(const std::string& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw StoreError("cannot read " + file + ": " + (ec ? ec.message() : "it is not a file"));
  std::ifstream in(file);
  if (!in) throw StoreError("cannot read " + file + ": " + std::strerror(errno));
  try {
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (in.bad()) throw StoreError("cannot read " + file + ": a read failed");
    return j;
  } catch (const std::ios_base::failure& e) {
    throw StoreError("cannot read " + file + ": " + e.code().message());
  }
}

// The positions kDurableFile in `dir` records, nullopt when there is none; a file that does not read: StoreError.
std::optional<std::map<int, uint64_t>> read_durable(const std::string& dir) {
  const std::string file = durable_file(dir);
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    if (ec) throw StoreError("cannot read " + file + ": " + ec.message());
    return std::nullopt;
  }
  nlohmann::json j = parse_json_file(file);
  std::map<int, uint64_t> out;
  bool whole = j.is_object() && j.contains("positions") && j["positions"].is_object();
  if (whole) {
    for (const auto& [p, at] : j["positions"].items()) {
      const bool number = !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string::npos;
      if (!number || !at.is_number_unsigned()) {
        whole = false;
        break;
      }
      out[std::stoi(p)] = at.get<uint64_t>();
    }
  }
  if (!whole)
    throw StoreError(file + " does not read as the positions the store made durable (projections/store.h "
                     "kDurableFile): it was damaged or edited; if the store is known to be whole, remove the file");
  return out;
}

std::string without_trailing_slash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string parent_of(const std::string& path) {
  std::string p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

}  // namespace

void fsync_path(const std::string& path) {
  if (const int err = fsync_errno(path)) io_fail(err, path);
}

void write_probe(std::string_view point, const std::string& path) {
  int err = probe::fail_errno(point);
  if (err == -1) probe::crash_now();  // "torn": nothing here is written in parts, so a torn write is a crash
  if (err) io_fail(err, path);
}

rocksdb::WriteBatch puts_in_key_order(const rocksdb::WriteBatch& batch) {
  struct Puts : rocksdb::WriteBatch::Handler {
    std::vector<std::pair<rocksdb::Slice, rocksdb::Slice>> puts;
    void Put(const rocksdb::Slice& key, const rocksdb::Slice& value) override { puts.emplace_back(key, value); }
  } all;
  // Count() counts deletes and merges (which the default Handler ignores) but not log data; the size catches that.
  if (!batch.Iterate(&all).ok() || all.puts.size() != batch.Count()) return batch;
  std::stable_sort(all.puts.begin(), all.puts.end(),
                   [](const auto& a, const auto& b) { return a.first.compare(b.first) < 0; });
  rocksdb::WriteBatch sorted(batch.GetDataSize());
  for (const auto& [key, value] : all.puts) sorted.Put(key, value);
  if (sorted.GetDataSize() != batch.GetDataSize()) return batch;
  return sorted;
}

namespace {

// The store's tables (store_db_options).
rocksdb::BlockBasedTableOptions store_table_options() {
  // Most fold lookups miss (a new event id, a person's first event): Bloom filters answer those from memory.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // The filters and indexes of every table live in the block cache, at high priority, so that the cache bounds them:
  // outside it they grow with the store (about 300 MB at a city-year of 150 M keys) and are never given back. They
  // are partitioned in blocks of 4 KB under a small top-level index that stays pinned: a lookup loads the partition it
  // needs. Whole filters of several MB per table, evicted and read again (and checksummed) by lookups, took 86% of a
  // city-year fold's CPU once its store had grown, and slowed it to 2,000 events/s (issue 10). Tables written by
  // earlier binaries keep whole filters until compaction rewrites them. One cache for every store of a process
  // (serve's writer and its query secondaries, audit's live store and its replay).
  static const std::shared_ptr<rocksdb::Cache> blocks = rocksdb::NewLRUCache(size_t{512} << 20, -1, false, 0.5);
  table.block_cache = blocks;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  return table;
}

}  // namespace

namespace {
// A writable open or a StoreLock refused (`st`) because the store's lock is held: by which process, when another.
std::string in_use(const std::string& dir, const rocksdb::Status& st) {
  const std::optional<long> holder = lock_holder(dir);
  return "the store at " + dir + " is in use (" +
         (holder ? "process " + std::to_string(*holder) + ", a fold, serve or log truncate, has it open for writing"
                 : "a fold, serve or log truncate has it open for writing") + "): " + st.ToString();
}
}  // namespace

StoreLock::StoreLock(const std::string& dir) {
  rocksdb::FileLock* lock = nullptr;
  const rocksdb::Status st = rocksdb::Env::Default()->LockFile(dir + "/LOCK", &lock);
  if (!st.ok()) throw StoreError(in_use(dir, st));
  lock_ = lock;
}

StoreLock::~StoreLock() {
  if (lock_) (void)rocksdb::Env::Default()->UnlockFile(static_cast<rocksdb::FileLock*>(lock_));
}

rocksdb::Options store_db_options() {
  rocksdb::Options opt;
  opt.IncreaseParallelism(2);
  opt.table_factory.reset(rocksdb::NewBlockBasedTableFactory(store_table_options()));
  opt.memtable_whole_key_filtering = true;
  opt.memtable_prefix_bloom_size_ratio = 0.0125;
  // Issue 10, measured on a fold of 10% of the city for a year (ops/bench/scale.sh): with RocksDB's defaults a third
  // of the CPU went to flushes and compactions. LZ4 compresses at a fraction of Snappy's cost; memtables of 256 MB
  // (up to 4) rewrite each byte fewer times; a pipelined write lets one batch's WAL write
  // overlap another's memtable insert (serve's commits; a fold's are unlogged, Durability). A memtable grows in
  // blocks of 1 MB as it fills; only its Bloom filter (3.2 MB, memtable_prefix_bloom_size_ratio above) is taken at
  // once, also by read-only and secondary opens, which load the WAL not yet flushed into theirs.
  opt.compression = rocksdb::kLZ4Compression;
  opt.write_buffer_size = 256 << 20;
  opt.max_write_buffer_number = 4;
  opt.enable_pipelined_write = true;
  // RocksDB's default, stated because serve relies on it (Durability::unsynced commits): after a power loss the
  // WAL is recovered up to its first damaged or missing record, a prefix, never a write without those before it.
  opt.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Issue 10: universal (tiered) compaction. A memtable holds keys of every kind, partition and person, so under
  // leveled compaction each level-0 file overlapped every level-1 file and each compaction of level 0 rewrote the
  // whole of level 1: on the 100% year (ops/bench/scale.sh's log) compactions wrote 19.4-20.5 GB, 16.5-16.9 GB of it
  // into level 1, for 10.1 GB flushed, their threads busy for 567-611 s. Universal compaction merges sorted runs of
  // similar sizes into larger ones: 12.2-13.6 GB written in 378-397 s. The fold took 764 s against 812 and 876 s
  // for two leveled runs of the same binary (one universal run; ops/bench/README.md). A compaction starts once 16
  // sorted runs (level-0 files, and each non-empty level) wait, the number the level-0 trigger had under leveled
  // compaction (measured there: 4, 8, 16); here 8 folded the 100% year no faster (643.6 s against 646.1 s, its
  // compactions 411 s against 294 s; ops/bench/README.md), 32 slower; writes slow at 32 runs and stop at 48. The cost
  // is the readers': a point lookup checks each run's Bloom filter (the top-level partitions pinned, the rest in the
  // block cache), an iterator's seek reads a block of each run: person as-of p99 0.115 and 0.314 ms on that store
  // against 0.080 and 0.181 ms leveled (two rounds). And disk: the store may grow to 3 times its live data before a
  // full compaction (RocksDB's max_size_amplification_percent, 200; 6.10 GB at the end of that year against
  // 5.66-5.84 GB leveled), a full compaction needs about one more store while it runs, and a checkpoint (or a
  // secondary's open files) keeps the files it replaced: scale.sh's 10% row kept 138 bytes an event of checkpoints
  // against none under leveled compaction (FoldOptions::checkpoints_kept). Each level of a store written by leveled
  // compaction (the binaries before this one) is a sorted run, so this binary folds on into it; an earlier binary
  // opens this one's, but its leveled compaction rarely reaches the last level, where universal compaction leaves
  // most data, so going back means compacting the store whole once
  // (StoreFormat.LeveledAndUniversalStoresOpenEachOther).
  opt.compaction_style = rocksdb::kCompactionStyleUniversal;
  opt.level0_file_num_compaction_trigger = 16;
  opt.level0_slowdown_writes_trigger = 32;
  opt.level0_stop_writes_trigger = 48;
  // Issue 10: a partition's output records, shared events and dead letters (o/, g/, d/ + partition + offset) are put
  // in log order, so a memtable insert starts from where the last one of its 7-byte prefix went instead of searching
  // the skip list (which, with its key comparisons, took about a quarter of a city-year fold's CPU). The other keys
  // (persons, event ids, claims) are in order within a batch (puts_in_key_order), not from one batch to the next,
  // so the first of each prefix in a batch searches. RocksDB skips the hint when batches of several writers go into
  // a memtable together (a concurrent memtable write). Each distinct prefix keeps a hint until its memtable is
  // freed: at most about 10^4 each for i/ and r/ (the first 5 characters of a person id) and for c/, some MB per
  // memtable. First 7 minutes of a 100% fold, one run each: 21.8 M events against 19.9 M (runs of one binary differ
  // by a few per cent).
  opt.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(7));
  // One budget for the memtables of every store a process opens (serve and its query secondaries, audit's live store
  // and its replay): past 7/8 of 512 MB in all, the store being written flushes its largest memtable (a soft limit:
  // writes are not stalled). With the block cache and the person caches (FoldOptions::person_cache_bytes) it is
  // meant to keep a fold of the whole city within 2 GiB (issue 10: 1.41 GiB measured once, ops/bench/README.md).
  static const std::shared_ptr<rocksdb::WriteBufferManager> memtables =
      std::make_shared<rocksdb::WriteBufferManager>(size_t{512} << 20);
  opt.write_buffer_manager = memtables;
  return opt;
}

namespace {
// A new, empty database at `dir` (absent, or an empty directory), built in <dir>.creating and renamed into place, so
// that `dir` never holds part of one. A failure removes <dir>.creating, which never held data (as does the next
// creation, of one a crash left).
// Two creations at once (two first folds) would each remove or rename the other's <dir>.creating, leaving <dir> with
// files but no CURRENT, which every later open refuses: a creation holds <dir>.creating.lock (flock) throughout, and
// one that finds it held is refused; one that gets it after another finished finds the store made and leaves it.
void create_store(const std::string& dir, const rocksdb::Options& opt) {
  const std::string tmp = dir + ".creating", lock_file = dir + ".creating.lock";
  fs::create_directories(parent_of(dir));
  const int lock = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) throw StoreError("cannot create the store at " + dir + ": " + lock_file + ": " + std::strerror(errno));
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};
  if (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw StoreError("cannot lock " + lock_file + ": " + std::strerror(errno));
    throw StoreError("another process is creating the store at " + dir + " (it holds " + lock_file +
                     "): run this again once it has");
  }
  std::error_code ec;
  if (fs::exists(dir + "/CURRENT", ec)) return;  // made by the creation that held the lock before
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write_probe("store.before_create", tmp);
    rocksdb::Options create = opt;
    create.create_if_missing = true;
    create.info_log = std::make_shared<TolerantInfoLog>(tmp);
    rocksdb::DB* fresh = nullptr;
    check(rocksdb::DB::Open(create, tmp, &fresh), "create projections at " + tmp, tmp);
    rocksdb::Status closed = fresh->Close();
    delete fresh;
    check(closed, "create projections at " + tmp, tmp);
    fs::rename(tmp, dir);  // over an empty directory too (rename(2))
    // Made: the lock file goes (a creator that opened it before and locks it now finds CURRENT). After a failure it
    // stays: removed, a creator holding it open and one opening it anew could both lock, and both create.
    fs::remove(lock_file, ec);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  fsync_path(parent_of(dir));
}
}  // namespace

namespace {
// A store directory's identity: its device and inode, and RocksDB's IDENTITY file; "" when it cannot be read.
std::string directory_identity(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return "";
  std::ifstream in(dir + "/IDENTITY");
  std::string id;
  std::getline(in, id);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + id;
}
}  // namespace

namespace {
// The RocksDB open of a store: as a secondary keeping its own files in `secondary`, read-only, or writable.
rocksdb::DB* open_db(rocksdb::Options opt, const std::string& dir, const std::string& secondary, bool read_only) {
  rocksdb::DB* db = nullptr;
  if (!secondary.empty()) {
    opt.max_open_files = -1;  // a secondary keeps every table open: the primary may delete them after compaction
    check(open_beside_writer(
              [&](rocksdb::DB** to) { return rocksdb::DB::OpenAsSecondary(opt, dir, secondary, to); }, &db),
          "open projections at " + dir + " as secondary");
  } else if (read_only) {
    check(open_beside_writer([&](rocksdb::DB** to) { return rocksdb::DB::OpenForReadOnly(opt, dir, to); }, &db),
          "open projections at " + dir);
  } else {
    const rocksdb::Status st = rocksdb::DB::Open(opt, dir, &db);
    if (st.ToString().find(dir + "/LOCK: ") != std::string::npos) throw StoreError(in_use(dir, st));
    check(st, "open projections at " + dir, dir);
  }
  return db;
}

// Whether a process holds the store's lock (a fold, serve or log truncate), or it cannot be taken.
bool held_by_a_writer(const std::string& dir) {
  try {
    const StoreLock free(dir);
    return false;
  } catch (const StoreError&) {
    return true;
  }
}

// Why the store `db` at `dir` is refused against the positions it had made durable (kDurableFile), or "".
std::string lost_positions(rocksdb::DB& db, const std::map<int, uint64_t>& durable, const std::string& dir) {
  for (const auto& [p, at] : durable) {
    std::string v;
    const rocksdb::Status s = db.Get(rocksdb::ReadOptions(), "x/" + hex4(p), &v);
    if (!s.IsNotFound()) check(s, "read fold position", dir);
    const uint64_t held = s.IsNotFound() ? 0 : stored_number(v, "x/" + hex4(p));
    if (held < at)
      return "the store at " + dir + " holds partition " + std::to_string(p) + " folded to " + std::to_string(held) +
             ", but it had made " + std::to_string(at) + " durable (" + durable_file(dir) + "): its files lost what "
             "they held (a MANIFEST cut short, a table replaced or removed). Nothing is read from it or written to "
             "it; restore the store, or move " + dir + " aside and fold again from the log. An older copy of the "
             "store put back on purpose goes with the " + kDurableFile + " it had then (or none)";
  }
  return "";
}
}  // namespace

Store::Store(const std::string& dir, bool read_only) : Store(dir, StoreOptions{read_only, !read_only, nullptr}) {}

// Item 6: only a directory that does not exist or is empty gets a new store, built aside and renamed into place.
Store::Store(const std::string& dir, const StoreOptions& o) : Store(dir, o, "") {}

Store::Store(const std::string& dir_arg, const StoreOptions& o, const std::string& secondary)
    : dir_(without_trailing_slash(dir_arg)) {
  std::error_code ec;
  const std::string& dir = dir_;
  if (o.file_system) env_ = rocksdb::NewCompositeEnv(o.file_system);
  rocksdb::Options opt = store_db_options();
  if (env_) opt.env = env_.get();
  opt.create_if_missing = false;  // RocksDB never creates a database here: see create below
  if (!fs::exists(dir + "/CURRENT", ec)) {
    if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec)))
      throw StoreError("the store at " + dir + " is damaged: it holds files but no CURRENT; refusing to open it "
                       "or to create a new, empty store over it");
    if (o.read_only || !secondary.empty() || !o.create)
      throw StoreError("no store in " + dir + " (`gongji fold` creates it)");
    create_store(dir, opt);
  }
  const bool read_only = o.read_only || !secondary.empty();
  opt.info_log = std::make_shared<TolerantInfoLog>(read_only ? "" : dir);
  // kDurableFile: read before the store, so that a writer flushing meanwhile records no more than this open sees. A
  // read-only or secondary open beside `serve` (whose batches are made durable by a WAL sync) can still see less: the
  // writer may flush its memtable and delete the WAL between RocksDB's reads of the MANIFEST and of the WALs, so such
  // an open is made again (the file read again) while a writer holds the store's lock, up to kOpenAttempts times,
  // 50 ms apart, before it refuses (with no writer there is no race: refused at once). A writable
  // open first looks through a read-only one: RocksDB's writable open deletes the tables a MANIFEST cut short no
  // longer lists, which a repair of the store could have used.
  std::string lost;
  for (int attempt = 1;; ++attempt) {
    const std::optional<std::map<int, uint64_t>> durable = read_durable(dir);
    if (durable && !read_only) {  // under the store's lock: beside a running writer, its "in use" refusal
      const StoreLock held(dir);
      rocksdb::DB* look = nullptr;
      check(rocksdb::DB::OpenForReadOnly(opt, dir, &look), "open projections at " + dir, dir);
      lost = lost_positions(*std::unique_ptr<rocksdb::DB>(look), *durable, dir);
      if (!lost.empty()) throw StoreError(lost);
    }
    db_.reset(open_db(opt, dir, secondary, o.read_only));
    lost = durable && read_only ? lost_positions(*db_, *durable, dir) : "";
    if (lost.empty() || attempt >= kOpenAttempts || !held_by_a_writer(dir)) {
      if (durable) durable_ = *durable;
      break;
    }
    db_.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!lost.empty()) throw StoreError(lost);
  secondary_ = !secondary.empty();
  if (secondary_) identity_ = directory_identity(dir);
  read_only_ = read_only;
  check_format(read_only);
}

void Store::catch_up() {
  if (!secondary_) return;
  if (const std::string now = directory_identity(dir_); now != identity_)
    throw StoreReplaced("the store at " + dir_ + " is not the one this reader opened (" +
                        (now.empty() ? "it is gone" : "moved aside and folded anew, or a copy put in its place") +
                        ")");
  check(db_->TryCatchUpWithPrimary(), "catch up with the primary at " + dir_);
  if (format_ < kStoreFormat) check_format(true);  // its primary may have built format 10's l/ or 11's t/ since
}

// Item 8 of issue 9: the one place that reads n/format. A store of format kStoreFormat opens, and so does an empty
// one (new, or created by an older binary and never folded: record_run() stamps it before the first write). A
// writable open migrates formats 2 to 8 (migrate_2_to_3, then migrate_outputs from 3, 4 or 5 to 6, then migrate_meta
// to 7, then migrate_to_8, then migrate_persons to 9), each step saying what it did on the operational log (format 10
// is built from the log: record_latest_dates; 11 from 10 by migrate_to_11, 12 from 11, 13 from 12 and 14 from 13
// by migrate_persons, 15 from 14 by migrate_facilities); a read-only open reads formats 4 to 15 as they are
// (reads_format), and a store left halfway to format 8 as format 7, halfway to 9 as 8, to 12 as 11, to 13 as 12, to
// 14 as 13, to 15 as 14 (format()). A secondary reads it
// again at catch_up() while it is below kStoreFormat.
// Anything else, and formats 2 and 3 in a read-only open, is refused with what to run. A new format adds its step
// after the last one, and says so at kStoreFormat.
void Store::check_format(bool read_only) {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), kFormatKey, &v);
  // A secondary opened while its primary opens (a fold starting as `gongji query` starts: the primary turns its WAL
  // into a table and deletes the WAL) can see a part of the store without n/format for a moment (bench.http_smoke
  // once, 2026-12-03). Every store since formats were recorded has one: catch up again before reading it as format 1.
  auto holds_keys = [this] {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    return it->Valid();
  };
  for (int tries = 0; secondary_ && s.IsNotFound() && tries < 40 && holds_keys(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    check(db_->TryCatchUpWithPrimary(), "catch up with the primary at " + dir_);
    s = db_->Get(rocksdb::ReadOptions(), kFormatKey, &v);
  }
  if (!s.IsNotFound()) check(s, "read " + std::string(kFormatKey));
  uint64_t format = 1;  // no n/format: written before formats were recorded
  if (s.ok()) {
    format = stored_number(v, kFormatKey);
  } else {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    check(it->status(), "read " + dir_);
    if (!it->Valid()) return;  // nothing in it yet: no format to misread
  }
  if (format == 2 && !read_only) format = migrate_2_to_3();
  std::string migrating;
  const bool halfway = found(db_->Get(rocksdb::ReadOptions(), kMigratingKey, &migrating), "read n/migrating", dir_);
  if ((format == 3 || format == 4 || format == 5 || (format == 6 && halfway)) && !read_only) {
    migrate_outputs(format, halfway ? migrating : std::string());
    format = 6;
  }
  if (format == 6 && !read_only) {
    migrate_meta();
    format = 7;
  }
  if ((format == 7 || (format == 8 && halfway)) && !read_only) {
    migrate_to_8();
    format = 8;
  }
  if ((format == 8 || (format == 9 && halfway)) && !read_only) format = migrate_persons(9, 3);
  // 10 up to kStoreFormat, or kStoreFormat itself halfway (a format past this binary's is refused below)
  if (format >= 10 && format < static_cast<uint64_t>(kStoreFormat) + (halfway ? 1 : 0) && !read_only)
    format = migrate_from_10(static_cast<int>(format), halfway);
  if (read_only && halfway && format == 8) format = 7;  // migrate_to_8 stopped midway: still format 7's indexes
  // migrate_persons stopped midway: persons of both formats, read as the format before (an audit says to fold first)
  if (read_only && halfway && (format == 9 || format == 12 || format == 13 || format == 14 || format == 15)) --format;
  format_ = static_cast<int64_t>(format);
  if (reads_format(format_)) return;
  const std::string data = parent_of(dir_);
  if (format == 2 || format == 3)
    throw StoreFormatError("the store at " + dir_ + " has format " + std::to_string(format) +
                           " but this gongji reads format " +
                           std::to_string(kStoreFormat) + "; run `gongji fold --data-dir " + data +
                           "` (with the --brokers it was folded with; it folds on under the store's own policy) once: "
                           "it migrates the store in place, then this command works",
                           true);
  const std::string rebuild =
      "rebuild it from the log: move " + dir_ + " aside and run `gongji fold --data-dir " + data +
      "` (with the --policy, and --brokers, it was folded with; checkpoints of the old format are not used)";
  throw StoreFormatError(
      "the store at " + dir_ + " has format " + std::to_string(format) +
      (s.ok() ? "" : " (no " + std::string(kFormatKey) + ": written by a gongji before store formats)") +
      " but this gongji reads format " + std::to_string(kStoreFormat) + "; " +
      (format > static_cast<uint64_t>(kStoreFormat) ? "use a gongji that reads format " + std::to_string(format) +
                                                          ", or " + rebuild
                                                    : rebuild));
}

// Format 2 -> 3: the w/ index of the persons a monthly close visits, built from every p/ person, and the new
// format, in one synced WriteBatch (a crash leaves format 2, migrated again at the next open). Returns 3.
int Store::migrate_2_to_3() {
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("p/"); it->Valid() && it->key().starts_with("p/"); it->Next()) {
    const std::string_view key = it->key().ToStringView();  // p/<partition>/<person>
    PersonState p;
    try {
      p = decode_person(it->value().ToStringView());
    } catch (const StateCodecError& e) {
      throw StoreError("cannot migrate " + dir_ + " to format 3: the person under " + std::string(key) +
                       " does not decode (" + e.what() + ")");
    }
    if (has_monthly_work(p)) batch.Put("w/" + std::string(key.substr(2)), "");
  }
  check(it->status(), "read the persons of " + dir_ + " to migrate it to format 3");
  const size_t indexed = batch.Count();
  batch.Put(kFormatKey, "3");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  check(db_->Write(wo, &batch), "migrate " + dir_ + " to format 3", dir_);
  oplog::info("migrated the store at " + dir_ + " to format 3: " + std::to_string(indexed) +
              " persons indexed for the monthly close");
  return 3;
}

namespace {
// The writes of a migration in place to `format` (migrate_outputs, migrate_to_8, migrate_persons): `batch` written by
// write(), synced where asked; a failure is a StoreError naming the store.
struct MigrationWrites {
  MigrationWrites(rocksdb::DB* db, const std::string& dir, int format)
      : db(db), dir(dir), what("migrate " + dir + " to format " + std::to_string(format)) {}
  void write(bool sync) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    check(db->Write(wo, &batch), what, dir);
    batch.Clear();
  }
  // Each person in a person format below `below` put in kPersonFormat (state_codec.h: every older format decodes, and
  // formats 2 and 3 would not keep what format 4 holds; migrate_to_8 re-encodes format 1, migrate_persons formats
  // below 3, then below 4, ...); how many (reencode).
  uint64_t reencode_persons(uint8_t below) {
    return reencode("p/", "person", "persons", below,
                    [](std::string_view v) { return encode_person(decode_person(v)); });
  }
  // Each facility of facility format 1 put in kFacilityFormat (migrate_facilities); how many.
  uint64_t reencode_facilities() {
    return reencode("f/", "facility", "facilities", kFacilityFormat,
                    [](std::string_view v) { return encode_facility(decode_facility(v)); });
  }
  // Each value under `prefix` whose first byte (its format) is below `below` put back as `reencoded` gives it, in
  // batches of 10,000 written unsynced, with progress on the operational log every million; how many. A value that
  // does not decode stops the migration: StoreError naming its key.
  template <typename F>
  uint64_t reencode(const std::string& prefix, const std::string& one, const std::string& kind, uint8_t below,
                    F reencoded) {
    uint64_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const std::string_view v = it->value().ToStringView();
      if (!v.empty() && static_cast<uint8_t>(v[0]) >= below) continue;
      try {
        batch.Put(it->key(), reencoded(v));
      } catch (const StateCodecError& e) {
        throw StoreError("cannot " + what + ": the " + one + " under " + it->key().ToString() + " does not decode (" +
                         e.what() + ")");
      }
      if (batch.Count() >= 10000) write(false);
      if (++n % 1000000 == 0) oplog::info(what + ": " + std::to_string(n) + " " + kind + " re-encoded so far");
    }
    check(it->status(), "read the " + kind + " of " + dir + " to " + what);
    return n;
  }
  rocksdb::DB* db;
  const std::string& dir;
  const std::string what;
  rocksdb::WriteBatch batch;
};
}  // namespace

// Formats 3, 4 and 5 -> 6: every output record in its stored form of format 6: settlements with the trace as data
// (encode_settlement) and the other kinds as data too (encode_record). Format 3 kept every record as its JSON line,
// format 4 settlements in settlement format 1 (each step's text), formats 4 and 5 the other kinds as JSON lines. Each
// is read back exactly, steps to the saying that renders their text (step_from_text), so the migrated store is the
// one a fold from zero builds (same digest, which audit's replay check compares). First n/format 6 and n/migrating
// (synced): older binaries refuse the store as newer from then on, and a crash midway leaves a store this one
// migrates on from at its next writable open (a converted value is skipped); then the records in batches;
// n/migrating (which keeps the format a resumed migration started from) is deleted with the last one. A settlement
// line that does not read back to itself stops the migration: StoreError naming its key and saying to rebuild; a
// line of another kind that does not (changed by hand) is kept as it is, and read as its fields say.
void Store::migrate_outputs(uint64_t from, const std::string& halfway) {
  MigrationWrites m(db_.get(), dir_, 6);
  rocksdb::WriteBatch& batch = m.batch;
  const auto write = [&](bool sync) { m.write(sync); };
  batch.Put(kFormatKey, "6");
  batch.Put(kMigratingKey, halfway.empty() ? "format " + std::to_string(from) + " to 6" : halfway);
  write(true);
  oplog::info("migrating the store at " + dir_ + " to format 6: output records to their stored form with the trace "
              "as data, in place (an interrupted migration goes on at the next writable open)");
  uint64_t converted = 0, kept = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next()) {
    const std::string_view v = it->value().ToStringView();
    const auto rebuild = [&] {
      return StoreError("cannot migrate " + dir_ + " to format 6: the output record under " + it->key().ToString() +
                        " is a line this gongji does not print the same; rebuild the store from the log (move " +
                        dir_ + " aside and fold)");
    };
    std::string stored;
    if (v.starts_with('{')) {
      if (v.find(R"("kind":"settlement")") != std::string_view::npos) {
        const std::optional<Settlement> s = settlement_from_line(v);
        if (!s) throw rebuild();
        stored = encode_settlement(*s);
      } else if (const std::optional<Record> r = record_from_line(v)) {
        stored = encode_record(*r);
      } else {  // a record line changed by hand: kept as it is, read as its fields say (stored_record refuses,
        stored_record(v, it->key().ToStringView());  // naming the key, what is not a record of a known kind)
        ++kept;
        continue;
      }
    } else if (v.empty() || (!is_stored_record(v) && static_cast<uint8_t>(v[0]) != kSettlementFormat)) {
      stored = encode_settlement(decode_stored_settlement(v, it->key().ToStringView()));
    } else {
      continue;
    }
    batch.Put(it->key(), stored);
    if (batch.Count() >= 10000) write(false);
    if (++converted % 100000 == 0)
      oplog::info("migrating the store at " + dir_ + " to format 6: " + std::to_string(converted) +
                  " output records converted");
  }
  check(it->status(), "read the output records of " + dir_ + " to migrate it to format 6");
  batch.Delete(kMigratingKey);
  write(true);
  oplog::info("migrated the store at " + dir_ + " to format 6: " + std::to_string(converted) +
              " output records converted" +
              (kept ? ", " + std::to_string(kept) + " lines changed by hand kept as they are" : std::string()));
}

// Format 6 -> 7: each partition's meta (m/) from its JSON object to its binary form (encode_meta), and the new
// format, in one synced WriteBatch (a crash leaves format 6, migrated again at the next open). The migrated store is
// the one a fold from zero builds (same digest).
void Store::migrate_meta() {
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("m/"); it->Valid() && it->key().starts_with("m/"); it->Next())
    batch.Put(it->key(), encode_meta(stored_meta(it->value().ToStringView(), it->key().ToString())));
  check(it->status(), "read the partition metas of " + dir_ + " to migrate it to format 7");
  const size_t converted = batch.Count();
  batch.Put(kFormatKey, "7");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  check(db_->Write(wo, &batch), "migrate " + dir_ + " to format 7", dir_);
  oplog::info("migrated the store at " + dir_ + " to format 7: " + std::to_string(converted) +
              " partition metas to their binary form");
}

// Format 7 -> 8: the r/ entries the person's i/ index reaches are deleted (r/<person>/<partition>/<offset>/<n> where
// i/<person>/<partition>/<offset> exists: a record naming the person of an event listed for the person), the c/
// values emptied, and each person in person format 1 put in kPersonFormat (state_codec.h; reencode_persons). First
// n/format 8 and n/migrating (synced): older binaries refuse the store as newer from then on, and a crash midway
// leaves a store this one reads as it is (person_index visits a record both indexes list once, no c/ value is read,
// all person formats are decoded) and migrates again at its next writable open (each step is idempotent); then
// the entries in batches; n/migrating is deleted with the last one. The migrated store is the one a fold from zero
// builds (same digest).
void Store::migrate_to_8() {
  MigrationWrites m(db_.get(), dir_, 8);
  rocksdb::WriteBatch& batch = m.batch;
  const std::string& what = m.what;
  const auto write = [&](bool sync) { m.write(sync); };
  batch.Put(kFormatKey, "8");
  batch.Put(kMigratingKey, "format 7 to 8");
  write(true);
  uint64_t dropped = 0, emptied = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("r/"); it->Valid() && it->key().starts_with("r/"); it->Next()) {
    const std::string_view key = it->key().ToStringView();  // r/<person>/<partition>/<offset>/<n>
    const size_t person_end = key.size() - kIndexTailSize - 1;
    if (key.size() < 3 + kIndexTailSize || key[person_end] != '/')
      throw StoreError("cannot migrate " + dir_ + " to format 8: damaged index key " + std::string(key.substr(0, 80)));
    const std::string events_key = "i/" + std::string(key.substr(2, person_end - 2)) + "/" +
                                   std::string(key.substr(person_end + 1, kIndexTailSize - 9));
    std::string v;
    const rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), events_key, &v);
    if (st.IsNotFound()) continue;
    check(st, "read " + events_key + " to " + what);
    batch.Delete(it->key());
    if (batch.Count() >= 10000) write(false);
    ++dropped;
  }
  check(it->status(), "read the person index of " + dir_ + " to " + what);
  for (it->Seek("c/"); it->Valid() && it->key().starts_with("c/"); it->Next()) {
    if (it->value().empty()) continue;
    batch.Put(it->key(), "");
    if (batch.Count() >= 10000) write(false);
    ++emptied;
  }
  check(it->status(), "read the claim index of " + dir_ + " to " + what);
  const uint64_t persons = m.reencode_persons(2);
  batch.Delete(kMigratingKey);
  write(true);
  oplog::info("migrated the store at " + dir_ + " to format 8: " + std::to_string(dropped) +
              " person index entries the event index reaches dropped, " + std::to_string(emptied) +
              " claim index values emptied, " + std::to_string(persons) + " persons re-encoded");
}

// Format 8 -> 9 (persons of person formats 1 and 2), 11 -> 12 (of format 3: ORD-INPT's admissions and discharges
// are those of its stays), 12 -> 13 (of format 4: retirements known by their shape) and 13 -> 14 (of format 5: each
// period the one in force on its day), `to` from `to` - 1, each person of a format below `below` put in kPersonFormat
// (reencode_persons). As migrate_to_8: first n/format `to` and n/migrating (synced), so older binaries refuse the
// store as newer and a crash midway leaves a store this one reads as it is (every person format is decoded; read-only,
// as format `to` - 1) and migrates again at its next writable open; then the persons in batches; n/migrating is
// deleted with the last one. The migrated store is the one a fold from zero builds (same digest) unless what an
// earlier gongji folded differs from what this one would (README, store formats: stays paired in log order, a
// retirement a later-logged standing made stale, a claim between two changes of scheme on one day). Returns `to`.
int Store::migrate_persons(int to, uint8_t below) {
  MigrationWrites m(db_.get(), dir_, to);
  m.batch.Put(kFormatKey, std::to_string(to));
  m.batch.Put(kMigratingKey, "format " + std::to_string(to - 1) + " to " + std::to_string(to));
  m.write(true);
  const uint64_t persons = m.reencode_persons(below);
  m.batch.Delete(kMigratingKey);
  m.write(true);
  oplog::info("migrated the store at " + dir_ + " to format " + std::to_string(to) + ": " + std::to_string(persons) +
              " persons re-encoded");
  return to;
}

// Format 14 -> 15: each facility of facility format 1 in facility format 2, its versions' fields read as those that
// differ from the version before (reencode_facilities; state_codec.h), as migrate_persons does for persons: first
// n/format 15 and n/migrating (synced), then the facilities, n/migrating deleted with the last. The migrated store is
// the one a fold from zero builds (same digest) unless an update restated a value in force, or one was logged after
// a later-dated one (README, store formats). Returns 15.
int Store::migrate_facilities() {
  MigrationWrites m(db_.get(), dir_, 15);
  m.batch.Put(kFormatKey, "15");
  m.batch.Put(kMigratingKey, "format 14 to 15");
  m.write(true);
  const uint64_t facilities = m.reencode_facilities();
  m.batch.Delete(kMigratingKey);
  m.write(true);
  oplog::info("migrated the store at " + dir_ + " to format 15: " + std::to_string(facilities) +
              " facilities re-encoded");
  return 15;
}

Store::~Store() = default;

uint64_t Store::folded_offset(int partition) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "x/" + hex4(partition), &v);
  if (s.IsNotFound()) return 0;
  check(s, "read fold position");
  return stored_number(v, "x/" + hex4(partition));
}

void Store::check_partition_count(int partitions) const {
  int stored = this->partitions();
  if (stored != 0 && stored != partitions)
    throw StoreError("the log has " + std::to_string(partitions) + " partitions but the store at " + dir_ +
                     " was folded from a log of " + std::to_string(stored) + " (n/partitions): refusing to fold");
}

std::string anchor_of(uint64_t offset, std::string_view payload) {
  return hex16(offset) + ":" + hex16(XXH3_64bits(payload.data(), payload.size()));
}

void Store::check_anchor(int partition, uint64_t offset, std::string_view payload) const {
  const std::string key = "a/" + hex4(partition), where = " (store " + dir_ + ", " + key + ")";
  std::string have;
  auto s = db_->Get(rocksdb::ReadOptions(), key, &have);
  if (s.IsNotFound())
    throw StoreError("partition " + std::to_string(partition) + ": the store has folded records but holds no anchor" +
                     where + ": damaged, or written by an older gongji; refold into a new data directory");
  check(s, "read " + key);
  if (have != anchor_of(offset, payload))
    throw StoreError("partition " + std::to_string(partition) + ": the log's record at offset " +
                     std::to_string(offset) + " is not the one this store folded there (anchor " + have + ", log " +
                     anchor_of(offset, payload) + ")" + where +
                     ": the store was folded from another log; refusing to fold");
}

void Store::check_log(EventLog& log) const {
  check_partition_count(log.partitions());
  for (int p = 0; p < log.partitions(); ++p) {
    const uint64_t folded = folded_offset(p), end = log.end_offset(p);
    if (folded > end)
      throw StoreError("partition " + std::to_string(p) + ": the log ends at offset " + std::to_string(end) +
                       " but the store at " + dir_ + " has folded up to offset " + std::to_string(folded) +
                       " (x/" + hex4(p) + "): the log lost records the store has folded; refusing to fold");
    if (folded == 0) continue;
    bool seen = false;  // the log's record at folded - 1 carries the anchor the store committed with it
    log.read(p, folded - 1, [&](const LogRecord& r) {
      check_anchor(p, r.offset, r.payload);
      seen = true;
      return false;
    });
    if (!seen)
      throw StoreError("partition " + std::to_string(p) + ": the log has no record at offset " +
                       std::to_string(folded - 1) + ", the last one the store at " + dir_ +
                       " folded; refusing to fold");
  }
}

void Store::sync() {
  const std::map<int, uint64_t> at = positions();  // read first: what SyncWAL below makes durable holds at least these
  check(db_->SyncWAL(), "sync the write-ahead log of " + dir_, dir_);
  record_durable(at);
}

// Each position read before a flush or sync that succeeded is durable: the file gets the highest of each partition
// (two flushes side by side may end in either order). Nothing is written when no position rose (a `serve` batch that
// folded nothing new). A failure names the file and says the store itself is whole: its flush or sync succeeded.
void Store::record_durable(const std::map<int, uint64_t>& at) {
  std::lock_guard<std::mutex> lock(durable_mu_);
  std::map<int, uint64_t> raised = durable_;  // durable_ is what the file holds: raised once it does
  bool rose = false;
  for (const auto& [p, next] : at) {
    auto [it, added] = raised.try_emplace(p, next);
    if (!added && it->second < next) it->second = next, rose = true;
    rose = rose || added;
  }
  if (!rose) return;
  nlohmann::json pos = nlohmann::json::object();
  for (const auto& [p, next] : raised) pos[std::to_string(p)] = next;
  const std::string file = durable_file(dir_), tmp = file + ".tmp";
  try {
    write_file_synced(tmp, nlohmann::json{{"positions", pos}}.dump() + "\n");
    if (::rename(tmp.c_str(), file.c_str()) != 0) io_fail(errno, file);
    fsync_path(dir_);
  } catch (const StoreError& e) {
    throw StoreError(std::string(e.what()) + " (recording the positions the store made durable, " + kDurableFile +
                     ": the store itself is whole; run the command again)");
  }
  durable_ = std::move(raised);
}


void Store::refuse_logged_write_while_unflushed(const char* what) const {
  if (unflushed_)
    throw StoreError(std::string(what) + " into " + dir_ + " while unlogged commits of a fold are not flushed (a crash "
                     "could keep it without them): flush first");
}

void Store::record_run(const Policy& policy, int partitions) {
  check_partition_count(partitions);
  refuse_logged_write_while_unflushed("recording the run");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  std::string have;
  // check_format let only an empty store through without n/format: this is its first write.
  if (!found(db_->Get(rocksdb::ReadOptions(), kFormatKey, &have), "read n/format", dir_))
    check(db_->Put(wo, kFormatKey, std::to_string(kStoreFormat)), "record the store format", dir_);
  if (!found(db_->Get(rocksdb::ReadOptions(), policy_key(policy.version()), &have), "read the recorded policy", dir_)) {
    // One ledger, one policy (DESIGN.md: another policy is a what-if, never mixed in): a store that recorded a
    // policy is folded on under that one only. The command line says so first, naming the files
    // (service/queries.h fold_policy); this guards every other caller.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->Seek("v/");
    check(it->status(), "read the recorded policy versions", dir_);
    if (it->Valid() && it->key().starts_with("v/"))
      throw StoreError("the store at " + dir_ + " was folded under policy " + it->key().ToString().substr(2) +
                       ", not " + policy.version() + ": a store is folded on under its own policy only");
    check(db_->Put(wo, policy_key(policy.version()), policy.text()), "record policy version", dir_);
  }
  if (!found(db_->Get(rocksdb::ReadOptions(), "n/partitions", &have), "read n/partitions", dir_))
    check(db_->Put(wo, "n/partitions", std::to_string(partitions)), "record partition count", dir_);
}

struct PartitionFolder::Impl {
  // One record applied since the last commit, kept so that a poison record can be rolled back by re-applying the
  // batch's earlier records (the contract of PartitionFolder in store.h).
  struct Applied {
    uint64_t offset = 0, locator = 0;
    int64_t ingested_ms = 0;
    std::string payload;    // the record's bytes: a good record is re-applied from them
    std::string dead_stored;  // a dead letter's stored form, re-put as it was ("" for a record that was applied)
    std::string dead_person;  // the person it names, "" when not known
  };

  Store& store;
  rocksdb::DB* db;
  int partition;
  PartitionState state;
  FoldContext ctx;
  rocksdb::WriteBatch batch;
  std::unordered_map<std::string, uint64_t> batch_ids;  // ids put in this batch (a WriteBatch is not readable)
  // PartitionFolder::prefetch: records decoded ahead, by offset (apply_record takes each once; a commit drops those
  // behind the position, records never applied), and what the store holds under e/ keys not in batch_ids (nullopt:
  // nothing). apply_record takes an id's entry before the id can enter batch_ids, so a commit never writes a key
  // still read ahead: what is read ahead stays what the store holds, across commits.
  std::unordered_map<uint64_t, Event> events_decoded_ahead;
  std::unordered_map<std::string, std::optional<uint64_t>> ids_read_ahead;
  uint64_t ids_taken_ahead = 0;  // entries of ids_read_ahead apply_record used, since the last commit (FoldStats)
  std::vector<Applied> journal;                         // this batch's records, in log order
  std::function<void(const Event&)> apply_hook;
  uint64_t next;
  std::string anchor;  // anchor_of() the last applied record ("" before the first): put under a/ at commit
  // The partition's l/ and u/ keys (Store::latest_date) with this batch's events, and as committed (a rollback goes
  // back to them before applying the batch's earlier records again).
  DatesOfPartition dates, dates_committed;
  // The partition's t/ keys (the month index), likewise.
  MonthIndexOfPartition months, months_committed;
  Impl(Store& s, rocksdb::DB* d, int p, int partitions, const Policy& policy)
      : store(s), db(d), partition(p), state(d, p), ctx{&policy, p, partitions, p == 0}, next(s.folded_offset(p)) {
    // Folded on, it would hold latest dates (or a month index) of some events only, or persons of two formats.
    if (s.format_ < kStoreFormat)
      throw StoreError("the store at " + s.dir_ + " has format " + std::to_string(s.format_.load()) +
                       (s.format_ < 10   ? ": its latest dates (l/) must be recorded from the log before it is "
                                           "folded on (Store::record_latest_dates)"
                        : s.format_ < 11 ? ": its month index (t/) must be built before it is folded on (a writable "
                                           "open builds it: Store::migrate_to_11)"
                                         : ": its persons must be re-encoded before it is folded on (a writable "
                                           "open does it: Store::migrate_persons)"));
    dates = dates_committed = stored_dates(s, d, p);
    months = months_committed = stored_months(d, p, next, s.dir_);
  }

  std::string at(uint64_t offset) const { return hex4(partition) + "/" + hex16(offset); }
  std::string id_key(const std::string& event_id) const { return "e/" + hex4(partition) + "/" + key_part(event_id); }
  std::vector<Output> apply_record(const LogRecord& r, std::optional<Event>& ev, bool& touched);
  // An applied event's date and ingestion time, into the l/ and u/ keys. An event dated after the policy's window
  // moves the default --as-of of everyone in the partition there for good (the log is append-only): said once.
  void note_date(uint64_t offset, Date date, int64_t ingested_ms) {
    const Date to = ctx.policy->window_to();
    if (date > to && dates.latest <= to)
      oplog::warn("partition " + std::to_string(partition) + ": the event at offset " + std::to_string(offset) +
                  " is dated " + format_date(date) + ", after the policy's window (to " + format_date(to) +
                  "): it is now the latest date of the partition, the default --as-of of everyone in it");
    dates.add(offset, date, ingested_ms, batch);
  }
  void put_dead_letter(uint64_t offset, const std::string& stored, const std::string& person);
  void roll_back();
  bool rolled_back = false;  // since the last commit (PartitionFolder::rolled_back)
};

PartitionFolder::PartitionFolder(Store& store, int partition, int partitions, const Policy& policy)
    : impl_(std::make_unique<Impl>(store, store.db_.get(), partition, partitions, policy)) {}
PartitionFolder::~PartitionFolder() = default;
uint64_t PartitionFolder::next_offset() const { return impl_->next; }
size_t PartitionFolder::pending() const { return impl_->journal.size(); }
bool PartitionFolder::rolled_back() const { return impl_->rolled_back; }
size_t PartitionFolder::persons_in_memory() const { return impl_->state.cached_persons(); }
void PartitionFolder::set_max_persons_in_memory(size_t n) { impl_->state.set_max_persons(n); }
void PartitionFolder::set_apply_hook(std::function<void(const Event&)> hook) { impl_->apply_hook = std::move(hook); }
void PartitionFolder::set_person_cache_bytes(size_t bytes) { impl_->state.set_cache_bytes(bytes); }
void PartitionFolder::set_read_ahead(size_t n) { impl_->state.set_read_ahead(n); }

namespace {
// TIME-LOG: an event is folded only in a partition it belongs to (events/partition.h partitions_for: its person's,
// either person's of a family_linked, every one for a shared event). One put into another (written straight to a
// Kafka topic by a producer that partitions otherwise) would change a person no query of it reads, beside the one
// that does: an EventError (so a dead letter), naming the partition it belongs to.
void refuse_misplaced(const Event& e, const FoldContext& ctx) {
  const std::string* person = e.person();
  if (!person || ctx.owns(*person)) return;  // (a shared event names no person)
  const auto* link = e.as<FamilyLinked>();
  if (link && ctx.owns(link->relative)) return;
  auto home = [&](const std::string& who) { return std::to_string(partition_of(who, ctx.partitions)); };
  // A family link belongs to either person's partition: both are named.
  const std::string where = link ? "person " + *person + " belongs to partition " + home(*person) + " and relative " +
                                       link->relative + " to partition " + home(link->relative)
                                 : "person " + *person + " belongs to partition " + home(*person);
  throw EventError("person", where + " of " + std::to_string(ctx.partitions) + ", not to partition " +
                                 std::to_string(ctx.partition) + ", where this event was put");
}
}  // namespace

// Decodes and applies one record into the batch and the state cache. Throws on a record that cannot be applied;
// `touched` then tells whether the batch or the state may already hold part of its effect.
std::vector<Output> PartitionFolder::Impl::apply_record(const LogRecord& r, std::optional<Event>& ev, bool& touched) {
  // Issue 9 item 5: codes are checked under the fold's policy; a code it does not list is an EventError ("field
  // 'disease': unknown code \"C05\""), so the record is a dead letter like any that does not validate, naming the
  // event (id, type, person, claim) when it is valid under EVENTS.md's lists; so is a misplaced one (refuse_misplaced).
  if (auto decoded = events_decoded_ahead.find(r.offset); decoded != events_decoded_ahead.end()) {  // as below
    ev.emplace(std::move(decoded->second));
    events_decoded_ahead.erase(decoded);
  } else {
    try {
      ev.emplace(decode_event(r.payload, ctx.policy->codes()));
    } catch (const EventError&) {
      try {
        ev.emplace(decode_event(r.payload));
      } catch (const EventError&) {
      }
      throw;
    }
  }
  const Event& e = *ev;  // the id rule of EVENTS.md is the ledger's (judge_event_id); the e/ index holds what it needs
  std::string idkey = id_key(e.id());
  uint64_t h = event_digest(e);
  auto read_ahead = ids_read_ahead.extract(idkey);  // taken whichever answers, before the id enters batch_ids
  refuse_misplaced(e, ctx);
  std::optional<uint64_t> seen;
  if (auto it = batch_ids.find(idkey); it != batch_ids.end()) seen = it->second;
  else if (read_ahead) seen = read_ahead.mapped(), ++ids_taken_ahead;
  else seen = folded_digest(db, idkey);
  switch (judge_event_id(seen, h)) {
    case IdVerdict::conflict:
      throw EventError("id", spelled(Reason::ID_CONFLICT) + ": event id " + e.id() + " was folded with other content");
    case IdVerdict::duplicate:  // a no-op, but an event of the log all the same: its ingestion time counts (u/)
      note_date(r.offset, e.at(), r.ingested_ms);
      return {};
    case IdVerdict::new_event: break;
  }
  touched = true;
  batch_ids[idkey] = h;
  batch.Put(idkey, std::string_view(reinterpret_cast<const char*>(&h), 8));
  note_date(r.offset, e.at(), r.ingested_ms);
  std::vector<Output> outs = apply_event(e, state, ctx);
  if (apply_hook) apply_hook(e);
  // The per-person index of log positions (and shared events): point-in-time reconstruction (POLICY.md TIME-REPLAY).
  const std::string where_at = at(r.offset);
  uint64_t where[2] = {r.locator, static_cast<uint64_t>(r.ingested_ms)};
  std::string_view loc(reinterpret_cast<const char*>(where), sizeof where);
  // The persons whose i/ index lists this event: their records of it are found through i/, so r/ lists only the
  // records naming anyone else (store format 8).
  std::string_view indexed[2];
  if (e.is_global()) {
    batch.Put("g/" + where_at, loc);
  } else {
    indexed[0] = *e.person();
    batch.Put("i/" + key_part(indexed[0]) + "/" + where_at, loc);
    if (const auto* link = e.as<FamilyLinked>(); link && ctx.owns(link->relative)) {
      indexed[1] = link->relative;
      batch.Put("i/" + key_part(indexed[1]) + "/" + where_at, loc);
    }
  }
  for (size_t n = 0; n < outs.size(); ++n) {
    const std::string tail = where_at + "/" + hex8(n);
    batch.Put("o/" + tail, stored_output(outs[n]));
    const std::string& named = outs[n].person;
    if (!named.empty() && named != indexed[0] && named != indexed[1])
      batch.Put("r/" + key_part(named) + "/" + tail, "");
    if (outs[n].kind == "settlement")
      batch.Put("c/" + key_part(outs[n].claim) + "/" + key_part(named) + "/" + tail, "");
    months.add(r.offset, n, outs[n].settlement.get(), outs[n].record.get(), batch);
  }
  return outs;
}

// A dead letter is the one output record of its offset, and the d/ index points at it (r/ too, when it names a
// person).
void PartitionFolder::Impl::put_dead_letter(uint64_t offset, const std::string& stored, const std::string& person) {
  std::string key = "o/" + at(offset) + "/" + hex8(0);
  batch.Put(key, stored);
  batch.Put("d/" + at(offset), key);
  if (!person.empty()) batch.Put("r/" + key_part(person) + "/" + at(offset) + "/" + hex8(0), "");
}

// Back to exactly the state before the failed record: what the store committed, plus this batch's earlier records
// applied again (the fold is deterministic, so they give the same effects and outputs as the first time).
void PartitionFolder::Impl::roll_back() {
  rolled_back = true;
  batch.Clear();
  batch_ids.clear();
  state.reset();
  dates = dates_committed;
  months = months_committed;
  for (const Applied& a : journal) {
    if (!a.dead_stored.empty()) {
      put_dead_letter(a.offset, a.dead_stored, a.dead_person);
      continue;
    }
    LogRecord r;
    r.partition = partition;
    r.offset = a.offset;
    r.ingested_ms = a.ingested_ms;
    r.payload = a.payload;
    r.locator = a.locator;
    std::optional<Event> e;
    bool touched = false;
    try {
      apply_record(r, e, touched);
    } catch (const std::exception& err) {
      throw StoreError("partition " + std::to_string(partition) + ": re-applying offset " + std::to_string(a.offset) +
                       " after a poison record failed (" + err.what() + "): the fold is not deterministic");
    }
  }
}

namespace {
// EVENTS.md "Outputs": a dead letter names its partition, offset, event id and type, person and claim where known,
// and the reason. A poison record's bytes that are not UTF-8 are replaced here, so that the record holds what its
// line says (and a store migrated from its line holds the same bytes as one folded from zero).
DeadLetter dead_letter_of(int partition, uint64_t offset, const std::optional<Event>& e, const std::string& reason) {
  DeadLetter d{partition, offset, valid_utf8(reason), std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  auto text = [](const std::string* s) { return s ? std::optional<std::string>(valid_utf8(*s)) : std::nullopt; };
  if (e) d.event = valid_utf8(e->id()), d.type = e->type(), d.person = text(e->person()), d.claim = text(e->claim());
  return d;
}
}  // namespace

std::vector<Output> PartitionFolder::apply(const LogRecord& r, FoldStats& stats) {
  Impl& m = *impl_;
  // INV-LOG-FORWARD (ledger/invariant.h): the position only moves forward. A record behind it is not the record's
  // fault but its caller's (a rewound read): StoreError, the fold stops and nothing of the record is applied; never
  // a dead letter, which would overwrite the output of the record folded at that offset.
  if (r.offset < m.next)
    throw StoreError("partition " + std::to_string(m.partition) + ": invariant INV-LOG-FORWARD violated: record at "
                     "offset " + std::to_string(r.offset) + " is behind the fold's position " + std::to_string(m.next));
  // INV-LOG-PARTITION: so is a record of another partition (its offset counts in another log); a dead letter here
  // would move this partition's position past an offset it never read.
  if (r.partition != m.partition)
    throw StoreError("partition " + std::to_string(m.partition) + ": invariant INV-LOG-PARTITION violated: the "
                     "record at offset " + std::to_string(r.offset) + " is of partition " +
                     std::to_string(r.partition));
  std::optional<Event> e;
  bool touched = false;
  std::string reason;
  try {
    std::vector<Output> outs = m.apply_record(r, e, touched);
    m.journal.push_back({r.offset, r.locator, r.ingested_ms, std::string(r.payload), "", ""});
    m.next = r.offset + 1;
    m.anchor = anchor_of(r.offset, r.payload);
    stats.outputs += outs.size();
    ++stats.events;
    return outs;
  } catch (const StoreError&) {
    throw;  // storage and I/O are not poison (issue 8 item 4): the fold stops, the batch is never committed
  } catch (const StateCodecError&) {
    throw;  // stored state that does not decode is damage to the store, not to this record
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& err) {
    reason = err.what();
  } catch (...) {
    reason = "an exception that is not a std::exception";
  }
  // Issue 8 item 4, TIME-LOG: whatever the record did, it alone becomes a dead letter and leaves no effect.
  if (touched) m.roll_back();
  Output dead = output_of(dead_letter_of(m.partition, r.offset, e, reason));
  const std::string stored = stored_output(dead);
  m.put_dead_letter(r.offset, stored, dead.person);
  m.journal.push_back({r.offset, r.locator, r.ingested_ms, "", stored, dead.person});
  m.next = r.offset + 1;
  m.anchor = anchor_of(r.offset, r.payload);
  ++stats.dead_letters;
  ++stats.events;
  return {dead};
}

void PartitionFolder::apply_reading_ahead(std::span<const LogRecord> records, FoldStats& stats,
                                          const std::function<bool()>& go_on,
                                          const std::function<bool(const LogRecord&, std::vector<Output>&)>& applied,
                                          const std::function<bool()>& commit) {
  prefetch(records);
  for (size_t i = 0; i < records.size() && go_on(); ++i) {
    std::vector<Output> outs = apply(records[i], stats);
    const bool ends = applied(records[i], outs);
    if (const size_t batch = pending(); ends || rolled_back()) {
      if (!commit()) continue;  // declined: go_on() ends the loop
      const size_t rest = records.size() - i - 1, window = std::min(rest, std::max<size_t>(batch, 64));
      if (rest > 0) prefetch(records.subspan(i + 1, window));
    }
  }
  // What the chunk read ahead and did not take (a duplicate's person, a record refused before its person was read, or
  // the records after a stop) goes: kept, it would stay until that person's next event, in `serve` as long as the
  // folder lives.
  Impl& m = *impl_;
  m.state.drop_read_ahead();
  if (!m.ids_read_ahead.empty()) m.ids_read_ahead.clear();  // clear() zeroes the buckets even when empty
  if (!m.events_decoded_ahead.empty()) m.events_decoded_ahead.clear();
}

size_t PartitionFolder::read_ahead_in_memory() const {
  return impl_->state.persons_read_ahead() + impl_->ids_read_ahead.size() + impl_->events_decoded_ahead.size();
}

std::string FoldStats::storage() const {
  return "storage: wrote " + std::to_string(puts) + " keys (" + std::to_string(put_bytes) +
         " bytes) in " + std::to_string(commits) + " commits; " + std::to_string(person_writes) + " of them persons (" +
         std::to_string(person_write_bytes) + " bytes), " + std::to_string(person_reads) +
         " persons read back from the store; " + std::to_string(read_ahead_taken) +
         " persons and event ids read in batches ahead of their records";
}

void PartitionFolder::prefetch(std::span<const LogRecord> records) {
  Impl& m = *impl_;
  if (m.state.read_ahead() == 0) return;  // set_read_ahead(0): nothing read ahead
  struct Wanted {
    std::string key;
    bool is_person = false;  // else an e/ key
    std::string person;
  };
  std::vector<Wanted> wanted;
  wanted.reserve(2 * records.size());
  for (const LogRecord& r : records) {
    auto ev = m.events_decoded_ahead.find(r.offset);
    if (ev == m.events_decoded_ahead.end()) {
      try {
        ev = m.events_decoded_ahead.emplace(r.offset, decode_event(r.payload, m.ctx.policy->codes())).first;
      } catch (...) {
        continue;  // apply() decodes it again and deals with it (a dead letter, or what is not poison)
      }
    }
    const Event& e = ev->second;
    std::string idkey = m.id_key(e.id());
    if (!m.batch_ids.contains(idkey) && !m.ids_read_ahead.contains(idkey))
      wanted.push_back({std::move(idkey), false, ""});
    // Only a person this partition holds (a family link reaches the relative's partition too, naming the other).
    if (const std::string* person = e.person(); person && m.ctx.owns(*person) && m.state.reads_from_store(*person))
      wanted.push_back({m.state.person_key(*person), true, *person});
  }
  std::sort(wanted.begin(), wanted.end(), [](const Wanted& a, const Wanted& b) { return a.key < b.key; });
  auto same = [](const Wanted& a, const Wanted& b) { return a.key == b.key; };
  wanted.erase(std::unique(wanted.begin(), wanted.end(), same), wanted.end());
  if (wanted.empty()) return;
  std::vector<rocksdb::Slice> keys(wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) keys[i] = wanted[i].key;
  read_sorted(m.db, keys, [&](size_t i, const rocksdb::Status& st, const rocksdb::PinnableSlice& value) {
    if (!st.ok() && !st.IsNotFound()) return;  // apply() reads it again and reports the error
    if (!wanted[i].is_person) {
      if (st.IsNotFound()) m.ids_read_ahead.emplace(std::move(wanted[i].key), std::nullopt);
      else if (value.size() == 8) {  // a damaged entry is left to apply() (folded_digest) to report
        uint64_t h;
        std::memcpy(&h, value.data(), 8);
        m.ids_read_ahead.emplace(std::move(wanted[i].key), h);
      }
    } else {
      m.state.keep_read_ahead(std::move(wanted[i].person),
                              st.IsNotFound() ? std::nullopt : std::optional<std::string>(value.ToStringView()));
    }
  });
}

void PartitionFolder::commit(FoldStats& stats, Durability durability) {
  Impl& m = *impl_;
  rocksdb::WriteOptions wo;
  wo.sync = durability == Durability::synced;
  wo.disableWAL = durability == Durability::unlogged;
  if (!wo.disableWAL) m.store.refuse_logged_write_while_unflushed("a logged commit");
  m.state.flush_into(m.batch);
  std::erase_if(m.events_decoded_ahead, [&](const auto& e) { return e.first < m.next; });  // never applied
  m.batch.Put("x/" + hex4(m.partition), std::to_string(m.next));
  m.dates.put_ordering(m.batch);
  m.months.put(m.batch);
  if (!m.anchor.empty()) m.batch.Put("a/" + hex4(m.partition), m.anchor);
  stats.puts += m.batch.Count();
  stats.person_reads += m.state.take_reads();
  stats.read_ahead_taken += m.state.take_taken_ahead() + std::exchange(m.ids_taken_ahead, 0);
  stats.person_spills += m.state.take_spills();
  const auto [person_writes, person_bytes] = m.state.take_writes();
  stats.person_writes += person_writes, stats.person_write_bytes += person_bytes;
  stats.put_bytes += m.batch.GetDataSize();
  ++stats.commits;
  rocksdb::WriteBatch sorted = puts_in_key_order(m.batch);
  check(m.db->Write(wo, &sorted), "commit fold batch", m.store.dir_);
  if (wo.disableWAL) m.store.unflushed_ = true;
  m.batch.Clear();
  m.batch_ids.clear();
  m.journal.clear();
  m.rolled_back = false;
  m.dates_committed = m.dates;
  m.months_committed = m.months;
  m.state.trim();
}

namespace {

// One Store::fold: partitions handed out to FoldOptions::threads workers, each folding whole partitions with its
// own PartitionFolder (and its own reader of the log: EventLog::reader_copy). Partitions share no key, so the
// store ends the same whatever the interleaving. Commits hold commit_mu_ shared and a checkpoint holds it
// exclusively: a checkpoint, its positions and its digest see whole batches only.
class FoldRun {
 public:
  FoldRun(Store& store, const Policy& policy, const FoldOptions& opt, int partitions)
      : store_(store), policy_(policy), opt_(opt), partitions_(partitions) {
    if (takes_checkpoints()) since_checkpoint_ = folded_since_newest_checkpoint();
  }

  // Folds the partitions in `todo` on `logs.size()` workers (logs[0] on this thread); the first failure of any
  // worker stops the others at their next record and is rethrown here.
  FoldStats run(const std::vector<EventLog*>& logs, const std::vector<int>& todo) {
    std::vector<FoldStats> stats(logs.size());
    std::vector<std::thread> others;
    auto work = [&](size_t w) {
      try {
        while (!failed_) {
          const size_t i = next_++;
          if (i >= todo.size()) break;
          partition(*logs[w], todo[i], stats[w]);
        }
      } catch (...) {
        std::lock_guard lock(mu_);
        if (!error_) error_ = std::current_exception();
        failed_ = true;
      }
    };
    try {
      for (size_t w = 1; w < logs.size(); ++w) others.emplace_back(work, w);
    } catch (...) {  // no thread to be had: the ones started stop at their next record
      std::lock_guard lock(mu_);
      error_ = std::current_exception();
      failed_ = true;
    }
    if (!failed_) work(0);
    for (auto& t : others) t.join();
    if (error_) std::rethrow_exception(error_);
    FoldStats total;
    for (const FoldStats& s : stats) total += s;
    return total;
  }

 private:
  void partition(EventLog& log, int p, FoldStats& stats) {
    const uint64_t from = store_.folded_offset(p);
    uint64_t end = log.end_offset(p);
    if (auto u = opt_.until.find(p); u != opt_.until.end()) {
      // FoldOptions::until: a store already past its target cannot be folded to it (a replay's checkpoint that
      // held more than it said): refused, never left past the target under the target's name.
      if (from > u->second)
        throw StoreError("partition " + std::to_string(p) + ": the store at " + store_.dir() + " has folded " +
                         std::to_string(from) + " records, past the target of " + std::to_string(u->second));
      end = std::min(end, u->second);
    }
    if (from >= end) return;
    PartitionFolder folder(store_, p, partitions_, policy_);
    folder.set_person_cache_bytes(opt_.person_cache_bytes);
    folder.set_max_persons_in_memory(opt_.max_persons_in_memory);
    if (opt_.apply_hook) folder.set_apply_hook(opt_.apply_hook);
    folder.set_read_ahead(opt_.read_ahead);
    // The records are applied in chunks of FoldOptions::read_ahead, each read ahead first
    // (PartitionFolder::apply_reading_ahead; read_ahead 0: one record at a time, nothing read ahead). A chunk holds
    // copies of its records' bytes; `payload` points into them once apply_chunk has taken the chunk.
    std::vector<std::string> payloads;
    std::vector<LogRecord> chunk;
    auto apply_chunk = [&] {
      std::vector<std::string> bytes = std::move(payloads);  // taken first: a record that throws leaves none behind
      std::vector<LogRecord> records = std::move(chunk);
      payloads.clear(), chunk.clear();
      for (size_t i = 0; i < records.size(); ++i) records[i].payload = bytes[i];
      auto go_on = [&] {
        if (failed_) return false;
        probe::crash_point("fold.before_apply");
        return true;
      };
      // A batch ends at FoldOptions::batch_events records, or once FoldOptions::max_persons_in_memory persons are in
      // memory (the commit frees them), or after a rollback (apply_reading_ahead).
      auto applied = [&](const LogRecord&, std::vector<Output>&) {
        ++since_checkpoint_;
        if (const uint64_t n = ++applied_; opt_.progress && n % 100000 == 0) {
          std::lock_guard lock(mu_);
          opt_.progress(n);
        }
        return folder.pending() >= opt_.batch_events || folder.persons_in_memory() >= opt_.max_persons_in_memory;
      };
      folder.apply_reading_ahead(records, stats, go_on, applied, [&] { return commit(folder, stats); });
    };
    try {
      log.read(p, from, [&](const LogRecord& r) {
        if (r.offset >= end || failed_) return false;
        payloads.emplace_back(r.payload);
        chunk.push_back(r);
        if (chunk.size() >= std::max<size_t>(opt_.read_ahead, 1)) apply_chunk();  // read_ahead 0: each record
        return !failed_;
      });
    } catch (...) {
      if (!failed_) apply_after_failed_read(p, apply_chunk);
      throw;
    }
    if (!failed_) apply_chunk();
    if (folder.pending() > 0 && !failed_) commit(folder, stats);
  }

  // The log failed to read past the records of the chunk in hand (LogError, I/O): they are applied (and whole batches
  // committed) as they would have been without read-ahead, so that the fold leaves committed what it did before; the
  // log's failure is the news, rethrown by the caller. Should applying them fail too (a StoreError: a full disk),
  // that is logged, not lost.
  void apply_after_failed_read(int p, const std::function<void()>& apply_chunk) {
    std::string why;
    try {
      apply_chunk();
      return;
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
      why = "not a std::exception";
    }
    oplog::error("partition " + std::to_string(p) + ": after the log failed to read, applying the records read " +
                 "before the failure failed too: " + why);
  }

  // After another worker failed, nothing more is committed: the store keeps what was committed before. Returns
  // whether it committed.
  bool commit(PartitionFolder& folder, FoldStats& stats) {
    if (failed_) return false;
    if (opt_.crash_before_batch && ++batches_ == *opt_.crash_before_batch) std::_Exit(137);
    {
      std::shared_lock lock(commit_mu_);
      write_probe("fold.before_commit", store_.dir());
      folder.commit(stats, Durability::unlogged);
      probe::crash_point("fold.after_commit");
    }
    if (takes_checkpoints() && since_checkpoint_ >= opt_.checkpoint_every) checkpoint();
    return true;
  }

  bool takes_checkpoints() const { return opt_.checkpoint_every && !opt_.checkpoint_dir.empty(); }

  // FoldOptions::checkpoint_every counts from the newest checkpoint, not from this run's start, so that folds of
  // fewer records each (a fold a day) still take one every checkpoint_every records: the records the store has
  // folded (its positions, over every partition) beyond those of the checkpoint with the most records among those
  // the store has reached (every position at or before the store's), or all of them when none has been reached
  // (none kept, or all of them ahead of a store rebuilt from zero beside them).
  uint64_t folded_since_newest_checkpoint() const {
    const std::map<int, uint64_t> at = store_.positions();
    uint64_t folded = 0;
    for (const auto& [p, offset] : at) folded += offset;
    uint64_t newest = 0;
    for (const CheckpointInfo& c : Store::checkpoints(opt_.checkpoint_dir)) {
      bool reached = true;
      for (const auto& [p, offset] : c.positions) reached = reached && offset <= (at.contains(p) ? at.at(p) : 0);
      if (reached) newest = std::max(newest, c.total);
    }
    return folded - std::min(folded, newest);
  }

  void checkpoint() {
    // Most of the memtables go to SST files while the workers go on committing; the checkpoint then flushes, with
    // the commits held, only what was committed since.
    if (failed_) return;
    store_.flush();
    {
      std::unique_lock lock(commit_mu_);
      if (failed_ || since_checkpoint_ < opt_.checkpoint_every) return;  // failed, or another worker has just taken it
      uint64_t total = 0;  // named by the records the store holds, as its positions.json counts them
      for (const auto& [p, offset] : store_.positions()) total += offset;
      store_.checkpoint(opt_.checkpoint_dir + "/" + hex16(total) + "-" +
                        hex16(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())));
      since_checkpoint_ = 0;
    }
    std::lock_guard lock(mu_);  // removing old ones need not stop the commits, only another worker's retention
    Store::retain_checkpoints(opt_.checkpoint_dir, opt_.checkpoints_kept);
  }

  Store& store_;
  const Policy& policy_;
  const FoldOptions& opt_;
  const int partitions_;
  std::mutex mu_;  // progress calls, error_, checkpoint retention
  std::shared_mutex commit_mu_;
  std::atomic<size_t> next_{0}, batches_{0};
  std::atomic<uint64_t> applied_{0}, since_checkpoint_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

}  // namespace

FoldStats Store::fold(EventLog& log, const Policy& policy, const FoldOptions& opt) {
  check_log(log);  // item 2: a log that disagrees with what the store folded is refused before anything is written
  if (unflushed_) flush();  // an earlier fold's flush failed: record_run below may not write before it
  if (opt.until.empty())
    for (int p = 0; p < log.partitions(); ++p) log.check_records(p, folded_offset(p));  // damage ahead: refuse now
  record_run(policy, log.partitions());  // refuses another policy before anything is written
  record_latest_dates(log);  // a format-9 store: its l/ and u/ keys from the log, before anything is folded on
  if (opt.checkpoint_every && !opt.checkpoint_dir.empty()) remove_partial_checkpoints(opt.checkpoint_dir);
  std::vector<int> todo;
  for (int p = 0; p < log.partitions(); ++p) todo.push_back(p);
  // More workers than one only over a log that can hand each its own reader (the embedded log; not Kafka).
  std::vector<std::unique_ptr<EventLog>> copies;
  std::vector<EventLog*> logs = {&log};
  for (size_t w = 1; w < std::min<size_t>(opt.threads, todo.size()); ++w) {
    copies.push_back(log.reader_copy());
    if (!copies.back()) break;
    logs.push_back(copies.back().get());
  }
  // The batches were committed unlogged: the flush makes them durable, and keeps them apart from any logged write
  // after this fold (Durability). After a failure it saves what it can; its own failure is then not the news.
  FoldStats stats;
  try {
    stats = FoldRun(*this, policy, opt, log.partitions()).run(logs, todo);
  } catch (...) {
    try {
      flush();
    } catch (...) {  // the disk takes no flush either: the store stays at its last flush, the first error is the news
    }
    throw;
  }
  flush();
  return stats;
}

std::optional<uint64_t> Store::int_property(const std::string& name) const {
  uint64_t value = 0;
  if (!db_->GetIntProperty(name, &value)) return std::nullopt;
  return value;
}

std::map<int, uint64_t> Store::positions() const {
  std::map<int, uint64_t> out;
  scan("x/", [&](const std::string& k, std::string_view v) {
    out[std::stoi(k.substr(2), nullptr, 16)] = stored_number(v, k);
  });
  return out;
}

void Store::flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  const std::map<int, uint64_t> at = positions();  // read first: what the flush below makes durable holds these
  // Cleared first: an unlogged commit made while the flush runs (another fold worker's) sets it again.
  const bool was = unflushed_.exchange(false);
  const rocksdb::Status s = db_->Flush(fo);
  if (!s.ok() && was) unflushed_ = true;
  check(s, "flush the memtables", dir_);
  record_durable(at);
}

namespace {
// `from` copied to `to` through the store's file system, its first `limit` bytes (a MANIFEST as it stood when its
// size was read) or all of it (limit: none), and synced. A file shorter than `limit`: StoreError.
void copy_synced(rocksdb::FileSystem& fs, const std::string& from, const std::string& to,
                 std::optional<uint64_t> limit) {
  const rocksdb::FileOptions fo;
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSSequentialFile> in;
  std::unique_ptr<rocksdb::FSWritableFile> out;
  check(fs.NewSequentialFile(from, fo, &in, nullptr), "checkpoint: read " + from, from);
  check(fs.NewWritableFile(to, fo, &out, nullptr), "checkpoint: write " + to, to);
  std::vector<char> buf(size_t{1} << 20);
  uint64_t left = limit.value_or(UINT64_MAX);
  while (left > 0) {
    rocksdb::Slice got;
    check(in->Read(std::min<uint64_t>(left, buf.size()), io, &got, buf.data(), nullptr), "checkpoint: read " + from,
          from);
    if (got.empty()) break;
    check(out->Append(got, io, nullptr), "checkpoint: write " + to, to);
    left -= got.size();
  }
  if (limit && left > 0)
    throw StoreError("checkpoint: " + from + " ends before byte " + std::to_string(*limit) + ", its size when listed");
  check(out->Sync(io, nullptr), "checkpoint: sync " + to, to);
  check(out->Close(io, nullptr), "checkpoint: close " + to, to);
}

// A database directory `to` of the store's live files, as rocksdb::Checkpoint::CreateCheckpoint makes one: the
// memtables flushed (GetLiveFiles), the tables and the OPTIONS file hard-linked (copied where the file system links
// none), the MANIFEST copied up to its size at that moment, then a CURRENT naming it; file deletions disabled
// throughout. Made here because RocksDB 7.8.3's CreateCheckpoint can wait forever: after its flush it lists the WAL
// files (GetSortedWalFiles), which waits until no purge of obsolete files is pending, and a purge that finds nothing
// to delete ends without waking it (facebook/rocksdb#14069, fixed upstream in 2025). Seen as a fold stuck in a
// checkpoint (ProbeWalk timed out in CI, 2026-12-04: the store's LOG ended at "File Deletions Disabled, but already
// disabled. Counter: 2"), the commits held by it. No WAL is taken: after the flush, with the commits held by the
// caller (FoldRun::checkpoint), every committed write is in the tables.
void copy_live_files(rocksdb::DB* db, const std::string& to) {
  check(db->DisableFileDeletions(), "checkpoint: disable file deletions", to);
  struct Enable {
    rocksdb::DB* db;
    ~Enable() { db->EnableFileDeletions(false).PermitUncheckedError(); }  // undoes this call's disabling only
  } enable{db};
  std::vector<std::string> live;  // "/000012.sst", "/CURRENT", "/MANIFEST-000017", "/OPTIONS-000019"
  uint64_t manifest_size = 0;
  check(db->GetLiveFiles(live, &manifest_size, true), "checkpoint: flush and list the live files", db->GetName());
  rocksdb::FileSystem& fs = *db->GetFileSystem();
  const rocksdb::IOOptions io;
  check(fs.CreateDir(to, io, nullptr), "checkpoint: create " + to, to);
  std::string manifest;
  for (const std::string& name : live) {
    const std::string from = db->GetName() + name, into = to + name;
    if (name == "/CURRENT") continue;  // written last, naming the MANIFEST copied
    if (name.starts_with("/MANIFEST-")) {
      manifest = name.substr(1);
      copy_synced(fs, from, into, manifest_size);
      continue;
    }
    const rocksdb::IOStatus linked = fs.LinkFile(from, into, io, nullptr);
    if (linked.IsNotSupported()) copy_synced(fs, from, into, std::nullopt);  // another file system
    else check(linked, "checkpoint: link " + from, to);
  }
  if (manifest.empty())
    throw StoreError("checkpoint: RocksDB listed no MANIFEST among the live files of " + db->GetName());
  std::unique_ptr<rocksdb::FSWritableFile> current;
  check(fs.NewWritableFile(to + "/CURRENT", rocksdb::FileOptions(), &current, nullptr), "checkpoint: write CURRENT",
        to);
  check(current->Append(manifest + "\n", io, nullptr), "checkpoint: write CURRENT", to);
  check(current->Sync(io, nullptr), "checkpoint: sync CURRENT", to);
  check(current->Close(io, nullptr), "checkpoint: close CURRENT", to);
  fsync_path(to);
}
}  // namespace

void Store::checkpoint(const std::string& dir_arg) const {
  const std::string dir = without_trailing_slash(dir_arg), tmp = dir + ".partial";
  if (fs::exists(dir)) throw StoreError("checkpoint: " + dir + " already exists");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write_probe("checkpoint.before_create", tmp);
    copy_live_files(db_.get(), tmp + "/db");
    probe::crash_point("checkpoint.after_create");
    json pos = json::object();
    for (auto [p, off] : positions()) pos[std::to_string(p)] = off;
    // No digest: it is a scan of the whole store, and under the commit lock it stalled every worker for a time that
    // grows with the store (issue 10: 36% of the fold's CPU at 290,000 people). Anyone who wants a checkpoint's
    // digest opens its db/ read-only and asks (the tests do).
    json meta = {{"positions", pos}, {"format", format_.load()}};  // replay_to skips formats it does not read
    write_file_synced(tmp + "/positions.json", meta.dump() + "\n");
    fsync_path(tmp);
    write_probe("checkpoint.before_rename", tmp);
    fs::rename(tmp, dir);
    fsync_path(parent_of(dir));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // a failed checkpoint leaves nothing behind (best effort: replays ignore *.partial)
    throw;
  }
}

void Store::remove_partial_checkpoints(const std::string& checkpoint_dir) {
  std::error_code ec;
  if (!fs::is_directory(checkpoint_dir, ec)) return;
  for (const auto& e : fs::directory_iterator(checkpoint_dir))
    if (e.path().filename().string().ends_with(".partial")) fs::remove_all(e.path());
}

namespace {
// positions.json of a checkpoint directory, nullopt unless complete and of this store format.
std::optional<CheckpointInfo> read_checkpoint(const fs::path& dir) {
  if (dir.filename().string().ends_with(".partial") || !fs::exists(dir / "db" / "CURRENT")) return std::nullopt;
  json j;
  try {
    j = parse_json_file(dir / "positions.json");
  } catch (const StoreError&) {
    return std::nullopt;  // missing or unreadable: not a checkpoint to replay from, as one that does not parse
  }
  if (j.is_discarded() || !j.is_object() || !j.contains("positions") || !j["positions"].is_object())
    return std::nullopt;
  // check_format would refuse a checkpoint of a format this binary does not read (none recorded: format 1).
  if (!j.contains("format") || !j["format"].is_number_integer() || !reads_format(j["format"].get<int64_t>()))
    return std::nullopt;
  CheckpointInfo c{dir.string(), {}, 0};
  for (auto& [p, off] : j["positions"].items()) {
    const bool number = !p.empty() && p.size() <= 4 && p.find_first_not_of("0123456789") == std::string::npos;
    if (!number || !off.is_number_unsigned()) return std::nullopt;
    c.positions[std::stoi(p)] = off.get<uint64_t>();
    c.total += off.get<uint64_t>();
  }
  return c;
}

// A complete checkpoint of a store format this binary does not read (reads_format: one the store was migrated from):
// never replayed from, so retention removes it (it would otherwise keep a store's worth of files that no longer
// share anything with the store).
bool of_another_format(const fs::path& dir) {
  if (dir.filename().string().ends_with(".partial") || !fs::exists(dir / "db" / "CURRENT")) return false;
  json j;
  try {
    j = parse_json_file(dir / "positions.json");
  } catch (const StoreError&) {
    return false;
  }
  if (j.is_discarded() || !j.is_object()) return false;
  return !j.contains("format") || !j["format"].is_number_integer() || !reads_format(j["format"].get<int64_t>());
}
}  // namespace

std::vector<CheckpointInfo> Store::checkpoints(const std::string& checkpoint_dir) {
  std::vector<CheckpointInfo> out;
  std::error_code ec;
  if (checkpoint_dir.empty() || !fs::is_directory(checkpoint_dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(checkpoint_dir))
    if (auto c = read_checkpoint(e.path())) out.push_back(std::move(*c));
  std::sort(out.begin(), out.end(), [](const CheckpointInfo& a, const CheckpointInfo& b) {
    return a.total != b.total ? a.total < b.total : a.path < b.path;
  });
  return out;
}

std::vector<std::string> Store::unread_checkpoints(const std::string& checkpoint_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (checkpoint_dir.empty() || !fs::is_directory(checkpoint_dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(checkpoint_dir))
    if (e.is_directory() && !e.path().filename().string().ends_with(".partial") && !read_checkpoint(e.path()))
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

size_t Store::retain_checkpoints(const std::string& checkpoint_dir, size_t kept) {
  std::vector<CheckpointInfo> all = checkpoints(checkpoint_dir);
  std::error_code ec;
  if (kept == 0 || !fs::is_directory(checkpoint_dir, ec)) return 0;
  std::vector<std::string> retire;
  for (size_t i = 0; i + kept < all.size(); ++i) retire.push_back(all[i].path);
  for (const auto& e : fs::directory_iterator(checkpoint_dir))
    if (of_another_format(e.path())) retire.push_back(e.path().string());
  for (const std::string& path : retire) {
    const std::string retired = path + ".partial";
    fs::rename(path, retired, ec);  // from here on no replay starts from it
    if (ec) io_fail(ec.value(), path);
    probe::crash_point("checkpoint.before_retire");
    fs::remove_all(retired, ec);
    if (ec) io_fail(ec.value(), retired);
  }
  if (!retire.empty()) fsync_path(checkpoint_dir);
  return retire.size();
}

void Store::outbox(int partition, uint64_t from, uint64_t to,
                   const std::function<void(uint64_t offset, const Output& out)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = "o/" + hex4(partition) + "/";
  for (it->Seek(prefix + hex16(from)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint64_t off = std::stoull(it->key().ToString().substr(prefix.size(), 16), nullptr, 16);
    if (off >= to) break;
    fn(off, stored_record(it->value().ToStringView(), it->key().ToStringView()));
  }
  check(it->status(), "read the outbox of partition " + std::to_string(partition));
}

void Store::require_latest_dates() const {
  if (format_ < 10)  // format 10 added the l/ and u/ keys
    throw StoreFormatError("the store at " + dir_ + " has format " + std::to_string(format_.load()) +
                             ", written by an earlier gongji, which did not record the latest date of each partition "
                             "of the log (the default of --as-of): give --as-of, or run `gongji fold --data-dir " +
                             parent_of(dir_) + "` (with the --brokers it was folded with), or start `serve` "
                             "again, once: it records it");
}

std::optional<Date> Store::latest_date(int partition, const Admits& known) const {
  require_latest_dates();
  const std::string prefix = latest_prefix(partition);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(prefix + "~"); it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    const std::string key = it->key().ToString();
    const std::string_view v = it->value().ToStringView();
    uint64_t offset = 0;
    auto [end, ec] = std::from_chars(key.data() + prefix.size(), key.data() + key.size(), offset, 16);
    if (v.size() != kLatestValueSize || ec != std::errc() || end != key.data() + key.size())
      throw StoreError("the store at " + dir_ + " holds a damaged latest date under " + key);
    Date date;
    int64_t ingested_ms;
    std::memcpy(&date, v.data(), 4);
    std::memcpy(&ingested_ms, v.data() + 4, 8);
    if (!known || known(offset, ingested_ms)) return date;
  }
  check(it->status(), "read the latest dates under " + prefix, dir_);
  return std::nullopt;
}

void Store::record_latest_dates(EventLog& log) {
  if (format_ != 9 || read_only_) return;
  rocksdb::WriteBatch batch;
  uint64_t records = 0;
  int partitions = 0;
  for (int p = 0; p < log.partitions(); ++p) {
    const uint64_t to = folded_offset(p);
    if (to == 0) continue;
    ++partitions;
    std::set<uint64_t> dead;  // d/<partition>/<offset>: not events of the ledger (PartitionFolder::apply)
    scan("d/" + hex4(p) + "/", [&](const std::string& key, std::string_view) {
      dead.insert(std::stoull(key.substr(7), nullptr, 16));
    });
    // As the fold fed them (PartitionFolder::Impl::note_date): every record but the dead letters, duplicates too (a
    // duplicate never raises l/: it follows its first copy, of the same date, in the same partition).
    DatesOfPartition dates;
    dates.partition = p;
    log.read(p, 0, [&](const LogRecord& r) {
      if (r.offset >= to) return false;
      if (++records % 1000000 == 0)
        oplog::info("recording the latest dates of " + dir_ + ": " + std::to_string(records) + " records read");
      if (dead.contains(r.offset)) return true;
      Date at = 0;
      try {
        at = event_date(r.payload);  // its date only: the rules of validation may have changed since it was folded
      } catch (const EventError& e) {
        throw StoreError("cannot record the latest dates of " + dir_ + ": partition " + std::to_string(p) +
                         " offset " + std::to_string(r.offset) + " is no event record (" + e.what() +
                         ") though the store folded it, not as a dead letter");
      }
      dates.add(r.offset, at, r.ingested_ms, batch);
      return true;
    });
    dates.put_ordering(batch);
  }
  batch.Put(kFormatKey, "10");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  check(db_->Write(wo, &batch), "record the latest dates of " + dir_, dir_);
  format_ = 10;
  oplog::info("migrated the store at " + dir_ + " to format 10: the latest date " +
              "of " + std::to_string(partitions) + " partitions recorded from the log (" + std::to_string(records) +
              " records read)");
  format_ = migrate_from_10(10, false);
}

int Store::migrate_from_10(int format, bool halfway) {
  if (format == 10) format = migrate_to_11();
  if (format == 11 || (format == 12 && halfway)) format = migrate_persons(12, 4);
  if (format == 12 || (format == 13 && halfway)) format = migrate_persons(13, 5);
  if (format == 13 || (format == 14 && halfway)) format = migrate_persons(14, 6);
  if (format == 14 || (format == 15 && halfway)) format = migrate_facilities();
  return format;
}

std::optional<Store::Disorder> Store::disorder(int partition) const {
  require_latest_dates();
  return stored_ordering(db_.get(), partition, dir_).second;
}

int Store::partitions() const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "n/partitions", &v);
  if (s.IsNotFound()) return 0;
  check(s, "read the partition count");
  return static_cast<int>(stored_number(v, "n/partitions"));
}

std::optional<PersonState> Store::person(const std::string& id) const {
  int n = partitions();
  if (n == 0) return std::nullopt;
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "p/" + hex4(partition_of(id, n)) + "/" + key_part(id), &v);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "read person");
  return decode_person(v);
}

std::optional<FacilityState> Store::facility(int partition, const std::string& id) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "f/" + hex4(partition) + "/" + key_part(id), &v);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "read facility");
  return decode_facility(v);
}

namespace {
// An output line parsed whole, or without its top-level "trace" (Trace::skip: the value is read, not kept). A line
// that is not JSON: StoreError naming its key.
json parse_output(std::string_view line, std::string_view key, Trace trace = Trace::keep) {
  try {
    if (trace == Trace::keep) return json::parse(line);
    return json::parse(line, [](int depth, json::parse_event_t event, json& parsed) {
      return !(depth == 1 && event == json::parse_event_t::key && parsed.is_string() &&
               parsed.get_ref<const std::string&>() == "trace");
    });
  } catch (const json::exception& e) {
    throw StoreError("the store holds a damaged output record under " + std::string(key) + ": " + e.what());
  }
}

void outputs_under(rocksdb::DB* db, const std::string& prefix, const std::function<bool(const json&)>& fn,
                   Trace trace) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    if (!fn(parse_output(output_line(it->value().ToStringView(), it->key().ToStringView()), it->key().ToStringView(),
                         trace)))
      return;
  check(it->status(), "read the output records");
}
}  // namespace

namespace {
// fn(settlement, record) for the stored output `v` under `key` (outputs_as_data); true when it is passed over.
bool output_as_data(std::string_view v, std::string_view key, const Store::OutputDataFn& fn) {
  if (is_stored_record(v)) {
    const Record r = decode_stored_record(v, key);
    return fn(nullptr, &r);
  }
  if (!v.starts_with('{')) {
    const Settlement s = decode_stored_settlement(v, key);
    return fn(&s, nullptr);
  }
  if (const std::optional<Record> r = record_from_line(v, false)) return fn(nullptr, &*r);
  const json j = parse_output(v, key);  // not JSON: StoreError naming the key
  if (!j.is_object() || !j.contains("kind") || j["kind"] != "settlement") return true;
  // A settlement line in a store of format 4 or later was put there by hand (or is one a migration has still to
  // convert): the books read what its fields say, so that an audit reports what it finds rather than stopping.
  const Settlement s = *settlement_from_line(v, false);
  return fn(&s, nullptr);
}

// The log offset in an output key o/<partition>/<offset: 16 hex digits>/<n> (`prefix_size`: of o/<partition>/).
uint64_t output_key_offset(std::string_view key, size_t prefix_size) {
  uint64_t offset = 0;
  const std::string_view hex = key.substr(std::min(prefix_size, key.size()), 16);
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), offset, 16);
  if (hex.size() != 16 || ec != std::errc() || end != hex.data() + 16 || key.size() <= prefix_size + 16 ||
      key[prefix_size + 16] != '/')
    throw StoreError("the store holds a damaged output key " + std::string(key.substr(0, 80)));
  return offset;
}

void outputs_as_data_under(rocksdb::DB* db, const std::string& prefix, const Store::OutputDataFn& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    if (!output_as_data(it->value().ToStringView(), it->key().ToStringView(), fn)) return;
  check(it->status(), "read the output records");
}
}  // namespace

void Store::outputs_as_data(const OutputDataFn& fn) const { outputs_as_data_under(db_.get(), "o/", fn); }

void Store::outputs_of_as_data(int partition, const OutputDataFn& fn) const {
  outputs_as_data_under(db_.get(), "o/" + hex4(partition) + "/", fn);
}

void Store::outputs_of_as_data(int partition, uint64_t from, const OffsetDataFn& fn) const {
  const std::string prefix = "o/" + hex4(partition) + "/";
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix + hex16(from)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    const uint64_t offset = output_key_offset(key, prefix.size());
    if (!output_as_data(it->value().ToStringView(), key,
                        [&](const Settlement* st, const Record* r) { return fn(offset, st, r); }))
      return;
  }
  check(it->status(), "read the output records of partition " + std::to_string(partition));
}

void Store::outputs(const std::function<bool(const json&)>& fn, Trace trace) const {
  outputs_under(db_.get(), "o/", fn, trace);
}

void Store::outputs_of(int partition, const std::function<bool(const json&)>& fn, Trace trace) const {
  outputs_under(db_.get(), "o/" + hex4(partition) + "/", fn, trace);
}

namespace {

// The tail of an index key under `prefix` that ends in one, checked; damage is named by the key.
std::string_view index_tail(std::string_view key, size_t prefix_size) {
  if (key.size() < prefix_size + kIndexTailSize || key[key.size() - kIndexTailSize - 1] != '/')
    throw StoreError("the store holds a damaged index key " + std::string(key.substr(0, 80)));
  return key.substr(key.size() - kIndexTailSize);
}
}  // namespace

namespace {
// The settlement a c/ index key under `prefix` names (c/<claim>/<person>/<partition>/<offset>/<n>), read.
SettlementRef indexed_settlement(rocksdb::DB* db, const std::string& key, size_t prefix_size) {
  const std::string_view tail = index_tail(key, prefix_size);
  SettlementRef ref;
  ref.partition = static_cast<int>(std::stoul(std::string(tail.substr(0, 4)), nullptr, 16));
  ref.offset = std::stoull(std::string(tail.substr(5, 16)), nullptr, 16);
  ref.key = "o/" + std::string(tail);  // (formats up to 7 also kept it as the value)
  std::string v;
  check(db->Get(rocksdb::ReadOptions(), ref.key, &v), "read settlement " + ref.key + " (index " + key + ")");
  ref.record = stored_record(v, ref.key);
  return ref;
}
}  // namespace

std::optional<SettlementRef> Store::settlement(const std::string& person, const std::string& claim) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = "c/" + key_part(claim) + "/" + key_part(person) + "/";
  it->Seek(prefix);
  check(it->status(), "read the claim index");
  if (!it->Valid() || !it->key().starts_with(prefix)) return std::nullopt;
  return indexed_settlement(db_.get(), it->key().ToString(), prefix.size());
}

std::optional<SettlementRef> Store::settled_settlement(const std::string& person, const std::string& claim) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = "c/" + key_part(claim) + "/" + key_part(person) + "/";
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    SettlementRef ref = indexed_settlement(db_.get(), it->key().ToString(), prefix.size());
    if (ref.record.settlement && ref.record.settlement->status == ClaimStatus::settled) return ref;
  }
  check(it->status(), "read the claim index");
  return std::nullopt;
}

std::vector<std::string> Store::claim_holders(const std::string& claim, size_t limit) const {
  std::vector<std::string> persons;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = "c/" + key_part(claim) + "/";
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && persons.size() < limit; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    index_tail(key, prefix.size() + 1);  // "<person>/<tail>"
    std::string person = key_part_decode(key.substr(prefix.size(), key.size() - prefix.size() - kIndexTailSize - 1));
    if (persons.empty() || persons.back() != person) persons.push_back(std::move(person));
  }
  check(it->status(), "read the claim index");
  return persons;
}

std::string Store::claim_person(const std::string& claim, const std::string& person) const {
  if (!person.empty()) return person;
  std::vector<std::string> holders = claim_holders(claim, kHoldersShown + 1);
  if (holders.empty()) throw NotFoundError("no settlement for claim " + claim);
  if (holders.size() == 1) return holders.front();
  const bool more = holders.size() > kHoldersShown;
  if (more) holders.pop_back();
  throw AmbiguousClaimError(claim, std::move(holders), more);
}

namespace {
// fn(key, stored value) for each output record naming `person`, in log order; stops when fn returns false. Two
// indexes list them (store.h, format 8): i/<person>/ the person's events, whose records naming the person are theirs,
// and r/<person>/ the others. A store of format 7 (read as it is, or migrated halfway) lists the records of the
// person's events under both: each is visited once.
void person_index(rocksdb::DB* db, const std::string& person,
                  const std::function<bool(const std::string&, std::string_view)>& fn) {
  const std::string events = "i/" + key_part(person) + "/", others = "r/" + key_part(person) + "/";
  constexpr size_t kEventTail = 4 + 1 + 16;  // "<partition>/<offset>" of an i/ key
  std::unique_ptr<rocksdb::Iterator> ev(db->NewIterator(rocksdb::ReadOptions()));
  std::unique_ptr<rocksdb::Iterator> rest(db->NewIterator(rocksdb::ReadOptions()));
  ev->Seek(events);
  rest->Seek(others);
  const auto ev_valid = [&] { return ev->Valid() && ev->key().starts_with(events); };
  const auto rest_valid = [&] { return rest->Valid() && rest->key().starts_with(others); };
  while (ev_valid() || rest_valid()) {
    const std::string_view at_rest = rest_valid() ? index_tail(rest->key().ToStringView(), others.size()) : "";
    if (ev_valid()) {
      const std::string_view key = ev->key().ToStringView();
      if (key.size() != events.size() + kEventTail)
        throw StoreError("the store holds a damaged index key " + std::string(key.substr(0, 80)));
      const std::string_view at_event = key.substr(events.size());
      if (at_rest.empty() || at_event <= at_rest.substr(0, kEventTail)) {
        // The event's records naming the person: o/<event>/00000000, 00000001, ... up to the first missing one (an
        // event has a few; point reads, which Bloom filters answer). r/ entries of the same event (format 7) are the
        // same records.
        for (uint64_t n = 0;; ++n) {
          const std::string okey = "o/" + std::string(at_event) + "/" + hex8(n);
          std::string v;
          const rocksdb::Status st = db->Get(rocksdb::ReadOptions(), okey, &v);
          if (st.IsNotFound()) break;
          check(st, "read output " + okey + " (index " + std::string(key) + ")");
          if (stored_record(v, okey).person == person && !fn(okey, v)) return;
        }
        while (rest_valid() && index_tail(rest->key().ToStringView(), others.size()).substr(0, kEventTail) == at_event)
          rest->Next();
        ev->Next();
        continue;
      }
    }
    const std::string key = "o/" + std::string(at_rest);
    std::string v;
    check(db->Get(rocksdb::ReadOptions(), key, &v), "read output " + key + " (index " + rest->key().ToString() + ")");
    if (!fn(key, v)) return;
    rest->Next();
  }
  check(ev->status(), "read the person's event index");
  check(rest->status(), "read the person index");
}
}  // namespace

void Store::person_outputs(const std::string& person, const std::function<bool(const json&)>& fn) const {
  person_index(db_.get(), person,
               [&](const std::string& key, std::string_view v) { return fn(parse_output(output_line(v, key), key)); });
}

namespace {
// fn(key, value) for each record under `prefix` (o/...) that may name `text`: one whose stored bytes hold it (a
// record in its binary form keeps every id verbatim: ledger/state_codec.cc), and every JSON line (put by hand or
// kept from a format before 4: it may escape the text), read for what it says; the others are not decoded. Stops
// when fn returns false, and says whether it did.
bool outputs_holding(rocksdb::DB* db, const std::string& prefix, const std::string& text,
                     const std::function<bool(std::string_view key, std::string_view value)>& fn) {
  const std::boyer_moore_horspool_searcher holds(text.begin(), text.end());
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view v = it->value().ToStringView();
    if (!v.starts_with('{') && std::search(v.begin(), v.end(), holds) == v.end()) continue;
    if (!fn(it->key().ToStringView(), v)) return false;
  }
  check(it->status(), "read the output records under " + prefix);
  return true;
}
}  // namespace

std::string Store::dead_letter_record(const std::string& d_key, std::string_view o_key) const {
  std::string stored;
  if (!found(db_->Get(rocksdb::ReadOptions(), o_key, &stored), "read the dead letter under " + std::string(o_key)))
    throw StoreError("the dead-letter index entry " + d_key + " of the store at " + dir_ + " names " +
                     std::string(o_key) + ", which the store does not hold");
  return stored;
}

void Store::event_outputs(const std::string& event, const std::function<bool(const json&)>& fn) const {
  std::set<int> partitions;  // in key order, as the records are read
  const int n = this->partitions();
  for (int p = 0; p < n; ++p) {
    std::string v;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), "e/" + hex4(p) + "/" + key_part(event), &v);
    if (s.ok()) partitions.insert(p);
    else if (!s.IsNotFound()) check(s, "read the index of event ids");
  }
  // A dead letter has no e/ entry, and an event applied in one partition may be a dead letter in another (a shared
  // or family event failing in one of its partitions): the partitions of the dead letters holding the id too.
  if (partitions.size() < static_cast<size_t>(n))
    scan("d/", [&](const std::string& key, std::string_view o_key) {
      int p = 0;
      const auto [end, ec] = std::from_chars(key.data() + 2, key.data() + std::min<size_t>(key.size(), 6), p, 16);
      if (key.size() < 7 || ec != std::errc() || end != key.data() + 6 || key[6] != '/')
        throw StoreError("the store holds a damaged dead-letter key " + key.substr(0, 80));
      if (partitions.contains(p)) return;
      const std::string v = dead_letter_record(key, o_key);
      if (v.find(event) != std::string::npos || v.starts_with('{')) partitions.insert(p);
    });
  for (const int p : partitions)
    if (!outputs_holding(db_.get(), "o/" + hex4(p) + "/", event, [&](std::string_view key, std::string_view v) {
          const json r = parse_output(output_line(v, key), key);
          return !(r.is_object() && r.value("event", "") == event) || fn(r);
        }))
      return;
}

std::optional<uint64_t> Store::event_locator(const std::string& person, int partition, uint64_t offset) const {
  const std::string tail = hex4(partition) + "/" + hex16(offset);
  for (const std::string& key : {"i/" + key_part(person) + "/" + tail, "g/" + tail}) {
    std::string v;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &v);
    if (s.IsNotFound()) continue;
    check(s, "read the index entry " + key);
    return decode_index_entry(v, key).locator;
  }
  return std::nullopt;
}

IndexEntry decode_index_entry(std::string_view value, std::string_view key) {
  uint64_t where[2];
  if (value.size() != sizeof where)
    throw StoreError("the store holds a damaged index entry under " + std::string(key) + ": " +
                     std::to_string(value.size()) + " bytes, not a locator and an ingestion time");
  std::memcpy(where, value.data(), sizeof where);
  return {where[0], static_cast<int64_t>(where[1])};
}

void Store::dead_letter_outputs(const std::function<bool(const Output&)>& fn) const {
  each_dead_letter([&](const std::string&, std::string_view key, const std::string& stored) {
    return fn(stored_record(stored, key));
  });
}

void Store::stored_outputs(const std::function<bool(const Output&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next())
    if (!fn(stored_record(it->value().ToStringView(), it->key().ToStringView()))) return;
  check(it->status(), "read output records");
}

void Store::person_stored_outputs(const std::string& person, const std::function<bool(const Output&)>& fn) const {
  person_index(db_.get(), person,
               [&](const std::string& key, std::string_view v) { return fn(stored_record(v, key)); });
}

void Store::person_output_refs(const std::string& person,
                               const std::function<bool(const SettlementRef&)>& fn) const {
  person_index(db_.get(), person, [&](const std::string& key, std::string_view v) {
    SettlementRef ref;  // key: o/<partition, 4 hex>/<offset, 16 hex>/<n>
    ref.partition = static_cast<int>(std::stoul(key.substr(2, 4), nullptr, 16));
    ref.offset = std::stoull(key.substr(7, 16), nullptr, 16);
    ref.key = key;
    ref.record = stored_record(v, key);
    return fn(ref);
  });
}

// Format 10 -> 11: the t/ month index, from every output record (MonthIndexOfPartition, fed as the fold feeds it),
// in batches of 10,000 puts or 8 MB written unsynced, then n/format 11 synced; the first deletes every t/ key. A
// crash midway leaves format 10 with part of the index, which the next writable open deletes and puts again whole;
// a read-only open reads format 10 by scanning. A record that does not decode stops it: StoreError naming its key
// (output_as_data). Returns 11.
int Store::migrate_to_11() {
  MigrationWrites m(db_.get(), dir_, 11);
  uint64_t records = 0, indexed = 0;
  MonthIndexOfPartition months;
  m.batch.DeleteRange("t/", "t0");  // what an interrupted migration left: put again whole below
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next()) {
    const std::string_view key = it->key().ToStringView();  // o/<partition>/<offset>/<n>
    const OutputPosition at = output_key_position(key);
    if (at.partition != months.partition) {
      months.put(m.batch);
      months = MonthIndexOfPartition();
      months.partition = at.partition;
    }
    output_as_data(it->value().ToStringView(), key, [&](const Settlement* s, const Record* r) {
      indexed += month_entry(s, r).has_value();
      months.add(at.offset, at.n, s, r, m.batch);
      return true;
    });
    if (m.batch.Count() >= 10000 || m.batch.GetDataSize() >= (size_t{8} << 20)) m.write(false);  // chunks: KBs
    if (++records % 1000000 == 0)
      oplog::info(m.what + ": " + std::to_string(records) + " output records indexed by month so far");
  }
  check(it->status(), "read the output records of " + dir_ + " to " + m.what);
  months.put(m.batch);
  m.batch.Put(kFormatKey, "11");
  m.write(true);
  oplog::info("migrated the store at " + dir_ + " to format 11: " + std::to_string(indexed) + " of " +
              std::to_string(records) + " output records indexed by month");
  return 11;
}

void Store::month_outputs_as_data(const MonthRecords& which, const OutputDataFn& fn) const {
  if (format_ < 11) {  // a store of format 4 to 10 opened read-only: no month index yet
    if (which.partition) outputs_of_as_data(*which.partition, fn);
    else outputs_as_data(fn);
    return;
  }
  const int first = which.partition.value_or(0), end = which.partition ? first + 1 : partitions();
  // The records are read with a second iterator, made after the index's: a batch puts a record with its entry, so
  // the newer view holds every record the older one's entries name. A month's records lie close together in log
  // order, so the record iterator steps forward to the next one, and seeks only past a gap (a point lookup each
  // probed the filters of every sorted run: twice the time at 10% of the city).
  std::unique_ptr<rocksdb::Iterator> entry(db_->NewIterator(rocksdb::ReadOptions()));
  std::unique_ptr<rocksdb::Iterator> record(db_->NewIterator(rocksdb::ReadOptions()));
  for (int p = first; p < end; ++p) {
    const std::string prefix = month_prefix(p, which.month), records = "o/" + hex4(p) + "/";
    for (entry->Seek(prefix); entry->Valid() && entry->key().starts_with(prefix); entry->Next()) {
      for (const MonthIndexEntry& e :
           month_index_entries(entry->key().ToStringView(), entry->value().ToStringView(), dir_)) {
        if ((e.kind == 'a' && !which.movements) || (e.kind == 's' && which.facility && e.facility != *which.facility))
          continue;
        const std::string key = records + hex16(e.offset) + "/" + hex8(e.n);
        for (int steps = 0; record->Valid() && record->key().compare(key) < 0 && steps < 16; ++steps) record->Next();
        if (!record->Valid() || record->key().compare(key) < 0) record->Seek(key);
        check(record->status(), "read " + key, dir_);
        if (!record->Valid() || record->key() != rocksdb::Slice(key))
          throw StoreError("the month index (t/) of the store at " + dir_ + " names " + key + " (under " +
                           entry->key().ToString() + "), which the store does not hold");
        if (!output_as_data(record->value().ToStringView(), key, fn)) return;
      }
    }
    check(entry->status(), "read the month index under " + prefix, dir_);
  }
}

void Store::person_outputs_as_data(const std::string& person, const OutputDataFn& fn) const {
  person_index(db_.get(), person,
               [&](const std::string& key, std::string_view v) { return output_as_data(v, key, fn); });
}

void Store::dead_letters(const std::function<void(const std::string&, const std::string&)>& fn) const {
  each_dead_letter([&](const std::string& index_key, std::string_view key, const std::string& stored) {
    fn(index_key, output_line(stored, key));
    return true;
  });
}

// A d/ entry naming a record the store does not hold is refused (StoreError naming it).
void Store::each_dead_letter(
    const std::function<bool(const std::string&, std::string_view, const std::string&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("d/"); it->Valid() && it->key().starts_with("d/"); it->Next()) {
    const std::string stored = dead_letter_record(it->key().ToString(), it->value().ToStringView());
    if (!fn(it->key().ToString(), it->value().ToStringView(), stored)) return;
  }
  check(it->status(), "read the dead letters");
}

std::optional<std::string> Store::policy_text(const std::string& version) const {
  std::string v;
  if (!found(db_->Get(rocksdb::ReadOptions(), policy_key(version), &v), "read the recorded policy " + version, dir_))
    return std::nullopt;
  return v;
}

namespace {
// xxh3-64 over (key length, key, value length, value) of every key under the given prefixes, in key order.
std::string digest_of(rocksdb::DB* db, const std::vector<std::string>& prefixes) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (const std::string& prefix : prefixes) {
    prefix.empty() ? it->SeekToFirst() : it->Seek(prefix);
    for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
      // i/, g/ and u/ values are physical (see digest()): their keys alone, as if their values were empty. Of an l/
      // value the date alone (its ingestion time is physical too).
      const bool physical = it->key().starts_with("i/") || it->key().starts_with("g/") || it->key().starts_with("u/");
      const bool latest = it->key().starts_with("l/");
      uint64_t kl = it->key().size(), vl = physical ? 0 : latest ? std::min<size_t>(it->value().size(), 4)
                                                                   : it->value().size();
      XXH3_64bits_update(st, &kl, 8);
      XXH3_64bits_update(st, it->key().data(), kl);
      XXH3_64bits_update(st, &vl, 8);
      XXH3_64bits_update(st, it->value().data(), vl);
    }
    // An iteration that stopped at a failure (a block failing its checksum) would digest a part of the store as if
    // it were whole: refused, naming the table and offset RocksDB names.
    if (!it->status().ok()) {
      XXH3_freeState(st);
      check(it->status(), "digest the keys" + (prefix.empty() ? std::string() : " under " + prefix));
    }
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return hex16(h);
}
}  // namespace

void Store::scan(const std::string& prefix,
                 const std::function<void(const std::string&, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    fn(it->key().ToString(), it->value().ToStringView());
  check(it->status(), "read the keys under " + prefix);
}

std::vector<Store::IdClash> Store::clashing_ids(int partitions) const {
  struct Cursor {
    int partition;
    std::string prefix;
    std::unique_ptr<rocksdb::Iterator> it;
    bool valid() const { return it->Valid() && it->key().starts_with(prefix); }
    std::string_view part() const { return it->key().ToStringView().substr(prefix.size()); }
  };
  const rocksdb::ReadOptions read;  // (each iterator reads as of its creation: a key a fold adds meanwhile is a
                                    //  new id, or one more copy of a digest, never a clash that is not one)
  std::vector<Cursor> cursors;
  for (int p = 0; p < partitions; ++p) {
    cursors.push_back({p, "e/" + hex4(p) + "/", std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(read))});
    cursors.back().it->Seek(cursors.back().prefix);
  }
  std::vector<IdClash> clashes;
  for (;;) {
    std::optional<std::string> least;  // the least id part any partition is at: each partition's keys are sorted
    for (const Cursor& c : cursors)
      if (c.valid() && (!least || c.part() < *least)) least = std::string(c.part());
    if (!least) break;
    IdClash at{key_part_decode(*least), {}};
    for (Cursor& c : cursors)
      if (c.valid() && c.part() == *least) {
        uint64_t digest = 0;
        std::memcpy(&digest, c.it->value().data(), std::min<size_t>(8, c.it->value().size()));
        at.folded.emplace_back(c.partition, digest);
        c.it->Next();
      }
    const auto differs = [&](const auto& f) { return f.second != at.folded.front().second; };
    if (std::any_of(at.folded.begin(), at.folded.end(), differs)) clashes.push_back(std::move(at));
  }
  for (const Cursor& c : cursors) check(c.it->status(), "read the event ids under " + c.prefix);
  return clashes;
}

std::string Store::partition_digest(int partition) const {
  std::vector<std::string> prefixes;
  for (const char* kind : {"d/", "e/", "f/", "l/", "m/", "o/", "p/", "t/", "w/", "x/"})
    prefixes.push_back(kind + hex4(partition));
  return digest_of(db_.get(), prefixes);
}

std::string Store::digest() const { return digest_of(db_.get(), {""}); }

}  // namespace gongji
