"""Oracle of the personal-account rules (POLICY.md §3, the period close of §6, RND), written from POLICY.md and
EVENTS.md alone.

It folds an event file in file order (within each person, that person's log order: TIME-LOG) and states the output
records gongji must write for contribution_paid (account_credit, contribution_mismatch), account_payment
(account_debit or a refusal), period_closed (ACC-RET credits, PERIOD_SKIPPED), family_linked, a second
person_enrolled (ALREADY_ENROLLED), and the UNKNOWN_PERSON refusal of a standing event (scheme_changed,
retirement_confirmed, enrollment_suspended, enrollment_resumed, contribution_interrupted) naming nobody enrolled.

Modelled: ACC-INSVC (2% plus the employer part by year and age; before 2023 the §5 default 0; the crediting window
2022-07 to 2027-06), ACC-RET (from 2024-01, 2% / 2.5% of the §5 pension base 3000.00, confirmation before the
month, enrolled and not suspended on its first day, old-urban only when confirmed from 2024-01-01), ACC-FLEX
(rates of 2023 and the §5 rate from 2024; contribution_mismatch), ACC-USE (purposes, family, balance, the order
of refusal reasons), P-CHANGE (retirement confirmed by scheme_changed), TIME-LOG for family links, RND. Values are
the POLICY.md figures and §5 defaults, written here, never read from a policy file.

Not modelled: claims, `person` views and --as-of balances.

Interpretations where POLICY.md is silent (each a reading of the rule cited):
- ACC-INSVC / ACC-FLEX: the standing that decides a contribution (in service, flexible, old-urban, retired,
  resident) is the one in effect on the first day of the contribution month, like the age and the retirement that
  ACC-INSVC judges on that day; for a month whose first day is before the enrolment, the enrolment's standing.
- P-ELIG: a contribution_paid, a scheme_changed or a retirement_confirmed dated before the enrolment is refused
  (the contribution with a NOT_ELIGIBLE record) and changes nothing.
- ACC-INSVC: a credit that rounds to 0.00 changes nothing and writes no record.
- ACC-FLEX: only months from 2023-01 to 2027-06 (the policy window) are checked; a contribution without `amount`
  is not checked.
- ACC-USE and TIME-LOG: a family link takes effect on its date; each person's history judges its own copy of the
  family_linked event: the copy in the history of a person enrolled before it links that person to the other
  (whom that history cannot see), and the copy of a person not enrolled there is refused UNKNOWN_PERSON (§4).
- ACC-RET: a retirement's confirmation date is the date the person's standing became retired (enrolment as
  retired: `retired_on`, default the enrolment date; scheme_changed to retired, retirement_confirmed: their date);
  confirming again a retirement already in effect changes nothing (it "was confirmed" before), by date whatever
  the log order (retired_since: a change to retired logged before a retirement_confirmed dated before it keeps
  that retirement's date, and a change away from retired dated between them starts a new run); a
  retirement_confirmed holds only while the standing in effect is an employee's given before it (common.Standings,
  P-CHANGE, TIME-DATED). Old-urban membership
  (status old_urban or `old_urban: true`) counts from the date of the event that gave it.
- Period close (§6): a close of a month at or before the last closed month is a no-op; a skipped month is refused
  PERIOD_SKIPPED (one refusal record, naming no person) and credits nothing.
"""
from datetime import date
from decimal import Decimal

from common import ZERO, Expected, Standings, Timeline, age_on, day, money, money_text, month_start, next_month
from common import ratio_text, rnd

PERSONAL_RATE = Decimal("0.02")  # ACC-INSVC
EMPLOYER_2023 = (Decimal("0.0075"), Decimal("0.01"))  # under 46, 46 or older
EMPLOYER_BEFORE_2023 = Decimal("0")  # §5
CREDITED = ("2022-07", "2027-06")  # ACC-INSVC: months credited, by contributions or ACC-RET
RETIREE_FROM = "2024-01"
PENSION_BASE = Decimal("3000.00")  # §5: the 2023 average basic pension
RETIREE_RATE = (Decimal("0.02"), Decimal("0.025"))  # under 70, 70 or older
OLD_URBAN_CONFIRMED_FROM = date(2024, 1, 1)  # Art.25 para. 2
FLEX_2023 = {"flexible": (Decimal("0.0775"), Decimal("0.075")), "old_urban": (Decimal("0.0675"), Decimal("0.0675"))}
RATE_FROM_2024 = Decimal("0.07")  # §5
CHECKED = ("2023-01", "2027-06")  # ACC-FLEX
FORBIDDEN = {"public_health", "fitness", "wellness"}  # ACC-USE
STANDING_EVENTS = ("scheme_changed", "retirement_confirmed", "enrollment_suspended", "enrollment_resumed",
                   "contribution_interrupted")


