#include "projections/store.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <rocksdb/cache.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <xxhash.h>

#include "events/fb_codec.h"
#include "events/partition.h"
#include "ledger/state_codec.h"

namespace gongji {

using nlohmann::json;

std::string hex4(int v) {
  char b[8];
  std::snprintf(b, sizeof b, "%04x", v);
  return b;
}
std::string hex8(uint64_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "%08llx", static_cast<unsigned long long>(v));
  return b;
}
std::string hex16(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

namespace {

void check(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) throw StoreError(what + ": " + s.ToString());
}

// StateAccess over RocksDB for one partition: reads through a cache, collects what changed.
class PartitionState final : public StateAccess {
 public:
  PartitionState(rocksdb::DB* db, int partition) : db_(db), partition_(partition) {
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), "m/" + hex4(partition_), &v);
    if (s.ok()) meta_ = json::parse(v).get<PartitionMeta>();
  }

  PersonState* person(const std::string& id) override {
    auto it = persons_.find(id);
    if (it != persons_.end()) return it->second ? &*it->second : nullptr;
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), person_key(id), &v);
    if (s.IsNotFound()) {
      persons_[id] = std::nullopt;
      return nullptr;
    }
    check(s, "read person " + id);
    return &*(persons_[id] = decode_person(v));
  }
  void for_each_person(const std::function<void(PersonState&)>& fn) override {
    std::set<std::string> ids;
    const std::string prefix = "p/" + hex4(partition_) + "/";
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
      ids.insert(it->key().ToString().substr(prefix.size()));
    for (const auto& [id, p] : persons_)
      if (p) ids.insert(id);
    for (const auto& id : ids) fn(*person(id));
  }
  PersonState& create_person(const std::string& id) override {
    auto& slot = persons_[id];
    slot = PersonState{};
    slot->id = id;
    dirty_persons_.insert(id);
    return *slot;
  }
  FacilityState* facility(const std::string& id) override {
    auto it = facilities_.find(id);
    if (it != facilities_.end()) return it->second ? &*it->second : nullptr;
    std::string v;
    auto s = db_->Get(rocksdb::ReadOptions(), "f/" + hex4(partition_) + "/" + id, &v);
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
  void touch_person(const std::string& id) override { dirty_persons_.insert(id); }
  void touch_facility(const std::string& id) override { dirty_facilities_.insert(id); }
  void touch_meta() override { meta_dirty_ = true; }

  // Moves what changed into the batch; the cache stays warm.
  void flush_into(rocksdb::WriteBatch& b) {
    for (const auto& id : dirty_persons_) b.Put(person_key(id), encode_person(*persons_.at(id)));
    for (const auto& id : dirty_facilities_) b.Put("f/" + hex4(partition_) + "/" + id, encode_facility(*facilities_.at(id)));
    if (meta_dirty_) b.Put("m/" + hex4(partition_), json(meta_).dump());
    dirty_persons_.clear();
    dirty_facilities_.clear();
    meta_dirty_ = false;
  }
  // Bounds memory: forgets clean cached persons once there are many.
  void trim(size_t max_persons) {
    if (persons_.size() > max_persons && dirty_persons_.empty()) persons_.clear();
  }

 private:
  std::string person_key(const std::string& id) const { return "p/" + hex4(partition_) + "/" + id; }

  rocksdb::DB* db_;
  int partition_;
  std::unordered_map<std::string, std::optional<PersonState>> persons_;
  std::unordered_map<std::string, std::optional<FacilityState>> facilities_;
  std::unordered_set<std::string> dirty_persons_, dirty_facilities_;
  PartitionMeta meta_;
  bool meta_dirty_ = false;
};

}  // namespace

Store::Store(const std::string& dir, bool read_only) {
  if (!read_only) std::filesystem::create_directories(dir);
  rocksdb::Options opt;
  opt.create_if_missing = true;
  opt.IncreaseParallelism(2);
  // Most fold lookups miss (a new event id, a person's first event): Bloom filters answer those from memory.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(256 << 20);
  opt.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  opt.memtable_whole_key_filtering = true;
  opt.memtable_prefix_bloom_size_ratio = 0.05;
  rocksdb::DB* db = nullptr;
  if (read_only) check(rocksdb::DB::OpenForReadOnly(opt, dir, &db), "open projections at " + dir);
  else check(rocksdb::DB::Open(opt, dir, &db), "open projections at " + dir);
  db_.reset(db);
}

Store::~Store() = default;

uint64_t Store::folded_offset(int partition) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "x/" + hex4(partition), &v);
  if (s.IsNotFound()) return 0;
  check(s, "read fold position");
  return std::stoull(v);
}

void Store::record_run(const Policy& policy, int partitions) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  std::string have;
  if (!db_->Get(rocksdb::ReadOptions(), "v/" + policy.version(), &have).ok())
    check(db_->Put(wo, "v/" + policy.version(), policy.text()), "record policy version");
  if (!db_->Get(rocksdb::ReadOptions(), "n/partitions", &have).ok())
    check(db_->Put(wo, "n/partitions", std::to_string(partitions)), "record partition count");
}

