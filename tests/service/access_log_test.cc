// Issue 11 item 2: the access log's hash chain, its retention, the tokens file and SHA-256 (service/auth.h,
// service/access_log.h).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "consumers/exit_codes.h"
#include "log/event_log.h"
#include "service/access_log.h"
#include "service/auth.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;

std::vector<json> lines_of(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(read_file(path));
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  return out;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

// FIPS 180-2 test vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Tokens, HashesRolesAndNamesAreReadAndBadLinesNamed) {
  TempDir d;
  write(d / "tokens", "# sha256 role name\n\n" + sha256_hex("s3cret") + " desk desk-anna\n" + sha256_hex("x") +
                          " ops prometheus\n");
  TokenTable t = TokenTable::load(d / "tokens");
  EXPECT_EQ(t.size(), 2u);
  ASSERT_TRUE(t.authenticate("s3cret"));
  EXPECT_EQ(t.authenticate("s3cret")->name, "desk-anna");
  EXPECT_EQ(t.authenticate("s3cret")->role, Role::desk);
  EXPECT_FALSE(t.authenticate("S3cret"));
  EXPECT_FALSE(t.authenticate(""));
  EXPECT_FALSE(t.authenticate(sha256_hex("s3cret")));  // the hash is not a token
  write(d / "bad", sha256_hex("a") + " admin root\n");
  try {
    TokenTable::load(d / "bad");
    FAIL();
  } catch (const TokenFileError& e) {
    EXPECT_EQ(std::string(e.what()), "tokens file " + d / "bad" + ":1: field 'role': expected desk, auditor, ops or "
                                                                    "intake, got 'admin'");
  }
  write(d / "bad", "\nplaintext-token desk anna\n");
  EXPECT_THROW(TokenTable::load(d / "bad"), TokenFileError);
  // One hash, two lines: which role would a token have? Refused, naming both lines.
  write(d / "bad", sha256_hex("a") + " desk anna\n# x\n" + sha256_hex("a") + " auditor bo\n");
  try {
    TokenTable::load(d / "bad");
    FAIL();
  } catch (const TokenFileError& e) {
    EXPECT_EQ(std::string(e.what()), "tokens file " + d / "bad" + ":3: field 'sha256': the same hash as line 1 "
                                                                    "(one token, one role)");
  }
  // Only comments: a service that would answer 401 to everyone is refused at the start.
  write(d / "bad", "# sha256 role name\n\n");
  try {
    TokenTable::load(d / "bad");
    FAIL();
  } catch (const TokenFileError& e) {
    EXPECT_EQ(std::string(e.what()), "tokens file " + d / "bad" + ": holds no token, so every request would be "
                                                                    "refused (401); add a line 'sha256 role name'");
  }
}

TEST(Roles, EachRoleReadsItsAreasOnly) {
  EXPECT_TRUE(role_allows(Role::desk, Area::person));
  EXPECT_FALSE(role_allows(Role::desk, Area::audit));
  EXPECT_FALSE(role_allows(Role::desk, Area::ops));
  EXPECT_TRUE(role_allows(Role::auditor, Area::person));
  EXPECT_TRUE(role_allows(Role::auditor, Area::audit));
  EXPECT_FALSE(role_allows(Role::auditor, Area::ops));
  EXPECT_FALSE(role_allows(Role::ops, Area::person));
  EXPECT_FALSE(role_allows(Role::ops, Area::audit));
  EXPECT_TRUE(role_allows(Role::ops, Area::ops));
}

TEST(RateLimit, ABurstOfTheRateThenOneEachIntervalPerToken) {
  RateLimiter r(5);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.admit("a", t0)) << i;
  EXPECT_FALSE(r.admit("a", t0));
  EXPECT_TRUE(r.admit("b", t0));  // another token has its own bucket
  EXPECT_TRUE(r.admit("a", t0 + std::chrono::milliseconds(200)));
  EXPECT_FALSE(r.admit("a", t0 + std::chrono::milliseconds(200)));
}

