// Against the real Apache Kafka broker that ops/test.sh starts (GONGJI_BROKERS). Skipped, loudly, without one.
#include <httplib.h>
#include <librdkafka/rdkafkacpp.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "events/event_json.h"
#include "consumers/exit_codes.h"
#include "events/fb_codec.h"
#include "events/partition.h"
#include "log/kafka_log.h"
#include "events/outputs_generated.h"
#include "replay/explain.h"
#include "replay/reconstruct.h"
#include "service/auth.h"
#include "service/queries.h"
#include "tests/fixtures.h"
#include "replay/person_view.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <thread>

namespace gongji::test {
namespace {

std::string brokers() {
  const char* b = std::getenv("GONGJI_BROKERS");
  return b ? b : "";
}

#define REQUIRE_BROKER()                                                               \
  if (brokers().empty()) GTEST_SKIP() << "GONGJI_BROKERS is not set: run ops/test.sh, which starts Kafka"

// A fresh topic per test, partitioned like the embedded log (8).
// Waits, at most 30 s, until the broker's metadata lists `topic` with `partitions` partitions, each with a leader.
// TopicCommand returns once the controller has taken the topic, which the broker's metadata may list a moment later:
// a producer asking at once was told "Unknown topic or partition" (KafkaLog.StraightToTheTopicBadRecordsAndDuplicates
// on a fresh-clone CI run, 2026-12-06).
void await_topic(const std::string& topic, int partitions) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  ASSERT_EQ(conf->set("bootstrap.servers", brokers(), err), RdKafka::Conf::CONF_OK) << err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  ASSERT_TRUE(p) << err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(p.get(), topic, nullptr, err));
  ASSERT_TRUE(t) << err;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < until) {
    RdKafka::Metadata* raw = nullptr;
    const RdKafka::ErrorCode rc = p->metadata(false, t.get(), &raw, 5000);
    std::unique_ptr<RdKafka::Metadata> md(raw);
    last = RdKafka::err2str(rc);
    if (rc == RdKafka::ERR_NO_ERROR)
      for (const RdKafka::TopicMetadata* tm : *md->topics()) {
        if (tm->topic() != topic) continue;
        last = RdKafka::err2str(tm->err());
        const auto& parts = *tm->partitions();
        const bool led = std::all_of(parts.begin(), parts.end(), [](const auto* pm) { return pm->leader() >= 0; });
        if (tm->err() == RdKafka::ERR_NO_ERROR && static_cast<int>(parts.size()) == partitions && led) return;
      }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "topic " << topic << " not in the broker's metadata after 30 s: " << last;
}

std::string fresh_topic(const std::string& name, int partitions = 8) {
  std::string topic = "test." + name + "." + std::to_string(getpid()) + "." + std::to_string(rand());
  std::string cmd = std::string(GONGJI_SOURCE_DIR) + "/ops/kafka/kafka.sh tool org.apache.kafka.tools.TopicCommand " +
                    "--bootstrap-server " + brokers() + " --create --topic " + topic + " --partitions " +
                    std::to_string(partitions) + " --replication-factor 1 >/dev/null 2>&1";
  EXPECT_EQ(run(cmd), 0) << cmd;
  await_topic(topic, partitions);
  return topic;
}

nlohmann::json downstream(const std::string& topic);  // below: the Python client's summary of a topic

// What a client does with a failed transactional call, as librdkafka classifies it (issue 8 item 10): call again
// what is retriable, abort and redo what requires abort, recreate the producer after a fatal error.
enum class TxnNext { ok, retry, redo, recreate, fail };
TxnNext classify(const std::unique_ptr<RdKafka::Error>& e) {
  if (!e) return TxnNext::ok;
  if (e->is_fatal()) return TxnNext::recreate;
  if (e->txn_requires_abort()) return TxnNext::redo;
  return e->is_retriable() ? TxnNext::retry : TxnNext::fail;
}

// One transaction of five records `what` on `topic`, committed or aborted, redone as librdkafka says (bounded):
// "" when it ended as asked, else the last error.
std::string smoke_transaction(std::unique_ptr<RdKafka::Producer>& p, const std::function<void()>& recreate,
                              const std::string& topic, const std::string& what, bool commit) {
  std::string last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::unique_ptr<RdKafka::Error> e(p->begin_transaction());
    for (int i = 0; i < 5 && !e; ++i)
      if (p->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(what.data()), what.size(), nullptr, 0,
                     0, nullptr) != RdKafka::ERR_NO_ERROR)
        return "produce to " + topic + " failed";
    TxnNext next = classify(e);
    while (next == TxnNext::ok || next == TxnNext::retry) {  // commit (or abort) again while it is retriable
      e.reset(commit ? p->commit_transaction(30000) : p->abort_transaction(30000));
      next = classify(e);
      if (next == TxnNext::ok) return "";
      if (next == TxnNext::retry) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (++attempt >= 20) break;
    }
    last = e ? e->str() : "retries exhausted";
    if (next == TxnNext::fail) return last;
    if (next == TxnNext::redo) e.reset(p->abort_transaction(30000));
    if (next == TxnNext::recreate || classify(e) == TxnNext::recreate) recreate();
  }
  return last;
}

// Smoke test of the chosen Kafka version with Debian's librdkafka: idempotent produce, a transaction committed
// and one aborted seen correctly by a read_committed consumer in a consumer group. Whatever librdkafka marks
// retriable right after a fresh broker start ("Coordinator load in progress") is retried, not failed.
TEST(KafkaSmoke, IdempotentProduceTransactionsAndGroups) {
  REQUIRE_BROKER();
  std::string topic = fresh_topic("smoke", 1);
  std::string err;
  std::unique_ptr<RdKafka::Producer> p;
  std::function<void()> recreate = [&] {
    std::unique_ptr<RdKafka::Conf> pc(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    pc->set("bootstrap.servers", brokers(), err);
    pc->set("transactional.id", "smoke-" + topic, err);
    for (int attempt = 0; attempt < 20; ++attempt) {
      p.reset();
      p.reset(RdKafka::Producer::create(pc.get(), err));
      ASSERT_TRUE(p) << err;
      std::unique_ptr<RdKafka::Error> e(p->init_transactions(30000));
      if (classify(e) == TxnNext::ok) return;
      ASSERT_NE(classify(e), TxnNext::fail) << e->str();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    FAIL() << "init_transactions kept failing";
  };
  recreate();
  ASSERT_TRUE(p);
  EXPECT_EQ(smoke_transaction(p, recreate, topic, "committed", true), "");
  EXPECT_EQ(smoke_transaction(p, recreate, topic, "aborted", false), "");
  std::unique_ptr<RdKafka::Conf> cc(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  cc->set("bootstrap.servers", brokers(), err);
  cc->set("group.id", "smoke-" + topic, err);
  cc->set("auto.offset.reset", "earliest", err);
  cc->set("isolation.level", "read_committed", err);
  cc->set("enable.partition.eof", "true", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(cc.get(), err));
  ASSERT_TRUE(c) << err;
  c->subscribe({topic});
  int committed = 0, aborted = 0;
  bool at_end = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // Read to the end of the partition (not just to the fifth record): a transaction redone after a retriable error
  // that had in fact committed would show as more than five.
  while (!(at_end && committed >= 5) && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(500));
    if (m->err() == RdKafka::ERR__PARTITION_EOF) at_end = true;
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;
    at_end = false;
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
  // Replay works on Kafka as on the embedded log: re-derivation and point-in-time reconstruction.
  auto log = open_kafka_log(k);
  int rederived = 0;
  b.outputs([&](const nlohmann::json& r) {
    if (r["kind"] != "settlement" || rederived >= 20) return rederived < 20;
    Rederivation rd = rederive_claim(b, *log, r["claim"]);
    EXPECT_TRUE(rd.equal) << r["claim"] << " " << rd.first_difference;
    ++rederived;
    return true;
  });
  EXPECT_EQ(rederived, 20);
  Reconstruction rc = reconstruct_person(b, *log, "P0000010", default_policy());
  auto nofac = [](const std::string&) -> const FacilityState* { return nullptr; };
  EXPECT_EQ(person_view(*rc.state.person("P0000010"), *parse_date("2023-12-31"), default_policy(), nofac),
            person_view(*b.person("P0000010"), *parse_date("2023-12-31"), default_policy(), nofac));
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
  const std::string fac = R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,)"
      R"("kind":"township_health_center","ordinary_outpatient":true})";
  const std::string enrol = R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P",)"
      R"("birth_date":"1970-01-01","scheme":"employee","status":"in_service"})";
  const std::string claim = R"({"type":"claim","id":"c","claim":"K","person":"P","facility":"T1","date":"2023-02-01",)"
      R"("benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})";
  const std::string other = R"({"type":"claim","id":"c","claim":"K2","person":"P","facility":"T1","date":"2023-02-02",)"
      R"("benefit":"ordinary","items":[{"category":"drug","amount":"1.00"}]})";
  const std::string reuse = R"({"type":"claim","id":"c3","claim":"K","person":"P","facility":"T1","date":"2023-02-03",)"
      R"("benefit":"ordinary","items":[{"category":"drug","amount":"9.00"}]})";
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
  s.dead_letters([&](const std::string&, const std::string& v) {
    reasons.push_back(nlohmann::json::parse(v)["reason"]);
  });
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons[0].find("not a valid FlatBuffers event record"), std::string::npos);
  EXPECT_NE(reasons[1].find("ID_CONFLICT"), std::string::npos);
  std::vector<nlohmann::json> settlements;
  s.outputs([&](const nlohmann::json& r) {
    if (r["kind"] != "dead_letter") settlements.push_back(r);
    return true;
  });
  ASSERT_EQ(settlements.size(), 2u);
  EXPECT_EQ(settlements[0]["fund"], "70.00");
  EXPECT_EQ(settlements[1]["reasons"], nlohmann::json::array({"DUPLICATE_CLAIM"}));
  // serve over the same topic: the two dead letters land in the dead-letter topic, the consumer keeps going.
  std::string settle_topic = fresh_topic("badset", 1), dlq = fresh_topic("baddlq", 1);
  ASSERT_EQ(run(std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + d / "serve" +
                " --events-topic " + k.topic + " --settlements-topic " + settle_topic + " --dead-letter-topic " + dlq +
                " --group g-" + k.topic + " --idle-exit 4 >/dev/null 2>&1"), 0);
  auto dead = downstream(dlq);
  EXPECT_EQ(dead["kinds"], nlohmann::json({{"dead_letter", 2}}));
  EXPECT_EQ(downstream(settle_topic)["kinds"], nlohmann::json({{"settlement", 2}, {"dead_letter", 2}}));
}

