// Ordinary-outpatient rules (POLICY.md §0, §1, §4, §6), each test citing the rule IDs it checks.
// Expected amounts are worked out by hand from POLICY.md, in the comments.
#include <algorithm>
#include <numeric>

#include "tests/harness.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// ORD-DED: one running deductible a year across levels. 300 at level 1, then a level-3 visit owes 400, then nothing.
TEST(OrdDed, AccumulatesAcrossLevels) {
  Ledger l;
  l.employee("P");
  l.designate("P", "T1", "2023-01-02");
  auto a = l.claim("P", "T1", "2023-01-10", items({item("drug", "300.00")}));
  EXPECT_EQ(a["deductible"], "300.00");  // exactly at the level-1 deductible: nothing covered
  EXPECT_EQ(a["covered"], "0.00");
  EXPECT_EQ(a["fund"], "0.00");
  l.designate("P", "H3", "2023-02-01");
  auto b = l.claim("P", "H3", "2023-02-10", items({item("drug", "1000.00")}));
  EXPECT_EQ(b["deductible"], "400.00");  // 700 - 300
  EXPECT_EQ(b["covered"], "600.00");
  EXPECT_EQ(b["fund"], "300.00");  // 600 x 50%
  auto c = l.claim("P", "H3", "2023-03-10", items({item("drug", "100.00")}));
  EXPECT_EQ(c["deductible"], "0.00");  // the level-3 figure is reached: none for the rest of the year
  EXPECT_EQ(c["fund"], "50.00");
}

// ORD-DED: the deductible owed is at most the eligible amount; one fen over it is covered.
TEST(OrdDed, OneFenAboveTheDeductible) {
  Ledger l;
  l.resident("R", 2);
  auto a = l.claim("R", "T1", "2023-03-01", items({item("drug", "100.01")}));
  EXPECT_EQ(a["deductible"], "100.00");
  EXPECT_EQ(a["covered"], "0.01");
  EXPECT_EQ(a["fund"], "0.01");  // RND: 0.01 x 50% = 0.005 -> half up 0.01
}

// ORD-LIM: the limit counts eligible cost above the deductible; reached mid-claim it cuts `covered`.
TEST(OrdLim, ReachedMidClaimAndExactlyAtTheLimit) {
  Ledger l;
  l.employee("P");
  l.designate("P", "T1", "2023-01-02");
  auto a = l.claim("P", "T1", "2023-01-10", items({item("drug", "1900.00")}));  // 300 ded + 1600 = exactly the limit
  EXPECT_EQ(a["covered"], "1600.00");
  EXPECT_FALSE(has_reason(a, "LIMIT_REACHED"));
  EXPECT_EQ(a["fund"], "1120.00");
  EXPECT_EQ(a["after"]["limit_used"], "1600.00");
  auto b = l.claim("P", "T1", "2023-01-11", items({item("drug", "50.00")}));
  EXPECT_EQ(b["covered"], "0.00");
  EXPECT_TRUE(has_reason(b, "LIMIT_REACHED"));
  EXPECT_EQ(b["patient"], "50.00");
}

TEST(OrdLim, CutMidClaim) {
  Ledger l;
  l.employee("P");
  l.designate("P", "T1", "2023-01-02");
  l.claim("P", "T1", "2023-01-10", items({item("drug", "1800.00")}));  // 300 + 1500 used
  auto b = l.claim("P", "T1", "2023-01-11", items({item("drug", "250.00")}));
  EXPECT_EQ(b["covered"], "100.00");
  EXPECT_TRUE(has_reason(b, "LIMIT_REACHED"));
  EXPECT_EQ(b["fund"], "70.00");
}

// ORD-LIM: 2022's limits (employee 800, resident 100 / 200), and T-START: nothing before 2022-12-01.
TEST(OrdLim, LimitsOf2022AndTStart) {
  Ledger l;
  l.employee("P");
  l.resident("R", 2);
  l.designate("P", "T1", "2022-11-01");
  auto before = l.claim("P", "T1", "2022-11-30", items({item("drug", "500.00")}));
  EXPECT_EQ(before["status"], "rejected");
  EXPECT_EQ(reasons(before), std::vector<std::string>{"POLICY_NOT_IN_FORCE"});
  EXPECT_EQ(before["patient"], "500.00");
  auto dec = l.claim("P", "T1", "2022-12-01", items({item("drug", "2000.00")}));
  EXPECT_EQ(dec["status"], "settled");
  EXPECT_EQ(dec["covered"], "800.00");  // 2000 - 300, cut at 800
  EXPECT_EQ(dec["after"]["limit"], "800.00");
  auto r = l.claim("R", "T1", "2022-12-05", items({item("drug", "500.00")}));
  EXPECT_EQ(r["covered"], "200.00");  // tier 2 in 2022: 200
  // A new year: the deductible and limit restart, with 2023's figures.
  auto jan = l.claim("P", "T1", "2023-01-01", items({item("drug", "2000.00")}));
  EXPECT_EQ(jan["deductible"], "300.00");
  EXPECT_EQ(jan["covered"], "1600.00");
}

// ORD-RATIO, P-SCHEME: in service 70/60/50, retired 75/65/55, residents 50/40/30.
TEST(OrdRatio, ByStatusAndLevel) {
  Ledger l;
  l.employee("A");
  l.employee("B", "1955-01-01", "retired");
  l.resident("C", 2);
  l.employee("F", "1985-01-01", "flexible");
  for (const char* p : {"A", "B", "F"}) l.designate(p, "H2", "2023-01-01");
  l.designate("C", "C1", "2023-01-01");
  EXPECT_EQ(l.claim("A", "H2", "2023-02-01", items({item("drug", "600.00")}))["fund"], "60.00");   // 100 x 60%
  EXPECT_EQ(l.claim("B", "H2", "2023-02-01", items({item("drug", "600.00")}))["fund"], "65.00");   // 100 x 65%
  // Flexible: the in-service ratio.
  EXPECT_EQ(l.claim("F", "H2", "2023-02-01", items({item("drug", "600.00")}))["ratio"], "0.6000");
  auto c = l.claim("C", "C1", "2023-02-01", items({item("drug", "200.00")}));
  EXPECT_EQ(c["ratio"], "0.5000");
  EXPECT_EQ(c["fund"], "50.00");  // (200 - 100) x 50%
}

// F-TCM, F-LEVEL, TIME-DATED: a facility_updated carries only the fields it changes, each from its date, whatever the
// order they are logged in. H, a level-2 hospital, is updated to level 3 from 2024 and to not TCM from 2025 (a value
// in force restated); an update to TCM from 2023-06-01 is logged after both. In date order H is TCM from 2023-06-01
// and level 3 from 2024, and not TCM again from 2025. An employee's claims of 1000.00: 2023-07-01, level 2 TCM, the
// level-1 values (300.00, 70%: 490.00); 2024-02-01, level 3 TCM, the level-2 values (500.00, 60%: 300.00); 2025-02-01,
// level 3 (700.00, 50%: 150.00). gongji kept each update as a copy of the version in force on its date, so the late
// one never reached 2024 (700.00, 50%: 150.00), until the fuzzing of session 53 (store format 15).
TEST(FTcm, AFacilityUpdateLoggedLateReachesTheLaterVersionsUpToOneThatSetsTheFieldItself) {
  Ledger l;
  l.fac("H", 2, "hospital", false, "", "2022-07-01");
  l.employee("A");
  l.designate("A", "H", "2023-01-01");
  const auto update = [&](const std::string& at, const char* field, const nlohmann::json& value) {
    l.apply({{"type", "facility_updated"}, {"id", l.next_id()}, {"at", at}, {"facility", "H"}, {field, value}});
  };
  update("2024-01-01", "level", 3);
  update("2025-01-01", "tcm", false);
  update("2023-06-01", "tcm", true);
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> due = {
      {"2023-07-01", "300.00", "0.7000", "490.00"},
      {"2024-02-01", "500.00", "0.6000", "300.00"},
      {"2025-02-01", "700.00", "0.5000", "150.00"}};
  for (const auto& [date, deductible, ratio, fund] : due) {
    auto c = l.claim("A", "H", date, items({item("drug", "1000.00")}));
    EXPECT_EQ(c["deductible"], deductible) << date;
    EXPECT_EQ(c["ratio"], ratio) << date;
    EXPECT_EQ(c["fund"], fund) << date;
  }
}

