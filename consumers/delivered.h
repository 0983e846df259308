// The records of one partition that `serve` folds from what Kafka delivered (consumers/serve.cc fold_partition).
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "log/event_log.h"

namespace gongji {

// The messages of partition `partition`, in delivery order, as records to fold, leaving out each one behind the
// position: folded before (delivered again, or the consumer's offset reset). Each is judged against the position
// the records kept before it leave (their offset + 1, as PartitionFolder::apply sets it), starting from `next` (the
// folder's next_offset), so a repeated or backward offset inside one delivery is left out as one at a time would
// be; applied, it would stop `serve` (INV-LOG-FORWARD). The payloads point into the messages.
// `Message`: RdKafka::Message, or any type with its offset(), timestamp().timestamp, payload() and len().
template <typename Message>
std::vector<LogRecord> records_to_fold(int partition, uint64_t next,
                                       const std::vector<std::unique_ptr<Message>>& msgs) {
  std::vector<LogRecord> records;
  records.reserve(msgs.size());
  for (const auto& m : msgs) {
    LogRecord r;
    r.partition = partition;
    r.offset = static_cast<uint64_t>(m->offset());
    if (r.offset < next) continue;
    next = r.offset + 1;
    r.ingested_ms = m->timestamp().timestamp;
    r.payload = std::string_view(static_cast<const char*>(m->payload()), m->len());
    records.push_back(r);
  }
  return records;
}

}  // namespace gongji
