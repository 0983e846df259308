// records_to_fold (consumers/delivered.h): what `serve` folds of one partition's delivery. A broker does not repeat
// an offset inside one delivery on demand, so the messages here are plain values with RdKafka::Message's accessors.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "consumers/delivered.h"

namespace gongji {
namespace {

struct Delivered {
  int64_t at = 0;
  std::string bytes;
  struct Timestamp {
    int64_t timestamp = 0;
  };
  int64_t offset() const { return at; }
  Timestamp timestamp() const { return {1000 + at}; }
  const void* payload() const { return bytes.data(); }
  size_t len() const { return bytes.size(); }
};

std::vector<std::unique_ptr<Delivered>> delivery(const std::vector<int64_t>& offsets) {
  std::vector<std::unique_ptr<Delivered>> msgs;
  for (int64_t o : offsets) msgs.push_back(std::make_unique<Delivered>(Delivered{o, "event " + std::to_string(o)}));
  return msgs;
}

std::vector<uint64_t> offsets_of(const std::vector<LogRecord>& records) {
  std::vector<uint64_t> out;
  for (const LogRecord& r : records) out.push_back(r.offset);
  return out;
}

TEST(Delivered, RecordsBehindThePositionAreLeftOut) {
  const auto msgs = delivery({3, 4, 5, 6});
  const std::vector<LogRecord> records = records_to_fold(2, 5, msgs);  // 3 and 4 folded before
  EXPECT_EQ(offsets_of(records), (std::vector<uint64_t>{5, 6}));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].partition, 2);
  EXPECT_EQ(records[0].ingested_ms, 1005);
  EXPECT_EQ(records[0].payload, "event 5");
  EXPECT_EQ(records[0].payload.data(), msgs[2]->bytes.data());  // points into the message, not a copy
  EXPECT_EQ(records[1].payload, "event 6");
}

// A repeated or backward offset inside one delivery is judged against the position the records before it leave,
// not only the folder's: kept, it would reach PartitionFolder::apply behind its position (INV-LOG-FORWARD).
TEST(Delivered, ARepeatedOrBackwardOffsetInsideADeliveryIsLeftOut) {
  const auto msgs = delivery({7, 8, 8, 7, 9, 9, 10});
  EXPECT_EQ(offsets_of(records_to_fold(0, 7, msgs)), (std::vector<uint64_t>{7, 8, 9, 10}));
  EXPECT_EQ(offsets_of(records_to_fold(0, 9, msgs)), (std::vector<uint64_t>{9, 10}));
  EXPECT_TRUE(records_to_fold(0, 11, msgs).empty());
  EXPECT_EQ(offsets_of(records_to_fold(0, 0, delivery({0, 2, 5}))), (std::vector<uint64_t>{0, 2, 5}));  // gaps kept
}

}  // namespace
}  // namespace gongji
