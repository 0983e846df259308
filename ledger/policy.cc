#include "ledger/policy.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <string_view>
#include <tuple>

#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include "events/event.h"

namespace gongji {

std::optional<Rate> parse_rate(std::string_view s) {
  size_t i = 0;
  int64_t whole = 0, frac = 0;
  size_t nd = 0, fd = 0;
  // Digits are counted before the arithmetic, so a long run of digits never overflows (a fuzz finding).
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (++nd > 3) return std::nullopt;
    whole = whole * 10 + (s[i++] - '0');
  }
  if (nd == 0) return std::nullopt;
  if (i < s.size()) {
    if (s[i++] != '.') return std::nullopt;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (++fd > 4) return std::nullopt;
      frac = frac * 10 + (s[i++] - '0');
    }
    if (fd == 0 || i != s.size()) return std::nullopt;
  }
  for (; fd < 4; ++fd) frac *= 10;
  return static_cast<Rate>(whole * 10000 + frac);
}

namespace {

using Setter = std::function<void(Params&, const YAML::Node&)>;

[[noreturn]] void bad(const std::string& what) { throw PolicyError(what); }

// A value refused, with the line of the file it is on (1-based; 0 when the node has none: a missing key, or an
// empty value, whose mark yaml-cpp puts at a neighbouring token).
// compile_on puts the file and line in front of the message.
struct ValueError : PolicyError {
  ValueError(const std::string& what, int line) : PolicyError(what), line(line) {}
  int line;
};
int line_of(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return 0;
  const YAML::Mark at = n.Mark();
  return at.is_null() ? 0 : at.line + 1;
}
[[noreturn]] void bad_at(const YAML::Node& n, const std::string& what) { throw ValueError(what, line_of(n)); }
// A table parameter's value: a map of code -> row. Anything else is refused (a scalar or a list would read as an
// empty table, switching the rule off).
const YAML::Node& table(const YAML::Node& v, const char* name) {
  if (!v.IsMap()) bad_at(v, std::string(name) + ": expected a table (code: row, one a line)");
  return v;
}
// Reads one row of a table (its key `row`): a refusal without a line of its own (a key missing from the row) names
// the row's line, not the table's first.
template <typename F>
void in_row(const YAML::Node& row, F&& read) {
  try {
    read();
  } catch (const ValueError& e) {
    if (e.line) throw;
    throw ValueError(e.what(), line_of(row));
  }
}

std::string str(const YAML::Node& n, const std::string& ctx) {
  if (n && n.IsMap()) bad_at(n, ctx + ": expected one value, got a map");
  if (n && n.IsSequence()) bad_at(n, ctx + ": expected one value, got a list");
  if (!n || !n.IsScalar()) bad_at(n, ctx + ": expected a value");
  return n.Scalar();
}
// Issue 8 item 7: impossible values are refused naming the parameter (ctx) and the value. An amount is at most
// kMaxPolicyAmount, so that no sum the fold makes of them can leave int64 (three chronic standards at their weights,
// a retiree's monthly credits over the window: a policy's 7e16 yuan standard made a limit of -7.9e16 that paid 0, and
// audit said the books hold).
constexpr Money kMaxPolicyAmount = yuan(100'000'000);
Money money(const YAML::Node& n, const std::string& ctx) {
  if (str(n, ctx).starts_with("-")) bad_at(n, ctx + ": negative amount '" + n.Scalar() + "'");
  auto m = parse_yuan(str(n, ctx));
  if (!m) bad_at(n, ctx + ": expected an amount in yuan, got '" + n.Scalar() + "'");
  if (*m > kMaxPolicyAmount)
    bad_at(n, ctx + ": amount '" + n.Scalar() + "' is over " + format_money(kMaxPolicyAmount) + " yuan");
  return *m;
}
// Every rate of the policy (ratios, shares, weights, incentive points) is a fraction in [0, 1].
Rate rate(const YAML::Node& n, const std::string& ctx) {
  const std::string& text = str(n, ctx);
  if (text.starts_with("-")) bad_at(n, ctx + ": rate '" + text + "' is outside [0, 1]");
  auto r = parse_rate(text);
  if (!r) bad_at(n, ctx + ": expected a decimal ratio with at most 4 decimals, got '" + n.Scalar() + "'");
  if (*r > 10000) bad_at(n, ctx + ": rate '" + text + "' is outside [0, 1]");
  return *r;
}
// Every integer of the policy is an age, a count or a number of days: never negative.
int integer(const YAML::Node& n, const std::string& ctx) {
  int v = 0;
  try {
    v = n.as<int>();
  } catch (const YAML::Exception&) {
    bad_at(n, ctx + ": expected an integer");
  }
  if (v < 0) bad_at(n, ctx + ": negative count '" + n.Scalar() + "'");
  return v;
}
// An age in completed years (P-MINOR, ORD-PED, the account age bands): 0..150.
int age(const YAML::Node& n, const std::string& ctx) {
  int v = integer(n, ctx);
  if (v > 150) bad_at(n, ctx + ": age " + std::to_string(v) + " is outside 0..150");
  return v;
}
// The policy's own list for `list` ("disease", "therapy", "diagnosis", "category").
const CodeLists::Set* own_list(const Params& p, std::string_view list) {
  if (list == "disease") return &p.codes.disease;
  if (list == "therapy") return &p.codes.therapy;
  if (list == "diagnosis") return &p.codes.diagnosis;
  if (list == "category") return &p.codes.category;
  return nullptr;
}
// A code the policy names must be one its `codes.*` list holds (`list`: "disease", "therapy", "diagnosis"). The code
// lists themselves are read first (load_policy_text).
std::string code(const Params& p, const YAML::Node& n, const char* list, const std::string& ctx) {
  std::string value = str(n, ctx);
  const CodeLists::Set* own = own_list(p, list);
  if (!own || !own->count(value)) bad_at(n, ctx + ": unknown " + list + " code '" + value + "'");
  return value;
}
// A `codes.*` list: not empty, each code one EVENTS.md defines for the field (a policy narrows, never extends, the
// contract's vocabulary).
CodeLists::Set code_list(const YAML::Node& n, const std::string& ctx, const char* list) {
  if (!n.IsSequence() || n.size() == 0) bad_at(n, ctx + ": expected a non-empty list of codes");
  CodeLists::Set s;
  for (const auto& x : n) {
    const std::string& c = str(x, ctx);
    if (!is_known_code(list, c))
      bad_at(x, ctx + ": unknown " + std::string(list) + " code '" + c + "' (not in EVENTS.md)");
    s.insert(c);
  }
  return s;
}
bool boolean(const YAML::Node& n, const std::string& ctx) {
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    bad_at(n, ctx + ": expected true or false");
  }
}
template <typename T, typename F>
std::array<T, 3> three(const YAML::Node& n, const std::string& ctx, F f) {
  if (!n.IsSequence() || n.size() != 3) bad_at(n, ctx + ": expected 3 values (levels 1, 2, 3)");
  return {f(n[0], ctx + "[0]"), f(n[1], ctx + "[1]"), f(n[2], ctx + "[2]")};
}
std::set<std::string, std::less<>> names(const Params& p, const YAML::Node& n, const std::string& ctx,
                                         const char* list) {
  if (!n.IsSequence()) bad_at(n, ctx + ": expected a list");
  std::set<std::string, std::less<>> s;
  for (const auto& x : n) s.insert(code(p, x, list, ctx));
  return s;
}
// A list of account purposes (ACC-USE), each one EVENTS.md defines.
std::set<Purpose> purposes(const YAML::Node& n, const std::string& ctx) {
  if (!n.IsSequence()) bad_at(n, ctx + ": expected a list");
  std::set<Purpose> s;
  for (const auto& x : n) {
    const std::string& v = str(x, ctx);
    auto c = code_from<Purpose>(v);
    if (!c) bad_at(x, ctx + ": unknown purpose code '" + v + "'");
    s.insert(*c);
  }
  return s;
}
Month yaml_month(const YAML::Node& n, const std::string& ctx) {
  auto m = n && n.IsScalar() ? parse_month(n.Scalar()) : std::nullopt;
  if (!m) bad_at(n, ctx + ": expected a month YYYY-MM");
  return *m;
}
Date yaml_date(const YAML::Node& n, const std::string& ctx) {
  auto d = n && n.IsScalar() ? parse_date(n.Scalar()) : std::nullopt;
  if (!d) bad_at(n, ctx + ": expected a date YYYY-MM-DD");
  return *d;
}

