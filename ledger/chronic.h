// Chronic and special diseases (POLICY.md §2): registrations, chronic facilities, limits, settlement, suspension.
#pragma once
#include <vector>

#include "ledger/rules.h"

namespace gongji {

// The chronic bucket of a person of standing `st` for an event's `bucket` field (none when a resident named none).
std::optional<Bucket> chronic_bucket(const Standing& st, const std::optional<ResidentBucket>& bucket_field);
// How `person` and the traces name a chronic bucket: "employee", "ordinary", "specific".
std::string_view chronic_bucket_name(Bucket b);

// CHR-REG: the registration of `disease` in effect on d, if any.
const Registration* registration_on(const PersonState& p, const std::string& disease, Date d);

// CHR-LIM (+ CHR-PRORATE): the bucket's limit for a claim on d; nullopt for the inpatient-only diseases' "limit".
Money chronic_limit(const PersonState& p, const Standing& st, Bucket bucket, Date d, const Params& params);

// The annual inpatient limit of CHR-INPT for the person's scheme, and what is used of it (TIME-ORDER / TIME-ASOF).
Money inpatient_limit(const Standing& st, const Params& params);
Money inpatient_used(const PersonState& p, int year, Period period, std::optional<Date> as_of = std::nullopt);

void approve_disease(const ChronicDiseaseApproved& e, PersonState& p, const FoldContext& ctx, std::vector<Output>& out);
void revoke_disease(const ChronicDiseaseRevoked& e, PersonState& p, std::vector<Output>& out);
void designate_chronic_facility(const ChronicFacilityDesignated& e, PersonState& p, StateAccess& state,
                                std::vector<Output>& out);
void record_inpatient_settled(const InpatientSettled& e, PersonState& p);
// CHR-CHANGE: a change of scheme ends registrations and empties the chronic facility slots.
void end_chronic_on_scheme_change(PersonState& p, Date d);

// The chronic checks after P-STUDENT (CHR-EXCL, CHR-UNREG, CHR-FAC, CHR-ART17) and the amounts. Returns false when
// the settlement was refused (s carries the reason).
void settle_chronic(const Claim& e, PersonState& p, const Standing& st, const FacilityVersion* fac,
                    const Params& params, Settlement& s);

// CHR-SUSP at the close of December of `year`.
// Returns whether anything was suspended.
bool suspend_chronic(PersonState& p, int year, const Params& params);

}  // namespace gongji