class Person:
    def __init__(self, event):
        self.id = event["person"]
        self.birth = day(event["birth_date"])
        self.enrolled = day(event["at"])
        self.standing = Standings()  # scheme, status, and "confirmed": the date the retirement in effect was confirmed
        self.old_urban = None  # the date old-urban membership began
        self.suspended = Timeline()
        self.links = {}  # relative -> the earliest date a link to them takes effect
        self.balance = ZERO
        self.take_standing(event, self.enrolled, day(event.get("retired_on", event["at"])))

    def take_standing(self, event, when, confirmed=None):
        """A standing from `when`; "confirmed" is its own date (or the enrolment's retired_on): whether it continues
        a retirement in effect before it is decided by date when read (retired_since)."""
        status = event.get("status")
        self.standing.add(when, {"scheme": event["scheme"], "status": status,
                                 "confirmed": (confirmed or when) if status == "retired" else None})
        if (status == "old_urban" or event.get("old_urban")) and (self.old_urban is None or when < self.old_urban):
            self.old_urban = when

    def contribution_standing(self, month):
        return self.standing.at(month_start(month)) or self.standing.first()


class Accounts:
    def __init__(self):
        self.people = {}
        self.last_closed = None
        self.expected = Expected("accounts", ("account_credit", "account_debit", "contribution_mismatch", "refusal"))

    def run(self, events):
        for event in events:
            handler = getattr(self, "on_" + event["type"], None)
            if handler:
                handler(event)
            elif event["type"] in STANDING_EVENTS and event["person"] not in self.people:
                self.refuse(event, event["person"], "UNKNOWN_PERSON")
        return self.expected

    def refuse(self, e, person, reason):
        self.expected.expect("refusal", person, e["id"], {"type": e["type"], "reason": reason})

    def known(self, e):
        p = self.people.get(e["person"])
        if p is None:
            self.refuse(e, e["person"], "UNKNOWN_PERSON")
        return p

    def credit(self, p, e, amount, month, kind="account_credit", **extra):
        p.balance += amount if kind == "account_credit" else -amount
        fields = {"amount": money_text(amount), "balance": money_text(p.balance), "at": e["at"]}
        fields.update(extra)
        self.expected.expect(kind, p.id, e["id"], fields, month)

    # --- standing ---------------------------------------------------------------------------------------------------
    def on_person_enrolled(self, e):
        if e["person"] in self.people:
            return self.refuse(e, e["person"], "ALREADY_ENROLLED")
        self.people[e["person"]] = Person(e)
        return self.expected.judge(e["id"])

    def on_scheme_changed(self, e):
        p = self.known(e)
        if p and day(e["at"]) >= p.enrolled:  # P-ELIG: one dated before the enrolment is refused and does nothing
            p.take_standing(e, day(e["at"]))

    def on_retirement_confirmed(self, e):
        p = self.known(e)
        if p and day(e["at"]) >= p.enrolled:  # P-ELIG: one dated before the enrolment is refused and does nothing
            p.standing.retire(day(e["at"]))

    def on_enrollment_suspended(self, e):
        p = self.known(e)
        if p:
            p.suspended.add(day(e["at"]), True)

    def on_enrollment_resumed(self, e):
        p = self.known(e)
        if p:
            p.suspended.add(day(e["at"]), False)

    def on_family_linked(self, e):
        when = day(e["at"])
        for who, other in ((e["person"], e["relative"]), (e["relative"], e["person"])):
            p = self.people.get(who)
            if p is None:
                self.refuse(e, who, "UNKNOWN_PERSON")
            elif other not in p.links or when < p.links[other]:
                p.links[other] = when
        self.expected.judge(e["id"])

    # --- contributions (ACC-INSVC, ACC-FLEX) ---------------------------------------------------------------------
    def on_contribution_paid(self, e):
        p = self.known(e)
        if not p:
            return
        if day(e["at"]) < p.enrolled:  # P-ELIG: paid before the enrolment, refused
            self.refuse(e, p.id, "NOT_ELIGIBLE")
            return
        self.expected.judge(e["id"])
        month = e["month"]
        standing = p.contribution_standing(month)
        scheme, status = standing["scheme"], standing["status"]
        age = age_on(p.birth, month_start(month))
        if scheme != "employee":
            return
        if status == "in_service" and CREDITED[0] <= month <= CREDITED[1]:
            amount = rnd(money(e["base"]) * (PERSONAL_RATE + employer_part(month, age)))
            if amount > 0:
                self.credit(p, e, amount, month)
        elif status in FLEX_2023 and "amount" in e and CHECKED[0] <= month <= CHECKED[1]:
            rate = FLEX_2023[status][age >= 46] if month < "2024-01" else RATE_FROM_2024
            due = rnd(money(e["base"]) * rate)
            if money(e["amount"]) != due:
                self.expected.expect("contribution_mismatch", p.id, e["id"],
                                     {"expected": money_text(due), "amount": money_text(e["amount"]),
                                      "rate": ratio_text(rate)}, month)

    # --- spending (ACC-USE) ------------------------------------------------------------------------------------------
    def on_account_payment(self, e):
        p = self.known(e)
        if not p:
            return None
        amount, when = money(e["amount"]), day(e["at"])
        beneficiary = e.get("beneficiary", p.id)
        if e["purpose"] in FORBIDDEN:
            return self.refuse(e, p.id, "ACCOUNT_PURPOSE_FORBIDDEN")
        if beneficiary != p.id and not (beneficiary in p.links and p.links[beneficiary] <= when):
            return self.refuse(e, p.id, "ACCOUNT_NOT_FAMILY")
        if amount > p.balance:
            return self.refuse(e, p.id, "ACCOUNT_INSUFFICIENT")
        return self.credit(p, e, amount, None, "account_debit", beneficiary=beneficiary, purpose=e["purpose"])

    # --- period close (ACC-RET) --------------------------------------------------------------------------------------
    def on_period_closed(self, e):
        month = e["month"]
        self.expected.judge(e["id"])
        if self.last_closed is not None and month <= self.last_closed:
            return
        if self.last_closed is not None and month != next_month(self.last_closed):
            self.refuse(e, None, "PERIOD_SKIPPED")
            return
        self.last_closed = month
        if RETIREE_FROM <= month <= CREDITED[1]:
            for p in self.people.values():
                rate = self.retiree_rate(p, month_start(month))
                if rate is not None:
                    self.credit(p, e, rnd(PENSION_BASE * rate), month)

    def retiree_rate(self, p, first):
        """ACC-RET: the rate for the month starting on `first`, or None when the person is not credited."""
        if p.enrolled > first or p.suspended.at(first, False):
            return None
        confirmed = retired_since(p.standing, (first, float("inf")))
        if confirmed is None or confirmed >= first:
            return None
        if p.old_urban is not None and p.old_urban <= first and confirmed < OLD_URBAN_CONFIRMED_FROM:
            return None
        return RETIREE_RATE[age_on(p.birth, first) >= 70]