// The code lists (EVENTS.md) and the ordinary outpatient benefit.
std::vector<std::pair<std::string, Setter>> code_and_ordinary_setters() {
  return {
    {"codes.disease",
     [](Params& p, const YAML::Node& v) { p.codes.disease = code_list(v, "codes.disease", "disease"); }},
    {"codes.therapy",
     [](Params& p, const YAML::Node& v) { p.codes.therapy = code_list(v, "codes.therapy", "therapy"); }},
    {"codes.diagnosis",
     [](Params& p, const YAML::Node& v) { p.codes.diagnosis = code_list(v, "codes.diagnosis", "diagnosis"); }},
    {"codes.item_category",
     [](Params& p, const YAML::Node& v) { p.codes.category = code_list(v, "codes.item_category", "category"); }},
    {"ordinary.in_force",
     [](Params& p, const YAML::Node& v) { p.ordinary_in_force = boolean(v, "ordinary.in_force"); }},
    {"minor.age_below", [](Params& p, const YAML::Node& v) { p.minor_age_below = age(v, "minor.age_below"); }},
    {"ordinary.deductible.employee",
     [](Params& p, const YAML::Node& v) { p.ded_employee = three<Money>(v, "ordinary.deductible.employee", money); }},
    {"ordinary.deductible.resident",
     [](Params& p, const YAML::Node& v) { p.ded_resident = three<Money>(v, "ordinary.deductible.resident", money); }},
    {"ordinary.limit.employee",
     [](Params& p, const YAML::Node& v) { p.limit_employee = money(v, "ordinary.limit.employee"); }},
    {"ordinary.limit.resident_tier1",
     [](Params& p, const YAML::Node& v) { p.limit_resident_tier1 = money(v, "ordinary.limit.resident_tier1"); }},
    {"ordinary.limit.resident_tier2",
     [](Params& p, const YAML::Node& v) { p.limit_resident_tier2 = money(v, "ordinary.limit.resident_tier2"); }},
    {"ordinary.ratio.in_service",
     [](Params& p, const YAML::Node& v) { p.ratio_in_service = three<Rate>(v, "ordinary.ratio.in_service", rate); }},
    {"ordinary.ratio.retired",
     [](Params& p, const YAML::Node& v) { p.ratio_retired = three<Rate>(v, "ordinary.ratio.retired", rate); }},
    {"ordinary.ratio.resident",
     [](Params& p, const YAML::Node& v) { p.ratio_resident = three<Rate>(v, "ordinary.ratio.resident", rate); }},
    {"tcm.resident_extra_ratio",
     [](Params& p, const YAML::Node& v) { p.tcm_resident_extra = rate(v, "tcm.resident_extra_ratio"); }},
    {"designation.changes_per_year", [](Params& p, const YAML::Node& v) {
       p.designation_changes_per_year = integer(v, "designation.changes_per_year");
     }},
    {"away.temporary_self_share",
     [](Params& p, const YAML::Node& v) { p.away_temporary_self_share = rate(v, "away.temporary_self_share"); }},
  };
}

