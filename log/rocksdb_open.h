// Opening a RocksDB database that another process may hold for writing: the log's id index while an `ingest` runs,
// the store while a `fold` or `serve` runs (read-only opens of the read commands, the query service's secondaries).
//
// Why: a read-only or secondary open reads the MANIFEST, then opens and checks every table it lists (max_open_files
// -1, RocksDB's default, which neither database changes: once open, a table the writer's compaction deletes stays
// readable through its descriptor, so later reads are not exposed). A table the writer deletes between the two fails
// the open: "Corruption: Can't access /.../002045.sst: IO error: No such file or directory: while stat a file for
// size" (RocksDB's consistency check), or "Corruption: Corruption: IO error: No such file or directory: While open a
// file for random read: .../003448.ldb ... in file .../MANIFEST-003450" (loading the tables): 6 of 382 `gongji
// person --known-at` runs beside a loop of one-line ingests. Nothing is damaged: the same open a moment later reads
// the writer's new MANIFEST.
//
// Contract: an open that fails naming a file that is not there (the two texts above, or PathNotFound; a MANIFEST or
// WAL the writer replaced too) is made again, up to kOpenAttempts times in all, 50 ms apart; any other failure, and
// the last attempt's, is returned as it is (so a table really missing is still refused, after 20 opens).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/status.h>

namespace gongji {

inline constexpr int kOpenAttempts = 20;

// Whether `st` is an open's failure to find a file the MANIFEST it read lists (see above).
inline bool names_a_vanished_file(const rocksdb::Status& st) {
  const std::string text = st.ToString();
  return st.IsPathNotFound() || text.find("Can't access") != std::string::npos ||
         text.find("No such file or directory") != std::string::npos;
}

// `open` (which sets `*db`) once, or again under the contract above; `*db` is null unless OK. `attempts`, when given,
// is set to the number of opens made.
inline rocksdb::Status open_beside_writer(const std::function<rocksdb::Status(rocksdb::DB**)>& open,
                                          rocksdb::DB** db, int* attempts = nullptr) {
  rocksdb::Status st;
  int n = 0;
  for (;;) {
    *db = nullptr;
    st = open(db);
    ++n;
    if (!st.ok()) delete *db, *db = nullptr;  // null after a failed open: RocksDB sets none
    if (st.ok() || n >= kOpenAttempts || !names_a_vanished_file(st)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (attempts) *attempts = n;
  return st;
}

// The process that holds the RocksDB database at `db_dir` open for writing (its LOCK file, which RocksDB locks with
// fcntl for as long as a writable open lasts), or nullopt when none does. Another process's only: POSIX record locks
// do not show a process its own.
inline std::optional<long> lock_holder(const std::string& db_dir) {
  const std::string lock = db_dir + "/LOCK";
  const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no LOCK file: never opened for writing
  struct flock probe {};
  probe.l_type = F_WRLCK;  // what would conflict with any lock held: RocksDB's is a write lock on the whole file
  probe.l_whence = SEEK_SET;
  const int rc = ::fcntl(fd, F_GETLK, &probe);
  ::close(fd);
  if (rc != 0 || probe.l_type == F_UNLCK) return std::nullopt;
  return static_cast<long>(probe.l_pid);
}

}  // namespace gongji
