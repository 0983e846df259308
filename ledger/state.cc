#include "ledger/state.h"

#include <algorithm>

namespace gongji {

const Standing* standing_at(const PersonState& p, Date d) {
  return d < p.enrolled ? nullptr : value_at(p.standing, d);  // none before the enrolment (P-ELIG)
}

std::optional<Date> retired_since(const PersonState& p, Date d) {
  const auto retired = [&](size_t i) {
    const Standing& s = p.standing[i].value;
    return s.scheme == Scheme::employee && s.status == EmployeeStatus::retired;
  };
  if (d < p.enrolled) return std::nullopt;
  size_t i = 0;
  while (i < p.standing.size() && p.standing[i].from <= d) ++i;
  if (i == 0 || !retired(--i)) return std::nullopt;
  while (i > 0 && retired(i - 1)) --i;
  if (i > 0) return p.standing[i].from;
  return p.retired_on && *p.retired_on <= p.enrolled ? *p.retired_on : p.enrolled;
}

bool eligible_on(const PersonState& p, Date d) {
  if (p.enrolled > d) return false;
  const bool* s = value_at(p.suspended, d);
  return !(s && *s);
}

namespace {
// ORD-TYPE: fn(period, standing) for each standing entry dated up to d that begins a scheme period, in order.
template <typename F>
void each_period_begun(const PersonState& p, Date d, F fn) {
  const Scheme* scheme = nullptr;
  int entry = 0;  // of p.standing[i]'s day, before it
  for (size_t i = 0; i < p.standing.size() && p.standing[i].from <= d; ++i) {
    const auto& x = p.standing[i];
    entry = i > 0 && p.standing[i - 1].from == x.from ? entry + 1 : 0;
    if (!scheme || *scheme != x.value.scheme) fn(Period{x.from, entry}, x.value);
    scheme = &x.value.scheme;
  }
}
}  // namespace

Period period_start(const PersonState& p, Date d) {
  Period period{p.enrolled, 0};
  each_period_begun(p, d, [&](Period begun, const Standing&) { period = begun; });
  return period;
}

Period period_after(const PersonState& p, Period period) {
  Period after{kNever, 0};
  each_period_begun(p, kNever, [&](Period begun, const Standing&) {
    if (begun > period && after.start == kNever) after = begun;
  });
  return after;
}

Period anchor_on(const PersonState& p, Date d) {
  Period anchor = period_start(p, d);
  int entry = 0;  // of d's standing entries
  for (const auto& x : p.standing) {
    if (x.from != d) continue;
    // A retirement's entry is always of the period of the entry before it (it continues its scheme): the anchor
    // need not name it, and does not (the stores folded before name the period in force).
    if (!x.value.retirement) anchor = std::max(anchor, Period{d, entry});
    ++entry;
  }
  return anchor;
}

Period effect_key(const PersonState& p, const Effect& e) {
  Date served = e.date;
  if (e.bucket != Bucket::inpatient)
    if (auto c = p.claims.find(e.claim); c != p.claims.end()) served = c->second.date;
  Period before{0, 0};  // the last standing entry dated before `served`
  for (size_t i = 0; i < p.standing.size() && p.standing[i].from < served; ++i)
    before = {p.standing[i].from, i > 0 && p.standing[i - 1].from == p.standing[i].from ? before.entry + 1 : 0};
  return std::max(e.period, before);
}

std::vector<std::pair<Period, Standing>> periods_superseded_on(const PersonState& p, Date d) {
  std::vector<std::pair<Period, Standing>> begun;
  each_period_begun(p, d, [&](Period x, const Standing& s) {
    if (x.start == d) begun.emplace_back(x, s);
  });
  if (!begun.empty()) begun.pop_back();  // the one in force on d
  return begun;
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

void insert_date(std::vector<Date>& dates, Date d) {
  dates.insert(std::upper_bound(dates.begin(), dates.end(), d), d);
}

std::vector<Stay> stays_of(const PersonState& p) {
  std::vector<Stay> stays;
  const std::vector<Date>&in = p.admissions, &out = p.discharges;
  bool open = false;
  for (size_t a = 0, c = 0; a < in.size() || c < out.size();) {
    const Date day = c == out.size() || (a < in.size() && in[a] < out[c]) ? in[a] : out[c];
    size_t admitted = 0, discharged = 0;  // on `day`
    for (; a < in.size() && in[a] == day; ++a) ++admitted;
    for (; c < out.size() && out[c] == day; ++c) ++discharged;
    if (open && discharged > 0) stays.back().discharged = day, open = false, --discharged;  // the stay ends
    for (; admitted > 0 && discharged > 0; --admitted, --discharged) stays.push_back({day, day});  // day stays
    if (admitted > 0 && !open) stays.push_back({day, kNever}), open = true;  // begun (more admissions: part of it)
  }
  return stays;
}

}  // namespace gongji
