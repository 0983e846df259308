// Issue 9 item 3: the settlements topic's record (events/outputs.fbs, wire/output_record.h) carries every field of
// every kind typed, with a schema version, and a reader generated from the previous version still reads it.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <xxhash.h>

// Both published schemas generate into namespace gongji::fb; including both in one translation unit makes the
// compiler refuse a name defined twice, which across two units would be a silent ODR violation (it was: a union
// `Body` in both broke the event codec).
#include "events/events_generated.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"
#include "tests/harness.h"
#include "tests/schemas/outputs_v1_generated.h"
#include "ledger/state_codec.h"
#include "wire/output_record.h"
#include "readback/output_lines.h"

namespace gongji {
namespace {

using nlohmann::json;
using test::item;
using test::items;
using test::Ledger;
using test::TempDir;
using test::generated;
using test::ingest_lines;

// Reads a record under the current schema (version 2's tables; version 3 writes the same schema).
const fb::OutputRecord* read_current(const std::string& bytes) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_TRUE(fb::VerifyOutputRecordBuffer(v)) << "not a valid OutputRecord";
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
    rejected = one({{"type", "claim"}, {"id", "e-nobody"}, {"claim", "K2"}, {"person", "NOBODY"}, {"facility", "H3"},
                    {"date", "2023-02-01"}, {"benefit", "ordinary"}, {"items", items({item("drug", "50.00")})}});
  }
  Output rejected;
  Output one(const json& event) {
    std::vector<Output> out = l.apply_records(event);
    EXPECT_EQ(out.size(), 1u) << event.dump();
    return out.empty() ? Output{} : out[0];
  }
};

// A dead letter as the fold makes it (projections/store.cc), and the line it must render.
const char* const kDeadLine =
    R"({"claim":"K9","event":"e-bad","kind":"dead_letter","offset":41,"partition":3,"person":"E",)"
    R"("reason":"validation: amount beyond the documented maximum","type":"claim"})";
Output dead_letter() {
  return output_of(DeadLetter{3, 41, "validation: amount beyond the documented maximum", "e-bad", EventType::claim,
                              "E", "K9"});
}

TEST(OutputRecord, ASettlementIsWrittenFromItsDataWithEveryFieldTyped) {
  History h;
  const std::string bytes = output_record(h.settlement, 3, 41, 0);
  const fb::OutputRecord* r = read_current(bytes);
  EXPECT_EQ(r->schema_version(), 3);
  EXPECT_EQ(str(r->line()), "");  // version 3: the body holds the record
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
  EXPECT_EQ(s->patient(), 101666);
  EXPECT_EQ(s->self_first(), 0);
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
  ASSERT_EQ(s->trace()->size(), 9u);
  const fb::TraceStep* ded = s->trace()->Get(6);  // ORD-DED, Art.11: level 3's deductible, all owed
  EXPECT_EQ(str(ded->rule()), "ORD-DED");
  EXPECT_EQ(str(ded->article()), "Art.11");
  EXPECT_EQ(str(ded->detail()), "deductible at level 3 700.00, paid before 0.00, owed 700.00");
  std::vector<std::string> rules;
  for (const auto* x : *s->rules()) rules.push_back(x->str());
  EXPECT_EQ(rules, (std::vector<std::string>{"T-START", "P-ELIG", "ORD-DESIG", "F-LEVEL", "ORD-SCOPE", "ORD-LIM",
                                             "ORD-DED", "ORD-RATIO", "RND"}));
  ASSERT_NE(s->after(), nullptr);
  ASSERT_EQ(s->after()->size(), line["after"].size());
  std::map<std::string, std::optional<int64_t>> after;
  for (const auto* a : *s->after())
    after[a->key()->str()] = a->is_null() ? std::nullopt : std::optional<int64_t>(a->value());
  EXPECT_EQ(after.size(), line["after"].size());
  EXPECT_EQ(after["deductible_paid"], 70000);
  EXPECT_EQ(after["limit_used"], 63333);
  EXPECT_EQ(after["limit"], 160000);  // ORD-LIM: the employee's 1600.00
  EXPECT_EQ(str(s->policy_version()), line["policy_version"]);
}

