// `gongji replay --known-at T --out DIR` (POLICY.md TIME-REPLAY): the store exactly as it stood when everything
// ingested up to T had been folded, rebuilt from the nearest checkpoint the fold kept at or before T's positions.
#pragma once
#include <map>
#include <string>

#include "log/event_log.h"
#include "projections/store.h"
#include "replay/reconstruct.h"

namespace gongji {

// The per-partition positions a knowledge time stands for (records admitted by `known`, counted from the start of
// each partition; ingestion times grow along a partition).
std::map<int, uint64_t> positions_at(EventLog& log, const KnownAt& known);

struct ReplayResult {
  std::string from_checkpoint;  // "" when replayed from zero
  FoldStats stats;
  std::string digest;
};

// The directory a replay to `out` writes: `out` normalised, "DIR/" as DIR (its sibling DIR.partial is where it
// is built).
std::string replay_target(const std::string& out);

// What replay says when `<out>.partial` (`work`) exists: whose it may be and what to do (replay_to, and the command
// line before anything is opened).
std::string partial_exists_message(const std::string& work);

// Rebuilds into `out` (must not exist; nor may <out>.partial, where it is built before it is renamed to `out`) under
// `policy`. `checkpoints`: the live fold's checkpoint directory ("" for none). Not used: a checkpoint a running fold
// retires while it is copied, one that cannot be opened, and one that holds anything folded under another policy
// version than `policy` (a store folded on under a second policy by a binary that allowed it keeps checkpoints of the
// first), and one whose store holds other positions than its positions.json says (warned): the next one is tried,
// and without one the replay starts from zero. A failure before the fold starts leaves nothing beside `out`; one
// during it leaves <out>.partial (refused until removed). A failure to sync `out`'s parent after the rename throws
// although the store is whole at `out` (the message says so, with its digest).
ReplayResult replay_to(EventLog& log, const Policy& policy, const std::map<int, uint64_t>& target,
                       const std::string& checkpoints, const std::string& out,
                       const std::function<void(uint64_t)>& progress = {});

}  // namespace gongji