// A delivery error is reported by the sync after it, once: a long-lived writer (serve's POST /v1/events) goes on
// (issue 9 item 6 review: the first error used to be kept, so every later sync failed too). The broker refuses a
// record above the topic's max.message.bytes, which the producer's own limit lets through.
TEST(KafkaLog, ADeliveryErrorFailsOneSyncNotTheNext) {
  REQUIRE_BROKER();
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = "test.small." + std::to_string(getpid()) + "." + std::to_string(rand());
  const std::string cmd = std::string(GONGJI_SOURCE_DIR) + "/ops/kafka/kafka.sh tool " +
                          "org.apache.kafka.tools.TopicCommand --bootstrap-server " + brokers() + " --create --topic " +
                          k.topic + " --partitions 1 --replication-factor 1 --config max.message.bytes=2000 " +
                          ">/dev/null 2>&1";
  ASSERT_EQ(run(cmd), 0) << cmd;
  await_topic(k.topic, 1);
  auto log = open_kafka_log(k);
  std::string big(5000, '\0');  // random bytes: the producer's LZ4 leaves them over the limit (5000 'x' fit in 2000)
  std::mt19937 bytes(11);
  for (char& c : big) c = static_cast<char>(bytes());
  log->append_raw(0, big);
  try {
    log->sync();
    FAIL() << "a record over the topic's limit was acknowledged";
  } catch (const LogError& e) {
    EXPECT_NE(std::string(e.what()).find("kafka: delivery failed"), std::string::npos) << e.what();
  }
  log->append_raw(0, "small");
  EXPECT_NO_THROW(log->sync());
  EXPECT_EQ(log->end_offset(0), 1u);
}

// ingest --brokers refuses bad lines as the embedded ingest does, and sends them to the dead-letter topic.
TEST(KafkaLog, IngestRefusalsGoToTheDeadLetterTopic) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = "gongji.dead-letters";
  const uint64_t before = open_kafka_log(k)->end_offset(0);
  std::string out;
  int rc = run(std::string(GONGJI_BIN) + " ingest --brokers " + brokers() + " --data-dir " + d / "data" + " " +
                   GONGJI_SOURCE_DIR + "/tests/scenarios/malformed.jsonl 2>/dev/null",
               &out);
  EXPECT_EQ(rc, 3);
  EXPECT_EQ(out, "appended 3, duplicate 0, refused 10\n");  // Kafka ingest cannot see earlier ids: the fold decides
  EXPECT_EQ(open_kafka_log(k)->end_offset(0) - before, 10u);
}

std::string serve_cmd(const std::string& dir, const std::string& topics, int idle = 10) {
  return std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + dir + topics +
         " --batch 400 --idle-exit " + std::to_string(idle);
}

// sh -c CMD, its stdout discarded and its stderr to `err` (default: discarded too).
pid_t spawn(const std::string& cmd, const std::string& err = "/dev/null") {
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>" + err).c_str(), nullptr);
    _exit(127);
  }
  return pid;
}