TEST(AccessLog, LinesAreChainedAndNameTheReader) {
  TempDir d;
  const auto t = AccessLog::Clock::time_point(std::chrono::milliseconds(1764590400123));  // 2025-12-01T12:00:00.123Z
  AccessLog log(d / "access.jsonl");
  log.append({"desk-anna", "desk", "http", "person", "P1", "", 200}, t);
  log.append({"desk-anna", "desk", "http", "claim", "P1", "CL7", 404}, t);
  const std::string text = read_file(d / "access.jsonl");
  auto lines = lines_of(d / "access.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            R"({"at":"2025-12-01T12:00:00.123Z","who":"desk-anna","role":"desk","via":"http",)"
            R"("endpoint":"person","person":"P1","status":200,"prev":")" +
                std::string(64, '0') + "\"}");
  EXPECT_EQ(lines[1]["claim"], "CL7");
  EXPECT_EQ(lines[1]["prev"], sha256_hex(text.substr(0, text.find('\n'))));
  auto v = AccessLog::verify(d / "access.jsonl");
  EXPECT_EQ(v.lines, 2u);
  EXPECT_TRUE(v.findings.empty());
}

// A read that fails (here: a directory where the file should be, whose read(2) fails with EISDIR) is refused by
// `verify`, not taken for the end of the file: it reported an access log it could not read as sound, with no line.
TEST(AccessLog, AReadThatFailsIsRefusedNotTakenForTheEnd) {
  TempDir d;
  fs::create_directories(d / "access.log");
  try {
    const AccessLog::Verification v = AccessLog::verify(d / "access.log");
    ADD_FAILURE() << "verified what it could not read: " << v.lines << " lines, " << v.findings.size() << " findings";
  } catch (const LogError& e) {
    EXPECT_EQ(std::string(e.what()), "input/output error: " + d / "access.log");
  }
}

TEST(AccessLog, AnEditedRemovedOrInsertedLineBreaksTheChain) {
  TempDir d;
  {
    AccessLog log(d / "a.jsonl");
    for (const char* p : {"P1", "P2", "P3", "P4"}) log.append({"desk-anna", "desk", "http", "person", p, "", 200});
  }
  const std::string clean = read_file(d / "a.jsonl");
  std::string edited = clean;
  edited.replace(edited.find("\"P2\""), 4, "\"P9\"");
  write(d / "a.jsonl", edited);
  auto v = AccessLog::verify(d / "a.jsonl");
  ASSERT_EQ(v.findings.size(), 1u);
  EXPECT_EQ(v.findings[0].substr(0, 44), "line 3: 'prev' is not the SHA-256 of line 2 ");
  std::string removed = clean;
  const size_t second = removed.find('\n') + 1;
  removed.erase(second, removed.find('\n', second) + 1 - second);
  write(d / "a.jsonl", removed);
  EXPECT_EQ(AccessLog::verify(d / "a.jsonl").findings.size(), 1u);
  std::string cut = clean.substr(clean.find('\n') + 1);  // the first line removed
  write(d / "a.jsonl", cut);
  EXPECT_EQ(AccessLog::verify(d / "a.jsonl").findings.size(), 1u);
  // The command line's check: exit 6 naming the line.
  write(d / "a.jsonl", edited);
  std::string out;
  EXPECT_EQ(run(gongji("access-log verify --file " + d / "a.jsonl"), &out), exit_code::kFindings);
  EXPECT_NE(out.find("line 3: 'prev' is not the SHA-256 of line 2"), std::string::npos) << out;
  write(d / "a.jsonl", clean);
  EXPECT_EQ(run(gongji("access-log verify --file " + d / "a.jsonl"), &out), exit_code::kOk);
  EXPECT_EQ(out, "the access log holds: 4 lines chained\n");
  // --data-dir: the data directory's access log, the one the commands append to (unless $GONGJI_ACCESS_LOG names
  // another); neither --file nor --data-dir is a usage error naming both.
  fs::create_directories(d / "data");
  write(d / "data/access-log.jsonl", edited);
  EXPECT_EQ(run("env -u GONGJI_ACCESS_LOG " + gongji("access-log verify --data-dir " + d / "data"), &out),
            exit_code::kFindings);
  EXPECT_NE(out.find("line 3: 'prev' is not the SHA-256 of line 2"), std::string::npos) << out;
  EXPECT_EQ(run("GONGJI_ACCESS_LOG=" + d / "a.jsonl" + " " + gongji("access-log verify --data-dir " + d / "data"),
                &out),
            exit_code::kOk);
  EXPECT_EQ(run(gongji("access-log verify") + " 2>&1", &out), exit_code::kUsage);
  EXPECT_NE(out.find("--file or --data-dir"), std::string::npos) << out;
}

