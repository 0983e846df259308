// The codes of EVENTS.md as enums (issue 9 item 4): schemes, statuses, facility kinds, benefits, item categories,
// reasons, claim statuses, accumulator buckets, ...
//
// Contract: each enum E has exactly one table, CodeTable<E>::names, holding the EVENTS.md spelling of every value in
// the enum's order; spelling() and code_from() are the only conversions between the two, and nothing else in the
// code spells a code. The compiler checks that each table has one non-empty, distinct name per value. Tables whose
// order reaches stored bytes or outputs (Reason: a settlement's `reasons` array; Bucket: keys of person state) are
// also checked to be in ascending order of spelling, so that ordering by value is ordering by spelling. The tables
// of the codes a person holds (Scheme, EmployeeStatus, Bucket, ClaimStatus, Relation, Variant, EndReason) are also
// pinned by ledger/state_codec.cc: person format 3 stores those codes by their index.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gongji {

template <typename E>
struct CodeTable;  // specialised below, once per enum

template <typename E>
constexpr std::string_view spelling(E e) {
  return CodeTable<E>::names[static_cast<size_t>(e)];
}

template <typename E>
constexpr std::optional<E> code_from(std::string_view s) {
  const auto& names = CodeTable<E>::names;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == s) return static_cast<E>(i);
  return std::nullopt;
}

template <typename E>
std::string spelled(E e) {
  return std::string(spelling(e));
}

namespace code_table_checks {
template <size_t N>
constexpr bool distinct(const std::array<std::string_view, N>& a) {
  for (size_t i = 0; i < N; ++i) {
    if (a[i].empty()) return false;
    for (size_t j = i + 1; j < N; ++j)
      if (a[i] == a[j]) return false;
  }
  return true;
}
template <size_t N>
constexpr bool ascending(const std::array<std::string_view, N>& a) {
  for (size_t i = 1; i < N; ++i)
    if (!(a[i - 1] < a[i])) return false;
  return true;
}
}  // namespace code_table_checks

