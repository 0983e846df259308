// Issue 9 item 9: invariants asserted in the core (ledger/invariant.h). A violation is a dead letter for its record
// whose reason names the invariant, through the one rollback path of PartitionFolder (projections/store.h): nothing
// of the record remains. The log position only moving forward is a StoreError, not a dead letter. A normal
// population folds without a violation.
#include <rocksdb/db.h>

#include "ledger/invariant.h"
#include "ledger/settlement.h"
#include "ledger/state_codec.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"
#include "readback/output_lines.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// T1: a level-1 township health centre; P: an in-service employee. Employee level 1 (weihai.yaml): deductible
// 300.00, ratio 70%. K1 (400.00 eligible) pays the 300.00 deductible, covers 100.00 and the fund pays 70.00.
std::string claim_line(const std::string& id, const std::string& claim, const std::string& date) {
  return R"({"type":"claim","id":")" + id + R"(","claim":")" + claim + R"(","person":"P","facility":"T1","date":")" +
         date + R"(","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})";
}

const std::string kSetup =
    R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,)"
    R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
    R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
    R"("scheme":"employee","status":"in_service"})" "\n" +
    claim_line("c1", "K1", "2023-01-10") + "\n";
constexpr uint64_t kSetupRecords = 3;

const std::string kClaimK2 = claim_line("c2", "K2", "2023-02-10");
const char* kReverseK1 = R"({"type":"claim_reversed","id":"r1","at":"2023-02-15","person":"P","claim":"K1"})";

struct Provoked {
  PersonState before;         // P as crafted, right before the record
  std::vector<Output> outs;   // what the record gave
  PersonState after;          // P after the record's batch was committed
  std::optional<SettlementRef> k2;
  bool event_id_recorded = true;
  std::vector<std::pair<std::string, json>> dead;  // Store::dead_letters
  uint64_t next = 0;
};

// Folds the setup, changes P's stored state with `craft` (a damaged or impossible state the rules would never
// produce), then folds `record` (offset 3) through a fresh PartitionFolder, as Store::fold does, and commits.
Provoked provoke(const TempDir& d, const std::function<void(PersonState&)>& craft, const std::string& record,
                 const std::string& event_id) {
  const Policy& policy = default_policy();
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, kSetup + record + "\n");
  Store s(d / "state");
  s.record_run(policy, 1);
  FoldStats stats;
  {
    PartitionFolder folder(s, 0, 1, policy);
    log->read(0, 0, [&](const LogRecord& r) {
      if (r.offset >= kSetupRecords) return false;
      folder.apply(r, stats);
      return true;
    });
    folder.commit(stats);
  }
  EXPECT_EQ(stats.dead_letters, 0u);
  EXPECT_EQ(s.settlement("P", "K1")->record.settlement->fund, 7000);  // hand-computed above
  Provoked p;
  std::optional<PersonState> person = s.person("P");
  EXPECT_TRUE(person);
  if (!person) return p;
  craft(*person);
  p.before = *person;
  EXPECT_TRUE(s.db()->Put(rocksdb::WriteOptions(), "p/0000/P", encode_person(*person)).ok());
  {
    PartitionFolder folder(s, 0, 1, policy);
    log->read(0, kSetupRecords, [&](const LogRecord& r) {
      auto outs = folder.apply(r, stats);
      p.outs.insert(p.outs.end(), outs.begin(), outs.end());
      return true;
    });
    folder.commit(stats);
    p.next = folder.next_offset();
  }
  p.after = *s.person("P");
  p.k2 = s.settlement("P", "K2");
  std::string v;
  p.event_id_recorded = s.db()->Get(rocksdb::ReadOptions(), "e/0000/" + event_id, &v).ok();
  s.dead_letters([&](const std::string& k, const std::string& line) { p.dead.emplace_back(k, json::parse(line)); });
  return p;
}

// What every provoked violation must show: the record's one output is a dead letter at offset 3 with exactly
// `reason`, indexed under d/; the record left nothing (P as crafted, its event id not recorded, no settlement of
// K2); the position moved past it.
void expect_dead_letter(const Provoked& p, const std::string& reason, const std::string& event_id) {
  ASSERT_EQ(p.outs.size(), 1u);
  EXPECT_EQ(p.outs[0].kind, "dead_letter");
  json dl = nlohmann::json::parse(p.outs[0].line());
  EXPECT_EQ(dl["reason"], reason);
  EXPECT_EQ(dl["offset"], 3);
  EXPECT_EQ(dl["event"], event_id);
  EXPECT_EQ(dl["person"], "P");
  ASSERT_EQ(p.dead.size(), 1u);
  EXPECT_EQ(p.dead[0].first, "d/0000/0000000000000003");
  EXPECT_EQ(p.dead[0].second, dl);
  EXPECT_TRUE(p.after == p.before) << "the dead-lettered record changed P";
  EXPECT_FALSE(p.event_id_recorded);
  EXPECT_FALSE(p.k2.has_value());
  EXPECT_EQ(p.after.claims.count("K2"), 0u) << "the claim id must stay free";
  EXPECT_EQ(p.next, 4u);
}