// Acupuncture, pediatric massage and the incentive.
std::vector<std::pair<std::string, Setter>> therapy_setters() {
  return {
    {"acupuncture.diagnoses", [](Params& p, const YAML::Node& v) {
       for (const auto& kv : table(v, "acupuncture.diagnoses"))
         in_row(kv.first, [&] {
           std::string ctx =
               "acupuncture.diagnoses." + code(p, kv.first, "diagnosis", "acupuncture.diagnoses");
           p.acu_diagnoses[kv.first.Scalar()] = {integer(kv.second["course_days"], ctx + ".course_days"),
                                                 integer(kv.second["daily_items"], ctx + ".daily_items")};
         });
     }},
    {"acupuncture.therapies", [](Params& p, const YAML::Node& v) {
       for (const auto& kv : table(v, "acupuncture.therapies"))
         in_row(kv.first, [&] {
           std::string ctx =
               "acupuncture.therapies." + code(p, kv.first, "therapy", "acupuncture.therapies");
           std::string per = str(kv.second["per"], ctx + ".per");
           TherapyRule r;
           if (per == "day") r.per = TherapyRule::Per::day;
           else if (per == "week") r.per = TherapyRule::Per::week;
           else if (per == "alternate") r.per = TherapyRule::Per::alternate;
           else if (per == "adjunct") r.per = TherapyRule::Per::adjunct;
           else bad_at(kv.second["per"], ctx + ".per: expected day, week, alternate or adjunct");
           if (r.per != TherapyRule::Per::adjunct) r.times = integer(kv.second["times"], ctx + ".times");
           p.therapies[kv.first.Scalar()] = r;
         });
     }},
    {"pediatric.max_age", [](Params& p, const YAML::Node& v) { p.ped_max_age = age(v, "pediatric.max_age"); }},
    {"pediatric.course_days",
     [](Params& p, const YAML::Node& v) { p.ped_course_days = integer(v, "pediatric.course_days"); }},
    {"pediatric.conditions", [](Params& p, const YAML::Node& v) {
       for (const auto& kv : table(v, "pediatric.conditions"))
         in_row(kv.first, [&] {
           code(p, kv.first, "diagnosis", "pediatric.conditions");
           std::string c = str(kv.second, "pediatric.conditions." + kv.first.Scalar());
           if (c != "limited" && c != "unlimited")
             bad_at(kv.second, "pediatric.conditions." + kv.first.Scalar() + ": limited or unlimited");
           p.ped_conditions[kv.first.Scalar()] = c == "unlimited";
         });
     }},
    {"incentive.assessed",
     [](Params& p, const YAML::Node& v) { p.incentive_assessed = boolean(v, "incentive.assessed"); }},
    {"incentive.points", [](Params& p, const YAML::Node& v) {
       p.incentive_unused = rate(v["unused"], "incentive.points.unused");
       p.incentive_at_most_half = rate(v["at_most_half"], "incentive.points.at_most_half");
       p.incentive_half_share = rate(v["half_share"], "incentive.points.half_share");
       p.incentive_cap = rate(v["cap"], "incentive.points.cap");
     }},
  };
}

// The chronic disease benefit.
std::vector<std::pair<std::string, Setter>> chronic_setters() {
  return {
    {"chronic.in_force", [](Params& p, const YAML::Node& v) { p.chronic_in_force = boolean(v, "chronic.in_force"); }},
    {"chronic.deductible", [](Params& p, const YAML::Node& v) {
       p.chronic_ded_employee = money(v["employee"], "chronic.deductible.employee");
       p.chronic_ded_ordinary = money(v["ordinary"], "chronic.deductible.ordinary");
       p.chronic_ded_specific = money(v["specific"], "chronic.deductible.specific");
     }},
    {"chronic.ratio.resident_ordinary", [](Params& p, const YAML::Node& v) {
       p.chronic_ratio_resident_ordinary = rate(v, "chronic.ratio.resident_ordinary");
     }},
    {"chronic.limit.resident_ordinary", [](Params& p, const YAML::Node& v) {
       p.chronic_limit_ordinary_tier1 = money(v["tier1"], "chronic.limit.resident_ordinary.tier1");
       p.chronic_limit_ordinary_tier2 = money(v["tier2"], "chronic.limit.resident_ordinary.tier2");
     }},
    {"chronic.position_weights", [](Params& p, const YAML::Node& v) {
       p.chronic_position_weights = three<Rate>(v, "chronic.position_weights", rate);
     }},
    {"chronic.art17_refer", [](Params& p, const YAML::Node& v) {
       p.art17_refer = boolean(v["refer"], "chronic.art17_refer.refer");
       p.art17_diseases = names(p, v["diseases"], "chronic.art17_refer.diseases", "disease");
     }},
    {"chronic.specialty_diseases", [](Params& p, const YAML::Node& v) {
       p.specialty_diseases = names(p, v, "chronic.specialty_diseases", "disease");
     }},
    {"chronic.excluded", [](Params& p, const YAML::Node& v) {
       p.excluded_diseases = names(p, v, "chronic.excluded", "disease");
     }},
    {"chronic.standards", [](Params& p, const YAML::Node& v) {
       // One row per Annex 2 disease (C-code) of codes.disease, and none for another code.
       for (const auto& kv : table(v, "chronic.standards"))
         in_row(kv.first, [&] {
           std::string ctx = "chronic.standards." + code(p, kv.first, "disease", "chronic.standards");
           if (!kv.first.Scalar().starts_with("C"))
             bad_at(kv.first, "chronic.standards: " + kv.first.Scalar() + " is not an Annex 2 disease (C-code)");
           ChronicStandard cs;
           if (kv.second["inpatient"]) cs.inpatient = boolean(kv.second["inpatient"], ctx + ".inpatient");
           if (!cs.inpatient) cs.standard = money(kv.second["standard"], ctx + ".standard");
           cs.castration =
               kv.second["castration"] ? money(kv.second["castration"], ctx + ".castration") : cs.standard;
           p.chronic_standards[kv.first.Scalar()] = cs;
         });
       for (const std::string& d : p.codes.disease)
         if (d.starts_with("C") && !p.chronic_standards.count(d))
           bad("chronic.standards: no row for " + d + " (an Annex 2 disease of codes.disease)");
     }},
    {"chronic.limit.max_diseases", [](Params& p, const YAML::Node& v) {
       p.chronic_max_diseases = integer(v, "chronic.limit.max_diseases");
       if (p.chronic_max_diseases < 1 || p.chronic_max_diseases > 3)
         bad("chronic.limit.max_diseases: " + v.Scalar() + " is outside 1..3 (chronic.position_weights weighs 3 "
             "positions)");
     }},
    {"chronic.suspension.first_year", [](Params& p, const YAML::Node& v) {
       p.suspension_first_year = integer(v, "chronic.suspension.first_year");
     }},
  };
}

