#include "ledger/records.h"

#include "ledger/line_writer.h"
#include "ledger/settlement.h"

namespace gongji {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

// Each kind's line, its keys in lexicographic order (as nlohmann's DOM printed them before).
std::string line_of(const Reversal& r) {
  return LineWriter()
      .text("at", format_date(r.at))
      .text("claim", r.claim)
      .text("date", format_date(r.date))
      .text("deductible", format_money(r.deductible))
      .text("eligible", format_money(r.eligible))
      .text("event", r.event)
      .text("fund", format_money(r.fund))
      .text("inpatient_used", format_money(r.inpatient_used))
      .text("kind", "reversal")
      .text("limit_used", format_money(r.limit_used))
      .text("person", r.person)
      .done();
}

std::string line_of(const AccountMovement& m) {
  LineWriter w;
  w.text("amount", format_money(m.amount)).text("at", format_date(m.at)).text("balance", format_money(m.balance));
  if (m.beneficiary) w.text("beneficiary", *m.beneficiary);
  w.text("detail", m.step.detail()).text("event", m.event).text("kind", m.credit ? "account_credit" : "account_debit");
  if (m.month) w.text("month", format_month(*m.month));
  w.text("person", m.person);
  if (m.purpose) w.text("purpose", spelled(*m.purpose));
  return w.text("rule", rule_id(m.step.rule)).done();
}

std::string line_of(const Refusal& r) {
  LineWriter w;
  w.text("at", format_date(r.at)).text("detail", r.detail).text("event", r.event).text("kind", "refusal");
  if (r.person) w.text("person", *r.person);
  return w.text("reason", spelled(r.reason)).text("type", type_name(r.type)).done();
}

std::string line_of(const ContributionMismatch& m) {
  return LineWriter()
      .text("amount", format_money(m.amount))
      .text("base", format_money(m.base))
      .text("event", m.event)
      .text("expected", format_money(m.expected))
      .text("kind", "contribution_mismatch")
      .text("month", format_month(m.month))
      .text("person", m.person)
      .text("rate", format_rate(m.rate))
      .text("rule", m.rule)
      .done();
}

std::string line_of(const DeadLetter& d) {
  LineWriter w;
  if (d.claim) w.text("claim", *d.claim);
  if (d.event) w.text("event", *d.event);
  w.text("kind", "dead_letter").unsigned_number("offset", d.offset).number("partition", d.partition);
  if (d.person) w.text("person", *d.person);
  w.text("reason", d.reason);
  if (d.type) w.text("type", type_name(*d.type));
  return w.done();
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
  // A dead letter may carry a poison record's bytes: replaced (LineWriter), so that the line is always valid JSON.
  return std::visit([](const auto& x) { return line_of(x); }, r);
}

}  // namespace gongji
