// The command line of EVENTS.md, driven as a user would: the worked examples, bad input, duplicates.
#include <rocksdb/db.h>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>

#include "consumers/exit_codes.h"
#include "events/partition.h"
#include "projections/store.h"
#include "replay/reconstruct.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;
const std::string kScenarios = std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/";

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(json::parse(l));
  return out;
}

// Compares what the example lists (the fields POLICY.md determines) with what gongji prints.
void check_example(const std::string& name) {
  TempDir d;
  const std::string events = kScenarios + "examples/" + name + ".jsonl";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + events + " > /dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null")), 0);
  std::string out;
  run(gongji("settlements --data-dir " + d / "data"), &out);
  auto got = json_lines(out);
  auto expected = json_lines(read_file(kScenarios + "examples/" + name + ".expected.jsonl"));
  size_t i = 0;
  for (const json& exp : expected) {
    if (exp["kind"] == "person_state") {
      std::string p;
      run(gongji("person --data-dir " + d / "data" + " --person " + exp["person"].get<std::string>() + " --as-of " +
                 exp["as_of"].get<std::string>()),
          &p);
      json state = json::parse(p);
      for (const char* k : {"scheme", "status", "tier", "inpatient_limit_used"})
        EXPECT_EQ(state[k], exp[k]) << name << " " << exp["as_of"] << " " << k;
      for (auto& [k, v] : exp["ordinary"].items()) EXPECT_EQ(state["ordinary"][k], v) << name << " ordinary." << k;
      EXPECT_EQ(state["incentive"], exp["incentive"]) << name;
      EXPECT_EQ(state["account"], exp["account"]) << name;
      for (auto& [bucket, fields] : exp["chronic"].items())
        for (auto& [k, v] : fields.items())
          EXPECT_EQ(state["chronic"][bucket][k], v) << name << " chronic." << bucket << "." << k;
      continue;
    }
    ASSERT_LT(i, got.size()) << name << ": fewer output records than expected";
    const json& g = got[i++];
    for (auto& [k, v] : exp.items()) EXPECT_EQ(g[k], v) << name << " record " << i << " field " << k;
  }
  EXPECT_EQ(i, got.size()) << name << ": more output records than expected";
}

// DATA holding the worked example `name` (tests/scenarios/examples/NAME.jsonl), ingested and folded.
void ingest_and_fold_example(const std::string& data, const std::string& name) {
  ASSERT_EQ(run(gongji("ingest --data-dir " + data + " " + kScenarios + "examples/" + name + ".jsonl >/dev/null")),
            exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " > /dev/null")), exit_code::kOk);
}

TEST(Examples, EmployeeYear) { check_example("employee_year"); }
TEST(Examples, ResidentAcupuncture) { check_example("resident_acupuncture"); }
TEST(Examples, AwayAndEmergency) { check_example("away_and_emergency"); }
TEST(Examples, ChronicEmployee) { check_example("chronic_employee"); }
TEST(Examples, IncentiveAndAccount) { check_example("incentive_and_account"); }

// A refusal that quotes its line stays one line saying what it says: a crafted line cannot forge a second refusal
// or drive the operator's terminal (the outputs hunt of session 49: a type "claim\n  fund: 9" ended the refusal's
// line; an amount "10.00\x1b[2J" cleared the screen; a person not UTF-8 wrote its raw bytes).
TEST(Cli, AnIngestRefusalQuotingItsLineWritesNothingATerminalActsOn) {
  TempDir d;
  std::ofstream(d / "in.jsonl")
      << "{\"type\": \"claim\\n  fund: 9\", \"id\": \"c1\"}\n"
      << R"({"type":"claim","id":"c2","claim":"K","person":"P","facility":"F","date":"2023-03-01",)"
      << R"("benefit":"ordinary","items":[{"category":"drug","amount":"10.00\u001b[2J"}]})" << "\n"
      << "{\"type\":\"person_enrolled\",\"id\":\"p\",\"person\":\"P\xff\xfe\"}\n";
  std::string err;
  EXPECT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "in.jsonl" + " 2>&1 >/dev/null"), &err),
            exit_code::kRefused);
  std::istringstream lines(err);
  std::vector<std::string> refusals;
  for (std::string l; std::getline(lines, l);) refusals.push_back(l);
  ASSERT_EQ(refusals.size(), 3u) << err;
  EXPECT_EQ(refusals[0], d / "in.jsonl" + ":1: INVALID: field 'type': unknown event type \"claim\\u000A  fund: 9\"");
  EXPECT_NE(refusals[1].find("10.00\\u001B[2J"), std::string::npos) << refusals[1];
  EXPECT_EQ(err.find('\x1b'), std::string::npos);
  EXPECT_EQ(err.find('\xff'), std::string::npos);
  EXPECT_TRUE(refusals[2].starts_with(d / "in.jsonl" + ":3: INVALID: ")) << refusals[2];
}

