// serve's stop (ServeOptions::stop_grace_seconds): SIGTERM / SIGINT ask for an orderly stop, and a broker that does
// not answer must not hold it for minutes. Here no broker listens at all (port 1 refuses every connection), so the
// orderly stop cannot finish: serve ends once the grace has passed, or at a second signal, exit 1, saying so. Before
// the grace existed serve went on for more than 40 s after a SIGTERM here (librdkafka's init_transactions waits up
// to 60 s and is retried).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "consumers/exit_codes.h"
#include "tests/fixtures.h"

namespace gongji {
namespace {

using Clock = std::chrono::steady_clock;

struct Stopped {
  int status = -1;        // the exit status, or -1 when it did not end within the wait
  double seconds = 0;     // from the first signal to the end
  std::string stderr_text;
};

// Whether process `pid` is gongji with its own SIGTERM handler installed (/proc/<pid>/comm and SigCgt of
// /proc/<pid>/status): before that a SIGTERM would end it as the default action does, not as serve does.
bool serve_catches_sigterm(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  if (!test::read_file(proc + "/comm").starts_with("gongji")) return false;
  std::ifstream in(proc + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("SigCgt:")) return (std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1)) & 1;
  return false;
}

// Starts `serve` against a port where no broker listens, waits until it has installed its signal handlers (up to
// 30 s), sends `signals` SIGTERMs half a second apart, and waits up to `wait_seconds` for it to end (then kills it).
Stopped stop_serve_without_broker(const test::TempDir& d, int grace, int signals, int wait_seconds) {
  const std::string err = d / "serve.stderr";
  const std::string cmd = "exec " + test::gongji("serve --brokers 127.0.0.1:1 --data-dir " + d / "data" +
                                                 " --stop-grace " + std::to_string(grace)) +
                          " >/dev/null 2>" + err;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    _exit(127);
  }
  for (const auto start = Clock::now(); !serve_catches_sigterm(pid) && Clock::now() - start < std::chrono::seconds(30);)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // past the handler, into the broker's wait
  Stopped s;
  const auto first = Clock::now();
  for (int i = 0; i < signals; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    kill(pid, SIGTERM);
  }
  int st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (Clock::now() - first > std::chrono::seconds(wait_seconds)) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      s.stderr_text = test::read_file(err);
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - first).count();
  s.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  s.stderr_text = test::read_file(err);
  return s;
}

TEST(ServeStop, ASignalTheBrokerKeepsFromFinishingEndsServeOnceTheGraceHasPassed) {
  test::TempDir d;
  Stopped s = stop_serve_without_broker(d, 3, 1, 30);
  ASSERT_EQ(s.status, exit_code::kFailure) << "serve did not end within 30 s of a SIGTERM:\n" << s.stderr_text;
  EXPECT_GE(s.seconds, 2.9) << "serve ended before its grace";
  EXPECT_LT(s.seconds, 10.0);
  EXPECT_NE(s.stderr_text.find("stopping at once: the orderly stop took more than 3 s (--stop-grace)"),
            std::string::npos)
      << s.stderr_text;
  EXPECT_NE(s.stderr_text.find("the next start publishes it"), std::string::npos) << s.stderr_text;
}

TEST(ServeStop, ASecondSignalEndsServeAtOnce) {
  test::TempDir d;
  Stopped s = stop_serve_without_broker(d, 300, 2, 30);
  ASSERT_EQ(s.status, exit_code::kFailure) << "serve did not end within 30 s of two SIGTERMs:\n" << s.stderr_text;
  EXPECT_LT(s.seconds, 5.0);
  EXPECT_NE(s.stderr_text.find("stopping at once: a second signal came"), std::string::npos) << s.stderr_text;
}

}  // namespace
}  // namespace gongji
