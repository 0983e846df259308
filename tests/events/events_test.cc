// events/: validation, canonical JSON, the FlatBuffers codec, dates and money, the partitioner.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>

#include <flatbuffers/minireflect.h>

#include "events/event.h"
#include "events/event_json.h"
#include "events/events_generated.h"
#include "events/fb_codec.h"
#include "events/partition.h"
#include "events/text.h"

namespace gongji {
namespace {

std::vector<std::string> lines(const std::string& file) {
  std::ifstream in(std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/" + file);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

std::string error_of(const std::string& line) {
  try {
    parse_event(line);
  } catch (const EventError& e) {
    return e.what();
  }
  return "";
}

// The FlatBuffers schema (events.fbs) carries each struct's fields of the table (events/event_types.h), in the
// table's order and nothing else, each with the base type of its kind; the union's order, the type names and the
// kinds' fit to the members are checked at compile time.
// valid_utf8 (events/text.h) replaced a round trip through a JSON line inside the fold (issue 9 item 2): it must hold
// exactly what that line holds. The oracle is nlohmann's serializer with error_handler_t::replace, parsed back.
std::string through_a_json_line(const std::string& s) {
  return nlohmann::json::parse(nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

// What a terminal would act on is written as \uXXXX; the rest of the text, CJK and emoji included, as it is.
TEST(Text, TerminalSafeWritesWhatWouldDriveATerminalAsEscapes) {
  EXPECT_EQ(terminal_safe("claim\n  fund: 9"), "claim\\u000A  fund: 9");
  EXPECT_EQ(terminal_safe("10.00\x1b[2J"), "10.00\\u001B[2J");
  EXPECT_EQ(terminal_safe("a\x7f" "b\xc2\x85" "c"), "a\\u007Fb\\u0085c");           // DEL, NEL (C1)
  EXPECT_EQ(terminal_safe("P\xe2\x80\xa8x\xe2\x80\xa9"), "P\\u2028x\\u2029");  // line, paragraph separators
  EXPECT_EQ(terminal_safe("\xe2\x80\xae" "abc\xe2\x81\xa6\xe2\x80\x8f\xd8\x9c"), "\\u202Eabc\\u2066\\u200F\\u061C");
  EXPECT_EQ(terminal_safe("P\xff\xfeX"), "P\xef\xbf\xbd\xef\xbf\xbdX");  // not UTF-8: U+FFFD each
  EXPECT_EQ(terminal_safe("P\\u2028"), "P\\\\u2028");  // six characters, not the separator: read back one way
  EXPECT_EQ(terminal_safe("张三 \xf0\x9f\x98\x80 \xe2\x80\xa7 tab"), "张三 \xf0\x9f\x98\x80 \xe2\x80\xa7 tab");
}

TEST(Text, ValidUtf8IsWhatAJsonLineHolds) {
  const std::string fffd = "\xEF\xBF\xBD";
  // Hand-picked: each row of Unicode Table 3-7 at its edges, and what breaks it.
  EXPECT_EQ(valid_utf8("abc 共济"), "abc 共济");
  EXPECT_EQ(valid_utf8("\xFF"), fffd);
  EXPECT_EQ(valid_utf8("a\xC0\x80" "b"), "a" + fffd + fffd + "b");     // C0 cannot start a sequence, nor can 80
  EXPECT_EQ(valid_utf8("\xE0\x80\x80"), fffd + fffd + fffd);        // overlong: E0 needs A0..BF
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), fffd + fffd + fffd);        // a surrogate
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(valid_utf8("\xE4\xBD" "a"), fffd + "a");                     // cut, and the breaking byte read again
  EXPECT_EQ(valid_utf8("x\xF0\x9F\x98"), "x" + fffd);                // cut by the end
  EXPECT_EQ(valid_utf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  for (const std::string s : {"abc 共济", "\xFF", "a\xC0\x80" "b", "\xE0\x80\x80", "\xED\xA0\x80",
                              "\xF4\x90\x80\x80", "\xE4\xBD" "a", "x\xF0\x9F\x98", "\xF0\x9F\x98\x80"})
    EXPECT_EQ(valid_utf8(s), through_a_json_line(s)) << testing::PrintToString(s);
  // Random strings, mostly of bytes that start, continue or break sequences (fixed seed: the same strings each run).
  std::mt19937_64 rng(20261203);
  const unsigned char interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                                       0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  for (int n = 0; n < 200000; ++n) {
    std::string s(rng() % 9, '\0');
    for (char& c : s)
      c = static_cast<char>(rng() % 4 ? interesting[rng() % sizeof interesting] : static_cast<unsigned char>(rng()));
    ASSERT_EQ(valid_utf8(s), through_a_json_line(s)) << testing::PrintToString(s);
  }
}

TEST(EventTable, TheSchemaHasEveryFieldOfTheTableInItsOrderWithItsType) {
  auto base_type_of = [](FieldKind k) {
    switch (k) {
      case FieldKind::text:
      case FieldKind::policy_code:
      case FieldKind::code: return flatbuffers::ET_STRING;
      case FieldKind::integer:
      case FieldKind::date:
      case FieldKind::month: return flatbuffers::ET_INT;
      case FieldKind::boolean: return flatbuffers::ET_BOOL;
      case FieldKind::money: return flatbuffers::ET_LONG;
      case FieldKind::items:
      case FieldKind::away: return flatbuffers::ET_SEQUENCE;
    }
    return flatbuffers::ET_UTYPE;
  };
  using Fields = std::vector<std::pair<std::string, flatbuffers::ElementaryType>>;
  for (int i = 0; i < kEventTypeCount; ++i) {
    const auto type = static_cast<EventType>(i);
    const std::vector<std::string>& required = required_fields(type);
    const flatbuffers::TypeTable* tt = fb::BodyTypeTable()->type_refs[i]();
    ASSERT_LE(tt->num_elems, 64u) << "decode_event keeps the fields given in 64 bits";
    Fields schema;
    for (size_t k = 0; k < tt->num_elems; ++k) {
      const std::string name = tt->names[k];
      const auto base = static_cast<flatbuffers::ElementaryType>(tt->type_codes[k].base_type);
      if (name != "at" && name != "date") {
        schema.emplace_back(name, base);
        continue;
      }
      // The date: an int, required, after the same field in the schema as in required_fields (or first in both).
      EXPECT_EQ(base, flatbuffers::ET_INT) << type_name(type);
      const auto place = std::find(required.begin(), required.end(), name);
      ASSERT_NE(place, required.end()) << type_name(type) << ": " << name;
      EXPECT_EQ(place == required.begin() ? "" : *(place - 1), k == 0 ? "" : tt->names[k - 1]) << type_name(type);
    }
    Fields table;
    std::visit(
        [&](const auto& b) {
          std::apply([&](const auto&... f) { (table.emplace_back(std::string(f.name), base_type_of(f.kind)), ...); },
                     std::remove_cvref_t<decltype(b)>::fields());
        },
        empty_event(type).body);
    EXPECT_EQ(schema, table) << type_name(type);
  }
}

// Required fields are the table's plain members and the date, in the table's order (EVENTS.md's, the date first
// unless kDateAfter); every other field is optional. The first missing one is named.
TEST(EventTable, RequiredFieldsAreThePlainMembers) {
  EXPECT_EQ(required_fields(EventType::claim),
            (std::vector<std::string>{"claim", "person", "date", "benefit", "items"}));
  EXPECT_EQ(error_of(R"({"type":"claim","id":"c","person":"P","benefit":"ordinary",)"
                     R"("items":[{"category":"drug","amount":"1"}],"facility":"F"})"),
            "field 'claim': missing");
  EXPECT_EQ(required_fields(EventType::facility_registered),
            (std::vector<std::string>{"at", "facility", "level", "kind"}));
  EXPECT_EQ(required_fields(EventType::facility_updated), (std::vector<std::string>{"at", "facility"}));
  EXPECT_EQ(required_fields(EventType::period_closed), (std::vector<std::string>{"at", "month"}));
  EXPECT_EQ(error_of(R"({"type":"facility_updated","id":"u","at":"2023-01-01","level":2})"),
            "field 'facility': missing");
  EXPECT_EQ(error_of(R"({"type":"person_enrolled","id":"e","at":"2023-01-01","scheme":"resident","tier":1})"),
            "field 'person': missing");
}

// The content digest of each event type is the one stores already hold in their id index (computed by the
// single-struct Event of dd49bc6): a changed digest would make every event folded before an ID_CONFLICT.
TEST(Codec, DigestsAreThoseStoresHold) {
  std::ifstream in(std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/every_type.digests");
  std::vector<std::string> expected;
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] != '#') expected.push_back(l);
  const auto all = lines("every_type.jsonl");
  ASSERT_EQ(expected.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(event_digest(parse_event(all[i]))));
    EXPECT_EQ(hex, expected[i]) << all[i];
  }
}

// Every event type of EVENTS.md: JSON -> FlatBuffers -> JSON gives the canonical form, which round-trips.
TEST(Codec, EveryTypeRoundTripsLosslessly) {
  auto all = lines("every_type.jsonl");
  std::set<EventType> seen;
  for (const auto& l : all) {
    Event e = parse_event(l);
    seen.insert(e.type());
    std::string canon = canonical_json(e);
    std::string bytes = encode_event(e);
    Event back = decode_event(bytes);
    EXPECT_EQ(back, e) << l;
    EXPECT_EQ(canonical_json(back), canon) << l;
    EXPECT_EQ(canonical_json(parse_event(canon)), canon);  // the canonical form round-trips byte for byte
    EXPECT_EQ(encode_event(back), bytes);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEventTypeCount)) << "the corpus must hold every event type";
}

TEST(Codec, CanonicalFormIsSortedCompactWithTwoDecimals) {
  Event e = parse_event(R"({"type":"claim","person":"P1","id":"x","claim":"K","date":"2023-03-01","benefit":"ordinary",
    "facility":"F","items":[{"amount":12.5,"category":"drug"},{"category":"exam","amount":"3","eligible":1}]})");
  EXPECT_EQ(canonical_json(e),
            R"({"benefit":"ordinary","claim":"K","date":"2023-03-01","facility":"F","id":"x",)"
                R"("items":[{"amount":"12.50","category":"drug"},{"amount":"3.00","category":"exam",)"
                R"("eligible":"1.00"}],"person":"P1","type":"claim"})");
}

// The message of the EventError that decoding `bytes` throws ("<decoded>" when it decodes).
std::string decode_error(std::string_view bytes) {
  try {
    decode_event(bytes);
  } catch (const EventError& e) {
    return e.what();
  }
  return "<decoded>";
}

TEST(Codec, GarbageBytesAreRefused) {
  EXPECT_EQ(decode_error("not a flatbuffer at all"), "not a valid FlatBuffers event record");
  std::string bytes = encode_event(parse_event(lines("every_type.jsonl")[0]));
  bytes.resize(bytes.size() / 2);
  EXPECT_EQ(decode_error(bytes), "not a valid FlatBuffers event record");
}

// EVENTS.md: bad input is refused with a message naming the field and the reason.
TEST(Validation, MalformedCorpusNamesFieldAndReason) {
  auto all = lines("malformed.jsonl");
  EXPECT_EQ(error_of(all[0]), "");
  EXPECT_EQ(error_of(all[1]).rfind("not valid JSON: parse error at line 1, column 61", 0), 0u) << error_of(all[1]);
  EXPECT_EQ(error_of(all[2]), "field 'birth_date': missing");
  EXPECT_EQ(error_of(all[3]), "field 'colour': unknown field for person_enrolled");
  EXPECT_EQ(error_of(all[4]), "field 'items[0].category': unknown code \"massage\"");
  EXPECT_EQ(error_of(all[5]), "field 'items[0].amount': negative amount -10.00");
  EXPECT_EQ(error_of(all[6]), "field 'items[0].amount': not an amount in yuan with at most 2 decimals: \"10.005\"");
  EXPECT_EQ(error_of(all[7]), "field 'items[0].eligible': eligible 10.01 is above amount 10.00");
  EXPECT_EQ(error_of(all[9]), "field 'type': unknown event type \"wedding\"");
  EXPECT_EQ(error_of(all[8]), "");  // valid alone: only the log refuses it (ID_CONFLICT, tests/consumers/cli_test.cc)
  EXPECT_EQ(error_of(all[10]), "field 'date': \"2023-02-30\" is not a day of the calendar (2023-02 has 28 days)");
  EXPECT_EQ(error_of(all[11]), "field 'course_start': course_start 2023-03-02 is after the claim date");
}

// Each rule refuses with its own field and reason (a test accepting any refusal would pass on the wrong one).
TEST(Validation, ConsistencyRules) {
  auto err = [](const char* s) { return error_of(s); };
  EXPECT_EQ(err(R"({"type":"person_enrolled","id":"a","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
                R"("scheme":"resident","tier":3})"),
            "field 'tier': must be 1 or 2, got 3");
  EXPECT_EQ(err(R"({"type":"person_enrolled","id":"a","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
                R"("scheme":"resident"})"),
            "field 'tier': missing (a resident carries a tier)");
  EXPECT_EQ(err(R"({"type":"claim","id":"a","claim":"K","person":"P","date":"2023-01-01","benefit":"emergency",)"
                R"("facility":"F","items":[{"category":"drug","amount":"1"}]})"),
            "field 'outcome': missing (an emergency carries its outcome)");
  EXPECT_EQ(err(R"({"type":"claim","id":"a","claim":"K","person":"P","date":"2023-01-01","benefit":"ordinary",)"
                R"("items":[{"category":"drug","amount":"1"}]})"),
            "field 'facility': give exactly one of facility and away");
  EXPECT_EQ(err(R"({"type":"claim","id":"a","claim":"K","person":"P","date":"2023-01-01","benefit":"chronic",)"
                R"("facility":"F","items":[{"category":"drug","amount":"1"}]})"),
            "field 'disease': missing (a chronic claim names it)");
  EXPECT_EQ(err(R"({"type":"claim","id":"a","claim":"K","person":"P","date":"2023-01-01","benefit":"ordinary",)"
                R"("facility":"F","items":[]})"),
            "field 'items': expected a non-empty array of items");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2023-01-01","month":"2023-13"})"),
            "field 'month': expected a month YYYY-MM, got \"2023-13\"");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2023-01-01","month":"2023-12","month":"2023-11"})"),
            "field 'month': field given twice");
  // A month closed before it began: 2199-11 closed in 2024 made every later close a no-op (no retiree credits, no
  // year end); December closed on 2 January of the same year ran the year end before the year's claims.
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2024-01-05","month":"2199-11"})"),
            "field 'month': month 2199-11 begins after the close's date 2024-01-05");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2023-01-02","month":"2023-12"})"),
            "field 'month': month 2023-12 begins after the close's date 2023-01-02");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2023-11-30","month":"2023-12"})"),
            "field 'month': month 2023-12 begins after the close's date 2023-11-30");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2023-12-01","month":"2023-12"})"), "");  // begun
  // Enrolled as retired, confirmed after the enrolment: the retired ratio applied from the enrolment.
  EXPECT_EQ(err(R"({"type":"person_enrolled","id":"a","at":"2023-01-01","person":"P","birth_date":"1963-01-01",)"
                R"("scheme":"employee","status":"retired","retired_on":"2023-06-01"})"),
            "field 'retired_on': after the enrolment date");
  EXPECT_EQ(err(R"({"type":"person_enrolled","id":"a","at":"2023-01-01","person":"P","birth_date":"1963-01-01",)"
                R"("scheme":"employee","status":"retired","retired_on":"2023-01-01"})"),
            "");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"a","at":"2024-01-01","month":"2023-12"})"), "");
  EXPECT_EQ(err(R"({"type":"period_closed","id":"","at":"2023-01-01","month":"2023-12"})"),
            "field 'id': must not be empty");
}

