// Benchmark (not a test): the fold's rate in events/second against, measured in the same run on the same disk, raw
// RocksDB doing the writes the fold did (issue 10 item 4):
//   - the same keys and value sizes: every key of the folded store with its value's size (scanned after the fold),
//     plus as many overwrites of person keys (p/, the person's state, rewritten as its events fold) as the fold
//     made puts beyond the store's keys;
//   - values of random bytes (they do not compress; the fold's binary output records and person states do, so this
//     is the harder case for the raw side);
//   - the same RocksDB options (projections/store.h store_db_options), the same number of WriteBatches, written
//     past the WAL as the fold's (Durability::unlogged), and a flush at the end as Store::fold's;
//   - the fold's reads: a person or event-id key is read before its first put (the fold reads a person once while
//     it stays cached, and an event id once), in batched MultiGets of sorted keys as the fold reads a chunk of
//     FoldOptions::read_ahead records ahead (PartitionFolder::prefetch), at most 2 x read_ahead keys each. Every
//     key read here is absent (read before its first put), as the fold's event ids and first reads of a person
//     are; at the city's size the fold also reads most persons back from the store, which this does not;
//   - keys spread over the batches in a random order (the fold writes o/, i/ and g/ keys in log order, which is
//     cheaper to compact), each batch written in key order as the fold writes its own (store.h puts_in_key_order);
//   - as many writers as the fold has workers (--threads, FoldOptions::threads), each the puts of its own keys (by
//     a hash of the key; the fold's workers write their own partitions, and no two share a key).
// Prints both figures and their ratio.
//   gongji-bench-fold [--people N] [--dir DIR] [--threads N]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>
#include <atomic>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "events/event_json.h"
#include "log/event_log.h"
#include "ops/generator.h"
#include "projections/store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Put {
  std::string key;
  uint32_t value_size;
};

// Every key of the folded store with its value's size, and a per-prefix summary on stdout.
std::vector<Put> scan_store(const std::string& path) {
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(gongji::store_db_options(), path, &db).ok()) return {};
  std::vector<Put> puts;
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_prefix;  // prefix -> keys, value bytes
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    puts.push_back({it->key().ToString(), static_cast<uint32_t>(it->value().size())});
    auto& [n, bytes] = by_prefix[puts.back().key.substr(0, puts.back().key.find('/'))];
    ++n;
    bytes += it->value().size();
  }
  it.reset();
  delete db;
  std::printf("store:     %zu keys;", puts.size());
  for (const auto& [p, nb] : by_prefix)
    std::printf(" %s/ %llu (%.0f B)", p.c_str(), static_cast<unsigned long long>(nb.first),
                nb.first ? static_cast<double>(nb.second) / static_cast<double>(nb.first) : 0.0);
  std::printf("\n");
  return puts;
}

// The raw workload: the store's keys, then overwrites of person keys up to the fold's put count, shuffled.
std::vector<Put> raw_workload(std::vector<Put> keys, uint64_t fold_puts) {
  std::vector<Put> persons;
  for (const Put& p : keys)
    if (p.key.rfind("p/", 0) == 0) persons.push_back(p);
  std::mt19937_64 rng(20221201);
  for (uint64_t n = keys.size(); n < fold_puts && !persons.empty(); ++n)
    keys.push_back(persons[rng() % persons.size()]);
  std::shuffle(keys.begin(), keys.end(), rng);
  return keys;
}

// Reads `keys` in one batched MultiGet of sorted keys, as the fold's read-ahead (projections/store.cc read_sorted),
// and empties them; false on a read error (a key not found is none).
bool read_sorted_keys(rocksdb::DB* raw, std::vector<std::string>& keys) {
  if (keys.empty()) return true;
  std::sort(keys.begin(), keys.end());
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> statuses(slices.size());
  raw->MultiGet(rocksdb::ReadOptions(), raw->DefaultColumnFamily(), slices.size(), slices.data(), values.data(),
                statuses.data(), true);
  keys.clear();
  return std::all_of(statuses.begin(), statuses.end(), [](const auto& st) { return st.ok() || st.IsNotFound(); });
}

