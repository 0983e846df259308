// Chronic and special diseases (POLICY.md §2), each test citing the rule IDs it checks.
#include "ledger/chronic.h"
#include "tests/harness.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// Employee E registered with a chronic facility H2 (level 2, in-service inpatient ratio 90%).
Ledger employee_with_facility(const std::string& birth = "1970-01-01") {
  Ledger l;
  l.employee("E", birth);
  l.chronic_facility("E", "H2", "2022-12-01");
  return l;
}

json chronic_state(Ledger& l, const std::string& as_of, const std::string& bucket = "employee") {
  return l.person("E", as_of)["chronic"][bucket];
}

// CHR-LIM: positions 100% / 50% / 40% by standard, at most three; CHR-EXCL diseases take no position.
TEST(ChrLim, ThreeDiseasesFourthAndExcludedAddNothing) {
  Ledger l = employee_with_facility();
  l.approve("E", "C18", "2022-12-10");  // rheumatoid 6000
  l.approve("E", "C13", "2022-12-10");  // coronary 4000
  l.approve("E", "C17", "2022-12-10");  // hypertension 3000
  EXPECT_EQ(chronic_state(l, "2023-01-01")["limit"], "9200.00");  // 6000 + 4000x50% + 3000x40%
  l.approve("E", "C35", "2022-12-11");  // a 4th: chronic bronchitis 1500 — does not count
  EXPECT_EQ(chronic_state(l, "2023-01-01")["limit"], "9200.00");
  l.approve("E", "X-CATARACT", "2022-12-11");  // old policy: no position
  l.approve("E", "C08", "2022-12-11");         // haemophilia: within the inpatient limit, no position
  EXPECT_EQ(chronic_state(l, "2023-01-01")["limit"], "9200.00");
  auto x = l.chronic_claim("E", "H2", "2023-02-01", "X-CATARACT", "500.00");
  EXPECT_EQ(x["status"], "referred");
  EXPECT_EQ(reasons(x), std::vector<std::string>{"CHRONIC_EXISTING_POLICY"});
}

// CHR-LIM: malignant tumour 5000, or 15000 with variant castration.
TEST(ChrLim, CancerByVariant) {
  Ledger l;
  l.resident("R", 2);
  l.chronic_facility("R", "H2", "2022-12-01", {{"bucket", "specific"}});
  l.approve("R", "C01", "2022-12-10", {{"bucket", "specific"}, {"variant", "castration"}});
  EXPECT_EQ(l.person("R", "2023-03-01")["chronic"]["specific"]["limit"], "15000.00");
  Ledger m;
  m.employee("E");
  m.approve("E", "C01", "2022-12-10");
  EXPECT_EQ(m.person("E", "2023-03-01")["chronic"]["employee"]["limit"], "5000.00");
}

// CHR-PRORATE: a person joining mid-year: (months from the month of effect through December) / 12.
TEST(ChrProrate, MidYearJoinerForEveryMonth) {
  for (int month = 1; month <= 12; ++month) {
    Ledger l;
    l.employee("E");
    // Approved on the 1st, in effect on the 2nd of the month (CHR-REG: the day after).
    char at[16];
    std::snprintf(at, sizeof at, "2023-%02d-01", month);
    l.approve("E", "C31", at);  // 6000
    const int months = 12 - month + 1;
    Money expect = (yuan(6000) * months + 6) / 12;  // half up
    EXPECT_EQ(l.person("E", "2023-12-31")["chronic"]["employee"]["limit"], format_money(expect)) << "month " << month;
  }
  // Approved on 31 December: in effect on 1 January, a full year.
  Ledger l;
  l.employee("E");
  l.approve("E", "C31", "2022-12-31");
  EXPECT_EQ(l.person("E", "2023-06-30")["chronic"]["employee"]["limit"], "6000.00");
}

// CHR-PRORATE: a second disease added in October takes the next position for 3 months, in order of application.
TEST(ChrProrate, SecondDiseaseInOctober) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2022-12-10");  // 3000, in effect on 1 January: position 1
  l.approve("E", "C31", "2023-10-10", {{"applied", "2023-09-20"}});  // 6000, from October: position 2, 3 months
  EXPECT_EQ(chronic_state(l, "2023-09-30")["limit"], "3000.00");
  EXPECT_EQ(chronic_state(l, "2023-10-11")["limit"], "3750.00");  // 3000 + 6000 x 50% x 3/12
  // Next year both count from 1 January, by standard.
  EXPECT_EQ(chronic_state(l, "2024-01-01")["limit"], "7500.00");  // 6000 + 3000 x 50%
}

