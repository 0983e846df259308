// The one wording of an I/O failure in every message (issue 8 item 3): strerror in lower case, then the path,
// e.g. "no space left on device: /data/log/p0003/00000000000000000000.seg".
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace gongji {

inline std::string io_error_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

inline std::string io_error(int err, const std::string& path) { return io_error_text(err) + ": " + path; }

// The directory holding `path` ("." for a name without one).
inline std::string directory_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// fsync(2) of the file or directory `path` (of a directory, so that a file created, renamed or removed in it stays
// so after a power loss): 0, or the errno of the step that failed (the caller words it with io_error, naming `path`).
// The one fsync of a path (a file already open is fsynced through its descriptor): each layer words its failure as its
// own error (projections/store.h and log/segment_log.cc fsync_path: StoreError, LogError).
inline int fsync_errno(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// Appends all of `text` to `fd` (opened O_APPEND, its appenders serialised by the caller): 0, or the errno of the
// write that failed, after cutting the file back to its size before, so that a disk filling part-way through leaves
// no part of `text` behind (a torn line a reader would meet for good). Only a crash can still leave one. EINTR is
// retried; a write that writes nothing is EIO.
inline int append_whole(int fd, const std::string& text) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno;
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      if (done > 0) (void)!::ftruncate(fd, st.st_size);  // (if the cut fails too, the write's errno is the news)
      return err;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace gongji