// The inpatient ratios and limits, and the personal account.
std::vector<std::pair<std::string, Setter>> account_setters() {
  return {
    {"inpatient.ratio.in_service", [](Params& p, const YAML::Node& v) {
       p.inpatient_ratio_in_service = three<Rate>(v, "inpatient.ratio.in_service", rate);
     }},
    {"inpatient.ratio.retired", [](Params& p, const YAML::Node& v) {
       p.inpatient_ratio_retired = three<Rate>(v, "inpatient.ratio.retired", rate);
     }},
    {"inpatient.ratio.resident", [](Params& p, const YAML::Node& v) {
       p.inpatient_ratio_resident = three<Rate>(v, "inpatient.ratio.resident", rate);
     }},
    {"inpatient.limit", [](Params& p, const YAML::Node& v) {
       p.inpatient_limit_employee = money(v["employee"], "inpatient.limit.employee");
       p.inpatient_limit_resident = money(v["resident"], "inpatient.limit.resident");
     }},
    {"account.in_service.personal_rate",
     [](Params& p, const YAML::Node& v) { p.account_personal_rate = rate(v, "account.in_service.personal_rate"); }},
    {"account.in_service.employer_rate", [](Params& p, const YAML::Node& v) {
       p.account_employer_under_46 = rate(v["under_46"], "account.in_service.employer_rate.under_46");
       p.account_employer_from_46 = rate(v["from_46"], "account.in_service.employer_rate.from_46");
     }},
    {"account.retiree", [](Params& p, const YAML::Node& v) {
       p.retiree_credited = boolean(v["credited"], "account.retiree.credited");
       if (p.retiree_credited) {
         p.retiree_pension_base = money(v["pension_base"], "account.retiree.pension_base");
         p.retiree_under_70 = rate(v["under_70"], "account.retiree.under_70");
         p.retiree_from_70 = rate(v["from_70"], "account.retiree.from_70");
       }
     }},
    {"account.flexible_rate", [](Params& p, const YAML::Node& v) {
       p.flex_checked = boolean(v["checked"], "account.flexible_rate.checked");
       if (p.flex_checked) {
         p.flex_under_46 = rate(v["flexible_under_46"], "account.flexible_rate.flexible_under_46");
         p.flex_from_46 = rate(v["flexible_from_46"], "account.flexible_rate.flexible_from_46");
         p.old_urban_rate = rate(v["old_urban"], "account.flexible_rate.old_urban");
       }
     }},
    {"account.in_service.age_from",
     [](Params& p, const YAML::Node& v) { p.account_age_from = age(v, "account.in_service.age_from"); }},
    {"account.retiree.age_from",
     [](Params& p, const YAML::Node& v) { p.retiree_age_from = age(v, "account.retiree.age_from"); }},
    {"account.flexible_rate.age_from",
     [](Params& p, const YAML::Node& v) { p.flex_age_from = age(v, "account.flexible_rate.age_from"); }},
    {"account.retiree.old_urban_confirmed_from", [](Params& p, const YAML::Node& v) {
       p.old_urban_confirmed_from = yaml_date(v, "account.retiree.old_urban_confirmed_from");
     }},
    {"account.crediting_months", [](Params& p, const YAML::Node& v) {
       p.credit_from = yaml_month(v["from"], "account.crediting_months.from");
       p.credit_to = yaml_month(v["to"], "account.crediting_months.to");
     }},
    {"account.purposes", [](Params& p, const YAML::Node& v) {
       p.purposes_allowed = purposes(v["allowed"], "account.purposes.allowed");
       p.purposes_forbidden = purposes(v["forbidden"], "account.purposes.forbidden");
     }},
  };
}

// Every parameter the ledger reads, and where it goes. A file must give exactly these.
const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> s = [] {
    std::map<std::string, Setter> all;
    for (auto group : {code_and_ordinary_setters, therapy_setters, chronic_setters, account_setters})
      for (auto& [name, set] : group()) all.emplace(name, std::move(set));
    return all;
  }();
  return s;
}

struct Span {
  Date from, to;
  YAML::Node value;
  int line = 0;  // the line of its `value:` key (an empty value's own mark is the next token's), 0: not known
  std::optional<std::string> assumed;  // the `assumption` flag's note ("" for `true`), if the value is assumed
};

// An `assumption` flag (POLICY.md §5): absent or false gives nullopt, true gives "", a text gives that text.
std::optional<std::string> assumption_of(const YAML::Node& n, const std::string& ctx) {
  if (!n) return std::nullopt;
  if (!n.IsScalar() || n.Scalar().empty()) bad_at(n, ctx + ": assumption: expected true, false or a note");
  bool flag = false;
  if (YAML::convert<bool>::decode(n, flag)) return flag ? std::optional<std::string>("") : std::nullopt;
  return n.Scalar();
}

