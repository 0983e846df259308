// The state the fold keeps: per person, per facility and per partition. Standing is kept as dated timelines
// (POLICY.md TIME-DATED) and amounts as a list of recorded effects (TIME-ORDER, TIME-ASOF), so that both the live
// accumulators (every effect, in log order) and an as-of view (the effects dated on or before a day) come from
// one source. Stored in the binary form of state_codec.h, so equal states give equal bytes.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events/codes.h"
#include "events/date.h"
#include "events/money.h"

namespace gongji {

inline constexpr Date kNever = INT32_MAX;

// P-SCHEME / P-CHANGE: what the person is from `from` on.
struct Standing {
  Date from = 0;
  Scheme scheme{};
  std::optional<EmployeeStatus> status;  // an employee's; a resident has none
  int tier = 0;        // resident: 1 | 2
  bool student = false;
  bool old_urban = false;
  // Made by a retirement_confirmed: the entry before it with status retired while that one is an employee's, and
  // that one unchanged while it is a resident's (P-CHANGE, TIME-DATED; derived again when an entry is inserted
  // before it: ledger.cc rederive_standings). False for an enrolment's and a scheme_changed's (one to status
  // retired too: it states the scheme, and holds as it says whatever is dated before it).
  bool retirement = false;
  bool operator==(const Standing&) const = default;
};

// A dated value of a timeline; the entry in effect on day D is the last one with from <= D (ties: log order).
template <typename T>
struct Dated {
  Date from = 0;
  T value{};
  bool operator==(const Dated&) const = default;
};

// ORD-TYPE: a scheme period, known by its first day and by the place, among the standing entries of that day, of the
// entry that began it: 0 for a day's first entry, more for a change of scheme after another entry of its day (an
// enrolment, a change of status or tier, or of scheme: a change there and back on one day, the second logged later,
// begins a period other than the first's although both begin that day). An entry is only ever inserted after those
// of its day (insert_dated), and never removed, so a period keeps its key as later events are folded (whether an
// entry begins one can change: a change dated before it, or a retirement's entry before it on its day, which
// continues whichever scheme is before it, rederive_standings).
//
// An effect keeps the period in force when it was settled as its anchor (Effect::period), and counts in the period
// that now contains its claim's service date (effect_key, anchored_in), as the events in date order would have it
// ("起付标准和年度支付限额重新起算": the accumulators restart at a change, and what is served after it counts in
// them): a change of scheme dated before the anchor's entry and logged after the claim can make that entry continue
// the scheme before it, and one dated between the anchor's entry and the service date, logged after the claim, begins
// the period the service date is in. On the service date itself, the anchor says which of the day's entries came
// before the claim (those logged after it come after it).
struct Period {
  Date start = 0;
  int entry = 0;  // standing entries dated `start` before the one that began the period
  auto operator<=>(const Period&) const = default;  // the order of the standing entries
};

// One recorded effect on the accumulators of a service year and scheme period (TIME-ORDER). A settlement's
// effect is dated by its service date; a reversal's by the reversal's `at` (TIME-ASOF).
struct Effect {
  Date date = 0;
  int year = 0;
  Period period;         // the scheme period in force when the claim was settled: its anchor (Period)
  Bucket bucket{};
  std::string claim;     // the claim, or the inpatient_settled event
  Money deductible = 0, limit_used = 0, inpatient_used = 0, fund = 0, eligible = 0;
  Rate bonus = 0;        // ORD-INC bonus the settlement used
  bool operator==(const Effect&) const = default;
};

// CHR-REG: one registration of a disease. A new approval after a suspension or revocation is a new registration.
struct Registration {
  std::string disease;
  Bucket bucket{};        // one of the chronic buckets
  std::optional<Variant> variant;
  Date approved = 0, effective = 0, applied = 0;
  Date ended = kNever;   // no benefit from this day: revoked, suspended (CHR-SUSP) or the scheme changed
  std::optional<EndReason> end_reason;  // set with `ended`
  bool operator==(const Registration&) const = default;
};

// CHR-FAC: the chronic facility and the specialised facility of one bucket, as timelines ("" = empty).
struct ChronicFacilities {
  std::vector<Dated<std::string>> main, specialty;
  bool operator==(const ChronicFacilities&) const = default;
};

// ACC-*: one account movement, dated for TIME-ASOF.
struct AccountEntry {
  Date date = 0;
  Money amount = 0;      // credits positive, debits negative
  std::string cause;     // event id
  bool operator==(const AccountEntry&) const = default;
};

struct FamilyLink {
  std::string relative;
  Relation relation{};
  Date from = 0;
  bool operator==(const FamilyLink&) const = default;
};

struct ClaimRecord {
  Date date = 0;
  ClaimStatus status{};
  bool reversed = false;
  Effect effect;        // what it consumed (zero unless settled)
  bool operator==(const ClaimRecord&) const = default;
};

struct TherapyUse {
  Date date = 0;
  std::string code;     // "" for a TCM item without a code
  std::string claim;
  bool operator==(const TherapyUse&) const = default;
};

// ORD-INPT: an inpatient stay, admission to discharge both inclusive (kNever: not discharged yet). Derived from a
// person's admissions and discharges when read (stays_of), not stored.
struct Stay {
  Date admitted = 0, discharged = kNever;
  bool operator==(const Stay&) const = default;
};

struct PersonState {
  std::string id;
  Date birth = 0;
  Date enrolled = kNever;
  std::vector<Dated<Standing>> standing;
  std::vector<Dated<bool>> suspended;             // P-ELIG
  std::vector<Dated<std::string>> designation;    // ORD-DESIG; "" = no designation
  std::vector<Date> designation_changes;          // dates of changes (not first choices)
  std::vector<Date> admissions, discharges;       // ORD-INPT: one date an event logged, ascending (stays_of)
  std::vector<Effect> effects;
  std::map<std::string, ClaimRecord> claims;
  std::vector<TherapyUse> therapy_uses;           // ORD-ACU frequency and daily counts
  std::map<std::string, Date> courses;            // "acu:<diagnosis>" / "ped:<condition>" -> course start
  std::vector<Dated<Rate>> bonus;                 // ORD-INC bonus points in rate units
  std::vector<FamilyLink> family;                 // ACC-USE
  std::optional<Date> retired_on;                 // set once: the enrolment's retired_on, or the first retirement
                                                  // as logged (has_monthly_work; ACC-RET: retired_since)
  std::vector<Registration> registrations;        // CHR-REG
  std::map<Bucket, ChronicFacilities> chronic_facilities;  // CHR-FAC, by chronic bucket
  std::vector<AccountEntry> account;              // ACC-*
  bool operator==(const PersonState&) const = default;
};

// The fields of a facility an event sets (FacilityVersion::set), one bit each.
enum FacilityField : uint8_t {
  kFacilityName = 1, kFacilityParent = 2, kFacilityKind = 4, kFacilitySpecialty = 8, kFacilityLevel = 16,
  kFacilityTcm = 32, kFacilityOrdinaryOutpatient = 64,
  kFacilityAllFields = 127
};

// A facility as from `from` (TIME-DATED): a registration sets every field; an update only those it carries, the
// others as in force on its date. `set` says which the event set itself, so that an update logged after a
// later-dated one still reaches it: the fields it sets are carried into the later versions up to one that sets them
// too (ledger.cc apply_facility; a facility_updated only carries the fields it changes, EVENTS.md).
struct FacilityVersion {
  Date from = 0;
  std::string name, parent;  // parent: "" when none
  FacilityKind kind{};
  std::optional<Specialty> specialty;
  int level = 0;
  bool tcm = false;
  bool ordinary_outpatient = false;
  uint8_t set = kFacilityAllFields;  // FacilityField bits
  bool operator==(const FacilityVersion&) const = default;
};

struct FacilityState {
  std::string id;
  std::vector<FacilityVersion> versions;  // sorted by from
  bool operator==(const FacilityState&) const = default;
};

// What one partition knows besides persons and facilities.
struct PartitionMeta {
  std::optional<Month> last_closed;  // period close sequence
  bool operator==(const PartitionMeta&) const = default;
};


// Timeline helpers (TIME-DATED).
template <typename T>
const T* value_at(const std::vector<Dated<T>>& line, Date d) {
  const T* found = nullptr;
  for (const auto& x : line) {
    if (x.from > d) break;
    found = &x.value;
  }
  return found;
}
// Whether the timeline has an entry dated `d`.
template <typename T>
bool dated_on(const std::vector<Dated<T>>& line, Date d) {
  return std::any_of(line.begin(), line.end(), [d](const Dated<T>& x) { return x.from == d; });
}
// Inserts keeping the timeline sorted by date; an entry dated like existing ones goes after them (log order).
template <typename T>
void insert_dated(std::vector<Dated<T>>& line, Date from, T value) {
  auto it = line.begin();
  while (it != line.end() && it->from <= from) ++it;
  line.insert(it, Dated<T>{from, std::move(value)});
}

const Standing* standing_at(const PersonState& p, Date d);
// ACC-RET: the date the retirement in effect on `d` was confirmed, nullopt when the person is not a retired employee
// on d: the first day of the run of retired employee standings that holds on d (TIME-DATED: a run a back-dated
// change of scheme ended, or began again, counts from where the timeline says), or for a run from the enrolment,
// the enrolment's retired_on (PersonState::retired_on, never changed after it; a store of a gongji before 13's
// changed it at a later retirement, and a value after the enrolment is read as the enrolment's date).
std::optional<Date> retired_since(const PersonState& p, Date d);
bool eligible_on(const PersonState& p, Date d);          // P-ELIG
Period period_start(const PersonState& p, Date d);       // ORD-TYPE: the scheme period in force on d
// ORD-TYPE: the anchor of an effect recorded now for service date `d` (Effect::period): the period in force on d, or
// where standing entries other than a retirement's are dated d, the last of them if later (the effect comes after
// the entries of its day logged before it, and a change dated before d and logged later can make one of them begin
// a period).
Period anchor_on(const PersonState& p, Date d);
// ORD-TYPE: the first period begun after `period` (a period's effects are anchored from it up to that one), or
// {kNever, 0}.
Period period_after(const PersonState& p, Period period);
// ORD-TYPE: whether an effect of key `key` (effect_key) counts in `period` (begun from `period` up to `end`,
// period_after).
inline bool anchored_in(Period key, Period period, Period end) { return period <= key && key < end; }
// ORD-TYPE: the standing entry an effect counts from (Period): the later of its anchor and the last standing entry
// dated before its claim's service date (a settlement's date; a reversal's claim's, from `claims`; an inpatient
// stay's own date).
Period effect_key(const PersonState& p, const Effect& e);
// ORD-TYPE: the periods that begin on d and that a later standing entry of d supersedes (a change of scheme and a
// change back on one day), each with the entry that began it; claims folded before the later entry was logged stay in
// them (TIME-ORDER).
std::vector<std::pair<Period, Standing>> periods_superseded_on(const PersonState& p, Date d);
// P-CHANGE, CHR-CHANGE: the date of the first change of scheme (employee <-> resident) after d, or kNever. A
// designation, chronic registration or chronic facility dated before a change and folded after it (a late event)
// ends there as the change would have ended it, had it come first (TIME-DATED: standing is a timeline by date,
// whatever the log order).
Date next_scheme_change(const PersonState& p, Date d);
const FacilityVersion* facility_at(const FacilityState& f, Date d);
// Adds `d` to an ascending list of dates, after any equal ones.
void insert_date(std::vector<Date>& dates, Date d);
// ORD-INPT: the stays a person's admissions and discharges make, in date order; the same whatever order they were
// logged in (TIME-DATED). One stay at a time, day by day: a discharge ends the stay begun before that day; then each
// admission of the day with a discharge of the day left is a day stay; an admission left begins a stay (a transfer
// or readmission that day, after a stay ended); other admissions during a stay are part of it, and a discharge with
// no stay to end is passed over. Interp. (the seeds say nothing of inconsistent feeds): the order of one day's
// events is not known, so an admission sent twice on the day of a discharge reads as a readmission that day (a stay
// until the next discharge), and a discharge sent twice on a transfer day ends the readmission that day (a later
// discharge is passed over); a second admission during a stay needs no discharge of its own, so nested stays
// (admitted 1st and 3rd, discharged 5th and 10th) end at the first discharge.
std::vector<Stay> stays_of(const PersonState& p);

}  // namespace gongji
