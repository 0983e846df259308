// Against the real Apache Kafka broker that ops/test.sh starts (GONGJI_BROKERS). Skipped, loudly, without one.
#include <librdkafka/rdkafkacpp.h>

#include "events/fb_codec.h"
#include "events/kafka_log.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

std::string brokers() {
  const char* b = std::getenv("GONGJI_BROKERS");
  return b ? b : "";
}

#define REQUIRE_BROKER()                                                               \
  if (brokers().empty()) GTEST_SKIP() << "GONGJI_BROKERS is not set: run ops/test.sh, which starts Kafka"

// A fresh topic per test, partitioned like the embedded log (8).
std::string fresh_topic(const std::string& name, int partitions = 8) {
  std::string topic = "test." + name + "." + std::to_string(getpid()) + "." + std::to_string(rand());
  std::string cmd = std::string(GONGJI_SOURCE_DIR) + "/ops/kafka/kafka.sh tool org.apache.kafka.tools.TopicCommand " +
                    "--bootstrap-server " + brokers() + " --create --topic " + topic + " --partitions " +
                    std::to_string(partitions) + " --replication-factor 1 >/dev/null 2>&1";
  EXPECT_EQ(run(cmd), 0) << cmd;
  return topic;
}

// Smoke test of the chosen Kafka version with Debian's librdkafka: idempotent produce, a transaction committed
// and one aborted seen correctly by a read_committed consumer in a consumer group.
TEST(KafkaSmoke, IdempotentProduceTransactionsAndGroups) {
  REQUIRE_BROKER();
  std::string topic = fresh_topic("smoke", 1);
  std::string err;
  std::unique_ptr<RdKafka::Conf> pc(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  pc->set("bootstrap.servers", brokers(), err);
  pc->set("transactional.id", "smoke-" + topic, err);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(pc.get(), err));
  ASSERT_TRUE(p) << err;
  std::unique_ptr<RdKafka::Error> e(p->init_transactions(30000));
  ASSERT_FALSE(e) << e->str();
  for (const char* what : {"committed", "aborted"}) {
    e.reset(p->begin_transaction());
    ASSERT_FALSE(e);
    for (int i = 0; i < 5; ++i)
      ASSERT_EQ(p->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(what), strlen(what), nullptr, 0, 0,
                           nullptr),
                RdKafka::ERR_NO_ERROR);
    e.reset(std::string(what) == "committed" ? p->commit_transaction(30000) : p->abort_transaction(30000));
    ASSERT_FALSE(e) << e->str();
  }
  std::unique_ptr<RdKafka::Conf> cc(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  cc->set("bootstrap.servers", brokers(), err);
  cc->set("group.id", "smoke-" + topic, err);
  cc->set("auto.offset.reset", "earliest", err);
  cc->set("isolation.level", "read_committed", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(cc.get(), err));
  ASSERT_TRUE(c) << err;
  c->subscribe({topic});
  int committed = 0, aborted = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (committed < 5 && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(500));
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;
    std::string v(static_cast<const char*>(m->payload()), m->len());
    (v == "committed" ? committed : aborted)++;
  }
  c->close();
  EXPECT_EQ(committed, 5);
  EXPECT_EQ(aborted, 0);
}

// The same event file settled through the embedded log and through Kafka gives identical settlements and state.
TEST(KafkaLog, SameSettlementsAsTheEmbeddedLog) {
  REQUIRE_BROKER();
  TempDir d;
  // No duplicates here: the embedded log drops them at ingest while Kafka keeps them for the fold to skip, which
  // shifts offsets (duplicates through Kafka: StraightToTheTopicBadRecordsAndDuplicates).
  std::string events = generated(600, 21);
  {
    auto log = open_segment_log(d / "embedded/log", 8);
    ingest_lines(*log, events);
    Store s(d / "embedded/state");
    s.fold(*log, default_policy());
  }
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("same");
  {
    auto log = open_kafka_log(k);
    EXPECT_EQ(log->partitions(), 8);
    ingest_lines(*log, events);
    Store s(d / "kafka/state");
    FoldStats st = s.fold(*log, default_policy());
    EXPECT_GT(st.events, 5000u);
  }
  Store a(d / "embedded/state"), b(d / "kafka/state");
  std::string out_a = all_outputs(a), out_b = all_outputs(b);
  EXPECT_GT(out_a.size(), 10000u);
  EXPECT_EQ(out_a, out_b);
  // Offsets are equal too (one record per append in both logs), so the whole store is the same.
  EXPECT_EQ(a.digest(), b.digest());
}

// Malformed records and reused ids sent straight to the topic (bypassing ingest): dead-lettered with a reason,
// duplicates are no-ops, the fold keeps going.
TEST(KafkaLog, StraightToTheTopicBadRecordsAndDuplicates) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("bad", 1);
  auto log = open_kafka_log(k);
  auto ev = [](const std::string& s) { return encode_event(parse_event(s)); };
  const std::string fac = R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,"kind":"township_health_center","ordinary_outpatient":true})";
  const std::string enrol = R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01","scheme":"employee","status":"in_service"})";
  const std::string claim = R"({"type":"claim","id":"c","claim":"K","person":"P","facility":"T1","date":"2023-02-01","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})";
  const std::string other = R"({"type":"claim","id":"c","claim":"K2","person":"P","facility":"T1","date":"2023-02-02","benefit":"ordinary","items":[{"category":"drug","amount":"1.00"}]})";
  const std::string reuse = R"({"type":"claim","id":"c3","claim":"K","person":"P","facility":"T1","date":"2023-02-03","benefit":"ordinary","items":[{"category":"drug","amount":"9.00"}]})";
  for (const std::string& s : {fac, enrol, claim}) log->append_raw(0, ev(s));
  log->append_raw(0, "not an event");
  log->append_raw(0, ev(claim));  // the same event again: a no-op
  log->append_raw(0, ev(other));  // its id with other content: ID_CONFLICT
  log->append_raw(0, ev(reuse));  // a new event reusing the claim id: DUPLICATE_CLAIM
  log->sync();
  Store s(d / "state");
  FoldStats st = s.fold(*log, default_policy());
  EXPECT_EQ(st.events, 7u);
  EXPECT_EQ(st.dead_letters, 2u);
  std::vector<std::string> reasons;
  s.dead_letters([&](const std::string&, const std::string& v) { reasons.push_back(nlohmann::json::parse(v)["reason"]); });
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons[0].find("not a valid FlatBuffers event record"), std::string::npos);
  EXPECT_NE(reasons[1].find("ID_CONFLICT"), std::string::npos);
  std::vector<nlohmann::json> settlements;
  s.outputs([&](const nlohmann::json& r) {
    settlements.push_back(r);
    return true;
  });
  ASSERT_EQ(settlements.size(), 2u);
  EXPECT_EQ(settlements[0]["fund"], "70.00");
  EXPECT_EQ(settlements[1]["reasons"], nlohmann::json::array({"DUPLICATE_CLAIM"}));
}

}  // namespace
}  // namespace gongji::test