// One parameter's dated values (sorted), each checked to lie in the window, the whole covering it exactly once
// (DESIGN.md: a gap is an error). Fills `info`. A flag on the parameter flags each of its values.
std::vector<Span> read_values(const std::string& name, const YAML::Node& p, Date from, Date to,
                              const std::string& origin, ParamInfo& info) {
  const std::string what = origin + ": parameter '" + name + "'";
  if (!p["article"]) bad(what + " cites no article");
  info.article = p["article"].Scalar();
  info.rule = p["rule"] ? p["rule"].Scalar() : "";
  const std::optional<std::string> all = assumption_of(p["assumption"], what);
  const YAML::Node& vals = p["values"];
  if (!vals || !vals.IsSequence() || vals.size() == 0) bad(what + " has no values");
  std::vector<Span> list;
  for (size_t i = 0; i < vals.size(); ++i) {
    // Each dated value's refusals name the file and the line they are on, as compile_on's do.
    const std::string ctx = "parameter '" + name + "' value " + std::to_string(i + 1);
    Span s;
    try {
      s.from = yaml_date(vals[i]["from"], ctx + " from");
      s.to = vals[i]["to"] ? yaml_date(vals[i]["to"], ctx + " to") : to;
      if (!vals[i]["value"]) bad_at(vals[i], ctx + ": no value");
      s.value = vals[i]["value"];
      if (vals[i].IsMap())
        for (const auto& kv : vals[i])
          if (kv.first.Scalar() == "value") s.line = line_of(kv.first);
      if (s.to < s.from) bad_at(vals[i], ctx + ": 'to' is before 'from'");
      s.assumed = assumption_of(vals[i]["assumption"], ctx);
    } catch (const ValueError& e) {
      const int line = e.line ? e.line : line_of(vals[i]);
      bad(origin + (line ? ":" + std::to_string(line) : std::string()) + ": " + e.what());
    }
    if (!s.assumed) s.assumed = all;
    info.assumption = info.assumption || s.assumed.has_value();
    list.push_back(s);
  }
  std::sort(list.begin(), list.end(), [](const Span& a, const Span& b) { return a.from < b.from; });
  Date expect = from;
  for (const Span& s : list) {
    if (s.from > expect) bad(what + " has no value from " + format_date(expect) + " to " + format_date(s.from - 1));
    if (s.from < expect) bad(what + " has two values on " + format_date(s.from));
    expect = s.to + 1;
  }
  if (expect <= to) bad(what + " has no value from " + format_date(expect) + " to " + format_date(to));
  // validate_event checks an event's codes as it decodes it, before the fold reads the event's date.
  if (name.starts_with("codes.") && list.size() != 1)
    bad(what + ": a code list has one value for the whole window");
  return list;
}

// The parameters in force from day d: the code lists first, since the other parameters' codes are checked
// against them. A value refused names the file and the line ("<origin>:<line>: <what>"): the refused node's, else
// its `value:` key's, else (a value default_missing supplied, which always passes) none.
Params compile_on(Date d, const std::map<std::string, std::vector<Span>>& spans, const std::string& origin) {
  Params p;
  for (bool code_lists : {true, false})
    for (const auto& [name, list] : spans)
      if (name.starts_with("codes.") == code_lists)
        for (const Span& s : list) {
          if (d < s.from || s.to < d) continue;
          try {
            try {
              setters().at(name)(p, s.value);
            } catch (const YAML::Exception& e) {  // e.g. operator[] on a scalar: a value of the wrong shape
              throw ValueError(name + ": a value of the wrong shape (" + e.msg + ")",
                               e.mark.is_null() ? 0 : e.mark.line + 1);
            }
          } catch (const PolicyError& e) {
            const auto* refused = dynamic_cast<const ValueError*>(&e);
            const int line = refused && refused->line ? refused->line : s.line;
            if (!line) bad(origin + ": " + e.what());
            bad(origin + ":" + std::to_string(line) + ": " + e.what());
          }
        }
  return p;
}

void check_crediting_months(const Params& p, Date from, Date to, const std::string& origin) {
  if (p.credit_from > p.credit_to)
    bad(origin + ": account.crediting_months: from " + format_month(p.credit_from) + " is after to " +
        format_month(p.credit_to));
  if (p.credit_from < month_of(from) || p.credit_to > month_of(to))
    bad(origin + ": account.crediting_months: " + format_month(p.credit_from) + " to " + format_month(p.credit_to) +
        " is outside the window's months " + format_month(month_of(from)) + " to " + format_month(month_of(to)));
}

// Values that must lie inside the policy window: the crediting months (a non-empty range of the window's months)
// and the first CHR-SUSP year (a year of the window). A value a stored older text lacks (`defaulted`) is the one
// the ledger hard-coded before, whatever the window: not checked.
void check_window_values(const Params& p, Date from, Date to, const std::string& origin,
                         const std::set<std::string>& defaulted) {
  if (!defaulted.count("account.crediting_months")) check_crediting_months(p, from, to, origin);
  if (!defaulted.count("chronic.suspension.first_year") &&
      (p.suspension_first_year < year_of(from) || p.suspension_first_year > year_of(to)))
    bad(origin + ": chronic.suspension.first_year: " + std::to_string(p.suspension_first_year) +
        " is outside the window's years " + std::to_string(year_of(from)) + " to " + std::to_string(year_of(to)));
}

