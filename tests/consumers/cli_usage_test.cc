// Issue 8 item 8: every command-line mistake is a usage error (exit_code::kUsage) with a message naming the option,
// CLI11's own parse errors included; runtime failures exit kFailure; --help exits 0 and lists the exit statuses.
#include <gtest/gtest.h>

#include <tuple>

#include <dlfcn.h>

#include <fstream>

#include "consumers/exit_codes.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"

namespace gongji {
namespace {

using test::TempDir;

// One small folded data directory for the whole suite (the mistakes below must not depend on an empty store).
class CliUsage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    std::ofstream(*dir_ / "events.jsonl") << test::generated(20);
    data_ = *dir_ / "data";
    ASSERT_EQ(test::run(test::gongji("ingest --data-dir " + data_ + " " + (*dir_ / "events.jsonl") + " >/dev/null")),
              exit_code::kOk);
    ASSERT_EQ(test::run(test::gongji("fold --data-dir " + data_ + " >/dev/null")), exit_code::kOk);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // Runs gongji with `args`; returns the exit status, stderr in `err` (stdout in `out` when given).
  static int gongji(const std::string& args, std::string* err, std::string* out = nullptr) {
    std::string o;
    int rc = test::run(test::gongji(args) + " 2>" + (*dir_ / "stderr"), &o);
    *err = test::read_file(*dir_ / "stderr");
    if (out) *out = o;
    return rc;
  }
  static TempDir* dir_;
  static std::string data_;
};
TempDir* CliUsage::dir_ = nullptr;
std::string CliUsage::data_;

#define EXPECT_USAGE(args, named)                                                        \
  do {                                                                                   \
    std::string err_;                                                                    \
    EXPECT_EQ(gongji(args, &err_), exit_code::kUsage) << (args) << "\n" << err_;         \
    EXPECT_NE(err_.find(named), std::string::npos) << (args) << ": stderr was\n" << err_; \
    EXPECT_EQ(err_.find("stoll"), std::string::npos) << err_;                            \
    EXPECT_EQ(err_.find("stoi"), std::string::npos) << err_;                             \
  } while (0)

TEST_F(CliUsage, HelpExitsZeroAndListsTheExitStatuses) {
  std::string err, out;
  EXPECT_EQ(gongji("--help", &err, &out), exit_code::kOk);
  EXPECT_NE(out.find("Exit status: 0 ok; 1 failure"), std::string::npos) << out;
  EXPECT_NE(out.find("2 usage"), std::string::npos) << out;
  EXPECT_NE(out.find("6 audit, log verify or access-log verify: findings"), std::string::npos) << out;
  EXPECT_EQ(gongji("statement --help", &err, &out), exit_code::kOk);
}

// Issue 10: the programs allocate through jemalloc (CMakeLists.txt), not glibc's malloc. jemalloc reads MALLOC_CONF
// and, asked to, prints its statistics at exit: only a process whose allocator it is does. This test binary answers
// jemalloc's own control call, which glibc does not have.
TEST_F(CliUsage, ProgramsAllocateThroughJemalloc) {
  using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
  const auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  ASSERT_NE(mallctl, nullptr);
  const char* version = nullptr;
  size_t size = sizeof version;
  ASSERT_EQ(mallctl("version", &version, &size, nullptr, 0), 0);
  EXPECT_EQ(std::string(version).substr(0, 2), "5.") << version;
  EXPECT_EQ(test::run("MALLOC_CONF=stats_print:true " + test::gongji("--help") + " >/dev/null 2>" + (*dir_ / "stderr")),
            exit_code::kOk);
  EXPECT_NE(test::read_file(*dir_ / "stderr").find("Begin jemalloc statistics"), std::string::npos);
  EXPECT_EQ(test::run("MALLOC_CONF=stats_print:true " + std::string(GONGJI_GENERATE_BIN) +
                      " --people 1 >/dev/null 2>" + (*dir_ / "stderr")),
            exit_code::kOk);
  EXPECT_NE(test::read_file(*dir_ / "stderr").find("Begin jemalloc statistics"), std::string::npos);
}

TEST_F(CliUsage, UnknownSubcommandOrOption) {
  EXPECT_USAGE("frobnicate --data-dir " + data_, "unknown subcommand 'frobnicate'");
  EXPECT_USAGE("log frobnicate --data-dir " + data_, "unknown subcommand 'frobnicate'");
  EXPECT_USAGE("", "subcommand");  // none at all
  EXPECT_USAGE("digest --data-dir " + data_ + " --colour", "--colour");
  EXPECT_USAGE("person --data-dir " + data_, "--person");  // a required option missing
  // An option the command does not take, named in the order given (CLI11 said "The following arguments were not
  // expected: 2023-06-30 --as-of").
  EXPECT_USAGE("report --data-dir " + data_ + " --as-of 2023-06-30",
               "gongji report: not an option or argument of this command: --as-of 2023-06-30\n");
}

// CLI11's own parse errors name the command they are about, and whose --help to read, as gongji's own errors do.
TEST_F(CliUsage, ParseErrorsNameTheirCommand) {
  std::string err;
  EXPECT_EQ(gongji("settlements --data-dir " + data_ + " --kind payout", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji settlements: --kind: payout not in {settlement,")) << err;
  EXPECT_NE(err.find("\nRun 'gongji settlements --help' for more information.\n"), std::string::npos) << err;
  EXPECT_EQ(gongji("log truncate --partition 0 --offset 1", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji log truncate: --data-dir is required\n")) << err;
  EXPECT_NE(err.find("Run 'gongji log truncate --help'"), std::string::npos) << err;
  // A mistyped required option is named, not only the option it missed.
  EXPECT_EQ(gongji("person --data-dir " + data_ + " --persn P1", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji person: not an option or argument of this command: --persn P1; and --person "
                              "is required\n"))
      << err;
  // Not words after "--" (a required option missing is said first), nor a parent command's: those are CLI11's
  // message as it was; words after "--" that nothing takes are named in the order given.
  EXPECT_EQ(gongji("person --data-dir " + data_ + " -- --person P1", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji person: --person is required\n")) << err;
  EXPECT_EQ(gongji("settlements --data-dir " + data_ + " -- --claim X", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji settlements: after --, every word is an argument, and this command does not "
                              "take --claim X\n"))
      << err;
  // Words before "--" that nothing took as well: named first (CLI11 named only X).
  EXPECT_EQ(gongji("settlements --data-dir " + data_ + " --kindd x -- X", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji settlements: not an option or argument of this command: --kindd x; and after "
                              "--, every word is an argument, and this command does not take X\n"))
      << err;
  // An option's value spelled like the word after "--" is not taken for it.
  EXPECT_EQ(gongji("settlements --data-dir " + data_ + " -- " + data_, &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji settlements: after --, every word is an argument, and this command does not "
                              "take " + data_ + "\n"))
      << err;
  EXPECT_EQ(gongji("log --bogus truncate --partition 0 --offset 1", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji log: --data-dir is required\n")) << err;
  EXPECT_EQ(gongji("log truncate --bogus --partition 0 --offset 1", &err), exit_code::kUsage);
  EXPECT_TRUE(err.starts_with("gongji log truncate: not an option or argument of this command: --bogus; and "
                              "--data-dir is required\n"))
      << err;
  EXPECT_EQ(gongji("frobnicate", &err), exit_code::kUsage);
  EXPECT_EQ(err, "gongji: unknown subcommand 'frobnicate'\nRun 'gongji --help' for more information.\n");
  EXPECT_EQ(gongji("log frobnicate --help", &err), exit_code::kUsage);
  EXPECT_EQ(err, "gongji log: unknown subcommand 'frobnicate'\nRun 'gongji log --help' for more information.\n");
}

TEST_F(CliUsage, NumberThatDoesNotParse) {
  // Said as the other usage errors say it (CLI11 said "Could not convert: --year = twenty").
  EXPECT_USAGE("statement --data-dir " + data_ + " --person P1 --year twenty",
               "gongji statement: --year: expected a year YYYY, got 'twenty'\n");
  // Four decimal digits, as the query service takes a year (CLI11 read 02023 as octal 1043, took 0x7e7 for 2023).
  for (const char* year : {"02023", "03747", "0x7e7", "+2023", "' 2023'", "''", "2023.0"})
    EXPECT_USAGE("statement --data-dir " + data_ + " --person P1 --year " + year,
                 "gongji statement: --year: expected a year YYYY, got '");
  EXPECT_USAGE("fold --data-dir " + data_ + " --batch 2k",  // CLI11's Range said "Value 2k not in range 1 to 1000000"
               "gongji fold: --batch: '2k' is not a whole number from 1 to 1000000\n");
  EXPECT_USAGE("report --data-dir " + data_ + " --explained 3000000000",
               "gongji report: --explained: '3000000000' is out of range\n");
  EXPECT_USAGE("fold --data-dir " + data_ + " --checkpoint-every 99999999999999999999",
               "--checkpoint-every: '99999999999999999999' is larger than any count this option takes");
  EXPECT_USAGE("report --data-dir " + data_ + " --explained five", "--explained");
  EXPECT_USAGE("ingest --data-dir " + data_ + " --partitions 0 " + (*dir_ / "events.jsonl"), "--partitions");
  EXPECT_USAGE("ingest --data-dir " + data_ + " --partitions eight " + (*dir_ / "events.jsonl"), "--partitions");
}

TEST_F(CliUsage, YearOutsideThePolicyWindow) {
  EXPECT_USAGE("statement --data-dir " + data_ + " --person P1 --year 2031",
               "--year: 2031 is outside the policy window 2022-07-01 to 2027-06-30");
  EXPECT_USAGE("statement --data-dir " + data_ + " --person P1 --year 2021", "--year: 2021");
}

// An empty id is a mistake, never "every person" (settlements --person "" listed every record of the store).
TEST_F(CliUsage, EmptyIdsAreRefused) {
  EXPECT_USAGE("settlements --data-dir " + data_ + " --person ''", "--person: expected an id, got ''");
  EXPECT_USAGE("settlements --data-dir " + data_ + " --claim ''", "--claim: expected an id, got ''");
  EXPECT_USAGE("person --data-dir " + data_ + " --person ''", "--person: expected an id, got ''");
  EXPECT_USAGE("explain --data-dir " + data_ + " --claim ''", "--claim: expected an id, got ''");
  EXPECT_USAGE("explain --data-dir " + data_ + " --event ''", "--event: expected an id, got ''");
  EXPECT_USAGE("statement --data-dir " + data_ + " --person ''", "--person: expected an id, got ''");
}

TEST_F(CliUsage, EmptyOrMalformedDate) {
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --as-of ''", "--as-of");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --as-of 2023-02-30",
               "--as-of: '2023-02-30' is not a day of the calendar (2023-02 has 28 days)");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --as-of 2024-02-30", "(2024-02 has 29 days)");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --as-of 2023/03/01", "--as-of");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --as-of 1899-12-31",  // was "expected a date YYYY-MM-DD"
               "--as-of: '1899-12-31' is before 1900 (no date before 1900-01-01 is taken)");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --as-of 0000-01-01", "'0000-01-01' is before 1900");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --known-at 2023-13-01T00:00:00Z", "--known-at");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --known-at ''", "--known-at");
}

TEST_F(CliUsage, KnownAtNamingAPartitionThatDoesNotExist) {
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --known-at 8:0",
               "--known-at: partition 8 does not exist (the log has partitions 0 to 7)");
  EXPECT_USAGE("replay --data-dir " + data_ + " --known-at 0:5,99:1 --out " + (*dir_ / "replayed"),
               "--known-at: partition 99 does not exist");
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "replayed")) << "a usage error changes nothing";
  for (const std::string& inside : {data_ + "/log/p0003/state", data_ + "/x/state", data_ + "/./state.creating"})
    EXPECT_USAGE("replay --data-dir " + data_ + " --known-at 0:5 --out " + inside,  // the second fault hunt
                 "--out " + inside + ": inside the data dir " + data_ + " (replay writes a new store outside the data "
                 "dir it reads: name a directory elsewhere)");
  EXPECT_FALSE(std::filesystem::exists(data_ + "/x")) << "a usage error changes nothing";
  for (const auto& [cwd, data, out] : {std::tuple{data_, ".", "new/state"}, {data_ + "/log", "..", "q/state"}}) {
    std::string err;  // relative paths (weakly_canonical keeps them relative: the second review)
    EXPECT_EQ(test::run("cd " + cwd + " && " + test::gongji("replay --data-dir " + std::string(data) +
                                                            " --known-at 0:5 --out " + out) + " 2>&1", &err),
              exit_code::kUsage) << cwd << " " << out << ": " << err;
    EXPECT_NE(err.find(std::string("--out ") + out + ": inside the data dir"), std::string::npos) << err;
  }
  EXPECT_FALSE(std::filesystem::exists(data_ + "/new") || std::filesystem::exists(data_ + "/log/q"));
  std::filesystem::create_directories(*dir_ / "taken");  // a newcomer's finding: an --out that exists
  EXPECT_USAGE("replay --data-dir " + data_ + " --known-at 0:5 --out " + (*dir_ / "taken"),
               "--out " + (*dir_ / "taken") + ": already exists (replay writes a new store there: name a new "
               "directory)");
  std::filesystem::create_directories(*dir_ / "busy.partial");  // a replay's work, left or still in use
  EXPECT_USAGE("replay --data-dir " + data_ + " --known-at 0:5 --out " + (*dir_ / "busy"),
               "--out " + (*dir_ / "busy") + ": " + (*dir_ / "busy.partial") + " exists: left by a replay that did "
               "not finish (not a whole store), or by one whose --out appeared while it ran");
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "busy"));
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --known-at 0:abc", "--known-at: offset 'abc'");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --known-at x:1", "--known-at: partition 'x'");
  // A partition named twice was its last offset; a trailing ',' was nothing.
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --known-at 0:3,0:4",
               "--known-at: partition 0 is given twice in '0:3,0:4'");
  EXPECT_USAGE("replay --data-dir " + data_ + " --known-at 0:4, --out " + (*dir_ / "trailing"),
               "--known-at: nothing follows the last ',' in '0:4,'");
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "trailing"));
}