def retired_since(standings, key):
    """ACC-RET, TIME-DATED: the confirmation of the retirement in effect at `key` (a date and a log sequence: the
    standings and retirements before it by date, then log order), or None when the person is not a retired employee
    there: the first day of the run of retired employee standings that holds there, whatever the log order. A
    retirement_confirmed's standing starts a run on its date; a standing given as retired continues the run in
    effect before it (confirming again changes nothing), else starts one (on its own date, or the enrolment's
    retired_on)."""
    given = max((x for x in standings.given.entries if x[:2] < key), key=lambda x: x[:2], default=None)
    if given is None or given[2]["scheme"] != "employee":
        return None
    if given[2]["status"] != "retired":
        held = [r for r in standings.retirements if given[:2] < r < key]
        return min(held)[0] if held else None
    return retired_since(standings, given[:2]) or given[2]["confirmed"]


def employer_part(month, age):
    if month < "2023-01":
        return EMPLOYER_BEFORE_2023
    if month < "2024-01":
        return EMPLOYER_2023[age >= 46]
    return Decimal("0")


def view(record):
    kind = record["kind"]
    if kind == "refusal":
        return {"type": record["type"], "reason": record["reason"]}
    if kind == "contribution_mismatch":
        return {"expected": money_text(record["expected"]), "amount": money_text(record["amount"]),
                "rate": ratio_text(record["rate"])}
    fields = {"amount": money_text(record["amount"]), "balance": money_text(record["balance"]), "at": record["at"]}
    if kind == "account_debit":
        fields.update(beneficiary=record.get("beneficiary"), purpose=record.get("purpose"))
    return fields


def expected(events):
    return Accounts().run(events)
