// `gongji serve`: one member of the consumer group that folds gongji.events (DESIGN.md "Settlements leave through
// an outbox").
//
// Contract:
// - Each assigned partition is folded into this process's RocksDB store, state and position committed together
//   (PartitionFolder). A partition gained from another member is caught up from this store's own position: the
//   events before the group's committed offset are folded but not published again.
// - Output records leave through an outbox: they are committed to RocksDB first, then produced to the settlements
//   topic (dead letters to the dead-letter topic) in Kafka transactions that also commit the group's offsets,
//   each of about ServeOptions::transaction_records records, ending between two events' records.
//   A restart republishes from the outbox whatever lies between the group's committed offset and the store's
//   position, so a read_committed consumer sees every output record exactly once, whenever the process dies.
// - What librdkafka marks retriable is retried (at most 20 times and a minute); a transaction it says must be
//   aborted is aborted and redone; a producer with a fatal error is recreated (issue 8 item 10). A transaction that
//   still fails, or a store that cannot be written (ENOSPC, EIO), ends the process with exit_code::kFailure and a
//   reason on stderr, having published nothing it had not committed: the next start recovers from the outbox.
// - Dead letters of the fold are published to the settlements topic in their place (kind dead_letter) and to the
//   dead-letter topic. No record ends serve (the fold turns a poison record into a dead letter); records it cannot
//   have do (log/kafka_read.h: a record batch failing its CRC32C, an offset the topic no longer holds):
//   exit_code::kFailure naming the topic, partition and offset, nothing from there on folded or published. So do a
//   fatal consumer error (a static member fenced by another with its id) and an assignment librdkafka refuses.
// - Crash points (log/fault_probe.h): serve.before_early_commit, serve.before_outbox_commit,
//   serve.after_outbox_commit, serve.before_txn_commit, serve.after_txn_commit.
// - Query service (issue 11 item 1): with `listen` set, the process answers the query service's endpoints
//   (service/service.h) beside its folding, from its own store, for the partitions it owns; a person of another
//   partition is forwarded to its owner, found from the group's metadata (consumers/group_owners.h).
#pragma once
#include <map>
#include <string>

#include "service/service.h"

