// Benchmark (not a test): latency of the ledger's person questions on an existing data dir, through the functions the
// command line and the query service call (service/queries.h).
//
// Default mode, in process, one query at a time: for random persons and random as-of dates, `gongji person`'s as-of
// view from the store, and the same view known at a time after every ingest (the person folded again from its own
// log records, TIME-REPLAY; the log opened read-only per query, as the command does). The policy is read from the
// store once, as the query service does.
//   gongji-bench-query --data-dir DIR --people N [--queries Q] [--from YYYY-MM] [--to YYYY-MM]
// Prints a readable line per query kind, then one line `asof_p50_ms=.. asof_p99_ms=.. knownat_p50_ms=..
// knownat_p99_ms=..` for scripts (ops/bench/scale.sh).
//
// --http URL (issue 11 item 6; ops/bench/http_bench.sh): the same persons and dates, and claims of theirs, asked of
// a running `gongji query` (or `serve --listen`) over HTTP by --clients threads at once, for --seconds per kind:
// person as-of, person known-at, and explain (/v1/persons/{P}/claims/{C}). Beside each, the baseline of the same
// run: the same requests from as many threads in this process (person_query, rederive_claim) on a RocksDB secondary
// instance of the same store that catches up with a running fold as the service does (every 100 ms, no read across
// a catch-up), so the difference is what HTTP and the service add (token check, rate limiter, access log). For
// as-of, a third row, +access-log: the in-process work plus the service's synced access-log append (a file of its
// own), to tell the access log's share from HTTP's.
//   gongji-bench-query --data-dir DIR --people N --http http://127.0.0.1:PORT --token T [--clients 16]
//                      [--seconds 20] [--keep-alive] [--queries 2000] [--from ..] [--to ..]
// A run of a kind lasts --seconds plus the requests in flight then (a slow kind's run is as long as its slowest
// request). Prints a table (kind, side, answers, 404s, errors, req/s, p50, p99, max in ms), the targets, then one
// line of key=value figures for scripts. Exit 1 when a side had errors (an answer neither 200 nor 404).
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "log/event_log.h"
#include "projections/store.h"
#include "replay/explain.h"
#include "service/access_log.h"
#include "service/queries.h"

using Clock = std::chrono::steady_clock;

namespace {

// A time after every ingest: the known-at view then is the as-of view, computed the slow way (TIME-REPLAY).
constexpr const char* kKnownAtLater = "2999-01-01T00:00:00Z";

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

Percentiles percentiles(std::vector<double> ms) {
  if (ms.empty()) return {};
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back(), ms.size()};
}

// One question: a person as of a date, or (claim set) a claim of theirs to explain.
struct Request {
  std::string person, as_of, claim;
};

// `n` random persons P0000000.. below `people`, each with a random as-of date in [first, first + days).
std::vector<Request> sample_persons(int people, int n, gongji::Date first, int days, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Request> out;
  for (int i = 0; i < n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "P%07d", static_cast<int>(rng() % static_cast<uint32_t>(people)));
    out.push_back({id, gongji::format_date(first + static_cast<int>(rng() % static_cast<uint32_t>(days))), ""});
  }
  return out;
}

// For each sampled person with a settlement in the store, one of their settled claims (drawn at random).
std::vector<Request> sample_claims(const gongji::Store& store, const std::vector<Request>& persons, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Request> out;
  for (const Request& r : persons) {
    std::vector<std::string> claims;
    gongji::records_query(store, r.person, "", "settlement",
                          [&](const gongji::Output& rec) { claims.push_back(rec.claim); });
    if (!claims.empty()) out.push_back({r.person, r.as_of, claims[rng() % claims.size()]});
  }
  return out;
}

