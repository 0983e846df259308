// The event types of EVENTS.md: the one table (issue 9 item 1).
//
// Contract: GONGJI_EVENT_TYPES lists every event type once, as its EVENTS.md name and its struct; the enum
// EventType, the type names, the variant EventBody and kEventTypeCount are generated from it. Each struct lists its
// fields once, in fields(): the JSON name, the kind and the member. A required field is a plain member, an optional
// one a std::optional (a claim's `items` is required, its `away` optional); the JSON shapes, validation, canonical
// JSON, the digest and the FlatBuffers codec are all derived from these lists (events/event.cc, fb_codec.cc).
// The FlatBuffers union (events/events.fbs `Body`) and the wire enum (outputs.fbs `EventType`) are checked against
// the table at compile time (fb_codec.cc, wire/output_record.cc); the schema's fields against each struct's list by
// a test (EventTable.*).
//
// Adding an event type: a line in GONGJI_EVENT_TYPES and its struct here; its rule, an apply_one overload in
// ledger/ledger.cc. The compiler names what is left: the table of events.fbs (union Body) and the value of
// outputs.fbs (enum EventType) by static_assert, the missing rule by apply_event's visitor. Then the contract and its
// tests: EVENTS.md, an example in tests/scenarios/every_type.jsonl (Codec.EveryTypeRoundTripsLosslessly fails
// without one) and, for a type that names no person, is_global() holds (it goes to every partition). A type naming
// two persons (family_linked) is special-cased by events/partition.cc and the store's i/ index.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "events/codes.h"
#include "events/date.h"
#include "events/money.h"