// CHR-DED: one deductible per bucket (900 for employees), shared by its diseases; CHR-RATIO: inpatient ratio.
TEST(ChrDed, SharedByTwoDiseases) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2022-12-10");
  l.approve("E", "C20", "2022-12-10");
  auto a = l.chronic_claim("E", "H2", "2023-02-01", "C17", "600.00");
  EXPECT_EQ(a["deductible"], "600.00");
  EXPECT_EQ(a["fund"], "0.00");
  auto b = l.chronic_claim("E", "H2", "2023-03-01", "C20", "1000.00");
  EXPECT_EQ(b["deductible"], "300.00");  // 900 - 600
  EXPECT_EQ(b["covered"], "700.00");
  EXPECT_EQ(b["ratio"], "0.9000");       // in-service inpatient ratio at level 2 (assumption, POLICY.md §5)
  EXPECT_EQ(b["fund"], "630.00");
  // CHR-SEP: the ordinary-outpatient deductible is untouched.
  EXPECT_EQ(l.person("E", "2023-03-01")["ordinary"]["deductible_paid"], "0.00");
}

// CHR-RATIO, F-TCM: resident ordinary chronic at 60%, at a TCM hospital 65%; its limit by tier, never pro-rated.
TEST(ChrRatio, ResidentOrdinaryAndTcm) {
  Ledger l;
  l.resident("R", 1);
  l.chronic_facility("R", "H2", "2022-12-01", {{"bucket", "ordinary"}});
  l.approve("R", "C17", "2023-06-10", {{"bucket", "ordinary"}});
  auto a =
      l.claim("R", "H2", "2023-07-01", items({item("drug", "300.00")}), {{"benefit", "chronic"}, {"disease", "C17"}});
  EXPECT_EQ(a["deductible"], "100.00");
  EXPECT_EQ(a["ratio"], "0.6000");
  EXPECT_EQ(a["fund"], "120.00");
  EXPECT_EQ(l.person("R", "2023-07-01")["chronic"]["ordinary"]["limit"], "500.00");  // tier 1, not pro-rated
  EXPECT_EQ(l.person("R", "2023-07-01")["inpatient_limit_used"], "0.00");          // CHR-INPT: not this bucket

  Ledger t;
  t.resident("R", 2);
  t.chronic_facility("R", "H2T", "2022-12-01", {{"bucket", "ordinary"}});
  t.approve("R", "C17", "2022-12-10", {{"bucket", "ordinary"}});
  auto b =
      t.claim("R", "H2T", "2023-07-01", items({item("drug", "300.00")}), {{"benefit", "chronic"}, {"disease", "C17"}});
  EXPECT_EQ(b["ratio"], "0.6500");
  EXPECT_EQ(b["fund"], "130.00");
  EXPECT_EQ(t.person("R", "2023-07-01")["chronic"]["ordinary"]["limit"], "1000.00");  // tier 2
}

// CHR-INPT: chronic spending counts into the inpatient limit and is covered only as far as it has room;
// inpatient_settled events feed the same counter.
TEST(ChrInpt, ChronicSpendingReducesTheInpatientRoom) {
  Ledger l = employee_with_facility();
  l.approve("E", "C12", "2022-12-10");  // BH4 deficiency 30000
  l.apply({{"type", "inpatient_settled"}, {"id", l.next_id()}, {"at", "2023-02-01"}, {"person", "E"},
           {"covered", "290000.00"}});
  auto a = l.chronic_claim("E", "H2", "2023-03-01", "C12", "20900.00");
  EXPECT_EQ(a["deductible"], "900.00");
  EXPECT_EQ(a["covered"], "10000.00");  // 20000 above the deductible, inpatient room 300000 - 290000
  EXPECT_EQ(reasons(a), std::vector<std::string>{"INPATIENT_LIMIT_REACHED"});
  EXPECT_EQ(l.person("E", "2023-03-01")["inpatient_limit_used"], "300000.00");
  EXPECT_EQ(l.person("E", "2023-02-28")["inpatient_limit_used"], "290000.00");
}

