#include "events/event_json.h"
#include "ingest/ingest.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>

#include "log/fault_probe.h"
#include "log/io_error.h"

namespace gongji {

std::string_view spelled(IngestCode c) {
  switch (c) {
    case IngestCode::invalid: return "INVALID";
    case IngestCode::too_large: return "TOO_LARGE";
    case IngestCode::id_conflict: return "ID_CONFLICT";
  }
  return "INVALID";
}

std::string dead_letter_line(const IngestRefusal& r) {
  // nlohmann's object keeps its keys sorted: the order the header documents.
  const nlohmann::json j = {{"source", r.source}, {"line", r.line},     {"code", std::string(spelled(r.code))},
                            {"field", r.field},   {"reason", r.reason}, {"raw", r.raw}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Opened for appending. Its name is made durable (its directory fsynced) before any line is reported written; a
// last line torn by a crash is ended first, so that the next refusal is a line of its own (the torn one stays
// unparseable, and the same input refused again gives its refusal whole).
namespace {
// flock(2), retried when a signal interrupts it: 0, or its errno.
int lock_file(int fd, int how) {
  while (::flock(fd, how) != 0)
    if (errno != EINTR) return errno;
  return 0;
}
}  // namespace

DeadLetterFile::DeadLetterFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(errno);
  try {
    // Under the lock put() takes: another ingest's line being written is never taken for a torn one.
    if (const int err = lock_file(fd_, LOCK_EX)) fail(err);
    if (const int err = fsync_errno(directory_of(path_))) throw LogError(io_error(err, directory_of(path_)));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(errno);
    char last = '\n';
    if (st.st_size > 0)
      if (const ssize_t n = ::pread(fd_, &last, 1, st.st_size - 1); n != 1) fail(n < 0 ? errno : EIO);
    if (last != '\n')
      if (const ssize_t n = ::write(fd_, "\n", 1); n != 1) fail(n < 0 ? errno : EIO);
    lock_file(fd_, LOCK_UN);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

DeadLetterFile::~DeadLetterFile() {
  if (fd_ >= 0) ::close(fd_);
}

void DeadLetterFile::put(const IngestRefusal&, const std::string& dead_line) {
  const std::string line = dead_line + "\n";
  int err = probe::fail_errno("deadletter.before_write");
  if (err < 0) {  // torn: about half the line, then the process dies
    (void)!::write(fd_, line.data(), line.size() / 2);
    probe::crash_now();
  }
  if (err) fail(err);
  // Under an exclusive lock: `ingest --brokers` takes no lock on the data directory, so two may append here, and
  // append_whole's cut back (a disk filling part-way leaves no part of the line) must not cut another's whole line.
  if (const int locked = lock_file(fd_, LOCK_EX)) fail(locked);
  const int failed = append_whole(fd_, line);
  lock_file(fd_, LOCK_UN);
  if (failed) fail(failed);
}

void DeadLetterFile::sync() {
  if (::fsync(fd_) != 0) fail(errno);
}

void DeadLetterFile::fail(int err) const { throw LogError(io_error(err, path_)); }

void DeadLetterTopic::sync() {
  publish_dead_letters(k_, lines_);
  lines_.clear();
}

namespace {

// One non-blank line of the input, parsed: `event`, or the field and reason it is refused for.
struct Line {
  uint64_t lineno = 0;
  std::string text;
  std::optional<Event> event;
  std::string field, reason;
};

// Up to `n` non-blank lines of `in`, numbered on from `lineno`. A read error leaves `in` bad, with `read_errno` set.
std::vector<Line> read_lines(std::istream& in, size_t n, uint64_t& lineno, int& read_errno) {
  std::vector<Line> lines;
  std::string text;
  for (errno = 0; lines.size() < n && std::getline(in, text); errno = 0) {
    ++lineno;
    if (text.ends_with('\r')) text.pop_back();  // a CRLF line ending: the line's bytes are those before it
    if (text.find_first_not_of(" \t\r") != std::string::npos) lines.push_back({lineno, std::move(text), {}, {}, {}});
  }
  if (in.bad()) read_errno = errno ? errno : EIO;
  return lines;
}

std::vector<Line> parse_lines(std::vector<Line> lines, const CodeLists* codes) {
  for (Line& l : lines) {
    try {
      l.event.emplace(parse_event(l.text, *codes));
    } catch (const EventError& err) {
      l.field = err.field;
      l.reason = err.what();
    }
  }
  return lines;
}

}  // namespace

Ingestor::Ingestor(EventLog& log, std::vector<DeadLetterSink*> sinks, CodeLists codes)
    : log_(log), sinks_(std::move(sinks)), codes_(std::move(codes)) {}

void Ingestor::refuse(IngestRefusal r, IngestCounts& n, const std::function<void(const IngestRefusal&)>& on_refused) {
  ++n.refused;
  const std::string line = dead_letter_line(r);
  for (DeadLetterSink* s : sinks_) s->put(r, line);
  if (on_refused) on_refused(r);
}

void Ingestor::sync_all() {
  log_.sync();
  for (DeadLetterSink* s : sinks_) s->sync();
}

IngestCounts Ingestor::ingest(std::istream& in, const std::string& source,
                              const std::function<void(const IngestRefusal&)>& on_refused) {
  IngestCounts n;
  constexpr size_t kChunkLines = 4096;
  uint64_t lineno = 0;
  int read_errno = 0;
  auto ahead = std::async(std::launch::async, parse_lines, read_lines(in, kChunkLines, lineno, read_errno), &codes_);
  for (std::vector<Line> chunk = ahead.get(); !chunk.empty(); chunk = ahead.get()) {
    ahead = std::async(std::launch::async, parse_lines, read_lines(in, kChunkLines, lineno, read_errno), &codes_);
    for (Line& l : chunk) {
      auto refused = [&](IngestCode code, std::string field, std::string reason) {
        refuse({source, l.lineno, code, std::move(field), std::move(reason), std::move(l.text)}, n, on_refused);
      };
      if (!l.event) {
        refused(IngestCode::invalid, l.field, l.reason);
        continue;
      }
      AppendResult r;
      try {
        r = log_.append(*l.event);
      } catch (const RecordTooLarge& err) {
        refused(IngestCode::too_large, "", err.what());
        continue;
      }
      switch (r) {
        case AppendResult::appended: ++n.appended; break;
        case AppendResult::duplicate: ++n.duplicate; break;
        case AppendResult::conflict:
          refused(IngestCode::id_conflict, "id",
                  "event id " + l.event->id() + " is already in the log with other content");
          break;
      }
      probe::crash_point("ingest.mid_file");
    }
  }
  sync_all();
  if (read_errno)  // a read error is not the end of the input: what was read is kept, the caller fails
    throw LogError(io_error(read_errno, source == "-" ? "standard input" : source) + " (reading stopped after line " +
                   std::to_string(lineno) + "; what was read is appended: run the same ingest again)");
  return n;
}

}  // namespace gongji
