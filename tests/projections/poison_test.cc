// Issue 8 item 4: no poison record stops a partition. A record that throws anything while it is decoded or applied
// becomes a dead letter (an output record of kind dead_letter, indexed under d/), the fold goes on with the next,
// and the record leaves no partial change: the result equals a clean fold of the log without it.
#include <climits>

#include <rocksdb/db.h>

#include "events/fb_codec.h"
#include "ledger/state_codec.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"
#include "readback/output_lines.h"

namespace gongji::test {
namespace {

using nlohmann::json;

const char* kSetup =
    R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,)"
        R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
        R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
        R"("scheme":"employee","status":"in_service"})" "\n";

std::string claim_line(const std::string& id, const std::string& claim, const std::string& date) {
  return R"({"type":"claim","id":")" + id + R"(","claim":")" + claim + R"(","person":"P","facility":"T1","date":")" +
         date + R"(","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})" + "\n";
}

// The log around a poison record, one partition, all in one batch: two good claims of P before it (K1, and the
// period close of January in between), one after (K3), then the correction of the poison's claim (new event id,
// claim id K2). `poison` appends the poison record; the clean log leaves it out.
void write_log(EventLog& log, const std::function<void(EventLog&)>& poison) {
  ingest_lines(log, kSetup + claim_line("c1", "K1", "2023-01-10") +
                        R"({"type":"period_closed","id":"close-01","at":"2023-02-01","month":"2023-01"})" + "\n");
  if (poison) poison(log);
  ingest_lines(log, claim_line("c3", "K3", "2023-02-10") + claim_line("c2-fixed", "K2", "2023-02-11"));
}

struct Folded {
  std::map<std::string, std::string> state;  // every key of person, facility, meta and event-id state
  std::vector<std::string> outputs;          // output lines in log order, dead letters left out
  std::vector<json> dead;                    // dead_letter output records, in log order
  std::vector<json> all;                     // every output record, in log order
  std::vector<std::pair<std::string, json>> indexed;  // Store::dead_letters: d/ key and record
  std::vector<std::string> by_month;  // the records of January and February the month index (t/) names, as lines
  FoldStats stats;
};

// Folds partition 0 of `log` in ONE batch through PartitionFolder (as Store::fold and serve do), with a hook.
Folded fold_once(const std::string& dir, EventLog& log, const std::function<void(const Event&)>& hook = {}) {
  static const Policy& policy = default_policy();
  Folded f;
  Store s(dir);
  s.record_run(policy, log.partitions());
  {
    PartitionFolder folder(s, 0, log.partitions(), policy);
    if (hook) folder.set_apply_hook(hook);
    log.read(0, 0, [&](const LogRecord& r) {
      folder.apply(r, f.stats);
      return true;
    });
    EXPECT_EQ(folder.pending(), f.stats.events) << "everything must be in one batch";
    folder.commit(f.stats);
  }
  for (const char* prefix : {"p/", "f/", "m/", "e/"})
    s.scan(prefix, [&](const std::string& k, std::string_view v) { f.state[k] = std::string(v); });
  s.outputs([&](const json& r) {
    f.all.push_back(r);
    if (r["kind"] == "dead_letter") f.dead.push_back(r);
    else f.outputs.push_back(r.dump());
    return true;
  });
  s.dead_letters([&](const std::string& k, const std::string& v) { f.indexed.emplace_back(k, json::parse(v)); });
  for (const char* month : {"2023-01", "2023-02"})
    s.month_outputs_as_data({*parse_month(month), std::nullopt, std::nullopt, true},
                            [&](const Settlement* st, const Record* r) {
                              f.by_month.push_back(st ? st->to_line() : record_line(*r));
                              return true;
                            });
  return f;
}

Folded clean_fold(const TempDir& d) {
  auto log = open_segment_log(d / "clean-log", 1);
  write_log(*log, {});
  return fold_once(d / "clean-state", *log);
}

json settlement_of(const Folded& f, const std::string& claim) {
  for (const auto& r : f.all)
    if (r["kind"] == "settlement" && r["claim"] == claim) return r;
  ADD_FAILURE() << "no settlement for " << claim;
  return json();
}