// CHR-REG, TIME-ASOF: a revocation dated on the registration's first day and logged after a claim settled under it
// leaves the claim's effects standing (CHR-DED 900.00 paid; 1500.00 - 900.00 = 600.00 used, x 90% = 540.00), and
// `person --as-of` shows them, with the limit the registration that never took effect gives (0.00); the bucket was
// left out, though the next claim met the deductible paid (found by the time-travel fuzzing of session 53).
TEST(ChrReg, ARevocationLoggedAfterAClaimLeavesItsBucketInThePersonsView) {
  Ledger l;
  l.employee("E", "1965-01-01");
  l.chronic_facility("E", "H2", "2023-03-01");
  l.approve("E", "C17", "2023-03-01");
  auto a = l.chronic_claim("E", "H2", "2023-03-05", "C17", "1500.00");
  ASSERT_EQ(a["status"], "settled");
  EXPECT_EQ(a["fund"], "540.00");
  l.apply({{"type", "chronic_disease_revoked"}, {"id", l.next_id()}, {"at", "2023-03-02"}, {"person", "E"},
           {"disease", "C17"}});
  const json e = chronic_state(l, "2023-12-31");
  EXPECT_EQ(e["deductible_paid"], "900.00") << e;
  EXPECT_EQ(e["limit_used"], "600.00") << e;
  EXPECT_EQ(e["fund_paid"], "540.00") << e;
  EXPECT_EQ(e["limit"], "0.00") << e;
  EXPECT_TRUE(chronic_state(l, "2023-03-04").is_null());  // before the claim: nothing recorded, never in effect
}

// CHR-EXCL: haemophilia is covered within the remaining inpatient limit, not the bucket limit.
TEST(ChrExcl, HaemophiliaWithinTheInpatientLimit) {
  Ledger l = employee_with_facility();
  l.approve("E", "C08", "2022-12-10");
  auto a = l.chronic_claim("E", "H2", "2023-03-01", "C08", "50900.00");
  EXPECT_EQ(a["status"], "settled");
  EXPECT_EQ(a["covered"], "50000.00");  // no bucket limit applies
  EXPECT_EQ(a["fund"], "45000.00");
  EXPECT_EQ(l.person("E", "2023-03-01")["inpatient_limit_used"], "50000.00");
  EXPECT_EQ(l.person("E", "2023-03-01")["chronic"]["employee"]["limit_used"], "0.00");
}

// CHR-FAC: a chronic claim at another facility is NOT_DESIGNATED; a specialised facility serves its diseases only;
// a change is accepted only when filed in December, from 1 January.
TEST(ChrFac, WrongFacilityAndDecemberFilings) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2022-12-10");
  l.approve("E", "C30", "2022-12-10");
  auto wrong = l.chronic_claim("E", "H3", "2023-02-01", "C17", "1000.00");
  EXPECT_EQ(reasons(wrong), std::vector<std::string>{"NOT_DESIGNATED"});
  EXPECT_TRUE(l.chronic_facility("E", "", "2023-02-01", {{"specialty_facility", "H3"}}).empty());  // first choice
  EXPECT_EQ(l.chronic_claim("E", "H3", "2023-02-02", "C30", "1000.00")["status"], "settled");  // mental: C30
  EXPECT_EQ(reasons(l.chronic_claim("E", "H3", "2023-02-03", "C17", "1000.00")),
            std::vector<std::string>{"NOT_DESIGNATED"});
  auto june = l.chronic_facility("E", "H3", "2023-06-15");
  ASSERT_EQ(june.size(), 1u);
  EXPECT_EQ(june[0]["reason"], "CHRONIC_FACILITY_LOCKED");
  EXPECT_TRUE(l.chronic_facility("E", "H3", "2023-12-05").empty());
  EXPECT_EQ(reasons(l.chronic_claim("E", "H3", "2023-12-31", "C17", "100.00")),
            std::vector<std::string>{"NOT_DESIGNATED"});
  EXPECT_EQ(l.chronic_claim("E", "H3", "2024-01-01", "C17", "100.00")["status"], "settled");
}

