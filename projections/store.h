// The RocksDB projections and the fold driver.
//
// Key layout (one column family; every key below is part of the determinism digest):
//   n/format                                the store format, kStoreFormat below, put by the first record_run();
//                                           a store that holds keys but not this one is format 1
//   p/<partition>/<person>                  PersonState (ledger/state_codec.h)
//   w/<partition>/<person>                  empty: a person has_monthly_work() holds for (ledger/ledger.h), the ones
//                                           a close of January..November visits; put with the person, never removed
//   f/<partition>/<facility>                FacilityState as that partition knows it (TIME-LOG; state_codec.h)
//   m/<partition>                           PartitionMeta (ledger/state_codec.h encode_meta)
//   x/<partition>                           next log offset to fold
//   a/<partition>                           anchor: "<offset>:<xxh3 of its bytes>" of the last folded record
//   n/partitions                            the log's partition count
//   o/<partition>/<offset>/<n>              output record n of the event at that offset in its binary form: a
//                                           settlement (encode_settlement, ledger/state_codec.h) or another kind
//                                           (encode_record); a JSON line only where put by hand or not yet migrated;
//                                           output_line() below gives the line of any. A dead letter is the only one
//                                           of its offset (PartitionFolder below)
//   c/<claim>/<person>/<partition>/<offset>/<n>
//                                           claim index of a settlement of that person's claim, empty value: its
//                                           o/ key is o/<partition>/<offset>/<n> (EVENTS.md: a claim is its person
//                                           and its claim id; the first is the claim's own, any later one a
//                                           DUPLICATE_CLAIM rejection); c/<claim>/ lists the persons holding that
//                                           claim id. (Formats up to 7 kept the o/ key as the value.)
//   r/<person>/<partition>/<offset>/<n>     the person's output records that the person's i/ index does not reach:
//                                           records naming the person of an event the i/ index does not list for
//                                           the person (shared events such as period_closed, dead letters, a
//                                           record naming someone else than the event's persons); empty value, the
//                                           o/ key is o/<partition>/<offset>/<n>. The records naming a person of an
//                                           event listed under i/<person>/ are found there (Store::person_outputs).
//                                           (Formats up to 7 listed every record naming the person here.)
//   d/<partition>/<offset>                  index of dead letters: the o/ key of the record's dead_letter output
//   t/<partition>/<YYYY-MM>/<block>         the month index of the month views (service/queries.h): the records of
//                                           log offsets <block> to <block> + 1023 (16 hex digits; 1024 = kMonthBlock
//                                           in store.cc) that a month view counts in that month: settlements (by date
//                                           of service), reversals (by their claim's date) and account movements (by
//                                           date). The value: each record in log order as varint(offset - <block>),
//                                           varint(<n>), its kind ('s', 'r', 'a') and, of a settlement,
//                                           varint(size) and its facility (Store::month_outputs_as_data)
//   i/<person>/<partition>/<offset>          the person's events: locator + ingestion time (16 bytes)
//   g/<partition>/<offset>                   the partition's shared events (facilities, period_closed), likewise
//   e/<partition>/<event id>                xxh3 of the event's encoding: duplicates are no-ops, others ID_CONFLICT
//   l/<partition>/<offset>                  the partition's latest date rose at that event (POLICY.md TIME-ASOF:
//                                           the default --as-of): its date (4 bytes) and ingestion time (8 bytes,
//                                           physical like i/ values: left out of the digest); Store::latest_date
//   u/<partition>                           the latest ingestion time of the events folded there and their
//                                           Store::Disorder (8 + 24 bytes): physical, left out of the digest
//   v/<policy_version>                      the text of every policy version the fold has used
// <partition> is 4 hex digits, <offset> 16 and <n> 8, so lexicographic order is log order. Every raw id in a key
// (<person>, <facility>, <claim>, <event id>, <policy_version>) is key_part(id): '%' and '/' percent-escaped, so
// that no id runs into the next field ("c/" + key_part(claim) + "/" is exactly that claim id's range).
//
// Contract: fold() commits each batch's state changes, outputs and log position in one WriteBatch; a crash at
// any point leaves a store equal to one that folded a prefix of the log, and the next fold() continues from
// there with nothing lost or applied twice. (fold()'s batches bypass RocksDB's WAL: that prefix is what the last
// memtable flush held, Durability::unlogged below; serve's are in the WAL, synced before they are published.)
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "log/event_log.h"
#include "ledger/ledger.h"

namespace rocksdb {
class DB;
class Env;
class FileSystem;
struct Options;
class WriteBatch;
}