// What every poison case must show: one dead letter at offset 4 (facility 0, person 1, c1 2, close 3), written as
// an output record in its place and indexed under d/; the following records settled exactly as in the clean fold;
// the person, facility, meta and event-id state equal to the clean fold's.
void expect_only_the_dead_letter(const Folded& poisoned, const Folded& clean) {
  ASSERT_EQ(poisoned.dead.size(), 1u);
  const json& dl = poisoned.dead[0];
  EXPECT_EQ(dl["partition"], 0);
  EXPECT_EQ(dl["offset"], 4);
  ASSERT_EQ(poisoned.indexed.size(), 1u);
  EXPECT_EQ(poisoned.indexed[0].first, "d/0000/0000000000000004");
  EXPECT_EQ(poisoned.indexed[0].second, dl);
  EXPECT_EQ(poisoned.stats.dead_letters, 1u);
  // In log order: the records of offsets 0..3 (same as the clean fold's), the dead letter, then K3's settlement.
  size_t at = 0;
  while (at < poisoned.all.size() && poisoned.all[at]["kind"] != "dead_letter") ++at;
  ASSERT_LT(at + 1, poisoned.all.size());
  EXPECT_EQ(poisoned.all[at + 1]["claim"], "K3");
  EXPECT_EQ(poisoned.outputs, clean.outputs);
  EXPECT_EQ(poisoned.state, clean.state);
  EXPECT_EQ(poisoned.by_month, clean.by_month);  // each once: the rollback took back the month index's entries too
  EXPECT_EQ(clean.by_month.size(), 3u) << testing::PrintToString(clean.by_month);  // K1, K3 and K2
  // K3 and the corrected K2 are settled (hand-computed: the 300.00 deductible is met by K1, so 70% of 400.00 at a
  // level-1 facility); K2 is not DUPLICATE_CLAIM: the dead-lettered claim consumed nothing.
  for (const char* claim : {"K3", "K2"}) {
    json s = settlement_of(poisoned, claim);
    EXPECT_EQ(s["status"], "settled") << s.dump();
    EXPECT_EQ(s["fund"], "280.00") << s.dump();
    EXPECT_EQ(s["reasons"].dump().find("DUPLICATE_CLAIM"), std::string::npos) << s.dump();
  }
}

// A claim whose item amounts overflow int64 when summed, written straight into the log (append_raw of
// encode_event), bypassing ingest's validation.
TEST(Poison, OverflowingClaimIsDeadLetteredAlone) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  write_log(*log, [](EventLog& l) {
    auto e = parse_as<Claim>(claim_line("c2", "K2", "2023-02-05"));
    e.items[0].amount = INT64_MAX / 2 + 1;
    e.items.push_back(e.items[0]);
    l.append_raw(0, encode_event(e));
  });
  Folded poisoned = fold_once(d / "state", *log);
  expect_only_the_dead_letter(poisoned, clean_fold(d));
  ASSERT_EQ(poisoned.dead.size(), 1u);
  EXPECT_NE(poisoned.dead[0]["reason"].get<std::string>().find("amount"), std::string::npos) << poisoned.dead[0];
}

// A claim whose person id is not valid UTF-8: the dead letter is still valid JSON.
TEST(Poison, PersonIdNotUtf8IsDeadLetteredAlone) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  write_log(*log, [](EventLog& l) {
    auto e = parse_as<Claim>(claim_line("c2", "K2", "2023-02-05"));
    e.person = std::string("P\xC3", 2);  // a lead byte with no continuation
    l.append_raw(0, encode_event(e));
  });
  Folded poisoned = fold_once(d / "state", *log);
  expect_only_the_dead_letter(poisoned, clean_fold(d));
  ASSERT_EQ(poisoned.dead.size(), 1u);
  EXPECT_NE(poisoned.dead[0]["reason"].get<std::string>().find("UTF-8"), std::string::npos) << poisoned.dead[0];
}

// An exception thrown after apply_event changed P (the claim K2 recorded, deductible and limit counted): the
// rollback leaves no trace of it, so the correction with the same claim id settles. The exception is a real
// nlohmann::json type_error (dumping text that is not UTF-8), not an EventError.
TEST(Poison, ExceptionAfterStateChangedRollsBackExactly) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  write_log(*log, [](EventLog& l) { ingest_lines(l, claim_line("c2", "K2", "2023-02-05")); });
  int hook_calls = 0;
  Folded poisoned = fold_once(d / "state", *log, [&](const Event& e) {
    ++hook_calls;
    if (e.id() == "c2") (void)json(std::string("\xff", 1)).dump();
  });
  expect_only_the_dead_letter(poisoned, clean_fold(d));
  ASSERT_EQ(poisoned.dead.size(), 1u);
  const json& dl = poisoned.dead[0];
  EXPECT_EQ(dl["event"], "c2");
  EXPECT_EQ(dl["type"], "claim");
  EXPECT_EQ(dl["person"], "P");
  EXPECT_EQ(dl["claim"], "K2");
  EXPECT_NE(dl["reason"].get<std::string>().find("type_error.316"), std::string::npos) << dl;
  // Seven records reach apply_event; the four before the poison are applied again during the rollback.
  EXPECT_EQ(hook_calls, 7 + 4);
}

