// Issue 9 item 5: every value the ledger uses is a parameter of ledger/policy/weihai.yaml. The loader refuses each
// new value out of range naming it; a policy that changes an age, the old-urban cut-off, the crediting months, the
// disease cap or the TCM points changes the result; a fold under a policy without a code dead-letters an event
// naming the field and the code; the assumed values are reported (Policy::assumptions, `gongji policy`).
#include <algorithm>
#include <cstring>

#include "events/event_json.h"
#include "events/fb_codec.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"
#include "tests/harness.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// The built-in policy with `from` replaced by `to` (exactly one occurrence expected).
std::string with(const std::string& from, const std::string& to, std::string text = default_policy_text()) {
  auto p = text.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  EXPECT_EQ(text.find(from, p + 1), std::string::npos) << "ambiguous: " << from;
  if (p != std::string::npos) text.replace(p, from.size(), to);
  return text;
}

std::string load_error(const std::string& text) {
  try {
    load_policy_text(text, "test");
  } catch (const PolicyError& e) {
    return e.what();
  }
  return "";
}

const char* kInsvcAge = "values: [{from: 2022-07-01, value: 46}]\n  account.crediting_months:";
const char* kRetireeAge = "values: [{from: 2022-07-01, value: 70}]";
const char* kCutOff = "values: [{from: 2022-07-01, value: 2024-01-01}]";
const char* kMonths = "value: {from: 2022-07, to: 2027-06}";
const char* kCap = "values: [{from: 2022-07-01, value: 3}]\n  chronic.suspension";
const char* kFirstYear = "values: [{from: 2022-07-01, value: 2023}]";

std::string insvc_age(const std::string& v) {
  return with(kInsvcAge, "values: [{from: 2022-07-01, value: " + v + "}]\n  account.crediting_months:");
}

// A value refused names the file and the line the value is on (at_line: the line `needle` starts on), then the
// parameter; a refusal of the parameter as a whole names the file alone.
void expect_refused(const std::string& text, const std::string& needle, const std::string& what) {
  EXPECT_EQ(load_error(text), at_line(text, needle) + what);
}

// A policy file whose read fails (a directory in its place: read(2) fails with EISDIR) is refused as unreadable,
// naming it, not read as the part before the failure.
TEST(PolicyValues, AFileThatCannotBeReadIsRefusedNamingIt) {
  TempDir d;
  std::filesystem::create_directories(d / "policy.yaml");
  EXPECT_EQ(thrown<PolicyError>([&] { load_policy_file(d / "policy.yaml"); }),
            "cannot read policy file " + d / "policy.yaml" + ": input/output error");
}