// An incentive bonus of 200 points, far above the policy's 5-point cap (ORD-INC): K2 (400.00 covered, the
// deductible met by K1) would get fund round(400.00 x (0.70 + 2.00)) = 1080.00.
TEST(Invariant, FundAboveCoveredIsDeadLettered) {
  TempDir d;
  Provoked p = provoke(
      d, [](PersonState& s) { s.bonus.push_back({jan1(2023), Rate{20000}}); }, kClaimK2, "c2");
  expect_dead_letter(p, "invariant INV-FUND-LE-COVERED violated: fund 1080.00 is above covered 400.00", "c2");
  EXPECT_EQ(nlohmann::json::parse(p.outs[0].line())["claim"], "K2");
}

// A stray reversal effect of -500.00 deductible in P's 2023 ordinary accumulators (no claim of its own): the
// deductible paid K2 starts from is 300.00 - 500.00 = -200.00.
TEST(Invariant, NegativeAccumulatorIsDeadLettered) {
  TempDir d;
  Provoked p = provoke(
      d,
      [](PersonState& s) {
        Effect stray = s.claims.at("K1").effect;
        stray.claim = "GHOST";
        stray.deductible = -50000;
        stray.limit_used = stray.inpatient_used = stray.fund = stray.eligible = 0;
        s.effects.push_back(stray);
      },
      kClaimK2, "c2");
  expect_dead_letter(p,
                     "invariant INV-ACCUM-NONNEG violated: ordinary 2023: deductible paid -200.00, limit used 100.00, "
                     "inpatient used 0.00, fund 70.00, eligible 400.00",
                     "c2");
}

// K1's claim record says the fund paid 999.00 while its recorded effect says 70.00: the reversal would take back
// 999.00 and leave K1 at -929.00 in the year's fund.
TEST(Invariant, ReversalNotMirroringItsClaimIsDeadLettered) {
  TempDir d;
  Provoked p = provoke(
      d, [](PersonState& s) { s.claims.at("K1").effect.fund = 99900; }, kReverseK1, "r1");
  expect_dead_letter(p,
                     "invariant INV-REVERSAL-MIRRORS violated: claim K1 settled fund 999.00, deductible 300.00, "
                     "limit used 100.00; with its reversal it nets to fund -929.00, deductible 0.00, limit used 0.00, "
                     "inpatient used 0.00, eligible 0.00",
                     "r1");
  EXPECT_FALSE(p.after.claims.at("K1").reversed);
}

// The rollback is exact and the batch goes on: a bonus of 200 points on 10 February only (back to 0 from the 11th)
// makes K2 a dead letter; K3 on the 11th, in the same batch, settles as if K2 never was: 70% of 400.00 = 280.00,
// K2's id free.
TEST(Invariant, LaterRecordsOfTheBatchFoldAsIfTheViolationNeverWas) {
  TempDir d;
  const std::string k3 = claim_line("c3", "K3", "2023-02-11");
  Provoked p = provoke(
      d,
      [](PersonState& s) {
        s.bonus.push_back({*parse_date("2023-02-10"), Rate{20000}});
        s.bonus.push_back({*parse_date("2023-02-11"), Rate{0}});
      },
      kClaimK2 + "\n" + k3, "c2");
  ASSERT_EQ(p.outs.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(p.outs[0].line())["reason"],
            "invariant INV-FUND-LE-COVERED violated: fund 1080.00 is above covered 400.00");
  const json k3_out = nlohmann::json::parse(p.outs[1].line());
  EXPECT_EQ(k3_out["kind"], "settlement");
  EXPECT_EQ(k3_out["claim"], "K3");
  EXPECT_EQ(k3_out["status"], "settled");
  EXPECT_EQ(k3_out["fund"], "280.00");
  EXPECT_EQ(p.after.claims.count("K2"), 0u);
  EXPECT_EQ(p.after.claims.count("K3"), 1u);
  EXPECT_EQ(p.after.effects.size(), p.before.effects.size() + 1);  // K3's effect only
  EXPECT_FALSE(p.k2.has_value());
  EXPECT_EQ(p.next, 5u);
}

// INV-LOG-FORWARD: a record behind the fold's position is the caller's fault: a StoreError naming the partition and
// both offsets, never a dead letter; nothing of it is applied and the batch stays as it was.
TEST(Invariant, RecordBehindThePositionIsAStoreError) {
  TempDir d;
  const Policy& policy = default_policy();
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, kSetup);
  Store s(d / "state");
  s.record_run(policy, 1);
  FoldStats stats;
  PartitionFolder folder(s, 0, 1, policy);
  std::vector<std::string> payloads;
  std::vector<LogRecord> records;
  log->read(0, 0, [&](const LogRecord& r) {
    folder.apply(r, stats);
    records.push_back(r);
    payloads.emplace_back(r.payload);
    return true;
  });
  ASSERT_EQ(records.size(), kSetupRecords);
  LogRecord again = records[1];
  again.payload = payloads[1];
  EXPECT_EQ(thrown<StoreError>([&] { folder.apply(again, stats); }),
            "partition 0: invariant INV-LOG-FORWARD violated: record at offset 1 is behind the fold's position 3");
  EXPECT_EQ(folder.next_offset(), 3u);
  EXPECT_EQ(folder.pending(), 3u);
  EXPECT_EQ(stats.dead_letters, 0u);
  folder.commit(stats);
  bool dead = false;
  s.dead_letters([&](const std::string&, const std::string&) { dead = true; });
  EXPECT_FALSE(dead);
  ASSERT_TRUE(s.settlement("P", "K1"));
  EXPECT_EQ(s.settlement("P", "K1")->record.settlement->fund, 7000);
}

