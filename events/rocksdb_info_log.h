// RocksDB's diagnostic LOG for every database gongji opens (the projections store, the log's id index).
//
// Why (issue 8 item 3): with RocksDB's own file logger, a full disk first fails an append to the LOG file; the
// next message (RocksDB logs the background error it just raised) appends again to that failed writer and trips
// the assertion `sync_without_flush_called_` in WritableFileWriter: the process aborts instead of reporting
// "No space left on device". Reproduced with `gongji fold` on an 8 MiB tmpfs (backtrace: DBImpl::WriteImpl ->
// IOStatusCheck -> ErrorHandler::SetBGError -> rocksdb::Log -> EnvLogger::Logv -> WritableFileWriter::Append).
//
// Contract: messages go to <dir>/LOG through stdio; a failed write of a diagnostic line is ignored (it is not
// data: the data paths report their own errors). Use: options.info_log = std::make_shared<TolerantInfoLog>(dir).
#pragma once
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>

#include <rocksdb/env.h>

namespace gongji {

class TolerantInfoLog final : public rocksdb::Logger {
 public:
  explicit TolerantInfoLog(const std::string& dir, rocksdb::InfoLogLevel level = rocksdb::InfoLogLevel::INFO_LEVEL)
      : rocksdb::Logger(level), f_(std::fopen((dir + "/LOG").c_str(), "a")) {}
  ~TolerantInfoLog() override {
    if (f_) std::fclose(f_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (!f_) return;
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d-%H:%M:%S ", &tm);
    std::fputs(stamp, f_);
    std::vfprintf(f_, format, ap);
    std::fputc('\n', f_);
    std::fflush(f_);  // errors ignored on purpose (see above)
  }

 private:
  std::FILE* f_;
};

}  // namespace gongji
