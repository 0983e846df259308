// readback/output_lines.h: output lines read back into records, exactly (old stores' lines, migrated) or for what
// their fields say (lines changed by hand: the books, the outbox, explain).
#include "readback/output_lines.h"

#include <gtest/gtest.h>

#include "events/event_json.h"
#include "ledger/ledger.h"
#include "ledger/mem_state.h"
#include "ops/generator.h"
#include "tests/harness.h"

namespace gongji {
namespace {

// The first settlement and the first record of each kind that 200 generated people give, folded in memory.
struct Firsts {
  std::optional<Settlement> settlement;
  std::map<std::string, Record> records;
};
Firsts firsts() {
  Firsts f;
  test::for_each_generated_output(200, 3, [&](const Output& o) {
    if (o.settlement && !f.settlement && o.settlement->fund > 0) f.settlement = *o.settlement;
    if (o.record) f.records.try_emplace(o.kind, *o.record);
  });
  return f;
}

TEST(OutputLines, EveryKindReadsBackExactly) {
  const Firsts f = firsts();
  ASSERT_TRUE(f.settlement);
  const std::string line = f.settlement->to_line();
  const std::optional<Settlement> back = settlement_from_line(line);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_line(), line);
  EXPECT_EQ(back->fund, f.settlement->fund);
  ASSERT_GE(f.records.size(), 3u);  // reversals, refusals, account movements at least
  for (const auto& [kind, r] : f.records) {
    const std::optional<Record> read = record_from_line(record_line(r));
    ASSERT_TRUE(read) << kind;
    EXPECT_EQ(record_line(*read), record_line(r)) << kind;
  }
  EXPECT_FALSE(record_from_line(line)) << "a settlement is not a record of the other kinds";
  EXPECT_FALSE(settlement_from_line(record_line(f.records.begin()->second)));
  EXPECT_FALSE(settlement_from_line("not json"));
}

// A line changed by hand: not exact, so a migration refuses it; read for what its fields say, so the books see the
// changed amount; a key the fields do not hold (patient) changed: not exact, fields as they were.
TEST(OutputLines, ALineChangedByHandIsReadForWhatItsFieldsSay) {
  const Firsts f = firsts();
  ASSERT_TRUE(f.settlement);
  nlohmann::json j = nlohmann::json::parse(f.settlement->to_line());
  j["fund"] = "12345.67";
  EXPECT_FALSE(settlement_from_line(j.dump()));
  const std::optional<Settlement> changed = settlement_from_line(j.dump(), false);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->fund, 1234567);
  j = nlohmann::json::parse(f.settlement->to_line());
  j["patient"] = "0.01";
  EXPECT_FALSE(settlement_from_line(j.dump()));
  EXPECT_EQ(settlement_from_line(j.dump(), false)->to_line(), f.settlement->to_line());
  j.erase("fund");  // missing: 0, not exact
  EXPECT_EQ(settlement_from_line(j.dump(), false)->fund, 0);
}

TEST(OutputLines, RecordMoneyReadsSignedYuanAndZeroForAnythingElse) {
  const nlohmann::json r = {{"fund", "-466.67"}, {"amount", "12.30"}, {"n", 5}, {"bad", "12.3.4"}};
  EXPECT_EQ(record_money(r, "fund"), -46667);
  EXPECT_EQ(record_money(r, "amount"), 1230);
  EXPECT_EQ(record_money(r, "n"), 0);
  EXPECT_EQ(record_money(r, "bad"), 0);
  EXPECT_EQ(record_money(r, "absent"), 0);
}

}  // namespace
}  // namespace gongji