// A value that would silently mean something else is a usage error naming the option, nothing changed: an empty
// --brokers (an unset variable's) was "no broker" (ingest appended to the embedded log, exit 0; serve ran with no
// bootstrap servers); replay --out '' replayed the whole log into ./.partial, then exit 1; --rate nan turned the
// rate limit off; --access-log '' was the default file.
TEST_F(CliUsage, AnEmptyOrMeaninglessValueIsNeverTakenForNotGiven) {
  const std::string events = (*dir_ / "events.jsonl");
  EXPECT_USAGE("ingest --data-dir " + (*dir_ / "fresh") + " --brokers '' " + events,
               "--brokers: expected bootstrap servers HOST:PORT[,HOST:PORT...], got ''");
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "fresh"));
  EXPECT_USAGE("fold --data-dir " + data_ + " --brokers ' '", "--brokers: expected bootstrap servers");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --brokers ''", "--brokers: expected bootstrap servers");
  EXPECT_USAGE("serve --data-dir " + (*dir_ / "member") + " --brokers ''", "--brokers: expected bootstrap servers");
  EXPECT_USAGE("ingest --data-dir " + data_ + " --brokers 127.0.0.1:1 --events-topic '' " + events,
               "--events-topic: expected a topic name of 1 to 249 letters, digits, '.', '_' or '-', got ''");
  EXPECT_USAGE("serve --data-dir " + (*dir_ / "member") + " --brokers 127.0.0.1:1 --settlements-topic 'a b'",
               "--settlements-topic: expected a topic name");
  const std::string cwd_before = std::filesystem::current_path().string();
  EXPECT_USAGE("replay --data-dir " + data_ + " --known-at 0:1 --out ''", "--out: expected a directory name, got ''");
  EXPECT_FALSE(std::filesystem::exists(".partial"));
  for (const char* rate : {"nan", "NaN", "-nan", "inf", "0", "1e10", "5/s"})
    EXPECT_USAGE("query --data-dir " + data_ + " --tokens " + events + " --rate " + rate,
                 "--rate: '" + std::string(rate) + "' is not a number of requests a second from 0.001 to 1e9");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --access-log ''", "--access-log: expected a file name");
  EXPECT_USAGE("person --data-dir " + data_ + " --person P1 --access-log " + dir_->path.string(),
               "--access-log: '" + dir_->path.string() + "' is a directory, expected a file");
  EXPECT_USAGE("query --data-dir " + data_ + " --tokens " + events + " --access-log ''",
               "--access-log: expected a file name");
  EXPECT_USAGE("serve --data-dir " + (*dir_ / "member") + " --brokers 127.0.0.1:1 --tokens " + events +
                   " --listen 127.0.0.1:0 --access-log " + dir_->path.string(),
               "--access-log: '" + dir_->path.string() + "' is a directory, expected a file");
}

