// projections/: claims identified by person and claim id (EVENTS.md "A claim is identified by its person and its
// claim id"), the person index of output records (r/), ids escaped in keys, and the store's format (issue 9 items 7
// and 8).
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/options.h>
#include <rocksdb/table_properties.h>
#include <rocksdb/write_batch.h>

#include "events/fb_codec.h"
#include "events/partition.h"
#include "ledger/state_codec.h"
#include "replay/audit.h"
#include "replay/explain.h"
#include "replay/reconstruct.h"
#include "oplog/oplog.h"
#include "consumers/exit_codes.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;

const char* kFacility =
    R"({"type":"facility_registered","id":"f1","at":"2022-01-01","facility":"T1","level":1,)"
    R"("kind":"township_health_center","ordinary_outpatient":true})";

std::string enrol(const std::string& id, const std::string& person) {
  return R"({"type":"person_enrolled","id":")" + id + R"(","at":"2022-01-01","person":")" + person +
         R"(","birth_date":"1970-01-01","scheme":"employee","status":"in_service"})";
}

std::string claim(const std::string& id, const std::string& person, const std::string& claim_id,
                  const std::string& amount) {
  return R"({"type":"claim","id":")" + id + R"(","claim":")" + claim_id + R"(","person":")" + person +
         R"(","facility":"T1","date":"2023-02-01","benefit":"ordinary","items":[{"category":"drug","amount":")" +
         amount + R"("}]})";
}

// Two in-service employees, P1 and P2, each with a claim "X" (400.00 and 500.00 of drugs at a level-1 township
// centre in 2023: deductible 300.00 then 70% (POLICY.md ORD-DED, ORD-RATIO): fund 70.00 and 140.00), P1 with a
// contribution (an account_credit) and a second claim "Y".
std::string two_persons_one_claim_id() {
  return std::string(kFacility) + "\n" + enrol("e1", "P1") + "\n" + enrol("e2", "P2") + "\n" +
         claim("c1", "P1", "X", "400.00") + "\n" + claim("c2", "P2", "X", "500.00") + "\n" +
         R"({"type":"contribution_paid","id":"k1","at":"2023-02-05","person":"P1","month":"2023-02",)"
         R"("base":"6000.00"})" +
         "\n" + claim("c3", "P1", "Y", "100.00") + "\n";
}

// The data directory of the command-line tests: the events ingested and folded.
void ingest_and_fold(const TempDir& d, const std::string& events, const std::string& fold_args = "") {
  {
    std::ofstream(d / "events.jsonl") << events;
  }
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " --partitions 4 " + d / "events.jsonl" + " >/dev/null")),
            0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + fold_args + " >/dev/null")), 0);
}

std::vector<json> lines_of(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(json::parse(l));
  return out;
}

TEST(ClaimIndex, KeyPartEscapesSlashAndPercentOnly) {
  EXPECT_EQ(key_part("P-000123"), "P-000123");
  EXPECT_EQ(key_part("a/b%c"), "a%2Fb%25c");
  EXPECT_EQ(key_part("%2F"), "%252F");
  EXPECT_EQ(key_part_decode("a%2Fb%25c"), "a/b%c");
  EXPECT_EQ(key_part_decode("%252F"), "%2F");
}

// The fixed-width numbers of keys: zero-padded lowercase hex, widened (never cut) when a value needs more digits.
TEST(ClaimIndex, KeyNumbersArePaddedLowercaseHex) {
  EXPECT_EQ(hex4(0), "0000");
  EXPECT_EQ(hex4(0x2a), "002a");
  EXPECT_EQ(hex4(0xbeef), "beef");
  EXPECT_EQ(hex4(0x12345), "12345");
  EXPECT_EQ(hex8(0), "00000000");
  EXPECT_EQ(hex8(0xabc), "00000abc");
  EXPECT_EQ(hex8(0x123456789ull), "123456789");
  EXPECT_EQ(hex16(1), "0000000000000001");
  EXPECT_EQ(hex16(0xfedcba9876543210ull), "fedcba9876543210");
}

// EVENTS.md: the same claim id under two persons is two claims; both are settled and both are indexed.
TEST(ClaimIndex, SameClaimIdUnderTwoPersonsIsTwoClaims) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id());
  Store s(d / "state");
  s.fold(*log, default_policy());
  EXPECT_EQ(s.claim_holders("X", 10), (std::vector<std::string>{"P1", "P2"}));
  EXPECT_EQ(s.claim_holders("Y", 10), (std::vector<std::string>{"P1"}));
  EXPECT_EQ(s.claim_holders("Z", 10), (std::vector<std::string>{}));
  auto x1 = s.settlement("P1", "X"), x2 = s.settlement("P2", "X");
  ASSERT_TRUE(x1 && x2);
  EXPECT_EQ(x1->record.settlement->status, ClaimStatus::settled);
  EXPECT_EQ(x1->record.settlement->fund, 7000);
  EXPECT_EQ(x1->record.settlement->event, "c1");
  EXPECT_EQ(x2->record.settlement->status, ClaimStatus::settled);
  EXPECT_EQ(x2->record.settlement->fund, 14000);
  EXPECT_EQ(x2->record.settlement->event, "c2");
  EXPECT_FALSE(s.settlement("P2", "Y"));
  EXPECT_EQ(s.claim_person("Y", ""), "P1");
  EXPECT_EQ(s.claim_person("X", "P2"), "P2");
  try {
    s.claim_person("X", "");
    ADD_FAILURE() << "an ambiguous claim id was not refused";
  } catch (const AmbiguousClaimError& e) {
    EXPECT_EQ(e.claim, "X");
    EXPECT_EQ(e.persons, (std::vector<std::string>{"P1", "P2"}));
    EXPECT_FALSE(e.more);
  }
  EXPECT_THROW(s.claim_person("Z", ""), NotFoundError);
  // Each person's claim X re-derives to its own settlement.
  Rederivation r2 = rederive_claim(s, *log, "P2", "X");
  EXPECT_TRUE(r2.equal) << r2.first_difference;
  EXPECT_EQ(r2.recomputed.settlement->fund, 14000);
  EXPECT_THROW(rederive_claim(s, *log, "X"), AmbiguousClaimError);
  EXPECT_THROW(rederive_claim(s, *log, "P2", "Y"), NotFoundError);
}

// `explain --claim X` is refused (usage, exit 2) naming both persons; with --person it explains that person's claim.
// `settlements --claim X` likewise; `settlements --person P1` prints exactly P1's records, in log order.
TEST(ClaimIndex, CommandLineRefusesAnAmbiguousClaimAndTakesPerson) {
  TempDir d;
  ingest_and_fold(d, two_persons_one_claim_id());
  const std::string data = " --data-dir " + d / "data";
  std::string out;
  EXPECT_EQ(run(gongji("explain" + data + " --claim X 2>&1"), &out), 2);
  EXPECT_EQ(out,
            "gongji explain: --claim X is ambiguous: persons P1, P2 each have a claim X; name one with --person\n");
  EXPECT_EQ(run(gongji("settlements" + data + " --claim X 2>&1"), &out), 2);
  EXPECT_NE(out.find("persons P1, P2 each have a claim X"), std::string::npos) << out;
  EXPECT_EQ(run(gongji("explain" + data + " --claim X --person P2"), &out), 0);
  EXPECT_NE(out.find("claim X of P2 (employee)"), std::string::npos) << out;
  EXPECT_NE(out.find("fund pays 140.00"), std::string::npos) << out;
  EXPECT_EQ(run(gongji("explain" + data + " --claim X --person P2 --json"), &out), 0);
  json j = json::parse(out);
  EXPECT_EQ(j["person"], "P2");
  EXPECT_EQ(j["recorded"]["fund"], "140.00");
  EXPECT_EQ(j["equal"], true);
  EXPECT_EQ(run(gongji("explain" + data + " --claim Y"), &out), 0);  // one person holds Y: no --person needed
  EXPECT_NE(out.find("claim Y of P1"), std::string::npos) << out;
  EXPECT_EQ(run(gongji("explain" + data + " --claim Y --person P2 2>&1"), &out), 4);
  EXPECT_EQ(out, "gongji explain: no settlement for claim Y of person P2\n");

  EXPECT_EQ(run(gongji("settlements" + data + " --person P1"), &out), 0);
  std::vector<json> p1 = lines_of(out);
  ASSERT_EQ(p1.size(), 3u) << out;
  EXPECT_EQ(p1[0]["kind"], "settlement");
  EXPECT_EQ(p1[0]["claim"], "X");
  EXPECT_EQ(p1[0]["fund"], "70.00");
  EXPECT_EQ(p1[1]["kind"], "account_credit");
  EXPECT_EQ(p1[1]["event"], "k1");
  EXPECT_EQ(p1[2]["kind"], "settlement");
  EXPECT_EQ(p1[2]["claim"], "Y");
  for (const json& r : p1) EXPECT_EQ(r["person"], "P1");
  EXPECT_EQ(run(gongji("settlements" + data + " --person P1 --claim X"), &out), 0);
  ASSERT_EQ(lines_of(out).size(), 1u) << out;
  EXPECT_EQ(lines_of(out)[0]["event"], "c1");
  EXPECT_EQ(run(gongji("settlements" + data + " --claim X --person P2"), &out), 0);
  ASSERT_EQ(lines_of(out).size(), 1u) << out;
  EXPECT_EQ(lines_of(out)[0]["fund"], "140.00");
  EXPECT_EQ(run(gongji("settlements" + data + " --person P1 --kind account_credit"), &out), 0);
  ASSERT_EQ(lines_of(out).size(), 1u) << out;
  // A person no record names is not found, as for `person` (it was an empty answer, exit 0, until session 33).
  EXPECT_EQ(run(gongji("settlements" + data + " --person NOBODY 2>&1"), &out), exit_code::kNotFound);
  EXPECT_EQ(out, "gongji settlements: no person NOBODY\n");
}