// A corrupt byte is refused, never read past: nlohmann's lexer takes a NUL for the end of its input, so a line of a
// claim and its reversal joined by a NUL was ingested as the claim alone, exit 0, the reversal dropped unread. And a
// string is never taken for a number's text (the parser marks a non-integer number's text with a leading \x01).
TEST(Validation, ANulByteOrAStringDressedAsANumberIsRefused) {
  const std::string claim = R"({"type":"claim","id":"c","claim":"K","person":"P","date":"2023-03-01",)"
                            R"("benefit":"ordinary","facility":"F","items":[{"category":"drug","amount":"1000.00"}]})";
  const std::string reversal = R"({"type":"claim_reversed","id":"r","at":"2023-03-02","person":"P","claim":"K"})";
  EXPECT_EQ(error_of(claim + std::string(1, '\0') + reversal), "not valid JSON: a NUL byte at byte 155");
  EXPECT_EQ(claim.size(), 155u);
  EXPECT_EQ(error_of(claim.substr(0, 20) + std::string(1, '\0') + claim.substr(20)),
            "not valid JSON: a NUL byte at byte 20");
  EXPECT_EQ(error_of(claim), "");  // the same claim without it is valid
  std::string dressed = claim;
  dressed.replace(dressed.find("\"1000.00\""), 9, "\"\\u00011000.00\"");
  EXPECT_EQ(error_of(dressed), "field 'amount': contains a control character (byte 0)");
}

