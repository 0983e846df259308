"""Oracle of the ordinary-outpatient rules (POLICY.md §0, §1, §4, §6), written from POLICY.md and EVENTS.md alone.

It folds an event file in file order, which within each person is that person's log order (TIME-LOG: ingest
appends in file order, and a person's partition holds their events and every shared event), and states the output
records gongji must write for ordinary, prenatal and emergency claims, for reversals of them, and for
outpatient_designated events.

Modelled: T-START, P-ELIG, P-STUDENT, P-MINOR, P-CHANGE (a retirement confirmed by scheme_changed or
retirement_confirmed; a designation the new scheme may not hold ends), F-LEVEL, F-TCM, ORD-DED, ORD-LIM, ORD-RATIO,
ORD-TYPE, ORD-DESIG (extension units, auto-designation, 3 changes a year, refusals), ORD-SCOPE, ORD-ACU, ORD-PED,
ORD-AWAY, ORD-INPT, ORD-INC (year-end assessment, contribution interruption, enjoyment), reversals and
DUPLICATE_CLAIM (§4), the claim-check order (§6), RND. Values are the POLICY.md figures, written here, never read
from a policy file.

Not modelled: chronic claims (chronic.py; their claim ids count for DUPLICATE_CLAIM here) and their reversals,
accounts (accounts.py), the `rules` and `trace` of a settlement, `person` views, refusals of events other than
claim_reversed and outpatient_designated, and an outpatient_designated dated when its person has no standing yet
(POLICY.md names no outcome for it: its records are not compared, and it designates nothing).

Interpretations where POLICY.md is silent (each a reading of the rule cited):
- TIME-DATED: a facility with no registration in effect on a claim's date is unknown for it (UNKNOWN_FACILITY);
  an outpatient_designated of such a facility is refused UNKNOWN_FACILITY; so is a facility_updated (when logged:
  common.Facilities.add), which then changes nothing.
- ORD-INPT: stays by date whatever the log order; of one day, a discharge ends the stay open, an admission and a
  discharge left make a one-day stay, and an admission still left opens one (Person.in_stay).
- ORD-DESIG with P-CHANGE, by date (by_date): standings and designations are taken in date order, the events of
  one day in log order (as ORD-TYPE takes a day's standings), whatever order the days were logged in: a designation
  in force at a change of scheme that the new scheme may not designate ends there; one the scheme in force at its
  place may not designate never held (logged after the change, it would have been refused), and it is not counted
  as a change.
- §6 claim order: an unknown person, then an unknown facility, then DUPLICATE_CLAIM. (That a claim rejected for an
  unknown facility still uses its claim id is §4's text: "an earlier claim event ..., whatever that one's outcome".)
- ORD-TYPE, TIME-ORDER: the scheme periods are those the standings give by date (a change dated before another and
  logged after it can make that one no change of scheme); a claim's effects count in the period its service date is
  in, as the standings now say (Art.11: deductible and limit "重新起算" at a change), and of the standings of the
  service date itself, only those logged before it (common.Standings.period_of).
- §4: a reversal dated before its claim's service date is not among the reversals that change nothing, so it
  restores the claim like any other.
- P-CHANGE: a retirement (enrolment as retired, scheme_changed to retired, retirement_confirmed) counts from its
  date until a later-dated scheme_changed replaces the standing (EVENTS.md: scheme_changed carries the full new
  standing); a person enrolled as retired takes retired ratios from the enrolment. A retirement_confirmed holds
  only while the standing in effect is an employee's given before it (common.Standings).
- ORD-DESIG: a choice made while no designation is in effect is a first choice, not a change; FACILITY_NOT_DESIGNATABLE
  is checked before DESIGNATION_CHANGES_EXHAUSTED; ORD-ACU: ACU_NOT_LED is checked before ACU_DIAGNOSIS_NOT_LISTED.
- ORD-ACU daily count: pediatric_massage items are not TCM therapy items and are not counted.
- Period close (§6): a close of a month at or before the last closed month is a no-op, like a month already
  closed; a skipped month runs nothing.
- ORD-INC: the ordinary limit "in force for the person on 31 December" is the one P-MINOR gives on that day.
"""
import collections
from datetime import date, timedelta
from decimal import Decimal