TEST_F(CliUsage, UnknownKind) {
  EXPECT_USAGE("settlements --data-dir " + data_ + " --kind payout", "--kind");
  std::string err, out;
  EXPECT_EQ(gongji("settlements --data-dir " + data_ + " --kind dead_letter", &err, &out), exit_code::kOk) << err;
}

TEST_F(CliUsage, DirectoryWhereAFileIsExpected) {
  const std::string d = dir_->path.string();
  EXPECT_USAGE("ingest --data-dir " + (*dir_ / "other") + " " + d, "is a directory, expected a file");
  EXPECT_USAGE("ingest --data-dir " + (*dir_ / "other") + " " + (*dir_ / "missing.jsonl"), "no such file");
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "other")) << "a usage error creates nothing";
  EXPECT_USAGE("fold --data-dir " + data_ + " --policy " + d, "--policy");
  EXPECT_USAGE("what-if --data-dir " + data_ + " --policy " + d, "--policy");
  EXPECT_USAGE("statement --data-dir " + data_ + " --person P1 --out " + d, "--out");
}

// A file named as the data directory, or as one of its parents, is a usage error naming it (it was exit 1, "no store
// in FILE/state"), for every command that takes one, and the file is left as it was.
TEST_F(CliUsage, FileWhereTheDataDirectoryIsExpected) {
  const std::string file = *dir_ / "a-file";
  std::ofstream(file) << "not a data directory\n";
  for (std::string cmd : {"ingest " + file, std::string("fold"), std::string("person --person P1"),
                          std::string("settlements"), std::string("serve --brokers 127.0.0.1:1"),
                          std::string("access-log verify")})
    EXPECT_USAGE(cmd + " --data-dir " + file, "--data-dir: '" + file + "' is not a directory");
  EXPECT_USAGE("fold --data-dir " + file + "/sub", "--data-dir: '" + file + "' is not a directory");
  EXPECT_EQ(std::filesystem::file_size(file), 21u);
}

