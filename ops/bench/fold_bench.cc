// Benchmark (not a test): the fold's rate in events/second against, measured in the same run on the same disk,
// the rate of raw RocksDB WriteBatch puts of the same number of keys, the same average key and value sizes, the
// same batch count and the same sync setting. Prints both figures and their ratio.
//   gongji-bench-fold [--people N] [--dir DIR]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "events/event_log.h"
#include "ops/generator.h"
#include "projections/store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Raw puts: the same number of keys with the same average size per put, in the same number of synced batches as
// the fold made. Returns the seconds they took, or -1 when the database does not open.
double raw_put_seconds(const std::string& path, const gongji::FoldStats& st, size_t key_len, size_t val_len) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(o, path, &raw).ok()) return -1;
  const uint64_t per_batch = st.commits ? (st.puts + st.commits - 1) / st.commits : st.puts;
  std::string value(val_len, 'v');
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::WriteBatch batch;
  uint64_t x = 88172645463325252ull;
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < st.puts; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // keys in random order, like persons across a partition
    char key[32];
    std::snprintf(key, sizeof key, "k/%021llu", static_cast<unsigned long long>(x % 100000000000ull));
    value[i % val_len] = static_cast<char>('a' + i % 26);
    batch.Put(rocksdb::Slice(key, key_len), value);
    if (batch.Count() >= per_batch) {
      raw->Write(wo, &batch);
      batch.Clear();
    }
  }
  if (batch.Count()) raw->Write(wo, &batch);
  double raw_s = std::chrono::duration<double>(Clock::now() - t0).count();
  delete raw;
  return raw_s;
}

}  // namespace

int main(int argc, char** argv) {
  int people = 20000;
  std::string dir = "/tmp/gongji-bench";
  CLI::App app{"gongji-bench-fold: fold rate vs raw RocksDB WriteBatch put rate"};
  app.add_option("--people", people, "population size (default 20000)");
  app.add_option("--dir", dir, "scratch directory (removed first)");
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
  std::printf("workload: %d people, %llu events\n", people, static_cast<unsigned long long>(events));

  gongji::FoldStats st;
  double fold_s;
  {
    gongji::Store store(dir + "/state");
    auto t0 = Clock::now();
    st = store.fold(*log, gongji::default_policy());
    fold_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  double fold_rate = static_cast<double>(st.events) / fold_s;
  std::printf("fold:      %llu log records in %.2f s = %.0f events/s (%llu puts, %.1f MB, %llu commits)\n",
              static_cast<unsigned long long>(st.events), fold_s, fold_rate, static_cast<unsigned long long>(st.puts),
              static_cast<double>(st.put_bytes) / 1e6, static_cast<unsigned long long>(st.commits));

  const size_t per_put = st.puts ? st.put_bytes / st.puts : 0;
  const size_t key_len = 24, val_len = per_put > key_len + 8 ? per_put - key_len - 8 : 16;
  const double raw_s = raw_put_seconds(dir + "/raw", st, key_len, val_len);
  if (raw_s < 0) return 1;
  double raw_rate = static_cast<double>(st.puts) / raw_s;
  std::printf("raw puts:  %llu puts of %zu+%zu bytes in %.2f s = %.0f puts/s\n",
              static_cast<unsigned long long>(st.puts), key_len, val_len, raw_s, raw_rate);
  std::printf("ratio:     fold events/s / raw puts/s = %.3f   (time for the same writes: raw %.2f s, fold %.2f s)\n",
              fold_rate / raw_rate, raw_s, fold_s);
  fs::remove_all(dir);
  return 0;
}
