// gongji: the command line of EVENTS.md ("Command line (the embedded default)").
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "consumers/config.h"
#include "consumers/exit_codes.h"
#include "consumers/stdout_buffer.h"
#include "log/event_log.h"
#include "log/io_error.h"
#include "log/kafka_log.h"
#include "oplog/oplog.h"
#include "consumers/serve.h"
#include "consumers/views.h"
#include "events/text.h"
#include "ingest/ingest.h"
#include "projections/store.h"
#include "replay/audit.h"
#include "replay/explain.h"
#include "replay/reconstruct.h"
#include "replay/replay.h"
#include "replay/statement.h"
#include "replay/whatif.h"
#include "service/access_log.h"
#include "service/queries.h"
#include "service/service.h"
#include "readback/output_lines.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gongji {
namespace {

// A command-line mistake (issue 8 item 8): exits exit_code::kUsage with a message naming the option. Every other
// exception is a runtime failure and exits exit_code::kFailure (main()).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// CLI11 validators; a failure is a CLI::ValidationError "<option>: <reason>", which main() exits with kUsage.
const CLI::Validator kDateArg(
    [](std::string& s) { return date_problem(s); },
    "YYYY-MM-DD");
// A file to read ("-": stdin, where `dash` allows it): it must exist and not be a directory.
CLI::Validator input_file(bool dash) {
  return CLI::Validator(
      [dash](std::string& s) -> std::string {
        if (dash && s == "-") return "";
        if (s.empty()) return "expected a file name, got ''";
        if (fs::is_directory(s)) return "'" + s + "' is a directory, expected a file";
        if (!fs::exists(s)) return "no such file '" + s + "'";
        return "";
      },
      "FILE");
}
const CLI::Validator kOutputFile(
    [](std::string& s) -> std::string {
      if (s.empty()) return "expected a file name, got ''";
      return fs::is_directory(s) ? "'" + s + "' is a directory, expected a file" : "";
    },
    "FILE");
// A --kafka-config file that parses (log/kafka_log.h read_kafka_config): one that does not is a usage error naming
// its line, for every command that takes it, before anything is opened.
const CLI::Validator kKafkaConfigFile(
    [](std::string& s) -> std::string {
      try {
        read_kafka_config(s);
      } catch (const LogError& e) {
        return e.what();
      }
      return "";
    },
    "");
// A data directory: absent (the command that needs it says so, or creates it) or a directory; a file there, or
// under a file (FILE/sub), is a usage error naming it (it was "no store in FILE/state").
const CLI::Validator kDataDir(
    [](std::string& s) -> std::string {
      if (s.empty()) return "expected a directory name, got ''";
      for (fs::path at = s; !at.empty(); at = at.parent_path()) {
        std::error_code ec;
        const fs::file_status st = fs::status(at, ec);
        if (fs::exists(st) && !fs::is_directory(st)) return "'" + at.string() + "' is not a directory";
        if (at == at.parent_path()) break;
      }
      return "";
    },
    "DIR");
// A whole number from `lo` to `hi`, in decimal, given back as its canonical digits (a transform: CLI11 would read
// "010" as octal 8 and refuse "08"; NonNegativeNumber refused -1 as "not in range 0 to" a 309-digit bound, and Range
// said "Value 2k not in range 1 to 1000000"). `hi` UINT64_MAX: no bound but the type's. `unit` names what is counted
// in --help ("threads").
CLI::Validator whole_number(uint64_t lo, uint64_t hi, const std::string& unit = "") {
  const std::string domain = hi == UINT64_MAX ? "of " + std::to_string(lo) + " or more"
                                              : "from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, domain](std::string& s) -> std::string {
        uint64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        const bool digits = !s.empty() && s[0] >= '0' && s[0] <= '9' && end == s.data() + s.size();
        if (!digits || ec == std::errc::invalid_argument) return "'" + s + "' is not a whole number " + domain;
        if (ec == std::errc::result_out_of_range && hi == UINT64_MAX)
          return "'" + s + "' is larger than any count this option takes";
        if (ec == std::errc::result_out_of_range || v < lo || v > hi)
          return "'" + s + "' is not a whole number " + domain;
        s = std::to_string(v);
        return "";
      },
      (domain.starts_with("of ") ? domain.substr(3) : domain) + (unit.empty() ? "" : " " + unit));
}
const CLI::Validator kCountArg = whole_number(0, UINT64_MAX);
// A calendar year, four decimal digits as the query service takes it (CLI11 read "02023" as octal and took "0x7e7",
// "+2023" and " 2023"); the policy window is checked where the year is used.
const CLI::Validator kYearArg(
    [](std::string& s) -> std::string {
      const bool digits = s.size() == 4 && s.find_first_not_of("0123456789") == std::string::npos;
      return digits ? std::string() : "expected a year YYYY, got '" + s + "'";
    },
    "YYYY");
// Kafka's bootstrap servers: never empty (an empty --brokers, an unset variable's, read as "not given": ingest wrote
// to the embedded log and exited 0).
const CLI::Validator kBrokersArg(
    [](std::string& s) -> std::string {
      const bool blank = s.find_first_not_of(" \t") == std::string::npos;
      return blank ? "expected bootstrap servers HOST:PORT[,HOST:PORT...], got '" + s + "'" : std::string();
    },
    "HOST:PORT,...");
// A Kafka topic's name: 1 to 249 of [a-zA-Z0-9._-], as the broker takes it (an empty one failed only at the broker).
const CLI::Validator kTopicArg(
    [](std::string& s) -> std::string {
      const bool legal = !s.empty() && s.size() <= 249 && s != "." && s != ".." &&
                         s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                             std::string::npos;
      return legal ? std::string() : "expected a topic name of 1 to 249 letters, digits, '.', '_' or '-', got '" + s +
                                         "'";
    },
    "TOPIC");
// query's --rate: a finite number of requests a second (CLI::Range let "nan" through, which turned the limit off).
const CLI::Validator kRateArg(
    [](std::string& s) -> std::string {
      double v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0.001 || v > 1e9)
        return "'" + s + "' is not a number of requests a second from 0.001 to 1e9";
      return "";
    },
    "0.001..1e9");
// The access log a command was told to append to: --access-log's `given`, else $GONGJI_ACCESS_LOG, else "" (the
// data directory's access-log.jsonl, which each command names itself).
std::string access_log_named(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("GONGJI_ACCESS_LOG");
  return env ? env : "";
}
// Whether a log folder's partition folders (pNNNN) hold any byte of a segment (NNN...N.seg).
bool holds_records(const std::string& log_dir) {
  std::error_code ec;
  for (const auto& part : fs::directory_iterator(log_dir, ec)) {
    if (!part.is_directory(ec) || !part.path().filename().string().starts_with("p")) continue;
    for (const auto& seg : fs::directory_iterator(part.path(), ec))
      if (seg.path().extension() == ".seg" && seg.is_regular_file(ec) && seg.file_size(ec) > 0) return true;
  }
  return false;
}
// A person, claim or event id: never empty (an empty --person would otherwise read as "every person").
const CLI::Validator kIdArg([](std::string& s) { return s.empty() ? "expected an id, got ''" : std::string(); }, "ID");
// --known-at must parse (an empty value too is a mistake, never "not given"); its partitions are checked later.
const CLI::Validator kKnownAtArg(
    [](std::string& s) -> std::string {
      try {
        parse_known_at(s);
      } catch (const std::exception& e) {
        std::string why = e.what();
        return why.starts_with("--known-at: ") ? why.substr(12) : why;
      }
      return "";
    },
    "WHEN");

// The word on the command line that names no subcommand where one is expected, or "" (CLI11 itself only says
// "A subcommand is required"; the usage message must name what was given).
std::string unknown_subcommand(CLI::App& app, int argc, char** argv) {
  CLI::App* at = &app;
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    auto subs = at->get_subcommands({});
    if (word.starts_with("-") || subs.empty()) return "";
    auto named = at->get_subcommands([&](CLI::App* s) { return s->check_name(word); });
    if (named.empty()) return word;
    at = named.front();
  }
  return "";
}

// "gongji" and the subcommands the command line names, as far as they are known ("gongji log truncate"): what a
// usage error's message starts with.
std::string command_named(CLI::App& app, int argc, char** argv) {
  std::string named = "gongji";
  CLI::App* at = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    auto sub = at->get_subcommands([&](CLI::App* s) { return s->check_name(word); });
    if (word.starts_with("-") || sub.empty()) break;
    named += " " + word;
    at = sub.front();
  }
  return named;
}

// --known-at parsed, every partition it names checked against the log's.
// (service/queries.h known_at_param: a ParameterError is a usage error here.)
KnownAt known_at_option(const std::string& text, const EventLog& log) { return known_at_param(text, log); }

struct Paths {
  std::string data;
  std::string brokers;  // when set, the log is Kafka's events topic
  std::string events_topic = "gongji.events";
  std::string kafka_config;  // --kafka-config FILE (log/kafka_log.h read_kafka_config)
  KafkaOptions kafka(const std::string& topic) const {
    KafkaOptions k;
    k.brokers = brokers;
    k.topic = topic;
    if (!kafka_config.empty()) k.config = read_kafka_config(kafka_config);
    return k;
  }
  std::unique_ptr<EventLog> open_log(int partitions = 8, bool read_only = false) const {
    if (!brokers.empty()) return open_kafka_log(kafka(events_topic));
    return open_segment_log(log(), partitions, read_only);
  }
  // The log a read command re-derives from, read-only, refused (StoreError) unless it is the log `store` was folded
  // from (Store::check_log: partition count, positions, anchors): another log would explain another history.
  std::unique_ptr<EventLog> open_log_of(const Store& store) const {
    auto l = open_log(8, true);
    store.check_log(*l);
    return l;
  }
  std::string log() const { return data + "/log"; }
  std::string state() const { return data + "/state"; }
  std::string dead() const { return data + "/dead-letters.jsonl"; }
};

// Read commands (issue 8 item 6): the store must exist; they never create anything. The error exits
// exit_code::kFailure, as every runtime failure does.
void require_existing(const Paths& p) {
  if (!fs::exists(p.state() + "/CURRENT"))
    throw std::runtime_error("no store in " + p.state() + " (run `gongji ingest` and `gongji fold` first)");
}

// Writes all of `text` to `fd`; errno of the failed write, else 0.
int write_all(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno != EINTR) return errno;
    if (n > 0) done += static_cast<size_t>(n);
  }
  return 0;
}