// Money is parsed exactly, never through a binary float (EVENTS.md conventions).
TEST(Money, ExactParsingAndOneRoundingPoint) {
  auto e = *parse_event(R"({"type":"inpatient_settled","id":"a","at":"2023-01-01","person":"P","covered":0.29})")
                .as<InpatientSettled>();
  EXPECT_EQ(e.covered, 29);
  EXPECT_EQ(parse_yuan("1234.5"), 123450);
  EXPECT_EQ(parse_yuan("0.07"), 7);
  EXPECT_FALSE(parse_yuan("1.234"));
  EXPECT_FALSE(parse_yuan("1e3"));
  EXPECT_FALSE(parse_yuan(".5"));
  // RND: half up once, on the exact product.
  EXPECT_EQ(mul_rate(61110, 6500), 39722);  // 611.10 x 65% = 397.215 -> 397.22
  EXPECT_EQ(mul_rate(56544, 5500), 31099);  // 565.44 x 55% = 310.992 -> 310.99
  EXPECT_EQ(mul_rate(1, 5000), 1);          // 0.005 -> 0.01
  EXPECT_EQ(mul_frac(600000, 8, 12), 400000);
  EXPECT_EQ(format_money(-46667), "-466.67");
  try {
    checked_add(INT64_MAX, 1);
    ADD_FAILURE() << "INT64_MAX + 1 fen did not overflow";
  } catch (const MoneyOverflow& e) {
    EXPECT_STREQ(e.what(), "money overflow in addition");
  }
}