TEST(PolicyValues, LoaderRefusesEachNewValueOutOfRangeNamingIt) {
  expect_refused(insvc_age("151"), "value: 151}", "account.in_service.age_from: age 151 is outside 0..150");
  expect_refused(insvc_age("-1"), "value: -1}", "account.in_service.age_from: negative count '-1'");
  expect_refused(with(kRetireeAge, "values: [{from: 2022-07-01, value: 200}]"), "value: 200}",
                 "account.retiree.age_from: age 200 is outside 0..150");
  expect_refused(with("values: [{from: 2022-07-01, value: 46}]\n  account.purposes:",
                      "values: [{from: 2022-07-01, value: 151}]\n  account.purposes:"),
                 "value: 151}", "account.flexible_rate.age_from: age 151 is outside 0..150");
  expect_refused(with("values: [{from: 2022-07-01, value: 18}]", "values: [{from: 2022-07-01, value: 180}]"),
                 "value: 180}", "minor.age_below: age 180 is outside 0..150");
  expect_refused(with(kCutOff, "values: [{from: 2022-07-01, value: 2024-02-30}]"), "value: 2024-02-30}",
                 "account.retiree.old_urban_confirmed_from: expected a date YYYY-MM-DD");
  EXPECT_EQ(load_error(with(kMonths, "value: {from: 2023-01, to: 2022-12}")),
            "test: account.crediting_months: from 2023-01 is after to 2022-12");
  EXPECT_EQ(load_error(with(kMonths, "value: {from: 2022-07, to: 2027-07}")),
            "test: account.crediting_months: 2022-07 to 2027-07 is outside the window's months 2022-07 to 2027-06");
  expect_refused(with(kMonths, "value: {from: 2022-13, to: 2027-06}"), "value: {from: 2022-13",
                 "account.crediting_months.from: expected a month YYYY-MM");
  expect_refused(with(kCap, "values: [{from: 2022-07-01, value: 4}]\n  chronic.suspension"), "value: 4}",
                 "chronic.limit.max_diseases: 4 is outside 1..3 (chronic.position_weights weighs 3 positions)");
  expect_refused(with(kCap, "values: [{from: 2022-07-01, value: 0}]\n  chronic.suspension"), "value: 0}",
                 "chronic.limit.max_diseases: 0 is outside 1..3 (chronic.position_weights weighs 3 positions)");
  EXPECT_EQ(load_error(with(kFirstYear, "values: [{from: 2022-07-01, value: 2028}]")),
            "test: chronic.suspension.first_year: 2028 is outside the window's years 2022 to 2027");
  // The code lists: only codes EVENTS.md defines, one value for the window, and every code the policy names listed.
  expect_refused(with("C77, C78,\n", "C77, C79,\n"), "C77, C79,",
                 "codes.disease: unknown disease code 'C79' (not in EVENTS.md)");
  expect_refused(with("device, nucleic_acid]", "device, massage]"), "device, massage]",
                 "codes.item_category: unknown category code 'massage' (not in EVENTS.md)");
  EXPECT_EQ(load_error(with("        value: [T01, T02,", "        to: 2023-12-31\n        value: [T01, T02,")),
            "test: parameter 'codes.therapy' has no value from 2024-01-01 to 2027-06-30");
  std::string two = with("      - from: 2022-07-01\n        value: [T01, T02,",
                         "      - {from: 2024-01-01, value: [T01]}\n      - from: 2022-07-01\n        to: 2023-12-31\n"
                         "        value: [T01, T02,");
  EXPECT_EQ(load_error(two), "test: parameter 'codes.therapy': a code list has one value for the whole window");
  // C05 left out of the code list: its row in chronic.standards is refused on its own line.
  expect_refused(with("C04, C05, C06,", "C04, C06,"), "C05: {standard:",
                 "chronic.standards: unknown disease code 'C05'");
  // A row missing: the table as a whole is refused, on the line of its `value:` key.
  const std::string no_row = with("          C05: {standard: \"6000.00\", name: \"系统性红斑狼疮（SLE）\"}\n", "");
  expect_refused(no_row, "value:\n          C01: {standard:",
                 "chronic.standards: no row for C05 (an Annex 2 disease of codes.disease)");
  expect_refused(with("T21, T-IR, T-EA]", "T21, T-IR]"), "T-EA:", "acupuncture.therapies: unknown therapy code 'T-EA'");
  expect_refused(with("value: [\"0.93\", \"0.90\", \"0.87\"], assumption: true",
                      "value: [\"0.93\", \"0.90\", \"0.87\"], assumption: [x]"),
                 "value: [\"0.93\", \"0.90\", \"0.87\"], assumption: [x]",
                 "parameter 'inpatient.ratio.in_service' value 1: assumption: expected true, false or a note");
  // A row's refusal names the row's line, also for a row other than the first and a key missing from it.
  expect_refused(with("T05: {name: 芒针, per: day", "T05: {name: 芒针, per: daily"), "per: daily",
                 "acupuncture.therapies.T05.per: expected day, week, alternate or adjunct");
  expect_refused(with("C17: {standard: \"3000.00\"", "C17: {castration: \"3000.00\""), "C17: {castration:",
                 "chronic.standards.C17.standard: expected a value");
  expect_refused(with("          C78: {standard:",
                      "          X-DIALYSIS: {standard: \"1.00\"}\n          C78: {standard:"),
                 "X-DIALYSIS: {standard:", "chronic.standards: X-DIALYSIS is not an Annex 2 disease (C-code)");
  // An empty value names the line of its `value:` key, not the next parameter's.
  const std::string empty = with("    values: [{from: 2022-07-01, value: \"0.05\"}]",
                                 "    values:\n      - from: 2022-07-01\n        value:");
  expect_refused(empty, "        value:\n  designation", "tcm.resident_extra_ratio: expected a value");
}

