// ledger/trace.h: a settlement's trace as data (issue 9 item 2). The rule and saying numbers are what the store keeps,
// so they are pinned; each saying renders its values as EVENTS.md's trace texts did (literal texts below, and the
// whole of them pinned by Fold.GoldenOutputsOfAFixedPopulation); a rendered text reads back to the same step.
#include <gtest/gtest.h>

#include <set>

#include "events/date.h"
#include "ledger/trace.h"

namespace gongji {
namespace {

TEST(Trace, RuleNumbersAndSpellingsArePinned) {
  EXPECT_EQ(static_cast<int>(Rule::T_START), 0);
  EXPECT_EQ(static_cast<int>(Rule::RND), 19);
  EXPECT_EQ(static_cast<int>(Rule::CHR_EXCL), 23);
  EXPECT_EQ(static_cast<int>(Rule::ACC_USE), 38);
  EXPECT_EQ(rule_id(Rule::ORD_DESIG), "ORD-DESIG");
  EXPECT_EQ(article_of(Rule::ORD_DESIG), "Art.28; N§2(二)");
  EXPECT_EQ(std::string(article_of(std::string("CHR-LIM"))), "N§3(一); Annex 2; Art.16");
  EXPECT_EQ(std::string(article_of(std::string("NO-SUCH"))), "");
  std::set<std::string_view> ids;
  for (const RuleInfo& r : kRules) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    EXPECT_EQ(rule_from_id(r.id), r.rule);
    EXPECT_FALSE(r.article.empty()) << r.id;
  }
  EXPECT_FALSE(rule_from_id("ORD-XYZ"));
}

TEST(Trace, SayingNumbersArePinned) {
  EXPECT_EQ(static_cast<int>(Say::text), 0);
  EXPECT_EQ(static_cast<int>(Say::level), 9);
  EXPECT_EQ(static_cast<int>(Say::fund_rounded), 22);
  EXPECT_EQ(static_cast<int>(Say::chronic_inpatient_ratio), 59);
  EXPECT_EQ(static_cast<int>(Say::account_in_service_credit), 60);
  EXPECT_EQ(static_cast<int>(Say::account_retiree_credit), 61);
  EXPECT_EQ(static_cast<int>(Say::account_debit_for), 62);
  EXPECT_EQ(kSayings[static_cast<size_t>(Say::fund_rounded)], "fund = round({m} x {r}) = {m}");
  std::set<std::string_view> texts(kSayings.begin(), kSayings.end());
  EXPECT_EQ(texts.size(), kSayings.size());
}

TEST(Trace, SayingsRenderTheirValues) {
  const Date leap = *parse_date("2024-02-29");
  EXPECT_EQ(make_step<Say::fund_rounded>(Rule::RND, Money{10000}, Rate{7000}, Money{7000}).detail(),
            "fund = round(100.00 x 0.7000) = 70.00");
  EXPECT_EQ(make_step<Say::item_massage_not_covered>(Rule::ORD_PED, 2, "pediatric_massage", 6, 7, "D-COLD").detail(),
            "item 2 (pediatric_massage): paediatric massage covers children aged 6 or under with a listed condition "
            "(age 7, 'D-COLD')");
  EXPECT_EQ(make_step<Say::item_course_over>(Rule::ORD_ACU, 1, "acupuncture", leap, 30).detail(),
            "item 1 (acupuncture): course from 2024-02-29 lasts at most 30 days");
  EXPECT_EQ(make_step<Say::tcm_chronic_resident>(Rule::F_TCM, Rate{500}).detail(), "TCM hospital: +5 points");
  EXPECT_EQ(make_step<Say::tcm_chronic_resident>(Rule::F_TCM, Rate{550}).detail(), "TCM hospital: +5.5 points");
  EXPECT_EQ(make_step<Say::tcm_chronic_resident>(Rule::F_TCM, Rate{525}).detail(), "TCM hospital: +5.25 points");
  EXPECT_EQ(make_step<Say::limit_reached_room>(Rule::ORD_LIM, Money{-1}, Money{0}).detail(),
            "limit reached: -0.01 above the deductible, room 0.00");
  EXPECT_EQ(make_step<Say::at_designated>(Rule::ORD_DESIG).detail(), "at the designated facility");
  // The account movements' details (ACC-INSVC, ACC-RET, ACC-USE), as accounts.cc printed them.
  EXPECT_EQ(make_step<Say::account_in_service_credit>(Rule::ACC_INSVC, Money{650000}, Rate{200}, Rate{100}, 45,
                                                      *parse_date("2023-03-01"))
                .detail(),
            "round(6500.00 x (0.0200 + 0.0100)), age 45 on 2023-03-01");
  EXPECT_EQ(make_step<Say::account_retiree_credit>(Rule::ACC_RET, Money{300000}, Rate{250}, 70,
                                                   *parse_date("2024-01-01"))
                .detail(),
            "round(3000.00 x 0.0250), age 70 on 2024-01-01");
  EXPECT_EQ(make_step<Say::account_debit_for>(Rule::ACC_USE, "drug_purchase", "P2").detail(), "drug_purchase for P2");
  const TraceStep text{Rule::SETTLE, Say::text, {}, {"as it was written"}};
  EXPECT_EQ(text.detail(), "as it was written");
  EXPECT_TRUE(fills(text));
  EXPECT_FALSE(fills(TraceStep{Rule::RND, Say::fund_rounded, {1, 2}, {}}));
  EXPECT_FALSE(fills(TraceStep{Rule::RND, Say::level, {1}, {"x"}}));
  EXPECT_FALSE(fills(TraceStep{Rule::RND, static_cast<Say>(kSayings.size()), {}, {}}));
}

// Every saying, filled with values of each hole's kind, renders a text that reads back to the same step; the values
// are distinct, so a hole read into the wrong place would show.
TEST(Trace, EveryRenderedTextReadsBackToItsStep) {
  for (size_t i = 1; i < kSayings.size(); ++i) {
    char kinds[16] = {};
    const size_t n = holes(kSayings[i], kinds);
    TraceStep t{Rule::ORD_SCOPE, static_cast<Say>(i), {}, {}};
    for (size_t k = 0; k < n; ++k) {
      switch (kinds[k]) {
        case 'm': t.numbers.push_back(123456 + static_cast<int64_t>(k)); break;
        case 'r': t.numbers.push_back(7050 + static_cast<int64_t>(k)); break;
        case 'p': t.numbers.push_back(525); break;
        case 'd': t.numbers.push_back(*parse_date("2023-12-31") + static_cast<int64_t>(k)); break;
        case 'i': t.numbers.push_back(3 + static_cast<int64_t>(k)); break;
        default: t.texts.push_back("T" + std::to_string(k)); break;
      }
    }
    ASSERT_TRUE(fills(t)) << kSayings[i];
    const std::string text = t.detail();
    EXPECT_EQ(text.find('{'), std::string::npos) << text;
    EXPECT_EQ(step_from_text(Rule::ORD_SCOPE, text), t) << text;
  }
  // The more specific of two sayings that render the same text.
  EXPECT_EQ(step_from_text(Rule::P_ELIG, "enrolled: resident tier 2").say, Say::enrolled_resident);
  EXPECT_EQ(step_from_text(Rule::CHR_FAC, "F1 is not the chronic facility (none)").say, Say::not_chronic_facility_none);
  // A text whose value contains the literal after its hole: another split is tried, and the rendering decides.
  const TraceStep designated = make_step<Say::designated_elsewhere>(Rule::ORD_DESIG, "F1", "F2, not F3");
  EXPECT_EQ(step_from_text(Rule::ORD_DESIG, designated.detail()).detail(), designated.detail());
  // Numbers that would read but render otherwise are not that saying's: "level 007" is kept as words.
  EXPECT_EQ(step_from_text(Rule::F_LEVEL, "level 007").say, Say::text);
  EXPECT_EQ(step_from_text(Rule::F_LEVEL, "level +2").say, Say::text);
  EXPECT_EQ(step_from_text(Rule::ORD_LIM, "limit reached: 01.00 above the deductible, room 0.00").say, Say::text);
  EXPECT_EQ(step_from_text(Rule::F_TCM, "TCM hospital: +922337203685477580 points").say, Say::text);
  // Words no saying renders are kept as they are.
  const TraceStep kept = step_from_text(Rule::RND, "fund = round(1.00 x 0.7) = 0.70");
  EXPECT_EQ(kept.say, Say::text);
  EXPECT_EQ(kept.detail(), "fund = round(1.00 x 0.7) = 0.70");
}

}  // namespace
}  // namespace gongji
