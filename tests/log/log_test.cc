// log/segment_log: framing, torn tails, idempotent appends, partitioning.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "events/event_json.h"
#include "log/crc32c.h"
#include "log/event_log.h"
#include "log/kafka_log.h"
#include "events/fb_codec.h"
#include "events/partition.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"

namespace fs = std::filesystem;

namespace gongji {
namespace {

using test::TempDir;

Event enrol(const std::string& id, const std::string& person, const std::string& status = "in_service") {
  return parse_event(R"({"type":"person_enrolled","id":")" + id + R"(","at":"2022-01-01","person":")" + person +
                     R"(","birth_date":"1970-01-01","scheme":"employee","status":")" + status + R"("})");
}

std::vector<std::string> ids(EventLog& log, int p) {
  std::vector<std::string> out;
  log.read(p, 0, [&](const LogRecord& r) {
    out.push_back(decode_event(r.payload).id());
    return true;
  });
  return out;
}

// The record checksum: CRC-32C's published check values (RFC 3720 B.4), whole words and a tail of single bytes.
TEST(SegmentLog, Crc32cGivesTheStandardValues) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c("3456789", 7, crc32c("12", 2)), 0xE3069283u);  // continued from an earlier part
}

TEST(SegmentLog, AppendsAreIdempotentByIdAndConflictsRefused) {
  TempDir d;
  auto log = open_segment_log(d.path.string(), 4);
  EXPECT_EQ(log->append(enrol("a", "P1")), AppendResult::appended);
  EXPECT_EQ(log->append(enrol("a", "P1")), AppendResult::duplicate);
  EXPECT_EQ(log->append(enrol("a", "P1", "retired")), AppendResult::conflict);
  log->sync();
  log.reset();
  log = open_segment_log(d.path.string(), 4);  // the id index survives a reopen
  EXPECT_EQ(log->append(enrol("a", "P1")), AppendResult::duplicate);
  EXPECT_EQ(log->append(enrol("a", "P1", "retired")), AppendResult::conflict);
  int p = partition_of("P1", 4);
  EXPECT_EQ(log->end_offset(p), 1u);
  EXPECT_EQ(ids(*log, p), std::vector<std::string>{"a"});
}

// TIME-ASOF: a record's ingestion time is when it reaches its segment file, where readers see it, not when append()
// buffered it (a --known-at asked between the two answered without it: a hunt's `replay --known-at` beside a paused
// `ingest -`, every time).
TEST(SegmentLog, ARecordsIngestionTimeIsWhenItIsWrittenWhereReadersSeeIt) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  ASSERT_EQ(log->append(enrol("e1", "P1")), AppendResult::appended);
  auto reader = open_segment_log(d / "log", 1, true);
  EXPECT_EQ(reader->end_offset(0), 0u);  // buffered: no reader sees it yet
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  const int64_t before_write =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  log->sync();
  int64_t stamped = 0;
  log->read(0, 0, [&](const LogRecord& r) {
    stamped = r.ingested_ms;
    return false;
  });
  EXPECT_GE(stamped, before_write);
  reader->refresh();
  ASSERT_EQ(reader->end_offset(0), 1u);
  reader->read(0, 0, [&](const LogRecord& r) {
    EXPECT_EQ(r.ingested_ms, stamped);
    return false;
  });
}

TEST(SegmentLog, GlobalEventsReachEveryPartition) {
  TempDir d;
  auto log = open_segment_log(d.path.string(), 3);
  log->append(parse_event(R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"F","level":1,)"
      R"("kind":"hospital"})"));
  log->sync();
  for (int p = 0; p < 3; ++p) EXPECT_EQ(ids(*log, p), std::vector<std::string>{"f"});
}

TEST(SegmentLog, KeepsItsPartitionCount) {
  TempDir d;
  open_segment_log(d.path.string(), 3);
  EXPECT_EQ(open_segment_log(d.path.string(), 8)->partitions(), 3);
}