// Appenders in several threads (and processes: each append locks the file with flock) never break the chain.
TEST(AccessLog, ConcurrentAppendersKeepOneChain) {
  TempDir d;
  AccessLog log(d / "a.jsonl");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      AccessLog own(d / "a.jsonl");  // another handle on the same file, as another process would have
      for (int i = 0; i < 25; ++i)
        (i % 2 ? own : log).append({"w" + std::to_string(t), "desk", "http", "person", "P" + std::to_string(i), "",
                                    200});
    });
  for (auto& t : threads) t.join();
  auto v = AccessLog::verify(d / "a.jsonl");
  EXPECT_EQ(v.lines, 100u);
  EXPECT_TRUE(v.findings.empty()) << v.findings.front();
}

// The service's threads share one AccessLog: their lines are committed in groups (one write and one fdatasync a
// group), each chained to the one before, every thread's lines in its own order.
TEST(AccessLog, GroupCommitKeepsEveryLineChainedAndInEachThreadsOrder) {
  TempDir d;
  AccessLog log(d / "a.jsonl");
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i)
        log.append({"w" + std::to_string(t), "desk", "http", "person", "P" + std::to_string(i), "", 200});
    });
  for (auto& t : threads) t.join();
  auto v = AccessLog::verify(d / "a.jsonl");
  EXPECT_EQ(v.lines, 640u);
  EXPECT_TRUE(v.findings.empty()) << v.findings.front();
  std::map<std::string, int> next;  // per writer, the next P it must have logged
  std::istringstream in(read_file(d / "a.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["person"], "P" + std::to_string(next[j["who"]]++)) << line;
  }
  EXPECT_EQ(next.size(), 16u);
}

// A group whose write fails fails every append in it: no answer leaves unlogged.
TEST(AccessLog, AFailedGroupWriteFailsEveryAppendInIt) {
  TempDir d;
  fs::create_directories(d / "sub");
  AccessLog log(d / "sub/a.jsonl");
  fs::remove_all(d / "sub");
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      try {
        log.append({"w", "desk", "http", "person", "P", "", 200});
      } catch (const LogError& e) {
        if (std::string(e.what()) == "no such file or directory: " + d / "sub/a.jsonl") ++failed;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 8);
}

