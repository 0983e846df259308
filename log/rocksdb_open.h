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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
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

// The process other than this one that holds the RocksDB database at `db_dir` open for writing (its LOCK file, which
// RocksDB locks with fcntl for as long as a writable open lasts), or nullopt when none does (or it cannot be told).
// Read from /proc/locks, matched by the LOCK file's device and inode: the file is never opened here, because closing
// any descriptor of a file releases every fcntl lock this process holds on it (the F_GETLK probe this replaced did
// so, and dropped the lock of a `serve` whose query service asked). Where stat's device is not the one /proc/locks
// prints (btrfs subvolumes, overlays over two file systems) nobody is named, never another file's holder; pids are
// /proc's, this process's too (/proc/self).
inline std::optional<long> lock_holder(const std::string& db_dir) {
  struct stat st {};
  if (::stat((db_dir + "/LOCK").c_str(), &st) != 0) return std::nullopt;  // never opened for writing
  char self[32] = {};
  if (::readlink("/proc/self", self, sizeof self - 1) <= 0) return std::nullopt;
  char file[64];
  std::snprintf(file, sizeof file, "%02x:%02x:%llu", ::major(st.st_dev), ::minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  std::ifstream locks("/proc/locks");  // "<n>: POSIX ADVISORY WRITE <pid> <maj>:<min>:<inode> <start> <end>"
  for (std::string line; std::getline(locks, line);) {
    std::istringstream fields(line);
    std::string n, kind, advisory, mode, where;
    long pid = 0;
    // A waiter's line reads "<n>: -> POSIX ...": it does not hold the lock.
    if (!(fields >> n >> kind >> advisory >> mode >> pid >> where) || kind != "POSIX") continue;
    if (where == file && std::to_string(pid) != self) return pid;
  }
  return std::nullopt;
}

}  // namespace gongji