// what-if compares up to the store's positions, as audit does, and says so of the partitions whose log goes on (it
// said nothing: the what-if oracle of session 49), in text and JSON (not_compared; not_settled empty here).
TEST(Cli, WhatIfNamesThePartitionsItDidNotCompare) {
  TempDir d;
  std::ofstream(d / "in.jsonl") << generated(100, 3);
  std::ofstream(d / "same.yaml") << default_policy_text();
  const std::string data = " --data-dir " + d / "data";
  ASSERT_EQ(run(gongji("ingest" + data + " " + d / "in.jsonl" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold" + data + " >/dev/null 2>&1")), 0);
  const std::string what_if = gongji("what-if" + data + " --policy " + d / "same.yaml");
  std::string out;
  ASSERT_EQ(run(what_if, &out), 0) << out;
  EXPECT_EQ(out.find("not compared"), std::string::npos) << out;
  std::ofstream(d / "more.jsonl") << R"({"type":"claim_reversed","id":"late-1","at":"2023-12-30","person":)"
                                  << R"("P0000001","claim":"none"})" << "\n";
  ASSERT_EQ(run(gongji("ingest" + data + " " + d / "more.jsonl" + " >/dev/null")), 0);
  const std::string partition = std::to_string(partition_of("P0000001", 8));
  ASSERT_EQ(run(what_if, &out), 0) << out;
  EXPECT_NE(out.find("  not compared: the log holds records past the store's position in partition " + partition +
                     " (not folded yet: run `gongji fold` first)\n"),
            std::string::npos)
      << out;
  ASSERT_EQ(run(what_if + " --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["not_compared"], nlohmann::json::array({std::stoi(partition)}));
  EXPECT_EQ(j["not_settled"], nlohmann::json::array());
  // Under a policy without the therapy T01 some claims cannot be settled at all: counted, and named only as far as
  // --show asks (a read the access log records; with --show 0 it records none, so no person is named).
  std::string text = default_policy_text();
  for (const std::string cut : {"T01, ", "          T01: {name: 普通针刺, per: day, times: 2}\n"})
    text.erase(text.find(cut), cut.size());
  std::ofstream(d / "no-t01.yaml") << text;
  const std::string narrow = gongji("what-if" + data + " --policy " + d / "no-t01.yaml");
  const size_t accesses = read_file(d / "data/access-log.jsonl").size();
  ASSERT_EQ(run(narrow + " --show 0", &out), 0) << out;
  EXPECT_NE(out.find("  NOT SETTLED: "), std::string::npos) << out;
  EXPECT_EQ(out.find("(P0"), std::string::npos) << out;  // no "claim (person)" line
  EXPECT_EQ(read_file(d / "data/access-log.jsonl").size(), accesses);
  ASSERT_EQ(run(narrow + " --show 1", &out), 0) << out;
  EXPECT_NE(out.find("unknown code \"T01\""), std::string::npos) << out;
  EXPECT_GT(read_file(d / "data/access-log.jsonl").size(), accesses);
}

// Ids EVENTS.md allows may hold what a terminal or a line reader acts on (U+2028 and U+2029 end a line for many
// readers; U+202E reverses what follows): the text views write those as escapes, so that no id forges a line or
// reorders one (the outputs hunt of session 49: a person "P\u2028== dead letters ... ==" forged a report heading).
TEST(Cli, TextViewsWriteIdsSoThatNoneForgesOrReordersALine) {
  TempDir d;
  const std::string person = "P\xe2\x80\xa8== x ==", claim = "C\xe2\x80\xae" "9", facility = "F\xe2\x80\xa9";
  nlohmann::json lines = nlohmann::json::array(
      {{{"type", "facility_registered"}, {"id", "f"}, {"at", "2022-01-01"}, {"facility", facility}, {"name", "n"},
        {"level", 1}, {"tcm", false}, {"kind", "township_health_center"}, {"ordinary_outpatient", true}},
       {{"type", "person_enrolled"}, {"id", "p"}, {"at", "2022-01-01"}, {"person", person},
        {"birth_date", "1975-03-15"}, {"scheme", "employee"}, {"status", "in_service"}},
       {{"type", "outpatient_designated"}, {"id", "o"}, {"at", "2022-12-01"}, {"person", person},
        {"facility", facility}},
       {{"type", "claim"}, {"id", "c"}, {"claim", claim}, {"person", person}, {"facility", facility},
        {"date", "2023-03-01"}, {"benefit", "ordinary"},
        {"items", {{{"category", "drug"}, {"amount", "700.00"}}}}}});
  {
    std::ofstream in(d / "in.jsonl");
    for (const auto& l : lines) in << l.dump() << "\n";
  }
  const std::string data = " --data-dir " + d / "data";
  ASSERT_EQ(run(gongji("ingest" + data + " " + d / "in.jsonl" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold" + data + " >/dev/null 2>&1")), 0);
  std::string explained, statement;
  ASSERT_EQ(run(gongji("explain" + data + " --claim '" + claim + "'"), &explained), 0) << explained;
  ASSERT_EQ(run(gongji("statement" + data + " --person '" + person + "' --year 2023"), &statement), 0) << statement;
  for (const std::string* out : {&explained, &statement})
    for (const char* raw : {"\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xae"})
      EXPECT_EQ(out->find(raw), std::string::npos) << *out;
  EXPECT_NE(explained.find("\nclaim C\\u202E9 of P\\u2028== x == (employee), ordinary on 2023-03-01 at "
                           "F\\u2029: settled\n"),
            std::string::npos)
      << explained;
  EXPECT_TRUE(statement.starts_with("Statement for P\\u2028== x ==, 2023 (")) << statement;
  EXPECT_NE(statement.find("C\\u202E9"), std::string::npos) << statement;
}

// EVENTS.md: each malformed line is refused naming the line, field and reason, goes to the dead letters, and the
// valid lines of the same batch are kept; exit 3. An id reused with other content is ID_CONFLICT.
TEST(Cli, MalformedInputIsRefusedAndNothingElseLost) {
  TempDir d;
  std::string out;
  int rc = run(gongji("ingest --data-dir " + d / "data" + " " + kScenarios + "malformed.jsonl 2>" + d / "err"), &out);
  EXPECT_EQ(rc, exit_code::kRefused);
  EXPECT_EQ(out, "appended 2, duplicate 0, refused 11\n");
  std::string err = read_file(d / "err");
  EXPECT_NE(err.find("malformed.jsonl:3: INVALID: field 'birth_date': missing"), std::string::npos) << err;
  EXPECT_NE(err.find("malformed.jsonl:9: ID_CONFLICT: event id ok1 is already in the log with other content"),
            std::string::npos);
  auto dead = json_lines(read_file(d / "data/dead-letters.jsonl"));
  ASSERT_EQ(dead.size(), 11u);
  EXPECT_EQ(dead[0]["line"], 2);
  EXPECT_EQ(dead[3]["field"], "items[0].category");
  EXPECT_EQ(dead[3]["raw"].get<std::string>().find("\"massage\"") != std::string::npos, true);
  // Re-ingesting the same file: the valid lines are duplicates (no-op), the rest refused again.
  EXPECT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + kScenarios + "malformed.jsonl 2>/dev/null"), &out),
            exit_code::kRefused);
  EXPECT_EQ(out, "appended 0, duplicate 2, refused 11\n");
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null")), 0);
  std::string person;
  EXPECT_EQ(run(gongji("person --data-dir " + d / "data" + " --person P4 --as-of 2023-01-01"), &person), 0);
  EXPECT_EQ(json::parse(person)["tier"], 1);
}

// A reused claim id settles as DUPLICATE_CLAIM, by the fold, consuming nothing.
TEST(Cli, ReusedClaimIdSettlesAsDuplicate) {
  TempDir d;
  std::string events = read_file(kScenarios + "examples/employee_year.jsonl") +
                       R"({"type":"claim","id":"dup-1","claim":"E1-1","person":"E1","facility":"H2T",)"
                           R"("date":"2023-06-01","benefit":"ordinary","items":[{"category":"drug",)"
                           R"("amount":"100.00"}]})" "\n";
  std::ofstream(d / "e.jsonl") << events;
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "e.jsonl > /dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null")), 0);
  std::string out;
  run(gongji("settlements --data-dir " + d / "data" + " --claim E1-1 --kind settlement"), &out);
  auto recs = json_lines(out);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["status"], "settled");
  EXPECT_EQ(recs[1]["status"], "rejected");
  EXPECT_EQ(recs[1]["reasons"], json::array({"DUPLICATE_CLAIM"}));
  std::string person;
  run(gongji("person --data-dir " + d / "data" + " --person E1 --as-of 2023-12-31"), &person);
  EXPECT_EQ(json::parse(person)["ordinary"]["limit_used"], "1600.00");
}

TEST(Cli, ExplainShowsRulesAndArticles) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  std::string out;
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-4"), &out), 0);
  EXPECT_NE(out.find("F-TCM"), std::string::npos);
  EXPECT_NE(out.find("[Art.18]"), std::string::npos);
  EXPECT_NE(out.find("fund pays 280.00"), std::string::npos);
  // Each failure exits with its own status and names what it could not use.
  std::string err;
  EXPECT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim NOPE 2>&1"), &err), exit_code::kNotFound) << err;
  EXPECT_NE(err.find("claim NOPE"), std::string::npos) << err;
  EXPECT_EQ(run(gongji("person --data-dir " + d / "data" + " --person E1 --as-of 2023-13-01 2>&1"), &err),
            exit_code::kUsage) << err;
  EXPECT_NE(err.find("--as-of: expected a date YYYY-MM-DD, got '2023-13-01'"), std::string::npos) << err;
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "nothing-here 2>&1"), &err), exit_code::kFailure) << err;
  EXPECT_NE(err.find("no log in " + d / "nothing-here/log"), std::string::npos) << err;
  // A claim refunded later says so after its explanation (example E1: claim_reversed ev009012 of E1-3 on
  // 2023-03-10, the fund's 466.67 taken back), in text and in JSON; a claim not refunded says nothing of it.
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-3"), &out), 0);
  EXPECT_NE(out.find("\nrefunded: reversed on 2023-03-10 by event ev009012, fund -466.67 (the recorded payment taken "
                     "back; `gongji settlements --person E1 --claim E1-3` lists the reversal)\n"),
            std::string::npos)
      << out;
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-3 --json"), &out), 0);
  const nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_EQ(j["reversals"].size(), 1u) << out;
  EXPECT_EQ(j["reversals"][0]["event"], "ev009012");
  EXPECT_EQ(j["reversals"][0]["fund"], "-466.67");
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-4"), &out), 0);
  EXPECT_EQ(out.find("refunded"), std::string::npos) << out;
  // Under another policy (ORD-RATIO at level 3 for employees in service 0.60, not 0.50) the reversal would take back
  // the what-if's fund: 933.33 covered x 0.60 = 559.998, 560.00 (E1-3 reaches neither limit).
  std::string text = default_policy_text();
  const std::string ratios = R"(values: [{from: 2022-07-01, value: ["0.70", "0.60", "0.50"]}])";
  ASSERT_NE(text.find(ratios), std::string::npos);
  std::ofstream(d / "ratio.yaml") << text.replace(text.find(ratios), ratios.size(),
                                                  R"(values: [{from: 2022-07-01, value: ["0.70", "0.60", "0.60"]}])");
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-3 --policy " + d / "ratio.yaml"), &out), 0);
  EXPECT_NE(out.find("lists the reversal)\n  under " + d / "ratio.yaml" +
                     " the reversal would take back fund -560.00 instead (the what-if's settlement)\n"),
            std::string::npos)
      << out;
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-3 --json --policy " + d / "ratio.yaml"), &out),
            0);
  EXPECT_EQ(nlohmann::json::parse(out)["reversals"][0]["what_if"], nlohmann::json({{"fund", "-560.00"}})) << out;
  // Under a policy whose ordinary benefit starts only on 2023-04-01 (T-START), E1-3 of 2023-03-08 is not settled:
  // its reversal would be refused and take back nothing. Under the same policy the line says nothing more.
  text = default_policy_text();
  const std::string start = "      - {from: 2022-07-01, to: 2022-11-30, value: false}\n"
                            "      - {from: 2022-12-01, value: true}";
  ASSERT_NE(text.find(start), std::string::npos);
  std::ofstream(d / "late.yaml") << text.replace(text.find(start), start.size(),
                                                 "      - {from: 2022-07-01, to: 2023-03-31, value: false}\n"
                                                 "      - {from: 2023-04-01, value: true}");
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-3 --policy " + d / "late.yaml"), &out), 0);
  EXPECT_NE(out.find("  under " + d / "late.yaml" + " the reversal would take back nothing: the claim is rejected "
                     "under it, and a reversal of a claim not settled is refused (REVERSAL_NOT_APPLICABLE)\n"),
            std::string::npos)
      << out;
  std::ofstream(d / "same.yaml") << default_policy_text();
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-3 --policy " + d / "same.yaml"), &out), 0);
  EXPECT_NE(out.find("lists the reversal)\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("  under "), std::string::npos) << out;
}

// A fold refused because another process has the store open for writing names that process (RocksDB's refusal named
// only the lock file). The other process here takes the store's LOCK as RocksDB's writable open does (an fcntl write
// lock on the whole file), and stays until killed.
TEST(Cli, AFoldBesideAnotherWriterOfTheStoreNamesIt) {
  TempDir d;
  const std::string events = kScenarios + "examples/employee_year.jsonl";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + events + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " >/dev/null 2>&1")), 0);
  FILE* holder = popen(("exec python3 -c 'import fcntl, os, sys, time\n"
                        "f = open(sys.argv[1], \"a\")\nfcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                        "print(os.getpid(), flush=True)\ntime.sleep(60)' " + d / "data/state/LOCK").c_str(), "r");
  ASSERT_NE(holder, nullptr);
  char line[32] = {};
  ASSERT_NE(fgets(line, sizeof line, holder), nullptr);
  const long pid = std::stol(line);
  std::string err;
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "data" + " 2>&1"), &err), exit_code::kFailure) << err;
  EXPECT_NE(err.find("the store at " + d / "data/state" + " is in use (process " + std::to_string(pid) +
                     ", a fold, serve or log truncate, has it open for writing): IO error: While lock file: " +
                     d / "data/state/LOCK" + ": Resource temporarily unavailable"),
            std::string::npos) << err;
  // The same from a store that has made no position durable yet (the lock met by the open itself, not first taken
  // apart from it).
  ASSERT_TRUE(std::filesystem::remove(d / "data/state/gongji-positions.json"));
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "data" + " 2>&1"), &err), exit_code::kFailure) << err;
  EXPECT_NE(err.find("the store at " + d / "data/state" + " is in use (process " + std::to_string(pid) +
                     ", a fold, serve or log truncate, has it open for writing): IO error: While lock file: "),
            std::string::npos) << err;
  kill(static_cast<pid_t>(pid), SIGKILL);
  pclose(holder);
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "data" + " 2>&1"), &err), exit_code::kOk) << err;
}