// `settlements --person` reads the person's indexes, not every output (store format 8): the records of the person's
// own events through the event index (i/), and only the others through r/: here R's account credit of a period close
// (a shared event; ACC-RET from 2024: 3000.00 x 2% under 70 = 60.00). A record removed from either index is not
// listed; a record both list (a store of format 7) is listed once.
TEST(ClaimIndex, PersonRecordsComeFromTheIndexes) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id() +
                         R"({"type":"person_enrolled","id":"e9","at":"2022-01-01","person":"R",)"
                         R"("birth_date":"1954-05-20","scheme":"employee","status":"retired",)"
                         R"("retired_on":"2014-06-01"})" "\n"
                         R"({"type":"period_closed","id":"close1","at":"2024-02-01","month":"2024-01"})" "\n");
  Store s(d / "state");
  s.fold(*log, default_policy());
  const auto keys = [&](const std::string& prefix) {
    std::vector<std::string> out;
    s.scan(prefix, [&](const std::string& k, std::string_view v) {
      out.push_back(k);
      if (k.starts_with("r/")) {
        EXPECT_EQ(v, "") << k;
      }
    });
    return out;
  };
  const auto listed = [&](const std::string& person) {
    std::vector<std::string> out;
    s.person_outputs(person, [&](const json& r) {
      EXPECT_EQ(r["person"], person);
      const std::string kind = r["kind"];
      out.push_back(kind + ":" + (kind == "settlement" ? r["claim"] : r["month"]).get<std::string>());
      return true;
    });
    return out;
  };
  EXPECT_EQ(keys("r/P1/"), std::vector<std::string>{}) << "every record of P1 is of P1's own events";
  EXPECT_EQ(keys("r/P2/"), std::vector<std::string>{});
  const std::vector<std::string> r_index = keys("r/R/");
  ASSERT_EQ(r_index.size(), 1u);
  EXPECT_EQ(listed("P1"), (std::vector<std::string>{"settlement:X", "account_credit:2023-02", "settlement:Y"}));
  EXPECT_EQ(listed("P2"), (std::vector<std::string>{"settlement:X"}));
  EXPECT_EQ(listed("R"), (std::vector<std::string>{"account_credit:2024-01"}));
  EXPECT_EQ(listed("NOBODY"), std::vector<std::string>{});
  // As a format-7 store lists them: every record of P1 under r/ too. Each is listed once.
  std::vector<std::string> p1_events = keys("i/P1/");
  ASSERT_EQ(p1_events.size(), 4u);  // enrolment, c1, k1, c3
  for (const std::string& key : {p1_events[1], p1_events[2], p1_events[3]})
    ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), "r/P1/" + key.substr(5) + "/00000000", "").ok());
  EXPECT_EQ(listed("P1"), (std::vector<std::string>{"settlement:X", "account_credit:2023-02", "settlement:Y"}));
  // Removed from both indexes, the contribution's credit is not listed; R's credit, removed from r/, neither.
  ASSERT_TRUE(s.db()->Delete(rocksdb::WriteOptions(), p1_events[2]).ok());
  ASSERT_TRUE(s.db()->Delete(rocksdb::WriteOptions(), "r/P1/" + p1_events[2].substr(5) + "/00000000").ok());
  ASSERT_TRUE(s.db()->Delete(rocksdb::WriteOptions(), r_index[0]).ok());
  EXPECT_EQ(listed("P1"), (std::vector<std::string>{"settlement:X", "settlement:Y"}));
  EXPECT_EQ(listed("R"), std::vector<std::string>{});
}

// Ids holding '/' (or '%') cannot collide: person "A" and person "A/B", claim "C/D" of A and claim "C" of A/B.
// Unescaped, "c/C/" would hold A's claim C/D and "i/A/" would hold A/B's events.
TEST(ClaimIndex, IdsWithSlashDoNotCollide) {
  TempDir d;
  auto log = open_segment_log(d / "log", 2);
  ingest_lines(*log, std::string(kFacility) + "\n" + enrol("e1", "A") + "\n" + enrol("e2", "A/B") + "\n" +
                         enrol("e3", "A%2FB") + "\n" + claim("c1", "A", "C/D", "400.00") + "\n" +
                         claim("c2", "A/B", "C", "500.00") + "\n" + claim("c3", "A%2FB", "C", "350.00") + "\n");
  Store s(d / "state");
  s.fold(*log, default_policy());
  EXPECT_EQ(s.claim_holders("C", 10), (std::vector<std::string>{"A%2FB", "A/B"}));
  EXPECT_EQ(s.claim_holders("C/D", 10), (std::vector<std::string>{"A"}));
  EXPECT_EQ(s.settlement("A", "C/D")->record.settlement->fund, 7000);
  EXPECT_EQ(s.settlement("A/B", "C")->record.settlement->fund, 14000);
  EXPECT_EQ(s.settlement("A%2FB", "C")->record.settlement->fund, 3500);
  EXPECT_FALSE(s.settlement("A", "C"));
  std::vector<std::string> a;
  s.person_outputs("A", [&](const json& r) {
    a.push_back(r.value("person", "") + ":" + r.value("claim", ""));
    return true;
  });
  EXPECT_EQ(a, (std::vector<std::string>{"A:C/D"}));
  ASSERT_TRUE(s.person("A/B"));
  EXPECT_EQ(s.person("A/B")->id, "A/B");
  EXPECT_EQ(s.person("A%2FB")->id, "A%2FB");
  // A's history alone is rebuilt (i/A/ does not reach into A/B's events), and each claim re-derives.
  Reconstruction ra = reconstruct_person(s, *log, "A", default_policy(), {});
  EXPECT_EQ(ra.offsets.size(), 2u + 1u);  // A's enrolment and claim, and the partition's facility event
  EXPECT_TRUE(rederive_claim(s, *log, "A/B", "C").equal);
  EXPECT_TRUE(rederive_claim(s, *log, "A", "C/D").equal);
  EXPECT_THROW(rederive_claim(s, *log, "C"), AmbiguousClaimError);
}

// Item 8: a store records its format with its first write (the fold's record_run), before anything else.
TEST(StoreFormat, NewStoreRecordsItsFormat) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id());
  Store s(d / "state");
  std::string v;
  EXPECT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/format", &v).IsNotFound());  // empty: nothing to misread
  s.fold(*log, default_policy());
  ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/format", &v).ok());
  EXPECT_EQ(v, "15");
  EXPECT_EQ(kStoreFormat, 15);
}

// A query's secondary opened while its primary opens can see the store's keys without n/format for a moment
// (bench.http_smoke once): it catches up again before reading the store as format 1. Here the primary writes
// n/format 300 ms after the secondary started to open: without the catch-up the open refuses a "format 1" store.
TEST(StoreFormat, ASecondarySeeingNoFormatCatchesUpBeforeCallingItFormat1) {
  TempDir d;
  const std::string dir = d / "data/state";
  fs::create_directories(dir);
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* primary = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, dir, &primary).ok());
  ASSERT_TRUE(primary->Put(rocksdb::WriteOptions(), "n/partitions", "4").ok());
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(primary->Put(rocksdb::WriteOptions(), "n/format", std::to_string(kStoreFormat)).ok());
  });
  try {
    Store s(dir, StoreOptions{true, false, nullptr}, d / "secondary");
    EXPECT_EQ(s.format(), kStoreFormat);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  writer.join();
  delete primary;
}

// A store as the previous binary built it (no n/format, claims under c/<claim>/<partition>/...) is refused.
TEST(StoreFormat, StoreWithoutFormatIsRefusedWithWhatToRun) {
  TempDir d;
  const std::string dir = d / "data/state";
  fs::create_directories(dir);
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "n/partitions", "4").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "c/X/0001/0000000000000003/00000000", "o/0001/...").ok());
    delete db;
  }
  const std::string expected = "the store at " + dir + " has format 1 (no n/format: written by a gongji before "
                               "store formats) but this gongji reads format 15; rebuild it from the log: move " +
                               dir + " aside and run `gongji fold --data-dir " + d / "data" +
                               "` (with the --policy, and --brokers, it was folded with; checkpoints of the old "
                               "format are not used)";
  for (bool read_only : {false, true}) {
    try {
      Store s(dir, read_only);
      ADD_FAILURE() << "a format-1 store was opened";
    } catch (const StoreFormatError& e) {
      EXPECT_EQ(std::string(e.what()), expected);
      EXPECT_FALSE(e.migratable);
    }
  }
  std::string out;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " 2>&1"), &out), 1);
  EXPECT_EQ(out, "gongji settlements: " + expected + "\n");
  // Nothing was written: still no n/format.
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir, &db).ok());
  std::string v;
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), "n/format", &v).IsNotFound());
  delete db;
}

TEST(StoreFormat, NewerFormatIsRefused) {
  TempDir d;
  { Store s(d / "state"); ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), "n/format", "16").ok()); }
  try {
    Store s(d / "state", true);
    ADD_FAILURE() << "a format-16 store was opened";
  } catch (const StoreFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("has format 16 but this gongji reads format 15; use a gongji that reads "
                                         "format 16, or rebuild it from the log"),
              std::string::npos)
        << e.what();
    EXPECT_FALSE(e.migratable);  // so fold refuses it before opening anything for writing
  }
}

