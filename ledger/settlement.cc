#include "ledger/settlement.h"

#include <algorithm>


#include "ledger/invariant.h"

namespace gongji {

Money record_money(const nlohmann::json& record, const char* field) {
  if (!record.contains(field) || !record[field].is_string()) return 0;
  return signed_yuan(record[field].get_ref<const std::string&>());
}

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

std::optional<Settlement> settlement_from_line(std::string_view line, bool exact) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || j.value("kind", "") != "settlement") return std::nullopt;
  Settlement s;
  s.status = ClaimStatus::rejected;  // not exact, an unreadable status: nothing paid
  bool bad = false;
  // Each field on its own: one that is missing or of the wrong form marks the line bad and keeps its default.
  const auto field = [&](auto&& read) {
    try {
      read();
    } catch (const std::exception&) {
      bad = true;
    }
  };
  const auto text = [&](const char* k) { return j.at(k).get<std::string>(); };
  const auto money = [&](Money& m, const char* k) {
    field([&] { m = exact ? parse_yuan(text(k)).value() : signed_yuan(text(k)); });
  };
  field([&] { s.claim = text("claim"), s.person = text("person"), s.event = text("event"); });
  field([&] { s.facility = j.value("facility", ""), s.policy_version = text("policy_version"); });
  field([&] { s.benefit = code_from<Benefit>(text("benefit")).value(); });
  field([&] { s.status = code_from<ClaimStatus>(text("status")).value(); });
  field([&] { if (j.contains("scheme")) s.scheme = code_from<Scheme>(text("scheme")).value(); });
  field([&] { s.date = parse_date(text("date")).value(); });
  field([&] { s.level = j.value("level", 0); });
  field([&] {
    for (const auto& r : j.at("reasons")) s.reasons.insert(code_from<Reason>(r.get<std::string>()).value());
  });
  money(s.total, "total"), money(s.eligible, "eligible"), money(s.self_first, "self_first");
  money(s.deductible, "deductible"), money(s.covered, "covered"), money(s.fund, "fund");
  field([&] {
    std::string ratio = text("ratio");  // "d.dddd", in 1/10000
    std::erase(ratio, '.');
    s.ratio = static_cast<Rate>(std::stoi(ratio));
  });
  field([&] {
    bool unknown = false;  // a rule ID POLICY.md does not define: not a line gongji printed; the step is left out
    for (const auto& t : j.at("trace")) {
      const std::optional<Rule> rule = rule_from_id(t.at("rule").get<std::string>());
      if (rule) s.trace.push_back(step_from_text(*rule, t.at("detail").get<std::string>()));
      unknown = unknown || !rule;
    }
    if (unknown) throw std::invalid_argument("trace: unknown rule");
  });
  field([&] {
    bool unknown = false;  // a key no rule prints: left out
    for (const auto& [k, v] : j.at("after").items()) {
      const size_t key = std::find(kAccumulatorKeys.begin(), kAccumulatorKeys.end(), k) - kAccumulatorKeys.begin();
      if (key < kAccumulatorKeys.size())
        s.after.push_back({static_cast<Accumulator>(key),
                           v.is_null() ? std::nullopt : std::optional<Money>(signed_yuan(v.get<std::string>()))});
      unknown = unknown || key == kAccumulatorKeys.size();
    }
    if (unknown) throw std::invalid_argument("after: unknown accumulator");
  });
  if (exact && (bad || s.to_line() != line)) return std::nullopt;
  return s;
}

void Settlement::refuse(ClaimStatus status_, Reason reason) {
  status = status_;
  reasons.insert(reason);
  eligible = self_first = deductible = covered = fund = 0;
  ratio = 0;
}

namespace {

void put_string(std::string& o, std::string_view v) {
  o.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o.push_back(c);
        }
    }
  }
  o.push_back('"');
}

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
