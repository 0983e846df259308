// projections/: store format 11's month index (t/), which the month views read (service/queries.h): what each key
// holds, whatever the fold's batches and restarts, its migration from format 10, and a damaged entry.
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "oplog/oplog.h"
#include "tests/expect_error.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// One entry of a t/ value as store.h states it: the record's offset and number, its kind ('s', 'r' or 'a') and, of
// a settlement, its facility.
using Entry = std::tuple<uint64_t, uint64_t, char, std::string>;
using Index = std::map<std::string, std::vector<Entry>>;

// The month index the o/ records of `s` call for, from their own lines: a settlement under its date's month, a
// reversal under its claim's (`date`), an account credit or debit under its `at`; keyed by the block of 1,024
// offsets (the format's) holding the record; every other kind left out. `indexed`: records entered.
Index index_from_lines(const Store& s, size_t* indexed, size_t* records) {
  Index out;
  s.scan("o/", [&](const std::string& key, std::string_view v) {  // o/<partition>/<offset>/<n>
    ++*records;
    const json r = json::parse(output_line(v, key));
    const std::string kind = r["kind"];
    const uint64_t offset = std::stoull(key.substr(7, 16), nullptr, 16), n = std::stoull(key.substr(24), nullptr, 16);
    std::string month;
    char k = 0;
    if (kind == "settlement") month = r["date"], k = 's';
    else if (kind == "reversal") month = r["date"], k = 'r';
    else if (kind == "account_credit" || kind == "account_debit") month = r["at"], k = 'a';
    else return;
    char block[17];
    std::snprintf(block, sizeof block, "%016llx", static_cast<unsigned long long>(offset / 1024 * 1024));
    out["t/" + key.substr(2, 4) + "/" + month.substr(0, 7) + "/" + block].emplace_back(
        offset, n, k, k == 's' ? r.value("facility", "") : "");
    ++*indexed;
  });
  return out;
}

// A LEB128 varint of `v` at `at`, moved past it.
uint64_t varint(std::string_view v, size_t& at) {
  uint64_t x = 0;
  for (int shift = 0; at < v.size(); shift += 7) {
    const auto b = static_cast<uint8_t>(v[at++]);
    x |= uint64_t{b & 0x7fu} << shift;
    if (b < 0x80) return x;
  }
  ADD_FAILURE() << "a varint runs past the value";
  return x;
}

// The t/ keys of `s`, each value decoded by the layout store.h states: varint(offset - the key's block), varint(n),
// the kind, and of a settlement varint(size) and the facility.
Index index_of(const Store& s) {
  Index out;
  s.scan("t/", [&](const std::string& key, std::string_view v) {
    const uint64_t first = std::stoull(key.substr(key.size() - 16), nullptr, 16);
    for (size_t at = 0; at < v.size();) {
      const uint64_t offset = first + varint(v, at), n = varint(v, at);
      const char kind = v[at++];
      std::string facility;
      if (kind == 's') {
        const uint64_t size = varint(v, at);
        facility = std::string(v.substr(at, size));
        at += size;
      }
      out[key].emplace_back(offset, n, kind, facility);
    }
  });
  return out;
}

