// How `serve` cuts what it publishes into Kafka transactions (consumers/serve.cc publish;
// ServeOptions::transaction_records).
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace gongji {

// Where an output record comes from: its event's partition and offset in the events topic.
struct RecordPlace {
  int partition;
  uint64_t offset;
};
// One of serve's Kafka transactions: the records [begin, end) of what is published, and the group's offsets it
// commits (the next offset to fold, per partition).
struct TransactionCut {
  size_t begin = 0, end = 0;
  std::map<int, uint64_t> offsets;
};
// How serve cuts records into transactions (ServeOptions::transaction_records): each of `per_transaction` records or
// more only to keep one event's records (a partition and offset) together, and the last of what is left; at least
// one transaction, also for no records (it commits the offsets). Records of one partition are in log order, those of
// several partitions in any order (batches merged for one publish). A transaction commits, for a partition with
// records after it, the offset of the first of them; for any other partition, its offset in `positions` (the
// batch's position: nothing of it remains unpublished). So the offsets committed never go back, and a crash between
// two transactions leaves exactly the records after the last commit to the outbox.
inline std::vector<TransactionCut> cut_transactions(std::span<const RecordPlace> records,
                                                    const std::map<int, uint64_t>& positions, size_t per_transaction) {
  std::vector<TransactionCut> cuts;
  size_t from = 0;
  do {  // where each ends
    size_t to = std::min(records.size(), from + std::max<size_t>(per_transaction, 1));
    while (to < records.size() && records[to].partition == records[to - 1].partition &&
           records[to].offset == records[to - 1].offset)
      ++to;  // one event's records are never split
    cuts.push_back({from, to, {}});
    from = to;
  } while (from < records.size());
  std::map<int, uint64_t> first_after = positions;  // from the end back: each partition's first record after a cut
  size_t i = records.size();
  for (auto cut = cuts.rbegin(); cut != cuts.rend(); ++cut) {
    for (; i > cut->end; --i) first_after[records[i - 1].partition] = records[i - 1].offset;
    cut->offsets = first_after;
  }
  return cuts;
}

}  // namespace gongji
