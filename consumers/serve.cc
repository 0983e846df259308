#include "consumers/serve.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <set>
#include <span>
#include <thread>

#include <xxhash.h>

#include "consumers/delivered.h"
#include "consumers/exit_codes.h"
#include "consumers/group_owners.h"
#include "consumers/transactions.h"
#include "oplog/oplog.h"
#include "log/fault_probe.h"
#include "log/io_error.h"
#include "ingest/ingest.h"
#include "log/kafka_log.h"
#include "log/kafka_read.h"
#include "projections/store.h"
#include "service/queries.h"
#include "wire/output_record.h"

namespace gongji {
namespace {

std::atomic<bool> g_stop{false};

struct Fatal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A transaction that librdkafka says must be aborted and redone (txn_requires_abort), or whose producer is
// unusable and must be recreated (is_fatal). Both are redone from the outbox; anything else is Fatal.
struct Redo : std::runtime_error {
  Redo(const std::string& what, bool fatal) : std::runtime_error(what), producer_fatal(fatal) {}
  bool producer_fatal;
};

// Bounds on retrying what librdkafka marks retriable (issue 8 item 10): a fresh broker answers "Coordinator load in
// progress" for a few seconds; a broker that stays away that long is a failure (the outbox recovers on restart).
// Attempts and time both bound it: a call that times out (60 s) is retriable too, so 20 attempts of an unreachable
// broker kept serve waiting 20 minutes, --idle-exit or not (ServeOnAnUnreachableBroker.FailsWithinTheBrokerWait).
constexpr int kMaxAttempts = 20;
constexpr std::chrono::milliseconds kRetryPause{500};

void setc(RdKafka::Conf* c, const std::string& k, const std::string& v) {
  std::string err;
  if (c->set(k, v, err) != RdKafka::Conf::CONF_OK) throw Fatal("kafka config " + k + ": " + err);
}

std::string seconds_text(std::chrono::steady_clock::duration d) {  // "1.2 s"
  char b[32];
  std::snprintf(b, sizeof b, "%.1f s", std::chrono::duration<double>(d).count());
  return b;
}

// Runs one transactional call, calling it again while librdkafka marks its error retriable (bounded: kMaxAttempts,
// and `retry_for` in all, ServeOptions::broker_wait_seconds, each attempt given at most `timeout_ms` and what is left
// of `retry_for`, at least 1 s). Throws Redo when the transaction must be aborted or the producer recreated, Fatal for
// anything else.
void txn_call(const std::function<RdKafka::Error*(int timeout_ms)>& call, int timeout_ms, const char* what,
              std::chrono::seconds retry_for) {
  const auto first = std::chrono::steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    using std::chrono::milliseconds;
    const auto left = std::chrono::duration_cast<milliseconds>(retry_for - (std::chrono::steady_clock::now() - first));
    const int floor_ms = std::min(1000, timeout_ms);  // at least 1 s, unless the call's own timeout is less
    const int ms = timeout_ms <= 0 ? 0 : static_cast<int>(std::clamp<int64_t>(left.count(), floor_ms, timeout_ms));
    std::unique_ptr<RdKafka::Error> err(call(ms));
    if (!err) return;
    std::string msg = std::string(what) + ": " + err->str();
    if (err->is_fatal()) throw Redo(msg, true);
    if (err->txn_requires_abort()) throw Redo(msg, false);
    if (!err->is_retriable()) throw Fatal(msg);
    if (const auto spent = std::chrono::steady_clock::now() - first; attempt >= kMaxAttempts || spent >= retry_for)
      throw Fatal(msg + " (still failing after " + std::to_string(attempt) + (attempt == 1 ? " attempt" : " attempts") +
                  " in " + seconds_text(spent) + ")");
    oplog::warn(msg + " (retriable; retrying)");
    std::this_thread::sleep_for(kRetryPause);
  }
}

class Server : public RdKafka::RebalanceCb {
 public:
  explicit Server(const ServeOptions& opt)
      : opt_(opt),
        policy_(default_policy()),
        store_(opt.data_dir + "/state") {
    policy_ = fold_policy(store_, opt.policy_file);  // the store's own policy, or a refusal (service/queries.h)
    kafka_.brokers = opt.brokers;
    kafka_.topic = opt.events_topic;
    if (!opt.kafka_config.empty()) kafka_.config = read_kafka_config(opt.kafka_config);
    std::string err;
    std::string abs = std::filesystem::absolute(opt.data_dir).string();
    char txid[64];
    std::snprintf(txid, sizeof txid, "gongji-serve-%016llx",
                  static_cast<unsigned long long>(XXH3_64bits(abs.data(), abs.size())));
    txid_ = txid;
    make_producer();
    if (!opt.listen.empty()) start_query_service();

    std::unique_ptr<RdKafka::Conf> cc(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    setc(cc.get(), "bootstrap.servers", opt.brokers);
    for (const auto& [k, v] : kafka_.config) setc(cc.get(), k, v);
    if (query_) setc(cc.get(), "client.id", member_client_id(query_->member()));  // group_owners.h
    setc(cc.get(), "group.id", opt.group);
    setc(cc.get(), "enable.auto.commit", "false");
    setc(cc.get(), "isolation.level", "read_committed");
    setc(cc.get(), "session.timeout.ms", "10000");
    setc(cc.get(), "group.instance.id", txid);  // static membership: a restarted member takes its partitions back
    setc(cc.get(), "heartbeat.interval.ms", "1000");
    check_what_is_read(*cc);  // each record batch's CRC32C; no offset moved by librdkafka (log/kafka_read.h)
    if (cc->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err) != RdKafka::Conf::CONF_OK)
      throw Fatal(err);
    consumer_.reset(RdKafka::KafkaConsumer::create(cc.get(), err));
    if (!consumer_) throw Fatal("consumer: " + err);

    RdKafka::Metadata* md = nullptr;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(consumer_.get(), opt.events_topic, nullptr, err));
    if (consumer_->metadata(false, t.get(), &md, 30000) != RdKafka::ERR_NO_ERROR) throw Fatal("no metadata");
    std::unique_ptr<RdKafka::Metadata> mdp(md);
    for (const auto* tm : *md->topics())
      if (tm->topic() == opt.events_topic) partitions_ = static_cast<int>(tm->partitions()->size());
    if (partitions_ < 1) throw Fatal("topic " + opt.events_topic + " not found");
    if (owners_) owners_->set_partitions(partitions_);
    // Issue 8 item 2: the topic must be the log this store folded (its partition count, every partition reaching
    // the store's position, the anchor record there), checked before anything is republished or folded.
    std::unique_ptr<EventLog> log = open_kafka_log(kafka_);
    auto on_topic = [&](const std::function<void()>& step) {
      try {
        step();
      } catch (const StoreError& e) {
        throw Fatal("topic " + opt.events_topic + ": " + e.what());
      }
    };
    on_topic([&] { store_.check_log(*log); });
    store_.record_run(policy_, partitions_);
    on_topic([&] { store_.record_latest_dates(*log); });  // a format-9 store: its l/ and u/ keys from the topic
  }