// Times `queries` person queries one at a time; known_at "" = the as-of view from the store alone.
Percentiles time_queries(const gongji::Store& store, const gongji::LogSource& log, const gongji::Policy& policy,
                         const std::vector<Request>& requests, const std::string& known_at,
                         gongji::ReplayCache& cache) {
  std::vector<double> ms;
  for (const Request& r : requests) {
    auto t0 = Clock::now();
    try {
      gongji::person_query(store, log, {r.person, r.as_of, known_at, "", &policy, &cache});
    } catch (const gongji::NotFoundError&) {
      continue;  // not enrolled as of then
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return percentiles(std::move(ms));
}

// ---- --http: concurrent load, over HTTP and in process ----

enum class Kind { as_of, known_at, explain };
const char* kind_name(Kind k) { return k == Kind::as_of ? "as-of" : k == Kind::known_at ? "known-at" : "explain"; }

// What one side answered in one kind's run: latencies of the answers (200 and 404), the 404s among them, the other
// outcomes (errors: any other status, a failed connection, an exception), and the wall time.
struct Run {
  std::vector<double> ms;
  size_t not_found = 0, errors = 0;
  double seconds = 0;
  std::string first_error;
};

// A side answers a request with an HTTP status (or 0 and `error` set when it could not). `client` is the thread.
using Side = std::function<int(int client, Kind kind, const Request& r, std::string& error)>;

// `clients` threads ask `side` for `seconds`, each going round `requests` from its own starting point.
Run load(const Side& side, Kind kind, const std::vector<Request>& requests, int clients, double seconds) {
  std::vector<Run> per(static_cast<size_t>(clients));
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      Run& mine = per[static_cast<size_t>(c)];
      for (size_t i = requests.size() * static_cast<size_t>(c) / static_cast<size_t>(clients); Clock::now() < end;
           i = (i + 1) % requests.size()) {
        std::string error;
        const auto q0 = Clock::now();
        const int status = side(c, kind, requests[i], error);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - q0).count();
        if (status == 200 || status == 404) {
          mine.ms.push_back(ms);
          mine.not_found += status == 404;
        } else {
          ++mine.errors;
          if (mine.first_error.empty()) mine.first_error = error.empty() ? "status " + std::to_string(status) : error;
        }
      }
    });
  for (auto& t : threads) t.join();
  Run all;
  all.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (Run& r : per) {
    all.ms.insert(all.ms.end(), r.ms.begin(), r.ms.end());
    all.not_found += r.not_found;
    all.errors += r.errors;
    if (all.first_error.empty()) all.first_error = r.first_error;
  }
  return all;
}

// The baseline: the service's work without HTTP, on secondary instances of the same store followed as the service
// follows a running fold (service/service.cc): two views, each a secondary with the log brought up to it and its
// ReplayCache; a request reads the current one, and the first request after 100 ms catches the other up (once no
// request reads it) and swaps them.
class InProcess {
 public:
  explicit InProcess(const std::string& dir)
      : dir_(dir),
        secondary_(dir + "/bench-secondary-" + std::to_string(::getpid())),
        access_file_(dir + "/bench-access-log-" + std::to_string(::getpid()) + ".jsonl") {
    current_ = open_view("a");
    spare_ = open_view("b");
    as_of_policy_ = std::make_unique<gongji::Policy>(gongji::read_policy(*current_->store, "", true));
    known_at_policy_ = std::make_unique<gongji::Policy>(gongji::read_policy(*current_->store, "", false));
    access_ = std::make_unique<gongji::AccessLog>(access_file_);
  }
  ~InProcess() {
    current_.reset();
    spare_.reset();
    access_.reset();
    std::error_code ec;
    std::filesystem::remove_all(secondary_, ec);
    std::filesystem::remove(access_file_, ec);
  }
  const gongji::Store& store() {
    catch_up();
    return *view()->store;
  }
  // `logged`: first appends the request to an access log of its own, as the service does (service/access_log.h).
  int ask(Kind kind, const Request& r, std::string& error, bool logged = false) {
    try {
      if (logged) access_->append({"bench", "desk", "bench", "person", r.person, r.claim, 200});
      catch_up();
      const std::shared_ptr<View> v = view();
      if (kind == Kind::explain) {
        const gongji::Rederivation rd = gongji::rederive_claim(*v->store, *v->log, r.person, r.claim, nullptr,
                                                               &v->cache);
        body_ = gongji::explanation_json(rd, r.claim, r.person, false).dump();
      } else {
        const bool known = kind == Kind::known_at;
        const gongji::Policy* policy = known ? known_at_policy_.get() : as_of_policy_.get();
        const gongji::LogSource log = [&v]() -> gongji::EventLog& { return *v->log; };
        body_ = gongji::person_query(*v->store, log, {r.person, r.as_of, known ? kKnownAtLater : "", "", policy,
                                                      &v->cache})
                    .dump();  // the answer's bytes, as the service sends them
      }
      return 200;
    } catch (const gongji::NotFoundError&) {
      return 404;
    } catch (const std::exception& e) {
      error = e.what();
      return 0;
    }
  }