from common import ZERO, Expected, Facilities, Standings, Timeline, age_on, claim_view, day, level_of, money
from common import next_month, rejection, reversal_fields, rnd, settlement_fields, standing_of

START, END = date(2022, 12, 1), date(2027, 6, 30)  # T-START
DEDUCTIBLE = {"employee": {1: 300, 2: 500, 3: 700}, "resident": {1: 100, 2: 150, 3: 200}}  # ORD-DED
RATIO = {"in_service": {1: "0.70", 2: "0.60", 3: "0.50"}, "retired": {1: "0.75", 2: "0.65", 3: "0.55"},
         "resident": {1: "0.50", 2: "0.40", 3: "0.30"}}  # ORD-RATIO
LIMIT = {"employee": (800, 1600), 1: (100, 200), 2: (200, 400)}  # ORD-LIM: (2022, from 2023)
TCM_RESIDENT_EXTRA = Decimal("0.05")  # F-TCM
AWAY_SELF_SHARE = Decimal("0.10")  # ORD-AWAY
MINOR_BELOW = 18  # P-MINOR
CHANGES_PER_YEAR = 3  # ORD-DESIG
RESIDENT_UNITS = ("township_health_center", "community_health_center", "community_health_station")  # ORD-DESIG
INCENTIVE_YEARS = range(2022, 2027)  # ORD-INC
INCENTIVE_UNUSED, INCENTIVE_HALF, INCENTIVE_CAP = Decimal("1.0"), Decimal("0.5"), Decimal("5.0")

ACU_DIAGNOSES = {"headache": (14, 6), "elbow_strain": (14, 6), "sprain": (14, 6), "cough": (14, 6),
                 "vertigo": (14, 6), "dementia": (30, 7), "consumptive": (30, 7), "hypochondriac_pain": (21, 6),
                 "abdominal_pain": (21, 6), "psoriasis": (21, 6), "metrorrhagia": (21, 7), "menopausal": (21, 7),
                 "breast_hyperplasia": (28, 7), "uterine_prolapse": (15, 7)}  # ORD-ACU: (course N, K a day)
PED_CONDITIONS = {"fever", "cold", "cough", "anorexia", "constipation", "diarrhea", "night_crying", "sweating",
                  "enuresis", "amblyopia", "torticollis", "adenoid"}  # ORD-PED
PED_MAX_AGE, PED_COURSE = 8, 10
ADJUNCTS = {"T-IR", "T-EA"}
# ORD-ACU frequency: ("day", n) n a day; ("week", n) n in any 7 consecutive days; ("alternate",) every other day
FREQUENCY = {"T01": ("day", 2), "T12": ("week", 2), "T18": ("week", 2)}
FREQUENCY.update({t: ("day", 1) for t in ("T02", "T03", "T04", "T05", "T06", "T07", "T13", "T14", "T17")})
FREQUENCY.update({t: ("alternate",) for t in ("T08", "T11", "T19", "T20")})
FREQUENCY.update({t: ("week", 1) for t in ("T09", "T10", "T15", "T16", "T21")})

AFTER_FIELDS = ("deductible_paid", "limit_used", "limit")


