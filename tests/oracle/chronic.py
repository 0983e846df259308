"""Oracle of the chronic and special disease rules (POLICY.md §2 with §0, §4, §6), written from POLICY.md and
EVENTS.md alone.

It folds an event file in file order (within each person, that person's log order: TIME-LOG) and states the output
records gongji must write for chronic claims, for reversals of them, and for chronic_facility_designated,
chronic_disease_approved and chronic_disease_revoked events.

Modelled: T-START (chronic from 2023-01-01), P-ELIG, P-STUDENT, F-LEVEL, F-TCM, CHR-DED, CHR-RATIO (inpatient
ratios of §5), CHR-LIM (positions, weights, ordering by application), CHR-PRORATE, CHR-EXCL (X- codes referred;
C08 and C11 within the inpatient limit only), CHR-INPT (inpatient_settled and chronic claims share the counter of
a scheme period's year), CHR-SEP, CHR-REG, CHR-FAC (two slots a bucket, December filings, the specialised groups),
CHR-SUSP, CHR-UNREG, CHR-CHANGE, ORD-AWAY for chronic claims, nucleic-acid items (ORD-SCOPE), reversals and
DUPLICATE_CLAIM (§4), the claim-check order (§6), RND. Values are the POLICY.md figures, the §5 defaults and the
Annex 2 standards (the seed document 002_*.txt that POLICY.md cites), written here, never read from a policy file.

Not modelled: ordinary claims (ordinary.py; their claim ids count for DUPLICATE_CLAIM here), accounts, the
CHR-ART17 switch (off by default: Art.17 diseases are settled), `rules`, `trace` and `person` views. Not judged,
because POLICY.md names no outcome: a chronic event dated when its person has no standing yet, and a revocation
of a disease that is not registered (no effect either way).

Interpretations where POLICY.md is silent (each a reading of the rule cited):
- TIME-DATED: a facility with no registration in effect on a claim's or a filing's date is unknown for it.
- CHR-FAC: a choice belongs to the scheme period in force on its filing date (by date: common.Standings.periods;
  a change dated before the filing and logged after it does not end it). A change of scheme empties both slots (CHR-CHANGE),
  so a choice filed before a change (a December filing for 1 January too) is never in effect after it. A slot is
  filled once its period holds a choice, pending ones included; the choice in effect is the latest one effective on
  the day, and among choices effective the same day the last filed. One locked slot refuses the whole event.
- CHR-LIM: the registrations counted for a claim are those in effect on its date and those revoked earlier in its
  year after 1 January (CHR-REG: the limit "keeps its part"; revoked on 1 January, a disease was in effect on no
  day of the year and has no part in it, as one revoked before it took effect); a disease revoked and approved
  again in one year is two registrations, each with its own position (CHR-REG: "a new approval is a new
  registration ... pro-rated like any disease added in the year"). A registration ended by a change of scheme
  counts no more (CHR-CHANGE).
- CHR-CHANGE, TIME-DATED: a change of scheme ends, on its date, every registration of the person not ended by then,
  whatever ends it later (another change, a revocation or a suspension logged before it). An approval dated before a
  change logged before it is a registration of the period before that change (ended there), whatever the later
  period holds: it is refused DISEASE_ALREADY_REGISTERED only by a registration of its own period.
- CHR-SUSP: the bucket's chronic cost of the year is summed over its scheme periods; an approval dated in the next
  year but logged before the close is not suspended.
- ORD-AWAY for chronic claims: the self-first amount counts into the bucket's limit_used as far as the bucket limit
  has room, and that amount into the inpatient counter as far as the inpatient limit has room (for C08 and C11,
  whose limit is the inpatient one, as far as it has room).
- LIMIT_REACHED / INPATIENT_LIMIT_REACHED (§4, "a settlement whose covered amount that limit cut"): each limit whose
  room is below the cost above the deductible marks the settlement; both may.
- CHR-REG: a claim for a disease takes the registration in effect on its date; the bucket is that registration's.
- §4: a reversal dated before its claim's service date restores the claim like any other (not among the reversals
  that change nothing).
"""
import datetime
from decimal import Decimal