// A child process (sh -c CMD, output discarded) that a test kills on progress it observes.
struct Child {
  explicit Child(const std::string& cmd, const std::string& err = "/dev/null") : pid(spawn(cmd, err)) {}
  ~Child() {
    if (status < 0) kill_now();
  }
  // Polls `reached` until it holds (true) or the child has ended by itself (false; its status is kept).
  bool wait_until(const std::function<bool()>& reached) {
    for (;;) {
      if (reached()) return true;
      if (status < 0 && waitpid(pid, &status, WNOHANG) == 0) status = -1;
      if (status >= 0) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // SIGKILL; true if the kill is what ended the child.
  bool kill_now() {
    if (status >= 0) return false;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  pid_t pid;
  int status = -1;
};

// Records in every partition of a topic (its end offsets summed): progress of whoever writes it; it only grows.
uint64_t topic_end(EventLog& topic) {
  uint64_t n = 0;
  for (int p = 0; p < topic.partitions(); ++p) n += topic.end_offset(p);
  return n;
}

nlohmann::json downstream(const std::string& topic) {
  std::string out;
  int rc = run("/usr/bin/python3 " + std::string(GONGJI_SOURCE_DIR) +
               "/consumers/downstream/settlements_client.py --brokers " +
               brokers() + " --topic " + topic + " --generated " + std::string(GONGJI_BUILD_DIR) +
               "/generated/python --idle 6 --check-once", &out);
  EXPECT_EQ(rc, 0) << out;
  auto start = out.rfind("\n{");  // the summary is the last line; librdkafka may log before it
  return nlohmann::json::parse(start == std::string::npos ? out : out.substr(start + 1));
}

struct Expected {
  uint64_t records = 0;
  Money fund = 0;
};

// What a read_committed subscriber of the settlements topic must receive: every output record of the fold, dead
// letters included (they are output records in their place: Store::outputs, DOWNSTREAM.md), and the fund's total.
Expected expected_from(const Store& s) {
  Expected e;
  s.outputs([&](const nlohmann::json& r) {
    ++e.records;
    if (r["kind"] == "settlement" || r["kind"] == "reversal") {
      std::string f = r["fund"];
      bool neg = f[0] == '-';
      Money m = *parse_yuan(neg ? f.substr(1) : f);
      e.fund += neg ? -m : m;
    }
    return true;
  });
  return e;
}

// Kill test (issue 4): serve folds >= 100,000 events and is SIGKILLed at random moments, at least 10 times,
// restarted each time; the end state equals a clean fold's, and a read_committed downstream client sees each
// output record exactly once with the same totals.
TEST(Serve, SigkillTenTimesExactlyOnce) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("killev");
  std::string settlements = fresh_topic("killset"), dlq = fresh_topic("killdlq", 1);
  {
    auto log = open_kafka_log(k);
    ingest_lines(*log, generated(8000, 31));
  }
  std::string clean_digest;
  Expected want;
  {
    auto log = open_kafka_log(k);
    Store s(d / "clean/state");
    FoldStats st = s.fold(*log, default_policy());
    EXPECT_GE(st.events, 100000u);
    clean_digest = s.digest();
    want = expected_from(s);
  }
  std::string topics = " --events-topic " + k.topic + " --settlements-topic " + settlements + " --dead-letter-topic " +
                       dlq + " --group g-" + k.topic;
  // Each kill lands at a random point of the run, chosen by progress observed on the settlements topic (records
  // published, aborted ones and markers included), never by elapsed time: the same kills on a fast or slow machine.
  std::mt19937 rng(99);
  KafkaOptions out;
  out.brokers = brokers();
  out.topic = settlements;
  auto published = open_kafka_log(out);
  int kills = 0;
  for (int i = 0; i < 10; ++i) {
    Child serve(serve_cmd(d / "serve", topics));
    uint64_t target = want.records * (i + 1) / 11 + rng() % (want.records / 22);
    if (serve.wait_until([&] { return topic_end(*published) >= target; }) && serve.kill_now()) ++kills;
  }
  EXPECT_GE(kills, 10) << "serve finished before it could be killed 10 times";
  ASSERT_EQ(run(serve_cmd(d / "serve", topics, 8) + " >/dev/null"), 0);
  Store s(d / "serve/state");
  EXPECT_EQ(s.digest(), clean_digest);
  auto got = downstream(settlements);
  EXPECT_EQ(got["repeats"], 0);
  EXPECT_EQ(got["records"], want.records);
  EXPECT_EQ(got["fund_fen"], want.fund);  // read from the typed bodies (issue 9 item 3)
  EXPECT_EQ(got["schema_versions"], nlohmann::json({{"3", want.records}}));
  EXPECT_EQ(got["claims_settled_more_than_once"], 0);
}

// Scale-out (issue 4): two, then three members share the partitions; one is killed; the survivors take over its
// partitions; every partition's final state equals a single-instance fold's and the downstream client sees each
// record exactly once with the same totals.
TEST(Serve, ScaleOutAndTakeOver) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("scaleev");
  std::string settlements = fresh_topic("scaleset"), dlq = fresh_topic("scaledlq", 1);
  {
    auto log = open_kafka_log(k);
    ingest_lines(*log, generated(4000, 41));
  }
  auto clean = std::make_unique<Store>(d / "clean/state");
  {
    auto log = open_kafka_log(k);
    clean->fold(*log, default_policy());
  }
  Expected want = expected_from(*clean);
  std::string topics = " --events-topic " + k.topic + " --settlements-topic " + settlements + " --dead-letter-topic " +
                       dlq + " --group g-" + k.topic;
  // Each step waits for progress it can observe (records published; c's own store folding), never for time.
  KafkaOptions out;
  out.brokers = brokers();
  out.topic = settlements;
  auto published = open_kafka_log(out);
  pid_t a = spawn(serve_cmd(d / "a", topics, 25));
  Child b(serve_cmd(d / "b", topics, 25));
  EXPECT_TRUE(b.wait_until([&] { return topic_end(*published) >= want.records / 5; }));
  pid_t c = spawn(serve_cmd(d / "c", topics, 25));
  auto c_folded = [&] {  // c has joined and folded records of its own
    try {
      Store cs(d / "c/state", true);
      for (auto [p, off] : cs.positions())
        if (off > 0) return true;
    } catch (const std::exception&) {  // not created yet
    }
    return false;
  };
  EXPECT_TRUE(b.wait_until(c_folded)) << "b finished before c joined";
  EXPECT_TRUE(b.kill_now()) << "b finished before it was killed";
  int st = 0;
  waitpid(a, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  waitpid(c, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  std::vector<std::unique_ptr<Store>> members;
  for (const char* m : {"a", "c", "b"}) members.push_back(std::make_unique<Store>(d / (std::string(m) + "/state")));
  for (int p = 0; p < 8; ++p) {
    bool matched = false;
    for (size_t i = 0; i < 2; ++i)  // a or c: the survivors hold every partition at its end
      matched = matched || members[i]->partition_digest(p) == clean->partition_digest(p);
    EXPECT_TRUE(matched) << "no survivor holds partition " << p << " as the single-instance fold does";
  }
  auto got = downstream(settlements);
  EXPECT_EQ(got["repeats"], 0);
  EXPECT_EQ(got["records"], want.records);
  EXPECT_EQ(got["fund_fen"], want.fund);
}

// Issue 11 item 1: two `serve` members answer the query service's endpoints for the partitions each owns, and send
// a person of the other's partition to its owner with the caller's token, which the owner checks again.
namespace members {
// The token "test" (service/auth.h's example hash), role desk; "ops-test", role ops; "audit-test", role auditor.
constexpr const char* kTokens =
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 desk anna\n"
    "74aca750f135f068972c383c7326e6516601737f5d25c6b62792d505317c55c0 ops olaf\n"
    "9c8ad02223ebbddff06e2490eaecd9a891fc48fcfe237329f2d27c9d27f1e0f3 auditor aude\n";
// The token "only-a", role desk, known to member a only: the owner checks a forwarded caller again.
constexpr const char* kOnlyA = "6bae0fe5f88e946cbad4f590933e3e54451d258b1e4ea40c8ccf7fe40c29c771 desk olga\n";
const httplib::Headers kDesk = {{"Authorization", "Bearer test"}};

// The URL a member printed on stderr ("query service listening on URL"), once it has.
std::string url_of(const fs::path& err) {
  std::ifstream in(err);
  std::string text((std::istreambuf_iterator<char>(in)), {}), url;
  std::smatch m;
  if (std::regex_search(text, m, std::regex("query service listening on (http://127\\.0\\.0\\.1:[0-9]+)")))
    url = m[1];
  return url;
}

// GET `path` at `url` with `headers`: {status, X-Gongji-Member, body}; status 0 when nothing answered.
struct Answer {
  int status = 0;
  std::string member, body;
};
Answer get(const std::string& url, const std::string& path, const httplib::Headers& headers = kDesk) {
  httplib::Client c(url);
  c.set_read_timeout(std::chrono::seconds(60));
  auto r = c.Get(path.c_str(), headers);
  if (!r) return {};
  return {r->status, r->get_header_value("X-Gongji-Member"), r->body};
}

// The partitions a member answers for, from its /readyz lag map, when it is ready (else empty; `seen` says why).
std::set<int> ready_partitions(const std::string& url, std::string& seen) {
  Answer a = get(url, "/readyz", {{"Authorization", "Bearer ops-test"}});
  seen = std::to_string(a.status) + " " + a.body;
  std::set<int> ps;
  if (a.status != 200) return ps;
  const nlohmann::json body = nlohmann::json::parse(a.body);
  for (const auto& [p, lag] : body["lag"].items()) ps.insert(std::stoi(p));
  return ps;
}

// Fresh topics, `events` ingested into the events topic and folded into `clean`, a tokens file: the arguments of a
// member of the group (beside serve_cmd's).
std::string member_args(const TempDir& d, const std::string& events, Store& clean) {
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("queryev");
  const std::string settlements = fresh_topic("queryset"), dlq = fresh_topic("querydlq", 1);
  ingest_lines(*open_kafka_log(k), events);
  clean.fold(*open_kafka_log(k), default_policy());
  std::ofstream(d / "tokens-b") << kTokens;
  std::ofstream(d / "tokens-a") << kTokens << kOnlyA;
  return " --events-topic " + k.topic + " --settlements-topic " + settlements + " --dead-letter-topic " + dlq +
         " --group g-" + k.topic + " --listen 127.0.0.1:0 --ready-lag 0";
}

// Waits (up to 120 s) until both members (stderr in d/a.err, d/b.err) listen, are ready with no lag, and split the
// 8 partitions between them: their URLs and partitions; else false with what each last said.
bool wait_split(const TempDir& d, std::string (&url)[2], std::set<int> (&owns)[2], std::string& why) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    std::string seen[2];
    url[0] = url_of(d / "a.err");
    url[1] = url_of(d / "b.err");
    for (int m = 0; m < 2; ++m) owns[m] = url[m].empty() ? std::set<int>{} : ready_partitions(url[m], seen[m]);
    std::set<int> all(owns[0].begin(), owns[0].end());
    all.insert(owns[1].begin(), owns[1].end());
    if (!owns[0].empty() && !owns[1].empty() && all.size() == 8 && owns[0].size() + owns[1].size() == 8) return true;
    why = "a " + url[0] + ": " + seen[0] + "; b " + url[1] + ": " + seen[1];
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}
// The month views need every partition: asked of either member (a, b), each is the merge of the members' shares, and
// equal to the view of one store folded from the whole topic (`clean`); b, the owner of a share a asks for, logs its
// read of a facility. A share of a partition a does not own (`of_b`) is not passed on.
void expect_month_views_merged(const std::string& ua, const std::string& ub, int of_b, Store& clean,
                               const std::string& b_access_log) {
  const httplib::Headers auditor = {{"Authorization", "Bearer audit-test"}};
  const Month march = *parse_month("2023-03");
  const nlohmann::json facilities = facilities_of_month(clean, march);
  ASSERT_FALSE(facilities["facilities"].empty());
  const std::string facility = facilities["facilities"][0]["facility"];
  const std::pair<std::string, std::string> views[] = {
      {"/v1/fund/months/2023-03", fund_month(clean, march).dump()},
      {"/v1/fund/months/2023-03/facilities", facilities.dump()},
      {"/v1/facilities/" + facility + "/months/2023-03", facility_month(clean, facility, march).dump()},
      {"/v1/facilities/" + facility + "/months/2023-03?format=csv",
       facility_month_csv(facility_month(clean, facility, march))}};
  for (const auto& [path, want] : views)
    for (const std::string& asked : {ua, ub}) {
      Answer got = get(asked, path, auditor);
      ASSERT_EQ(got.status, 200) << path << " asked of " << asked << ": " << got.body;
      EXPECT_EQ(got.member, asked) << path;
      EXPECT_EQ(path.ends_with("csv") ? got.body : nlohmann::json::parse(got.body).dump(), want)
          << path << " asked of " << asked;
    }
  std::ifstream in(b_access_log);
  const std::string logged((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(logged.find("\"via\":\"http from 127.0.0.1, forwarded by " + ua + "\",\"endpoint\":\"facility_month " +
                        "/v1/facilities/" + facility + "/months/2023-03\""),
            std::string::npos)
      << logged;
  Answer share = get(ua, "/v1/fund/months/2023-03", {{"Authorization", "Bearer audit-test"},
                                                     {"X-Gongji-Partition", std::to_string(of_b)}});
  EXPECT_EQ(share.status, 503) << share.body;
  EXPECT_EQ(get(ua, "/v1/fund/months/2023-03", kDesk).status, 403);
}
}  // namespace members

TEST(Serve, TwoMembersAnswerForTheirPartitionsAndForwardTheRest) {
  REQUIRE_BROKER();
  using namespace members;
  TempDir d;
  Store clean(d / "clean/state");
  const std::string args = member_args(d, generated(300, 43), clean);
  Child a(serve_cmd(d / "a", args + " --tokens " + d / "tokens-a", 0), d / "a.err");
  Child b(serve_cmd(d / "b", args + " --tokens " + d / "tokens-b", 0), d / "b.err");
  std::string url[2], why;
  std::set<int> owns[2];
  ASSERT_TRUE(wait_split(d, url, owns, why)) << why;
  const std::string &ua = url[0], &ub = url[1];
  const std::set<int>& pa = owns[0];

  // A person of each member's partitions, asked of both members: the same answer, given by its owner, the one the
  // single-instance store gives.
  std::string of_a, of_b;
  for (int n = 0; n < 300 && (of_a.empty() || of_b.empty()); ++n) {
    char id[16];
    std::snprintf(id, sizeof id, "P%07d", n);
    std::string& of = pa.count(partition_of(id, 8)) ? of_a : of_b;
    if (of.empty()) of = id;
  }
  ASSERT_FALSE(of_a.empty() || of_b.empty());
  for (const auto& [person, owner] : {std::pair{of_a, ua}, std::pair{of_b, ub}}) {
    const std::string path = "/v1/persons/" + person + "?as_of=2023-12-31";
    const nlohmann::json want = person_query(clean, nullptr, {person, "2023-12-31", "", "", nullptr});
    for (const std::string& asked : {ua, ub}) {
      Answer got = get(asked, path);
      EXPECT_EQ(got.status, 200) << person << " asked of " << asked << ": " << got.body;
      EXPECT_EQ(got.member, owner) << person << " asked of " << asked;
      EXPECT_EQ(nlohmann::json::parse(got.body), want) << person << " asked of " << asked;
    }
  }
  // The forwarded read is in the owner's access log, with the caller's name and the forwarder; not in the other's.
  auto access = [&](const char* m) {
    std::ifstream in(d / (std::string(m) + "/access-log.jsonl"));
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  EXPECT_NE(access("b").find("\"who\":\"anna\",\"role\":\"desk\",\"via\":\"http from 127.0.0.1, forwarded by " + ua +
                             "\",\"endpoint\":\"person\",\"person\":\"" + of_b + "\""),
            std::string::npos)
      << access("b");
  EXPECT_EQ(access("a").find("\"person\":\"" + of_b + "\""), std::string::npos) << access("a");
  // The caller's token is checked by the forwarder and again by the owner; a forwarded request is never forwarded
  // again; the month views need every partition.
  EXPECT_EQ(get(ua, "/v1/persons/" + of_b, {{"Authorization", "Bearer wrong"}}).status, 401);
  Answer owner_refuses = get(ua, "/v1/persons/" + of_b, {{"Authorization", "Bearer only-a"}});
  EXPECT_EQ(owner_refuses.status, 401) << owner_refuses.body;  // a knows olga; b, the owner, does not
  EXPECT_EQ(owner_refuses.member, ub);
  EXPECT_EQ(get(ua, "/v1/persons/" + of_a, {{"Authorization", "Bearer only-a"}}).status, 200);
  EXPECT_EQ(get(ua, "/v1/persons/" + of_b, {{"Authorization", "Bearer ops-test"}}).status, 403);
  Answer twice = get(ua, "/v1/persons/" + of_b, {{"Authorization", "Bearer test"}, {"X-Gongji-Forwarded-By", ub}});
  EXPECT_EQ(twice.status, 503) << twice.body;
  EXPECT_NE(twice.body.find("not owned here either"), std::string::npos) << twice.body;
  expect_month_views_merged(ua, ub, *owns[1].begin(), clean, d / "b/access-log.jsonl");
  // Each member's metrics count its own partitions, and its transactions.
  Answer metrics = get(ua, "/metrics", {{"Authorization", "Bearer ops-test"}});
  for (int p = 0; p < 8; ++p)
    EXPECT_EQ(metrics.body.find("gongji_lag{partition=\"" + std::to_string(p) + "\"}") != std::string::npos,
              pa.count(p) > 0)
        << "partition " << p;
  EXPECT_TRUE(std::regex_search(metrics.body, std::regex("gongji_transactions_total\\{outcome=\"committed\"\\} [1-9]")))
      << metrics.body;
  EXPECT_TRUE(a.kill_now());
  EXPECT_TRUE(b.kill_now());
}

// Issue 9 item 6: a member takes events over HTTP through the one ingest (ingest/ingest.h). The posted year of E1
// is folded and answered exactly as an embedded ingest and fold of the same lines answer it; a refused line is a
// dead letter on the dead-letter topic in ingest's form, the one the answer gives back.
TEST(Serve, EventsPostedToAMemberAreFoldedAndRefusalsDeadLettered) {
  REQUIRE_BROKER();
  using namespace members;
  TempDir d;
  Store clean(d / "clean/state");
  const std::string args = member_args(d, "", clean);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(args, m, std::regex("--dead-letter-topic (\\S+)")));
  const std::string dlq = m[1];
  std::ofstream(d / "tokens-a", std::ios::app) << sha256_hex("intake-test") << " intake billing\n";
  Child a(serve_cmd(d / "a", args + " --tokens " + d / "tokens-a", 0), d / "a.err");
  std::string url, seen;
  bool ready = false;
  for (int i = 0; i < 600 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    url = url_of(d / "a.err");
    ready = !url.empty() && ready_partitions(url, seen).size() == 8;
  }
  ASSERT_TRUE(ready) << url << ": " << seen;

  const std::string year = read_file(std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/examples/employee_year.jsonl");
  httplib::Client c(url);
  c.set_read_timeout(std::chrono::seconds(60));
  auto r = c.Post("/v1/events", {{"Authorization", "Bearer intake-test"}}, year + "{\"type\":\"claim\"}\n",
                  "application/x-ndjson");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  const nlohmann::json body = nlohmann::json::parse(r->body);
  const uint64_t lines = static_cast<uint64_t>(std::count(year.begin(), year.end(), '\n'));
  EXPECT_EQ(body["appended"], lines);
  ASSERT_EQ(body["refusals"].size(), 1u);
  EXPECT_EQ(body["refusals"][0]["line"], lines + 1);
  EXPECT_EQ(body["refusals"][0]["source"], "http:billing");
  // The dead-letter topic holds that dead letter, byte for byte the form DATA/dead-letters.jsonl gets.
  KafkaOptions dk;
  dk.brokers = brokers();
  dk.topic = dlq;
  std::vector<std::string> dead;
  open_kafka_log(dk)->read(0, 0, [&](const LogRecord& rec) {
    dead.emplace_back(rec.payload);
    return true;
  });
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(dead[0]), body["refusals"][0]);
  EXPECT_EQ(dead[0].find('\n'), std::string::npos);

  // What the embedded ingest and fold of the same lines settle for E1, the member answers once it has folded them.
  std::ofstream(d / "year.jsonl") << year;
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "local" + " " + d / "year.jsonl > /dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "local" + " > /dev/null")), 0);
  std::string out;
  ASSERT_EQ(run(gongji("settlements --data-dir " + d / "local" + " --person E1 2>/dev/null"), &out), 0);
  nlohmann::json want = nlohmann::json::array();
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) want.push_back(nlohmann::json::parse(l));
  ASSERT_GE(want.size(), 5u);
  Answer got;
  for (int i = 0; i < 300; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(200))) {
    got = get(url, "/v1/persons/E1/settlements");
    if (got.status == 200 && nlohmann::json::parse(got.body)["records"].size() == want.size()) break;
  }
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(nlohmann::json::parse(got.body)["records"], want);
  EXPECT_TRUE(a.kill_now());
}

// Issue 11 item 5: the Kafka clients' security settings pass through (--kafka-config) to librdkafka. ops/test.sh's
// broker has a listener that requires SASL (GONGJI_KAFKA_SASL: "HOST:PORT USER PASSWORD"; PLAIN, because Debian's
// librdkafka 2.0.2 cannot do SCRAM with Kafka 4.x: ops/kafka/kafka.sh). ingest and serve work through it with the
// credentials, and ingest is refused, saying why, with a wrong password.
TEST(KafkaSecurity, IngestAndServeThroughTheListenerThatRequiresSasl) {
  REQUIRE_BROKER();
  const char* sasl = std::getenv("GONGJI_KAFKA_SASL");
  if (!sasl) GTEST_SKIP() << "GONGJI_KAFKA_SASL is not set: run ops/test.sh, which starts Kafka";
  std::istringstream words(sasl);
  std::string listener, user, password;
  words >> listener >> user >> password;
  TempDir d;
  auto config = [&](const std::string& name, const std::string& pass) {
    std::ofstream(d / name) << "# the test broker's SASL listener\nsecurity.protocol = SASL_PLAINTEXT\n"
                            << "sasl.mechanism=PLAIN\nsasl.username=" << user << "\nsasl.password=" << pass << "\n";
    return d / name;
  };
  const std::string good = config("good.properties", password), bad = config("bad.properties", password + "x");
  const std::string topic = fresh_topic("saslev"), settlements = fresh_topic("saslset"),
                    dlq = fresh_topic("sasldlq", 1);
  const std::string events = generated(60, 47);
  {
    std::ofstream(d / "events.jsonl") << events;
  }
  const std::string ingest = std::string(GONGJI_BIN) + " ingest --brokers " + listener + " --events-topic " + topic +
                             " --data-dir " + d / "i" + " " + d / "events.jsonl";
  std::string out;
  EXPECT_EQ(run(ingest + " --kafka-config " + bad + " 2>&1", &out), exit_code::kFailure) << out;
  EXPECT_NE(out.find("Invalid username or password"), std::string::npos) << out;
  EXPECT_EQ(run(ingest + " --kafka-config " + good + " 2>&1", &out), 0) << out;
  const auto lines = std::count(events.begin(), events.end(), '\n');
  EXPECT_NE(out.find("appended " + std::to_string(lines) + ", duplicate 0, refused 0"), std::string::npos) << out;
  KafkaOptions k;
  k.brokers = brokers();  // the plaintext listener: the test's own view of the topic
  k.topic = topic;
  Store clean(d / "clean/state");
  {
    auto log = open_kafka_log(k);
    clean.fold(*log, default_policy());
  }
  EXPECT_GT(clean.positions().size(), 0u);
  const std::string serve = std::string(GONGJI_BIN) + " serve --brokers " + listener + " --kafka-config " + good +
                            " --data-dir " + d / "s" + " --events-topic " + topic + " --settlements-topic " +
                            settlements + " --dead-letter-topic " + dlq + " --group g-" + topic +
                            " --batch 400 --idle-exit 8 2>&1";
  EXPECT_EQ(run(serve, &out), 0) << out;
  Store served(d / "s/state", true);
  for (int p = 0; p < 8; ++p) EXPECT_EQ(served.partition_digest(p), clean.partition_digest(p)) << "partition " << p;
  const Expected want = expected_from(clean);
  auto got = downstream(settlements);
  EXPECT_EQ(got["records"], want.records);
  EXPECT_EQ(got["fund_fen"], want.fund);
}

// A three-broker cluster of its own (ops/kafka/kafka.sh, in `dir`), on ports 100 above the test broker's (39192..
// beside the default 39092) so that it collides with nothing; stopped when it goes out of scope.
struct OwnCluster {
  const std::string kafka = std::string(GONGJI_SOURCE_DIR) + "/ops/kafka/kafka.sh";
  const std::string dir;
  std::string bootstrap;  // its brokers: the start script's last line of output
  int started = -1;       // the start script's own exit status (not a pipe's)
  std::string start_errors;  // what the start script said on stderr (shown when it failed)
  // Started afresh once more when the first start fails (three JVMs on two busy cores), both errors kept.
  explicit OwnCluster(std::string d) : dir(std::move(d)) {
    const int port = std::stoi(brokers().substr(brokers().rfind(':') + 1)) + 100;
    for (int attempt = 0; attempt < 2 && (started != 0 || bootstrap.empty()); ++attempt) {
      if (attempt) run(kafka + " stop " + dir + " >/dev/null 2>&1"), fs::remove_all(dir);
      fs::create_directories(dir);
      started = run("GONGJI_KAFKA_PORT=" + std::to_string(port) + " " + kafka + " start " + dir + " 3 2>" + dir +
                        "/start.err",
                    &bootstrap);
      bootstrap.erase(bootstrap.find_last_not_of("\n") + 1);
      bootstrap = bootstrap.substr(bootstrap.rfind('\n') + 1);
      if (started != 0 || bootstrap.empty()) start_errors += read_file(dir + "/start.err");
    }
  }
  ~OwnCluster() { run(kafka + " stop " + dir + " >/dev/null 2>&1"); }
  OwnCluster(const OwnCluster&) = delete;
  OwnCluster& operator=(const OwnCluster&) = delete;
  // Retried for up to 90 s: just after `start` a broker may not have registered yet (replication factor 3 above the
  // brokers available), and on a loaded machine the admin call can time out (a fresh-clone run failed so once).
  // --if-not-exists makes a retry after a create that did land harmless. The last attempt's output is printed.
  int create(const std::string& t, int parts) const {
    const std::string cmd = kafka + " tool org.apache.kafka.tools.TopicCommand --bootstrap-server " + bootstrap +
                            " --create --if-not-exists --topic " + t + " --partitions " + std::to_string(parts) +
                            " --replication-factor 3 2>&1";
    std::string out;
    int rc = run(cmd, &out);
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(90);
         rc != 0 && std::chrono::steady_clock::now() < until; rc = run(cmd, &out))
      std::this_thread::sleep_for(std::chrono::seconds(2));
    if (rc != 0) std::cerr << "creating topic " << t << " failed:\n" << out;
    return rc;
  }
  void kill(int node) const { run(kafka + " kill " + dir + " " + std::to_string(node)); }
  // The broker faults are triggered on progress observed (events appended by the ingest; events folded by serve,
  // read from its store), never on elapsed time; a broker that was killed is restarted when progress goes on or
  // the writer has finished (bounded: the test cannot hang). Not the topics' watermarks: librdkafka 2.0.2's
  // query_watermark_offsets can block far past its timeout while a partition's leader is down.
  void restart_when(const std::function<bool()>& progressed, const std::function<bool()>& done, int node) const {
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
         !done() && !progressed() && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    run(kafka + " restart " + dir + " " + std::to_string(node) + " >/dev/null 2>&1");
  }
};

// Appends `events` to k's topic while broker 2 is killed (after a fifth of them) and restarted (after three
// fifths): acks=all, idempotent, retried through the fault.
void ingest_through_broker_fault(const OwnCluster& cluster, const KafkaOptions& k, const std::string& events) {
  const uint64_t lines = std::count(events.begin(), events.end(), '\n');
  std::atomic<uint64_t> appended{0};
  std::atomic<bool> ingested{false};
  std::thread fault([&] {
    while (!ingested && appended < lines / 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cluster.kill(2);
    cluster.restart_when([&] { return appended >= lines * 3 / 5; }, [&] { return ingested.load(); }, 2);
  });
  auto log = open_kafka_log(k);
  std::istringstream in(events);  // ingest_lines, counting
  for (std::string line; std::getline(in, line); ++appended)
    if (!line.empty()) log->append(parse_event(line));
  log->sync();
  ingested = true;
  fault.join();
}

// Broker fault (issue 4): on a three-broker cluster (replication 3, min.insync.replicas 2) one broker is killed and
// restarted while events are ingested and while serve folds them; nothing is lost or doubled.
TEST(Serve, BrokerKilledAndRestartedMidRun) {
  REQUIRE_BROKER();
  TempDir d;
  OwnCluster own(d / "cluster");
  ASSERT_EQ(own.started, 0) << own.start_errors;
  ASSERT_FALSE(own.bootstrap.empty()) << own.start_errors;
  const std::string& cluster = own.bootstrap;
  ASSERT_EQ(own.create("events", 8), 0);
  ASSERT_EQ(own.create("settlements", 8), 0);
  ASSERT_EQ(own.create("dlq", 1), 0);
  KafkaOptions k;
  k.brokers = cluster;
  k.topic = "events";
  std::string events = generated(3000, 51);
  ingest_through_broker_fault(own, k, events);
  Store clean(d / "clean/state");
  {
    auto log = open_kafka_log(k);
    FoldStats st = clean.fold(*log, default_policy());
    EXPECT_EQ(st.dead_letters, 0u);
  }
  {  // every event in the log exactly once: as many records per partition as the embedded log gets
    auto embedded = open_segment_log(d / "embedded", 8);
    ingest_lines(*embedded, events);
    auto log = open_kafka_log(k);
    for (int p = 0; p < 8; ++p) EXPECT_EQ(log->end_offset(p), embedded->end_offset(p)) << "partition " << p;
  }
  Expected want = expected_from(clean);
  std::string cmd = std::string(GONGJI_BIN) + " serve --brokers " + cluster + " --data-dir " + d / "serve" +
                    " --events-topic events --settlements-topic settlements --dead-letter-topic dlq --group g" +
                    " --batch 300 --idle-exit 10";
  uint64_t total = 0;
  for (auto [p, off] : clean.positions()) total += off;
  auto folded = [&](uint64_t target) {  // what serve has folded and committed (its outbox), read from its store
    try {
      uint64_t n = 0;
      for (auto [p, off] : Store(d / "serve/state", true).positions()) n += off;
      return n >= target;
    } catch (const std::exception&) {  // not created yet
      return false;
    }
  };
  Child s(cmd);
  bool ended = !s.wait_until([&] { return folded(total / 3); });
  own.kill(3);
  own.restart_when([&] { return folded(total * 2 / 3); },
                   [&] { return s.status >= 0 || waitpid(s.pid, &s.status, WNOHANG) == s.pid; }, 3);
  EXPECT_FALSE(ended) << "serve finished before the broker was killed";
  if (s.status < 0) waitpid(s.pid, &s.status, 0);
  // serve may have ended early: a transaction cut by the fault ends the process by design; with a broker down for
  // long, --idle-exit can fire before it caught up; a rejoin that outlasts max(60 s, 10 x --idle-exit) ends it with
  // exit 1. Either way the operator starts it again (bounded), and it
  // recovers from the outbox; what is checked is that nothing is lost or doubled.
  for (int restarts = 0; !folded(total) && restarts < 5; ++restarts) run(cmd + " >/dev/null 2>&1");
  ASSERT_TRUE(folded(total)) << "serve did not catch up after 5 restarts";
  Store served(d / "serve/state");
  EXPECT_EQ(served.digest(), clean.digest());
  std::string out;
  ASSERT_EQ(run("/usr/bin/python3 " + std::string(GONGJI_SOURCE_DIR) +
                    "/consumers/downstream/settlements_client.py --brokers " + cluster +
                    " --topic settlements --generated " + std::string(GONGJI_BUILD_DIR) +
                    "/generated/python --idle 6 --check-once",
                &out),
            0)
      << out;
  auto got = nlohmann::json::parse(out.substr(out.rfind("\n{") == std::string::npos ? 0 : out.rfind("\n{") + 1));
  EXPECT_EQ(got["records"], want.records);
  EXPECT_EQ(got["fund_fen"], want.fund);
}

// The record values a read_committed subscriber receives from one partition of a topic, in order.
std::vector<std::string> received_values(const std::string& topic, int partition) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> c(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  c->set("bootstrap.servers", brokers(), err);
  c->set("group.id", "order-" + topic, err);
  c->set("isolation.level", "read_committed", err);
  c->set("enable.partition.eof", "true", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(c.get(), err));
  std::vector<RdKafka::TopicPartition*> tps = {RdKafka::TopicPartition::create(topic, partition, 0)};
  consumer->assign(tps);
  RdKafka::TopicPartition::destroy(tps);
  std::vector<std::string> got;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       std::chrono::steady_clock::now() < deadline;) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    if (m->err() == RdKafka::ERR__PARTITION_EOF) break;
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;
    got.emplace_back(static_cast<const char*>(m->payload()), m->len());
  }
  consumer->close();
  return got;
}