// F-TCM: employees take the deductible and ratio one level down; residents the deductible one level down and
// their own level's ratio + 5 points; a level-1 TCM hospital uses level-1 values.
TEST(FTcm, EmployeeOneLevelDownResidentPlusFivePoints) {
  Ledger l;
  l.employee("E");
  l.designate("E", "H2T", "2023-01-01");
  auto e = l.claim("E", "H2T", "2023-02-01", items({item("drug", "1300.00")}));
  EXPECT_EQ(e["deductible"], "300.00");  // level-1 deductible
  EXPECT_EQ(e["ratio"], "0.7000");        // level-1 ratio
  EXPECT_EQ(e["fund"], "700.00");
  EXPECT_EQ(e["level"], 2);

  Ledger r;
  r.resident("R", 2, "1960-01-01");
  r.fac("CT", 2, "community_health_center", true);  // a level-2 TCM unit a resident may designate
  r.designate("R", "CT", "2023-01-01");
  auto s = r.claim("R", "CT", "2023-02-01", items({item("drug", "300.00")}));
  EXPECT_EQ(s["deductible"], "100.00");  // level-1 deductible
  EXPECT_EQ(s["ratio"], "0.4500");        // 40% + 5 points
  EXPECT_EQ(s["fund"], "90.00");          // 200 x 45%

  Ledger one;
  one.employee("E");
  one.designate("E", "H1T", "2023-01-01");
  auto o = one.claim("E", "H1T", "2023-02-01", items({item("drug", "400.00")}));
  EXPECT_EQ(o["deductible"], "300.00");
  EXPECT_EQ(o["ratio"], "0.7000");
}

// ORD-SCOPE: a resident's exam / lab / treatment costs are ineligible; employees keep every eligible item;
// `eligible` below `amount` counts only the eligible part; nucleic-acid tests are never eligible here.
TEST(OrdScope, ResidentScopeAndPolicyScopePart) {
  Ledger l;
  l.resident("R", 2);
  l.employee("E");
  l.designate("R", "T1", "2023-01-01");
  l.designate("E", "T1", "2023-01-01");
  auto r = l.claim("R", "T1", "2023-02-01",
                   items({item("drug", "150.00"), item("exam", "80.00"), item("lab", "20.00"),
                          item("general_consultation", "10.00")}));
  EXPECT_EQ(r["eligible"], "160.00");
  EXPECT_EQ(reasons(r), std::vector<std::string>{"RESIDENT_SCOPE"});
  EXPECT_EQ(r["total"], "260.00");
  auto e = l.claim("E", "T1", "2023-02-01",
                   items({item("drug", "150.00"), {{"category", "exam"}, {"amount", "80.00"}, {"eligible", "60.00"}},
                          item("nucleic_acid", "40.00")}));
  EXPECT_EQ(e["eligible"], "210.00");
  EXPECT_EQ(reasons(e), std::vector<std::string>{"NUCLEIC_ACID_INPATIENT_POLICY"});
  EXPECT_EQ(e["patient"], "270.00");  // total 270, nothing above the 300 deductible
}

// ORD-ACU: acupuncture-led means acupuncture strictly above other TCM therapies; equal is not led.
TEST(OrdAcu, LedAndNotLed) {
  Ledger l;
  l.resident("R", 1);
  l.designate("R", "T1", "2023-01-01");
  auto led = l.claim("R", "T1", "2023-03-01",
                     items({tcm("acupuncture", "50.01", "T01"), tcm("tcm_other", "50.00", "T17")}),
                     {{"diagnosis", "headache"}});
  EXPECT_EQ(led["eligible"], "100.01");
  auto not_led = l.claim("R", "T1", "2023-04-01",
                         items({tcm("acupuncture", "50.00", "T01"), tcm("tcm_other", "50.00", "T17")}),
                         {{"diagnosis", "headache"}});
  EXPECT_EQ(not_led["eligible"], "0.00");
  EXPECT_EQ(reasons(not_led), std::vector<std::string>{"ACU_NOT_LED"});
  auto unlisted = l.claim("R", "T1", "2023-05-01", items({tcm("acupuncture", "50.00", "T01")}),
                          {{"diagnosis", "fever"}});
  EXPECT_EQ(reasons(unlisted), std::vector<std::string>{"ACU_DIAGNOSIS_NOT_LISTED"});
}

// ORD-ACU frequency: T01 twice a day, T09 once in any 7 days, T08 never on consecutive days; adjuncts free.
TEST(OrdAcu, FrequencyLimits) {
  Ledger l;
  l.resident("R", 2);
  l.designate("R", "T1", "2023-01-01");
  auto d1 = l.claim("R", "T1", "2023-03-01",
                    items({tcm("acupuncture", "30.00", "T01"), tcm("acupuncture", "30.00", "T01"),
                           tcm("acupuncture", "30.00", "T01"), tcm("acupuncture", "10.00", "T-IR"),
                           tcm("acupuncture", "10.00", "T-IR")}),
                    {{"diagnosis", "sprain"}});
  EXPECT_EQ(d1["eligible"], "80.00");  // third T01 refused; adjuncts are not limited
  EXPECT_TRUE(has_reason(d1, "ACU_FREQUENCY_EXCEEDED"));
  auto w1 = l.claim("R", "T1", "2023-03-02", items({tcm("acupuncture", "30.00", "T09")}), {{"diagnosis", "sprain"}});
  EXPECT_EQ(w1["eligible"], "30.00");
  auto w2 = l.claim("R", "T1", "2023-03-08", items({tcm("acupuncture", "30.00", "T09")}), {{"diagnosis", "sprain"}});
  EXPECT_EQ(w2["eligible"], "0.00");  // 03-02..03-08 is 7 consecutive days
  auto w3 = l.claim("R", "T1", "2023-03-09", items({tcm("acupuncture", "30.00", "T09")}), {{"diagnosis", "sprain"}});
  EXPECT_EQ(w3["eligible"], "30.00");
  auto a1 = l.claim("R", "T1", "2023-03-10", items({tcm("acupuncture", "30.00", "T08")}), {{"diagnosis", "sprain"}});
  auto a2 = l.claim("R", "T1", "2023-03-11", items({tcm("acupuncture", "30.00", "T08")}), {{"diagnosis", "sprain"}});
  auto a3 = l.claim("R", "T1", "2023-03-12", items({tcm("acupuncture", "30.00", "T08")}), {{"diagnosis", "sprain"}});
  EXPECT_EQ(a1["eligible"], "30.00");
  EXPECT_EQ(a2["eligible"], "0.00");
  EXPECT_EQ(a3["eligible"], "30.00");
}

// ORD-ACU per day: at most K distinct therapy codes a day over the person's accepted items; repeats add nothing.
TEST(OrdAcu, DailyDistinctItems) {
  Ledger l;
  l.resident("R", 2);
  l.designate("R", "T1", "2023-01-01");
  json list = json::array();
  for (const char* c : {"T01", "T02", "T03", "T04", "T05", "T06"}) list.push_back(tcm("acupuncture", "10.00", c));
  list.push_back(tcm("acupuncture", "10.00", "T01"));  // second T01: not a new code
  auto a = l.claim("R", "T1", "2023-03-01", list, {{"diagnosis", "headache"}});
  EXPECT_EQ(a["eligible"], "70.00");
  auto b = l.claim("R", "T1", "2023-03-01", items({tcm("acupuncture", "10.00", "T07")}), {{"diagnosis", "headache"}});
  EXPECT_EQ(b["eligible"], "0.00");  // a 7th code the same day (K = 6 for headache)
  EXPECT_EQ(reasons(b), std::vector<std::string>{"ACU_DAILY_ITEMS_EXCEEDED"});
}

// ORD-ACU course: with course_start, items after course_start + N - 1 are refused; the last day is allowed.
TEST(OrdAcu, CourseLimit) {
  Ledger l;
  l.resident("R", 2);
  l.designate("R", "T1", "2023-01-01");
  auto last = l.claim("R", "T1", "2023-03-14", items({tcm("acupuncture", "30.00", "T01")}),
                      {{"diagnosis", "sprain"}, {"course_start", "2023-03-01"}});
  EXPECT_EQ(last["eligible"], "30.00");  // day 14 of a 14-day course
  auto over = l.claim("R", "T1", "2023-03-15", items({tcm("acupuncture", "30.00", "T01")}),
                      {{"diagnosis", "sprain"}, {"course_start", "2023-03-01"}});
  EXPECT_EQ(over["eligible"], "0.00");
  EXPECT_EQ(reasons(over), std::vector<std::string>{"ACU_COURSE_EXCEEDED"});
}

