#include "ledger/state.h"

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

}  // namespace gongji