// The bytes of string `text` in a FlatBuffers buffer: its 32-bit little-endian length, the text, its terminating NUL.
std::string flatbuffers_string(const std::string& text) {
  const uint32_t n = static_cast<uint32_t>(text.size());
  std::string out{static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
                  static_cast<char>(n >> 24)};
  return out + text + std::string(1, '\0');
}

size_t occurrences(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// A settlement's rule IDs and articles are each written once in its buffer (wire/output_record.cc SharedStrings): a
// step's rule is the very string its entry in `rules` points to, steps citing one article point to one string, and
// the buffer holds each of those strings once.
TEST(OutputRecord, RuleIdsAndArticlesAreWrittenOncePerSettlement) {
  History h;
  const std::string bytes = output_record(h.settlement, 3, 41, 0);
  const fb::Settlement* s = read_current(bytes)->body_as_Settlement();
  ASSERT_NE(s, nullptr);
  std::map<std::string, const flatbuffers::String*> rule_at, article_at;
  for (const auto* x : *s->rules()) EXPECT_TRUE(rule_at.emplace(x->str(), x).second) << x->str() << " twice";
  size_t shared_articles = 0;
  for (const auto* t : *s->trace()) {
    EXPECT_EQ(t->rule(), rule_at.at(t->rule()->str())) << t->rule()->str();
    auto [at, first] = article_at.emplace(t->article()->str(), t->article());
    EXPECT_EQ(t->article(), at->second) << t->article()->str();
    shared_articles += !first;
  }
  EXPECT_GT(shared_articles, 0u) << "no two steps of the fixture cite one article";
  for (const auto& [text, at] : rule_at) EXPECT_EQ(occurrences(bytes, flatbuffers_string(text)), 1u) << text;
  for (const auto& [text, at] : article_at) EXPECT_EQ(occurrences(bytes, flatbuffers_string(text)), 1u) << text;
}

// The wire's bytes pinned (consumers/DOWNSTREAM.md: subscribers read these records): each kind's record of the
// History, written at partition 3, offset 41, index 0, has the size and XXH3-64 hash of the bytes dab9fba's encoder
// wrote (before SharedStrings, with FlatBuffers' CreateSharedString). Any change of a byte fails here: a change meant
// to alter the wire updates these and says why (and raises the schema version when readers must know).
TEST(OutputRecord, TheWireBytesOfEachKindArePinned) {
  History h;
  const Output dead = dead_letter();
  const std::vector<std::pair<std::string, const Output*>> records = {
      {"settlement", &h.settlement}, {"reversal", &h.reversal}, {"credit", &h.credit},     {"debit", &h.debit},
      {"mismatch", &h.mismatch},     {"refusal", &h.refusal},   {"rejected", &h.rejected}, {"dead letter", &dead}};
  const std::map<std::string, std::pair<size_t, uint64_t>> pinned = {
      {"settlement", {1336, 0x76fb549d0f4ff085}}, {"reversal", {240, 0x37fbc4113a151d43}},
      {"credit", {304, 0x4bce21dc0e2571d7}},      {"debit", {280, 0x819e9eff8d539f65}},
      {"mismatch", {248, 0x502c545c5b9b74a6}},    {"refusal", {224, 0xba6ad820e610b2f9}},
      {"rejected", {472, 0x59100bf52d208136}},    {"dead letter", {264, 0x4ba97de85f55cbdd}}};
  for (const auto& [name, out] : records) {
    const std::string bytes = output_record(*out, 3, 41, 0);
    const uint64_t hash = XXH3_64bits(bytes.data(), bytes.size());
    EXPECT_EQ(bytes.size(), pinned.at(name).first) << name;
    EXPECT_EQ(hash, pinned.at(name).second) << name << ": 0x" << std::hex << hash;
  }
}

// A claim of a person nobody enrolled: rejected, with its reason, and no scheme (POLICY.md §4: the patient pays all).
TEST(OutputRecord, ARejectedSettlementCarriesItsReasonsAndNoScheme) {
  History h;
  const std::string bytes = output_record(h.rejected, 0, 9, 0);
  const fb::Settlement* s = read_current(bytes)->body_as_Settlement();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status(), fb::ClaimStatus_rejected);
  ASSERT_EQ(s->reasons()->size(), 1u);
  EXPECT_EQ(s->reasons()->Get(0), fb::Reason_UNKNOWN_PERSON);
  EXPECT_EQ(s->scheme(), fb::Scheme_none);
  EXPECT_EQ(s->total(), 5000);
  EXPECT_EQ(s->fund(), 0);
  EXPECT_EQ(s->patient(), 5000);
  EXPECT_EQ(str(s->person()), "NOBODY");
}

