// Issue 9 item 3: the settlements topic's record (events/outputs.fbs, wire/output_record.h) carries every field of
// every kind typed, with a schema version, and a reader generated from the previous version still reads it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

// Both published schemas generate into namespace gongji::fb; including both in one translation unit makes the
// compiler refuse a name defined twice, which across two units would be a silent ODR violation (it was: a union
// `Body` in both broke the event codec).
#include "events/events_generated.h"
#include "tests/harness.h"
#include "tests/schemas/outputs_v1_generated.h"
#include "wire/output_record.h"

namespace gongji {
namespace {

using nlohmann::json;
using test::item;
using test::items;
using test::Ledger;

const fb::OutputRecord* read_v2(const std::string& bytes) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_TRUE(fb::VerifyOutputRecordBuffer(v)) << "not a valid version-2 OutputRecord";
  return fb::GetOutputRecord(bytes.data());
}

std::string str(const flatbuffers::String* s) { return s ? s->str() : "<absent>"; }

// The records of a small history, one of each kind the ledger produces, in order:
//   E: employee; H3 designated; a claim of 1333.33 (fund 316.67, POLICY.md §4 example in ledger_ordinary_test);
//   its reversal; A: contribution of 10000.00 in 2023-01 (credit 275.00) and a debit of 85.20 for child K;
//   F: a flexible employee paying 300.00 on a base of 4000.00 where 7.75% is 310.00 (ACC-FLEX); a refusal.
struct History {
  Ledger l;
  Output settlement, reversal, credit, debit, mismatch, refusal;
  History() {
    l.employee("E");
    l.designate("E", "H3", "2023-01-01");
    settlement = one({{"type", "claim"}, {"id", "e-claim"}, {"claim", "K1"}, {"person", "E"}, {"facility", "H3"},
                      {"date", "2023-02-01"}, {"benefit", "ordinary"}, {"items", items({item("drug", "1333.33")})}});
    reversal = one({{"type", "claim_reversed"}, {"id", "e-rev"}, {"at", "2023-02-10"}, {"person", "E"},
                    {"claim", "K1"}});
    l.employee("A", "1980-01-01");
    l.resident("K", 2, "2015-01-01");
    credit = one({{"type", "contribution_paid"}, {"id", "e-credit"}, {"at", "2023-01-10"}, {"person", "A"},
                  {"month", "2023-01"}, {"base", "10000.00"}});
    l.apply({{"type", "family_linked"}, {"id", l.next_id()}, {"at", "2023-01-15"}, {"person", "A"},
             {"relative", "K"}, {"relation", "child"}});
    debit = one({{"type", "account_payment"}, {"id", "e-debit"}, {"at", "2023-02-01"}, {"person", "A"},
                 {"beneficiary", "K"}, {"purpose", "medical_out_of_pocket"}, {"amount", "85.20"}});
    l.employee("F", "1983-01-01", "flexible");
    mismatch = one({{"type", "contribution_paid"}, {"id", "e-flex"}, {"at", "2023-03-10"}, {"person", "F"},
                    {"month", "2023-03"}, {"base", "4000.00"}, {"amount", "300.00"}});
    refusal = one({{"type", "outpatient_designated"}, {"id", "e-refused"}, {"at", "2023-03-01"}, {"person", "A"},
                   {"facility", "NOPE"}});
  }
  Output one(const json& event) {
    std::vector<Output> out = l.apply_records(event);
    EXPECT_EQ(out.size(), 1u) << event.dump();
    return out.empty() ? Output{} : out[0];
  }
};

// A dead letter as the fold stores it (projections/store.cc dead_letter_line).
Output dead_letter() {
  const std::string line =
      R"({"claim":"K9","event":"e-bad","kind":"dead_letter","offset":41,"partition":3,"person":"E",)"
      R"("reason":"validation: amount beyond the documented maximum","type":"claim"})";
  return Output{"dead_letter", "", line, "E"};
}

TEST(OutputRecord, ASettlementIsWrittenFromItsDataWithEveryFieldTyped) {
  History h;
  const std::string bytes = output_record(h.settlement, 3, 41, 0);
  const fb::OutputRecord* r = read_v2(bytes);
  EXPECT_EQ(r->schema_version(), 2);
  EXPECT_EQ(r->record_kind(), fb::Kind_settlement);
  ASSERT_EQ(r->body_type(), fb::OutputBody_Settlement);
  const fb::Settlement* s = r->body_as_Settlement();
  EXPECT_EQ(str(s->claim()), "K1");
  EXPECT_EQ(str(s->person()), "E");
  EXPECT_EQ(str(s->event()), "e-claim");
  EXPECT_EQ(str(s->facility()), "H3");
  EXPECT_EQ(s->benefit(), fb::Benefit_ordinary);
  EXPECT_EQ(s->status(), fb::ClaimStatus_settled);
  EXPECT_EQ(s->scheme(), fb::Scheme_employee);
  EXPECT_EQ(s->date(), 20230201);
  EXPECT_EQ(s->level(), 3);
  EXPECT_EQ(s->total(), 133333);
  EXPECT_EQ(s->eligible(), 133333);
  EXPECT_EQ(s->deductible(), 70000);
  EXPECT_EQ(s->covered(), 63333);
  EXPECT_EQ(s->ratio(), 5000);
  EXPECT_EQ(s->fund(), 31667);  // (1333.33 - 700) x 50% = 316.665 -> 316.67
  EXPECT_EQ(s->patient(), 133333 - 31667);
  ASSERT_NE(s->reasons(), nullptr);
  EXPECT_EQ(s->reasons()->size(), 0u);
  // The trace, step by step as the line prints it: rule, article, detail.
  const json line = json::parse(h.settlement.line());
  ASSERT_NE(s->trace(), nullptr);
  ASSERT_EQ(s->trace()->size(), line["trace"].size());
  for (size_t i = 0; i < line["trace"].size(); ++i) {
    const fb::TraceStep* t = s->trace()->Get(static_cast<flatbuffers::uoffset_t>(i));
    EXPECT_EQ(str(t->rule()), line["trace"][i]["rule"]);
    EXPECT_EQ(str(t->article()), line["trace"][i]["article"]);
    EXPECT_EQ(str(t->detail()), line["trace"][i]["detail"]);
  }
  std::vector<std::string> rules;
  for (const auto* x : *s->rules()) rules.push_back(x->str());
  EXPECT_EQ(json(rules), line["rules"]);
  ASSERT_NE(s->after(), nullptr);
  ASSERT_EQ(s->after()->size(), line["after"].size());
  for (const auto* a : *s->after()) EXPECT_EQ(str(a->value()), line["after"][a->key()->str()]) << a->key()->str();
  EXPECT_EQ(str(s->policy_version()), line["policy_version"]);
}

TEST(OutputRecord, AReversalHasItsTypedBody) {
  History h;
  const fb::OutputRecord* r;
  const std::string rev = output_record(h.reversal, 0, 2, 0);
  r = read_v2(rev);
  ASSERT_EQ(r->body_type(), fb::OutputBody_Reversal);
  const fb::Reversal* v = r->body_as_Reversal();
  EXPECT_EQ(str(v->claim()), "K1");
  EXPECT_EQ(str(v->event()), "e-rev");
  EXPECT_EQ(v->at(), 20230210);
  EXPECT_EQ(v->date(), 20230201);
  EXPECT_EQ(v->fund(), -31667);
  EXPECT_EQ(v->deductible(), -70000);
  EXPECT_EQ(v->limit_used(), -63333);
  EXPECT_EQ(r->fund(), -31667);  // version 1's field, as before
}

TEST(OutputRecord, AccountMovementsHaveTheirTypedBody) {
  History h;
  const fb::OutputRecord* r;
  const std::string credit = output_record(h.credit, 0, 3, 0);
  r = read_v2(credit);
  EXPECT_EQ(r->record_kind(), fb::Kind_account_credit);
  ASSERT_EQ(r->body_type(), fb::OutputBody_AccountMovement);
  const fb::AccountMovement* c = r->body_as_AccountMovement();
  EXPECT_EQ(c->amount(), 27500);  // ACC-INSVC: 10000.00 x (2% + 0.75%)
  EXPECT_EQ(c->balance(), 27500);
  EXPECT_EQ(c->month(), 202301);
  EXPECT_EQ(str(c->rule()), "ACC-INSVC");
  EXPECT_EQ(c->beneficiary(), nullptr);

  const std::string debit = output_record(h.debit, 0, 4, 0);
  r = read_v2(debit);
  EXPECT_EQ(r->record_kind(), fb::Kind_account_debit);
  const fb::AccountMovement* d = r->body_as_AccountMovement();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->amount(), 8520);
  EXPECT_EQ(d->balance(), 18980);
  EXPECT_EQ(d->at(), 20230201);
  EXPECT_EQ(d->month(), 0);
  EXPECT_EQ(str(d->beneficiary()), "K");
  EXPECT_EQ(str(d->purpose()), "medical_out_of_pocket");
  EXPECT_EQ(str(d->rule()), "ACC-USE");
  EXPECT_EQ(r->amount(), 8520);
}

