// The policy as data (DESIGN.md "The policy is data"): a YAML parameters file, every value effective-dated and
// citing its article, compiled into one typed Params value per span of days on which no parameter changes.
//
// Contract: load_policy() refuses (PolicyError naming the file and the parameter, "<file>: ...", and for a value
// refused as it is read, the line it is on, "<file>:<line>: <parameter>: <why>"; the checks across values, such as
// a rate adjusted above 1 on a date, name the date instead) a file with an unknown or missing parameter,
// a malformed or impossible value (a rate outside [0, 1], a negative amount or count, an age outside 0..150, a date
// or month that does not parse or lies outside the window where one must lie inside it, a code the policy's own
// `codes.*` lists or EVENTS.md do not define), or dated values that leave a gap or overlap inside the window;
// Policy::at(d) is the parameters in force on day d (d must lie inside the window, else PolicyError). Every value
// the ledger uses is a parameter (issue 9 item 5): ages, the crediting months, the old-urban cut-off, the disease
// cap, the first CHR-SUSP year and the code lists included, so a what-if under another file changes any of them,
// and policy_version (the hash of the file's bytes) covers them. Policy::assumptions() lists every dated value
// flagged `assumption` (POLICY.md §5); `gongji policy` prints them. The one exception to "missing is refused"
// (issue 9 item 8): a text a store holds (PolicyText::stored), written before issue 9, may lack the parameters issue
// 9 added; each takes the value the ledger hard-coded before, so `explain` and `audit` re-derive what that gongji
// folded, and Policy::defaulted() lists them.
#pragma once
#include <array>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "events/date.h"
#include "events/event.h"
#include "events/money.h"