TEST(OutputRecord, AReversalHasItsTypedBody) {
  History h;
  const fb::OutputRecord* r;
  const std::string rev = output_record(h.reversal, 0, 2, 0);
  r = read_current(rev);
  ASSERT_EQ(r->body_type(), fb::OutputBody_Reversal);
  const fb::Reversal* v = r->body_as_Reversal();
  EXPECT_EQ(str(v->claim()), "K1");
  EXPECT_EQ(str(v->event()), "e-rev");
  EXPECT_EQ(v->at(), 20230210);
  EXPECT_EQ(v->date(), 20230201);
  EXPECT_EQ(v->fund(), -31667);
  EXPECT_EQ(v->deductible(), -70000);
  EXPECT_EQ(v->limit_used(), -63333);
  EXPECT_EQ(v->inpatient_used(), 0);
  EXPECT_EQ(str(v->person()), "E");
  EXPECT_EQ(r->fund(), -31667);  // version 1's field, as before
}

TEST(OutputRecord, AccountMovementsHaveTheirTypedBody) {
  History h;
  const fb::OutputRecord* r;
  const std::string credit = output_record(h.credit, 0, 3, 0);
  r = read_current(credit);
  EXPECT_EQ(r->record_kind(), fb::Kind_account_credit);
  ASSERT_EQ(r->body_type(), fb::OutputBody_AccountMovement);
  const fb::AccountMovement* c = r->body_as_AccountMovement();
  EXPECT_EQ(c->amount(), 27500);  // ACC-INSVC: 10000.00 x (2% + 0.75%)
  EXPECT_EQ(c->balance(), 27500);
  EXPECT_EQ(c->month(), 202301);
  EXPECT_EQ(str(c->rule()), "ACC-INSVC");
  EXPECT_EQ(str(c->detail()), "round(10000.00 x (0.0200 + 0.0075)), age 43 on 2023-01-01");
  EXPECT_EQ(str(c->event()), "e-credit");
  EXPECT_EQ(str(c->person()), "A");
  EXPECT_EQ(c->at(), 20230110);
  EXPECT_EQ(c->beneficiary(), nullptr);

  const std::string debit = output_record(h.debit, 0, 4, 0);
  r = read_current(debit);
  EXPECT_EQ(r->record_kind(), fb::Kind_account_debit);
  const fb::AccountMovement* d = r->body_as_AccountMovement();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->amount(), 8520);
  EXPECT_EQ(d->balance(), 18980);
  EXPECT_EQ(d->at(), 20230201);
  EXPECT_EQ(d->month(), 0);
  EXPECT_EQ(str(d->beneficiary()), "K");
  EXPECT_EQ(d->purpose(), fb::Purpose_medical_out_of_pocket);
  EXPECT_EQ(str(d->rule()), "ACC-USE");
  EXPECT_EQ(r->amount(), 8520);
}