// An empty store without a format (created by the previous binary, never folded) holds nothing to misread: it opens,
// and its first fold records the current format.
TEST(StoreFormat, EmptyStoreWithoutFormatIsStamped) {
  TempDir d;
  const std::string dir = d / "state";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir, &db).ok());
    delete db;
  }
  { Store ro(dir, true); }
  Store s(dir);
  s.record_run(default_policy(), 4);
  std::string v;
  ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/format", &v).ok());
  EXPECT_EQ(v, "15");
}

// Issue 10: a format-3 store keeps settlements as JSON lines, and a format-2 store has no w/ index of the monthly
// close either. Each is made here from a fresh store by undoing exactly that. A read-only open refuses it and says to
// fold once; a writable open migrates it in place to exactly the store a fold from zero builds (same digest).
// Whether an operational log line contains `text`.
// The digest of a store migrated by a writable open, once a fold's first step has given it formats 10 and 11 (its l/
// index, built from the log by Store::record_latest_dates, then its t/ index), as a fold from zero writes it.
std::string digest_at_10(Store& s, EventLog& log) {
  s.record_latest_dates(log);
  return s.digest();
}

bool logged(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != l.npos; });
}

// Deletes the t/ month index of `s` in `b`: a store made of an older format (below 11) has none.
void drop_month_index(const Store& s, rocksdb::WriteBatch& b) {
  s.scan("t/", [&](const std::string& k, std::string_view) { b.Delete(k); });
}

// Each partition meta (m/) of `s` put back in `b` as the JSON object stores of format 6 and older kept, written here
// by hand: {"last_closed":M} (M the month's number, year * 12 + month - 1) or {"last_closed":null}. The number of
// metas.
size_t metas_as_json(Store& s, rocksdb::WriteBatch& b) {
  size_t n = 0;
  s.scan("m/", [&](const std::string& k, std::string_view v) {
    const PartitionMeta m = decode_meta(v);
    b.Put(k, m.last_closed ? R"({"last_closed":)" + std::to_string(*m.last_closed) + "}"
                           : std::string(R"({"last_closed":null})"));
    ++n;
  });
  return n;
}

// Format 7 keeps each partition's meta as data (encode_meta): nothing the fold reads back is JSON. A format-6 store,
// its metas as JSON objects, is read as it is by a read-only open and migrated by a writable one, to the store a
// fold from zero builds (same digest). A meta that does not decode is refused naming its key.
TEST(StoreFormat, Format6MetaIsMigratedTo7) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, generated(200));
  std::string digest;
  {
    Store s(d / "data/fresh");
    s.fold(*log, default_policy());
    digest = s.digest();
    std::string v;
    ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "m/0000", &v).ok());
    EXPECT_EQ(v.substr(0, 2), std::string("\x01\x01", 2));  // format 1, a month closed
    EXPECT_TRUE(decode_meta(v).last_closed.has_value());
  }
  const std::string dir = d / "data/state";
  fs::copy(d / "data/fresh", dir);
  size_t metas = 0;
  {
    Store s(dir);
    rocksdb::WriteBatch b;
    metas = metas_as_json(s, b);
    drop_month_index(s, b);
    b.Put("n/format", "6");
    ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
    EXPECT_NE(s.digest(), digest);
  }
  EXPECT_EQ(metas, 4u);
  {  // read as it is; an audit, which compares it byte for byte with a replay of format 15, says to fold first
    Store ro(dir, true);
    EXPECT_EQ(ro.format(), 6);
    try {
      audit(ro, *log, default_policy(), d / "scratch", "");
      ADD_FAILURE() << "a format-6 store was audited";
    } catch (const StoreFormatError& e) {
      EXPECT_NE(std::string(e.what()).find("has format 6 and an audit compares it with a replay of format 15; run "
                                           "`gongji fold` on it once"),
                std::string::npos)
          << e.what();
    }
  }
  std::vector<std::string> said;
  oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
  {
    Store s(dir);
    EXPECT_EQ(digest_at_10(s, *log), digest);
    std::string v;
    ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/format", &v).ok());
    EXPECT_EQ(v, "15");
    s.fold(*log, default_policy());  // nothing new: the migrated metas read back
    EXPECT_EQ(s.digest(), digest);
  }
  oplog::set_sink_for_tests(nullptr);
  EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format 7: 4 partition metas to their binary form"))
      << testing::PrintToString(said);
  // A damaged meta: the fold stops naming the key.
  {
    Store s(dir);
    for (const char* key : {"m/0000", "m/0001", "m/0002", "m/0003"})
      ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key, std::string("\x01\x01", 2)).ok());
  }
  ingest_lines(*log, R"({"type":"person_enrolled","id":"zz1","at":"2023-01-01","person":"ZZ",)"
                     R"("birth_date":"1980-01-01","scheme":"employee","status":"in_service"})" "\n");
  try {
    Store s(dir);
    s.fold(*log, default_policy());
    ADD_FAILURE() << "a damaged meta was folded on";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("damaged partition meta under m/000"), std::string::npos) << e.what();
  }
}

// `s` as a fold of format 7 left it: every output record naming a person listed under r/ (format 8 lists only those
// the person's i/ index does not reach), each c/ value the o/ key, each person in person format 1, n/format 7. The
// number of r/ entries added.
size_t indexes_as_format_7(Store& s) {
  rocksdb::WriteBatch b;
  size_t added = 0;
  for (auto [partition, next] : s.positions()) {
    uint64_t last = UINT64_MAX;
    int n = 0;
    s.outbox(partition, 0, next, [&](uint64_t offset, const Output& out) {
      n = offset == last ? n + 1 : 0;
      last = offset;
      if (out.person.empty()) return;
      const std::string key = "r/" + key_part(out.person) + "/" + hex4(partition) + "/" + hex16(offset) + "/" + hex8(n);
      std::string v;
      if (s.db()->Get(rocksdb::ReadOptions(), key, &v).IsNotFound()) ++added;
      b.Put(key, "");
    });
  }
  s.scan("c/", [&](const std::string& k, std::string_view) { b.Put(k, "o/" + k.substr(k.size() - 30)); });
  s.scan("p/", [&](const std::string& k, std::string_view v) { b.Put(k, encode_person(decode_person(v), 1)); });
  drop_month_index(s, b);
  b.Put("n/format", "7");
  EXPECT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
  return added;
}

// Every person's records as `settlements --person` lists them, one line each, person by person.
std::string every_persons_records(const Store& s) {
  std::string out;
  s.scan("p/", [&](const std::string& k, std::string_view) {
    s.person_outputs(key_part_decode(k.substr(k.find('/', 2) + 1)), [&](const json& r) {
      out += r.dump() + "\n";
      return true;
    });
  });
  return out;
}

// The claims of the c/ index whose settlement Store::settlement finds under the key's own o/ key (the claim's own
// settlement: its first c/ key; later ones are DUPLICATE_CLAIM rejections).
size_t settlements_found(const Store& s) {
  size_t found = 0;
  s.scan("c/", [&](const std::string& k, std::string_view) {  // c/<claim>/<person>/<tail>: no '/' in these ids
    const size_t claim_end = k.find('/', 2), person_end = k.find('/', claim_end + 1);
    auto ref = s.settlement(k.substr(claim_end + 1, person_end - claim_end - 1), k.substr(2, claim_end - 2));
    ASSERT_TRUE(ref) << k;
    if (ref->key == "o/" + k.substr(k.size() - 30)) ++found;
  });
  return found;
}

// Format 8 lists under r/ only the records the person's event index (i/) does not reach, keeps no value under c/,
// and persons in person format 2 (3 since store format 9, 4 since 12: the migration puts them in 4). A format-7
// store is read as it is (each record listed once) and migrated by a writable open to the store a fold from zero
// builds (same digest), also when a migration stopped halfway (n/migrating) is taken up again.
TEST(StoreFormat, Format7IndexesAreMigratedTo8) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  // A month closed after the population's window (2024-01): the retirees' credits (ACC-RET) of a shared event.
  ingest_lines(*log, generated(300) + R"({"type":"period_closed","id":"close-2024-01","at":"2024-02-01",)"
                                      R"("month":"2024-01"})" "\n");
  std::string digest, listed;
  size_t format_8_entries = 0, claims = 0, persons = 0;
  {
    Store s(d / "data/fresh");
    s.fold(*log, default_policy());
    digest = s.digest();
    listed = every_persons_records(s);
    s.scan("r/", [&](const std::string&, std::string_view) { ++format_8_entries; });
    s.scan("c/", [&](const std::string& k, std::string_view v) {
      EXPECT_EQ(v, "") << k;
      ++claims;
    });
    s.scan("p/", [&](const std::string& k, std::string_view v) {
      EXPECT_EQ(static_cast<int>(v[0]), kPersonFormat) << k;
      ++persons;
    });
  }
  EXPECT_GT(format_8_entries, 0u) << "no record outside the persons' own events (period closes' credits)";
  EXPECT_GT(claims, 300u);
  EXPECT_GT(std::count(listed.begin(), listed.end(), '\n'), 3000);
  const std::string dir = d / "data/state";
  for (bool halfway : {false, true}) {
    SCOPED_TRACE(halfway ? "halfway" : "format 7");
    fs::remove_all(dir);
    fs::copy(d / "data/fresh", dir);
    size_t added = 0;
    {
      Store s(dir);
      added = indexes_as_format_7(s);
      if (halfway) {
        rocksdb::WriteBatch b;
        b.Put("n/format", "8");
        b.Put("n/migrating", "format 7 to 8");
        ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
      }
      EXPECT_NE(s.digest(), digest);
    }
    EXPECT_GT(added, 3000u);
    {  // read as it is: each record once, in log order
      Store ro(dir, true);
      EXPECT_EQ(ro.format(), 7) << "a store halfway to format 8 is read as format 7 (an audit says to fold first)";
      EXPECT_EQ(every_persons_records(ro), listed);
      EXPECT_GT(settlements_found(ro), 300u);
    }
    std::vector<std::string> said;
    oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
    {
      Store s(dir);
      EXPECT_EQ(digest_at_10(s, *log), digest);
      EXPECT_EQ(every_persons_records(s), listed);
      std::string v;
      EXPECT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/migrating", &v).IsNotFound());
      ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/format", &v).ok());
      EXPECT_EQ(v, "15");
    }
    oplog::set_sink_for_tests(nullptr);
    EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format 8: " + std::to_string(added) +
                                 " person index entries the event index reaches dropped, " + std::to_string(claims) +
                                 " claim index values emptied, " + std::to_string(persons) + " persons re-encoded"))
        << testing::PrintToString(said);
    EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format 9: 0 persons re-encoded"))
        << testing::PrintToString(said);  // 8's step put them in person format 4
  }
}