// serve takes and gives back whole assignments: a --kafka-config asking for cooperative-sticky's incremental
// rebalancing (which librdkafka would refuse at serve's first rebalance) is refused before anything is opened.
TEST_F(CliUsage, ServeRefusesIncrementalRebalancing) {
  const std::string conf = *dir_ / "coop.conf", data = *dir_ / "coop-data";
  std::ofstream(conf) << "# a consumer of the shop's defaults\npartition.assignment.strategy = cooperative-sticky\n";
  EXPECT_USAGE("serve --brokers 127.0.0.1:1 --data-dir " + data + " --kafka-config " + conf,
               "--kafka-config: " + conf + ": partition.assignment.strategy=cooperative-sticky: serve takes and gives "
               "back whole assignments");
  EXPECT_FALSE(std::filesystem::exists(data)) << "a refused serve creates no store";
  std::ofstream(conf) << "group.protocol=consumer\n";  // KIP-848: incremental too
  EXPECT_USAGE("serve --brokers 127.0.0.1:1 --data-dir " + data + " --kafka-config " + conf,
               "--kafka-config: " + conf + ": group.protocol=consumer: serve takes and gives back whole assignments "
               "(the classic group protocol, eager rebalancing); the consumer protocol (KIP-848) is not supported");
  EXPECT_FALSE(std::filesystem::exists(data));
  std::ofstream(conf) << "linger.ms 5\n";  // not key=value: refused by every command that takes it
  for (const std::string& cmd : {std::string("serve"), std::string("fold"), "ingest " + conf})
    EXPECT_USAGE(cmd + " --brokers 127.0.0.1:1 --data-dir " + data + " --kafka-config " + conf,
                 conf + ":1: expected key=value");
  EXPECT_FALSE(std::filesystem::exists(data));
}