// The parameters issue 9 (item 5) added, with the values the ledger hard-coded before them (ledger/accounts.cc,
// ledger/chronic.cc and events/event.cc at commit 05833d3): in_credit_window's 2022-07..2027-06 (Art.40), the age
// bands 46 and 70, the old-urban cut-off 2024-01-01, "i < 3" of the limit formula, CHR-SUSP "from 2023 on", and the
// code lists of EVENTS.md. A stored older text (PolicyText::stored) lacking one is read with this value.
struct BeforeIssue9 {
  const char* parameter;
  const char* rule;
  const char* article;
  const char* value;                  // YAML, or nullptr for a code list (`list`)
  CodeLists::Set CodeLists::*list;    // the EVENTS.md list of a `codes.*` parameter
};
const std::vector<BeforeIssue9>& before_issue9() {
  static const std::vector<BeforeIssue9> v = {
      {"codes.disease", "CHR-LIM", "Annex 2", nullptr, &CodeLists::disease},
      {"codes.therapy", "ORD-ACU", "Annex 1", nullptr, &CodeLists::therapy},
      {"codes.diagnosis", "ORD-ACU", "Annex 1", nullptr, &CodeLists::diagnosis},
      {"codes.item_category", "ORD-SCOPE", "N§2(三)", nullptr, &CodeLists::category},
      {"account.in_service.age_from", "ACC-INSVC", "Art.23", "46", nullptr},
      {"account.flexible_rate.age_from", "ACC-FLEX", "Art.25", "46", nullptr},
      {"account.retiree.age_from", "ACC-RET", "Art.24", "70", nullptr},
      {"account.retiree.old_urban_confirmed_from", "ACC-RET", "Art.25 ¶2", "2024-01-01", nullptr},
      {"account.crediting_months", "ACC-INSVC", "Art.40", "{from: 2022-07, to: 2027-06}", nullptr},
      {"chronic.limit.max_diseases", "CHR-LIM", "N§3(一)", "3", nullptr},
      {"chronic.suspension.first_year", "CHR-SUSP", "N§3(三); N§1", "2023", nullptr},
  };
  return v;
}

// Issue 9 item 8: each parameter of before_issue9() that a stored text lacks gets its old value over the whole
// window, is listed in pol.defaulted_ (through `defaulted`) and gets its ParamInfo. Returns the names defaulted.
std::set<std::string> default_missing(std::map<std::string, std::vector<Span>>& spans, Date from, Date to,
                                      std::map<std::string, ParamInfo>& info, std::vector<Defaulted>& defaulted) {
  std::set<std::string> names;
  for (const BeforeIssue9& b : before_issue9()) {
    if (spans.count(b.parameter)) continue;
    YAML::Node value;
    std::string shown;
    if (b.list) {
      for (const std::string& c : events_md_codes().*b.list) value.push_back(c);
      shown = "the EVENTS.md list (" + std::to_string(value.size()) + " codes)";
    } else {
      value = YAML::Load(b.value);
      shown = b.value;
    }
    spans[b.parameter] = {Span{from, to, value, 0, std::nullopt}};
    info[b.parameter] = ParamInfo{b.rule, b.article, false};
    defaulted.push_back({b.parameter, b.rule, shown});
    names.insert(b.parameter);
  }
  std::sort(defaulted.begin(), defaulted.end(),
            [](const Defaulted& a, const Defaulted& b) { return a.parameter < b.parameter; });
  return names;
}

// A ratio adjustment must not take a rate out of [0, 1] (issue 8 item 7): the TCM extra points (F-TCM) and the
// incentive cap (ORD-INC) are added to the ratios they raise; checked on every span of days the policy compiles to.
void check_adjusted_rates(const Params& p, Date from, const std::string& origin) {
  auto check = [&](const RatesByLevel& r, const char* name, const std::vector<std::pair<Rate, const char*>>& adds) {
    const bool by_level = name != std::string("chronic.ratio.resident_ordinary");  // one value, not three levels
    for (size_t i = 0; i < (by_level ? r.size() : 1); ++i) {
      Rate total = r[i];
      std::string what = name + (by_level ? "[" + std::to_string(i) + "] " : std::string(" ")) + format_rate(r[i]);
      for (auto [add, by] : adds) total += add, what += std::string(" + ") + by + " " + format_rate(add);
      if (total > 10000)
        bad(origin + ": on " + format_date(from) + ": " + what + " = " + format_rate(total) + ", outside [0, 1]");
    }
  };
  const std::pair<Rate, const char*> tcm{p.tcm_resident_extra, "tcm.resident_extra_ratio"};
  const std::pair<Rate, const char*> inc{p.incentive_cap, "incentive.points.cap"};
  check(p.ratio_in_service, "ordinary.ratio.in_service", {inc});
  check(p.ratio_retired, "ordinary.ratio.retired", {inc});
  check(p.ratio_resident, "ordinary.ratio.resident", {tcm, inc});
  check(p.inpatient_ratio_resident, "inpatient.ratio.resident", {tcm});
  check({p.chronic_ratio_resident_ordinary, 0, 0}, "chronic.ratio.resident_ordinary", {tcm});
}

// Told of each key a text holds that the loader would pass over (the message names the file and the line): a given
// text is refused at the first, a stored one only notes each (Policy::passed_over).
using Found = std::function<void(const std::string&)>;

// A key written twice in one map (YAML forbids it): yaml-cpp keeps both and a lookup reads the first, so a second
// `value:` under a dated value, or a parameter written again lower down, would be ignored or would replace the first
// without a word (a limit edited by adding a line). Refused naming both lines. Only a given text: a stored one was
// folded with the reading it had then (PolicyText::stored), and the repetition is only told to `found`
// (Policy::passed_over). Walked with a stack of its own (a deeply nested file must not overflow the call stack: a fuzz
// finding) and at most kMostNodes nodes, aliases counted each time they are used (a few aliases of aliases stand for
// billions of nodes).
void find_repeated_keys(const YAML::Node& root, const std::string& origin, const Found& found) {
  constexpr size_t kMostNodes = 1'000'000;
  std::vector<YAML::Node> todo{root};
  std::optional<std::tuple<int, std::string, int>> earliest;  // the repeated key first in the file: line, key, first
  for (size_t seen = 0; !todo.empty(); ++seen) {
    if (seen == kMostNodes)
      return found(origin + ": more than " + std::to_string(kMostNodes) + " YAML nodes, counting each use of an " +
                   "alias: not the shape of a policy");
    const YAML::Node n = todo.back();
    todo.pop_back();
    if (n.IsSequence())
      for (const auto& item : n) todo.push_back(item);
    if (!n.IsMap()) continue;
    std::map<std::string, int> first_line;
    for (const auto& kv : n) {
      if (kv.first.IsScalar()) {
        const auto [at, fresh] = first_line.try_emplace(kv.first.Scalar(), line_of(kv.first));
        if (!fresh && (!earliest || line_of(kv.first) < std::get<0>(*earliest)))
          earliest.emplace(line_of(kv.first), kv.first.Scalar(), at->second);
      }
      todo.push_back(kv.second);
    }
  }
  if (earliest)
    found(origin + ":" + std::to_string(std::get<0>(*earliest)) + ": '" + std::get<1>(*earliest) +
          "' is written twice in one map (first on line " + std::to_string(std::get<2>(*earliest)) +
          "); YAML allows a key once, and which of the two would count is not clear");
}

