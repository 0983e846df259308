"""What the three oracles share: money and RND, dates, dated timelines, reading JSON Lines, and the comparison of
an oracle's expected output records with gongji's.

Nothing here knows a policy value; every figure lives in the oracle that applies it, taken from POLICY.md.
"""
import datetime
import json
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
FEN = Decimal("0.01")


def money(value):
    """An amount of an event or an output record, parsed exactly (never through a binary float)."""
    return Decimal(str(value))


def rnd(amount):
    """RND: an amount a rule produces is rounded half up to the fen, once, when it is produced."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def day(text):
    return datetime.date.fromisoformat(text)


def month_start(month):
    """The first day of a month written YYYY-MM."""
    return day(month + "-01")


def next_month(month):
    year, mon = int(month[:4]), int(month[5:7])
    return "%04d-%02d" % (year + mon // 12, mon % 12 + 1)


def age_on(birth, when):
    """Completed years (P-MINOR); a 29 February birthday counts on 1 March in common years, as this gives."""
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Timeline:
    """Values dated by the day they take effect (TIME-DATED), kept in log order: the value in effect on a day is
    the one with the latest date on or before it, and among values of one date the one logged last."""

    def __init__(self):
        self.entries = []  # (date, log sequence, value)

    def add(self, when, value):
        self.entries.append((when, len(self.entries), value))

    def entry(self, when):
        """(date, log sequence, value) of the value in effect on a day, or None."""
        best = None
        for entry in self.entries:
            if entry[0] <= when and (best is None or entry[:2] > best[:2]):
                best = entry
        return best

    def at(self, when, default=None):
        best = self.entry(when)
        return default if best is None else best[2]


class Standings:
    """P-SCHEME, P-CHANGE, TIME-DATED: a person's standing as the standings enrolments and scheme_changed events give
    (a Timeline of dicts with "scheme" and "status"), and the retirements retirement_confirmed events confirm. A
    retirement is accepted when the standing in effect on its date, as logged, is an employee's (gongji refuses
    another, NOT_ELIGIBLE, and a refused one stays refused whatever is logged after it), and an accepted one holds from
    its date while the standing in effect is an employee's given before it (by date, then log order), as the events
    in date order would have it: a change of scheme dated before it and logged after it ends it, and one back to the
    employee scheme dated between them makes it hold again. A scheme_changed to status retired is a standing like any
    other (it states the scheme). ACC-RET's confirmation ("confirmed") is the first retirement holding then."""

    def __init__(self):
        self.given = Timeline()
        self.retirements = []  # (date, log sequence), the sequence shared with self.given's entries
        self.logged = 0

    def add(self, when, standing):
        self.given.entries.append((when, self.logged, standing))
        self.logged += 1

    def retire(self, when):
        """A retirement_confirmed dated `when`; False when refused."""
        standing = self.at(when)
        if standing is None or standing["scheme"] != "employee":
            return False
        self.retirements.append((when, self.logged))
        self.logged += 1
        return True

    def first(self):
        return self.given.entries[0][2]

    def periods(self):
        """ORD-TYPE: the (date, log sequence) of each given standing that begins a scheme period, in date order: the
        first, and each whose scheme differs from the one before it by date (then log order), as the events in date
        order would have it (a change dated before another and logged after it can make that one continue its
        scheme). A retirement changes no scheme."""
        begun, scheme = [], None
        for when, seq, standing in sorted(self.given.entries, key=lambda x: x[:2]):
            if standing["scheme"] != scheme:
                begun.append((when, seq))
            scheme = standing["scheme"]
        return begun

    def period(self, when):
        """ORD-TYPE: the scheme period in force on `when` (what a claim of that day is settled in, its anchor)."""
        return max((x for x in self.periods() if x[0] <= when), default=None)

    def entry_on(self, when):
        """The last standing given dated on or before `when`, as (date, log sequence): what a claim of that date
        settled now comes after."""
        return max((x[:2] for x in self.given.entries if x[0] <= when), default=None)

    def period_of(self, anchor, served):
        """ORD-TYPE (Art.11: deductible and limit "重新起算" at a change of scheme): the period a claim counts in now,
        by its service date `served`: the one in force on that date as the standings now say. Of the standings dated
        on the service date itself, those logged before the claim came before it: `anchor`, the entry_on its date
        when it was settled, says which (one logged after it comes after it)."""
        before = max(((when, seq) for when, seq, _ in self.given.entries if when < served), default=None)
        key = anchor if before is None or anchor > before else before
        return max((x for x in self.periods() if x <= key), default=None)

    def at(self, when):
        """The standing in effect on `when`, or None; one a retirement makes has status "retired" and "confirmed",
        the date of the first retirement holding then."""
        given = self.given.entry(when)
        if given is None or given[2]["scheme"] != "employee" or given[2]["status"] == "retired":
            return None if given is None else given[2]
        held = [r for r in self.retirements if given[:2] < r and r[0] <= when]
        return dict(given[2], status="retired", confirmed=min(held)[0]) if held else given[2]