TEST_F(CliUsage, CountsOutOfTheirDomain) {
  EXPECT_USAGE("fold --data-dir " + data_ + " --batch -1", "--batch");
  EXPECT_USAGE("fold --data-dir " + data_ + " --batch 0", "--batch");
  EXPECT_USAGE("serve --data-dir " + data_ + " --brokers 127.0.0.1:1 --batch 0",
               "--batch: '0' is not a whole number from 1 to 1000000");
  EXPECT_USAGE("serve --data-dir " + data_ + " --brokers 127.0.0.1:1 --transaction-records 010000001",
               "--transaction-records: '010000001' is not a whole number from 1 to 10000000");
  EXPECT_USAGE("query --data-dir " + data_ + " --threads 1025",
               "--threads: '1025' is not a whole number from 1 to 1024");
  EXPECT_USAGE("fold --data-dir " + data_ + " --checkpoint-every -1", "--checkpoint-every");
  EXPECT_USAGE("report --data-dir " + data_ + " --explained -3", "--explained");
  EXPECT_USAGE("what-if --data-dir " + data_ + " --policy " GONGJI_SOURCE_DIR "/ledger/policy/weihai.yaml --show -1",
               "--show: '-1' is not a whole number of 0 or more");  // CLI11 gave a 309-digit bound
  EXPECT_USAGE("serve --data-dir " + data_ + " --brokers 127.0.0.1:1 --idle-exit -5", "--idle-exit");
  EXPECT_USAGE("serve --data-dir " + data_ + " --brokers 127.0.0.1:1 --stop-grace 0", "--stop-grace");
  EXPECT_USAGE("log truncate --data-dir " + data_ + " --partition 0 --offset -1", "--offset");
  EXPECT_USAGE("log truncate --data-dir " + data_ + " --partition 99 --offset 1", "--partition 99: the log has "
                                                                                  "partitions 0 to 7");
}