 private:
  struct View {
    std::unique_ptr<gongji::Store> store;
    std::unique_ptr<gongji::EventLog> log;
    gongji::ReplayCache cache;
  };
  std::shared_ptr<View> open_view(const std::string& name) {
    const std::string path = secondary_ + "/" + name;
    std::filesystem::create_directories(path);
    auto v = std::make_shared<View>();
    v->store = std::make_unique<gongji::Store>(dir_ + "/state", gongji::StoreOptions{true, false, nullptr}, path);
    v->log = gongji::open_segment_log(dir_ + "/log", 8, true);
    v->store->check_log(*v->log);
    return v;
  }
  std::shared_ptr<View> view() {
    std::lock_guard<std::mutex> lock(views_mu_);
    return current_;
  }
  void catch_up() {
    std::unique_lock<std::mutex> lock(catch_up_mu_, std::try_to_lock);
    if (!lock.owns_lock() || Clock::now() - last_ < std::chrono::milliseconds(100)) return;
    std::shared_ptr<View> next;
    {
      std::lock_guard<std::mutex> views(views_mu_);
      if (spare_.use_count() > 1) return;
      next = spare_;
    }
    last_ = Clock::now();
    next->store->catch_up();
    next->log->refresh();  // as the service does: the log reaches what the store folded
    std::lock_guard<std::mutex> views(views_mu_);
    spare_ = std::move(current_);
    current_ = std::move(next);
  }
  std::string dir_, secondary_, access_file_;
  static thread_local std::string body_;  // the last answer's JSON text (made, as the service makes it)
  std::unique_ptr<gongji::AccessLog> access_;
  std::mutex views_mu_;
  std::shared_ptr<View> current_, spare_;
  std::unique_ptr<gongji::Policy> as_of_policy_, known_at_policy_;
  std::mutex catch_up_mu_;
  Clock::time_point last_{};
};

thread_local std::string InProcess::body_;

// The service's side: one httplib client per thread, a new connection per request (httplib's default) unless
// keep_alive, the token as a bearer token. The paths are service/service.h's.
class OverHttp {
 public:
  OverHttp(const std::string& url, const std::string& token, int clients, bool keep_alive) {
    for (int c = 0; c < clients; ++c) {
      auto cl = std::make_unique<httplib::Client>(url);
      cl->set_connection_timeout(std::chrono::seconds(5));
      cl->set_read_timeout(std::chrono::seconds(600));
      cl->set_keep_alive(keep_alive);
      cl->set_default_headers({{"Authorization", "Bearer " + token}});
      clients_.push_back(std::move(cl));
    }
  }
  int ask(int client, Kind kind, const Request& r, std::string& error) {
    std::string path = "/v1/persons/" + r.person;
    if (kind == Kind::explain) path += "/claims/" + r.claim;
    else path += "?as_of=" + r.as_of + (kind == Kind::known_at ? "&known_at=2999-01-01T00%3A00%3A00Z" : "");
    auto res = clients_[static_cast<size_t>(client)]->Get(path);
    if (!res) {
      error = "no answer: " + httplib::to_string(res.error());
      return 0;
    }
    if (res->status != 200 && res->status != 404) error = "status " + std::to_string(res->status) + ": " + res->body;
    return res->status;
  }

 private:
  std::vector<std::unique_ptr<httplib::Client>> clients_;
};