TEST(OutputRecord, RefusalsMismatchesAndDeadLettersHaveTheirTypedBody) {
  History h;
  const fb::OutputRecord* r;
  const std::string flex = output_record(h.mismatch, 0, 5, 0);
  r = read_current(flex);
  ASSERT_EQ(r->body_type(), fb::OutputBody_ContributionMismatch);
  const fb::ContributionMismatch* m = r->body_as_ContributionMismatch();
  EXPECT_EQ(m->month(), 202303);
  EXPECT_EQ(m->base(), 400000);
  EXPECT_EQ(m->amount(), 30000);
  EXPECT_EQ(m->expected(), 31000);
  EXPECT_EQ(m->rate(), 775);
  EXPECT_EQ(str(m->rule()), "ACC-FLEX");

  const std::string refused = output_record(h.refusal, 0, 6, 0);
  r = read_current(refused);
  ASSERT_EQ(r->body_type(), fb::OutputBody_Refusal);
  const fb::Refusal* f = r->body_as_Refusal();
  EXPECT_EQ(f->reason(), fb::Reason_UNKNOWN_FACILITY);
  EXPECT_EQ(f->type(), fb::EventType_outpatient_designated);
  EXPECT_EQ(str(f->event()), "e-refused");
  EXPECT_EQ(f->at(), 20230301);
  EXPECT_EQ(str(f->detail()), "facility NOPE is not registered on 2023-03-01");
  EXPECT_EQ(str(f->person()), "A");

  EXPECT_EQ(dead_letter().line(), kDeadLine);
  const std::string dead = output_record(dead_letter(), 3, 41, 0);
  r = read_current(dead);
  EXPECT_EQ(str(r->line()), "");
  EXPECT_EQ(str(r->claim()), "K9");
  ASSERT_EQ(r->body_type(), fb::OutputBody_DeadLetter);
  const fb::DeadLetter* x = r->body_as_DeadLetter();
  EXPECT_EQ(x->partition(), 3);
  EXPECT_EQ(x->offset(), 41);
  EXPECT_EQ(str(x->event()), "e-bad");
  EXPECT_EQ(x->type(), fb::EventType_claim);
  EXPECT_EQ(str(x->claim()), "K9");
  EXPECT_EQ(str(x->reason()), "validation: amount beyond the documented maximum");
}

// The lines the ledger printed when it built these records as JSON (copied from the output of the binary before
// they were typed, the same events): each typed record renders them byte for byte, and reads back from them.
TEST(OutputRecord, TypedRecordsRenderTheLinesTheLedgerPrintedAsJson) {
  History h;
  const std::vector<std::pair<const Output*, std::string>> want = {
      {&h.reversal,
       R"({"at":"2023-02-10","claim":"K1","date":"2023-02-01","deductible":"-700.00","eligible":"-1333.33",)"
       R"("event":"e-rev","fund":"-316.67","inpatient_used":"0.00","kind":"reversal","limit_used":"-633.33",)"
       R"("person":"E"})"},
      {&h.credit,
       R"({"amount":"275.00","at":"2023-01-10","balance":"275.00","detail":"round(10000.00 x (0.0200 + 0.0075)), )"
       R"(age 43 on 2023-01-01","event":"e-credit","kind":"account_credit","month":"2023-01","person":"A",)"
       R"("rule":"ACC-INSVC"})"},
      {&h.debit,
       R"({"amount":"85.20","at":"2023-02-01","balance":"189.80","beneficiary":"K","detail":"medical_out_of_pocket )"
       R"(for K","event":"e-debit","kind":"account_debit","person":"A","purpose":"medical_out_of_pocket",)"
       R"("rule":"ACC-USE"})"},
      {&h.mismatch,
       R"({"amount":"300.00","base":"4000.00","event":"e-flex","expected":"310.00","kind":"contribution_mismatch",)"
       R"("month":"2023-03","person":"F","rate":"0.0775","rule":"ACC-FLEX"})"},
      {&h.refusal,
       R"({"at":"2023-03-01","detail":"facility NOPE is not registered on 2023-03-01","event":"e-refused",)"
       R"("kind":"refusal","person":"A","reason":"UNKNOWN_FACILITY","type":"outpatient_designated"})"}};
  for (const auto& [out, line] : want) {
    EXPECT_EQ(out->line(), line);
    const std::optional<Record> back = record_from_line(line);
    ASSERT_TRUE(back) << line;
    EXPECT_EQ(back->index(), out->record->index());
    EXPECT_EQ(record_line(*back), line);
  }
  // A refusal of an event that names no person (PERIOD_SKIPPED) has no `person`.
  const std::string skipped = R"({"at":"2023-04-02","detail":"closing 2023-03 but the last closed month is )"
                              R"(2023-01","event":"e-skip","kind":"refusal","reason":"PERIOD_SKIPPED",)"
                              R"("type":"period_closed"})";
  const std::optional<Record> r = record_from_line(skipped);
  ASSERT_TRUE(r && std::holds_alternative<Refusal>(*r));
  EXPECT_FALSE(std::get<Refusal>(*r).person);
  EXPECT_EQ(std::get<Refusal>(*r).reason, Reason::PERIOD_SKIPPED);
  EXPECT_EQ(record_line(*r), skipped);
  EXPECT_EQ(record_person(*r), "");
}