from common import ZERO, Expected, Facilities, Standings, Timeline, claim_view, day, level_of, money, next_month
from common import rejection, reversal_fields, rnd, settlement_fields, standing_of

START, END = datetime.date(2023, 1, 1), datetime.date(2027, 6, 30)  # T-START
_STANDARDS = """5000 4000 4000 6000 6000 1500 7000 - 3000 3000 - 30000 4000 3600 3000 2000 3000 6000 3000 3000 2000
2000 3600 5000 2000 2500 2000 2500 2500 5000 6000 3000 6000 3600 1500 3600 2000 2000 3500 3000 3000 1500 1500 1500
1500 2500 2000 1500 2000 2000 3000 2500 3000 2500 3000 2000 3000 1500 2500 2500 3500 3500 5000 3000 2000 5000 5000
3000 3000 3000 3000 3000 3600 5000 1500 3000 3000 5000""".split()
STANDARD = {"C%02d" % (i + 1): Decimal(v) for i, v in enumerate(_STANDARDS) if v != "-"}  # Annex 2, CHR-LIM
CASTRATION = Decimal(15000)  # C01 with variant castration
INPATIENT_ONLY = {"C08", "C11"}  # CHR-EXCL: within the inpatient limit, no position
SPECIALISED = {"C30", "C77", "C78", "C02", "C03", "C09", "C10", "C11"}  # CHR-FAC: mental or infectious
DEDUCTIBLE = {"employee": Decimal(900), "ordinary": Decimal(100), "specific": Decimal(300)}  # CHR-DED
ORDINARY_RATIO, TCM_RESIDENT_EXTRA = Decimal("0.60"), Decimal("0.05")  # CHR-RATIO, F-TCM
ORDINARY_LIMIT = {1: Decimal(500), 2: Decimal(1000)}  # CHR-LIM, resident ordinary by tier
INPATIENT_RATIO = {"in_service": ("0.93", "0.90", "0.87"), "retired": ("0.96", "0.93", "0.90"),
                   "resident": ("0.88", "0.78", "0.68")}  # §5
INPATIENT_LIMIT = {"employee": Decimal(300000), "resident": Decimal(200000)}  # §5
WEIGHTS = (Decimal(1), Decimal("0.5"), Decimal("0.4"))  # CHR-LIM positions 1, 2, 3
AWAY_SELF_SHARE = Decimal("0.10")
SUSPENSION_FROM = 2023  # CHR-SUSP
AFTER_FIELDS = ("deductible_paid", "limit_used", "limit", "inpatient_limit_used")


def standard(reg):
    return CASTRATION if reg["disease"] == "C01" and reg["variant"] == "castration" else STANDARD[reg["disease"]]


def takes_position(reg):
    return reg["disease"] in STANDARD