struct PartitionFolder::Impl {
  Store& store;
  rocksdb::DB* db;
  int partition;
  PartitionState state;
  FoldContext ctx;
  rocksdb::WriteBatch batch;
  std::unordered_map<std::string, uint64_t> batch_ids;  // ids put in this batch (a WriteBatch is not readable)
  uint64_t next;
  size_t pending = 0;
  Impl(Store& s, rocksdb::DB* d, int p, int partitions, const Policy& policy)
      : store(s), db(d), partition(p), state(d, p), ctx{&policy, p, partitions, p == 0}, next(s.folded_offset(p)) {}
};

PartitionFolder::PartitionFolder(Store& store, int partition, int partitions, const Policy& policy)
    : impl_(std::make_unique<Impl>(store, store.db_.get(), partition, partitions, policy)) {}
PartitionFolder::~PartitionFolder() = default;
uint64_t PartitionFolder::next_offset() const { return impl_->next; }
size_t PartitionFolder::pending() const { return impl_->pending; }

std::vector<Output> PartitionFolder::apply(const LogRecord& r, FoldStats& stats) {
  Impl& m = *impl_;
  const int p = m.partition;
  const std::string at = hex4(p) + "/" + hex16(r.offset);
  std::vector<Output> outs;
  try {
    Event e = decode_event(r.payload);
    // EVENTS.md: an id already folded is a no-op with the same content and ID_CONFLICT with other content,
    // decided here so that every path into the log (ingest, a producer writing to Kafka) agrees.
    std::string idkey = "e/" + hex4(p) + "/" + e.id;
    uint64_t h = event_digest(e);
    std::optional<uint64_t> seen;
    if (auto it = m.batch_ids.find(idkey); it != m.batch_ids.end()) seen = it->second;
    else if (std::string v; m.db->Get(rocksdb::ReadOptions(), idkey, &v).ok() && v.size() == 8)
      seen = *reinterpret_cast<const uint64_t*>(v.data());
    if (seen && *seen != h) throw EventError("id", "ID_CONFLICT: event id " + e.id + " was folded with other content");
    if (!seen) {
      m.batch_ids[idkey] = h;
      m.batch.Put(idkey, std::string_view(reinterpret_cast<const char*>(&h), 8));
      outs = apply_event(e, m.state, m.ctx);
      // The per-person index of log positions (and the partition's shared events), for point-in-time
      // reconstruction without scanning the log (POLICY.md TIME-REPLAY).
      uint64_t where[2] = {r.locator, static_cast<uint64_t>(r.ingested_ms)};
      std::string_view loc(reinterpret_cast<const char*>(where), sizeof where);
      if (e.is_global()) {
        m.batch.Put("g/" + at, loc);
      } else {
        m.batch.Put("i/" + *e.person + "/" + at, loc);
        if (e.type == EventType::family_linked && m.ctx.owns(*e.relative)) m.batch.Put("i/" + *e.relative + "/" + at, loc);
      }
    }
  } catch (const EventError& err) {
    // TIME-LOG: a record that does not decode or validate has no effect and goes to the dead letters.
    std::string line = json({{"kind", "dead_letter"}, {"partition", p}, {"offset", r.offset}, {"reason", err.what()}}).dump();
    m.batch.Put("d/" + at, line);
    ++stats.dead_letters;
    outs.clear();
    outs.push_back({"dead_letter", "", line});
    m.next = r.offset + 1;
    ++m.pending;
    ++stats.events;
    return outs;  // not stored as an output record: dead letters have their own keys
  }
  for (size_t n = 0; n < outs.size(); ++n) {
    std::string key = "o/" + at + "/" + hex8(n);
    m.batch.Put(key, outs[n].line);
    if (outs[n].kind == "settlement") m.batch.Put("c/" + outs[n].claim + "/" + at + "/" + hex8(n), key);
  }
  stats.outputs += outs.size();
  ++stats.events;
  m.next = r.offset + 1;
  ++m.pending;
  return outs;
}

void PartitionFolder::commit(FoldStats& stats) {
  Impl& m = *impl_;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  m.state.flush_into(m.batch);
  m.batch.Put("x/" + hex4(m.partition), std::to_string(m.next));
  stats.puts += m.batch.Count();
  stats.put_bytes += m.batch.GetDataSize();
  ++stats.commits;
  check(m.db->Write(wo, &m.batch), "commit fold batch");
  m.batch.Clear();
  m.batch_ids.clear();
  m.pending = 0;
  m.state.trim(200000);
}

