// The RocksDB projections and the fold driver.
//
// Key layout (one column family; every key below is part of the determinism digest):
//   p/<partition>/<person>                  PersonState (ledger/state_codec.h)
//   f/<partition>/<facility>                FacilityState as that partition knows it (TIME-LOG; state_codec.h)
//   m/<partition>                           PartitionMeta
//   x/<partition>                           next log offset to fold
//   n/partitions                            the log's partition count
//   o/<partition>/<offset>/<n>              output record n of the event at that offset (JSON Lines form)
//   c/<claim>/<partition>/<offset>/<n>      claim index -> the output key of its settlement
//   d/<partition>/<offset>                  a log record the fold could not decode, with the reason
//   i/<person>/<partition>/<offset>          the person's events: locator + ingestion time (16 bytes)
//   g/<partition>/<offset>                   the partition's shared events (facilities, period_closed), likewise
//   e/<partition>/<event id>                xxh3 of the event's encoding: duplicates are no-ops, others ID_CONFLICT
//   v/<policy_version>                      the text of every policy version the fold has used
// <partition> is 4 hex digits, <offset> 16 and <n> 8, so lexicographic order is log order.
//
// Contract: fold() commits each batch's state changes, outputs and log position in one WriteBatch; a crash at
// any point leaves a store equal to one that folded a prefix of the log, and the next fold() continues from
// there with nothing lost or applied twice.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "events/event_log.h"
#include "ledger/ledger.h"

namespace rocksdb {
class DB;
}

namespace gongji {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct FoldOptions {
  size_t batch_events = 2000;      // events per committed WriteBatch
  // Fault-injection probe for crash tests: exit(137) right before committing batch number N (1-based).
  std::optional<size_t> crash_before_batch;
  // Stop each partition before these offsets (a partition not named: its end). For replays to a known-at point.
  std::map<int, uint64_t> until;
  // Keep a RocksDB checkpoint under this directory every `checkpoint_every` folded events ("" or 0: none), so
  // that a replay to a late point starts from the nearest one (replay/replay.h).
  std::string checkpoint_dir;
  size_t checkpoint_every = 0;
  // Called now and then with the events folded so far (progress on long runs).
  std::function<void(uint64_t events)> progress;
};

struct FoldStats {
  uint64_t events = 0, outputs = 0, dead_letters = 0;
  uint64_t puts = 0, put_bytes = 0, commits = 0;  // what the fold wrote (keys + values), for the benchmark
};

class PartitionFolder;

class Store {
 public:
  // read_only: for queries while another process folds (no lock taken; sees what was committed at open).
  explicit Store(const std::string& dir, bool read_only = false);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Folds every partition of the log from its folded offset to its end.
  FoldStats fold(EventLog& log, const Policy& policy, const FoldOptions& opt = {});
  // Records the policy version used and the partition count (once); fold() and `serve` call it first.
  void record_run(const Policy& policy, int partitions);
  // The outbox: output lines of `partition` for log offsets in [from, to), in order.
  void outbox(int partition, uint64_t from, uint64_t to,
              const std::function<void(uint64_t offset, const std::string& line)>& fn) const;
  uint64_t folded_offset(int partition) const;

  std::optional<PersonState> person(const std::string& id) const;
  int partitions() const;  // 0 before the first fold
  std::optional<FacilityState> facility(int partition, const std::string& id) const;
  // Output records in log order (partition, then offset); stops when fn returns false.
  void outputs(const std::function<bool(const nlohmann::json&)>& fn) const;
  std::optional<nlohmann::json> settlement(const std::string& claim) const;
  void dead_letters(const std::function<void(const std::string& key, const std::string& value)>& fn) const;
  // Dead letters of one partition for log offsets in [from, to).
  void dead_letters_between(int partition, uint64_t from, uint64_t to,
                            const std::function<void(uint64_t offset, const std::string& value)>& fn) const;
  std::optional<std::string> policy_text(const std::string& version) const;

  // Every key under a prefix, in key order.
  void scan(const std::string& prefix, const std::function<void(const std::string& key, std::string_view value)>& fn) const;
  // xxh3-64 over every key and value, in key order: equal logical content <=> equal digest. The per-person
  // index (i/, g/) is left out: it holds physical pointers into the log (file positions, ingestion times) that
  // differ between the embedded log and Kafka for the same events; the replay tests check it instead.
  std::string digest() const;
  // The same over the keys of one partition (persons, facilities, meta, position, outputs, dead letters, ids).
  std::string partition_digest(int partition) const;
  // The fold's position per partition (x/ keys).
  std::map<int, uint64_t> positions() const;
  // A RocksDB checkpoint of the store (hard links) into `dir`, with positions.json naming its positions and digest.
  void checkpoint(const std::string& dir) const;
  // Low-level access for tests that tamper with the store.
  rocksdb::DB* db() { return db_.get(); }

 private:
  friend class PartitionFolder;
  std::unique_ptr<rocksdb::DB> db_;
};

// Folds one partition's records one at a time; commit() writes the state changes, outputs and the position in
// one WriteBatch. Used by Store::fold and by `gongji serve` (which publishes the returned outputs).
class PartitionFolder {
 public:
  PartitionFolder(Store& store, int partition, int partitions, const Policy& policy);
  ~PartitionFolder();
  // Applies the record at `r.offset` (which must be next_offset() or later); returns its output records (a record
  // the fold cannot use yields one "dead_letter" output, stored under d/ rather than o/).
  std::vector<Output> apply(const LogRecord& r, FoldStats& stats);
  void commit(FoldStats& stats);
  uint64_t next_offset() const;  // the offset after the last applied record
  size_t pending() const;        // records applied since the last commit

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string hex4(int v);
std::string hex8(uint64_t v);
std::string hex16(uint64_t v);

}  // namespace gongji