class Person:
    def __init__(self, event):
        self.id = event["person"]
        self.enrolled = day(event["at"])
        self.birth = day(event["birth_date"])
        self.standing = Standings()
        self.suspended = Timeline()
        self.admitted, self.discharged = [], []  # ORD-INPT: the dates, whatever the log order (TIME-DATED)
        self.logged = 0  # the person's events so far: their log order, shared by standings and designations
        self.standing_logged = {}  # sequence of a standing entry (common.Standings) -> its place in the log order
        self.designations = []  # (date, place in the log order, facility): outpatient_designated and claims
        self.changes = []  # places of the designations counted as changes (ORD-DESIG)
        self.used = collections.defaultdict(lambda: {"deductible": ZERO, "limit": ZERO})  # (anchor, date, year)
        self.year_fund = collections.defaultdict(lambda: ZERO)  # ORD-INC figures by service year
        self.year_eligible = collections.defaultdict(lambda: ZERO)
        self.enjoyed = collections.Counter()
        self.bonus = Timeline()
        self.bonus.add(date(1900, 1, 1), Decimal("0.0"))
        self.claims = {}  # claim id -> what a reversal needs
        self.courses = {}  # ("acu" | "ped", diagnosis) -> the start of the course in progress
        self.tcm_day = collections.defaultdict(list)  # date -> therapy codes accepted (None: an item without one)
        self.therapy_uses = collections.defaultdict(list)  # code -> dates
        self.standing.add(self.enrolled, standing_of(event))
        self.standing_logged[self.standing.given.entries[-1][1]] = self.tick()

    def tick(self):
        self.logged += 1
        return self.logged

    def stand(self, when):
        return self.standing.at(when)

    def used_in(self, when):
        """ORD-TYPE: the accumulators of the scheme period in force on `when` and its year: those of the claims
        served in it (common.Standings.period_of)."""
        period, total = self.standing.period(when), {"deductible": ZERO, "limit": ZERO}
        for (anchor, served, year), used in self.used.items():
            if year == when.year and self.standing.period_of(anchor, served) == period:
                total = {k: total[k] + used[k] for k in total}
        return total

    def eligible_on(self, when):
        return self.enrolled <= when and not self.suspended.at(when, False)

    def retired_on(self, when):
        standing = self.stand(when)
        return standing is not None and standing["status"] == "retired"

    def in_stay(self, when):
        """ORD-INPT: admission to discharge, both inclusive, the stays taken by date whatever the log order. A day
        is read as: a discharge ends the stay already open; then an admission and a discharge left of the day make a
        one-day stay; an admission still left opens a stay (gongji's reading of feeds whose same-day order is not
        known, state.h stays_of)."""
        open_from = None
        for d in sorted(set(self.admitted) | set(self.discharged)):
            ins, outs = self.admitted.count(d), self.discharged.count(d)
            if open_from is not None and outs:
                if open_from <= when <= d:
                    return True
                open_from, outs = None, outs - 1
            if min(ins, outs) and d == when:
                return True
            if ins > outs and open_from is None:
                open_from = d
        return open_from is not None and open_from <= when

    def limit(self, when):
        """ORD-LIM with P-MINOR."""
        s = self.stand(when)
        if s["scheme"] == "employee":
            key = "employee"
        else:
            key = 1 if age_on(self.birth, when) < MINOR_BELOW else s["tier"]
        return Decimal(LIMIT[key][0 if when.year == 2022 else 1])