// Beside a data directory's first ingest and first fold (a hunt of commands run at once).
TEST(Cli, AFoldOrAReadBesideAFirstIngestOrFoldIsRefusedSayingWhy) {
  TempDir d;
  std::string err;
  // A log folder without its meta (a first ingest that has not made it yet): refused, and no log is made (the fold
  // made one with 8 partitions, and the ingest then refused its --partitions).
  std::filesystem::create_directories(d / "starting/log");
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "starting 2>&1"), &err), exit_code::kFailure) << err;
  EXPECT_NE(err.find("no log in " + d / "starting/log"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(d / "starting/log/meta"));
  // But a log whose partitions hold records and whose meta is gone is damage, said as the open says it.
  const std::string events = kScenarios + "examples/employee_year.jsonl";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "lost" + " " + events + " >/dev/null")), 0);
  std::filesystem::remove(d / "lost/log/meta");
  EXPECT_EQ(run(gongji("fold --data-dir " + d / "lost" + " 2>&1"), &err), exit_code::kFailure) << err;
  EXPECT_EQ(err.find("no log in"), std::string::npos) << err;
  EXPECT_NE(err.find("meta"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(d / "lost/log/meta"));
  // A store a first fold has made and not yet recorded its policy in: a read needing the store's policy fails (exit
  // 1) saying so; it was a usage error, "--policy: the store used several policy versions ()".
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "first" + " " + events + " >/dev/null")), 0);
  { Store made(d / "first/state"); }
  EXPECT_FALSE(std::filesystem::exists(d / "first/state.creating.lock"));  // made: the lock file goes
  EXPECT_EQ(run(gongji("person --data-dir " + d / "first" + " --person E1 --known-at 2999-01-01T00:00:00Z 2>&1"),
                &err),
            exit_code::kFailure)
      << err;
  EXPECT_NE(err.find("the store at " + d / "first/state" + " has no policy recorded yet: it has folded nothing"),
            std::string::npos)
      << err;
}

// A person or claim nobody holds is not found (exit 4) for `settlements` too, as for `person` and `explain`; a known
// person with no record of the kind asked for is an empty answer. `log verify` of a data directory that is not there
// is an error (exit 1), not a finding about a log.
TEST(Cli, SettlementsOfSomeoneUnknownAreNotFound) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  std::string out, err;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --person NOBODY 2>&1"), &err), exit_code::kNotFound);
  EXPECT_NE(err.find("no person NOBODY"), std::string::npos) << err;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --claim NOPE 2>&1"), &err), exit_code::kNotFound);
  EXPECT_NE(err.find("no record of claim NOPE"), std::string::npos) << err;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --person E1 --claim NOPE 2>&1"), &err),
            exit_code::kNotFound);
  EXPECT_NE(err.find("no record of claim NOPE of person E1"), std::string::npos) << err;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --person E1 --kind dead_letter"), &out),
            exit_code::kOk);
  EXPECT_EQ(out, "");
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --person E1 --claim E1-4"), &out), exit_code::kOk);
  EXPECT_NE(out.find("\"claim\":\"E1-4\""), std::string::npos) << out;
  // A person known only by the records naming them (a claim of an unknown person, rejected UNKNOWN_PERSON) is
  // found, with or without a --kind none of their records has; so is a claim.
  std::ofstream(d / "ghost.jsonl") << R"({"type":"claim","id":"gh1","claim":"Q-1","person":"GHOST","date":)"
                                   << R"("2023-05-01","facility":"H2","benefit":"ordinary","items":[{"category":)"
                                   << R"("drug","amount":"10.00"}]})" << "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "ghost.jsonl" + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " >/dev/null 2>&1")), exit_code::kOk);
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --person GHOST"), &out), exit_code::kOk);
  EXPECT_NE(out.find("UNKNOWN_PERSON"), std::string::npos) << out;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --person GHOST --kind reversal"), &out),
            exit_code::kOk);
  EXPECT_EQ(out, "");
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --claim Q-1 --kind reversal"), &out), exit_code::kOk);
  // Its explanation names no scheme (it printed "GHOST ()"): the person has none.
  EXPECT_EQ(run(gongji("explain --data-dir " + d / "data" + " --person GHOST --claim Q-1"), &out), exit_code::kOk);
  EXPECT_NE(out.find("\nclaim Q-1 of GHOST, ordinary on 2023-05-01 at H2: rejected (UNKNOWN_PERSON)\n"),
            std::string::npos) << out;
  EXPECT_EQ(run(gongji("settlements --data-dir " + d / "data" + " --claim NOPE --kind reversal 2>&1"), &err),
            exit_code::kNotFound);
  EXPECT_EQ(run(gongji("log verify --data-dir " + d / "nowhere" + " 2>&1"), &err), exit_code::kFailure);
  EXPECT_NE(err.find("no data directory " + d / "nowhere"), std::string::npos) << err;
}

// A claim the fold could not apply is a dead letter naming it, and `settlements --claim` finds it without its person
// (Store::dead_letter_outputs: no settlement indexes it), as it finds a settled claim; an id nothing names is not
// found. The fold's policy lacks C05 here, so a C05 claim valid at ingest is dead-lettered by the fold.
TEST(Cli, SettlementsOfADeadLetteredClaimAreFoundWithoutItsPerson) {
  TempDir d;
  std::string no_c05 = default_policy_text();
  for (auto [from, to] : {std::pair<std::string, std::string>{"C04, C05, C06,", "C04, C06,"},
                          {"          C05: {standard: \"6000.00\", name: \"系统性红斑狼疮（SLE）\"}\n", ""}}) {
    ASSERT_NE(no_c05.find(from), std::string::npos) << from;
    no_c05.replace(no_c05.find(from), from.size(), to);
  }
  std::ofstream(d / "no-c05.yaml") << no_c05;
  std::ofstream(d / "c05.jsonl") << R"({"type":"claim","id":"dl1","claim":"E1-C05","person":"E1","date":)"
                                 << R"("2023-05-01","facility":"H2","benefit":"chronic","disease":"C05","items":)"
                                 << R"([{"category":"drug","amount":"10.00"}]})" << "\n";
  const std::string data = d / "data";
  for (const std::string& file : {kScenarios + "examples/employee_year.jsonl", std::string(d / "c05.jsonl")})
    ASSERT_EQ(run(gongji("ingest --data-dir " + data + " " + file + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " --policy " + d / "no-c05.yaml" + " >/dev/null 2>&1")),
            exit_code::kOk);
  std::string out;
  ASSERT_EQ(run(gongji("settlements --data-dir " + data + " --claim E1-C05"), &out), exit_code::kOk) << out;
  const std::vector<json> lines = json_lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0]["kind"], "dead_letter") << out;
  EXPECT_EQ(lines[0]["claim"], "E1-C05") << out;
  EXPECT_EQ(lines[0]["event"], "dl1") << out;
  EXPECT_EQ(run(gongji("settlements --data-dir " + data + " --claim E1-C05 --kind settlement"), &out), exit_code::kOk);
  EXPECT_EQ(out, "");
  EXPECT_EQ(run(gongji("settlements --data-dir " + data + " --claim E1-1"), &out), exit_code::kOk);
  EXPECT_NE(out.find("\"claim\":\"E1-1\""), std::string::npos) << out;
  EXPECT_EQ(run(gongji("settlements --data-dir " + data + " --claim NOPE 2>/dev/null")), exit_code::kNotFound);
}

// POLICY.md TIME-ASOF: "the default --as-of is the latest date in the log", and TIME-LOG: "the log" is per person,
// the person's partition. P's last claim is of 2023-06-05; Q, in P's partition, claims on 2023-09-20; R, in another,
// on 2023-11-30. P's default as-of is 2023-09-20 (it was P's own latest date, 2023-06-05), shown as `as_of`; known
// at the offset of Q's claim (records before it), it is P's claim's date. The view is of that date: P's deductible
// (300.00, ORD-DED) is paid in 2023, so a default taken from another year would show 0.00.
TEST(Cli, PersonsDefaultAsOfIsTheLatestDateOfTheirPartition) {
  TempDir d;
  const int pp = partition_of("P", 8);
  std::string q = "Q", r = "R";
  for (int i = 0; partition_of(q, 8) != pp; ++i) q = "Q" + std::to_string(i);
  for (int i = 0; partition_of(r, 8) == pp; ++i) r = "R" + std::to_string(i);
  auto enrol = [](const std::string& id) {
    return R"({"type":"person_enrolled","id":"p-)" + id + R"(","at":"2022-01-01","person":")" + id +
           R"(","birth_date":"1970-01-01","scheme":"employee","status":"in_service"})" "\n";
  };
  auto claim = [](const std::string& id, const std::string& date) {
    return R"({"type":"claim","id":"c-)" + id + R"(","claim":"K-)" + id + R"(","person":")" + id +
           R"(","facility":"T1","date":")" + date +
           R"(","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]})" "\n";
  };
  // Partition pp: T1 0, P 1, Q 2, P's claim 3, Q's claim 4.
  std::ofstream(d / "events.jsonl") << R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1",)"
                                       R"("level":1,"kind":"township_health_center","ordinary_outpatient":true})" "\n"
                                    << enrol("P") << enrol(q) << enrol(r) << claim("P", "2023-06-05")
                                    << claim(q, "2023-09-20") << claim(r, "2023-11-30");
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " >/dev/null 2>&1")), exit_code::kOk);
  std::string out;
  ASSERT_EQ(run(gongji("person --data-dir " + d / "data" + " --person P"), &out), exit_code::kOk);
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["as_of"], "2023-09-20") << out;
  EXPECT_EQ(j["ordinary"]["deductible_paid"], "300.00") << out;
  const std::string before_q = " --known-at " + std::to_string(pp) + ":4";
  ASSERT_EQ(run(gongji("person --data-dir " + d / "data" + " --person P" + before_q), &out), exit_code::kOk);
  EXPECT_EQ(nlohmann::json::parse(out)["as_of"], "2023-06-05") << out;
  ASSERT_EQ(run(gongji("person --data-dir " + d / "data" + " --person " + r), &out), exit_code::kOk);
  EXPECT_EQ(nlohmann::json::parse(out)["as_of"], "2023-11-30") << out;
  ASSERT_EQ(run(gongji("person --data-dir " + d / "data" + " --person P --as-of 2023-12-31"), &out), exit_code::kOk);
  EXPECT_EQ(nlohmann::json::parse(out)["as_of"], "2023-12-31") << out;
}

