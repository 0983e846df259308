// Reading an events topic with librdkafka, for this folder's KafkaLog (log/kafka_log.h) and `serve`'s consumer
// (consumers/serve.h): what every such reader checks, and how it names what it could not read. Apart from
// kafka_log.h so that what includes the log's interface does not reach librdkafka's.
#pragma once
#include <string>

#include <librdkafka/rdkafkacpp.h>

namespace gongji {

// Every reader of an events topic (this log's and `serve`'s consumers) has librdkafka check each record batch's
// CRC32C as it reads it (check.crcs: off by librdkafka's default), and never move a reader's offset by itself
// (auto.offset.reset=error): both set here after any --kafka-config. The events' own encoding carries no checksum:
// without the check a byte damaged on a broker's disk (which a broker serves as it finds it) reached the fold as a
// different event, silently (a fold's digest changed, exit 0). And a reader assigned at an offset the topic no longer
// holds (removed by retention or DeleteRecords) was moved to the earliest one it holds, and folded on from there as
// if the records between had never been.
void check_what_is_read(RdKafka::Conf& consumer_conf);

// Whether a consumer error stands for records a reader cannot have: a batch librdkafka could not read (its CRC, its
// compression, its format: it goes past such a batch), a batch the broker says is corrupt (librdkafka would fetch
// it again and again), or an offset the topic no longer holds. A reader must stop there: the next record it would be
// given lies beyond records it never saw.
bool records_skipped(RdKafka::ErrorCode err);

// A consumer error naming the topic, the partition and the offset: "kafka: topic T partition P offset O: <error>".
std::string consume_error(const RdKafka::Message& m, const std::string& topic);

}  // namespace gongji