// A store migrated to format `to` by re-encoding its persons (Store::migrate_persons): a fresh store of 300 generated
// people made format `to` - 1 again, its persons put back in person format 2, 3, 4 or 5 (that of format `to` - 1), and
// made halfway (every other person still in the old format, n/format `to` and n/migrating). Either is read as it is,
// each person read back equal (format 13: the retirements among the standings of formats up to 4 are known by their
// shape, state_codec.h); a writable open migrates either to the store a fold from zero builds (same digest).
void expect_persons_migrated(int to) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, generated(300));
  const uint8_t old_person_format = to == 9 ? 2 : to == 12 ? 3 : to == 13 ? 4 : 5;
  std::string digest;
  std::map<std::string, PersonState> fresh;
  size_t admitted = 0, retirements = 0;
  {
    Store s(d / "data/fresh");
    s.fold(*log, default_policy());
    digest = s.digest();
    s.scan("p/", [&](const std::string& k, std::string_view v) {
      EXPECT_EQ(static_cast<int>(v[0]), kPersonFormat) << k;
      fresh[k] = decode_person(v);
      admitted += !fresh[k].admissions.empty();
      for (const auto& x : fresh[k].standing) retirements += x.value.retirement;
    });
  }
  ASSERT_GT(fresh.size(), 250u);
  ASSERT_GT(retirements, 0u) << "the population's retirements, which person format 5 marks";
  ASSERT_GT(admitted, 3u) << "the population's hospital stays (ORD-INPT), which person format 4 keeps as dates";
  const std::string dir = d / "data/state";
  for (bool halfway : {false, true}) {
    SCOPED_TRACE(halfway ? "halfway" : "format " + std::to_string(to - 1));
    fs::remove_all(dir);
    fs::copy(d / "data/fresh", dir);
    {
      Store s(dir);
      rocksdb::WriteBatch b;
      size_t n = 0;  // halfway: every other person still in the old format
      s.scan("p/", [&](const std::string& k, std::string_view v) {
        if (!halfway || n++ % 2 == 0) b.Put(k, encode_person(decode_person(v), old_person_format));
      });
      if (to == 9) drop_month_index(s, b);
      b.Put("n/format", std::to_string(halfway ? to : to - 1));
      if (halfway) b.Put("n/migrating", "format " + std::to_string(to - 1) + " to " + std::to_string(to));
      ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
      EXPECT_NE(s.digest(), digest);
    }
    {
      Store ro(dir, true);  // halfway reads as the format before, which an audit refuses (fold first)
      EXPECT_EQ(ro.format(), to - 1);
      for (const auto& [k, p] : fresh) EXPECT_TRUE(ro.person(p.id) == p) << k;
    }
    std::vector<std::string> said;
    oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
    {
      Store s(dir);
      EXPECT_EQ(s.format(), to == 9 ? 9 : kStoreFormat);  // 9 waits for a fold's step to 10; 12 goes on
      EXPECT_EQ(to == 9 ? digest_at_10(s, *log) : s.digest(), digest);
      std::string v;
      EXPECT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/migrating", &v).IsNotFound());
    }
    oplog::set_sink_for_tests(nullptr);
    const size_t migrated = halfway ? (fresh.size() + 1) / 2 : fresh.size();
    EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format " + std::to_string(to) + ": " +
                                 std::to_string(migrated) + " persons re-encoded"))
        << testing::PrintToString(said);
  }
}

// Format 9 keeps persons in person format 3 (codes by index, dates as differences).
TEST(StoreFormat, Format8PersonsAreMigratedTo9) { expect_persons_migrated(9); }

// Format 12 keeps persons in person format 4: the dates of inpatient admissions and discharges (ORD-INPT), where
// format 3 held stays paired as logged.
TEST(StoreFormat, Format11PersonsAreMigratedTo12) { expect_persons_migrated(12); }

// Format 13 keeps persons in person format 5: each standing entry says whether a retirement made it (P-CHANGE).
TEST(StoreFormat, Format12PersonsAreMigratedTo13) { expect_persons_migrated(13); }

// Format 14 keeps persons in person format 6: an effect's scheme period with the place of the standing entry that
// began it among its day's (ORD-TYPE). Format 5's periods are read as the period in force on their day
// (StoreFormat.Format13PeriodsAreThoseInForceOnTheirDay has the days where that is not the day's first entry's).
TEST(StoreFormat, Format13PersonsAreMigratedTo14) { expect_persons_migrated(14); }

// Format 15 keeps facilities in facility format 2: each version with the fields its event set (TIME-DATED; state.h
// FacilityVersion::set). A fresh store of 300 generated people (their facility updates set one field each) made
// format 14 again, its facilities put back in facility format 1, all or every other one (halfway: n/format 15 and
// n/migrating): read as it is, each facility is read back equal (format 1's fields read as those that differ from
// the version before); a writable open migrates it to the store a fold from zero builds (same digest).
TEST(StoreFormat, Format14FacilitiesAreMigratedTo15) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, generated(300));
  std::string digest;
  std::map<std::string, std::string> fresh;  // f/ key: value
  size_t updates = 0;
  {
    Store s(d / "data/fresh");
    s.fold(*log, default_policy());
    digest = s.digest();
    s.scan("f/", [&](const std::string& k, std::string_view v) {
      EXPECT_EQ(static_cast<int>(v[0]), kFacilityFormat) << k;
      fresh[k] = std::string(v);
      for (const FacilityVersion& x : decode_facility(v).versions) updates += x.set != kFacilityAllFields;
    });
  }
  ASSERT_GT(updates, 0u) << "the population's facility updates, which facility format 2 marks";
  const std::string dir = d / "data/state";
  for (bool halfway : {false, true}) {
    SCOPED_TRACE(halfway ? "halfway" : "format 14");
    fs::remove_all(dir);
    fs::copy(d / "data/fresh", dir);
    const size_t old = halfway ? (fresh.size() + 1) / 2 : fresh.size();  // in facility format 1
    {
      Store s(dir);
      rocksdb::WriteBatch b;
      size_t n = 0;
      for (const auto& [k, v] : fresh)
        if (!halfway || n++ % 2 == 0) b.Put(k, encode_facility(decode_facility(v), 1));
      b.Put("n/format", halfway ? "15" : "14");
      if (halfway) b.Put("n/migrating", "format 14 to 15");
      ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
      EXPECT_NE(s.digest(), digest);
    }
    {
      Store ro(dir, true);  // halfway reads as the format before
      EXPECT_EQ(ro.format(), 14);
      size_t read = 0;
      ro.scan("f/", [&](const std::string& k, std::string_view v) {
        EXPECT_TRUE(decode_facility(v) == decode_facility(fresh.at(k))) << k;
        ++read;
      });
      EXPECT_EQ(read, fresh.size());
    }
    std::vector<std::string> said;
    oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
    {
      Store s(dir);
      EXPECT_EQ(s.format(), kStoreFormat);
      EXPECT_EQ(s.digest(), digest);
      std::string v;
      EXPECT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/migrating", &v).IsNotFound());
    }
    oplog::set_sink_for_tests(nullptr);
    EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format 15: " + std::to_string(old) +
                                 " facilities re-encoded"))
        << testing::PrintToString(said);
  }
}

