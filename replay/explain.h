// Re-deriving a recorded settlement (issue 5 `explain`): the person's state just before the claim is rebuilt from
// the log (replay/reconstruct.h) under the policy version the settlement recorded, the claim is settled again, and
// the result is compared with the record field by field. With another policy it is a what-if.
#pragma once
#include <optional>
#include <string>

#include "log/event_log.h"
#include "projections/store.h"
#include "replay/reconstruct.h"

namespace gongji {

struct Rederivation {
  // The settlement as the store holds it (Output::settlement; Output::text too when the store kept it as a line,
  // one changed by hand among them), and the recomputation: a settlement, or the dead letter (Output::record) its
  // event is under the policy's code lists. As data; rendered to JSON only at the edges (Output::line()).
  Output recorded, recomputed;
  bool equal = false;
  std::string first_difference;  // "" when equal: the first field (in key order) that differs
  std::string policy_version;    // of the recomputation
};

// The settlement of `person`'s claim `claim` (EVENTS.md: a claim is its person and its claim id): the settled one
// (Store::settled_settlement), else the first (a claim refused before its person or facility was known). No such
// settlement: NotFoundError; its policy version not in the store: StoreError. `other`: a what-if policy. Every
// event is decoded under the policy's code lists (Policy::codes()), as a fold under it would: an earlier event they
// refuse is skipped (Reconstruction::dead_letters), and a claim they refuse re-derives to a "dead_letter" record
// naming the field and code, never to a settlement.
// `cache`: the recorded policy and the shared events from there (replay/reconstruct.h ReplayCache).
Rederivation rederive_claim(const Store& store, EventLog& log, const std::string& person, const std::string& claim,
                            const Policy* other = nullptr, ReplayCache* cache = nullptr);
// The same for the one person holding claim id `claim` (Store::claim_person): an id held by several persons is
// refused with AmbiguousClaimError naming them.
Rederivation rederive_claim(const Store& store, EventLog& log, const std::string& claim,
                            const Policy* other = nullptr);

// An account movement re-derived (EVENTS.md `explain --event`): `person`'s state just before the event `event` is
// rebuilt from the log under the policy the store's fold used (recorded_policy: a store folded under several has no
// one policy to re-derive under, StoreError), the event is applied again, and the person's account movements of it
// are compared with the recorded ones, in order, as their lines (a line changed by hand that no longer reads as a
// movement is compared as it is). NotFoundError when no account movement of the event names the person; StoreError
// when the log has no record at the movements' offset, or another event there.
struct MovementRederivation {
  std::vector<Output> recorded, recomputed;  // the person's account movements of the event
  bool equal = false;
  std::string policy_version;
  std::string refused;  // why the policy's code lists refuse the event's record ("" when they take it)
};
MovementRederivation rederive_movements(const Store& store, EventLog& log, const std::string& person,
                                        const std::string& event, ReplayCache* cache = nullptr);

// The fields in which the recorded movements differ from the recomputed ones, pair by pair in order (keys of their
// lines), and "movements" when there are not as many.
std::vector<std::string> movement_differences(const MovementRederivation& r);

// The fields of two output records that differ, by their EVENTS.md names in key order, compared as data: two
// settlements field by field ("rules" is the trace's rules in order, "patient" total minus fund, "line" a stored
// line that is not what its own fields print), ignoring the policy version and the trace; records of two kinds
// differ in "kind" alone.
std::vector<std::string> settlement_differences(const Output& a, const Output& b);

}  // namespace gongji