// Writes `text` to `path`: into "<path>.partial", synced, then renamed over `path`, so a failed write leaves the
// old file as it was. A failure is an error in issue 8 item 3's wording, naming `path`, never a partial silence.
// A `path` that is there and no regular file (/dev/null, a FIFO, /dev/stdout to a pipe, after symlinks) is written
// into as it is: the rename would have put a regular file in its place (`--out /dev/null` as root replaced
// /dev/null). A symlink to a regular file (/dev/stdout redirected to one) is followed: the file it names is the one
// replaced, the link stays.
void write_file(const std::string& named, const std::string& text) {
  struct stat st {};
  if (::stat(named.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) throw LogError(io_error(EISDIR, named));
    const int fd = ::open(named.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) throw LogError(io_error(errno, named));
    const int err = write_all(fd, text);
    if (::close(fd) != 0 && err == 0) throw LogError(io_error(errno, named));
    if (err) throw LogError(io_error(err, named));
    return;
  }
  fs::path path = named;  // through any symlinks, dangling ones too (at most 40, as the kernel's limit)
  for (int links = 0; links < 40 && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode); ++links) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(path, ec);
    if (ec) break;
    path = target.is_absolute() ? target : path.parent_path() / target;
  }
  const std::string file = path.string();
  const std::string tmp = file + ".partial";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw LogError(io_error(errno, file));
  auto fail = [&](int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw LogError(io_error(err, file));
  };
  if (const int err = write_all(fd, text)) fail(err);
  if (::fsync(fd) != 0) fail(errno);
  if (::close(fd) != 0) throw LogError(io_error(errno, file));
  if (::rename(tmp.c_str(), file.c_str()) != 0) throw LogError(io_error(errno, file));
  // The rename kept through a power loss (else the old file, or none, comes back: an audit's record lost).
  if (const int err = fsync_errno(directory_of(file))) throw LogError(io_error(err, directory_of(file)));
}

// `gongji ingest` (ingest/ingest.h): refusals on stderr, in DATA/dead-letters.jsonl and, with --brokers, on the
// dead-letter topic. Codes are checked under the built-in policy's lists (issue 9 item 5).
int cmd_ingest(const Paths& paths, const std::string& file, int partitions) {
  std::istream* in = &std::cin;
  std::ifstream f;
  if (file != "-") {
    f.open(file);
    if (!f) throw std::runtime_error("cannot read " + file);
    in = &f;
  }
  fs::create_directories(paths.data);
  auto log = paths.open_log(partitions > 0 ? partitions : 8);
  if (partitions > 0 && log->partitions() != partitions)
    throw UsageError("--partitions " + std::to_string(partitions) + ": the log in " + paths.data + " already has " +
                     std::to_string(log->partitions()) + " partitions (a log keeps its partition count)");
  DeadLetterFile dead(paths.dead());
  std::optional<DeadLetterTopic> topic;
  std::vector<DeadLetterSink*> sinks{&dead};
  if (!paths.brokers.empty()) sinks.push_back(&topic.emplace(paths.kafka("gongji.dead-letters")));
  Ingestor ingestor(*log, sinks, default_policy().codes());
  const IngestCounts n = ingestor.ingest(*in, file, [&](const IngestRefusal& r) {
    // The reason may quote the line: a crafted one must not forge a second refusal or drive the terminal.
    std::cerr << terminal_safe(file == "-" ? "stdin" : file) << ":" << r.line << ": " << spelled(r.code) << ": "
              << terminal_safe(r.reason) << "\n";
  });
  std::cout << "appended " << n.appended << ", duplicate " << n.duplicate << ", refused " << n.refused << "\n";
  return n.refused ? exit_code::kRefused : exit_code::kOk;
}

Policy policy_from(const std::string& file) { return file.empty() ? default_policy() : load_policy_file(file); }

// The policy a command on an existing store uses, decided here once (issue 9 item 10): --policy FILE when given,
// else the one the store's fold recorded (recorded_policy). A store folded under several policy versions needs
// --policy (a usage error), unless `or_built_in`: then the built-in policy, for the views that only read dates and
// limits from it (`person` without --known-at, `statement`).
Policy command_policy(const Store& store, const std::string& policy_file, bool or_built_in = false) {
  return read_policy(store, policy_file, or_built_in);  // service/queries.h, shared with `gongji query`
}

// `opt`: batch_events, checkpoint_every and checkpoints_kept as given; crash_before (0: none) is the test probe.
int cmd_fold(const Paths& paths, const std::string& policy_file, FoldOptions opt, size_t crash_before) {
  // The log's meta, not only its folder: beside the first ingest (which has made the folder and not yet the meta) a
  // writable open would create the log itself, with 8 partitions whatever the ingest's --partitions. A folder whose
  // partitions hold records but no meta is damage: the open below says so.
  if (paths.brokers.empty() && !fs::exists(paths.log() + "/meta") && !holds_records(paths.log()))
    throw std::runtime_error("no log in " + paths.log() + " (run `gongji ingest` first; an ingest creating it has "
                             "not made it yet)");
  check_fold_policy_before_writing(paths.state(), policy_file);  // a refused policy changes nothing
  auto log = paths.open_log();
  // The embedded log is opened as a writer first (that cuts a torn tail a crashed ingest left and syncs what a crash
  // left unsynced), then read-only: a reader gives each fold worker its own copy (FoldOptions::threads,
  // EventLog::reader_copy). The writer is closed first: a reader opening the id index beside it raced its
  // compactions ("Can't access .sst"). A reader takes every whole record in the files: one that sees more than the
  // writer synced saw an ingest that started in between, whose records may not be synced yet (after a power loss, a
  // store past its log): refused. The reader's ends are fixed at its open; an ingest starting later appends past them.
  if (paths.brokers.empty()) {
    std::vector<uint64_t> synced;
    for (int p = 0; p < log->partitions(); ++p) synced.push_back(log->end_offset(p));
    log.reset();
    log = paths.open_log(8, true);
    for (int p = 0; p < log->partitions(); ++p)
      if (log->end_offset(p) != synced.at(static_cast<size_t>(p)))
        throw LogError("embedded log " + paths.log() + ": partition " + std::to_string(p) + " changed from " +
                       std::to_string(synced[static_cast<size_t>(p)]) + " to " + std::to_string(log->end_offset(p)) +
                       " records while fold opened it (an ingest or a truncation started): run fold again once it "
                       "ends");
  }
  Store store(paths.state());  // creates the store only where there is none (Store::Store, item 6)
  Policy policy = fold_policy(store, policy_file);
  if (crash_before) opt.crash_before_batch = crash_before;
  opt.checkpoint_dir = paths.data + "/checkpoints";
  opt.progress = [](uint64_t n) { oplog::info(std::to_string(n) + " events folded"); };
  FoldStats s = store.fold(*log, policy, opt);
  std::cout << "folded " << s.events << " events, " << s.outputs << " output records, " << s.dead_letters
            << " dead letters\n";
  // What the fold wrote and read (ops/bench/scale.sh parses it): each commit rewrites every person its events touched.
  oplog::info(s.storage());
  return exit_code::kOk;
}

// Issue 11 item 2: a read of a person's data (the person as resolved, the claim where one is named), appended to the
// access log before anything is answered (Cli::access_recorder).
using AccessRecorder = std::function<void(const std::string& person, const std::string& claim)>;

// `read()`'s answer, the read recorded in the access log (a lookup of someone unknown too) unless `read` refused a
// parameter: a usage error reads nothing and changes nothing (README, exit statuses).
std::string recorded_read(const AccessRecorder& record, const std::string& person,
                          const std::function<std::string()>& read) {
  std::string answer;
  try {
    answer = read();
  } catch (const ParameterError&) {
    throw;
  } catch (...) {
    record(person, "");
    throw;
  }
  record(person, "");
  return answer;
}

int cmd_settlements(const Paths& paths, const std::string& person, const std::string& claim, const std::string& kind,
                    const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  if (!person.empty() || !claim.empty()) {
    std::string who = person;
    try {
      if (who.empty()) who = store.claim_person(claim, "");
    } catch (const std::exception&) {  // an unknown or ambiguous claim: records_query answers it
    }
    record(who, claim);
  } else {
    record("", "");  // every person's records: one line, no person (as the service's facility views)
  }
  records_query(store, person, claim, kind, [&](const Output& r) { std::cout << r.line() << "\n"; });
  return exit_code::kOk;
}

int cmd_person(const Paths& paths, const std::string& id, const std::string& as_of_s, const std::string& policy_file,
               const std::string& known_at, const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  // service/queries.h: the same answer as `gongji query`'s /v1/persons/{P} (no person: NotFoundError, exit 4).
  std::unique_ptr<EventLog> log;  // opened only for a known-at question
  const LogSource log_source = [&]() -> EventLog& {
    if (!log) log = paths.open_log_of(store);
    return *log;
  };
  std::cout << recorded_read(record, id, [&] {
    return person_query(store, log_source, {id, as_of_s, known_at, policy_file}).dump() + "\n";
  });
  return exit_code::kOk;
}

// `explain --event` of an account movement (EVENTS.md): the person's movements of the event re-derived from the log
// (replay/explain.h rederive_movements) and checked against the records; exit 5 on a mismatch.
int explain_movement(const Store& store, const Paths& paths, const std::string& person, const std::string& event,
                     bool as_json) {
  auto log = paths.open_log_of(store);
  const MovementRederivation m = rederive_movements(store, *log, person, event);
  auto lines = [](const std::vector<Output>& outs) {
    json a = json::array();
    for (const Output& o : outs) a.push_back(json::parse(o.line()));
    return a;
  };
  if (as_json) {
    json j = {{"event", event},   {"person", person}, {"policy_version", m.policy_version},
              {"equal", m.equal}, {"recorded", lines(m.recorded)}, {"recomputed", lines(m.recomputed)}};
    if (!m.equal) j["differences"] = movement_differences(m);
    if (!m.refused.empty()) j["refused"] = m.refused;
    std::cout << j.dump(2) << "\n";
    return m.equal ? exit_code::kOk : exit_code::kMismatch;
  }
  for (const json& r : lines(m.recomputed))
    print_record(r, std::cout, "re-derived from the log under the store's policy, " + m.policy_version);
  if (m.equal) {
    std::cout << "\nthe recomputation equals the recorded account movement\n";
    return exit_code::kOk;
  }
  const std::vector<std::string> diffs = movement_differences(m);
  std::cout << "\n*** MISMATCH: the recomputation differs from the recorded account movement";
  for (size_t i = 0; i < diffs.size(); ++i) std::cout << (i ? ", " : " in: ") << diffs[i];
  std::cout << " ***\n";
  if (!m.refused.empty()) std::cout << "  the policy's code lists refuse the event: " << m.refused << "\n";
  for (const Output& o : m.recorded) std::cout << "  recorded:   " << o.line() << "\n";
  for (const Output& o : m.recomputed) std::cout << "  recomputed: " << o.line() << "\n";
  return exit_code::kMismatch;
}

// What a reversal of the claim would do under the what-if's policy, given its recomputed record (POLICY.md §4: a
// reversal restores exactly what the settlement consumed, fund included; one of a claim not `settled` is refused,
// REVERSAL_NOT_APPLICABLE): {"fund": the what-if's fund negated} or {"refused": "REVERSAL_NOT_APPLICABLE", "why"}.
json what_if_reversal(const json& recomputed) {
  if (recomputed.value("kind", "") != "settlement" || recomputed.value("status", "") != "settled")
    return {{"refused", "REVERSAL_NOT_APPLICABLE"},
            {"why", "the claim is " + (recomputed.value("kind", "") == "settlement"
                                           ? recomputed.value("status", "")
                                           : "a " + recomputed.value("kind", "")) + " under it"}};
  const std::string fund = recomputed.value("fund", "0.00");
  return {{"fund", fund == "0.00" ? fund : "-" + fund}};
}