// Values of the wrong shape are refused naming their parameter and line.
TEST(PolicyValues, ValuesOfTheWrongShapeAreRefusedNamingTheirLine) {
  // A table given as one value is refused (read as an empty table it would switch ORD-PED off), and a value of the
  // wrong shape names its parameter and line, not yaml-cpp's words alone. A value list entry left empty has no line.
  expect_refused(with("        value: {fever: limited, cold: limited, cough: limited, anorexia: limited, "
                      "constipation: limited,\n                diarrhea: limited, night_crying: limited, sweating: "
                      "limited, enuresis: limited,\n                amblyopia: unlimited, torticollis: limited, "
                      "adenoid: limited}",
                      "        value: 42"),
                 "        value: 42", "pediatric.conditions: expected a table (code: row, one a line)");
  expect_refused(with("to: 2022-12-31, value: {under_46: \"0\", from_46: \"0\"}", "to: 2022-12-31, value: \"0\""),
                 "to: 2022-12-31, value: \"0\"",
                 "account.in_service.employer_rate: a value of the wrong shape (operator[] call on a scalar (key: "
                 "\"under_46\"))");
  expect_refused(with("    values: [{from: 2022-07-01, value: \"0.05\"}]",
                      "    values: [{from: 2022-07-01, value: {a: 1}}]"),
                 "value: {a: 1}", "tcm.resident_extra_ratio: expected one value, got a map");
  expect_refused(with("T05: {name: 芒针, per: day", "T05: {name: 芒针, per: [day]"), "per: [day]",
                 "acupuncture.therapies.T05.per: expected one value, got a list");
  EXPECT_EQ(load_error(with("    values: [{from: 2022-07-01, value: \"0.05\"}]", "    values: [~]")),
            "test: parameter 'tcm.resident_extra_ratio' value 1 from: expected a date YYYY-MM-DD");
}

