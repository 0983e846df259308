// An event of EVENTS.md (one of the structs of the table, events/event_types.h, in a std::variant), its validation
// and its canonical JSON form.
//
// Contract: parse_event() accepts exactly the JSON forms of EVENTS.md and refuses anything else with an
// EventError naming the field and the reason; canonical_json() gives the canonical form (compact, keys sorted,
// money as 2-decimal strings, absent optionals omitted); parse_event(canonical_json(e)) == e.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <variant>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_types.h"

namespace gongji {

// An event: one of the structs of the table (events/event_types.h), its id and date in its EventHeader.
struct Event {
  EventBody body;

  Event() = default;
  template <typename S>
    requires(std::is_base_of_v<EventHeader, S>)
  Event(S s) : body(std::move(s)) {}  // NOLINT: an event of any type is an Event

  EventType type() const { return static_cast<EventType>(body.index()); }
  const EventHeader& header() const {
    return std::visit([](const EventHeader& h) -> const EventHeader& { return h; }, body);
  }
  EventHeader& header() {
    return std::visit([](EventHeader& h) -> EventHeader& { return h; }, body);
  }
  const std::string& id() const { return header().id; }
  Date at() const { return header().at; }
  // The person the event is about; nullptr for the facility and period events.
  const std::string* person() const {
    return std::visit(
        [](const auto& b) -> const std::string* {
          if constexpr (requires { b.person; }) return &b.person;
          else return nullptr;
        },
        body);
  }
  // The claim id a claim or claim_reversed names; nullptr for the other types.
  const std::string* claim() const {
    return std::visit(
        [](const auto& b) -> const std::string* {
          if constexpr (requires { b.claim; }) return &b.claim;
          else return nullptr;
        },
        body);
  }
  template <typename S>
  const S* as() const {
    return std::get_if<S>(&body);
  }
  bool operator==(const Event&) const = default;
  // Global events go to every partition (POLICY.md TIME-LOG): those that name no person (facility_registered,
  // facility_updated, period_closed).
  bool is_global() const { return person() == nullptr; }
};

const char* type_name(EventType t);
std::optional<EventType> type_from_name(std::string_view s);
// An event of type `t` with every field at its default (the decoders fill it).
Event empty_event(EventType t);
// The JSON names the type requires, besides type and id: the plain members of its struct and the date ("at" or
// "date"), in the table's order (EVENTS.md's; the date first unless the struct says kDateAfter).
const std::vector<std::string>& required_fields(EventType t);
// The JSON name of a type's date (`at`): "at", or a claim's "date".
std::string_view date_key(EventType t);
// The one check that a decoded event has them: throws EventError "field 'NAME': missing" for the first of them
// `given` says is absent. Both decoders (event_from_json, decode_event) call it before validate_event.
void check_required(EventType t, const std::function<bool(std::string_view)>& given);

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
// loader refuses any other code), and the built-in policy lists exactly these (tests/ledger/policy_values_test.cc,
// PolicyValues.BuiltInCodeListsAreThoseOfEventsMd). It is the default for callers that have no policy: the embedded
// log's id index, audit's shared-copy check, `ingest` (which validates under the built-in policy), tests, fuzzers.
const CodeLists& events_md_codes();

// The canonical JSON line of an event (written without a DOM); parsing lines is events/event_json.h's.
std::string canonical_json(const Event& e);
// A 64-bit digest of the event's content: equal events (whatever their encoding) give equal digests.
uint64_t event_digest(const Event& e);

// For binary codecs (fb_codec.cc): sets a field by its JSON name in its stored form (dates and months as their
// integers, money in fen, codes as their spelling, items and away as they are); "at" or "date" (the type's) is the
// business date; false for a name the event's type does not carry. Throws EventError naming the field; a code
// missing from `codes` gives "field 'disease': unknown code \"C05\"" (items: "field 'items[0].category': ...").
// The decoder then checks required_fields() were all given, and calls validate_event.
using StoredValue = std::variant<std::string, int32_t, bool, int64_t, std::vector<Item>, Away>;
bool set_event_field(Event& e, std::string_view name, StoredValue value);
// The other way (encode_event): the field `name` in the stored form set_event_field takes, text as a view into `e`
// (codes as their spelling), items and away by pointer into `e`; "at" or "date" is the business date.
// std::nullopt when the event does not carry the field (an absent optional, or a name its type does not list),
// exactly as event_to_json leaves a key out; never "type" or "id".
using StoredField = std::variant<std::string_view, int32_t, bool, int64_t, const std::vector<Item>*, const Away*>;
std::optional<StoredField> event_field(const Event& e, std::string_view name);
// The code of enum E that `text` spells, for the field `field`; else an EventError naming the field: the text's
// problem (not UTF-8, a control character) or "unknown code \"...\"". The one way from text to a code.
[[noreturn]] void refuse_code(const std::string& field, std::string_view text);
template <typename E>
E code_for_field(const std::string& field, std::string_view text) {
  if (auto c = code_from<E>(text)) return *c;
  refuse_code(field, text);
}
// The one validation entry point (every decoder ends in it): text, codes, bounds and the rules that tie fields
// together (EVENTS.md), for an event whose required fields were all given. Throws EventError naming the field.
void validate_event(const Event& e, const CodeLists& codes = events_md_codes());

// Whether `value` is in the code list of EVENTS.md for the JSON field `field` ("disease", "therapy", "diagnosis",
// "category", "purpose", ...); false for a field that has no code list. The policy loader checks its codes with it.
bool is_known_code(std::string_view field, std::string_view value);

}  // namespace gongji
