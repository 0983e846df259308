// Benchmark (not a test): per-person point-in-time query latency (reconstruction from the per-person index, then
// the as-of view), median and p99 over random persons, and the rate of a full replay from zero.
//   gongji-bench-replay [--people N] [--queries Q] [--dir DIR]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "events/event_json.h"
#include "log/event_log.h"
#include "ops/generator.h"
#include "replay/reconstruct.h"
#include "replay/replay.h"
#include "replay/person_view.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int people = 20000, queries = 2000;
  std::string dir = "/tmp/gongji-bench-replay";
  CLI::App app{"gongji-bench-replay: point-in-time query latency and full replay rate"};
  app.add_option("--people", people, "population size (default 20000)");
  app.add_option("--queries", queries, "random person queries (default 2000)");
  app.add_option("--dir", dir, "scratch directory (removed first)");
  CLI11_PARSE(app, argc, argv);
  fs::remove_all(dir);
  auto log = gongji::open_segment_log(dir + "/log", 8);
  gongji::GeneratorOptions opt;
  opt.people = people;
  uint64_t events = 0;
  gongji::generate_population(opt, [&](const std::string& l) {
    log->append(gongji::parse_event(l));
    ++events;
  });
  log->sync();
  gongji::Store store(dir + "/state");
  store.fold(*log, gongji::default_policy());
  std::printf("workload: %d people, %llu events\n", people, static_cast<unsigned long long>(events));

  std::mt19937 rng(7);
  std::vector<double> ms;
  auto nofac = [](const std::string&) -> const gongji::FacilityState* { return nullptr; };
  for (int i = 0; i < queries; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "P%07d", static_cast<int>(rng() % people));
    gongji::Date as_of = *gongji::parse_date("2022-12-01") + static_cast<int>(rng() % 396);
    auto t0 = Clock::now();
    try {
      auto r = gongji::reconstruct_person(store, *log, id, gongji::default_policy());
      if (auto* p = r.state.person(id)) gongji::person_view(*p, as_of, gongji::default_policy(), nofac);
    } catch (const gongji::StoreError&) {
      continue;  // a person not born into the log
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("point-in-time person query (%zu queries): median %.3f ms, p99 %.3f ms, max %.3f ms\n", ms.size(),
              ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());

  auto t0 = Clock::now();
  auto res = gongji::replay_to(*log, gongji::default_policy(), {}, "", dir + "/replay");
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("full replay from zero: %llu events in %.2f s = %.0f events/s (digest %s, live %s)\n",
              static_cast<unsigned long long>(res.stats.events), s, res.stats.events / s, res.digest.c_str(),
              store.digest().c_str());
  fs::remove_all(dir);
  return 0;
}
