// The query service's /metrics (issue 11 item 5), in the Prometheus text format 0.0.4:
//   gongji_events_folded_total                  records folded, over every partition (the sum of the positions)
//   gongji_folded_offset{partition}             the fold's position
//   gongji_log_end_offset{partition}            the log's end
//   gongji_lag{partition}                       log end minus folded position
//   gongji_output_records_total                 output records of the fold
//   gongji_settlements_total{status}            settlement records by status
//   gongji_fund_paid_yuan{scheme}               fund paid by settled claims net of their reversals, in yuan
//   gongji_refusals_total{reason}               refusal records (domain refusals of non-claim events) by reason
//   gongji_dead_letters_total                   dead letters of the fold
//   gongji_http_requests_total{endpoint,code}   answered requests
//   gongji_http_request_duration_seconds{endpoint}  latency histogram (le buckets 0.5 ms .. 5 s)
//   gongji_rocksdb_live_sst_files_bytes, gongji_rocksdb_num_running_compactions,
//   gongji_rocksdb_cur_size_all_mem_tables_bytes, gongji_rocksdb_estimate_num_keys
//                                               the store's RocksDB figures (store_metrics)
// The ledger figures are counted incrementally: each scrape reads only the output records folded since the last
// (Store::outbox), so a scrape costs what was folded meanwhile, not the whole store.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "log/event_log.h"
#include "events/money.h"
#include "projections/store.h"

namespace gongji {

class Histogram {
 public:
  static const std::vector<double>& bounds();  // upper bounds in seconds
  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name` with the label `labels` (e.g. endpoint="person").
  void render(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(bounds().size() + 1, 0);
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Requests answered, by endpoint and status, with their latency. Thread-safe.
class RequestMetrics {
 public:
  void observe(const std::string& endpoint, int status, double seconds);
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Histogram> latency_;
  std::map<std::pair<std::string, int>, uint64_t> answered_;
};

// The ledger's figures, counted from the output records as the fold commits them. Thread-safe.
class LedgerMetrics {
 public:
  // Counts the output records folded since the last call; then renders the figures, with the positions and lags
  // against `log` (nullptr: positions only).
  std::string render(const Store& store, EventLog* log);
  // The partitions counted (a serve member's own, service.h PartitionOwners); null: every partition.
  std::function<bool(int)> answers;

 private:
  struct Counts {
    uint64_t outputs = 0, dead_letters = 0;
    std::map<std::string, uint64_t> by_status, refusals;
    std::map<std::string, Money> fund_by_scheme;
  };
  static void count(const Store& store, const Output& out, Counts& c);
  std::mutex mu_;
  std::map<int, uint64_t> scanned_;  // per partition: outputs counted for log offsets below this
  Counts counts_;
};

// The store's RocksDB figures as gauges (Store::int_property): rocksdb.live-sst-files-size,
// rocksdb.num-running-compactions, rocksdb.cur-size-all-mem-tables, rocksdb.estimate-num-keys, named as listed
// above (gongji_rocksdb_<property with '_'>, sizes ending in _bytes). A property RocksDB does not report is left
// out. Of the instance the service reads: for `gongji query`, its secondary instance (its own memtables; compaction
// as of its catch-up).
std::string store_metrics(const Store& store);

// A label value escaped for the text format (backslash, double quote, newline).
std::string prometheus_label(const std::string& value);

}  // namespace gongji
