// The command line's standard output: std::cout's buffer, written to descriptor 1 with write(2), that keeps the
// errno of the first write that failed (a full disk behind `> file`: ENOSPC; a device error: EIO), so that the
// command's failure names its cause rather than whatever errno holds when the command ends (C stdio's buffer, under
// std::cout before, lost it: `report > /dev/full` said "input/output error"). After a failure nothing more is
// written. 64 KiB at a time; on a terminal every output operation is flushed (std::unitbuf), as lines were.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <streambuf>

namespace gongji {

class StdoutBuffer final : public std::streambuf {
 public:
  StdoutBuffer() { setp(buf_, buf_ + sizeof buf_); }
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
    }
    return traits_type::not_eof(c);
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
  int errno_ = 0;
};

}  // namespace gongji