// `explain --event` of an account movement re-derives it from the log (EVENTS.md: "a settlement (or an account
// movement) re-derived step by step"; it printed the record as stored): a field a line and its rule with the article
// it cites (POLICY.md ACC-INSVC, Art.23), then whether it equals the record; JSON only with --json. Example E4's
// January credit: 5200.00 x 2.75% = 143.00 (incentive_and_account.expected.jsonl). The record altered by hand (144.00)
// is a mismatch, exit 5, both lines shown.
TEST(Cli, ExplainOfAnAccountMovementRederivesItFromTheLog) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "incentive_and_account"));
  std::string out, version;
  {
    Store s(d / "data/state", true);
    version = recorded_policy(s)->version();
  }
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event ev009034"), &out), exit_code::kOk);
  EXPECT_EQ(out, "account_credit of E4, event ev009034 (re-derived from the log under the store's policy, " + version +
                     ")\n  amount: 143.00\n  at: 2023-01-10\n  balance: 143.00\n"
                     "  detail: round(5200.00 x (0.0200 + 0.0075)), age 45 on 2023-01-01\n"
                     "  month: 2023-01\n  rule: ACC-INSVC [Art.23]\n\n"
                     "the recomputation equals the recorded account movement\n");
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event ev009034 --json"), &out), exit_code::kOk);
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["equal"], true);
  EXPECT_FALSE(j.contains("differences"));
  EXPECT_EQ(j["recomputed"][0]["amount"], "143.00");
  EXPECT_EQ(j["recorded"], j["recomputed"]);
  {
    Store s(d / "data/state");
    std::string key;
    nlohmann::json rec;
    s.person_output_refs("E4", [&](const SettlementRef& ref) {
      const auto* m = ref.record.record ? std::get_if<AccountMovement>(ref.record.record.get()) : nullptr;
      if (m && m->event == "ev009034") key = ref.key, rec = nlohmann::json::parse(ref.record.line());
      return key.empty();
    });
    ASSERT_FALSE(key.empty());
    rec["amount"] = "144.00";
    ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key, rec.dump()).ok());
  }
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event ev009034"), &out), exit_code::kMismatch);
  EXPECT_NE(out.find("*** MISMATCH: the recomputation differs from the recorded account movement in: amount ***\n"
                     "  recorded:   {\"amount\":\"144.00\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("  recomputed: {\"amount\":\"143.00\""), std::string::npos) << out;
  // A line that no longer reads back as a movement (144, not 144.00) is still that movement, and a mismatch.
  {
    Store s(d / "data/state");
    std::string key;
    s.person_output_refs("E4", [&](const SettlementRef& ref) {
      if (ref.record.kind == "account_credit") key = ref.key;
      return key.empty();
    });
    ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key,
                            R"({"amount":"144","at":"2023-01-10","balance":"143.00","event":"ev009034",)"
                            R"("kind":"account_credit","person":"E4","rule":"ACC-INSVC"})")
                    .ok());
  }
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event ev009034 --person E4 --json"), &out),
            exit_code::kMismatch);
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["equal"], false);
  EXPECT_EQ(j["differences"], nlohmann::json({"amount", "detail", "month"})) << out;
  EXPECT_EQ(j["recorded"][0]["amount"], "144");
  // A movement re-derives under the store's policy only: --policy with --event is a usage error.
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event ev009034 --policy " GONGJI_SOURCE_DIR
                       "/ledger/policy/weihai.yaml 2>&1"),
                &out),
            exit_code::kUsage);
  EXPECT_NE(out.find("--policy"), std::string::npos) << out;
}

// explain --event of a payment from one's account for a family member (tests/scenarios/every_type.jsonl e23: P1 pays
// 85.20 for P2, ACC-USE) re-derives the payer's debit; a refusal (e31, UNKNOWN_FACILITY) is shown as recorded.
TEST(Cli, ExplainOfAFamilyPaymentRederivesThePayersDebitAndARefusalIsShownAsRecorded) {
  TempDir d;
  std::string out;
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " GONGJI_SOURCE_DIR "/tests/scenarios/every_type.jsonl"),
                &out),
            exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data") + " >/dev/null 2>&1"), exit_code::kOk);
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event e23"), &out), exit_code::kOk);
  EXPECT_NE(out.find("account_debit of P1, event e23 (re-derived from the log under the store's policy, "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("  amount: 85.20\n  at: 2024-05-02\n  balance: 94.80\n  beneficiary: P2\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\nthe recomputation equals the recorded account movement\n"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --event e31"), &out), exit_code::kOk);
  EXPECT_EQ(out.substr(0, out.find('\n')), "refusal of P1, event e31 (as recorded)") << out;
  EXPECT_NE(out.find("  reason: UNKNOWN_FACILITY\n"), std::string::npos) << out;
}

// A statement names each settlement's benefit, and says its deductible and limit columns are the ordinary
// outpatient's (a newcomer read a chronic claim's 0.00 / 1600.00 as its own): example E3's chronic claims E3-1 and
// E3-2 (chronic_employee.expected.jsonl: fund 1440.00 and 4950.00).
TEST(Cli, StatementNamesEachSettlementsBenefit) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "chronic_employee"));
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E3 --year 2023"), &out), exit_code::kOk);
  EXPECT_NE(out.find("date        kind            claim          benefit    status          fund     amount   "
                     "ordinary:\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("2023-02-01  settlement      E3-1           chronic    settled      1440.00"), std::string::npos)
      << out;
  EXPECT_NE(out.find("(deductible and limit used: the ordinary outpatient's on each date;"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E3 --year 2023 --format html"), &out),
            exit_code::kOk);
  EXPECT_NE(out.find("<th>benefit</th>"), std::string::npos) << out;
  EXPECT_NE(out.find("<th>ordinary limit used</th>"), std::string::npos) << out;
  EXPECT_NE(out.find("<td>E3-2</td><td>chronic</td>"), std::string::npos) << out;
}

// explain's columns line up by terminal columns, not bytes: the detail of every trace step starts in the same column
// though some articles cite "N§1" (§: 2 bytes, 1 column) or "N§2(三)" (三: 3 bytes, 2 columns), and the article
// column is as wide as the widest citation, at least 20 columns. Widths counted here by hand: a code point of
// U+3000-U+9FFF is 2 columns, any other 1.
TEST(Cli, ExplainLinesUpItsColumnsWhateverTheScript) {
  auto columns = [](const std::string& t) {
    size_t n = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      const auto b = static_cast<unsigned char>(t[i]);
      if ((b & 0xC0) == 0x80) continue;  // a continuation byte
      n += (b >= 0xE3 && b <= 0xE9) ? 2 : 1;  // U+3000-U+9FFF start with E3-E9
    }
    return n;
  };
  struct Case {
    const char *example, *claim, *person;
    size_t not_ascii, detail_at;  // steps whose article is not ASCII; "  NN. " + rule 10 + 1 + article column + 1
  };
  // E1-4: T-START [N§1; Art.40], ORD-DESIG [Art.28; N§2(二)], ORD-SCOPE [N§2(三)], all within 20 columns. E3-1:
  // T-START, CHR-REG [N§3(三)], CHR-FAC [N§3(二)] and CHR-LIM [N§3(一); Annex 2; Art.16], 26 columns.
  for (const Case& c : {Case{"employee_year", "E1-4", "E1", 3, 38}, Case{"chronic_employee", "E3-1", "E3", 4, 44}}) {
    TempDir d;
    ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", c.example));
    std::string out;
    ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim " + c.claim + " --person " + c.person), &out),
              exit_code::kOk);
    std::set<size_t> detail_at;
    size_t steps = 0, not_ascii = 0;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      const size_t close = l.find("] ");
      if (l.find(". ") != 4 || close == std::string::npos) continue;  // "  NN. RULE [article] detail"
      ++steps;
      not_ascii += columns(l.substr(0, close)) != close;
      detail_at.insert(columns(l.substr(0, l.find_first_not_of(' ', close + 1))));
    }
    EXPECT_EQ(steps, 10u) << out;
    EXPECT_EQ(not_ascii, c.not_ascii) << out;
    EXPECT_EQ(detail_at, std::set<size_t>{c.detail_at}) << out;
  }
}

// The report says which claims it counts and that its fund paid is as settled, before reversals, with the net after
// them. employee_year.expected.jsonl settles five claims: 0.00 + 451.85 + 466.67 + 280.00 + 388.15 = 1586.67 yuan
// from the fund; the example then reverses E1-3 (466.67), so 1120.00 net.
TEST(Cli, ReportSaysItsFundIsAsSettledAndGivesTheNetOfReversals) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  std::string out;
  ASSERT_EQ(run(gongji("report --data-dir " + d / "data" + " --explained 0"), &out), exit_code::kOk);
  EXPECT_NE(out.find("== gongji: 5 claims decided by the fold, by status ==\n  settled           5\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("; fund paid 1586.67 yuan as settled, 466.67 yuan taken back by 1 reversal: 1120.00 yuan net\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("== fund paid by scheme and level (yuan, as settled, before reversals) =="), std::string::npos);
}