class Person:
    def __init__(self, event):
        self.id = event["person"]
        self.enrolled = day(event["at"])
        self.standing = Standings()
        self.standing.add(self.enrolled, standing_of(event))
        self.changes = []  # dates of changes of scheme
        self.suspended = Timeline()
        self.regs = []
        self.choices = []  # CHR-FAC: (filed, bucket, slot, effective, log sequence, facility)
        self.used = {}  # (bucket, year, anchor, date) -> deductible, limit, eligible (ORD-TYPE, common.Standings)
        self.inpatient = {}  # (year, anchor, date) -> inpatient counter (CHR-INPT)
        self.claims = {}

    def stand(self, when):
        return self.standing.at(when)

    def eligible_on(self, when):
        return self.enrolled <= when and not self.suspended.at(when, False)

    def period_on(self, when):
        """The scheme period in force on `when` (ORD-TYPE, by date: common.Standings.period)."""
        return self.standing.period(when)

    def accumulators(self, bucket, when):
        """The bucket's accumulators of the scheme period in force on `when` and its year: those of the claims
        served in it (ORD-TYPE, common.Standings.period_of)."""
        period, total = self.period_on(when), {"deductible": ZERO, "limit": ZERO, "eligible": ZERO}
        for (b, year, anchor, served), used in self.used.items():
            if (b, year) == (bucket, when.year) and self.standing.period_of(anchor, served) == period:
                total = {k: total[k] + used[k] for k in total}
        return total

    def inpatient_used(self, when):
        """CHR-INPT: the inpatient counter of the scheme period in force on `when` and its year."""
        period = self.period_on(when)
        return sum((used for (year, anchor, served), used in self.inpatient.items()
                    if year == when.year and self.standing.period_of(anchor, served) == period), ZERO)

    def facility(self, bucket, slot, when):
        period, best = self.period_on(when), None
        for choice in self.choices:
            if self.of_period(choice, period, bucket, slot) and choice[3] <= when and (best is None or choice[3:5] > best[3:5]):
                best = choice
        return None if best is None else best[5]

    def of_period(self, choice, period, bucket, slot):
        """CHR-FAC, CHR-CHANGE: a choice of the bucket's slot filed in `period` (the scheme period in force on its
        filing date, by date: a change dated before it and logged after it ends what was chosen before it only)."""
        return choice[1:3] == (bucket, slot) and self.period_on(choice[0]) == period

    def filled(self, bucket, slot, period):
        found = [c[5] for c in self.choices if self.of_period(c, period, bucket, slot)]
        return found[-1] if found else None


def active(reg):
    return reg["revoked"] is None and reg["suspended"] is None and reg["ended"] is None


def approved_under(reg, p, when, scheme):
    """TIME-DATED, CHR-CHANGE: a registration approved on or after a change (the change logged after it) under that
    change's scheme (its bucket), or after a later change: in date order the change came first and ended nothing of
    it."""
    later = any(when < c <= reg["approved"] for c in p.changes)
    return reg["approved"] >= when and ((reg["bucket"] == "employee") == (scheme == "employee") or later)


def in_effect(reg, when):
    ends = [reg[k] for k in ("revoked", "suspended", "ended") if reg[k] is not None]
    return reg["effective"] <= when and all(end > when for end in ends)


def counts_in_year(reg, bucket, when):
    """CHR-LIM / CHR-REG: does the registration take part in the bucket's limit for a claim on `when`?"""
    if reg["bucket"] != bucket or not takes_position(reg) or reg["effective"] > when:
        return False
    # Revoked on 1 January of the claim's year or before: in effect on no day of the year, no part in its limit.
    if reg["revoked"] is not None and (reg["revoked"] <= reg["effective"] or
                                       reg["revoked"] <= datetime.date(when.year, 1, 1)):
        return False
    return all(reg[k] is None or reg[k] > when for k in ("suspended", "ended"))


def bucket_limit(p, bucket, when):
    """CHR-LIM with CHR-PRORATE, computed exactly and rounded once, for employee and resident specific buckets."""
    jan1 = datetime.date(when.year, 1, 1)
    counted = [r for r in p.regs if counts_in_year(r, bucket, when)]
    first = sorted((r for r in counted if r["effective"] <= jan1), key=lambda r: (-standard(r), r["seq"]))
    later = sorted((r for r in counted if r["effective"] > jan1),
                   key=lambda r: (r["applied"], r["approved"], -standard(r), r["seq"]))
    twelfths = ZERO  # the exact sum of standard x weight x months, divided once (no tie is lost to a repeating part)
    for weight, reg in zip(WEIGHTS, first + later):
        twelfths += standard(reg) * weight * (12 if reg["effective"] <= jan1 else 13 - reg["effective"].month)
    return rnd(twelfths / 12)


