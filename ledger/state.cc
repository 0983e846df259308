#include "ledger/state.h"

#include <algorithm>

namespace gongji {

const Standing* standing_at(const PersonState& p, Date d) { return value_at(p.standing, d); }

bool eligible_on(const PersonState& p, Date d) {
  if (p.enrolled > d) return false;
  const bool* s = value_at(p.suspended, d);
  return !(s && *s);
}

Date period_start(const PersonState& p, Date d) {
  Date start = p.enrolled;
  const Scheme* scheme = nullptr;
  for (const auto& x : p.standing) {
    if (x.from > d) break;
    if (!scheme || *scheme != x.value.scheme) start = x.from;
    scheme = &x.value.scheme;
  }
  return start;
}

Date next_scheme_change(const PersonState& p, Date d) {
  const Scheme* scheme = nullptr;
  for (const auto& x : p.standing) {
    if (x.from > d && scheme && *scheme != x.value.scheme) return x.from;
    scheme = &x.value.scheme;
  }
  return kNever;
}

const FacilityVersion* facility_at(const FacilityState& f, Date d) {
  const FacilityVersion* found = nullptr;
  for (const auto& v : f.versions) {
    if (v.from > d) break;
    found = &v;
  }
  return found;
}

bool insert_date(std::vector<Date>& dates, Date d) {
  const auto at = std::lower_bound(dates.begin(), dates.end(), d);
  if (at != dates.end() && *at == d) return false;
  dates.insert(at, d);
  return true;
}

std::vector<Stay> stays_of(const PersonState& p) {
  std::vector<Stay> stays;
  const std::vector<Date>& in = p.admissions;
  size_t a = 0;  // the first admission not yet used
  for (const Date out : p.discharges) {
    while (a < in.size() && !stays.empty() && in[a] < stays.back().discharged) ++a;  // within the last stay
    if (a < in.size() && in[a] <= out) stays.push_back({in[a++], out});
  }
  while (a < in.size() && !stays.empty() && in[a] < stays.back().discharged) ++a;  // within the last stay
  if (a < in.size()) stays.push_back({in[a], kNever});
  return stays;
}

}  // namespace gongji
