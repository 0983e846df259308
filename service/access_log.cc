#include "service/access_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "events/date.h"
#include "log/event_log.h"
#include "log/io_error.h"
#include "oplog/oplog.h"
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
      try {  // (a throw closes the file, and with it the lock: the destructor does not run)
        if (::flock(fd_, LOCK_EX) != 0) fail(errno);
        struct stat mine {}, named {};
        if (::fstat(fd_, &mine) != 0) fail(errno);
        if (::stat(path_.c_str(), &named) == 0 && mine.st_ino == named.st_ino && mine.st_dev == named.st_dev) {
          // A file just created (or left empty): its name made durable before its first line is reported written.
          if (mine.st_size == 0)
            if (const int err = fsync_errno(directory_of(path_))) fail(err, directory_of(path_));
          return;
        }
      } catch (...) {
        ::close(fd_);
        fd_ = -1;
        throw;
      }
      ::close(fd_);
    }
  }
  ~LockedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;

  [[noreturn]] void fail(int err) const { fail(err, path_); }
  [[noreturn]] static void fail(int err, const std::string& path) { throw LogError(io_error(err, path)); }

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

  // Whether the file is empty or ends with '\n' (else its last line was torn by a crash mid-write).
  bool ends_whole() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(errno);
    if (st.st_size == 0) return true;
    char last = 0;
    ssize_t n;
    do n = ::pread(fd_, &last, 1, st.st_size - 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) fail(n < 0 ? errno : EIO);
    return last == '\n';
  }

  // Appends `line` and its newline, after a newline that ends a torn last line if there is one (the torn line
  // stays a verify finding; the new line is whole and chained to it).
  void append_line(const std::string& line) const {
    // O_APPEND under the lock (flock): never interleaved with another appender. A short write (a disk filling) is
    // written on, so that the failure named is the one the system gives (ENOSPC), not a guess; what it wrote is cut
    // off again (append_whole), so that a disk filling leaves no torn line that verify would find for good.
    const std::string text = (ends_whole() ? "" : "\n") + line + "\n";
    if (const int err = append_whole(fd_, text)) fail(err);
    if (::fdatasync(fd_) != 0) fail(errno);
  }

  // Replaces the file's contents with `head` followed by its own bytes from offset `from` on, streamed: written
  // aside, synced, renamed into place (the lock stays on the old file, so waiting appenders reopen the new one).
  void replace(const std::string& head, off_t from) const {
    const std::string tmp = path_ + ".partial";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) fail(errno);
    auto write_all = [fd](const char* data, size_t size) {
      for (size_t done = 0; done < size;) {
        ssize_t n = ::write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        done += static_cast<size_t>(n);
      }
      return true;
    };
    bool ok = write_all(head.data(), head.size());
    char buf[1 << 16];
    for (off_t at = from; ok;) {
      ssize_t n = ::pread(fd_, buf, sizeof buf, at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      ok = write_all(buf, static_cast<size_t>(n));
      at += n;
    }
    const int err = ok && ::fsync(fd) == 0 ? 0 : (errno ? errno : EIO);
    ::close(fd);
    if (err || ::rename(tmp.c_str(), path_.c_str()) != 0) {
      ::unlink(tmp.c_str());
      fail(err ? err : errno);
    }
    // The rename made durable before lines are appended to the new file: else a power loss could bring the old file
    // back without them, its chain whole.
    if (const int err = fsync_errno(directory_of(path_))) throw LogError(io_error(err, directory_of(path_)));
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

// The finding for line `i` (0-based) whose predecessor is `before` (null for the first line), or "".
std::string check_link(const std::string* before, const std::string& line, size_t i) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  const std::string where = "line " + std::to_string(i + 1) + ": ";
  if (!j.is_object()) return where + "not a JSON object";
  const bool header = j.value("kind", "") == "pruned";
  if (header) return i == 0 ? "" : where + "a retention header that is not the first line";
  if (!j.contains("prev") || !j["prev"].is_string()) return where + "no 'prev' hash";
  const std::string prev = j["prev"].get<std::string>();
  if (i == 0) return prev == kNoPrev ? "" : where + "the first line's 'prev' is not 64 zeros (lines cut off?)";
  if (prev == sha256_hex(*before)) return "";
  if (i == 1 && field(*before, "kind") == "pruned" && prev == field(*before, "last")) return "";
  return where + "'prev' is not the SHA-256 of line " + std::to_string(i) + " (line " + std::to_string(i) +
         " or " + std::to_string(i + 1) + " was edited, inserted or removed)";
}

}  // namespace

