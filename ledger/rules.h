// Shared rule helpers of ledger/ (internal to the ledger).
#pragma once
#include <string>

#include "ledger/ledger.h"
#include "ledger/settlement.h"

namespace gongji {

struct Sums {
  Money deductible = 0, limit_used = 0, inpatient_used = 0, fund = 0, eligible = 0;
};
// Whether the effects summed consumed anything (effects reversed in full sum to none).
inline bool any_effect(const Sums& s) {
  return s.deductible != 0 || s.limit_used != 0 || s.inpatient_used != 0 || s.fund != 0 || s.eligible != 0;
}

// Sum of the effects of one service year and scheme period in one bucket; with as_of, only effects dated on or
// before it (TIME-ASOF), otherwise all of them (TIME-ORDER: what the log has consumed so far).
Sums sum_effects(const PersonState& p, int year, Period period, Bucket bucket,
                 std::optional<Date> as_of = std::nullopt);

// INV-ACCUM-NONNEG (ledger/invariant.h): the running totals a claim of `bucket` in `year` starts from are >= 0.
void check_accumulators(const Sums& s, int year, Bucket bucket);
// INV-DED-LE-DEDUCTIBLE: a claim paying `deductible` after `paid_before` stays within the deductible in force.
void check_deductible(Money paid_before, Money deductible, Money in_force, const std::string& which);
// INV-COVERED-LE-ROOM: what a claim counts into the `which` limit is at most the room left before it.
void check_room(Money counted, Money room_before, const std::string& which);
// INV-EFFECT-NONNEG: an effect a settlement or an inpatient_settled records is >= 0 in every field.
void check_effect_nonneg(const Effect& e);

// ORD-LIM with P-MINOR: the ordinary-outpatient limit in force for the person on day d.
Money ordinary_limit(const PersonState& p, const Standing& s, Date d, const Params& params);

// ORD-DESIG: may a person of `scheme` designate this unit?
bool designatable(const FacilityVersion& f, Scheme scheme);

// The designated facility in effect on d ("" when none).
std::string designation_on(const PersonState& p, Date d);

// P-CHANGE: a change of scheme on d ends the designation in force then if the new scheme may not designate it.
void end_undesignatable(PersonState& p, Date d, Scheme scheme, StateAccess& state);

// P-CHANGE, for a change of scheme logged after designations dated on or after it (back-dated): each dated in
// [from, to) that `scheme` may not designate is dropped, as ORD-DESIG would have refused it had the change come first
// (FACILITY_NOT_DESIGNATABLE), and no longer counts as a change of the year; the one before it applies again.
void drop_undesignatable(PersonState& p, Date from, Date to, Scheme scheme, StateAccess& state);

// ORD-DESIG: designates `facility` from d. A change of scheme after d that the designation reaches ends it there
// when the new scheme may not designate it (while no later designation has superseded it), as the change would have
// had it come first (a late designation, next_scheme_change).
void designate_from(PersonState& p, Date d, const std::string& facility, StateAccess& state);

// ORD-INC: bonus points (rate units) in force on d.
Rate bonus_on(const PersonState& p, Date d);

// TIME-ORDER / §4: records what a settled claim consumed, in its service year and scheme period (anchored by
// anchor_on), as an effect on the person (for the accumulators, the as-of view and a later reversal).
void record_settlement(PersonState& p, const Claim& claim, const Settlement& s, Bucket bucket, Money limit_used,
                       Money inpatient_used, Rate bonus);

Output settle_claim(const Claim& e, StateAccess& state, const FoldContext& ctx);
// A refusal of event `e` (of any type) for `reason`.
template <typename S>
Output refusal(const S& e, Reason reason, const std::string& detail) {
  std::optional<std::string> person;
  if constexpr (requires { e.person; }) person = e.person;
  return output_of(Refusal{e.id, type_of<S>(), reason, detail, e.at, std::move(person)});
}

}  // namespace gongji
