#include "replay/person_view.h"

#include <algorithm>

#include "ledger/chronic.h"
#include "ledger/rules.h"

namespace gongji {

using nlohmann::json;

json chronic_view(const PersonState& p, Date as_of, const Params* params) {
  json out = json::object();
  const Standing* st = standing_at(p, as_of);
  json diseases = json::array();
  for (const auto& r : p.registrations) {
    if (r.approved > as_of) continue;
    std::string state = as_of < r.effective ? "approved"
                        : as_of < r.ended   ? "in_effect"
                        : r.end_reason      ? spelled(*r.end_reason)
                                            : std::string();
    const std::string name(chronic_bucket_name(r.bucket));
    json d = {{"disease", r.disease}, {"bucket", name}, {"effective", format_date(r.effective)}, {"state", state}};
    if (r.variant) d["variant"] = spelled(*r.variant);
    diseases.push_back(d);
    if (!st || !params) continue;
    // The buckets of the registrations not ended before the scheme period in force began (CHR-CHANGE ends the
    // others' at the change: a resident's ordinary bucket showed its limit, 1000.00, to an employee, and again after
    // a change back), nor of one that never took effect (CHR-REG), unless the period holds effects of the bucket
    // (TIME-ASOF: a claim settled before a revocation dated on the registration's first day was logged; its effects
    // stand, and the claims after it meet them). One revoked in an earlier year of the period stays, its limit 0.00
    // (later years do not count it).
    const int year = year_of(as_of);
    const Period period = period_start(p, as_of);
    if (out.contains(name)) continue;
    Sums s = sum_effects(p, year, period, r.bucket, as_of);
    if ((r.ended <= period.start || r.ended <= r.effective) && !any_effect(s)) continue;  // ended, or never in effect
    out[name] = {{"limit", format_money(chronic_limit(p, *st, r.bucket, as_of, *params))},
                 {"limit_used", format_money(s.limit_used)},
                 {"deductible_paid", format_money(s.deductible)},
                 {"fund_paid", format_money(s.fund)}};
  }
  out["diseases"] = diseases;
  return out;
}

json person_view(const PersonState& p, Date as_of, const Policy& policy,
                 const std::function<const FacilityState*(const std::string&)>& facilities) {
  json j;
  j["person"] = p.id;
  j["as_of"] = format_date(as_of);
  const Standing* st = standing_at(p, as_of);
  j["scheme"] = st ? json(spelled(st->scheme)) : json();
  j["status"] = st && st->status ? json(spelled(*st->status)) : json();
  j["tier"] = st && st->scheme == Scheme::resident ? json(st->tier) : json();
  j["enrolled"] = p.enrolled <= as_of;
  j["eligible"] = eligible_on(p, as_of);
  j["birth_date"] = format_date(p.birth);
  const int year = year_of(as_of);
  const Period period = period_start(p, as_of);
  const PersonDay day = person_day(p, as_of, policy);
  std::string des = designation_on(p, as_of);
  json ordinary = {{"deductible_paid", format_money(day.deductible_paid)},
                   {"limit_used", format_money(day.limit_used)},
                   {"fund_paid", format_money(day.fund_paid)},
                   {"designated_facility", des.empty() ? json() : json(des)},
                   {"changes_this_year", std::count_if(p.designation_changes.begin(), p.designation_changes.end(),
                                                       [&](Date d) { return year_of(d) == year && d <= as_of; })}};
  bool in_window = as_of >= policy.window_from() && as_of <= policy.window_to();
  ordinary["limit"] = day.limit ? json(format_money(*day.limit)) : json();
  j["ordinary"] = ordinary;
  j["incentive"] = {{"bonus_points", format_points(bonus_on(p, as_of))}};
  j["chronic"] = chronic_view(p, as_of, in_window ? &policy.at(as_of) : nullptr);
  j["inpatient_limit_used"] = format_money(inpatient_used(p, year, period, as_of));
  j["account"] = {{"balance", format_money(day.balance)}};
  (void)facilities;
  return j;
}

}  // namespace gongji