// The report names the cases it looks for that no settlement of the data shows (issue 10 newcomer run: the demo
// explained 4 of its 5 cases without saying why); asked for no explanation, it names none.
TEST(Cli, ReportNamesTheCasesItsDataHasNoSettlementOf) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  std::string out;
  ASSERT_EQ(run(gongji("report --data-dir " + d / "data"), &out), exit_code::kOk);
  const size_t limit = out.find("\n== explained: a limit reached mid-claim ==\n");
  const size_t tcm = out.find("\n== explained: a TCM hospital ==\n");
  ASSERT_NE(limit, std::string::npos) << out;
  ASSERT_NE(tcm, std::string::npos) << out;
  EXPECT_LT(limit, tcm) << out;  // in the order of the cases, as --help lists them
  EXPECT_NE(out.find("\n(not explained: this data has no settlement showing temporary out-of-area care; a TCM item "
                     "refused under ORD-ACU; an automatic first designation)\n"),
            std::string::npos)
      << out;
  ASSERT_EQ(run(gongji("report --data-dir " + d / "data" + " --explained 0"), &out), exit_code::kOk);
  EXPECT_EQ(out.find("not explained: this data has no settlement showing"), std::string::npos) << out;
}

// A case that only a claim explaining an earlier case shows is named apart: one resident claim reaches the limit
// (explained), has TCM items ORD-ACU refuses, and designates T1 automatically.
TEST(Cli, ReportNamesTheCasesOnlyAClaimExplainingAnEarlierOneShows) {
  TempDir d;
  std::ofstream(d / "events.jsonl")
      << R"({"type":"facility_registered","id":"f1","at":"2022-01-01","facility":"T1","level":1,)"
         R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
         R"({"type":"person_enrolled","id":"p1","at":"2022-01-01","person":"R1","birth_date":"1958-09-30",)"
         R"("scheme":"resident","tier":1})" "\n"
         R"({"type":"claim","id":"c1","claim":"R1-1","person":"R1","date":"2023-06-05","benefit":"ordinary",)"
         R"("facility":"T1","diagnosis":"sprain","items":[{"category":"drug","amount":"500.00"},)"
         R"({"category":"acupuncture","amount":"20.00","therapy":"T01"},)"
         R"({"category":"tcm_other","amount":"25.00","therapy":"T17"}]})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null 2>&1")), exit_code::kOk);
  std::string out;
  ASSERT_EQ(run(gongji("report --data-dir " + d / "data"), &out), exit_code::kOk);
  EXPECT_NE(out.find("\n== explained: a limit reached mid-claim ==\nclaim R1-1 of R1"), std::string::npos) << out;
  EXPECT_NE(out.find("\n(not explained: this data has no settlement showing temporary out-of-area care; a TCM "
                     "hospital)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\n(not explained: found only in settlements that pay nothing or were used above for another "
                     "case: a TCM item refused under ORD-ACU; an automatic first designation)\n"),
            std::string::npos)
      << out;
}

// The report explains up to --explained claims, one for each case it looks for, and no claim twice: a claim that
// shows several cases (a limit reached on an automatic first designation) explains the first of them.
TEST(Cli, ReportExplainsEachClaimOnce) {
  TempDir d;
  std::ofstream(d / "events.jsonl") << generated(300);
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null")), exit_code::kOk);
  std::string out;
  ASSERT_EQ(run(gongji("report --data-dir " + d / "data" + " --explained 5"), &out), exit_code::kOk);
  std::set<std::string> claims;
  size_t sections = 0;
  for (size_t at = out.find("\n== explained: "); at != std::string::npos; at = out.find("\n== explained: ", at + 1)) {
    const size_t line = out.find("\nclaim ", at);
    ASSERT_NE(line, std::string::npos) << out.substr(at);
    ++sections;
    claims.insert(out.substr(line + 1, out.find(" (", line) - line - 1));  // "claim CL.. of P.."
  }
  EXPECT_GE(sections, 3u) << out;
  EXPECT_EQ(claims.size(), sections) << out;
}

// explain --policy is a what-if of one claim: re-derived under the other file, its differences from the record
// listed, exit 0 (a difference is the answer, not a mismatch); without --policy an equal recomputation exits 0 too.
// E1-5 reached the 2023 employee limit of 1600.00 (ORD-LIM): under 2000.00 it pays its whole 900.00 at 70%.
TEST(Cli, ExplainUnderAnotherPolicyListsTheDifferencesAndExitsZero) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  const std::string other = policy_with_2023_employee_limit("2000.00");
  std::ofstream(d / "other.yaml") << other;
  std::string out;
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-5 --policy " + d / "other.yaml"), &out),
            exit_code::kOk);
  EXPECT_EQ(out.substr(0, out.find('\n')), "what-if: claim re-derived under " + d / "other.yaml" + " (" +
                                               load_policy_text(other, "other").version() + ")");
  EXPECT_NE(out.find("\n  fund: recorded \"388.15\", what-if \"630.00\""), std::string::npos) << out;
  EXPECT_NE(out.find("\n  reasons: recorded [\"LIMIT_REACHED\"], what-if []"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("explain --data-dir " + d / "data" + " --claim E1-5"), &out), exit_code::kOk);
  EXPECT_NE(out.find("\nthe recomputation equals the recorded settlement\n"), std::string::npos) << out;
}

// audit likewise refuses a policy file of another version than the store's, naming both, and records no run: it
// checks the store against the log replayed under the store's own policy (another one's replay differed everywhere:
// 79,612 findings at the demo's size, books_hold false in the run record, and no word of the policy).
TEST(Cli, AnAuditUnderAnotherPolicyIsRefused) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  const std::string other = policy_with_2023_employee_limit("2000.00");
  std::ofstream(d / "other.yaml") << other;
  std::ofstream(d / "same.yaml") << default_policy_text();
  std::string out;
  const auto runs = [&] {  // the audit runs recorded
    return fs::exists(d / "data/audits") ? std::distance(fs::directory_iterator(d / "data/audits"), {}) : 0;
  };
  const auto audits = runs();
  EXPECT_EQ(run(gongji("audit --data-dir " + d / "data" + " --policy " + d / "other.yaml" + " 2>&1"), &out),
            exit_code::kUsage)
      << out;
  EXPECT_NE(out.find("--policy: policy " + load_policy_text(other, "o").version() +
                     " is not one this store was folded under (" + default_policy().version() + ")"),
            std::string::npos)
      << out;
  EXPECT_EQ(runs(), audits);
  EXPECT_EQ(run(gongji("audit --data-dir " + d / "data" + " --policy " + d / "same.yaml" + " >/dev/null")),
            exit_code::kOk);
}

// One ledger, one policy (DESIGN.md: a replay under another policy is a what-if, never silently mixed): `fold
// --policy` with a file of another version than the store's is refused, naming both, and changes nothing; a copy of
// the store's own policy file is accepted; without --policy a fold continues under the policy the store recorded
// (here a store folded under the other file from the start), so its audit holds.
TEST(Cli, FoldingUnderASecondPolicyIsRefused) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  const std::string other = policy_with_2023_employee_limit("2000.00");
  std::ofstream(d / "other.yaml") << other;
  std::ofstream(d / "same.yaml") << default_policy_text();
  std::string digest, out;
  ASSERT_EQ(run(gongji("digest --data-dir " + d / "data"), &digest), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " --policy " + d / "other.yaml" + " 2>&1"), &out),
            exit_code::kUsage);
  EXPECT_NE(out.find("--policy: " + d / "other.yaml" + " is policy " + load_policy_text(other, "o").version() +
                     ", but this store was folded under " + default_policy().version() +
                     ": omit --policy to fold on under the store's own"),
            std::string::npos)
      << out;
  // serve likewise, before it reaches a broker (none listens here), and as a usage error: a restart would not help.
  ASSERT_EQ(run(gongji("serve --data-dir " + d / "data" + " --brokers 127.0.0.1:1 --policy " + d / "other.yaml" +
                       " 2>&1"),
                &out),
            exit_code::kUsage)
      << out;
  EXPECT_NE(out.find("--policy: " + d / "other.yaml" + " is policy "), std::string::npos) << out;
  EXPECT_EQ(out.find("restart"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("digest --data-dir " + d / "data"), &out), exit_code::kOk);
  EXPECT_EQ(out, digest);  // nothing recorded, not even the other version
  // replay likewise: the store as it stood is the store under its own policy.
  EXPECT_EQ(run(gongji("replay --data-dir " + d / "data" + " --known-at 2099-01-01T00:00:00Z --out " + d / "then" +
                       " --policy " + d / "other.yaml" + " 2>&1"),
                &out),
            exit_code::kUsage)
      << out;
  EXPECT_FALSE(fs::exists(d / "then"));
  // person shows the store's records under its own policy: another one's limits beside them would mix the two (a
  // limit of 2,000 beside effects settled under 1,600); the store's own file is taken. (So does the query service's
  // statement, service/queries.cc.)
  for (const std::string view : {"person --person E1", "person --person E1 --as-of 2023-06-30"}) {
    EXPECT_EQ(run(gongji(view + " --data-dir " + d / "data" + " --policy " + d / "other.yaml" + " 2>&1"), &out),
              exit_code::kUsage)
        << out;
    EXPECT_NE(out.find("--policy: policy " + load_policy_text(other, "o").version() +
                       " is not one this store was folded under (" + default_policy().version() + ")"),
              std::string::npos)
        << out;
    EXPECT_EQ(run(gongji(view + " --data-dir " + d / "data" + " --policy " + d / "same.yaml" + " >/dev/null")),
              exit_code::kOk);
  }
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " --policy " + d / "same.yaml" + " 2>&1"), &out),
            exit_code::kOk)
      << out;
  // A store folded under the other policy from the start folds on under it without --policy, and audits clean.
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "two" + " " + kScenarios + "examples/employee_year.jsonl" +
                       " >/dev/null")),
            exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "two" + " --policy " + d / "other.yaml" + " >/dev/null")),
            exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "two" + " 2>&1"), &out), exit_code::kOk) << out;
  ASSERT_EQ(run(gongji("audit --data-dir " + d / "two" + " 2>&1"), &out), exit_code::kOk) << out;
  EXPECT_NE(out.find("the books hold"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("settlements --data-dir " + d / "two" + " --claim E1-5"), &out), exit_code::kOk);
  EXPECT_NE(out.find("\"policy_version\":\"" + load_policy_text(other, "o").version() + "\""), std::string::npos)
      << out;
}

