#include "ledger/state.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

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

void normalize_stays(PersonState& p) {
  std::vector<std::pair<Date, int>> marks;  // (date, 0: a discharge, 1: an admission): on a date, discharges first
  for (const Stay& s : p.stays) {
    if (s.admitted != kNever) marks.emplace_back(s.admitted, 1);
    if (s.discharged != kNever) marks.emplace_back(s.discharged, 0);
  }
  std::sort(marks.begin(), marks.end());
  marks.erase(std::unique(marks.begin(), marks.end()), marks.end());  // one sent twice is one
  std::vector<Stay> stays;
  std::optional<Date> open;  // the admission of the stay open so far
  for (size_t i = 0; i < marks.size(); ++i) {
    const auto [at, admission] = marks[i];
    if (admission) {
      if (open) stays.push_back({*open, kNever});  // never discharged: it ends at this admission (in_stay)
      open = at;
    } else if (open) {
      stays.push_back({*open, at});
      open.reset();
    } else if (i + 1 < marks.size() && marks[i + 1] == std::pair{at, 1}) {  // admitted and discharged that day
      stays.push_back({at, at});
      ++i;
    } else {
      stays.push_back({kNever, at});  // a discharge no admission is known for (yet)
    }
  }
  if (open) stays.push_back({*open, kNever});
  p.stays = std::move(stays);
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