class Facilities:
    """facility_registered and facility_updated, as timelines of attributes (F-LEVEL, F-TCM, ORD-DESIG)."""

    def __init__(self):
        self.versions = {}  # facility -> [(date, log sequence, attributes)]
        self.logged = 0

    def add(self, event):
        """A facility_updated of a facility with no version in effect on its date, as logged so far, is refused
        (POLICY.md: a non-claim event naming an unknown facility is refused, UNKNOWN_FACILITY): a registration
        logged later, or one dated after the update, does not bring it back."""
        attributes = {k: v for k, v in event.items() if k not in ("type", "id", "at", "facility", "name")}
        when = day(event["at"])
        if event["type"] == "facility_updated" and self.at(event["facility"], when) is None:
            return
        self.logged += 1
        self.versions.setdefault(event["facility"], []).append((when, self.logged, attributes))

    def at(self, facility, when):
        """The facility's attributes in effect on a day (updates applied in date order), or None: a facility with
        no version in effect on the day is unknown for it (TIME-DATED)."""
        merged = None
        for version in sorted(self.versions.get(facility, []), key=lambda v: v[:2]):
            if version[0] <= when:
                merged = dict(merged or {}, **version[2])
        return merged


def level_of(attributes):
    """F-LEVEL: unrated and below level 1 count as level 1."""
    return max(1, int(attributes.get("level") or 1))


def fmt(value):
    """A value as the text compared: lists (reason codes) sorted and joined; money and ratios are given as text by
    money_text and ratio_text."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, set)):
        return ",".join(sorted(value))
    return str(value)


def money_text(value):
    """Money as text with exactly 2 decimals; an oracle amount with more is an error of the oracle, never hidden."""
    if value is None:
        return None
    amount = money(value)
    text = amount.quantize(FEN) + 0  # + 0: no negative zero
    assert text == amount, "unrounded amount %s" % amount
    return str(text)


def ratio_text(value):
    return str(Decimal(str(value)).quantize(Decimal("0.0001")))


def standing_of(event):
    """The standing a person_enrolled or scheme_changed gives (EVENTS.md: the full standing)."""
    return {"scheme": event["scheme"], "status": event.get("status"), "tier": event.get("tier"),
            "student": bool(event.get("student"))}


def rejection(status, reason, total):
    """A rejected or referred settlement: `total`, the patient pays it all, zero everywhere else (§4)."""
    return {"status": status, "reasons": {reason}, "total": total, "eligible": ZERO, "self_first": ZERO,
            "deductible": ZERO, "covered": ZERO, "ratio": ZERO, "fund": ZERO, "patient": total}


SETTLEMENT_MONEY = ("total", "eligible", "self_first", "deductible", "covered", "fund", "patient")
REVERSAL_MONEY = ("deductible", "eligible", "fund", "limit_used", "inpatient_used")


def settlement_fields(settlement, after_fields):
    """The fields compared of a settlement, from an oracle's result or a gongji record alike (the accumulators
    after it only when settled: POLICY.md §4 gives a rejection or referral zero everywhere else)."""
    fields = {k: money_text(settlement[k]) for k in SETTLEMENT_MONEY}
    fields.update(status=settlement["status"], reasons=settlement["reasons"], ratio=ratio_text(settlement["ratio"]))
    if settlement["status"] == "settled":
        after = settlement.get("after") or {}
        fields.update({"after." + k: money_text(after.get(k)) for k in after_fields})
    return fields


def reversal_fields(reversal):
    """The fields compared of a reversal: the claim, its date, the reversal's date and the amounts restored."""
    fields = {k: reversal.get(k) for k in ("claim", "date", "at")}
    fields.update({k: money_text(reversal.get(k)) for k in REVERSAL_MONEY})
    return fields