// The events of StoreFormat.Format13PeriodsAreThoseInForceOnTheirDay, before the store is made format 13 again and
// after: each person's claim x is in a period begun by its day's second standing entry, and claim y, after, in the
// same period. R was enrolled an employee and changed to resident on one day; F changed status, then scheme, on one
// day; E changed scheme there and back on one day; Q retired and changed to resident on one day, and then a change to
// resident dated before it (logged after x) made the day's entries continue the resident scheme, until a change back
// to the employee scheme dated between them (logged after the store is made format 13) makes the second begin x's
// period again (the second review's case).
std::pair<std::string, std::string> periods_begun_by_a_days_second_entry() {
  int n = 0;
  const auto event = [&](const std::string& type, const std::string& person, const std::string& fields) {
    return R"({"type":")" + type + R"(","id":"e)" + std::to_string(++n) + R"(","person":")" + person + R"(",)" +
           fields + "}\n";
  };
  const auto claim_on = [&](const std::string& person, const std::string& id, const std::string& date) {
    return event("claim", person, R"("claim":")" + id + R"(","facility":"T1","date":")" + date +
                                      R"(","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}])");
  };
  const auto enrolled = [&](const std::string& person, const std::string& at) {
    return event("person_enrolled", person, R"("at":")" + at + R"(","birth_date":"1960-01-01","scheme":"employee",)"
                                            R"("status":"in_service")") +
           event("outpatient_designated", person, R"("at":"2023-01-01","facility":"T1")");
  };
  const auto changed = [&](const std::string& person, const std::string& at, const std::string& to) {
    return event("scheme_changed", person, R"("at":")" + at + R"(",)" + to);
  };
  const std::string resident = R"("scheme":"resident","tier":2)";
  const std::string employee = R"("scheme":"employee","status":"in_service")";
  const std::string before =
      std::string(kFacility) + "\n" + enrolled("R", "2023-01-01") + changed("R", "2023-01-01", resident) +
      claim_on("R", "x", "2023-02-01") + enrolled("F", "2022-01-01") +
      changed("F", "2023-03-01", R"("scheme":"employee","status":"flexible")") + changed("F", "2023-03-01", resident) +
      claim_on("F", "x", "2023-03-05") + enrolled("E", "2022-01-01") + changed("E", "2023-05-01", resident) +
      changed("E", "2023-05-01", employee) + claim_on("E", "x", "2023-05-01") + enrolled("Q", "2022-01-01") +
      event("retirement_confirmed", "Q", R"("at":"2023-05-01")") + changed("Q", "2023-05-01", resident) +
      claim_on("Q", "x", "2023-05-10") + changed("Q", "2023-03-01", resident);
  const std::string after = claim_on("R", "y", "2023-03-01") + claim_on("F", "y", "2023-04-01") +
                            claim_on("E", "y", "2023-06-01") + changed("Q", "2023-04-01", employee) +
                            claim_on("Q", "y", "2023-05-20");
  return {before, after};
}

// ORD-TYPE: format 13's persons keep a scheme period as its first day alone, and the fold summed every effect of that
// day's key as the period in force on the day; read and migrated, such an effect is that period's, or where none
// begins on the day now, the one its first entry no retirement made would begin (state_codec.cc period_of_day). The
// store folded on after its migration holds what a fold from zero holds. Read as their day's first entry's, the
// claims after charged the deductible a second time (the first review's case: R's second claim paid 50.00 where
// 100.00 was due); read as a period none begins, Q's did (the second review's).
TEST(StoreFormat, Format13PeriodsAreThoseInForceOnTheirDay) {
  TempDir d;
  const auto [before, after] = periods_begun_by_a_days_second_entry();
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, before);
  const std::string dir = d / "data/state";
  std::map<std::string, PersonState> folded;
  {
    Store s(dir);
    s.fold(*log, default_policy());
    rocksdb::WriteBatch b;
    s.scan("p/", [&](const std::string& k, std::string_view v) {
      const PersonState p = decode_person(v);
      folded[p.id] = p;
      b.Put(k, encode_person(p, 5));
    });
    b.Put("n/format", "13");
    ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
  }
  ASSERT_EQ(folded.size(), 4u);
  for (const auto& [id, p] : folded) {
    EXPECT_EQ(p.claims.at("x").effect.period.entry, 1) << id << ": begun by its day's second entry";
    EXPECT_TRUE(Store(dir, true).person(id) == p) << id << ": read as it is, format 13";
  }
  ingest_lines(*log, after);
  Store fresh(d / "data/fresh");
  fresh.fold(*log, default_policy());
  Store s(dir);
  EXPECT_EQ(s.format(), kStoreFormat);
  s.fold(*log, default_policy());
  EXPECT_EQ(s.digest(), fresh.digest());
  for (const char* id : {"R", "F", "E", "Q"}) {
    const PersonState p = *s.person(id);
    EXPECT_TRUE(p == *fresh.person(id)) << id;
    EXPECT_EQ(p.claims.at("y").effect.deductible, 0) << id << ": the deductible was met in the period";
  }
}

// Each partition's latest date in JSON Lines events (global ones in every partition), read from the lines themselves.
std::map<int, Date> latest_dates_of(const std::string& events, int partitions) {
  std::map<int, Date> latest;
  std::istringstream in(events);
  for (std::string line; std::getline(in, line);) {
    const Event e = parse_event(line);
    for (int p : partitions_for(e, partitions)) latest[p] = std::max(latest[p], e.at());
  }
  return latest;
}

// A store of this format made one of format 9, as an earlier gongji left it: no l/, u/ or t/ key.
void back_to_format_9(Store& s) {
  rocksdb::WriteBatch b;
  for (const char* prefix : {"l/", "u/", "t/"})
    s.scan(prefix, [&](const std::string& k, std::string_view) { b.Delete(k); });
  b.Put("n/format", "9");
  ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
}

std::map<std::string, std::string> values_under(const Store& s, const std::string& prefix) {
  std::map<std::string, std::string> values;
  s.scan(prefix, [&](const std::string& k, std::string_view v) { values[k] = std::string(v); });
  return values;
}

// Format 10 adds the l/ and u/ keys of each partition's latest date (TIME-ASOF's default --as-of), which only the log
// can give. A format-9 store (l/ and u/ taken out, n/format 9) is read as it is, but a read-only open has no default
// date and says what to run; a writable open leaves it at 9 and refuses to fold on before the keys are built (else
// they would hold the new events only); a fold builds them from the log up to the store's position, skipping the dead
// letters, to exactly what a fold from zero holds (same digest, and the same u/ values, which the digest leaves
// out), then folds on. The log has a dead letter dated after everything else (an event id folded with other content,
// ID_CONFLICT, 2027-06-30), one that is no event at all, and a duplicate (its ingestion time counts in u/ as the fold
// counts it); another conflict dated 2027-07-02 is appended past the store's position: a migration reading events as
// they come, or past its position (where that dead letter is not yet one), would count a 2027 date. The event applied
// after the migration, dated 2027-07-01, passes the policy's window: the fold warns.
TEST(StoreFormat, Format9IsGivenItsLatestDatesFromTheLogByAFold) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  const std::string events = generated(200);
  ingest_lines(*log, events);
  std::map<int, Date> expected = latest_dates_of(events, 4);
  Event conflict = parse_event(R"({"type":"person_enrolled","id":"e-conflict","at":"2023-01-01","person":"X1",)"
                               R"("birth_date":"1970-01-01","scheme":"employee","status":"in_service"})");
  const int px = partition_of("X1", 4);
  for (int copy = 0; copy < 2; ++copy) log->append_raw(px, encode_event(conflict));  // the second a duplicate
  conflict.header().at = *parse_date("2027-06-30");
  log->append_raw(px, encode_event(conflict));
  log->append_raw((px + 1) % 4, "no event at all");
  const std::string dir = d / "data/state";
  {
    Store s(dir);
    EXPECT_EQ(s.fold(*log, default_policy()).dead_letters, 2u);
    ASSERT_NO_FATAL_FAILURE(back_to_format_9(s));
  }
  conflict.header().id = "e-conflict-2";  // its first copy folded after the migration; the second one a dead letter
  conflict.header().at = *parse_date("2027-07-01");
  log->append_raw(px, encode_event(conflict));
  conflict.header().at = *parse_date("2027-07-02");
  log->append_raw(px, encode_event(conflict));
  {
    Store ro(dir, true);
    EXPECT_EQ(ro.format(), 9);
    EXPECT_EQ(thrown<StoreFormatError>([&] { ro.latest_date(0); }),
              "the store at " + dir + " has format 9, written by an earlier gongji, which did not record the latest "
              "date of each partition of the log (the default of --as-of): give --as-of, or run `gongji fold "
              "--data-dir " + (d / "data") + "` (with the --brokers it was folded with), or start `serve` again, "
              "once: it records it");
    EXPECT_EQ(ro.positions().size(), 4u);  // the rest reads as it is
  }
  {
    Store s(dir);
    EXPECT_EQ(s.format(), 9);
    EXPECT_EQ(thrown<StoreError>([&] { PartitionFolder(s, 0, 4, default_policy()); }),
              "the store at " + dir + " has format 9: its latest dates (l/) must be recorded from the log before it "
              "is folded on (Store::record_latest_dates)");
  }
  std::vector<std::string> said;
  oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
  std::string digest;
  std::map<std::string, std::string> ordering;  // u/ keys and values
  {
    Store s(dir);
    s.fold(*log, default_policy());
    EXPECT_EQ(s.format(), 15);
    digest = s.digest();
    expected[px] = *parse_date("2027-07-01");  // e-conflict-2's first copy, applied
    for (auto [p, date] : expected) EXPECT_EQ(s.latest_date(p), date) << p;
    ordering = values_under(s, "u/");
  }
  oplog::set_sink_for_tests(nullptr);
  const auto to = [&](int format) { return "migrated the store at " + dir + " to format " + std::to_string(format); };
  const std::string at_px = "partition " + std::to_string(px) + ": the event at offset ";
  for (const std::string& text : {to(10) + ": the latest date of 4 partitions recorded from the log", to(11) + ": ",
                                  to(12) + ": ", to(13) + ": ", to(14) + ": ", to(15) + ": ", at_px})
    EXPECT_TRUE(logged(said, text)) << testing::PrintToString(said);
  EXPECT_TRUE(logged(said, " is dated 2027-07-01, after the policy's window (to 2027-06-30): it is now the latest "
                           "date of the partition, the default --as-of of everyone in it"))
      << testing::PrintToString(said);
  Store fresh(d / "data/fresh");
  fresh.fold(*log, default_policy());
  EXPECT_EQ(digest, fresh.digest());
  EXPECT_EQ(ordering.size(), 4u);
  EXPECT_TRUE(ordering == values_under(fresh, "u/"));
}