// The reversals of an explained claim (the payment was taken back: a clerk must not read it as standing); with
// `what_if` set (what_if_reversal), what the reversal would do under the what-if's policy file where it differs.
void print_refunds(const std::vector<json>& refunds, const std::string& who, const std::string& claim,
                   const std::string& policy_file, const std::optional<json>& what_if) {
  for (const json& v : refunds) {
    std::cout << "refunded: reversed on " << v.value("at", "") << " by event " << terminal_safe(v.value("event", ""))
              << ", fund " << v.value("fund", "") << " (the recorded payment taken back; `gongji settlements --person "
              << terminal_safe(who) << " --claim " << terminal_safe(claim) << "` lists the reversal)\n";
    if (!what_if) continue;
    if (what_if->contains("refused"))
      std::cout << "  under " << policy_file << " the reversal would take back nothing: "
                << terminal_safe((*what_if)["why"].get<std::string>())
                << ", and a reversal of a claim not settled is refused (REVERSAL_NOT_APPLICABLE)\n";
    else if ((*what_if)["fund"] != v.value("fund", ""))
      std::cout << "  under " << policy_file << " the reversal would take back fund "
                << (*what_if)["fund"].get<std::string>() << " instead (the what-if's settlement)\n";
  }
}

int cmd_explain(const Paths& paths, const std::string& person, const std::string& claim, const std::string& event,
                bool as_json, const std::string& policy_file, const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  if (claim.empty()) {  // an account movement re-derived; another record shown as recorded
    std::optional<json> rec;
    auto match = [&](const json& r) {
      if (r.value("event", "") == event) rec = r;
      return !rec;
    };
    if (person.empty()) store.event_outputs(event, match);
    else store.person_outputs(person, match);
    if (!rec) {
      std::cerr << "gongji explain: no output record for event " << event << "\n";
      return exit_code::kNotFound;
    }
    const std::string who = rec->value("person", person);
    record(who, "");
    const std::string kind = rec->value("kind", "");
    if ((kind == "account_credit" || kind == "account_debit") && !who.empty()) {
      if (person.empty() && rec->value("rule", "") == "ACC-RET" && !as_json)  // a close credits many retirees
        std::cout << "(event " << terminal_safe(event) << " is a period close: this is " << terminal_safe(who)
                  << "'s credit, the first found; give --person for another's)\n";
      return explain_movement(store, paths, who, event, as_json);
    }
    if (as_json) std::cout << rec->dump(2) << "\n";
    else print_explanation(*rec, std::cout);
    return exit_code::kOk;
  }
  auto log = paths.open_log_of(store);
  std::optional<Policy> other;
  if (!policy_file.empty()) other = named_policy(store, policy_file);
  const std::string who = store.claim_person(claim, person);  // an ambiguous --claim: AmbiguousClaimError
  record(who, claim);
  Rederivation r = rederive_claim(store, *log, who, claim, other ? &*other : nullptr);
  const std::vector<json> refunds = claim_reversals(store, who, claim);  // service/queries.h
  if (as_json) {
    json j = explanation_json(r, claim, who, other.has_value());
    if (!refunds.empty()) j["reversals"] = refunds;
    if (other && !refunds.empty()) {  // what each would do under the what-if's policy
      const json what_if = what_if_reversal(json::parse(r.recomputed.line()));
      for (json& v : j["reversals"]) v["what_if"] = what_if;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << (other ? "what-if: claim re-derived under " + policy_file + " (" + r.policy_version + ")\n"
                        : "claim re-derived from the log under its recorded policy (" + r.policy_version + ")\n");
    // The edge: the two records as EVENTS.md prints them.
    const json recorded = json::parse(r.recorded.line()), recomputed = json::parse(r.recomputed.line());
    print_explanation(recomputed, std::cout);
    if (other) {
      auto diffs = settlement_differences(r.recorded, r.recomputed);
      if (diffs.empty()) std::cout << "\nno difference from the recorded settlement\n";
      for (const auto& f : diffs)
        std::cout << "\n  " << f << ": recorded " << recorded.value(f, json()).dump() << ", what-if "
                  << recomputed.value(f, json()).dump();
      if (!diffs.empty()) std::cout << "\n";
    } else if (r.equal) {
      std::cout << "\nthe recomputation equals the recorded settlement\n";
    } else {
      std::cout << "\n*** MISMATCH: the recomputation differs from the recorded settlement; first differing field '"
                << r.first_difference << "': recorded " << recorded.value(r.first_difference, json()).dump()
                << ", recomputed " << recomputed.value(r.first_difference, json()).dump() << " ***\n";
    }
    print_refunds(refunds, who, claim, policy_file,
                  other ? std::optional<json>(what_if_reversal(recomputed)) : std::nullopt);
  }
  return other || r.equal ? exit_code::kOk : exit_code::kMismatch;
}

// A scratch directory for a replay's store, under $TMPDIR (else /tmp), removed with everything in it when it goes
// out of scope, also when the replay throws. One the system refuses to make is a failure naming where.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& command) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/gongji-" + command + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      const int err = errno;
      throw std::runtime_error("cannot make a scratch directory for the replay (" + tmpl + "): " + std::strerror(err));
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The partitions whose log holds a record past the store's position: what an audit, which replays up to the
// store's positions (replay/audit.h), did not cover.
std::vector<int> partitions_past(const Store& store, EventLog& log) {
  std::vector<int> beyond;
  for (int p = 0; p < log.partitions(); ++p) {
    bool more = false;
    log.read(p, store.folded_offset(p), [&](const LogRecord&) { return !(more = true); });
    if (more) beyond.push_back(p);
  }
  return beyond;
}

int cmd_audit(const Paths& paths, const std::string& policy_file, const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  record("", "");  // every person's state and records are read; the findings name persons
  const Policy pol = command_policy(store, policy_file);
  // The replay check compares the store with the log replayed under the store's own policy: another one's replay
  // differs everywhere (79,612 findings, books_hold false in the run record, and no word of the policy; the newcomer
  // run). `what-if` is the question of another policy's effect.
  refuse_another_policy(store, pol, "audit");
  auto log = paths.open_log(8, true);
  AuditReport rep;
  {
    const ScratchDir scratch("audit");
    rep = audit(store, *log, pol, scratch.path() + "/state", paths.brokers.empty() ? paths.log() : "");
  }
  std::cout << "audit of " << paths.data << "\n";
  for (const Defaulted& d : pol.defaulted())  // issue 9 item 8: an older stored text
    std::cout << "  policy " << pol.version() << " lacks " << d.parameter << " (" << d.rule
              << "): the value before issue 9, " << d.value << "\n";
  for (const std::string& m : pol.passed_over())  // an older stored text: what it was folded with, not a finding
    std::cout << "  policy " << pol.version() << " passes over " << m << "\n";
  for (const auto& c : rep.checked) std::cout << "  ok: " << c << "\n";
  for (const auto& c : rep.failed) std::cout << "  FAILED: " << c << "\n";
  for (const auto& f : rep.findings) std::cout << "  FINDING: " << terminal_safe(f) << "\n";  // (they name ids)
  const std::vector<int> beyond = partitions_past(store, *log);
  for (size_t i = 0; i < beyond.size(); ++i)
    std::cout << (i ? ", " : "  not audited: the log holds records past the store's positions in partitions ")
              << beyond[i] << (i + 1 < beyond.size() ? "" : " (not folded yet: run `gongji fold`, then audit them)\n");
  std::cout << (rep.findings.empty() ? "the books hold\n" : std::to_string(rep.findings.size()) + " findings\n");
  // Issue 11 item 2: the auditor reads audit results through the query service (service/queries.h audit_runs).
  // A data dir the auditor may not write to still gets its audit (if the access log above could be appended to):
  // the record is then only missing, and said so.
  const json run = audit_record(rep, store.positions(), beyond, pol.version(), std::chrono::system_clock::now());
  const std::string file = paths.data + "/audits/" + run["id"].get<std::string>() + ".json";
  try {
    if (fs::create_directories(paths.data + "/audits"))
      if (const int err = fsync_errno(paths.data)) throw LogError(io_error(err, paths.data));
    write_file(file, run.dump(2) + "\n");
    std::cout << "recorded in " << file << "\n";
  } catch (const std::exception& e) {
    std::cerr << "gongji audit: warning: not recorded for the query service: " << e.what() << "\n";
  }
  return rep.findings.empty() ? exit_code::kOk : exit_code::kFindings;
}

// what-if --json: the report, the claims paid differently, those not settled at all, the partitions not compared.
json what_if_json(const WhatIfReport& rep, const std::vector<int>& beyond, const std::string& policy_file,
                  const std::string& version) {
  json j = {{"policy", policy_file}, {"policy_version", version}, {"claims_compared", rep.claims_compared},
            {"recorded_fund", format_money(rep.recorded_total)}, {"what_if_fund", format_money(rep.what_if_total)}};
  json claims = json::array();
  for (const auto& c : rep.claims)
    claims.push_back({{"claim", c.claim}, {"person", c.person}, {"event", c.event}, {"partition", c.partition},
                      {"offset", c.offset}, {"recorded_fund", format_money(c.recorded)},
                      {"what_if_fund", format_money(c.what_if)},
                      {"difference", format_money(c.what_if - c.recorded)}});
  j["claims"] = claims;
  json not_settled = json::array();
  for (const auto& n : rep.not_settled)
    not_settled.push_back({{"claim", n.claim}, {"person", n.person}, {"event", n.event},
                           {"partition", n.partition}, {"offset", n.offset}, {"reason", n.reason}});
  j["not_settled"] = not_settled;
  json settled_only = json::array();
  for (const auto& c : rep.settled_only_under_other)
    settled_only.push_back({{"claim", c.claim}, {"person", c.person}, {"event", c.event}, {"partition", c.partition},
                            {"offset", c.offset}, {"what_if_fund", format_money(c.what_if)}});
  j["settled_only_under_other"] = settled_only;
  j["not_compared"] = beyond;
  for (auto& [dim, rows] : rep.totals)
    for (auto& [k, v] : rows)
      j["totals"][dim][k] = {{"recorded", format_money(v.first)}, {"what_if", format_money(v.second)},
                             {"difference", format_money(v.second - v.first)}};
  return j;
}

// What a what-if did not compare as two settlements: claims the other policy cannot settle at all (the replay's
// dead letters: they count as paid nothing, which must not read as a rejection), records the store dead-lettered
// that it settles (counted on the what-if side), and partitions whose log goes on past the store. Claims are named
// only when `show` asks for a list (the access log records that read), at most `show`.
void print_what_if_gaps(const WhatIfReport& rep, const std::vector<int>& beyond, const std::string& policy_file,
                        size_t show) {
  const auto listed = [&](size_t n) { return std::min(n, show); };
  const std::string policy = terminal_safe(policy_file);
  if (!rep.not_settled.empty()) {
    std::cout << "  NOT SETTLED: " << rep.not_settled.size() << " claim" << (rep.not_settled.size() == 1 ? "" : "s")
              << " could not be settled at all under " << policy
              << " (its replay's dead letters; counted as paid nothing)"
              << (listed(rep.not_settled.size()) < rep.not_settled.size() ? "; --json lists them all" : "") << "\n";
    for (size_t i = 0; i < listed(rep.not_settled.size()); ++i)
      std::cout << "    " << terminal_safe(rep.not_settled[i].claim) << " ("
                << terminal_safe(rep.not_settled[i].person) << "): " << terminal_safe(rep.not_settled[i].reason)
                << "\n";
  }
  const auto& only = rep.settled_only_under_other;
  if (!only.empty()) {
    std::cout << "  SETTLED ONLY UNDER " << policy << ": " << only.size() << " record" << (only.size() == 1 ? "" : "s")
              << " the store could not apply (its dead letters) that it settles, counted on its side"
              << (listed(only.size()) < only.size() ? "; --json lists them all" : "") << "\n";
    for (size_t i = 0; i < listed(only.size()); ++i)
      std::cout << "    " << terminal_safe(only[i].claim) << " (" << terminal_safe(only[i].person) << "): fund "
                << format_money(only[i].what_if) << "\n";
  }
  for (size_t i = 0; i < beyond.size(); ++i)
    std::cout << (i ? ", " : beyond.size() == 1 ? "  not compared: the log holds records past the store's position "
                                                   "in partition "
                                                 : "  not compared: the log holds records past the store's positions "
                                                   "in partitions ")
              << beyond[i] << (i + 1 < beyond.size() ? "" : " (not folded yet: run `gongji fold` first)\n");
}

int cmd_what_if(const Paths& paths, const std::string& policy_file, bool as_json, size_t show,
                const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  Policy other = named_policy(store, policy_file);
  if (as_json || show > 0) record("", "");  // claims and their persons listed
  auto log = paths.open_log_of(store);
  WhatIfReport rep;
  {
    const ScratchDir scratch("whatif");
    rep = what_if(store, *log, other, scratch.path() + "/state");
  }
  // Both sides stop at the store's positions: records past them are not compared (as audit says of its own).
  const std::vector<int> beyond = partitions_past(store, *log);
  if (as_json) {
    std::cout << what_if_json(rep, beyond, policy_file, other.version()).dump(2) << "\n";
    return exit_code::kOk;
  }
  // A difference is what-if less recorded, signed (+ or -): brackets would read as a negative amount.
  const auto signed_money = [](Money m) { return (m > 0 ? "+" : "") + format_money(m); };
  std::cout << "what-if under " << terminal_safe(policy_file) << " (" << other.version() << "): " << rep.claims_compared
            << " claims compared, " << rep.claims.size() << " would be paid differently\n";
  std::cout << "  fund paid: recorded " << format_money(rep.recorded_total) << ", what-if "
            << format_money(rep.what_if_total) << ", difference "
            << signed_money(rep.what_if_total - rep.recorded_total) << "\n";
  print_what_if_gaps(rep, beyond, policy_file, show);
  // Every group, the unchanged ones too, so that each dimension's recorded and what-if figures add up to the
  // totals above.
  for (auto& [dim, rows] : rep.totals) {
    std::cout << "\n  by " << dim << ", recorded -> what-if, difference:\n";
    for (auto& [k, v] : rows) {
      std::cout << "    " << k << ": " << format_money(v.first);
      if (v.first == v.second) std::cout << ", total unchanged\n";
      else std::cout << " -> " << format_money(v.second) << ", " << signed_money(v.second - v.first) << "\n";
    }
  }
  // The claims that change most first (ties in partition and log order); --json lists them all in log order.
  std::vector<const ClaimDifference*> largest;
  for (const ClaimDifference& c : rep.claims) largest.push_back(&c);
  const auto size = [](const ClaimDifference* c) {
    const Money d = c->what_if - c->recorded;
    return d < 0 ? -d : d;
  };
  std::stable_sort(largest.begin(), largest.end(), [&](auto* a, auto* b) { return size(a) > size(b); });
  largest.resize(std::min(show, largest.size()));
  if (!largest.empty())
    std::cout << "\n  claims paid differently, the " << largest.size() << " of " << rep.claims.size()
              << " that change most, recorded -> what-if, difference:\n";
  for (const ClaimDifference* c : largest)
    std::cout << "    " << terminal_safe(c->claim) << " (" << terminal_safe(c->person)
              << "): " << format_money(c->recorded) << " -> " << format_money(c->what_if) << ", "
              << signed_money(c->what_if - c->recorded) << "\n";
  return exit_code::kOk;
}

int cmd_replay(const Paths& paths, const std::string& known_at, const std::string& out,
               const std::string& policy_file) {
  require_existing(paths);
  if (fs::exists(out))  // a usage error (exit 2), before anything is opened
    throw UsageError("--out " + out + ": already exists (replay writes a new store there: name a new directory)");
  // Inside the data dir it reads, a replay's store was made where the log, the store or a fold's work would meet it:
  // under log/ every later open of the log refused it as a file not the log's (the second fault hunt).
  const fs::path data = fs::weakly_canonical(fs::absolute(paths.data)), where = fs::weakly_canonical(fs::absolute(out));
  if (std::mismatch(data.begin(), data.end(), where.begin(), where.end()).first == data.end())
    throw UsageError("--out " + out + ": inside the data dir " + paths.data + " (replay writes a new store outside "
                     "the data dir it reads: name a directory elsewhere)");
  if (fs::exists(replay_target(out) + ".partial"))
    throw UsageError("--out " + out + ": " + partial_exists_message(replay_target(out) + ".partial"));
  const Policy pol = [&] {  // the store is closed again before the replay
    Store store(paths.state(), true);
    // The store as it stood is the store under its own policy: another is refused, as fold refuses it (a replay
    // from a checkpoint under another policy would mix two); what-if is the replay under another policy.
    return fold_policy(store, policy_file);
  }();
  auto log = paths.open_log(8, true);
  auto target = positions_at(*log, known_at_option(known_at, *log));
  ReplayResult r = replay_to(*log, pol, target, paths.data + "/checkpoints", out,
                             [](uint64_t n) { oplog::info(std::to_string(n) + " events folded"); });
  std::cout << "replayed into " << out
            << (r.from_checkpoint.empty() ? " from zero" : " from checkpoint " + r.from_checkpoint) << ": "
            << r.stats.events << " events folded; positions";
  for (auto [p, off] : target) std::cout << " " << p << ":" << off;
  std::cout << "; digest " << r.digest << "\n";
  return exit_code::kOk;
}

int cmd_statement(const Paths& paths, const std::string& person, std::optional<int> year, const std::string& format,
                  const std::string& out, const std::string& policy_file, const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  const std::string text = recorded_read(record, person, [&] {  // service/queries.h
    return statement_query(store, person, year, format, policy_file);
  });
  if (out.empty() || out == "-") std::cout << text;
  else write_file(out, text);
  return exit_code::kOk;
}

int cmd_report(const Paths& paths, int explained, const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  if (explained > 0) record("", "");  // claims explained with their persons
  print_report(store, std::cout, explained);
  return exit_code::kOk;
}

// Issue 8 item 4: the records the fold could not apply, in log order (the same lines `settlements --kind
// dead_letter` prints, with --json).
int cmd_dead_letters(const Paths& paths, bool as_json, const AccessRecorder& record) {
  require_existing(paths);
  Store store(paths.state(), true);
  record("", "");  // the refused records, persons' events among them
  size_t n = 0;
  store.dead_letters([&](const std::string&, const std::string& line) {
    ++n;
    const std::optional<Record> r = as_json ? std::nullopt : record_from_line(line, false);
    const DeadLetter* d = r ? std::get_if<DeadLetter>(&*r) : nullptr;
    std::cout << (d ? describe_dead_letter(*d) : line) << "\n";
  });
  if (!as_json) std::cout << n << " dead letters of the fold (refused input lines are in " << paths.dead() << ")\n";
  return exit_code::kOk;
}

int cmd_digest(const Paths& paths) {
  require_existing(paths);
  Store store(paths.state(), true);
  std::cout << store.digest() << "\n";
  return exit_code::kOk;
}

// Issue 9 item 5: a policy file (the built-in one without --policy) and every value it flags as assumed (POLICY.md
// §5). A fold on an existing store uses the store's own policy (service/queries.h fold_policy).
int cmd_policy(const std::string& policy_file) {
  Policy policy = policy_from(policy_file);
  std::cout << "policy " << policy.version() << " (" << (policy_file.empty() ? "built-in" : policy_file)
            << "), window " << format_date(policy.window_from()) << " to " << format_date(policy.window_to()) << "\n"
            << policy.assumptions().size()
            << " assumed values (POLICY.md §5: replace each from the cited source before production use):\n";
  for (const Assumption& a : policy.assumptions())
    std::cout << "  " << a.parameter << " " << format_date(a.from) << ".." << format_date(a.to) << " = " << a.value
              << " (" << a.rule
              << ", " << a.article << ")" << (a.note.empty() ? "" : ": " + a.note) << "\n";
  return exit_code::kOk;
}

// `gongji log verify`: every record of every partition of the embedded log checked; findings name file and byte.
int cmd_log_verify(const Paths& paths) {
  // A data directory that is not there is a mistyped path, not a damaged log (exit 1, not a finding).
  if (!fs::is_directory(paths.data)) throw std::runtime_error("no data directory " + paths.data);
  std::vector<LogFinding> scanned = verify_segment_log(paths.log()), findings, being_written;
  // Asked after the scan: a torn tail seen while another process holds the log open for writing is most likely the
  // append it is writing (an ingest's open cut any a crash left): a note naming that process, not a finding.
  const std::optional<long> writer = segment_log_writer(paths.log());
  for (LogFinding& f : scanned) (writer && f.torn ? being_written : findings).push_back(std::move(f));
  for (const auto& f : findings) std::cout << "FINDING: " << f.message() << "\n";
  for (const auto& f : being_written)
    std::cout << "NOTE: partition " << f.torn->partition << " ends in a torn record while process " << *writer
              << " holds the log open for writing: most likely the append it is writing (" << f.message() << ")\n";
  std::cout << (findings.empty() ? "the log is sound\n" : std::to_string(findings.size()) + " findings\n");
  return findings.empty() ? exit_code::kOk : exit_code::kFindings;
}

// `gongji log truncate`: the explicit repair. Says what it drops; changes nothing without --yes.
int cmd_log_truncate(const Paths& paths, int partition, uint64_t offset, bool yes) {
  // The count from the log's meta: a log that does not open (what this command repairs) still has one.
  if (int n = segment_log_partitions(paths.log()); partition >= n)
    throw UsageError("--partition " + std::to_string(partition) + ": the log has partitions 0 to " +
                     std::to_string(n - 1));
  // A truncation that did not finish (a crash during its cut) is finished first, with --yes (it changes the files),
  // and the plan made after it. Without --yes nothing changes: the plan is made over the files as they are (`log
  // verify` names a truncation not finished), and --yes prints the plan it carries out.
  const bool finished = yes && finish_segment_log_truncations(paths.log());
  if (finished) std::cout << "finished a truncation that had not finished (its cut made)\n";
  TruncatePlan plan;
  try {
    plan = plan_segment_log_truncate(paths.log(), partition, offset);
  } catch (const LogError& e) {
    if (finished && std::string(e.what()).find("nothing to drop") != std::string::npos) return exit_code::kOk;
    throw;
  }
  std::cout << plan.describe() << "\n";
  // A store that folded past the cut would resume over whatever is appended there later, and a replay from a
  // checkpoint past it would start from records the log no longer holds (its anchor check would refuse it): refuse,
  // naming each of them. With --yes the store's lock is held (StoreLock: the store is not opened for writing, so
  // nothing in it changes) from this check until the cut is made, so that no fold commits or takes a checkpoint past
  // it meanwhile (a fold holds the lock while it runs).
  std::vector<std::string> past;
  std::optional<StoreLock> held;
  if (fs::exists(paths.state() + "/CURRENT")) {
    if (yes) {
      try {
        held.emplace(paths.state());
      } catch (const StoreError& e) {
        throw StoreError(std::string(e.what()) + "; once it has ended, truncate again: nothing changed");
      }
    }
    if (uint64_t folded = Store(paths.state(), true).folded_offset(partition); folded > offset)
      past.push_back("the store at " + paths.state() + " has folded partition " + std::to_string(partition) +
                     " up to offset " + std::to_string(folded));
  }
  for (const CheckpointInfo& c : Store::checkpoints(paths.data + "/checkpoints"))
    if (auto at = c.positions.find(partition); at != c.positions.end() && at->second > offset)
      past.push_back("checkpoint " + c.path + " holds partition " + std::to_string(partition) + " up to offset " +
                     std::to_string(at->second));
  for (const std::string& c : Store::unread_checkpoints(paths.data + "/checkpoints"))  // what they hold is unknown
    past.push_back("checkpoint " + c + ", whose positions.json does not read (missing, damaged or of another store "
                   "format), may hold partition " + std::to_string(partition));
  if (!past.empty()) {
    std::string what;
    for (const auto& p : past) what += (what.empty() ? "" : "; ") + p;
    throw std::runtime_error(what + ", past the cut at " + std::to_string(offset) + ": move " +
                             (past.size() == 1 ? "it" : "them") +
                             " aside first (a new fold rebuilds the store from the log and takes new checkpoints); "
                             "nothing changed");
  }
  if (!yes) {
    std::cout << "nothing changed; run again with --yes to truncate\n";
    return exit_code::kOk;
  }
  truncate_segment_log(paths.log(), plan);
  std::cout << "truncated\n";
  return exit_code::kOk;
}

// `gongji access-log verify`: the chain of the access log (service/access_log.h); findings name the line.
int cmd_access_log_verify(const std::string& file) {
  AccessLog::Verification v = AccessLog::verify(file);
  for (const auto& f : v.findings) std::cout << "FINDING: " << file << ": " << f << "\n";
  std::cout << (v.findings.empty() ? "the access log holds: " + std::to_string(v.lines) + " lines chained\n"
                                   : std::to_string(v.findings.size()) + " findings\n");
  return v.findings.empty() ? exit_code::kOk : exit_code::kFindings;
}

constexpr const char* kQuerySummary =
    "serve the ledger's questions over HTTP(S) from DATA's store while `fold` writes to it (JSON; a bearer token "
    "from --tokens on every request; `gongji query --help` lists the endpoints)";
constexpr const char* kQueryEndpoints =
    "Endpoints:\n"
    "  GET /v1/persons/{P}?as_of=DATE&known_at=T           person (desk, auditor)\n"
    "  GET /v1/persons/{P}/settlements?kind=K&claim=C      output records (desk, auditor)\n"
    "  GET /v1/persons/{P}/claims/{C}                      the claim re-derived, as explain --json (desk, auditor)\n"
    "  GET /v1/persons/{P}/statements/{YEAR}?format=json|html   year statement (desk, auditor)\n"
    "  GET /v1/facilities/{F}/months/{YYYY-MM}?format=json|csv  facility month (auditor)\n"
    "  GET /v1/fund/months/{YYYY-MM}?format=json|csv       fund month by scheme, level, benefit (auditor)\n"
    "  GET /v1/fund/months/{YYYY-MM}/facilities?format=json|csv  each facility's claims and fund (auditor)\n"
    "  GET /v1/audits  /v1/audits/{ID|latest}              the runs `gongji audit` recorded (auditor)\n"
    "  GET /healthz /readyz /metrics                       health, readiness, Prometheus metrics (ops)\n"
    "  GET /  (or /desk)                                   the dispute desk's web page (no token; it asks for one)\n"
    "Roles: desk (persons, claims), auditor (also facilities, fund months, audits), ops (health and metrics only), "
    "intake (POST /v1/events, served by `gongji serve --listen` only). "
    "The tokens file holds 'sha256-of-the-token role name' a line, never a token (the hash: printf %s TOKEN | "
    "sha256sum); /healthz, /readyz and /metrics need an ops token too.\n"
    "known_at: 2024-03-01T12:00:00Z, 2024-03-01T20:00:00+08:00 or 2024-03-01T12:00:00.123Z (ingested up to then), "
    "ms since the epoch, or P:OFFSET,... (records before OFFSET of each partition named).\n"
    "401 no token, 403 wrong role, 400 bad parameter (named), 404 not found, 405 not GET, 413 body over 64 KiB, 429 "
    "over --rate (Retry-After). Every read of a person's data is appended to the hash-chained access log "
    "(--access-log, else $GONGJI_ACCESS_LOG, else DATA/access-log.jsonl; `gongji access-log verify` checks it).";

// Every subcommand and option of the command line, with the values parsed into it (main() builds one).
struct Cli {
  CLI::App app{"gongji: an event-sourced benefit ledger for Weihai's outpatient mutual aid (门诊共济).\n"
               "Events in (JSON Lines, EVENTS.md), settlements and state out. Data lives under --data-dir."};
  Paths paths;
  std::string file, policy_file, person, claim, kind, as_of, event, known_at, whatif_policy, replay_out, out_file;
  std::string format = "text";
  int partitions = 0;  // ingest --partitions; 0: not given (a new log gets 8)
  size_t crash_before = 0, show = 20;
  FoldOptions fold_opt = [] {
    FoldOptions o;
    // Issue 10: each checkpoint flushes the memtables (FoldOptions::checkpoint_dir), so one every 200,000 records
    // made many small tables and more compaction. The 100% year of ops/bench/scale.sh (37,399,992 records), one fold
    // each from an empty store, 2026-12-04: every 200,000: 788.8 s, 227 flushes, compactions writing 13.4 GB in 406
    // thread-seconds, peak RSS 1,667 MiB; every 2,000,000: 748.6 s, 102 flushes, 9.3 GB in 329 s, 1,824 MiB, and at
    // the end store + checkpoints 0.84x the log. One run each: the wall times differ by less than two runs of one
    // binary can (ops/bench/README.md), the compaction figures by more. The cost: a replay to a point after the
    // newest checkpoint folds up to 2,000,000 records past it (about 40 s at that fold's rate), not 200,000.
    o.checkpoint_every = 2000000;
    return o;
  }();
  bool as_json = false, yes = false;
  int explained = 5, log_partition = -1;
  std::optional<int> year;  // statement: none asked gives the person's last year (replay/statement.h)
  uint64_t log_offset = 0;
  ServeOptions sopt;
  QueryOptions qopt;
  std::string access_log, access_file;  // person/explain/statement --access-log; access-log verify --file
  std::string log_level, log_format;  // every subcommand's --log-level, --log-format ("": not given)
  std::string config_file;                              // query, serve --config
  CLI::App *ingest, *fold, *sets, *pers, *expl, *rep, *aud, *wif, *rpl, *stm, *dig, *polc, *dls, *lver, *ltr, *srv;
  CLI::App *qry, *alv;

  Cli() {
    app.require_subcommand(1);
    app.footer(exit_code::kHelpFooter);
    add_write_commands();
    add_read_commands();
    add_replay_commands();
    add_other_commands();
    add_serve_command();
    add_query_commands();
    for (CLI::App* c : app.get_subcommands({})) log_opts(c);
    for (CLI::App* c : {qry, srv})  // consumers/config.h (read by with_config before parsing; declared for --help)
      c->add_option("--config", config_file, "YAML file of settings: its keys are the long options with '_' for "
                                             "'-' (listen, tokens, data_dir, ...); the command line wins")
          ->check(input_file(false));
  }
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;

  void data_opt(CLI::App* c) {
    c->add_option("--data-dir", paths.data, "directory holding the log (log/), projections (state/) and dead letters")
        ->required()
        ->check(kDataDir);
  }
  void access_log_opt(CLI::App* c, const char* what = "this read of a person's data") {
    c->add_option("--access-log", access_log, std::string("append ") + what + " to the access log FILE "
                                              "(default: $GONGJI_ACCESS_LOG, else DATA/access-log.jsonl)")
        ->check(kOutputFile);
  }
  // Issue 11 item 5: the operational log lines (oplog/oplog.h) of every subcommand, and of its subcommands.
  void log_opts(CLI::App* c) {
    c->add_option("--log-level", log_level, "operational log lines on stderr from this level: debug, info, warn, "
                                            "error (default info; $GONGJI_LOG_LEVEL)")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    c->add_option("--log-format", log_format, "operational log lines as text or json (one object a line: time, "
                                              "level, program, pid, message; default text; $GONGJI_LOG_FORMAT)")
        ->check(CLI::IsMember({"text", "json"}));
    for (CLI::App* sub : c->get_subcommands({})) log_opts(sub);
  }
  // The options given, else $GONGJI_LOG_LEVEL / $GONGJI_LOG_FORMAT, else info and text. (Not CLI11's envname: it
  // would fill the shared variables from the options of the subcommands not given too.) A bad environment value:
  // std::invalid_argument naming the variable.
  oplog::Settings log_settings(const std::string& program) const {
    auto pick = [](const std::string& given, const char* env, const char* fallback) -> std::string {
      const char* v = std::getenv(env);
      return !given.empty() ? given : v && *v ? v : fallback;
    };
    try {
      return {program, oplog::parse_level(pick(log_level, "GONGJI_LOG_LEVEL", "info")),
              oplog::parse_format(pick(log_format, "GONGJI_LOG_FORMAT", "text"))};
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("$GONGJI_LOG_LEVEL, $GONGJI_LOG_FORMAT: ") + e.what());
    }
  }
  void brokers_opt(CLI::App* c) {
    c->add_option("--brokers", paths.brokers, "read events from Kafka's gongji.events (the store was folded from it)")
        ->check(kBrokersArg);
    kafka_config_opt(c, paths.kafka_config);
  }
  // Issue 11 item 5: the Kafka clients' security settings (SASL/SCRAM, TLS) pass through to librdkafka.
  static void kafka_config_opt(CLI::App* c, std::string& file) {
    c->add_option("--kafka-config", file, "librdkafka settings for every Kafka client, key=value lines (e.g. "
                                          "security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-256, sasl.username, "
                                          "sasl.password, ssl.ca.location); keep it mode 0600")
        ->check(input_file(false))
        ->check(kKafkaConfigFile);
  }

  // ingest, fold
  void add_write_commands() {
    ingest = app.add_subcommand("ingest", "validate events (JSON Lines) and append them to the log.\n"
                                          "Prints counts appended / duplicate / refused; refusals go to stderr and to "
                                          "DATA/dead-letters.jsonl. Exit 0 if nothing was refused, 3 if some were.");
    data_opt(ingest);
    ingest->add_option("file", file, "events file, - for stdin")->required()->check(input_file(true));
    ingest->add_option("--partitions", partitions, "partition count when the log is created (default 8); an existing "
                                                   "log with another count is refused")
        ->transform(whole_number(1, 1024));
    ingest->add_option("--brokers", paths.brokers, "append to Kafka's gongji.events topic instead of the embedded log "
                                                   "(duplicates are then decided by the fold)")
        ->check(kBrokersArg);
    ingest->add_option("--events-topic", paths.events_topic,
                       "with --brokers: the events topic (default gongji.events)")
        ->check(kTopicArg);
    kafka_config_opt(ingest, paths.kafka_config);

    fold = app.add_subcommand("fold", "fold every event not yet folded into the projections, settling claims");
    data_opt(fold);
    fold->add_option("--policy", policy_file,
                     "policy parameters file (default: the one the store was folded under; the built-in Weihai "
                     "policy for a new store). A file of another policy than the store's is refused (exit 2)")
        ->check(input_file(false));
    fold->add_option("--batch", fold_opt.batch_events, "events per committed batch of each partition (default 64000)")
        ->transform(whole_number(1, 1000000));
    fold->add_option("--brokers", paths.brokers, "fold from Kafka's gongji.events topic instead of the embedded log")
        ->check(kBrokersArg);
    kafka_config_opt(fold, paths.kafka_config);
    fold->add_option("--checkpoint-every", fold_opt.checkpoint_every,
                     "keep a RocksDB checkpoint in DATA/checkpoints at the first commit of a batch at or past N "
                     "records folded (log records over every partition, a shared event once in each; with --brokers, "
                     "Kafka offsets), counted from the newest checkpoint there, over runs; it is named by the records "
                     "it holds (replays start from the nearest; a crash of the fold loses what neither a checkpoint "
                     "nor a full memtable has flushed, and the next fold folds it again; default 2000000, 0: none)")
        ->transform(kCountArg);
    fold->add_option("--checkpoints-kept", fold_opt.checkpoints_kept,
                     "after each checkpoint keep only the N newest, ranked by records folded (default 2, 0: all); "
                     "each older one holds files "
                     "the store has compacted away, up to a store's size, and a replay to a point before the oldest "
                     "kept one starts from zero")
        ->transform(kCountArg);
    fold->add_option("--threads", fold_opt.threads,
                     "partitions folded side by side (default 2; the embedded log only, a Kafka log is folded by "
                     "one); the store ends the same with any count")
        ->transform(whole_number(1, 64));
    fold->add_option("--crash-before-batch", crash_before, "fault injection: exit 137 before committing batch N")
        ->transform(kCountArg)
        ->group("");
  }

  void add_serve_command() {
    srv = app.add_subcommand("serve", "a consumer-group member: folds its partitions of gongji.events into "
                                      "DATA/state and publishes output records exactly once (Kafka transactions "
                                      "with an outbox) to gongji.settlements, dead letters to gongji.dead-letters; "
                                      "with --listen it also answers queries and takes POST /v1/events (role "
                                      "intake)");
    srv->add_option("--data-dir", sopt.data_dir, "this member's store")->required()->check(kDataDir);
    srv->add_option("--brokers", sopt.brokers, "Kafka bootstrap servers")->required()->check(kBrokersArg);
    kafka_config_opt(srv, sopt.kafka_config);
    srv->add_option("--group", sopt.group, "consumer group (default gongji)");
    srv->add_option("--policy", sopt.policy_file,
                    "policy parameters file (default: the one the store was folded under; built-in for a new store; "
                    "another policy than the store's is refused, exit 2)")
        ->check(input_file(false));
    srv->add_option("--events-topic", sopt.events_topic, "default gongji.events")->check(kTopicArg);
    srv->add_option("--settlements-topic", sopt.settlements_topic, "default gongji.settlements")->check(kTopicArg);
    srv->add_option("--dead-letter-topic", sopt.dead_letter_topic, "default gongji.dead-letters")->check(kTopicArg);
    srv->add_option("--batch", sopt.batch_events,
                    "events per batch committed to RocksDB and handed to the publishing thread (default 512000, or "
                    "what came in 500 ms; at most 1 waits while the publisher publishes the one before, in "
                    "transactions of --transaction-records)")
        ->transform(whole_number(1, 1000000));
    srv->add_option("--transaction-records", sopt.transaction_records,
                    "records of a Kafka transaction, about: a batch's records, and after a restart what the store "
                    "committed and the group had not published, go to the topic in transactions of about this many, "
                    "each ending between two events' records and committing the group's offsets there (default "
                    "100000; each must end within transaction.timeout.ms, 15 s unless --kafka-config sets it)")
        ->transform(whole_number(1, 10000000));
    srv->add_option("--partition-batch", sopt.partition_batch_events,
                    "events of one partition folded before they are committed to RocksDB (unsynced; published after "
                    "the batch's sync), so that one partition holding the whole --batch bounds the fold's write "
                    "batch and decoded persons as fold's --batch does (default 64000; the batch's records are held "
                    "until published whatever it is)")
        ->transform(whole_number(1, 1000000));
    srv->add_option("--fold-threads", sopt.fold_threads,
                    "threads folding a batch's partitions side by side (default 2); the store and the published "
                    "records are the same with any count")
        ->transform(whole_number(1, 64));
    srv->add_option("--idle-exit", sopt.idle_exit_seconds,
                    "exit after this many seconds with nothing to fold, counted only while serve holds an "
                    "assignment from the group (an empty one too); waiting more than max(60, 10 x this) seconds for "
                    "one, at start or after a revocation, ends serve with exit 1 (default: run until SIGTERM)")
        ->transform(kCountArg);
    srv->add_option("--stop-grace", sopt.stop_grace_seconds,
                    "seconds SIGTERM / SIGINT wait for the orderly stop (the batch in hand committed and published, "
                    "exit 0) before serve ends at once, exit 1, as a second signal does (default 30): a broker that "
                    "does not answer can hold the orderly stop for minutes; what was committed and not published is "
                    "published by the next start")
        ->transform(whole_number(1, 3600));
    srv->add_option("--broker-wait", sopt.broker_wait_seconds,
                    "seconds each Kafka transactional call failing retriably (a broker that does not answer) is tried "
                    "again, in all, before serve ends with exit 1 naming the call (default 60, at most 20 tries); "
                    "what was committed and not published is published by the next start")
        ->transform(whole_number(1, 3600));
    CLI::Option* listen =
        srv->add_option("--listen", sopt.listen,
                        "HOST:PORT: answer the query service's endpoints (see `gongji query --help`) for this "
                        "member's partitions, forwarding a person of another partition to its owner (port 0: any "
                        "free port; default: no service); also POST /v1/events (role intake; a body of at most 64 "
                        "KiB): JSON Lines of events into the events topic through `ingest`'s checks, 200, or 422 "
                        "with each refused line's dead letter (also sent to the dead-letter topic), 500 when the "
                        "broker did not take them (send them again), 503 while another post appends");
    CLI::Option* tokens = service_opts(srv, sopt.query);
    srv->add_option("--advertise", sopt.query.member, "the URL other members reach this member's query service at "
                                                      "(default http[s]://LISTEN; required when LISTEN is a wildcard "
                                                      "address)")
        ->needs(listen);
    tokens->needs(listen);
    listen->needs(tokens);
  }

  // settlements, person, explain, report
  void add_read_commands() {
    sets = app.add_subcommand("settlements", "output records (settlement, reversal, refusal, ...) as JSON Lines, "
                                             "in log order");
    data_opt(sets);
    sets->add_option("--person", person, "only this person's records")->check(kIdArg);
    sets->add_option("--claim", claim, "only this claim's records (with --person when several persons have one)")
        ->check(kIdArg);
    sets->add_option("--kind", kind, "only records of this kind (settlement, reversal, refusal, ...)")
        ->check(CLI::IsMember(kOutputKinds));
    access_log_opt(sets);

    pers = app.add_subcommand("person", "one person's state as JSON, as of a business date (TIME-ASOF). A field that "
                                        "does not apply is null: status is an employee's (in_service, retired, "
                                        "flexible, old_urban) and tier a resident's (1 or 2); scheme, status, tier "
                                        "and ordinary.limit are null on a date without a standing (not yet "
                                        "enrolled), ordinary.limit outside the policy window too; "
                                        "ordinary.designated_facility is null while none is designated");
    data_opt(pers);
    brokers_opt(pers);
    pers->add_option("--person", person, "person id")->required()->check(kIdArg);
    pers->add_option("--as-of", as_of,
                     "business date YYYY-MM-DD (default: the latest date in the log, which POLICY.md TIME-LOG makes "
                     "the person's partition: the latest date of the events folded there, global ones included, "
                     "or with --known-at of those known then; the answer's as_of says which. It may be later than "
                     "the person's own last event, even in another year, whose year-based fields may then be 0.00. "
                     "With a time as --known-at falling where the partition's events were ingested out of log "
                     "order, give --as-of: the refusal names that window)")
        ->check(kDateArg);
    pers->add_option("--policy", policy_file,
                     "policy file: the one the store was folded under (the default), or a copy of it; another is "
                     "refused, exit 2 (`explain --policy` and `what-if` show another policy's effect)")
        ->check(input_file(false));
    access_log_opt(pers);
    pers->add_option("--known-at", known_at,
                     "knowledge time: only events ingested by then (2024-03-01T12:00:00Z, 2024-03-01T20:00:00+08:00 "
                     "or 2024-03-01T12:00:00.123Z; ms since the epoch; or P:OFFSET,... for the records before OFFSET "
                     "of each partition named); the person is folded again from the log")
        ->check(kKnownAtArg);

    expl = app.add_subcommand("explain", "a settlement re-derived step by step from the log under its recorded "
                                         "policy (each step with its rule ID and article) and checked against the "
                                         "record; exit 5 on a mismatch. --policy FILE: a what-if of the one claim, "
                                         "its differences listed, exit 0. --event: an account movement re-derived "
                                         "the same way (under the policy the store was folded with), any other "
                                         "record shown as recorded");
    data_opt(expl);
    brokers_opt(expl);
    auto* claim_opt = expl->add_option("--claim", claim, "claim id (with --person when several persons have one)")
                              ->check(kIdArg);
    expl->add_option("--person", person, "the claim's (or the event's) person")->check(kIdArg);
    auto* event_opt = expl->add_option("--event", event, "event id (account movements, refusals); with --person, that "
                                                       "person's (a period close may credit many retirees)")
                        ->check(kIdArg);
    claim_opt->excludes(event_opt);
    expl->add_flag("--json", as_json, "print the re-derivation as JSON");
    access_log_opt(expl);
    expl->add_option("--policy", policy_file, "what-if: re-derive under this policy file and report the differences")
        ->check(input_file(false))
        ->excludes(event_opt);  // a movement is re-derived under the store's policy only

    rep = app.add_subcommand("report", "a readable summary: claims by status and reason, fund paid by scheme, "
                                       "level, benefit and month, and a few settlements explained");
    data_opt(rep);
    access_log_opt(rep, "the read of the persons explained (every person's records; not with --explained 0)");
    rep->add_option("--explained", explained,
                    "how many settlements to explain, one per case the data holds, of five: a limit reached "
                    "mid-claim, temporary out-of-area care, a TCM hospital, a TCM item refused under ORD-ACU, an "
                    "automatic first designation (default 5: every case found; the report names those not found)")
        ->transform(kCountArg);
  }

  // audit, what-if, replay, statement
  static constexpr const char* kScratchFooter =
      "The replay is folded into a scratch store under $TMPDIR (default /tmp), about as large as the live store, and "
      "removed when the command ends, also when it fails (not when it is killed).\n\n";
  void add_replay_commands() {
    aud = app.add_subcommand("audit", "replay the log from zero up to what the store folded and check the books: "
                                      "projections equal the replay (per partition and person on a mismatch), one "
                                      "settlement per claim, fund totals, account balances, limits; exit 6 on any "
                                      "finding. Records not folded yet are named as not audited");
    aud->footer(std::string(kScratchFooter) + aud->get_footer());
    data_opt(aud);
    brokers_opt(aud);
    aud->add_option("--policy", policy_file, "policy file (default: the one the fold used)")->check(input_file(false));
    access_log_opt(aud, "the read of every person's state and records (the findings name persons)");

    wif = app.add_subcommand("what-if", "replay the log under another policy file (never touching the live store) "
                                        "and report how fund payments would differ, per claim and in totals by "
                                        "scheme, level, benefit and month");
    wif->footer(std::string("Each total is fund paid net of reversals, recorded -> what-if, and the difference is "
                            "what-if less recorded (+/-). Every group is listed, those whose total is unchanged too; "
                            "a claim is grouped by its own settlement on each side, so an unchanged total may hide "
                            "changes that cancel. \"none\": settlements naming no scheme, or no level (refused or "
                            "referred before F-LEVEL). --show N lists the N claims that change most (the largest "
                            "difference either way first); --json lists every claim paid differently, partition by "
                            "partition, each in log order, with its partition and offset. \"claims compared\" counts "
                            "every claim's settlement record, rejected and referred ones too. A claim the "
                            "other policy cannot settle at all (its replay's dead letter, e.g. a code its lists lack) "
                            "counts as paid nothing and is counted under NOT SETTLED (--json: not_settled), and a "
                            "record the store dead-lettered that it settles under SETTLED ONLY UNDER "
                            "(settled_only_under_other), named up to --show. Both sides stop at the store's "
                            "positions: partitions whose log goes on are named (not_compared).\n\n") +
                kScratchFooter + wif->get_footer());
    data_opt(wif);
    brokers_opt(wif);
    wif->add_option("--policy", whatif_policy, "the other policy parameters file")
        ->required()
        ->check(input_file(false));
    wif->add_flag("--json", as_json, "the whole report as JSON");
    wif->add_option("--show", show, "claims to list in the text report, those that change most (default 20)")
        ->transform(kCountArg);
    access_log_opt(wif, "the read of the claims listed (every person's records; not with --show 0 and no --json)");

    rpl = app.add_subcommand("replay", "rebuild, into a new directory, the store as it stood when everything "
                                       "ingested up to --known-at had been folded, from the nearest checkpoint");
    data_opt(rpl);
    brokers_opt(rpl);
    rpl->add_option("--known-at", known_at,
                    "2024-03-01T12:00:00Z, 2024-03-01T20:00:00+08:00 or 2024-03-01T12:00:00.123Z; ms since the epoch; "
                    "or P:OFFSET,... (the records before OFFSET of each partition named)")
        ->required()
        ->check(kKnownAtArg);
    rpl->add_option("--out", replay_out,
                    "a new directory for the rebuilt store, outside the data dir; a store as DATA/state is, so "
                    "name it X/state and read it with --data-dir X")
        ->required()
        ->check(kDataDir);
    rpl->add_option("--policy", policy_file,
                    "policy file: the one the fold used (the default), or a copy of it; another is refused, exit 2 "
                    "(what-if replays under another)")
        ->check(input_file(false));

    stm = app.add_subcommand("statement", "a person's year: every claim, settlement and account movement with the "
                                          "running deductible, limit and balance (the ordinary outpatient's; for "
                                          "each scheme period, each chronic bucket's limit and what it consumed), "
                                          "as text, JSON or an HTML page with a chart");
    data_opt(stm);
    stm->add_option("--person", person, "person id")->required()->check(kIdArg);
    stm->add_option("--year", year, "calendar year (default: that of the person's last dated record in the policy "
                                    "window, else of their enrolment)")->check(kYearArg);
    stm->add_option("--format", format, "text, json or html (default text)")
        ->check(CLI::IsMember({"text", "json", "html"}));
    stm->add_option("--out", out_file, "write to this file instead of stdout")->check(kOutputFile);
    access_log_opt(stm);
  }

  // digest, policy, dead-letters, log verify, log truncate
  void add_other_commands() {
    dig = app.add_subcommand("digest",
                             "the determinism digest: a hash over every key and value of the projections");
    data_opt(dig);

    polc = app.add_subcommand("policy", "the policy's version and window, and every value it flags as assumed "
                                        "(POLICY.md §5), with its dates, value, rule and article");
    polc->add_option("--policy", policy_file, "policy parameters file (default: the built-in Weihai policy)")
        ->check(input_file(false));

    dls = app.add_subcommand("dead-letters", "the records the fold could not apply (poison records), in log "
                                             "order: partition, offset, event, person, claim and the reason");
    data_opt(dls);
    dls->add_flag("--json", as_json, "JSON Lines (the dead_letter output records)");
    access_log_opt(dls, "the read of the dead letters (every person's records)");

    auto* logc = app.add_subcommand("log", "the embedded log's operator commands: verify, truncate");
    logc->require_subcommand(1);
    lver = logc->add_subcommand("verify", "check every record of every partition of DATA/log and report each "
                                          "problem with file and byte offset; exit 6 on any finding. A torn tail "
                                          "(a record cut short at a partition's end) is a note, not a finding, "
                                          "while another process holds the log open for writing: the append it "
                                          "is writing");
    data_opt(lver);
    ltr = logc->add_subcommand("truncate", "the explicit repair: drop a partition's records from --offset (a log "
                                           "offset) on; prints what it drops, changes nothing without --yes; "
                                           "refuses while DATA/state or a checkpoint in DATA/checkpoints holds the "
                                           "partition past the cut, naming each");
    data_opt(ltr);
    ltr->add_option("--partition", log_partition, "partition")->required()->transform(kCountArg);
    ltr->add_option("--offset", log_offset, "first log offset to drop")->required()->transform(kCountArg);
    ltr->add_flag("--yes", yes, "really truncate");
  }

  // The parsed subcommand, run (every subcommand but serve).
  // The query service's options, shared by `query` and `serve --listen` (service/service.h).
  // Returns the --tokens option (required by query; by serve only with --listen).
  static CLI::Option* service_opts(CLI::App* c, QueryOptions& q) {
    CLI::Option* tokens = c->add_option("--tokens", q.tokens_file, "tokens file: 'sha256-hex role name' a line")
                              ->check(input_file(false));
    c->add_option("--access-log", q.access_log,
                  "access log file (default: $GONGJI_ACCESS_LOG, else DATA/access-log.jsonl)")
        ->check(kOutputFile);
    c->add_option("--access-log-keep-days", q.access_log_keep_days, "drop access-log lines older than this "
                                                                         "(default 0: keep all)")
        ->transform(whole_number(0, 365000, "days"));
    c->add_option("--cert", q.cert, "TLS certificate (PEM); with --key the service speaks HTTPS")
        ->check(input_file(false));
    c->add_option("--key", q.key, "TLS private key (PEM)")->check(input_file(false));
    c->add_option("--rate", q.rate, "requests a second per token before 429 (default 100)")
        ->check(kRateArg);
    c->add_option("--ready-lag", q.ready_lag, "/readyz: most records a partition may lag (default 1000)")
        ->transform(whole_number(0, 1000000000000000, "records"));
    c->add_option("--threads", q.threads, "request threads: requests answered at once; more wait in the listen "
                                          "queue (default 32)")
        ->transform(whole_number(1, 1024, "threads"));
    return tokens;
  }

  // `gongji query` (service/service.h) and `gongji access-log verify` (service/access_log.h).
  void add_query_commands() {
    qry = app.add_subcommand("query", kQuerySummary);
    qry->footer(std::string(kQueryEndpoints) + "\n\n" + qry->get_footer());
    data_opt(qry);
    brokers_opt(qry);
    qry->add_option("--listen", qopt.listen, "HOST:PORT (default 127.0.0.1:8080, loopback; port 0: any free port)");
    service_opts(qry, qopt)->required();
    qry->add_option("--policy", qopt.policy_file,
                    "policy file: the one the store was folded under (the default), or a copy of it; another is "
                    "refused at start, exit 2")
        ->check(input_file(false));
    auto* alc = app.add_subcommand("access-log", "the access log of reads of persons' data: verify");
    alc->require_subcommand(1);
    alv = alc->add_subcommand("verify", "check the hash chain of an access log (each line carries the SHA-256 of the "
                                        "line before); exit 6 naming each line that was edited, inserted or removed");
    alv->add_option("--file", access_file, "the access log (default, with --data-dir: the one the commands append to)")
        ->check(input_file(false));
    alv->add_option("--data-dir", paths.data, "check this data directory's access log: $GONGJI_ACCESS_LOG, else "
                                              "DATA/access-log.jsonl")
        ->check(kDataDir);
    alv->callback([this] {
      if (access_file.empty() && paths.data.empty()) throw CLI::RequiredError("--file or --data-dir");
    });
  }

  // The access log the command line appends to and `access-log verify --data-dir` checks: `given`, else
  // $GONGJI_ACCESS_LOG, else DATA/access-log.jsonl.
  std::string access_log_file(const std::string& given) const {
    const std::string named = access_log_named(given);
    return named.empty() ? paths.data + "/access-log.jsonl" : named;
  }
  // Issue 11 item 2: person, explain, statement and settlements --person read a person's data; each read is
  // appended, by the OS user, once the store is open and the person resolved (explain --claim: the claim's person),
  // before anything is answered, to access_log_file(--access-log). A read of every person's records (settlements
  // without --person or --claim, dead-letters, report --explained, what-if's claim lists, audit) is one line without a
  // person, its endpoint the command and "(every person)", as the service logs its facility views.
  AccessRecorder access_recorder(const std::string& command) const {
    return [this, command](const std::string& who, const std::string& what) {
      const passwd* pw = ::getpwuid(::geteuid());
      const std::string user = pw ? pw->pw_name : std::to_string(::geteuid());
      AccessLog(access_log_file(access_log)).append({user, "cli", "cli", command, who, what, 0});
    };
  }

  static std::string every_person(const std::string& command) { return command + " (every person)"; }

  int run_command() const {
    if (*ingest) return cmd_ingest(paths, file, partitions);
    if (*fold) return cmd_fold(paths, policy_file, fold_opt, crash_before);
    if (*sets) {
      const bool every = person.empty() && claim.empty();
      const std::string with_kind = "settlements" + (kind.empty() ? "" : " --kind " + kind);
      return cmd_settlements(paths, person, claim, kind,
                             access_recorder(every ? every_person(with_kind) : "settlements"));
    }
    if (*pers) return cmd_person(paths, person, as_of, policy_file, known_at, access_recorder("person"));
    if (*expl) {
      if (claim.empty() && event.empty()) throw UsageError("give --claim or --event");
      return cmd_explain(paths, person, claim, event, as_json, policy_file, access_recorder("explain"));
    }
    if (*dig) return cmd_digest(paths);
    if (*polc) return cmd_policy(policy_file);
    if (*dls) return cmd_dead_letters(paths, as_json, access_recorder(every_person("dead-letters")));
    if (*lver) return cmd_log_verify(paths);
    if (*ltr) return cmd_log_truncate(paths, log_partition, log_offset, yes);
    if (*rep)
      return cmd_report(paths, explained,
                        access_recorder(every_person("report --explained " + std::to_string(explained))));
    if (*aud) return cmd_audit(paths, policy_file, access_recorder(every_person("audit")));
    if (*wif) {
      const std::string listing = as_json ? "what-if --json" : "what-if --show " + std::to_string(show);
      return cmd_what_if(paths, whatif_policy, as_json, show, access_recorder(every_person(listing)));
    }
    if (*rpl) return cmd_replay(paths, known_at, replay_out, policy_file);
    if (*stm) return cmd_statement(paths, person, year, format, out_file, policy_file, access_recorder("statement"));
    if (*qry) {
      QueryOptions o = qopt;
      o.data_dir = paths.data;
      o.access_log = access_log_named(o.access_log);
      if (!paths.brokers.empty()) o.open_log = [p = paths] { return p.open_log(8, true); };  // fold --brokers
      return run_query_service(o);
    }
    if (*alv) return cmd_access_log_verify(access_log_file(access_file));
    return exit_code::kOk;
  }
};