TEST(AccessLog, RetentionDropsOldLinesAndKeepsTheChainVerifiable) {
  TempDir d;
  using namespace std::chrono;
  const AccessLog::Clock::time_point now = AccessLog::Clock::now();
  {
    AccessLog log(d / "a.jsonl");  // no retention: everything kept
    log.append({"w", "desk", "http", "person", "OLD1", "", 200}, now - hours(24 * 40));
    log.append({"w", "desk", "http", "person", "OLD2", "", 200}, now - hours(24 * 31));
    log.append({"w", "desk", "http", "person", "NEW1", "", 200}, now - hours(24 * 29));
    log.append({"w", "desk", "http", "person", "NEW2", "", 200}, now - hours(1));
  }
  AccessLog kept(d / "a.jsonl", 30);  // opening prunes
  auto lines = lines_of(d / "a.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["kind"], "pruned");
  EXPECT_EQ(lines[0]["dropped"], 2);
  EXPECT_EQ(lines[1]["person"], "NEW1");
  EXPECT_EQ(lines[2]["person"], "NEW2");
  EXPECT_TRUE(AccessLog::verify(d / "a.jsonl").findings.empty());
  kept.append({"w", "desk", "http", "person", "NEW3", "", 200}, now);
  EXPECT_TRUE(AccessLog::verify(d / "a.jsonl").findings.empty());
  EXPECT_EQ(kept.prune(now), 0u);
  // A header is valid only as the first line: one moved into the middle is a finding.
  std::string text = read_file(d / "a.jsonl");
  const std::string header = text.substr(0, text.find('\n') + 1);
  write(d / "a.jsonl", text.substr(header.size()) + header);
  EXPECT_FALSE(AccessLog::verify(d / "a.jsonl").findings.empty());
}

// Retention refuses to drop lines whose chain is broken (dropping them would hide the break), naming the line, and
// stops at a line whose `at` is not a timestamp (such a line is kept, not dropped).
TEST(AccessLog, RetentionRefusesABrokenChainAndKeepsLinesWithoutATime) {
  TempDir d;
  using namespace std::chrono;
  const AccessLog::Clock::time_point now = AccessLog::Clock::now();
  {
    AccessLog log(d / "a.jsonl");
    for (const char* p : {"OLD1", "OLD2", "OLD3"})
      log.append({"w", "desk", "http", "person", p, "", 200}, now - hours(24 * 40));
    log.append({"w", "desk", "http", "person", "NEW1", "", 200}, now - hours(1));
  }
  const std::string clean = read_file(d / "a.jsonl");
  std::string edited = clean;
  edited.replace(edited.find("\"OLD2\""), 6, "\"OLDX\"");  // line 3's prev no longer matches
  write(d / "a.jsonl", edited);
  try {
    AccessLog kept(d / "a.jsonl", 30);
    FAIL() << "pruned over a broken chain";
  } catch (const LogError& e) {
    EXPECT_EQ(std::string(e.what()), "access log " + d / "a.jsonl" + ": line 3: 'prev' is not the SHA-256 of line 2 "
                                     "(line 2 or 3 was edited, inserted or removed); not pruned "
                                     "(`gongji access-log verify`)");
  }
  EXPECT_EQ(read_file(d / "a.jsonl"), edited);  // nothing dropped
  // An `at` that is not a timestamp stops the drop: OLD1 goes; the line without a time and all after it stay.
  const std::string b = d / "b.jsonl";
  AccessLog(b).append({"w", "desk", "http", "person", "OLD1", "", 200}, now - hours(24 * 40));
  const std::string first = read_file(b);
  write(b, first + R"({"at":"yesterday","who":"w","prev":")" + sha256_hex(first.substr(0, first.size() - 1)) +
               "\"}\n");
  AccessLog(b).append({"w", "desk", "http", "person", "OLD3", "", 200}, now - hours(24 * 40));
  AccessLog(b).append({"w", "desk", "http", "person", "NEW1", "", 200}, now - hours(1));
  AccessLog kept(b, 30);
  auto lines = lines_of(b);
  ASSERT_EQ(lines.size(), 4u) << read_file(b);
  EXPECT_EQ(lines[0]["dropped"], 1);
  EXPECT_EQ(lines[1]["at"], "yesterday");
  EXPECT_EQ(lines[2]["person"], "OLD3");
  EXPECT_EQ(lines[3]["person"], "NEW1");
  EXPECT_TRUE(AccessLog::verify(b).findings.empty());
}

// A disk that fills part-way through a line (a real tmpfs) leaves no part of it: the read it records is refused
// (the append throws), the chain stays whole, and with room again the next line chains to the last whole one.
// Before, the fragment stayed: a verify finding for good, and a prune (the query service's start) refused.
TEST(AccessLog, ADiskFillingPartWayThroughALineLeavesNoPartOfIt) {
  TempDir d;
  Tmpfs t(d / "mnt", "64k");
  if (!t.mounted) GTEST_SKIP() << "mount -t tmpfs is not permitted here (" << t.error << "): needs root";
  const std::string file = t.path + "/a.jsonl";
  const std::string who(700, 'w');  // lines of about 900 bytes: one crosses a page with part of it written
  size_t whole = 0;
  {
    AccessLog log(file);
    try {
      for (;; ++whole) log.append({who, "desk", "http", "person", "P" + std::to_string(whole), "", 200});
    } catch (const LogError& e) {
      EXPECT_EQ(std::string(e.what()), "no space left on device: " + file);
    }
  }
  ASSERT_GT(whole, 10u);
  EXPECT_EQ(lines_of(file).size(), whole);
  EXPECT_TRUE(read_file(file).ends_with("\n"));
  EXPECT_EQ(AccessLog::verify(file).findings, std::vector<std::string>{});
  ASSERT_TRUE(t.resize("1m")) << std::strerror(errno);
  AccessLog(file).append({"desk-anna", "desk", "http", "person", "P", "", 200});
  EXPECT_EQ(AccessLog::verify(file).findings, std::vector<std::string>{});
  EXPECT_EQ(lines_of(file).size(), whole + 1);
}