namespace gongji {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The person, claim or record asked for is not in the store (the command line's exit_code::kNotFound).
struct NotFoundError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Holds the lock of the store at `dir` (RocksDB's LOCK file, which a process opening the store for writing takes for
// as long as it has it open: a fold, `serve`) without opening the store, so that nothing changes in it: no migration,
// no new store. While held, no process opens the store for writing. Throws StoreError naming the store when another
// open holds it, or when it cannot be taken.
class StoreLock {
 public:
  explicit StoreLock(const std::string& dir);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  void* lock_ = nullptr;  // rocksdb::FileLock
};

// The store's format, recorded under n/format when a store is created. Raise it with any change to the key layout
// above or to a stored value that an older binary would misread, and handle the older format in Store::check_format
// (store.cc), the one place that reads n/format: migrate it there, or let it refuse. Formats:
//   1  (no n/format) until issue 9: c/<claim>/<partition>/..., no r/ index, raw ids in keys, no a/ anchors
//   2  issue 9: claims keyed by person, r/ index, key_part() ids, a/ anchors
//   3  issue 10: the w/ index of the monthly close
//   4  issue 10: settlements kept as data (o/ above)
//   5  issues 9 and 10: each trace step kept as its rule, saying and values (settlement format 2, ledger/trace.h)
//   6  issues 9 and 10: the other output kinds kept as data too (encode_record), not as JSON lines
//   7  issue 9: the partition meta (m/) kept as data (encode_meta), not as a JSON object
//   8  issue 10: fewer and smaller puts per event: r/ only where i/ does not reach, c/ with empty values, persons
//      in person format 2 (ledger/state_codec.h)
//   9  issue 10: persons in person format 3 (codes by index, dates as differences; about 44% smaller)
//  10  the l/ index of each partition's latest date (TIME-ASOF's default --as-of) and u/. Unlike the steps before,
//      it is built from the log, not from the store: a writable open leaves a format-9 store at 9, and Store::fold and
//      `serve` (record_latest_dates) build it from the log they fold before folding on; until then a read-only
//      open reads format 9 as it is, but has no default --as-of (Store::latest_date refuses, saying what to run)
//  11  the t/ month index (issue 10: a month view read every output record of the store, 3 to 4 s at 10% of the
//      city). A writable open of format 10 builds it from the o/ records (Store::migrate_to_11), as does
//      record_latest_dates after building format 10; a read-only open reads formats 9 and 10 as they are, their month
//      views from every output record
//  12  persons in person format 4: the dates of inpatient admissions and discharges, not stays paired in log order
//      (ORD-INPT; Store::migrate_persons re-encodes every person at a writable open of format 11, and after
//      record_latest_dates has built 11); a read-only open reads format 11's persons as they are
//  13  persons in person format 5: each standing entry says whether a retirement_confirmed made it (P-CHANGE,
//      TIME-DATED: a change of scheme logged later and dated before a retirement ends it for a resident;
//      Store::migrate_persons re-encodes every person at a writable open of format 12, an entry of theirs read as a
//      retirement's by its shape: state_codec.h); a read-only open reads format 12's persons as they are
//  14  persons in person format 6: an effect's scheme period is known by its first day and the place of the standing
//      entry that began it among that day's (ORD-TYPE: a change of scheme and a change back on one day begin two
//      periods, which formats up to 13 took for one); Store::migrate_persons re-encodes every person at a writable
//      open of format 13, each of its periods read as the period in force on its day, as it was folded (README); a
//      read-only open reads format 13's persons so
//  15  facilities in facility format 2: each version says which fields its event set (TIME-DATED: an update logged
//      after a later-dated one reaches it; state.h FacilityVersion::set); Store::migrate_facilities re-encodes every
//      facility at a writable open of format 14, each version's fields read as those that differ from the version
//      before (state_codec.h); a read-only open reads format 14's facilities so
// A writable open migrates formats 2 to 8 in place (Store::migrate_2_to_3, then migrate_outputs to 6, then
// migrate_meta to 7, then migrate_to_8, then migrate_persons to 9; then a fold's record_latest_dates to 10, then
// migrate_to_11, migrate_persons to 12, 13 and 14 and migrate_facilities to 15; a format-10 store migrate_to_11 at
// its open, 11, 12 and 13 migrate_persons, 14 migrate_facilities); a read-only one refuses 2 and 3, saying to run a
// fold once, and reads 4 to 15 as they are
// (settlement format 1 is still decoded, to the same steps, JSON lines and JSON metas are still read, a c/ value is
// not read, a record both indexes list is read once, persons of formats 1 to 5 and facilities of format 1 are
// decoded), as replays read
// their checkpoints (a replay's copy is opened writable, so it is migrated).
inline constexpr int kStoreFormat = 15;
// Whether this binary reads a store (or checkpoint) of `format` without migrating it first.
constexpr bool reads_format(int64_t format) { return format >= 4 && format <= kStoreFormat; }

// The positions a store had made durable: `{"positions":{"<partition>":<next offset>,...}}`, in this file of the
// store's directory, written (synced, then renamed into place) after each flush() and sync() with the positions read
// before them. Why: RocksDB reads a MANIFEST cut short (a torn last record, or several) as a crash during its write,
// and opens the store as it stood before those edits, with no error: a store folded and flushed, its MANIFEST cut,
// read as holding half its records, or none (`settlements`, `report` and `digest` answering from it, exit 0; a
// fold then folding them again). Contract: every open (writable, read-only, secondary) reads the file first, then
// the store; a partition the store holds folded to less than the file says is refused (StoreError naming the
// partition, both positions and the file), whatever is asked (a read-only or secondary open beside a writer after
// up to kOpenAttempts tries: Store's constructor). No file (a store before it, a checkpoint's copy, a
// crash before the first flush): nothing to check. The file lags the store (a crash after a flush, commits synced
// by other means), never leads it.
inline constexpr const char* kDurableFile = "gongji-positions.json";

// The RocksDB options every store opens with (table, Bloom filters, block cache, parallelism, LZ4, memtable sizes,
// universal compaction, pipelined writes), also for benchmarks that compare the fold with raw RocksDB
// (ops/bench/fold_bench.cc).
rocksdb::Options store_db_options();

// The puts of a plain `batch` (puts into the default column family, nothing else) in key order, a key put more than
// once keeping its puts in batch order (a stable sort), so a store ends exactly as with `batch` (RocksDB gives each
// entry of a batch the next sequence number). A batch holding anything else (deletes, merges, log data, other column
// families) is returned as it is; save points are not carried over. Every commit of the fold writes its batch so,
// and the raw side of ops/bench/fold_bench.cc likewise: a fold batch puts keys all over the key space (e/ by event
// id, i/, r/ and p/ by person, c/ by claim), and inserted in key order each insert into the memtable's skip list
// starts near where the previous one of its prefix went (store_db_options' insert hint) rather than from its top.
rocksdb::WriteBatch puts_in_key_order(const rocksdb::WriteBatch& batch);

// A secondary's store directory is no longer the store it opened: moved aside and folded anew (README: a rebuild),
// or a copy put in its place (another directory, or another RocksDB identity). Its files still open are the old
// store's, and a catch-up would read a mix of the two (RocksDB asserted, aborting the process, on a copy put back
// under `gongji query`; a rebuild was never seen: the second fault hunt). Open the store again.
struct StoreReplaced : StoreError {
  using StoreError::StoreError;
};

// A store of another format than kStoreFormat, refused (nothing is read or written): the message names both
// formats and what to run. `migratable`: a writable open would migrate it (a read-only open of format 2 or 3).
struct StoreFormatError : StoreError {
  explicit StoreFormatError(const std::string& what, bool can_migrate = false)
      : StoreError(what), migratable(can_migrate) {}
  bool migratable = false;
};

// A question the store cannot answer yet: the log holds records it needs that no fold has folded (the command line's
// exit 1; the query service's 503, which a retry after the fold answers).
struct NotFoldedError : StoreError {
  using StoreError::StoreError;
};

// A claim id held by several persons, asked for without a person (EVENTS.md: commands that take --claim refuse an
// ambiguous id). `persons`: some of them, in key order (at most Store::kHoldersShown).
struct AmbiguousClaimError : std::runtime_error {
  AmbiguousClaimError(const std::string& claim, std::vector<std::string> persons, bool more);
  std::string claim;
  std::vector<std::string> persons;
  bool more = false;  // there are persons beyond `persons`
};

// Where a settlement is stored and what it says (Store::settlement).
struct SettlementRef {
  int partition = 0;
  uint64_t offset = 0;
  std::string key;  // its o/ key
  Output record;    // as data (Output::settlement; Output::text too when the store kept it as a line)
};

struct FoldOptions {
  // Events per committed WriteBatch of each partition. Issue 10, a fold of 10% of the city for a year (3.7 M events,
  // 2 threads), wall / user seconds, two runs each: 2,000: 63.2 / 98.0 and 50.5 / 79.0; 8,000: 45.2 / 71.1 and
  // 45.0 / 72.3; 16,000: 44.2 / 70.8 and 43.8 / 70.0; 32,000: 41.2 / 66.8 and 40.2 / 64.6, peak RSS 1.16 GB against
  // 1.04 GB. A person is written once per batch, and a larger sorted batch inserts more keys near one another. The
  // cost: a poison record re-applies its batch's earlier records
  // since the last commit (Store::fold commits after each rollback). Store format 8, the same 10% log (3,739,031
  // records), back to back on a slower day: 32,000: 53.6 s (peak RSS 1.11 GB; persons written 0.76 per event,
  // 244 bytes of them per event); 64,000: 48.7 s (0.99 GB; 0.51, 171 bytes); 128,000: 49.1 s (1.02 GB; 0.29, 107
  // bytes); an earlier pair 54.9 s at 32,000, 51.8 s at 128,000. Each commit rewrites every person its events touched,
  // so at the city's size (362,500 persons a partition) a batch of 32,000 rewrites a person for almost every event.
  size_t batch_events = 64000;
  // Records read from the log and applied as one chunk, read ahead first (PartitionFolder::prefetch); a period close
  // reads the persons it visits ahead as many at a time (PartitionFolder::set_read_ahead). 0: nothing is read ahead,
  // each record is applied as it is read and each person looked up alone. Only speed and memory depend on it. A
  // chunk holds its records' bytes, their decoded events and the persons read ahead, outside person_cache_bytes and
  // max_persons_in_memory: about 10 to 30 MB a worker at 8,192 (what the chunk's records did not take, as the
  // person of a duplicate event, goes at the chunk's end: PartitionFolder::read_ahead_in_memory); a close holds as
  // many persons' encodings read ahead at a time (`serve`'s closes too, at this default).
  // Issue 10, the 100% log (37,399,992 records), each fold from an empty store, in the order A B B A on 2026-12-04:
  // 551.0 and 551.2 s (user + system CPU 1,054 and 1,049 s, peak RSS 1,768 and 1,737 MiB) against 594.5 and
  // 597.3 s without read-ahead (1,135 and 1,142 s, 1,677 and 1,798 MiB), the same keys and bytes written. Without
  // it, a person and an event id looked up alone took a third of that fold's CPU, most of it in Bloom filter
  // partitions.
  size_t read_ahead = 8192;
  // Fault-injection probe for crash tests: exit(137) right before committing batch number N (1-based), counted over
  // every worker's batches in the order they commit.
  std::optional<size_t> crash_before_batch;
  // Test hook: given to each partition's folder (PartitionFolder::set_apply_hook). Called concurrently from every
  // worker's thread (and again for records re-applied after a rollback): it must be thread-safe.
  std::function<void(const Event&)> apply_hook;
  // Stop each partition before these offsets (a partition not named: its end). For replays to a known-at point. A
  // partition the store has already folded past its offset here is refused (StoreError), never left past it.
  std::map<int, uint64_t> until;
  // Keep a RocksDB checkpoint under this directory every `checkpoint_every` folded records ("" or 0: none), so
  // that a replay to a late point starts from the nearest one (replay/replay.h). The records are counted over runs,
  // from the checkpoint here with the most records among those the store has reached (every position at or before
  // the store's): a fold of fewer records than checkpoint_every takes one once the runs since add up to it; with no
  // such checkpoint, every record the store holds counts (a store already past checkpoint_every takes one at its
  // first commit). With `--brokers` the positions are Kafka offsets, which also count transaction markers. Each
  // checkpoint flushes the memtables first, so it also bounds what a crash of the fold loses (Durability::unlogged),
  // as RocksDB's own flushes do, when a memtable fills (up to 512 MB of them in all): a crash loses what neither has
  // flushed.
  std::string checkpoint_dir;
  size_t checkpoint_every = 0;
  // After each new checkpoint only the `checkpoints_kept` ones with the most folded records stay (0: all stay), the
  // older ones are removed (Store::retain_checkpoints). Each older checkpoint pins the SST files the store has since
  // compacted away, up to a store's size each; a replay to a point before the oldest kept one starts from zero.
  size_t checkpoints_kept = 2;
  // Workers folding partitions side by side, each a whole partition at a time with its own reader of the log
  // (EventLog::reader_copy; a log that gives none, a writer or Kafka's, is folded by one). Partitions share no key,
  // so the store ends with the same keys and values (the same digest) with any count.
  size_t threads = 2;
  // Each worker's cache of persons is emptied after a commit once the encodings it holds add up to more than this
  // (issue 10: a person in memory took about ten times its encoding in person format 1, so 16 MB was about 200 MB per
  // worker at the end of a year; format 2 is about a third smaller, format 3 about 44% smaller again, so the same
  // budget holds more persons: about 53,000 at the end of a 10% year, where the fold's peak RSS fell from 965 to
  // 823 MB and it read no person back from the store). A period close past it streams: each person it
  // reads leaves the cache after its visit, encoded until the commit when the close changed it. Only speed and memory
  // depend on it: a person read again is the one cached.
  size_t person_cache_bytes = size_t{16} << 20;
  // A batch ends before batch_events once this many persons are decoded in memory (changed in it, cached from
  // earlier batches, or known to be absent), checked between records: a batch's changed persons stay decoded until
  // its commit, so this bounds them at any population (a period close visiting every person streams by
  // person_cache_bytes instead, spilling those it changed, encoded). Each commit also empties a cache of this many.
  // `serve` ends a partition's part of its batch by it and by batch_events too. Issue 10, the 100% log, the
  // same day: a batch of 64,000 events touches about 58,000 persons of a partition, so 100,000 never ends one early
  // there (786 s, peak RSS 1,998 MiB); ending batches once the persons' encodings passed 16 MB (about 35,000 persons)
  // gave a peak RSS of 1,147 MiB after 6 minutes, but 17.1 M events folded by then against 18.7 M.
  size_t max_persons_in_memory = 100000;
  // Called now and then with the events folded so far (progress on long runs).
  std::function<void(uint64_t events)> progress;
};

// A complete checkpoint in a checkpoint directory (Store::checkpoint): db/CURRENT and a readable positions.json of
// this store format. `total`: the records it had folded, over every partition.
struct CheckpointInfo {
  std::string path;
  std::map<int, uint64_t> positions;
  uint64_t total = 0;
};

// Which parts of an output record Store::outputs parses: a settlement's `trace` is most of its bytes, and the
// books (audit, what-if, month views) never read it. Trace::skip leaves the key out of the parsed record.
enum class Trace { keep, skip };

struct FoldStats {
  uint64_t events = 0, outputs = 0, dead_letters = 0;
  uint64_t puts = 0, put_bytes = 0, commits = 0;  // what the fold wrote (keys + values), for the benchmark
  uint64_t person_reads = 0;  // persons read from the store, not found in the cache (FoldOptions::person_cache_bytes)
  uint64_t person_spills = 0;  // persons a period close changed and moved out of a full cache before the commit
  // Persons and event id entries applied from what was read ahead (FoldOptions::read_ahead), not looked up alone;
  // like person_reads, counted again for the records a rollback applies again.
  uint64_t read_ahead_taken = 0;
  // Persons put (p/, once per commit that changed them) and the bytes of their encodings: each commit rewrites the
  // whole state of every person its events touched, so these grow with the persons a batch touches.
  uint64_t person_writes = 0, person_write_bytes = 0;

  // Adds another worker's counts (the folds that run partitions side by side).
  FoldStats& operator+=(const FoldStats& o) {
    events += o.events, outputs += o.outputs, dead_letters += o.dead_letters;
    puts += o.puts, put_bytes += o.put_bytes, commits += o.commits;
    person_reads += o.person_reads, person_spills += o.person_spills, read_ahead_taken += o.read_ahead_taken;
    person_writes += o.person_writes, person_write_bytes += o.person_write_bytes;
    return *this;
  }
  // What the fold wrote and read, one line (`fold` and `serve` log it at their end; ops/bench/scale.sh parses it).
  std::string storage() const;
};

class PartitionFolder;

// How a commit of PartitionFolder reaches the disk. A store's writes must not mix unlogged commits with logged
// writes that a crash could keep without them: Store::fold flushes at its end, and until a flush the store refuses
// logged writes (StoreError).
enum class Durability {
  // In RocksDB's WAL, synced before commit() returns.
  synced,
  // In the WAL unsynced: a power loss or an OS crash may lose it (and only it and later writes: the WAL is recovered
  // as a prefix); a crash of the process alone does not. `serve` commits a flush's partitions so from its fold
  // workers, then syncs the whole WAL (Store::sync) before anything of the flush is published.
  unsynced,
  // Not in the WAL: in the memtables only, on disk once RocksDB flushes the memtable holding it (whole batches, in
  // commit order), which Store::flush forces. Any crash loses the commits since the last flush, and only those.
  // Store::fold (issue 10: the WAL took about a tenth of a city-year fold's CPU; its log is the changelog).
  unlogged,
};

// How a Store is opened (issue 8 item 6: the store is never replaced or emptied by accident).
struct StoreOptions {
  // For queries while another process folds (no lock taken; sees what was committed at open).
  bool read_only = false;
  // May create a new, empty store, and only where `dir` does not exist or is an empty directory. The new store
  // is built in "<dir>.creating" and renamed into place once RocksDB has written it, so that a crash leaves either
  // no store or a whole one (a failure removes "<dir>.creating", as the next creation does one a crash left). A
  // directory holding files but no CURRENT is never opened nor created over: StoreError.
  bool create = true;
  // The file system RocksDB writes through (null: the default). Tests pass a rocksdb::FileSystemWrapper that
  // fails writes or syncs on demand.
  std::shared_ptr<rocksdb::FileSystem> file_system;
};

class Store {
 public:
  // Store(dir): opens, or creates where there is no store yet (fold, replay). Store(dir, true): opens read-only and
  // refuses a missing store ("no store in <dir>"). Damaged or missing RocksDB files (a listed SST or the MANIFEST
  // gone): StoreError naming the directory and RocksDB's status, which names the file; nothing is created.
  explicit Store(const std::string& dir, bool read_only = false);
  Store(const std::string& dir, const StoreOptions& options);
  // `secondary` non-empty: opens as a RocksDB secondary instance (read-only, no lock) keeping its own files in that
  // directory, so that a long-lived reader (`gongji query`) follows a live `fold` through catch_up().
  Store(const std::string& dir, const StoreOptions& options, const std::string& secondary);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Folds every partition of the log from its folded offset to its end, each batch committed unlogged
  // (Durability::unlogged), and flushes the memtables at the end, also after a failure (as far as the disk lets it):
  // a crash of the process or the machine mid-fold leaves the store as its last flush had it, a prefix of the log
  // (RocksDB flushes a full memtable on its own, the batches in commit order), and the next fold redoes the rest
  // from the log. A `gongji query` following the fold (a secondary instance) sees what has been flushed. Refuses
  // (StoreError naming the store, the partition and both positions) before writing anything when the log has
  // another partition count than the store (n/partitions) or a partition ends before the store's folded position
  // (x/). An I/O failure (ENOSPC, EIO, a failed sync) is a StoreError with the OS or RocksDB text and the path; the
  // store then holds its last committed batch (or, when the flush after the failure fails too, its last flush) and
  // a later fold continues from there. Probes: fold.before_apply, fold.before_commit,
  // fold.after_commit (log/fault_probe.h); checkpoints as in checkpoint().
  FoldStats fold(EventLog& log, const Policy& policy, const FoldOptions& opt = {});
  // Records the policy version used and the partition count (once); fold() and `serve` call it first. A partition
  // count other than the recorded one: StoreError naming both.
  void record_run(const Policy& policy, int partitions);
  // The outbox: the output records of `partition` for log offsets in [from, to), in order, as the fold returned
  // them (a settlement as data, every other kind as its JSON line). A record that does not read: StoreError naming
  // its key.
  void outbox(int partition, uint64_t from, uint64_t to,
              const std::function<void(uint64_t offset, const Output& out)>& fn) const;
  uint64_t folded_offset(int partition) const;
  // Makes every logged commit so far durable (RocksDB's SyncWAL; unlogged ones wait for flush()): `serve` commits a
  // batch's partitions unsynced from its fold workers, then calls this once before publishing any of them. A failed
  // sync: StoreError naming the store. Then records the positions made durable (kDurableFile).
  void sync();
  // Ties the store to its log (issue 8 item 2): the store keeps, beside each partition's position, the anchor of
  // the last record it folded (a/<partition>: its offset and the xxh3 of its bytes). fold() and `serve` show it the
  // log's record at folded_offset - 1 before folding on; another record (a replaced or recreated log or topic), or
  // no anchor where records were folded: StoreError naming the partition, offset and both anchors.
  void check_anchor(int partition, uint64_t offset, std::string_view payload) const;
  // Refuses (StoreError) a log this store was not folded from: another partition count (n/partitions), a partition
  // ending before the store's folded position (x/), or a record at folded - 1 that does not carry the anchor.
  // fold() calls it first; `serve` calls it on the events topic before it joins the group.
  void check_log(EventLog& log) const;

  std::optional<PersonState> person(const std::string& id) const;
  int partitions() const;  // 0 before the first fold
  // POLICY.md TIME-ASOF: "the default --as-of is the latest date in the log", and TIME-LOG: "the log" is per person,
  // the person's partition. The latest business date (`at`) of the events folded into `partition`, global events
  // included and dead letters not (a record that could not be applied is not an event of the ledger); with `known`,
  // of those it admits (log offset, ingestion time), read from the points where the date rose (l/): exact where the
  // events admitted are a prefix of the partition, as they are for an offset bound, and for a time bound outside
  // disorder()'s window. nullopt: no event folded there (or none admitted). A store of format 9 not yet folded on by
  // this binary has no l/ index: StoreFormatError saying to give --as-of or run a fold once.
  using Admits = std::function<bool(uint64_t offset, int64_t ingested_ms)>;
  std::optional<Date> latest_date(int partition, const Admits& known = {}) const;
  // Events of a partition ingested before an event ahead of them in the log (two producers writing one Kafka
  // partition, a clock set back): the first one's offset, and a window of ingestion times outside which the events
  // ingested by a time are still a prefix of the partition (for each such event j, [ingested_j, the latest
  // ingestion time before j) lies within [from_ms, to_ms)). Kept in u/.
  struct Disorder {
    uint64_t first_offset = 0;
    int64_t from_ms = 0, to_ms = 0;
  };
  // nullopt while ingestion times rise with the offsets. Format 9: StoreFormatError as latest_date.
  std::optional<Disorder> disorder(int partition) const;
  // Builds the l/ and u/ keys of a store of format 9 from `log`, the log it was folded from (check_log), reading each
  // partition's records up to the folded position (each one's date only: event_date) and leaving out its dead
  // letters (d/); then records format 10, in the same synced WriteBatch, and builds format 11's month index
  // (migrate_to_11). A no-op on any other format and on a read-only store. fold() calls it after record_run,
  // `serve` after check_log; a PartitionFolder refuses a store it has not run on (StoreError).
  void record_latest_dates(EventLog& log);
  // The store's format as this open found it (after any migration a writable open did, and record_latest_dates;
  // a secondary's catch_up() reads it again while below kStoreFormat); kStoreFormat for a store with nothing in it
  // yet.
  int64_t format() const { return format_; }
  std::optional<FacilityState> facility(int partition, const std::string& id) const;
  // Output records in log order (partition, then offset); stops when fn returns false.
  void outputs(const std::function<bool(const nlohmann::json&)>& fn, Trace trace = Trace::keep) const;
  // Output records in log order for the books (audit, what-if), as data: a settlement with no line rendered or
  // parsed, every other kind as its Record (ledger/records.h); exactly one of the two pointers is set. Stops when
  // fn returns false. A line changed by hand is read for what its fields say (settlement_from_line and
  // record_from_line, not exact); one whose fields do not read as its kind is passed over, and one that is not
  // JSON at all is a StoreError naming its key.
  using OutputDataFn = std::function<bool(const Settlement*, const Record*)>;
  void outputs_as_data(const OutputDataFn& fn) const;
  // The same for one partition's records (o/<partition>/), and for the records naming `person` (the i/ and r/
  // indexes, as person_outputs): the month views, the report and the statement read their money as data, not from
  // lines.
  void outputs_of_as_data(int partition, const OutputDataFn& fn) const;
  // The same for one partition's records from log offset `from` on, each with its record's offset (the key's
  // o/<partition>/<offset>/): what-if pairs the live store's settlements with the replayed store's by it.
  using OffsetDataFn = std::function<bool(uint64_t offset, const Settlement*, const Record*)>;
  void outputs_of_as_data(int partition, uint64_t from, const OffsetDataFn& fn) const;
  void person_outputs_as_data(const std::string& person, const OutputDataFn& fn) const;
  // The same for the records a month view counts (service/queries.h), of every partition or of `partition` only, in
  // log order: through the t/ month index, the settlements dated in `month` (only those of `facility`, when given),
  // the reversals of claims dated in it and, with `movements`, the account movements dated in it; a store of format
  // 9 or 10 (read-only, not migrated) passes every output record instead. Either way fn may be given records of
  // other months and kinds, and must check. An index entry whose record the store does not hold is a StoreError
  // naming both keys.
  struct MonthRecords {
    Month month = 0;
    std::optional<int> partition;
    std::optional<std::string> facility;
    bool movements = true;
  };
  void month_outputs_as_data(const MonthRecords& which, const OutputDataFn& fn) const;
  // The same records, each with its partition, offset and o/ key (SettlementRef, whatever its kind); stops when fn
  // returns false.
  void person_output_refs(const std::string& person, const std::function<bool(const SettlementRef&)>& fn) const;
  // The output records of one partition (o/<partition>/), in log order; stops when fn returns false.
  void outputs_of(int partition, const std::function<bool(const nlohmann::json&)>& fn,
                  Trace trace = Trace::keep) const;
  // The settlement of `person`'s claim `claim`, through the c/ index; nullopt when there is none. The first one,
  // which need not be the one that counted: a claim refused before its person was known (UNKNOWN_PERSON: no history
  // of the person holds its id; ledger/claims.cc known_and_new) may be submitted again with the same id, any number
  // of times, until one counts; those after it are DUPLICATE_CLAIM rejections (as are those after a claim refused
  // for an unknown facility, which takes its id: §4).
  std::optional<SettlementRef> settlement(const std::string& person, const std::string& claim) const;
  // Its settled settlement (at most one: the ledger settles a claim id of a person once), the one a reversal of the
  // claim undoes; nullopt when none is settled.
  std::optional<SettlementRef> settled_settlement(const std::string& person, const std::string& claim) const;
  // The persons with a settlement of claim id `claim`, in key order, at most `limit` of them (c/ index).
  std::vector<std::string> claim_holders(const std::string& claim, size_t limit) const;
  static constexpr size_t kHoldersShown = 10;
  // Whose claim `claim` is: `person` when given (not checked here), else the one person holding that claim id.
  // None: NotFoundError; several: AmbiguousClaimError naming up to kHoldersShown of them.
  std::string claim_person(const std::string& claim, const std::string& person) const;
  // The output records naming `person` (dead letters too), in log order, through the person's indexes (i/: those of
  // the person's events; r/: the others); stops when fn returns false.
  void person_outputs(const std::string& person, const std::function<bool(const nlohmann::json&)>& fn) const;
  // The output records of the event with id `event` (dead letters too), partition by partition, each in offset
  // order; stops when fn returns false. For `explain --event` without a person: it reads only the partitions whose
  // e/ index holds the id or whose dead letters (d/, which have no e/ entry) hold it, none when none does (the fold
  // writes an event's records only where it applied the event, entering its id in e/, or dead-lettered it), and of
  // those only the records whose stored bytes hold the id (a record in its binary form keeps its event id verbatim;
  // a JSON line is parsed whatever it holds, as it may escape the id). So a damaged record that no longer holds the
  // id is passed over, and a line put by hand in a partition outside those is not read. Parsing every record
  // instead took 48 to 57 s for the last claim at 10% of the city, and reading every partition's records for an id
  // no index holds 1.7 to 1.9 s there, 13.5 to 13.9 s at 100% (ops/bench/README.md).
  void event_outputs(const std::string& event, const std::function<bool(const nlohmann::json&)>& fn) const;
  // Where the log holds the record at `offset` of `partition`, as the index of `person`'s events says: the locator of
  // i/<person>/<partition>/<offset> (the person's own events), else of g/<partition>/<offset> (the partition's
  // shared events); nullopt when neither lists it. With it EventLog::read_at reads that one record. A value that is
  // not a locator and an ingestion time (16 bytes): StoreError naming its key.
  std::optional<uint64_t> event_locator(const std::string& person, int partition, uint64_t offset) const;
  // The same records as the store holds them (Output: as data, with the stored line when it kept one), for answers
  // that print them (Output::line()) and parse no JSON: every one in log order, or a person's through the indexes.
  void stored_outputs(const std::function<bool(const Output&)>& fn) const;
  void person_stored_outputs(const std::string& person, const std::function<bool(const Output&)>& fn) const;
  // Every dead letter as the store holds it (the o/ record its d/ entry names), in log order; stops when fn returns
  // false. `settlements --claim` of a claim id no settlement indexes (c/) reads these alone: no other record names a
  // claim without a settlement of it (a reversal undoes its person's settled claim, a refusal names no claim; ledger.cc
  // reverse). Reading every record's bytes instead took 1.9 to 2.2 s at 10% of the city to say none, 15.6 s at 100%.
  void dead_letter_outputs(const std::function<bool(const Output&)>& fn) const;
  // Every dead letter (d/ key, its dead_letter output line, rendered from its stored form), in log order. They are
  // output records too: outputs() and outbox() include them.
  void dead_letters(const std::function<void(const std::string& key, const std::string& value)>& fn) const;
  std::optional<std::string> policy_text(const std::string& version) const;

  // Event ids folded in more than one partition with different content (e/ digests): two events under one id, each
  // applied by its own partition's fold, which sees only its own ids (on Kafka, where ingest cannot tell; the
  // embedded log's ingest refuses the second). The copies of a shared event (facility events and period_closed in
  // every partition, family_linked in two) hold one digest and are no clash. In id order; each id with every
  // partition that folded it and the digest there. Reads the partitions' e/ keys side by side: memory for one key
  // a partition.
  struct IdClash {
    std::string id;
    std::vector<std::pair<int, uint64_t>> folded;  // partition, digest
  };
  std::vector<IdClash> clashing_ids(int partitions) const;
  // Every key under a prefix, in key order.
  void scan(const std::string& prefix,
            const std::function<void(const std::string& key, std::string_view value)>& fn) const;
  // xxh3-64 over every key and value, in key order: equal logical content <=> equal digest. The values of the
  // per-person index of events (i/, g/) are left out, their keys counted: the values are physical pointers into the
  // log (file positions, ingestion times) that differ between the embedded log and Kafka for the same events (the
  // replay tests check them); the keys say which events are a person's, which `settlements --person` reads (with r/).
  // Likewise u/ values (ingestion times), and of l/ values the ingestion time after the date.
  std::string digest() const;
  // The same over the keys of one partition (persons, facilities, meta, position, outputs, dead letters, ids, latest
  // dates; u/ is physical and left out).
  std::string partition_digest(int partition) const;
  // The fold's position per partition (x/ keys).
  std::map<int, uint64_t> positions() const;
  // A RocksDB integer property of this instance (e.g. "rocksdb.live-sst-files-size",
  // "rocksdb.cur-size-all-mem-tables"; a secondary instance reports its own view); nullopt when RocksDB has none.
  std::optional<uint64_t> int_property(const std::string& name) const;
  // A checkpoint of the store into `dir`: db/, the store's tables hard-linked (copied where the file system links
  // none) after a flush, so it holds every write made before the call and no WAL; with positions.json naming its
  // positions and store format (a replay uses only checkpoints of a format it reads, reads_format). A writable store
  // only; the positions are read after the copy, so a caller with other writers holds their commits (FoldRun does).
  // Built in "<dir>.partial" (db/ and a synced positions.json) and renamed to `dir` only when complete; a failed
  // one is removed and throws StoreError. Readers (replay/replay.cc) ignore "*.partial" and any directory without
  // db/CURRENT and a readable positions.json. Probes: checkpoint.before_create (enospc/eio/crash),
  // checkpoint.after_create, checkpoint.before_rename.
  void checkpoint(const std::string& dir) const;
  // Writes what the memtables hold to synced SST files: a fold does it before each checkpoint (so that the
  // checkpoint's own flush, with the commits held, is short) and at its end (its commits are unlogged). `serve`
  // never does: a RocksDB 7.8 secondary (the query service's) that replayed part of a WAL the primary then flushes
  // keeps answering from the stale entries it replayed (RocksDB issue #15051, fixed upstream after 7.8), until those
  // keys are written again. A fold's WAL holds only what record_run() put, which never changes, and what a
  // migration at the open put (a secondary that replayed those keeps them until it is opened again).
  // Then records the positions made durable (kDurableFile).
  void flush();
  // Removes "*.partial" leftovers of checkpoints a crash interrupted (fold() does it first).
  static void remove_partial_checkpoints(const std::string& checkpoint_dir);
  // The complete checkpoints under `checkpoint_dir` (none when it does not exist), fewest folded records first, ties
  // by name. Anything else there (partial, another format, unreadable positions) is left out.
  static std::vector<CheckpointInfo> checkpoints(const std::string& checkpoint_dir);
  // The directories under `checkpoint_dir` that checkpoints() leaves out, other than "*.partial" leftovers: a
  // checkpoint whose positions.json is missing or damaged, of another store format, or without its db/CURRENT. Sorted
  // by name. What they hold is unknown (`log truncate` refuses while any is there).
  static std::vector<std::string> unread_checkpoints(const std::string& checkpoint_dir);
  // Keeps the `kept` complete checkpoints with the most folded records (0: all) and removes the others, and any of
  // another store format (never replayed from, e.g. from before a migration), each first
  // renamed to "*.partial" so that a crash midway leaves what replays ignore and the next fold removes. Returns how
  // many were removed. Probe: checkpoint.before_retire (crash) after the rename.
  static size_t retain_checkpoints(const std::string& checkpoint_dir, size_t kept);
  const std::string& dir() const { return dir_; }
  // A secondary instance (the constructor taking `secondary`) reads what the primary committed since the last call
  // (TryCatchUpWithPrimary); StoreError on failure, StoreReplaced when the store's directory is not the one it opened
  // (below). Safe beside concurrent reads. A no-op on other stores.
  void catch_up();
  // Low-level access for tests that tamper with the store.
  rocksdb::DB* db() { return db_.get(); }

 private:
  friend class PartitionFolder;
  void check_partition_count(int partitions) const;
  // Reads n/format and refuses a store of another format (StoreFormatError); where a migration would go (not when
  // read_only).
  void check_format(bool read_only);
  void record_durable(const std::map<int, uint64_t>& positions);
  std::mutex durable_mu_;  // record_durable: fold workers flush side by side
  std::map<int, uint64_t> durable_;  // what kDurableFile holds (read at the open, or written since), under durable_mu_
  void require_latest_dates() const;  // StoreFormatError before format 10 (latest_date)
  // fn(d/ key, the o/ key it names, that record's stored bytes) for each dead letter in log order, until fn returns
  // false (dead_letters, dead_letter_outputs).
  void each_dead_letter(const std::function<bool(const std::string&, std::string_view, const std::string&)>& fn) const;
  // The stored record the dead-letter entry `d_key` names (`o_key`); one the store does not hold is damage
  // (StoreError naming both), as is a read that fails.
  std::string dead_letter_record(const std::string& d_key, std::string_view o_key) const;
  int migrate_2_to_3();
  void migrate_outputs(uint64_t from, const std::string& halfway);
  void migrate_meta();
  void migrate_to_8();
  int migrate_to_11();
  int migrate_persons(int to, uint8_t below);
  int migrate_facilities();
  // The steps from format 10 on, each built from the store alone (migrate_to_11, migrate_persons to 12, 13, 14,
  // migrate_facilities to 15), for
  // a store of `format` 10 or more (`halfway`: n/migrating is there); returns the format reached. The one list of
  // them, for a writable open (check_format) and for record_latest_dates' store it has just made format 10.
  int migrate_from_10(int format, bool halfway);
  std::string dir_;
  std::atomic<int64_t> format_{kStoreFormat};  // atomic: a secondary's catch_up() reads it again
  std::unique_ptr<rocksdb::Env> env_;  // declared before db_: outlives it
  std::unique_ptr<rocksdb::DB> db_;
  bool secondary_ = false;
  bool read_only_ = false;  // read-only or secondary
  std::string identity_;    // a secondary's: its directory's device and inode and RocksDB's IDENTITY, as opened
  // Set by an unlogged commit, cleared when a flush begins (set again if it fails): while set, a logged write
  // (a synced or unsynced commit, record_run) is refused, since a crash could keep it without the commits before it.
  // A check before the write, not a lock: it guards one thread's sequence of writes (Store::fold's, then anything
  // after it), not logged and unlogged commits made at once from two threads, which nothing does.
  std::atomic<bool> unflushed_{false};
  void refuse_logged_write_while_unflushed(const char* what) const;
};

// Folds one partition's records one at a time; commit() writes the state changes, outputs and the position in
// one WriteBatch. Used by Store::fold and by `gongji serve` (which publishes the returned outputs).
//
// Poison records (issue 8 item 4, TIME-LOG): a record that throws anything while it is decoded, checked or applied
// (EventError, MoneyOverflow, a JSON type_error, std::out_of_range, ...) becomes a dead letter: its one output
// record, kind "dead_letter" (partition, offset, event id and type, person and claim where known, reason), stored
// under o/<partition>/<offset>/00000000 like any output and indexed under d/. It leaves no other trace: the batch
// and the state cache are rolled back to exactly before it (both are dropped and the batch's earlier records,
// kept in a journal of their bytes, are applied again; dead letters among them are re-put as they were), so its
// event id is not recorded and its claim id stays free for a corrected claim. The happy path only copies each
// record's bytes into the journal. Not poison, and propagated with the batch left uncommitted: StoreError (I/O,
// RocksDB), StateCodecError (stored state that does not decode) and std::bad_alloc.
class PartitionFolder {
 public:
  PartitionFolder(Store& store, int partition, int partitions, const Policy& policy);
  ~PartitionFolder();
  // Applies the record at `r.offset` (which must be next_offset() or later: an earlier one is a StoreError,
  // INV-LOG-FORWARD of ledger/invariant.h; so is a record of another partition, INV-LOG-PARTITION); returns its
  // output records (a poison record, an InvariantViolation included: its one "dead_letter" output). Throws only what
  // is not poison (above).
  std::vector<Output> apply(const LogRecord& r, FoldStats& stats);
  // Applies `records` (records apply() is to be given next, in log order) one by one, read ahead first (prefetch),
  // as Store::fold and `serve` do: before each record `go_on()` says whether to apply it (false: stop there); after
  // it `applied(record, outputs)` takes its output records and says whether the batch ends there. A batch also ends
  // after a rollback (rolled_back()): the next rollback then re-applies only what follows, so many poison records
  // cost linear work. At a batch's end `commit()` is called and says whether it committed (it may decline, e.g.
  // after another worker failed; then `go_on()` must stop the loop); if it did, the records that follow are read
  // ahead again, at most max(that batch's records, 64) and never past the end of `records`: a commit may empty the
  // person cache, and a rollback drops the persons read ahead (not the event ids). When it returns, it has dropped what
  // was read ahead and not taken (read_ahead_in_memory). Throws what apply() and the callbacks throw.
  void apply_reading_ahead(std::span<const LogRecord> records, FoldStats& stats,
                           const std::function<bool()>& go_on,
                           const std::function<bool(const LogRecord&, std::vector<Output>&)>& applied,
                           const std::function<bool()>& commit);
  // Test hook: called after each event's apply_event, before its index and outputs are put (a test throws from it
  // to poison a record after the state was changed). Also called when earlier records are applied again.
  void set_apply_hook(std::function<void(const Event&)> hook);
  void set_person_cache_bytes(size_t bytes);  // FoldOptions::person_cache_bytes (its default until set)
  // FoldOptions::read_ahead (its default until set, as in `serve`): persons a period close reads ahead at a time, and
  // whether prefetch() reads ahead at all (0: nothing is read ahead).
  void set_read_ahead(size_t n);
  // How durable the commit is when it returns: Durability above.
  void commit(FoldStats& stats, Durability durability = Durability::synced);
  uint64_t next_offset() const;  // the offset after the last applied record
  size_t pending() const;        // records applied since the last commit
  // Whether a poison record that had changed state was rolled back since the last commit (its earlier records of
  // the batch applied again). Store::fold commits then, so that the re-applies stay linear in the log.
  bool rolled_back() const;
  // The persons decoded in memory (changed in the batch, cached from earlier ones, or known to be absent):
  // Store::fold ends a batch early at FoldOptions::max_persons_in_memory.
  size_t persons_in_memory() const;
  // Persons, event ids and decoded events read ahead and not yet taken by their records; apply_reading_ahead
  // leaves none at its end.
  size_t read_ahead_in_memory() const;
  // FoldOptions::max_persons_in_memory: the commit also empties the cache of decoded persons once it holds this many
  // (its default until set), so that a cache of many small persons does not end every batch at once.
  void set_max_persons_in_memory(size_t n);

 private:
  // Reads ahead what apply() would read from the store for `records`: decodes them, then reads their event ids' e/
  // entries and the persons they name that are not in memory in one MultiGet in key order (issue 10: at the city's
  // size nearly every event's person and id are looked up in the store, and one sorted MultiGet visits each filter
  // and index block once for many keys). Contract: `records` are records apply() is to be given next, in log order,
  // with the same bytes (a record read ahead and not applied is dropped at the next commit). Only speed depends on
  // it: apply() takes what was read ahead at most once and reads anything else itself, and nothing read ahead can
  // change in memory or be written before apply() takes it, so it stays what the store holds across commits.
  // apply_reading_ahead calls it for its records (FoldOptions::read_ahead), and drops what they did not take.
  void prefetch(std::span<const LogRecord> records);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Key parts: lowercase hex, zero-padded to 4, 8 and 16 digits (more digits when the value needs them).
std::string hex4(int v);
std::string hex8(uint64_t v);
std::string hex16(uint64_t v);
// The JSON line of an output record from its stored o/ value (layout above); a damaged one: StoreError naming `key`.
std::string output_line(std::string_view stored, std::string_view key);
// A settlement from its stored binary form; damaged: StoreError naming `key`.
Settlement decode_stored_settlement(std::string_view stored, std::string_view key);
// A raw id as one field of a key (layout above): '%' becomes "%25" and '/' "%2F", every other byte stays.
std::string key_part(std::string_view id);
// The id a key field holds (the inverse of key_part).
std::string key_part_decode(std::string_view part);
// fsync(2) of a file, or of a directory (after a rename or a creation in it); a failure: StoreError naming `path`.
void fsync_path(const std::string& path);
// A named probe on a write path (log/fault_probe.h): an injected ENOSPC / EIO throws the StoreError the OS's would
// (naming `path`); "torn" crashes, nothing written there being written in parts.
void write_probe(std::string_view point, const std::string& path);
// An i/ or g/ index entry's value (layout above): where the log holds the record, and when it was ingested (ms since
// the epoch). One of another size: StoreError naming `key`.
struct IndexEntry {
  uint64_t locator = 0;
  int64_t ingested_ms = 0;
};
IndexEntry decode_index_entry(std::string_view value, std::string_view key);
// The anchor of a folded record (Store::check_anchor): "<offset, 16 hex>:<xxh3 of the record's bytes, 16 hex>".
std::string anchor_of(uint64_t offset, std::string_view payload);

}  // namespace gongji