class Ordinary:
    def __init__(self):
        self.facilities = Facilities()
        self.people = {}
        self.last_closed = None
        self.expected = Expected("ordinary", ("settlement", "reversal", "refusal"))

    def run(self, events):
        for event in events:
            handler = getattr(self, "on_" + event["type"], None)
            if event["type"] in ("facility_registered", "facility_updated"):
                self.facilities.add(event)
            elif handler:
                handler(event)
        return self.expected

    # --- people and standing ---------------------------------------------------------------------------------
    def on_person_enrolled(self, e):
        self.people.setdefault(e["person"], Person(e))

    def person(self, e):
        return self.people.get(e["person"])

    def on_scheme_changed(self, e):
        p = self.person(e)
        if not p:
            return
        when, new = day(e["at"]), standing_of(e)
        if when < p.enrolled:
            return  # P-ELIG: no standing before the enrolment; the change is refused (NOT_ELIGIBLE) and does nothing
        p.standing.add(when, new)
        p.standing_logged[p.standing.given.entries[-1][1]] = p.tick()

    def on_retirement_confirmed(self, e):
        if self.person(e):
            self.person(e).standing.retire(day(e["at"]))

    def on_enrollment_suspended(self, e):
        if self.person(e):
            self.person(e).suspended.add(day(e["at"]), True)

    def on_enrollment_resumed(self, e):
        if self.person(e):
            self.person(e).suspended.add(day(e["at"]), False)

    def on_inpatient_admitted(self, e):
        if self.person(e):
            self.person(e).admitted.append(day(e["at"]))

    def on_inpatient_discharged(self, e):
        if self.person(e):
            self.person(e).discharged.append(day(e["at"]))

    def on_contribution_interrupted(self, e):
        p, when = self.person(e), day(e["at"])
        if p and p.enjoyed[when.year] == 0:
            p.bonus.add(when, Decimal("0.0"))

    # --- designation (ORD-DESIG) -------------------------------------------------------------------------------
    def can_designate(self, p, facility, when, scheme=None):
        """Whether `facility` may be designated on `when` under `scheme` (default: the person's scheme then)."""
        attributes = self.facilities.at(facility, when)
        if not attributes or not attributes.get("ordinary_outpatient") or attributes.get("parent"):
            return False
        return (scheme or p.stand(when)["scheme"]) == "employee" or attributes.get("kind") in RESIDENT_UNITS

    def by_date(self, p, when):
        """ORD-DESIG with P-CHANGE, TIME-DATED: the person's standings and designations taken in date order (then log
        order), whatever order they were logged in: (the facility designated on `when` or None, the places of the
        designations that never held). A change of scheme ends a designation in force that the new scheme may not
        designate ("a designated facility the new scheme may not designate ends"); a designation the scheme in force
        at its place may not designate never holds (logged after that change, it was refused). Facilities are read
        as now known: an update dated before a designation and logged after it can make it one that never held."""
        steps = [(d, p.standing_logged[seq], None, standing) for d, seq, standing in p.standing.given.entries]
        steps += [(d, place, facility, None) for d, place, facility in p.designations]
        held, scheme, void = None, None, set()
        for d, place, facility, standing in sorted(steps, key=lambda x: x[:2]):
            if d > when:
                break
            if standing is not None:
                if held is not None and not self.can_designate(p, held, d, standing["scheme"]):
                    held = None
                scheme = standing["scheme"]
            elif self.can_designate(p, facility, d, scheme):
                held = facility
            else:
                void.add(place)
        return held, void

    def designation(self, p, when):
        return self.by_date(p, when)[0]

    def designate(self, p, when, facility):
        place = p.tick()
        p.designations.append((when, place, facility))
        return place

    def changes_in(self, p, year):
        """ORD-DESIG: the changes counted in a calendar year, but for a designation that never held (by_date)."""
        void = self.by_date(p, date.max)[1]
        dated = {place: d for d, place, _ in p.designations}
        return sum(1 for place in p.changes if dated[place].year == year and place not in void)

    def on_outpatient_designated(self, e):
        p, when = self.person(e), day(e["at"])
        if not p:
            return self.refuse(e, "UNKNOWN_PERSON")
        if p.stand(when) is None:
            return None  # no standing yet: POLICY.md names no outcome (not judged)
        if self.facilities.at(e["facility"], when) is None:
            return self.refuse(e, "UNKNOWN_FACILITY")
        if not self.can_designate(p, e["facility"], when):
            return self.refuse(e, "FACILITY_NOT_DESIGNATABLE")
        current = self.designation(p, when)
        if current == e["facility"]:
            return self.expected.judge(e["id"])
        if current is not None:
            if self.changes_in(p, when.year) >= CHANGES_PER_YEAR:
                return self.refuse(e, "DESIGNATION_CHANGES_EXHAUSTED")
            p.changes.append(self.designate(p, when, e["facility"]))
            return self.expected.judge(e["id"])
        self.designate(p, when, e["facility"])
        return self.expected.judge(e["id"])

    def refuse(self, e, reason):
        self.expected.expect("refusal", e["person"], e["id"], {"type": e["type"], "reason": reason})

    def designation_check(self, p, e, when, res):
        """ORD-DESIG for a claim at a facility: None when it may go on, else the rejection."""
        attributes = self.facilities.at(e["facility"], when)
        parent = attributes.get("parent") if attributes.get("ordinary_outpatient") else None
        current = self.designation(p, when)
        if current is not None:
            ok = e["facility"] == current or (parent is not None and parent == current)
            return None if ok else rejection("rejected", "NOT_DESIGNATED", res["total"])
        target = None
        if self.can_designate(p, e["facility"], when):
            target = e["facility"]
        elif parent is not None and self.can_designate(p, parent, when):
            target = parent
        if target is None:
            return rejection("rejected", "NOT_DESIGNATED", res["total"])
        self.designate(p, when, target)
        res["reasons"].add("AUTO_DESIGNATED")
        return None

    # --- claims --------------------------------------------------------------------------------------------------
    def on_claim(self, e):
        p = self.person(e)
        if e["benefit"] == "chronic":
            if p is not None:
                p.claims.setdefault(e["claim"], {"status": "chronic"})
            return
        total = sum((money(i["amount"]) for i in e["items"]), ZERO)
        when = day(e["date"])
        if p is None:
            res = rejection("rejected", "UNKNOWN_PERSON", total)
        elif "facility" in e and self.facilities.at(e["facility"], when) is None:
            res = rejection("rejected", "UNKNOWN_FACILITY", total)
            p.claims.setdefault(e["claim"], {"status": "rejected"})
        elif e["claim"] in p.claims:
            res = rejection("rejected", "DUPLICATE_CLAIM", total)
        else:
            res = self.settle(p, e, when, total)
            p.claims[e["claim"]] = res
        self.record_settlement(e, res)

    def record_settlement(self, e, res):
        fields = settlement_fields(res, AFTER_FIELDS)
        self.expected.expect("settlement", e["person"], e["id"], fields, claim=e["claim"])

    def gate(self, p, e, when, res):
        """The checks of §6 before scope and amounts: a rejection or referral, or None."""
        total = res["total"]
        if not START <= when <= END:
            return rejection("rejected", "POLICY_NOT_IN_FORCE", total)
        if not p.eligible_on(when):
            return rejection("rejected", "NOT_ELIGIBLE", total)
        s = p.stand(when)
        if s["scheme"] == "resident" and s["student"]:
            return rejection("referred", "STUDENT_EXISTING_POLICY", total)
        if e["benefit"] == "emergency" and e["outcome"] in ("admitted", "died"):
            reason = "EMERGENCY_ADMITTED" if e["outcome"] == "admitted" else "EMERGENCY_DEATH"
            return rejection("referred", reason, total)
        if p.in_stay(when):
            return rejection("rejected", "INPATIENT_STAY", total)
        if "away" not in e and e["benefit"] != "emergency":
            return self.designation_check(p, e, when, res)
        return None

    def settle(self, p, e, when, total):
        res = {"total": total, "reasons": set()}
        stop = self.gate(p, e, when, res)
        if stop:
            stop["reasons"] |= res["reasons"]
            return stop
        scheme = p.stand(when)["scheme"]
        eligible = self.scope(p, e, when, scheme, res)
        level, tcm = self.level(e, when)
        ratio = self.ratio(p, when, scheme, level, tcm)
        deductible_level = max(1, level - 1) if tcm else level
        self.amounts(p, e, when, scheme, eligible, deductible_level, ratio, res)
        return res

    def level(self, e, when):
        """F-LEVEL and F-TCM: (level, TCM hospital); out of area is never TCM."""
        if "away" in e:
            return max(1, int(e["away"]["level"] or 1)), False
        attributes = self.facilities.at(e["facility"], when)
        return level_of(attributes), bool(attributes.get("tcm"))

    def ratio(self, p, when, scheme, level, tcm):
        """ORD-RATIO + F-TCM + the ORD-INC bonus in force on the service date (points are percentage points)."""
        if scheme == "employee":
            key = "retired" if p.retired_on(when) else "in_service"
            base = Decimal(RATIO[key][max(1, level - 1) if tcm else level])
        else:
            base = Decimal(RATIO["resident"][level]) + (TCM_RESIDENT_EXTRA if tcm else ZERO)
        return base + p.bonus.at(when) / 100

    def amounts(self, p, e, when, scheme, eligible, deductible_level, ratio, res):
        """ORD-AWAY, ORD-DED, ORD-LIM, fund (RND), and the accumulators of the claim's scheme period and year."""
        used = p.used_in(when)
        limit = p.limit(when)
        self_first, counted = ZERO, ZERO
        if e.get("away", {}).get("mode") == "temporary":
            self_first = rnd(eligible * AWAY_SELF_SHARE)
            counted = min(self_first, max(ZERO, limit - used["limit"]))
        rest = eligible - self_first
        deductible = min(rest, max(ZERO, Decimal(DEDUCTIBLE[scheme][deductible_level]) - used["deductible"]))
        above = rest - deductible
        covered = min(above, max(ZERO, limit - used["limit"] - counted))
        if covered < above:
            res["reasons"].add("LIMIT_REACHED")
        counted += covered
        fund = rnd(covered * ratio)
        key = (p.standing.entry_on(when), when, when.year)
        p.used[key]["deductible"] += deductible
        p.used[key]["limit"] += counted
        used = {"deductible": used["deductible"] + deductible, "limit": used["limit"] + counted}
        p.year_fund[when.year] += fund
        p.year_eligible[when.year] += eligible
        enjoyed = p.bonus.at(when) > 0 and fund > 0
        p.enjoyed[when.year] += enjoyed
        res.update(status="settled", eligible=eligible, self_first=self_first, deductible=deductible,
                   covered=covered, ratio=ratio, fund=fund, patient=res["total"] - fund, date=when,
                   after={"deductible_paid": used["deductible"], "limit_used": used["limit"], "limit": limit},
                   undo={"key": key, "deductible": deductible, "limit": counted,
                         "enjoyed": enjoyed})

    # --- scope (ORD-SCOPE, ORD-ACU, ORD-PED) ---------------------------------------------------------------------
    def scope(self, p, e, when, scheme, res):
        eligible, tcm, ped = ZERO, [], []
        for item in e["items"]:
            amount = money(item.get("eligible", item["amount"]))
            category = item["category"]
            if category == "nucleic_acid":
                res["reasons"].add("NUCLEIC_ACID_INPATIENT_POLICY")
            elif scheme == "employee" or category in ("drug", "general_consultation"):
                eligible += amount
            elif category in ("acupuncture", "tcm_other"):
                tcm.append((item, amount))
            elif category == "pediatric_massage":
                ped.append(amount)
            else:
                res["reasons"].add("RESIDENT_SCOPE")
        if ped:
            eligible += self.pediatric(p, e, when, ped, res)
        if tcm:
            eligible += self.acupuncture(p, e, when, tcm, res)
        return eligible

    def pediatric(self, p, e, when, amounts, res):
        diagnosis = e.get("diagnosis")
        if age_on(p.birth, when) > PED_MAX_AGE or diagnosis not in PED_CONDITIONS:
            res["reasons"].add("PED_NOT_COVERED")
            return ZERO
        if diagnosis != "amblyopia" and not course_ok(p.courses, ("ped", diagnosis), when, e, PED_COURSE):
            res["reasons"].add("PED_COURSE_EXCEEDED")
            return ZERO
        return sum(amounts, ZERO)

    def acupuncture(self, p, e, when, items, res):
        diagnosis = e.get("diagnosis")
        led = sum((a for i, a in items if i["category"] == "acupuncture"), ZERO)
        other = sum((a for i, a in items if i["category"] == "tcm_other"), ZERO)
        if not led > other:
            reason = "ACU_NOT_LED"
        elif diagnosis not in ACU_DIAGNOSES:
            reason = "ACU_DIAGNOSIS_NOT_LISTED"
        elif not course_ok(p.courses, ("acu", diagnosis), when, e, ACU_DIAGNOSES[diagnosis][0]):
            reason = "ACU_COURSE_EXCEEDED"
        else:
            return self.therapy_items(p, e, when, items, res, ACU_DIAGNOSES[diagnosis][1])
        res["reasons"].add(reason)
        return ZERO

    def therapy_items(self, p, e, when, items, res, per_day):
        """ORD-ACU per day and frequency, item by item in claim order."""
        eligible, accepted, uses = ZERO, p.tcm_day[when], []
        for item, amount in items:
            code = item.get("therapy")
            if code in ADJUNCTS:
                eligible += amount
                continue
            counted = len({c for c in accepted if c is not None}) + accepted.count(None)
            if (code is None or code not in accepted) and counted >= per_day:
                res["reasons"].add("ACU_DAILY_ITEMS_EXCEEDED")
            elif code is not None and not frequency_ok(p.therapy_uses[code], code, when):
                res["reasons"].add("ACU_FREQUENCY_EXCEEDED")
            else:
                eligible += amount
                accepted.append(code)
                uses.append(code)
                if code is not None:
                    p.therapy_uses[code].append(when)
        res["uses"] = uses
        return eligible

    # --- reversals, year end ----------------------------------------------------------------------------------
    def on_claim_reversed(self, e):
        p = self.person(e)
        if p is None:
            return self.refuse(e, "UNKNOWN_PERSON")
        claim = p.claims.get(e["claim"])
        if claim is not None and claim["status"] == "chronic":
            return None  # chronic.py judges it
        if claim is None or claim["status"] != "settled" or claim.get("reversed"):
            return self.refuse(e, "REVERSAL_NOT_APPLICABLE")
        claim["reversed"] = True
        self.restore(p, claim)
        undo = claim["undo"]
        restored = {"claim": e["claim"], "date": claim["date"].isoformat(), "at": e["at"], "inpatient_used": ZERO,
                    "deductible": -undo["deductible"], "eligible": -claim["eligible"], "fund": -claim["fund"],
                    "limit_used": -undo["limit"]}
        return self.expected.expect("reversal", e["person"], e["id"], reversal_fields(restored), claim=e["claim"])

    def restore(self, p, claim):
        undo, when = claim["undo"], claim["date"]
        used = p.used[undo["key"]]
        used["deductible"] -= undo["deductible"]
        used["limit"] -= undo["limit"]
        p.year_fund[when.year] -= claim["fund"]
        p.year_eligible[when.year] -= claim["eligible"]
        p.enjoyed[when.year] -= undo["enjoyed"]
        for code in claim.get("uses", []):
            p.tcm_day[when].remove(code)
            if code is not None:
                p.therapy_uses[code].remove(when)

    def on_period_closed(self, e):
        month = e["month"]
        if self.last_closed is not None and month <= self.last_closed:
            return
        if self.last_closed is not None and month != next_month(self.last_closed):
            return
        self.last_closed = month
        year = int(month[:4])
        if month.endswith("-12") and year in INCENTIVE_YEARS:
            for p in self.people.values():
                self.assess_incentive(p, year)

    def assess_incentive(self, p, year):
        """ORD-INC for year Y, taking effect on 1 January Y+1."""
        dec31 = date(year, 12, 31)
        held, earned = p.bonus.at(dec31), Decimal("0.0")
        if p.eligible_on(dec31):
            if p.year_fund[year] == 0:
                earned = INCENTIVE_UNUSED
            elif p.year_eligible[year] <= p.limit(dec31) / 2:
                earned = INCENTIVE_HALF
        bonus = earned if p.enjoyed[year] > 0 else held + earned
        p.bonus.add(date(year + 1, 1, 1), min(bonus, INCENTIVE_CAP))


def course_ok(courses, key, when, e, days):
    """ORD-ACU course: with course_start the claim belongs to that course; without, it continues the course in
    progress if within its N days, else starts one."""
    if e.get("course_start"):
        start = day(e["course_start"])
        courses[key] = start
        return when <= start + timedelta(days=days - 1)
    start = courses.get(key)
    if start is None or not start <= when <= start + timedelta(days=days - 1):
        courses[key] = when
    return True


def frequency_ok(uses, code, when):
    rule = FREQUENCY.get(code)
    if rule is None:
        return True
    if rule[0] == "day":
        return uses.count(when) < rule[1]
    if rule[0] == "alternate":
        return not any(abs((u - when).days) <= 1 for u in uses)
    for shift in range(7):  # every 7-day window holding the day keeps at most n uses
        first = when - timedelta(days=shift)
        if sum(1 for u in uses if first <= u <= first + timedelta(days=6)) + 1 > rule[1]:
            return False
    return True


view = claim_view(AFTER_FIELDS)


def expected(events):
    return Ordinary().run(events)