// A value as one line of YAML (maps and lists in flow style), as `gongji policy` prints an assumed value.
std::string flow_text(const YAML::Node& n) {
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

// The keys a policy file may write in each of its maps, where the loader reads some keys and would pass over any
// other without a word: a misspelled optional key (chronic.standards' `castration`, a dated value's `to` or
// `assumption`) would leave its default in force, and the ledger would pay by it. `name` in a table's row is the
// row's description (Annex 1 and 2), read by no rule. The maps a parameter's value is (kValueKeys) or whose rows it
// holds (kRowKeys) are listed by parameter; any other value map is a table keyed by codes, checked by its setter.
const std::map<std::string_view, std::vector<std::string_view>> kValueKeys = {
    {"incentive.points", {"unused", "at_most_half", "half_share", "cap"}},
    {"chronic.deductible", {"employee", "ordinary", "specific"}},
    {"chronic.limit.resident_ordinary", {"tier1", "tier2"}},
    {"chronic.art17_refer", {"refer", "diseases"}},
    {"inpatient.limit", {"employee", "resident"}},
    {"account.in_service.employer_rate", {"under_46", "from_46"}},
    {"account.retiree", {"credited", "pension_base", "under_70", "from_70"}},
    {"account.flexible_rate", {"checked", "flexible_under_46", "flexible_from_46", "old_urban"}},
    {"account.crediting_months", {"from", "to"}},
    {"account.purposes", {"allowed", "forbidden"}},
};
const std::map<std::string_view, std::vector<std::string_view>> kRowKeys = {
    {"acupuncture.diagnoses", {"name", "course_days", "daily_items"}},
    {"acupuncture.therapies", {"name", "per", "times"}},
    {"chronic.standards", {"name", "inpatient", "standard", "castration"}},
};

// Keys a map may hold but that the loader reads only when another key of it says so: written beside that other key's
// other value, they would be passed over as an unknown key would (find_unknown_keys).
struct UnreadWhen {
  std::string_view key, value;  // when `key` is `value` (a boolean compared as one)
  std::vector<std::string_view> unread;
};
const std::map<std::string_view, UnreadWhen> kUnreadWhen = {
    {"account.retiree", {"credited", "false", {"pension_base", "under_70", "from_70"}}},
    {"account.flexible_rate", {"checked", "false", {"flexible_under_46", "flexible_from_46", "old_urban"}}},
    {"acupuncture.therapies", {"per", "adjunct", {"times"}}},
    {"chronic.standards", {"inpatient", "true", {"standard", "castration"}}},  // chronic.cc: no position, no standard
};

// Tells `found` of each key of map `m` (at `what`) that kUnreadWhen's `u` says is not read there.
void find_unread(const YAML::Node& m, const UnreadWhen& u, const std::string& what, const std::string& origin,
                   const Found& found) {
  if (!m.IsDefined() || !m.IsMap()) return;
  const YAML::Node when = m[std::string(u.key)];
  if (!when.IsDefined() || !when.IsScalar()) return;  // refused where it is read, if it must be there
  bool holds = false;
  if (u.value == "true" || u.value == "false") {
    bool b = false;
    holds = YAML::convert<bool>::decode(when, b) && b == (u.value == "true");
  } else {
    holds = when.Scalar() == u.value;
  }
  if (!holds) return;
  for (std::string_view k : u.unread)
    if (const YAML::Node unread = m[std::string(k)]; unread.IsDefined())
      found(origin + (line_of(unread) ? ":" + std::to_string(line_of(unread)) : std::string()) + ": " + what + ": '" +
            std::string(k) + "' is not read when '" + std::string(u.key) + "' is " + std::string(u.value) +
            "; a value the loader does not read would be passed over");
}

// Tells `found` of each key of map `m` (at `what`) that is not one of `keys`, or that is not a name (null, a list, a
// map), naming the file and the key's line.
void only_keys(const YAML::Node& m, const std::vector<std::string_view>& keys, const std::string& what,
               const std::string& origin, const Found& found) {
  if (!m.IsDefined() || !m.IsMap()) return;  // a value missing or of another shape is refused where it is read
  for (const auto& kv : m) {
    const int line = line_of(kv.first) ? line_of(kv.first) : line_of(kv.second);  // a null key has no line
    const std::string at = origin + (line ? ":" + std::to_string(line) : std::string());
    if (!kv.first.IsScalar()) {
      found(at + ": " + what + " has a key that is not a name (" + flow_text(kv.first) + ")");
    } else if (std::find(keys.begin(), keys.end(), kv.first.Scalar()) == keys.end()) {
      std::string list;
      for (std::string_view k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      found(at + ": '" + kv.first.Scalar() + "' is not a key of " + what + " (its keys: " + list +
            "); a key the loader does not read would be passed over, its default left in force");
    }
  }
}

// Every map of the file's fixed shape checked by only_keys (for a stored text `found` only notes each key: it is read
// as it was folded, as find_repeated_keys).
void find_unknown_keys(const YAML::Node& root, const std::string& origin, const Found& found) {
  if (!root.IsMap()) return;
  only_keys(root, {"window", "parameters"}, "the file", origin, found);
  only_keys(root["window"], {"from", "to"}, "window", origin, found);
  const YAML::Node params = root["parameters"];
  if (!params.IsDefined() || !params.IsMap()) return;
  for (const auto& kv : params) {
    const std::string name = kv.first.Scalar(), what = "parameter '" + name + "'";
    only_keys(kv.second, {"rule", "article", "assumption", "values"}, what, origin, found);
    const YAML::Node values = kv.second.IsMap() ? kv.second["values"] : YAML::Node();
    if (!values.IsDefined() || !values.IsSequence()) continue;
    const auto value_keys = kValueKeys.find(name);
    const auto row_keys = kRowKeys.find(name);
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string dated = what + " value " + std::to_string(i + 1);
      only_keys(values[i], {"from", "to", "value", "assumption"}, dated, origin, found);
      const YAML::Node value = values[i].IsMap() ? values[i]["value"] : YAML::Node();  // only_keys: if defined
      const auto unread = kUnreadWhen.find(name);
      if (value_keys != kValueKeys.end()) {
        only_keys(value, value_keys->second, dated + "'s value", origin, found);
        if (unread != kUnreadWhen.end()) find_unread(value, unread->second, dated + "'s value", origin, found);
      }
      if (row_keys != kRowKeys.end() && value.IsDefined() && value.IsMap())
        for (const auto& row : value) {
          only_keys(row.second, row_keys->second, name + "." + row.first.Scalar(), origin, found);
          if (unread != kUnreadWhen.end())
            find_unread(row.second, unread->second, name + "." + row.first.Scalar(), origin, found);
        }
    }
  }
}

// The window's date `key`, refused naming the file and its line. `root` by value: yaml-cpp's const operator[] throws
// for a key that is not there, where a missing window is to be refused as a date that is not there.
Date window_date(YAML::Node root, const char* key, const std::string& origin) {
  try {
    return yaml_date(root["window"][key], std::string("window.") + key);
  } catch (const ValueError& e) {
    bad(origin + (e.line ? ":" + std::to_string(e.line) : std::string()) + ": " + e.what());
  }
}

}  // namespace