// POLICY.md TIME-ASOF's default --as-of, the partition's latest date (Store::latest_date, l/), counts the events
// applied, not a dead letter: a claim dated 2023-12-30 that is rolled back after it changed the state (and raised the
// date in the batch) leaves the date where the records around it put it. Offsets: T1 0 and P 1 (2022-01-01), K1 2
// (2023-01-10), the poison 3, K3 4 (2023-02-10): the date rose at 0, 2 and 4 only.
TEST(Poison, ADeadLetterDoesNotRaiseThePartitionsLatestDate) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, std::string(kSetup) + claim_line("c1", "K1", "2023-01-10") +
                         claim_line("c2", "K2", "2023-12-30") + claim_line("c3", "K3", "2023-02-10"));
  fold_once(d / "state", *log, [](const Event& e) {
    if (e.id() == "c2") throw std::out_of_range("injected after the state changed");
  });
  Store s(d / "state", true);
  std::vector<std::string> rose;
  s.scan("l/", [&](const std::string& k, std::string_view) { rose.push_back(k); });
  EXPECT_EQ(rose, (std::vector<std::string>{"l/0000/0000000000000000", "l/0000/0000000000000002",
                                            "l/0000/0000000000000004"}));
  EXPECT_EQ(s.latest_date(0), parse_date("2023-02-10"));
  // As known before offset 4 (the offset form of --known-at), and before anything.
  EXPECT_EQ(s.latest_date(0, [](uint64_t off, int64_t) { return off < 4; }), parse_date("2023-01-10"));
  EXPECT_EQ(s.latest_date(0, [](uint64_t, int64_t) { return false; }), std::nullopt);
}

// Store::fold commits a batch right after a rollback, so each rollback re-applies only the records since the last
// one: a log of many poison records costs linear work, not up to batch_events re-applies each (issue 10: batches
// of 64,000 events). Records: facility 0, person 1, claims c1..c30 at offsets 2..31; c10, c20 and c30 throw after
// the state changed. Hook calls: 32 first applies; c10's rollback re-applies offsets 0..10 (11), c20's 12..20 (9),
// c30's 22..30 (9). Without the commit after a rollback: 11 + 20 + 29 (c10 and c20 are dead letters, re-put).
TEST(Poison, FoldCommitsAfterARollbackSoManyPoisonRecordsCostLinearWork) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  std::string lines = kSetup;
  for (int i = 1; i <= 30; ++i) lines += claim_line("c" + std::to_string(i), "K" + std::to_string(i), "2023-03-01");
  ingest_lines(*log, lines);
  int hook_calls = 0;
  FoldOptions opt;
  opt.batch_events = 1000;
  opt.apply_hook = [&](const Event& e) {
    ++hook_calls;
    if (e.id() == "c10" || e.id() == "c20" || e.id() == "c30")
      throw std::out_of_range("injected after the state changed");
  };
  Store s(d / "state");
  FoldStats st = s.fold(*log, default_policy(), opt);
  EXPECT_EQ(st.dead_letters, 3u);
  EXPECT_EQ(hook_calls, 32 + 11 + 9 + 9);
  EXPECT_EQ(st.commits, 3u);  // after c10, c20 and c30; c30 is the last record, so none is left for the end
  // The partition's latest date rose at T1 (2022-01-01) and c1 (2023-03-01) only: a rollback after a commit goes back
  // to the committed date, not to none (else c11, re-applied after c20's rollback, would rise again at offset 12).
  std::vector<std::string> rose;
  s.scan("l/", [&](const std::string& k, std::string_view) { rose.push_back(k); });
  EXPECT_EQ(rose, (std::vector<std::string>{"l/0000/0000000000000000", "l/0000/0000000000000002"}));
}