// Runs the parsed subcommand; each error is reported on stderr, named by `name` ("gongji <subcommand>"), and
// becomes its exit status (consumers/exit_codes.h).
int run_reporting_errors(const Cli& cli, const std::string& name) {
  try {
    return cli.run_command();
  } catch (const LogError& e) {  // an I/O error or a damaged log, named by the message
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code::kFailure;
  } catch (const fs::filesystem_error& e) {  // issue 8 item 3's wording: "no space left on device: <path>"
    std::cerr << name << ": " << io_error(e.code().value(), e.path1().string()) << " (" << e.what() << ")\n";
    return exit_code::kFailure;
  } catch (const UsageError& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code::kUsage;
  } catch (const ParameterError& e) {  // service/queries.h: "--option: detail"
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code::kUsage;
  } catch (const AmbiguousClaimError& e) {  // EVENTS.md: an ambiguous claim id is refused without --person
    std::cerr << name << ": --claim " << e.claim << " is ambiguous: persons ";
    for (size_t i = 0; i < e.persons.size(); ++i) std::cerr << (i ? ", " : "") << e.persons[i];
    std::cerr << (e.more ? " and more" : "") << " each have a claim " << e.claim << "; name one with --person\n";
    return exit_code::kUsage;
  } catch (const NotFoundError& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code::kNotFound;
  } catch (const std::exception& e) {  // a runtime failure (issue 8 item 8: never kUsage)
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code::kFailure;
  }
}