// Writes `work` in `commits` unlogged batches from `threads` writers, each the puts of its own keys (by a hash of
// the key, as the fold's workers each write their own partitions and no key of another); returns the seconds
// taken, or -1 when the database does not open.
double raw_put_seconds(const std::string& path, const std::vector<Put>& work, uint64_t commits, size_t threads,
                       uint64_t* bytes) {
  rocksdb::Options o = gongji::store_db_options();
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(o, path, &raw).ok()) return -1;
  std::string noise(1 << 20, '\0');  // random bytes: values cut from it do not compress
  std::mt19937_64 rng(7);
  for (size_t i = 0; i + 8 <= noise.size(); i += 8) {
    const uint64_t x = rng();
    std::memcpy(&noise[i], &x, 8);
  }
  const uint64_t per_batch = commits ? (work.size() + commits - 1) / commits : work.size();
  const size_t read_chunk = std::max<size_t>(gongji::FoldOptions{}.read_ahead, 1);
  std::vector<std::vector<size_t>> share(threads);  // each writer's puts, in the workload's order
  for (size_t i = 0; i < work.size(); ++i) share[std::hash<std::string>{}(work[i].key) % threads].push_back(i);
  std::vector<uint64_t> written(threads, 0);
  std::atomic<bool> failed{false};
  auto writer = [&](size_t w) {
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    rocksdb::WriteBatch batch;
    std::mt19937_64 pick(7 + w);
    std::unordered_set<std::string> read;
    std::vector<std::string> to_read;  // keys put for the first time, read before the batch holding them is written
    auto read_ahead = [&] {
      if (!read_sorted_keys(raw, to_read)) failed = true;
    };
    auto commit = [&] {
      read_ahead();
      rocksdb::WriteBatch sorted = gongji::puts_in_key_order(batch);
      if (!raw->Write(wo, &sorted).ok()) failed = true;
      batch.Clear();
    };
    for (size_t i : share[w]) {
      const Put& p = work[i];
      // The fold reads a person once per cache lifetime and an event id once: a read at a key's first put only.
      if ((p.key[0] == 'p' || p.key[0] == 'e') && read.insert(p.key).second) to_read.push_back(p.key);
      // The fold reads a chunk of FoldOptions::read_ahead records ahead: about that many event ids and as many
      // persons at most.
      if (to_read.size() >= 2 * read_chunk) read_ahead();
      const size_t off = pick() % (noise.size() - std::min<size_t>(p.value_size, noise.size() - 1));
      batch.Put(p.key, rocksdb::Slice(noise.data() + off, p.value_size));
      written[w] += p.key.size() + p.value_size;
      if (batch.Count() >= per_batch) commit();
    }
    if (batch.Count()) commit();
  };
  auto t0 = Clock::now();
  std::vector<std::thread> others;
  for (size_t w = 1; w < threads; ++w) others.emplace_back(writer, w);
  writer(0);
  for (auto& t : others) t.join();
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (!raw->Flush(fo).ok()) failed = true;
  double raw_s = std::chrono::duration<double>(Clock::now() - t0).count();
  *bytes = 0;
  for (uint64_t b : written) *bytes += b;
  delete raw;
  if (failed) std::fprintf(stderr, "gongji-bench-fold: a raw write failed in %s\n", path.c_str());
  return failed ? -1 : raw_s;
}

}  // namespace

int main(int argc, char** argv) {
  int people = 20000;
  std::string dir = "/tmp/gongji-bench";
  CLI::App app{"gongji-bench-fold: fold rate vs raw RocksDB doing the fold's writes and reads"};
  app.add_option("--people", people, "population size (default 20000)");
  app.add_option("--dir", dir, "scratch directory (removed first)");
  size_t threads = gongji::FoldOptions{}.threads;
  app.add_option("--threads", threads, "fold workers, and raw writers (default 2)")->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  fs::remove_all(dir);
  fs::create_directories(dir);

  auto log = gongji::open_segment_log(dir + "/log", 8);
  gongji::GeneratorOptions opt;
  opt.people = people;
  uint64_t events = 0;
  gongji::generate_population(opt, [&](const std::string& line) {
    log->append(gongji::parse_event(line));
    ++events;
  });
  log->sync();
  log.reset();  // closed before the reader opens the id index (beside the writer it races its compactions)
  log = gongji::open_segment_log(dir + "/log", 8, true);  // a reader: it gives each fold worker its own copy
  std::printf("workload:  %d people, %llu events; %zu fold workers and raw writers\n", people,
              static_cast<unsigned long long>(events), threads);

  gongji::FoldStats st;
  double fold_s;
  {
    gongji::Store store(dir + "/state");
    auto t0 = Clock::now();
    gongji::FoldOptions fo;
    fo.threads = threads;
    st = store.fold(*log, gongji::default_policy(), fo);
    fold_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double fold_rate = static_cast<double>(st.events) / fold_s;
  std::printf("fold:      %llu log records in %.2f s = %.0f events/s (%llu puts, %.1f MB, %llu commits)\n",
              static_cast<unsigned long long>(st.events), fold_s, fold_rate, static_cast<unsigned long long>(st.puts),
              static_cast<double>(st.put_bytes) / 1e6, static_cast<unsigned long long>(st.commits));
  const double per = static_cast<double>(std::max<uint64_t>(st.events, 1));
  std::printf("persons:   %llu written (%.2f per event), %.1f MB of encodings (%.0f bytes per event), %llu read back "
              "from the store\n",
              static_cast<unsigned long long>(st.person_writes), static_cast<double>(st.person_writes) / per,
              static_cast<double>(st.person_write_bytes) / 1e6, static_cast<double>(st.person_write_bytes) / per,
              static_cast<unsigned long long>(st.person_reads));

  const std::vector<Put> work = raw_workload(scan_store(dir + "/state"), st.puts);
  uint64_t raw_bytes = 0;
  const double raw_s = raw_put_seconds(dir + "/raw", work, st.commits, threads, &raw_bytes);
  if (raw_s < 0 || work.empty()) return 1;
  const double raw_rate = static_cast<double>(work.size()) / raw_s;
  std::printf("raw:       %zu puts (%.1f MB) in %.2f s = %.0f puts/s = %.0f events/s at the fold's puts per event\n",
              work.size(), static_cast<double>(raw_bytes) / 1e6, raw_s, raw_rate,
              static_cast<double>(st.events) / raw_s);
  std::printf("ratio:     fold events/s / raw events/s = %.3f   (the same writes and reads: raw %.2f s, fold %.2f s)\n",
              raw_s / fold_s, raw_s, fold_s);
  std::printf("fold = the real fold of the log into the store, every record settled and committed with its outputs\n"
              "       and log position; raw = only RocksDB doing the fold's puts, gets, unlogged batches and flush\n");
  fs::remove_all(dir);
  return 0;
}