// ORD-PED: paediatric massage for residents aged 8 or under on the service date; 10-day course; amblyopia unlimited.
TEST(OrdPed, AgeEightAndNine) {
  Ledger l;
  l.resident("K", 2, "2015-03-10");
  l.designate("K", "T1", "2023-01-01");
  auto at8 = l.claim("K", "T1", "2024-03-09", items({item("pediatric_massage", "40.00")}), {{"diagnosis", "cough"}});
  EXPECT_EQ(at8["eligible"], "40.00");  // the day before the 9th birthday
  auto at9 = l.claim("K", "T1", "2024-03-10", items({item("pediatric_massage", "40.00")}), {{"diagnosis", "cough"}});
  EXPECT_EQ(at9["eligible"], "0.00");
  EXPECT_EQ(reasons(at9), std::vector<std::string>{"PED_NOT_COVERED"});
}

TEST(OrdPed, CourseAndAmblyopia) {
  Ledger l;
  l.resident("K", 2, "2020-01-01");
  l.designate("K", "T1", "2023-01-01");
  auto in = l.claim("K", "T1", "2023-03-10", items({item("pediatric_massage", "40.00")}),
                    {{"diagnosis", "fever"}, {"course_start", "2023-03-01"}});
  EXPECT_EQ(in["eligible"], "40.00");
  auto out = l.claim("K", "T1", "2023-03-11", items({item("pediatric_massage", "40.00")}),
                     {{"diagnosis", "fever"}, {"course_start", "2023-03-01"}});
  EXPECT_EQ(reasons(out), std::vector<std::string>{"PED_COURSE_EXCEEDED"});
  auto amb = l.claim("K", "T1", "2023-06-30", items({item("pediatric_massage", "40.00")}),
                     {{"diagnosis", "amblyopia"}, {"course_start", "2023-01-01"}});
  EXPECT_EQ(amb["eligible"], "40.00");
  // ORD-SCOPE by item: acupuncture items of the same child's claim run ORD-ACU on their own.
  auto mixed = l.claim("K", "T1", "2023-07-01",
                       items({item("pediatric_massage", "40.00"), tcm("acupuncture", "30.00", "T01"),
                              item("exam", "25.00")}),
                       {{"diagnosis", "cough"}});
  EXPECT_EQ(mixed["eligible"], "70.00");
  EXPECT_EQ(reasons(mixed), std::vector<std::string>{"RESIDENT_SCOPE"});
}

// ORD-DESIG: benefits only at the designated facility or its extension units.
TEST(OrdDesig, NotDesignatedAndExtensionUnit) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  auto ext = l.claim("E", "T1V", "2023-02-01", items({item("drug", "400.00")}));
  EXPECT_EQ(ext["status"], "settled");
  auto other = l.claim("E", "H2", "2023-02-02", items({item("drug", "400.00")}));
  EXPECT_EQ(other["status"], "rejected");
  EXPECT_EQ(reasons(other), std::vector<std::string>{"NOT_DESIGNATED"});
  EXPECT_EQ(other["fund"], "0.00");
  EXPECT_EQ(other["patient"], "400.00");
}

// ORD-DESIG: the first claim designates its unit (or the parent of an extension unit); reversing keeps it.
TEST(OrdDesig, AutomaticFirstDesignation) {
  Ledger l;
  l.resident("R", 2);
  auto a = l.claim("R", "T1V", "2023-02-01", items({item("drug", "120.00")}));
  EXPECT_TRUE(has_reason(a, "AUTO_DESIGNATED"));
  EXPECT_EQ(l.person("R", "2023-02-01")["ordinary"]["designated_facility"], "T1");
  EXPECT_EQ(l.person("R", "2023-01-31")["ordinary"]["designated_facility"], nullptr);
  EXPECT_EQ(l.person("R", "2023-02-01")["ordinary"]["changes_this_year"], 0);  // a first choice is not a change
  l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-02-03"}, {"person", "R"},
           {"claim", a["claim"]}});
  EXPECT_EQ(l.person("R", "2023-03-01")["ordinary"]["designated_facility"], "T1");
  // A resident cannot designate a hospital: a first claim there designates nothing.
  Ledger m;
  m.resident("S", 2);
  auto h = m.claim("S", "H2", "2023-02-01", items({item("drug", "120.00")}));
  EXPECT_EQ(reasons(h), std::vector<std::string>{"NOT_DESIGNATED"});
  EXPECT_EQ(m.person("S", "2023-02-02")["ordinary"]["designated_facility"], nullptr);
}

// ORD-DESIG: at most 3 changes a calendar year; re-designating the current facility is not a change.
TEST(OrdDesig, FourthChangeRefused) {
  Ledger l;
  l.employee("E");
  EXPECT_TRUE(l.designate("E", "T1", "2023-01-01").empty());   // first choice
  EXPECT_TRUE(l.designate("E", "H2", "2023-02-01").empty());   // change 1
  EXPECT_TRUE(l.designate("E", "H2", "2023-02-15").empty());   // same facility: not a change
  EXPECT_TRUE(l.designate("E", "H3", "2023-03-01").empty());   // change 2
  EXPECT_TRUE(l.designate("E", "C1", "2023-04-01").empty());   // change 3
  auto fourth = l.designate("E", "T1", "2023-05-01");
  ASSERT_EQ(fourth.size(), 1u);
  EXPECT_EQ(fourth[0]["kind"], "refusal");
  EXPECT_EQ(fourth[0]["reason"], "DESIGNATION_CHANGES_EXHAUSTED");
  EXPECT_EQ(l.person("E", "2023-06-01")["ordinary"]["designated_facility"], "C1");
  EXPECT_EQ(l.person("E", "2023-06-01")["ordinary"]["changes_this_year"], 3);
  EXPECT_TRUE(l.designate("E", "T1", "2024-01-02").empty());   // a new year: changes count again
  EXPECT_EQ(l.person("E", "2024-01-02")["ordinary"]["changes_this_year"], 1);
  // A resident may not designate a hospital or an extension unit.
  l.resident("R", 1);
  auto r = l.designate("R", "H2", "2023-01-01");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]["reason"], "FACILITY_NOT_DESIGNATABLE");
  auto v = l.designate("R", "T1V", "2023-01-01");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0]["reason"], "FACILITY_NOT_DESIGNATABLE");
}

// ORD-AWAY: temporary out-of-area care: 10% first, counted into the limit; long-term as the same level here.
TEST(OrdAway, TemporaryTenPercentCountsIntoTheLimit) {
  Ledger l;
  l.employee("E");
  auto t = l.claim("E", "", "2023-03-01", items({item("treatment", "1000.00")}),
                   {{"away", {{"mode", "temporary"}, {"level", 1}}}});
  EXPECT_EQ(t["self_first"], "100.00");
  EXPECT_EQ(t["deductible"], "300.00");
  EXPECT_EQ(t["covered"], "600.00");
  EXPECT_EQ(t["fund"], "420.00");
  EXPECT_EQ(t["after"]["limit_used"], "700.00");  // 100 self-first + 600 covered
  EXPECT_FALSE(has_reason(t, "AUTO_DESIGNATED"));  // out-of-area claims never designate
  // The self-first share is counted only as far as the limit has room.
  auto u = l.claim("E", "", "2023-03-02", items({item("treatment", "9500.00")}),
                   {{"away", {{"mode", "temporary"}, {"level", 1}}}});
  EXPECT_EQ(u["self_first"], "950.00");
  EXPECT_EQ(u["covered"], "0.00");  // 900 room taken by the 950 self-first share
  EXPECT_EQ(u["after"]["limit_used"], "1600.00");
  EXPECT_TRUE(has_reason(u, "LIMIT_REACHED"));
}

// ORD-INPT: no ordinary benefit during a stay, admission and discharge days included.
TEST(OrdInpt, InpatientStayBothDaysInclusive) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  l.apply({{"type", "inpatient_admitted"}, {"id", l.next_id()}, {"at", "2023-04-02"}, {"person", "E"},
           {"facility", "H2"}});
  l.simple("inpatient_discharged", "E", "2023-04-09");
  EXPECT_EQ(l.claim("E", "T1", "2023-04-01", items({item("drug", "10.00")}))["status"], "settled");
  EXPECT_EQ(reasons(l.claim("E", "T1", "2023-04-02", items({item("drug", "10.00")}))),
            std::vector<std::string>{"INPATIENT_STAY"});
  EXPECT_EQ(reasons(l.claim("E", "T1", "2023-04-09", items({item("drug", "10.00")}))),
            std::vector<std::string>{"INPATIENT_STAY"});
  EXPECT_EQ(l.claim("E", "T1", "2023-04-10", items({item("drug", "10.00")}))["status"], "settled");
}