// Whether the words CLI11 did not take are all the innermost command's (CLI11 lists them last word first): a parent
// command's ("gongji log --bogus truncate ...") keep CLI11's own message, which names them.
bool only_innermost_has_extras(const CLI::App& root) {
  const CLI::App* app = &root;
  for (; !app->get_subcommands().empty(); app = app->get_subcommands().front())
    if (!app->remaining(false).empty()) return false;
  return true;
}

// The words of `extras` (what no command took) in the order given, parted at the first "--": CLI11 names them in
// reverse ("The following arguments were not expected: X --claim" for "-- --claim X"), and past a "--" only those
// after it. Matched from the end: what a command did not take comes after what it took (an option's value spelled
// like an extra word, `--data-dir X -- X`, is not taken for it).
std::pair<std::vector<std::string>, std::vector<std::string>> extras_around_dashes(
    const std::vector<std::string>& args, std::vector<std::string> extras) {
  std::pair<std::vector<std::string>, std::vector<std::string>> words;
  const auto dashes = std::find(args.begin(), args.end(), "--");
  for (auto a = args.rbegin(); a + 1 != args.rend(); ++a) {
    const bool after = dashes != args.end() && a.base() - 1 > dashes;
    if (a.base() - 1 == dashes) continue;
    if (auto x = std::find(extras.begin(), extras.end(), *a); x != extras.end())
      (after ? words.second : words.first).push_back(*a), extras.erase(x);
  }
  std::reverse(words.first.begin(), words.first.end());
  std::reverse(words.second.begin(), words.second.end());
  return words;
}

