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
#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>

#include <rocksdb/env.h>

namespace gongji {

class TolerantInfoLog final : public rocksdb::Logger {
 public:
  // dir "": messages are discarded (read-only opens write nothing into the database's folder). A LOG over 64 MiB
  // is moved to LOG.old (one generation) when a writer opens it, so it never grows without bound.
  explicit TolerantInfoLog(const std::string& dir, rocksdb::InfoLogLevel level = rocksdb::InfoLogLevel::INFO_LEVEL)
      : rocksdb::Logger(level), f_(open(dir)) {}
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
  static std::FILE* open(const std::string& dir) {
    if (dir.empty()) return nullptr;
    const std::string path = dir + "/LOG";
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && st.st_size > (64 << 20)) std::rename(path.c_str(), (path + ".old").c_str());
    return std::fopen(path.c_str(), "a");
  }
  std::FILE* f_;
};

}  // namespace gongji