// ORD-INPT, TIME-DATED: the stays follow from the dates of the admissions and discharges, whatever order they were
// logged in (ledger/state.h stays_of, with its interpretations). Each case is logged in every order; then a claim on
// each day probed is or is not refused INPATIENT_STAY, as written by hand. Paired as logged, the stays depended on
// the order: a discharge logged before its admission was dropped and the stay never ended (every later claim
// refused), and an admission logged twice left one of them open for ever.
TEST(OrdInpt, StaysAreTheSameWhateverTheOrderTheirEventsWereLoggedIn) {
  struct Case {
    std::string what;
    std::vector<std::pair<std::string, std::string>> events;  // type, date
    std::vector<std::string> in_stay, not_in_stay;
  };
  const std::string in = "inpatient_admitted", out = "inpatient_discharged";
  const std::vector<Case> cases = {
      {"an admission logged twice", {{in, "2023-03-01"}, {in, "2023-03-01"}, {out, "2023-03-10"}},
       {"2023-03-01", "2023-03-10"}, {"2023-02-28", "2023-03-11", "2023-12-31"}},
      {"admitted and discharged on one day", {{in, "2023-03-05"}, {out, "2023-03-05"}},
       {"2023-03-05"}, {"2023-03-04", "2023-03-06", "2023-12-31"}},
      {"readmitted on the day of a discharge",
       {{in, "2023-03-01"}, {out, "2023-03-05"}, {in, "2023-03-05"}, {out, "2023-03-20"}},
       {"2023-03-01", "2023-03-05", "2023-03-12", "2023-03-20"}, {"2023-02-28", "2023-03-21"}},
      {"a second admission during a stay, on the day of its discharge: a readmission, not discharged yet",
       {{in, "2023-03-01"}, {in, "2023-03-05"}, {out, "2023-03-05"}},
       {"2023-03-01", "2023-03-03", "2023-03-05", "2023-03-06", "2023-12-31"}, {"2023-02-28"}},
      {"a second admission during a stay (Interp.: part of it)",
       {{in, "2023-03-01"}, {in, "2023-03-03"}, {out, "2023-03-10"}},
       {"2023-03-01", "2023-03-03", "2023-03-10"}, {"2023-02-28", "2023-03-11", "2023-12-31"}},
      {"a transfer that ended the same day (admitted and discharged again on the day of the discharge)",
       {{in, "2023-03-01"}, {out, "2023-03-05"}, {in, "2023-03-05"}, {out, "2023-03-05"}},
       {"2023-03-01", "2023-03-05"}, {"2023-03-06", "2023-12-31"}},
      {"a day stay, then readmitted that day", {{in, "2023-03-05"}, {out, "2023-03-05"}, {in, "2023-03-05"},
       {out, "2023-03-08"}}, {"2023-03-05", "2023-03-06", "2023-03-08"}, {"2023-03-04", "2023-03-09"}},
      {"a day stay whose admission was sent twice (Interp.: read as a readmission that day)",
       {{in, "2023-03-05"}, {in, "2023-03-05"}, {out, "2023-03-05"}}, {"2023-03-05", "2023-03-06", "2023-12-31"},
       {"2023-03-04"}},
      {"a discharge sent twice on a transfer day (Interp.: the readmission a day stay, a later discharge passed over)",
       {{in, "2023-03-01"}, {out, "2023-03-05"}, {in, "2023-03-05"}, {out, "2023-03-05"}, {out, "2023-03-20"}},
       {"2023-03-01", "2023-03-05"}, {"2023-03-06", "2023-03-20", "2023-03-21"}},
      {"two stays", {{in, "2023-02-01"}, {out, "2023-02-10"}, {in, "2023-03-01"}, {out, "2023-03-10"}},
       {"2023-02-01", "2023-02-10", "2023-03-01", "2023-03-10"}, {"2023-01-31", "2023-02-11", "2023-02-28",
                                                                  "2023-03-11"}},
      {"a discharge with no admission before it", {{out, "2023-02-10"}, {in, "2023-03-01"}, {out, "2023-03-10"}},
       {"2023-03-01", "2023-03-10"}, {"2023-02-05", "2023-02-10", "2023-03-11"}},
      {"not discharged yet", {{in, "2023-03-01"}, {out, "2023-02-10"}}, {"2023-03-01", "2023-12-31"},
       {"2023-02-28"}},
  };
  for (const Case& c : cases) {
    std::vector<size_t> order(c.events.size());
    std::iota(order.begin(), order.end(), size_t{0});
    do {
      Ledger l;
      l.employee("E");
      l.designate("E", "T1", "2023-01-01");
      std::string logged;
      for (size_t k : order) {
        const auto& [type, at] = c.events[k];
        nlohmann::json e = {{"type", type}, {"id", l.next_id()}, {"at", at}, {"person", "E"}};
        if (type == in) e["facility"] = "H2";
        l.apply(e);
        logged += " " + type.substr(10) + " " + at;
      }
      const auto refused = [&](const std::string& day) {
        return has_reason(l.claim("E", "T1", day, items({item("drug", "10.00")})), "INPATIENT_STAY");
      };
      for (const std::string& day : c.in_stay)
        EXPECT_TRUE(refused(day)) << c.what << ", logged" << logged << ": " << day;
      for (const std::string& day : c.not_in_stay)
        EXPECT_FALSE(refused(day)) << c.what << ", logged" << logged << ": " << day;
    } while (std::next_permutation(order.begin(), order.end()));
  }
}

// ORD-INPT, TIME-ORDER: a transfer, discharged from one hospital and admitted to another the same day, is a stay from
// that day on as soon as the admission is logged: a claim during it, logged before its discharge, is refused; once
// the discharge is logged, a claim after it is paid.
TEST(OrdInpt, AReadmissionOnTheDayOfADischargeIsAStayOnceLogged) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  const auto stay = [&](const std::string& type, const std::string& at, const std::string& facility) {
    json e = {{"type", type}, {"id", l.next_id()}, {"at", at}, {"person", "E"}};
    if (!facility.empty()) e["facility"] = facility;
    l.apply(e);
  };
  stay("inpatient_admitted", "2023-03-01", "H2");
  stay("inpatient_discharged", "2023-03-05", "");
  stay("inpatient_admitted", "2023-03-05", "H3");
  EXPECT_EQ(reasons(l.claim("E", "T1", "2023-03-12", items({item("drug", "10.00")}))),
            std::vector<std::string>{"INPATIENT_STAY"});
  stay("inpatient_discharged", "2023-03-20", "");
  EXPECT_EQ(reasons(l.claim("E", "T1", "2023-03-14", items({item("drug", "10.00")}))),
            std::vector<std::string>{"INPATIENT_STAY"});
  EXPECT_EQ(l.claim("E", "T1", "2023-03-21", items({item("drug", "10.00")}))["status"], "settled");
}

// ORD-INPT: emergencies: treated -> ordinary rules without a designation; admitted / died -> referred.
TEST(OrdInpt, EmergencyOutcomes) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  auto treated = l.claim("E", "H3", "2023-05-01", items({item("treatment", "800.00")}),
                         {{"benefit", "emergency"}, {"outcome", "treated"}});
  EXPECT_EQ(treated["status"], "settled");
  EXPECT_EQ(treated["fund"], "50.00");  // (800 - 700) x 50%
  auto admitted = l.claim("E", "H3", "2023-05-02", items({item("treatment", "800.00")}),
                          {{"benefit", "emergency"}, {"outcome", "admitted"}});
  EXPECT_EQ(admitted["status"], "referred");
  EXPECT_EQ(reasons(admitted), std::vector<std::string>{"EMERGENCY_ADMITTED"});
  auto died = l.claim("E", "H3", "2023-05-03", items({item("treatment", "800.00")}),
                      {{"benefit", "emergency"}, {"outcome", "died"}});
  EXPECT_EQ(reasons(died), std::vector<std::string>{"EMERGENCY_DEATH"});
  EXPECT_EQ(died["patient"], "800.00");
  EXPECT_EQ(l.person("E", "2023-05-03")["ordinary"]["designated_facility"], "T1");  // emergencies never designate
}

// ORD-TYPE, P-CHANGE: a change of scheme restarts deductible and limit; a change of tier does not.
TEST(OrdType, SchemeChangeRestartsTierChangeDoesNot) {
  Ledger l;
  l.resident("R", 1, "1990-01-01");
  l.designate("R", "T1", "2023-01-01");
  auto a = l.claim("R", "T1", "2023-02-01", items({item("drug", "250.00")}));  // 100 ded + 150 used of 200
  EXPECT_EQ(a["after"]["limit_used"], "150.00");
  l.apply({{"type", "scheme_changed"}, {"id", l.next_id()}, {"at", "2023-03-01"}, {"person", "R"},
           {"scheme", "resident"}, {"tier", 2}});
  auto b = l.claim("R", "T1", "2023-03-05", items({item("drug", "300.00")}));
  EXPECT_EQ(b["deductible"], "0.00");     // the tier change kept the deductible paid
  EXPECT_EQ(b["covered"], "250.00");      // tier 2 limit 400 from the change date, 150 used
  EXPECT_EQ(b["after"]["limit"], "400.00");
  l.apply({{"type", "scheme_changed"}, {"id", l.next_id()}, {"at", "2023-07-01"}, {"person", "R"},
           {"scheme", "employee"}, {"status", "flexible"}});
  auto c = l.claim("R", "T1", "2023-07-05", items({item("drug", "500.00")}));
  EXPECT_EQ(c["deductible"], "300.00");   // a new scheme period: the employee deductible from zero
  EXPECT_EQ(c["covered"], "200.00");
  EXPECT_EQ(c["after"]["limit_used"], "200.00");
  EXPECT_EQ(l.person("R", "2023-06-30")["ordinary"]["limit_used"], "400.00");
  EXPECT_EQ(l.person("R", "2023-07-05")["ordinary"]["limit_used"], "200.00");
  EXPECT_EQ(l.person("R", "2023-07-05")["scheme"], "employee");
}

