// Point-in-time reconstruction of one person (POLICY.md TIME-ASOF, TIME-REPLAY): fold only the person's own
// events and the shared events of their partition, found through the per-person index the fold keeps
// (projections/store.h `i/` and `g/` keys), never scanning the log.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <tuple>

#include "log/event_log.h"
#include "ledger/mem_state.h"
#include "projections/store.h"

namespace gongji {

// Knowledge time: only records ingested by then count. Either an ingestion time (ms since the epoch, inclusive)
// or per-partition offsets (records before each offset); a partition not named is not limited.
struct KnownAt {
  std::optional<int64_t> ms;
  std::map<int, uint64_t> offsets;
  bool admits(int partition, uint64_t offset, int64_t ingested_ms) const;
};

// Parses a time "2024-03-01T12:00:00Z", with an optional fraction ("…:00.123Z", the access log's form) and Z or an
// offset ("…+08:00"): every record ingested up to the last millisecond it names (the end of the second without a
// fraction); a number of ms since the epoch (inclusive); or "P:OFFSET[,P:OFFSET...]": records before OFFSET of
// each partition named, a partition not named unlimited. A time without a zone ("2024-03-01 12:00:00") is refused.
KnownAt parse_known_at(const std::string& text);

// TIME-ASOF: an answer as known at `known` holds every event ingested by then. A reconstruction reads what the store
// indexed, which ends where its fold stopped: when the log holds a record of `partition` past that which `known`
// admits, the answer would leave it out. Throws NotFoldedError naming the partition, the offsets and the record's
// ingestion time then. Reads the partition's records past the store's position until one is admitted (all of them
// when none is: the ingestion times of a partition need not rise).
void refuse_unfolded(const Store& store, EventLog& log, int partition, const KnownAt& known);

struct Reconstruction {
  int partition = 0;
  MemState state;
  std::vector<uint64_t> offsets;  // the log offsets folded, in order
  // Offset -> reason: records the policy's code lists (Policy::codes()) refuse, which a fold under the policy
  // dead-letters; they are not folded (a narrower what-if policy than the one the store was folded with).
  std::map<uint64_t, std::string> dead_letters;
};

// What reconstructions reuse, for a long-lived reader of one store and one log (the query service): the shared
// events of each partition (the g/ index: facilities, period closes, a few hundred a partition that every
// reconstruction there folds) decoded under a policy's code lists, and the policies the store recorded, by version
// (a version is the hash of the policy's bytes). The log is append-only, so an entry stays true while the same log
// is read; a reader that opens its log again (after `gongji log truncate`) starts a new cache. Thread-safe.
class ReplayCache {
 public:
  struct Decoded {
    std::optional<Event> event;  // none when the code lists refuse the record
    std::string refused;         // the decoder's reason
  };
  // The record at `offset` of `partition` (its `locator` as the index holds it), decoded under `policy`'s codes.
  std::shared_ptr<const Decoded> shared_event(EventLog& log, int partition, uint64_t offset, uint64_t locator,
                                              const Policy& policy);
  // The policy of `version` as the store holds its text; StoreError when it does not.
  std::shared_ptr<const Policy> stored_policy(const Store& store, const std::string& version);

 private:
  std::shared_mutex mu_;
  std::map<std::tuple<std::string, int, uint64_t>, std::shared_ptr<const Decoded>> events_;  // version, p, offset
  std::map<std::string, std::shared_ptr<const Policy>> policies_;
};

// Folds the person's history as known at `known`, stopping before `before` (an offset in their partition) if
// given, each event decoded under `policy`'s code lists. Throws StoreError if the store has no index for the person.
// `cache`: where shared events are taken from once decoded (the person's own records are read from the log).
Reconstruction reconstruct_person(const Store& store, EventLog& log, const std::string& person, const Policy& policy,
                                  const KnownAt& known = {}, std::optional<uint64_t> before = std::nullopt,
                                  ReplayCache* cache = nullptr);

// The policy the store's fold used, when it used exactly one (nullopt otherwise), read as a stored text
// (PolicyText::stored: one an older gongji wrote may lack the parameters issue 9 added).
std::optional<Policy> recorded_policy(const Store& store);

}  // namespace gongji