// A key the loader does not read is refused naming its line, in every map of the file's fixed shape: misspelled, an
// optional key would be passed over and its default paid (C17's castration standard read as its standard, a dated
// value running to the window's end). A key that is not a name (null, a list) likewise. A text a store holds is read
// as it was folded (PolicyText::stored).
TEST(PolicyValues, AKeyTheLoaderDoesNotReadIsRefusedNamingItsLine) {
  const std::string tail = "; a key the loader does not read would be passed over, its default left in force";
  const std::string castration =
      with("C17: {standard: \"3000.00\",", "C17: {standard: \"3000.00\", castraton: \"1.00\",");
  EXPECT_EQ(load_error(castration), at_line(castration, "C17: {") +
                                        "'castraton' is not a key of chronic.standards.C17 "
                                        "(its keys: name, inpatient, standard, castration)" + tail);
  const char* limit_2022 = "- {from: 2022-07-01, to: 2022-12-31, value: \"800.00\"}";
  const std::string too = with(limit_2022, "- {from: 2022-07-01, value: \"800.00\",\n         too: 2022-12-31}");
  EXPECT_EQ(load_error(too), at_line(too, "         too:") +
                                 "'too' is not a key of parameter 'ordinary.limit.employee' "
                                 "value 1 (its keys: from, to, value, assumption)" + tail);
  const std::string rules = with("  ordinary.limit.employee:\n    rule: ORD-LIM",
                                 "  ordinary.limit.employee:\n    rules: ORD-LIM");
  EXPECT_EQ(load_error(rules), at_line(rules, "    rules:") + "'rules' is not a key of parameter "
                                   "'ordinary.limit.employee' (its keys: rule, article, assumption, values)" + tail);
  const std::string caps =
      with("half_share: \"0.50\", cap: \"0.050\"}", "half_share: \"0.50\", cap: \"0.050\",\n caps: 1}");
  EXPECT_EQ(load_error(caps), at_line(caps, " caps: 1}") +
                                  "'caps' is not a key of parameter 'incentive.points' value 1's "
                                  "value (its keys: unused, at_most_half, half_share, cap)" + tail);
  const std::string window = with("window: {from: 2022-07-01,", "window: {form: 2022-06-01, from: 2022-07-01,");
  EXPECT_EQ(load_error(window),
            at_line(window, "window:") + "'form' is not a key of window (its keys: from, to)" + tail);
  const std::string top = default_policy_text() + "notes: read by no one\n";
  EXPECT_EQ(load_error(top),
            at_line(top, "notes:") + "'notes' is not a key of the file (its keys: window, parameters)" + tail);
  const std::string null_key =
      with(limit_2022, "- {from: 2022-07-01, to: 2022-12-31, value: \"800.00\",\n    ~: 1}");
  EXPECT_EQ(load_error(null_key), at_line(null_key, "    ~: 1}") + "parameter 'ordinary.limit.employee' value 1 has a "
                                      "key that is not a name (~)");
  // A key read only when another says so, written beside that key's other value: passed over likewise.
  const std::string adjunct =
      with("T-IR: {name: 红外线治疗, per: adjunct", "T-IR: {name: 红外线治疗, per: adjunct, times: 2");
  EXPECT_EQ(load_error(adjunct), at_line(adjunct, "T-IR: {") + "acupuncture.therapies.T-IR: 'times' is not read when "
                                     "'per' is adjunct; a value the loader does not read would be passed over");
  const std::string inpatient = with("C08: {inpatient: true,", "C08: {inpatient: true, standard: \"5000.00\",");
  EXPECT_EQ(load_error(inpatient), at_line(inpatient, "C08: {") +
                                       "chronic.standards.C08: 'standard' is not read when 'inpatient' is true; a "
                                       "value the loader does not read would be passed over");
  const std::string castrated = with("C08: {inpatient: true,", "C08: {inpatient: true, castration: \"5000.00\",");
  EXPECT_NE(load_error(castrated).find("chronic.standards.C08: 'castration' is not read when 'inpatient' is true"),
            std::string::npos) << load_error(castrated);
  const std::string retiree =
      with("value: {credited: false}", "value: {credited: no,\n pension_base: \"3000.00\"}");
  EXPECT_NE(load_error(retiree).find(at_line(retiree, " pension_base:") + "parameter 'account.retiree' value 1's "
                                     "value: 'pension_base' is not read when 'credited' is false"),
            std::string::npos) << load_error(retiree);
  const std::string flexible = with("value: {checked: false}", "value: {checked: false, old_urban: \"0.07\"}");
  EXPECT_EQ(load_error(flexible), at_line(flexible, "value: {checked: false,") +
                                      "parameter 'account.flexible_rate' value 1's value: 'old_urban' is not read "
                                      "when 'checked' is false; a value the loader does not read would be passed over");
  // The same keys beside the value that reads them load (as the built-in policy's later flexible rates do).
  EXPECT_EQ(load_error(with("value: {checked: false}", "value: {checked: true, flexible_under_46: \"0.07\", "
                                                       "flexible_from_46: \"0.07\", old_urban: \"0.07\"}")),
            "");
  const std::string list_key =
      with(limit_2022, "- {from: 2022-07-01, to: 2022-12-31, value: \"800.00\", [a]: 1}");
  EXPECT_EQ(load_error(list_key), at_line(list_key, "[a]: 1}") + "parameter 'ordinary.limit.employee' "
                                      "value 1 has a key that is not a name ([a])");
}

