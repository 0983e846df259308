// The EventLog over Apache Kafka (librdkafka): the events topic, partitioned exactly like the embedded log
// (POLICY.md TIME-LOG: Kafka's murmur2 of the person id; global events to every partition, family_linked to both
// people's), written by an idempotent producer with acks=all.
//
// Contract differences from the embedded log: append() cannot see what other writers appended, so it always
// answers `appended`; duplicates and ID_CONFLICT are decided by the fold, which keeps an id index per partition
// (projections/store.h), so every path into the log gives the same result. sync() waits for every delivery and
// throws LogError if any failed.
#pragma once
#include <memory>
#include <string>

#include "log/event_log.h"

namespace gongji {

struct KafkaOptions {
  std::string brokers;                 // bootstrap list, host:port[,host:port]
  std::string topic = "gongji.events";
  int timeout_ms = 30000;
};

std::unique_ptr<EventLog> open_kafka_log(const KafkaOptions& opt);

// Produces refused input lines (their JSON dead-letter form) to a dead-letter topic, acks=all; throws LogError
// if any is not acknowledged.
void publish_dead_letters(const std::string& brokers, const std::string& topic, const std::vector<std::string>& lines);

}  // namespace gongji
