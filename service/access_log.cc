#include "service/access_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "log/event_log.h"
#include "log/io_error.h"
#include "service/auth.h"

namespace gongji {

namespace {

const std::string kNoPrev(64, '0');

// The access log's file, opened for appending and locked (flock LOCK_EX) until destroyed. If a prune renamed a new
// file into place between open and lock, the new one is opened and locked instead.
class LockedFile {
 public:
  explicit LockedFile(std::string path) : path_(std::move(path)) {
    for (;;) {
      fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
      if (fd_ < 0) fail(errno);
      if (::flock(fd_, LOCK_EX) != 0) fail(errno);
      struct stat mine {}, named {};
      if (::fstat(fd_, &mine) != 0) fail(errno);
      if (::stat(path_.c_str(), &named) == 0 && mine.st_ino == named.st_ino && mine.st_dev == named.st_dev) return;
      ::close(fd_);
    }
  }
  ~LockedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;

  [[noreturn]] void fail(int err) const { throw LogError(io_error(err, path_)); }

  std::string read_all() const {
    std::string text;
    char buf[1 << 16];
    for (off_t at = 0;;) {
      ssize_t n = ::pread(fd_, buf, sizeof buf, at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(errno);
      if (n == 0) return text;
      text.append(buf, static_cast<size_t>(n));
      at += n;
    }
  }

  // The file's last line without its newline ("" for an empty file), read backwards from the end.
  std::string last_line() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(errno);
    off_t end = st.st_size;
    std::string tail;
    char buf[4096];
    while (end > 0) {
      const off_t from = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
      ssize_t n = ::pread(fd_, buf, static_cast<size_t>(end - from), from);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail(n < 0 ? errno : EIO);
      tail.insert(0, buf, static_cast<size_t>(n));
      end = from;
      const size_t body = tail.size() - (tail.ends_with('\n') ? 1 : 0);
      if (size_t nl = tail.rfind('\n', body ? body - 1 : 0); nl != std::string::npos && nl < body)
        return tail.substr(nl + 1, body - nl - 1);
    }
    return tail.ends_with('\n') ? tail.substr(0, tail.size() - 1) : tail;
  }

  void append_line(const std::string& line) const {
    const std::string text = line + "\n";  // one write(2) with O_APPEND: never interleaved with another appender
    ssize_t n;
    do n = ::write(fd_, text.data(), text.size());
    while (n < 0 && errno == EINTR);
    if (n < 0) fail(errno);
    if (static_cast<size_t>(n) != text.size()) fail(EIO);
    if (::fdatasync(fd_) != 0) fail(errno);
  }

  // Replaces the file's contents with `text`: written aside, synced, renamed into place (the lock stays on the old
  // file, so waiting appenders reopen the new one).
  void replace(const std::string& text) const {
    const std::string tmp = path_ + ".partial";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) fail(errno);
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      done += static_cast<size_t>(n);
    }
    const int err = done == text.size() && ::fsync(fd) == 0 ? 0 : (errno ? errno : EIO);
    ::close(fd);
    if (err || ::rename(tmp.c_str(), path_.c_str()) != 0) {
      ::unlink(tmp.c_str());
      fail(err ? err : errno);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string field(const std::string& line, const char* key) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// The finding for line `i` (0-based) of `lines`, or "".
std::string check_line(const std::vector<std::string>& lines, size_t i) {
  auto j = nlohmann::json::parse(lines[i], nullptr, false);
  const std::string where = "line " + std::to_string(i + 1) + ": ";
  if (!j.is_object()) return where + "not a JSON object";
  const bool header = j.value("kind", "") == "pruned";
  if (header) return i == 0 ? "" : where + "a retention header that is not the first line";
  if (!j.contains("prev") || !j["prev"].is_string()) return where + "no 'prev' hash";
  const std::string prev = j["prev"].get<std::string>();
  if (i == 0) return prev == kNoPrev ? "" : where + "the first line's 'prev' is not 64 zeros (lines cut off?)";
  if (prev == sha256_hex(lines[i - 1])) return "";
  if (i == 1 && field(lines[0], "kind") == "pruned" && prev == field(lines[0], "last")) return "";
  return where + "'prev' is not the SHA-256 of line " + std::to_string(i) + " (line " + std::to_string(i) +
         " or " + std::to_string(i + 1) + " was edited, inserted or removed)";
}

}  // namespace

std::string utc_timestamp(AccessLog::Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

AccessLog::AccessLog(std::string path, int keep_days) : path_(std::move(path)), keep_days_(keep_days) {
  { LockedFile created(path_); }  // a bad path fails at start, not at the first read
  last_prune_ = Clock::now();
  prune(last_prune_);
}

void AccessLog::append(const AccessEntry& e, Clock::time_point now) {
  if (keep_days_ > 0) {
    bool due;
    {
      std::lock_guard<std::mutex> lock(mu_);
      due = now - last_prune_ > std::chrono::hours(1);
      if (due) last_prune_ = now;
    }
    if (due) prune(now);
  }
  nlohmann::ordered_json j = {{"at", utc_timestamp(now)}, {"who", e.who}, {"role", e.role}, {"via", e.via},
                              {"endpoint", e.endpoint}, {"person", e.person}};
  if (!e.claim.empty()) j["claim"] = e.claim;
  if (e.status) j["status"] = e.status;
  LockedFile f(path_);
  const std::string last = f.last_line();
  j["prev"] = last.empty() ? kNoPrev : sha256_hex(last);
  f.append_line(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

size_t AccessLog::prune(Clock::time_point now) {
  if (keep_days_ <= 0) return 0;
  const std::string cutoff = utc_timestamp(now - std::chrono::hours(24) * keep_days_);
  LockedFile f(path_);
  const std::vector<std::string> lines = split_lines(f.read_all());
  size_t drop = 0;
  while (drop < lines.size() && field(lines[drop], "at") < cutoff) ++drop;
  if (drop == 0) return 0;
  nlohmann::ordered_json header = {{"kind", "pruned"}, {"at", utc_timestamp(now)}, {"dropped", drop},
                                   {"through", field(lines[drop - 1], "at")}, {"last", sha256_hex(lines[drop - 1])}};
  std::string text = header.dump() + "\n";
  for (size_t i = drop; i < lines.size(); ++i) text += lines[i] + "\n";
  f.replace(text);
  return drop;
}

AccessLog::Verification AccessLog::verify(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LogError(io_error(errno ? errno : ENOENT, path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  Verification v;
  const std::vector<std::string> lines = split_lines(text);
  v.lines = lines.size();
  for (size_t i = 0; i < lines.size(); ++i)
    if (std::string f = check_line(lines, i); !f.empty()) v.findings.push_back(f);
  if (!text.empty() && !text.ends_with('\n'))
    v.findings.push_back("line " + std::to_string(lines.size()) + ": no newline at the end (a torn write)");
  return v;
}

}  // namespace gongji
