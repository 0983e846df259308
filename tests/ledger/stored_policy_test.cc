// Issue 9 item 8: a policy text an older gongji stored (v/<version>) still loads where a stored text is read, each
// parameter issue 9 added taking the value hard-coded before (ledger/policy.h PolicyText::stored), while the same
// text given as a user's --policy file is refused. Re-derivation decodes under the policy in use (Policy::codes()),
// as a fold under it does. `statement` lists every output record naming the person (the i/ and r/ indexes), the ACC-RET
// credits of period_closed included.
#include "replay/explain.h"
#include "replay/reconstruct.h"
#include "replay/statement.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;

const std::string kOldPolicy = std::string(GONGJI_SOURCE_DIR) + "/tests/data/policy-before-issue9.yaml";

std::string policy_error(const std::string& text, PolicyText how) {
  try {
    load_policy_text(text, "old.yaml", how);
  } catch (const PolicyError& e) {
    return e.what();
  }
  return "";
}

// Given as a user's file (the default, PolicyText::given) the old text is refused, naming the first parameter it
// lacks; `fold --policy` and `policy --policy` refuse it on the command line the same way.
TEST(StoredPolicy, OldTextAsUserPolicyFileIsRefusedNamingTheMissingParameter) {
  const std::string old_text = read_file(kOldPolicy);
  ASSERT_GT(old_text.size(), 1000u);
  EXPECT_EQ(policy_error(old_text, PolicyText::given), "old.yaml: missing parameter 'account.crediting_months'");
  TempDir d;
  std::ofstream(d / "events.jsonl") << R"({"type":"period_closed","id":"pc","at":"2023-02-01","month":"2023-01"})"
                                    << "\n";
  ASSERT_EQ(run(gongji("ingest --data-dir " + d / "data" + " " + d / "events.jsonl" + " >/dev/null")), 0);
  std::string out;
  EXPECT_NE(run(gongji("fold --data-dir " + d / "data" + " --policy " + kOldPolicy + " 2>&1"), &out), 0);
  EXPECT_NE(out.find(kOldPolicy + ": missing parameter 'account.crediting_months'"), std::string::npos) << out;
  EXPECT_NE(run(gongji("policy --policy " + kOldPolicy + " 2>&1"), &out), 0);
  EXPECT_NE(out.find("missing parameter 'account.crediting_months'"), std::string::npos) << out;
}

// Stored, it loads: the 11 parameters issue 9 added take the values the code hard-coded before (the age bands 46
// and 70, the old-urban cut-off 2024-01-01, the crediting months 2022-07..2027-06 of Art.40, 3 diseases, CHR-SUSP
// from 2023, the EVENTS.md code lists), and are listed as defaulted. A parameter older than issue 9 is still
// required, and an unknown one still refused.
TEST(StoredPolicy, OldTextStoredTakesTheValuesBeforeIssue9) {
  const std::string old_text = read_file(kOldPolicy);
  Policy old = load_policy_text(old_text, "old.yaml", PolicyText::stored);
  std::vector<std::string> names;
  for (const Defaulted& x : old.defaulted()) names.push_back(x.parameter + "=" + x.value);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "account.crediting_months={from: 2022-07, to: 2027-06}", "account.flexible_rate.age_from=46",
                       "account.in_service.age_from=46", "account.retiree.age_from=70",
                       "account.retiree.old_urban_confirmed_from=2024-01-01", "chronic.limit.max_diseases=3",
                       "chronic.suspension.first_year=2023", "codes.diagnosis=the EVENTS.md list (25 codes)",
                       "codes.disease=the EVENTS.md list (88 codes)",
                       "codes.item_category=the EVENTS.md list (10 codes)",
                       "codes.therapy=the EVENTS.md list (23 codes)"}));
  EXPECT_EQ(old.info().at("account.retiree.age_from").rule, "ACC-RET");
  for (const char* day : {"2022-07-01", "2023-06-30", "2024-01-01", "2027-06-30"}) {
    const Params& p = old.at(*parse_date(day));
    EXPECT_EQ(p.account_age_from, 46) << day;
    EXPECT_EQ(p.flex_age_from, 46) << day;
    EXPECT_EQ(p.retiree_age_from, 70) << day;
    EXPECT_EQ(p.old_urban_confirmed_from, *parse_date("2024-01-01")) << day;
    EXPECT_EQ(p.credit_from, make_month(2022, 7)) << day;
    EXPECT_EQ(p.credit_to, make_month(2027, 6)) << day;
    EXPECT_EQ(p.chronic_max_diseases, 3) << day;
    EXPECT_EQ(p.suspension_first_year, 2023) << day;
  }
  EXPECT_TRUE(old.codes() == events_md_codes());
  EXPECT_NE(old.version(), default_policy().version());  // the hash of the old text's bytes, as the store holds it
  EXPECT_TRUE(default_policy().defaulted().empty());
  // Only the parameters issue 9 added may be missing.
  std::string no_minor = old_text;
  const std::string minor = "  minor.age_below:";
  ASSERT_NE(no_minor.find(minor), std::string::npos);
  no_minor.replace(no_minor.find(minor), minor.size(), "  minor.age_below_renamed:");
  EXPECT_EQ(policy_error(no_minor, PolicyText::stored), "old.yaml: unknown parameter 'minor.age_below_renamed'");
}

