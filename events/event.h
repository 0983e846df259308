// The events of EVENTS.md as one C++ value type, their validation and their canonical JSON form.
//
// Contract: parse_event() accepts exactly the JSON forms of EVENTS.md and refuses anything else with an
// EventError naming the field and the reason; canonical_json() gives the canonical form (compact, keys sorted,
// money as 2-decimal strings, absent optionals omitted); parse_event(canonical_json(e)) == e.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <variant>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/codes.h"
#include "events/date.h"
#include "events/money.h"

namespace gongji {

enum class EventType : uint8_t {
  facility_registered,
  facility_updated,
  person_enrolled,
  scheme_changed,
  retirement_confirmed,
  enrollment_suspended,
  enrollment_resumed,
  family_linked,
  contribution_paid,
  contribution_interrupted,
  account_payment,
  period_closed,
  outpatient_designated,
  chronic_facility_designated,
  chronic_disease_approved,
  chronic_disease_revoked,
  inpatient_admitted,
  inpatient_discharged,
  inpatient_settled,
  claim,
  claim_reversed,
};
inline constexpr int kEventTypeCount = 21;

const char* type_name(EventType t);
std::optional<EventType> type_from_name(std::string_view s);

struct Item {
  ItemCategory category{};
  Money amount = 0;
  std::optional<Money> eligible;  // default = amount (never more)
  std::optional<std::string> therapy;
  Money eligible_or_amount() const { return eligible ? *eligible : amount; }
  bool operator==(const Item&) const = default;
};

struct Away {
  AwayMode mode{};
  int level = 1;
  bool operator==(const Away&) const = default;
};

struct Event {
  EventType type{};
  std::string id;
  Date at = 0;  // business date; for a claim, its service `date`
  // Ids, names and the codes a policy owns (disease, diagnosis) are text; every other code is its enum (codes.h).
  std::optional<std::string> person, facility, name, parent, relative, beneficiary, specialty_facility, disease, claim,
      diagnosis;
  std::optional<FacilityKind> kind;
  std::optional<Specialty> specialty;
  std::optional<Scheme> scheme;
  std::optional<EmployeeStatus> status;
  std::optional<Relation> relation;
  std::optional<Purpose> purpose;
  std::optional<ResidentBucket> bucket;
  std::optional<Variant> variant;
  std::optional<Benefit> benefit;
  std::optional<Outcome> outcome;
  std::optional<int> level, tier;
  std::optional<bool> tcm, ordinary_outpatient, student, old_urban;
  std::optional<Date> birth_date, retired_on, applied, course_start;
  std::optional<Month> month;
  std::optional<Money> base, amount, covered;
  std::vector<Item> items;
  std::optional<Away> away;

