// apply_event: the non-claim events (standing, designations, stays, reversals, period close) and dispatch.
#include "ledger/ledger.h"

#include <algorithm>

#include "events/partition.h"
#include "ledger/accounts.h"
#include "ledger/chronic.h"
#include "ledger/invariant.h"
#include "ledger/rules.h"

namespace gongji {

IdVerdict judge_event_id(std::optional<uint64_t> seen, uint64_t digest) {
  if (!seen) return IdVerdict::new_event;
  return *seen == digest ? IdVerdict::duplicate : IdVerdict::conflict;
}

bool FoldContext::owns(const std::string& person) const {
  return partitions <= 1 || partition_of(person, partitions) == partition;
}

Output output_of(Record r) {
  Output o{std::string(record_kind(r)), record_claim(r), ""};
  o.person = record_person(r);
  o.record = std::make_shared<const Record>(std::move(r));
  return o;
}

namespace {

// From a person_enrolled or scheme_changed event.
template <typename S>
Standing standing_of(const S& e) {
  Standing s;
  s.from = e.at;
  s.scheme = e.scheme;
  if (s.scheme == Scheme::employee) {
    s.status = *e.status;
    s.old_urban = e.old_urban.value_or(false) || s.status == EmployeeStatus::old_urban;
  } else {
    s.tier = *e.tier;
    s.student = e.student.value_or(false);
  }
  return s;
}

// TIME-DATED: the fields version `v` sets, into the versions after it (logged before it, dated later) up to one that
// sets them itself, as the events in date order would have them.
void carry_fields(const FacilityVersion& v, std::vector<FacilityVersion>::iterator later,
                  std::vector<FacilityVersion>::iterator end) {
  for (uint8_t carried = v.set; carried && later != end; ++later) {
    const uint8_t into = carried & static_cast<uint8_t>(~later->set);
    if (into & kFacilityName) later->name = v.name;
    if (into & kFacilityParent) later->parent = v.parent;
    if (into & kFacilityKind) later->kind = v.kind;
    if (into & kFacilitySpecialty) later->specialty = v.specialty;
    if (into & kFacilityLevel) later->level = v.level;
    if (into & kFacilityTcm) later->tcm = v.tcm;
    if (into & kFacilityOrdinaryOutpatient) later->ordinary_outpatient = v.ordinary_outpatient;
    carried = into;
  }
}

// facility_registered and facility_updated: the new version from the fields the event gives.
template <typename S>
void apply_facility(const S& e, StateAccess& state, const FoldContext& ctx, std::vector<Output>& out) {
  FacilityState* f = state.facility(e.facility);
  FacilityVersion v;
  if constexpr (std::is_same_v<S, FacilityUpdated>) {
    const FacilityVersion* cur = f ? facility_at(*f, e.at) : nullptr;
    if (!cur) {
      if (ctx.reports_global)
        out.push_back(refusal(e, Reason::UNKNOWN_FACILITY,
                              "facility " + e.facility + " is not registered on " + format_date(e.at)));
      return;
    }
    v = *cur;
    if (e.kind) v.kind = *e.kind;
    if (e.level) v.level = *e.level;
  } else {
    if (!f) f = &state.create_facility(e.facility);
    v.kind = e.kind;
    v.level = e.level;
  }
  v.from = e.at;
  if (e.name) v.name = *e.name;
  if (e.tcm) v.tcm = *e.tcm;
  if (e.parent) v.parent = *e.parent;
  if (e.ordinary_outpatient) v.ordinary_outpatient = *e.ordinary_outpatient;
  if (e.specialty) v.specialty = *e.specialty;
  if constexpr (std::is_same_v<S, FacilityUpdated>)
    v.set = static_cast<uint8_t>((e.name ? kFacilityName : 0) | (e.parent ? kFacilityParent : 0) |
                                 (e.kind ? kFacilityKind : 0) | (e.specialty ? kFacilitySpecialty : 0) |
                                 (e.level ? kFacilityLevel : 0) | (e.tcm ? kFacilityTcm : 0) |
                                 (e.ordinary_outpatient ? kFacilityOrdinaryOutpatient : 0));
  auto it = f->versions.begin();
  while (it != f->versions.end() && it->from <= e.at) ++it;
  it = f->versions.insert(it, v);
  carry_fields(v, it + 1, f->versions.end());
  state.touch_facility(f->id);
}

void designate(const OutpatientDesignated& e, PersonState& p, StateAccess& state, const FoldContext& ctx,
               std::vector<Output>& out) {
  FacilityState* f = state.facility(e.facility);
  const FacilityVersion* fv = f ? facility_at(*f, e.at) : nullptr;
  if (!fv) {
    out.push_back(
        refusal(e, Reason::UNKNOWN_FACILITY, "facility " + e.facility + " is not registered on " + format_date(e.at)));
    return;
  }
  const Standing* st = standing_at(p, e.at);
  if (!st) {
    out.push_back(refusal(e, Reason::NOT_ELIGIBLE, "not enrolled on " + format_date(e.at)));
    return;
  }
  if (!designatable(*fv, st->scheme)) {
    out.push_back(refusal(e, Reason::FACILITY_NOT_DESIGNATABLE,
                          e.facility + " cannot be designated by a person of the " + spelled(st->scheme) + " scheme"));
    return;
  }
  std::string cur = designation_on(p, e.at);
  if (cur == e.facility) return;  // re-designating the current facility is not a change
  if (!cur.empty()) {
    const int year = year_of(e.at);
    const auto changes = std::count_if(p.designation_changes.begin(), p.designation_changes.end(),
                                       [&](Date d) { return year_of(d) == year; });
    const int allowed = ctx.policy->at(std::clamp(e.at, ctx.policy->window_from(), ctx.policy->window_to()))
                            .designation_changes_per_year;
    if (changes >= allowed) {
      out.push_back(refusal(e, Reason::DESIGNATION_CHANGES_EXHAUSTED,
                            std::to_string(changes) + " changes already in " + std::to_string(year)));
      return;
    }
    p.designation_changes.push_back(e.at);
    std::sort(p.designation_changes.begin(), p.designation_changes.end());
  }
  designate_from(p, e.at, e.facility, state);
  state.touch_person(p.id);
}

// INV-REVERSAL-MIRRORS (ledger/invariant.h): the claim's original effect is >= 0 and, with its reversal recorded,
// the claim's effects in its year, scheme period and bucket net to zero in every field.
void check_reversal(const PersonState& p, const Effect& original, const std::string& claim) {
  Effect net;
  for (const Effect& x : p.effects) {
    if (x.claim != claim || x.bucket != original.bucket || x.year != original.year || x.period != original.period)
      continue;
    net.deductible += x.deductible;
    net.limit_used += x.limit_used;
    net.inpatient_used += x.inpatient_used;
    net.fund += x.fund;
    net.eligible += x.eligible;
  }
  const bool nonneg = original.deductible >= 0 && original.limit_used >= 0 && original.inpatient_used >= 0 &&
                      original.fund >= 0 && original.eligible >= 0;
  const bool zero = net.deductible == 0 && net.limit_used == 0 && net.inpatient_used == 0 && net.fund == 0 &&
                    net.eligible == 0;
  check_invariant(nonneg && zero, "INV-REVERSAL-MIRRORS", [&] {
    return "claim " + claim + " settled fund " + format_money(original.fund) + ", deductible " +
           format_money(original.deductible) + ", limit used " + format_money(original.limit_used) +
           "; with its reversal it nets to fund " + format_money(net.fund) + ", deductible " +
           format_money(net.deductible) + ", limit used " + format_money(net.limit_used) + ", inpatient used " +
           format_money(net.inpatient_used) + ", eligible " + format_money(net.eligible);
  });
}

// §4: a reversal of an unknown claim, another person's, one already reversed or not settled is refused; and
// (Interp., noted for POLICY.md) one dated before the claim's service date: its negative effect would stand in the
// as-of views before the claim it undoes (TIME-ASOF), deductible and limit used below zero.
void reverse(const ClaimReversed& e, PersonState& p, std::vector<Output>& out) {
  auto it = p.claims.find(e.claim);
  if (it == p.claims.end() || it->second.status != ClaimStatus::settled || it->second.reversed ||
      e.at < it->second.date) {
    std::string why = it == p.claims.end()              ? "no claim " + e.claim + " of " + p.id
                      : it->second.reversed              ? "claim " + e.claim + " is already reversed"
                      : it->second.status != ClaimStatus::settled
                          ? "claim " + e.claim + " was " + spelled(it->second.status)
                          : "claim " + e.claim + " is for " + format_date(it->second.date) +
                                ", after the reversal's date";
    out.push_back(refusal(e, Reason::REVERSAL_NOT_APPLICABLE, why));
    return;
  }
  ClaimRecord& c = it->second;
  c.reversed = true;
  Effect back = c.effect;  // restores into the claim's own year and scheme period
  back.date = e.at;
  back.deductible = -back.deductible;
  back.limit_used = -back.limit_used;
  back.inpatient_used = -back.inpatient_used;
  back.fund = -back.fund;
  back.eligible = -back.eligible;
  p.effects.push_back(back);
  check_reversal(p, c.effect, e.claim);
  std::erase_if(p.therapy_uses, [&](const TherapyUse& u) { return u.claim == e.claim; });
  out.push_back(output_of(Reversal{e.id, e.claim, p.id, e.at, c.date, back.fund, back.deductible, back.limit_used,
                                   back.eligible, back.inpatient_used}));
}

}  // namespace

namespace {
void close_period(const PeriodClosed& e, StateAccess& state, const FoldContext& ctx, std::vector<Output>& out) {
  PartitionMeta& m = state.meta();
  if (m.last_closed && e.month <= *m.last_closed) return;  // already closed: no-op
  if (m.last_closed && e.month != *m.last_closed + 1) {
    if (ctx.reports_global)
      out.push_back(refusal(e, Reason::PERIOD_SKIPPED, "closing " + format_month(e.month) +
                                                     " but the last closed month is " +
                                                     format_month(*m.last_closed)));
    return;
  }
  m.last_closed = e.month;
  state.touch_meta();
  state.for_each_person(month_number(e.month) == 12 ? Visit::everyone : Visit::monthly_work, [&](PersonState& p) {
    if (close_month_for(e, e.month, p, ctx, out)) state.touch_person(p.id);
  });
}

// family_linked reaches both people's partitions; each side records the link of the person it holds. A side whose
// person is not known (§4: UNKNOWN_PERSON) is refused with a record naming that person, in the partition that holds
// its history: the relative's side too (it was dropped without a word, and once enrolled the relative could not pay
// for the person, ACCOUNT_NOT_FAMILY). The other side, known, keeps its link: no partition sees the other's persons.
void link_family(const FamilyLinked& e, StateAccess& state, const FoldContext& ctx, std::vector<Output>& out) {
  for (auto [who, other] : {std::pair{e.person, e.relative}, std::pair{e.relative, e.person}}) {
    if (!ctx.owns(who)) continue;
    PersonState* q = state.person(who);
    if (!q) {
      if (who == e.person) out.push_back(refusal(e, Reason::UNKNOWN_PERSON, "person " + who + " is not known"));
      else
        out.push_back(output_of(Refusal{e.id, EventType::family_linked, Reason::UNKNOWN_PERSON,
                                        "relative " + who + " is not known: the link is not in " + who +
                                            "'s history (" + other + "'s holds it if " + other + " is known)",
                                        e.at, who}));
      continue;
    }
    q->family.push_back({other, e.relation, e.at});
    state.touch_person(who);
  }
}

void enroll(const PersonEnrolled& e, PersonState* p, StateAccess& state, std::vector<Output>& out) {
  if (p && p->enrolled != kNever) {
    out.push_back(refusal(e, Reason::ALREADY_ENROLLED, "person " + e.person + " is already enrolled"));
    return;
  }
  PersonState& n = p ? *p : state.create_person(e.person);
  n.birth = e.birth_date;
  n.enrolled = e.at;
  Standing s = standing_of(e);
  if (s.status == EmployeeStatus::retired) n.retired_on = e.retired_on.value_or(e.at);
  insert_dated(n.standing, e.at, s);
  state.touch_person(n.id);
}

// The entry a retirement_confirmed dated `from` makes after the standing `before` (P-CHANGE): an employee's with
// status retired; a resident's unchanged, as a resident does not retire (confirm_retirement refuses one).
Standing retired_after(const Standing& before, Date from) {
  Standing s = before;
  s.from = from;
  s.retirement = true;
  if (s.scheme == Scheme::employee) s.status = EmployeeStatus::retired;
  return s;
}

// TIME-DATED: an entry a retirement made is derived again from the entry before it once a scheme_changed is inserted
// before it (logged later, dated earlier), as the events in date order would have it: a change to resident dated
// before a retirement ends it (it was kept as a copy of the employee's standing, so the person was a retired employee
// again from the retirement's date), a change of status dated before one carries on into it, and a change back to
// the employee scheme dated between them makes it hold again. A retirement refused when it was logged (not an
// employee then) stays refused: its refusal record was written (TIME-ORDER). Old-urban membership stays with the
// person (EVENTS.md) from the first old-urban entry on, also into entries logged before a back-dated one (ACC-RET,
// Art.25 ¶2: a retirement after it is an old-urban one; the fuzzing of session 53 found it lost).
void rederive_standings(PersonState& p) {
  for (size_t i = 1; i < p.standing.size(); ++i) {
    const Standing& before = p.standing[i - 1].value;
    Standing& x = p.standing[i].value;
    if (x.retirement) x = retired_after(before, p.standing[i].from);
    if (before.old_urban) x.old_urban = true;
  }
}

void change_scheme(const SchemeChanged& e, PersonState& p, StateAccess& state) {
  const Standing* cur = standing_at(p, e.at);
  Standing s = standing_of(e);
  if (cur && cur->old_urban) s.old_urban = true;  // old-urban membership stays with the person
  const bool new_scheme = cur && cur->scheme != s.scheme;
  if (s.status == EmployeeStatus::retired && !p.retired_on) p.retired_on = e.at;  // set once (state.h)
  insert_dated(p.standing, e.at, s);
  rederive_standings(p);
  if (!new_scheme) return;
  // P-CHANGE: designations dated in the new scheme's period (a change logged after them: back-dated) that it may not
  // hold are dropped, then the one in force on the change ends if the new scheme may not hold it.
  drop_undesignatable(p, e.at, next_scheme_change(p, e.at), s.scheme, state);
  end_undesignatable(p, e.at, s.scheme, state);
  end_chronic_on_scheme_change(p, e.at);  // CHR-CHANGE
}

// False (and a refusal) when the person is not an enrolled employee on the date.
bool confirm_retirement(const RetirementConfirmed& e, PersonState& p, std::vector<Output>& out) {
  const Standing* cur = standing_at(p, e.at);
  if (!cur || cur->scheme != Scheme::employee) {
    out.push_back(refusal(e, Reason::NOT_ELIGIBLE, "only an enrolled employee can retire"));
    return false;
  }
  if (!p.retired_on) p.retired_on = e.at;  // set once (state.h)
  insert_dated(p.standing, e.at, retired_after(*cur, e.at));
  return true;
}

// ---- the rule of each event type: one apply_one per type of the table, and no fallback, so that a type added to
// events/event_types.h without its rule does not compile (apply_event's visitor names it).

// The person event `e` names, or nullptr after its refusal (UNKNOWN_PERSON).
template <typename S>
PersonState* known_person(const S& e, StateAccess& state, std::vector<Output>& out) {
  PersonState* p = state.person(e.person);
  if (!p) out.push_back(refusal(e, Reason::UNKNOWN_PERSON, "person " + e.person + " is not known"));
  return p;
}

// change(p) on the known person, who is then written back.
template <typename S, typename F>
void change_person(const S& e, StateAccess& state, std::vector<Output>& out, F&& change) {
  if (PersonState* p = known_person(e, state, out)) {
    change(*p);
    state.touch_person(p->id);
  }
}

using Ctx = FoldContext;
using Out = std::vector<Output>;

void apply_one(const FacilityRegistered& e, StateAccess& s, const Ctx& ctx, Out& out) {
  apply_facility(e, s, ctx, out);
}
void apply_one(const FacilityUpdated& e, StateAccess& s, const Ctx& ctx, Out& out) { apply_facility(e, s, ctx, out); }
void apply_one(const PeriodClosed& e, StateAccess& s, const Ctx& ctx, Out& out) { close_period(e, s, ctx, out); }
void apply_one(const FamilyLinked& e, StateAccess& s, const Ctx& ctx, Out& out) { link_family(e, s, ctx, out); }
void apply_one(const PersonEnrolled& e, StateAccess& s, const Ctx&, Out& out) { enroll(e, s.person(e.person), s, out); }
void apply_one(const Claim& e, StateAccess& s, const Ctx& ctx, Out& out) { out.push_back(settle_claim(e, s, ctx)); }
void apply_one(const SchemeChanged& e, StateAccess& s, const Ctx&, Out& out) {
  if (PersonState* p = known_person(e, s, out)) {
    // P-ELIG: a standing begins with the enrolment; one dated before it would hold on no day (NOT_ELIGIBLE, as a
    // retirement or a registration dated then). It was kept, and showed in `person` before the enrolment.
    if (e.at < p->enrolled)
      return out.push_back(refusal(e, Reason::NOT_ELIGIBLE, "not enrolled on " + format_date(e.at)));
    change_scheme(e, *p, s);
    s.touch_person(p->id);
  }
}
void apply_one(const RetirementConfirmed& e, StateAccess& s, const Ctx&, Out& out) {
  if (PersonState* p = known_person(e, s, out))
    if (confirm_retirement(e, *p, out)) s.touch_person(p->id);
}
void apply_one(const EnrollmentSuspended& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { insert_dated(p.suspended, e.at, true); });
}
void apply_one(const EnrollmentResumed& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { insert_dated(p.suspended, e.at, false); });
}
void apply_one(const OutpatientDesignated& e, StateAccess& s, const Ctx& ctx, Out& out) {
  if (PersonState* p = known_person(e, s, out)) designate(e, *p, s, ctx, out);  // writes the person when it changes
}
// ORD-INPT: the dates are kept; the stays follow from them when read (stays_of), whatever the log order.
void apply_one(const InpatientAdmitted& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { insert_date(p.admissions, e.at); });
}
void apply_one(const InpatientDischarged& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { insert_date(p.discharges, e.at); });
}
void apply_one(const ClaimReversed& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { reverse(e, p, out); });
}
void apply_one(const ContributionPaid& e, StateAccess& s, const Ctx& ctx, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { contribution_paid(e, p, ctx, out); });
}
void apply_one(const ContributionInterrupted& e, StateAccess& s, const Ctx& ctx, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { contribution_interrupted(e, p, ctx, s.meta().last_closed); });
}
void apply_one(const AccountPayment& e, StateAccess& s, const Ctx& ctx, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { account_payment(e, p, ctx, out); });
}
void apply_one(const ChronicDiseaseApproved& e, StateAccess& s, const Ctx& ctx, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { approve_disease(e, p, ctx, out); });
}
void apply_one(const ChronicDiseaseRevoked& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { revoke_disease(e, p, out); });
}
void apply_one(const ChronicFacilityDesignated& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { designate_chronic_facility(e, p, s, out); });
}
void apply_one(const InpatientSettled& e, StateAccess& s, const Ctx&, Out& out) {
  change_person(e, s, out, [&](PersonState& p) { record_inpatient_settled(e, p); });
}

}  // namespace

std::vector<Output> apply_event(const Event& e, StateAccess& state, const FoldContext& ctx) {
  std::vector<Output> out;
  std::visit([&](const auto& body) { apply_one(body, state, ctx, out); }, e.body);
  return out;
}

PersonDay person_day(const PersonState& p, Date as_of, const Policy& policy) {
  const Standing* st = standing_at(p, as_of);
  const Sums ord = sum_effects(p, year_of(as_of), period_start(p, as_of), Bucket::ordinary, as_of);
  PersonDay d{ord.deductible, ord.limit_used, ord.fund, account_balance(p, as_of), std::nullopt};
  if (st && as_of >= policy.window_from() && as_of <= policy.window_to())
    d.limit = ordinary_limit(p, *st, as_of, policy.at(as_of));
  return d;
}

}  // namespace gongji
