#include "wire/output_record.h"

#include <array>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace gongji {
namespace {

using nlohmann::json;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::String;

// The wire value of every value of E, by spelling; 0 (unknown) where the schema has no value of that name.
template <typename E, typename W, size_t M>
std::array<W, CodeTable<E>::names.size()> by_spelling(const W (&values)[M], const char* (*name)(W)) {
  std::array<W, CodeTable<E>::names.size()> table{};
  for (size_t i = 0; i < table.size(); ++i)
    for (W v : values)
      if (CodeTable<E>::names[i] == name(v)) table[i] = v;
  return table;
}

// A rate as the output lines print it ("0.0775", format_rate) in 1/10000; 0 when it is not one.
int32_t rate_of(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || s.size() - dot - 1 != 4 || dot > 5) return 0;
  int32_t r = 0;
  for (char c : s) {
    if (c == '.') continue;
    if (c < '0' || c > '9') return 0;
    r = r * 10 + (c - '0');
  }
  return r;
}

// The fields of a record kept as JSON (every kind but settlements, EVENTS.md "Outputs"), read for the body.
struct Fields {
  FlatBufferBuilder& b;
  const json& j;
  Offset<String> text(const char* k) const {
    return j.contains(k) && j[k].is_string() ? b.CreateString(j[k].get_ref<const std::string&>()) : 0;
  }
  std::string_view raw(const char* k) const {
    return j.contains(k) && j[k].is_string() ? std::string_view(j[k].get_ref<const std::string&>()) : "";
  }
  Money money(const char* k) const { return record_money(j, k); }
  int32_t date(const char* k) const {
    auto d = parse_date(raw(k));
    return d ? wire_date(*d) : 0;
  }
  int32_t month(const char* k) const {
    auto m = parse_month(raw(k));
    return m ? wire_month(*m) : 0;
  }
};

Offset<void> settlement_body(FlatBufferBuilder& b, const Settlement& s) {
  std::vector<int16_t> reasons;
  for (Reason r : s.reasons) reasons.push_back(static_cast<int16_t>(wire_code(r)));
  std::vector<Offset<String>> rules;
  std::set<std::string_view> seen;
  for (const auto& st : s.trace)
    if (seen.insert(st.rule).second) rules.push_back(b.CreateString(st.rule));
  std::vector<Offset<fb::TraceStep>> trace;
  for (const auto& st : s.trace)
    trace.push_back(fb::CreateTraceStep(b, b.CreateString(st.rule), b.CreateString(article_of(st.rule)),
                                        b.CreateString(st.detail)));
  std::vector<Offset<fb::Accumulator>> after;
  for (const auto& [k, v] : s.after)
    after.push_back(fb::CreateAccumulator(b, b.CreateString(k), v ? b.CreateString(*v) : 0));
  auto claim = b.CreateString(s.claim), person = b.CreateString(s.person), event = b.CreateString(s.event);
  auto facility = s.facility.empty() ? 0 : b.CreateString(s.facility);
  auto version = b.CreateString(s.policy_version);
  auto reasons_v = b.CreateVector(reasons);
  auto rules_v = b.CreateVector(rules);
  auto trace_v = b.CreateVector(trace);
  auto after_v = b.CreateVector(after);
  fb::SettlementBuilder t(b);
  t.add_claim(claim), t.add_person(person), t.add_event(event);
  if (!facility.IsNull()) t.add_facility(facility);
  t.add_benefit(wire_code(s.benefit)), t.add_status(wire_code(s.status));
  if (s.scheme) t.add_scheme(wire_code(*s.scheme));
  t.add_date(wire_date(s.date)), t.add_level(s.level), t.add_reasons(reasons_v);
  t.add_total(s.total), t.add_eligible(s.eligible), t.add_self_first(s.self_first);
  t.add_deductible(s.deductible), t.add_covered(s.covered), t.add_ratio(s.ratio);
  t.add_fund(s.fund), t.add_patient(s.patient()), t.add_policy_version(version);
  t.add_rules(rules_v), t.add_trace(trace_v), t.add_after(after_v);
  return t.Finish().Union();
}

Offset<void> reversal_body(const Fields& f) {
  auto event = f.text("event"), claim = f.text("claim"), person = f.text("person");
  fb::ReversalBuilder t(f.b);
  t.add_event(event), t.add_claim(claim), t.add_person(person);
  t.add_at(f.date("at")), t.add_date(f.date("date"));
  t.add_fund(f.money("fund")), t.add_deductible(f.money("deductible")), t.add_limit_used(f.money("limit_used"));
  t.add_eligible(f.money("eligible")), t.add_inpatient_used(f.money("inpatient_used"));
  return t.Finish().Union();
}

Offset<void> movement_body(const Fields& f) {
  auto event = f.text("event"), person = f.text("person"), rule = f.text("rule"), detail = f.text("detail");
  auto beneficiary = f.text("beneficiary"), purpose = f.text("purpose");
  fb::AccountMovementBuilder t(f.b);
  t.add_event(event), t.add_person(person), t.add_at(f.date("at"));
  t.add_amount(f.money("amount")), t.add_balance(f.money("balance"));
  t.add_rule(rule), t.add_detail(detail), t.add_month(f.month("month"));
  if (!beneficiary.IsNull()) t.add_beneficiary(beneficiary);
  if (!purpose.IsNull()) t.add_purpose(purpose);
  return t.Finish().Union();
}