  bool operator==(const Event&) const = default;
  // Global events go to every partition (POLICY.md TIME-LOG).
  bool is_global() const {
    return type == EventType::facility_registered || type == EventType::facility_updated ||
           type == EventType::period_closed;
  }
};

struct EventError : std::runtime_error {
  std::string field;  // "" when the whole line is at fault
  EventError(std::string f, const std::string& reason)
      : std::runtime_error(f.empty() ? reason : "field '" + f + "': " + reason), field(std::move(f)) {}
};

// Validation bounds (issue 8 item 5; README "Validation bounds"). One entry point applies them: validate_event, which
// both parse_event / event_from_json (ingest) and decode_event (the log and the Kafka path) end in. Each bound lies
// far beyond anything a real outpatient claim reaches; a value beyond it is refused with the field named.
inline constexpr Money kMaxItemMoney = yuan(200000);     // items[i].amount and items[i].eligible, per item
inline constexpr Money kMaxClaimMoney = yuan(500000);    // the sum of a claim's item amounts (checked arithmetic)
inline constexpr Money kMaxFieldMoney = yuan(1000000);   // base, amount, covered
inline constexpr size_t kMaxItems = 500;                 // items per claim (at least 1)
inline constexpr size_t kMaxTextBytes = 256;             // any text field (ids, codes, name), in bytes of UTF-8
inline constexpr size_t kMaxLineBytes = 64 * 1024;       // one JSON line: refused before it is parsed
inline constexpr size_t kMaxRecordBytes = 128 * 1024;    // one encoded (FlatBuffers) record: refused before decoding
// Integers: level and away.level 0..3, tier 1..2. Dates (at, date, birth_date, ...) 1900-01-01..2199-12-31, month
// 1900-01..2199-12. Text: valid UTF-8 (no overlong forms, no surrogates) and no control character
// (U+0000-U+001F, U+007F-U+009F) in any field, names included (a fuzz finding: a name starting with U+0001 was
// taken for a raw JSON number on the way back from canonical JSON).

// The code lists a policy owns (issue 9 item 5): the diseases, therapies, diagnoses and item categories an event may
// name. The policy loader (ledger/policy.h, `codes.*` of ledger/policy/weihai.yaml) fills one; validate_event checks
// `disease`, `diagnosis`, `items[i].therapy` and `items[i].category` against the one it is given, so a fold under
// another policy refuses a code that policy does not list. events/ does not depend on ledger/.
struct CodeLists {
  using Set = std::set<std::string, std::less<>>;
  Set disease, therapy, diagnosis, category;
  bool operator==(const CodeLists&) const = default;
};
// Every code EVENTS.md defines for those four fields: the contract's vocabulary. A policy lists a subset of it (the
// loader refuses any other code), and the built-in policy lists exactly these (tests/policy_values_test.cc,
// PolicyValues.BuiltInCodeListsAreThoseOfEventsMd). It is the default for callers that have no policy: the embedded
// log's id index, audit's shared-copy check, `ingest` (which validates under the built-in policy), tests, fuzzers.
const CodeLists& events_md_codes();

// Parses one JSON line (money numbers are read exactly from their text). Throws EventError.
// A line longer than kMaxLineBytes is refused before parsing. Codes are checked against `codes`.
Event parse_event(std::string_view line, const CodeLists& codes = events_md_codes());
Event event_from_json(const nlohmann::json& j, const CodeLists& codes = events_md_codes());
nlohmann::json event_to_json(const Event& e);
std::string canonical_json(const Event& e);
// A 64-bit digest of the event's content: equal events (whatever their encoding) give equal digests.
uint64_t event_digest(const Event& e);

// For binary codecs (fb_codec.cc): sets a field by its JSON name in its stored form (dates and months as their
// integers, money in fen); false for a name no event carries. validate_event then checks the event exactly as
// parse_event checks JSON (`has_at`: whether the business date was present), bounds included: it is the one
// validation entry point. Throws EventError naming the field; a code missing from `codes` gives
// "field 'disease': unknown code \"C05\"" (items: "field 'items[0].category': ...").
bool set_event_field(Event& e, std::string_view name, std::variant<std::string, int32_t, bool, int64_t> value);
// The other way (encode_event): the field `name` in the stored form set_event_field takes, text as a view into `e`
// (codes as their spelling); "at" or "date" is the business date. std::nullopt when the event does not carry the
// field or its type's shape (EVENTS.md) does not list it, exactly as event_to_json leaves a key out; never "type",
// "id", "items" or "away".
using StoredField = std::variant<std::string_view, int32_t, bool, int64_t>;
std::optional<StoredField> event_field(const Event& e, std::string_view name);
// The code of enum E that `text` spells, for the field `field`; else an EventError naming the field: the text's
// problem (not UTF-8, a control character) or "unknown code \"...\"". The one way from text to a code.
[[noreturn]] void refuse_code(const std::string& field, std::string_view text);
template <typename E>
E code_for_field(const std::string& field, std::string_view text) {
  if (auto c = code_from<E>(text)) return *c;
  refuse_code(field, text);
}
void validate_event(const Event& e, bool has_at, const CodeLists& codes = events_md_codes());

// Whether `value` is in the code list of EVENTS.md for the JSON field `field` ("disease", "therapy", "diagnosis",
// "category", "purpose", ...); false for a field that has no code list. The policy loader checks its codes with it.
bool is_known_code(std::string_view field, std::string_view value);

// JSON parsing that keeps the text of non-integer numbers (as a string prefixed with kRawNumberMark), so that
// money given as a JSON number is never routed through a binary float.
inline constexpr char kRawNumberMark = '\x01';
nlohmann::json parse_json_exact(std::string_view text);

}  // namespace gongji
