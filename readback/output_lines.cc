#include "readback/output_lines.h"

#include <algorithm>
#include <stdexcept>

namespace gongji {
namespace {

using nlohmann::json;

// ---- reading a stored line back: each field read leniently (an unreadable date, month or money reads 0);
// record_from_line keeps only exact round trips unless asked for what the fields say.

struct Reader {
  const json& j;
  std::string text(const char* k) const { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; }
  std::optional<std::string> maybe(const char* k) const {
    return j.contains(k) ? std::optional<std::string>(text(k)) : std::nullopt;
  }
  Money money(const char* k) const { return record_money(j, k); }
  Date date(const char* k) const { return parse_date(text(k)).value_or(0); }
  Month month(const char* k) const { return parse_month(text(k)).value_or(0); }
};

Rate rate_from(std::string s) {  // "d.dddd" (format_rate), in 1/10000; 0 when it is not of that form
  const size_t dot = s.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 4 || s.size() != dot + 5) return 0;
  s.erase(dot, 1);
  if (s.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<Rate>(std::stol(s));
}

std::optional<Record> record_of(const Reader& f, std::string_view kind, bool exact) {
  if (kind == "reversal")
    return Reversal{f.text("event"), f.text("claim"), f.text("person"), f.date("at"), f.date("date"),
                    f.money("fund"), f.money("deductible"), f.money("limit_used"), f.money("eligible"),
                    f.money("inpatient_used")};
  if (kind == "account_credit" || kind == "account_debit") {
    // A rule ID no movement carries reads (not exactly) as its kind's usual rule, so the books still see the amount.
    const std::optional<Rule> rule = rule_from_id(f.text("rule"));
    if (exact && !rule) return std::nullopt;
    const Rule kept = rule.value_or(kind == "account_credit" ? Rule::ACC_INSVC : Rule::ACC_USE);
    AccountMovement m{kind == "account_credit", f.text("event"), f.text("person"), f.date("at"), f.money("amount"),
                      f.money("balance"), step_from_text(kept, f.text("detail")), std::nullopt,
                      f.maybe("beneficiary"), std::nullopt};
    if (f.j.contains("month")) m.month = f.month("month");
    if (f.j.contains("purpose")) m.purpose = code_from<Purpose>(f.text("purpose"));
    if (exact && f.j.contains("purpose") && !m.purpose) return std::nullopt;
    return m;
  }
  if (kind == "refusal") {
    auto type = type_from_name(f.text("type"));
    auto reason = code_from<Reason>(f.text("reason"));
    if (!type || !reason) return std::nullopt;  // even not exact: a refusal is its type and reason
    return Refusal{f.text("event"), *type, *reason, f.text("detail"), f.date("at"), f.maybe("person")};
  }
  if (kind == "contribution_mismatch")
    return ContributionMismatch{f.text("event"), f.text("person"), f.month("month"), f.money("base"),
                                f.money("amount"), f.money("expected"), rate_from(f.text("rate")), f.text("rule")};
  if (kind == "dead_letter") {
    const bool placed = f.j.contains("partition") && f.j["partition"].is_number_integer() &&
                        f.j.contains("offset") && f.j["offset"].is_number_unsigned();
    if (exact && !placed) return std::nullopt;
    DeadLetter d{placed ? f.j["partition"].get<int>() : 0, placed ? f.j["offset"].get<uint64_t>() : 0,
                 f.text("reason"), f.maybe("event"), std::nullopt, f.maybe("person"), f.maybe("claim")};
    if (f.j.contains("type")) d.type = type_from_name(f.text("type"));
    if (exact && f.j.contains("type") && !d.type) return std::nullopt;
    return d;
  }
  return std::nullopt;
}

}  // namespace

Money record_money(const nlohmann::json& record, const char* field) {
  if (!record.contains(field) || !record[field].is_string()) return 0;
  return signed_yuan(record[field].get_ref<const std::string&>());
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

std::optional<Record> record_from_line(std::string_view line, bool exact) {
  const json j = json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) return std::nullopt;
  std::optional<Record> r = record_of(Reader{j}, j["kind"].get_ref<const std::string&>(), exact);
  if (!r || (exact && record_line(*r) != line)) return std::nullopt;
  return r;
}

}  // namespace gongji