  // (Re)creates the transactional producer; init_transactions fences and aborts whatever an earlier producer with
  // this transactional id left open. A fatal error on a fresh producer is retried with another fresh one.
  void make_producer() {
    for (int attempt = 1;; ++attempt) {
      std::string err;
      std::unique_ptr<RdKafka::Conf> pc(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
      setc(pc.get(), "bootstrap.servers", opt_.brokers);
      // Defaults a --kafka-config may change. LZ4: `serve` over 10% of the city's year (2026-12-05, runs
      // alternating) took 59.8, 62.6 and 62.2 s against 70.0, 67.1 and 63.1 s with its records uncompressed (the
      // broker shares the 2 cores: more bytes cost it, and the system, more than LZ4 costs serve).
      setc(pc.get(), "linger.ms", "5");
      setc(pc.get(), "compression.type", "lz4");
      // A member that dies mid-transaction leaves it open; until the broker aborts it, read_committed consumers
      // wait at it. Every transaction holds about --transaction-records records (100,000 by default), so abort
      // abandoned ones within 15 s: one of about 500,000 records took 1.6-2.7 s over 10% of the city's year
      // (serve's last line names the longest).
      setc(pc.get(), "transaction.timeout.ms", "15000");
      for (const auto& [k, v] : kafka_.config) setc(pc.get(), k, v);
      setc(pc.get(), "transactional.id", txid_);  // stable per store: a restart fences and aborts its previous self
      producer_.reset();
      producer_.reset(RdKafka::Producer::create(pc.get(), err));
      if (!producer_) throw Fatal("producer: " + err);
      try {
        txn_call([&](int ms) { return producer_->init_transactions(ms); }, 60000, "init_transactions", broker_wait());
        return;
      } catch (const Redo& r) {
        if (attempt >= kMaxAttempts) throw Fatal(r.what());
        oplog::warn(std::string(r.what()) + " (recreating the producer)");
      }
    }
  }

  // The query service beside the fold (serve.h): its own store read as a secondary instance, the topic as its log,
  // the group's metadata for the partitions' owners. Bound here; it answers once run() starts it.
  void start_query_service() {
    QueryOptions q = opt_.query;
    q.data_dir = opt_.data_dir;
    q.listen = opt_.listen;
    const std::string host = q.listen.substr(0, q.listen.rfind(':'));
    if (q.member.empty() && (host == "0.0.0.0" || host == "::" || host == "[::]"))
      throw Fatal("--listen " + q.listen + " is a wildcard address: give --advertise URL, the address other members "
                  "reach this one at");
    q.policy_file = opt_.policy_file;
    q.open_log = [k = kafka_] { return open_kafka_log(k); };
    q.check_log = false;  // serve checks its store against the topic itself, naming the topic
    q.more_metrics = [this] { return transaction_metrics(); };
    std::map<std::string, std::string> admin = kafka_.config;
    admin["bootstrap.servers"] = opt_.brokers;
    owners_ = std::make_shared<GroupOwners>(admin, opt_.group, opt_.events_topic);
    q.owners = owners_;
    q.intake = make_intake();
    query_ = std::make_unique<QueryService>(q);
    owners_->set_self(query_->member());
  }

  // POST /v1/events (service.h): into the events topic through the one ingest (ingest/ingest.h), as `gongji ingest
  // --brokers` does; its refusals go to the dead-letter topic in ingest's form; codes under this member's policy.
  std::shared_ptr<Ingestor> make_intake() const {
    struct Intake {
      Intake(std::unique_ptr<EventLog> l, KafkaOptions dead_letters, const CodeLists& codes)
          : log(std::move(l)), dead(std::move(dead_letters)), ingestor(*log, {&dead}, codes) {}
      std::unique_ptr<EventLog> log;
      DeadLetterTopic dead;
      Ingestor ingestor;
    };
    KafkaOptions dead = kafka_;
    dead.topic = opt_.dead_letter_topic;
    auto intake = std::make_shared<Intake>(open_kafka_log(kafka_), dead, policy_.codes());
    return std::shared_ptr<Ingestor>(intake, &intake->ingestor);
  }

  std::string transaction_metrics() const {
    return "# HELP gongji_transactions_total Kafka transactions of this member, by outcome (each of at most about "
           "--transaction-records records).\n"
           "# TYPE gongji_transactions_total counter\n"
           "gongji_transactions_total{outcome=\"committed\"} " + std::to_string(txn_committed_.load()) + "\n"
           "gongji_transactions_total{outcome=\"aborted\"} " + std::to_string(txn_aborted_.load()) + "\n";
  }

  int run() {
    std::thread http;
    if (query_) {
      http = std::thread([this] {
        if (!query_->run()) oplog::error("the query service stopped serving");
      });
      query_->wait_until_running(std::chrono::seconds(5));  // so that stop() below reaches a running server
      oplog::info("query service listening on " + query_->member());
    }
    struct Join {
      QueryService* q;
      std::thread& t;
      ~Join() {
        if (q) q->stop();
        if (t.joinable()) t.join();
      }
    } join{query_.get(), http};
    publisher_ = std::thread([this] { publish_loop(); });
    struct StopPublisher {
      Server* s;
      ~StopPublisher() { s->stop_publisher(); }
    } stop_publisher{this};
    RdKafka::ErrorCode rc = consumer_->subscribe({opt_.events_topic});
    if (rc != RdKafka::ERR_NO_ERROR) throw Fatal("subscribe: " + RdKafka::err2str(rc));
    last_work_ = waiting_since_ = std::chrono::steady_clock::now();
    auto last_flush = last_work_;
    while (!g_stop) {
      if (publish_failed_) wait_published();  // rethrows the publisher's failure
      auto before = std::chrono::steady_clock::now();
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      auto now = std::chrono::steady_clock::now();
      take(std::move(m), now - before, now);
      if (in_batch_ >= opt_.batch_events || (in_batch_ > 0 && now - last_flush > std::chrono::milliseconds(500))) {
        flush();
        // Timed from the flush's end: a flush longer than 500 ms must not cut the next batch after one record.
        last_flush = std::chrono::steady_clock::now();
      }
      // --idle-exit counts only while the group has given this member an assignment (possibly empty, when the group
      // has more members than partitions): a slow join or rejoin is not idleness, and ending then would leave the
      // topic unfolded with exit 0.
      const bool idle = now - last_work_ > std::chrono::seconds(opt_.idle_exit_seconds);
      if (opt_.idle_exit_seconds > 0 && in_batch_ == 0 && assigned_ && idle) break;
      if (!assigned_) check_join(now);
    }
    flush();
    wait_published();
    consumer_->close();
    std::cout << "serve: folded " << stats_.events << " events, published " << published_records_
              << " output records\n";
    oplog::info(stats_.storage());
    oplog::info(phase_.text() + "; the longest Kafka transaction took " + seconds_text(longest_txn_) + " (" +
                std::to_string(longest_txn_records_) + " records), the largest held " +
                std::to_string(largest_txn_records_) + " records");
    return 0;
  }

  // Partition assignment and revocation (eager protocol). Runs inside librdkafka's consume(): no exception may
  // cross it, so a failure here reports and ends the process at once (safe: the outbox recovers on restart).
  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    try {
      rebalance(c, err, parts);
    } catch (const std::exception& e) {
      oplog::error(stop_message(e));
      std::_Exit(exit_code::kFailure);
    }
  }