// CHR-FAC: the last December filing is the next year's choice, also when it keeps the facility in effect after
// another was filed that December (the chronic oracle of session 49: the second filing was a silent no-op, and the
// claim at the kept facility NOT_DESIGNATED, 2024-01-10: 1000.00 at H2, 900.00 deductible, fund 90.00 expected).
TEST(ChrFac, ADecemberFilingThatKeepsTheFacilityCancelsOneFiledBefore) {
  Ledger l = employee_with_facility();  // H2 the chronic facility from 2022-12-01
  l.approve("E", "C17", "2022-12-01");
  EXPECT_TRUE(l.chronic_facility("E", "H3", "2023-12-05").empty());  // H3 from 2024-01-01
  EXPECT_TRUE(l.chronic_facility("E", "H2", "2023-12-20").empty());  // H2 kept after all
  EXPECT_TRUE(l.chronic_facility("E", "H2", "2023-12-28").empty());  // the same again: nothing changes
  auto kept = l.chronic_claim("E", "H2", "2024-01-10", "C17", "1000.00");
  EXPECT_EQ(kept["status"], "settled");
  EXPECT_EQ(kept["deductible"], "900.00");
  EXPECT_EQ(kept["fund"], "90.00");  // (1000.00 - 900.00) x 90% (level 2, in service: CHR-RATIO)
  EXPECT_EQ(reasons(l.chronic_claim("E", "H3", "2024-01-11", "C17", "1000.00")),
            std::vector<std::string>{"NOT_DESIGNATED"});
  EXPECT_EQ(l.chronic_claim("E", "H2", "2023-12-29", "C17", "10.00")["status"], "settled");  // December: H2 still
}

// CHR-CHANGE: a December filing that a change of scheme comes between (after the filing, by 1 January) never takes
// effect: the change empties the slots, and the first choice made under the new scheme stands, however the filing
// was logged (the review of session 49: logged after the changes, the filing of H2 kept H2 over H1).
TEST(ChrFac, ADecemberFilingBeforeAChangeOfSchemeNeverTakesEffect) {
  for (bool late : {false, true}) {
    Ledger l = employee_with_facility();  // H2 the chronic facility from 2022-12-01
    l.approve("E", "C17", "2022-12-01");
    if (!late) {
      EXPECT_TRUE(l.chronic_facility("E", "H3", "2023-12-20").empty());
    }
    l.to_resident("E", "2023-12-22", 1);
    l.to_employee("E", "2023-12-26");
    l.approve("E", "C17", "2023-12-27");
    EXPECT_TRUE(l.chronic_facility("E", "T1", "2024-01-01").empty()) << late;  // the new scheme's first choice
    if (late) {
      EXPECT_TRUE(l.chronic_facility("E", "H2", "2023-12-20").empty());
    }
    EXPECT_EQ(l.chronic_claim("E", "T1", "2024-01-05", "C17", "100.00")["status"], "settled") << late;
    EXPECT_EQ(reasons(l.chronic_claim("E", late ? "H2" : "H3", "2024-01-06", "C17", "100.00")),
              std::vector<std::string>{"NOT_DESIGNATED"})
        << late;
  }
}

// CHR-REG, CHR-LIM: a disease revoked on 1 January was in effect on no day of that year: it has no part in its limit
// (it kept a full position: C04's 6000.00 at 100% and C17's 3000.00 at 50%, 7500.00, where C17 alone gives
// 3000.00). Revoked on 2 January, it keeps its part: C04 at 100% for the whole year, C17 at 50%.
TEST(ChrReg, ADiseaseRevokedOnTheFirstOfJanuaryHasNoPartInThatYear) {
  for (const char* revoked : {"2024-01-01", "2024-01-02"}) {
    Ledger l = employee_with_facility();
    l.approve("E", "C04", "2023-02-10");
    l.approve("E", "C17", "2023-02-10");
    l.apply({{"type", "chronic_disease_revoked"}, {"id", l.next_id()}, {"at", revoked}, {"person", "E"},
             {"disease", "C04"}});
    EXPECT_EQ(chronic_state(l, "2024-06-30")["limit"], std::string(revoked) == "2024-01-01" ? "3000.00" : "7500.00")
        << revoked;
  }
}