// A function-try-block: YAML of the wrong shape (a scalar where a map is expected, a value that does not convert)
// is refused as PolicyError naming the origin, never escapes as a yaml-cpp exception (ledger/policy.h contract).
Policy load_policy_text(const std::string& text, const std::string& origin, PolicyText how) try {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    bad(origin + ": not valid YAML: " + e.what());
  }
  Policy pol;
  pol.text_ = text;
  pol.version_ = policy_version(text);
  // A given text is refused at the first; a stored one is read as it was folded, each finding kept (passed_over).
  const Found found = [&](const std::string& m) {
    if (how == PolicyText::given) bad(m);
    pol.passed_over_.push_back(m);
  };
  find_repeated_keys(root, origin, found);
  find_unknown_keys(root, origin, found);
  pol.from_ = window_date(root, "from", origin);
  pol.to_ = window_date(root, "to", origin);
  if (pol.to_ < pol.from_) bad(origin + ": window.to is before window.from");
  const YAML::Node params = root["parameters"];
  if (!params || !params.IsMap()) bad(origin + ": no parameters map");

  std::map<std::string, std::vector<Span>> spans;
  for (const auto& kv : params) {
    std::string name = kv.first.Scalar();
    if (!setters().count(name)) bad(origin + ": unknown parameter '" + name + "'");
    ParamInfo& info = pol.info_[name];
    spans[name] = read_values(name, kv.second, pol.from_, pol.to_, origin, info);
    for (const Span& s : spans[name])
      if (s.assumed)
        pol.assumptions_.push_back({name, info.rule, info.article, *s.assumed, s.from, s.to, flow_text(s.value)});
  }
  const std::set<std::string> defaulted =
      how == PolicyText::stored ? default_missing(spans, pol.from_, pol.to_, pol.info_, pol.defaulted_)
                                : std::set<std::string>();
  for (const auto& [name, _] : setters())
    if (!spans.count(name)) bad(origin + ": missing parameter '" + name + "'");
  std::stable_sort(pol.assumptions_.begin(), pol.assumptions_.end(), [](const Assumption& a, const Assumption& b) {
    return a.parameter != b.parameter ? a.parameter < b.parameter : a.from < b.from;
  });

  std::set<Date> starts;
  for (const auto& [_, list] : spans)
    for (const Span& s : list) starts.insert(s.from);
  for (Date d : starts) {
    Params p = compile_on(d, spans, origin);
    check_adjusted_rates(p, d, origin);
    check_window_values(p, pol.from_, pol.to_, origin, defaulted);
    pol.starts_.push_back(d);
    pol.spans_.push_back(std::move(p));
  }
  return pol;
} catch (const YAML::Exception& e) {
  bad(origin + ": the file does not have the shape of a policy: " + e.what());
}

const Params& Policy::at(Date d) const {
  if (d < from_ || d > to_)
    throw PolicyError("no policy for " + format_date(d) + ": the policy covers " + format_date(from_) + " to " +
                      format_date(to_));
  auto it = std::upper_bound(starts_.begin(), starts_.end(), d);
  return spans_[static_cast<size_t>(it - starts_.begin() - 1)];
}

std::string policy_version(std::string_view text) {
  XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  char hex[48];
  std::snprintf(hex, sizeof hex, "xxh128:%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return hex;
}

std::string read_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PolicyError("cannot read policy file " + path);
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) text.append(buf, static_cast<size_t>(in.gcount()));
  // A read that failed ends the loop as the end of the file would: refused, not taken for a shorter policy.
  if (in.bad()) throw PolicyError("cannot read policy file " + path + ": input/output error");
  return text;
}

Policy load_policy_file(const std::string& path) { return load_policy_text(read_policy_file(path), path); }

extern const char* const kDefaultPolicyYaml;

const std::string& default_policy_text() {
  static const std::string text = kDefaultPolicyYaml;
  return text;
}

const Policy& default_policy() {
  static const Policy p = load_policy_text(default_policy_text(), "built-in policy (ledger/policy/weihai.yaml)");
  return p;
}

}  // namespace gongji
