#include "log/kafka_log.h"
#include "log/kafka_read.h"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <utility>

#include "events/fb_codec.h"
#include "events/partition.h"
#include "oplog/oplog.h"

namespace gongji {
namespace {

std::unique_ptr<RdKafka::Conf> conf_for(const KafkaOptions& opt) {
  std::unique_ptr<RdKafka::Conf> c(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  if (c->set("bootstrap.servers", opt.brokers, err) != RdKafka::Conf::CONF_OK) throw LogError("kafka: " + err);
  c->set("client.id", "gongji", err);
  for (const auto& [k, v] : opt.config)
    if (c->set(k, v, err) != RdKafka::Conf::CONF_OK) throw LogError("kafka config " + k + ": " + err);
  return c;
}

}  // namespace

void check_what_is_read(RdKafka::Conf& consumer_conf) {
  std::string err;
  for (const auto& [key, value] : {std::pair{"check.crcs", "true"}, std::pair{"auto.offset.reset", "error"}})
    if (consumer_conf.set(key, value, err) != RdKafka::Conf::CONF_OK) throw LogError("kafka: " + err);
}

bool records_skipped(RdKafka::ErrorCode err) {
  return err == RdKafka::ERR__BAD_MSG || err == RdKafka::ERR__BAD_COMPRESSION || err == RdKafka::ERR_INVALID_MSG ||
         err == RdKafka::ERR__UNDERFLOW || err == RdKafka::ERR__AUTO_OFFSET_RESET ||
         err == RdKafka::ERR_OFFSET_OUT_OF_RANGE;
}

std::string consume_error(const RdKafka::Message& m, const std::string& topic) {
  const std::string code = RdKafka::err2str(m.err()), text = m.errstr();
  return "kafka: topic " + topic + " partition " + std::to_string(m.partition()) + " offset " +
         std::to_string(m.offset()) + ": " + code + (text == code ? "" : ": " + text);
}

namespace {

class DeliveryReport : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR && first_error_.empty()) first_error_ = m.errstr();
    --in_flight;
  }
  std::atomic<long> in_flight{0};
  std::string first_error_;
};

// librdkafka's errors and log lines: the log lines go through oplog (oplog/oplog.h); the last error is kept
// so that a refusal can say why (an authentication failure shows only here: the metadata call just times out).
class ClientEvents : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_LOG) {  // syslog severities: 0-3 error, 4 warning, 5-6 info, 7 debug
      const int sev = static_cast<int>(e.severity());
      const auto level = sev <= 3   ? oplog::Level::error
                         : sev == 4 ? oplog::Level::warn
                         : sev <= 6 ? oplog::Level::info
                                    : oplog::Level::debug;
      oplog::log(level, "kafka " + e.fac() + ": " + e.str());
    }
    if (e.type() == RdKafka::Event::EVENT_ERROR) {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = RdKafka::err2str(e.err()) + ": " + e.str();
    }
  }
  std::string last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  mutable std::mutex mu_;
  std::string last_;
};