// `log truncate` past a partition's end drops nothing and says so; it never calls a sound log damaged.
TEST_F(CliUsage, TruncatePastTheEndSaysNothingToDrop) {
  std::string err;
  EXPECT_EQ(gongji("log truncate --data-dir " + data_ + " --partition 0 --offset 100000", &err), exit_code::kFailure);
  EXPECT_NE(err.find("nothing to drop: partition 0 ends at offset "), std::string::npos) << err;
  EXPECT_EQ(err.find("damaged"), std::string::npos) << err;
}

// Output that cannot be written (a full disk behind `>`) fails the command with the wording of issue 8 item 3;
// so does input that cannot be read (reading /proc/self/mem at offset 0 fails with EIO).
TEST_F(CliUsage, UnwritableOutputAndUnreadableInputFail) {
  std::string err;
  // Each names the cause, the errno of the write that failed (/dev/full: ENOSPC); `report` said "input/output error"
  // (the errno at exit, C stdio's buffer having lost the write's), from the full-disk hunt of session 49.
  for (const std::string command : {"settlements", "report", "digest", "dead-letters", "person --person P0000001"}) {
    EXPECT_EQ(gongji(command + " --data-dir " + data_ + " >/dev/full", &err), exit_code::kFailure) << err;
    EXPECT_TRUE(err.ends_with(": no space left on device: standard output\n")) << command << ": " << err;
  }
  for (const std::string help : {"--help", "report --help"}) {  // --help too (it exited 0, from the review)
    EXPECT_EQ(gongji(help + " >/dev/full", &err), exit_code::kFailure) << help << ": " << err;
    EXPECT_TRUE(err.ends_with("gongji: no space left on device: standard output\n")) << help << ": " << err;
  }
  EXPECT_EQ(gongji("ingest --data-dir " + (*dir_ / "eio") + " /proc/self/mem", &err), exit_code::kFailure) << err;
  EXPECT_NE(err.find("input/output error: /proc/self/mem (reading stopped after line 0"), std::string::npos) << err;
}

