// The policy as data (DESIGN.md "The policy is data"): a YAML parameters file, every value effective-dated and
// citing its article, compiled into one typed Params value per span of days on which no parameter changes.
//
// Contract: load_policy() refuses (PolicyError naming the parameter) a file with an unknown or missing parameter,
// a malformed value, or dated values that leave a gap or overlap inside the window; Policy::at(d) is the
// parameters in force on day d (d must lie inside the window, else PolicyError).
#pragma once
#include <array>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "events/date.h"
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
  bool art17_refer = false;                                          // CHR-ART17
  std::set<std::string, std::less<>> art17_diseases, specialty_diseases, excluded_diseases;
  std::map<std::string, ChronicStandard, std::less<>> chronic_standards;
  RatesByLevel inpatient_ratio_in_service{}, inpatient_ratio_retired{}, inpatient_ratio_resident{};
  Money inpatient_limit_employee = 0, inpatient_limit_resident = 0;  // CHR-INPT
  Rate account_personal_rate = 0, account_employer_under_46 = 0, account_employer_from_46 = 0;  // ACC-INSVC
  bool retiree_credited = false;                                     // ACC-RET
  Money retiree_pension_base = 0;
  Rate retiree_under_70 = 0, retiree_from_70 = 0;
  bool flex_checked = false;                                         // ACC-FLEX
  Rate flex_under_46 = 0, flex_from_46 = 0, old_urban_rate = 0;
  std::set<std::string, std::less<>> purposes_allowed, purposes_forbidden;  // ACC-USE
};

// One parameter as written in the file, for people and for `explain`.
struct ParamInfo {
  std::string rule, article;
  bool assumption = false;
};

class Policy {
 public:
  const Params& at(Date d) const;
  Date window_from() const { return from_; }
  Date window_to() const { return to_; }
  const std::string& version() const { return version_; }  // "xxh128:<hex>" of the file's bytes
  const std::string& text() const { return text_; }
  const std::map<std::string, ParamInfo>& info() const { return info_; }

 private:
  friend Policy load_policy_text(const std::string&, const std::string&);
  Date from_ = 0, to_ = 0;
  std::vector<Date> starts_;
  std::vector<Params> spans_;
  std::string version_, text_;
  std::map<std::string, ParamInfo> info_;
};

// `origin` names the source in error messages.
Policy load_policy_text(const std::string& yaml, const std::string& origin);
Policy load_policy_file(const std::string& path);
// The policy compiled into the binary: ledger/policy/weihai.yaml.
const Policy& default_policy();
const std::string& default_policy_text();

}  // namespace gongji
