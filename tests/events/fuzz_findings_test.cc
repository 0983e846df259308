// The fuzzers' findings (tests/fuzz/regressions/<target>/ keeps each input, replayed by the fuzz tests), each pinned
// here by a plain test that runs in the ordinary gcc tree too, so that a finding stays fixed without clang.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "events/event.h"
#include "events/event_json.h"
#include "events/fb_codec.h"
#include "events/money.h"
#include "ledger/policy.h"
#include "tests/expect_error.h"

namespace gongji {
namespace {

// Found by the policy fuzzer (UBSan: signed overflow in parse_yuan): 18 whole digits fit in int64_t but not in
// fen. An amount beyond Money's range is not an amount; every amount that fits still parses exactly.
TEST(FuzzFindings, ParseYuanRefusesAmountsBeyondMoney) {
  EXPECT_EQ(parse_yuan("999999999999999999"), std::nullopt);   // 10^20 fen
  EXPECT_EQ(parse_yuan("92233720368547759"), std::nullopt);    // INT64_MAX is 92233720368547758.07 yuan
  EXPECT_EQ(parse_yuan("92233720368547758"), 9223372036854775800);
  EXPECT_EQ(parse_yuan("9999999999999999.99"), std::nullopt);  // longer than 18 characters
  EXPECT_EQ(parse_yuan("9999999999999.99"), 999999999999999);
}

// Found by the FlatBuffers fuzzer (ASan: heap-buffer-overflow in BufferHasIdentifier): decode_event read the file
// identifier at bytes 4..7 of a record shorter than 8 bytes. An empty Kafka record has a null payload: the same read
// then faults and ends `serve` (issue 8 item 4). Every short record must be refused with EventError.
TEST(FuzzFindings, DecodeEventRefusesRecordsShorterThanAFlatBuffersHeader) {
  const char bytes[8] = {4, 0, 0, 0, 'G', 'J', 'E', 'V'};
  for (size_t n = 0; n < 8; ++n)
    EXPECT_EQ(test::thrown<EventError>([&] { decode_event(std::string_view(bytes, n)); }),
              "record of " + std::to_string(n) + " bytes is shorter than a FlatBuffers header");
  EXPECT_EQ(test::thrown<EventError>([] { decode_event(std::string_view()); }),  // what an empty Kafka message gives
            "record of 0 bytes is shorter than a FlatBuffers header");
}

// Found by the FlatBuffers fuzzer (in the suite's own 30 s run): a facility name starting with U+0001 passed
// validation from FlatBuffers, but its canonical JSON was refused (the JSON reader marks raw numbers with that
// byte). Names, like every text field, now refuse control characters on both paths.
TEST(FuzzFindings, ControlCharactersInANameAreRefusedOnBothPaths) {
  Event parsed = parse_event(R"({"type":"facility_updated","id":"e44","at":"2023-06-03","facility":"F1","name":"X"})");
  FacilityUpdated e = *parsed.as<FacilityUpdated>();
  e.name = std::string("\x01\x00" "2023", 6);
  try {
    decode_event(encode_event(e));
    FAIL() << "a name with control characters was decoded";
  } catch (const EventError& err) {
    EXPECT_EQ(err.field, "name");
  }
  try {
    parse_event(R"({"type":"facility_updated","id":"e44","at":"2023-06-03","facility":"F1","name":"a\u0007b"})");
    FAIL() << "a name with control characters was parsed";
  } catch (const EventError& err) {
    EXPECT_EQ(err.field, "name");
  }
}

// Found by the policy fuzzer (an exception other than PolicyError): YAML of the wrong shape escaped the loader as
// a yaml-cpp exception instead of PolicyError naming where the file is wrong (ledger/policy.h contract).
TEST(FuzzFindings, PolicyLoaderRefusesYamlOfTheWrongShapeWithPolicyError) {
  const std::string window = "window: {from: 2022-07-01, to: 2027-06-30}\n";
  // Each text, and where its refusal must point: the line and column of the YAML node of the wrong shape, or the
  // parameter named.
  const std::string shape = "test: the file does not have the shape of a policy: yaml-cpp: error at ";
  const std::pair<std::string, std::string> texts[] = {
      {"x\n", shape + "line 1, column 1"},                                  // the root is a scalar
      {"window: 5\n", shape + "line 1, column 9"},                          // window is a scalar
      {window + "parameters: {minor.age_below: 5}\n", shape + "line 2, column 31"},  // a parameter is a scalar
      {window + "parameters: {minor.age_below: {article: a, values: [5]}}\n",
       shape + "line 2, column 53"},                                        // a dated value is a scalar
      {window + "parameters: {minor.age_below: {article: a, assumption: [maybe], values: [{from: 2022-07-01, "
                "value: 18}]}}\n",
       "test: parameter 'minor.age_below': assumption: expected true, false or a note"},  // a list, not a flag or note
  };
  for (const auto& [text, want] : texts) {
    std::string m = test::thrown<PolicyError>([&] { load_policy_text(text, "test"); });
    EXPECT_EQ(m.rfind(want, 0), 0u) << text << "\nrefused with: " << m;
  }
}

// Found by the policy fuzzer (UBSan: signed overflow in parse_rate): a rate of many digits is refused, with the
// parameter named, before any arithmetic on it can overflow.
TEST(FuzzFindings, PolicyLoaderRefusesARateOfManyDigits) {
  std::string text = default_policy_text();
  auto at = text.find("value: [\"0.70\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 14, "value: [\"99999999999999999999999\"");
  try {
    load_policy_text(text, "test");
    FAIL() << "accepted";
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("ordinary.ratio.in_service"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gongji