// The records `indexed` (format 11 or later) gives through its month index equal those a scan of every record of
// `scanned` (the same store at format 10) picks as the month views do, in the same order: for several months, with and
// without account movements, for a facility, and for one partition.
void expect_the_scans_records(const Store& indexed, const Store& scanned) {
  ASSERT_GE(indexed.format(), 11);
  ASSERT_EQ(scanned.format(), 10);
  size_t compared = 0;
  for (const char* text : {"2023-01", "2023-04", "2023-09", "2023-12", "2021-01"}) {
    const Month month = *parse_month(text);
    std::string facility;  // the month's first settlement's
    for (const auto& which : std::vector<Store::MonthRecords>{
             {month, std::nullopt, std::nullopt, true}, {month, std::nullopt, std::nullopt, false},
             {month, 1, std::nullopt, true}, {month, std::nullopt, "FACILITY", false}}) {
      Store::MonthRecords asked = which;
      if (asked.facility) asked.facility = facility;
      auto picks = [&](const Settlement* s, const Record* r) {
        if (s) return month_of(s->date) == month && (!asked.facility || s->facility == *asked.facility);
        if (const auto* v = std::get_if<Reversal>(r)) return month_of(v->date) == month;
        if (const auto* m = std::get_if<AccountMovement>(r)) return asked.movements && month_of(m->at) == month;
        return false;
      };
      std::vector<std::string> through_index, by_scan;
      indexed.month_outputs_as_data(asked, [&](const Settlement* s, const Record* r) {
        if (s && facility.empty()) facility = s->facility;
        through_index.push_back(s ? s->to_line() : record_line(*r));
        return true;
      });
      auto scan = [&](const Settlement* s, const Record* r) {
        if (picks(s, r)) by_scan.push_back(s ? s->to_line() : record_line(*r));
        return true;
      };
      if (asked.partition) scanned.outputs_of_as_data(*asked.partition, scan);
      else scanned.outputs_as_data(scan);
      EXPECT_EQ(through_index, by_scan) << text;
      compared += by_scan.size();
    }
  }
  EXPECT_GT(compared, 10000u);
}

// Each month's counted records in blocks of 1,024 log offsets, one key a month and block: the same keys and values
// from one batch as from batches of 997 and then 3,001 records with a stop in the middle of a block in between (the
// chunk of a block is put again as it grows across commits, and a folder that starts in the middle of a block
// rebuilds it from the block's records); the entries are those the records' own lines call for. Read through the
// index, a month's records (of a facility, without account movements, of one partition) are those a scan of every
// record of a store of format 10 (no t/ keys, read-only) picks, in the same order; that store still has its default
// --as-of (format 10's l/ keys). A writable open gives it the same index, saying so.
TEST(MonthIndex, HoldsTheRecordsLinesCallForWhateverTheBatchesAndIsBuiltForFormat10) {
  TempDir d;
  auto log = open_segment_log(d / "log", 2);
  ingest_lines(*log, generated(1500));
  ASSERT_GT(log->end_offset(0), 8 * 1024u);  // blocks enough for months to straddle them
  ASSERT_GT(log->end_offset(1), 8 * 1024u);
  std::string digest;
  size_t indexed = 0, records = 0;
  {
    Store whole(d / "whole");
    FoldOptions one;
    one.batch_events = 1000000;
    whole.fold(*log, default_policy(), one);
    digest = whole.digest();
    const Index expected = index_from_lines(whole, &indexed, &records);
    const Index index = index_of(whole);
    EXPECT_GT(index.size(), 50u);
    EXPECT_EQ(index, expected);
    EXPECT_GT(indexed, 10000u);
    EXPECT_LT(indexed, records);  // refusals and the like are not counted by any month view
  }
  {
    Store pieces(d / "pieces");
    FoldOptions a;
    a.batch_events = 997;
    a.until = {{0, 4 * 1024 + 500}, {1, 2 * 1024 + 7}};
    pieces.fold(*log, default_policy(), a);
    EXPECT_NE(pieces.digest(), digest);
    FoldOptions b;
    b.batch_events = 3001;
    pieces.fold(*log, default_policy(), b);
    EXPECT_EQ(pieces.digest(), digest);
  }
  fs::copy(d / "whole", d / "old", fs::copy_options::recursive);
  {
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), d / "old", &db).ok());
    rocksdb::WriteBatch b;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("t/"); it->Valid() && it->key().starts_with("t/"); it->Next()) b.Delete(it->key());
    b.Put("n/format", "10");
    EXPECT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
    it.reset();
    delete db;
  }
  {
    Store ro(d / "old", true);
    EXPECT_EQ(ro.format(), 10);
    EXPECT_NE(ro.digest(), digest);
    size_t passed = 0;  // no index: every record is passed
    ro.month_outputs_as_data({*parse_month("2023-03"), std::nullopt, std::nullopt, true},
                             [&](const Settlement*, const Record*) { return ++passed, true; });
    EXPECT_EQ(passed, records);
    EXPECT_EQ(ro.latest_date(0), Store(d / "whole", true).latest_date(0));
    ASSERT_NO_FATAL_FAILURE(expect_the_scans_records(Store(d / "whole", true), ro));
  }
  std::vector<std::string> said;
  oplog::set_sink_for_tests([&](const std::string& line) { said.push_back(line); });
  {
    Store s(d / "old");
    EXPECT_EQ(s.format(), kStoreFormat);  // then 12 to 14, its persons already in the newest person format
    EXPECT_EQ(s.digest(), digest);
  }
  oplog::set_sink_for_tests(nullptr);
  const std::string migrated = "migrated the store at " + d / "old" + " to format 11: " + std::to_string(indexed) +
                               " of " + std::to_string(records) + " output records indexed by month";
  EXPECT_EQ(std::count_if(said.begin(), said.end(), [&](const std::string& l) { return l.ends_with(migrated); }), 1)
      << testing::PrintToString(said);
}

