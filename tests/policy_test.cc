// ledger/policy: the parameters file and its loader.
#include <gtest/gtest.h>

#include <regex>

#include "ledger/policy.h"

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
  EXPECT_THROW(p.at(*parse_date("2027-07-01")), PolicyError);
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
  std::string unknown = replace(default_policy_text(), "parameters:\n", "parameters:\n  made.up:\n    article: x\n    values: [{from: 2022-07-01, value: 1}]\n");
  EXPECT_EQ(load_error(unknown), "test: unknown parameter 'made.up'");
  std::string ends_early = replace(default_policy_text(), "      - {from: 2027-01-01, value: false}\n", "");
  EXPECT_EQ(load_error(ends_early), "test: parameter 'incentive.assessed' has no value from 2027-01-01 to 2027-06-30");
  std::string bad_value = replace(default_policy_text(), "value: [\"0.70\", \"0.60\", \"0.50\"]", "value: [\"0.70\", \"sixty\", \"0.50\"]");
  EXPECT_NE(load_error(bad_value).find("ordinary.ratio.in_service[1]"), std::string::npos);
  std::string no_article = std::regex_replace(default_policy_text(), std::regex("    article: Annex 2\n"), "");
  EXPECT_EQ(load_error(no_article), "test: parameter 'chronic.standards' cites no article");
}

TEST(Policy, VersionIsTheHashOfTheBytes) {
  Policy a = load_policy_text(default_policy_text(), "a");
  Policy b = load_policy_text(default_policy_text() + "\n# a comment\n", "b");
  EXPECT_EQ(a.version(), default_policy().version());
  EXPECT_NE(a.version(), b.version());
}

}  // namespace
}  // namespace gongji
