// Invariants asserted in the core (issue 9 item 9, in the spirit of TigerBeetle's assertions). They state what the
// rules already guarantee, so in a correct fold they never fire; they are there so that a bug (or damaged state)
// shows as a refused record naming the invariant, never as a wrong number in a settlement or an account.
//
// Checked in every build type: check_invariant() is a plain branch, not assert(), and no option turns it off.
// A check only reads (its condition is computed from values the rule already has; the detail text is built only
// when it fails), so a fold without a violation gives the same state, outputs and digest as one without checks.
//
// A violation throws InvariantViolation (a std::logic_error). Inside the fold (projections/store.h
// PartitionFolder) that is the one rollback-and-dead-letter path of a poison record: the record becomes a
// dead letter whose reason is "invariant <ID> violated: <detail>", and nothing of it remains (its claim id stays
// free, the state is exactly as before it). Outside the fold (explain, reconstruct) the exception propagates.
//
// The invariants, their IDs and where each is checked:
//   INV-SETTLE-NONNEG        a settlement's total, eligible, self-first, deductible, covered and fund are >= 0
//                            (a reversal is a separate record, see INV-REVERSAL-MIRRORS)  settlement.cc
//                            check_settlement, on every settlement record (settled, rejected, referred)
//   INV-ELIGIBLE-LE-TOTAL    eligible <= total                                        settlement.cc check_settlement
//   INV-COVERED-LE-ELIGIBLE  self-first + deductible + covered <= eligible            settlement.cc check_settlement
//   INV-FUND-LE-COVERED      fund <= covered                                          settlement.cc check_settlement
//   INV-PATIENT-FUND-TOTAL   patient >= 0 and patient + fund == total, to the fen     settlement.cc check_settlement
//   INV-ACCUM-NONNEG         the running totals a claim starts from (deductible paid, limit used, inpatient
//                            limit used, fund, eligible of its year, scheme period and bucket) are >= 0
//                            claims.cc settle_ordinary, chronic.cc settle_chronic (check_accumulators, rules.h)
//   INV-COVERED-LE-ROOM      what a claim counts into a limit (the ORD-AWAY self-first share counted, plus
//                            covered) is at most the room left before the claim: the ordinary limit (ORD-LIM),
//                            the chronic bucket limit (CHR-LIM), the inpatient limit (CHR-INPT)
//                            claims.cc settle_ordinary, chronic.cc settle_chronic (check_room, rules.h)
//   INV-DED-LE-DEDUCTIBLE    a claim that pays deductible never takes the deductible paid in its year beyond
//                            the deductible in force (ORD-DED by level, CHR-DED by bucket)
//                            claims.cc settle_ordinary, chronic.cc settle_chronic (check_deductible, rules.h)
//   INV-EFFECT-NONNEG        accumulators never decrease within a year except by a reversal: every effect a
//                            settlement or an inpatient_settled records is >= 0 in every field
//                            claims.cc record_settlement, chronic.cc record_inpatient_settled (check_effect_nonneg)
//   INV-REVERSAL-MIRRORS     a reversal is the exact negative of its claim's settlement: the claim's original
//                            effect is >= 0 and, after the reversal, the claim's effects in its year, scheme
//                            period and bucket net to zero in every field          ledger.cc reverse
//   INV-ACCOUNT-NONNEG       a personal account's balance is >= 0 after a debit (ACC-USE)
//                            accounts.cc account_payment
//   INV-LOG-FORWARD          the fold's log position only moves forward: a partition's records are applied at
//                            offsets >= its next offset. Not a record's fault but its caller's (a rewound read):
//                            a StoreError (the fold stops, nothing of the record is applied), never a dead letter
//                            projections/store.cc PartitionFolder::apply
//   INV-LOG-PARTITION        a partition's fold is given only that partition's records (LogRecord::partition).
//                            The caller's fault as INV-LOG-FORWARD's, and refused as it is; an event put into
//                            another partition than its person's is the record's (a dead letter, TIME-LOG)
//                            projections/store.cc PartitionFolder::apply
#pragma once
#include <stdexcept>
#include <string>

namespace gongji {

// A broken invariant: `id` is its stable ID above, `detail` its numbers (money in yuan). what() is
// "invariant <id> violated: <detail>", the reason of the dead letter it makes.
struct InvariantViolation : std::logic_error {
  InvariantViolation(const std::string& id_, const std::string& detail_)
      : std::logic_error("invariant " + id_ + " violated: " + detail_), id(id_), detail(detail_) {}
  std::string id, detail;
};

[[noreturn, gnu::cold, gnu::noinline]] inline void invariant_failed(const char* id, const std::string& detail) {
  throw InvariantViolation(id, detail);
}

// Throws InvariantViolation(id, detail()) unless `holds`; `detail` is a callable returning the text with the
// numbers, called only on failure (the happy path is one branch).
template <typename Detail>
inline void check_invariant(bool holds, const char* id, Detail&& detail) {
  if (!holds) [[unlikely]]
    invariant_failed(id, detail());
}

}  // namespace gongji