// A text a store holds is read as it was folded (PolicyText::stored): each key a given text is refused for is passed
// over and named by passed_over() in the same words, every one of them, with the line numbers of that text.
TEST(PolicyValues, AStoredTextNamesEveryKeyItPassesOver) {
  const std::string tail = "; a key the loader does not read would be passed over, its default left in force";
  const std::string castration =
      with("C17: {standard: \"3000.00\",", "C17: {standard: \"3000.00\", castraton: \"1.00\",");
  const char* limit_2022 = "- {from: 2022-07-01, to: 2022-12-31, value: \"800.00\"}";
  const Policy stored = load_policy_text(castration, "test", PolicyText::stored);
  EXPECT_EQ(stored.passed_over(), std::vector<std::string>{load_error(castration)});
  EXPECT_TRUE(default_policy().passed_over().empty());
  EXPECT_TRUE(load_policy_text(default_policy_text(), "test", PolicyText::stored).passed_over().empty());
  std::string several = castration + "notes: read by no one\n";
  several.replace(several.find(limit_2022), std::strlen(limit_2022),
                  "- {from: 2022-07-01, to: 2022-12-31, value: \"800.00\", [a]: 1}");
  std::vector<std::string> passed = load_policy_text(several, "test", PolicyText::stored).passed_over();
  std::sort(passed.begin(), passed.end());
  std::vector<std::string> each = {at_line(several, "C17: {") + "'castraton' is not a key of chronic.standards.C17 "
                                                                "(its keys: name, inpatient, standard, castration)" +
                                       tail,
                                   at_line(several, "notes:") +
                                       "'notes' is not a key of the file (its keys: window, parameters)" + tail,
                                   at_line(several, "[a]: 1}") + "parameter 'ordinary.limit.employee' value 1 has a "
                                                                 "key that is not a name ([a])"};
  std::sort(each.begin(), each.end());
  EXPECT_EQ(passed, each);
}

// A key written twice in one map is refused naming both lines: yaml-cpp would read the first `value:` and ignore the
// second (a limit "edited" by adding a line), and a parameter written again would replace the first. A text a store
// holds is read as it was folded (PolicyText::stored), and the window's dates name their line too.
TEST(PolicyValues, AKeyWrittenTwiceInOneMapIsRefusedNamingBothLines) {
  const char* limit_2023 = "- {from: 2023-01-01, value: \"1600.00\"}";
  const std::string value_twice =
      with(limit_2023, "- {from: 2023-01-01, value: \"1600.00\",\n         value: \"9.00\"}");
  EXPECT_EQ(load_error(value_twice), at_line(value_twice, "         value: \"9.00\"") +
                                         "'value' is written twice in one map (first on line " +
                                         std::to_string(line_on(default_policy_text(), limit_2023)) +
                                         "); YAML allows a key once, and which of the two would count is not clear");
  EXPECT_EQ(load_policy_text(value_twice, "test", PolicyText::stored).passed_over(),
            std::vector<std::string>{load_error(value_twice)});
  const std::string parameter_twice = with("  ordinary.limit.resident_tier1:",
                                           "  ordinary.limit.employee:\n    rule: ORD-LIM\n    article: Art.11\n"
                                           "    values: [{from: 2022-07-01, value: \"1.00\"}]\n"
                                           "  ordinary.limit.resident_tier1:");
  const char* second = "  ordinary.limit.employee:\n    rule: ORD-LIM\n    article: Art.11\n    values: [";
  EXPECT_EQ(load_error(parameter_twice),
            at_line(parameter_twice, second) +
                "'ordinary.limit.employee' is written twice in one map (first on line " +
                std::to_string(line_on(default_policy_text(), "  ordinary.limit.employee:")) +
                "); YAML allows a key once, and which of the two would count is not clear");
  // Aliases of aliases stand for ten million nodes: refused after a million, not walked (nor a stack overflowed).
  std::string bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 7; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) bomb += ", " + prev;
    bomb += "]\n";
  }
  EXPECT_EQ(load_error(bomb + default_policy_text()),
            "test: more than 1000000 YAML nodes, counting each use of an alias: not the shape of a policy");
  const std::string window = with("window: {from: 2022-07-01,", "window: {from: 2022-07-41,");
  EXPECT_EQ(load_error(window), at_line(window, "window:") + "window.from: expected a date YYYY-MM-DD");
  EXPECT_EQ(load_error("parameters: {}\n"), "test: window.from: expected a date YYYY-MM-DD");  // no window at all
  // Of several repeated keys, the one first in the file is named: ordinary.limit.employee's repeated 2023 `value`,
  // not the repeated `article` of the parameter after it (which the walk, last child first, meets first).
  const std::string tier1 = "    article: Art.11\n    values:\n      - {from: 2022-07-01, to: 2022-12-31, value: \"100";
  const std::string two = with(tier1, "    article: Art.12\n" + tier1, value_twice);
  EXPECT_TRUE(load_error(two).starts_with(at_line(two, "         value: \"9.00\"") + "'value' is written twice"))
      << load_error(two);
}