  // What serve says when it stops on an error (its last line on stderr, through oplog at level error).
  static std::string stop_message(const std::exception& e) {
    if (dynamic_cast<const StoreError*>(&e))
      return std::string("the store cannot be written: ") + e.what() +
             " (stopped taking records; nothing uncommitted was published; restart once it can be written)";
    return std::string(e.what()) + " (stopping; a restart recovers from the outbox)";
  }

 private:
  // One message from the consumer: a record of an assigned partition at or past its fold's position joins the batch
  // (folded by flush, fold_batch); `waited` is the time consume() took for it.
  void take(std::unique_ptr<RdKafka::Message> m, std::chrono::steady_clock::duration waited,
            std::chrono::steady_clock::time_point now) {
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      phase_.consume += waited;  // (a rebalance inside consume() counts here too)
      last_work_ = now;
      auto it = folders_.find(m->partition());
      if (it != folders_.end() && static_cast<uint64_t>(m->offset()) >= it->second->next_offset()) {
        touched_.insert(m->partition());
        batch_[m->partition()].push_back(std::move(m));
        ++in_batch_;
      }
    } else if (records_skipped(m->err())) {
      // Records serve cannot have: a batch librdkafka could not read (failing its CRC32C: damaged on the broker's
      // disk) and went past, or an offset the topic no longer holds (retention, DeleteRecords): folding on would fold
      // the records after them as if they were the next. serve stops, the batch in hand neither committed nor
      // published; the restart reads from the store's position again, and stops here again until the broker serves
      // those records whole (from a sound replica, or restored).
      throw Fatal(consume_error(*m, opt_.events_topic) + ": serve stops before it (nothing from there on is " +
                  "folded or published)");
    } else if (m->err() == RdKafka::ERR__FATAL) {  // e.g. this static member fenced by another with its id
      throw Fatal("kafka: the consumer failed: " + m->errstr());
    } else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF) {
      oplog::warn("consume: " + m->errstr());
      last_consume_error_ = m->errstr();
    }
  }

  void rebalance(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err, std::vector<RdKafka::TopicPartition*>& parts) {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      oplog::info("assigned " + std::to_string(parts.size()) + " partition(s) of " + opt_.events_topic + " after " +
                  seconds_text(std::chrono::steady_clock::now() - waiting_since_) + " waiting to join the group");
      // After a failure nothing more is published (flush): not even an assigned partition's outbox.
      if (failed_) throw Fatal("serve stopped after a failure and takes no partitions");
      // What the group has published must be known before anything is published: a failed fetch would read
      // as "nothing yet" and publish again. Retry; if it still fails, stop (safe: the outbox recovers).
      RdKafka::ErrorCode rc = RdKafka::ERR_NO_ERROR;
      for (int attempt = 0; attempt < 10; ++attempt) {
        rc = c->committed(parts, 30000);
        bool all = rc == RdKafka::ERR_NO_ERROR;
        for (auto* tp : parts) all = all && tp->err() == RdKafka::ERR_NO_ERROR;
        if (all) break;
        if (rc == RdKafka::ERR_NO_ERROR) rc = RdKafka::ERR__FAIL;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      if (rc != RdKafka::ERR_NO_ERROR) {
        oplog::error("cannot read the group's committed offsets: " + RdKafka::err2str(rc) +
                     " (stopping; a restart recovers from the outbox)");
        std::_Exit(exit_code::kFailure);
      }
      for (auto* tp : parts) {
        int p = tp->partition();
        auto folder = std::make_unique<PartitionFolder>(store_, p, partitions_, policy_);
        uint64_t local = folder->next_offset();
        uint64_t committed = tp->offset() >= 0 ? static_cast<uint64_t>(tp->offset()) : 0;
        folders_[p] = std::move(folder);
        published_[p] = committed;
        catch_up_to_[p] = committed;
        if (local > committed) {  // the outbox: folded here, never published
          wait_published();
          republish(p, committed, local);
          published_[p] = local;
        }
        tp->set_offset(static_cast<int64_t>(local));
      }
      if (const RdKafka::ErrorCode assigned = c->assign(parts); assigned != RdKafka::ERR_NO_ERROR) {
        // (not thrown: this runs inside librdkafka's consume())
        oplog::error("cannot take the partitions assigned: " + RdKafka::err2str(assigned) +
                     " (stopping; a restart recovers from the outbox)");
        std::_Exit(exit_code::kFailure);
      }
      set_owned();
      last_work_ = std::chrono::steady_clock::now();  // republishing is work: --idle-exit counts from its end
      assigned_ = true;
    } else {
      // What was consumed of these partitions and not folded is dropped, not folded: a batch is up to --batch events,
      // seconds of work while the whole group waits for this member. Nothing of it is committed, so whoever takes a
      // partition next (this member again, from its store's position) reads those records again.
      wait_published();  // the group's offsets of these partitions are committed before another member takes them
      for (auto* tp : parts) {
        if (auto b = batch_.find(tp->partition()); b != batch_.end()) {
          in_batch_ -= b->second.size();
          batch_.erase(b);
        }
        touched_.erase(tp->partition());
        folders_.erase(tp->partition());
        published_.erase(tp->partition());
        catch_up_to_.erase(tp->partition());
      }
      last_work_ = waiting_since_ = std::chrono::steady_clock::now();
      assigned_ = false;  // --idle-exit waits for the next assignment
      c->unassign();
      set_owned();
    }
  }

  // While no assignment comes (the subscription's join, or a rejoin after a revocation): a warning every 30 s, and
  // with --idle-exit, which is for runs meant to end, a failure once the wait passes max(60 s, 10 x --idle-exit),
  // rather than waiting forever for a broker or a group that never answers.
  void check_join(std::chrono::steady_clock::time_point now) {
    const auto waited = now - waiting_since_;
    const auto bound = std::chrono::seconds(std::max<int64_t>(60, int64_t{10} * opt_.idle_exit_seconds));
    const std::string last = last_consume_error_.empty() ? "" : " (the last error: " + last_consume_error_ + ")";
    if (opt_.idle_exit_seconds > 0 && waited > bound)
      throw Fatal("no partition assignment from the group after " + seconds_text(waited) + " waiting to join (with " +
                  "--idle-exit " + std::to_string(opt_.idle_exit_seconds) + ", serve waits at most " +
                  std::to_string(bound.count()) + " s)" + last);
    if (waited > std::chrono::seconds(30) && now >= next_join_warning_) {
      oplog::warn("no partition assignment from the group yet, after " + seconds_text(waited) + " waiting to join" +
                  last);
      next_join_warning_ = now + std::chrono::seconds(30);
    }
  }

  // What the query service answers for (group_owners.h): each assigned partition once its store has committed what
  // the group had published when it was assigned (a partition taken over from another member is answered only once
  // it is no older than what that member answered). Called after each assignment and commit.
  void set_owned() {
    if (!owners_) return;
    std::set<int> owned;
    for (const auto& [p, folder] : folders_)
      if (folder->next_offset() >= catch_up_to_[p]) owned.insert(p);
    if (owned != owned_) owners_->set_owned(owned_ = std::move(owned));
  }

  // An output record on its way to the settlements topic, in its wire form (wire/output_record.h), made as soon as
  // the fold returns the output: a batch waiting for the publisher holds about 1 KB a record, not the settlement's
  // objects (so a batch can be larger: issue 10).
  struct Pending {
    int partition;
    uint64_t offset;
    bool dead_letter;  // also to the dead-letter topic
    std::string value;
  };
  // What publishes the `index`-th output of the event at `offset` of partition `p`: a record that cannot be written
  // stops serve naming its place (Fatal), before anything of its batch is published.
  static Pending to_publish(int p, uint64_t offset, int index, const Output& out) {
    try {
      return {p, offset, out.kind == "dead_letter", output_record(out, p, offset, index)};
    } catch (const std::bad_alloc&) {
      throw;  // no fault of the record's
    } catch (const std::exception& e) {
      throw Fatal("the output record " + std::to_string(index) + " of partition " + std::to_string(p) + " offset " +
                  std::to_string(offset) + " cannot be published: " + e.what());
    }
  }

  void produce_to(const std::string& topic, int32_t part, const std::string& value) {
    for (;;) {
      auto rc = producer_->produce(topic, part, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                                   value.size(), nullptr, 0, 0, nullptr);
      if (rc == RdKafka::ERR_NO_ERROR) return;
      if (rc == RdKafka::ERR__FATAL) throw Redo("produce: " + RdKafka::err2str(rc), true);
      if (rc == RdKafka::ERR__STATE) throw Redo("produce: " + RdKafka::err2str(rc), false);
      if (rc != RdKafka::ERR__QUEUE_FULL) throw Fatal("produce: " + RdKafka::err2str(rc));
      producer_->poll(50);
    }
  }

  // Settlements keep the events partition: one person's records stay in order. A dead letter goes there too, in
  // its place (kind dead_letter: a subscriber can tell a record that was not settled from one not yet seen), and
  // also to the dead-letter topic (DOWNSTREAM.md).
  void produce(const Pending& q) {
    produce_to(opt_.settlements_topic, q.partition, q.value);
    if (q.dead_letter) produce_to(opt_.dead_letter_topic, RdKafka::Topic::PARTITION_UA, q.value);
  }

  std::chrono::seconds broker_wait() const { return std::chrono::seconds(opt_.broker_wait_seconds); }

  // One attempt at the transaction: the items, then the group's offsets, then the commit.
  void transact_once(std::span<const Pending> items, const std::map<int, uint64_t>& positions,
                     RdKafka::ConsumerGroupMetadata& group) {
    txn_call([&](int) { return producer_->begin_transaction(); }, 0, "begin_transaction", broker_wait());
    for (const Pending& q : items) produce(q);
    txn_call([&](int ms) {
      std::vector<RdKafka::TopicPartition*> offs;
      for (auto [p, next] : positions)
        offs.push_back(RdKafka::TopicPartition::create(opt_.events_topic, p, static_cast<int64_t>(next)));
      RdKafka::Error* e = producer_->send_offsets_to_transaction(offs, &group, ms);
      RdKafka::TopicPartition::destroy(offs);
      return e;
    }, 30000, "send_offsets_to_transaction", broker_wait());
    probe::crash_point("serve.before_txn_commit");
    txn_call([&](int ms) { return producer_->commit_transaction(ms); }, 60000, "commit_transaction", broker_wait());
    probe::crash_point("serve.after_txn_commit");
  }

  // The items are already committed to RocksDB (the outbox), so a transaction that must be aborted, or whose
  // producer failed fatally, is redone with the same items and offsets: nothing is lost, and a read_committed
  // consumer never sees the aborted attempt. Bounded; then Fatal (a restart recovers from the outbox).
  void transact(std::span<const Pending> items, const std::map<int, uint64_t>& positions,
                RdKafka::ConsumerGroupMetadata& group) {
    for (int attempt = 1;; ++attempt) {
      try {
        const auto begun = std::chrono::steady_clock::now();
        transact_once(items, positions, group);
        if (const auto took = std::chrono::steady_clock::now() - begun; took > longest_txn_)
          longest_txn_ = took, longest_txn_records_ = items.size();
        largest_txn_records_ = std::max(largest_txn_records_, items.size());
        break;
      } catch (const Redo& r) {
        if (attempt >= kMaxAttempts) throw Fatal(r.what());
        oplog::warn(std::string(r.what()) + (r.producer_fatal ? " (recreating the producer" : " (aborting") +
                    "; redoing the transaction)");
        ++txn_aborted_;
        if (!r.producer_fatal) {
          std::unique_ptr<RdKafka::Error> e(producer_->abort_transaction(60000));
          if (e && !e->is_fatal()) throw Fatal("abort_transaction: " + e->str());
          if (e) make_producer();
        } else {
          make_producer();
        }
        std::this_thread::sleep_for(kRetryPause);
      }
    }
    ++txn_committed_;
    published_records_ += items.size();
  }

  // Handed batches published in transactions of about ServeOptions::transaction_records records, planned by
  // plan_transactions (consumers/transactions.h), so that a transaction's size does not grow with the batch's records
  // (a month's close at the city's size writes about 830,000 account credits over the 8 partitions). A crash between
  // two transactions leaves the rest in the outbox, published by the restart. (Freeing each transaction's records
  // once it commits was tried: peak RSS over 10% of the city's year 2.76 and 2.93 GB against 2.97 and 2.94 GB, within
  // the spread of runs; not kept.)
  void publish(std::span<const Pending> items, const std::map<int, uint64_t>& positions,
               RdKafka::ConsumerGroupMetadata& group) {
    std::vector<RecordPlace> places;
    places.reserve(items.size());
    for (const Pending& q : items) places.push_back({q.partition, q.offset});
    for (const PlannedTransaction& t : plan_transactions(places, positions, opt_.transaction_records))
      transact(items.subspan(t.begin, t.end - t.begin), t.offsets, group);
  }

  // The outbox of one partition in log order, dead letters included (a dead letter is the only output record of
  // its offset, stored in the outbox like the others), published exactly as the live path publishes them, in
  // transactions of about ServeOptions::transaction_records records cut between two offsets (where
  // plan_transactions cuts a batch: streamed here, since an outbox may hold the whole topic), each committing the
  // group's offset where it ends (a crash between two leaves the rest in the outbox). Runs on the consumer's thread
  // while the publisher is idle (wait_published).
  // Says on stderr how many records it published in how many transactions and seconds.
  void republish(int p, uint64_t from, uint64_t to) {
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer_->groupMetadata());
    std::vector<Pending> items;
    int index = 0;
    uint64_t last = UINT64_MAX;
    size_t records = 0, transactions = 1;
    store_.outbox(p, from, to, [&](uint64_t off, const Output& out) {
      // (every record of the offsets before `off`)
      if (off != last && !items.empty() && items.size() >= opt_.transaction_records) {
        transact(items, {{p, off}}, *group);
        items.clear();
        ++transactions;
      }
      index = off == last ? index + 1 : 0;
      last = off;
      items.push_back(to_publish(p, off, index, out));
      ++records;
    });
    transact(items, {{p, to}}, *group);
    oplog::info("partition " + std::to_string(p) + ": republished " + std::to_string(records) +
                " records of its outbox (offsets " + std::to_string(from) + " to " + std::to_string(to - 1) + ") in " +
                std::to_string(transactions) + " transactions, " +
                seconds_text(std::chrono::steady_clock::now() - start));
  }

  // RocksDB first (the outbox), then the Kafka transaction. A store that cannot be written (StoreError: ENOSPC,
  // EIO) propagates: serve stops before publishing anything it has not committed (issue 8 item 3).
  // Once a flush fails no partition starts another commit (a worker already committing finishes; that part of the
  // batch stays unpublished in the outbox) and nothing more is published, not even when librdkafka revokes the
  // partitions as the process ends: the restart publishes the outbox and folds the rest again.
  void flush() {
    if (in_batch_ == 0 || failed_) return;
    try {
      commit_and_publish();
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  // One partition's commit to RocksDB, behind the fold's commit probe (log/fault_probe.h), hit here as Store::fold
  // hits it: an injected ENOSPC / EIO fails this commit as the operating system's would.
  void commit_folder(PartitionFolder& folder, FoldStats& stats, bool sync) {
    store_write_probe("fold.before_commit");
    folder.commit(stats, sync ? Durability::synced : Durability::unsynced);
  }

  // A probe on a write to the store (projections/store.h write_probe), naming the store.
  void store_write_probe(std::string_view point) const { write_probe(point, opt_.data_dir + "/state"); }

  // Folds one partition's records of the batch into its folder, collecting the output records to publish (those
  // at or after what the group has published), and commits them, unsynced; stops at the next record, and starts no
  // commit, once `failed` is set. After a rollback (a poison record), and where Store::fold's batch would end
  // (ServeOptions::partition_batch_events records, FoldOptions::max_persons_in_memory persons decoded), it commits at
  // once, unsynced, as Store::fold does (PartitionFolder::apply_reading_ahead): under skew (a partition gained with a
  // backlog, a member with few partitions) one partition may hold all of --batch's events. Committed early, those
  // records are in the outbox before the flush publishes them, which a restart recovers like any outbox.
  void fold_partition(int p, const std::vector<std::unique_ptr<RdKafka::Message>>& msgs, std::vector<Pending>& outs,
                      FoldStats& stats, const std::atomic<bool>& failed) {
    PartitionFolder& folder = *folders_.at(p);
    const uint64_t published = published_.at(p);
    const std::vector<LogRecord> records = records_to_fold(p, folder.next_offset(), msgs);  // payloads in msgs
    // Read ahead and applied in Store::fold's chunks (FoldOptions::read_ahead; issue 10).
    const FoldOptions as_fold;
    const size_t chunk = std::max<size_t>(as_fold.read_ahead, 1);
    auto applied = [&](const LogRecord& r, std::vector<Output>& produced) {
      if (r.offset >= published)
        for (size_t n = 0; n < produced.size(); ++n)
          outs.push_back(to_publish(p, r.offset, static_cast<int>(n), produced[n]));
      return folder.pending() >= opt_.partition_batch_events ||
             folder.persons_in_memory() >= as_fold.max_persons_in_memory;
    };
    auto commit_early = [&] {
      if (failed) return false;  // after another worker failed nothing is committed
      probe::crash_point("serve.before_early_commit");
      commit_folder(folder, stats, false);
      return true;
    };
    for (size_t at = 0; at < records.size() && !failed; at += chunk)
      folder.apply_reading_ahead(std::span<const LogRecord>(records).subspan(at, std::min(chunk, records.size() - at)),
                                 stats, [&] { return !failed.load(); }, applied, commit_early);
    if (failed) return;  // after another worker failed nothing more is committed
    probe::crash_point("serve.before_outbox_commit");
    commit_folder(folder, stats, false);  // unsynced: commit_and_publish syncs once, after every worker committed
  }

  // The batch's records, folded partition by partition on up to opt_.fold_threads threads (partitions share no key, as
  // in Store::fold: the store ends the same whatever the interleaving), their output records queued in partition
  // order. Each partition's records stay in log order. The first failure is rethrown once every worker stopped.
  void fold_batch() {
    std::vector<int> parts;
    for (const auto& [p, msgs] : batch_) parts.push_back(p);
    std::vector<std::vector<Pending>> outs(parts.size());
    std::vector<FoldStats> stats(parts.size());
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mu;
    auto work = [&] {
      try {
        for (size_t i = next++; !failed && i < parts.size(); i = next++)
          fold_partition(parts[i], batch_.at(parts[i]), outs[i], stats[i], failed);
      } catch (...) {
        std::lock_guard lock(error_mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    };
    std::vector<std::thread> others;
    const size_t workers = std::min<size_t>(static_cast<size_t>(opt_.fold_threads), parts.size());
    try {
      for (size_t w = 1; w < workers; ++w)
        others.emplace_back([&] {
          pthread_setname_np(pthread_self(), "gongji-fold");
          work();
        });
    } catch (...) {  // no thread to be had: this thread folds every partition
    }
    work();
    for (auto& t : others) t.join();
    batch_.clear();
    if (error) std::rethrow_exception(error);
    for (size_t i = 0; i < parts.size(); ++i) {
      stats_ += stats[i];
      for (auto& q : outs[i]) queue_.push_back(std::move(q));
    }
  }

  // The batch folded and committed partition by partition on the fold workers (fold_batch), the WAL synced once,
  // then handed to the publisher: nothing of the batch is published before it is durable in the store.
  void commit_and_publish() {
    auto t0 = std::chrono::steady_clock::now();
    fold_batch();
    auto t1 = std::chrono::steady_clock::now();
    phase_.fold += t1 - t0;
    std::map<int, uint64_t> positions;
    for (int p : touched_) {
      auto it = folders_.find(p);
      if (it == folders_.end()) continue;
      // While catching up a gained partition the fold is behind what the group has published: the committed
      // offset must never move back, or the range between would be published again by its next owner.
      positions[p] = std::max(it->second->next_offset(), published_[p]);
    }
    // One WAL sync per flush (every worker's write has returned) makes every partition's commit durable, and
    // nothing of the flush is published before it.
    store_write_probe("serve.before_store_sync");
    store_.sync();
    probe::crash_point("serve.after_outbox_commit");
    auto t2 = std::chrono::steady_clock::now();
    phase_.commit += t2 - t1;
    for (auto [p, next] : positions) published_[p] = next;  // handed to the publisher, which publishes in order
    hand_over({std::move(queue_), std::move(positions),
               std::shared_ptr<RdKafka::ConsumerGroupMetadata>(consumer_->groupMetadata())});
    phase_.hand_over += std::chrono::steady_clock::now() - t2;
    set_owned();
    queue_.clear();
    touched_.clear();
    in_batch_ = 0;
  }

  // The publisher (issue 10: serve's Kafka transactions overlap the fold). flush() commits a batch to RocksDB (the
  // outbox) and hands it over; one thread publishes them in the order handed (publish: in transactions of about
  // ServeOptions::transaction_records records), taking every batch waiting at once (at most kMaxWaiting), with the
  // latest offsets and group metadata.
  // At most kMaxWaiting batches wait: then flush() waits (one: a batch of 512,000 events holds about 0.5 GB of
  // records, and the publisher keeps up with the fold: the consumer thread waited 0.0 s for it over 10% of the
  // city). Its failure (Fatal: the transaction could not be made) stops it for good and is rethrown on the consumer's
  // thread by the next hand_over or wait_published; what it had not published is in the outbox and is published by
  // the restart.
  struct Handed {
    std::vector<Pending> items;
    std::map<int, uint64_t> positions;
    std::shared_ptr<RdKafka::ConsumerGroupMetadata> group;
  };
  static constexpr size_t kMaxWaiting = 1;

  void hand_over(Handed h) {
    std::unique_lock lock(pub_mu_);
    pub_cv_.wait(lock, [&] { return pub_waiting_.size() < kMaxWaiting || pub_error_; });
    if (pub_error_) std::rethrow_exception(pub_error_);  // flush() marks failed_
    pub_waiting_.push_back(std::move(h));
    pub_cv_.notify_all();
  }

  // Returns once everything handed over is published (the publisher idle). Its failure is rethrown once, and
  // marks failed_: from then on nothing is committed or published (flush) and this returns at once.
  void wait_published() {
    if (failed_) return;
    std::unique_lock lock(pub_mu_);
    pub_cv_.wait(lock, [&] { return (pub_waiting_.empty() && !pub_busy_) || pub_error_; });
    if (!pub_error_) return;
    failed_ = true;
    std::rethrow_exception(pub_error_);
  }

  void publish_loop() {
    pthread_setname_np(pthread_self(), "gongji-publish");  // as top and perf name it
    std::unique_lock lock(pub_mu_);
    for (;;) {
      pub_cv_.wait(lock, [&] { return pub_stop_ || !pub_waiting_.empty(); });
      if (pub_stop_) return;
      Handed all = std::move(pub_waiting_.front());
      pub_waiting_.pop_front();
      for (; !pub_waiting_.empty(); pub_waiting_.pop_front()) {
        Handed& next = pub_waiting_.front();
        all.items.insert(all.items.end(), std::make_move_iterator(next.items.begin()),
                         std::make_move_iterator(next.items.end()));
        for (auto [p, off] : next.positions) all.positions[p] = off;
        all.group = std::move(next.group);
      }
      pub_busy_ = true;
      pub_cv_.notify_all();  // room for hand_over
      lock.unlock();
      std::exception_ptr error;
      try {
        publish(all.items, all.positions, *all.group);
      } catch (...) {
        error = std::current_exception();
      }
      all = Handed{};  // (freed before the lock is taken: a batch is about 0.5 GB of records)
      lock.lock();
      pub_busy_ = false;
      if (error) {
        pub_error_ = error;
        publish_failed_ = true;
        pub_waiting_.clear();
      }
      pub_cv_.notify_all();
      if (error) return;
    }
  }

  // Ends the publisher thread after the batch it is publishing; what is still waiting is not published (run() waits
  // for it first on a normal end; after a failure the outbox has it).
  void stop_publisher() {
    {
      std::lock_guard lock(pub_mu_);
      pub_stop_ = true;
    }
    pub_cv_.notify_all();
    if (publisher_.joinable()) publisher_.join();
  }

  // Where the consumer's thread spent its time (the operational log's last line, with the longest transaction):
  // taking records from librdkafka, folding and committing batches (with the fold workers), syncing the store's WAL,
  // waiting for the publisher to take a batch.
  struct Phases {
    std::chrono::steady_clock::duration consume{}, fold{}, commit{}, hand_over{};
    std::string text() const {
      auto s = seconds_text;
      return "the consumer's thread spent " + s(consume) + " taking records, " + s(fold) +
             " folding and committing batches, " + s(commit) + " syncing the store and " + s(hand_over) +
             " waiting for the publisher";
    }
  } phase_;
  ServeOptions opt_;
  KafkaOptions kafka_;  // the events topic, with the --kafka-config settings every client of serve takes
  std::string txid_;
  Policy policy_;
  Store store_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  int partitions_ = 0;
  std::map<int, std::unique_ptr<PartitionFolder>> folders_;
  std::map<int, uint64_t> published_;  // per assigned partition: the offset published, or handed to the publisher
  std::map<int, uint64_t> catch_up_to_;  // per assigned partition: the group's offset when it was assigned
  std::set<int> owned_;                  // what set_owned last gave owners_
  std::map<int, std::vector<std::unique_ptr<RdKafka::Message>>> batch_;  // consumed, folded by the next flush
                                                                        // (or dropped at a revocation)
  std::vector<Pending> queue_;
  std::set<int> touched_;
  size_t in_batch_ = 0;
  std::chrono::steady_clock::time_point last_work_;  // the last record taken or assignment made (--idle-exit)
  std::chrono::steady_clock::time_point waiting_since_;  // the subscription or the last revocation
  std::chrono::steady_clock::time_point next_join_warning_;
  bool assigned_ = false;  // between an assignment and the next revocation: --idle-exit counts only then
  std::string last_consume_error_;  // named when no assignment comes (check_join)
  bool failed_ = false;
  std::atomic<uint64_t> published_records_{0};  // written by transact (publisher, or republish on this thread)
  FoldStats stats_;
  // The longest attempt at a transaction, begin to commit, and its records (written by the publisher; read once it
  // is idle): transaction.timeout.ms must stay well above it.
  std::chrono::steady_clock::duration longest_txn_{};
  size_t longest_txn_records_ = 0;
  size_t largest_txn_records_ = 0;  // the most records a committed transaction held
  std::atomic<uint64_t> txn_committed_{0}, txn_aborted_{0};  // read by the query service's /metrics
  std::shared_ptr<GroupOwners> owners_;                     // with the query service only
  std::unique_ptr<QueryService> query_;
  std::thread publisher_;  // publish_loop; the fields below are guarded by pub_mu_
  std::mutex pub_mu_;
  std::condition_variable pub_cv_;
  std::deque<Handed> pub_waiting_;
  bool pub_busy_ = false, pub_stop_ = false;
  std::exception_ptr pub_error_;
  std::atomic<bool> publish_failed_{false};  // pub_error_ is set (read without the lock by the consume loop)
};

}  // namespace

namespace {
std::atomic<int> g_signals{0};  // SIGTERM / SIGINT received (g_stop is set at the first)

// The bound on an orderly stop (ServeOptions::stop_grace_seconds): a thread that, once a signal came, ends the process
// at a second signal or when the grace has passed. Stopped and joined when serve returns.
class StopWatchdog {
 public:
  explicit StopWatchdog(int grace_seconds) : thread_([this, grace_seconds] { watch(grace_seconds); }) {}
  ~StopWatchdog() {
    done_ = true;
    thread_.join();
  }

 private:
  void watch(int grace_seconds) {
    std::optional<std::chrono::steady_clock::time_point> first;
    while (!done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const int signals = g_signals.load();
      if (signals == 0) continue;
      const auto now = std::chrono::steady_clock::now();
      if (!first) first = now;
      const bool second = signals > 1, late = now - *first >= std::chrono::seconds(grace_seconds);
      if (!second && !late) continue;
      oplog::error(std::string("stopping at once: ") +
                   (second ? "a second signal came" : "the orderly stop took more than " +
                                                          std::to_string(grace_seconds) + " s (--stop-grace)") +
                   " before it finished (is the broker reachable?); what the store committed and was not published is "
                   "in the outbox, and the next start publishes it");
      std::_Exit(exit_code::kFailure);
    }
  }

  std::atomic<bool> done_{false};
  std::thread thread_;
};

// librdkafka's cooperative-sticky assignor gives and takes back partitions a few at a time (incremental rebalancing),
// where serve's rebalance callback takes and gives back whole assignments (assign / unassign, wait_published before
// a revocation), which librdkafka refuses under that protocol: refused before anything is opened, naming the file.
// So is KIP-848's consumer group protocol (group.protocol=consumer, in any case), incremental by design (librdkafka
// 2.0.2 does not know the key and would fail at the consumer's creation; any other value is left to librdkafka).
// A config file that cannot be read or parsed is refused the same way (a restart would meet it again).
void refuse_incremental_rebalancing(const ServeOptions& opt) {
  if (opt.kafka_config.empty()) return;
  std::map<std::string, std::string> config;
  try {
    config = read_kafka_config(opt.kafka_config);
  } catch (const LogError& e) {
    throw ParameterError("kafka_config", e.what());
  }
  const auto s = config.find("partition.assignment.strategy");
  if (s != config.end() && s->second.find("cooperative") != std::string::npos)
    throw ParameterError("kafka_config", opt.kafka_config + ": partition.assignment.strategy=" + s->second +
                                             ": serve takes and gives back whole assignments (eager rebalancing: "
                                             "range or roundrobin); cooperative-sticky is not supported");
  const auto p = config.find("group.protocol");
  std::string protocol = p == config.end() ? "" : p->second;
  std::transform(protocol.begin(), protocol.end(), protocol.begin(), [](unsigned char c) { return std::tolower(c); });
  if (protocol == "consumer")
    throw ParameterError("kafka_config", opt.kafka_config + ": group.protocol=" + p->second +
                                             ": serve takes and gives back whole assignments (the classic group "
                                             "protocol, eager rebalancing); the consumer protocol (KIP-848) is not "
                                             "supported");
}
}  // namespace

int serve(const ServeOptions& opt) {
  g_signals = 0;
  const auto on_signal = [](int) {
    g_stop = true;
    g_signals.fetch_add(1);
  };
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  StopWatchdog watchdog(opt.stop_grace_seconds);
  try {
    refuse_incremental_rebalancing(opt);
    check_fold_policy_before_writing(opt.data_dir + "/state", opt.policy_file);  // a refused policy changes nothing
    Server s(opt);
    return s.run();
  } catch (const ParameterError& e) {  // a --policy the store refuses (service/queries.h fold_policy), a Kafka
    oplog::error(e.what());             // config serve cannot run with: a restart would meet it again, so it is a
                                        // usage error, without restart advice
    return exit_code::kUsage;
  } catch (const std::exception& e) {  // Fatal, StoreError (ENOSPC, EIO), a policy or config error
    oplog::error(Server::stop_message(e));
    return exit_code::kFailure;
  }
}

}  // namespace gongji
