#include "ledger/settlement.h"

#include <algorithm>

#include "ledger/invariant.h"
#include "ledger/line_writer.h"

namespace gongji {

Money signed_yuan(std::string_view v) {
  const bool neg = !v.empty() && v[0] == '-';
  const Money m = parse_yuan(neg ? std::string_view(v).substr(1) : std::string_view(v)).value_or(0);
  return neg ? -m : m;
}

void check_settlement(const Settlement& s) {
  const auto m = [](Money v) { return format_money(v); };
  check_invariant(s.total >= 0 && s.eligible >= 0 && s.self_first >= 0 && s.deductible >= 0 && s.covered >= 0 &&
                      s.fund >= 0,
                  "INV-SETTLE-NONNEG", [&] {
                    return "total " + m(s.total) + ", eligible " + m(s.eligible) + ", self_first " + m(s.self_first) +
                           ", deductible " + m(s.deductible) + ", covered " + m(s.covered) + ", fund " + m(s.fund);
                  });
  check_invariant(s.eligible <= s.total, "INV-ELIGIBLE-LE-TOTAL",
                  [&] { return "eligible " + m(s.eligible) + " is above total " + m(s.total); });
  check_invariant(static_cast<__int128>(s.self_first) + s.deductible + s.covered <= s.eligible,
                  "INV-COVERED-LE-ELIGIBLE", [&] {
                    return "self_first " + m(s.self_first) + " + deductible " + m(s.deductible) + " + covered " +
                           m(s.covered) + " is above eligible " + m(s.eligible);
                  });
  check_invariant(s.fund <= s.covered, "INV-FUND-LE-COVERED",
                  [&] { return "fund " + m(s.fund) + " is above covered " + m(s.covered); });
  check_invariant(s.patient() >= 0 && s.patient() + s.fund == s.total, "INV-PATIENT-FUND-TOTAL", [&] {
    return "patient " + m(s.patient()) + " + fund " + m(s.fund) + " against total " + m(s.total);
  });
}

void Settlement::refuse(ClaimStatus status_, Reason reason) {
  status = status_;
  reasons.insert(reason);
  eligible = self_first = deductible = covered = fund = 0;
  ratio = 0;
}

namespace {

// Strings as every output line escapes them (ledger/line_writer.h).
void put_string(std::string& o, std::string_view v) { put_json_string(o, v); }

void put_key(std::string& o, const char* k) {
  if (o.size() > 1) o.push_back(',');
  o.push_back('"');
  o += k;
  o += "\":";
}

void put_field(std::string& o, const char* k, std::string_view v) {
  put_key(o, k);
  put_string(o, v);
}

}  // namespace

std::string Settlement::to_line() const {
  std::string o;
  o.reserve(1024);
  o.push_back('{');
  put_key(o, "after");
  o.push_back('{');
  for (size_t i = 0; i < after.size(); ++i) {
    if (i) o.push_back(',');
    put_string(o, key_of(after[i].key));
    o.push_back(':');
    if (after[i].value) put_string(o, format_money(*after[i].value));
    else o += "null";
  }
  o.push_back('}');
  put_field(o, "benefit", spelling(benefit));
  put_field(o, "claim", claim);
  put_field(o, "covered", format_money(covered));
  put_field(o, "date", format_date(date));
  put_field(o, "deductible", format_money(deductible));
  put_field(o, "eligible", format_money(eligible));
  put_field(o, "event", event);
  if (!facility.empty()) put_field(o, "facility", facility);
  put_field(o, "fund", format_money(fund));
  put_field(o, "kind", "settlement");
  if (level) {
    put_key(o, "level");
    o += std::to_string(level);
  }
  put_field(o, "patient", format_money(patient()));
  put_field(o, "person", person);
  put_field(o, "policy_version", policy_version);
  put_field(o, "ratio", format_rate(ratio));
  put_key(o, "reasons");
  o.push_back('[');
  bool first = true;
  for (Reason r : reasons) {  // std::set<Reason>: spelling order
    if (!first) o.push_back(',');
    first = false;
    put_string(o, spelling(r));
  }
  o.push_back(']');
  put_key(o, "rules");
  o.push_back('[');
  std::set<Rule> seen;
  for (const auto& st : trace) {
    if (!seen.insert(st.rule).second) continue;
    if (seen.size() > 1) o.push_back(',');
    put_string(o, rule_id(st.rule));
  }
  o.push_back(']');
  if (scheme) put_field(o, "scheme", spelling(*scheme));
  put_field(o, "self_first", format_money(self_first));
  put_field(o, "status", spelling(status));
  put_field(o, "total", format_money(total));
  put_key(o, "trace");
  o.push_back('[');
  for (size_t i = 0; i < trace.size(); ++i) {
    if (i) o.push_back(',');
    o += "{\"article\":";
    put_string(o, article_of(trace[i].rule));
    o += ",\"detail\":";
    put_string(o, trace[i].detail());
    o += ",\"rule\":";
    put_string(o, rule_id(trace[i].rule));
    o.push_back('}');
  }
  o += "]}";
  return o;
}

}  // namespace gongji