FoldStats Store::fold(EventLog& log, const Policy& policy, const FoldOptions& opt) {
  FoldStats stats;
  size_t batches = 0;
  uint64_t since_checkpoint = 0, since_progress = 0;
  record_run(policy, log.partitions());
  for (int p = 0; p < log.partitions(); ++p) {
    const uint64_t from = folded_offset(p);
    uint64_t end = log.end_offset(p);
    if (auto u = opt.until.find(p); u != opt.until.end()) end = std::min(end, u->second);
    if (from >= end) continue;
    PartitionFolder folder(*this, p, log.partitions(), policy);
    auto commit = [&] {
      if (opt.crash_before_batch && ++batches == *opt.crash_before_batch) std::_Exit(137);
      folder.commit(stats);
      if (opt.checkpoint_every && since_checkpoint >= opt.checkpoint_every) {
        checkpoint(opt.checkpoint_dir + "/" + hex16(stats.events) + "-" + hex16(static_cast<uint64_t>(
                                                  std::chrono::steady_clock::now().time_since_epoch().count())));
        since_checkpoint = 0;
      }
    };
    log.read(p, from, [&](const LogRecord& r) {
      if (r.offset >= end) return false;
      folder.apply(r, stats);
      ++since_checkpoint;
      if (opt.progress && ++since_progress >= 100000) opt.progress(stats.events), since_progress = 0;
      if (folder.pending() >= opt.batch_events) commit();
      return true;
    });
    if (folder.pending() > 0) commit();
  }
  return stats;
}

std::map<int, uint64_t> Store::positions() const {
  std::map<int, uint64_t> out;
  scan("x/", [&](const std::string& k, std::string_view v) { out[std::stoi(k.substr(2), nullptr, 16)] = std::stoull(std::string(v)); });
  return out;
}

void Store::checkpoint(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  rocksdb::Checkpoint* cp = nullptr;
  check(rocksdb::Checkpoint::Create(db_.get(), &cp), "checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> owned(cp);
  check(cp->CreateCheckpoint(dir + "/db"), "checkpoint into " + dir);
  json pos = json::object();
  for (auto [p, off] : positions()) pos[std::to_string(p)] = off;
  std::ofstream(dir + "/positions.json") << json({{"positions", pos}, {"digest", digest()}}).dump() << "\n";
}

void Store::outbox(int partition, uint64_t from, uint64_t to,
                   const std::function<void(uint64_t offset, const std::string& line)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = "o/" + hex4(partition) + "/";
  for (it->Seek(prefix + hex16(from)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint64_t off = std::stoull(it->key().ToString().substr(prefix.size(), 16), nullptr, 16);
    if (off >= to) break;
    fn(off, it->value().ToString());
  }
}

int Store::partitions() const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), "n/partitions", &v).ok()) return 0;
  return std::stoi(v);
}

std::optional<PersonState> Store::person(const std::string& id) const {
  int n = partitions();
  if (n == 0) return std::nullopt;
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "p/" + hex4(partition_of(id, n)) + "/" + id, &v);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "read person");
  return decode_person(v);
}

std::optional<FacilityState> Store::facility(int partition, const std::string& id) const {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), "f/" + hex4(partition) + "/" + id, &v);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "read facility");
  return decode_facility(v);
}

void Store::outputs(const std::function<bool(const json&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next())
    if (!fn(json::parse(it->value().ToStringView()))) return;
}

std::optional<json> Store::settlement(const std::string& claim) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::string prefix = "c/" + claim + "/";
  it->Seek(prefix);
  if (!it->Valid() || !it->key().starts_with(prefix)) return std::nullopt;
  std::string v;
  check(db_->Get(rocksdb::ReadOptions(), it->value(), &v), "read settlement");
  return json::parse(v);
}

void Store::dead_letters(const std::function<void(const std::string&, const std::string&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("d/"); it->Valid() && it->key().starts_with("d/"); it->Next())
    fn(it->key().ToString(), it->value().ToString());
}

void Store::dead_letters_between(int partition, uint64_t from, uint64_t to,
                                 const std::function<void(uint64_t, const std::string&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = "d/" + hex4(partition) + "/";
  for (it->Seek(prefix + hex16(from)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint64_t off = std::stoull(it->key().ToString().substr(prefix.size(), 16), nullptr, 16);
    if (off >= to) break;
    fn(off, it->value().ToString());
  }
}

std::optional<std::string> Store::policy_text(const std::string& version) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), "v/" + version, &v).ok()) return std::nullopt;
  return v;
}

namespace {
// xxh3-64 over (key length, key, value length, value) of every key under the given prefixes, in key order.
std::string digest_of(rocksdb::DB* db, const std::vector<std::string>& prefixes) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (const std::string& prefix : prefixes) {
    for (prefix.empty() ? it->SeekToFirst() : it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().starts_with("i/") || it->key().starts_with("g/")) continue;  // physical: see digest()
      uint64_t kl = it->key().size(), vl = it->value().size();
      XXH3_64bits_update(st, &kl, 8);
      XXH3_64bits_update(st, it->key().data(), kl);
      XXH3_64bits_update(st, &vl, 8);
      XXH3_64bits_update(st, it->value().data(), vl);
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
}

std::string Store::partition_digest(int partition) const {
  std::vector<std::string> prefixes;
  for (const char* kind : {"d/", "e/", "f/", "m/", "o/", "p/", "x/"}) prefixes.push_back(kind + hex4(partition));
  return digest_of(db_.get(), prefixes);
}

std::string Store::digest() const { return digest_of(db_.get(), {""}); }

}  // namespace gongji
