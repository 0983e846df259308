// The log of events: an interface (like rdkafkacpp.h: small, abstract, implementations behind a factory) with an
// embedded segment-file implementation here and a Kafka one in kafka_log.h.
//
// Contract:
// - Events are partitioned by person (partition.h); an event goes to every partition partitions_for() names.
// - append() is idempotent by event id: an id already in the log with the same canonical content is a duplicate
//   (nothing appended); with different content it is a conflict (ID_CONFLICT, nothing appended).
// - Appended events are durable once sync() returns.
// - read() delivers a partition's records in offset order; offsets are 0, 1, 2, ... per partition.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

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
};

// Opens (creating when absent) the embedded log under `dir`. `partitions` is used when the log is created
// (8 by default, POLICY.md TIME-LOG); an existing log keeps its own count. A torn or corrupt tail of a
// partition is truncated on open. Throws LogError.
// read_only: for readers beside a writer (no tail repair, no appends, the id index opened read-only).
std::unique_ptr<EventLog> open_segment_log(const std::string& dir, int partitions = 8, bool read_only = false);

}  // namespace gongji