namespace gongji {

// X(name, Struct): the EVENTS.md type name and its struct. The order is the FlatBuffers union's (events.fbs).
#define GONGJI_EVENT_TYPES(X)                                  \
  X(facility_registered, FacilityRegistered)                   \
  X(facility_updated, FacilityUpdated)                         \
  X(person_enrolled, PersonEnrolled)                           \
  X(scheme_changed, SchemeChanged)                             \
  X(retirement_confirmed, RetirementConfirmed)                 \
  X(enrollment_suspended, EnrollmentSuspended)                 \
  X(enrollment_resumed, EnrollmentResumed)                     \
  X(family_linked, FamilyLinked)                               \
  X(contribution_paid, ContributionPaid)                       \
  X(contribution_interrupted, ContributionInterrupted)         \
  X(account_payment, AccountPayment)                           \
  X(period_closed, PeriodClosed)                               \
  X(outpatient_designated, OutpatientDesignated)               \
  X(chronic_facility_designated, ChronicFacilityDesignated)    \
  X(chronic_disease_approved, ChronicDiseaseApproved)          \
  X(chronic_disease_revoked, ChronicDiseaseRevoked)            \
  X(inpatient_admitted, InpatientAdmitted)                     \
  X(inpatient_discharged, InpatientDischarged)                 \
  X(inpatient_settled, InpatientSettled)                       \
  X(claim, Claim)                                              \
  X(claim_reversed, ClaimReversed)

enum class EventType : uint8_t {
#define GONGJI_EVENT_ENUM(name, S) name,
  GONGJI_EVENT_TYPES(GONGJI_EVENT_ENUM)
#undef GONGJI_EVENT_ENUM
};

// How a field is written in JSON and stored: `code` is an enum of codes.h, `policy_code` a code the policy lists
// (text: disease, diagnosis); `date` and `month` are Date and Month (ints), `money` fen.
enum class FieldKind : uint8_t { text, policy_code, code, integer, boolean, date, month, money, items, away };

template <typename S, typename M>
struct FieldDef {
  std::string_view name;
  FieldKind kind;
  M S::*member;
};
template <typename S, typename M>
constexpr FieldDef<S, M> field(std::string_view name, FieldKind kind, M S::*member) {
  return {name, kind, member};
}

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

// What every event carries: its id and its business date (`at`; a claim's service `date`).
struct EventHeader {
  std::string id;
  Date at = 0;
  bool operator==(const EventHeader&) const = default;
};

// ---- the structs. fields() lists every field but id and the date, in the order of EVENTS.md and of the type's table
// in events.fbs (EventTable.TheSchemaHasEveryFieldOfTheTableInItsOrderWithItsType); a field's kind fits its member's
// type (checked below). The date's JSON name is "at" unless the struct names another in kDateKey, and it comes first
// unless the struct names the field it follows in kDateAfter (its place in events.fbs and EVENTS.md).

struct FacilityRegistered : EventHeader {
  std::string facility;
  FacilityKind kind{};
  int level = 0;
  std::optional<std::string> name, parent;
  std::optional<bool> ordinary_outpatient, tcm;
  std::optional<Specialty> specialty;
  static constexpr auto fields() {
    using S = FacilityRegistered;
    using K = FieldKind;
    return std::tuple{field("facility", K::text, &S::facility), field("level", K::integer, &S::level),
                      field("kind", K::code, &S::kind), field("name", K::text, &S::name),
                      field("tcm", K::boolean, &S::tcm), field("parent", K::text, &S::parent),
                      field("ordinary_outpatient", K::boolean, &S::ordinary_outpatient),
                      field("specialty", K::code, &S::specialty)};
  }
  bool operator==(const FacilityRegistered&) const = default;
};

struct FacilityUpdated : EventHeader {
  std::string facility;
  std::optional<FacilityKind> kind;
  std::optional<int> level;
  std::optional<std::string> name, parent;
  std::optional<bool> ordinary_outpatient, tcm;
  std::optional<Specialty> specialty;
  static constexpr auto fields() {
    using S = FacilityUpdated;
    using K = FieldKind;
    return std::tuple{field("facility", K::text, &S::facility), field("name", K::text, &S::name),
                      field("level", K::integer, &S::level), field("tcm", K::boolean, &S::tcm),
                      field("kind", K::code, &S::kind), field("parent", K::text, &S::parent),
                      field("ordinary_outpatient", K::boolean, &S::ordinary_outpatient),
                      field("specialty", K::code, &S::specialty)};
  }
  bool operator==(const FacilityUpdated&) const = default;
};

struct PersonEnrolled : EventHeader {
  std::string person;
  Date birth_date = 0;
  Scheme scheme{};
  std::optional<EmployeeStatus> status;
  std::optional<int> tier;
  std::optional<bool> student, old_urban;
  std::optional<Date> retired_on;
  static constexpr auto fields() {
    using S = PersonEnrolled;
    using K = FieldKind;
    return std::tuple{field("person", K::text, &S::person), field("birth_date", K::date, &S::birth_date),
                      field("scheme", K::code, &S::scheme), field("status", K::code, &S::status),
                      field("tier", K::integer, &S::tier), field("student", K::boolean, &S::student),
                      field("retired_on", K::date, &S::retired_on), field("old_urban", K::boolean, &S::old_urban)};
  }
  bool operator==(const PersonEnrolled&) const = default;
};

struct SchemeChanged : EventHeader {
  std::string person;
  Scheme scheme{};
  std::optional<EmployeeStatus> status;
  std::optional<int> tier;
  std::optional<bool> student, old_urban;
  static constexpr auto fields() {
    using S = SchemeChanged;
    using K = FieldKind;
    return std::tuple{field("person", K::text, &S::person), field("scheme", K::code, &S::scheme),
                      field("status", K::code, &S::status), field("tier", K::integer, &S::tier),
                      field("student", K::boolean, &S::student), field("old_urban", K::boolean, &S::old_urban)};
  }
  bool operator==(const SchemeChanged&) const = default;
};

// The events that name only their person.
#define GONGJI_PERSON_EVENT(S)                                                               \
  struct S : EventHeader {                                                                   \
    std::string person;                                                                      \
    static constexpr auto fields() { return std::tuple{field("person", FieldKind::text, &S::person)}; } \
    bool operator==(const S&) const = default;                                               \
  }
GONGJI_PERSON_EVENT(RetirementConfirmed);
GONGJI_PERSON_EVENT(EnrollmentSuspended);
GONGJI_PERSON_EVENT(EnrollmentResumed);
GONGJI_PERSON_EVENT(ContributionInterrupted);
GONGJI_PERSON_EVENT(InpatientDischarged);
#undef GONGJI_PERSON_EVENT

struct FamilyLinked : EventHeader {
  std::string person, relative;
  Relation relation{};
  static constexpr auto fields() {
    using S = FamilyLinked;
    using K = FieldKind;
    return std::tuple{field("person", K::text, &S::person), field("relative", K::text, &S::relative),
                      field("relation", K::code, &S::relation)};
  }
  bool operator==(const FamilyLinked&) const = default;
};

struct ContributionPaid : EventHeader {
  std::string person;
  Month month = 0;
  Money base = 0;
  std::optional<Money> amount;
  static constexpr auto fields() {
    using S = ContributionPaid;
    using K = FieldKind;
    return std::tuple{field("person", FieldKind::text, &S::person), field("month", K::month, &S::month),
                      field("base", K::money, &S::base), field("amount", K::money, &S::amount)};
  }
  bool operator==(const ContributionPaid&) const = default;
};

struct AccountPayment : EventHeader {
  std::string person, beneficiary;
  Purpose purpose{};
  Money amount = 0;
  static constexpr auto fields() {
    using S = AccountPayment;
    using K = FieldKind;
    return std::tuple{field("person", K::text, &S::person), field("beneficiary", K::text, &S::beneficiary),
                      field("purpose", K::code, &S::purpose), field("amount", K::money, &S::amount)};
  }
  bool operator==(const AccountPayment&) const = default;
};

struct PeriodClosed : EventHeader {
  Month month = 0;
  static constexpr auto fields() { return std::tuple{field("month", FieldKind::month, &PeriodClosed::month)}; }
  bool operator==(const PeriodClosed&) const = default;
};

// The events that name a person and a facility.
#define GONGJI_PERSON_FACILITY_EVENT(S)                                                                         \
  struct S : EventHeader {                                                                                      \
    std::string person, facility;                                                                               \
    static constexpr auto fields() {                                                                            \
      return std::tuple{field("person", FieldKind::text, &S::person),                                         \
                        field("facility", FieldKind::text, &S::facility)};                                   \
    }                                                                                                           \
    bool operator==(const S&) const = default;                                                                  \
  }
GONGJI_PERSON_FACILITY_EVENT(OutpatientDesignated);
GONGJI_PERSON_FACILITY_EVENT(InpatientAdmitted);
#undef GONGJI_PERSON_FACILITY_EVENT

struct ChronicFacilityDesignated : EventHeader {
  std::string person;
  std::optional<std::string> facility, specialty_facility;  // at least one (EVENTS.md)
  std::optional<ResidentBucket> bucket;
  static constexpr auto fields() {
    using S = ChronicFacilityDesignated;
    using K = FieldKind;
    return std::tuple{field("person", K::text, &S::person), field("facility", K::text, &S::facility),
                      field("specialty_facility", K::text, &S::specialty_facility),
                      field("bucket", K::code, &S::bucket)};
  }
  bool operator==(const ChronicFacilityDesignated&) const = default;
};

struct ChronicDiseaseApproved : EventHeader {
  std::string person, disease;
  std::optional<ResidentBucket> bucket;
  std::optional<Variant> variant;
  std::optional<Date> applied;
  static constexpr auto fields() {
    using S = ChronicDiseaseApproved;
    using K = FieldKind;
    return std::tuple{field("person", K::text, &S::person), field("disease", K::policy_code, &S::disease),
                      field("bucket", K::code, &S::bucket), field("variant", K::code, &S::variant),
                      field("applied", K::date, &S::applied)};
  }
  bool operator==(const ChronicDiseaseApproved&) const = default;
};

struct ChronicDiseaseRevoked : EventHeader {
  std::string person, disease;
  static constexpr auto fields() {
    using S = ChronicDiseaseRevoked;
    using K = FieldKind;
    return std::tuple{field("person", FieldKind::text, &S::person), field("disease", K::policy_code, &S::disease)};
  }
  bool operator==(const ChronicDiseaseRevoked&) const = default;
};

struct InpatientSettled : EventHeader {
  std::string person;
  Money covered = 0;
  static constexpr auto fields() {
    using S = InpatientSettled;
    using K = FieldKind;
    return std::tuple{field("person", FieldKind::text, &S::person), field("covered", K::money, &S::covered)};
  }
  bool operator==(const InpatientSettled&) const = default;
};

// A claim's business date is its service `date`.
struct Claim : EventHeader {
  static constexpr std::string_view kDateKey = "date";     // the JSON name of `at` (every other type: "at")
  static constexpr std::string_view kDateAfter = "person";  // claim, person, date, benefit, items, ...
  std::string claim, person;
  Benefit benefit{};
  std::vector<Item> items;                 // at least one
  std::optional<std::string> facility;     // exactly one of facility and away
  std::optional<Away> away;
  std::optional<std::string> diagnosis, disease;
  std::optional<Outcome> outcome;
  std::optional<Date> course_start;
  static constexpr auto fields() {
    using S = Claim;
    using K = FieldKind;
    return std::tuple{field("claim", K::text, &S::claim), field("person", FieldKind::text, &S::person),
                      field("benefit", K::code, &S::benefit), field("items", K::items, &S::items),
                      field("facility", K::text, &S::facility), field("away", K::away, &S::away),
                      field("diagnosis", K::policy_code, &S::diagnosis),
                      field("disease", K::policy_code, &S::disease), field("outcome", K::code, &S::outcome),
                      field("course_start", K::date, &S::course_start)};
  }
  bool operator==(const Claim&) const = default;
};

struct ClaimReversed : EventHeader {
  std::string person, claim;
  static constexpr auto fields() {
    using S = ClaimReversed;
    using K = FieldKind;
    return std::tuple{field("person", FieldKind::text, &S::person), field("claim", K::text, &S::claim)};
  }
  bool operator==(const ClaimReversed&) const = default;
};

// ---- generated from the table

namespace event_table {
template <typename First, typename... Rest>
using VariantOfRest = std::variant<Rest...>;  // drops the leading placeholder the X-macro's commas need
}  // namespace event_table

#define GONGJI_EVENT_ALTERNATIVE(name, S) , S
using EventBody = event_table::VariantOfRest<void GONGJI_EVENT_TYPES(GONGJI_EVENT_ALTERNATIVE)>;
#undef GONGJI_EVENT_ALTERNATIVE

inline constexpr int kEventTypeCount = static_cast<int>(std::variant_size_v<EventBody>);

// The EventType of struct S.
template <typename S>
constexpr EventType type_of() {
  constexpr int place = [] {
    int i = 0, found = -1;
#define GONGJI_EVENT_TYPE_OF(name, T) \
  if (std::is_same_v<S, T>) found = i; \
  ++i;
    GONGJI_EVENT_TYPES(GONGJI_EVENT_TYPE_OF)
#undef GONGJI_EVENT_TYPE_OF
    return found;
  }();
  static_assert(place >= 0, "type_of<S>: S is not a struct of the table");
  return static_cast<EventType>(place);
}

#define GONGJI_EVENT_CHECK(name, S)                                                                               \
  static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventType::name), EventBody>, S>, \
                #S " sits at its EventType's place");