TEST(PolicyValues, BuiltInCodeListsAreThoseOfEventsMd) {
  EXPECT_EQ(default_policy().codes(), events_md_codes());
  EXPECT_EQ(default_policy().codes().disease.size(), 88u);  // C01..C78 and the 10 X- codes
  EXPECT_EQ(default_policy().codes().therapy.size(), 23u);
  EXPECT_EQ(default_policy().codes().diagnosis.size(), 25u);
  EXPECT_EQ(default_policy().codes().category.size(), 10u);
}

// The flags sit on the assumed values; the loader reports each with its dates, rule, article and note.
TEST(PolicyValues, AssumptionsAreReportedPerValue) {
  const auto& a = default_policy().assumptions();
  ASSERT_EQ(a.size(), 9u);
  std::vector<std::string> got;
  for (const Assumption& x : a)
    got.push_back(x.parameter + " " + format_date(x.from) + ".." + format_date(x.to) + " " + x.rule + " [" + x.note +
                  "]");
  EXPECT_EQ(got, (std::vector<std::string>{
                     "account.flexible_rate 2024-01-01..2027-06-30 ACC-FLEX [the employer contribution rate from 2024]",
                     "account.in_service.employer_rate 2022-07-01..2022-12-31 ACC-INSVC "
                     "[the employer part before 2023 (unknown)]",
                     "account.retiree 2022-07-01..2023-12-31 ACC-RET [no retiree crediting before 2024 (unknown)]",
                     "account.retiree 2024-01-01..2027-06-30 ACC-RET [pension_base: the 2023 average basic pension]",
                     "chronic.specialty_diseases 2022-07-01..2027-06-30 CHR-FAC "
                     "[the mental / infectious groups (not listed in the seeds)]",
                     "inpatient.limit 2022-07-01..2027-06-30 CHR-INPT []",
                     "inpatient.ratio.in_service 2022-07-01..2027-06-30 CHR-RATIO []",
                     "inpatient.ratio.resident 2022-07-01..2027-06-30 CHR-RATIO []",
                     "inpatient.ratio.retired 2022-07-01..2027-06-30 CHR-RATIO []",
                 }));
  EXPECT_EQ(a[3].article, "Art.24");
  EXPECT_TRUE(default_policy().info().at("account.retiree").assumption);
  EXPECT_FALSE(default_policy().info().at("account.in_service.personal_rate").assumption);
}

TEST(PolicyValues, GongjiPolicyPrintsTheAssumedValues) {
  std::string out;
  ASSERT_EQ(run(gongji("policy"), &out), 0);
  EXPECT_NE(out.find("policy " + default_policy().version() + " (built-in), window 2022-07-01 to 2027-06-30"),
            std::string::npos)
      << out;
  // Each with its value, as the file gives it (in YAML's flow style): an auditor need not open the file to see it.
  EXPECT_NE(out.find("  account.retiree 2024-01-01..2027-06-30 = {credited: true, pension_base: 3000.00, under_70: "
                     "0.02, from_70: 0.025} (ACC-RET, Art.24): pension_base: the 2023 average basic pension\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("  inpatient.limit 2022-07-01..2027-06-30 = {employee: 300000.00, resident: 200000.00} "
                     "(CHR-INPT, Weihai medical insurance rules)\n"),
            std::string::npos)
      << out;
}

json contribution(Ledger& l, const std::string& p, const std::string& month, const std::string& base) {
  auto out = l.apply({{"type", "contribution_paid"}, {"id", l.next_id()}, {"at", month + "-10"}, {"person", p},
                      {"month", month}, {"base", base}});
  return out.empty() ? json() : out[0];
}

