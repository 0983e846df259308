// How `serve` cuts what it publishes into Kafka transactions (consumers/serve.cc publish;
// ServeOptions::transaction_records).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace gongji {

// Where an output record comes from: its event's partition and offset in the events topic.
struct RecordPlace {
  int partition;
  uint64_t offset;
};
// One of serve's Kafka transactions: the records [begin, end) of what is published, and the group's offsets it
// commits (the next offset to fold, per partition).
struct PlannedTransaction {
  size_t begin = 0, end = 0;
  std::map<int, uint64_t> offsets;
};
// How serve cuts records into transactions (ServeOptions::transaction_records): each of `per_transaction` records or
// more only to keep one event's records (a partition and offset) together, and the last of what is left; at least
// one transaction, also for no records (it commits the offsets). A transaction commits, for a partition with records
// after it, the offset of the first of them; for any other partition, its offset in `positions` (the batch's
// position: nothing of it remains unpublished). So the offsets committed never go back, and a crash between two
// transactions leaves exactly the records after the last commit to the outbox. serve's republish() cuts a stored
// outbox, one partition streamed, at the same places.
// Preconditions (std::invalid_argument otherwise, naming the record): every record's partition is a key of
// `positions`, and below its position there; a partition's records are in log order (offsets never decrease), those
// of several partitions in any order (batches merged for one publish).
inline std::vector<PlannedTransaction> plan_transactions(std::span<const RecordPlace> records,
                                                    const std::map<int, uint64_t>& positions, size_t per_transaction) {
  std::map<int, uint64_t> last;  // each partition's offset so far
  for (size_t i = 0; i < records.size(); ++i) {
    const auto [p, offset] = records[i];
    const auto position = positions.find(p);
    const auto before = last.find(p);
    if (position == positions.end() || offset >= position->second || (before != last.end() && offset < before->second))
      throw std::invalid_argument("record " + std::to_string(i) + " (partition " + std::to_string(p) + " offset " +
                                  std::to_string(offset) + ") is not below its partition's position or comes after " +
                                  "a later offset of it");
    last[p] = offset;
  }
  std::vector<PlannedTransaction> cuts;
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