// The log keeps its partition count: a different --partitions on an existing log is refused, not ignored.
TEST_F(CliUsage, PartitionsOtherThanTheExistingLogs) {
  EXPECT_USAGE("ingest --data-dir " + data_ + " --partitions 4 /dev/null", "--partitions 4: the log in " + data_ +
                                                                              " already has 8 partitions");
  std::string err;
  EXPECT_EQ(gongji("ingest --data-dir " + data_ + " --partitions 8 /dev/null", &err), exit_code::kOk) << err;
}

// A statement that cannot be written is an error naming the file, not an exit 0 with nothing written.
TEST_F(CliUsage, StatementThatCannotBeWrittenFails) {
  std::string err;
  const std::string out = "/proc/self/no-such-dir/p.html";
  EXPECT_EQ(gongji("statement --data-dir " + data_ + " --person P0000001 --out " + out, &err), exit_code::kFailure);
  EXPECT_NE(err.find("no such file or directory: " + out), std::string::npos) << err;
}

// A policy file with a value it refuses is a failure (exit 1, as --help's exit statuses say), naming the file and
// the line, for every command that reads a policy file.
TEST_F(CliUsage, ARefusedPolicyFileFailsNamingTheFileAndLine) {
  const std::string path = *dir_ / "bad-policy.yaml";
  std::string text = default_policy_text();
  const size_t at = text.find("value: \"1600.00\"}");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 17, "value: \"16OO.00\"}");
  std::ofstream(path) << text;
  const std::string said = test::at_line(text, "16OO.00", path) +
                           "ordinary.limit.employee: expected an amount in yuan, got '16OO.00'";
  for (const std::string& command : {"policy --policy " + path, "what-if --data-dir " + data_ + " --policy " + path,
                                     "audit --data-dir " + data_ + " --policy " + path}) {
    std::string err;
    EXPECT_EQ(gongji(command, &err), exit_code::kFailure) << command << "\n" << err;
    EXPECT_NE(err.find(said), std::string::npos) << command << ": stderr was\n" << err;
  }
}

// A runtime failure is not a usage error: a data directory without a store exits kFailure.
TEST_F(CliUsage, RuntimeFailureExitsFailureNotUsage) {
  std::string err;
  EXPECT_EQ(gongji("digest --data-dir " + (*dir_ / "nothing-here"), &err), exit_code::kFailure) << err;
  EXPECT_NE(err.find("nothing-here"), std::string::npos) << err;
}

}  // namespace
}  // namespace gongji