TEST(Dates, CalendarAndAges) {
  EXPECT_EQ(format_date(*parse_date("2024-02-29")), "2024-02-29");
  EXPECT_FALSE(parse_date("2023-02-29"));
  EXPECT_FALSE(parse_date("2023-1-01"));
  EXPECT_EQ(*parse_date("2023-03-01") - *parse_date("2023-02-28"), 1);
  // P-MINOR: completed years; a 29 February birthday counts on 1 March in common years.
  EXPECT_EQ(age_on(*parse_date("2016-02-29"), *parse_date("2023-02-28")), 6);
  EXPECT_EQ(age_on(*parse_date("2016-02-29"), *parse_date("2023-03-01")), 7);
  EXPECT_EQ(age_on(*parse_date("2016-02-29"), *parse_date("2024-02-29")), 8);
  EXPECT_EQ(format_month(*parse_month("2023-12")), "2023-12");
  // Instants in UTC to the millisecond (1709294400 s is 2024-03-01T12:00:00Z by `date -u -d @1709294400`).
  EXPECT_EQ(format_instant(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_instant(1709294400123), "2024-03-01T12:00:00.123Z");
  EXPECT_EQ(format_instant(1709337599999), "2024-03-01T23:59:59.999Z");
  EXPECT_EQ(format_instant(-1), "1969-12-31T23:59:59.999Z");
}

// TIME-LOG: Kafka's murmur2 partitioner (values from Kafka's own Utils.murmur2 test vectors).
TEST(Partition, KafkaMurmur2) {
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("21")), -973932308);
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("abc")), 479470107);
}