// A store an older gongji folded under a text holding a key the loader does not read: it passed the key over then, as
// it does now for a text a store holds (PolicyText::stored), so the store is what that reading gives. `fold` (on
// stderr) and `audit` name the key and its line in the text; the store folds on under it and its books hold. The
// same bytes named by --policy are the store's own text, read likewise; any other text holding the key is refused.
// The built-in policy with a misspelled key in C17's row, which the loader refuses in a given file, folded (as an older
// gongji did, passing the key over) into DATA holding the worked example employee_year; returns the text.
std::string fold_under_an_older_text(const std::string& data) {
  EXPECT_EQ(run(gongji("ingest --data-dir " + data + " " + kScenarios + "examples/employee_year.jsonl >/dev/null")),
            exit_code::kOk);
  const std::string c17 = "C17: {standard: \"3000.00\",";
  std::string text = default_policy_text();
  EXPECT_NE(text.find(c17), std::string::npos);
  text.replace(text.find(c17), c17.size(), c17 + " castraton: \"1.00\",");
  auto log = open_segment_log(data + "/log", 8);
  Store(data + "/state").fold(*log, load_policy_text(text, "older", PolicyText::stored));
  return text;
}

TEST(Cli, AStoresPolicyThatHoldsAKeyTheLoaderPassesOverIsNamedByFoldAndAudit) {
  TempDir d;
  const std::string data = d / "data";
  const std::string text = fold_under_an_older_text(data);
  const Policy older = load_policy_text(text, "older", PolicyText::stored);
  const std::string passed = at_line(text, "C17: {", "the store's recorded policy") +
                             "'castraton' is not a key of chronic.standards.C17 (its keys: name, inpatient, "
                             "standard, castration); a key the loader does not read would be passed over, its "
                             "default left in force";
  std::string out;
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " 2>&1"), &out), exit_code::kOk) << out;
  const std::string warning = "the store's policy " + older.version() + " holds what the loader passes over, as it "
                              "did when the store was folded under it (a file holding it is refused now, but for the "
                              "store's own text): ";
  EXPECT_NE(out.find(warning + passed), std::string::npos) << out;
  ASSERT_EQ(run(gongji("audit --data-dir " + data + " 2>&1"), &out), exit_code::kOk) << out;
  EXPECT_NE(out.find("\n  policy " + older.version() + " passes over " + passed + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("the books hold"), std::string::npos) << out;
  std::ofstream(d / "older.yaml") << text;
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " --policy " + d / "older.yaml" + " 2>&1"), &out), exit_code::kOk)
      << out;
  EXPECT_NE(out.find(warning + at_line(text, "C17: {", d / "older.yaml") + "'castraton' is not a key"),
            std::string::npos)
      << out;
  std::ofstream(d / "other.yaml") << text + "# another text, another version\n";
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " --policy " + d / "other.yaml" + " 2>&1"), &out),
            exit_code::kFailure)
      << out;
  EXPECT_NE(out.find(at_line(text, "C17: {", d / "other.yaml") + "'castraton' is not a key of chronic.standards.C17"),
            std::string::npos)
      << out;
}

// The store's own text named by --policy is read as the store reads it wherever a --policy is taken: explain's and
// what-if's what-ifs under it differ in nothing, and the query service starts under it (it refused it at start).
TEST(Cli, TheStoresOwnTextIsTakenByEveryPolicyOption) {
  TempDir d;
  const std::string data = d / "data";
  std::ofstream(d / "older.yaml") << fold_under_an_older_text(data);
  std::string out;
  EXPECT_EQ(run(gongji("explain --data-dir " + data + " --person E1 --claim E1-1 --policy " + d / "older.yaml" +
                       " 2>&1"),
                &out),
            exit_code::kOk)
      << out;
  ASSERT_EQ(run(gongji("what-if --data-dir " + data + " --policy " + d / "older.yaml" + " --json 2>/dev/null"), &out),
            exit_code::kOk)
      << out;
  const json w = json::parse(out);
  EXPECT_EQ(w["claims_compared"], 5) << out;  // employee_year's five claims
  EXPECT_EQ(w["claims"], json::array()) << out;
  EXPECT_EQ(w["recorded_fund"], w["what_if_fund"]) << out;
  std::ofstream(d / "tokens") << "d9310c002af91822beb0b3487d8b04f85bf6bf1f8a5496bff7d35fc7c5a29def ops prometheus\n";
  EXPECT_EQ(run("timeout --preserve-status -s TERM 1.5 " +
                gongji("query --data-dir " + data + " --tokens " + d / "tokens" + " --listen 127.0.0.1:0 --policy " +
                       d / "older.yaml") +
                " >/dev/null 2>" + d / "query.err"),
            exit_code::kOk)
      << read_file(d / "query.err");
}

// Every file under `dir` with its size, in path order.
std::map<std::string, uintmax_t> files_and_sizes(const fs::path& dir) {
  std::map<std::string, uintmax_t> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = e.file_size();
  return files;
}

// A fold (or serve) whose policy is refused (another version than the store's; a file that does not load) changes
// nothing: not the store (a writable open of RocksDB alone writes a new MANIFEST, OPTIONS and LOG), not the log (a
// writable open cuts a torn tail, here bytes a crashed ingest could have left after the last record). The next fold
// cuts it.
TEST(Cli, ARefusedFoldLeavesTheStoreAndTheLogAsTheyWere) {
  TempDir d;
  const std::string data = d / "data";
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(data, "employee_year"));
  std::ofstream(d / "other.yaml") << policy_with_2023_employee_limit("2000.00");
  std::ofstream(d / "broken.yaml") << "window: {from: 2022-07-01\n";
  fs::path last;
  for (const auto& e : fs::directory_iterator(fs::path(data) / "log" / "p0000")) last = std::max(last, e.path());
  std::ofstream(last, std::ios::binary | std::ios::app) << std::string("\x07\x00\x00", 3);  // a torn tail
  const auto before = files_and_sizes(data);
  std::string out;
  EXPECT_EQ(run(gongji("fold --data-dir " + data + " --policy " + d / "other.yaml" + " 2>&1"), &out),
            exit_code::kUsage)
      << out;
  EXPECT_NE(out.find("but this store was folded under"), std::string::npos) << out;
  EXPECT_EQ(run(gongji("fold --data-dir " + data + " --policy " + d / "broken.yaml" + " 2>&1"), &out),
            exit_code::kFailure)
      << out;
  EXPECT_NE(out.find(d / "broken.yaml"), std::string::npos) << out;
  EXPECT_EQ(run(gongji("serve --data-dir " + data + " --brokers 127.0.0.1:1 --policy " + d / "other.yaml" + " 2>&1"),
                &out),
            exit_code::kUsage)
      << out;
  EXPECT_EQ(files_and_sizes(data), before);
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " 2>&1"), &out), exit_code::kOk) << out;
  EXPECT_EQ(fs::file_size(last), before.at(fs::relative(last, data).string()) - 3) << out;
}

// statement's text header names the scheme as of the year's last day, and says when there is none: a person
// enrolled from 2024-03-01 has no scheme on 2023-12-31, nothing paid, and every day of 2023 without a limit.
TEST(Cli, StatementOfAYearBeforeEnrolmentSaysNoScheme) {
  TempDir d;
  std::ofstream(d / "events.jsonl") << R"({"type":"person_enrolled","id":"p1","at":"2024-03-01","person":"R9",)"
                                       R"("birth_date":"1960-01-01","scheme":"resident","tier":1})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null 2>&1")), exit_code::kOk);
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R9 --year 2023"), &out), exit_code::kOk);
  EXPECT_EQ(out.substr(0, out.find('\n')), "Statement for R9, 2023 (no scheme on 2023-12-31)") << out;
  EXPECT_NE(out.find("\nfund paid 0.00; account credits 0.00, debits 0.00\n"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R9 --year 2023 --format json"), &out),
            exit_code::kOk);
  const json s = json::parse(out);
  EXPECT_TRUE(s["scheme"].is_null()) << out;
  ASSERT_EQ(s["daily"].size(), 365u);
  for (const auto& day : s["daily"]) EXPECT_TRUE(day["limit"].is_null()) << day;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R9 --year 2023 --format html --out " +
                       d / "s.html")),
            exit_code::kOk);
  const std::string page = read_file(d / "s.html");
  EXPECT_NE(page.find("<p>Scheme: no scheme on 2023-12-31. Fund paid this year: <b>0.00</b>"), std::string::npos);
  // --out naming a FIFO (like /dev/null or /dev/stdout, no regular file) writes into it and leaves it a FIFO: the
  // atomic write's rename put a regular file in its place (as root, `--out /dev/null` replaced /dev/null).
  const std::string fifo = d / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string reader = "timeout 20 cat " + fifo + " > " + d / "piped.txt";  // a writer never comes: 20 s
  ASSERT_EQ(run("timeout 20 " + gongji("statement --data-dir " + d / "data" + " --person R9 --year 2023 --out " + fifo +
                                       " & " + reader + "; wait $!")),  // nor a reader
            exit_code::kOk);
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_EQ(read_file(d / "piped.txt").substr(0, 44), "Statement for R9, 2023 (no scheme on 2023-12")
      << read_file(d / "piped.txt");
  EXPECT_FALSE(fs::exists(fifo + ".partial"));
  // A symlink (as /dev/stdout is one) to a file not there yet: the file is written, the link stays.
  fs::create_symlink("named.txt", d / "link");
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R9 --year 2023 --out " + d / "link")),
            exit_code::kOk);
  EXPECT_TRUE(fs::is_symlink(d / "link"));
  EXPECT_EQ(read_file(d / "named.txt"), read_file(d / "piped.txt"));
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R9 --year 2024"), &out), exit_code::kOk);
  EXPECT_EQ(out.substr(0, out.find('\n')), "Statement for R9, 2024 (resident)") << out;
}

