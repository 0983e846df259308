#include "service/metrics.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "ledger/settlement.h"
#include "readback/output_lines.h"

namespace gongji {

using nlohmann::json;

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string prometheus_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

const std::vector<double>& Histogram::bounds() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5};
  return b;
}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds().size() && seconds > bounds()[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& labels, std::string& out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds().size(); ++i) {
    cumulative += counts_[i];
    char le[32] = "+Inf";
    if (i < bounds().size()) std::snprintf(le, sizeof le, "%g", bounds()[i]);
    out += name + "_bucket{" + labels + ",le=\"" + std::string(le) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum{" + labels + "} " + number(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

void RequestMetrics::observe(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  latency_[endpoint].observe(seconds);
  ++answered_[{endpoint, status}];
}

std::string RequestMetrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "gongji_http_requests_total", "counter", "Requests answered, by endpoint and HTTP status.");
  for (const auto& [key, n] : answered_)
    out += "gongji_http_requests_total{endpoint=\"" + prometheus_label(key.first) + "\",code=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  header(out, "gongji_http_request_duration_seconds", "histogram", "Time to answer a request, by endpoint.");
  for (const auto& [endpoint, h] : latency_)
    h.render("gongji_http_request_duration_seconds", "endpoint=\"" + prometheus_label(endpoint) + "\"", out);
  return out;
}

void LedgerMetrics::count(const Store& store, const Output& out, Counts& c) {
  ++c.outputs;
  if (out.settlement) {  // as data: nothing rendered or parsed
    const Settlement& s = *out.settlement;
    ++c.by_status[spelled(s.status)];
    if (s.status == ClaimStatus::settled) {
      Money& m = c.fund_by_scheme[s.scheme ? spelled(*s.scheme) : ""];
      m = checked_add(m, s.fund);
    }
    return;
  }
  // Every other kind as data too; a stored line changed by hand (no record) for what its fields say.
  std::optional<Record> read;
  if (!out.record) read = record_from_line(out.text, false);
  const Record* r = out.record ? out.record.get() : read ? &*read : nullptr;
  if (out.kind == "dead_letter") {
    ++c.dead_letters;
  } else if (const auto* f = r ? std::get_if<Refusal>(r) : nullptr) {
    ++c.refusals[spelled(f->reason)];
  } else if (const auto* v = r ? std::get_if<Reversal>(r) : nullptr) {  // no scheme: its settlement names it
    auto s = store.settled_settlement(v->person, v->claim);
    const Settlement* settled = s ? s->record.settlement.get() : nullptr;
    Money& m = c.fund_by_scheme[settled && settled->scheme ? spelled(*settled->scheme) : ""];
    m = checked_add(m, v->fund);
  }
}

std::string store_metrics(const Store& store) {
  static const struct {
    const char *property, *name, *help;
  } kGauges[] = {
      {"rocksdb.live-sst-files-size", "gongji_rocksdb_live_sst_files_bytes",
       "Bytes of the store's table files; with universal compaction up to about 3 times its live data between full "
       "compactions."},
      {"rocksdb.num-running-compactions", "gongji_rocksdb_num_running_compactions", "Compactions running now."},
      {"rocksdb.cur-size-all-mem-tables", "gongji_rocksdb_cur_size_all_mem_tables_bytes",
       "Bytes of the store's memtables, active and unflushed."},
      {"rocksdb.estimate-num-keys", "gongji_rocksdb_estimate_num_keys", "Keys RocksDB estimates the store holds."},
  };
  std::string out;
  for (const auto& g : kGauges) {
    const std::optional<uint64_t> v = store.int_property(g.property);
    if (!v) continue;
    header(out, g.name, "gauge", g.help);
    out += std::string(g.name) + " " + std::to_string(*v) + "\n";
  }
  return out;
}

std::string LedgerMetrics::render(const Store& store, EventLog* log) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<int, uint64_t> positions = store.positions();
  std::erase_if(positions, [&](const auto& kv) { return answers && !answers(kv.first); });
  for (const auto& [p, to] : positions) {
    uint64_t& from = scanned_[p];
    // Counted into a copy, kept once the range has read whole: a record that does not read (StoreError) leaves the
    // counts as they were, and the next scrape reads the range again.
    if (to > from) {
      Counts next = counts_;
      store.outbox(p, from, to, [&](uint64_t, const Output& out) { count(store, out, next); });
      counts_ = std::move(next);
    }
    from = std::max(from, to);
  }
  std::string out;
  uint64_t folded = 0;
  for (const auto& [p, at] : positions) folded += at;
  header(out, "gongji_events_folded_total", "counter", "Log records folded, over every partition.");
  out += "gongji_events_folded_total " + std::to_string(folded) + "\n";
  header(out, "gongji_folded_offset", "gauge", "The fold's position (next log offset to fold), by partition.");
  for (const auto& [p, at] : positions)
    out += "gongji_folded_offset{partition=\"" + std::to_string(p) + "\"} " + std::to_string(at) + "\n";
  if (log) {
    header(out, "gongji_log_end_offset", "gauge", "The log's end offset, by partition.");
    for (int p = 0; p < log->partitions(); ++p)
      if (!answers || answers(p))
        out += "gongji_log_end_offset{partition=\"" + std::to_string(p) + "\"} " +
               std::to_string(log->end_offset(p)) + "\n";
    header(out, "gongji_lag", "gauge", "Log end minus folded position, by partition.");
    for (int p = 0; p < log->partitions(); ++p) {
      if (answers && !answers(p)) continue;
      const uint64_t end = log->end_offset(p), at = positions.count(p) ? positions.at(p) : 0;
      out += "gongji_lag{partition=\"" + std::to_string(p) + "\"} " + std::to_string(end > at ? end - at : 0) + "\n";
    }
  }
  header(out, "gongji_output_records_total", "counter", "Output records of the fold.");
  out += "gongji_output_records_total " + std::to_string(counts_.outputs) + "\n";
  header(out, "gongji_settlements_total", "counter", "Settlement records, by status.");
  for (const auto& [s, n] : counts_.by_status)
    out += "gongji_settlements_total{status=\"" + prometheus_label(s) + "\"} " + std::to_string(n) + "\n";
  header(out, "gongji_fund_paid_yuan", "gauge", "Fund paid by settled claims net of reversals, in yuan.");
  for (const auto& [s, m] : counts_.fund_by_scheme)
    out += "gongji_fund_paid_yuan{scheme=\"" + prometheus_label(s) + "\"} " + format_money(m) + "\n";
  header(out, "gongji_refusals_total", "counter", "Refusal records (non-claim events refused), by reason.");
  for (const auto& [s, n] : counts_.refusals)
    out += "gongji_refusals_total{reason=\"" + prometheus_label(s) + "\"} " + std::to_string(n) + "\n";
  header(out, "gongji_dead_letters_total", "counter", "Dead letters of the fold.");
  out += "gongji_dead_letters_total " + std::to_string(counts_.dead_letters) + "\n";
  return out;
}

}  // namespace gongji