// ORD-TYPE, TIME-DATED: a change to the resident scheme and a change back on one day (the second logged later, a
// correction) begin two scheme periods. The resident's claim between them and the employee's claim after them were
// one period's (keyed by its first day): the employee's deductible of 300.00 was met by the resident's 100.00 and
// 200.00 more, 70.00 more paid than the new period owes (the ordinary oracle's case).
TEST(OrdType, AChangeOfSchemeAndAChangeBackOnOneDayBeginTwoPeriods) {
  Ledger l;
  l.employee("E", "1970-01-01");
  l.designate("E", "T1", "2023-01-01");
  EXPECT_EQ(l.claim("E", "T1", "2023-02-01", items({item("drug", "200.00")}))["deductible"], "200.00");
  l.to_resident("E", "2023-05-01", 2);
  const auto b = l.claim("E", "T1", "2023-05-01", items({item("drug", "150.00")}));
  EXPECT_EQ(b["deductible"], "100.00");  // the resident's, in the period begun on 05-01
  EXPECT_EQ(b["covered"], "50.00");
  l.to_employee("E", "2023-05-01");
  const auto c = l.claim("E", "T1", "2023-05-01", items({item("drug", "500.00")}));
  EXPECT_EQ(c["deductible"], "300.00");  // the employee's from zero: the change back began another period
  EXPECT_EQ(c["covered"], "200.00");
  EXPECT_EQ(c["fund"], "140.00");
  EXPECT_EQ(c["after"]["limit_used"], "200.00");
  const json p = l.person("E", "2023-05-01");
  EXPECT_EQ(p["ordinary"]["deductible_paid"], "300.00");
  EXPECT_EQ(p["ordinary"]["limit_used"], "200.00");
  const Period second = period_start(l.state.persons.at("E"), *parse_date("2023-05-01"));
  EXPECT_EQ(second.start, *parse_date("2023-05-01"));
  EXPECT_EQ(second.entry, 1);  // its day's second standing entry, after the change to resident's
}

// ORD-TYPE, TIME-DATED: a change to the employee scheme logged after a claim and dated before the change that began
// the claim's period makes that change continue the employee scheme: one period from 06-30, in which the claims
// dated before and after 07-01 meet one deductible, as in date order. The claim's effects stayed keyed by the period
// nothing began any more, and the next claim paid the employee deductible of 300.00 again (140.00 paid where 280.00
// was due; the ordinary oracle's case ord_scheme_change_logged_late_dated_before_a_period_start).
TEST(OrdType, AChangeOfSchemeLoggedLateDatedBeforeAPeriodsStartJoinsItsClaims) {
  Ledger l;
  l.resident("R", 2, "1980-06-05");
  l.designate("R", "T1", "2023-01-01");
  l.to_employee("R", "2023-07-01");
  const auto x = l.claim("R", "T1", "2023-07-02", items({item("drug", "200.00")}));
  EXPECT_EQ(x["deductible"], "200.00");  // of the employee's 300.00, in the period begun on 07-01
  EXPECT_EQ(x["fund"], "0.00");
  l.to_employee("R", "2023-06-30");
  const auto y = l.claim("R", "T1", "2023-07-03", items({item("drug", "500.00")}));
  EXPECT_EQ(y["deductible"], "100.00");  // the rest of it: x is of the period begun on 06-30 now
  EXPECT_EQ(y["covered"], "400.00");
  EXPECT_EQ(y["fund"], "280.00");        // 70% at level 1
  EXPECT_EQ(y["after"]["deductible_paid"], "300.00");
  const auto z = l.claim("R", "T1", "2023-06-30", items({item("drug", "100.00")}));
  EXPECT_EQ(z["deductible"], "0.00");    // dated before 07-01, in the same period
  EXPECT_EQ(z["covered"], "100.00");
  EXPECT_EQ(z["after"]["limit_used"], "500.00");
  const json p = l.person("R", "2023-07-03");
  EXPECT_EQ(p["ordinary"]["deductible_paid"], "300.00");
  EXPECT_EQ(p["ordinary"]["limit_used"], "500.00");
  EXPECT_EQ(l.person("R", "2023-06-30")["ordinary"]["limit_used"], "100.00");  // z alone by 06-30 (TIME-ASOF)
}

// ORD-TYPE, TIME-DATED (Art.11 "起付标准和年度支付限额重新起算"): a claim counts in the scheme period its service date
// is in, as now known. A change to the employee scheme dated 06-30 and logged after a resident's claim of 07-02 begins
// the period that claim is in: the next claim owes the rest of the employee's deductible (200.00), not all of it
// (the claim kept the resident period it was settled in, and 300.00 was owed; from the review of session 54).
TEST(OrdType, AChangeLoggedAfterAClaimAndDatedBeforeItBeginsTheClaimsPeriod) {
  Ledger l;
  l.resident("R", 2, "1980-06-05");
  l.designate("R", "T1", "2023-01-01");
  const auto x = l.claim("R", "T1", "2023-07-02", items({item("drug", "200.00")}));
  EXPECT_EQ(x["deductible"], "100.00");  // the resident's, level 1
  EXPECT_EQ(x["covered"], "100.00");
  l.to_employee("R", "2023-06-30");
  const auto y = l.claim("R", "T1", "2023-07-05", items({item("drug", "500.00")}));
  EXPECT_EQ(y["deductible"], "200.00");  // 300.00 less x's 100.00
  EXPECT_EQ(y["covered"], "300.00");
  EXPECT_EQ(y["fund"], "210.00");        // 70% at level 1
  EXPECT_EQ(y["after"]["limit_used"], "400.00");
  EXPECT_EQ(l.person("R", "2023-07-02")["ordinary"]["deductible_paid"], "100.00");
  EXPECT_EQ(l.person("R", "2023-06-29")["ordinary"]["deductible_paid"], "0.00");
}

// ORD-TYPE, TIME-DATED: a claim settled in a period a later-logged correction of the same day then superseded (a
// change to employee dated 06-30, a claim of 07-03, then a change to resident dated 06-30 logged after it) counts in
// the period its service date is in, begun by the change to employee of 07-01, with the claim of 07-02: the claim of
// 07-04 owes no deductible (it owed 100.00, and covered 400.00 where 500.00 was due; the review of session 54).
TEST(OrdType, AClaimInAPeriodACorrectionSupersededCountsInThePeriodOfItsServiceDate) {
  Ledger l;
  l.resident("R", 2, "1980-06-05");
  l.designate("R", "T1", "2023-01-01");
  l.to_employee("R", "2023-07-01");
  EXPECT_EQ(l.claim("R", "T1", "2023-07-02", items({item("drug", "200.00")}))["deductible"], "200.00");
  l.to_employee("R", "2023-06-30");
  EXPECT_EQ(l.claim("R", "T1", "2023-07-03", items({item("drug", "500.00")}))["deductible"], "100.00");
  l.to_resident("R", "2023-06-30", 2);  // a correction of that day: the change to employee is of 07-01 again
  const auto w = l.claim("R", "T1", "2023-07-04", items({item("drug", "500.00")}));
  EXPECT_EQ(w["deductible"], "0.00");
  EXPECT_EQ(w["covered"], "500.00");
  EXPECT_EQ(w["fund"], "350.00");
  EXPECT_EQ(w["after"]["limit_used"], "900.00");
  EXPECT_EQ(l.person("R", "2023-07-04")["ordinary"]["deductible_paid"], "300.00");
}