TEST(OutputRecord, RefusalsMismatchesAndDeadLettersHaveTheirTypedBody) {
  History h;
  const fb::OutputRecord* r;
  const std::string flex = output_record(h.mismatch, 0, 5, 0);
  r = read_v2(flex);
  ASSERT_EQ(r->body_type(), fb::OutputBody_ContributionMismatch);
  const fb::ContributionMismatch* m = r->body_as_ContributionMismatch();
  EXPECT_EQ(m->month(), 202303);
  EXPECT_EQ(m->base(), 400000);
  EXPECT_EQ(m->amount(), 30000);
  EXPECT_EQ(m->expected(), 31000);
  EXPECT_EQ(m->rate(), 775);
  EXPECT_EQ(str(m->rule()), "ACC-FLEX");

  const std::string refused = output_record(h.refusal, 0, 6, 0);
  r = read_v2(refused);
  ASSERT_EQ(r->body_type(), fb::OutputBody_Refusal);
  const fb::Refusal* f = r->body_as_Refusal();
  EXPECT_EQ(f->reason(), fb::Reason_UNKNOWN_FACILITY);
  EXPECT_EQ(str(f->type()), "outpatient_designated");
  EXPECT_EQ(str(f->event()), "e-refused");
  EXPECT_EQ(f->at(), 20230301);
  EXPECT_EQ(str(f->person()), "A");

  const std::string dead = output_record(dead_letter(), 3, 41, 0);
  r = read_v2(dead);
  ASSERT_EQ(r->body_type(), fb::OutputBody_DeadLetter);
  const fb::DeadLetter* x = r->body_as_DeadLetter();
  EXPECT_EQ(x->partition(), 3);
  EXPECT_EQ(x->offset(), 41);
  EXPECT_EQ(str(x->event()), "e-bad");
  EXPECT_EQ(str(x->type()), "claim");
  EXPECT_EQ(str(x->claim()), "K9");
  EXPECT_EQ(str(x->reason()), "validation: amount beyond the documented maximum");
}