class Chronic:
    def __init__(self):
        self.facilities = Facilities()
        self.people = {}
        self.last_closed = None
        self.expected = Expected("chronic", ("settlement", "reversal", "refusal"))

    def run(self, events):
        for event in events:
            if event["type"] in ("facility_registered", "facility_updated"):
                self.facilities.add(event)
                continue
            handler = getattr(self, "on_" + event["type"], None)
            if handler:
                handler(event)
        return self.expected

    def person(self, e):
        return self.people.get(e["person"])

    def refuse(self, e, reason):
        self.expected.expect("refusal", e["person"], e["id"], {"type": e["type"], "reason": reason})

    # --- people -------------------------------------------------------------------------------------------------
    def on_person_enrolled(self, e):
        self.people.setdefault(e["person"], Person(e))

    def on_scheme_changed(self, e):
        p = self.person(e)
        if not p:
            return
        when = day(e["at"])
        if when < p.enrolled:
            return  # P-ELIG: no standing before the enrolment; the change is refused (NOT_ELIGIBLE) and does nothing
        old = p.stand(when)
        p.standing.add(when, standing_of(e))
        if old is not None and old["scheme"] != e["scheme"]:
            p.changes.append(when)
            # CHR-CHANGE, TIME-DATED: the registrations not ended by the change's date end then, one that a later
            # change (logged before this one) or a revocation or suspension dated after it ended included (facility
            # choices end with their period)
            for reg in p.regs:
                ends = [reg[k] for k in ("revoked", "suspended", "ended") if reg[k] is not None]
                if all(end > when for end in ends) and not approved_under(reg, p, when, e["scheme"]):
                    reg["ended"] = when

    def on_retirement_confirmed(self, e):
        p, when = self.person(e), day(e["at"])
        if p:
            p.standing.retire(when)

    def on_enrollment_suspended(self, e):
        if self.person(e):
            self.person(e).suspended.add(day(e["at"]), True)

    def on_enrollment_resumed(self, e):
        if self.person(e):
            self.person(e).suspended.add(day(e["at"]), False)

    def on_inpatient_settled(self, e):
        p, when = self.person(e), day(e["at"])
        if p:
            key = (when.year, p.standing.entry_on(when), when)
            p.inpatient[key] = p.inpatient.get(key, ZERO) + money(e["covered"])

    # --- registrations and facilities -----------------------------------------------------------------------------
    def bucket_of(self, p, e):
        """The bucket a chronic event concerns; None when it is refused or not judged (after doing so)."""
        if p is None:
            return self.refuse(e, "UNKNOWN_PERSON")
        standing = p.stand(day(e["at"]))
        if standing is None:
            return None  # no standing yet: POLICY.md names no outcome (not judged)
        if standing["scheme"] == "employee":
            return "employee"
        if e.get("bucket") is None:
            return self.refuse(e, "DISEASE_NOT_IN_BUCKET")
        return e["bucket"]

    def on_chronic_facility_designated(self, e):
        p = self.person(e)
        bucket = self.bucket_of(p, e)
        if bucket is None:
            return
        when = day(e["at"])
        plan = []
        for slot, facility in (("main", e.get("facility")), ("specialised", e.get("specialty_facility"))):
            if facility is None:
                continue
            if self.facilities.at(facility, when) is None:
                return self.refuse(e, "UNKNOWN_FACILITY")
            current = p.filled(bucket, slot, p.period_on(when))
            if current is None:
                plan.append((slot, when, facility))
            elif current != facility:
                if when.month != 12:
                    return self.refuse(e, "CHRONIC_FACILITY_LOCKED")
                plan.append((slot, datetime.date(when.year + 1, 1, 1), facility))
        for slot, effective, facility in plan:
            p.choices.append((when, bucket, slot, effective, len(p.choices), facility))
        self.expected.judge(e["id"])

    def on_chronic_disease_approved(self, e):
        p = self.person(e)
        bucket = self.bucket_of(p, e)
        if bucket is None:
            return None
        disease, when = e["disease"], day(e["at"])
        if bucket == "ordinary" and disease in INPATIENT_ONLY:
            return self.refuse(e, "DISEASE_NOT_IN_BUCKET")
        # CHR-CHANGE: one dated before a change of scheme logged earlier ends at that change, as in date order
        ended = min((c for c in p.changes if c > when), default=None)
        for reg in p.regs:
            # (one approved in a later scheme period, by a change logged earlier, is another registration: in date
            # order it came after this one, which that change ended)
            if reg["disease"] == disease and active(reg) and (ended is None or reg["approved"] < ended):
                if reg["bucket"] != bucket:
                    return self.refuse(e, "DISEASE_ALREADY_REGISTERED")
                return self.expected.judge(e["id"])  # CHR-REG: changes nothing
        p.regs.append({"disease": disease, "bucket": bucket, "approved": when,
                       "applied": day(e.get("applied", e["at"])), "effective": when + datetime.timedelta(days=1),
                       "variant": e.get("variant"), "revoked": None, "suspended": None, "ended": ended,
                       "seq": len(p.regs)})
        return self.expected.judge(e["id"])

    def on_chronic_disease_revoked(self, e):
        p = self.person(e)
        if p is None:
            return self.refuse(e, "UNKNOWN_PERSON")
        for reg in p.regs:
            # CHR-UNREG, TIME-DATED: the registration in force on the revocation's date (approved by then, not yet
            # ended), whatever ends it later (a change of scheme logged before the revocation) or was approved after
            when = day(e["at"])
            ends = [reg[k] for k in ("revoked", "suspended", "ended") if reg[k] is not None]
            if reg["disease"] == e["disease"] and reg["approved"] <= when and all(end > when for end in ends):
                reg["revoked"] = when
                return self.expected.judge(e["id"])
        return None  # not registered: POLICY.md names no outcome (not judged)

    # --- year end (CHR-SUSP) -----------------------------------------------------------------------------------------
    def on_period_closed(self, e):
        month = e["month"]
        if self.last_closed is not None and (month <= self.last_closed or month != next_month(self.last_closed)):
            return
        self.last_closed = month
        year = int(month[:4])
        if month.endswith("-12") and year >= SUSPENSION_FROM:
            for p in self.people.values():
                for bucket in DEDUCTIBLE:
                    suspend(p, bucket, year)

    # --- claims --------------------------------------------------------------------------------------------------
    def on_claim(self, e):
        p, when = self.person(e), day(e["date"])
        total = sum((money(i["amount"]) for i in e["items"]), ZERO)
        chronic = e["benefit"] == "chronic"
        if p is None:
            res = rejection("rejected", "UNKNOWN_PERSON", total)
        elif "facility" in e and self.facilities.at(e["facility"], when) is None:
            res = rejection("rejected", "UNKNOWN_FACILITY", total)
            p.claims.setdefault(e["claim"], {"status": "rejected", "chronic": chronic})
        elif e["claim"] in p.claims:
            res = rejection("rejected", "DUPLICATE_CLAIM", total)
        elif not chronic:
            p.claims[e["claim"]] = {"status": "other", "chronic": False}
            return
        else:
            res = self.settle(p, e, when, total)
            p.claims[e["claim"]] = dict(res, chronic=True)
        if chronic:
            self.record_settlement(e, res)

    def record_settlement(self, e, res):
        fields = settlement_fields(res, AFTER_FIELDS)
        self.expected.expect("settlement", e["person"], e["id"], fields, claim=e["claim"])

    def gate(self, p, e, when, total):
        """The checks of §6 for a chronic claim: (registration, None) to go on, or (None, rejection)."""
        standing = p.stand(when)
        if not START <= when <= END:
            return None, rejection("rejected", "POLICY_NOT_IN_FORCE", total)
        if not p.eligible_on(when):
            return None, rejection("rejected", "NOT_ELIGIBLE", total)
        if standing["scheme"] == "resident" and standing["student"]:
            return None, rejection("referred", "STUDENT_EXISTING_POLICY", total)
        if e["disease"].startswith("X-"):
            return None, rejection("referred", "CHRONIC_EXISTING_POLICY", total)
        regs = [r for r in p.regs if r["disease"] == e["disease"] and in_effect(r, when)]
        if not regs:
            return None, rejection("rejected", "DISEASE_NOT_REGISTERED", total)
        reg = regs[-1]
        if "away" not in e:
            at_main = p.facility(reg["bucket"], "main", when) == e["facility"]
            at_specialised = e["disease"] in SPECIALISED and p.facility(reg["bucket"], "specialised", when) == e[
                "facility"]
            if not (at_main or at_specialised):
                return None, rejection("rejected", "NOT_DESIGNATED", total)
        return reg, None

    def settle(self, p, e, when, total):
        reg, stop = self.gate(p, e, when, total)
        if stop:
            return stop
        res = {"total": total, "reasons": set(), "status": "settled", "date": e["date"]}
        res["eligible"] = eligible_of(e, res)
        level, tcm = self.level(e, when)
        res["ratio"] = ratio(p.stand(when), reg["bucket"], level, tcm)
        self.amounts(p, e, when, reg, res)
        res["fund"] = rnd(res["covered"] * res["ratio"])
        res["patient"] = total - res["fund"]
        return res

    def level(self, e, when):
        if "away" in e:
            return max(1, int(e["away"]["level"] or 1)), False
        attributes = self.facilities.at(e["facility"], when)
        return level_of(attributes), bool(attributes.get("tcm"))

    def amounts(self, p, e, when, reg, res):
        """ORD-AWAY, CHR-DED, CHR-LIM, CHR-INPT, CHR-EXCL; the accumulators after the claim."""
        bucket, standing = reg["bucket"], p.stand(when)
        used = p.accumulators(bucket, when)
        inpatient_key = (when.year, p.standing.entry_on(when), when)
        inpatient_before = p.inpatient_used(when)
        inpatient_room = None  # CHR-INPT: the employee and resident specific buckets only
        if bucket != "ordinary":
            inpatient_room = max(ZERO, INPATIENT_LIMIT[standing["scheme"]] - inpatient_before)
        limit = None if e["disease"] in INPATIENT_ONLY else self.limit_for(p, bucket, when, standing)
        room = None if limit is None else max(ZERO, limit - used["limit"])
        temporary = e.get("away", {}).get("mode") == "temporary"
        self_first = rnd(res["eligible"] * AWAY_SELF_SHARE) if temporary else ZERO
        to_limit, to_inpatient = count_self_first(self_first, room, inpatient_room)
        rest = res["eligible"] - self_first
        deductible = min(rest, max(ZERO, DEDUCTIBLE[bucket] - used["deductible"]))
        covered = cut(rest - deductible, less(room, to_limit), less(inpatient_room, to_inpatient), res["reasons"])
        added_limit = ZERO if limit is None else to_limit + covered
        added_inpatient = ZERO if inpatient_room is None else to_inpatient + covered
        key = (bucket, when.year, p.standing.entry_on(when), when)
        anchored = p.used.setdefault(key, {"deductible": ZERO, "limit": ZERO, "eligible": ZERO})
        anchored["deductible"] += deductible
        anchored["limit"] += added_limit
        anchored["eligible"] += res["eligible"]
        p.inpatient[inpatient_key] = p.inpatient.get(inpatient_key, ZERO) + added_inpatient
        res.update(self_first=self_first, deductible=deductible, covered=covered,
                   after={"deductible_paid": used["deductible"] + deductible, "limit_used": used["limit"] + added_limit,
                          "limit": limit, "inpatient_limit_used": inpatient_before + added_inpatient},
                   undo={"key": key, "inpatient_key": inpatient_key,
                         "deductible": deductible, "limit": added_limit, "inpatient": added_inpatient})

    def limit_for(self, p, bucket, when, standing):
        if bucket == "ordinary":
            return ORDINARY_LIMIT[standing["tier"]]
        return bucket_limit(p, bucket, when)

    # --- reversals --------------------------------------------------------------------------------------------------
    def on_claim_reversed(self, e):
        p = self.person(e)
        claim = p.claims.get(e["claim"]) if p else None
        if claim is None or not claim["chronic"]:
            return None  # ordinary.py judges it
        if claim["status"] != "settled" or claim.get("reversed"):
            return self.refuse(e, "REVERSAL_NOT_APPLICABLE")
        claim["reversed"] = True
        undo = claim["undo"]
        used = p.used[undo["key"]]
        used["deductible"] -= undo["deductible"]
        used["limit"] -= undo["limit"]
        used["eligible"] -= claim["eligible"]
        key = undo["inpatient_key"]
        p.inpatient[key] = p.inpatient.get(key, ZERO) - undo["inpatient"]
        restored = {"claim": e["claim"], "date": claim["date"], "at": e["at"], "deductible": -undo["deductible"],
                    "eligible": -claim["eligible"], "fund": -claim["fund"], "limit_used": -undo["limit"],
                    "inpatient_used": -undo["inpatient"]}
        return self.expected.expect("reversal", e["person"], e["id"], reversal_fields(restored), claim=e["claim"])


