#!/usr/bin/env python3
"""The expected partitions of tests/events/events_test.cc (Partition.PartitionsOfPeopleAndEvents), worked out outside the
code under test: Kafka's Utils.murmur2 transcribed from the Java (org.apache.kafka.common.utils.Utils), checked
against Kafka's own test vectors, then toPositive(h) % n as Kafka's default partitioner does (POLICY.md TIME-LOG).
Run: python3 tests/events/partition_vectors.py"""

M32 = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & M32
    for i in range(len(data) // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & M32
        k ^= k >> r
        k = (k * m) & M32
        h = ((h * m) & M32) ^ k
    tail = len(data) & ~3
    rest = len(data) % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & M32
    h ^= h >> 13
    h = (h * m) & M32
    h ^= h >> 15
    return h


def signed(h: int) -> int:
    return h - (1 << 32) if h & 0x80000000 else h


KAFKA_VECTORS = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
                 "a-little-bit-longer-string": -1486304829,
                 "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107}

if __name__ == "__main__":
    for key, want in KAFKA_VECTORS.items():
        assert signed(murmur2(key.encode())) == want, key
    print("Kafka's murmur2 vectors: ok")
    print("key        murmur2(signed)  partition for n = 1 2 3 4 5 8 16  (n = 3, 5 without the sign bit cleared)")
    for key in ["P1", "P2", "P3", "P0000001", "E1", "患者1"]:
        h = murmur2(key.encode())
        parts = [(h & 0x7FFFFFFF) % n for n in (1, 2, 3, 4, 5, 8, 16)]
        print(f"{key:10} {signed(h):12}  {parts}  ({h % 3}, {h % 5})")