// CHR-REG, CHR-UNREG: effective the day after approval; revoked from the revocation date; unregistered rejected.
TEST(ChrReg, EffectiveTheDayAfterAndRevocation) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2023-03-14");
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-03-14", "C17", "100.00")),
            std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
  EXPECT_EQ(l.chronic_claim("E", "H2", "2023-03-15", "C17", "100.00")["status"], "settled");
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-03-15", "C20", "100.00")),
            std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
  l.apply({{"type", "chronic_disease_revoked"}, {"id", l.next_id()}, {"at", "2023-09-01"}, {"person", "E"},
           {"disease", "C17"}});
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-09-01", "C17", "100.00")),
            std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
  EXPECT_EQ(chronic_state(l, "2023-10-01")["limit"], "2500.00");  // the year keeps its part: 3000 x 10/12
  EXPECT_EQ(l.person("E", "2024-02-01")["chronic"].contains("employee"), true);
  EXPECT_EQ(chronic_state(l, "2024-02-01")["limit"], "0.00");  // later years do not count it
  // T-START: chronic benefits start 2023-01-01.
  Ledger m = employee_with_facility();
  m.approve("E", "C17", "2022-12-01");
  EXPECT_EQ(reasons(m.chronic_claim("E", "H2", "2022-12-31", "C17", "100.00")),
            std::vector<std::string>{"POLICY_NOT_IN_FORCE"});
}

// Resident buckets: one bucket per disease; haemophilia not in the ordinary bucket.
TEST(ChrReg, ResidentBuckets) {
  Ledger l;
  l.resident("R", 2);
  EXPECT_TRUE(l.approve("R", "C17", "2023-01-10", {{"bucket", "ordinary"}}).empty());
  EXPECT_EQ(l.approve("R", "C17", "2023-01-11", {{"bucket", "specific"}})[0]["reason"], "DISEASE_ALREADY_REGISTERED");
  EXPECT_EQ(l.approve("R", "C08", "2023-01-11", {{"bucket", "ordinary"}})[0]["reason"], "DISEASE_NOT_IN_BUCKET");
  EXPECT_EQ(l.approve("R", "C20", "2023-01-11")[0]["reason"], "DISEASE_NOT_IN_BUCKET");  // no bucket named
  EXPECT_TRUE(l.approve("R", "C17", "2023-02-01", {{"bucket", "ordinary"}}).empty());  // already registered: no change
}

// CHR-SUSP: a bucket whose year's eligible chronic cost stays below its deductible is suspended from 1 January.
TEST(ChrSusp, SuspendedAfterAYearBelowTheDeductible) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2022-12-10");
  l.employee("F");
  l.chronic_facility("F", "H2", "2022-12-01");
  l.approve("F", "C17", "2022-12-10");
  l.chronic_claim("E", "H2", "2023-05-01", "C17", "899.99");
  l.chronic_claim("F", "H2", "2023-05-01", "C17", "900.00");
  l.close("2023-01", "2023-12");
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2024-01-02", "C17", "100.00")),
            std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
  EXPECT_EQ(l.chronic_claim("F", "H2", "2024-01-02", "C17", "100.00")["status"], "settled");  // at the deductible
  l.approve("E", "C17", "2024-02-01");  // approved again: a new registration, pro-rated
  EXPECT_EQ(l.chronic_claim("E", "H2", "2024-02-02", "C17", "100.00")["status"], "settled");
  EXPECT_EQ(chronic_state(l, "2024-02-02")["limit"], "2750.00");  // 3000 x 11/12
}

// CHR-SUSP: "including those approved during the year" — on 31 December too (in effect from 1 January, it escaped the
// suspension: a 2024 claim for it was paid 990.00).
TEST(ChrSusp, ADiseaseApprovedOnTheYearsLastDayIsSuspendedWithItsBucket) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2022-12-10");
  l.chronic_claim("E", "H2", "2023-03-01", "C17", "800.00");  // below the deductible of 900
  l.approve("E", "C13", "2023-12-31");
  l.close("2023-01", "2023-12");
  for (const char* disease : {"C17", "C13"})
    EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2024-02-01", disease, "2000.00")),
              std::vector<std::string>{"DISEASE_NOT_REGISTERED"})
        << disease;
}