// "<command>: " and what the extras around a "--" are, for a command line holding one.
std::string extras_with_dashes(const std::string& command, const std::vector<std::string>& before,
                               const std::vector<std::string>& after) {
  std::string text = command + ": ";
  if (!before.empty()) text += "not an option or argument of this command: " + CLI::detail::join(before, " ");
  if (!before.empty() && !after.empty()) text += "; and ";
  if (!after.empty())
    text += "after --, every word is an argument, and this command does not take " + CLI::detail::join(after, " ");
  return text;
}

// CLI11's "Could not convert: --year = abc" as the other usage errors say it: "--year: 'abc' is not a whole number",
// or "is out of range" for digits too many for the option (every option whose text is converted so takes whole
// numbers: the one taking fractions, query's --rate, is range-checked before).
std::optional<std::string> conversion_problem(const CLI::ParseError& e) {
  const std::string what = e.what(), prefix = "Could not convert: ";
  const size_t eq = what.find(" = ");
  if (!dynamic_cast<const CLI::ConversionError*>(&e) || !what.starts_with(prefix) || eq == std::string::npos)
    return std::nullopt;
  const std::string name = what.substr(prefix.size(), eq - prefix.size()), value = what.substr(eq + 3);
  const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
  return name + ": '" + value + (digits ? "' is out of range" : "' is not a whole number");
}