namespace gongji {

struct PolicyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses a decimal ratio "0.7050" into 1/10000 units; at most 4 decimals. nullopt otherwise.
std::optional<Rate> parse_rate(std::string_view s);

struct TherapyRule {
  enum class Per { day, week, alternate, adjunct } per = Per::day;
  int times = 1;
};

struct AcuDiagnosis {
  int course_days = 0;
  int daily_items = 0;
};

struct ChronicStandard {
  Money standard = 0;
  Money castration = 0;      // C01 with variant castration
  bool inpatient = false;    // 限额与住院合并计算: covered within the inpatient limit (CHR-EXCL)
};

using ByLevel = std::array<Money, 3>;
using RatesByLevel = std::array<Rate, 3>;

struct Params {
  CodeLists codes;                                                   // codes.*: what validate_event accepts
  bool ordinary_in_force = false, chronic_in_force = false;          // T-START
  int minor_age_below = 18;                                          // P-MINOR
  ByLevel ded_employee{}, ded_resident{};                            // ORD-DED
  Money limit_employee = 0, limit_resident_tier1 = 0, limit_resident_tier2 = 0;  // ORD-LIM
  RatesByLevel ratio_in_service{}, ratio_retired{}, ratio_resident{};           // ORD-RATIO
  Rate tcm_resident_extra = 0;                                       // F-TCM
  int designation_changes_per_year = 3;                              // ORD-DESIG
  Rate away_temporary_self_share = 0;                                // ORD-AWAY
  std::map<std::string, AcuDiagnosis, std::less<>> acu_diagnoses;    // ORD-ACU
  std::map<std::string, TherapyRule, std::less<>> therapies;
  int ped_max_age = 8, ped_course_days = 10;                         // ORD-PED
  std::map<std::string, bool, std::less<>> ped_conditions;           // condition -> course unlimited
  bool incentive_assessed = false;                                   // ORD-INC
  Rate incentive_unused = 0, incentive_at_most_half = 0, incentive_half_share = 0, incentive_cap = 0;
  Money chronic_ded_employee = 0, chronic_ded_ordinary = 0, chronic_ded_specific = 0;  // CHR-DED
  Rate chronic_ratio_resident_ordinary = 0;                          // CHR-RATIO
  Money chronic_limit_ordinary_tier1 = 0, chronic_limit_ordinary_tier2 = 0;  // CHR-LIM
  RatesByLevel chronic_position_weights{};
  int chronic_max_diseases = 3;                                      // CHR-LIM: diseases that take a position
  int suspension_first_year = 2023;                                  // CHR-SUSP: first December close that runs it
  bool art17_refer = false;                                          // CHR-ART17
  std::set<std::string, std::less<>> art17_diseases, specialty_diseases, excluded_diseases;
  std::map<std::string, ChronicStandard, std::less<>> chronic_standards;
  RatesByLevel inpatient_ratio_in_service{}, inpatient_ratio_retired{}, inpatient_ratio_resident{};
  Money inpatient_limit_employee = 0, inpatient_limit_resident = 0;  // CHR-INPT
  Rate account_personal_rate = 0, account_employer_under_46 = 0, account_employer_from_46 = 0;  // ACC-INSVC
  int account_age_from = 46;          // ACC-INSVC: employer `from_46` from this age (first day of the month)
  Month credit_from = 0, credit_to = 0;  // account.crediting_months (Art.40): months ACC-INSVC / ACC-RET credit
  bool retiree_credited = false;                                     // ACC-RET
  Money retiree_pension_base = 0;
  Rate retiree_under_70 = 0, retiree_from_70 = 0;
  int retiree_age_from = 70;          // ACC-RET: `from_70` from this age
  Date old_urban_confirmed_from = 0;  // ACC-RET (Art.25 ¶2): old-urban retirees credited if confirmed on or after
  bool flex_checked = false;                                         // ACC-FLEX
  Rate flex_under_46 = 0, flex_from_46 = 0, old_urban_rate = 0;
  int flex_age_from = 46;             // ACC-FLEX: `flexible_from_46` from this age
  std::set<Purpose> purposes_allowed, purposes_forbidden;  // ACC-USE
};

// One parameter as written in the file, for people and for `explain`. `assumption`: some value of it is assumed.
struct ParamInfo {
  std::string rule, article;
  bool assumption = false;
};

// One dated value flagged `assumption` (POLICY.md §5): `note` is the flag's text ("" for `assumption: true`).
struct Assumption {
  std::string parameter, rule, article, note;
  Date from = 0, to = 0;
  std::string value;  // the assumed value as YAML in flow style ("{employee: 300000.00, resident: 200000.00}")
};

// How load_policy_text reads a text (issue 9 item 8).
enum class PolicyText {
  given,   // a file a user names (--policy) or the built-in one: every parameter must be there
  stored,  // a text a store holds under v/<version>, folded with by an older gongji: a parameter added in issue 9
           // that it lacks takes the value the ledger hard-coded before, and Policy::defaulted() names it
};

// A parameter a stored older text lacks (PolicyText::stored), and the value it took: the one the ledger hard-coded
// before issue 9 made it a parameter. `value` as it would be written in the file ("46", "{from: 2022-07, to:
// 2027-06}"), or for a code list "the EVENTS.md list (N codes)".
struct Defaulted {
  std::string parameter, rule, value;
};

class Policy {
 public:
  const Params& at(Date d) const;
  Date window_from() const { return from_; }
  Date window_to() const { return to_; }
  const std::string& version() const { return version_; }  // "xxh128:<hex>" of the file's bytes
  const std::string& text() const { return text_; }
  const std::map<std::string, ParamInfo>& info() const { return info_; }
  // The code lists validate_event checks events against (`codes.*`: one value for the whole window).
  const CodeLists& codes() const { return spans_.empty() ? events_md_codes() : spans_.front().codes; }
  // Every assumed value, in parameter-name order, then by date.
  const std::vector<Assumption>& assumptions() const { return assumptions_; }
  // The parameters this (stored, older) text lacks and the values they took, in parameter-name order; empty for a
  // text that gives every parameter.
  const std::vector<Defaulted>& defaulted() const { return defaulted_; }
  // What a stored text holds that the loader passes over (a key it does not read, a key written twice, read as
  // written once; or, past a million YAML nodes, that the rest was not checked), each as the message a given text is
  // refused with ("<origin>:<line>: ..."), in the order found; empty for a given text, which is refused instead.
  // Such a key was passed over when the store was folded too, so what the store holds is what this reading gives:
  // `fold`, `serve` and `replay` warn of each (service/queries.h fold_policy) and `audit` lists them; the views
  // (`explain`, `person`, `statement`, `query`) read the text without a word.
  const std::vector<std::string>& passed_over() const { return passed_over_; }

 private:
  friend Policy load_policy_text(const std::string&, const std::string&, PolicyText);
  Date from_ = 0, to_ = 0;
  std::vector<Date> starts_;
  std::vector<Params> spans_;
  std::string version_, text_;
  std::map<std::string, ParamInfo> info_;
  std::vector<Assumption> assumptions_;
  std::vector<Defaulted> defaulted_;
  std::vector<std::string> passed_over_;
};

// `origin` names the source in error messages. PolicyText::stored only where a text the store holds is read
// (recorded_policy, rederive_claim): a user's file that lacks a parameter, or writes a key twice in one map, is always
// refused.
Policy load_policy_text(const std::string& yaml, const std::string& origin, PolicyText how = PolicyText::given);
Policy load_policy_file(const std::string& path);
// A file's bytes (PolicyError "cannot read policy file <path>"), and the version of a text ("xxh128:<hex>" of its
// bytes, Policy::version), for a caller that reads a named file as the stored text of its version (service/queries.h).
std::string read_policy_file(const std::string& path);
std::string policy_version(std::string_view text);
// The policy compiled into the binary: ledger/policy/weihai.yaml.
const Policy& default_policy();
const std::string& default_policy_text();

}  // namespace gongji