// A person that does not decode stops the migration to format 9, naming its key; the store stays halfway
// (n/migrating), so the next writable open tries again rather than calling the store format 9.
TEST(StoreFormat, ADamagedPersonStopsTheMigrationTo9NamingItsKey) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, generated(20));
  const std::string dir = d / "data/state";
  std::string damaged;
  {
    Store s(dir);
    s.fold(*log, default_policy());
    rocksdb::WriteBatch b;
    s.scan("p/", [&](const std::string& k, std::string_view v) {
      if (damaged.empty()) damaged = k, b.Put(k, std::string(1, '\x02') + "\xff");  // format 2, then nothing readable
      else b.Put(k, encode_person(decode_person(v), 2));
    });
    b.Put("n/format", "8");
    ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
  }
  ASSERT_FALSE(damaged.empty());
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      Store s(dir);
      ADD_FAILURE() << "a store with a damaged person was migrated";
    } catch (const StoreError& e) {
      EXPECT_EQ(std::string(e.what()).find("cannot migrate " + dir + " to format 9: the person under " + damaged +
                                           " does not decode (stored state is unreadable at person)"),
                0u)
          << e.what();
    }
  }
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir, &db).ok());
  std::string v;
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), "n/migrating", &v).ok());
  EXPECT_EQ(v, "format 8 to 9");
  delete db;
}

// The command a migratable store's message names, run on a copy of d/data: it migrates the store (fold's read-only
// check of its policy lets a store of format 2 or 3 through), which ends as a fresh fold's (`digest`).
void expect_a_fold_by_the_cli_to_migrate_a_copy(const TempDir& d, const std::string& digest) {
  fs::copy(d / "data", d / "cli", fs::copy_options::recursive);
  std::string out;
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "cli" + " 2>&1"), &out), 0) << out;
  EXPECT_EQ(Store(d / "cli/state", true).digest(), digest);
}

TEST(StoreFormat, Formats2And3AreMigratedByAWritableOpen) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, generated(300));
  const std::string digest = [&] {
    Store s(d / "data/fresh");
    s.fold(*log, default_policy());
    return s.digest();
  }();
  // 2, 3, and 4 with n/migrating: a 3 -> 4 migration a crash stopped halfway (every other settlement converted).
  for (int format : {2, 3, 4}) {
    const std::string dir = d / "data/state";
    fs::remove_all(dir);
    fs::copy(d / "data/fresh", dir);
    size_t indexed = 0, settlements = 0;
    {
      Store s(dir);
      rocksdb::WriteBatch b;
      if (format == 2) s.scan("w/", [&](const std::string& k, std::string_view) { b.Delete(k), ++indexed; });
      s.scan("o/", [&](const std::string& k, std::string_view v) {
        if (v.starts_with('{') || (format == 4 && settlements++ % 2)) return;
        b.Put(k, output_line(v, k));
        ++settlements;
      });
      metas_as_json(s, b);
      drop_month_index(s, b);
      b.Put("n/format", std::to_string(format));
      if (format == 4) b.Put("n/migrating", "format 3 to 4");
      ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
      EXPECT_NE(s.digest(), digest);
    }
    ASSERT_GT(settlements, 1000u);
    if (format == 4) {  // read-only opens read the mixed store as it is; the writable one finishes the migration
      std::string lines;
      Store(dir, true).outputs([&](const nlohmann::json& r) { return lines += r.dump(), true; });
      std::string fresh;
      Store(d / "data/fresh", true).outputs([&](const nlohmann::json& r) { return fresh += r.dump(), true; });
      EXPECT_TRUE(lines == fresh);
      Store s(dir);
      EXPECT_EQ(digest_at_10(s, *log), digest);
      continue;
    }
    ASSERT_TRUE(format != 2 || indexed > 5u) << "too few retirees to test the index";
    try {
      Store s(dir, true);
      ADD_FAILURE() << "a format-" << format << " store was opened read-only";
    } catch (const StoreFormatError& e) {
      EXPECT_EQ(std::string(e.what()),
                "the store at " + dir + " has format " + std::to_string(format) + " but this gongji reads format 15; "
                "run `gongji fold --data-dir " + d / "data" + "` (with the --brokers it was folded with; it folds on "
                "under the store's own policy) once: it migrates the store in place, then this command works");
      EXPECT_TRUE(e.migratable);
    }
    if (format == 3) expect_a_fold_by_the_cli_to_migrate_a_copy(d, digest);
    // Each step says what it did on the operational log (the counts are this test's own).
    std::vector<std::string> said;
    oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
    {
      Store s(dir);
      EXPECT_EQ(digest_at_10(s, *log), digest) << "format " << format;
    }
    oplog::set_sink_for_tests(nullptr);
    EXPECT_EQ(logged(said, "migrated the store at " + dir + " to format 3: " + std::to_string(indexed) +
                     " persons indexed for the monthly close"),
              format == 2);
    EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format 6: " + std::to_string(settlements) +
                       " output records converted"))
        << testing::PrintToString(said);
  }
}

// Settlement format 1, what a format-4 store holds, written here by hand from its layout (ledger/state_codec.h):
// varints, zigzag integers, length-prefixed text; codes by their spelling; each step as its rule ID and text, each
// accumulator as its key and money text.
std::string settlement_format_1(const Settlement& s) {
  std::string o(1, '\x01');
  auto u = [&](uint64_t v) {
    for (; v >= 0x80; v >>= 7) o.push_back(static_cast<char>(v | 0x80));
    o.push_back(static_cast<char>(v));
  };
  auto i = [&](int64_t v) { u((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); };
  auto str = [&](std::string_view v) { u(v.size()), o += v; };
  str(s.claim), str(s.person), str(s.event), str(s.facility), str(s.policy_version);
  str(spelling(s.benefit)), str(spelling(s.status)), str(s.scheme ? spelling(*s.scheme) : "");
  i(s.date), i(s.level), i(s.ratio), u(s.reasons.size());
  for (Reason r : s.reasons) str(spelling(r));
  for (Money m : {s.total, s.eligible, s.self_first, s.deductible, s.covered, s.fund}) i(m);
  u(s.trace.size());
  for (const TraceStep& t : s.trace) str(rule_id(t.rule)), str(t.detail());
  u(s.after.size());
  for (const AccumulatorAfter& a : s.after) {
    str(key_of(a.key)), o.push_back(a.value ? 1 : 0);
    if (a.value) str(format_money(*a.value));
  }
  return o;
}

// Two poison records: dead letters are output records too (undecodable bytes; an event naming a person whose id is
// not UTF-8, refused by its decoding).
void append_two_poison_records(EventLog& log) {
  log.append_raw(1, "not an event");
  auto bad = parse_as<ClaimReversed>(
      R"({"type":"claim_reversed","id":"rv-bad","at":"2023-05-01","person":"P","claim":"K"})");
  bad.person = std::string("P\xC3", 2);
  log.append_raw(2, encode_event(bad));
}

// The store of the tests of Store::event_outputs below: P1, P2 and R (a retiree), claims c1, c2, c3 (claim Y), k10
// (event k10 beside contribution k1) and c5 (claim id k1), period close close1, and claim "big" (claim id
// lost-claim), which decodes and fails to apply: a dead letter naming its event, with no e/ entry.
void fold_events_to_find(const TempDir& d, Store& s) {
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id() + claim("k10", "P1", "Z", "50.00") + "\n" +
                         claim("c5", "P2", "k1", "60.00") + "\n" +
                         R"({"type":"person_enrolled","id":"e9","at":"2022-01-01","person":"R",)"
                         R"("birth_date":"1954-05-20","scheme":"employee","status":"retired",)"
                         R"("retired_on":"2014-06-01"})" "\n"
                         R"({"type":"period_closed","id":"close1","at":"2024-02-01","month":"2024-01"})" "\n" +
                         claim("big", "P2", "lost-claim", "1.00") + "\n");
  FoldOptions poison_big;
  poison_big.apply_hook = [](const Event& e) {
    if (e.id() == "big") throw std::out_of_range("injected");
  };
  s.fold(*log, default_policy(), poison_big);
}

// Store::event_outputs(event) as "kind:person:claim" (settlements) or "kind:person:month" (others), checking each
// record's event.
std::vector<std::string> records_of_event(const Store& s, const std::string& event) {
  std::vector<std::string> out;
  s.event_outputs(event, [&](const json& r) {
    EXPECT_EQ(r.value("event", ""), event);
    out.push_back(r.value("kind", "") + ":" + r.value("person", "") + ":" +
                  r.value(r.value("kind", "") == "settlement" ? "claim" : "month", ""));
    return true;
  });
  return out;
}