Offset<void> refusal_body(const Fields& f) {
  auto event = f.text("event"), type = f.text("type"), detail = f.text("detail"), person = f.text("person");
  auto reason = code_from<Reason>(f.raw("reason"));
  fb::RefusalBuilder t(f.b);
  t.add_event(event), t.add_type(type), t.add_detail(detail), t.add_at(f.date("at"));
  if (reason) t.add_reason(wire_code(*reason));
  if (!person.IsNull()) t.add_person(person);
  return t.Finish().Union();
}

Offset<void> mismatch_body(const Fields& f) {
  auto event = f.text("event"), person = f.text("person"), rule = f.text("rule");
  fb::ContributionMismatchBuilder t(f.b);
  t.add_event(event), t.add_person(person), t.add_month(f.month("month"));
  t.add_base(f.money("base")), t.add_amount(f.money("amount")), t.add_expected(f.money("expected"));
  t.add_rate(rate_of(f.raw("rate"))), t.add_rule(rule);
  return t.Finish().Union();
}

Offset<void> dead_letter_body(const Fields& f) {
  auto reason = f.text("reason"), event = f.text("event"), type = f.text("type"), person = f.text("person");
  auto claim = f.text("claim");
  fb::DeadLetterBuilder t(f.b);
  t.add_partition(f.j.value("partition", 0)), t.add_offset(f.j.value("offset", int64_t{0}));
  t.add_reason(reason);
  if (!event.IsNull()) t.add_event(event), t.add_type(type);
  if (!person.IsNull()) t.add_person(person);
  if (!claim.IsNull()) t.add_claim(claim);
  return t.Finish().Union();
}

// The body of a record kept as JSON, and its union type.
std::pair<fb::OutputBody, Offset<void>> json_body(fb::Kind kind, const Fields& f) {
  switch (kind) {
    case fb::Kind_reversal: return {fb::OutputBody_Reversal, reversal_body(f)};
    case fb::Kind_account_credit:
    case fb::Kind_account_debit: return {fb::OutputBody_AccountMovement, movement_body(f)};
    case fb::Kind_refusal: return {fb::OutputBody_Refusal, refusal_body(f)};
    case fb::Kind_contribution_mismatch: return {fb::OutputBody_ContributionMismatch, mismatch_body(f)};
    case fb::Kind_dead_letter: return {fb::OutputBody_DeadLetter, dead_letter_body(f)};
    default: throw std::invalid_argument("output record of kind '" + std::string(fb::EnumNameKind(kind)) +
                                         "' kept as JSON");
  }
}

}  // namespace

fb::Reason wire_code(Reason r) {
  static const auto table = by_spelling<Reason>(fb::EnumValuesReason(), fb::EnumNameReason);
  return table[static_cast<size_t>(r)];
}
fb::ClaimStatus wire_code(ClaimStatus s) {
  static const auto table = by_spelling<ClaimStatus>(fb::EnumValuesClaimStatus(), fb::EnumNameClaimStatus);
  return table[static_cast<size_t>(s)];
}
fb::Benefit wire_code(Benefit b) {
  static const auto table = by_spelling<Benefit>(fb::EnumValuesBenefit(), fb::EnumNameBenefit);
  return table[static_cast<size_t>(b)];
}
fb::Scheme wire_code(Scheme s) {
  static const auto table = by_spelling<Scheme>(fb::EnumValuesScheme(), fb::EnumNameScheme);
  return table[static_cast<size_t>(s)];
}
fb::Kind wire_kind(std::string_view kind) {
  for (fb::Kind k : fb::EnumValuesKind())
    if (k != fb::Kind_unknown && kind == fb::EnumNameKind(k)) return k;
  return fb::Kind_unknown;
}

int32_t wire_date(Date d) {
  const Ymd v = ymd_of(d);
  return v.y * 10000 + static_cast<int32_t>(v.m) * 100 + static_cast<int32_t>(v.d);
}
int32_t wire_month(Month m) { return year_of_month(m) * 100 + static_cast<int32_t>(month_number(m)); }

std::string output_record(const Output& out, int partition, uint64_t offset, int index) {
  const fb::Kind kind = wire_kind(out.kind);
  if (kind == fb::Kind_unknown) throw std::invalid_argument("output record of unknown kind '" + out.kind + "'");
  FlatBufferBuilder b(out.settlement ? 2048 : 512);
  const std::string line = out.line();
  fb::OutputBody body_type = fb::OutputBody_Settlement;
  Offset<void> body;
  Offset<String> person, claim, status;
  Money fund = 0, amount = 0;
  if (out.settlement) {
    const Settlement& s = *out.settlement;
    body = settlement_body(b, s);
    person = b.CreateString(s.person), claim = b.CreateString(s.claim), status = b.CreateString(spelling(s.status));
    fund = s.fund;
  } else {
    const json j = json::parse(out.text);
    const Fields f{b, j};
    std::tie(body_type, body) = json_body(kind, f);
    person = f.text("person"), claim = f.text("claim"), status = f.text("status");
    fund = f.money("fund"), amount = f.money("amount");
  }
  auto kind_s = b.CreateString(out.kind);
  auto line_s = b.CreateString(line);
  fb::OutputRecordBuilder r(b);
  r.add_kind(kind_s);
  r.add_partition(partition);
  r.add_offset(static_cast<int64_t>(offset));
  r.add_index(index);
  if (!person.IsNull()) r.add_person(person);
  if (!claim.IsNull()) r.add_claim(claim);
  if (!status.IsNull()) r.add_status(status);
  r.add_fund(fund);
  r.add_amount(amount);
  r.add_line(line_s);
  r.add_schema_version(kOutputSchemaVersion);
  r.add_record_kind(kind);
  r.add_body_type(body_type);
  r.add_body(body);
  fb::FinishOutputRecordBuffer(b, r.Finish());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

}  // namespace gongji
