// Issue 11 item 5: operational log lines (oplog/oplog.h) through spdlog, in text or JSON, with levels; the
// command line's `--log-level`, `--log-format` and $GONGJI_LOG_LEVEL / $GONGJI_LOG_FORMAT.
#include <gtest/gtest.h>

#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "oplog/oplog.h"
#include "service/auth.h"
#include "tests/fixtures.h"
#include "tests/service_fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// Captures the lines of one test and restores the defaults after it.
class OpLog : public ::testing::Test {
 protected:
  void SetUp() override {
    oplog::set_sink_for_tests([this](const std::string& line) { lines_.push_back(line); });
  }
  void TearDown() override {
    oplog::set_sink_for_tests(nullptr);
    oplog::configure({});
  }
  std::vector<std::string> lines_;
};

TEST_F(OpLog, AJsonLineParsesWithLevelAndMessage) {
  oplog::configure({"gongji query", oplog::Level::info, oplog::Format::json});
  oplog::warn("listening on 0.0.0.0:8080 without TLS (\"give\" --cert\nand --key)");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].find('\n'), std::string::npos) << "one line: " << lines_[0];
  const json j = json::parse(lines_[0]);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["message"], "listening on 0.0.0.0:8080 without TLS (\"give\" --cert\nand --key)");
  EXPECT_EQ(j["program"], "gongji query");
  EXPECT_EQ(j["pid"], static_cast<long>(::getpid()));
  const std::string at = j["time"];
  ASSERT_EQ(at.size(), 24u) << at;  // 2026-12-01T12:00:00.123Z
  EXPECT_EQ(at[10], 'T');
  EXPECT_EQ(at[23], 'Z');
}

TEST_F(OpLog, TextKeepsTheCommandLineWording) {
  oplog::configure({"gongji query", oplog::Level::debug, oplog::Format::text});
  oplog::info("listening on http://127.0.0.1:8080");
  oplog::warn("listening on 0.0.0.0:8080 without TLS");
  oplog::error("catching up failed");
  oplog::debug("a detail");
  EXPECT_EQ(lines_, (std::vector<std::string>{"gongji query: listening on http://127.0.0.1:8080",
                                              "gongji query: warning: listening on 0.0.0.0:8080 without TLS",
                                              "gongji query: error: catching up failed",
                                              "gongji query: debug: a detail"}));
}

TEST_F(OpLog, LinesBelowTheLevelAreDropped) {
  oplog::configure({"gongji", oplog::Level::warn, oplog::Format::text});
  oplog::debug("d");
  oplog::info("i");
  oplog::warn("w");
  oplog::error("e");
  EXPECT_EQ(lines_, (std::vector<std::string>{"gongji: warning: w", "gongji: error: e"}));
  EXPECT_FALSE(oplog::enabled(oplog::Level::info));
  EXPECT_TRUE(oplog::enabled(oplog::Level::error));
}

TEST(OpLogParse, LevelsAndFormatsNameTheChoices) {
  EXPECT_EQ(oplog::parse_level("debug"), oplog::Level::debug);
  EXPECT_EQ(oplog::parse_level("warning"), oplog::Level::warn);
  EXPECT_EQ(oplog::parse_format("json"), oplog::Format::json);
  try {
    oplog::parse_level("loud");
    FAIL() << "a level 'loud'";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "expected a log level debug, info, warn or error, got 'loud'");
  }
  EXPECT_THROW(oplog::parse_format("xml"), std::invalid_argument);
}

// The binary: `gongji query` on a non-loopback address says "listening" (info) and warns of no TLS (warn); with
// --log-format json each stderr line is a JSON object; $GONGJI_LOG_LEVEL=error silences both; a bad level is a
// usage error naming the option.
class OpLogCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    ASSERT_NO_FATAL_FAILURE(folded_example_with_ops_token(*dir_));
  }
  static void TearDownTestSuite() { delete dir_; }
  // Runs `gongji query` on 0.0.0.0:0 for a second (then SIGTERM); returns its stderr lines.
  static std::vector<std::string> query_stderr(const std::string& env, const std::string& flags) {
    const std::string err = *dir_ / "query.err";
    const int rc = run(env + " timeout --preserve-status -s TERM 1.5 " +
                       gongji("query --data-dir " + *dir_ / "data" + " --tokens " + *dir_ / "tokens" +
                              " --listen 0.0.0.0:0 " + flags) +
                       " 2>" + err);
    EXPECT_EQ(rc, 0) << read_file(err);
    std::vector<std::string> lines;
    std::istringstream in(read_file(err));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  static TempDir* dir_;
};
TempDir* OpLogCli::dir_ = nullptr;

TEST_F(OpLogCli, JsonFormatGivesOneObjectALine) {
  const auto lines = query_stderr("", "--log-format json");
  ASSERT_EQ(lines.size(), 2u);
  const json warn = json::parse(lines[0]), info = json::parse(lines[1]);
  EXPECT_EQ(warn["level"], "warn");
  EXPECT_EQ(warn["message"], "listening on 0.0.0.0:0 without TLS (give --cert and --key)");
  EXPECT_EQ(warn["program"], "gongji query");
  EXPECT_EQ(info["level"], "info");
  EXPECT_TRUE(info["message"].get<std::string>().starts_with("listening on http://0.0.0.0:")) << lines[1];
}

TEST_F(OpLogCli, TextIsTheDefaultAndTheEnvironmentSetsTheLevel) {
  const auto text = query_stderr("", "");
  ASSERT_EQ(text.size(), 2u);
  EXPECT_EQ(text[0], "gongji query: warning: listening on 0.0.0.0:0 without TLS (give --cert and --key)");
  EXPECT_TRUE(text[1].starts_with("gongji query: listening on http://0.0.0.0:")) << text[1];
  EXPECT_TRUE(query_stderr("GONGJI_LOG_LEVEL=error", "").empty());
  EXPECT_EQ(query_stderr("GONGJI_LOG_LEVEL=error GONGJI_LOG_FORMAT=json", "--log-level warn").size(), 1u)
      << "the command line wins over the environment";
}

TEST_F(OpLogCli, AnUnknownLevelIsAUsageErrorNamingTheOption) {
  const std::string err = *dir_ / "usage.err";
  EXPECT_EQ(run(gongji("digest --data-dir " + *dir_ / "data" + " --log-level loud >/dev/null 2>" + err)), 2);
  EXPECT_NE(read_file(err).find("--log-level"), std::string::npos) << read_file(err);
}

}  // namespace
}  // namespace gongji::test