// The first o/ record whose line holds `text`, put again by hand beside it (under n = 1) with `text` replaced by
// `escaped` (the same JSON string, escaped otherwise).
void put_escaped_beside(Store& s, const std::string& text, const std::string& escaped) {
  std::string key, line;
  s.scan("o/", [&](const std::string& k, std::string_view v) {
    if (key.empty() && output_line(v, k).find(text) != std::string::npos) key = k, line = output_line(v, k);
  });
  ASSERT_FALSE(key.empty()) << text;
  line.replace(line.find(text), text.size(), escaped);
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key.substr(0, key.size() - 8) + "00000001", line).ok());
}

// `explain --event` without a person (Store::event_outputs): an event's records are found in the partitions whose e/
// index holds its id, every partition for a dead letter's, and a record holding the id only inside another id (event
// k10 beside k1) or as a claim id is not one of its records; a hand-put JSON line escaping the id is.
TEST(ClaimIndex, AnEventsRecordsAreFoundWithoutItsPerson) {
  TempDir d;
  Store s(d / "state");
  fold_events_to_find(d, s);
  EXPECT_EQ(records_of_event(s, "c1"), std::vector<std::string>{"settlement:P1:X"});
  EXPECT_EQ(records_of_event(s, "c5"), std::vector<std::string>{"settlement:P2:k1"});
  EXPECT_EQ(records_of_event(s, "k1"), std::vector<std::string>{"account_credit:P1:2023-02"}) << "not k10's, c5's";
  EXPECT_EQ(records_of_event(s, "k10"), std::vector<std::string>{"settlement:P1:Z"});
  EXPECT_EQ(records_of_event(s, "close1"), std::vector<std::string>{"account_credit:R:2024-01"});
  EXPECT_EQ(records_of_event(s, "nosuch"), std::vector<std::string>{});
  // The dead letter of claim big: no e/ entry, found through the dead letters.
  bool indexed = false;
  s.scan("e/", [&](const std::string& k, std::string_view) { indexed = indexed || k.ends_with("/big"); });
  EXPECT_FALSE(indexed);
  EXPECT_EQ(records_of_event(s, "big"), std::vector<std::string>{"dead_letter:P2:"});
  // A line put by hand beside P1's credit, its event id escaped ("k\u0031" is "k1"), is read for what it says.
  put_escaped_beside(s, R"("event":"k1")", R"("event":"k\u0031")");
  EXPECT_EQ(records_of_event(s, "k1"),
            (std::vector<std::string>{"account_credit:P1:2023-02", "account_credit:P1:2023-02"}));
  // An id that neither the e/ index nor a dead letter holds has no records: none is read, so a line put by hand
  // naming such an id (its bytes holding it verbatim) is not one (read, it would be found).
  put_escaped_beside(s, R"("event":"k1")", R"("event":"ghost")");
  EXPECT_EQ(records_of_event(s, "ghost"), std::vector<std::string>{});
}

// A shared event that is a dead letter in one partition (its apply failed there: no e/ entry) and applied in the
// others: both records, in partition order. And a claim id no settlement indexes (`settlements --claim`,
// Store::dead_letter_outputs): only a dead letter can name it, so the dead letters are read through their index, and
// a line put by hand beside one, naming the claim (its id escaped), is not (read, it would be a third record).
TEST(ClaimIndex, ADeadLetterBesideAppliedCopiesAndAnUnindexedClaimAreFound) {
  TempDir d;
  Store s(d / "state");
  fold_events_to_find(d, s);
  const int r = partition_of("R", 4), t = (r + 3) % 4;  // close1 a dead letter in partition t, before R's
  ASSERT_LT(t, r);
  const std::string dead_at = hex4(t) + "/" + hex16(0xffff);
  ASSERT_TRUE(s.db()->Delete(rocksdb::WriteOptions(), "e/" + hex4(t) + "/close1").ok());
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), "o/" + dead_at + "/00000000",
                          encode_record(DeadLetter{t, 0xffff, "injected", "close1", EventType::period_closed,
                                                   std::nullopt, std::nullopt})).ok());
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), "d/" + dead_at, "o/" + dead_at + "/00000000").ok());
  EXPECT_EQ(records_of_event(s, "close1"), (std::vector<std::string>{"dead_letter::", "account_credit:R:2024-01"}));
  put_escaped_beside(s, R"("claim":"lost-claim")", R"("claim":"lost\u002dclaim")");
  std::multiset<std::string> dead;
  s.dead_letter_outputs([&](const Output& o) {
    dead.insert(o.kind + ":" + o.claim);
    return true;
  });
  EXPECT_EQ(dead, (std::multiset<std::string>{"dead_letter:", "dead_letter:lost-claim"}));
  size_t read = 0;
  s.dead_letter_outputs([&](const Output&) { return ++read < 1; });
  EXPECT_EQ(read, 1u);  // fn's false stops it
  // A dead-letter entry naming a record the store does not hold is damage: refused naming both, as each_dead_letter
  // refuses it (the search passed over it, and `explain --event` answered "not found").
  ASSERT_TRUE(s.db()->Delete(rocksdb::WriteOptions(), "o/" + dead_at + "/00000000").ok());
  EXPECT_EQ(thrown<StoreError>([&] { records_of_event(s, "close1"); }),
            "the dead-letter index entry d/" + dead_at + " of the store at " + d / "state" + " names o/" + dead_at +
                "/00000000, which the store does not hold");
}

// The compression of every SST file of the store at `dir` ("Snappy", "LZ4", ...), read with RocksDB's own table
// properties (independent of store_db_options).
std::set<std::string> sst_compressions(rocksdb::DB& db) {
  rocksdb::TablePropertiesCollection props;
  EXPECT_TRUE(db.GetPropertiesOfAllTables(&props).ok());
  std::set<std::string> names;
  for (const auto& [file, p] : props) names.insert(p->compression_name);
  return names;
}

// A generated log of 4 partitions at d/log, folded whole into d/fresh (the digest returned with it) and, in d/state,
// the first half of each partition.
std::pair<std::unique_ptr<EventLog>, std::string> fold_whole_and_half(const TempDir& d) {
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, generated(60));
  std::string digest;
  {
    Store fresh(d / "fresh");
    fresh.fold(*log, default_policy());
    digest = fresh.digest();
  }
  std::map<int, uint64_t> half;
  for (int p = 0; p < 4; ++p) half[p] = log->end_offset(p) / 2;
  {
    Store s(d / "state");
    FoldOptions o;
    o.until = half;
    s.fold(*log, default_policy(), o);
  }
  return {std::move(log), digest};
}

// Stores written before the store options named LZ4 hold Snappy files: this binary reads them, and keeps folding into
// such a store, whose new files are LZ4, with the digest of a fold from zero.
TEST(StoreFormat, SnappyFilesOfEarlierBinariesAreRead) {
  TempDir d;
  auto [log, digest] = fold_whole_and_half(d);
  {  // every file rewritten with Snappy, RocksDB's default, and whole filters and indexes, as the earlier binaries
     // wrote them
    rocksdb::Options o = store_db_options();
    o.compression = rocksdb::kSnappyCompression;
    rocksdb::BlockBasedTableOptions earlier;
    earlier.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(earlier));
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, d / "state", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::CompactRangeOptions all;
    all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    ASSERT_TRUE(db->CompactRange(all, nullptr, nullptr).ok());
    ASSERT_EQ(sst_compressions(*db), std::set<std::string>{"Snappy"});
  }
  Store s(d / "state");
  s.fold(*log, default_policy());
  s.flush();
  EXPECT_EQ(s.digest(), digest);
  EXPECT_EQ(sst_compressions(*s.db()), (std::set<std::string>{"LZ4", "Snappy"}));
  // This binary's files have partitioned indexes and filters (store_db_options, issue 10); the earlier ones, whole
  // ones, are read as they are.
  rocksdb::TablePropertiesCollection props;
  ASSERT_TRUE(s.db()->GetPropertiesOfAllTables(&props).ok());
  for (const auto& [file, p] : props) EXPECT_EQ(p->index_partitions > 0, p->compression_name == "LZ4") << file;
}

// Compacts every file of the store at `dir` as the binaries before universal compaction did (store_db_options with
// leveled compaction), all of it into levels below 0, and returns how many files are then in levels below 0.
size_t compact_into_levels(const std::string& dir) {
  rocksdb::Options o = store_db_options();
  o.compaction_style = rocksdb::kCompactionStyleLevel;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status opened = rocksdb::DB::Open(o, dir, &raw);
  EXPECT_TRUE(opened.ok()) << opened.ToString();
  if (!opened.ok()) return 0;
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::CompactRangeOptions all;
  all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  EXPECT_TRUE(db->CompactRange(all, nullptr, nullptr).ok());
  rocksdb::ColumnFamilyMetaData meta;
  db->GetColumnFamilyMetaData(&meta);
  size_t deep = 0;
  for (const auto& level : meta.levels)
    if (level.level > 0) deep += level.files.size();
  return deep;
}

// Issue 10: the store's compaction changed from leveled to universal (store_db_options). Each level of a leveled store
// is a sorted run, so this binary folds on into a store an earlier binary compacted into levels, and such a binary
// opens and compacts what this one wrote: the digest of a fold from zero throughout. (The compactions here are
// whole-store CompactRange calls; the automatic universal picker, which starts at 16 runs, does not run.)
TEST(StoreFormat, LeveledAndUniversalStoresOpenEachOther) {
  TempDir d;
  auto [log, digest] = fold_whole_and_half(d);
  EXPECT_GT(compact_into_levels(d / "state"), 0u);  // as an earlier binary left it
  {
    Store s(d / "state");
    s.fold(*log, default_policy());
    s.flush();
    rocksdb::CompactRangeOptions all;
    all.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    ASSERT_TRUE(s.db()->CompactRange(all, nullptr, nullptr).ok());  // universal compaction over the leveled files
    EXPECT_EQ(s.digest(), digest);
  }
  compact_into_levels(d / "state");  // an earlier binary opening this one's store and compacting it whole
  Store s(d / "state");
  EXPECT_EQ(s.digest(), digest);
}