namespace gongji {

struct ServeOptions {
  std::string brokers, data_dir, policy_file;
  std::string kafka_config;  // a librdkafka properties file (log/kafka_log.h read_kafka_config); "" = none
  std::string group = "gongji";
  std::string events_topic = "gongji.events", settlements_topic = "gongji.settlements",
              dead_letter_topic = "gongji.dead-letters";
  // Events per batch (a batch is also cut 500 ms after the last flush ended). Issue 10: `serve` alone over a full
  // topic, default threads, wall seconds (/usr/bin/time, separate runs, 2026-12-03). 274,183 records (20,000
  // people): 2,000: 8.43 and 6.82; 8,000: 5.99 and 5.06; 16,000: 4.66 and 4.85, peak RSS 0.42-0.43 GB at 2,000
  // against 0.66-0.68 GB at 16,000. 3,739,031 records (10% of the city), one run each: 2,000: 149.6 s; 16,000:
  // 112.2 s. Since each fold worker commits its own partitions and the wire writes no `line` (schema version 3),
  // 3,953,074 records, back to back: 16,000: 95.3 s (peak RSS 1.70 GB); 32,000: 88.4 s (1.78 GB); 64,000: 87.6 s
  // (2.00 GB); 16,000 again: 97.7 s. A person is written once per batch; the cost is memory and, after a crash, a
  // larger outbox to publish. Since serve reads each partition's records of a batch ahead as the fold does
  // (2026-12-04, the same 10% topic, runs alternating, wall seconds less the 3 idle): 32,000: 57.83, 59.83 and
  // 57.41 s (peak RSS 2.28-2.31 GB); 64,000: 56.83, 52.88 and 54.70 s (2.38-2.54 GB), so 64,000. At 64,000 a batch
  // held about 8,000 records a partition, where `fold`'s holds 64,000: serve wrote 4.05 M persons over the year
  // against the fold's 1.91 M. Since a batch waiting for its transaction holds its records in their wire form and at
  // most one batch waits (2026-12-05, the same topic, wall seconds less the idle 3): 64,000: 59.74 s (peak RSS 2.30
  // GB; 2.54 GB before); 128,000: 53.31 s (2.60 GB); 256,000: 51.58, 49.53 and 51.56 s (2.55-2.75 GB, 3.19-3.22 M
  // persons written); 512,000: 50.78 and 51.63 s (2.80-3.05 GB, 2.50 M persons; with two batches waiting 49.24,
  // 55.43, 45.79 and 48.87 s), against the Kafka Streams peer's 57.35, 52.76, 51.03, 51.81, 49.93 and 53.04 s in
  // the same rounds. So 512,000: about 64,000 a partition of the 8, as `fold`, for about 0.5 GB more than 64,000.
  size_t batch_events = 512000;
  // The most records one Kafka transaction holds, about: a batch's records (live), or a partition's outbox after a
  // restart (after a crash up to about 3 batches; with a new --group, everything), go in transactions of about this
  // many records, each cut between two events' records and committing the group's offsets where it ends, so that
  // none outlasts transaction.timeout.ms (15 s unless --kafka-config sets it) however many records a batch writes
  // (a month's close at the city's size: about 830,000 account credits). One event's records are never split: a
  // transaction holds at least those (a December close may write one for each account holder of the partition).
  // A live transaction of about 500,000 records took 1.6-2.7 s on the 2-core machine of issue 10; over the city's
  // year (session 43, 2026-12-06, the publisher's batches whole) the longest took 3.0 s (477,039 records). The cost
  // of cutting: `serve` alone over 10% of the city's year, three runs each, alternating, took 51.10, 49.00 and
  // 50.24 s at 100,000 against 45.56, 47.24 and 57.59 s with no cut (10,000,000), within the spread of runs.
  size_t transaction_records = 100000;
  // One partition's part of a batch is committed (unsynced, published only after the batch's WAL sync) once it holds
  // this many events, as `fold --batch` commits each partition's (FoldOptions::batch_events, whose default this is),
  // or FoldOptions::max_persons_in_memory persons decoded: under skew (a partition gained with a backlog, a member
  // with few partitions) one partition may hold all of --batch's events.
  size_t partition_batch_events = FoldOptions{}.batch_events;
  // The partitions of a batch are folded side by side on this many threads. Measured as above at 20,000 people,
  // batches of 16,000, two runs each: 1 thread 5.38 and 6.46 s, 2 threads 5.00 and 5.61 s; a small gain, since the
  // broker, the publisher and librdkafka share the 2 cores (serve alone used about 1.3 cores).
  int fold_threads = 2;
  int idle_exit_seconds = 0;  // exit after this long with nothing to do (0: run until SIGTERM / SIGINT)
  // SIGTERM / SIGINT ask for an orderly stop (the batch in hand folded, committed and published, then exit 0). A
  // broker that does not answer can hold that stop for minutes (librdkafka's transactional calls wait up to 60 s and
  // are retried), so after this many seconds, or at a second signal, serve ends at once with exit_code::kFailure,
  // saying so. Nothing is lost: what the store committed and the group had not published is in the outbox, and the
  // next start publishes it (the crash tests end serve at each of its points).
  int stop_grace_seconds = 30;
  // A transactional call (init_transactions, begin, send_offsets, commit) that fails with an error librdkafka marks
  // retriable (a broker that does not answer: each call times out retriably) is called again for at most this many
  // seconds in all, each call on its own (a transaction's send_offsets and commit may each take it), and at most 20
  // times, then serve ends with exit_code::kFailure naming the call and the attempts; what the store committed is
  // published by the next start (ServeOnAnUnreachableBroker.FailsWithinTheBrokerWait).
  int broker_wait_seconds = 60;
  std::string listen;         // HOST:PORT of the query service; "" = none
  QueryOptions query;         // its options (tokens, access log, TLS, rate, ready lag); listen and data_dir are set
};

int serve(const ServeOptions& opt);

}  // namespace gongji