// ACC-INSVC: 45 on 2023-06-01 takes 2% + 0.75% (165.00 of 6000.00); with the age band at 45, 2% + 1% (180.00).
TEST(PolicyValues, InServiceAgeBandChangesTheCredit) {
  Ledger base;
  base.employee("A", "1977-06-15");
  EXPECT_EQ(contribution(base, "A", "2023-06", "6000.00")["amount"], "165.00");
  Policy p45 = load_policy_text(insvc_age("45"), "age-45");
  Ledger l(p45);
  l.employee("A", "1977-06-15");
  auto c = contribution(l, "A", "2023-06", "6000.00");
  EXPECT_EQ(c["amount"], "180.00");
  EXPECT_EQ(c["detail"], "round(6000.00 x (0.0200 + 0.0100)), age 45 on 2023-06-01");
}

// ACC-RET: born 1954-05-20, 70 on 2024-06-01: 75.00 that month; with the band at 71, still 60.00.
TEST(PolicyValues, RetireeAgeBandChangesTheCredit) {
  auto credits = [](const Policy& pol) {
    Ledger l(pol);
    l.apply({{"type", "person_enrolled"}, {"id", l.next_id()}, {"at", "2022-01-01"}, {"person", "R"},
             {"birth_date", "1954-05-20"}, {"scheme", "employee"}, {"status", "retired"},
             {"retired_on", "2014-06-01"}});
    std::vector<std::string> amounts;
    for (auto& c : l.close("2024-05", "2024-06")) amounts.push_back(c["amount"]);
    return amounts;
  };
  EXPECT_EQ(credits(default_policy()), (std::vector<std::string>{"60.00", "75.00"}));
  Policy p71 = load_policy_text(with(kRetireeAge, "values: [{from: 2022-07-01, value: 71}]"), "age-71");
  EXPECT_EQ(credits(p71), (std::vector<std::string>{"60.00", "60.00"}));
}

// ACC-RET, Art.25 ¶2: an old-urban member retired 2020-01-01 is not credited under the 2024-01-01 cut-off; with the
// cut-off at 2020-01-01 he is, 60.00 a month.
TEST(PolicyValues, OldUrbanCutOffChangesTheCredit) {
  auto balance = [](const Policy& pol) {
    Ledger l(pol);
    l.apply({{"type", "person_enrolled"}, {"id", l.next_id()}, {"at", "2022-01-01"}, {"person", "O1"},
             {"birth_date", "1960-01-01"}, {"scheme", "employee"}, {"status", "retired"}, {"old_urban", true},
             {"retired_on", "2020-01-01"}});
    l.close("2024-07", "2024-08");
    return l.person("O1", "2024-09-01")["account"]["balance"].get<std::string>();
  };
  EXPECT_EQ(balance(default_policy()), "0.00");
  Policy early = load_policy_text(with(kCutOff, "values: [{from: 2022-07-01, value: 2020-01-01}]"), "cut-off");
  EXPECT_EQ(balance(early), "120.00");
}

// Art.40: the 2022-12 contribution credits 120.00; with crediting from 2023-01, nothing.
TEST(PolicyValues, CreditingMonthsChangeTheCredit) {
  Policy later = load_policy_text(with(kMonths, "value: {from: 2023-01, to: 2027-06}"), "months");
  Ledger l(later);
  l.employee("A", "1977-06-15");
  EXPECT_TRUE(contribution(l, "A", "2022-12", "6000.00").is_null());
  EXPECT_EQ(contribution(l, "A", "2023-01", "6000.00")["amount"], "165.00");
}

// CHR-LIM: C04 6000, C01 5000, C13 4000 in effect on 1 January: 6000 + 2500 + 1600 = 10100; at most 2 diseases: 8500.
TEST(PolicyValues, DiseaseCapChangesTheLimit) {
  auto limit = [](const Policy& pol) {
    Ledger l(pol);
    l.employee("E");
    for (const char* d : {"C01", "C04", "C13"}) l.approve("E", d, "2022-12-01");
    return l.person("E", "2023-06-30")["chronic"]["employee"]["limit"].get<std::string>();
  };
  EXPECT_EQ(limit(default_policy()), "10100.00");
  Policy two = load_policy_text(with(kCap, "values: [{from: 2022-07-01, value: 2}]\n  chronic.suspension"), "cap");
  EXPECT_EQ(limit(two), "8500.00");
}