def claim_view(after_fields):
    """The view of gongji's settlement, reversal and refusal records for an oracle of claims."""
    def view(record):
        if record["kind"] == "refusal":
            return {"type": record["type"], "reason": record["reason"]}
        if record["kind"] == "reversal":
            return reversal_fields(record)
        return settlement_fields(record, after_fields)
    return view


class Expected:
    """An oracle's answer for one event file: the output records it expects, keyed by (kind, person, event id,
    month), and the events it judges: every gongji record of one of `kinds` for such an event is compared, and
    a record on either side only is a difference too."""

    def __init__(self, name, kinds):
        self.name = name
        self.kinds = set(kinds)
        self.records = {}
        self.claims = {}  # key -> claim id, to name it in a difference
        self.judged = set()

    def judge(self, event_id):
        self.judged.add(event_id)

    def expect(self, kind, person, event_id, fields, month=None, claim=None):
        self.judged.add(event_id)
        key = (kind, person or "", event_id, month or "")
        self.records[key] = {k: fmt(v) for k, v in fields.items()}
        if claim is not None:
            self.claims[key] = claim

    def judges(self, record):
        return record["kind"] in self.kinds and record.get("event") in self.judged


def record_key(record):
    return (record["kind"], record.get("person") or "", record.get("event"), record.get("month") or "")


class Diff:
    """One field of one record on which an oracle and gongji differ ("record": present on one side only)."""

    def __init__(self, source, oracle_name, key, claim, field, values):
        self.source, self.oracle_name, self.key, self.claim, self.field = source, oracle_name, key, claim, field
        self.oracle, self.gongji = ("(none)" if v is None else v for v in values)

    def __str__(self):
        kind, person, event_id, month = self.key
        where = "%s event %s" % (kind, event_id) + (" claim %s" % self.claim if self.claim else "") + (
            " month %s" % month if month else "")
        return "%s: [%s] person %s %s %s: oracle %s, gongji %s" % (
            self.source, self.oracle_name, person or "-", where, self.field, self.oracle, self.gongji)


def compare(source, expected, records, view):
    """Every record gongji wrote that the oracle judges against the oracle's; `view` turns a gongji record into
    the fields the oracle states. Returns (records compared, differences)."""
    theirs, claims, diffs = {}, dict(expected.claims), []

    def differ(key, field, oracle, gongji):
        diffs.append(Diff(source, expected.name, key, claims.get(key), field, (oracle, gongji)))

    for record in records:
        if expected.judges(record):
            key = record_key(record)
            claims.setdefault(key, record.get("claim"))
            if key in theirs:
                differ(key, "record", "once", "twice")
            theirs[key] = {k: fmt(v) for k, v in view(record).items()}
    for key in sorted(set(expected.records) | set(theirs)):
        mine, gongji = expected.records.get(key), theirs.get(key)
        if mine is None or gongji is None:
            differ(key, "record", "absent" if mine is None else "present", "absent" if gongji is None else "present")
            continue
        for field in sorted(set(mine) | set(gongji)):
            if mine.get(field) != gongji.get(field):
                differ(key, field, mine.get(field), gongji.get(field))
    return len(set(expected.records) | set(theirs)), diffs
