// A settlement's trace as data (issue 9 item 2), and the step an account movement records (ledger/records.h): each
// step is the rule of POLICY.md it applies (an enum, with its
// spelling and article in one table), what it says (one of the sayings below, a text with typed holes) and the values
// it used. The fold keeps the numbers; the text is rendered only at the edges (TraceStep::detail(): the output line,
// the wire, the command line). The store keeps the rule, the saying and the values (ledger/state_codec.h).
//
// Both tables are append-only: a rule's or a saying's number is what the store keeps, so an entry is never moved,
// reused or removed, and a new one goes at the end. A saying's text may be reworded only with a new entry (old records
// keep rendering the words they were settled with). tests/ledger/trace_test.cc pins the numbers.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "events/money.h"

namespace gongji {

enum class Rule : uint8_t {
  T_START, P_SCHEME, P_CHANGE, P_MINOR, P_STUDENT, P_ELIG, F_LEVEL, F_TCM, ORD_DED, ORD_LIM, ORD_RATIO, ORD_TYPE,
  ORD_DESIG, ORD_SCOPE, ORD_ACU, ORD_PED, ORD_AWAY, ORD_INPT, ORD_INC, RND, SETTLE, TIME_DATED, TIME_ORDER, CHR_EXCL,
  CHR_UNREG, CHR_FAC, CHR_ART17, CHR_REG, CHR_LIM, CHR_DED, CHR_RATIO, CHR_INPT, CHR_PRORATE, CHR_SUSP, CHR_SEP,
  ACC_INSVC, ACC_RET, ACC_FLEX, ACC_USE,
};

struct RuleInfo {
  Rule rule;
  std::string_view id, article;  // the rule ID of POLICY.md and the article it rests on
};
inline constexpr std::array<RuleInfo, 39> kRules = {{
    {Rule::T_START, "T-START", "N§1; Art.40"},
    {Rule::P_SCHEME, "P-SCHEME", "N§1"},
    {Rule::P_CHANGE, "P-CHANGE", "Art.11"},
    {Rule::P_MINOR, "P-MINOR", "Art.11"},
    {Rule::P_STUDENT, "P-STUDENT", "Art.20"},
    {Rule::P_ELIG, "P-ELIG", "Art.7"},
    {Rule::F_LEVEL, "F-LEVEL", "Art.11"},
    {Rule::F_TCM, "F-TCM", "Art.18"},
    {Rule::ORD_DED, "ORD-DED", "Art.11"},
    {Rule::ORD_LIM, "ORD-LIM", "Art.10; Art.11"},
    {Rule::ORD_RATIO, "ORD-RATIO", "Art.11"},
    {Rule::ORD_TYPE, "ORD-TYPE", "Art.11"},
    {Rule::ORD_DESIG, "ORD-DESIG", "Art.28; N§2(二)"},
    {Rule::ORD_SCOPE, "ORD-SCOPE", "N§2(三)"},
    {Rule::ORD_ACU, "ORD-ACU", "N§2(三); Annex 1"},
    {Rule::ORD_PED, "ORD-PED", "Annex 1"},
    {Rule::ORD_AWAY, "ORD-AWAY", "Art.19; N§2(三)"},
    {Rule::ORD_INPT, "ORD-INPT", "N§2(三)"},
    {Rule::ORD_INC, "ORD-INC", "Art.12"},
    {Rule::RND, "RND", "POLICY.md RND"},
    {Rule::SETTLE, "SETTLE", "POLICY.md §4"},
    {Rule::TIME_DATED, "TIME-DATED", "POLICY.md §6"},
    {Rule::TIME_ORDER, "TIME-ORDER", "POLICY.md §6"},
    {Rule::CHR_EXCL, "CHR-EXCL", "N§3(一); Annex 2"},
    {Rule::CHR_UNREG, "CHR-UNREG", "N§3(三)"},
    {Rule::CHR_FAC, "CHR-FAC", "N§3(二)"},
    {Rule::CHR_ART17, "CHR-ART17", "Art.17"},
    {Rule::CHR_REG, "CHR-REG", "N§3(三)"},
    {Rule::CHR_LIM, "CHR-LIM", "N§3(一); Annex 2; Art.16"},
    {Rule::CHR_DED, "CHR-DED", "Art.14"},
    {Rule::CHR_RATIO, "CHR-RATIO", "Art.14; Art.18"},
    {Rule::CHR_INPT, "CHR-INPT", "Art.16"},
    {Rule::CHR_PRORATE, "CHR-PRORATE", "N§3(一)"},
    {Rule::CHR_SUSP, "CHR-SUSP", "N§3(三)"},
    {Rule::CHR_SEP, "CHR-SEP", "Art.16"},
    {Rule::ACC_INSVC, "ACC-INSVC", "Art.23"},
    {Rule::ACC_RET, "ACC-RET", "Art.24"},
    {Rule::ACC_FLEX, "ACC-FLEX", "Art.25"},
    {Rule::ACC_USE, "ACC-USE", "Art.26"},
}};
constexpr std::string_view rule_id(Rule r) { return kRules[static_cast<size_t>(r)].id; }
constexpr std::string_view article_of(Rule r) { return kRules[static_cast<size_t>(r)].article; }
std::optional<Rule> rule_from_id(std::string_view id);
// The article of a rule ID ("" for an ID POLICY.md does not define): for records that name their rule as text.
const char* article_of(const std::string& rule);

// What a step says. Holes: {m} money (format_money), {r} a rate (format_rate), {p} a rate in percentage points
// ("5", "5.25"), {d} a date, {i} an integer, {s} text (an id, a code's spelling, a word). `text` is a step kept as its
// rendered words: one settled before steps were data (stored settlement format 1, or an output line read back
// without a saying that renders it).
enum class Say : uint8_t {
  text,
  item_nucleic_acid_not_here, item_not_acupuncture_led, item_diagnosis_not_in_annex1, item_course_over,
  item_therapies_a_day, item_therapy_over_frequency, item_massage_not_covered, item_outside_resident_scope,
  level, level_away, tcm_employee, tcm_resident, eligible_of, employee_limit, resident_limit, away_temporary,
  away_long_term, ordinary_deductible, limit_reached_room, ordinary_ratio, incentive_bonus, fund_rounded,
  away_no_designation, emergency_no_designation, at_designated, at_extension_unit, designated_elsewhere,
  cannot_designate, first_claim_designates, person_unknown, facility_unregistered, claim_id_used, not_in_force,
  in_force, not_enrolled, enrolled_employee, enrolled_resident, student_existing_policy, emergency_inpatient,
  inpatient_stay, disease_old_policy, disease_unregistered, disease_registered, not_chronic_facility,
  not_chronic_facility_none, at_chronic_facility, at_specialised_facility, art17_current_policy,
  item_nucleic_acid_inpatient, covered_within_inpatient_limit, bucket_limit, inpatient_limit,
  away_temporary_chronic, bucket_deductible, chronic_limit_reached, tcm_chronic_employee, tcm_chronic_resident,
  chronic_ordinary_ratio, chronic_inpatient_ratio, account_in_service_credit, account_retiree_credit,
  account_debit_for,
};
inline constexpr std::array<std::string_view, 63> kSayings = {{
    "{s}",
    "item {i} ({s}): nucleic-acid test follows the inpatient policy, not eligible here",
    "item {i} ({s}): claim not acupuncture-led (acupuncture {m} <= other TCM {m})",
    "item {i} ({s}): diagnosis '{s}' is not in Annex 1",
    "item {i} ({s}): course from {d} lasts at most {i} days",
    "item {i} ({s}): at most {i} therapies a day",
    "item {i} ({s}): therapy {s} over its frequency limit",
    "item {i} ({s}): paediatric massage covers children aged {i} or under with a listed condition (age {i}, '{s}')",
    "item {i} ({s}): outside the resident scope",
    "level {i}",
    "level {i} (out of area, {s})",
    "TCM hospital: deductible and ratio of level {i}",
    "TCM hospital: deductible of level {i}, ratio +{r}",
    "eligible {m} of {m}",
    "employee limit {m}, used {m}",
    "resident limit {m} (tier {i}), used {m}",
    "temporary out of area: self-first {m} (RND), {m} counted into the limit",
    "long-term residence: settled as at a level-{i} facility",
    "deductible at level {i} {m}, paid before {m}, owed {m}",
    "limit reached: {m} above the deductible, room {m}",
    "{s} ratio {r} at level {i}",
    "incentive bonus +{r}",
    "fund = round({m} x {r}) = {m}",
    "out of area: no designation needed",
    "emergency: no designation needed",
    "at the designated facility",
    "at an extension unit of the designated {s}",
    "designated facility is {s}, not {s}",
    "no designated facility, and {s} cannot become one",
    "first claim designates {s} from {d}",
    "person {s} is not known",
    "facility {s} is not registered on {d}",
    "claim id {s} was already used",
    "{s} benefits are not in force on {d}",
    "in force on {d}",
    "not enrolled or suspended on {d}",
    "enrolled: {s} {s}",
    "enrolled: {s} tier {i}",
    "college students keep their existing policy",
    "emergency {s}: inpatient rules",
    "in an inpatient stay on {d}",
    "{s} keeps its old policy (Annex 2 remark 2)",
    "{s} is not registered, not yet in effect, revoked or suspended on {d}",
    "{s} in the {s} bucket since {d}",
    "{s} is not the chronic facility ({s})",
    "{s} is not the chronic facility (none)",
    "at the chronic facility",
    "at the specialised facility",
    "{s}: Art.17 keeps the current policy",
    "item {i}: nucleic-acid test follows the inpatient policy",
    "{s}: covered within the inpatient limit ({m}, used {m})",
    "bucket limit {m}, used {m}",
    "inpatient limit {m}, used {m}",
    "temporary out of area: self-first {m}, {m} counted into the limit",
    "bucket deductible {m}, paid before {m}, owed {m}",
    "{s} limit reached: {m} above the deductible",
    "TCM hospital: ratio one level down",
    "TCM hospital: +{p} points",
    "resident ordinary chronic ratio {r}",
    "inpatient ratio at level {i} {r}",
    "round({m} x ({r} + {r})), age {i} on {d}",
    "round({m} x {r}), age {i} on {d}",
    "{s} for {s}",
}};
static_assert(static_cast<size_t>(Say::account_debit_for) + 1 == kSayings.size());

// The kinds of a saying's holes, in order ("ims" for "item {i} ({s}) ... '{s}'").
constexpr std::string_view kHoleKinds = "mrpdis";
constexpr size_t holes(std::string_view saying, char* kinds = nullptr) {
  size_t n = 0;
  for (size_t i = 0; i + 2 < saying.size(); ++i)
    if (saying[i] == '{' && saying[i + 2] == '}' && kHoleKinds.find(saying[i + 1]) != std::string_view::npos) {
      if (kinds) kinds[n] = saying[i + 1];
      ++n;
    }
  return n;
}
constexpr char hole_kind(std::string_view saying, size_t k) {
  char kinds[16] = {};
  holes(saying, kinds);
  return kinds[k];
}

struct TraceStep {
  Rule rule{};
  Say say = Say::text;
  std::vector<int64_t> numbers;    // the numeric holes, in order (money in fen, rates in 1/10000, dates in days)
  std::vector<std::string> texts;  // the text holes, in order
  std::string detail() const;      // the saying with its holes filled: the trace text of EVENTS.md
  bool operator==(const TraceStep&) const = default;
};

// Whether a step's values fill its saying: as many numbers and texts as it has holes of each kind.
bool fills(const TraceStep& t);

// A step from its rendered text (an output line read back): the saying that renders exactly `detail` from the values
// it reads out of it, the one with the most words outside its holes when several do ("enrolled: resident tier 1",
// "F is not the chronic facility (none)"); else Say::text holding the words.
TraceStep step_from_text(Rule rule, std::string_view detail);

namespace trace_detail {
template <Say S, typename... A, size_t... I>
consteval bool fit(std::index_sequence<I...>) {
  constexpr std::string_view saying = kSayings[static_cast<size_t>(S)];
  // Text for {s}; Money (64 bits) for {m}; an integer of at most 32 bits (Date, Rate, int) for the other holes.
  return holes(saying) == sizeof...(A) &&
         ((hole_kind(saying, I) == 's'   ? std::is_convertible_v<const A&, std::string_view>
           : hole_kind(saying, I) == 'm' ? std::is_same_v<A, Money>
                                         : std::is_integral_v<A> && !std::is_same_v<A, bool> && sizeof(A) <= 4) &&
          ...);
}
}  // namespace trace_detail

// A step saying S with `values` in its holes' order; a wrong count, or a value of the wrong kind (text, money, a
// smaller integer), does not compile.
template <Say S, typename... A>
TraceStep make_step(Rule rule, const A&... values) {
  static_assert(trace_detail::fit<S, A...>(std::index_sequence_for<A...>{}), "the values do not fill the saying");
  TraceStep t{rule, S, {}, {}};
  if constexpr (sizeof...(A) > 0) {
    auto put = [&](const auto& v) {
      if constexpr (std::is_integral_v<std::decay_t<decltype(v)>>) t.numbers.push_back(static_cast<int64_t>(v));
      else t.texts.emplace_back(v);
    };
    (put(values), ...);
  }
  return t;
}

}  // namespace gongji
