// Issue 11 item 5: one YAML configuration file for `serve` and `query` (consumers/config.h): its keys mirror the
// long options, the command line wins, and an unknown key or a wrong type is refused naming file, line and key.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "consumers/exit_codes.h"
#include "service/auth.h"
#include "tests/fixtures.h"
#include "tests/service_fixtures.h"

namespace gongji::test {
namespace {

class Config : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    ASSERT_NO_FATAL_FAILURE(folded_example_with_ops_token(*dir_));
  }
  static void TearDownTestSuite() { delete dir_; }

  // Writes `yaml` to a file of its own; returns its path.
  static std::string file(const std::string& yaml) {
    const std::string path = *dir_ / ("config-" + std::to_string(++files_) + ".yaml");
    std::ofstream(path) << yaml;
    return path;
  }
  // The settings a runnable query needs, as YAML lines.
  static std::string basics() { return "data_dir: " + *dir_ / "data" + "\ntokens: " + *dir_ / "tokens" + "\n"; }
  // Runs `gongji query ARGS` for a second and a half (then SIGTERM, a clean exit); its exit status and stderr.
  static int query(const std::string& args, std::string* err, double seconds = 1.5) {
    const std::string errfile = *dir_ / "query.err";
    const int rc = run("timeout --preserve-status -s TERM " + std::to_string(seconds) + " " + gongji("query " + args) +
                       " >/dev/null 2>" + errfile);
    *err = read_file(errfile);
    return rc;
  }
  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  static TempDir* dir_;
  static int files_;
};
TempDir* Config::dir_ = nullptr;
int Config::files_ = 0;

TEST_F(Config, TheFileSetsOptionsAndTheCommandLineWins) {
  // data_dir and tokens (both required) come from the file; listen too; log_format is overridden; group, a key of
  // serve only, is ignored by query.
  const std::string f = file(basics() + "listen: 0.0.0.0:0\nlog_format: json\ngroup: gongji-serve\n");
  std::string err;
  ASSERT_EQ(query("--config " + f + " --log-format text", &err), 0) << err;
  auto l = lines(err);
  ASSERT_EQ(l.size(), 2u) << err;
  EXPECT_EQ(l[0], "gongji query: warning: listening on 0.0.0.0:0 without TLS (give --cert and --key)");
  EXPECT_TRUE(l[1].starts_with("gongji query: listening on http://0.0.0.0:")) << l[1];
  // The command line's --listen wins over the file's (loopback: no warning); --config=FILE is the same.
  ASSERT_EQ(query("--listen 127.0.0.1:0 --config=" + f + " --log-format=text", &err), 0) << err;
  l = lines(err);
  ASSERT_EQ(l.size(), 1u) << err;
  EXPECT_TRUE(l[0].starts_with("gongji query: listening on http://127.0.0.1:")) << l[0];
  // Without the command line's --log-format, the file's json holds.
  ASSERT_EQ(query("--config " + f, &err), 0) << err;
  for (const auto& line : lines(err)) EXPECT_TRUE(line.starts_with("{\"level\":")) << line;
}

// The example file shipped for the systemd units (ops/gongji.yaml) holds only keys of `query` and `serve`: loaded by
// query, with the paths it names (under /var/lib and /etc) given on the command line instead, it runs. A key renamed
// in the CLI and not in the file would stop both units from starting.
TEST_F(Config, TheShippedExampleFileIsTakenWhole) {
  std::string err;
  EXPECT_EQ(query("--config " + std::string(GONGJI_SOURCE_DIR) + "/ops/gongji.yaml --data-dir " + *dir_ / "data" +
                      " --tokens " + *dir_ / "tokens" + " --access-log " + *dir_ / "shipped-access.jsonl" +
                      " --listen 127.0.0.1:0",
                  &err),
            0)
      << err;
}

TEST_F(Config, AnUnknownKeyIsRefusedNamingFileLineAndKey) {
  const std::string f = file(basics() + "listen: 127.0.0.1:0\nlisen: 127.0.0.1:9\n");
  std::string err;
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_EQ(err, "gongji query: " + f + ":4: unknown key 'lisen' (the keys are the long options of `gongji query` "
                 "and `gongji serve` with '_' for '-', e.g. listen, tokens, data_dir)\n");
  // The option's own spelling is not a key.
  EXPECT_EQ(query("--config " + file(basics() + "ready-lag: 5\n"), &err), exit_code::kUsage);
  EXPECT_NE(err.find(":3: unknown key 'ready-lag'"), std::string::npos) << err;
}

TEST_F(Config, AWrongTypeIsRefusedNamingFileLineAndKey) {
  std::string err;
  std::string f = file(basics() + "rate:\n  - 1\n  - 2\n");
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_EQ(err, "gongji query: " + f + ":3: key 'rate': expected one value (a string, a number, true or false), "
                 "got a list\n");
  f = file(basics() + "rate: fast\n");
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_NE(err.find("gongji query: " + f + ":3: key 'rate': "), std::string::npos) << err;
  EXPECT_NE(err.find("fast"), std::string::npos) << err;
  f = file("access_log_keep_days: 1.5\n" + basics());
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_NE(err.find("gongji query: " + f + ":1: key 'access_log_keep_days': "), std::string::npos) << err;
  f = file(basics() + "log_level: loud\n");
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_NE(err.find("gongji query: " + f + ":3: key 'log_level': "), std::string::npos) << err;
  f = file(basics() + "listen:\n");
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_NE(err.find(f + ":3: key 'listen': expected one value"), std::string::npos) << err;
}

TEST_F(Config, AFileThatIsNotYamlOrNotAMapIsRefused) {
  std::string err;
  std::string f = file(basics() + "listen: [127.0.0.1:0\n");
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_NE(err.find("gongji query: " + f + ":"), std::string::npos) << err;
  EXPECT_NE(err.find(": not YAML: "), std::string::npos) << err;
  f = file("- listen\n- tokens\n");
  EXPECT_EQ(query("--config " + f, &err), exit_code::kUsage);
  EXPECT_EQ(err, "gongji query: " + f + ":1: expected a map of settings (key: value), got a list\n");
  EXPECT_EQ(query("--config " + *dir_ / "absent.yaml", &err), exit_code::kUsage);
  EXPECT_EQ(err, "gongji query: " + *dir_ / "absent.yaml" + ": cannot read the configuration file\n");
}

}  // namespace
}  // namespace gongji::test