def less(room, amount):
    return None if room is None else room - amount


def count_self_first(self_first, room, inpatient_room):
    """ORD-AWAY for a chronic claim: how much of the self-first amount counts into limit_used (as far as the
    claim's limit has room: the bucket's, or for C08 and C11 the inpatient one) and into the inpatient counter (that
    amount, as far as the inpatient limit has room)."""
    to_limit = self_first if room is None else min(self_first, room)
    to_inpatient = ZERO if inpatient_room is None else min(to_limit, inpatient_room)
    return to_limit, to_inpatient


def cut(above, room, inpatient_room, reasons):
    """The covered amount: the cost above the deductible within each limit's room, marking each limit that cuts."""
    covered = above
    if room is not None and room < above:
        reasons.add("LIMIT_REACHED")
        covered = min(covered, room)
    if inpatient_room is not None and inpatient_room < above:
        reasons.add("INPATIENT_LIMIT_REACHED")
        covered = min(covered, inpatient_room)
    return covered


def eligible_of(e, res):
    eligible = ZERO
    for item in e["items"]:
        if item["category"] == "nucleic_acid":
            res["reasons"].add("NUCLEIC_ACID_INPATIENT_POLICY")
        else:
            eligible += money(item.get("eligible", item["amount"]))
    return eligible