// The output records a read_committed subscriber receives from one partition of a settlements topic, in order,
// as "kind@offset" (the events offset the record came from).
std::vector<std::string> received_in_order(const std::string& topic, int partition) {
  std::vector<std::string> got;
  for (const std::string& value : received_values(topic, partition)) {
    const auto* r = fb::GetOutputRecord(value.data());
    got.push_back(r->kind()->str() + "@" + std::to_string(r->offset()));
  }
  return got;
}

// Fresh settlements and dead-letter topics and a fresh group over an events topic: the serve options for them.
std::string fresh_outputs(const std::string& events, const std::string& tag, std::string* settlements,
                          std::string* dlq = nullptr) {
  *settlements = fresh_topic(tag + "set");
  std::string dead = fresh_topic(tag + "dlq", 1);
  if (dlq) *dlq = dead;
  return " --events-topic " + events + " --settlements-topic " + *settlements + " --dead-letter-topic " + dead +
         " --group g-" + *settlements;
}

// A population in a fresh events topic, folded cleanly once: what every recovered run must equal.
struct CleanRun {
  std::string topic, digest;
  Expected want;
};
CleanRun clean_run(const TempDir& d, int people, uint64_t seed) {
  CleanRun c;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = c.topic = fresh_topic("ev");
  auto log = open_kafka_log(k);
  ingest_lines(*log, generated(people, seed));
  Store s(d / "clean/state");
  s.fold(*log, default_policy());
  c.digest = s.digest();
  c.want = expected_from(s);
  return c;
}