std::vector<json> without_version(const Store& s) {
  std::vector<json> out;
  s.outputs([&](const json& r) {
    json c = r;
    c.erase("policy_version");
    out.push_back(c);
    return true;
  });
  return out;
}

// The old text read as stored settles a generated population exactly as the built-in policy does (issue 9 made
// values parameters without changing them): every output record equal but for the policy version.
TEST(StoredPolicy, DefaultedOldTextSettlesLikeTheBuiltInPolicy) {
  TempDir d;
  auto log = open_segment_log(d / "log", 4);
  ingest_lines(*log, generated(150, 11));
  Policy old = load_policy_text(read_file(kOldPolicy), "old.yaml", PolicyText::stored);
  EXPECT_EQ(old.passed_over(), std::vector<std::string>{});  // every key it holds is read
  Store a(d / "old"), b(d / "builtin");
  FoldStats sa = a.fold(*log, old), sb = b.fold(*log, default_policy());
  EXPECT_EQ(sa.dead_letters, sb.dead_letters);
  std::vector<json> oa = without_version(a), ob = without_version(b);
  ASSERT_GT(oa.size(), 500u);
  size_t settlements = 0;
  for (const json& r : oa) settlements += r.value("kind", "") == "settlement";
  EXPECT_GT(settlements, 100u);
  ASSERT_EQ(oa.size(), ob.size());
  for (size_t i = 0; i < oa.size(); ++i) ASSERT_EQ(oa[i], ob[i]) << "output " << i;
}

const std::string kChronicLog =
    R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"H2","level":2,"kind":"hospital",)"
    R"("ordinary_outpatient":true})" "\n"
    R"({"type":"facility_registered","id":"t","at":"2022-01-01","facility":"T1","level":1,)"
    R"("kind":"township_health_center","ordinary_outpatient":true})" "\n"
    R"({"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01",)"
    R"("scheme":"employee","status":"in_service"})" "\n"
    R"({"type":"chronic_facility_designated","id":"cf","at":"2022-12-15","person":"P","facility":"H2"})" "\n"
    R"({"type":"chronic_disease_approved","id":"a","at":"2023-01-10","person":"P","disease":"C05"})" "\n"
    R"({"type":"claim","id":"c","claim":"K1","person":"P","facility":"H2","date":"2023-02-01","benefit":"chronic",)"
    R"("disease":"C05","items":[{"category":"drug","amount":"100.00"}]})" "\n"
    R"({"type":"claim","id":"o","claim":"K2","person":"P","facility":"T1","date":"2023-03-01","benefit":"ordinary",)"
    R"("items":[{"category":"drug","amount":"400.00"}]})" "\n";

// Issue 9 item 5: the built-in policy with C05 taken out of codes.disease (and its Annex 2 row).
Policy without_c05() {
  std::string text = default_policy_text();
  for (auto [from, to] : {std::pair<std::string, std::string>{"C04, C05, C06,", "C04, C06,"},
                          {"          C05: {standard: \"6000.00\", name: \"系统性红斑狼疮（SLE）\"}\n", ""}}) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return load_policy_text(text, "no-C05");
}