// The records of partition 0 in log order, their payloads pointing into `bytes` (which keeps copies).
std::vector<LogRecord> records_of(EventLog& log, std::vector<std::string>& bytes) {
  std::vector<LogRecord> records;
  log.read(0, 0, [&](const LogRecord& r) {
    bytes.emplace_back(r.payload);
    records.push_back(r);
    return true;
  });
  for (size_t i = 0; i < records.size(); ++i) records[i].payload = bytes[i];
  return records;
}

// A store that has folded and committed records[0, n) of partition 0 (of 1), by a folder of its own.
void fold_first(Store& s, const std::vector<LogRecord>& records, size_t n) {
  s.record_run(default_policy(), 1);
  FoldStats setup;
  PartitionFolder folder(s, 0, 1, default_policy());
  for (size_t i = 0; i < n; ++i) folder.apply(records[i], setup);
  folder.commit(setup);
}

// PartitionFolder::apply_reading_ahead as `serve` calls it (a batch ends only after a rollback): the rollback drops
// the persons read ahead, so after its commit the records that follow are read ahead again. P and Q are in the store;
// a fresh folder applies c1 (P), c2 (P, throws after the state changed) and c3 (Q). Taken from what was read ahead:
// the ids of c1, c2, c3 and the persons P (by c1) and Q (by c3, read ahead again after the rollback) = 5; without the
// second read-ahead Q is looked up alone: 4 (checked by removing it). c3's id counts either way: the rollback keeps
// the event ids read ahead (PartitionFolder::Impl::roll_back).
TEST(Poison, AfterARollbackTheRecordsThatFollowAreReadAheadAgain) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, std::string(kSetup) +
                         R"({"type":"person_enrolled","id":"q","at":"2022-01-01","person":"Q",)"
                         R"("birth_date":"1970-01-01","scheme":"employee","status":"in_service"})" "\n" +
                         claim_line("c1", "K1", "2023-03-01") + claim_line("c2", "K2", "2023-03-02") +
                         R"({"type":"claim","id":"c3","claim":"K3","person":"Q","facility":"T1","date":"2023-03-03",)"
                         R"("benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})" "\n");
  std::vector<std::string> bytes;
  const std::vector<LogRecord> records = records_of(*log, bytes);
  ASSERT_EQ(records.size(), 6u);
  Store s(d / "state");
  fold_first(s, records, 3);  // T1, P, Q
  PartitionFolder folder(s, 0, 1, default_policy());
  folder.set_apply_hook([](const Event& e) {
    if (e.id() == "c2") throw std::out_of_range("injected after the state changed");
  });
  FoldStats st;
  int commits = 0, applied = 0;
  folder.apply_reading_ahead(std::span<const LogRecord>(records).subspan(3), st, [] { return true; },
                             [&](const LogRecord&, std::vector<Output>&) { return ++applied, false; },
                             [&] { return ++commits, folder.commit(st), true; });
  folder.commit(st);
  EXPECT_EQ(applied, 3);
  EXPECT_EQ(commits, 1);  // after c2's rollback only
  EXPECT_EQ(st.dead_letters, 1u);
  EXPECT_EQ(st.read_ahead_taken, 5u);
  EXPECT_EQ(st.person_reads, 3u);  // P read ahead, P again by c1 re-applied in the rollback, Q read ahead again
  auto q = s.settlement("Q", "K3");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->record.settlement->fund, 7000);  // (400 - 300) x 70%: Q's own deductible (ORD-DED, ORD-RATIO)
}