// A poison record past the first block, in a batch that began in the middle of it (offset 1,000), throwing after it
// changed the state (so the batch is rolled back): the block's chunks, holding the entries committed before the
// batch, were put into it when the records crossed into the next block; the rollback takes the chunks back to what
// was committed, clears the batch and applies its records again. The store equals a fold whose batches hold one
// record each (no rollback crosses a block).
TEST(MonthIndex, ARollbackAcrossABlockPutsTheBlocksChunksAgain) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  std::istringstream lines(generated(200));
  std::string line, rest, poison;
  while (log->end_offset(0) < 1024 + 300 && std::getline(lines, line)) log->append(parse_event(line));
  for (; std::getline(lines, line);) rest += line + "\n";
  poison = parse_event(rest.substr(0, rest.find('\n'))).id();  // the event at offset 1,324 or so
  ingest_lines(*log, rest);
  ASSERT_GT(log->end_offset(0), 2 * 1024u);
  size_t calls_one = 0, calls_each = 0;
  FoldOptions one, each;
  one.batch_events = 1000000;
  each.batch_events = 1;
  one.apply_hook = [&](const Event& e) {
    ++calls_one;
    if (e.id() == poison) throw std::runtime_error("injected after the state changed");
  };
  each.apply_hook = [&](const Event& e) {
    ++calls_each;
    if (e.id() == poison) throw std::runtime_error("injected after the state changed");
  };
  Store a(d / "one"), b(d / "each");
  FoldOptions to_1000 = one;
  to_1000.until = {{0, 1000}};
  EXPECT_EQ(a.fold(*log, default_policy(), to_1000).dead_letters, 0u);
  EXPECT_EQ(a.fold(*log, default_policy(), one).dead_letters, 1u);
  EXPECT_EQ(b.fold(*log, default_policy(), each).dead_letters, 1u);
  EXPECT_GT(calls_one, calls_each + 300);  // the batch's records before the poison, applied again after the rollback
  EXPECT_EQ(a.digest(), b.digest());
  size_t first_block = 0;
  a.scan("t/", [&](const std::string& k, std::string_view) { first_block += k.ends_with("/0000000000000000"); });
  EXPECT_GT(first_block, 0u);
}