// CHR-CHANGE: a change of scheme ends registrations and empties the chronic facility slots.
TEST(ChrChange, SchemeChangeEndsRegistrations) {
  Ledger l = employee_with_facility();
  l.approve("E", "C17", "2022-12-10");
  l.to_resident("E", "2023-07-01");
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-07-02", "C17", "100.00")),
            std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
  l.approve("E", "C17", "2023-07-05", {{"bucket", "specific"}});
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-07-06", "C17", "100.00")),
            std::vector<std::string>{"NOT_DESIGNATED"});
  EXPECT_EQ(l.person("E", "2023-07-06")["chronic"]["specific"]["limit"], "1500.00");  // 3000 x 6/12
  // The person view shows the buckets of the scheme in force only: the employee bucket is gone (it showed a limit
  // computed for a resident), its disease still listed, ended by the change.
  const json view = l.person("E", "2023-07-06")["chronic"];
  EXPECT_FALSE(view.contains("employee")) << view.dump();
  ASSERT_EQ(view["diseases"].size(), 2u);
  EXPECT_EQ(view["diseases"][0]["bucket"], "employee");
  EXPECT_EQ(view["diseases"][0]["state"], "scheme_changed");
  EXPECT_EQ(l.person("E", "2023-06-30")["chronic"]["employee"]["limit"], "3000.00");
}

// CHR-CHANGE: after a change to the employee scheme and back, the resident's ordinary bucket, whose registration
// the first change ended, is not shown (it was: limit 1000.00 from a registration marked scheme_changed; the
// statement showed none).
TEST(ChrChange, APersonViewShowsNoBucketEndedBeforeItsPeriod) {
  Ledger l;
  l.resident("R", 2);
  l.approve("R", "C17", "2023-02-01", {{"bucket", "ordinary"}});
  EXPECT_EQ(l.person("R", "2023-03-01")["chronic"]["ordinary"]["limit"], "1000.00");
  l.to_employee("R", "2023-04-01");
  l.to_resident("R", "2023-07-01");
  const json view = l.person("R", "2023-08-01")["chronic"];
  EXPECT_FALSE(view.contains("ordinary")) << view.dump();
  EXPECT_FALSE(view.contains("employee")) << view.dump();
  EXPECT_EQ(view["diseases"][0]["state"], "scheme_changed");
  l.approve("R", "C17", "2023-08-10", {{"bucket", "ordinary"}});
  l.apply({{"type", "chronic_disease_revoked"}, {"id", l.next_id()}, {"at", "2023-10-01"}, {"person", "R"},
           {"disease", "C17"}});
  EXPECT_EQ(l.person("R", "2023-12-31")["chronic"]["ordinary"]["limit"], "1000.00");  // in effect this year
  // Nor a bucket whose only registration never took effect (revoked on its approval day, CHR-REG), as the statement.
  Ledger n;
  n.resident("N", 2);
  n.approve("N", "C17", "2023-02-01", {{"bucket", "ordinary"}});
  n.apply({{"type", "chronic_disease_revoked"}, {"id", n.next_id()}, {"at", "2023-02-01"}, {"person", "N"},
           {"disease", "C17"}});
  EXPECT_FALSE(n.person("N", "2023-06-01")["chronic"].contains("ordinary"));
  // Revoked in an earlier year of the same scheme period, the bucket stays (as ChrReg.EffectiveTheDayAfterAndRevocation
  // shows an employee's, its limit 0.00).
  EXPECT_TRUE(l.person("R", "2024-03-01")["chronic"].contains("ordinary"));
}

