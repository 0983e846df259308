// projections/: the fold over the real log and RocksDB: determinism, crash safety, dead letters.
#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "tests/fixtures.h"

namespace gongji::test {
namespace {

// Determinism: the same log and policy give the same projections (digest over every key and value) and the same
// output records, byte for byte, whatever the batch size; folding again with nothing new changes nothing.
TEST(Fold, DeterministicDigestAndOutputs) {
  TempDir d;
  std::string events = generated(1500);
  {
    auto log = open_segment_log(d / "logA", 4);
    ingest_lines(*log, events);
  }
  fs::copy(d / "logA", d / "logB", fs::copy_options::recursive);
  std::string digest_a, digest_b, out_a, out_b;
  {
    auto log = open_segment_log(d / "logA");
    Store s(d / "stateA");
    FoldOptions big;
    big.batch_events = 5000;
    FoldStats st = s.fold(*log, default_policy(), big);
    EXPECT_GT(st.events, 10000u);
    EXPECT_GT(st.outputs, 5000u);
    digest_a = s.digest();
    out_a = all_outputs(s);
    s.fold(*log, default_policy(), big);
    EXPECT_EQ(s.digest(), digest_a);  // nothing new: nothing changes
  }
  {
    auto log = open_segment_log(d / "logB");
    Store s(d / "stateB");
    FoldOptions small;
    small.batch_events = 7;
    s.fold(*log, default_policy(), small);
    digest_b = s.digest();
    out_b = all_outputs(s);
  }
  EXPECT_EQ(digest_a, digest_b);
  EXPECT_EQ(out_a, out_b);
  // A different policy file is a different policy_version: the digest tells them apart.
  {
    auto log = open_segment_log(d / "logA");
    Store s(d / "stateC");
    Policy other = load_policy_text(default_policy_text() + "\n# changed\n", "other");
    s.fold(*log, other);
    EXPECT_NE(s.digest(), digest_a);
  }
}

// A fold killed before any commit point, then restarted, ends equal to a clean fold (crash probe in the fold).
TEST(Fold, CrashBeforeCommitThenResumeEqualsCleanRun) {
  TempDir d;
  {
    auto log = open_segment_log(d / "log", 4);
    ingest_lines(*log, generated(400, 11));
  }
  fs::create_directories(d / "clean");
  fs::copy(d / "log", d / "clean/log", fs::copy_options::recursive);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "clean" + " > /dev/null")), 0);
  std::string clean, crashed;
  run(gongji("digest --data-dir " + d / "clean"), &clean);
  fs::create_directories(d / "crash");
  fs::copy(d / "log", d / "crash/log", fs::copy_options::recursive);
  for (int k : {1, 3, 2, 5}) {
    int rc = run(gongji("fold --data-dir " + d / "crash" + " --batch 211 --crash-before-batch " + std::to_string(k) +
                        " > /dev/null"));
    EXPECT_EQ(rc, 137) << "the probe should have fired at batch " << k;
  }
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "crash" + " --batch 211 > /dev/null")), 0);
  run(gongji("digest --data-dir " + d / "crash"), &crashed);
  EXPECT_EQ(clean, crashed);
  std::string a, b;
  run(gongji("settlements --data-dir " + d / "clean"), &a);
  run(gongji("settlements --data-dir " + d / "crash"), &b);
  EXPECT_EQ(a, b);
  EXPECT_GT(a.size(), 1000u);
}

// The fold killed with SIGKILL at random moments, restarted each time, ends equal to a clean fold.
TEST(Fold, SigkillAtRandomMomentsThenResumeEqualsCleanRun) {
  TempDir d;
  {
    auto log = open_segment_log(d / "log", 8);
    ingest_lines(*log, generated(2500, 12));
  }
  fs::create_directories(d / "clean");
  fs::copy(d / "log", d / "clean/log", fs::copy_options::recursive);
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "clean" + " > /dev/null")), 0);
  std::string clean, killed;
  run(gongji("digest --data-dir " + d / "clean"), &clean);
  fs::create_directories(d / "kill");
  fs::copy(d / "log", d / "kill/log", fs::copy_options::recursive);
  std::mt19937 rng(1234);
  int killed_mid_fold = 0;
  for (int i = 0; i < 6; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      std::string dir = d / "kill";
      execl(GONGJI_BIN, GONGJI_BIN, "fold", "--data-dir", dir.c_str(), "--batch", "97", nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 700));
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) ++killed_mid_fold;
  }
  EXPECT_GT(killed_mid_fold, 0) << "no kill landed mid-fold: the workload is too small for this machine";
  ASSERT_EQ(run(gongji("fold --data-dir " + d / "kill" + " > /dev/null")), 0);
  run(gongji("digest --data-dir " + d / "kill"), &killed);
  EXPECT_EQ(clean, killed);
}

// TIME-LOG: a record in the log that does not decode is skipped (no effect) and kept as a dead letter.
TEST(Fold, UndecodableRecordIsDeadLetteredAndSkipped) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,"kind":"township_health_center","ordinary_outpatient":true}
{"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01","scheme":"employee","status":"in_service"}
)");
  log->append_raw(0, "garbage that is not a flatbuffer");
  ingest_lines(*log, R"({"type":"claim","id":"c","claim":"K","person":"P","facility":"T1","date":"2023-02-01","benefit":"ordinary","items":[{"category":"drug","amount":"400.00"}]}
)");
  Store s(d / "state");
  FoldStats st = s.fold(*log, default_policy());
  EXPECT_EQ(st.dead_letters, 1u);
  EXPECT_EQ(st.events, 4u);
  int dead = 0;
  s.dead_letters([&](const std::string& k, const std::string& v) {
    ++dead;
    EXPECT_NE(v.find("not a valid FlatBuffers event record"), std::string::npos);
  });
  EXPECT_EQ(dead, 1);
  auto set = s.settlement("K");
  ASSERT_TRUE(set);
  EXPECT_EQ((*set)["fund"], "70.00");
}

}  // namespace
}  // namespace gongji::test