// The records a month's keys name, in log order, filtered as asked (a facility's settlements and every reversal; no
// account movements), and a damaged key: an entry cut short, or one naming a record the store does not hold, is a
// StoreError naming the key, never skipped.
TEST(MonthIndex, ReadsTheMonthsRecordsAndRefusesADamagedEntry) {
  TempDir d;
  auto log = open_segment_log(d / "log", 2);
  ingest_lines(*log, generated(300));
  Store s(d / "state");
  s.fold(*log, default_policy());
  const Month march = *parse_month("2023-03");
  size_t settlements = 0, reversals = 0, movements = 0, others = 0;
  std::string facility;
  s.month_outputs_as_data({march, std::nullopt, std::nullopt, true}, [&](const Settlement* st, const Record* r) {
    Date date = 0;
    if (st) ++settlements, facility = st->facility, date = st->date;
    else if (const auto* v = std::get_if<Reversal>(r)) ++reversals, date = v->date;
    else if (const auto* m = std::get_if<AccountMovement>(r)) ++movements, date = m->at;
    else ++others;
    EXPECT_EQ(month_of(date), march);
    return true;
  });
  EXPECT_GT(settlements, 50u);
  EXPECT_GT(movements, 50u);
  EXPECT_GT(reversals, 0u);
  EXPECT_EQ(others, 0u);
  size_t of_facility = 0, reversals_too = 0;
  s.month_outputs_as_data({march, 1, facility, false}, [&](const Settlement* st, const Record* r) {
    if (st) {
      ++of_facility;
      EXPECT_EQ(st->facility, facility);
    } else {
      ++reversals_too;
      EXPECT_TRUE(std::holds_alternative<Reversal>(*r));
    }
    return true;
  });
  EXPECT_GT(of_facility, 0u);
  EXPECT_LT(of_facility, settlements);
  EXPECT_GT(reversals_too, 0u);  // every reversal of the month: the view matches them to the facility's claims

  std::string key, value;
  s.scan("t/0001/2023-03/", [&](const std::string& k, std::string_view v) {
    if (key.empty()) key = k, value = std::string(v);
  });
  ASSERT_GT(value.size(), 4u);
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key, value + "\xff").ok());  // a varint that runs past the end
  EXPECT_EQ(thrown<StoreError>([&] { s.month_outputs_as_data({march, 1, std::nullopt, true}, {}); }),
            "the store at " + s.dir() + " holds a damaged month index entry under " + key);
  size_t at = 0;
  const uint64_t offset = std::stoull(key.substr(key.size() - 16), nullptr, 16) + varint(value, at);
  const uint64_t n = varint(value, at);
  const char kind = value[at++];
  if (kind == 's') at += varint(value, at);
  ASSERT_LE(at, value.size());
  // The first entry twice: a record listed twice would be counted twice.
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key, value.substr(0, at) + value).ok());
  EXPECT_EQ(thrown<StoreError>([&] { s.month_outputs_as_data({march, 1, std::nullopt, true}, {}); }),
            "the store at " + s.dir() + " holds a damaged month index entry under " + key);
  // The first entry's record taken out: its key named.
  ASSERT_TRUE(s.db()->Put(rocksdb::WriteOptions(), key, value).ok());
  char record[40];
  std::snprintf(record, sizeof record, "o/0001/%016llx/%08llx", static_cast<unsigned long long>(offset),
                static_cast<unsigned long long>(n));
  ASSERT_TRUE(s.db()->Delete(rocksdb::WriteOptions(), record).ok());
  EXPECT_EQ(thrown<StoreError>([&] { s.month_outputs_as_data({march, 1, std::nullopt, true}, {}); }),
            "the month index (t/) of the store at " + s.dir() + " names " + record + " (under " + key +
                "), which the store does not hold");
  EXPECT_NO_THROW(s.month_outputs_as_data({march, 0, std::nullopt, true}, [](auto, auto) { return true; }));
}

// A migration to format 11 stopped midway (a crash) leaves format 10 with part of the index, and what else was under
// t/ (here: a chunk of the first design's block size, and one cut short): the next writable open deletes every t/
// key and puts the index again whole, to the store a fold from zero builds (same digest).
TEST(MonthIndex, AnInterruptedMigrationIsRedoneWhole) {
  TempDir d;
  auto log = open_segment_log(d / "log", 2);
  ingest_lines(*log, generated(300));
  std::string digest;
  {
    Store s(d / "state");
    s.fold(*log, default_policy());
    digest = s.digest();
    rocksdb::WriteBatch b;
    size_t kept = 0;
    s.scan("t/", [&](const std::string& k, std::string_view v) {
      if (kept++ % 2) b.Delete(k);
      else if (kept % 3 == 0) b.Put(k, std::string(v.substr(0, v.size() / 2)));
    });
    b.Put("t/0001/2023-02/0000000000001000", "stale");
    b.Put("n/format", "10");
    ASSERT_TRUE(s.db()->Write(rocksdb::WriteOptions(), &b).ok());
    EXPECT_GT(kept, 10u);
  }
  {
    Store ro(d / "state", true);
    EXPECT_EQ(ro.format(), 10);
    EXPECT_NE(ro.digest(), digest);
  }
  Store s(d / "state");
  EXPECT_EQ(s.format(), kStoreFormat);  // and on to 12 to 14 (its persons already in the newest person format)
  EXPECT_EQ(s.digest(), digest);
}

}  // namespace
}  // namespace gongji::test