// FlatBuffers evolution: a reader generated from version 1 (tests/schemas/outputs_v1.fbs) reads the records this
// binary writes, every field it knows as before, and verifies them.
TEST(OutputRecord, AReaderOfVersion1ReadsVersion2Records) {
  History h;
  for (const Output* o : {&h.settlement, &h.reversal, &h.debit}) {
    const std::string bytes = output_record(*o, 3, 41, 1);
    ASSERT_TRUE(fb::v1::OutputRecordBufferHasIdentifier(bytes.data()));
    flatbuffers::Verifier verify(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ASSERT_TRUE(fb::v1::VerifyOutputRecordBuffer(verify));
    const fb::v1::OutputRecord* r = fb::v1::GetOutputRecord(bytes.data());
    EXPECT_EQ(str(r->kind()), o->kind);
    EXPECT_EQ(r->partition(), 3);
    EXPECT_EQ(r->offset(), 41);
    EXPECT_EQ(r->index(), 1);
    EXPECT_EQ(str(r->line()), o->line());
  }
  const std::string bytes = output_record(h.settlement, 3, 41, 0);
  const fb::v1::OutputRecord* r = fb::v1::GetOutputRecord(bytes.data());
  EXPECT_EQ(str(r->person()), "E");
  EXPECT_EQ(str(r->claim()), "K1");
  EXPECT_EQ(str(r->status()), "settled");
  EXPECT_EQ(r->fund(), 31667);
  EXPECT_EQ(r->amount(), 0);
}

// And the other way: a version-1 record (published before this version) reads as version 1, with no body.
TEST(OutputRecord, AVersion1RecordReadsAsVersion1) {
  flatbuffers::FlatBufferBuilder b;
  auto kind = b.CreateString("settlement");
  auto line = b.CreateString(R"({"kind":"settlement"})");
  fb::v1::OutputRecordBuilder w(b);
  w.add_kind(kind);
  w.add_line(line);
  w.add_fund(100);
  fb::v1::FinishOutputRecordBuffer(b, w.Finish());
  const std::string bytes(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  const fb::OutputRecord* r = read_v2(bytes);
  EXPECT_EQ(r->schema_version(), 1);
  EXPECT_EQ(r->record_kind(), fb::Kind_unknown);
  EXPECT_EQ(r->body_type(), fb::OutputBody_NONE);
  EXPECT_EQ(r->fund(), 100);
}

// Issue 9 item 4: each code's wire value is the outputs.fbs value named by its EVENTS.md spelling, for every value
// of every code the records carry; a code missing from the schema would be written as `unknown`.
TEST(OutputRecord, EveryCodeHasTheWireValueOfItsSpelling) {
  for (size_t i = 0; i < CodeTable<Reason>::names.size(); ++i) {
    const Reason code = static_cast<Reason>(i);
    EXPECT_EQ(std::string(fb::EnumNameReason(wire_code(code))), spelled(code));
  }
  for (ClaimStatus c : {ClaimStatus::settled, ClaimStatus::rejected, ClaimStatus::referred})
    EXPECT_EQ(std::string(fb::EnumNameClaimStatus(wire_code(c))), spelled(c));
  for (size_t i = 0; i < CodeTable<Benefit>::names.size(); ++i)
    EXPECT_EQ(std::string(fb::EnumNameBenefit(wire_code(static_cast<Benefit>(i)))), CodeTable<Benefit>::names[i]);
  for (size_t i = 0; i < CodeTable<Scheme>::names.size(); ++i)
    EXPECT_EQ(std::string(fb::EnumNameScheme(wire_code(static_cast<Scheme>(i)))), CodeTable<Scheme>::names[i]);
  // Published values never move: a few pinned (appending keeps them; reordering the C++ enum must not change them).
  EXPECT_EQ(static_cast<int>(wire_code(Reason::ACCOUNT_INSUFFICIENT)), 1);
  EXPECT_EQ(static_cast<int>(wire_code(Reason::UNKNOWN_PERSON)), 36);
  EXPECT_EQ(static_cast<int>(wire_code(ClaimStatus::referred)), 3);
  EXPECT_EQ(wire_kind("dead_letter"), fb::Kind_dead_letter);
  EXPECT_EQ(wire_kind("something_else"), fb::Kind_unknown);
  EXPECT_THROW(output_record(Output{"something_else", "", "{}"}, 0, 0, 0), std::invalid_argument);
}

}  // namespace
}  // namespace gongji