// Parses the command line, with the settings of query's and serve's --config file (consumers/config.h) put before
// its own options; an exit status when it is not to run (--help, a usage error).
std::optional<int> parse_command_line(Cli& cli, int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::vector<ConfigEntry> from_file;
  std::string config;
  try {
    args = with_config(cli.app, args, {"query", "serve"}, from_file, config);
  } catch (const ConfigError& e) {
    std::cerr << "gongji " << args[1] << ": " << e.what() << "\n";
    return exit_code::kUsage;
  }
  std::vector<char*> av;
  for (std::string& a : args) av.push_back(a.data());
  try {  // CLI11's own parse errors are usage errors too; --help is a "success" (CLI11 exit code 0)
    cli.app.parse(static_cast<int>(av.size()), av.data());
  } catch (const CLI::ParseError& e) {
    const std::string word = unknown_subcommand(cli.app, argc, argv);
    if (word.empty() && e.get_exit_code() == 0) return cli.app.exit(e) == 0 ? exit_code::kOk : exit_code::kUsage;
    // The command as far as it is known ("gongji log" before an unknown "gongji log frobnicate").
    const std::string command = command_named(cli.app, argc, argv);
    // CLI11 checks required options before unknown words, so a mistyped "--persn P1" said only "--person is
    // required": the words the command it names did not take are named first (not a parent's, nor after "--").
    const CLI::App* innermost = &cli.app;
    while (!innermost->get_subcommands().empty()) innermost = innermost->get_subcommands().front();
    std::vector<std::string> unknown = innermost->remaining(false);
    const auto [before_dashes, after_dashes] = extras_around_dashes(args, cli.app.remaining(true));
    if (std::find(args.begin(), args.end(), "--") != args.end()) unknown.clear();
    if (!word.empty())
      std::cerr << command << ": unknown subcommand '" << word << "'";
    else if (dynamic_cast<const CLI::RequiredError*>(&e) && !unknown.empty())
      std::cerr << command << ": not an option or argument of this command: " << CLI::detail::join(unknown, " ")
                << "; and " << e.what();
    else if (auto why = config_error_of(e.what(), from_file, config))
      std::cerr << "gongji " << args[1] << ": " << *why;
    else if (dynamic_cast<const CLI::ExtrasError*>(&e) && !unknown.empty() && only_innermost_has_extras(cli.app))
      std::cerr << command << ": not an option or argument of this command: " << CLI::detail::join(unknown, " ");
    else if (dynamic_cast<const CLI::ExtrasError*>(&e) && !after_dashes.empty())
      std::cerr << extras_with_dashes(command, before_dashes, after_dashes);
    else if (auto why = conversion_problem(e))
      std::cerr << command << ": " << *why;
    else
      std::cerr << command << ": " << e.what();
    std::cerr << "\nRun '" << command << " --help' for more information.\n";
    return exit_code::kUsage;
  }
  return std::nullopt;
}

}  // namespace
}  // namespace gongji