// Store::outbox reads what the store holds: a value changed by hand to another line of its kind keeps its text
// (published as it is, with the body of what its fields say); a settlement kept as a line reads as data; a value of
// no known kind is a StoreError naming its key.
TEST(OutputRecord, TheOutboxReadsLinesChangedByHand) {
  TempDir d;
  History h;
  {
    auto log = open_segment_log(d / "log", 1);
    ingest_lines(*log, generated(20, 3));
  }
  auto log = open_segment_log(d / "log");
  std::string credit_key, settlement_key;
  {
    Store store(d / "state");
    store.fold(*log, default_policy());
    store.scan("o/", [&](const std::string& key, std::string_view value) {
      if (credit_key.empty() && value.starts_with(static_cast<char>(kRecordFormat)) &&
          record_kind(decode_record(value)) == "account_credit")
        credit_key = key;
      if (settlement_key.empty() && value.starts_with(static_cast<char>(kSettlementFormat))) settlement_key = key;
    });
  }
  ASSERT_FALSE(credit_key.empty());
  ASSERT_FALSE(settlement_key.empty());
  const std::string changed = R"({"amount":"5.00","at":"2023-02-01","balance":"1.00","detail":"d","event":"e1",)"
                              R"("kind":"account_credit","month":"2023-02","person":"A","rule":"ACC-INSVC","x":1})";
  const std::string settlement_line = h.settlement.line();
  const auto put = [&](const std::string& key, const std::string& value) {
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), d / "state", &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    delete db;
  };
  put(credit_key, changed);
  put(settlement_key, settlement_line);
  const auto find = [&](const std::string& key) {
    Store store(d / "state", true);
    std::optional<Output> found;
    const uint64_t offset = std::stoull(key.substr(7, 16), nullptr, 16);
    store.outbox(0, offset, offset + 1, [&](uint64_t, const Output& out) {
      if (!found) found = out;
    });
    return found;
  };
  const std::optional<Output> credit = find(credit_key);
  ASSERT_TRUE(credit);
  EXPECT_EQ(credit->line(), changed);
  EXPECT_FALSE(credit->record);
  std::string bytes = output_record(*credit, 0, 1, 0);
  ASSERT_EQ(read_current(bytes)->body_type(), fb::OutputBody_AccountMovement);
  EXPECT_EQ(read_current(bytes)->body_as_AccountMovement()->amount(), 500);
  EXPECT_EQ(read_current(bytes)->body_as_AccountMovement()->month(), 202302);
  const std::optional<Output> settled = find(settlement_key);
  ASSERT_TRUE(settled && settled->settlement);
  EXPECT_EQ(settled->line(), settlement_line);
  EXPECT_EQ(settled->settlement->fund, 31667);
  // Held as a JSON line, it is published with that line (version 3 writes `line` only then).
  EXPECT_EQ(str(read_current(output_record(*settled, 0, 1, 0))->line()), settlement_line);
  put(credit_key, R"({"kind":"bogus"})");
  EXPECT_EQ(test::thrown<StoreError>([&] { find(credit_key); }),
            "the store holds a damaged output record under " + credit_key +
                ": not a JSON output record of a known kind");
}

