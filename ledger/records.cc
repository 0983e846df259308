#include "ledger/records.h"

#include <nlohmann/json.hpp>

#include "ledger/settlement.h"

namespace gongji {
namespace {

using nlohmann::json;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

json to_json(const Reversal& r) {
  return {{"kind", "reversal"},
          {"event", r.event},
          {"claim", r.claim},
          {"person", r.person},
          {"at", format_date(r.at)},
          {"date", format_date(r.date)},
          {"fund", format_money(r.fund)},
          {"deductible", format_money(r.deductible)},
          {"limit_used", format_money(r.limit_used)},
          {"eligible", format_money(r.eligible)},
          {"inpatient_used", format_money(r.inpatient_used)}};
}

json to_json(const AccountMovement& m) {
  json j = {{"kind", m.credit ? "account_credit" : "account_debit"},
            {"person", m.person},
            {"event", m.event},
            {"at", format_date(m.at)},
            {"amount", format_money(m.amount)},
            {"balance", format_money(m.balance)},
            {"rule", rule_id(m.step.rule)},
            {"detail", m.step.detail()}};
  if (m.month) j["month"] = format_month(*m.month);
  if (m.beneficiary) j["beneficiary"] = *m.beneficiary;
  if (m.purpose) j["purpose"] = spelled(*m.purpose);
  return j;
}

json to_json(const Refusal& r) {
  json j = {{"kind", "refusal"}, {"event", r.event},   {"type", type_name(r.type)}, {"reason", spelled(r.reason)},
            {"detail", r.detail}, {"at", format_date(r.at)}};
  if (r.person) j["person"] = *r.person;
  return j;
}

json to_json(const ContributionMismatch& m) {
  return {{"kind", "contribution_mismatch"},
          {"person", m.person},
          {"event", m.event},
          {"month", format_month(m.month)},
          {"base", format_money(m.base)},
          {"amount", format_money(m.amount)},
          {"expected", format_money(m.expected)},
          {"rate", format_rate(m.rate)},
          {"rule", m.rule}};
}

json to_json(const DeadLetter& d) {
  json j = {{"kind", "dead_letter"}, {"partition", d.partition}, {"offset", d.offset}, {"reason", d.reason}};
  if (d.event) j["event"] = *d.event;
  if (d.type) j["type"] = type_name(*d.type);
  if (d.person) j["person"] = *d.person;
  if (d.claim) j["claim"] = *d.claim;
  return j;
}

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

std::string_view record_kind(const Record& r) {
  return std::visit(Overloaded{[](const Reversal&) { return std::string_view("reversal"); },
                               [](const AccountMovement& m) {
                                 return std::string_view(m.credit ? "account_credit" : "account_debit");
                               },
                               [](const Refusal&) { return std::string_view("refusal"); },
                               [](const ContributionMismatch&) { return std::string_view("contribution_mismatch"); },
                               [](const DeadLetter&) { return std::string_view("dead_letter"); }},
                    r);
}

std::string record_person(const Record& r) {
  return std::visit(Overloaded{[](const Refusal& x) { return x.person.value_or(""); },
                               [](const DeadLetter& x) { return x.person.value_or(""); },
                               [](const auto& x) { return x.person; }},
                    r);
}

std::string record_claim(const Record& r) {
  return std::visit(Overloaded{[](const Reversal& x) { return x.claim; },
                               [](const DeadLetter& x) { return x.claim.value_or(""); },
                               [](const auto&) { return std::string(); }},
                    r);
}

std::string record_line(const Record& r) {
  // A dead letter may carry a poison record's bytes: replaced, so that the line is always valid JSON.
  return std::visit([](const auto& x) { return to_json(x).dump(-1, ' ', false, json::error_handler_t::replace); },
                    r);
}

std::optional<Record> record_from_line(std::string_view line, bool exact) {
  const json j = json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) return std::nullopt;
  std::optional<Record> r = record_of(Reader{j}, j["kind"].get_ref<const std::string&>(), exact);
  if (!r || (exact && record_line(*r) != line)) return std::nullopt;
  return r;
}

}  // namespace gongji