// serve --fold-threads (issue 10): one batch holding the whole topic, so that every partition is in it, folded on
// 1 and on 4 threads: both stores equal a clean fold's, and both settlements topics hold the same records, byte for
// byte, partition by partition.
TEST(Serve, FoldThreadsGiveTheSameStoreAndTheSameRecords) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 1500, 61);
  std::map<int, std::vector<std::vector<std::string>>> published;  // threads -> partition -> record values
  for (int threads : {1, 4}) {
    const std::string name = "t" + std::to_string(threads);
    std::string settlements;
    const std::string topics = fresh_outputs(clean.topic, "thr" + name, &settlements);
    ASSERT_EQ(run(std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + d / name + topics +
                  " --batch 1000000 --idle-exit 5 --fold-threads " + std::to_string(threads) + " >/dev/null 2>&1"),
              0);
    EXPECT_EQ(Store(d / (name + "/state"), true).digest(), clean.digest) << threads << " threads";
    for (int p = 0; p < 8; ++p) published[threads].push_back(received_values(settlements, p));
  }
  size_t records = 0;
  for (const auto& part : published[1]) records += part.size();
  EXPECT_EQ(records, clean.want.records);
  EXPECT_EQ(published[1], published[4]);
}

// Store format 10's l/ index (each partition's latest date, the default --as-of) is built from the log: `serve` on a
// format-9 store (here one it folded, l/ taken out) reads the topic up to the store's positions and records it before
// it folds on, to exactly what a clean fold holds (same digest).
TEST(Serve, AFormat9StoreIsGivenItsLatestDatesFromTheTopic) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 300, 67);
  std::string settlements;
  const std::string serve = std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + d / "s" +
                            fresh_outputs(clean.topic, "f9", &settlements) + " --idle-exit 3 >/dev/null 2>&1";
  ASSERT_EQ(run(serve), 0);
  {
    Store s(d / "s/state");
    rocksdb::WriteBatch b;
    for (const char* prefix : {"l/", "u/", "t/"})
      s.scan(prefix, [&](const std::string& k, std::string_view) { b.Delete(k); });
    b.Put("n/format", "9");
    ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
    EXPECT_NE(s.digest(), clean.digest);
  }
  ASSERT_EQ(run(serve), 0);
  Store s(d / "s/state", true);
  EXPECT_EQ(s.format(), kStoreFormat);
  EXPECT_EQ(s.digest(), clean.digest);
  size_t orderings = 0;  // u/, which the digest leaves out: one a partition (facility events reach every one)
  s.scan("u/", [&](const std::string&, std::string_view) { ++orderings; });
  EXPECT_EQ(orderings, 8u);
}

void expect_exactly_once(const std::string& settlements, const Expected& want) {
  auto got = downstream(settlements);
  EXPECT_EQ(got["repeats"], 0);
  EXPECT_EQ(got["records"], want.records);
  EXPECT_EQ(got["fund_fen"], want.fund);
  EXPECT_EQ(got["claims_settled_more_than_once"], 0);
}

