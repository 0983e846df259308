// The access log (issue 11 item 2): every read of a person's data, by the query service or by the command line's
// `person`, `statement`, `explain` and `settlements`, is one JSON line appended to an append-only file; so is a read
// of every person's records, with `person` empty (the service's facility views and an audit run whole; the command
// line's unfiltered `settlements`, `dead-letters`, `report` and `what-if`, and `audit`: consumers/cli.cc
// every_person):
//   {"at":"2026-12-01T12:00:00.123Z","who":"desk-anna","role":"desk","via":"http","endpoint":"person",
//    "person":"P1","claim":"CL1","status":200,"prev":"<64 hex>"}
// `who` is the token's name (never the token), `at` the wall clock (UTC; an operational log, not a ledger output),
// `claim` and `status` where they apply. `prev` is the SHA-256 of the previous line's bytes (without its newline),
// 64 zeros for the first line, so that editing, inserting or removing a line breaks the chain at the next line.
//
// Retention: with keep_days > 0, lines older than that are dropped from the front (hourly, and at open: reading
// stops at the first line to keep, or whose `at` is not a timestamp); a broken chain up to there refuses it (LogError
// naming the line: thrown at open, on stderr when hourly). Kept bytes are streamed aside behind one header line:
//   {"kind":"pruned","at":...,"dropped":N,"through":"<at of the last dropped line>","last":"<its hash>"}
// and the first kept line's `prev` must equal `last`. A header anywhere but the first line is a finding. (Cutting
// lines off the front and forging a header is not detectable from the file alone: anchor the hashes elsewhere.)
// Several processes may append at once: each append takes an exclusive flock(2), reads the last line and writes
// its own (after a '\n' when the last line was torn) with one write(2), then fdatasync(2)s. Within a process,
// appends from several threads are committed as a group: the lines that arrive while one write and sync is under
// way go out together in the next (one flock, one write(2), one fdatasync), each chained to the one before; append()
// returns once its own line is synced. I/O error: LogError, thrown to every append of the failed group.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace gongji {

struct AccessEntry {
  std::string who, role, via, endpoint, person, claim;
  int status = 0;  // 0: not recorded (the command line logs before it answers)
};

class AccessLog {
 public:
  using Clock = std::chrono::system_clock;
  // Creates `path` when absent; prunes it when keep_days > 0.
  explicit AccessLog(std::string path, int keep_days = 0);
  void append(const AccessEntry& e, Clock::time_point now = Clock::now());
  // Drops the lines older than keep_days before `now` (none when keep_days is 0); returns how many were dropped.
  size_t prune(Clock::time_point now);
  const std::string& path() const { return path_; }

  struct Verification {
    size_t lines = 0;
    std::vector<std::string> findings;  // each names the line number and what is wrong
  };
  // Checks the chain of the file at `path` (LogError when it cannot be read).
  static Verification verify(const std::string& path);

 private:
  struct Waiting;  // a line waiting for its group's write and sync
  void write_group(const std::vector<std::shared_ptr<Waiting>>& group);

  std::string path_;
  int keep_days_ = 0;
  std::mutex mu_;  // guards last_prune_, waiting_, writing_
  std::condition_variable written_;
  std::vector<std::shared_ptr<Waiting>> waiting_;  // lines for the next group, in arrival order
  bool writing_ = false;                            // a thread is writing a group
  Clock::time_point last_prune_{};
};

// "2026-12-01T12:00:00.123Z"
std::string utc_timestamp(AccessLog::Clock::time_point t);

}  // namespace gongji