std::string utc_timestamp(AccessLog::Clock::time_point t) {
  return format_instant(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

struct AccessLog::Waiting {
  nlohmann::ordered_json line;  // without "prev" until its group is written
  bool done = false;
  std::exception_ptr failed;
};

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
    if (due) {
      try {
        prune(now);
      } catch (const LogError& e) {  // the read is still logged; the refusal is reported, never silently resolved
        oplog::error(std::string("access log: ") + e.what());
      }
    }
  }
  auto mine = std::make_shared<Waiting>();
  mine->line = {{"at", utc_timestamp(now)}, {"who", e.who}, {"role", e.role}, {"via", e.via},
                {"endpoint", e.endpoint}, {"person", e.person}};
  if (!e.claim.empty()) mine->line["claim"] = e.claim;
  if (e.status) mine->line["status"] = e.status;
  // Group commit: the first thread to find no group being written writes every line waiting, its own included;
  // the others wait for the group that holds theirs.
  std::unique_lock<std::mutex> lock(mu_);
  waiting_.push_back(mine);
  while (!mine->done) {
    if (writing_) {
      written_.wait(lock);
      continue;
    }
    writing_ = true;
    std::vector<std::shared_ptr<Waiting>> group;
    group.swap(waiting_);
    lock.unlock();
    std::exception_ptr failed;
    try {
      write_group(group);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    writing_ = false;
    for (auto& w : group) {
      w->failed = failed;
      w->done = true;
    }
    written_.notify_all();
  }
  if (mine->failed) std::rethrow_exception(mine->failed);
}

// One flock, one write(2) of every line of the group, each chained to the one before it, one fdatasync.
void AccessLog::write_group(const std::vector<std::shared_ptr<Waiting>>& group) {
  LockedFile f(path_);
  std::string last = f.last_line(), text;
  for (auto& w : group) {
    w->line["prev"] = last.empty() ? kNoPrev : sha256_hex(last);
    last = w->line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += last;
    text += '\n';
  }
  text.pop_back();  // append_line adds the last newline
  f.append_line(text);
}

namespace {
// Whether `at` has utc_timestamp's form "YYYY-MM-DDTHH:MM:SS.mmmZ" (so that it compares as a time).
bool is_timestamp(const std::string& at) {
  static const std::string kForm = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (at.size() != kForm.size()) return false;
  for (size_t i = 0; i < at.size(); ++i)
    if (kForm[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(at[i])) : at[i] != kForm[i]) return false;
  return true;
}
}  // namespace

// Reads from the front only up to the first line to keep (a line at or after the cutoff, or whose `at` is not a
// timestamp), checking the chain of every line read; a break refuses the prune (LogError naming the line), since
// dropping the lines would hide it. Then the kept bytes are streamed aside behind the header.
size_t AccessLog::prune(Clock::time_point now) {
  if (keep_days_ <= 0) return 0;
  const std::string cutoff = utc_timestamp(now - std::chrono::hours(24) * keep_days_);
  LockedFile f(path_);
  std::ifstream in(path_, std::ios::binary);
  if (!in) f.fail(errno ? errno : ENOENT);
  std::string before, line;
  size_t drop = 0;
  std::streamoff kept_at = -1;
  for (std::streamoff at = in.tellg(); std::getline(in, line); at = in.tellg()) {
    if (std::string bad = check_link(drop ? &before : nullptr, line, drop); !bad.empty())
      throw LogError("access log " + path_ + ": " + bad + "; not pruned (`gongji access-log verify`)");
    const std::string when = field(line, "at");
    if (!is_timestamp(when) || when >= cutoff) {
      kept_at = at;
      break;
    }
    before = line;
    ++drop;
  }
  // A read that failed ends getline as the end of the file would: taken for it, every line after would be dropped as
  // old, and the new header's chain would still verify.
  if (in.bad()) f.fail(EIO);
  if (drop == 0) return 0;
  if (kept_at < 0) kept_at = std::filesystem::file_size(path_);  // every line is old
  nlohmann::ordered_json header = {{"kind", "pruned"}, {"at", utc_timestamp(now)}, {"dropped", drop},
                                   {"through", field(before, "at")}, {"last", sha256_hex(before)}};
  f.replace(header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", kept_at);
  return drop;
}

AccessLog::Verification AccessLog::verify(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LogError(io_error(errno ? errno : ENOENT, path));
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) text.append(buf, static_cast<size_t>(in.gcount()));
  if (in.bad()) throw LogError(io_error(EIO, path));  // a read that failed: not the end of the file
  Verification v;
  const std::vector<std::string> lines = split_lines(text);
  v.lines = lines.size();
  for (size_t i = 0; i < lines.size(); ++i)
    if (std::string f = check_link(i ? &lines[i - 1] : nullptr, lines[i], i); !f.empty()) v.findings.push_back(f);
  if (!text.empty() && !text.ends_with('\n'))
    v.findings.push_back("line " + std::to_string(lines.size()) + ": no newline at the end (a torn write)");
  return v;
}

}  // namespace gongji