// The read-ahead after a rollback is bounded: at most max(the rolled-back batch's records, 64) records that follow,
// so that each of many rollbacks reads ahead what the next batch holds, not the whole rest of the chunk. P and
// Q1..Q100 are in the store; a fresh folder applies c1 (P), c2 (P, throws after the state changed), then one claim
// for each Qi. Taken from what was read ahead: the 102 event ids (read ahead first; a rollback keeps them), P by c1,
// and Q1..Q64 read ahead again after the rollback (batch of 2 records: the window is 64) = 167; Q65..Q100 are looked
// up alone. Reading the whole rest ahead again would make it 203.
TEST(Poison, TheReadAheadAfterARollbackIsBoundedByTheBatch) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  std::string enrolments, claims;
  for (int i = 1; i <= 100; ++i) {
    const std::string q = "Q" + std::to_string(i);
    enrolments += R"({"type":"person_enrolled","id":"e)" + q + R"(","at":"2022-01-01","person":")" + q +
                  R"(","birth_date":"1970-01-01","scheme":"employee","status":"in_service"})" "\n";
    claims += R"({"type":"claim","id":"k)" + q + R"(","claim":"K)" + q + R"(","person":")" + q +
              R"(","facility":"T1","date":"2023-03-03","benefit":"ordinary",)"
              R"("items":[{"category":"drug","amount":"400.00"}]})" "\n";
  }
  ingest_lines(*log, std::string(kSetup) + enrolments + claim_line("c1", "K1", "2023-03-01") +
                         claim_line("c2", "K2", "2023-03-02") + claims);
  std::vector<std::string> bytes;
  const std::vector<LogRecord> records = records_of(*log, bytes);
  ASSERT_EQ(records.size(), 204u);  // T1, P, Q1..Q100, c1, c2, 100 claims
  Store s(d / "state");
  fold_first(s, records, 102);
  PartitionFolder folder(s, 0, 1, default_policy());
  folder.set_apply_hook([](const Event& e) {
    if (e.id() == "c2") throw std::out_of_range("injected after the state changed");
  });
  FoldStats st;
  folder.apply_reading_ahead(std::span<const LogRecord>(records).subspan(102), st, [] { return true; },
                             [](const LogRecord&, std::vector<Output>&) { return false; },
                             [&] { return folder.commit(st), true; });
  folder.commit(st);
  EXPECT_EQ(st.dead_letters, 1u);
  EXPECT_EQ(st.outputs, 101u);  // the settlements of K1 and of the 100 claims (the dead letter counted apart)
  EXPECT_EQ(st.read_ahead_taken, 167u);
  EXPECT_EQ(st.person_reads, 102u);  // P, P again in the rollback, Q1..Q100
}

// A rollback also keeps the batch's earlier dead letters exactly as they were (undecodable bytes before K1).
TEST(Poison, RollbackKeepsEarlierDeadLettersOfTheBatch) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  log->append_raw(0, "garbage that is not a flatbuffer");
  write_log(*log, [](EventLog& l) { ingest_lines(l, claim_line("c2", "K2", "2023-02-05")); });
  Folded poisoned = fold_once(d / "state", *log, [](const Event& e) {
    if (e.id() == "c2") throw std::out_of_range("injected out_of_range");
  });
  ASSERT_EQ(poisoned.dead.size(), 2u);
  EXPECT_EQ(poisoned.dead[0]["offset"], 0);
  EXPECT_NE(poisoned.dead[0]["reason"].get<std::string>().find("not a valid FlatBuffers event record"),
            std::string::npos);
  EXPECT_EQ(poisoned.dead[1]["offset"], 5);
  EXPECT_EQ(poisoned.dead[1]["reason"], "injected out_of_range");
  Folded clean = clean_fold(d);
  EXPECT_EQ(poisoned.outputs, clean.outputs);
  EXPECT_EQ(poisoned.state, clean.state);
  EXPECT_EQ(poisoned.by_month, clean.by_month);  // each once: the rollback took back the month index's entries too
  EXPECT_EQ(clean.by_month.size(), 3u) << testing::PrintToString(clean.by_month);  // K1, K3 and K2
}

// A reason that is not UTF-8 (an exception's text): the stored dead letter holds it made valid as its line shows it
// (U+FFFD), so that the record says what its line says, and a store migrated from that line holds the same bytes.
TEST(Poison, DeadLetterTextIsStoredAsItsLineShowsIt) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  write_log(*log, [](EventLog& l) { ingest_lines(l, claim_line("c2", "K2", "2023-02-05")); });
  Folded poisoned = fold_once(d / "state", *log, [](const Event& e) {
    if (e.id() == "c2") throw std::runtime_error("bad \xff byte");
  });
  ASSERT_EQ(poisoned.dead.size(), 1u);
  EXPECT_EQ(poisoned.dead[0]["reason"], "bad \xef\xbf\xbd byte");
  Store s(d / "state", true);
  std::string stored;
  ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "o/0000/0000000000000004/00000000", &stored).ok());
  const Record r = decode_record(stored);
  EXPECT_EQ(std::get<DeadLetter>(r).reason, "bad \xef\xbf\xbd byte");
  EXPECT_EQ(encode_record(*record_from_line(record_line(r))), stored);  // what a migration of its line writes
}

