// Issue 8 item 5: the validation bounds of event.h, at the edge, on both paths into the ledger: the JSON reader
// (parse_event, ingest) and the FlatBuffers record (encode_event / decode_event, the log and Kafka). Each bound:
// the maximum passes, one fen (or one unit, or one byte) more is refused with the field named.
#include <gtest/gtest.h>

#include <fstream>

#include "consumers/exit_codes.h"
#include "events/event.h"
#include "events/event_json.h"
#include "events/fb_codec.h"
#include "tests/fixtures.h"

namespace gongji {
namespace {

// The refused field of a JSON line ("<accepted>" when it passes; the message after '|' when refused).
std::string json_field(const std::string& line) {
  try {
    parse_event(line);
  } catch (const EventError& e) {
    return e.field + "|" + e.what();
  }
  return "<accepted>";
}

// The same for an event taken through its FlatBuffers record (built by encode_event, so it skips the JSON checks).
std::string fb_field(const Event& e) {
  try {
    decode_event(encode_event(e));
  } catch (const EventError& err) {
    return err.field + "|" + err.what();
  }
  return "<accepted>";
}

std::string field_of(const std::string& refusal) { return refusal.substr(0, refusal.find('|')); }

std::string claim_line(const std::string& items, const std::string& extra = "") {
  return R"({"type":"claim","id":"c1","claim":"K1","person":"P1","date":"2023-03-01","benefit":"ordinary",)"
         R"("facility":"F1")" + extra + R"(,"items":[)" + items + "]}";
}

std::string item(const std::string& amount) { return R"({"category":"drug","amount":")" + amount + R"("})"; }

Item item_of(const std::string& category, Money fen) {
  return Item{*code_from<ItemCategory>(category), fen, std::nullopt, std::nullopt};
}

Claim valid_claim() { return test::parse_as<Claim>(claim_line(item("10.00"))); }

// The claim line with its person "P1" replaced by `person` (JSON text, escapes allowed).
std::string claim_with_person(const std::string& person) {
  std::string line = claim_line(item("1.00"));
  return line.replace(line.find("\"P1\""), 4, "\"" + person + "\"");
}

TEST(ValidationBounds, ItemAmountAtTheBound) {
  EXPECT_EQ(json_field(claim_line(item("200000.00"))), "<accepted>");
  EXPECT_EQ(field_of(json_field(claim_line(item("200000.01")))), "items[0].amount");
  EXPECT_NE(json_field(claim_line(item("200000.01"))).find("above the maximum of 200000.00 per item"),
            std::string::npos);
  Claim e = valid_claim();
  e.items[0].amount = 20000000;  // 200,000.00 yuan in fen
  EXPECT_EQ(fb_field(e), "<accepted>");
  e.items[0].amount = 20000001;
  EXPECT_EQ(field_of(fb_field(e)), "items[0].amount");
  e.items[0].amount = 20000000;
  e.items[0].eligible = 20000001;  // eligible is bounded per item as well (before "not above amount")
  EXPECT_EQ(field_of(fb_field(e)), "items[0].eligible");
}

TEST(ValidationBounds, ClaimSumAtTheBound) {
  std::string two = item("200000.00") + "," + item("200000.00") + ",";
  EXPECT_EQ(json_field(claim_line(two + item("100000.00"))), "<accepted>");
  std::string over = json_field(claim_line(two + item("100000.01")));
  EXPECT_EQ(field_of(over), "items");
  EXPECT_NE(over.find("sum to 500000.01, above the maximum of 500000.00 per claim"), std::string::npos);
  Claim e = valid_claim();
  e.items = {item_of("drug", 20000000), item_of("drug", 20000000), item_of("exam", 10000000)};
  EXPECT_EQ(fb_field(e), "<accepted>");
  e.items[2].amount = 10000001;
  EXPECT_EQ(field_of(fb_field(e)), "items");
  // Amounts whose sum overflows int64 are refused, never wrapped (each one is already beyond its bound).
  e.items = {item_of("drug", INT64_MAX), item_of("drug", INT64_MAX)};
  EXPECT_EQ(field_of(fb_field(e)), "items[0].amount");
}

TEST(ValidationBounds, BaseAmountCoveredAtTheBound) {
  auto settled = [](const std::string& v) {
    return R"({"type":"inpatient_settled","id":"s","at":"2023-01-01","person":"P","covered":")" + v + R"("})";
  };
  auto paid = [](const std::string& base, const std::string& amount) {
    return R"({"type":"contribution_paid","id":"p","at":"2023-01-01","person":"P","month":"2023-01","base":")" +
           base + R"(","amount":")" + amount + R"("})";
  };
  EXPECT_EQ(json_field(settled("1000000.00")), "<accepted>");
  EXPECT_EQ(field_of(json_field(settled("1000000.01"))), "covered");
  EXPECT_EQ(json_field(paid("1000000.00", "1000000.00")), "<accepted>");
  EXPECT_EQ(field_of(json_field(paid("1000000.01", "1.00"))), "base");
  EXPECT_EQ(field_of(json_field(paid("1.00", "1000000.01"))), "amount");
  auto s = test::parse_as<InpatientSettled>(settled("1000000.00"));
  EXPECT_EQ(fb_field(s), "<accepted>");
  s.covered = 100000001;
  EXPECT_EQ(field_of(fb_field(s)), "covered");
  auto p = test::parse_as<ContributionPaid>(paid("1.00", "1.00"));
  p.base = 100000001;
  EXPECT_EQ(field_of(fb_field(p)), "base");
  p.base = 100;
  p.amount = 100000001;
  EXPECT_EQ(field_of(fb_field(p)), "amount");
}

