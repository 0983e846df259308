#include "ledger/accounts.h"

#include <algorithm>

#include "ledger/chronic.h"
#include "ledger/invariant.h"

namespace gongji {

Money account_balance(const PersonState& p, std::optional<Date> as_of) {
  Money b = 0;
  for (const auto& a : p.account)
    if (!as_of || a.date <= *as_of) b = checked_add(b, a.amount);
  return b;
}

namespace {

const Params& params_on(const FoldContext& ctx, Date d) {
  return ctx.policy->at(std::clamp(d, ctx.policy->window_from(), ctx.policy->window_to()));
}

// ACC-INSVC, ACC-RET (Art.40): only the policy's crediting months are credited (account.crediting_months).
bool in_credit_window(Month m, const Params& params) { return m >= params.credit_from && m <= params.credit_to; }

AccountMovement movement(const EventHeader& e, const PersonState& p, bool credit, Money amount, TraceStep step) {
  return AccountMovement{credit,       e.id,         p.id,        e.at, amount < 0 ? -amount : amount,
                         account_balance(p), std::move(step), std::nullopt, std::nullopt, std::nullopt};
}

}  // namespace

void contribution_paid(const ContributionPaid& e, PersonState& p, const FoldContext& ctx, std::vector<Output>& out) {
  const Month m = e.month;
  const Date first = first_day(m);
  // P-ELIG: a payment dated before the enrolment is refused, as every person event dated then (it was dropped
  // without a record). ACC-INSVC, ACC-FLEX: the standing on the month's first day; for a month that begins before
  // the enrolment, the enrolment's (*Interp.*; it was the payment date's: a change of scheme or a retirement
  // between them decided).
  if (e.at < p.enrolled)
    return out.push_back(refusal(e, Reason::NOT_ELIGIBLE, "not enrolled on " + format_date(e.at)));
  const Standing* st = standing_at(p, std::max(first, p.enrolled));
  if (!st || st->scheme != Scheme::employee) return;  // residents have no account
  const int age = age_on(p.birth, first);
  if (st->status == EmployeeStatus::flexible || st->status == EmployeeStatus::old_urban) {
    // ACC-FLEX: the amount paid is checked against the rate; no crediting is stated. Only months in the policy's
    // window: outside it no rate is stated (as before 2023), and a month past 2027-06 was checked at 2027-06's.
    const Params& params = params_on(ctx, first);
    if (!params.flex_checked || !e.amount || m < month_of(ctx.policy->window_from()) ||
        m > month_of(ctx.policy->window_to()))
      return;
    Rate rate = st->status == EmployeeStatus::old_urban ? params.old_urban_rate
                : age < params.flex_age_from ? params.flex_under_46
                                             : params.flex_from_46;
    Money expected = mul_rate(e.base, rate);
    if (expected != *e.amount)
      out.push_back(output_of(ContributionMismatch{e.id, p.id, m, e.base, *e.amount, expected, rate, "ACC-FLEX"}));
    return;
  }
  const Params& params = params_on(ctx, first);
  // Retired on the month's first day: nothing.
  if (st->status != EmployeeStatus::in_service || !in_credit_window(m, params)) return;
  Rate employer = age < params.account_age_from ? params.account_employer_under_46 : params.account_employer_from_46;
  Rate rate = params.account_personal_rate + employer;
  Money credit = mul_rate(e.base, rate);  // ACC-INSVC, one rounding
  if (credit == 0) return;
  p.account.push_back({e.at, credit, e.id});
  AccountMovement credited =
      movement(e, p, true, credit,
               make_step<Say::account_in_service_credit>(Rule::ACC_INSVC, e.base, params.account_personal_rate,
                                                         employer, age, first));
  credited.month = m;
  out.push_back(output_of(std::move(credited)));
}

void account_payment(const AccountPayment& e, PersonState& p, const FoldContext& ctx, std::vector<Output>& out) {
  const Params& params = params_on(ctx, e.at);
  const std::string purpose = spelled(e.purpose);
  if (!params.purposes_allowed.count(e.purpose)) {
    out.push_back(refusal(e, Reason::ACCOUNT_PURPOSE_FORBIDDEN, "the account cannot pay for " + purpose));
    return;
  }
  if (e.beneficiary != p.id) {
    bool family = std::any_of(p.family.begin(), p.family.end(), [&](const FamilyLink& f) {
      return f.relative == e.beneficiary && f.from <= e.at;
    });
    if (!family) {
      out.push_back(
          refusal(e, Reason::ACCOUNT_NOT_FAMILY, e.beneficiary + " is not linked to " + p.id + " as family"));
      return;
    }
  }
  const Money balance = account_balance(p);
  if (e.amount > balance) {
    out.push_back(refusal(e, Reason::ACCOUNT_INSUFFICIENT, "balance " + format_money(balance) + " is below " +
                                                         format_money(e.amount)));
    return;
  }
  p.account.push_back({e.at, -e.amount, e.id});
  const Money after = account_balance(p);
  check_invariant(after >= 0, "INV-ACCOUNT-NONNEG", [&] {
    return "balance " + format_money(after) + " after a debit of " + format_money(e.amount);
  });
  AccountMovement debited =
      movement(e, p, false, e.amount, make_step<Say::account_debit_for>(Rule::ACC_USE, purpose, e.beneficiary));
  debited.beneficiary = e.beneficiary;
  debited.purpose = e.purpose;
  out.push_back(output_of(std::move(debited)));
}

bool enjoyed_bonus(const PersonState& p, int year) {
  for (const auto& [claim, c] : p.claims)
    if (c.status == ClaimStatus::settled && !c.reversed && c.effect.bucket == Bucket::ordinary &&
        c.effect.year == year &&
        c.effect.bonus > 0 && c.effect.fund > 0)
      return true;
  return false;
}

// ORD-INC: 0 from the interruption's date unless the bonus was enjoyed in its year (judged at this point of the log).
// Where none is held on the date it changes nothing, unless the close of the December before, still to come (it is
// logged early in January), may give a bonus from 1 January (that year assessed, the person enrolled by its end):
// the 0 recorded here then holds from its date, as in date order (one dated 1 January the close's entry of that day
// follows, so that none is recorded). Logged after the close of its own December, which assessed the next year's
// bonus by what was known then (TIME-ORDER), it zeroes the bonus up to 1 January: the assessed bonus is recorded from
// that day where the close recorded nothing (it carried over unchanged), as it is where the number changed.
void contribution_interrupted(const ContributionInterrupted& e, PersonState& p, const FoldContext& ctx,
                              std::optional<Month> last_closed) {
  const int year = year_of(e.at);
  if (enjoyed_bonus(p, year)) return;
  const auto closed = [&](int y) { return last_closed && *last_closed >= make_month(y, 12); };
  const auto assessed = [&](int y) { return params_on(ctx, dec31(y)).incentive_assessed && p.enrolled <= dec31(y); };
  if (bonus_on(p, e.at) == 0 && (closed(year - 1) || !assessed(year - 1) || e.at == jan1(year))) return;
  const Date next = jan1(year + 1);
  if (closed(year) && assessed(year) && !dated_on(p.bonus, next) && bonus_on(p, next) != 0)
    insert_dated(p.bonus, next, bonus_on(p, next));
  insert_dated(p.bonus, e.at, Rate{0});
}

bool has_monthly_work(const PersonState& p) { return p.retired_on.has_value(); }

bool close_month_for(const PeriodClosed& e, Month m, PersonState& p, const FoldContext& ctx, std::vector<Output>& out) {
  bool changed = false;
  const Date first = first_day(m);
  // ACC-RET: retirees credited for each closed month from the month after confirmation.
  const Params& pm = params_on(ctx, first);
  const Standing* st = standing_at(p, first);
  const std::optional<Date> since = retired_since(p, first);
  if (pm.retiree_credited && in_credit_window(m, pm) && has_monthly_work(p) && since && *since < first &&
      eligible_on(p, first) &&
      (!st->old_urban || *since >= pm.old_urban_confirmed_from)) {  // Art.25 ¶2
    const int age = age_on(p.birth, first);
    Rate rate = age < pm.retiree_age_from ? pm.retiree_under_70 : pm.retiree_from_70;
    Money credit = mul_rate(pm.retiree_pension_base, rate);
    p.account.push_back({e.at, credit, e.id});
    AccountMovement credited =
        movement(e, p, true, credit,
                 make_step<Say::account_retiree_credit>(Rule::ACC_RET, pm.retiree_pension_base, rate, age, first));
    credited.month = m;
    out.push_back(output_of(std::move(credited)));
    changed = true;
  }
  if (month_number(m) != 12) return changed;
  const int year = year_of_month(m);
  const Date last = dec31(year);
  const Params& py = params_on(ctx, last);
  // ORD-INC: the year's assessment, in force from 1 January.
  if (py.incentive_assessed && p.enrolled <= last) {
    Rate earned = 0;
    if (eligible_on(p, last)) {
      Money fund = 0, eligible = 0;
      for (const Effect& x : p.effects)
        if (x.bucket == Bucket::ordinary && x.year == year) fund += x.fund, eligible += x.eligible;
      const Standing* sd = standing_at(p, last);
      Money limit = sd ? ordinary_limit(p, *sd, last, py) : 0;
      if (fund == 0) earned = py.incentive_unused;
      else if (eligible <= mul_rate(limit, py.incentive_half_share)) earned = py.incentive_at_most_half;
    }
    Rate held = bonus_on(p, last);
    Rate next = enjoyed_bonus(p, year) ? earned : held + earned;
    next = std::min(next, py.incentive_cap);
    if (next != bonus_on(p, jan1(year + 1))) {
      insert_dated(p.bonus, jan1(year + 1), next);
      changed = true;
    }
  }
  // CHR-SUSP from chronic.suspension.first_year on.
  if (year >= py.suspension_first_year && suspend_chronic(p, year, py)) changed = true;
  return changed;
}

}  // namespace gongji
