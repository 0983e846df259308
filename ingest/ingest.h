// Ingest (issue 9 item 6): the one way event lines from outside enter the log, and the one form of what it refuses.
// `gongji ingest` (a file or standard input) and `gongji serve`'s POST /v1/events (service/service.h) both use it.
//
// Contract:
// - Each non-blank line is parsed and validated (events/event.h parse_event, under the given code lists) and
//   appended (log/event_log.h). A line is refused, never dropped, with a code: INVALID (it does not parse or
//   validate: the field and the reason), TOO_LARGE (the log's record limit) or ID_CONFLICT (its id is in the log
//   with other content; a log that cannot tell, Kafka, leaves that to the fold). An id already there with the same
//   content is a duplicate: counted, nothing appended, nothing refused.
// - A refusal is written to every sink as its dead letter, one JSON object per line (dead_letter_line): source,
//   line, code, field, reason and raw (the line as given, bytes that are not UTF-8 replaced by U+FFFD).
// - Appended events and written dead letters are durable (log and sinks synced) when ingest() returns. A read error
//   of the input keeps what was read (appended and synced) and throws LogError naming the input and the last line.
#pragma once
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "log/event_log.h"
#include "log/kafka_log.h"

namespace gongji {

enum class IngestCode { invalid, too_large, id_conflict };
// The EVENTS.md spelling: INVALID, TOO_LARGE, ID_CONFLICT.
std::string_view spelled(IngestCode c);

// One refused line.
struct IngestRefusal {
  std::string source;  // the input's name: a file, "-" (standard input), or "http:<token name>"
  uint64_t line = 0;   // 1-based line number in that input
  IngestCode code = IngestCode::invalid;
  std::string field;   // the field at fault ("" when none: TOO_LARGE, or a line that is not JSON)
  std::string reason;
  std::string raw;     // the line as given
};

// The dead-letter form of a refusal: one JSON object, keys in this order (sorted), no newline:
//   {"code":"INVALID","field":"amount","line":7,"raw":"...","reason":"...","source":"events.jsonl"}
std::string dead_letter_line(const IngestRefusal& r);

// Where dead letters go. put() takes the refusal and its dead_letter_line; sync() makes every put durable (or
// delivered) and throws LogError if it cannot.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  virtual void put(const IngestRefusal& r, const std::string& line) = 0;
  virtual void sync() = 0;
};

// A JSON Lines file (DATA/dead-letters.jsonl), appended to, every write checked (issue 8 item 3): a dead letter
// that cannot be written is a LogError ("no space left on device: <path>"), never dropped, and no part of it is
// left in the file (append_whole; only a crash mid-write leaves a torn line). Fault probes
// (log/fault_probe.h): deadletter.before_write (enospc, eio, torn).
class DeadLetterFile final : public DeadLetterSink {
 public:
  explicit DeadLetterFile(std::string path);
  ~DeadLetterFile() override;
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;
  void put(const IngestRefusal& r, const std::string& line) override;
  void sync() override;

 private:
  [[noreturn]] void fail(int err) const;
  std::string path_;
  int fd_ = -1;
};

// A Kafka topic (gongji.dead-letters): the lines are produced at sync(), acks=all (log/kafka_log.h
// publish_dead_letters); `k.topic` is the topic. Lines a failed sync() could not publish are kept and published
// again by the next one: at least once, never dropped. serve's fold dead letters share it in their own form
// (consumers/DOWNSTREAM.md tells the two apart).
class DeadLetterTopic final : public DeadLetterSink {
 public:
  explicit DeadLetterTopic(KafkaOptions k) : k_(std::move(k)) {}
  void put(const IngestRefusal&, const std::string& line) override { lines_.push_back(line); }
  void sync() override;

 private:
  KafkaOptions k_;
  std::vector<std::string> lines_;
};

struct IngestCounts {
  uint64_t appended = 0, duplicate = 0, refused = 0;
};

class Ingestor {
 public:
  // `log` and the sinks outlive the Ingestor. `codes`: the code lists events are validated under (the policy's).
  Ingestor(EventLog& log, std::vector<DeadLetterSink*> sinks, CodeLists codes);
  // Every line of `in`, in order, as if read one at a time (lines are parsed a chunk ahead on a second thread:
  // JSON and validation are about half of the work). `on_refused` sees each refusal after its sinks did.
  IngestCounts ingest(std::istream& in, const std::string& source,
                      const std::function<void(const IngestRefusal&)>& on_refused = {});

 private:
  void refuse(IngestRefusal r, IngestCounts& n, const std::function<void(const IngestRefusal&)>& on_refused);
  void sync_all();
  EventLog& log_;
  std::vector<DeadLetterSink*> sinks_;
  CodeLists codes_;
};

}  // namespace gongji