// statement without --year is of the person's last year with a dated record, from the log alone (no clock): E1's
// reversal of 2024-01-05 of a 2023 claim makes it 2024 (its row takes back the claim's 1120.00: ORD-DED 300.00 of
// 2000.00, ORD-LIM 1600.00 covered of 1700.00, ORD-RATIO 70%); R9, enrolled on 2025-03-01
// with no record, gets the enrolment's year; an unknown person is not found.
TEST(Cli, StatementWithoutAYearIsOfThePersonsLastRecordedYear) {
  TempDir d;
  std::ofstream(d / "events.jsonl")
      << R"({"type":"facility_registered","id":"f1","at":"2022-07-01","facility":"F1","name":"F1","level":1,)"
         R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
         R"({"type":"person_enrolled","id":"p1","at":"2022-07-01","person":"E1","birth_date":"1975-03-15",)"
         R"("scheme":"employee","status":"in_service"})" "\n"
         R"({"type":"person_enrolled","id":"p2","at":"2025-03-01","person":"R9","birth_date":"1960-01-01",)"
         R"("scheme":"resident","tier":1})" "\n"
         R"({"type":"claim","id":"c1","claim":"C1","person":"E1","facility":"F1","date":"2023-12-20",)"
         R"("benefit":"ordinary","items":[{"category":"drug","amount":"2000.00"}]})" "\n"
         R"({"type":"claim_reversed","id":"r1","at":"2024-01-05","person":"E1","claim":"C1"})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), exit_code::kOk);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null 2>&1")), exit_code::kOk);
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E1"), &out), exit_code::kOk);
  EXPECT_EQ(out.substr(0, out.find('\n')), "Statement for E1, 2024 (employee)") << out;
  EXPECT_NE(out.find("\nfund paid -1120.00; account credits 0.00, debits 0.00\n"), std::string::npos) << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R9 --format json"), &out), exit_code::kOk);
  EXPECT_EQ(json::parse(out)["year"], 2025) << out;
  EXPECT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person X1 2>/dev/null")), exit_code::kNotFound);
}

// CHR-*: the text statement of a person with chronic registrations ends with the chronic accumulators of each
// scheme period of the year (its limit on its last day, what it consumed by the year's end) and the registrations
// (example chronic_employee: E3's employee bucket, its
// expected person_state on 2023-12-31: deductible 900.00, limit 7100.00 used in full; fund 1440.00 + 4950.00 for
// claims E3-1 and E3-2; each registration in effect from the day after its approval, CHR-REG). With E3 moved to the
// resident scheme on 2023-09-01 (P-CHANGE), the employee period ends on 08-31 with the same figures, the
// registrations end with the scheme, and the resident period, with no registration in effect, has no bucket; a
// reversal of E3-2 dated in the resident period restores into the employee period's figures. A
// person without any (example employee_year's E1) has no such lines; 2022, before T-START's chronic benefit, has
// registrations and no bucket; 2027, past the policy's window in June, has its claim of March.
TEST(Cli, StatementTextShowsTheChronicAccumulatorsOfEachSchemePeriod) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "chronic", "chronic_employee"));
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "chronic" + " --person E3 --year 2023"), &out), 0);
  const std::string bucket = "(employee), bucket employee: deductible paid 900.00, limit used 7100.00 of 7100.00, "
                             "fund paid 6390.00\n";
  const std::string want = "chronic outpatient, 2023:\n  2023-01-01 to 2023-12-31 " + bucket +
                           "  disease C20 (employee): in effect from 2022-12-21\n"
                           "  disease C13 (employee): in effect from 2022-12-21\n"
                           "  disease C31 (employee): in effect from 2023-05-19\n";
  EXPECT_NE(out.find(want), std::string::npos) << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "chronic" + " --person E3 --year 2023 --format html"), &out), 0);
  EXPECT_NE(out.find("<pre>" + want), std::string::npos) << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "chronic" + " --person E3 --year 2022"), &out), 0);
  EXPECT_EQ(out.find("bucket"), std::string::npos) << out;
  std::ofstream(d / "moved.jsonl") << R"({"type":"scheme_changed","id":"mv1","at":"2023-09-01","person":"E3",)"
                                      R"("scheme":"resident","tier":1})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "chronic" + " " + d / "moved.jsonl >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "chronic" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "chronic" + " --person E3 --year 2023"), &out), 0);
  const std::string moved = "chronic outpatient, 2023:\n  2023-01-01 to 2023-08-31 " + bucket +
                            "  disease C20 (employee): in effect from 2022-12-21, ended 2023-09-01 (scheme changed)\n"
                            "  disease C13 (employee): in effect from 2022-12-21, ended 2023-09-01 (scheme changed)\n"
                            "  disease C31 (employee): in effect from 2023-05-19, ended 2023-09-01 (scheme changed)\n";
  EXPECT_NE(out.find(moved), std::string::npos) << out;
  // The text says the reason in words; the JSON keeps the code's spelling (replay/statement.cc chronic_of_year).
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "chronic" + " --person E3 --year 2023 --format json"), &out), 0);
  EXPECT_EQ(json::parse(out)["chronic"]["registrations"][0]["end_reason"], "scheme_changed") << out;
  // E3-2 (covered 5500.00, fund 4950.00, no deductible) reversed on 2023-10-01, in the resident period: restored into
  // its own, employee period (POLICY.md §4), which is then left with E3-1's figures.
  std::ofstream(d / "reversed.jsonl") << R"({"type":"claim_reversed","id":"rv1","at":"2023-10-01","person":"E3",)"
                                         R"("claim":"E3-2"})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "chronic" + " " + d / "reversed.jsonl >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "chronic" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "chronic" + " --person E3 --year 2023"), &out), 0);
  EXPECT_NE(out.find("  2023-01-01 to 2023-08-31 (employee), bucket employee: deductible paid 900.00, limit used "
                     "1600.00 of 7100.00, fund paid 1440.00\n"),
            std::string::npos)
      << out;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "ordinary", "employee_year"));
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "ordinary" + " --person E1 --year 2023"), &out), 0);
  EXPECT_EQ(out.find("chronic outpatient"), std::string::npos) << out;
  // 2027, whose year outlasts the policy's window (to 2027-06-30): E3's chronic claim of March is in the figures.
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "late", "chronic_employee"));
  std::ofstream(d / "2027.jsonl") << R"({"type":"claim","id":"c27","claim":"E3-27","person":"E3","date":"2027-03-01",)"
                                     R"("benefit":"chronic","items":[{"category":"drug","amount":"2500.00"}],)"
                                     R"("facility":"H2","disease":"C20"})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "late" + " " + d / "2027.jsonl >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "late" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("settlements --data-dir " + d / "late" + " --claim E3-27"), &out), 0);
  const nlohmann::json settled = nlohmann::json::parse(out.substr(0, out.find('\n')));
  ASSERT_EQ(settled["status"], "settled") << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "late" + " --person E3 --year 2027"), &out), 0);
  EXPECT_NE(out.find("  2027-01-01 to 2027-12-31 (employee), bucket employee: deductible paid "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("fund paid " + settled["fund"].get<std::string>() + "\n  disease"), std::string::npos) << out;
}