class KafkaLog final : public EventLog {
 public:
  explicit KafkaLog(const KafkaOptions& opt) : opt_(opt) {
    make_producer();
    std::string err;
    std::unique_ptr<RdKafka::Metadata> md;
    RdKafka::Metadata* raw = nullptr;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(producer_.get(), opt.topic, nullptr, err));
    auto rc = producer_->metadata(false, t.get(), &raw, opt.timeout_ms);
    md.reset(raw);
    if (rc != RdKafka::ERR_NO_ERROR)
      throw LogError("kafka: no metadata for " + opt.topic + ": " + RdKafka::err2str(rc) +
                     (events_.last().empty() ? "" : " (last error: " + events_.last() + ")"));
    for (const auto* tm : *md->topics())
      if (tm->topic() == opt.topic) {
        if (tm->err() != RdKafka::ERR_NO_ERROR)
          throw LogError("kafka: topic " + opt.topic + ": " + RdKafka::err2str(tm->err()) +
                         " (create it with ops/kafka/kafka.sh topics)");
        partitions_ = static_cast<int>(tm->partitions()->size());
      }
    if (partitions_ < 1) throw LogError("kafka: topic " + opt.topic + " not found");
  }

  ~KafkaLog() override {
    if (reader_) reader_->close();
    if (producer_) producer_->flush(opt_.timeout_ms);
  }

  int partitions() const override { return partitions_; }

  AppendResult append(const Event& e) override {
    std::string payload = encode_event(e);
    // The message key: the person, else the facility (facility events), else the event id (period_closed).
    const std::string key = std::visit(
        [](const auto& b) -> std::string {
          if constexpr (requires { b.person; }) return b.person;
          else if constexpr (requires { { b.facility } -> std::same_as<const std::string&>; }) return b.facility;
          else return b.id;
        },
        e.body);
    for (int p : partitions_for(e, partitions_)) produce(p, key, payload);
    return AppendResult::appended;
  }

  void append_raw(int partition, std::string_view payload) override { produce(partition, "raw", payload); }

  // One record: on the reader kept for single reads (see consume_from).
  void read_at(int partition, uint64_t offset, uint64_t, const std::function<void(const LogRecord&)>& fn) override {
    if (offset >= end_offset(partition)) throw LogError("kafka: offset " + std::to_string(offset) + " is past the end");
    std::lock_guard<std::mutex> lock(read_mu_);
    if (!reader_) reader_ = consumer(true);
    consume_from(*reader_, partition, offset, offset + 1, [&](const LogRecord& r) {
      // the index names records the fold read, never a transaction marker: a gap here is not that record
      if (r.offset != offset)
        throw LogError("kafka: " + opt_.topic + " partition " + std::to_string(partition) +
                       " has no record at offset " + std::to_string(offset) + " (the next is at " +
                       std::to_string(r.offset) + ")");
      fn(r);
      return false;
    });
  }

  // Each call answers for the appends since the last one: a delivery error is reported once, not again by every
  // later sync (a long-lived writer, serve's POST /v1/events, goes on after one). A producer librdkafka says has a
  // fatal error (an idempotent producer that lost its sequence) is replaced by a new one after the throw.
  void sync() override {
    producer_->flush(opt_.timeout_ms);
    std::string failed = std::exchange(dr_.first_error_, std::string());
    std::string fatal;
    if (producer_->fatal_error(fatal) != RdKafka::ERR_NO_ERROR) {
      oplog::warn("kafka: the producer has a fatal error (" + fatal + "); a new one takes its place");
      make_producer();
      dr_.in_flight = 0;
      throw LogError("kafka: delivery failed: " + (failed.empty() ? fatal : failed));
    }
    if (dr_.in_flight > 0)
      throw LogError("kafka: " + std::to_string(dr_.in_flight) + " events not acknowledged in time" +
                     (failed.empty() ? "" : "; delivery failed: " + failed));
    if (!failed.empty()) throw LogError("kafka: delivery failed: " + failed);
  }

  uint64_t end_offset(int partition) override {
    int64_t lo = 0, hi = 0;
    auto rc = producer_->query_watermark_offsets(opt_.topic, partition, &lo, &hi, opt_.timeout_ms);
    if (rc != RdKafka::ERR_NO_ERROR) throw LogError("kafka: watermarks: " + RdKafka::err2str(rc));
    return static_cast<uint64_t>(hi);
  }

  // A whole range, on a consumer of its own.
  void read(int partition, uint64_t from, const std::function<bool(const LogRecord&)>& fn) override {
    const uint64_t end = end_offset(partition);
    if (from >= end) return;
    auto c = consumer(false);
    consume_from(*c, partition, from, end, fn);
    c->close();
  }

 private:
  // A reader: read_committed, no group (only assignments). `single`: the one kept for read_at, whose every read
  // assigns it anew (a reconstruction reads a person's records one at a time; a consumer each would cost a new
  // connection to the broker each time), so it fetches little ahead and has the broker answer at once.
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(bool single) {
    auto c = conf_for(opt_);
    std::string err;
    c->set("group.id", "gongji-reader", err);
    c->set("enable.auto.commit", "false", err);
    c->set("isolation.level", "read_committed", err);
    check_what_is_read(*c);
    if (single)
      for (auto [k, v] : {std::pair{"fetch.wait.max.ms", "5"}, std::pair{"max.partition.fetch.bytes", "65536"},
                          std::pair{"queued.min.messages", "1"}})
        if (c->set(k, v, err) != RdKafka::Conf::CONF_OK) throw LogError("kafka: " + err);
    std::unique_ptr<RdKafka::KafkaConsumer> made(RdKafka::KafkaConsumer::create(c.get(), err));
    if (!made) throw LogError("kafka: cannot create consumer: " + err);
    return made;
  }

  // Passes the records of `partition` from `from` (below `end`) to fn until it returns false.
  void consume_from(RdKafka::KafkaConsumer& consumer, int partition, uint64_t from, uint64_t end,
                    const std::function<bool(const LogRecord&)>& fn) {
    std::vector<RdKafka::TopicPartition*> tps = {
        RdKafka::TopicPartition::create(opt_.topic, partition, static_cast<int64_t>(from))};
    const RdKafka::ErrorCode assigned = consumer.assign(tps);
    RdKafka::TopicPartition::destroy(tps);
    if (assigned != RdKafka::ERR_NO_ERROR) throw LogError("kafka: assign: " + RdKafka::err2str(assigned));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.timeout_ms);
    uint64_t next = from;
    while (next < end) {
      std::unique_ptr<RdKafka::Message> m(consumer.consume(200));
      if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) {
        if (std::chrono::steady_clock::now() > deadline) throw LogError("kafka: reading partition timed out");
        continue;
      }
      if (m->err() != RdKafka::ERR_NO_ERROR) throw LogError(consume_error(*m, opt_.topic));
      // the assignment replaced the previous read's (librdkafka drops what was fetched for that); a record of
      // another partition or before `from` is still never passed on
      if (m->partition() != partition || static_cast<uint64_t>(m->offset()) < from) continue;
      deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.timeout_ms);
      LogRecord r;
      r.partition = partition;
      r.offset = static_cast<uint64_t>(m->offset());
      r.ingested_ms = m->timestamp().timestamp;
      r.payload = std::string_view(static_cast<const char*>(m->payload()), m->len());
      next = r.offset + 1;
      if (!fn(r)) break;
    }
  }

  void make_producer() {
    auto c = conf_for(opt_);
    std::string err;
    for (auto [k, v] : {std::pair{"enable.idempotence", "true"}, std::pair{"acks", "all"},
                        std::pair{"linger.ms", "5"}, std::pair{"message.timeout.ms", "60000"}})
      if (c->set(k, v, err) != RdKafka::Conf::CONF_OK) throw LogError("kafka: " + err);
    // LZ4 unless the --kafka-config says otherwise: the topic smaller on the broker's disk and its wire, for every
    // reader. Over 10% of the city's year (2026-12-05, runs alternating on one broker): `serve` read it in 54.9 and
    // 54.9 s against 56.4 s from the same events uncompressed, the Kafka Streams peer in 51.8 and 48.0 s against
    // 52.8 and 51.7 s.
    if (!opt_.config.contains("compression.type") && !opt_.config.contains("compression.codec"))
      c->set("compression.type", "lz4", err);
    c->set("dr_cb", &dr_, err);
    c->set("event_cb", static_cast<RdKafka::EventCb*>(&events_), err);
    std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(c.get(), err));
    if (!p) throw LogError("kafka: cannot create producer: " + err);  // the one before stays, fatal or not
    producer_ = std::move(p);
  }

  void produce(int partition, const std::string& key, std::string_view payload) {
    for (;;) {
      ++dr_.in_flight;
      auto rc = producer_->produce(opt_.topic, partition, RdKafka::Producer::RK_MSG_COPY,
                                   const_cast<char*>(payload.data()), payload.size(), key.data(), key.size(), 0,
                                   nullptr);
      if (rc == RdKafka::ERR_NO_ERROR) break;
      --dr_.in_flight;
      if (rc != RdKafka::ERR__QUEUE_FULL) throw LogError("kafka: produce: " + RdKafka::err2str(rc));
      producer_->poll(100);
    }
    producer_->poll(0);
  }

  ClientEvents events_;  // before the clients that call it
  KafkaOptions opt_;
  DeliveryReport dr_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::mutex read_mu_;  // one read at a time on reader_
  std::unique_ptr<RdKafka::KafkaConsumer> reader_;
  int partitions_ = 0;
};

}  // namespace

