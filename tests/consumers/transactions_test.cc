// cut_transactions (consumers/transactions.h): how `serve` cuts what it publishes into Kafka transactions, and the
// group's offsets each commits. The Kafka side (a crash between two transactions of one batch) is
// ServeFault.ABatchIsPublishedInTransactionsAndACrashBetweenTwoLosesNothing in kafka_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "consumers/transactions.h"

namespace gongji {
namespace {

using Offsets = std::map<int, uint64_t>;

std::vector<std::pair<size_t, size_t>> bounds(const std::vector<TransactionCut>& cuts) {
  std::vector<std::pair<size_t, size_t>> b;
  for (const auto& c : cuts) b.emplace_back(c.begin, c.end);
  return b;
}

// An event's records stay in one transaction, however many: a transaction passes the bound only for them.
TEST(TransactionCuts, AreOfTheBoundAndNeverSplitAnEvent) {
  const std::vector<RecordPlace> records = {{0, 1}, {0, 1}, {0, 1}, {0, 2}, {0, 3}, {0, 3}, {0, 5}};
  const auto cuts = cut_transactions(records, {{0, 9}, {1, 12}}, 2);
  EXPECT_EQ(bounds(cuts), (std::vector<std::pair<size_t, size_t>>{{0, 3}, {3, 6}, {6, 7}}));
  ASSERT_EQ(cuts.size(), 3u);
  // Partition 1 wrote nothing: its position is committed at once. Partition 0 commits its next record's offset,
  // then the batch's position.
  EXPECT_EQ(cuts[0].offsets, (Offsets{{0, 2}, {1, 12}}));
  EXPECT_EQ(cuts[1].offsets, (Offsets{{0, 5}, {1, 12}}));
  EXPECT_EQ(cuts[2].offsets, (Offsets{{0, 9}, {1, 12}}));
}

// Two batches merged into one publish: each partition's records come twice, in log order within it. A partition
// commits the first of its records after the cut, not the position of the batch it was last seen in.
TEST(TransactionCuts, OfMergedBatchesCommitEachPartitionsFirstRecordAfterTheCut) {
  const std::vector<RecordPlace> records = {{0, 1}, {0, 2}, {1, 4}, {0, 7}, {1, 8}};
  const auto cuts = cut_transactions(records, {{0, 10}, {1, 12}}, 1);
  ASSERT_EQ(cuts.size(), 5u);
  EXPECT_EQ(cuts[0].offsets, (Offsets{{0, 2}, {1, 4}}));
  EXPECT_EQ(cuts[1].offsets, (Offsets{{0, 7}, {1, 4}}));
  EXPECT_EQ(cuts[2].offsets, (Offsets{{0, 7}, {1, 8}}));
  EXPECT_EQ(cuts[3].offsets, (Offsets{{0, 10}, {1, 8}}));
  EXPECT_EQ(cuts[4].offsets, (Offsets{{0, 10}, {1, 12}}));
  EXPECT_EQ(bounds(cuts).back(), (std::pair<size_t, size_t>{4, 5}));
}

// A batch of no records still commits its offsets (its events wrote nothing), in one transaction; a batch within the
// bound is one transaction, as before the cut existed.
TEST(TransactionCuts, NoRecordsOrFewAreOneTransaction) {
  const auto none = cut_transactions({}, {{3, 40}}, 100);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(bounds(none)[0], (std::pair<size_t, size_t>{0, 0}));
  EXPECT_EQ(none[0].offsets, (Offsets{{3, 40}}));
  const std::vector<RecordPlace> records = {{2, 5}, {3, 6}, {3, 6}};
  const auto few = cut_transactions(records, {{2, 7}, {3, 40}}, 3);
  ASSERT_EQ(few.size(), 1u);
  EXPECT_EQ(few[0].offsets, (Offsets{{2, 7}, {3, 40}}));
}

}  // namespace
}  // namespace gongji