def ratio(standing, bucket, level, tcm):
    """CHR-RATIO with F-TCM."""
    if bucket == "ordinary":
        return ORDINARY_RATIO + (TCM_RESIDENT_EXTRA if tcm else ZERO)
    if standing["scheme"] == "employee":
        key = "retired" if standing["status"] == "retired" else "in_service"
        return Decimal(INPATIENT_RATIO[key][(max(1, level - 1) if tcm else level) - 1])
    return Decimal(INPATIENT_RATIO["resident"][level - 1]) + (TCM_RESIDENT_EXTRA if tcm else ZERO)


def suspend(p, bucket, year):
    """CHR-SUSP for one bucket at the close of December of `year`."""
    jan1, next_jan1 = datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)
    assessed = any(r["bucket"] == bucket and r["effective"] <= jan1 and
                   all(r[k] is None or r[k] > jan1 for k in ("revoked", "suspended", "ended")) for r in p.regs)
    if not assessed:
        return
    cost = sum((a["eligible"] for (b, y, *_), a in p.used.items() if b == bucket and y == year), ZERO)
    if cost >= DEDUCTIBLE[bucket]:
        return
    for reg in p.regs:
        if reg["bucket"] == bucket and reg["approved"].year <= year and reg["suspended"] is None and \
                all(reg[k] is None or reg[k] > next_jan1 for k in ("revoked", "ended")):
            reg["suspended"] = next_jan1


view = claim_view(AFTER_FIELDS)


def expected(events):
    return Chronic().run(events)