// TIME-LOG: the partition of a person and the partitions of an event. The expected partitions are constants worked
// out once, outside this code, by tests/events/partition_vectors.py (Kafka's Utils.murmur2 transcribed from the Java,
// checked against the vectors above, then toPositive(h) % n as Kafka's default partitioner does); never computed
// with partition_of. P2, P3, P0000001 and 患者1 hash negative: with 3 or 5 partitions the sign bit changes the answer.
TEST(Partition, PartitionsOfPeopleAndEvents) {
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("P1")), 573694915);
  EXPECT_EQ(static_cast<int32_t>(kafka_murmur2("P2")), -1163597259);
  EXPECT_EQ(partition_of("P1", 8), 3);
  EXPECT_EQ(partition_of("P2", 8), 5);
  EXPECT_EQ(partition_of("P1", 1), 0);
  EXPECT_EQ(partition_of("P2", 3), 2);        // without the sign bit cleared: 1
  EXPECT_EQ(partition_of("P0000001", 3), 1);  // without: 0
  EXPECT_EQ(partition_of("P3", 5), 1);        // without: 4
  EXPECT_EQ(partition_of("患者1", 5), 4);     // the key's UTF-8 bytes; without: 2
  EXPECT_EQ(partition_of("E1", 16), 10);
  Event fac = parse_event(R"({"type":"period_closed","id":"a","at":"2023-01-01","month":"2022-12"})");
  EXPECT_EQ(partitions_for(fac, 4), (std::vector<int>{0, 1, 2, 3}));
  Event person = parse_event(R"({"type":"outpatient_designated","id":"a","at":"2023-01-01","person":"P2",)"
                             R"("facility":"T1"})");
  EXPECT_EQ(partitions_for(person, 8), (std::vector<int>{5}));
  auto link = [](const char* person, const char* relative) {
    return parse_event(std::string(R"({"type":"family_linked","id":"a","at":"2023-01-01","person":")") + person +
                       R"(","relative":")" + relative + R"(","relation":"child"})");
  };
  EXPECT_EQ(partitions_for(link("P1", "P2"), 8), (std::vector<int>{3, 5}));
  EXPECT_EQ(partitions_for(link("P2", "P1"), 8), (std::vector<int>{3, 5}));  // sorted: the relative's first
  EXPECT_EQ(partitions_for(link("P1", "P0000001"), 8), (std::vector<int>{3}));  // both in 3: once
  EXPECT_EQ(partitions_for(link("P2", "P0000001"), 3), (std::vector<int>{1, 2}));
}

