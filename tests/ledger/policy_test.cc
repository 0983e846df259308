// ledger/policy: the parameters file and its loader.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "ledger/policy.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"

namespace gongji {
namespace {

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto p = text.find(from);
  EXPECT_NE(p, std::string::npos) << from;
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

// The loader's refusal of `t` with its first `from` replaced by `to`: `what`, after the file and the line `to` is on.
void expect_refused_at(const std::string& t, const std::string& from, const std::string& to, const std::string& what) {
  const std::string text = replace(t, from, to);
  EXPECT_EQ(load_error(text), test::at_line(text, to) + what);
}

TEST(Policy, BuiltInValuesFollowThePolicy) {
  const Policy& p = default_policy();
  const Params& y22 = p.at(*parse_date("2022-12-15"));
  const Params& y23 = p.at(*parse_date("2023-01-01"));
  EXPECT_EQ(y22.limit_employee, yuan(800));      // ORD-LIM 2022
  EXPECT_EQ(y23.limit_employee, yuan(1600));
  EXPECT_EQ(y22.limit_resident_tier2, yuan(200));
  EXPECT_EQ(y23.limit_resident_tier1, yuan(200));
  EXPECT_FALSE(p.at(*parse_date("2022-11-30")).ordinary_in_force);  // T-START
  EXPECT_TRUE(y22.ordinary_in_force);
  EXPECT_FALSE(y22.chronic_in_force);
  EXPECT_TRUE(y23.chronic_in_force);
  EXPECT_EQ(y23.ded_employee, (ByLevel{30000, 50000, 70000}));
  EXPECT_EQ(y23.ratio_retired, (RatesByLevel{7500, 6500, 5500}));
  EXPECT_EQ(y23.chronic_standards.size(), 78u);
  EXPECT_EQ(y23.chronic_standards.at("C01").castration, yuan(15000));
  EXPECT_TRUE(y23.chronic_standards.at("C08").inpatient);
  EXPECT_EQ(y23.chronic_standards.at("C78").standard, yuan(5000));
  EXPECT_EQ(y23.acu_diagnoses.size(), 14u);
  EXPECT_EQ(y23.therapies.size(), 23u);
  EXPECT_EQ(y23.ped_conditions.size(), 12u);
  EXPECT_EQ(p.at(*parse_date("2023-06-01")).account_employer_under_46, 75);
  EXPECT_EQ(p.at(*parse_date("2024-06-01")).account_employer_under_46, 0);
  EXPECT_TRUE(p.info().at("inpatient.limit").assumption);
  EXPECT_EQ(p.info().at("ordinary.limit.employee").article, "Art.11");
  EXPECT_EQ(p.version().rfind("xxh128:", 0), 0u);
  EXPECT_EQ(test::thrown<PolicyError>([&] { p.at(*parse_date("2027-07-01")); }),
            "no policy for 2027-07-01: the policy covers 2022-07-01 to 2027-06-30");
}

// DESIGN.md: a gap in a parameter's dates inside the window is an error naming the parameter and the gap.
TEST(Policy, GapIsRefusedNamingParameterAndDates) {
  std::string text = replace(default_policy_text(), "- {from: 2023-01-01, value: \"1600.00\"}",
                             "- {from: 2023-02-01, value: \"1600.00\"}");
  EXPECT_EQ(load_error(text), "test: parameter 'ordinary.limit.employee' has no value from 2023-01-01 to 2023-01-31");
}

TEST(Policy, OverlapMissingUnknownAndShortWindowAreRefused) {
  std::string overlap = replace(default_policy_text(), "- {from: 2023-01-01, value: \"1600.00\"}",
                                "- {from: 2022-12-31, value: \"1600.00\"}");
  EXPECT_EQ(load_error(overlap), "test: parameter 'ordinary.limit.employee' has two values on 2022-12-31");
  std::string unknown =
      replace(default_policy_text(), "parameters:\n",
              "parameters:\n  made.up:\n    article: x\n    values: [{from: 2022-07-01, value: 1}]\n");
  EXPECT_EQ(load_error(unknown), "test: unknown parameter 'made.up'");
  std::string ends_early = replace(default_policy_text(), "      - {from: 2027-01-01, value: false}\n", "");
  EXPECT_EQ(load_error(ends_early), "test: parameter 'incentive.assessed' has no value from 2027-01-01 to 2027-06-30");
  std::string bad_value = replace(default_policy_text(), "value: [\"0.70\", \"0.60\", \"0.50\"]",
                                  "value: [\"0.70\", \"sixty\", \"0.50\"]");
  EXPECT_NE(load_error(bad_value).find("ordinary.ratio.in_service[1]"), std::string::npos);
  std::string no_article = std::regex_replace(default_policy_text(), std::regex("    article: Annex 2\n"), "");
  EXPECT_EQ(load_error(no_article), "test: parameter 'chronic.standards' cites no article");
}

// A value refused names the file and the line the value is on, then the parameter: an operator editing a policy
// file is sent to the line to fix (the standard: refuse loudly, naming the file and line).
TEST(Policy, ARefusedValueNamesTheFileAndItsLine) {
  test::TempDir dir;
  const std::string path = dir / "weihai-edited.yaml";
  const std::string text = replace(default_policy_text(), "value: \"1600.00\"}", "value: \"16OO.00\"}");
  std::ofstream(path) << text;
  EXPECT_EQ(test::thrown<PolicyError>([&] { load_policy_file(path); }),
            test::at_line(text, "16OO.00", path) +
                "ordinary.limit.employee: expected an amount in yuan, got '16OO.00'");
}

TEST(Policy, VersionIsTheHashOfTheBytes) {
  Policy a = load_policy_text(default_policy_text(), "a");
  Policy b = load_policy_text(default_policy_text() + "\n# a comment\n", "b");
  EXPECT_EQ(a.version(), default_policy().version());
  EXPECT_NE(a.version(), b.version());
}

// Issue 8 item 7: the embedded policy with one value altered is refused, naming the parameter and the value.
TEST(PolicyBounds, RatesOutsideZeroToOneAreRefused) {
  const std::string& t = default_policy_text();
  EXPECT_EQ(load_policy_text(replace(t, "value: \"0.10\"}]", "value: \"1\"}]"), "t").at(*parse_date("2023-01-01"))
                .away_temporary_self_share, 10000);  // 1 itself is a rate
  EXPECT_EQ(load_error(replace(t, "value: \"0.60\"}]", "value: \"0.96\"}]")),
            "test: on 2022-07-01: chronic.ratio.resident_ordinary 0.9600 + tcm.resident_extra_ratio 0.0500 = 1.0100, "
            "outside [0, 1]");
  expect_refused_at(t, "value: [\"0.70\", \"0.60\", \"0.50\"]", "value: [\"0.70\", \"1.20\", \"0.50\"]",
                    "ordinary.ratio.in_service[1]: rate '1.20' is outside [0, 1]");
  expect_refused_at(t, "value: \"0.10\"}]", "value: \"-0.10\"}]",
                    "away.temporary_self_share: rate '-0.10' is outside [0, 1]");
  expect_refused_at(t, "value: \"0.60\"}]", "value: \"1.0001\"}]",
                    "chronic.ratio.resident_ordinary: rate '1.0001' is outside [0, 1]");
  expect_refused_at(t, "cap: \"0.050\"", "cap: \"2\"",
                    "incentive.points.cap: rate '2' is outside [0, 1]");
}

TEST(PolicyBounds, NegativeAmountsAndCountsAreRefused) {
  const std::string& t = default_policy_text();
  expect_refused_at(t, "value: \"1600.00\"}", "value: \"-1600.00\"}",
                    "ordinary.limit.employee: negative amount '-1600.00'");
  expect_refused_at(t, "C17: {standard: \"3000.00\"", "C17: {standard: \"-3000.00\"",
                    "chronic.standards.C17.standard: negative amount '-3000.00'");
  expect_refused_at(t, "values: [{from: 2022-07-01, value: 3}]", "values: [{from: 2022-07-01, value: -3}]",
                    "designation.changes_per_year: negative count '-3'");
  expect_refused_at(t, "per: day, times: 2}", "per: day, times: -2}",
                    "acupuncture.therapies.T01.times: negative count '-2'");
  expect_refused_at(t, "headache: {course_days: 14,", "headache: {course_days: -14,",
                    "acupuncture.diagnoses.headache.course_days: negative count '-14'");
  // At most 100,000,000.00 yuan: a 7e16 standard made a chronic limit over int64 that wrapped negative and paid 0.
  expect_refused_at(t, "C17: {standard: \"3000.00\"", "C17: {standard: \"100000000.01\"",
                    "chronic.standards.C17.standard: amount '100000000.01' is over 100000000.00 yuan");
  expect_refused_at(t, "value: \"1600.00\"}", "value: \"70000000000000000\"}",
                    "ordinary.limit.employee: amount '70000000000000000' is over 100000000.00 yuan");
  EXPECT_EQ(load_policy_text(replace(t, "C17: {standard: \"3000.00\"", "C17: {standard: \"100000000.00\""), "t")
                .at(*parse_date("2023-01-01"))
                .chronic_standards.at("C17")
                .standard,
            yuan(100'000'000));
}

// A ratio adjustment (F-TCM extra points, the ORD-INC cap) that takes a rate above 1 names every term and the date.
TEST(PolicyBounds, AdjustmentTakingARateOutOfRangeIsRefused) {
  const std::string& t = default_policy_text();
  auto tcm = [&](const std::string& v) {
    return replace(t, "values: [{from: 2022-07-01, value: \"0.05\"}]",
                   "values: [{from: 2022-07-01, value: \"" + v + "\"}]");
  };
  EXPECT_EQ(load_error(tcm("0.12")), "");  // 0.88 + 0.12 = 1 exactly
  EXPECT_EQ(load_error(tcm("0.1201")), "test: on 2022-07-01: inpatient.ratio.resident[0] 0.8800 + "
                                       "tcm.resident_extra_ratio 0.1201 = 1.0001, outside [0, 1]");
  EXPECT_EQ(load_error(replace(t, "value: [\"0.88\", \"0.78\", \"0.68\"]", "value: [\"0.96\", \"0.78\", \"0.68\"]")),
            "test: on 2022-07-01: inpatient.ratio.resident[0] 0.9600 + tcm.resident_extra_ratio 0.0500 = 1.0100, "
            "outside [0, 1]");
  EXPECT_EQ(load_error(replace(t, "value: [\"0.88\", \"0.78\", \"0.68\"]", "value: [\"0.95\", \"0.78\", \"0.68\"]")),
            "");
  EXPECT_EQ(load_error(replace(t, "value: [\"0.75\", \"0.65\", \"0.55\"]", "value: [\"0.96\", \"0.65\", \"0.55\"]")),
            "test: on 2022-07-01: ordinary.ratio.retired[0] 0.9600 + incentive.points.cap 0.0500 = 1.0100, "
            "outside [0, 1]");
}

TEST(PolicyBounds, UnknownDiseaseOrTherapyCodeIsRefused) {
  const std::string& t = default_policy_text();
  expect_refused_at(t, "[C30, C77, C78, C02,", "[C30, C77, C79, C02,",
                    "chronic.specialty_diseases: unknown disease code 'C79'");
  expect_refused_at(t, "diseases: [C01, C02,", "diseases: [C01, X02,",
                    "chronic.art17_refer.diseases: unknown disease code 'X02'");
  expect_refused_at(t, "X-DIALYSIS, X-TRANSPLANT", "X-DIALYSIS, X-TRANSPLANTS",
                    "chronic.excluded: unknown disease code 'X-TRANSPLANTS'");
  expect_refused_at(t, "C78: {standard:", "C80: {standard:",
                    "chronic.standards: unknown disease code 'C80'");
  expect_refused_at(t, "T21: {name: 刮痧治疗", "T22: {name: 刮痧治疗",
                    "acupuncture.therapies: unknown therapy code 'T22'");
  expect_refused_at(t, "headache: {course_days", "migraine: {course_days",
                    "acupuncture.diagnoses: unknown diagnosis code 'migraine'");
  expect_refused_at(t, "allowed: [medical_out_of_pocket,", "allowed: [groceries,",
                    "account.purposes.allowed: unknown purpose code 'groceries'");
}

}  // namespace
}  // namespace gongji