// Declares enum E (with `last` as its last value) and its table, and checks the table against the enum.
#define GONGJI_CODE_TABLE(E, last, ...)                                                                      \
  template <>                                                                                                \
  struct CodeTable<E> {                                                                                      \
    static constexpr std::array<std::string_view, static_cast<size_t>(E::last) + 1> names = {__VA_ARGS__}; \
  };                                                                                                         \
  static_assert(code_table_checks::distinct(CodeTable<E>::names), #E ": one distinct spelling per value")

// ---- event fields (EVENTS.md "Events")

enum class Scheme : uint8_t { employee, resident };
GONGJI_CODE_TABLE(Scheme, resident, "employee", "resident");

// An employee's status; a resident has none (std::optional<EmployeeStatus> empty).
enum class EmployeeStatus : uint8_t { in_service, retired, flexible, old_urban };
GONGJI_CODE_TABLE(EmployeeStatus, old_urban, "in_service", "retired", "flexible", "old_urban");

enum class FacilityKind : uint8_t {
  hospital,
  township_health_center,
  community_health_center,
  community_health_station,
  village_clinic,
  pharmacy,
  clinic,
};
GONGJI_CODE_TABLE(FacilityKind, clinic, "hospital", "township_health_center", "community_health_center",
                  "community_health_station", "village_clinic", "pharmacy", "clinic");

enum class Specialty : uint8_t { mental, infectious };
GONGJI_CODE_TABLE(Specialty, infectious, "mental", "infectious");

enum class Relation : uint8_t { spouse, parent, child };
GONGJI_CODE_TABLE(Relation, child, "spouse", "parent", "child");

enum class Purpose : uint8_t {
  medical_out_of_pocket,
  drug_purchase,
  device_purchase,
  ltc_premium,
  resident_premium,
  weinibao,
  public_health,
  fitness,
  wellness,
  consumable_purchase,
};
GONGJI_CODE_TABLE(Purpose, consumable_purchase, "medical_out_of_pocket", "drug_purchase", "device_purchase",
                  "ltc_premium", "resident_premium", "weinibao", "public_health", "fitness", "wellness",
                  "consumable_purchase");

// The `bucket` a resident's chronic registration or chronic facility names.
enum class ResidentBucket : uint8_t { ordinary, specific };
GONGJI_CODE_TABLE(ResidentBucket, specific, "ordinary", "specific");

enum class Variant : uint8_t { castration };
GONGJI_CODE_TABLE(Variant, castration, "castration");

enum class Benefit : uint8_t { ordinary, chronic, emergency, prenatal };
GONGJI_CODE_TABLE(Benefit, prenatal, "ordinary", "chronic", "emergency", "prenatal");

enum class Outcome : uint8_t { treated, admitted, died };
GONGJI_CODE_TABLE(Outcome, died, "treated", "admitted", "died");

enum class AwayMode : uint8_t { long_term, temporary };
GONGJI_CODE_TABLE(AwayMode, temporary, "long_term", "temporary");

// An item's category. A policy lists the categories it accepts (CodeLists::category, by spelling); the rules give
// each its meaning (ORD-SCOPE, ORD-ACU, ORD-PED).
enum class ItemCategory : uint8_t {
  drug,
  general_consultation,
  acupuncture,
  tcm_other,
  pediatric_massage,
  exam,
  lab,
  treatment,
  device,
  nucleic_acid,
};
GONGJI_CODE_TABLE(ItemCategory, nucleic_acid, "drug", "general_consultation", "acupuncture", "tcm_other",
                  "pediatric_massage", "exam", "lab", "treatment", "device", "nucleic_acid");

// ---- outputs (EVENTS.md "Reason codes", "Outputs")

enum class ClaimStatus : uint8_t { settled, rejected, referred };
GONGJI_CODE_TABLE(ClaimStatus, referred, "settled", "rejected", "referred");

// Every reason code of EVENTS.md, in ascending order of spelling (a settlement lists its reasons in that order).
enum class Reason : uint8_t {
  ACCOUNT_INSUFFICIENT,
  ACCOUNT_NOT_FAMILY,
  ACCOUNT_PURPOSE_FORBIDDEN,
  ACU_COURSE_EXCEEDED,
  ACU_DAILY_ITEMS_EXCEEDED,
  ACU_DIAGNOSIS_NOT_LISTED,
  ACU_FREQUENCY_EXCEEDED,
  ACU_NOT_LED,
  ALREADY_ENROLLED,
  AUTO_DESIGNATED,
  CHRONIC_EXISTING_POLICY,
  CHRONIC_FACILITY_LOCKED,
  DESIGNATION_CHANGES_EXHAUSTED,
  DISEASE_ALREADY_REGISTERED,
  DISEASE_NOT_IN_BUCKET,
  DISEASE_NOT_REGISTERED,
  DUPLICATE_CLAIM,
  EMERGENCY_ADMITTED,
  EMERGENCY_DEATH,
  FACILITY_NOT_DESIGNATABLE,
  ID_CONFLICT,
  INPATIENT_LIMIT_REACHED,
  INPATIENT_STAY,
  LIMIT_REACHED,
  NOT_DESIGNATED,
  NOT_ELIGIBLE,
  NUCLEIC_ACID_INPATIENT_POLICY,
  PED_COURSE_EXCEEDED,
  PED_NOT_COVERED,
  PERIOD_SKIPPED,
  POLICY_NOT_IN_FORCE,
  RESIDENT_SCOPE,
  REVERSAL_NOT_APPLICABLE,
  STUDENT_EXISTING_POLICY,
  UNKNOWN_FACILITY,
  UNKNOWN_PERSON,
};
GONGJI_CODE_TABLE(Reason, UNKNOWN_PERSON, "ACCOUNT_INSUFFICIENT", "ACCOUNT_NOT_FAMILY", "ACCOUNT_PURPOSE_FORBIDDEN",
                  "ACU_COURSE_EXCEEDED", "ACU_DAILY_ITEMS_EXCEEDED", "ACU_DIAGNOSIS_NOT_LISTED",
                  "ACU_FREQUENCY_EXCEEDED", "ACU_NOT_LED", "ALREADY_ENROLLED", "AUTO_DESIGNATED",
                  "CHRONIC_EXISTING_POLICY", "CHRONIC_FACILITY_LOCKED", "DESIGNATION_CHANGES_EXHAUSTED",
                  "DISEASE_ALREADY_REGISTERED", "DISEASE_NOT_IN_BUCKET", "DISEASE_NOT_REGISTERED", "DUPLICATE_CLAIM",
                  "EMERGENCY_ADMITTED", "EMERGENCY_DEATH", "FACILITY_NOT_DESIGNATABLE", "ID_CONFLICT",
                  "INPATIENT_LIMIT_REACHED", "INPATIENT_STAY", "LIMIT_REACHED", "NOT_DESIGNATED", "NOT_ELIGIBLE",
                  "NUCLEIC_ACID_INPATIENT_POLICY", "PED_COURSE_EXCEEDED", "PED_NOT_COVERED", "PERIOD_SKIPPED",
                  "POLICY_NOT_IN_FORCE", "RESIDENT_SCOPE", "REVERSAL_NOT_APPLICABLE", "STUDENT_EXISTING_POLICY",
                  "UNKNOWN_FACILITY", "UNKNOWN_PERSON");
static_assert(code_table_checks::ascending(CodeTable<Reason>::names), "Reason: the table is in spelling order");

// The accumulator an effect counts in (POLICY.md TIME-ORDER; CHR-SEP keeps the chronic buckets apart). In ascending
// order of spelling (chronic facilities are kept by bucket, and stored in key order).
enum class Bucket : uint8_t { chronic_employee, chronic_ordinary, chronic_specific, inpatient, ordinary };
GONGJI_CODE_TABLE(Bucket, ordinary, "chronic:employee", "chronic:ordinary", "chronic:specific", "inpatient",
                  "ordinary");
static_assert(code_table_checks::ascending(CodeTable<Bucket>::names), "Bucket: the table is in spelling order");

// Why a chronic registration ended (CHR-REG, CHR-SUSP, CHR-CHANGE); a registration in effect has none.
enum class EndReason : uint8_t { revoked, suspended, scheme_changed };
GONGJI_CODE_TABLE(EndReason, scheme_changed, "revoked", "suspended", "scheme_changed");

#undef GONGJI_CODE_TABLE

}  // namespace gongji
