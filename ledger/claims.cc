// Claim settlement: the claim checks in the order of POLICY.md §6, then scope and amounts (§1).
#include <algorithm>

#include "ledger/chronic.h"
#include "ledger/invariant.h"
#include "ledger/rules.h"

namespace gongji {

Sums sum_effects(const PersonState& p, int year, Period period, Bucket bucket, std::optional<Date> as_of) {
  Sums s;
  const Period end = period_after(p, period);
  for (const Effect& e : p.effects) {
    if (e.year != year || e.bucket != bucket || !anchored_in(effect_key(p, e), period, end)) continue;
    if (as_of && e.date > *as_of) continue;
    s.deductible += e.deductible;
    s.limit_used += e.limit_used;
    s.inpatient_used += e.inpatient_used;
    s.fund += e.fund;
    s.eligible += e.eligible;
  }
  return s;
}

void check_accumulators(const Sums& s, int year, Bucket bucket) {
  check_invariant(s.deductible >= 0 && s.limit_used >= 0 && s.inpatient_used >= 0 && s.fund >= 0 && s.eligible >= 0,
                  "INV-ACCUM-NONNEG", [&] {
                    return spelled(bucket) + " " + std::to_string(year) + ": deductible paid " +
                           format_money(s.deductible) +
                           ", limit used " + format_money(s.limit_used) + ", inpatient used " +
                           format_money(s.inpatient_used) + ", fund " + format_money(s.fund) + ", eligible " +
                           format_money(s.eligible);
                  });
}

void check_deductible(Money paid_before, Money deductible, Money in_force, const std::string& which) {
  check_invariant(deductible == 0 || paid_before + deductible <= in_force, "INV-DED-LE-DEDUCTIBLE", [&] {
    return "deductible paid " + format_money(paid_before) + " + " + format_money(deductible) + " is beyond the " +
           which + " deductible " + format_money(in_force);
  });
}

void check_room(Money counted, Money room_before, const std::string& which) {
  check_invariant(counted <= room_before, "INV-COVERED-LE-ROOM", [&] {
    return format_money(counted) + " counted into the " + which + " limit, room " + format_money(room_before);
  });
}

void check_effect_nonneg(const Effect& e) {
  check_invariant(e.deductible >= 0 && e.limit_used >= 0 && e.inpatient_used >= 0 && e.fund >= 0 && e.eligible >= 0,
                  "INV-EFFECT-NONNEG", [&] {
                    return spelled(e.bucket) + " effect of " + e.claim + ": deductible " + format_money(e.deductible) +
                           ", limit used " + format_money(e.limit_used) + ", inpatient used " +
                           format_money(e.inpatient_used) + ", fund " + format_money(e.fund) + ", eligible " +
                           format_money(e.eligible);
                  });
}

void record_settlement(PersonState& p, const Claim& claim, const Settlement& s, Bucket bucket, Money limit_used,
                       Money inpatient_used, Rate bonus) {
  Effect eff;
  eff.date = claim.at;
  eff.year = year_of(claim.at);
  eff.period = anchor_on(p, claim.at);
  eff.bucket = bucket;
  eff.claim = claim.claim;
  eff.deductible = s.deductible;
  eff.limit_used = limit_used;
  eff.inpatient_used = inpatient_used;
  eff.fund = s.fund;
  eff.eligible = s.eligible;
  eff.bonus = bonus;
  check_effect_nonneg(eff);  // accumulators only decrease by a reversal
  p.effects.push_back(eff);
  p.claims[claim.claim].effect = eff;
}

Money ordinary_limit(const PersonState& p, const Standing& s, Date d, const Params& params) {
  if (s.scheme == Scheme::employee) return params.limit_employee;
  bool minor = age_on(p.birth, d) < params.minor_age_below;  // P-MINOR: tier-1 standards
  return minor || s.tier == 1 ? params.limit_resident_tier1 : params.limit_resident_tier2;
}

bool designatable(const FacilityVersion& f, Scheme scheme) {
  if (!f.ordinary_outpatient || !f.parent.empty()) return false;
  if (scheme == Scheme::employee) return true;
  return f.kind == FacilityKind::township_health_center || f.kind == FacilityKind::community_health_center ||
         f.kind == FacilityKind::community_health_station;
}

std::string designation_on(const PersonState& p, Date d) {
  const std::string* v = value_at(p.designation, d);
  return v ? *v : std::string();
}

void end_undesignatable(PersonState& p, Date d, Scheme scheme, StateAccess& state) {
  const std::string cur = designation_on(p, d);
  if (cur.empty()) return;
  FacilityState* f = state.facility(cur);
  const FacilityVersion* fv = f ? facility_at(*f, d) : nullptr;
  if (!fv || !designatable(*fv, scheme)) insert_dated(p.designation, d, std::string());
}

void drop_undesignatable(PersonState& p, Date from, Date to, Scheme scheme, StateAccess& state) {
  for (size_t i = 0; i < p.designation.size();) {
    const Dated<std::string>& x = p.designation[i];
    bool drop = false;
    if (x.from >= from && x.from < to && !x.value.empty()) {
      FacilityState* f = state.facility(x.value);
      const FacilityVersion* fv = f ? facility_at(*f, x.from) : nullptr;
      drop = !fv || !designatable(*fv, scheme);
    }
    if (!drop) {
      ++i;
      continue;
    }
    if (i > 0 && !p.designation[i - 1].value.empty()) {  // it replaced one: counted as a change (designate)
      auto counted = std::find(p.designation_changes.begin(), p.designation_changes.end(), x.from);
      if (counted != p.designation_changes.end()) p.designation_changes.erase(counted);
    }
    p.designation.erase(p.designation.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void designate_from(PersonState& p, Date d, const std::string& facility, StateAccess& state) {
  insert_dated(p.designation, d, facility);
  for (Date change = next_scheme_change(p, d); change != kNever; change = next_scheme_change(p, change)) {
    // Only while it is the designation in force: one dated after it (up to the change) supersedes it.
    if (std::any_of(p.designation.begin(), p.designation.end(),
                    [&](const auto& x) { return x.from > d && x.from <= change; }))
      break;
    end_undesignatable(p, change, standing_at(p, change)->scheme, state);
  }
}

Rate bonus_on(const PersonState& p, Date d) {
  const Rate* v = value_at(p.bonus, d);
  return v ? *v : 0;
}

namespace {

bool in_stay(const PersonState& p, Date d) {
  for (const Stay& s : stays_of(p))
    if (s.admitted <= d && d <= s.discharged) return true;
  return false;
}

// ORD-ACU / ORD-PED course: the start of the course this claim belongs to (POLICY.md ORD-ACU "Course").
Date course_for(PersonState& p, const std::string& key, const Claim& e, int days) {
  if (e.course_start) {
    p.courses[key] = *e.course_start;
    return *e.course_start;
  }
  auto it = p.courses.find(key);
  if (it != p.courses.end() && it->second <= e.at && e.at <= it->second + days - 1) return it->second;
  p.courses[key] = e.at;
  return e.at;
}

// ORD-ACU frequency: may one more use of `code` fall on day d?
bool frequency_allows(const std::vector<TherapyUse>& uses, const std::string& code, Date d, const TherapyRule& r) {
  auto count_in = [&](Date from, Date to) {
    int n = 0;
    for (const auto& u : uses)
      if (u.code == code && u.date >= from && u.date <= to) ++n;
    return n;
  };
  switch (r.per) {
    case TherapyRule::Per::day: return count_in(d, d) < r.times;
    case TherapyRule::Per::week:
      for (Date s = d - 6; s <= d; ++s)
        if (count_in(s, s + 6) + 1 > r.times) return false;
      return true;
    case TherapyRule::Per::alternate: return count_in(d - 1, d + 1) == 0;
    case TherapyRule::Per::adjunct: return true;
  }
  return true;
}

// What the item checks of one claim share: the claim, the person, and the claim-wide facts of ORD-ACU and ORD-PED.
struct ItemCheck {
  const Claim& e;
  PersonState& p;
  const Params& params;
  Settlement& s;
  Money acu = 0, other = 0;  // the claim's acupuncture and other TCM amounts, as submitted
  std::string diag;
  int age = 0;
  std::optional<Date> acu_course, ped_course;
  std::vector<TherapyUse> accepted;  // this claim's accepted TCM items
};

// ORD-ACU per day: may the therapy `code` (empty: uncoded) be one more of the person's TCM items on the claim's day,
// under the diagnosis's daily cap and the therapy's frequency rule? A refusal is stepped for item n.
bool therapy_allowed(ItemCheck& c, const std::string& code, const TherapyRule* rule, int daily_items, int n,
                     std::string_view cat) {
  // Per day: distinct codes over all accepted TCM items of the person that day.
  std::set<std::string> codes;
  int uncoded = 0;
  bool seen = false;
  auto count = [&](const TherapyUse& u) {
    if (u.date != c.e.at) return;
    if (u.code.empty()) ++uncoded;
    else codes.insert(u.code);
    if (!code.empty() && u.code == code) seen = true;
  };
  for (const auto& u : c.p.therapy_uses) count(u);
  for (const auto& u : c.accepted) count(u);
  if (!seen && static_cast<int>(codes.size()) + uncoded >= daily_items) {
    c.s.reasons.insert(Reason::ACU_DAILY_ITEMS_EXCEEDED);
    c.s.step<Say::item_therapies_a_day>(Rule::ORD_ACU, n, cat, daily_items);
    return false;
  }
  if (rule) {
    std::vector<TherapyUse> all = c.p.therapy_uses;
    all.insert(all.end(), c.accepted.begin(), c.accepted.end());
    if (!frequency_allows(all, code, c.e.at, *rule)) {
      c.s.reasons.insert(Reason::ACU_FREQUENCY_EXCEEDED);
      c.s.step<Say::item_therapy_over_frequency>(Rule::ORD_ACU, n, cat, code);
      return false;
    }
  }
  return true;
}

// ORD-ACU for a resident's acupuncture or other TCM item n: is it eligible? An accepted coded or uncoded item that is
// not an adjunct is recorded in c.accepted; a refusal is stepped.
bool tcm_item_eligible(ItemCheck& c, const Item& it, int n) {
  const std::string_view cat = spelling(it.category);
  if (c.acu <= c.other) {  // acupuncture-led: strictly greater, as submitted
    c.s.reasons.insert(Reason::ACU_NOT_LED);
    c.s.step<Say::item_not_acupuncture_led>(Rule::ORD_ACU, n, cat, c.acu, c.other);
    return false;
  }
  auto dg = c.params.acu_diagnoses.find(c.diag);
  if (dg == c.params.acu_diagnoses.end()) {
    c.s.reasons.insert(Reason::ACU_DIAGNOSIS_NOT_LISTED);
    c.s.step<Say::item_diagnosis_not_in_annex1>(Rule::ORD_ACU, n, cat, c.diag);
    return false;
  }
  if (!c.acu_course) c.acu_course = course_for(c.p, "acu:" + c.diag, c.e, dg->second.course_days);
  if (c.e.at > *c.acu_course + dg->second.course_days - 1) {
    c.s.reasons.insert(Reason::ACU_COURSE_EXCEEDED);
    c.s.step<Say::item_course_over>(Rule::ORD_ACU, n, cat, *c.acu_course, dg->second.course_days);
    return false;
  }
  const std::string code = it.therapy.value_or("");
  auto rule = code.empty() ? c.params.therapies.end() : c.params.therapies.find(code);
  const TherapyRule* found = rule == c.params.therapies.end() ? nullptr : &rule->second;
  if (found && found->per == TherapyRule::Per::adjunct) return true;
  if (!therapy_allowed(c, code, found, dg->second.daily_items, n, cat)) return false;
  c.accepted.push_back({c.e.at, code, c.e.claim});
  return true;
}

// ORD-PED for a resident's paediatric massage item n: is it eligible? A refusal is stepped.
bool massage_item_eligible(ItemCheck& c, const Item& it, int n) {
  const std::string_view cat = spelling(it.category);
  auto cond = c.params.ped_conditions.find(c.diag);
  if (c.age > c.params.ped_max_age || cond == c.params.ped_conditions.end()) {
    c.s.reasons.insert(Reason::PED_NOT_COVERED);
    c.s.step<Say::item_massage_not_covered>(Rule::ORD_PED, n, cat, c.params.ped_max_age, c.age, c.diag);
    return false;
  }
  if (!cond->second) {
    if (!c.ped_course) c.ped_course = course_for(c.p, "ped:" + c.diag, c.e, c.params.ped_course_days);
    if (c.e.at > *c.ped_course + c.params.ped_course_days - 1) {
      c.s.reasons.insert(Reason::PED_COURSE_EXCEEDED);
      c.s.step<Say::item_course_over>(Rule::ORD_PED, n, cat, *c.ped_course, c.params.ped_course_days);
      return false;
    }
  }
  return true;
}

// ORD-SCOPE, ORD-ACU, ORD-PED: the eligible amount of each item, recording accepted therapy uses.
Money eligible_items(const Claim& e, PersonState& p, const Standing& st, const Params& params, Settlement& s) {
  const bool resident = st.scheme == Scheme::resident;
  Money acu = 0, other = 0;
  for (const Item& it : e.items) {
    if (it.category == ItemCategory::acupuncture) acu += it.eligible_or_amount();
    if (it.category == ItemCategory::tcm_other) other += it.eligible_or_amount();
  }
  ItemCheck c{.e = e, .p = p, .params = params, .s = s, .acu = acu, .other = other,
              .diag = e.diagnosis.value_or(""), .age = age_on(p.birth, e.at), .acu_course = {}, .ped_course = {},
              .accepted = {}};
  Money total = 0;
  for (size_t i = 0; i < e.items.size(); ++i) {
    const Item& it = e.items[i];
    const int n = static_cast<int>(i) + 1;  // the item as the trace names it: "item 2 (drug)"
    bool eligible = false;
    if (it.category == ItemCategory::nucleic_acid) {
      s.reasons.insert(Reason::NUCLEIC_ACID_INPATIENT_POLICY);
      s.step<Say::item_nucleic_acid_not_here>(Rule::ORD_SCOPE, n, spelling(it.category));
    } else if (!resident || it.category == ItemCategory::drug ||
               it.category == ItemCategory::general_consultation) {
      eligible = true;  // ORD-SCOPE: employees, every eligible item; residents, drugs and general consultations
    } else if (it.category == ItemCategory::acupuncture || it.category == ItemCategory::tcm_other) {
      eligible = tcm_item_eligible(c, it, n);
    } else if (it.category == ItemCategory::pediatric_massage) {
      eligible = massage_item_eligible(c, it, n);
    } else {
      s.reasons.insert(Reason::RESIDENT_SCOPE);  // exam, lab, treatment, device
      s.step<Say::item_outside_resident_scope>(Rule::ORD_SCOPE, n, spelling(it.category));
    }
    if (eligible) total += it.eligible_or_amount();
  }
  for (auto& u : c.accepted) p.therapy_uses.push_back(std::move(u));
  return total;
}

// ORD-RATIO, with F-TCM's points for a resident and ORD-INC's bonus: sets s.ratio and s.fund (RND) from s.covered;
// returns the bonus.
Rate ordinary_ratio_and_fund(const Claim& e, const PersonState& p, const Standing& st, bool tcm, int ratio_level,
                             const Params& params, Settlement& s) {
  const bool employee = st.scheme == Scheme::employee;
  const RatesByLevel& ratios = !employee ? params.ratio_resident
                               : st.status == EmployeeStatus::retired ? params.ratio_retired
                                                        : params.ratio_in_service;
  Rate ratio = ratios[ratio_level - 1];
  if (tcm && !employee) ratio += params.tcm_resident_extra;
  Rate bonus = bonus_on(p, e.at);
  s.ratio = ratio + bonus;
  const char* who = !employee ? "resident" : st.status == EmployeeStatus::retired ? "retired" : "in-service";
  s.step<Say::ordinary_ratio>(Rule::ORD_RATIO, who, ratio, ratio_level);
  if (bonus) s.step<Say::incentive_bonus>(Rule::ORD_INC, bonus);
  s.fund = mul_rate(s.covered, s.ratio);
  s.step<Say::fund_rounded>(Rule::RND, s.covered, s.ratio, s.fund);
  return bonus;
}

void settle_ordinary(const Claim& e, PersonState& p, const Standing& st, const FacilityVersion* fac,
                     const FoldContext& ctx, Settlement& s) {
  const Params& params = ctx.policy->at(e.at);
  const bool employee = st.scheme == Scheme::employee;
  const bool away = e.away.has_value();

  // F-LEVEL, F-TCM
  int level = std::max(1, away ? e.away->level : fac->level);
  bool tcm = !away && fac->tcm;
  s.level = level;
  if (away) s.step<Say::level_away>(Rule::F_LEVEL, level, spelling(e.away->mode));
  else s.step<Say::level>(Rule::F_LEVEL, level);
  int ded_level = tcm ? std::max(1, level - 1) : level;
  int ratio_level = tcm && employee ? ded_level : level;
  if (tcm && employee) s.step<Say::tcm_employee>(Rule::F_TCM, ded_level);
  else if (tcm) s.step<Say::tcm_resident>(Rule::F_TCM, ded_level, params.tcm_resident_extra);

  // ORD-SCOPE / ORD-ACU / ORD-PED
  s.eligible = eligible_items(e, p, st, params, s);
  s.step<Say::eligible_of>(Rule::ORD_SCOPE, s.eligible, s.total);

  const int year = year_of(e.at);
  const Period period = period_start(p, e.at);
  Sums before = sum_effects(p, year, period, Bucket::ordinary);
  check_accumulators(before, year, Bucket::ordinary);
  const Money limit = ordinary_limit(p, st, e.at, params);
  Money used = before.limit_used;
  Money room = std::max<Money>(0, limit - used);
  const Money room_before = room;
  const bool minor = age_on(p.birth, e.at) < params.minor_age_below;
  if (employee) s.step<Say::employee_limit>(Rule::ORD_LIM, limit, used);
  else s.step<Say::resident_limit>(minor ? Rule::P_MINOR : Rule::ORD_LIM, limit, minor ? 1 : st.tier, used);

  // ORD-AWAY: temporary out-of-area care: the patient first bears 10%, counted into the limit.
  Money limit_counted = 0;
  if (away && e.away->mode == AwayMode::temporary) {
    s.self_first = mul_rate(s.eligible, params.away_temporary_self_share);
    limit_counted = std::min(s.self_first, room);
    room -= limit_counted;
    s.step<Say::away_temporary>(Rule::ORD_AWAY, s.self_first, limit_counted);
  } else if (away) {
    s.step<Say::away_long_term>(Rule::ORD_AWAY, level);
  }
  const Money rest = s.eligible - s.self_first;

  // ORD-DED: one running total a year, by level.
  const ByLevel& ded_table = employee ? params.ded_employee : params.ded_resident;
  Money owed = std::max<Money>(0, ded_table[ded_level - 1] - before.deductible);
  s.deductible = std::min(owed, rest);
  check_deductible(before.deductible, s.deductible, ded_table[ded_level - 1], "ordinary");
  s.step<Say::ordinary_deductible>(Rule::ORD_DED, ded_level, ded_table[ded_level - 1], before.deductible, s.deductible);

  // ORD-LIM: cost above the deductible, covered up to the room left.
  const Money above = rest - s.deductible;
  s.covered = std::min(above, room);
  if (s.covered < above) {
    s.reasons.insert(Reason::LIMIT_REACHED);
    s.step<Say::limit_reached_room>(Rule::ORD_LIM, above, room);
  }
  limit_counted += s.covered;
  check_room(limit_counted, room_before, "ordinary");

  // ORD-RATIO (+ F-TCM points, + ORD-INC bonus)
  const Rate bonus = ordinary_ratio_and_fund(e, p, st, tcm, ratio_level, params, s);

  record_settlement(p, e, s, Bucket::ordinary, limit_counted, 0, bonus);
  s.after = {{Accumulator::deductible_paid, before.deductible + s.deductible},
             {Accumulator::limit, limit},
             {Accumulator::limit_used, used + limit_counted}};
}

// ORD-DESIG (not out of area, not an emergency): false when the claim is refused (s carries the reason). A first
// claim at a designatable unit, or at an extension unit of one, designates it.
bool check_designation(const Claim& e, PersonState& p, const Standing& st, const FacilityVersion* fac,
                       StateAccess& state, Settlement& s) {
  if (e.away || e.benefit == Benefit::emergency) {
    if (e.away) s.step<Say::away_no_designation>(Rule::ORD_DESIG);
    else s.step<Say::emergency_no_designation>(Rule::ORD_DESIG);
    return true;
  }
  const std::string des = designation_on(p, e.at);
  if (!des.empty()) {
    if (des == *e.facility || (fac->parent == des && fac->ordinary_outpatient)) {
      if (des == *e.facility) s.step<Say::at_designated>(Rule::ORD_DESIG);
      else s.step<Say::at_extension_unit>(Rule::ORD_DESIG, des);
      return true;
    }
    s.refuse<Say::designated_elsewhere>(ClaimStatus::rejected, Reason::NOT_DESIGNATED, Rule::ORD_DESIG, des,
                                        *e.facility);
    return false;
  }
  std::string target;
  if (designatable(*fac, st.scheme)) {
    target = *e.facility;
  } else if (!fac->parent.empty() && fac->ordinary_outpatient) {
    FacilityState* parent = state.facility(fac->parent);
    const FacilityVersion* pv = parent ? facility_at(*parent, e.at) : nullptr;
    if (pv && designatable(*pv, st.scheme)) target = fac->parent;
  }
  if (target.empty()) {
    s.refuse<Say::cannot_designate>(ClaimStatus::rejected, Reason::NOT_DESIGNATED, Rule::ORD_DESIG, *e.facility);
    return false;
  }
  designate_from(p, e.at, target, state);
  s.reasons.insert(Reason::AUTO_DESIGNATED);
  s.step<Say::first_claim_designates>(Rule::ORD_DESIG, target, e.at);
  return true;
}

// SETTLE: claim `e` takes its id in its person's history (EVENTS.md: a claim is its person and its claim id); the
// status is set once decided.
ClaimRecord& take_claim_id(PersonState& p, const Claim& e, StateAccess& state) {
  ClaimRecord& rec = p.claims[e.claim];
  rec.date = e.at;
  state.touch_person(p.id);
  return rec;
}

// SETTLE: the claim's person and facility are known and its id is new to the person (EVENTS.md: a claim is its
// person and its claim id); otherwise s is refused, consuming nothing. Sets `fac` (none when out of area). A claim
// of a known person at an unknown facility still takes its id, if new: a later claim event reusing it is a
// DUPLICATE_CLAIM, "whatever that one's outcome" (§4; it was settled).
bool known_and_new(const Claim& e, PersonState* p, StateAccess& state, const FacilityVersion*& fac, Settlement& s) {
  if (!p) {
    s.refuse<Say::person_unknown>(ClaimStatus::rejected, Reason::UNKNOWN_PERSON, Rule::SETTLE, e.person);
    return false;
  }
  if (e.facility) {
    FacilityState* f = state.facility(*e.facility);
    fac = f ? facility_at(*f, e.at) : nullptr;
    if (!fac) {
      s.refuse<Say::facility_unregistered>(ClaimStatus::rejected, Reason::UNKNOWN_FACILITY, Rule::SETTLE,
                                           *e.facility, e.at);
      if (!p->claims.contains(e.claim)) take_claim_id(*p, e, state).status = ClaimStatus::rejected;
      return false;
    }
  }
  if (p->claims.count(e.claim)) {
    s.refuse<Say::claim_id_used>(ClaimStatus::rejected, Reason::DUPLICATE_CLAIM, Rule::SETTLE, e.claim);
    return false;
  }
  return true;
}

}  // namespace

Output settle_claim(const Claim& e, StateAccess& state, const FoldContext& ctx) {
  Settlement s;
  s.claim = e.claim;
  s.person = e.person;
  s.event = e.id;
  s.benefit = e.benefit, s.date = e.at;
  s.facility = e.facility.value_or("");
  for (const Item& it : e.items) s.total = checked_add(s.total, it.amount);
  auto done = [&] {
    check_settlement(s);
    s.policy_version = ctx.policy->version();
    return Output{"settlement", s.claim, "", s.person, std::make_shared<const Settlement>(std::move(s))};
  };

  PersonState* p = state.person(e.person);
  const FacilityVersion* fac = nullptr;
  if (!known_and_new(e, p, state, fac, s)) return done();
  ClaimRecord& rec = take_claim_id(*p, e, state);
  auto finish = [&] {
    rec.status = s.status;
    return done();
  };

  // T-START
  const bool chronic = e.benefit == Benefit::chronic;
  const Policy& pol = *ctx.policy;
  bool in_window = e.at >= pol.window_from() && e.at <= pol.window_to();
  if (!in_window || !(chronic ? pol.at(e.at).chronic_in_force : pol.at(e.at).ordinary_in_force)) {
    s.refuse<Say::not_in_force>(ClaimStatus::rejected, Reason::POLICY_NOT_IN_FORCE, Rule::T_START,
                                chronic ? "chronic" : "ordinary", e.at);
    return finish();
  }
  s.step<Say::in_force>(Rule::T_START, e.at);
  // P-ELIG
  if (!eligible_on(*p, e.at)) {
    s.refuse<Say::not_enrolled>(ClaimStatus::rejected, Reason::NOT_ELIGIBLE, Rule::P_ELIG, e.at);
    return finish();
  }
  const Standing& st = *standing_at(*p, e.at);
  s.scheme = st.scheme;
  if (st.status) s.step<Say::enrolled_employee>(Rule::P_ELIG, spelling(st.scheme), spelling(*st.status));
  else s.step<Say::enrolled_resident>(Rule::P_ELIG, spelling(st.scheme), st.tier);
  // P-STUDENT
  if (st.scheme == Scheme::resident && st.student) {
    s.refuse<Say::student_existing_policy>(ClaimStatus::referred, Reason::STUDENT_EXISTING_POLICY, Rule::P_STUDENT);
    return finish();
  }
  if (chronic) {
    settle_chronic(e, *p, st, fac, pol.at(e.at), s);
    return finish();
  }
  // ORD-INPT: emergency outcome, then an inpatient stay
  if (e.benefit == Benefit::emergency && *e.outcome != Outcome::treated) {
    s.refuse<Say::emergency_inpatient>(ClaimStatus::referred,
                                       *e.outcome == Outcome::admitted ? Reason::EMERGENCY_ADMITTED
                                                                       : Reason::EMERGENCY_DEATH,
                                       Rule::ORD_INPT, spelling(*e.outcome));
    return finish();
  }
  if (in_stay(*p, e.at)) {
    s.refuse<Say::inpatient_stay>(ClaimStatus::rejected, Reason::INPATIENT_STAY, Rule::ORD_INPT, e.at);
    return finish();
  }
  if (!check_designation(e, *p, st, fac, state, s)) return finish();
  settle_ordinary(e, *p, st, fac, ctx, s);
  return finish();
}

}  // namespace gongji