// A stored line changed by hand has only its text (Store::outbox): published as it is, with the body of what its
// fields say, or no body when they do not read as its kind; never a stop of `serve`.
TEST(OutputRecord, AStoredLineChangedByHandIsPublishedWithWhatItsFieldsSay) {
  const std::string debit = R"({"amount":"5.00","at":"2023-02-01","balance":"1.00","detail":"d","event":"e1",)"
                            R"("kind":"account_debit","person":"A","rule":"ACC-USE","extra":1})";
  std::string bytes = output_record(Output{"account_debit", "", debit, "A"}, 0, 7, 0);
  const fb::OutputRecord* r = read_current(bytes);
  EXPECT_EQ(str(r->line()), debit);
  ASSERT_EQ(r->body_type(), fb::OutputBody_AccountMovement);
  EXPECT_EQ(r->body_as_AccountMovement()->amount(), 500);
  EXPECT_EQ(r->amount(), 500);
  const std::string refusal = R"({"event":"e2","kind":"refusal","person":"B","reason":"NOT_A_CODE","type":"claim"})";
  bytes = output_record(Output{"refusal", "", refusal, "B"}, 0, 8, 0);
  r = read_current(bytes);
  EXPECT_EQ(r->record_kind(), fb::Kind_refusal);
  EXPECT_EQ(r->body_type(), fb::OutputBody_NONE);
  EXPECT_EQ(str(r->person()), "B");
  EXPECT_EQ(str(r->line()), refusal);
}

// What `serve` republishes after a crash: Store::outbox gives each record of a folded store as the fold returned
// it, as data, so each is published with its typed body, which says what the line `gongji settlements` prints
// says (version 3: the line itself is not published).
TEST(OutputRecord, EveryRecordOfTheOutboxIsPublishedWithItsBody) {
  TempDir d;
  {
    auto log = open_segment_log(d / "log", 2);
    ingest_lines(*log, generated(150, 3));
  }
  auto log = open_segment_log(d / "log");
  Store store(d / "state");
  store.fold(*log, default_policy());
  std::vector<std::string> lines;
  store.outputs([&](const json& r) {
    lines.push_back(r.dump());
    return true;
  });
  std::map<std::string, size_t> bodies;
  size_t n = 0;
  for (int p = 0; p < 2; ++p)
    store.outbox(p, 0, store.folded_offset(p), [&](uint64_t offset, const Output& out) {
      EXPECT_TRUE(out.settlement || out.record) << out.kind << " at " << offset;
      const std::string bytes = output_record(out, p, offset, 0);
      const fb::OutputRecord* r = read_current(bytes);
      EXPECT_NE(r->body_type(), fb::OutputBody_NONE) << out.kind;
      EXPECT_EQ(str(r->kind()), out.kind);
      EXPECT_EQ(std::string(fb::EnumNameKind(r->record_kind())), out.kind);
      ASSERT_LT(n, lines.size());
      EXPECT_EQ(str(r->line()), "");
      const json line = json::parse(lines[n++]);  // partitions in order, as Store::outputs walks them
      EXPECT_EQ(str(r->kind()), line["kind"].get<std::string>());
      EXPECT_EQ(str(r->person()), line.value("person", "<absent>"));
      EXPECT_EQ(str(r->claim()), line.value("claim", "<absent>"));
      const auto fen = [&](const char* field) {  // "-316.67" -> -31667 (EVENTS.md: always two decimals)
        std::string v = line[field].get<std::string>();
        v.erase(v.size() - 3, 1);
        return std::stoll(v);
      };
      if (const fb::Settlement* s = r->body_as_Settlement()) {
        EXPECT_EQ(s->fund(), fen("fund"));
        EXPECT_EQ(s->patient(), fen("patient"));
        EXPECT_EQ(str(s->event()), line["event"].get<std::string>());
        ASSERT_EQ(s->trace()->size(), line["trace"].size());
        for (size_t i = 0; i < line["trace"].size(); ++i)
          EXPECT_EQ(str(s->trace()->Get(static_cast<flatbuffers::uoffset_t>(i))->detail()),
                    line["trace"][i]["detail"].get<std::string>());
      } else if (const fb::AccountMovement* m = r->body_as_AccountMovement()) {
        EXPECT_EQ(m->amount(), fen("amount"));
        EXPECT_EQ(m->balance(), fen("balance"));
        EXPECT_EQ(str(m->detail()), line["detail"].get<std::string>());
      } else if (const fb::Reversal* v = r->body_as_Reversal()) {
        EXPECT_EQ(v->fund(), fen("fund"));
        EXPECT_EQ(v->deductible(), fen("deductible"));
      } else if (const fb::Refusal* f = r->body_as_Refusal()) {
        EXPECT_EQ(std::string(fb::EnumNameReason(f->reason())), line["reason"].get<std::string>());
        EXPECT_EQ(str(f->detail()), line["detail"].get<std::string>());
      } else if (const fb::ContributionMismatch* c = r->body_as_ContributionMismatch()) {
        EXPECT_EQ(c->amount(), fen("amount"));
        EXPECT_EQ(c->expected(), fen("expected"));
      } else if (const fb::DeadLetter* x = r->body_as_DeadLetter()) {
        EXPECT_EQ(str(x->reason()), line["reason"].get<std::string>());
      }
      ++bodies[fb::EnumNameOutputBody(r->body_type())];
    });
  EXPECT_EQ(n, lines.size());
  EXPECT_GT(bodies["Settlement"], 1000u);
  EXPECT_GT(bodies["AccountMovement"], 100u);
}