// After a torn write (no newline at the end) the next entry starts a line of its own, chained to the torn one.
TEST(AccessLog, AnAppendAfterATornWriteStartsItsOwnLine) {
  TempDir d;
  const auto t = AccessLog::Clock::time_point(std::chrono::milliseconds(1764590400123));  // 2025-12-01T12:00:00.123Z
  {
    AccessLog log(d / "a.jsonl");
    log.append({"desk-anna", "desk", "http", "person", "P1", "", 200}, t);
  }
  const std::string torn = R"({"at":"2025-12-01T12:00:01.000Z","who":"desk-an)";
  write(d / "a.jsonl", read_file(d / "a.jsonl") + torn);
  EXPECT_EQ(AccessLog::verify(d / "a.jsonl").findings,
            std::vector<std::string>({"line 2: not a JSON object", "line 2: no newline at the end (a torn write)"}));
  AccessLog(d / "a.jsonl").append({"desk-anna", "desk", "http", "person", "P2", "", 200}, t);
  const std::string text = read_file(d / "a.jsonl");
  ASSERT_TRUE(text.ends_with("\n"));
  const size_t third = text.find(torn + "\n");
  ASSERT_NE(third, std::string::npos) << text;
  EXPECT_EQ(text.substr(third + torn.size() + 1),
            R"({"at":"2025-12-01T12:00:00.123Z","who":"desk-anna","role":"desk","via":"http",)"
            R"("endpoint":"person","person":"P2","status":200,"prev":")" +
                sha256_hex(torn) + "\"}\n");
  EXPECT_EQ(AccessLog::verify(d / "a.jsonl").findings, std::vector<std::string>({"line 2: not a JSON object"}));
}

}  // namespace
}  // namespace gongji::test

namespace gongji::test {
namespace {

// The worked example employee_year ingested and folded into the data directory `data` by the command line.
void fold_example(const std::string& data) {
  const std::string ex = std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/examples/employee_year.jsonl";
  ASSERT_EQ(run(gongji("ingest --data-dir " + data + " " + ex + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + data + " >/dev/null")), 0);
}

// Issue 11 item 2 through the command line: person, statement, explain and settlements --person append to
// DATA/access-log.jsonl by default, once the person is resolved (explain --claim without --person: the claim's
// person), by the OS user; --access-log FILE (and $GONGJI_ACCESS_LOG) name another file.
TEST(AccessLogCli, ReadsOfAPersonGoToTheDataDirsLogByDefault) {
  TempDir d;
  const std::string data = d / "data", log = data + "/access-log.jsonl";
  ASSERT_NO_FATAL_FAILURE(fold_example(data));
  ASSERT_EQ(run(gongji("digest --data-dir " + data + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("report --explained 0 --data-dir " + data + " >/dev/null")), 0);
  EXPECT_FALSE(fs::exists(log)) << "no person's data was read";
  for (std::string cmd : {"person --person E1", "statement --person E1", "explain --claim E1-2",
                          "settlements --person E1", "settlements --claim E1-2"})
    ASSERT_EQ(run(gongji(cmd + " --data-dir " + data + " >/dev/null")), exit_code::kOk) << cmd;
  const auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), 5u);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"person", ""}, {"statement", ""}, {"explain", "E1-2"}, {"settlements", ""}, {"settlements", "E1-2"}};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["endpoint"], expected[i].first) << i;
    EXPECT_EQ(lines[i]["person"], "E1") << i << ": the person resolved from the claim";
    EXPECT_EQ(lines[i].value("claim", ""), expected[i].second) << i;
    EXPECT_EQ(lines[i]["via"], "cli");
    EXPECT_FALSE(lines[i]["who"].get<std::string>().empty());
  }
  EXPECT_TRUE(AccessLog::verify(log).findings.empty());
  // --access-log names another file; the default one is left alone.
  ASSERT_EQ(run(gongji("person --person E1 --data-dir " + data + " --access-log " + d / "other.jsonl" +
                       " >/dev/null")), 0);
  EXPECT_EQ(lines_of(d / "other.jsonl").size(), 1u);
  EXPECT_EQ(lines_of(log).size(), 5u);
  // A usage error reads nothing and logs nothing (a year outside the window; a policy the store was not folded
  // under); a lookup of someone unknown is a read, logged.
  ASSERT_EQ(run(gongji("statement --person E1 --year 2021 --data-dir " + data + " 2>/dev/null")), exit_code::kUsage);
  std::ofstream(d / "other.yaml") << policy_with_2023_employee_limit("2000.00");
  ASSERT_EQ(run(gongji("person --person E1 --policy " + d / "other.yaml" + " --data-dir " + data + " 2>/dev/null")),
            exit_code::kUsage);
  EXPECT_EQ(lines_of(log).size(), 5u);
  ASSERT_EQ(run(gongji("person --person NOBODY --data-dir " + data + " 2>/dev/null")), exit_code::kNotFound);
  ASSERT_EQ(lines_of(log).size(), 6u);
  EXPECT_EQ(lines_of(log)[5]["person"], "NOBODY");
  // A read that fails before the store is open (no store) logs nothing and creates nothing.
  EXPECT_EQ(run(gongji("person --person E1 --data-dir " + d / "none" + " 2>/dev/null")), exit_code::kFailure);
  EXPECT_FALSE(fs::exists(d / "none"));
}

