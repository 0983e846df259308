#include "events/partition.h"

#include <algorithm>

namespace gongji {

uint32_t kafka_murmur2(std::string_view key) {
  const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
  const int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  size_t length = key.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  size_t len4 = length / 4;
  for (size_t i = 0; i < len4; ++i) {
    size_t i4 = i * 4;
    uint32_t k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (static_cast<uint32_t>(data[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3: h ^= static_cast<uint32_t>(data[(length & ~3u) + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(data[(length & ~3u) + 1]) << 8; [[fallthrough]];
    case 1: h ^= data[length & ~3u]; h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

int partition_of(std::string_view person, int partitions) {
  return static_cast<int>((kafka_murmur2(person) & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

std::vector<int> partitions_for(const Event& e, int partitions) {
  std::vector<int> out;
  if (e.is_global()) {
    for (int p = 0; p < partitions; ++p) out.push_back(p);
    return out;
  }
  out.push_back(partition_of(*e.person(), partitions));
  if (const auto* link = e.as<FamilyLinked>()) {
    int q = partition_of(link->relative, partitions);
    if (q != out[0]) out.push_back(q);
    std::sort(out.begin(), out.end());
  }
  return out;
}

}  // namespace gongji