struct HttpOptions {
  std::string url, token;
  int clients = 16;
  double seconds = 20;
  bool keep_alive = false;
};

// "asof_http_p50_ms=.. asof_http_p99_ms=.. asof_http_rps=.. asof_local_p50_ms=.. asof_local_p99_ms=.. " (scripts).
std::string key_values(Kind kind, const Percentiles& pb, const Run& base, const Percentiles& ph, const Run& http) {
  std::string k = kind_name(kind);
  k.erase(std::remove(k.begin(), k.end(), '-'), k.end());
  char buf[320];
  std::snprintf(buf, sizeof buf, "%1$s_http_p50_ms=%2$.3f %1$s_http_p99_ms=%3$.3f %1$s_http_rps=%4$.1f "
                "%1$s_local_p50_ms=%5$.3f %1$s_local_p99_ms=%6$.3f %1$s_local_rps=%7$.1f ", k.c_str(), ph.p50, ph.p99,
                static_cast<double>(ph.n) / std::max(http.seconds, 1e-9), pb.p50, pb.p99,
                static_cast<double>(pb.n) / std::max(base.seconds, 1e-9));
  return buf;
}

void print_row(Kind kind, const char* side, const Run& run, const Percentiles& p) {
  std::printf("%-9s %-11s %8zu %6zu %7zu %9.1f %9.3f %9.3f %9.3f\n", kind_name(kind), side, p.n, run.not_found,
              run.errors, static_cast<double>(p.n) / std::max(run.seconds, 1e-9), p.p50, p.p99, p.max);
  if (run.errors) std::printf("  %s errors, the first: %s\n", side, run.first_error.c_str());
  std::fflush(stdout);  // a long run shows each row as it comes
}

