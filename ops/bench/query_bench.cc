// Benchmark (not a test): in-process latency of `gongji person` on an existing data dir, through the function the
// command line and the query service call (service/queries.h person_query): for random persons and random as-of
// dates, the as-of view from the store, and the same view known at a time after every ingest (the person folded
// again from its own log records, TIME-REPLAY; the log opened read-only per query, as the command does). The
// policy is read from the store once, as the query service does.
//   gongji-bench-query --data-dir DIR --people N [--queries Q] [--from YYYY-MM] [--to YYYY-MM]
// Prints a readable line per query kind, then one line `asof_p50_ms=.. asof_p99_ms=.. knownat_p50_ms=..
// knownat_p99_ms=..` for scripts (ops/bench/scale.sh).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "log/event_log.h"
#include "projections/store.h"
#include "service/queries.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Percentiles percentiles(std::vector<double> ms) {
  if (ms.empty()) return {};
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back(), ms.size()};
}

// Times `queries` person queries; known_at "" = the as-of view from the store alone.
Percentiles time_queries(const gongji::Store& store, const gongji::LogOpener& open_log, const gongji::Policy& policy,
                         int people, int queries, gongji::Date first, int days, const std::string& known_at,
                         uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> ms;
  for (int i = 0; i < queries; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "P%07d", static_cast<int>(rng() % static_cast<uint32_t>(people)));
    const std::string as_of = gongji::format_date(first + static_cast<int>(rng() % static_cast<uint32_t>(days)));
    auto t0 = Clock::now();
    try {
      gongji::person_query(store, open_log, {id, as_of, known_at, "", &policy});
    } catch (const gongji::NotFoundError&) {
      continue;  // not enrolled as of then
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return percentiles(std::move(ms));
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, from = "2023-01", to = "2023-12";
  int people = 0, queries = 2000;
  CLI::App app{"gongji-bench-query: in-process person as-of and known-at latency on a folded data dir"};
  app.add_option("--data-dir", dir, "a data dir after ingest and fold")->required();
  app.add_option("--people", people, "persons P0000000.. to draw from (the generator's --people)")->required();
  app.add_option("--queries", queries, "queries of each kind (default 2000)");
  app.add_option("--from", from, "as-of dates from this month (default 2023-01)");
  app.add_option("--to", to, "through this month (default 2023-12)");
  CLI11_PARSE(app, argc, argv);
  auto f = gongji::parse_month(from), t = gongji::parse_month(to);
  if (!f || !t || *t < *f || people < 1) {
    std::fprintf(stderr, "gongji-bench-query: --from/--to must be months YYYY-MM in order, --people >= 1\n");
    return 2;
  }
  const gongji::Date first = gongji::first_day(*f);
  const int days = gongji::first_day(*t + 1) - first;
  gongji::Store store(dir + "/state", true);
  const gongji::LogOpener open_log = [&] { return gongji::open_segment_log(dir + "/log", 8, true); };
  // The policy is read once, as the query service does (the command line reads it from the store per run).
  const gongji::Policy policy = gongji::read_policy(store, "", true);
  Percentiles a = time_queries(store, open_log, policy, people, queries, first, days, "", 7);
  std::printf("person --as-of (%zu queries): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", a.n, a.p50, a.p99, a.max);
  Percentiles k = time_queries(store, open_log, policy, people, queries, first, days, "2999-01-01T00:00:00Z", 8);
  std::printf("person --as-of --known-at (%zu queries): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", k.n, k.p50, k.p99,
              k.max);
  std::printf("asof_p50_ms=%.3f asof_p99_ms=%.3f knownat_p50_ms=%.3f knownat_p99_ms=%.3f\n", a.p50, a.p99, k.p50,
              k.p99);
  return 0;
}