// ORD-TYPE, TIME-DATED: a claim served on the day of a standing entry logged before it comes after that entry. A
// change of status on 05-01 and a claim that day, then a change to resident dated 03-01 logged: the 05-01 entry now
// begins an employee period and the claim counts in it; the next claim owes the rest of the deductible (100.00).
// The claim was anchored at the period in force when it was settled (the enrolment's), and counted from the last
// entry before its date, the resident's: the next claim owed 300.00 (the review of session 54).
TEST(OrdType, AClaimOnTheDayOfAStandingEntryCountsAfterIt) {
  Ledger l;
  l.employee("E", "1980-06-05");
  l.designate("E", "T1", "2023-01-01");
  l.to_employee("E", "2023-05-01", "flexible");
  EXPECT_EQ(l.claim("E", "T1", "2023-05-01", items({item("drug", "200.00")}))["deductible"], "200.00");
  l.to_resident("E", "2023-03-01", 2);
  const auto y = l.claim("E", "T1", "2023-05-10", items({item("drug", "500.00")}));
  EXPECT_EQ(y["deductible"], "100.00");
  EXPECT_EQ(y["covered"], "400.00");
  EXPECT_EQ(y["fund"], "280.00");  // 70% at level 1 (flexible employees take the in-service ratios)
  EXPECT_EQ(l.person("E", "2023-05-05")["ordinary"]["deductible_paid"], "200.00");
}

// P-ELIG, P-CHANGE: a scheme_changed dated before the person's enrolment (logged after it) is refused, NOT_ELIGIBLE,
// like a registration or a retirement dated then; the person has no standing before the enrolment. It was kept: the
// person view showed the resident standing, a tier-2 limit and a designation before the enrolment, and a chronic
// approval dated then was accepted (the as-of oracle's case).
TEST(PChange, ASchemeChangeDatedBeforeTheEnrolmentIsRefused) {
  Ledger l;
  l.employee("E", "1980-06-15", "in_service", "2023-03-01");
  const auto changed = l.apply({{"type", "scheme_changed"}, {"id", "back"}, {"at", "2023-01-01"}, {"person", "E"},
                                {"scheme", "resident"}, {"tier", 2}});
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0]["reason"], "NOT_ELIGIBLE");
  EXPECT_EQ(changed[0]["detail"], "not enrolled on 2023-01-01");
  EXPECT_EQ(l.designate("E", "T1", "2023-02-15")[0]["reason"], "NOT_ELIGIBLE");
  EXPECT_EQ(l.approve("E", "C17", "2023-02-15")[0]["reason"], "NOT_ELIGIBLE");
  const json before = l.person("E", "2023-02-20");
  EXPECT_TRUE(before["scheme"].is_null()) << before.dump();
  EXPECT_TRUE(before["ordinary"]["limit"].is_null()) << before.dump();
  const json after = l.person("E", "2023-03-01");
  EXPECT_EQ(after["scheme"], "employee");
  EXPECT_EQ(after["status"], "in_service");
}

// P-CHANGE, TIME-DATED: a retirement_confirmed logged before a change to the resident scheme dated before it holds
// as the events in date order would: not at all while the person is a resident (confirm_retirement refuses a
// resident's). It was kept as a copy of the employee's standing, so the person was a retired employee again from the
// retirement's date, in a new scheme period: the claim below owed the employee's 300.00 deductible and was paid
// nothing, where the resident's 100.00 leaves 200.00 covered at 50% (the as-of oracle's case).
TEST(PChange, AChangeToResidentDatedBeforeARetirementLoggedEarlierEndsIt) {
  Ledger l;
  l.employee("E", "1962-01-01");
  l.designate("E", "T1", "2023-01-01");
  EXPECT_TRUE(l.simple("retirement_confirmed", "E", "2023-06-01").empty());
  EXPECT_EQ(l.person("E", "2023-06-15")["status"], "retired");
  l.to_resident("E", "2023-03-01", 2);
  for (const char* day : {"2023-03-01", "2023-06-01", "2023-12-31"}) {
    const json p = l.person("E", day);
    EXPECT_EQ(p["scheme"], "resident") << day;
    EXPECT_TRUE(p["status"].is_null()) << day;
  }
  EXPECT_EQ(l.person("E", "2023-02-28")["status"], "in_service");
  const auto c = l.claim("E", "T1", "2023-07-05", items({item("drug", "300.00")}));
  EXPECT_EQ(c["deductible"], "100.00");  // the resident's, in the scheme period begun on 03-01
  EXPECT_EQ(c["ratio"], "0.5000");
  EXPECT_EQ(c["fund"], "100.00");
}

// P-CHANGE, TIME-DATED: a change of employee status dated before a retirement logged earlier carries on into it, and
// a change back to the employee scheme dated between a change to resident and the retirement (all three logged
// after the retirement) makes the retirement hold again from its date, as in date order.
TEST(PChange, ARetirementLoggedEarlierFollowsTheStandingsDatedBeforeIt) {
  Ledger l;
  l.employee("E", "1962-01-01");
  l.simple("retirement_confirmed", "E", "2023-09-01");
  l.to_employee("E", "2023-02-01", "old_urban");
  EXPECT_EQ(l.person("E", "2023-03-01")["status"], "old_urban");
  EXPECT_EQ(l.person("E", "2023-09-01")["status"], "retired");
  EXPECT_TRUE(standing_at(l.state.persons.at("E"), *parse_date("2023-09-01"))->old_urban);  // from the one before it
  l.to_resident("E", "2023-04-01", 1);
  EXPECT_EQ(l.person("E", "2023-09-01")["scheme"], "resident");
  l.to_employee("E", "2023-06-01", "flexible");
  const json back = l.person("E", "2023-09-01");
  EXPECT_EQ(back["scheme"], "employee");
  EXPECT_EQ(back["status"], "retired");
  EXPECT_EQ(l.person("E", "2023-08-31")["status"], "flexible");
  // A scheme_changed to status retired states its scheme: a change to resident dated before it, logged after, ends
  // only the days before it (P-CHANGE: a change of scheme, a new period, the retirement from its date).
  l.employee("F", "1962-03-01");
  l.to_employee("F", "2023-05-01", "retired");
  l.to_resident("F", "2023-04-01", 2);
  EXPECT_EQ(l.person("F", "2023-04-30")["scheme"], "resident");
  EXPECT_EQ(l.person("F", "2023-05-01")["status"], "retired");
}

// P-CHANGE: a change to the resident scheme ends a designation residents may not hold.
TEST(PChange, DesignationEndsWhenTheNewSchemeCannotHoldIt) {
  Ledger l;
  l.employee("E");
  l.designate("E", "H2", "2023-01-01");
  l.apply({{"type", "scheme_changed"}, {"id", l.next_id()}, {"at", "2023-06-01"}, {"person", "E"},
           {"scheme", "resident"}, {"tier", 2}});
  EXPECT_EQ(l.person("E", "2023-05-31")["ordinary"]["designated_facility"], "H2");
  EXPECT_EQ(l.person("E", "2023-06-01")["ordinary"]["designated_facility"], nullptr);
}

// P-CHANGE, TIME-DATED: a designation dated before a change of scheme but logged after it, made by an event or by a
// first claim (ORD-DESIG), ends at the change when the new scheme may not hold it, as one logged before it does. (It
// once stayed in force: a resident was paid 120.00 at a level-3 hospital.) One the new scheme may hold stays.
TEST(PChange, ADesignationLoggedAfterAnEarlierDatedChangeEndsThere) {
  for (const bool by_claim : {false, true})
    for (const bool late : {false, true}) {
      SCOPED_TRACE(std::string(by_claim ? "by a first claim, " : "by an event, ") + (late ? "late" : "in order"));
      Ledger l;
      l.employee("E");
      l.employee("K");
      auto change = [&](const std::string& who) { l.to_resident(who, "2023-06-01"); };
      if (late) change("E"), change("K");
      if (by_claim) {
        EXPECT_EQ(l.claim("E", "H3", "2023-03-01", items({item("drug", "100.00")}))["status"], "settled");
        EXPECT_EQ(l.claim("K", "T1", "2023-03-01", items({item("drug", "100.00")}))["status"], "settled");
      } else {
        l.designate("E", "H3", "2023-03-01");
        l.designate("K", "T1", "2023-03-01");
      }
      if (!late) change("E"), change("K");
      EXPECT_EQ(l.person("E", "2023-05-31")["ordinary"]["designated_facility"], "H3");
      EXPECT_EQ(l.person("E", "2023-06-01")["ordinary"]["designated_facility"], nullptr);
      EXPECT_EQ(reasons(l.claim("E", "H3", "2023-07-01", items({item("drug", "600.00")}))),
                std::vector<std::string>{"NOT_DESIGNATED"});
      EXPECT_EQ(l.person("K", "2023-07-01")["ordinary"]["designated_facility"], "T1");  // a resident may hold it
    }
}

