// Opening a RocksDB database that another process may hold for writing: the log's id index while an `ingest` runs,
// the store while a `fold` or `serve` runs (read-only opens of the read commands, the query service's secondaries).
//
// Why: a read-only or secondary open reads the MANIFEST, then opens every table it lists (and keeps them open,
// max_open_files -1, RocksDB's default: a table the writer's compaction deletes later stays readable through its
// descriptor). A table the writer deletes between the two fails the open ("Corruption: Can't access /.../000123.sst"),
// or, worse, RocksDB passes over the table it could not open and the open succeeds: the first read that needs it
// then fails ("IO error: No such file or directory: While open a file for random read"), maybe midway through a
// command's output. (A `fold` opening the index beside an `ingest` failed so 2 times in 80.) Nothing is damaged: the
// same open a moment later reads the writer's new MANIFEST.
//
// Contract: an open that fails naming a file that is not there, or that succeeds while a table its MANIFEST lists is
// not there, is closed and made again, up to kOpenAttempts times in all, 50 ms apart; any other failure, and the last
// attempt's, is returned as it is (so a table really missing is still refused, after about a second).
#pragma once
#include <filesystem>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <rocksdb/status.h>

namespace gongji {

inline constexpr int kOpenAttempts = 20;

// Whether `st` is an open's failure to find a file the MANIFEST it read lists (see above).
inline bool names_a_vanished_file(const rocksdb::Status& st) {
  const std::string text = st.ToString();
  return st.IsPathNotFound() || text.find("Can't access") != std::string::npos ||
         text.find("No such file or directory") != std::string::npos;
}

// OK, or PathNotFound naming the first table of `db` that is not in its folder.
inline rocksdb::Status every_table_there(rocksdb::DB& db) {
  std::vector<rocksdb::LiveFileMetaData> tables;
  db.GetLiveFilesMetaData(&tables);
  std::error_code ec;
  for (const rocksdb::LiveFileMetaData& t : tables)
    if (!std::filesystem::exists(t.db_path + "/" + t.name, ec))
      return rocksdb::Status::PathNotFound("table " + t.db_path + t.name + " is gone (a writer's compaction)");
  return rocksdb::Status::OK();
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
    if (st.ok()) st = every_table_there(**db);
    if (!st.ok()) delete *db, *db = nullptr;
    if (st.ok() || n >= kOpenAttempts || !names_a_vanished_file(st)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (attempts) *attempts = n;
  return st;
}

}  // namespace gongji