// Appends the first `n` bytes of the segment's own first record to its end: what a crash in the middle of writing
// a record that was never synced leaves behind (`flip`: and one of its body bytes flipped).
void append_partial_record(const fs::path& seg, size_t n, bool flip = false) {
  std::string head = test::read_file(seg.string()).substr(0, n);
  if (flip) head[head.size() - 3] ^= 0x7f;
  std::ofstream(seg, std::ios::binary | std::ios::app) << head;
}

// A record cut mid-way (a crash during a write) is detected and truncated on open; what came before is kept.
TEST(SegmentLog, TornTailIsTruncatedOnOpen) {
  TempDir d;
  {
    auto log = open_segment_log(d.path.string(), 1);
    for (int i = 0; i < 4; ++i) log->append(enrol("e" + std::to_string(i), "P" + std::to_string(i)));
    log->sync();
  }
  fs::path seg = d.path / "p0000" / "00000000000000000000.seg";
  append_partial_record(seg, 30);  // cut into an unsynced fifth record
  {
    auto log = open_segment_log(d.path.string(), 1);
    EXPECT_EQ(log->end_offset(0), 4u);
    EXPECT_EQ(ids(*log, 0), (std::vector<std::string>{"e0", "e1", "e2", "e3"}));
    // The lost event can be ingested again; the truncated file accepts appends after the good records.
    EXPECT_EQ(log->append(enrol("e4", "P4")), AppendResult::appended);
    log->sync();
    EXPECT_EQ(ids(*log, 0).size(), 5u);
  }
}

TEST(SegmentLog, CorruptTailChecksumIsTruncated) {
  TempDir d;
  {
    auto log = open_segment_log(d.path.string(), 1);
    for (int i = 0; i < 2; ++i) log->append(enrol("e" + std::to_string(i), "P"));
    log->sync();
  }
  fs::path seg = d.path / "p0000" / "00000000000000000000.seg";
  append_partial_record(seg, fs::file_size(seg) / 2, true);  // a whole (unsynced) record, its checksum failing
  auto log = open_segment_log(d.path.string(), 1);
  EXPECT_EQ(log->end_offset(0), 2u);
}