// Numbers too large for fen in int64 are refused naming the field, never multiplied into an overflow.
TEST(ValidationBounds, HugeNumbersAreRefusedNotWrapped) {
  EXPECT_EQ(field_of(json_field(claim_line(R"({"category":"drug","amount":99999999999999999999})"))),
            "items[0].amount");
  EXPECT_EQ(field_of(json_field(claim_line(R"({"category":"drug","amount":1000000000000000})"))), "items[0].amount");
  EXPECT_EQ(field_of(json_field(claim_line(item("99999999999999999.99")))), "items[0].amount");
  std::string fac = R"({"type":"facility_registered","id":"f","at":"2023-01-01","facility":"F","kind":"clinic",)";
  EXPECT_EQ(json_field(fac + R"("level":3})"), "<accepted>");
  EXPECT_EQ(field_of(json_field(fac + R"("level":4})")), "level");
  EXPECT_EQ(field_of(json_field(fac + R"("level":4294967297})")), "level");  // would wrap to 1 in an int
  EXPECT_EQ(field_of(json_field(fac + R"("level":-1})")), "level");
  auto f = test::parse_as<FacilityRegistered>(fac + R"("level":3})");
  f.level = 4;
  EXPECT_EQ(field_of(fb_field(f)), "level");
}

TEST(ValidationBounds, IntegerDomains) {
  std::string enrol = R"({"type":"person_enrolled","id":"e","at":"2023-01-01","person":"P","birth_date":"1990-01-01",)"
                      R"("scheme":"resident","tier":)";
  EXPECT_EQ(json_field(enrol + "2}"), "<accepted>");
  EXPECT_EQ(field_of(json_field(enrol + "3}")), "tier");
  auto r = test::parse_as<PersonEnrolled>(enrol + "2}");
  r.tier = 3;
  EXPECT_EQ(field_of(fb_field(r)), "tier");
  r.tier = 0;
  EXPECT_EQ(field_of(fb_field(r)), "tier");
  std::string away = R"({"type":"claim","id":"c1","claim":"K1","person":"P1","date":"2023-03-01",)"
                     R"("benefit":"ordinary","items":[{"category":"drug","amount":"1"}],"away":{"mode":"temporary",)";
  EXPECT_EQ(json_field(away + R"("level":3}})"), "<accepted>");
  EXPECT_EQ(field_of(json_field(away + R"("level":4}})")), "away.level");
  auto a = test::parse_as<Claim>(away + R"("level":3}})");
  a.away->level = 4;
  EXPECT_EQ(field_of(fb_field(a)), "away.level");
  a.away->level = 3;
  a.at = *parse_date("2199-12-31");
  EXPECT_EQ(fb_field(a), "<accepted>");
  a.at = *parse_date("2200-01-01");
  EXPECT_EQ(field_of(fb_field(a)), "date");
  EXPECT_EQ(field_of(json_field(enrol + R"(2,"retired_on":"2023-01-01"})")), "retired_on");  // shape rule still holds
  std::string late = R"({"type":"person_enrolled","id":"e","at":"2200-01-01","person":"P","birth_date":"1990-01-01",)"
                     R"("scheme":"resident","tier":1})";
  EXPECT_EQ(field_of(json_field(late)), "at");
}