// CHR-CHANGE, TIME-DATED: an approval and a chronic facility choice dated before a change of scheme but logged after
// it end at the change, as they do logged before it: the same events give the same answer in either order. (Logged
// after, they once stayed in force: resident R, employee from 2023-06-01, was paid 1581.00 for a resident's
// specific-bucket claim on 2023-07-01.) R returns to the resident scheme on 2023-09-01 and is approved again: the
// facility chosen before the first change ended with it.
TEST(ChrChange, AnApprovalAndAFacilityChoiceLoggedAfterAnEarlierDatedChangeEndThere) {
  for (const bool late : {false, true}) {
    SCOPED_TRACE(late ? "approval logged after the changes" : "approval logged before the changes");
    Ledger l;
    l.resident("R", 2);
    auto changes = [&] {
      l.to_employee("R", "2023-06-01", "in_service");
      l.to_resident("R", "2023-09-01");
    };
    if (late) changes();
    l.approve("R", "C17", "2023-03-01", {{"bucket", "specific"}});
    l.chronic_facility("R", "T1", "2023-03-01", {{"bucket", "specific"}});
    if (!late) changes();
    l.approve("R", "C17", "2023-09-05", {{"bucket", "specific"}});
    EXPECT_EQ(l.person("R", "2023-05-31")["chronic"]["diseases"][0]["state"], "in_effect");
    EXPECT_EQ(l.person("R", "2023-06-01")["chronic"]["diseases"][0]["state"], "scheme_changed");
    EXPECT_EQ(l.chronic_claim("R", "T1", "2023-05-31", "C17", "100.00")["status"], "settled");
    EXPECT_EQ(reasons(l.chronic_claim("R", "T1", "2023-07-01", "C17", "2000.00")),
              std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
    EXPECT_EQ(reasons(l.chronic_claim("R", "T1", "2023-09-10", "C17", "100.00")),
              std::vector<std::string>{"NOT_DESIGNATED"});
  }
}

// CHR-CHANGE: an approval dated before a change of scheme and logged after the same disease's approval in the new
// scheme is a registration of its own, in force until the change (it was refused DISEASE_ALREADY_REGISTERED).
TEST(ChrChange, ALateApprovalIsNotRefusedByTheSameDiseasesApprovalAfterTheChange) {
  for (const bool late : {false, true}) {
    SCOPED_TRACE(late ? "the earlier approval logged last" : "in date order");
    Ledger l = employee_with_facility();
    if (!late) {
      EXPECT_TRUE(l.approve("E", "C17", "2023-03-01").empty());
    }
    l.to_resident("E", "2023-06-01");
    EXPECT_TRUE(l.approve("E", "C17", "2023-09-05", {{"bucket", "specific"}}).empty());
    if (late) {
      EXPECT_TRUE(l.approve("E", "C17", "2023-03-01").empty());
    }
    EXPECT_EQ(l.person("E", "2023-04-01")["chronic"]["diseases"].size(), 1u);
    EXPECT_EQ(l.person("E", "2023-04-01")["chronic"]["diseases"][0]["state"], "in_effect");
    EXPECT_EQ(l.chronic_claim("E", "H2", "2023-04-01", "C17", "100.00")["status"], "settled");
  }
}

// CHR-UNREG, TIME-DATED: a revocation ends the registration in force on its date, whatever the log order: one ended
// later by a change of scheme (a late approval) is still revoked, and one approved after the revocation's date is
// not it. (The first was refused, the claim in between settled; the second ended the resident's new registration.)
TEST(ChrChange, ARevocationEndsTheRegistrationInForceOnItsDateWhateverTheOrder) {
  auto resident_from = [](Ledger& l, const std::string& at) {
    l.to_resident("E", at);
  };
  auto state_on = [](Ledger& l, const std::string& day, size_t i) {
    return l.person("E", day)["chronic"]["diseases"][i]["state"];
  };
  for (const bool change_first : {false, true}) {
    SCOPED_TRACE(change_first ? "change logged first" : "in date order");
    Ledger l = employee_with_facility();
    if (change_first) resident_from(l, "2023-06-01");
    l.approve("E", "C17", "2023-02-01");
    EXPECT_TRUE(l.apply({{"type", "chronic_disease_revoked"}, {"id", l.next_id()}, {"at", "2023-04-01"},
                         {"person", "E"}, {"disease", "C17"}})
                    .empty());
    if (!change_first) resident_from(l, "2023-06-01");
    EXPECT_EQ(state_on(l, "2023-05-01", 0), "revoked");
    EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-05-01", "C17", "100.00")),
              std::vector<std::string>{"DISEASE_NOT_REGISTERED"});
  }
  for (const bool revocation_last : {false, true}) {
    SCOPED_TRACE(revocation_last ? "revocation logged last" : "in date order");
    Ledger l = employee_with_facility();
    l.approve("E", "C17", "2022-12-10");
    auto revoke = [&] {
      l.apply({{"type", "chronic_disease_revoked"}, {"id", l.next_id()}, {"at", "2023-03-01"}, {"person", "E"},
               {"disease", "C17"}});
    };
    if (!revocation_last) revoke();
    resident_from(l, "2023-06-01");
    l.approve("E", "C17", "2023-07-01", {{"bucket", "specific"}});
    if (revocation_last) revoke();
    EXPECT_EQ(state_on(l, "2023-08-01", 0), "revoked");
    EXPECT_EQ(state_on(l, "2023-08-01", 1), "in_effect");  // the resident's registration
  }
}