// The store at `dir` (format 6) turned into the format-4 store that holds the same: settlements in settlement
// format 1 (settlement_format_1 above), the other kinds as their JSON lines; then a checkpoint of it at `ckpt`.
struct Format4 {
  size_t settlements = 0, records = 0, old_bytes = 0, new_bytes = 0, old_record_bytes = 0, new_record_bytes = 0;
};
Format4 make_format_4(const std::string& dir, const std::string& ckpt) {
  Format4 f;
  Store s(dir);
  rocksdb::WriteBatch b;
  s.scan("o/", [&](const std::string& k, std::string_view v) {
    if (v.starts_with(static_cast<char>(kRecordFormat))) {
      const std::string line = record_line(decode_record(v));
      f.old_record_bytes += line.size(), f.new_record_bytes += v.size(), ++f.records;
      b.Put(k, line);
      return;
    }
    EXPECT_TRUE(v.starts_with(static_cast<char>(kSettlementFormat))) << k;
    const std::string old = settlement_format_1(decode_settlement(v));
    f.old_bytes += old.size(), f.new_bytes += v.size(), ++f.settlements;
    b.Put(k, old);
  });
  metas_as_json(s, b);
  drop_month_index(s, b);
  b.Put("n/format", "4");
  EXPECT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
  s.checkpoint(ckpt);
  return f;
}

// Store format 6 keeps every output record as data: settlements with their trace steps as data (settlement format 2)
// and the other kinds in their stored form (encode_record). A format-4 store is made here from a fresh one: its
// settlements in settlement format 1, written by hand from that layout (StateCodec.Format1SettlementsStillRead reads
// bytes the format-4 binary wrote), and the other kinds as their JSON lines. A read-only open reads it as it is; a
// writable open converts every record, to the store a fold from zero builds (the digest audit's replay check
// compares). Its checkpoints stay listed for replays.
TEST(StoreFormat, Format4IsReadAsItIsAndMigratedTo6) {
  TempDir d;
  auto log = open_segment_log(d / "data/log", 4);
  ingest_lines(*log, generated(200));
  append_two_poison_records(*log);
  std::string fresh, digest;
  {
    Store s(d / "data/fresh");
    s.fold(*log, default_policy());
    s.outputs([&](const nlohmann::json& r) { return fresh += r.dump() + "\n", true; });
    digest = s.digest();
  }
  const std::string dir = d / "data/state";
  fs::copy(d / "data/fresh", dir);
  const Format4 f = make_format_4(dir, d / "data/ckpt/old");
  const size_t settlements = f.settlements, records = f.records;
  ASSERT_GT(settlements, 500u);
  ASSERT_GT(records, 100u);
  std::cout << "stored settlements: format 1 " << f.old_bytes / settlements << " bytes each, format 2 "
            << f.new_bytes / settlements << "; other records: JSON " << f.old_record_bytes / records << ", stored "
            << f.new_record_bytes / records << "\n";
  EXPECT_GT(f.old_bytes, f.new_bytes * 2);                // the trace's text was most of format 1
  EXPECT_GT(f.old_record_bytes, f.new_record_bytes * 2);  // keys, words and money as text
  const auto outputs = [](Store& s) {
    std::string all;
    s.outputs([&](const nlohmann::json& r) { return all += r.dump() + "\n", true; });
    return all;
  };
  {
    Store ro(dir, true);
    EXPECT_TRUE(outputs(ro) == fresh);
  }
  std::vector<std::string> said;
  oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
  {
    Store s(dir);
    EXPECT_TRUE(outputs(s) == fresh);
    EXPECT_EQ(digest_at_10(s, *log), digest);
    std::string v;
    ASSERT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/format", &v).ok());
    EXPECT_EQ(v, "15");
    EXPECT_TRUE(s.db()->Get(rocksdb::ReadOptions(), "n/migrating", &v).IsNotFound());
    size_t format_2 = 0, stored_records = 0;
    s.scan("o/", [&](const std::string&, std::string_view value) {
      format_2 += value.starts_with(static_cast<char>(kSettlementFormat));
      stored_records += value.starts_with(static_cast<char>(kRecordFormat));
    });
    EXPECT_EQ(format_2, settlements);
    EXPECT_EQ(stored_records, records);
    size_t dead = 0;
    s.dead_letters([&](const std::string&, const std::string& line) {
      EXPECT_EQ(nlohmann::json::parse(line)["kind"], "dead_letter") << line;
      ++dead;
    });
    EXPECT_EQ(dead, 2u);
  }
  oplog::set_sink_for_tests(nullptr);
  EXPECT_TRUE(logged(said, "migrated the store at " + dir + " to format 6: " + std::to_string(settlements + records) +
                     " output records converted"))
      << testing::PrintToString(said);
  // The checkpoint taken at format 4 still counts: a replay may start from it.
  std::ifstream in(d / "data/ckpt/old/positions.json");
  const nlohmann::json meta = nlohmann::json::parse(in);
  ASSERT_EQ(meta.value("format", 0), kStoreFormat);  // checkpoint() records the store's format; say it was format 4's
  std::ofstream(d / "data/ckpt/old/positions.json") << nlohmann::json{{"positions", meta["positions"]},
                                                                       {"format", 4}}.dump();
  EXPECT_EQ(Store::checkpoints(d / "data/ckpt").size(), 1u);
  EXPECT_EQ(Store::retain_checkpoints(d / "data/ckpt", 2), 0u);
}

// Retention removes checkpoints of another store format (from before a migration: never replayed from) beside the
// older ones of this format.
TEST(StoreFormat, RetentionRemovesCheckpointsOfAnotherFormat) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id());
  Store s(d / "state");
  s.fold(*log, default_policy());
  s.checkpoint(d / "ckpt/old");
  s.checkpoint(d / "ckpt/new");
  std::ofstream(d / "ckpt/old/positions.json") << R"({"positions":{"0":1},"format":3})";
  EXPECT_EQ(Store::checkpoints(d / "ckpt").size(), 1u);
  EXPECT_EQ(Store::retain_checkpoints(d / "ckpt", 2), 1u);
  EXPECT_FALSE(fs::exists(d / "ckpt/old"));
  EXPECT_TRUE(fs::exists(d / "ckpt/new"));
}

// A settlement whose stored form is damaged is refused naming its key, never read as another settlement.
TEST(StoreFormat, DamagedSettlementIsRefusedNamingItsKey) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id());
  Store s(d / "state");
  s.fold(*log, default_policy());
  std::string key, value;
  s.scan("o/", [&](const std::string& k, std::string_view v) {
    if (key.empty() && !v.starts_with('{')) key = k, value = std::string(v);
  });
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key, value.substr(0, value.size() - 1)).ok());
  try {
    s.outputs([](const nlohmann::json&) { return true; });
    ADD_FAILURE() << "a damaged settlement was read";
  } catch (const StoreError& e) {
    EXPECT_EQ(std::string(e.what()), "the store holds a damaged output record under " + key +
                                         ": stored state is unreadable at settlement");
  }
}

// Item 8: a policy text stored by an older gongji (the Weihai file as it stood before issue 9) still loads, and
// `explain` and `audit` work under it.
TEST(StoreFormat, OlderPolicyTextStillLoadsForExplainAndAudit) {
  TempDir d;
  const std::string old_text = read_file(std::string(GONGJI_SOURCE_DIR) + "/tests/data/policy-before-issue9.yaml");
  ASSERT_GT(old_text.size(), 1000u);
  Policy old = load_policy_text(old_text, "policy-before-issue9.yaml", PolicyText::stored);
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, two_persons_one_claim_id());
  Store s(d / "state");
  s.fold(*log, old);
  ASSERT_EQ(s.policy_text(old.version()), old_text);
  Rederivation r = rederive_claim(s, *log, "P1", "X");
  EXPECT_TRUE(r.equal) << r.first_difference;
  EXPECT_EQ(r.policy_version, old.version());
  EXPECT_EQ(r.recomputed.settlement->fund, 7000);
  auto stored = recorded_policy(s);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->version(), old.version());
  // The command line: folded under the old text as an older gongji did (`fold --policy` refuses that file now:
  // tests/ledger/stored_policy_test.cc), explained and audited under the text the store holds.
  TempDir c;
  {
    std::ofstream(c / "events.jsonl") << two_persons_one_claim_id();
  }
  ASSERT_EQ(run(gongji("ingest --data-dir " + c / "data" + " --partitions 4 " + c / "events.jsonl" + " >/dev/null")),
            0);
  {
    auto clog = open_segment_log(c / "data/log", 4);
    Store cs(c / "data/state");
    cs.fold(*clog, old);
  }
  std::string out;
  EXPECT_EQ(run(gongji("explain --data-dir " + c / "data" + " --claim Y"), &out), 0);
  EXPECT_NE(out.find("the recomputation equals the recorded settlement"), std::string::npos) << out;
  EXPECT_NE(out.find("policy " + old.version()), std::string::npos) << out;
  EXPECT_EQ(run(gongji("audit --data-dir " + c / "data" + " 2>&1"), &out), 0) << out;
}

}  // namespace
}  // namespace gongji::test
