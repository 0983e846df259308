// Partitioning by person (POLICY.md TIME-LOG): Kafka's default partitioner, murmur2 of the key's UTF-8 bytes,
// made positive, modulo the partition count. The embedded log uses the same function, so both logs put every
// person in the same partition for the same count.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "events/event.h"

namespace gongji {

uint32_t kafka_murmur2(std::string_view key);
int partition_of(std::string_view person, int partitions);
// The partitions an event is appended to: its person's; every partition for facility events and period_closed;
// both people's for family_linked. Sorted, without repeats.
std::vector<int> partitions_for(const Event& e, int partitions);

}  // namespace gongji