// CHR-CHANGE: a change of scheme logged after a later one (back-dated) ends the registrations of its own period
// only: C17, approved under the employee scheme after the second change, stays in effect.
TEST(ChrChange, ABackDatedChangeLeavesTheRegistrationsOfALaterPeriod) {
  for (const bool back_dated : {false, true}) {
    SCOPED_TRACE(back_dated ? "the first change logged last" : "in date order");
    Ledger l = employee_with_facility();
    auto to_resident = [&] {
      l.to_resident("E", "2023-03-01");
    };
    if (!back_dated) to_resident();
    l.to_employee("E", "2023-06-01", "retired");
    l.approve("E", "C17", "2023-07-01");
    if (back_dated) to_resident();
    EXPECT_EQ(l.person("E", "2023-08-01")["chronic"]["diseases"][0]["state"], "in_effect");
  }
}

// CHR-CHANGE: a change of scheme logged after approvals dated after it (back-dated) leaves those made under the new
// scheme: C17, approved in the resident's specific bucket after a later change to the resident scheme (a change of
// tier, once the back-dated one is known), stays (it ended: DISEASE_NOT_REGISTERED).
TEST(ChrChange, ABackDatedChangeLeavesTheApprovalsMadeUnderItsNewScheme) {
  for (const bool back_dated : {false, true}) {
    SCOPED_TRACE(back_dated ? "the first change logged last" : "in date order");
    Ledger l;
    l.employee("E");
    auto to_resident = [&](const std::string& at) {
      l.to_resident("E", at);
    };
    if (!back_dated) to_resident("2024-03-01");
    to_resident("2024-06-01");
    l.chronic_facility("E", "H2", "2024-06-05", {{"bucket", "specific"}});
    l.approve("E", "C17", "2024-07-01", {{"bucket", "specific"}});
    if (back_dated) to_resident("2024-03-01");
    EXPECT_EQ(l.chronic_claim("E", "H2", "2024-09-01", "C17", "2000.00")["status"], "settled");
  }
}

// CHR-ART17: the switch refers the Art.17 diseases once the current policy is encoded.
TEST(ChrArt17, SwitchRefers) {
  std::string text = default_policy_text();
  text.replace(text.find("{refer: false"), 13, "{refer: true");
  Policy pol = load_policy_text(text, "art17-on");
  Ledger l(pol);
  l.employee("E");
  l.chronic_facility("E", "H2", "2022-12-01");
  l.approve("E", "C17", "2022-12-10");
  l.approve("E", "C13", "2022-12-10");
  EXPECT_EQ(reasons(l.chronic_claim("E", "H2", "2023-02-01", "C17", "1000.00")),
            std::vector<std::string>{"CHRONIC_EXISTING_POLICY"});
  EXPECT_EQ(l.chronic_claim("E", "H2", "2023-02-01", "C13", "1000.00")["status"], "settled");
}

// CHR-LIM, checked arithmetic: standards whose weighted sum leaves int64 (the loader bounds a policy's amounts, so
// only Params made in process reach it) are MoneyOverflow, the fold's dead letter, never a limit wrapped negative
// that paid 0. 1.5 x (3/4 of INT64_MAX) leaves it; 1 x (3/4 of INT64_MAX), the disease alone, does not.
TEST(ChrLim, ALimitPastInt64IsAnOverflowNeverAWrappedLimit) {
  Params params = default_policy().at(*parse_date("2023-01-01"));
  const Money huge = INT64_MAX / 4 * 3;
  params.chronic_standards.at("C13").standard = huge;
  params.chronic_standards.at("C20").standard = huge;
  PersonState p;
  const Date from = *parse_date("2022-07-01");
  p.registrations.push_back({"C13", Bucket::chronic_employee, std::nullopt, from, from, from, kNever, std::nullopt});
  const Standing st{from, Scheme::employee, EmployeeStatus::in_service};
  const Date on = *parse_date("2023-06-01");
  EXPECT_EQ(chronic_limit(p, st, Bucket::chronic_employee, on, params), huge);
  p.registrations.push_back({"C20", Bucket::chronic_employee, std::nullopt, from, from, from, kNever, std::nullopt});
  EXPECT_THROW(chronic_limit(p, st, Bucket::chronic_employee, on, params), MoneyOverflow);
}

}  // namespace
}  // namespace gongji::test
