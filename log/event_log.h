// The log of events: an interface (like rdkafkacpp.h: small, abstract, implementations behind a factory) with an
// embedded segment-file implementation here and a Kafka one in kafka_log.h.
//
// Contract:
// - Events are partitioned by person (partition.h); an event goes to every partition partitions_for() names.
// - append() is idempotent per partition copy (issue 8 item 1): an event whose id is in the log with the same
//   canonical content has its missing copies appended (a crash may have left a shared event in some partitions only)
//   and is a duplicate when every copy exists; with different content it is a conflict (ID_CONFLICT, nothing
//   appended, whichever partition holds the other content).
// - Appended events are durable once sync() returns. append() may sync by itself, so that what a writer holds in
//   memory stays bounded however long it appends (the embedded log: every 262,144 new ids).
// - An I/O error (ENOSPC, EIO, a failed fdatasync) in append() or sync() throws LogError "<strerror in lower case>:
//   <path>" and leaves the log unusable for writes until it is opened again (what was partly written is then a torn
//   tail). Whether the events appended since the last sync that returned are in the log is then not known: open
//   the log again and append them again (an event already there is a duplicate, or has its missing copies
//   appended). A failure of the id index that is not an errno throws "embedded log: id index write failed: ...".
// - read() delivers a partition's records in offset order; offsets are 0, 1, 2, ... per partition.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"