TEST(ValidationBounds, ItemCountAtTheBound) {
  std::string items;
  for (size_t i = 0; i < kMaxItems; ++i) items += (i ? "," : "") + item("1.00");
  EXPECT_EQ(kMaxItems, 500u);
  EXPECT_EQ(json_field(claim_line(items)), "<accepted>");
  EXPECT_EQ(field_of(json_field(claim_line(items + "," + item("1.00")))), "items");
  Claim e = valid_claim();
  e.items.assign(kMaxItems, item_of("drug", 100));
  EXPECT_EQ(fb_field(e), "<accepted>");
  e.items.push_back(item_of("drug", 100));
  EXPECT_EQ(field_of(fb_field(e)), "items");
  e.items.clear();  // a record's empty vector is a missing field, named before any other fault
  e.at = *parse_date("2200-01-01");
  EXPECT_EQ(fb_field(e), "items|field 'items': missing");
}

// Every string field, ids included, must be valid UTF-8; the FlatBuffers path carries raw bytes, so it is where
// ill-formed text arrives (the JSON reader refuses it as invalid JSON, naming the position).
TEST(ValidationBounds, TextMustBeValidUtf8) {
  Claim e = valid_claim();
  for (std::string bad : {std::string("P\xff"), std::string("P\xc0\xaf"), std::string("P\xed\xa0\x80"),
                          std::string("P\xe4\xb8"), std::string("P\xf4\x90\x80\x80")}) {
    e.person = bad;
    std::string r = fb_field(e);
    EXPECT_EQ(field_of(r), "person") << r;
    EXPECT_NE(r.find("not valid UTF-8"), std::string::npos) << r;
  }
  e = valid_claim();
  e.id = "c\xff";
  EXPECT_EQ(field_of(fb_field(e)), "id");
  // A category is an enum in memory: the ill-formed text is written into the record's bytes ("drug" -> "d\xffug").
  std::string record = encode_event(valid_claim());
  const size_t at = record.find("drug");
  ASSERT_NE(at, std::string::npos);
  record[at + 1] = '\xff';
  try {
    decode_event(record);
    ADD_FAILURE() << "accepted a category that is not UTF-8";
  } catch (const EventError& err) {
    EXPECT_EQ(err.field, "items[0].category");
    EXPECT_NE(std::string(err.what()).find("not valid UTF-8 (byte 1)"), std::string::npos) << err.what();
  }
  auto f = test::parse_as<FacilityUpdated>(
      R"({"type":"facility_updated","id":"u","at":"2023-01-01","facility":"F","name":"威海市立医院"})");
  EXPECT_EQ(fb_field(f), "<accepted>");
  f.name = "\xe5\xa8\x81\xff";
  EXPECT_EQ(field_of(fb_field(f)), "name");
  std::string r = json_field(claim_line(item("1.00"), ",\"diagnosis\":\"\xff\""));
  EXPECT_NE(r.find("UTF-8"), std::string::npos) << r;
  r = json_field(claim_with_person("\\ud800"));  // a lone surrogate: the JSON reader refuses it, naming the position
  EXPECT_EQ(r.rfind("|not valid JSON: parse error at line 1, column ", 0), 0u) << r;
  EXPECT_NE(r.find("surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"), std::string::npos) << r;
}

