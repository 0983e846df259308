// The command line's standard output: std::cout's buffer, written to descriptor 1 with write(2), that keeps the
// errno of the first write that failed (a full disk behind `> file`: ENOSPC; a device error: EIO), so that the
// command's failure names its cause rather than whatever errno holds when the command ends (C stdio's buffer, under
// std::cout before, lost it: `report > /dev/full` said "input/output error"). After a failure nothing more is
// written. 64 KiB at a time; `by_line` (a terminal) writes each line as it is ended, as stdio did.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <streambuf>

namespace gongji {

class StdoutBuffer final : public std::streambuf {
 public:
  explicit StdoutBuffer(bool by_line) : by_line_(by_line) { setp(buf_, buf_ + sizeof buf_); }
  StdoutBuffer(const StdoutBuffer&) = delete;
  StdoutBuffer& operator=(const StdoutBuffer&) = delete;
  // 0, or the errno of the first write that failed.
  int failed() const { return errno_; }

 protected:
  int_type overflow(int_type c) override {
    if (write_out() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
      if (by_line_ && traits_type::to_char_type(c) == '\n' && write_out() != 0) return traits_type::eof();
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const std::streamsize put = std::streambuf::xsputn(s, n);  // (overflow writes out a full buffer)
    if (by_line_ && n > 0 && std::memchr(s, '\n', static_cast<size_t>(n))) write_out();
    return put;
  }
  int sync() override { return write_out(); }

 private:
  int write_out() {
    for (const char* p = pbase(); !errno_ && p < pptr();) {
      const ssize_t n = ::write(STDOUT_FILENO, p, static_cast<size_t>(pptr() - p));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) errno_ = n < 0 ? errno : EIO;
      else p += n;
    }
    setp(buf_, buf_ + sizeof buf_);
    return errno_ ? -1 : 0;
  }
  char buf_[1 << 16];
  bool by_line_;
  int errno_ = 0;
};

}  // namespace gongji
