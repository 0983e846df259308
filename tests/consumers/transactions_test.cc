// plan_transactions (consumers/transactions.h): how `serve` cuts what it publishes into Kafka transactions, and the
// group's offsets each commits. The Kafka side (a crash between two transactions of one batch) is
// ServeFault.ABatchIsPublishedInTransactionsAndACrashBetweenTwoLosesNothing in kafka_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "consumers/transactions.h"

namespace gongji {
namespace {

using Offsets = std::map<int, uint64_t>;

std::vector<std::pair<size_t, size_t>> bounds(const std::vector<PlannedTransaction>& cuts) {
  std::vector<std::pair<size_t, size_t>> b;
  for (const auto& c : cuts) b.emplace_back(c.begin, c.end);
  return b;
}

// An event's records stay in one transaction, however many: a transaction passes the bound only for them.
TEST(PlannedTransactions, AreOfTheBoundAndNeverSplitAnEvent) {
  const std::vector<RecordPlace> records = {{0, 1}, {0, 1}, {0, 1}, {0, 2}, {0, 3}, {0, 3}, {0, 5}};
  const auto cuts = plan_transactions(records, {{0, 9}, {1, 12}}, 2);
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
TEST(PlannedTransactions, OfMergedBatchesCommitEachPartitionsFirstRecordAfterTheCut) {
  const std::vector<RecordPlace> records = {{0, 1}, {0, 2}, {1, 4}, {0, 7}, {1, 8}};
  const auto cuts = plan_transactions(records, {{0, 10}, {1, 12}}, 1);
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
TEST(PlannedTransactions, NoRecordsOrFewAreOneTransaction) {
  const auto none = plan_transactions({}, {{3, 40}}, 100);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(bounds(none)[0], (std::pair<size_t, size_t>{0, 0}));
  EXPECT_EQ(none[0].offsets, (Offsets{{3, 40}}));
  const std::vector<RecordPlace> records = {{2, 5}, {3, 6}, {3, 6}};
  const auto few = plan_transactions(records, {{2, 7}, {3, 40}}, 3);
  ASSERT_EQ(few.size(), 1u);
  EXPECT_EQ(few[0].offsets, (Offsets{{2, 7}, {3, 40}}));
}

// What would make a plan publish a record twice or never is refused, naming the record: a partition without a
// position (its last transaction would not commit it), a record at or past its position, a partition's offsets
// going back.
TEST(PlannedTransactions, RefuseRecordsThatTheirPositionsDoNotCover) {
  const auto refused = [](const std::vector<RecordPlace>& records, const Offsets& positions) {
    try {
      plan_transactions(records, positions, 2);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("not refused");
  };
  EXPECT_EQ(refused({{0, 1}, {1, 2}}, {{0, 5}}), "record 1 (partition 1 offset 2) is not below its partition's "
                                                  "position or comes after a later offset of it");
  EXPECT_EQ(refused({{0, 1}, {0, 5}}, {{0, 5}}).substr(0, 30), "record 1 (partition 0 offset 5");
  EXPECT_EQ(refused({{0, 3}, {1, 0}, {0, 2}}, {{0, 5}, {1, 1}}).substr(0, 30), "record 2 (partition 0 offset 2");
  EXPECT_EQ(refused({{0, 3}, {0, 3}, {1, 0}}, {{0, 5}, {1, 1}}), "not refused");
}

}  // namespace
}  // namespace gongji