// F-TCM: the trace prints the points the policy gives, not a fixed "+5".
TEST(PolicyValues, TcmTracePrintsThePolicyPoints) {
  auto tcm_step = [](const Policy& pol) {
    Ledger t(pol);
    t.resident("R", 2);
    t.chronic_facility("R", "H2T", "2022-12-01", {{"bucket", "ordinary"}});
    t.approve("R", "C17", "2022-12-10", {{"bucket", "ordinary"}});
    auto b = t.claim("R", "H2T", "2023-07-01", items({item("drug", "300.00")}),
                     {{"benefit", "chronic"}, {"disease", "C17"}});
    for (auto& s : b["trace"])
      if (s["rule"] == "F-TCM") return s["detail"].get<std::string>() + " " + b["ratio"].get<std::string>();
    return std::string("no F-TCM step");
  };
  EXPECT_EQ(tcm_step(default_policy()), "TCM hospital: +5 points 0.6500");
  Policy seven = load_policy_text(with("values: [{from: 2022-07-01, value: \"0.05\"}]",
                                       "values: [{from: 2022-07-01, value: \"0.0725\"}]"),
                                  "tcm");
  EXPECT_EQ(tcm_step(seven), "TCM hospital: +7.25 points 0.6725");
}

const char* kClaimC05 =
    R"({"type":"claim","id":"c","claim":"K1","person":"P","facility":"H2","date":"2023-02-01","benefit":"chronic",)"
    R"("disease":"C05","items":[{"category":"drug","amount":"100.00"}]})";

const std::string kChronicLog =
    R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"H2","level":2,"kind":"hospital",)"
    R"("ordinary_outpatient":true})" "\n"
    R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
    R"("scheme":"employee","status":"in_service"})" "\n"
    R"({"type":"chronic_facility_designated","id":"cf","at":"2022-12-15","person":"P","facility":"H2"})" "\n"
    R"({"type":"chronic_disease_approved","id":"a","at":"2023-01-10","person":"P","disease":"C05"})" "\n" +
    std::string(kClaimC05) + "\n";

// A fold under a policy whose codes.disease lacks C05 refuses the approval and the claim naming the field and the
// code, through the dead-letter path (nothing consumed); under the built-in policy both are applied.
TEST(PolicyValues, FoldUnderAPolicyWithoutACodeDeadLettersItsEvents) {
  TempDir d;
  {
    auto log = open_segment_log(d / "log", 1);
    ingest_lines(*log, kChronicLog);
  }
  std::string without = with("C04, C05, C06,", "C04, C06,");
  without = with("          C05: {standard: \"6000.00\", name: \"系统性红斑狼疮（SLE）\"}\n", "", without);
  Policy narrow = load_policy_text(without, "no-C05");
  auto fold = [&](const Policy& pol, const std::string& state) {
    auto log = open_segment_log(d / "log", 1);
    Store s(d / state);
    FoldStats st = s.fold(*log, pol);
    std::vector<json> out;
    s.outputs([&](const json& r) {
      out.push_back(r);
      return true;
    });
    return std::pair{st, out};
  };
  auto [st, out] = fold(narrow, "narrow");
  EXPECT_EQ(st.dead_letters, 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["kind"], "dead_letter");
  EXPECT_EQ(out[0]["event"], "a");
  EXPECT_EQ(out[0]["reason"], "field 'disease': unknown code \"C05\"");
  EXPECT_EQ(out[1]["kind"], "dead_letter");
  EXPECT_EQ(out[1]["claim"], "K1");
  EXPECT_EQ(out[1]["reason"], "field 'disease': unknown code \"C05\"");
  auto [st2, out2] = fold(default_policy(), "builtin");
  EXPECT_EQ(st2.dead_letters, 0u);
  ASSERT_EQ(out2.size(), 1u);
  EXPECT_EQ(out2[0]["kind"], "settlement");
  EXPECT_EQ(out2[0]["status"], "settled");
  // The same record through the codec directly: validate_event under the narrow lists names field and code.
  Event claim = parse_event(kClaimC05);
  try {
    decode_event(encode_event(claim), narrow.codes());
    ADD_FAILURE() << "C05 accepted under a policy without it";
  } catch (const EventError& e) {
    EXPECT_EQ(e.field, "disease");
  }
}

}  // namespace
}  // namespace gongji::test
