// replay/: point-in-time reconstruction against the live store (POLICY.md TIME-ASOF, TIME-REPLAY).
#include <random>

#include "replay/reconstruct.h"
#include "tests/fixtures.h"

namespace gongji::test {
namespace {

using nlohmann::json;

// For every day of a generated year, 100 random persons reconstructed from their own index equal the live
// store's as-of view.
TEST(Replay, PersonReconstructionEqualsLiveForEveryDay) {
  TempDir d;
  auto log = open_segment_log(d / "log", 8);
  ingest_lines(*log, generated(1500, 61));
  Store store(d / "state");
  store.fold(*log, default_policy());
  std::vector<std::string> people;
  store.scan("p/", [&](const std::string& k, std::string_view) { people.push_back(k.substr(7)); });
  ASSERT_GT(people.size(), 1000u);
  std::mt19937 rng(5);
  auto nofac = [](const std::string&) -> const FacilityState* { return nullptr; };
  int compared = 0;
  for (Date day = *parse_date("2022-12-01"); day <= *parse_date("2023-12-31"); ++day) {
    for (int i = 0; i < 100; ++i) {
      const std::string& id = people[rng() % people.size()];
      Reconstruction r = reconstruct_person(store, *log, id, default_policy());
      ASSERT_NE(r.state.person(id), nullptr) << id;
      json rebuilt = person_view(*r.state.person(id), day, default_policy(), nofac);
      json live = person_view(*store.person(id), day, default_policy(), nofac);
      ASSERT_EQ(rebuilt, live) << id << " on " << format_date(day);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 396 * 100);
}

// A late correction: a claim for a January service reversed in March. As known before the reversal was
// ingested the person shows the claim; as known after, not — and as of a business date before the reversal's own
// date, even the later knowledge still shows it (two time axes).
TEST(Replay, KnownAtBeforeAndAfterALateReversal) {
  TempDir d;
  auto log = open_segment_log(d / "log", 1);
  ingest_lines(*log, R"({"type":"facility_registered","id":"f","at":"2022-01-01","facility":"T1","level":1,"kind":"township_health_center","ordinary_outpatient":true}
{"type":"person_enrolled","id":"p","at":"2022-01-01","person":"P","birth_date":"1970-01-01","scheme":"employee","status":"in_service"}
{"type":"outpatient_designated","id":"d","at":"2023-01-02","person":"P","facility":"T1"}
{"type":"claim","id":"c","claim":"JAN","person":"P","facility":"T1","date":"2023-01-10","benefit":"ordinary","items":[{"category":"drug","amount":"1000.00"}]}
)");
  const uint64_t before_reversal = log->end_offset(0);
  ingest_lines(*log, R"({"type":"claim_reversed","id":"r","at":"2023-03-15","person":"P","claim":"JAN"})" "\n");
  Store store(d / "state");
  store.fold(*log, default_policy());
  auto nofac = [](const std::string&) -> const FacilityState* { return nullptr; };
  auto view = [&](const KnownAt& k, const char* as_of) {
    Reconstruction r = reconstruct_person(store, *log, "P", default_policy(), k);
    return person_view(*r.state.person("P"), *parse_date(as_of), default_policy(), nofac);
  };
  KnownAt then;
  then.offsets[0] = before_reversal;
  EXPECT_EQ(view(then, "2023-03-31")["ordinary"]["fund_paid"], "490.00");  // 700 x 70%
  EXPECT_EQ(view(then, "2023-03-31")["ordinary"]["limit_used"], "700.00");
  EXPECT_EQ(view({}, "2023-03-31")["ordinary"]["fund_paid"], "0.00");
  EXPECT_EQ(view({}, "2023-03-31")["ordinary"]["limit_used"], "0.00");
  EXPECT_EQ(view({}, "2023-03-14")["ordinary"]["fund_paid"], "490.00");
  EXPECT_EQ(view({}, "2023-03-31"), person_view(*store.person("P"), *parse_date("2023-03-31"), default_policy(), nofac));
  // The same through the command line, with the offset form of --known-at.
  std::string out;
  ASSERT_EQ(run(gongji("person --data-dir " + d.path.string() + " --person P --as-of 2023-03-31 --known-at 0:" +
                       std::to_string(before_reversal)), &out), 0) << out;
  EXPECT_EQ(json::parse(out)["ordinary"]["fund_paid"], "490.00");
}

}  // namespace
}  // namespace gongji::test