namespace gongji {
namespace {
// The command named on the command line, run; `name` is set to its name ("gongji report") once it is known.
int run_command(Cli& cli, int argc, char** argv, std::string& name) {
  if (std::optional<int> rc = parse_command_line(cli, argc, argv)) return *rc;  // --help, a usage error
  name = "gongji " + cli.app.get_subcommands().front()->get_name();
  try {
    oplog::configure(cli.log_settings(name));
  } catch (const std::invalid_argument& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return exit_code::kUsage;
  }
  if (*cli.srv) {
    cli.sopt.query.access_log = access_log_named(cli.sopt.query.access_log);
    return serve(cli.sopt);
  }
  return run_reporting_errors(cli, name);
}
}  // namespace
}  // namespace gongji

int main(int argc, char** argv) {
  using namespace gongji;
  // Everything written to standard output, --help included, goes through `out`, which keeps a failed write's errno.
  StdoutBuffer out(::isatty(STDOUT_FILENO) == 1);
  std::streambuf* const stdio = std::cout.rdbuf(&out);
  Cli cli;
  std::string name = "gongji";
  const int rc = run_command(cli, argc, argv, name);
  // Output that could not be written (a full disk behind `> file`, a closed pipe) is a failure, never exit 0.
  std::cout.flush();
  std::cout.rdbuf(stdio);
  if (out.failed() || !std::cout) {
    std::cerr << name << ": " << io_error(out.failed() ? out.failed() : EIO, "standard output") << "\n";
    return rc == exit_code::kOk ? exit_code::kFailure : rc;
  }
  return rc;
}