// The nlohmann path's verdict on a line: the event, or the refusal's message.
std::pair<std::optional<Event>, std::string> json_path(const std::string& line) {
  try {
    return {event_from_json(parse_json_exact(line)), ""};
  } catch (const EventError& e) {
    return {std::nullopt, e.what()};
  }
}

// Lines that stress the fast path's edges: each must get the nlohmann path's verdict (issue 10 item 3).
std::vector<std::string> edge_lines() {
  const std::string claim = R"({"benefit":"ordinary","claim":"c1","date":"2023-03-05","facility":"F1",)"
                            R"("id":"e1","items":[{"amount":"10.00","category":"drug"}],"person":"P1",)"
                            R"("type":"claim"})";
  std::vector<std::string> out = {claim};
  auto with = [&](const std::string& from, const std::string& to) {
    std::string l = claim;
    l.replace(l.find(from), from.size(), to);
    out.push_back(l);
  };
  with(R"("amount":"10.00")", R"("amount":10)");        // money as a JSON integer
  with(R"("amount":"10.00")", R"("amount":10.5)");      // as a decimal number
  with(R"("amount":"10.00")", R"("amount":10.005)");    // three decimals: refused
  with(R"("amount":"10.00")", R"("amount":-10)");       // negative: refused
  with(R"("amount":"10.00")", R"("amount":1e2)");       // exponent
  with(R"("amount":"10.00")", R"("amount":010)");       // not JSON
  with(R"("amount":"10.00")", R"("amount":9999999999999999999999)");
  with(R"("amount":"10.00")", R"("amount":"10.00","amount":"11.00")");  // twice
  with(R"("amount":"10.00")", R"("amount":"10.00","eligible":"10.01")");
  with(R"("amount":"10.00")", R"("amount":null)");
  with(R"("person":"P1")", R"("person":"P\u0031")");    // an escape: the same event
  with(R"("person":"P1")", R"("person":"P\"1")");
  with(R"("person":"P1")", "\"person\":\"\xe5\xa8\x81\"");  // UTF-8
  with(R"("person":"P1")", "\"person\":\"\xe5\xa8\"");      // not UTF-8
  with(R"("person":"P1")", R"("person":"")");
  with(R"("person":"P1")", R"("person":1)");
  with(R"("person":"P1")", R"("person":"P1","person":"P1")");
  with(R"("person":"P1")", R"("person":"P1","colour":"red")");
  with(R"("person":"P1")", R"("person":{"a":1})");
  with(R"("person":"P1",)", "");                       // missing
  with(R"("date":"2023-03-05")", R"("date":"2023-02-30")");
  with(R"("facility":"F1",)", R"("away":{"level":2,"mode":"temporary"},)");
  with(R"("facility":"F1",)", R"("away":{"level":4,"mode":"temporary"},)");
  with(R"("facility":"F1",)", R"("away":{"level":2,"mode":"temporary","mode":"temporary"},)");
  with(R"("items":[)", R"("items":[])");
  with(R"({"benefit")", R"( { "benefit" )");           // whitespace
  with(R"("type":"claim"})", R"("type":"claim"} x)");
  with(R"("type":"claim"})", R"("type":"claim"}  )");
  with(R"("type":"claim")", R"("type":"wedding")");
  with(R"("type":"claim")", R"("type":true)");
  with(R"("person":"P1")", R"("person":)" + std::string(5000, '[') + std::string(5000, ']'));  // deep: no recursion
  for (const auto& f : {"every_type.jsonl", "malformed.jsonl"})
    for (const auto& l : lines(f)) out.push_back(l);
  return out;
}