// A store folded under the built-in policy, re-derived under a narrower one (what-if `explain --policy`, `person
// --known-at --policy`): the events that policy's code lists refuse are exactly those a fold under it dead-letters
// (offsets 4 and 5, the C05 approval and claim), the refused claim re-derives to that dead letter, and the next
// claim to the fold's settlement.
TEST(ReplayPolicyCodes, RederivationUnderANarrowerPolicyRefusesWhatItsFoldWould) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, kChronicLog);
  Policy narrow = without_c05();
  Store live(d / "live"), other(d / "narrow");
  EXPECT_EQ(live.fold(*log, default_policy()).dead_letters, 0u);
  EXPECT_EQ(other.fold(*log, narrow).dead_letters, 2u);
  std::map<uint64_t, std::string> folded_dead;
  other.outputs([&](const json& r) {
    if (r["kind"] == "dead_letter") folded_dead[r["offset"].get<uint64_t>()] = r["reason"];
    return true;
  });
  const std::string reason = "field 'disease': unknown code \"C05\"";
  EXPECT_EQ(folded_dead, (std::map<uint64_t, std::string>{{4, reason}, {5, reason}}));

  Reconstruction r = reconstruct_person(live, *log, "P", narrow);
  EXPECT_EQ(r.dead_letters, folded_dead);
  EXPECT_EQ(r.offsets, (std::vector<uint64_t>{0, 1, 2, 3, 6}));
  EXPECT_TRUE(reconstruct_person(live, *log, "P", default_policy()).dead_letters.empty());

  Rederivation k1 = rederive_claim(live, *log, "P", "K1", &narrow);
  EXPECT_EQ(k1.recomputed.kind, "dead_letter");
  ASSERT_TRUE(k1.recomputed.record);
  const DeadLetter& k1_dead = std::get<DeadLetter>(*k1.recomputed.record);
  EXPECT_EQ(k1_dead.reason, reason);
  EXPECT_EQ(k1_dead.offset, 5u);
  EXPECT_EQ(k1_dead.claim, "K1");
  EXPECT_FALSE(k1.equal);
  EXPECT_EQ(k1.first_difference, "kind");
  const Rederivation own = rederive_claim(live, *log, "P", "K1");  // its own policy: settled
  EXPECT_EQ(own.recomputed.settlement->status, ClaimStatus::settled);

  Rederivation k2 = rederive_claim(live, *log, "P", "K2", &narrow);
  auto folded_k2 = other.settlement("P", "K2");
  ASSERT_TRUE(folded_k2);
  EXPECT_EQ(k2.recomputed.line(), folded_k2->record.line());
  EXPECT_EQ(k2.recomputed.settlement->fund, 7000);  // 400.00 - 300.00 deductible, 70% (ORD-DED, ORD-RATIO, level 1)
}

// A retiree's ACC-RET credits come from period_closed, a shared event: the statement lists them (the r/ index),
// with the year's totals. Expected values by hand from POLICY.md ACC-RET: from 2024-01, 2% of the 3000.00 pension
// base = 60.00 a month under 70 on the month's first day, 2.5% = 75.00 from 70 (born 1954-03-15: 69 on 2024-03-01,
// 70 on 2024-04-01); the 2023-12 close credits nothing (no retiree crediting before 2024). A 50.00 account payment
// on 2024-04-10 is the person's own event.
TEST(Statement, RetireeMonthlyCreditsAreListedWithTheirAmounts) {
  TempDir d;
  std::ofstream(d / "events.jsonl")
      << R"({"type":"person_enrolled","id":"r1","at":"2022-01-01","person":"R1","birth_date":"1954-03-15",)"
         R"("scheme":"employee","status":"retired"})" "\n"
         R"({"type":"period_closed","id":"pc0","at":"2024-01-01","month":"2023-12"})" "\n"
         R"({"type":"period_closed","id":"pc1","at":"2024-02-01","month":"2024-01"})" "\n"
         R"({"type":"period_closed","id":"pc2","at":"2024-03-01","month":"2024-02"})" "\n"
         R"({"type":"period_closed","id":"pc3","at":"2024-04-01","month":"2024-03"})" "\n"
         R"({"type":"account_payment","id":"ap","at":"2024-04-10","person":"R1","beneficiary":"R1",)"
         R"("purpose":"medical_out_of_pocket","amount":"50.00"})" "\n"
         R"({"type":"period_closed","id":"pc4","at":"2024-05-01","month":"2024-04"})" "\n";
  const std::string data = " --data-dir " + d / "data";
  ASSERT_EQ(run(gongji("ingest" + data + " --partitions 4 " + d / "events.jsonl" + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold" + data + " >/dev/null")), 0);
  std::string out;
  ASSERT_EQ(run(gongji("statement" + data + " --person R1 --year 2024 --format json"), &out), 0);
  json s = json::parse(out);
  std::vector<std::string> rows;
  for (const json& e : s["entries"])
    rows.push_back(e["date"].get<std::string>() + " " + e["kind"].get<std::string>() + " " + e.value("month", "-") +
                   " " + e["amount"].get<std::string>() + " " + e["balance"].get<std::string>());
  EXPECT_EQ(rows, (std::vector<std::string>{"2024-02-01 account_credit 2024-01 60.00 60.00",
                                            "2024-03-01 account_credit 2024-02 60.00 120.00",
                                            "2024-04-01 account_credit 2024-03 60.00 180.00",
                                            "2024-04-10 account_debit - 50.00 130.00",
                                            "2024-05-01 account_credit 2024-04 75.00 205.00"}));
  EXPECT_EQ(s["totals"]["account_credits"], "255.00");
  EXPECT_EQ(s["totals"]["account_debits"], "50.00");
  EXPECT_EQ(s["totals"]["fund_paid"], "0.00");
  EXPECT_EQ(s["totals"]["year_end"]["account"]["balance"], "205.00");
  // The text form lists the credits too.
  ASSERT_EQ(run(gongji("statement" + data + " --person R1 --year 2024"), &out), 0);
  EXPECT_NE(out.find("account credits 255.00, debits 50.00"), std::string::npos) << out;
  EXPECT_NE(out.find("2024-05-01  account_credit"), std::string::npos) << out;
}

}  // namespace
}  // namespace gongji::test
