#include "ledger/chronic.h"

#include <algorithm>

#include "ledger/invariant.h"

namespace gongji {

std::optional<Bucket> chronic_bucket(const Standing& st, const std::optional<ResidentBucket>& bucket_field) {
  if (st.scheme == Scheme::employee) return Bucket::chronic_employee;
  if (!bucket_field) return std::nullopt;
  return *bucket_field == ResidentBucket::specific ? Bucket::chronic_specific : Bucket::chronic_ordinary;
}

std::string_view chronic_bucket_name(Bucket b) {
  switch (b) {
    case Bucket::chronic_employee: return "employee";
    case Bucket::chronic_ordinary: return "ordinary";
    case Bucket::chronic_specific: return "specific";
    case Bucket::inpatient:
    case Bucket::ordinary: break;
  }
  return spelling(b);
}

static bool in_effect(const Registration& r, Date d) { return r.effective <= d && d < r.ended; }

const Registration* registration_on(const PersonState& p, const std::string& disease, Date d) {
  for (const auto& r : p.registrations)
    if (r.disease == disease && in_effect(r, d)) return &r;
  return nullptr;
}

Money inpatient_limit(const Standing& st, const Params& params) {
  return st.scheme == Scheme::employee ? params.inpatient_limit_employee : params.inpatient_limit_resident;
}

Money inpatient_used(const PersonState& p, int year, Period period, std::optional<Date> as_of) {
  Money used = 0;
  const Period end = period_after(p, period);
  for (const Effect& e : p.effects)
    if (e.year == year && (!as_of || e.date <= *as_of) && anchored_in(effect_key(p, e), period, end))
      used += e.inpatient_used;
  return used;
}

namespace {

// CHR-DED: the deductible of a chronic bucket.
Money chronic_deductible(Bucket bucket, const Params& params) {
  return bucket == Bucket::chronic_employee   ? params.chronic_ded_employee
         : bucket == Bucket::chronic_ordinary ? params.chronic_ded_ordinary
                                              : params.chronic_ded_specific;
}

Money standard_of(const Registration& r, const Params& params) {
  auto it = params.chronic_standards.find(r.disease);
  if (it == params.chronic_standards.end()) return 0;
  return r.variant == Variant::castration ? it->second.castration : it->second.standard;
}

// Diseases that take a position in the limit formula (CHR-EXCL: not the old-policy or inpatient-only ones).
bool takes_position(const Registration& r, const Params& params) {
  auto it = params.chronic_standards.find(r.disease);
  return it != params.chronic_standards.end() && !it->second.inpatient;
}

}  // namespace

Money chronic_limit(const PersonState& p, const Standing& st, Bucket bucket, Date d, const Params& params) {
  if (bucket == Bucket::chronic_ordinary)  // CHR-LIM: resident ordinary, by tier, never pro-rated
    return st.tier == 1 ? params.chronic_limit_ordinary_tier1 : params.chronic_limit_ordinary_tier2;
  const int year = year_of(d);
  const Date jan = jan1(year);
  struct Counted {
    const Registration* r;
    Money standard;
    size_t order;
  };
  std::vector<Counted> at_jan1, later;
  std::set<std::string> seen;
  for (size_t i = 0; i < p.registrations.size(); ++i) {
    const Registration& r = p.registrations[i];
    if (r.bucket != bucket || !takes_position(r, params) || r.effective > d) continue;
    // In effect on d; or revoked this year after it took effect and after 1 January: the current year's limit keeps
    // its part (CHR-REG). Revoked on 1 January, it was in effect on no day of the year, and has no part in it (it
    // kept a full position: 7500.00 where 3000.00 is due, from the as-of oracle).
    bool counts = r.ended > d || (r.end_reason == EndReason::revoked && year_of(r.ended) == year &&
                                  r.effective < r.ended && r.ended > jan);
    if (!counts || !seen.insert(r.disease).second) continue;
    (r.effective <= jan ? at_jan1 : later).push_back({&r, standard_of(r, params), i});
  }
  std::stable_sort(at_jan1.begin(), at_jan1.end(),
                   [](const Counted& a, const Counted& b) { return a.standard > b.standard; });
  std::stable_sort(later.begin(), later.end(), [](const Counted& a, const Counted& b) {
    if (a.r->applied != b.r->applied) return a.r->applied < b.r->applied;
    if (a.r->approved != b.r->approved) return a.r->approved < b.r->approved;
    if (a.standard != b.standard) return a.standard > b.standard;
    return a.order < b.order;
  });
  at_jan1.insert(at_jan1.end(), later.begin(), later.end());
  // Exact sum of standard x weight x months, rounded once (RND, CHR-PRORATE).
  __int128 num = 0;
  const size_t counted = std::min<size_t>(static_cast<size_t>(params.chronic_max_diseases), 3);  // the loader: 1..3
  for (size_t i = 0; i < at_jan1.size() && i < counted; ++i) {
    const Registration& r = *at_jan1[i].r;
    int months = r.effective <= jan ? 12 : 12 - static_cast<int>(ymd_of(r.effective).m) + 1;
    num += static_cast<__int128>(at_jan1[i].standard) * params.chronic_position_weights[i] * months;
  }
  __int128 den = 10000 * 12;
  const __int128 limit = (num + den / 2) / den;
  if (limit > INT64_MAX) throw MoneyOverflow("money overflow in the chronic limit (CHR-LIM)");
  return static_cast<Money>(limit);
}

namespace {
// The bucket a registration or chronic-facility event concerns, or none after recording its refusal.
template <typename S>
std::optional<Bucket> bucket_of_event(const S& e, const PersonState& p, std::vector<Output>& out) {
  const Standing* st = standing_at(p, e.at);
  if (!st) {
    out.push_back(refusal(e, Reason::NOT_ELIGIBLE, "not enrolled on " + format_date(e.at)));
    return std::nullopt;
  }
  std::optional<Bucket> bucket = chronic_bucket(*st, e.bucket);
  if (!bucket)
    out.push_back(refusal(e, Reason::DISEASE_NOT_IN_BUCKET,
                          "a resident's registration or chronic facility names its bucket "
                                                      "(ordinary or specific)"));
  return bucket;
}
}  // namespace

void approve_disease(const ChronicDiseaseApproved& e, PersonState& p, const FoldContext& ctx,
                     std::vector<Output>& out) {
  const std::optional<Bucket> found = bucket_of_event(e, p, out);
  if (!found) return;
  const Bucket bucket = *found;
  const Params& params = ctx.policy->at(std::clamp(e.at, ctx.policy->window_from(), ctx.policy->window_to()));
  auto std_it = params.chronic_standards.find(e.disease);
  if (bucket == Bucket::chronic_ordinary && std_it != params.chronic_standards.end() && std_it->second.inpatient) {
    out.push_back(
        refusal(e, Reason::DISEASE_NOT_IN_BUCKET,
                e.disease + " is registered in the employee or specific bucket only"));
    return;
  }
  const Date effective = e.at + 1;  // CHR-REG: the day after approval
  const Date change = next_scheme_change(p, e.at);  // CHR-CHANGE: a late approval ends there (below)
  for (const Registration& r : p.registrations) {
    // (one approved in a later scheme period is another registration: a late approval is not refused by it)
    if (r.disease != e.disease || r.ended != kNever || r.approved >= change) continue;
    if (r.bucket != bucket) {
      out.push_back(refusal(e, Reason::DISEASE_ALREADY_REGISTERED, e.disease + " is registered in the " +
                                                                         std::string(chronic_bucket_name(r.bucket)) +
                                                                         " bucket"));
      return;
    }
    return;  // already registered and neither suspended nor revoked: nothing changes
  }
  Registration r;
  r.disease = e.disease;
  r.bucket = bucket;
  r.variant = e.variant;
  r.approved = e.at;
  r.effective = effective;
  r.applied = e.applied.value_or(e.at);
  if (change != kNever) {  // CHR-CHANGE, for a late approval
    r.ended = change;
    r.end_reason = EndReason::scheme_changed;
  }
  p.registrations.push_back(r);
}

// CHR-UNREG: the registration of the disease in force on the revocation's date ends then, whatever the log order
// (TIME-DATED): one approved later, or already ended (by a change of scheme, a suspension), is not it.
void revoke_disease(const ChronicDiseaseRevoked& e, PersonState& p, std::vector<Output>& out) {
  for (Registration& r : p.registrations)
    if (r.disease == e.disease && r.approved <= e.at && e.at < r.ended) {
      r.ended = e.at;  // claims rejected from the revocation date
      r.end_reason = EndReason::revoked;
      return;
    }
  out.push_back(refusal(e, Reason::DISEASE_NOT_REGISTERED, e.disease + " is not registered"));
}

void end_chronic_on_scheme_change(PersonState& p, Date d) {
  // A change logged after approvals dated on or after it (back-dated): those made under the new scheme (its
  // buckets) stay, and so do those of a later scheme period.
  const Date next = next_scheme_change(p, d);
  const Standing* now = standing_at(p, d);
  auto of_new_scheme = [&](const Registration& r) {
    return now && (r.bucket == Bucket::chronic_employee) == (now->scheme == Scheme::employee);
  };
  for (Registration& r : p.registrations)
    if (r.ended > d && r.approved < next && (r.approved < d || !of_new_scheme(r))) {
      r.ended = d;
      r.end_reason = EndReason::scheme_changed;
    }
  // CHR-CHANGE empties both slots, a December filing's choice for 1 January too (CHR-FAC): a change that December
  // ends it (it stood, and the new scheme's first choice was then CHRONIC_FACILITY_LOCKED; from the review). One
  // filed after a back-dated change but logged before it cannot be told apart here, and ends too.
  const Date next_jan1 = jan1(year_of(d) + 1);
  const bool december = ymd_of(d).m == 12;
  for (auto& [_, f] : p.chronic_facilities)
    for (auto* line : {&f.main, &f.specialty}) {
      if (december)
        std::erase_if(*line, [&](const Dated<std::string>& x) { return x.from == next_jan1 && !x.value.empty(); });
      insert_dated(*line, d, std::string());
    }
}

void designate_chronic_facility(const ChronicFacilityDesignated& e, PersonState& p, StateAccess& state,
                                std::vector<Output>& out) {
  const std::optional<Bucket> bucket = bucket_of_event(e, p, out);
  if (!bucket) return;
  for (const auto* f : {&e.facility, &e.specialty_facility}) {
    if (!*f) continue;
    FacilityState* fs = state.facility(**f);
    if (!fs || !facility_at(*fs, e.at)) {
      out.push_back(
          refusal(e, Reason::UNKNOWN_FACILITY, "facility " + **f + " is not registered on " + format_date(e.at)));
      return;
    }
  }
  ChronicFacilities& slots = p.chronic_facilities[*bucket];
  // Each slot: the first choice takes effect on its date; a different choice only when filed in December,
  // from 1 January (CHR-FAC). Check both before changing either.
  struct Change {
    std::vector<Dated<std::string>>* line;
    Date from;
    std::string value;
  };
  std::vector<Change> changes;
  for (auto [field, line] : {std::pair{&e.facility, &slots.main}, std::pair{&e.specialty_facility, &slots.specialty}}) {
    if (!*field) continue;
    const std::string* cur = value_at(*line, e.at);
    // What 1 January would bring, as filed so far: a December filing of the facility in effect cancels one of
    // another filed before it that December (the last December filing is the next year's choice, "下一年度需变更的，
    // 应于每年12月…办理变更手续"; it was a no-op, and the earlier filing stood, with no record of either).
    const std::string* filed = ymd_of(e.at).m == 12 ? value_at(*line, jan1(year_of(e.at) + 1)) : nullptr;
    if (!cur || cur->empty()) {
      changes.push_back({line, e.at, **field});
    } else if (*cur != **field || (filed && !filed->empty() && *filed != **field)) {
      if (ymd_of(e.at).m != 12) {
        out.push_back(refusal(e, Reason::CHRONIC_FACILITY_LOCKED, "the chronic facility " + *cur +
                                                                          " can change only by a December filing, "
                                                                          "from 1 January"));
        return;
      }
      changes.push_back({line, jan1(year_of(e.at) + 1), **field});
    }
  }
  for (auto& c : changes) {
    // CHR-CHANGE: a December filing for 1 January that a change of scheme comes between (dated after the filing, by
    // 1 January) never takes effect: the change empties both slots (a filing logged after such a change kept H2
    // over the first choice made under the new scheme, from the review).
    if (c.from > e.at && next_scheme_change(p, e.at) <= c.from) continue;
    insert_dated(*c.line, c.from, c.value);
    // CHR-CHANGE, for a late choice: one in force on a later change of scheme (no other choice between) ends there.
    const Date change = next_scheme_change(p, c.from);
    const bool superseded = std::any_of(c.line->begin(), c.line->end(),
                                        [&](const auto& x) { return x.from > c.from && x.from <= change; });
    if (change != kNever && !superseded) insert_dated(*c.line, change, std::string());
  }
}

void record_inpatient_settled(const InpatientSettled& e, PersonState& p) {
  Effect eff;
  eff.date = e.at;
  eff.year = year_of(e.at);
  eff.period = anchor_on(p, e.at);
  eff.bucket = Bucket::inpatient;
  eff.claim = e.id;
  eff.inpatient_used = e.covered;
  check_effect_nonneg(eff);  // accumulators only decrease by a reversal
  p.effects.push_back(eff);
}

namespace {

// CHR-EXCL, CHR-UNREG, CHR-FAC (not out of area) and CHR-ART17, in that order: the registration the claim settles
// under, or nullptr when one of them refused the claim (the refusal is in s).
const Registration* chronic_gate(const Claim& e, const PersonState& p, const Params& params, Settlement& s) {
  const std::string& disease = *e.disease;
  // CHR-EXCL: the old-policy diseases keep their old policy.
  if (params.excluded_diseases.count(disease)) {
    s.refuse<Say::disease_old_policy>(ClaimStatus::referred, Reason::CHRONIC_EXISTING_POLICY, Rule::CHR_EXCL, disease);
    return nullptr;
  }
  // CHR-UNREG
  const Registration* reg = registration_on(p, disease, e.at);
  if (!reg) {
    s.refuse<Say::disease_unregistered>(ClaimStatus::rejected, Reason::DISEASE_NOT_REGISTERED, Rule::CHR_UNREG,
                                        disease, e.at);
    return nullptr;
  }
  s.step<Say::disease_registered>(Rule::CHR_REG, disease, chronic_bucket_name(reg->bucket), reg->effective);
  // CHR-FAC (not out of area)
  if (!e.away) {
    auto it = p.chronic_facilities.find(reg->bucket);
    const std::string* main = it == p.chronic_facilities.end() ? nullptr : value_at(it->second.main, e.at);
    const std::string* spec = it == p.chronic_facilities.end() ? nullptr : value_at(it->second.specialty, e.at);
    bool at_main = main && *main == *e.facility;
    bool at_spec = spec && *spec == *e.facility && params.specialty_diseases.count(disease);
    if (!at_main && !at_spec) {
      if (main && !main->empty())
        s.refuse<Say::not_chronic_facility>(ClaimStatus::rejected, Reason::NOT_DESIGNATED, Rule::CHR_FAC,
                                            *e.facility, *main);
      else
        s.refuse<Say::not_chronic_facility_none>(ClaimStatus::rejected, Reason::NOT_DESIGNATED, Rule::CHR_FAC,
                                                 *e.facility);
      return nullptr;
    }
    if (at_main) s.step<Say::at_chronic_facility>(Rule::CHR_FAC);
    else s.step<Say::at_specialised_facility>(Rule::CHR_FAC);
  }
  // CHR-ART17
  if (params.art17_refer && params.art17_diseases.count(disease)) {
    s.refuse<Say::art17_current_policy>(ClaimStatus::referred, Reason::CHRONIC_EXISTING_POLICY, Rule::CHR_ART17,
                                        disease);
    return nullptr;
  }
  return reg;
}

// F-LEVEL and ORD-SCOPE for a chronic claim: sets s.level and adds every item but nucleic-acid tests (inpatient
// policy) to s.eligible.
void chronic_level_and_scope(const Claim& e, const FacilityVersion* fac, Settlement& s) {
  const bool away = e.away.has_value();
  s.level = std::max(1, away ? e.away->level : fac->level);
  if (away) s.step<Say::level_away>(Rule::F_LEVEL, s.level, spelling(e.away->mode));
  else s.step<Say::level>(Rule::F_LEVEL, s.level);
  for (size_t i = 0; i < e.items.size(); ++i) {
    if (e.items[i].category == ItemCategory::nucleic_acid) {
      s.reasons.insert(Reason::NUCLEIC_ACID_INPATIENT_POLICY);
      s.step<Say::item_nucleic_acid_inpatient>(Rule::ORD_SCOPE, static_cast<int>(i) + 1);
      continue;
    }
    s.eligible += e.items[i].eligible_or_amount();
  }
}

// CHR-RATIO with F-TCM: sets s.ratio and s.fund (RND) from s.covered.
void chronic_ratio_and_fund(const Standing& st, Bucket bucket, bool tcm, const Params& params, Settlement& s) {
  const bool employee = st.scheme == Scheme::employee;
  int ratio_level = tcm && employee ? std::max(1, s.level - 1) : s.level;
  const bool ordinary_bucket = bucket == Bucket::chronic_ordinary;
  const RatesByLevel& t = !employee ? params.inpatient_ratio_resident
                          : st.status == EmployeeStatus::retired ? params.inpatient_ratio_retired
                                                   : params.inpatient_ratio_in_service;
  Rate ratio = ordinary_bucket ? params.chronic_ratio_resident_ordinary : t[ratio_level - 1];
  if (tcm && !employee) ratio += params.tcm_resident_extra;
  if (tcm && employee) s.step<Say::tcm_chronic_employee>(Rule::F_TCM);
  else if (tcm) s.step<Say::tcm_chronic_resident>(Rule::F_TCM, params.tcm_resident_extra);
  s.ratio = ratio;
  if (ordinary_bucket) s.step<Say::chronic_ordinary_ratio>(Rule::CHR_RATIO, ratio);
  else s.step<Say::chronic_inpatient_ratio>(Rule::CHR_RATIO, ratio_level, ratio);
  s.fund = mul_rate(s.covered, s.ratio);
  s.step<Say::fund_rounded>(Rule::RND, s.covered, s.ratio, s.fund);
}

}  // namespace

void settle_chronic(const Claim& e, PersonState& p, const Standing& st, const FacilityVersion* fac,
                    const Params& params, Settlement& s) {
  const Registration* reg = chronic_gate(e, p, params, s);
  if (!reg) return;
  const std::string& disease = *e.disease;
  const Bucket bucket = reg->bucket;
  const bool away = e.away.has_value();
  chronic_level_and_scope(e, fac, s);

  const int year = year_of(e.at);
  const Period period = period_start(p, e.at);
  Sums before = sum_effects(p, year, period, bucket);
  check_accumulators(before, year, bucket);
  const bool inpatient_only = params.chronic_standards.count(disease) && params.chronic_standards.at(disease).inpatient;
  const bool counts_inpatient = bucket != Bucket::chronic_ordinary;  // CHR-INPT
  const Money limit = chronic_limit(p, st, bucket, e.at, params);
  constexpr Money kUnbounded = INT64_MAX / 4;
  Money room = inpatient_only ? kUnbounded : std::max<Money>(0, limit - before.limit_used);
  const Money inp_used = inpatient_used(p, year, period);
  const Money inp_limit = inpatient_limit(st, params);
  Money inp_room = counts_inpatient ? std::max<Money>(0, inp_limit - inp_used) : kUnbounded;
  check_accumulators({.inpatient_used = inp_used}, year, Bucket::inpatient);
  const Money room_before = room, inp_room_before = inp_room;
  if (inpatient_only)
    s.step<Say::covered_within_inpatient_limit>(Rule::CHR_EXCL, disease, inp_limit, inp_used);
  else
    s.step<Say::bucket_limit>(Rule::CHR_LIM, limit, before.limit_used);
  if (counts_inpatient && !inpatient_only) s.step<Say::inpatient_limit>(Rule::CHR_INPT, inp_limit, inp_used);
  Money counted_limit = 0, counted_inp = 0;
  if (away && e.away->mode == AwayMode::temporary) {  // ORD-AWAY applies to chronic claims alike
    s.self_first = mul_rate(s.eligible, params.away_temporary_self_share);
    Money c = std::min({s.self_first, room, inp_room});
    if (!inpatient_only) counted_limit += c, room -= c;
    if (counts_inpatient) counted_inp += c, inp_room -= c;
    s.step<Say::away_temporary_chronic>(Rule::ORD_AWAY, s.self_first, c);
  }
  const Money rest = s.eligible - s.self_first;
  const Money ded = chronic_deductible(bucket, params);
  s.deductible = std::min(std::max<Money>(0, ded - before.deductible), rest);
  check_deductible(before.deductible, s.deductible, ded, spelled(bucket));
  s.step<Say::bucket_deductible>(Rule::CHR_DED, ded, before.deductible, s.deductible);
  const Money above = rest - s.deductible;
  s.covered = std::min({above, room, inp_room});
  if (s.covered < above) {
    bool bucket_cut = room <= inp_room;
    s.reasons.insert(bucket_cut ? Reason::LIMIT_REACHED : Reason::INPATIENT_LIMIT_REACHED);
    s.step<Say::chronic_limit_reached>(bucket_cut ? Rule::CHR_LIM : Rule::CHR_INPT, bucket_cut ? "bucket" : "inpatient",
                                       above);
  }
  if (!inpatient_only) counted_limit += s.covered;
  if (counts_inpatient) counted_inp += s.covered;
  check_room(counted_limit, room_before, spelled(bucket));
  check_room(counted_inp, inp_room_before, "inpatient");

  chronic_ratio_and_fund(st, bucket, !away && fac->tcm, params, s);

  record_settlement(p, e, s, bucket, counted_limit, counted_inp, 0);
  s.after = {{Accumulator::deductible_paid, before.deductible + s.deductible},
             {Accumulator::inpatient_limit_used, inp_used + counted_inp},
             {Accumulator::limit, inpatient_only ? std::nullopt : std::optional<Money>(limit)},
             {Accumulator::limit_used, before.limit_used + counted_limit}};
}

bool suspend_chronic(PersonState& p, int year, const Params& params) {
  bool changed = false;
  const Date jan = jan1(year), next = jan1(year + 1);
  for (Bucket bucket : {Bucket::chronic_employee, Bucket::chronic_ordinary, Bucket::chronic_specific}) {
    bool assessed = false;
    for (const auto& r : p.registrations)
      if (r.bucket == bucket && in_effect(r, jan)) assessed = true;
    if (!assessed) continue;
    Money eligible = 0;
    for (const Effect& e : p.effects)
      if (e.bucket == bucket && e.year == year) eligible += e.eligible;
    if (eligible >= chronic_deductible(bucket, params)) continue;
    for (auto& r : p.registrations)
      if (r.bucket == bucket && r.ended > next && r.approved < next) {  // approved in the year: on 31 December too
        r.ended = next;
        r.end_reason = EndReason::suspended;
        changed = true;
      }
  }
  return changed;
}

}  // namespace gongji