// INV-LOG-PARTITION: a record of another partition given to a partition's fold (a caller that mixed two reads) is
// refused as INV-LOG-FORWARD's: a StoreError naming both partitions and the offset; nothing of it is applied, the
// position does not move, and it is no dead letter (which would mark an offset of this partition as read).
TEST(Invariant, LogPartitionARecordOfAnotherPartitionIsRefusedAndNothingMoves) {
  TempDir d;
  const Policy& policy = default_policy();
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, kSetup);
  Store s(d / "state");
  s.record_run(policy, 2);
  FoldStats stats;
  PartitionFolder folder(s, 0, 2, policy);
  std::string payload;
  LogRecord stray;  // the log's first record, said to be of partition 1
  log->read(0, 0, [&](const LogRecord& r) {
    stray = r;
    payload = r.payload;
    return false;
  });
  stray.payload = payload;
  stray.partition = 1;
  EXPECT_EQ(thrown<StoreError>([&] { folder.apply(stray, stats); }),
            "partition 0: invariant INV-LOG-PARTITION violated: the record at offset 0 is of partition 1");
  EXPECT_EQ(folder.next_offset(), 0u);
  EXPECT_EQ(folder.pending(), 0u);
  EXPECT_EQ(stats.events, 0u);
  EXPECT_EQ(stats.dead_letters, 0u);
}

// The settlement checks on crafted settlements, for the invariants no crafted state reaches through the rules.
TEST(Invariant, SettlementChecksNameTheInvariantAndTheNumbers) {
  auto what = [](const Settlement& s) -> std::string {
    try {
      check_settlement(s);
    } catch (const InvariantViolation& v) {
      return v.what();
    }
    return "";
  };
  Settlement ok;
  ok.total = 50000, ok.eligible = 40000, ok.self_first = 4000, ok.deductible = 30000, ok.covered = 6000, ok.fund = 4200;
  EXPECT_EQ(what(ok), "");
  Settlement s = ok;
  s.fund = -1;
  EXPECT_EQ(what(s), "invariant INV-SETTLE-NONNEG violated: total 500.00, eligible 400.00, self_first 40.00, "
                     "deductible 300.00, covered 60.00, fund -0.01");
  s = ok;
  s.eligible = 50001;
  EXPECT_EQ(what(s), "invariant INV-ELIGIBLE-LE-TOTAL violated: eligible 500.01 is above total 500.00");
  s = ok;
  s.covered = 6001;
  EXPECT_EQ(what(s), "invariant INV-COVERED-LE-ELIGIBLE violated: self_first 40.00 + deductible 300.00 + covered "
                     "60.01 is above eligible 400.00");
  s = ok;
  s.fund = 6001;
  EXPECT_EQ(what(s), "invariant INV-FUND-LE-COVERED violated: fund 60.01 is above covered 60.00");
  try {
    s.fund = 6001;
    check_settlement(s);
    ADD_FAILURE() << "no violation";
  } catch (const InvariantViolation& v) {
    EXPECT_EQ(v.id, "INV-FUND-LE-COVERED");
    EXPECT_EQ(v.detail, "fund 60.01 is above covered 60.00");
  }
}

// A normal generated population folds with no violation, and every settlement it writes satisfies the settlement
// invariants when checked again from the output records alone (not through the code under test).
TEST(Invariant, GeneratedPopulationFoldsWithoutViolation) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, generated(300));
  Store s(d / "state");
  FoldStats stats = s.fold(*log, default_policy());
  EXPECT_EQ(stats.dead_letters, 0u);
  size_t settled = 0, debits = 0;
  s.outputs([&](const json& r) {
    EXPECT_NE(r["kind"], "dead_letter") << r.dump();
    if (r["kind"] == "account_debit") {
      ++debits;
      EXPECT_GE(record_money(r, "balance"), 0) << r.dump();
    }
    if (r["kind"] != "settlement") return true;
    const Money total = record_money(r, "total"), eligible = record_money(r, "eligible"),
                self_first = record_money(r, "self_first"), ded = record_money(r, "deductible"),
                covered = record_money(r, "covered"), fund = record_money(r, "fund"),
                patient = record_money(r, "patient");
    if (r["status"] == "settled") ++settled;
    EXPECT_TRUE(fund >= 0 && fund <= covered && self_first + ded + covered <= eligible && eligible <= total)
        << r.dump();
    EXPECT_TRUE(patient >= 0 && patient + fund == total) << r.dump();
    return true;
  });
  EXPECT_GT(settled, 100u);
  EXPECT_GT(debits, 0u);
}

}  // namespace
}  // namespace gongji::test