// Issue 8 "How to prove it": serve is crashed at each of its named points (log/fault_probe.h), at a hit in the
// middle of the run, then restarted: the store equals a clean fold and a read_committed subscriber receives each
// output record exactly once, with the clean run's totals.
TEST(ServeFault, EveryCrashPointThenRestartExactlyOnce) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 1200, 61);
  // serve.before_outbox_commit is hit once per partition of each batch (4 partitions, batches of 400 events): the
  // 14th hit falls in the fourth batch, after three were committed and published.
  const std::pair<const char*, int> points[] = {{"serve.before_outbox_commit", 14}, {"serve.before_store_sync", 3},
                                                {"serve.after_outbox_commit", 3},   {"serve.before_txn_commit", 5},
                                                {"serve.after_txn_commit", 2}};
  for (auto [point, nth] : points) {
    SCOPED_TRACE(point);
    std::string settlements, dir = d / point;
    std::string topics = fresh_outputs(clean.topic, "crash", &settlements);
    std::string fault = "GONGJI_FAULT=" + std::string(point) + "@" + std::to_string(nth) + " ";
    EXPECT_EQ(run(fault + serve_cmd(dir, topics, 4) + " >/dev/null 2>&1"), 137) << "the probe did not fire";
    ASSERT_EQ(run(serve_cmd(dir, topics, 4) + " >/dev/null 2>&1"), 0);
    EXPECT_EQ(Store(dir + "/state").digest(), clean.digest);
    expect_exactly_once(settlements, clean.want);
  }
}

// The offsets the consumer group `group` has committed on `topic`'s partitions 0..n-1 (negative: none yet).
std::vector<int64_t> group_offsets(const std::string& group, const std::string& topic, int n) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> c(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  EXPECT_EQ(c->set("bootstrap.servers", brokers(), err), RdKafka::Conf::CONF_OK) << err;
  EXPECT_EQ(c->set("group.id", group, err), RdKafka::Conf::CONF_OK) << err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(c.get(), err));
  if (!consumer) ADD_FAILURE() << err;
  std::vector<RdKafka::TopicPartition*> parts;
  for (int p = 0; p < n; ++p) parts.push_back(RdKafka::TopicPartition::create(topic, p));
  std::vector<int64_t> at(static_cast<size_t>(n), -1);
  if (consumer && consumer->committed(parts, 30000) == RdKafka::ERR_NO_ERROR)
    for (int p = 0; p < n; ++p) at[static_cast<size_t>(p)] = parts[static_cast<size_t>(p)]->offset();
  else
    ADD_FAILURE() << "cannot read the committed offsets of group " << group;
  RdKafka::TopicPartition::destroy(parts);
  if (consumer) consumer->close();
  return at;
}

// Issue 10: after a restart, a partition's outbox goes to the topic in transactions of about --transaction-records
// records, each cut between two events' records and committing the group's offset where it ends. A store folded in
// full, served under a new group, has everything in its outbox; serve dies after its first transaction commits: the
// group's offset of exactly one partition has moved, to the first offset at which 7 records of that partition's
// outbox were gathered (one transaction for the whole outbox would have moved it to the store's position). The next
// start publishes the rest, nothing lost or doubled.
TEST(ServeFault, TheOutboxIsRepublishedInTransactionsAndACrashBetweenTwoLosesNothing) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 1200, 66);
  std::filesystem::copy(d / "clean", d / "chunks", std::filesystem::copy_options::recursive);
  const std::string dir = d / "chunks";
  std::vector<uint64_t> folded, cut;  // each partition's position, and where a first transaction of 7 ends
  int partitions = 0;
  {
    Store s(dir + "/state", true);
    partitions = s.partitions();
    for (int p = 0; p < partitions; ++p) {
      folded.push_back(s.folded_offset(p));
      uint64_t gathered = 0, last = UINT64_MAX, at = folded.back();
      s.outbox(p, 0, folded.back(), [&](uint64_t off, const Output&) {
        if (off != last && gathered >= 7 && at == folded.back()) at = off;
        last = off, ++gathered;
      });
      cut.push_back(at);
      ASSERT_LT(cut.back(), folded.back()) << "partition " << p << ": an outbox of one transaction";
    }
  }
  std::string settlements;
  const std::string topics = fresh_outputs(clean.topic, "chunks", &settlements), group = "g-" + settlements;
  ASSERT_EQ(run("GONGJI_FAULT=serve.after_txn_commit@1 " + serve_cmd(dir, topics, 4) +
                " --transaction-records 7 >/dev/null 2>&1"),
            137);
  const std::vector<int64_t> after = group_offsets(group, clean.topic, partitions);
  int moved = 0;
  for (int p = 0; p < partitions; ++p) {
    const auto i = static_cast<size_t>(p);
    if (after[i] < 0) continue;  // nothing committed for it yet
    ++moved;
    EXPECT_EQ(static_cast<uint64_t>(after[i]), cut[i]) << "partition " << p;
  }
  EXPECT_EQ(moved, 1) << "one transaction committed one partition's offset";
  ASSERT_EQ(run(serve_cmd(dir, topics, 4) + " --transaction-records 1000 >/dev/null 2>&1"), 0);
  EXPECT_EQ(Store(dir + "/state").digest(), clean.digest);
  expect_exactly_once(settlements, clean.want);
}

// Issue 10: a live batch's records go in transactions of about --transaction-records records too, each ending between
// two events' records and committing the group's offsets there (plan_transactions: a transaction must end within
// transaction.timeout.ms however many records a batch holds). Batches of up to the whole topic, transactions of 50
// records: serve's last line names its largest transaction, of 50 to 49 more than the largest event's records, where
// a batch holds thousands. Then serve dies after its 30th transaction commits (one transaction a batch would not
// reach it: exit 0) and the restart publishes the rest: nothing lost or doubled either way.
TEST(ServeFault, ABatchIsPublishedInTransactionsAndACrashBetweenTwoLosesNothing) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 400, 70);
  size_t largest = 0;  // the most output records of one event
  {
    Store s(d / "clean/state", true);
    for (int p = 0; p < s.partitions(); ++p) {
      std::map<uint64_t, size_t> of_event;
      s.outbox(p, 0, s.folded_offset(p),
               [&](uint64_t off, const Output&) { largest = std::max(largest, ++of_event[off]); });
    }
  }
  ASSERT_LT(31 * (49 + largest), clean.want.records) << "fewer than 31 transactions: this test tests nothing";
  const auto serve = [&](const std::string& dir, const std::string& topics) {
    return std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + dir + topics +
           " --batch 1000000 --transaction-records 50 --idle-exit 3 >/dev/null 2>" + dir + ".err";
  };
  std::string settlements;
  std::string topics = fresh_outputs(clean.topic, "cut", &settlements), dir = d / "whole";
  ASSERT_EQ(run(serve(dir, topics)), 0) << read_file(dir + ".err");
  EXPECT_EQ(Store(dir + "/state", true).digest(), clean.digest);
  expect_exactly_once(settlements, clean.want);
  const std::string err = read_file(dir + ".err");
  const size_t held = err.rfind("the largest held ");
  ASSERT_NE(held, std::string::npos) << err;
  const size_t records = std::stoul(err.substr(held + std::string("the largest held ").size()));
  EXPECT_GE(records, 50u) << err.substr(held);
  EXPECT_LE(records, 49 + largest) << err.substr(held);

  topics = fresh_outputs(clean.topic, "cutcrash", &settlements), dir = d / "crashed";
  ASSERT_EQ(run("GONGJI_FAULT=serve.after_txn_commit@30 " + serve(dir, topics)), 137) << "the probe did not fire";
  ASSERT_EQ(run(serve(dir, topics)), 0) << read_file(dir + ".err");
  EXPECT_EQ(Store(dir + "/state", true).digest(), clean.digest);
  expect_exactly_once(settlements, clean.want);
}

// Issue 10: one partition's part of a batch is committed early (unsynced) at --partition-batch events, as `fold
// --batch` commits each partition's, so that a partition holding a whole batch bounds the fold's memory. Batches of up
// to the whole topic (about 2,000 events a partition), each partition's part committed every 40 events, on one
// thread (so that each early commit is done before the next starts): serve dies before its fifth early commit, four
// committed (at least 160 events folded beyond what the group has published); the restart republishes them from the
// outbox and folds on, nothing lost or doubled.
TEST(ServeFault, APartitionsPartOfABatchIsCommittedEarlyAndACrashBetweenTwoLosesNothing) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 1200, 68);
  std::string settlements;
  const std::string topics = fresh_outputs(clean.topic, "early", &settlements), dir = d / "early";
  const std::string serve = std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + dir + topics +
                            " --batch 1000000 --partition-batch 40 --fold-threads 1 --idle-exit 4 >/dev/null 2>&1";
  EXPECT_EQ(run("GONGJI_FAULT=serve.before_early_commit@5 " + serve), 137) << "no early commit";
  {
    Store s(dir + "/state", true);
    const std::vector<int64_t> published = group_offsets("g-" + settlements, clean.topic, s.partitions());
    uint64_t unpublished = 0;  // folded and committed, not published
    for (int p = 0; p < s.partitions(); ++p)
      unpublished += s.folded_offset(p) - static_cast<uint64_t>(std::max<int64_t>(published[size_t(p)], 0));
    EXPECT_GE(unpublished, 4u * 40) << "four early commits of 40 events each, in the outbox";
  }
  ASSERT_EQ(run(serve), 0);
  EXPECT_EQ(Store(dir + "/state").digest(), clean.digest);
  expect_exactly_once(settlements, clean.want);
}