// For each kind: the in-process baseline (for as-of, then with the access log), then HTTP, each for `seconds`, on
// the same requests. Returns 1 when a side had errors (the figures would not be like for like), else 0.
int http_mode(const std::string& dir, const HttpOptions& h, const std::vector<Request>& persons) {
  InProcess local(dir);
  OverHttp remote(h.url, h.token, h.clients, h.keep_alive);
  const std::vector<Request> claims = sample_claims(local.store(), persons, 9);
  if (claims.empty()) {
    std::fprintf(stderr, "gongji-bench-query: no sampled person has a settlement yet: nothing to explain\n");
    return 1;
  }
  std::printf("%d clients, %g s per kind and side; %zu persons sampled with as-of dates, %zu claims of theirs; "
              "HTTP %s (%s)\n",
              h.clients, h.seconds, persons.size(), claims.size(), h.url.c_str(),
              h.keep_alive ? "connections kept alive" : "a new connection per request");
  std::printf("%-9s %-11s %8s %6s %7s %9s %9s %9s %9s\n", "kind", "side", "answers", "404", "errors", "req/s",
              "p50 ms", "p99 ms", "max ms");
  const Side in_process = [&](int, Kind k, const Request& r, std::string& e) { return local.ask(k, r, e); };
  const Side logged = [&](int, Kind k, const Request& r, std::string& e) { return local.ask(k, r, e, true); };
  const Side over_http = [&](int c, Kind k, const Request& r, std::string& e) { return remote.ask(c, k, r, e); };
  std::string figures, targets;
  bool errors = false;
  for (Kind kind : {Kind::as_of, Kind::known_at, Kind::explain}) {
    const auto& reqs = kind == Kind::explain ? claims : persons;
    const Run base = load(in_process, kind, reqs, h.clients, h.seconds);
    const Percentiles pb = percentiles(base.ms);
    print_row(kind, "in-process", base, pb);
    if (kind == Kind::as_of) {  // where the access log's synced append is most of the service's work
      const Run with_log = load(logged, kind, reqs, h.clients, h.seconds);
      print_row(kind, "+access-log", with_log, percentiles(with_log.ms));
      errors = errors || with_log.errors;
    }
    const Run http = load(over_http, kind, reqs, h.clients, h.seconds);
    const Percentiles ph = percentiles(http.ms);
    print_row(kind, "http", http, ph);
    errors = errors || base.errors || http.errors;
    figures += key_values(kind, pb, base, ph, http);
    const double target = kind == Kind::as_of ? 10 : kind == Kind::known_at ? 50 : 0;  // issue 11 item 6
    if (target == 0) continue;
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s%s p99 %.3f ms (target <= %.0f): %s", targets.empty() ? "" : "; ",
                  kind_name(kind), ph.p99, target, ph.p99 <= target ? "met" : "MISSED");
    targets += buf;
  }
  std::printf("targets (issue 11, over HTTP): %s\n%s\n", targets.c_str(), figures.c_str());
  return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, from = "2023-01", to = "2023-12";
  int people = 0, queries = 2000;
  HttpOptions http;
  CLI::App app{"gongji-bench-query: person as-of, known-at (and, with --http, explain) latency on a folded data dir"};
  app.add_option("--data-dir", dir, "a data dir after ingest and fold (--http: a fold may be running)")->required();
  app.add_option("--people", people, "persons P0000000.. to draw from (the generator's --people)")->required();
  app.add_option("--queries", queries, "persons (with dates) sampled: queries of each kind (default 2000)");
  app.add_option("--from", from, "as-of dates from this month (default 2023-01)");
  app.add_option("--to", to, "through this month (default 2023-12)");
  auto* url = app.add_option("--http", http.url, "ask a running `gongji query` at this URL (http://HOST:PORT) too");
  app.add_option("--token", http.token, "--http: a bearer token of role desk or auditor")
      ->envname("GONGJI_BENCH_TOKEN")
      ->needs(url);
  app.add_option("--clients", http.clients, "--http: threads asking at once, on each side (default 16)")
      ->check(CLI::Range(1, 256));
  app.add_option("--seconds", http.seconds, "--http: seconds per kind and side (default 20)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--keep-alive", http.keep_alive, "--http: keep connections alive (default: a new one per request)");
  CLI11_PARSE(app, argc, argv);
  auto f = gongji::parse_month(from), t = gongji::parse_month(to);
  if (!f || !t || *t < *f || people < 1 || queries < 1) {
    std::fprintf(stderr, "gongji-bench-query: --from/--to must be months YYYY-MM in order, --people and --queries "
                         ">= 1\n");
    return 2;
  }
  if (!http.url.empty() && http.token.empty()) {
    std::fprintf(stderr, "gongji-bench-query: --http needs --token (or $GONGJI_BENCH_TOKEN)\n");
    return 2;
  }
  const gongji::Date first = gongji::first_day(*f);
  const int days = gongji::first_day(*t + 1) - first;
  if (!http.url.empty()) return http_mode(dir, http, sample_persons(people, queries, first, days, 7));
  gongji::Store store(dir + "/state", true);
  // The log opened once, checked against the store, as the query service keeps it (a command-line `person
  // --known-at` opens it per run on top).
  auto log = gongji::open_segment_log(dir + "/log", 8, true);
  store.check_log(*log);
  const gongji::LogSource log_source = [&]() -> gongji::EventLog& { return *log; };
  gongji::ReplayCache cache;  // as the service keeps one
  // The policy is read once, as the query service does (the command line reads it from the store per run).
  const gongji::Policy policy = gongji::read_policy(store, "", true);
  Percentiles a = time_queries(store, log_source, policy, sample_persons(people, queries, first, days, 7), "", cache);
  std::printf("person --as-of (%zu queries): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", a.n, a.p50, a.p99, a.max);
  Percentiles k =
      time_queries(store, log_source, policy, sample_persons(people, queries, first, days, 8), kKnownAtLater, cache);
  std::printf("person --as-of --known-at (%zu queries): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", k.n, k.p50, k.p99,
              k.max);
  std::printf("asof_p50_ms=%.3f asof_p99_ms=%.3f knownat_p50_ms=%.3f knownat_p99_ms=%.3f\n", a.p50, a.p99, k.p50,
              k.p99);
  return 0;
}