// P-CHANGE, TIME-DATED: a change of scheme logged after designations dated later than it (back-dated) drops each the
// new scheme may not hold, as the designation would have been refused had the change come first.
// (H3, designated on 2023-08-01 by an employee whose change to the resident scheme from 2023-06-01 came later, stayed
// in force.) T1, which a resident may hold, stays.
TEST(PChange, ABackDatedChangeEndsTheLaterDesignationsTheNewSchemeCannotHold) {
  for (const bool change_first : {false, true}) {
    SCOPED_TRACE(change_first ? "change logged first" : "change logged last (back-dated)");
    Ledger l;
    l.employee("E");
    l.employee("K");
    auto change = [&](const std::string& who) { l.to_resident(who, "2023-06-01"); };
    if (change_first) change("E"), change("K");
    const auto refused = l.designate("E", "H3", "2023-08-01");
    EXPECT_EQ(refused.size(), change_first ? 1u : 0u);  // FACILITY_NOT_DESIGNATABLE when the change came first
    l.designate("K", "T1", "2023-08-01");
    if (!change_first) change("E"), change("K");
    EXPECT_EQ(l.person("E", "2023-08-01")["ordinary"]["designated_facility"], nullptr);
    EXPECT_EQ(reasons(l.claim("E", "H3", "2023-09-01", items({item("drug", "600.00")}))),
              std::vector<std::string>{"NOT_DESIGNATED"});
    EXPECT_EQ(l.person("K", "2023-08-01")["ordinary"]["designated_facility"], "T1");
  }
}

// P-CHANGE: a designation a back-dated change drops (H3, which a resident may not hold) leaves the one before it
// (T1) in force, and no longer counts as one of the year's three changes (ORD-DESIG): the same events in either
// order. (It was ended by an empty designation instead, T1 with it, and still counted.)
TEST(PChange, ABackDatedChangeDropsALaterDesignationAndTheOneBeforeItStays) {
  for (const bool change_first : {false, true}) {
    SCOPED_TRACE(change_first ? "change logged first" : "change logged last (back-dated)");
    Ledger l;
    l.employee("E");
    auto change = [&] { l.to_resident("E", "2023-06-01"); };
    if (change_first) change();
    EXPECT_TRUE(l.designate("E", "T1", "2023-02-01").empty());
    EXPECT_TRUE(l.designate("E", "C1", "2023-03-01").empty());  // the year's first change
    EXPECT_TRUE(l.designate("E", "T1", "2023-04-01").empty());  // its second
    EXPECT_EQ(l.designate("E", "H3", "2023-08-01").size(), change_first ? 1u : 0u);  // FACILITY_NOT_DESIGNATABLE
    if (!change_first) change();
    EXPECT_EQ(l.person("E", "2023-08-01")["ordinary"]["designated_facility"], "T1");
    EXPECT_EQ(reasons(l.claim("E", "C1", "2023-09-01", items({item("drug", "10.00")}))),
              std::vector<std::string>{"NOT_DESIGNATED"});
    EXPECT_TRUE(l.designate("E", "C1", "2023-10-01").empty());  // the third change: not exhausted
    EXPECT_EQ(l.person("E", "2023-10-01")["ordinary"]["designated_facility"], "C1");
  }
}

// P-CHANGE: a designation logged late is checked at a later change of scheme only while it is in force: one that a
// designation after it superseded before the change is not (T1 is; a late update made it a hospital, which the
// change, folded before the update, kept). C1's late designation dated before T1's left T1 ended in one order only.
TEST(PChange, ALateDesignationSupersededBeforeAChangeIsNotCheckedThere) {
  for (const bool late : {false, true}) {
    SCOPED_TRACE(late ? "C1 designated last" : "C1 designated first");
    Ledger l;
    l.employee("E");
    if (!late) l.designate("E", "C1", "2023-02-01");
    l.designate("E", "T1", "2023-03-01");
    l.to_resident("E", "2023-06-01");
    l.apply({{"type", "facility_updated"}, {"id", l.next_id()}, {"at", "2023-04-01"}, {"facility", "T1"},
             {"kind", "hospital"}});
    if (late) l.designate("E", "C1", "2023-02-01");
    EXPECT_EQ(l.person("E", "2023-09-01")["ordinary"]["designated_facility"], "T1");
  }
}

// P-MINOR: a resident under 18 gets tier-1 ordinary standards whatever tier was paid; 18 on the day: own tier.
TEST(PMinor, UnderEighteenTierOneLimit) {
  Ledger l;
  l.resident("M", 2, "2005-06-01");
  l.designate("M", "T1", "2023-01-01");
  auto minor = l.claim("M", "T1", "2023-05-31", items({item("drug", "100.00")}));
  EXPECT_EQ(minor["after"]["limit"], "200.00");  // 17: tier-1 limit
  auto adult = l.claim("M", "T1", "2023-06-01", items({item("drug", "100.00")}));
  EXPECT_EQ(adult["after"]["limit"], "400.00");  // 18 on the day
}

// P-STUDENT, P-ELIG
TEST(PElig, StudentsSuspensionAndUnknowns) {
  Ledger l;
  l.resident("S", 2, "2003-01-01", "2022-01-01", true);
  auto s = l.claim("S", "T1", "2023-03-01", items({item("drug", "100.00")}));
  EXPECT_EQ(s["status"], "referred");
  EXPECT_EQ(reasons(s), std::vector<std::string>{"STUDENT_EXISTING_POLICY"});
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  l.simple("enrollment_suspended", "E", "2023-05-01");
  l.simple("enrollment_resumed", "E", "2023-06-01");
  EXPECT_EQ(l.claim("E", "T1", "2023-04-30", items({item("drug", "10.00")}))["status"], "settled");
  EXPECT_EQ(reasons(l.claim("E", "T1", "2023-05-01", items({item("drug", "10.00")}))),
            std::vector<std::string>{"NOT_ELIGIBLE"});
  EXPECT_EQ(reasons(l.claim("E", "T1", "2023-05-31", items({item("drug", "10.00")}))),
            std::vector<std::string>{"NOT_ELIGIBLE"});
  EXPECT_EQ(l.claim("E", "T1", "2023-06-01", items({item("drug", "10.00")}))["status"], "settled");
  l.employee("Late", "1980-01-01", "in_service", "2023-03-01");
  EXPECT_EQ(reasons(l.claim("Late", "T1", "2023-02-28", items({item("drug", "10.00")}))),
            std::vector<std::string>{"NOT_ELIGIBLE"});
  EXPECT_EQ(reasons(l.claim("Nobody", "T1", "2023-02-28", items({item("drug", "10.00")}))),
            std::vector<std::string>{"UNKNOWN_PERSON"});
  EXPECT_EQ(reasons(l.claim("E", "NOPE", "2023-02-28", items({item("drug", "10.00")}))),
            std::vector<std::string>{"UNKNOWN_FACILITY"});
}

// §4 DUPLICATE_CLAIM: a reused claim id is rejected and consumes nothing, whatever the first one's outcome.
TEST(Settle, DuplicateClaimConsumesNothing) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  json c = {{"type", "claim"}, {"id", "x1"}, {"claim", "SAME"}, {"person", "E"}, {"facility", "T1"},
            {"date", "2023-02-01"}, {"benefit", "ordinary"}, {"items", items({item("drug", "500.00")})}};
  auto first = l.apply(c)[0];
  c["id"] = "x2";
  auto second = l.apply(c)[0];
  EXPECT_EQ(first["status"], "settled");
  EXPECT_EQ(second["status"], "rejected");
  EXPECT_EQ(reasons(second), std::vector<std::string>{"DUPLICATE_CLAIM"});
  EXPECT_EQ(l.person("E", "2023-12-31")["ordinary"]["deductible_paid"], "300.00");
  EXPECT_EQ(l.person("E", "2023-12-31")["ordinary"]["limit_used"], "200.00");
}

// §4 DUPLICATE_CLAIM "whatever that one's outcome": a claim rejected for its unknown facility (SETTLE) takes its id
// too. The second claim, at a known facility, was settled (the oracle test's case; tests/oracle/).
TEST(Settle, AClaimIdFirstUsedAtAnUnknownFacilityIsADuplicateAfterwards) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  json c = {{"type", "claim"}, {"id", "x1"}, {"claim", "SAME"}, {"person", "E"}, {"facility", "NOWHERE"},
            {"date", "2023-02-01"}, {"benefit", "ordinary"}, {"items", items({item("drug", "500.00")})}};
  auto first = l.apply(c)[0];
  EXPECT_EQ(reasons(first), std::vector<std::string>{"UNKNOWN_FACILITY"});
  c["id"] = "x2";
  c["facility"] = "T1";
  auto second = l.apply(c)[0];
  EXPECT_EQ(second["status"], "rejected");
  EXPECT_EQ(reasons(second), std::vector<std::string>{"DUPLICATE_CLAIM"});
  EXPECT_EQ(second["fund"], "0.00");
  EXPECT_EQ(l.person("E", "2023-12-31")["ordinary"]["deductible_paid"], "0.00");
  // A third at the unknown facility again: still UNKNOWN_FACILITY (checked first), and the id's first use stays.
  c["id"] = "x3";
  c["facility"] = "NOWHERE";
  EXPECT_EQ(reasons(l.apply(c)[0]), std::vector<std::string>{"UNKNOWN_FACILITY"});
  // Another id at T1 settles as the first claim of the year.
  c["id"] = "x4";
  c["claim"] = "OTHER";
  c["facility"] = "T1";
  auto other = l.apply(c)[0];
  EXPECT_EQ(other["status"], "settled");
  EXPECT_EQ(other["deductible"], "300.00");
}