// Storage failures are not poison: a StoreError propagates and nothing is dead-lettered or committed.
TEST(Poison, StoreErrorIsNotPoison) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  write_log(*log, [](EventLog& l) { ingest_lines(l, claim_line("c2", "K2", "2023-02-05")); });
  Store s(d / "state");
  s.record_run(default_policy(), 1);
  PartitionFolder folder(s, 0, 1, default_policy());
  folder.set_apply_hook([](const Event& e) {
    if (e.id() == "c2") throw StoreError("no space left on device: injected");
  });
  FoldStats st;
  std::string m = thrown<StoreError>([&] {
    log->read(0, 0, [&](const LogRecord& r) {
      folder.apply(r, st);
      return true;
    });
  });
  EXPECT_EQ(m, "no space left on device: injected");  // the storage error itself, not a dead letter's reason
  EXPECT_EQ(st.dead_letters, 0u);
  EXPECT_EQ(s.folded_offset(0), 0u);
}

// The CLI: `dead-letters` (text and --json), `settlements --kind dead_letter`, and `report`'s count.
TEST(Poison, DeadLettersCommandAndReport) {
  TempDir d;
  {
    auto log = open_segment_log(d / "data/log", 1);
    write_log(*log, [](EventLog& l) {
      auto e = parse_as<Claim>(claim_line("c2", "K2", "2023-02-05"));
      e.items[0].amount = INT64_MAX / 2 + 1;
      e.items.push_back(e.items[0]);
      l.append_raw(0, encode_event(e));
    });
  }
  std::string out;
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data"), &out), 0);
  EXPECT_NE(out.find(", 1 dead letters"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("dead-letters --data-dir " + d / "data"), &out), 0);
  EXPECT_EQ(out.rfind("partition 0 offset 4: ", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_NE(out.find("\n1 dead letters of the fold"), std::string::npos) << out;
  std::string js, kind;
  ASSERT_EQ(run(gongji("dead-letters --json --data-dir " + d / "data"), &js), 0);
  ASSERT_EQ(run(gongji("settlements --kind dead_letter --data-dir " + d / "data"), &kind), 0);
  EXPECT_EQ(js, kind);
  json dl = json::parse(js);
  EXPECT_EQ(dl["kind"], "dead_letter");
  EXPECT_EQ(dl["offset"], 4);
  ASSERT_EQ(run(gongji("report --data-dir " + d / "data"), &out), 0);
  EXPECT_NE(out.find("`gongji dead-letters` lists them all): 1 ==\n  partition 0 offset 4: "), std::string::npos)
      << out;
}

// PartitionFolder::apply_reading_ahead drops, at its end, what its chunk read ahead and did not take. Q and its claim
// cq are in the store; a fresh folder is given cq again (a copy: a no-op). The chunk reads ahead cq's event id, which
// the copy takes (found: nothing to do), and Q, which nothing takes; kept, Q would stay in memory until its next
// event (in `serve`, as long as the folder lives).
TEST(ReadAhead, WhatAChunkDidNotTakeIsDroppedAtItsEnd) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  const std::string cq = R"({"type":"claim","id":"cq","claim":"KQ","person":"Q","facility":"T1","date":"2023-03-03",)"
                         R"("benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})";
  ingest_lines(*log, std::string(kSetup) +
                         R"({"type":"person_enrolled","id":"q","at":"2022-01-01","person":"Q",)"
                         R"("birth_date":"1970-01-01","scheme":"employee","status":"in_service"})" "\n" + cq + "\n");
  log->append_raw(0, encode_event(parse_event(cq)));  // the same event again, as a producer's retry leaves it
  log->sync();
  std::vector<std::string> bytes;
  const std::vector<LogRecord> records = records_of(*log, bytes);
  ASSERT_EQ(records.size(), 5u);  // T1, P, Q, cq, cq again
  Store s(d / "state");
  fold_first(s, records, 4);
  PartitionFolder folder(s, 0, 1, default_policy());
  FoldStats st;
  int applied = 0;
  folder.apply_reading_ahead(std::span<const LogRecord>(records).subspan(4), st, [] { return true; },
                             [&](const LogRecord&, std::vector<Output>&) { return ++applied, false; },
                             [] { return true; });
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(folder.persons_in_memory(), 0u);     // Q was never asked for
  EXPECT_EQ(folder.read_ahead_in_memory(), 0u);  // 1 (Q) were it kept
  folder.commit(st);
  EXPECT_EQ(st.outputs, 0u);           // the copy settles nothing again
  EXPECT_EQ(st.read_ahead_taken, 1u);  // cq's event id
  EXPECT_EQ(st.person_reads, 0u);
}

}  // namespace
}  // namespace gongji::test