// --idle-exit counts from the end of an assignment, not from before it: a store that folded the first half of the
// topic, served under a new group, first republishes its whole outbox in about 200 transactions (about 8 s on the
// local broker at 25 a second, beyond the idle time), then folds the second half (its batches in transactions of as
// many records, about as many again). Counted from the start, serve
// would exit as soon as the republish ended, the second half not folded (found in session 35, fixed in 4ccaf7e;
// this test fails with the fix taken out).
TEST(ServeFault, IdleExitCountsFromTheEndOfARepublishThatOutlastsIt) {
  REQUIRE_BROKER();
  TempDir d;
  const std::string events = generated(1200, 69);
  const size_t half = events.find('\n', events.size() / 2) + 1;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("idle");
  auto log = open_kafka_log(k);
  ingest_lines(*log, events.substr(0, half));
  size_t outbox = 0;  // every output record of the first half
  {
    Store s(d / "idle/state");
    s.fold(*log, default_policy());
    for (int p = 0; p < s.partitions(); ++p)
      s.outbox(p, 0, s.folded_offset(p), [&](uint64_t, const Output&) { ++outbox; });
  }
  ASSERT_GT(outbox, 3000u);
  ingest_lines(*log, events.substr(half));
  Store clean(d / "clean/state");
  clean.fold(*log, default_policy());
  std::string settlements;
  const std::string topics = fresh_outputs(k.topic, "idle", &settlements);
  ASSERT_EQ(run(std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + d / "idle" + topics +
                " --transaction-records " + std::to_string(outbox / 200) + " --idle-exit 2 >/dev/null 2>" +
                d / "serve.err"),
            0);
  EXPECT_EQ(Store(d / "idle/state").digest(), clean.digest()) << "the second half was not folded";
  double republishing = 0;  // serve's lines "partition P: republished N records ... in T transactions, S s"
  std::ifstream err(d / "serve.err");
  for (std::string line; std::getline(err, line);)
    if (line.find(": republished ") != std::string::npos && line.ends_with(" s"))
      republishing += std::stod(line.substr(line.rfind(", ") + 2));
  EXPECT_GT(republishing, 2.0) << "the republish did not outlast --idle-exit: this test tests nothing";
  expect_exactly_once(settlements, expected_from(clean));
}

// --idle-exit counts only while serve holds an assignment, not from the subscription: a member of serve's group that
// stopped answering (a Python consumer holding every partition, then frozen with SIGSTOP; session timeout 10 s)
// holds serve's join until the broker drops it, beyond --idle-exit. Counted from the subscription, serve would exit 0
// before it was given anything, nothing folded (session 36's note; this test fails with the check of the assignment
// taken out).
TEST(ServeFault, IdleExitWaitsForAGroupJoinThatOutlastsIt) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("join");
  auto log = open_kafka_log(k);
  ingest_lines(*log, generated(300, 71));
  Store clean(d / "clean/state");
  clean.fold(*log, default_policy());
  std::string settlements;
  const std::string topics = fresh_outputs(k.topic, "join", &settlements);
  const std::string group = "g-" + settlements;  // fresh_outputs' group
  std::ofstream(d / "member.py")
      << "import sys, time\n"
         "from confluent_kafka import Consumer\n"
         "c = Consumer({'bootstrap.servers': sys.argv[1], 'group.id': sys.argv[3], 'session.timeout.ms': 10000,\n"
         "              'enable.auto.commit': False})\n"
         "held = []\n"
         "c.subscribe([sys.argv[2]], on_assign=lambda consumer, parts: held.extend(parts))\n"
         "while not held:\n"
         "    c.poll(0.1)\n"
         "print('assigned', len(held), file=sys.stderr, flush=True)\n"
         "time.sleep(600)\n";
  Child member("/usr/bin/python3 " + d / "member.py" + " " + brokers() + " " + k.topic + " " + group,
               d / "member.err");
  const auto start = std::chrono::steady_clock::now();
  const auto held = [&] { return read_file(d / "member.err").find("assigned 8\n") != std::string::npos; };
  ASSERT_TRUE(member.wait_until([&] {
    return held() || std::chrono::steady_clock::now() - start > std::chrono::seconds(60);
  }) && held())
      << read_file(d / "member.err");
  ASSERT_EQ(kill(member.pid, SIGSTOP), 0);
  ASSERT_EQ(run("timeout 120 " + std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " +
                d / "serve" + topics + " --idle-exit 2 >/dev/null 2>" + d / "serve.err"),
            0)
      << read_file(d / "serve.err");
  member.kill_now();
  EXPECT_EQ(Store(d / "serve/state").digest(), clean.digest()) << read_file(d / "serve.err");
  // serve's line "assigned 8 partition(s) of T after S s waiting to join the group": the join outlasted --idle-exit.
  const std::string err = read_file(d / "serve.err");
  const std::string line = "assigned 8 partition(s) of " + k.topic + " after ";
  const size_t at = err.find(line);
  ASSERT_NE(at, std::string::npos) << err;
  const double joined = std::stod(err.substr(at + line.size()));
  EXPECT_GT(joined, 2.0) << "the join did not outlast --idle-exit: this test tests nothing\n" << err;
  expect_exactly_once(settlements, expected_from(clean));
}

// Issue 8 item 3: when serve's store cannot be written (ENOSPC injected at a fold commit; EIO at the WAL sync that
// makes a batch durable, issue 10), serve stops taking records, says why and exits kFailure, having published nothing
// it had not committed; once the store can be written again, a restart loses and doubles nothing.
TEST(ServeFault, StoreCannotBeWrittenStopsThenRestartRecovers) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 1200, 62);
  const std::pair<const char*, const char*> faults[] = {{"fold.before_commit@20:enospc", "o space left on device"},
                                                        {"serve.before_store_sync@3:eio", "nput/output error"}};
  for (auto [fault, says] : faults) {
    SCOPED_TRACE(fault);
    std::string settlements, dir = d / std::string(fault).substr(0, std::string(fault).find('@')), err;
    std::string topics = fresh_outputs(clean.topic, "full", &settlements);
    int rc = run("GONGJI_FAULT=" + std::string(fault) + " " + serve_cmd(dir, topics, 4) + " 2>&1 >/dev/null", &err);
    EXPECT_EQ(rc, exit_code::kFailure) << err;
    EXPECT_NE(err.find("the store cannot be written"), std::string::npos) << err;
    EXPECT_NE(err.find(says), std::string::npos) << err;
    EXPECT_NE(err.find(dir + "/state"), std::string::npos) << err;
    Expected committed = expected_from(Store(dir + "/state"));
    EXPECT_LT(committed.records, clean.want.records) << "serve went on after the store failed";
    auto got = downstream(settlements);
    EXPECT_EQ(got["repeats"], 0);
    EXPECT_LE(got["records"].get<uint64_t>(), committed.records) << "published records it had not committed";
    ASSERT_EQ(run(serve_cmd(dir, topics, 4) + " >/dev/null 2>&1"), 0);
    EXPECT_EQ(Store(dir + "/state").digest(), clean.digest);
    expect_exactly_once(settlements, clean.want);
  }
}

// Issue 8 item 2: a store is tied to the topic it folded (its anchors, Store::check_log). serve on a store folded
// from another events topic refuses before it republishes or folds anything: exit kFailure, the partition and the
// anchors named, nothing published, the store unchanged.
TEST(ServeFault, AStoreFoldedFromAnotherTopicIsRefused) {
  REQUIRE_BROKER();
  TempDir d;
  CleanRun clean = clean_run(d, 300, 64);
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("other");
  ingest_lines(*open_kafka_log(k), generated(600, 65));
  std::string settlements, err;
  std::string topics = fresh_outputs(k.topic, "other", &settlements);
  int rc = run(serve_cmd(d / "clean", topics, 4) + " 2>&1 >/dev/null", &err);
  EXPECT_EQ(rc, exit_code::kFailure) << err;
  EXPECT_NE(err.find("topic " + k.topic + ": partition "), std::string::npos) << err;
  EXPECT_NE(err.find("is not the one this store folded there"), std::string::npos) << err;
  EXPECT_EQ(Store(d / "clean/state").digest(), clean.digest);
  EXPECT_EQ(downstream(settlements)["records"], 0) << "published before refusing";
}

// Issue 8 item 4: poison records written straight to the topic (an overflowing claim, a person id that is not
// UTF-8) become dead letters, published in their place on the settlements partition (kind dead_letter) and to
// the dead-letter topic; serve goes on and settles the records after them.
TEST(ServeFault, PoisonRecordsAreDeadLettersDownstreamAndServeGoesOn) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("poison", 1);
  auto log = open_kafka_log(k);
  const std::string claim = R"({"type":"claim","id":"c1","claim":"K1","person":"P","facility":"T1",)"
      R"("date":"2023-02-01","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})";
  const std::string fac = R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,)"
      R"("kind":"township_health_center","ordinary_outpatient":true})";
  const std::string enrol = R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P",)"
      R"("birth_date":"1970-01-01","scheme":"employee","status":"in_service"})";
  for (const std::string& s : {fac, enrol, claim}) log->append_raw(0, encode_event(parse_event(s)));
  Claim overflow = *parse_event(claim).as<Claim>();  // offset 3: item amounts whose sum overflows 64 bits
  overflow.id = "c2", overflow.claim = "K2";
  const Item huge{ItemCategory::drug, INT64_MAX / 2 + 1, {}, {}};
  overflow.items = {huge, huge};
  log->append_raw(0, encode_event(overflow));
  Claim bad_text = *parse_event(claim).as<Claim>();  // offset 4: a person id that is not valid UTF-8
  bad_text.id = "c3", bad_text.claim = "K3", bad_text.person = std::string("P\xff\xfe", 3);
  log->append_raw(0, encode_event(bad_text));
  Claim later = *parse_event(claim).as<Claim>();  // offset 5: settled as usual after both
  later.id = "c4", later.claim = "K4";
  log->append_raw(0, encode_event(later));
  log->sync();
  std::string settlements = fresh_topic("poisonset", 1), dlq = fresh_topic("poisondlq", 1);
  const std::string cmd = std::string(GONGJI_BIN) + " serve --brokers " + brokers() + " --data-dir " + d / "serve" +
                          " --events-topic " + k.topic + " --settlements-topic " + settlements +
                          " --dead-letter-topic " + dlq + " --group g-" + k.topic + " --idle-exit 4 2>&1";
  // ENOSPC injected at the run's first commit (serve.cc commit_folder) stops serve with nothing committed and nothing
  // published; the restart below publishes exactly the records of a run without the fault.
  std::string out;
  EXPECT_EQ(run("GONGJI_FAULT=fold.before_commit@1:enospc " + cmd, &out), exit_code::kFailure) << out;
  EXPECT_NE(out.find("o space left on device"), std::string::npos) << out;
  EXPECT_TRUE(received_in_order(settlements, 0).empty());
  uint64_t folded = 0;
  for (auto [p, off] : Store(d / "serve/state", true).positions()) folded += off;
  EXPECT_EQ(folded, 0u) << "serve committed records although its first commit failed";
  EXPECT_EQ(run(cmd, &out), 0) << out;
  EXPECT_NE(out.find("gongji serve: the consumer's thread spent "), std::string::npos) << out;  // its last log line
  // Issue 10: serve reads a batch's persons and event ids ahead, as the fold does (serve.cc fold_partition); the line
  // before the last says how many it applied from what was read ahead. (Offsets 3 and 4 fail their checks before
  // touching any state, so no rollback happens here.)
  std::smatch ahead;
  const std::regex taken_ahead(R"(; (\d+) persons and event ids read in batches ahead)");
  ASSERT_TRUE(std::regex_search(out, ahead, taken_ahead)) << out;
  EXPECT_GE(std::stoull(ahead[1]), 4u) << out;  // the ids of offsets 0, 1, 2 and 5 at least
  // Its last line also gives its longest Kafka transaction, which published at least one of the records above.
  std::smatch txn;
  const std::regex longest(R"(; the longest Kafka transaction took \d+\.\d s \((\d+) records\))");
  ASSERT_TRUE(std::regex_search(out, txn, longest)) << out;
  EXPECT_GE(std::stoull(txn[1]), 1u) << out;
  EXPECT_EQ(received_in_order(settlements, 0),
            (std::vector<std::string>{"settlement@2", "dead_letter@3", "dead_letter@4", "settlement@5"}));
  EXPECT_EQ(downstream(dlq)["kinds"], nlohmann::json({{"dead_letter", 2}}));
  EXPECT_EQ(downstream(settlements)["dead_letters"], 2);
}