// parse_event reads ordinary lines on its fast path and leaves the rest to parse_json_exact + event_from_json:
// either way, every line gets the same event or the same refusal as on that path alone.
TEST(Validation, FastPathGivesTheJsonPathsVerdicts) {
  for (const std::string& l : edge_lines()) {
    auto [want, why] = json_path(l);
    if (want) {
      EXPECT_EQ(parse_event(l), *want) << l;
    } else {
      EXPECT_EQ(error_of(l), why) << l;
    }
  }
  auto e = *parse_event(R"({"amount":12.5,"at":"2023-01-31","base":"4000","id":"x",)"
                        R"("month":"2023-01","person":"P9","type":"contribution_paid"})")
                .as<ContributionPaid>();
  EXPECT_EQ(e.amount, std::optional<Money>(1250));
  EXPECT_EQ(e.base, 400000);
  EXPECT_EQ(e.month, make_month(2023, 1));
  EXPECT_EQ(e.at, date_from_ymd(2023, 1, 31));
  EXPECT_EQ(error_of(edge_lines()[4]), "field 'items[0].amount': negative amount -10");
}

// canonical_json writes what nlohmann's dump of event_to_json writes, escapes included (the id index hashes it).
TEST(Codec, CanonicalJsonIsTheDumpOfTheJsonForm) {
  Event e = parse_event(R"({"at":"2022-07-01","facility":"F\"1\\","id":"g/1","kind":"hospital","level":2,)"
                        "\"name\":\"\xe5\xa8\x81\xe6\xb5\xb7\",\"tcm\":false,\"type\":\"facility_registered\"}");
  EXPECT_EQ(canonical_json(e), event_to_json(e).dump());
  EXPECT_EQ(canonical_json(e), R"({"at":"2022-07-01","facility":"F\"1\\","id":"g/1","kind":"hospital","level":2,)"
                               "\"name\":\"\xe5\xa8\x81\xe6\xb5\xb7\",\"tcm\":false,\"type\":\"facility_registered\"}");
  for (const std::string& l : edge_lines())
    if (auto [ev, why] = json_path(l); ev) {
      EXPECT_EQ(canonical_json(*ev), event_to_json(*ev).dump()) << l;
    }
}

// The FlatBuffers bytes of the log are unchanged by the encoder that no longer goes through JSON: the fuzz seeds
// tests/fuzz/corpus/event_fb/ were written by the earlier encoder, and each decodes and encodes to the same bytes.
TEST(Codec, EncoderGivesTheBytesTheEarlierEncoderWrote) {
  const std::string dir = std::string(GONGJI_SOURCE_DIR) + "/tests/fuzz/corpus/event_fb/";
  int files = 0;
  for (int n = 0; n < 40; ++n) {
    const std::string path = dir + "event" + (n < 10 ? "0" : "") + std::to_string(n) + ".fb";
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(encode_event(decode_event(bytes)), bytes) << path;
    ++files;
  }
  EXPECT_EQ(files, 40);
}

}  // namespace
}  // namespace gongji
