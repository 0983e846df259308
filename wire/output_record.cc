#include "wire/output_record.h"
#include "readback/output_lines.h"

#include <array>
#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace gongji {
namespace {

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

// The strings of one buffer written once each: a string equal to one written through here before is that one's
// offset. What flatbuffers' CreateSharedString does, with the same bytes, without its ordered set over the buffer
// (a node allocated per string, compared in the buffer: 5% of serve's CPU at 10% of Weihai, 2026-12-04); the
// strings shared are a settlement's rule IDs, articles and accumulator keys, a few dozen at most.
class SharedStrings {
 public:
  explicit SharedStrings(FlatBufferBuilder& b) : b_(b) {}
  Offset<String> operator()(std::string_view v) {
    for (const auto& [text, at] : written_)
      if (text == v) return at;
    written_.emplace_back(v, b_.CreateString(v.data(), v.size()));
    return written_.back().second;
  }

 private:
  FlatBufferBuilder& b_;
  // What was written, as views of the caller's strings: each must outlive this (all are views of static tables:
  // rule_id and article_of of ledger/trace.h, key_of of ledger/settlement.h), never a temporary.
  std::vector<std::pair<std::string_view, Offset<String>>> written_;
};

Offset<void> settlement_body(FlatBufferBuilder& b, const Settlement& s) {
  std::vector<int16_t> reasons;
  for (Reason r : s.reasons) reasons.push_back(static_cast<int16_t>(wire_code(r)));
  // Rule IDs and articles repeat within a settlement: each is written once (SharedStrings).
  SharedStrings shared(b);
  std::vector<Offset<String>> rules;
  std::vector<Rule> seen;  // the rules listed so far, in first-use order (a dozen at most)
  for (const auto& st : s.trace)
    if (std::find(seen.begin(), seen.end(), st.rule) == seen.end())
      seen.push_back(st.rule), rules.push_back(shared(rule_id(st.rule)));
  std::vector<Offset<fb::TraceStep>> trace;
  for (const auto& st : s.trace)  // the text rendered here, at the edge (ledger/trace.h)
    trace.push_back(fb::CreateTraceStep(b, shared(rule_id(st.rule)), shared(article_of(st.rule)),
                                        b.CreateString(st.detail())));
  std::vector<Offset<fb::Accumulator>> after;
  for (const auto& a : s.after)
    after.push_back(fb::CreateAccumulator(b, shared(key_of(a.key)), a.value.value_or(0), !a.value));
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

Offset<String> text(FlatBufferBuilder& b, const std::optional<std::string>& v) {
  return v ? b.CreateString(*v) : 0;
}

Offset<void> body(FlatBufferBuilder& b, const Reversal& r) {
  auto event = b.CreateString(r.event), claim = b.CreateString(r.claim), person = b.CreateString(r.person);
  fb::ReversalBuilder t(b);
  t.add_event(event), t.add_claim(claim), t.add_person(person);
  t.add_at(wire_date(r.at)), t.add_date(wire_date(r.date));
  t.add_fund(r.fund), t.add_deductible(r.deductible), t.add_limit_used(r.limit_used), t.add_eligible(r.eligible);
  t.add_inpatient_used(r.inpatient_used);
  return t.Finish().Union();
}

Offset<void> body(FlatBufferBuilder& b, const AccountMovement& m) {
  auto event = b.CreateString(m.event), person = b.CreateString(m.person);
  auto rule = b.CreateString(rule_id(m.step.rule)), detail = b.CreateString(m.step.detail());
  auto beneficiary = text(b, m.beneficiary);
  fb::AccountMovementBuilder t(b);
  t.add_event(event), t.add_person(person), t.add_at(wire_date(m.at)), t.add_amount(m.amount);
  t.add_balance(m.balance), t.add_rule(rule), t.add_detail(detail);
  if (m.month) t.add_month(wire_month(*m.month));
  if (!beneficiary.IsNull()) t.add_beneficiary(beneficiary);
  if (m.purpose) t.add_purpose(wire_code(*m.purpose));
  return t.Finish().Union();
}

Offset<void> body(FlatBufferBuilder& b, const Refusal& r) {
  auto event = b.CreateString(r.event), detail = b.CreateString(r.detail), person = text(b, r.person);
  fb::RefusalBuilder t(b);
  t.add_event(event), t.add_type(wire_code(r.type)), t.add_reason(wire_code(r.reason)), t.add_detail(detail);
  t.add_at(wire_date(r.at));
  if (!person.IsNull()) t.add_person(person);
  return t.Finish().Union();
}

Offset<void> body(FlatBufferBuilder& b, const ContributionMismatch& m) {
  auto event = b.CreateString(m.event), person = b.CreateString(m.person), rule = b.CreateString(m.rule);
  fb::ContributionMismatchBuilder t(b);
  t.add_event(event), t.add_person(person), t.add_month(wire_month(m.month)), t.add_base(m.base);
  t.add_amount(m.amount), t.add_expected(m.expected), t.add_rate(m.rate), t.add_rule(rule);
  return t.Finish().Union();
}

Offset<void> body(FlatBufferBuilder& b, const DeadLetter& d) {
  auto reason = b.CreateString(d.reason), event = text(b, d.event), person = text(b, d.person);
  auto claim = text(b, d.claim);
  fb::DeadLetterBuilder t(b);
  t.add_partition(d.partition), t.add_offset(static_cast<int64_t>(d.offset)), t.add_reason(reason);
  if (!event.IsNull()) t.add_event(event);
  if (d.type) t.add_type(wire_code(*d.type));
  if (!person.IsNull()) t.add_person(person);
  if (!claim.IsNull()) t.add_claim(claim);
  return t.Finish().Union();
}

// The union member of each record type.
fb::OutputBody body_type(const Record& r) {
  static constexpr fb::OutputBody kTypes[] = {fb::OutputBody_Reversal, fb::OutputBody_AccountMovement,
                                              fb::OutputBody_Refusal, fb::OutputBody_ContributionMismatch,
                                              fb::OutputBody_DeadLetter};
  static_assert(std::size(kTypes) == std::variant_size_v<Record>, "one union member per record type");
  return kTypes[r.index()];
}

// Version 1's money fields of a record: a reversal's fund; an account movement's or a mismatch's amount.
std::pair<Money, Money> fund_and_amount(const Record& r) {
  if (const auto* v = std::get_if<Reversal>(&r)) return {v->fund, 0};
  if (const auto* m = std::get_if<AccountMovement>(&r)) return {0, m->amount};
  if (const auto* c = std::get_if<ContributionMismatch>(&r)) return {0, c->amount};
  return {0, 0};
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
fb::Purpose wire_code(Purpose p) {
  static const auto table = by_spelling<Purpose>(fb::EnumValuesPurpose(), fb::EnumNamePurpose);
  return table[static_cast<size_t>(p)];
}
// outputs.fbs's EventType holds the table's types (events/event_types.h) in its order, after `unknown`.
#define GONGJI_WIRE_EVENT_TYPE(name, S)                                                                      \
  static_assert(static_cast<int>(fb::EventType_##name) == static_cast<int>(EventType::name) + 1,            \
                "outputs.fbs: enum EventType holds " #name " at its place in the table");
GONGJI_EVENT_TYPES(GONGJI_WIRE_EVENT_TYPE)
#undef GONGJI_WIRE_EVENT_TYPE
static_assert(static_cast<int>(fb::EventType_MAX) == kEventTypeCount,
              "outputs.fbs: enum EventType has the table's types");
fb::EventType wire_code(EventType t) { return static_cast<fb::EventType>(static_cast<int>(t) + 1); }
fb::Kind wire_kind(std::string_view kind) {
  for (fb::Kind k : fb::EnumValuesKind())
    if (k != fb::Kind_unknown && kind == fb::EnumNameKind(k)) return k;
  return fb::Kind_unknown;
}

int32_t wire_date(Date d) {
  if (d == 0) return 0;  // 1970-01-01 is no date of this ledger: a record changed by hand that no longer says one
  const Ymd v = ymd_of(d);
  return v.y * 10000 + static_cast<int32_t>(v.m) * 100 + static_cast<int32_t>(v.d);
}
int32_t wire_month(Month m) {
  if (m == 0) return 0;  // likewise (year 0)
  return year_of_month(m) * 100 + static_cast<int32_t>(month_number(m));
}

std::string output_record(const Output& out, int partition, uint64_t offset, int index) {
  const fb::Kind kind = wire_kind(out.kind);
  if (kind == fb::Kind_unknown) throw std::invalid_argument("output record of unknown kind '" + out.kind + "'");
  std::shared_ptr<const Settlement> settlement = out.settlement;
  std::shared_ptr<const Record> record = out.record;
  if (!settlement && !record) {  // a stored line that does not read back exactly (changed by hand): its fields
    if (kind == fb::Kind_settlement) {
      if (auto s = settlement_from_line(out.text, false)) settlement = std::make_shared<const Settlement>(*s);
    } else if (auto r = record_from_line(out.text, false)) {
      record = std::make_shared<const Record>(*r);
    }
  }
  FlatBufferBuilder b(settlement ? 4096 : 512);
  fb::OutputBody type = fb::OutputBody_NONE;
  Offset<void> typed;
  Offset<String> person, claim, status;
  Money fund = 0, amount = 0;
  if (settlement) {
    const Settlement& s = *settlement;
    type = fb::OutputBody_Settlement, typed = settlement_body(b, s);
    person = b.CreateString(s.person), claim = b.CreateString(s.claim), status = b.CreateString(spelling(s.status));
    fund = s.fund;
  } else if (record) {
    type = body_type(*record);
    typed = std::visit([&](const auto& r) { return body(b, r); }, *record);
    const std::string who = record_person(*record), what = record_claim(*record);
    if (!who.empty()) person = b.CreateString(who);
    if (!what.empty()) claim = b.CreateString(what);
    std::tie(fund, amount) = fund_and_amount(*record);
  } else {  // not even that: no body, and what the store's index knew
    if (!out.person.empty()) person = b.CreateString(out.person);
    if (!out.claim.empty()) claim = b.CreateString(out.claim);
  }
  auto kind_s = b.CreateString(out.kind);
  auto line_s = b.CreateString(out.text);  // version 3: empty unless the store holds the record as a line
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
  if (type != fb::OutputBody_NONE) r.add_body_type(type), r.add_body(typed);
  fb::FinishOutputRecordBuffer(b, r.Finish());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

}  // namespace gongji
