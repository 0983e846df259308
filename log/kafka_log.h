// The EventLog over Apache Kafka (librdkafka): the events topic, partitioned exactly like the embedded log
// (POLICY.md TIME-LOG: Kafka's murmur2 of the person id; global events to every partition, family_linked to both
// people's), written by an idempotent producer with acks=all.
//
// Contract differences from the embedded log: append() cannot see what other writers appended, so it always
// answers `appended`; duplicates and ID_CONFLICT are decided by the fold, which keeps an id index per partition
// (projections/store.h), so every path into the log gives the same result. sync() waits for every delivery and
// throws LogError if any failed.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "log/event_log.h"

namespace gongji {

struct KafkaOptions {
  std::string brokers;                 // bootstrap list, host:port[,host:port]
  std::string topic = "gongji.events";
  int timeout_ms = 30000;
  // More librdkafka settings for every client (issue 11 item 5: security.protocol, sasl.mechanism, sasl.username,
  // sasl.password, ssl.ca.location, ...), as read_kafka_config reads them. A setting librdkafka refuses is a
  // LogError naming it.
  std::map<std::string, std::string> config;
};

// A librdkafka properties file (`--kafka-config`): `key=value` lines; blank lines and lines starting with '#' are
// skipped; spaces around the key and the value are trimmed. A line without '=', an empty key, a key given twice or
// bootstrap.servers (that is --brokers) is refused with LogError naming the file and line. Keep it readable by
// its owner only: it may hold a password.
std::map<std::string, std::string> read_kafka_config(const std::string& file);

std::unique_ptr<EventLog> open_kafka_log(const KafkaOptions& opt);

// Produces refused input lines (their JSON dead-letter form) to a dead-letter topic, acks=all; throws LogError
// if any is not acknowledged. serve's dead letters (FlatBuffers OutputRecords) share gongji.dead-letters: the two
// forms are told apart as consumers/DOWNSTREAM.md says.
// `k.topic` is that topic.
void publish_dead_letters(const KafkaOptions& k, const std::vector<std::string>& lines);

}  // namespace gongji