// §4 reversal: restores exactly what the settlement consumed; refused when not applicable.
TEST(Settle, ReversalRestoresExactly) {
  Ledger l;
  l.employee("E");
  l.designate("E", "H3", "2023-01-01");
  auto a = l.claim("E", "H3", "2023-02-01", items({item("drug", "1333.33")}));
  EXPECT_EQ(a["fund"], "316.67");  // (1333.33 - 700) x 50% = 316.665 -> 316.67
  auto rev = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-02-10"}, {"person", "E"},
                      {"claim", a["claim"]}});
  ASSERT_EQ(rev.size(), 1u);
  EXPECT_EQ(rev[0]["kind"], "reversal");
  EXPECT_EQ(rev[0]["fund"], "-316.67");
  EXPECT_EQ(rev[0]["deductible"], "-700.00");
  EXPECT_EQ(rev[0]["limit_used"], "-633.33");
  EXPECT_EQ(l.person("E", "2023-02-09")["ordinary"]["deductible_paid"], "700.00");
  EXPECT_EQ(l.person("E", "2023-02-10")["ordinary"]["deductible_paid"], "0.00");
  EXPECT_EQ(l.person("E", "2023-02-10")["ordinary"]["limit_used"], "0.00");
  auto b = l.claim("E", "H3", "2023-03-01", items({item("drug", "1333.33")}));
  EXPECT_EQ(b["fund"], a["fund"]);  // the same claim again settles the same way
  auto twice = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-02-11"}, {"person", "E"},
                        {"claim", a["claim"]}});
  EXPECT_EQ(twice[0]["reason"], "REVERSAL_NOT_APPLICABLE");
  auto unknown = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-02-11"}, {"person", "E"},
                          {"claim", "NOPE"}});
  EXPECT_EQ(unknown[0]["reason"], "REVERSAL_NOT_APPLICABLE");
  l.employee("Other");
  auto others = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-03-11"}, {"person", "Other"},
                         {"claim", b["claim"]}});
  EXPECT_EQ(others[0]["reason"], "REVERSAL_NOT_APPLICABLE");
  auto rejected = l.claim("E", "H2", "2023-03-02", items({item("drug", "10.00")}));  // NOT_DESIGNATED
  auto rr = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-03-11"}, {"person", "E"},
                     {"claim", rejected["claim"]}});
  EXPECT_EQ(rr[0]["reason"], "REVERSAL_NOT_APPLICABLE");
  // Dated before the claim's service date (b: 2023-03-01): refused, b still paid; the as-of views never went below
  // zero before b (accepted, it left deductible -700.00 and limit used -633.33 on 2023-02-28).
  auto early = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-02-28"}, {"person", "E"},
                        {"claim", b["claim"]}});
  ASSERT_EQ(early.size(), 1u);
  EXPECT_EQ(early[0]["reason"], "REVERSAL_NOT_APPLICABLE");
  EXPECT_EQ(early[0]["detail"],
            "claim " + b["claim"].get<std::string>() + " is for 2023-03-01, after the reversal's date");
  EXPECT_EQ(l.person("E", "2023-02-28")["ordinary"]["deductible_paid"], "0.00");
  EXPECT_EQ(l.person("E", "2023-03-01")["ordinary"]["deductible_paid"], "700.00");
  auto same_day = l.apply({{"type", "claim_reversed"}, {"id", l.next_id()}, {"at", "2023-03-01"}, {"person", "E"},
                           {"claim", b["claim"]}});
  EXPECT_EQ(same_day[0]["kind"], "reversal");  // on the service date itself: reversed
}

// TIME-DATED: a claim logged after later-dated changes is judged by what is in effect on its service date.
TEST(TimeDated, LaterDatedChangesDoNotReachEarlierServiceDates) {
  Ledger l;
  l.employee("E", "1962-01-01");
  l.designate("E", "T1", "2023-01-01");
  l.apply({{"type", "facility_updated"}, {"id", l.next_id()}, {"at", "2024-01-01"}, {"facility", "T1"}, {"level", 2}});
  l.simple("retirement_confirmed", "E", "2023-10-01");
  auto before = l.claim("E", "T1", "2023-09-30", items({item("drug", "400.00")}));
  EXPECT_EQ(before["level"], 1);
  EXPECT_EQ(before["ratio"], "0.7000");  // in service on 09-30
  auto after = l.claim("E", "T1", "2023-10-01", items({item("drug", "100.00")}));
  EXPECT_EQ(after["ratio"], "0.7500");  // retired from the confirmation date
  auto next_year = l.claim("E", "T1", "2024-01-02", items({item("drug", "600.00")}));
  EXPECT_EQ(next_year["level"], 2);
  EXPECT_EQ(next_year["deductible"], "500.00");
  EXPECT_EQ(next_year["ratio"], "0.6500");
}

// TIME-ORDER, TIME-ASOF: a late claim (early service date, logged last) consumes in log order; the as-of view
// shows it by its service date.
TEST(TimeOrder, LateClaimConsumesInLogOrder) {
  Ledger l;
  l.employee("E");
  l.designate("E", "T1", "2023-01-01");
  auto march = l.claim("E", "T1", "2023-03-01", items({item("drug", "500.00")}));
  EXPECT_EQ(march["deductible"], "300.00");
  auto late = l.claim("E", "T1", "2023-02-01", items({item("drug", "500.00")}));
  EXPECT_EQ(late["deductible"], "0.00");  // the March claim already took the deductible
  EXPECT_EQ(late["covered"], "500.00");
  EXPECT_EQ(l.person("E", "2023-01-31")["ordinary"]["limit_used"], "0.00");
  EXPECT_EQ(l.person("E", "2023-02-01")["ordinary"]["limit_used"], "500.00");
  EXPECT_EQ(l.person("E", "2023-02-01")["ordinary"]["deductible_paid"], "0.00");
  EXPECT_EQ(l.person("E", "2023-03-01")["ordinary"]["limit_used"], "700.00");
  EXPECT_EQ(l.person("E", "2023-03-01")["ordinary"]["deductible_paid"], "300.00");
}

// Non-claim events for unknown people / facilities are refused; a second enrolment too.
TEST(Refusals, UnknownsAndAlreadyEnrolled) {
  Ledger l;
  auto r = l.designate("Nobody", "T1", "2023-01-01");
  EXPECT_EQ(r[0]["reason"], "UNKNOWN_PERSON");
  l.employee("E");
  EXPECT_EQ(l.designate("E", "NOPE", "2023-01-01")[0]["reason"], "UNKNOWN_FACILITY");
  auto again = l.apply({{"type", "person_enrolled"}, {"id", l.next_id()}, {"at", "2023-01-01"}, {"person", "E"},
                        {"birth_date", "1980-01-01"}, {"scheme", "employee"}, {"status", "in_service"}});
  EXPECT_EQ(again[0]["reason"], "ALREADY_ENROLLED");
  auto upd = l.apply({{"type", "facility_updated"}, {"id", l.next_id()}, {"at", "2023-01-01"}, {"facility", "NOPE"},
                      {"level", 2}});
  EXPECT_EQ(upd[0]["reason"], "UNKNOWN_FACILITY");
}

// EVENTS.md "Ids" (the ledger's rule; the fold asks it before applying): a new id applies, the same id with the same
// content is a duplicate copy (a no-op), with other content ID_CONFLICT.
TEST(EventIds, NewDuplicateOrConflict) {
  EXPECT_EQ(judge_event_id(std::nullopt, 0x1234), IdVerdict::new_event);
  EXPECT_EQ(judge_event_id(0x1234, 0x1234), IdVerdict::duplicate);
  EXPECT_EQ(judge_event_id(0x1234, 0x1235), IdVerdict::conflict);
  EXPECT_EQ(judge_event_id(0, 0), IdVerdict::duplicate);  // a digest of 0 is a digest, not "none"
}

}  // namespace
}  // namespace gongji::test