std::unique_ptr<EventLog> open_kafka_log(const KafkaOptions& opt) { return std::make_unique<KafkaLog>(opt); }

std::map<std::string, std::string> read_kafka_config(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw LogError("cannot read the Kafka config " + file);
  std::map<std::string, std::string> config;
  auto trim = [](std::string s) {
    const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
  };
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const std::string where = file + ":" + std::to_string(n) + ": ";
    const size_t eq = t.find('=');
    if (eq == std::string::npos) throw LogError(where + "expected key=value");
    const std::string key = trim(t.substr(0, eq));
    if (key.empty()) throw LogError(where + "empty key");
    if (key == "bootstrap.servers") throw LogError(where + "bootstrap.servers is given by --brokers");
    if (!config.emplace(key, trim(t.substr(eq + 1))).second) throw LogError(where + key + " given twice");
  }
  if (in.bad()) throw LogError("cannot read the Kafka config " + file);
  return config;
}

void publish_dead_letters(const KafkaOptions& opt, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  const std::string& topic = opt.topic;
  auto c = conf_for(opt);
  std::string err;
  c->set("acks", "all", err);
  DeliveryReport dr;
  c->set("dr_cb", &dr, err);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(c.get(), err));
  if (!p) throw LogError("kafka: cannot create producer: " + err);
  for (const auto& l : lines) {
    ++dr.in_flight;
    auto rc = p->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                         const_cast<char*>(l.data()), l.size(), nullptr, 0, 0, nullptr);
    if (rc != RdKafka::ERR_NO_ERROR) throw LogError("kafka: dead letter: " + RdKafka::err2str(rc));
  }
  p->flush(30000);
  if (dr.in_flight > 0 || !dr.first_error_.empty())
    throw LogError("kafka: dead letters not delivered: " + dr.first_error_);
}

}  // namespace gongji