// A read of every person's records is logged too, as one line without a person whose endpoint says so (the
// service's facility views likewise): settlements without --person or --claim, dead-letters, report --explained N,
// what-if's lists of claims and audit (which reads every person's state and names persons in its findings). The
// report's totals alone (--explained 0) and what-if's without a list name no one and are not logged.
TEST(AccessLogCli, AReadOfEveryPersonsRecordsIsOneLineWithoutAPerson) {
  TempDir d;
  const std::string data = d / "data", log = data + "/access-log.jsonl";
  ASSERT_NO_FATAL_FAILURE(fold_example(data));
  std::ofstream(d / "other.yaml") << policy_with_2023_employee_limit("2000.00");
  const std::string what_if = "what-if --policy " + d / "other.yaml";
  for (std::string cmd : {std::string("report --explained 0"), what_if + " --show 0"})
    ASSERT_EQ(run(gongji(cmd + " --data-dir " + data + " >/dev/null")), exit_code::kOk) << cmd;
  EXPECT_FALSE(fs::exists(log)) << "totals name no one";
  const std::vector<std::pair<std::string, std::string>> reads = {
      {"settlements", "settlements (every person)"},
      {"settlements --kind settlement", "settlements --kind settlement (every person)"},
      {"dead-letters", "dead-letters (every person)"},
      {"report --explained 2", "report --explained 2 (every person)"},
      {"report", "report --explained 5 (every person)"},
      {what_if, "what-if --show 20 (every person)"},
      {what_if + " --json", "what-if --json (every person)"},
      {"audit", "audit (every person)"}};
  for (const auto& [cmd, endpoint] : reads)
    ASSERT_EQ(run(gongji(cmd + " --data-dir " + data + " >/dev/null")), exit_code::kOk) << cmd;
  const auto lines = lines_of(log);
  ASSERT_EQ(lines.size(), reads.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["endpoint"], reads[i].second) << i;
    EXPECT_EQ(lines[i].value("person", ""), "") << i;
    EXPECT_EQ(lines[i]["via"], "cli");
  }
  EXPECT_TRUE(AccessLog::verify(log).findings.empty());
  // --access-log names another file for these reads too.
  for (std::string cmd : {std::string("settlements"), std::string("dead-letters"), std::string("report"), what_if,
                          std::string("audit")})
    ASSERT_EQ(run(gongji(cmd + " --data-dir " + data + " --access-log " + d / "other.jsonl" + " >/dev/null")),
              exit_code::kOk)
        << cmd;
  EXPECT_EQ(lines_of(d / "other.jsonl").size(), 5u);
  EXPECT_EQ(lines_of(log).size(), reads.size());
}

}  // namespace
}  // namespace gongji::test
