// CRC-32C (Castagnoli), the checksum framing every record of the embedded log.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gongji {
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
}
