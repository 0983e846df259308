// Claim settlement: the claim checks in the order of POLICY.md §6, then scope and amounts (§1).
#include <algorithm>

#include "ledger/chronic.h"
#include "ledger/invariant.h"
#include "ledger/rules.h"

namespace gongji {

Sums sum_effects(const PersonState& p, int year, Date period, Bucket bucket, std::optional<Date> as_of) {
  Sums s;
  for (const Effect& e : p.effects) {
    if (e.year != year || e.period != period || e.bucket != bucket) continue;
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

void record_settlement(PersonState& p, const Event& claim, const Settlement& s, Date period, Bucket bucket,
                       Money limit_used, Money inpatient_used, Rate bonus) {
  Effect eff;
  eff.date = claim.at;
  eff.year = year_of(claim.at);
  eff.period = period;
  eff.bucket = bucket;
  eff.claim = *claim.claim;
  eff.deductible = s.deductible;
  eff.limit_used = limit_used;
  eff.inpatient_used = inpatient_used;
  eff.fund = s.fund;
  eff.eligible = s.eligible;
  eff.bonus = bonus;
  check_effect_nonneg(eff);  // accumulators only decrease by a reversal
  p.effects.push_back(eff);
  p.claims[*claim.claim].effect = eff;
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

Rate bonus_on(const PersonState& p, Date d) {
  const Rate* v = value_at(p.bonus, d);
  return v ? *v : 0;
}

namespace {

bool in_stay(const PersonState& p, Date d) {
  for (const Stay& s : p.stays)
    if (s.admitted <= d && d <= s.discharged) return true;
  return false;
}

std::string yuan_str(Money m) { return format_money(m); }

// ORD-ACU / ORD-PED course: the start of the course this claim belongs to (POLICY.md ORD-ACU "Course").
Date course_for(PersonState& p, const std::string& key, const Event& e, int days) {
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

// ORD-SCOPE, ORD-ACU, ORD-PED: the eligible amount of each item, recording accepted therapy uses.
Money eligible_items(const Event& e, PersonState& p, const Standing& st, const Params& params, Settlement& s) {
  const bool resident = st.scheme == Scheme::resident;
  Money acu = 0, other = 0;
  for (const Item& it : e.items) {
    if (it.category == ItemCategory::acupuncture) acu += it.eligible_or_amount();
    if (it.category == ItemCategory::tcm_other) other += it.eligible_or_amount();
  }
  const bool led = acu > other;  // ORD-ACU: strictly greater, as submitted
  const std::string diag = e.diagnosis.value_or("");
  const int age = age_on(p.birth, e.at);
  std::optional<Date> acu_course, ped_course;
  Money total = 0;
  std::vector<TherapyUse> accepted;  // this claim's accepted TCM items
  for (size_t i = 0; i < e.items.size(); ++i) {
    const Item& it = e.items[i];
    const std::string where = "item " + std::to_string(i + 1) + " (" + spelled(it.category) + ")";
    Money el = it.eligible_or_amount();
    if (it.category == ItemCategory::nucleic_acid) {
      s.reasons.insert(Reason::NUCLEIC_ACID_INPATIENT_POLICY);
      s.step("ORD-SCOPE", where + ": nucleic-acid test follows the inpatient policy, not eligible here");
      continue;
    }
    if (!resident) {  // ORD-SCOPE: employees, every eligible item
      total += el;
      continue;
    }
    if (it.category == ItemCategory::drug || it.category == ItemCategory::general_consultation) {
      total += el;
      continue;
    }
    if (it.category == ItemCategory::acupuncture || it.category == ItemCategory::tcm_other) {
      if (!led) {
        s.reasons.insert(Reason::ACU_NOT_LED);
        s.step("ORD-ACU", where + ": claim not acupuncture-led (acupuncture " + yuan_str(acu) + " <= other TCM " +
                              yuan_str(other) + ")");
        continue;
      }
      auto dg = params.acu_diagnoses.find(diag);
      if (dg == params.acu_diagnoses.end()) {
        s.reasons.insert(Reason::ACU_DIAGNOSIS_NOT_LISTED);
        s.step("ORD-ACU", where + ": diagnosis '" + diag + "' is not in Annex 1");
        continue;
      }
      if (!acu_course) acu_course = course_for(p, "acu:" + diag, e, dg->second.course_days);
      if (e.at > *acu_course + dg->second.course_days - 1) {
        s.reasons.insert(Reason::ACU_COURSE_EXCEEDED);
        s.step("ORD-ACU", where + ": course from " + format_date(*acu_course) + " lasts at most " +
                              std::to_string(dg->second.course_days) + " days");
        continue;
      }
      const std::string code = it.therapy.value_or("");
      auto rule = code.empty() ? params.therapies.end() : params.therapies.find(code);
      bool adjunct = rule != params.therapies.end() && rule->second.per == TherapyRule::Per::adjunct;
      if (!adjunct) {
        // Per day: distinct codes over all accepted TCM items of the person that day.
        std::set<std::string> codes;
        int uncoded = 0;
        bool seen = false;
        auto count = [&](const TherapyUse& u) {
          if (u.date != e.at) return;
          if (u.code.empty()) ++uncoded;
          else codes.insert(u.code);
          if (!code.empty() && u.code == code) seen = true;
        };
        for (const auto& u : p.therapy_uses) count(u);
        for (const auto& u : accepted) count(u);
        if (!seen && static_cast<int>(codes.size()) + uncoded >= dg->second.daily_items) {
          s.reasons.insert(Reason::ACU_DAILY_ITEMS_EXCEEDED);
          s.step("ORD-ACU", where + ": at most " + std::to_string(dg->second.daily_items) + " therapies a day");
          continue;
        }
        if (rule != params.therapies.end()) {
          std::vector<TherapyUse> all = p.therapy_uses;
          all.insert(all.end(), accepted.begin(), accepted.end());
          if (!frequency_allows(all, code, e.at, rule->second)) {
            s.reasons.insert(Reason::ACU_FREQUENCY_EXCEEDED);
            s.step("ORD-ACU", where + ": therapy " + code + " over its frequency limit");
            continue;
          }
        }
        accepted.push_back({e.at, code, *e.claim});
      }
      total += el;
      continue;
    }
    if (it.category == ItemCategory::pediatric_massage) {
      auto cond = params.ped_conditions.find(diag);
      if (age > params.ped_max_age || cond == params.ped_conditions.end()) {
        s.reasons.insert(Reason::PED_NOT_COVERED);
        s.step("ORD-PED", where + ": paediatric massage covers children aged " + std::to_string(params.ped_max_age) +
                              " or under with a listed condition (age " + std::to_string(age) + ", '" + diag + "')");
        continue;
      }
      if (!cond->second) {
        if (!ped_course) ped_course = course_for(p, "ped:" + diag, e, params.ped_course_days);
        if (e.at > *ped_course + params.ped_course_days - 1) {
          s.reasons.insert(Reason::PED_COURSE_EXCEEDED);
          s.step("ORD-PED", where + ": course from " + format_date(*ped_course) + " lasts at most " +
                                std::to_string(params.ped_course_days) + " days");
          continue;
        }
      }
      total += el;
      continue;
    }
    s.reasons.insert(Reason::RESIDENT_SCOPE);  // exam, lab, treatment, device
    s.step("ORD-SCOPE", where + ": outside the resident scope");
  }
  for (auto& u : accepted) p.therapy_uses.push_back(std::move(u));
  return total;
}

void settle_ordinary(const Event& e, PersonState& p, const Standing& st, const FacilityVersion* fac,
                     const FoldContext& ctx, Settlement& s) {
  const Params& params = ctx.policy->at(e.at);
  const bool employee = st.scheme == Scheme::employee;
  const bool away = e.away.has_value();

  // F-LEVEL, F-TCM
  int level = std::max(1, away ? e.away->level : fac->level);
  bool tcm = !away && fac->tcm;
  s.level = level;
  s.step("F-LEVEL", "level " + std::to_string(level) + (away ? " (out of area, " + spelled(e.away->mode) + ")" : ""));
  int ded_level = tcm ? std::max(1, level - 1) : level;
  int ratio_level = tcm && employee ? ded_level : level;
  if (tcm)
    s.step("F-TCM", employee ? "TCM hospital: deductible and ratio of level " + std::to_string(ded_level)
                             : "TCM hospital: deductible of level " + std::to_string(ded_level) + ", ratio +" +
                                   format_rate(params.tcm_resident_extra));

  // ORD-SCOPE / ORD-ACU / ORD-PED
  s.eligible = eligible_items(e, p, st, params, s);
  s.step("ORD-SCOPE", "eligible " + format_money(s.eligible) + " of " + format_money(s.total));

  const int year = year_of(e.at);
  const Date period = period_start(p, e.at);
  Sums before = sum_effects(p, year, period, Bucket::ordinary);
  check_accumulators(before, year, Bucket::ordinary);
  const Money limit = ordinary_limit(p, st, e.at, params);
  Money used = before.limit_used;
  Money room = std::max<Money>(0, limit - used);
  const Money room_before = room;
  if (employee) s.step("ORD-LIM", "employee limit " + format_money(limit) + ", used " + format_money(used));
  else
    s.step(age_on(p.birth, e.at) < params.minor_age_below ? "P-MINOR" : "ORD-LIM",
           "resident limit " + format_money(limit) + " (tier " +
               std::to_string(age_on(p.birth, e.at) < params.minor_age_below ? 1 : st.tier) + "), used " +
               format_money(used));

  // ORD-AWAY: temporary out-of-area care: the patient first bears 10%, counted into the limit.
  Money limit_counted = 0;
  if (away && e.away->mode == AwayMode::temporary) {
    s.self_first = mul_rate(s.eligible, params.away_temporary_self_share);
    limit_counted = std::min(s.self_first, room);
    room -= limit_counted;
    s.step("ORD-AWAY", "temporary out of area: self-first " + format_money(s.self_first) + " (RND), " +
                           format_money(limit_counted) + " counted into the limit");
  } else if (away) {
    s.step("ORD-AWAY", "long-term residence: settled as at a level-" + std::to_string(level) + " facility");
  }
  const Money rest = s.eligible - s.self_first;

  // ORD-DED: one running total a year, by level.
  const ByLevel& ded_table = employee ? params.ded_employee : params.ded_resident;
  Money owed = std::max<Money>(0, ded_table[ded_level - 1] - before.deductible);
  s.deductible = std::min(owed, rest);
  check_deductible(before.deductible, s.deductible, ded_table[ded_level - 1], "ordinary");
  s.step("ORD-DED", "deductible at level " + std::to_string(ded_level) + " " + format_money(ded_table[ded_level - 1]) +
                        ", paid before " + format_money(before.deductible) + ", owed " + format_money(s.deductible));

  // ORD-LIM: cost above the deductible, covered up to the room left.
  const Money above = rest - s.deductible;
  s.covered = std::min(above, room);
  if (s.covered < above) {
    s.reasons.insert(Reason::LIMIT_REACHED);
    s.step("ORD-LIM", "limit reached: " + format_money(above) + " above the deductible, room " + format_money(room));
  }
  limit_counted += s.covered;
  check_room(limit_counted, room_before, "ordinary");

  // ORD-RATIO (+ F-TCM points, + ORD-INC bonus)
  const RatesByLevel& ratios = !employee ? params.ratio_resident
                               : st.status == EmployeeStatus::retired ? params.ratio_retired
                                                        : params.ratio_in_service;
  Rate ratio = ratios[ratio_level - 1];
  if (tcm && !employee) ratio += params.tcm_resident_extra;
  Rate bonus = bonus_on(p, e.at);
  s.ratio = ratio + bonus;
  s.step("ORD-RATIO", std::string(employee ? (st.status == EmployeeStatus::retired ? "retired" : "in-service")
                                           : "resident") +
                          " ratio " + format_rate(ratio) + " at level " + std::to_string(ratio_level));
  if (bonus) s.step("ORD-INC", "incentive bonus +" + format_rate(bonus));
  s.fund = mul_rate(s.covered, s.ratio);
  s.step("RND",
         "fund = round(" + format_money(s.covered) + " x " + format_rate(s.ratio) + ") = " + format_money(s.fund));

  record_settlement(p, e, s, period, Bucket::ordinary, limit_counted, 0, bonus);
  s.after = {{"deductible_paid", format_money(before.deductible + s.deductible)},
             {"limit", format_money(limit)},
             {"limit_used", format_money(used + limit_counted)}};
}

// ORD-DESIG (not out of area, not an emergency): false when the claim is refused (s carries the reason). A first
// claim at a designatable unit, or at an extension unit of one, designates it.
bool check_designation(const Event& e, PersonState& p, const Standing& st, const FacilityVersion* fac,
                       StateAccess& state, Settlement& s) {
  if (e.away || *e.benefit == Benefit::emergency) {
    s.step("ORD-DESIG", e.away ? "out of area: no designation needed" : "emergency: no designation needed");
    return true;
  }
  const std::string des = designation_on(p, e.at);
  if (!des.empty()) {
    if (des == *e.facility || (fac->parent == des && fac->ordinary_outpatient)) {
      s.step("ORD-DESIG", des == *e.facility ? "at the designated facility"
                                             : "at an extension unit of the designated " + des);
      return true;
    }
    s.refuse(ClaimStatus::rejected, Reason::NOT_DESIGNATED, "ORD-DESIG",
             "designated facility is " + des + ", not " + *e.facility);
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
    s.refuse(ClaimStatus::rejected, Reason::NOT_DESIGNATED, "ORD-DESIG",
             "no designated facility, and " + *e.facility + " cannot become one");
    return false;
  }
  insert_dated(p.designation, e.at, target);
  s.reasons.insert(Reason::AUTO_DESIGNATED);
  s.step("ORD-DESIG", "first claim designates " + target + " from " + format_date(e.at));
  return true;
}

// SETTLE: the claim's person and facility are known and its id is new to the person (EVENTS.md: a claim is its
// person and its claim id); otherwise s is refused, consuming nothing. Sets `fac` (none when out of area).
bool known_and_new(const Event& e, const PersonState* p, StateAccess& state, const FacilityVersion*& fac,
                   Settlement& s) {
  if (!p) {
    s.refuse(ClaimStatus::rejected, Reason::UNKNOWN_PERSON, "SETTLE", "person " + *e.person + " is not known");
    return false;
  }
  if (e.facility) {
    FacilityState* f = state.facility(*e.facility);
    fac = f ? facility_at(*f, e.at) : nullptr;
    if (!fac) {
      s.refuse(ClaimStatus::rejected, Reason::UNKNOWN_FACILITY, "SETTLE",
               "facility " + *e.facility + " is not registered on " + format_date(e.at));
      return false;
    }
  }
  if (p->claims.count(*e.claim)) {
    s.refuse(ClaimStatus::rejected, Reason::DUPLICATE_CLAIM, "SETTLE", "claim id " + *e.claim + " was already used");
    return false;
  }
  return true;
}

}  // namespace

Output settle_claim(const Event& e, StateAccess& state, const FoldContext& ctx) {
  Settlement s;
  s.claim = *e.claim;
  s.person = *e.person;
  s.event = e.id;
  s.benefit = *e.benefit, s.date = e.at;
  s.facility = e.facility.value_or("");
  for (const Item& it : e.items) s.total = checked_add(s.total, it.amount);
  auto done = [&] {
    check_settlement(s);
    s.policy_version = ctx.policy->version();
    return Output{"settlement", s.claim, "", s.person, std::make_shared<const Settlement>(std::move(s))};
  };

  PersonState* p = state.person(*e.person);
  const FacilityVersion* fac = nullptr;
  if (!known_and_new(e, p, state, fac, s)) return done();
  state.touch_person(p->id);
  ClaimRecord& rec = p->claims[*e.claim];
  rec.date = e.at;
  auto finish = [&] {
    rec.status = s.status;
    return done();
  };

  // T-START
  const bool chronic = *e.benefit == Benefit::chronic;
  const Policy& pol = *ctx.policy;
  bool in_window = e.at >= pol.window_from() && e.at <= pol.window_to();
  if (!in_window || !(chronic ? pol.at(e.at).chronic_in_force : pol.at(e.at).ordinary_in_force)) {
    s.refuse(ClaimStatus::rejected, Reason::POLICY_NOT_IN_FORCE, "T-START",
             std::string(chronic ? "chronic" : "ordinary") + " benefits are not in force on " + format_date(e.at));
    return finish();
  }
  s.step("T-START", "in force on " + format_date(e.at));
  // P-ELIG
  if (!eligible_on(*p, e.at)) {
    s.refuse(ClaimStatus::rejected, Reason::NOT_ELIGIBLE, "P-ELIG",
             "not enrolled or suspended on " + format_date(e.at));
    return finish();
  }
  const Standing& st = *standing_at(*p, e.at);
  s.scheme = st.scheme;
  s.step("P-ELIG", "enrolled: " + spelled(st.scheme) +
                      (st.status ? " " + spelled(*st.status) : " tier " + std::to_string(st.tier)));
  // P-STUDENT
  if (st.scheme == Scheme::resident && st.student) {
    s.refuse(ClaimStatus::referred, Reason::STUDENT_EXISTING_POLICY, "P-STUDENT",
             "college students keep their existing policy");
    return finish();
  }
  if (chronic) {
    settle_chronic(e, *p, st, fac, pol.at(e.at), s);
    return finish();
  }
  // ORD-INPT: emergency outcome, then an inpatient stay
  if (*e.benefit == Benefit::emergency && *e.outcome != Outcome::treated) {
    s.refuse(ClaimStatus::referred,
             *e.outcome == Outcome::admitted ? Reason::EMERGENCY_ADMITTED : Reason::EMERGENCY_DEATH, "ORD-INPT",
             "emergency " + spelled(*e.outcome) + ": inpatient rules");
    return finish();
  }
  if (in_stay(*p, e.at)) {
    s.refuse(ClaimStatus::rejected, Reason::INPATIENT_STAY, "ORD-INPT", "in an inpatient stay on " + format_date(e.at));
    return finish();
  }
  if (!check_designation(e, *p, st, fac, state, s)) return finish();
  settle_ordinary(e, *p, st, fac, ctx, s);
  return finish();
}

}  // namespace gongji