namespace gongji {

struct LogRecord {
  int partition = 0;
  uint64_t offset = 0;
  int64_t ingested_ms = 0;  // wall-clock time of the append (knowledge time, POLICY.md TIME-ASOF)
  std::string_view payload;  // the FlatBuffers encoding of the event (fb_codec.h); valid during the callback
  uint64_t locator = 0;      // where the record lives, for read_at (the embedded log: segment and byte position)
};

enum class AppendResult { appended, duplicate, conflict };

struct LogError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An event whose encoding is larger than kMaxEventBytes: refused by append() before anything is written (never
// written and later cut away as a torn tail).
struct RecordTooLarge : LogError {
  using LogError::LogError;
};
// The one record limit (event.h kMaxRecordBytes, which the decoder enforces too): a record the log accepts is one
// the fold can read.
inline constexpr size_t kMaxEventBytes = kMaxRecordBytes;

class EventLog {
 public:
  virtual ~EventLog() = default;
  virtual int partitions() const = 0;
  virtual AppendResult append(const Event& e) = 0;
  // Appends raw bytes to one partition, bypassing validation and the id index. Only for fault tests that need
  // an undecodable record in the log.
  virtual void append_raw(int partition, std::string_view payload) = 0;
  virtual void sync() = 0;
  virtual uint64_t end_offset(int partition) = 0;
  // Calls fn for each record of `partition` from offset `from` until fn returns false or the end is reached.
  virtual void read(int partition, uint64_t from, const std::function<bool(const LogRecord&)>& fn) = 0;
  // Reads the one record at `offset` (its `locator` as read() gave it) without scanning; throws LogError.
  virtual void read_at(int partition, uint64_t offset, uint64_t locator,
                       const std::function<void(const LogRecord&)>& fn) = 0;
  // Checks that every record of `partition` from `from` on is whole (length and checksum), without decoding;
  // throws LogError naming the file and byte offset of the first damaged one. The fold calls it on every partition
  // before it writes anything, so a damaged log changes nothing. The default (the Kafka log) does nothing: the
  // broker checks its own record CRCs.
  virtual void check_records(int /*partition*/, uint64_t /*from*/) {}
  // A log opened read-only beside a writer sees what was appended since it was opened or last refreshed (the
  // embedded log: each partition's new whole records and new segments, checksummed as open checks them; a record the
  // writer has not finished stays unread until a later refresh). end_offset() and read() then reach the new records.
  // Not to be called while another thread uses the log. Throws LogError, changing nothing, when the files no longer
  // continue what was read (a truncation, a segment that stops short of its successor): open the log again. The
  // default (the Kafka log, whose ends the broker gives on every call) does nothing.
  virtual void refresh() {}
  // Another reader of a log opened read-only, at the same point, without reading the files again (the embedded log:
  // its view of each partition copied). nullptr when this log cannot (a writer; the Kafka log: open it again).
  virtual std::unique_ptr<EventLog> reader_copy() const { return nullptr; }
  // The offset below which the partition's records were synced with every copy of their events (TIME-LOG: a shared
  // event goes to several partitions, and an append writes every copy before a sync records the ends): below it, a
  // shared event lacking a copy in another partition lacks it for good (until its feed is sent again); past it, a
  // writer may still be writing the other copies. The embedded log: the end its id index records (a reader's, as
  // its open read the index, before it read the partitions; refresh() does not move it, nor does reader_copy()).
  // The default (the Kafka log): end_offset, so a copy a running `ingest --brokers` has not delivered yet is not
  // told from a missing one.
  virtual uint64_t synced_end(int partition) { return end_offset(partition); }
};

// Opens (creating when absent) the embedded log under `dir`. `partitions` is used when the log is created
// (8 by default, POLICY.md TIME-LOG); an existing log keeps its own count. Throws LogError.
// Only a torn tail (an incomplete or failing record at the very end of a partition's last segment, nothing valid
// after it, no record the id index recorded as synced in it) is truncated on open, reported on stderr with the file
// and byte offset. Anything else (a failing record elsewhere, a missing, empty or misnumbered segment, a file the
// log does not own, a missing or extra partition folder, a bad meta, a synced record lost) throws LogError naming
// the file and byte offset, changing nothing. A `log truncate` that did not finish (a crash during its cut) is
// finished by a writable open, and refused by a read-only one.
// read_only: for readers beside a writer (creates, truncates and writes nothing; a torn tail is just not read).
// The environment variable GONGJI_LOG_SEGMENT_BYTES (tests only) lowers the segment roll size from 128 MiB.
std::unique_ptr<EventLog> open_segment_log(const std::string& dir, int partitions = 8, bool read_only = false);

// The operator's view of an embedded log (`gongji log verify`): every record of every partition checked.
struct LogFinding {
  std::string file;
  uint64_t byte = 0;  // byte offset in `file`
  std::string what;
  // A torn tail (an incomplete or failing record at the very end of a partition, nothing after it): the partition
  // and the offset the torn record would have had. What an append being written, or one a crash cut short, leaves;
  // an open for writing cuts it. Unset for every other finding.
  struct Torn {
    int partition = 0;
    uint64_t offset = 0;
  };
  std::optional<Torn> torn;
  LogFinding() = default;
  LogFinding(std::string in, uint64_t at, std::string what_is, std::optional<Torn> torn_tail = std::nullopt)
      : file(std::move(in)), byte(at), what(std::move(what_is)), torn(torn_tail) {}
  std::string message() const;  // "<file> at byte <byte>: <what>"
};
// Reads every file of the log under `dir` and reports every problem found (empty when the log is sound). Writes
// nothing; a torn tail is reported too (an open would truncate it).
std::vector<LogFinding> verify_segment_log(const std::string& dir);

// The process other than this one that holds the embedded log under `dir` open for writing (an `ingest`, a `fold`
// starting, a `log truncate --yes`: the id index's lock; lock_holder in log/rocksdb_open.h), or nullopt. A torn tail
// `verify_segment_log` reports while one holds the log is most likely the append it is writing.
std::optional<long> segment_log_writer(const std::string& dir);

// The number of partitions the log under `dir` records (its meta), read without opening the log (which refuses a
// damaged one); LogError naming the file when it is missing or unreadable.
int segment_log_partitions(const std::string& dir);

// The explicit repair (`gongji log truncate`): drop the records of `partition` from log offset `offset` on.
struct TruncatePlan {
  int partition = 0;
  uint64_t offset = 0;
  std::string file;         // the segment cut at `byte`
  uint64_t byte = 0;
  uint64_t records = 0;     // records dropped that could be read (a damaged region counts as bytes only)
  uint64_t bytes = 0;       // bytes dropped in all
  std::vector<std::string> removed;  // later segments deleted whole
  std::string describe() const;
  bool operator==(const TruncatePlan&) const = default;
};
// What truncating would drop; changes nothing. Throws LogError (no such partition, offset past the end, a damaged
// record before `offset`).
TruncatePlan plan_segment_log_truncate(const std::string& dir, int partition, uint64_t offset);
// Carries out a plan: cuts the segment, deletes the later ones (fsynced), lowers the id index's synced end and
// forgets index entries for dropped records. Holds the id index's lock throughout, so it is refused (LogError) while
// another process has the log open for writing; refused too, changing nothing, when the partition no longer gives
// the same plan (records appended or files changed since it was made).
void truncate_segment_log(const std::string& dir, const TruncatePlan& plan);
// A truncation that did not finish (a crash during its cut, which the id index marks) is finished, as the next
// writable open would (under the index's lock: refused, LogError, while another process has the log open for
// writing). Returns whether there was one. truncate_segment_log refuses while one is marked; plan first after this.
bool finish_segment_log_truncations(const std::string& dir);

}  // namespace gongji