TEST(ValidationBounds, IdsAndCodesRefuseControlCharacters) {
  EXPECT_EQ(field_of(json_field(R"({"type":"claim_reversed","id":"r\u0001","at":"2023-01-01","person":"P",)"
                                R"("claim":"K"})")), "id");
  EXPECT_EQ(field_of(json_field(claim_with_person("P1\\n"))), "person");
  Claim e = valid_claim();
  e.claim = "K\x7f";
  EXPECT_EQ(field_of(fb_field(e)), "claim");
  e = valid_claim();
  e.facility = "F\xc2\x85";  // U+0085, a C1 control
  EXPECT_EQ(field_of(fb_field(e)), "facility");
  e = valid_claim();
  e.person = std::string(kMaxTextBytes, 'p');
  EXPECT_EQ(fb_field(e), "<accepted>");
  e.person.push_back('p');
  EXPECT_EQ(field_of(fb_field(e)), "person");
}

// A line longer than kMaxLineBytes is refused before it is parsed; one of exactly kMaxLineBytes is read.
TEST(ValidationBounds, LineLengthAtTheBound) {
  std::string line = claim_line(item("1.00"));
  std::string at_limit = line + std::string(kMaxLineBytes - line.size(), ' ');
  EXPECT_EQ(json_field(at_limit), "<accepted>");
  std::string over = json_field(at_limit + " ");
  EXPECT_EQ(field_of(over), "");
  EXPECT_NE(over.find("line of 65537 bytes is longer than the limit of 65536 bytes"), std::string::npos) << over;
}

// The largest valid event's record stays under kMaxRecordBytes; a larger record is refused before decoding.
TEST(ValidationBounds, RecordSizeAtTheBound) {
  Claim e = valid_claim();
  std::string big(kMaxTextBytes, 'x');
  e.id = big;
  e.person = e.claim = big;
  e.facility = big;
  e.items.assign(kMaxItems, Item{ItemCategory::acupuncture, 100, 100, std::string("T-IR")});
  std::string bytes = encode_event(e);
  EXPECT_LT(bytes.size(), kMaxRecordBytes);
  EXPECT_EQ(decode_event(bytes), e);
  bytes.resize(kMaxRecordBytes + 1);
  try {
    decode_event(bytes);
    ADD_FAILURE() << "an oversized record was decoded";
  } catch (const EventError& err) {
    EXPECT_NE(std::string(err.what()).find("131073 bytes is larger than the limit"), std::string::npos) << err.what();
  }
}

// At ingest the long line is refused naming the file and line, and the lines around it are appended.
TEST(ValidationBounds, IngestRefusesALongLineNamingIt) {
  test::TempDir dir;
  std::ofstream(dir / "events.jsonl") << claim_line(item("1.00")) << "\n"
                                      << claim_line(item("2.00")) << std::string(kMaxLineBytes, ' ') << "\n"
                                      << R"({"type":"period_closed","id":"pc","at":"2023-02-01","month":"2023-01"})"
                                      << "\n";
  std::string out;
  int rc = test::run(test::gongji("ingest --data-dir " + (dir / "d") + " " + (dir / "events.jsonl") + " 2>" +
                                  (dir / "err")), &out);
  EXPECT_EQ(rc, exit_code::kRefused);
  EXPECT_NE(out.find("appended 2, duplicate 0, refused 1"), std::string::npos) << out;
  std::string err = test::read_file(dir / "err");
  EXPECT_NE(err.find("events.jsonl:2: INVALID: line of 65"), std::string::npos) << err;
  // A CRLF line ending is not the line's: a line of exactly the limit is read whichever ending it has (its CR made
  // it one byte over).
  const std::string line = claim_line(item("3.00"));
  std::ofstream(dir / "crlf.jsonl") << line << std::string(kMaxLineBytes - line.size(), ' ') << "\r\n"
                                    << line << std::string(kMaxLineBytes - line.size() + 1, ' ') << "\r\n";
  rc = test::run(test::gongji("ingest --data-dir " + (dir / "d2") + " " + (dir / "crlf.jsonl") + " 2>" +
                              (dir / "err")), &out);
  EXPECT_EQ(rc, exit_code::kRefused);
  EXPECT_NE(out.find("appended 1, duplicate 0, refused 1"), std::string::npos) << out;
  err = test::read_file(dir / "err");
  EXPECT_NE(err.find("crlf.jsonl:2: INVALID: line of 65537 bytes is longer"), std::string::npos) << err;
}

}  // namespace
}  // namespace gongji