// Cutting into a record the index recorded as synced is not a torn tail: the open refuses, naming file and byte.
TEST(SegmentLog, LostSyncedRecordIsRefused) {
  TempDir d;
  {
    auto log = open_segment_log(d.path.string(), 1);
    for (int i = 0; i < 3; ++i) log->append(enrol("e" + std::to_string(i), "P"));
    log->sync();
  }
  fs::path seg = d.path / "p0000" / "00000000000000000000.seg";
  auto size = fs::file_size(seg);
  fs::resize_file(seg, size - 3);
  try {
    open_segment_log(d.path.string(), 1);
    ADD_FAILURE() << "a lost synced record was accepted";
  } catch (const LogError& e) {
    EXPECT_NE(std::string(e.what()).find(seg.string() + " at byte " + std::to_string(size / 3 * 2)),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the index records 3 records synced, the partition holds 2"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::file_size(seg), size - 3);  // nothing changed
}

// A segment larger than the 4 MiB an open's scan reads at a time (log/segment_log.cc scan_segment): records across
// each read's boundary are whole, a torn tail past the first read is cut, a damaged record past it is refused naming
// its byte as one that valid records follow, and a read from an offset deep in it (the records before skipped in the
// stream's buffer) starts there.
TEST(SegmentLog, ASegmentLargerThanOneReadIsScannedWhole) {
  TempDir d;
  constexpr int kEvents = 80000;
  {
    auto log = open_segment_log(d.path.string(), 1);
    for (int i = 0; i < kEvents; ++i) log->append(enrol("e" + std::to_string(i), "P" + std::to_string(i)));
    log->sync();
  }
  const fs::path seg = d.path / "p0000" / "00000000000000000000.seg";
  const uint64_t size = fs::file_size(seg);
  ASSERT_GT(size, uint64_t{9} << 20) << "the scan reads 4 MiB at a time: two boundaries at least";
  const auto first_from = [](EventLog& log, uint64_t from) {
    std::string id;
    log.read(0, from, [&](const LogRecord& r) {
      id = decode_event(r.payload).id() + "@" + std::to_string(r.offset);
      return false;
    });
    return id;
  };
  {
    auto reader = open_segment_log(d.path.string(), 1, true);
    EXPECT_EQ(reader->end_offset(0), uint64_t{kEvents});
    EXPECT_EQ(first_from(*reader, kEvents - 1), "e79999@79999");
    EXPECT_EQ(first_from(*reader, 40000), "e40000@40000");
  }
  append_partial_record(seg, 30);  // torn, past the first read
  EXPECT_EQ(open_segment_log(d.path.string(), 1)->end_offset(0), uint64_t{kEvents});
  EXPECT_EQ(fs::file_size(seg), size);
  // Each record's start, read here from the frames' lengths (4 bytes of length, 4 of checksum, the body).
  const std::string data = test::read_file(seg.string());
  // The last record lying wholly in the scan's first read: the one after it straddles the read's end, so only a read
  // of the rest finds that valid records follow the damage.
  uint64_t start = 0;
  for (uint64_t at = 0, length = 0; at + 8 <= (uint64_t{4} << 20); at += 8 + length) {
    uint32_t l;
    std::memcpy(&l, data.data() + at, 4);
    length = l;
    if (at + 8 + length <= (uint64_t{4} << 20)) start = at;
  }
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(start + 12));
    f.put(static_cast<char>(data[start + 12] ^ 0x5a));
  }
  try {
    open_segment_log(d.path.string(), 1);
    ADD_FAILURE() << "a damaged record past the first read was accepted";
  } catch (const LogError& e) {
    EXPECT_NE(std::string(e.what()).find(seg.string() + " at byte " + std::to_string(start) +
                                         ": record at offset "),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fails its length or checksum and valid records follow it"),
              std::string::npos) << e.what();
  }
}

TEST(SegmentLog, ReadsFromAnOffset) {
  TempDir d;
  auto log = open_segment_log(d.path.string(), 1);
  for (int i = 0; i < 10; ++i) log->append(enrol("e" + std::to_string(i), "P"));
  log->sync();
  std::vector<uint64_t> offs;
  log->read(0, 7, [&](const LogRecord& r) {
    offs.push_back(r.offset);
    return true;
  });
  EXPECT_EQ(offs, (std::vector<uint64_t>{7, 8, 9}));
}

// Issue 11 item 5: --kafka-config, the librdkafka settings (security) every Kafka client of gongji takes.
TEST(KafkaConfig, PropertiesAreReadTrimmedAndEveryBadLineIsNamed) {
  TempDir d;
  auto file = [&](const std::string& text) {
    std::ofstream(d / "k.properties") << text;
    return d / "k.properties";
  };
  const auto c = read_kafka_config(file("# credentials\n\n security.protocol = SASL_SSL \nsasl.password=a=b\n"));
  EXPECT_EQ(c, (std::map<std::string, std::string>{{"sasl.password", "a=b"}, {"security.protocol", "SASL_SSL"}}));
  const std::string f = d / "k.properties";
  auto refusal = [&](const std::string& text) {
    return test::thrown<LogError>([&] { read_kafka_config(file(text)); });
  };
  EXPECT_EQ(refusal("security.protocol=SSL\nno equals sign\n"), f + ":2: expected key=value");
  EXPECT_EQ(refusal(" = x\n"), f + ":1: empty key");
  EXPECT_EQ(refusal("a=1\na=2\n"), f + ":2: a given twice");
  EXPECT_EQ(refusal("bootstrap.servers=h:1\n"), f + ":1: bootstrap.servers is given by --brokers");
  EXPECT_EQ(test::thrown<LogError>([&] { read_kafka_config(d / "absent"); }),
            "cannot read the Kafka config " + d / "absent");
}

}  // namespace
}  // namespace gongji