// FlatBuffers evolution: a reader generated from version 1 (tests/schemas/outputs_v1.fbs) reads the records this
// binary writes, every field it knows as before, and verifies them; `line`, required in version 1, is there and
// empty (version 3).
TEST(OutputRecord, AReaderOfVersion1ReadsVersion3Records) {
  History h;
  const Output dead = dead_letter();
  for (const Output* o : std::vector<const Output*>{&h.settlement, &h.reversal, &h.credit, &h.debit, &h.refusal,
                                                   &h.mismatch, &dead}) {
    const std::string bytes = output_record(*o, 3, 41, 1);
    ASSERT_TRUE(fb::v1::OutputRecordBufferHasIdentifier(bytes.data()));
    flatbuffers::Verifier verify(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ASSERT_TRUE(fb::v1::VerifyOutputRecordBuffer(verify));
    const fb::v1::OutputRecord* r = fb::v1::GetOutputRecord(bytes.data());
    EXPECT_EQ(str(r->kind()), o->kind);
    EXPECT_EQ(r->partition(), 3);
    EXPECT_EQ(r->offset(), 41);
    EXPECT_EQ(r->index(), 1);
    EXPECT_EQ(str(r->line()), "");
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
  const fb::OutputRecord* r = read_current(bytes);
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
  EXPECT_EQ(static_cast<int>(wire_kind("settlement")), 1);
  EXPECT_EQ(static_cast<int>(wire_kind("dead_letter")), 7);
  EXPECT_EQ(static_cast<int>(wire_code(EventType::claim)), 20);
  EXPECT_EQ(static_cast<int>(wire_code(Purpose::medical_out_of_pocket)), 1);
  for (int i = 0; i < kEventTypeCount; ++i) {
    const EventType t = static_cast<EventType>(i);
    EXPECT_EQ(std::string(fb::EnumNameEventType(wire_code(t))), type_name(t));
  }
  for (size_t i = 0; i < CodeTable<Purpose>::names.size(); ++i)
    EXPECT_EQ(std::string(fb::EnumNamePurpose(wire_code(static_cast<Purpose>(i)))), CodeTable<Purpose>::names[i]);
  EXPECT_EQ(wire_kind("something_else"), fb::Kind_unknown);
  EXPECT_THROW(output_record(Output{"something_else", "", "{}"}, 0, 0, 0), std::invalid_argument);
}

}  // namespace
}  // namespace gongji