// CHR-*: a person enrolled in April has one chronic period, from enrolment to the year's end. Of two diseases
// approved on 04-10 (in effect from 04-11, CHR-REG), C13 is revoked on 04-11: it never took effect, gives the limit
// nothing and is listed as never in effect. So C20 (standard 3000.00) is the first disease (100%), pro-rated for
// April to December (CHR-PRORATE): limit 3000.00 x 9/12 = 2250.00, where counting C13 first (4000.00, by higher
// standard) would make it (4000.00 + 1500.00) x 9/12 = 4125.00. The claim of 4000.00 at a level-2 hospital: deductible
// 900.00 (CHR-DED), 3100.00 above it, covered up to the limit 2250.00 at the in-service inpatient ratio 90% (CHR-RATIO,
// as in example chronic_employee at H2): fund 2025.00. E8, whose only disease is revoked on its approval day (before
// it would take effect), has no chronic figures at all, only the registration's line.
TEST(Cli, StatementChronicPeriodStartsAtEnrolmentAndLeavesOutARegistrationThatNeverTookEffect) {
  TempDir d;
  std::ofstream(d / "events.jsonl")
      << R"({"type":"facility_registered","id":"f1","at":"2022-01-01","facility":"H2","name":"H2","level":2,)"
         R"("tcm":false,"kind":"hospital","ordinary_outpatient":true})" "\n"
         R"({"type":"person_enrolled","id":"e1","at":"2023-04-01","person":"E9","birth_date":"1970-01-01",)"
         R"("scheme":"employee","status":"in_service"})" "\n"
         R"({"type":"chronic_facility_designated","id":"e2","at":"2023-04-01","person":"E9","facility":"H2"})" "\n"
         R"({"type":"chronic_disease_approved","id":"e3","at":"2023-04-10","person":"E9","disease":"C20"})" "\n"
         R"({"type":"chronic_disease_approved","id":"e4","at":"2023-04-10","person":"E9","disease":"C13"})" "\n"
         R"({"type":"chronic_disease_revoked","id":"e5","at":"2023-04-11","person":"E9","disease":"C13"})" "\n"
         R"({"type":"claim","id":"e6","claim":"E9-1","person":"E9","date":"2023-06-01","benefit":"chronic",)"
         R"("items":[{"category":"drug","amount":"4000.00"}],"facility":"H2","disease":"C20"})" "\n"
         R"({"type":"person_enrolled","id":"e7","at":"2023-04-01","person":"E8","birth_date":"1970-01-01",)"
         R"("scheme":"employee","status":"in_service"})" "\n"
         R"({"type":"chronic_disease_approved","id":"e8","at":"2023-04-10","person":"E8","disease":"C13"})" "\n"
         R"({"type":"chronic_disease_revoked","id":"e9","at":"2023-04-10","person":"E8","disease":"C13"})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null 2>&1")), 0);
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E9 --year 2023"), &out), 0);
  EXPECT_NE(out.find("chronic outpatient, 2023:\n"
                     "  2023-04-01 to 2023-12-31 (employee), bucket employee: deductible paid 900.00, limit used "
                     "2250.00 of 2250.00, fund paid 2025.00\n"
                     "  disease C20 (employee): in effect from 2023-04-11\n"
                     "  disease C13 (employee): never in effect (from 2023-04-11), ended 2023-04-11 (revoked)\n"),
            std::string::npos)
      << out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E9 --year 2023 --format json"), &out), 0);
  const json chronic = json::parse(out)["chronic"];
  ASSERT_EQ(chronic["periods"].size(), 1u) << chronic;
  EXPECT_EQ(chronic["periods"][0]["from"], "2023-04-01");
  EXPECT_EQ(chronic["periods"][0]["buckets"]["employee"]["limit"], "2250.00") << chronic;
  ASSERT_EQ(chronic["registrations"].size(), 2u) << chronic;
  EXPECT_EQ(chronic["registrations"][1]["end_reason"], "revoked") << chronic;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E8 --year 2023"), &out), 0);
  EXPECT_NE(out.find("chronic outpatient, 2023:\n"
                     "  disease C13 (employee): never in effect (from 2023-04-11), ended 2023-04-10 (revoked)\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("bucket"), std::string::npos) << out;
}

// ORD-TYPE, CHR-*, TIME-ORDER: R1, a resident, changes to the employee scheme on 2023-03-01 and has C17 approved
// that day; a chronic claim of 1500.00 on 03-10 is settled in that employee period (CHR-DED 900.00, 600.00 above it
// at 90%: 540.00); then a change back to resident dated 03-01 is logged, which supersedes the employee period on its
// first day and ends the registration (CHR-CHANGE) before it took effect. The claim's effects count in the period
// its service date is in as now known (ORD-TYPE: the resident's from 03-01), and the statement's chronic section
// shows them there, with the registration's limit (0.00, never in effect); it left them out (the time-travel
// fuzzing of session 53), then showed them in the superseded period, 03-01 to 03-01, until session 54.
TEST(Cli, StatementShowsAChronicClaimOfAPeriodSupersededOnItsFirstDay) {
  TempDir d;
  std::ofstream(d / "events.jsonl")
      << R"({"type":"facility_registered","id":"f1","at":"2022-07-01","facility":"H2","name":"H2","level":2,)"
         R"("tcm":false,"kind":"hospital","ordinary_outpatient":true})" "\n"
         R"({"type":"person_enrolled","id":"e1","at":"2022-01-01","person":"R1","birth_date":"1965-01-01",)"
         R"("scheme":"resident","tier":1})" "\n"
         R"({"type":"scheme_changed","id":"e2","at":"2023-03-01","person":"R1","scheme":"employee",)"
         R"("status":"flexible"})" "\n"
         R"({"type":"chronic_facility_designated","id":"e3","at":"2023-03-01","person":"R1","facility":"H2"})" "\n"
         R"({"type":"chronic_disease_approved","id":"e4","at":"2023-03-01","person":"R1","disease":"C17"})" "\n"
         R"({"type":"claim","id":"e5","claim":"a","person":"R1","facility":"H2","date":"2023-03-10",)"
         R"("benefit":"chronic","disease":"C17","items":[{"category":"drug","amount":"1500.00"}]})" "\n"
         R"({"type":"scheme_changed","id":"e6","at":"2023-03-01","person":"R1","scheme":"resident","tier":1})" "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "data" + " > /dev/null 2>&1")), 0);
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person R1 --year 2023 --format json"), &out), 0);
  const json chronic = json::parse(out)["chronic"];
  ASSERT_EQ(chronic["periods"].size(), 1u) << chronic;
  const json& period = chronic["periods"][0];
  EXPECT_EQ(period["from"], "2023-03-01");
  EXPECT_EQ(period["to"], "2023-12-31");
  EXPECT_EQ(period["scheme"], "resident");
  EXPECT_EQ(period["buckets"]["employee"]["deductible_paid"], "900.00") << chronic;
  EXPECT_EQ(period["buckets"]["employee"]["limit_used"], "600.00") << chronic;
  EXPECT_EQ(period["buckets"]["employee"]["fund_paid"], "540.00") << chronic;
  EXPECT_EQ(period["buckets"]["employee"]["limit"], "0.00") << chronic;
}

// statement: the year's entries with running values as of each entry's date (TIME-ASOF), as text, JSON and an
// HTML page that renders in headless Chromium.
TEST(Cli, StatementTextJsonAndHtmlInChromium) {
  TempDir d;
  ASSERT_NO_FATAL_FAILURE(ingest_and_fold_example(d / "data", "employee_year"));
  std::string out;
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E1 --year 2023 --format json"), &out), 0);
  json s = json::parse(out);
  std::vector<std::string> kinds;
  for (auto& e : s["entries"]) kinds.push_back(e["kind"].get<std::string>() + ":" + e.value("claim", ""));
  EXPECT_EQ(kinds, (std::vector<std::string>{"settlement:E1-1", "settlement:E1-2", "settlement:E1-3", "reversal:E1-3",
                                             "settlement:E1-4", "settlement:E1-5"}));
  EXPECT_EQ(s["entries"][2]["limit_used"], "1578.83");   // as of 03-08, the reversal of 03-10 not yet
  EXPECT_EQ(s["entries"][3]["limit_used"], "645.50");    // as of 03-10
  EXPECT_EQ(s["entries"][5]["limit_used"], "1600.00");
  EXPECT_EQ(s["totals"]["fund_paid"], "1120.00");        // 0 + 451.85 + 466.67 - 466.67 + 280 + 388.15
  EXPECT_EQ(s["daily"].size(), 365u);
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E1 --year 2023"), &out), 0);
  EXPECT_EQ(out.substr(0, out.find('\n')), "Statement for E1, 2023 (employee)");  // the scheme as a word, unquoted
  EXPECT_NE(out.find("E1-5"), std::string::npos);
  EXPECT_NE(out.find("fund paid 1120.00"), std::string::npos);
  // The page, rendered by a real browser.
  ASSERT_EQ(run(gongji("statement --data-dir " + d / "data" + " --person E1 --year 2023 --format html --out " +
                       d / "s.html")),
            0);
  const std::string chromium = "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic "
                               "--no-first-run "
                               "--disable-background-networking --disable-component-update --disable-sync "
                               "--user-data-dir=" + d / "profile" + " --window-size=900,900 ";
  ASSERT_EQ(run(chromium + "--screenshot=" + d / "s.png" + " file://" + d / "s.html" + " >/dev/null 2>&1"), 0)
      << "headless Chromium failed (ops/install-deps.sh installs it)";
  std::string png = read_file(d / "s.png");
  ASSERT_GT(png.size(), 20000u) << "the screenshot looks empty";
  EXPECT_EQ(png.substr(1, 3), "PNG");
  std::string dom;
  ASSERT_EQ(run(chromium + "--dump-dom file://" + d / "s.html" + " 2>/dev/null", &dom), 0);
  EXPECT_NE(dom.find("年度结算单"), std::string::npos);
  EXPECT_NE(dom.find("E1-5"), std::string::npos);
  EXPECT_NE(dom.find("<svg id=\"chart\""), std::string::npos);
  EXPECT_NE(dom.find("1120.00"), std::string::npos);
}

// A broker that never answers: serve fails, naming the call, once a call has been retried for --broker-wait seconds
// (default 60; a timed-out init_transactions is retriable, and 20 attempts of 60 s each kept it waiting 20 minutes,
// --idle-exit or not). 5 s here: the wait is the bound, not the first call's 60 s timeout.
TEST(ServeOnAnUnreachableBroker, FailsWithinTheBrokerWait) {
  TempDir d;
  const auto start = std::chrono::steady_clock::now();
  std::string out;  // librdkafka's own lines (starting with %) left out
  run("(timeout 600 " +
          gongji("serve --data-dir " + d / "data" + " --brokers 127.0.0.1:1 --idle-exit 1 --broker-wait 5") +
          " 2>&1; echo \"exit $?\") | grep -v '^%'",
      &out);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::seconds(5)) << out;
  EXPECT_LT(took, std::chrono::seconds(30)) << out;
  EXPECT_NE(out.find("exit " + std::to_string(exit_code::kFailure) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("gongji serve: error: init_transactions: "), std::string::npos) << out;
  EXPECT_NE(out.find("(still failing after "), std::string::npos) << out;
  EXPECT_EQ(run(gongji("serve --data-dir " + d / "data" + " --brokers 127.0.0.1:1 --broker-wait 0 2>/dev/null")),
            exit_code::kUsage);
}

}  // namespace
}  // namespace gongji::test