// `serve` once over `events` into `data_dir`, with fresh topics for its outputs and --idle-exit 5: its exit status,
// and what it said in `out` (stdout and stderr).
int serve_once(const std::string& events, const std::string& data_dir, std::string* out) {
  const std::string settlements = fresh_topic("onceset", 1), dlq = fresh_topic("oncedlq", 1);
  return run(gongji("serve --brokers " + brokers() + " --data-dir " + data_dir + " --events-topic " + events +
                    " --settlements-topic " + settlements + " --dead-letter-topic " + dlq + " --group once-" +
                    std::to_string(rand()) + " --idle-exit 5 2>&1"),
             out);
}

// "Nothing lost", a corrupt byte on a broker: a byte flipped in a record batch of the events topic on the broker's disk
// (which the broker serves as it finds it, through the page cache). The events' encoding carries no checksum of its
// own: before every reader had librdkafka check each batch's CRC32C (log/kafka_read.h), `fold --brokers` folded the
// damaged batch as if whole (another digest, exit 0). Now the fold refuses, naming the topic, the partition and the
// batch's offset, and `serve` stops there with exit 1, neither folding nor publishing anything from that offset on
// (librdkafka goes past such a batch: a reader that went on would fold what follows as the next records).
TEST(KafkaCorruption, AByteDamagedOnTheBrokersDiskStopsTheFoldAndServeAtItsBatch) {
  REQUIRE_BROKER();
  const char* kafka_dir = std::getenv("GONGJI_KAFKA_DIR");
  ASSERT_TRUE(kafka_dir) << "GONGJI_KAFKA_DIR is not set: ops/test.sh sets it to the broker's directory";
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("crc", 1);
  {
    auto log = open_kafka_log(k);
    ingest_lines(*log, generated(300, 3));
  }
  const std::string segment = std::string(kafka_dir) + "/node1/data/" + k.topic + "-0/00000000000000000000.log";
  const std::string bytes = read_file(segment);
  ASSERT_GT(bytes.size(), 10000u) << segment;
  // A byte among the records of the batch holding the segment's middle: past the batch's first 61 bytes (its base
  // offset, length, leader epoch and magic, which its CRC32C does not cover, then the CRC and the rest of its header).
  size_t at = 0;
  for (size_t batch = 0; batch + 12 <= bytes.size();) {
    const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
    const size_t end = batch + 12 + (byte(batch + 8) << 24 | byte(batch + 9) << 16 | byte(batch + 10) << 8 |
                                     byte(batch + 11));  // its length, big-endian, after the base offset
    if (bytes.size() / 2 < end) {
      at = std::max(batch + 61, bytes.size() / 2);
      break;
    }
    batch = end;
  }
  ASSERT_GT(at, 0u);
  ASSERT_LT(at, bytes.size());
  {  // in place: the broker holds the file open
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(bytes[at] ^ 0x5a));
  }
  const std::regex named("kafka: topic " + k.topic + " partition 0 offset ([0-9]+): .*failed CRC32C check");
  std::smatch m;
  Store folded(d / "fold");
  std::string why;
  try {
    auto log = open_kafka_log(k);
    folded.fold(*log, default_policy());
    ADD_FAILURE() << "the fold went through a damaged record batch";
  } catch (const LogError& e) {
    why = e.what();
  }
  ASSERT_TRUE(std::regex_search(why, m, named)) << why;
  const uint64_t batch = std::stoull(m[1]);
  const auto fold_positions = folded.positions();
  EXPECT_LE(fold_positions.contains(0) ? fold_positions.at(0) : 0, batch) << "folded past the damaged batch";
  std::string out;
  const int rc = serve_once(k.topic, d / "serve", &out);
  EXPECT_EQ(rc, exit_code::kFailure) << out;
  ASSERT_TRUE(std::regex_search(out, m, named)) << out;
  EXPECT_EQ(std::stoull(m[1]), batch);
  const auto served = Store(d / "serve/state", true).positions();
  EXPECT_LE(served.contains(0) ? served.at(0) : 0, batch) << "serve folded past the damaged batch";
}

// "Nothing lost", records removed from the topic (retention, or DeleteRecords as here): a reader assigned at an offset
// the topic no longer holds was moved by librdkafka to the earliest it holds (`serve` asked for that,
// auto.offset.reset=earliest) and folded on from there, as if the removed enrolments and claims had never been. Now
// no reader's offset is moved for it (log/kafka_read.h): a new store's fold refuses naming the topic, partition and
// offset, and `serve` stops, exit 1, having folded nothing of that partition.
TEST(KafkaCorruption, RecordsRemovedFromTheTopicStopTheFoldAndServe) {
  REQUIRE_BROKER();
  TempDir d;
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = fresh_topic("gone", 1);
  {
    auto log = open_kafka_log(k);
    ingest_lines(*log, generated(100, 3));
  }
  std::ofstream(d / "delete.json") << R"({"partitions":[{"topic":")" << k.topic
                                   << R"(","partition":0,"offset":10}],"version":1})";
  std::string said;
  const std::string remove = std::string(GONGJI_SOURCE_DIR) + "/ops/kafka/kafka.sh tool " +
                             "org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server " + brokers() +
                             " --offset-json-file " + d / "delete.json" + " 2>&1";
  ASSERT_EQ(run(remove, &said), 0) << said;
  const std::string named = "kafka: topic " + k.topic + " partition 0 offset 0: ";
  Store folded(d / "fold");
  try {
    auto log = open_kafka_log(k);
    folded.fold(*log, default_policy());
    ADD_FAILURE() << "a new store was folded from a topic whose first records are gone";
  } catch (const LogError& e) {
    EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Offset out of range"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(folded.positions().empty() || folded.positions().at(0) == 0);
  std::string out;
  const int rc = serve_once(k.topic, d / "serve", &out);
  EXPECT_EQ(rc, exit_code::kFailure) << out;
  EXPECT_NE(out.find(named), std::string::npos) << out;
  const auto served = Store(d / "serve/state", true).positions();
  EXPECT_TRUE(served.empty() || served.at(0) == 0) << "serve folded from the earliest offset left";
}

// Issue 8 item 1 through Kafka: `ingest --brokers` killed mid-file, then the same ingest again: the re-sent copies
// land at new offsets and the fold skips them per partition, so the settlements and person states equal a clean
// run's. The kill is the probe after line 4/5 of the file (exit 137 with what librdkafka still queues lost, as a
// SIGKILL would): a kill timed on progress seen in the topic came, on a fast run, after the whole file was sent.
TEST(KafkaIngest, KilledMidFileThenSameIngestFoldsAsClean) {
  REQUIRE_BROKER();
  TempDir d;
  const std::string events = generated(1500, 71), file = d / "events.jsonl";
  std::ofstream(file) << events;
  const std::string clean_topic = fresh_topic("ingclean"), topic = fresh_topic("ingcrash");
  auto ingest = [&](const std::string& t) {
    return std::string(GONGJI_BIN) + " ingest --brokers " + brokers() + " --events-topic " + t + " --data-dir " +
           d / ("ingest-" + t) + " " + file;
  };
  ASSERT_EQ(run(ingest(clean_topic) + " >/dev/null 2>&1"), 0);
  KafkaOptions k;
  k.brokers = brokers();
  k.topic = clean_topic;
  auto clean_log = open_kafka_log(k);
  const uint64_t total = topic_end(*clean_log);
  k.topic = topic;
  auto log = open_kafka_log(k);
  const size_t lines = static_cast<size_t>(std::count(events.begin(), events.end(), '\n'));
  ASSERT_EQ(run("GONGJI_FAULT=ingest.mid_file@" + std::to_string(lines * 4 / 5) + ":crash " + ingest(topic) +
                " >/dev/null 2>&1"),
            137);
  EXPECT_GT(topic_end(*log), 0u);
  EXPECT_LT(topic_end(*log), total) << "the kill came after the whole file was sent";
  ASSERT_EQ(run(ingest(topic) + " >/dev/null 2>&1"), 0);
  EXPECT_GT(topic_end(*log), total);  // the re-sent copies
  Store clean(d / "clean/state"), recovered(d / "recovered/state");
  clean.fold(*clean_log, default_policy());
  FoldStats st = recovered.fold(*log, default_policy());
  EXPECT_EQ(st.dead_letters, 0u);
  auto by_claim = [](const Store& s) {  // each settlement by claim, without where it sat in the log
    std::map<std::string, std::string> m;
    s.outputs([&](const nlohmann::json& r) {
      if (r["kind"] != "settlement") return true;
      nlohmann::json v = r;
      v.erase("offset");
      v.erase("partition");
      m[r["claim"]] = v.dump();
      return true;
    });
    return m;
  };
  auto clean_settlements = by_claim(clean);
  EXPECT_GT(clean_settlements.size(), 1000u);
  EXPECT_EQ(by_claim(recovered), clean_settlements);
  auto persons = [](const Store& s) {
    std::string all;
    s.scan("p/", [&](const std::string& key, std::string_view v) { all += key + "=" + std::string(v) + "\n"; });
    return all;
  };
  EXPECT_EQ(persons(recovered), persons(clean));
}

}  // namespace
}  // namespace gongji::test