GONGJI_EVENT_TYPES(GONGJI_EVENT_CHECK)
#undef GONGJI_EVENT_CHECK

namespace event_table {
template <typename M>
struct Value {
  using type = M;
};
template <typename T>
struct Value<std::optional<T>> {
  using type = T;
};
// Whether a field's kind fits its member's value type (a code is an enum of codes.h, a date an int, ...).
template <typename S, typename M>
constexpr bool fits(const FieldDef<S, M>& f) {
  using V = typename Value<M>::type;
  switch (f.kind) {
    case FieldKind::text:
    case FieldKind::policy_code: return std::is_same_v<V, std::string>;
    case FieldKind::code: return requires { CodeTable<V>::names; };  // an enum of codes.h, with its spellings
    case FieldKind::integer:
    case FieldKind::date:
    case FieldKind::month: return std::is_same_v<V, int32_t>;
    case FieldKind::boolean: return std::is_same_v<V, bool>;
    case FieldKind::money: return std::is_same_v<V, Money>;
    case FieldKind::items: return std::is_same_v<V, std::vector<Item>>;
    case FieldKind::away: return std::is_same_v<V, Away>;
  }
  return false;
}
template <typename S>
constexpr bool kinds_fit() {
  return std::apply([](const auto&... f) { return (fits(f) && ...); }, S::fields());
}
}  // namespace event_table

#define GONGJI_EVENT_KINDS_FIT(name, S) \
  static_assert(event_table::kinds_fit<S>(), #S "::fields(): each kind fits its member's type");
GONGJI_EVENT_TYPES(GONGJI_EVENT_KINDS_FIT)
#undef GONGJI_EVENT_KINDS_FIT

}  // namespace gongji
