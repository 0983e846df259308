// ingest/ingest.h (issue 9 item 6): the one ingest that `gongji ingest` and serve's POST /v1/events use, and the one
// dead-letter form. The command line's own behaviour is in tests/consumers/cli_test.cc (Cli.IngestRefusesMalformed).
#include "ingest/ingest.h"

#include <gtest/gtest.h>

#include <sstream>

#include "log/io_error.h"
#include "tests/fixtures.h"

namespace gongji {
namespace {

using test::TempDir;

const std::string kFacility =
    R"({"type":"facility_registered","id":"e1","at":"2022-01-01","facility":"F100","name":"卫生院","level":1,)"
    R"("tcm":false,"kind":"township_health_center","ordinary_outpatient":true})";
const std::string kOther =
    R"({"type":"facility_registered","id":"e2","at":"2022-01-01","facility":"F101","name":"站","level":0,)"
    R"("tcm":false,"kind":"village_clinic","parent":"F100","ordinary_outpatient":true})";

struct Recorded : DeadLetterSink {
  std::vector<std::string> lines;
  std::vector<IngestRefusal> refusals;
  int syncs = 0;
  bool fail_sync = false;
  void put(const IngestRefusal& r, const std::string& line) override {
    refusals.push_back(r);
    lines.push_back(line);
  }
  void sync() override {
    ++syncs;
    if (fail_sync) throw LogError(io_error(ENOSPC, "recorded-sink"));
  }
};

TEST(Ingest, TheDeadLetterFormIsOneSortedJsonObject) {
  const IngestRefusal r{"events.jsonl", 7, IngestCode::invalid, "amount", "field 'amount': expected money", "{x"};
  EXPECT_EQ(dead_letter_line(r), R"({"code":"INVALID","field":"amount","line":7,"raw":"{x",)"
                                 R"("reason":"field 'amount': expected money","source":"events.jsonl"})");
  // Bytes that are not UTF-8 are replaced by U+FFFD, never a throw.
  const IngestRefusal bad{"http:billing", 1, IngestCode::too_large, "", "too large", "a\xff"};
  EXPECT_EQ(dead_letter_line(bad), "{\"code\":\"TOO_LARGE\",\"field\":\"\",\"line\":1,\"raw\":\"a\xef\xbf\xbd\","
                                   "\"reason\":\"too large\",\"source\":\"http:billing\"}");
  EXPECT_EQ(spelled(IngestCode::id_conflict), "ID_CONFLICT");
}

TEST(Ingest, AppendsValidLinesAndRefusesTheRestToEverySinkInLineOrder) {
  TempDir d;
  auto log = open_segment_log(d / "log", 2);
  Recorded a, b;
  Ingestor ingestor(*log, {&a, &b}, events_md_codes());
  std::string conflict = kFacility;
  conflict.replace(conflict.find("卫生院"), std::string("卫生院").size(), "另一个");
  std::istringstream in(kFacility + "\n\n   \n{not json\n" + kFacility + "\n" + conflict + "\n" + kOther + "\n" +
                        R"({"type":"facility_registered","id":"e3"})" + "\n");
  std::vector<uint64_t> seen;
  const IngestCounts n = ingestor.ingest(in, "in.jsonl", [&](const IngestRefusal& r) {
    EXPECT_EQ(a.refusals.size(), seen.size() + 1) << "the sinks see a refusal before the caller";
    seen.push_back(r.line);
  });
  EXPECT_EQ(n.appended, 2u);
  EXPECT_EQ(n.duplicate, 1u);
  EXPECT_EQ(n.refused, 3u);
  EXPECT_EQ(seen, (std::vector<uint64_t>{4, 6, 8}));  // blank lines count: these are the file's line numbers
  ASSERT_EQ(a.refusals.size(), 3u);
  EXPECT_EQ(a.lines, b.lines);
  EXPECT_EQ(a.refusals[0].code, IngestCode::invalid);
  EXPECT_EQ(a.refusals[0].field, "");
  EXPECT_EQ(a.refusals[0].raw, "{not json");
  EXPECT_EQ(a.refusals[1].code, IngestCode::id_conflict);
  EXPECT_EQ(a.refusals[1].field, "id");
  EXPECT_EQ(a.refusals[1].reason, "event id e1 is already in the log with other content");
  EXPECT_EQ(a.refusals[1].raw, conflict);
  EXPECT_EQ(a.refusals[2].code, IngestCode::invalid);
  EXPECT_EQ(a.refusals[2].source, "in.jsonl");
  EXPECT_NE(a.refusals[2].reason.find("missing"), std::string::npos) << a.refusals[2].reason;
  EXPECT_EQ(a.syncs, 1);
  EXPECT_EQ(b.syncs, 1);
  // The appended events are in the log (facility events are global: a copy in each partition).
  log.reset();
  log = open_segment_log(d / "log", 2);
  for (int p = 0; p < 2; ++p) EXPECT_EQ(log->end_offset(p), 2u) << "partition " << p;
}

TEST(Ingest, CodesAreCheckedUnderTheGivenLists) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  Recorded sink;
  CodeLists codes = events_md_codes();
  codes.category.erase("acupuncture");
  Ingestor ingestor(*log, {&sink}, codes);
  std::string line;
  for (std::ifstream f(std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/every_type.jsonl"); std::getline(f, line);)
    if (line.find("\"acupuncture\"") != std::string::npos) break;
  ASSERT_NE(line.find("\"acupuncture\""), std::string::npos);
  std::istringstream in(line + "\n");
  const IngestCounts n = ingestor.ingest(in, "-");
  EXPECT_EQ(n.refused, 1u);
  ASSERT_EQ(sink.refusals.size(), 1u);
  EXPECT_NE(sink.refusals[0].field.find("category"), std::string::npos) << sink.refusals[0].field;
}

// A dead letter that cannot be made durable is an error out of ingest, never a silent loss.
TEST(Ingest, ASinkThatCannotSyncFailsTheIngest) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  Recorded sink;
  sink.fail_sync = true;
  Ingestor ingestor(*log, {&sink}, events_md_codes());
  std::istringstream in("{bad\n");
  try {
    ingestor.ingest(in, "-");
    FAIL() << "no error";
  } catch (const LogError& e) {
    EXPECT_NE(std::string(e.what()).find("no space left on device: recorded-sink"), std::string::npos) << e.what();
  }
}

TEST(Ingest, TheDeadLetterFileGetsOneLinePerRefusal) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  {
    DeadLetterFile file(d / "dead.jsonl");
    Ingestor ingestor(*log, {&file}, events_md_codes());
    std::istringstream in("{bad\n" + kFacility + "\n[]\n");
    EXPECT_EQ(ingestor.ingest(in, "x.jsonl").refused, 2u);
  }
  std::istringstream text(test::read_file(d / "dead.jsonl"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(text, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].starts_with(R"({"code":"INVALID","field":"","line":1,"raw":"{bad","reason":")")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with(R"({"code":"INVALID","field":"","line":3,"raw":"[]","reason":")")) << lines[1];
  for (const std::string& l : lines) EXPECT_TRUE(l.ends_with(R"(","source":"x.jsonl"})")) << l;
}

}  // namespace
}  // namespace gongji
