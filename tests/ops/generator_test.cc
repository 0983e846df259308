// The population generator (ops/generator.h, issue 10 item 1): deterministic bytes, every event valid and already
// in canonical form over the policy's whole window, about 5% of claims logged late, memory that does not grow with
// the span.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "events/event.h"
#include "events/event_json.h"
#include "ops/generator.h"

namespace gongji {
namespace {

std::string generate(const GeneratorOptions& opt) {
  std::string out;
  generate_population(opt, [&](const std::string& l) { out += l + "\n"; });
  return out;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

TEST(Generator, SameOptionsSameBytesAndPinnedOutput) {
  GeneratorOptions opt;
  opt.people = 300;
  opt.seed = 7;
  const std::string a = generate(opt), b = generate(opt);
  EXPECT_EQ(a, b);
  // The first record and the size are fixed by the generator's contract; the hash pins every byte (a deliberate
  // change to the generator updates it; an accidental one, or another machine's arithmetic, fails here).
  EXPECT_EQ(a.substr(0, a.find('\n')),
            R"({"at":"2022-07-01","facility":"TH0","id":"g1","kind":"community_health_center","level":1,)"
            R"("name":"TH0","ordinary_outpatient":true,"tcm":false,"type":"facility_registered"})");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 4145);
  EXPECT_EQ(a.size(), 719992u);
  EXPECT_EQ(fnv1a(a), 15455932674370758590ull);
  opt.seed = 8;
  EXPECT_NE(generate(opt), a);
}

// Residents' TCM visits at 40+ (its --help): most acupuncture-led (acupuncture items cost more than the other TCM
// items, POLICY.md ORD-ACU), and some led by other therapy, which ORD-ACU refuses, so that a generated population
// exercises that refusal. Counted from the claims' items, not from a fold.
TEST(Generator, TcmVisitsAreMostlyAcupunctureLedAndSomeAreNot) {
  GeneratorOptions opt;
  opt.people = 3000;
  int led = 0, not_led = 0;
  generate_population(opt, [&](const std::string& l) {
    if (l.find("\"therapy\":\"T01\"") == std::string::npos) return;
    const nlohmann::json c = nlohmann::json::parse(l);
    long acupuncture = 0, other = 0;
    for (const auto& it : c["items"]) {
      const long fen = std::lround(std::stod(it["amount"].get<std::string>()) * 100);
      if (it["category"] == "acupuncture") acupuncture += fen;
      else if (it["category"] == "tcm_other") other += fen;
    }
    ++(acupuncture > other ? led : not_led);
    // Menopausal complaints are among the conditions Annex 1 treats with acupuncture: their visits stay led.
    if (c["diagnosis"] == "menopausal") {
      EXPECT_GT(acupuncture, other) << l;
    }
  });
  EXPECT_GT(led, 300);
  EXPECT_GT(not_led, 20);
  EXPECT_LT(not_led * 2, led);  // one in 50 other visits against 8% of all drawn as TCM: about a fifth as many
}

// Prenatal and menopausal visits are women's only (its --help), and about half the persons are women: the prenatal
// visits' share of women's visits is doubled, so there are as many as when anyone aged 20-44 could have them.
TEST(Generator, OnlyWomenHavePrenatalOrMenopausalVisits) {
  GeneratorOptions opt;
  opt.people = 3000;
  int prenatal = 0, menopausal = 0, women = 0;
  generate_population(opt, [&](const std::string& l) {
    const bool is_prenatal = l.find("\"benefit\":\"prenatal\"") != std::string::npos;
    const bool is_menopausal = l.find("\"diagnosis\":\"menopausal\"") != std::string::npos;
    if (!is_prenatal && !is_menopausal) return;
    const std::string person = nlohmann::json::parse(l)["person"];
    EXPECT_TRUE(generated_woman(opt.seed, std::stoi(person.substr(1)))) << l;
    prenatal += is_prenatal, menopausal += is_menopausal;
  });
  for (int i = 0; i < opt.people; ++i) women += generated_woman(opt.seed, i);
  EXPECT_GT(women, 1400);
  EXPECT_LT(women, 1600);
  EXPECT_GT(prenatal, 120);  // 3% of the 20-44s' visits (0.35 a month, about 40% of 3,000 people): about 150
  EXPECT_GT(menopausal, 20);
}

// Over the whole window (2022-07..2027-06) every line parses, is valid, and is already canonical.
TEST(Generator, EveryEventOfTheWholeWindowIsValidAndCanonical) {
  GeneratorOptions opt;
  opt.people = 150;
  opt.from = make_month(2022, 7);
  opt.to = make_month(2027, 6);
  size_t n = 0, closes = 0;
  generate_population(opt, [&](const std::string& l) {
    Event e = parse_event(l);
    EXPECT_EQ(canonical_json(e), l);
    ++n;
    if (l.find("\"type\":\"period_closed\"") != std::string::npos) ++closes;
  });
  EXPECT_EQ(closes, 60u);  // one per month, 2022-07..2027-06
  EXPECT_GT(n, 150u * 50);  // about 11 a year each, plus enrolment, designation and filings
}

// A claim is late when it is logged after an event of the same person dated after the claim's service date.
TEST(Generator, AboutFivePercentOfClaimsAreLoggedLate) {
  GeneratorOptions opt;
  opt.people = 3000;
  std::map<std::string, std::string> latest;  // person -> latest date logged so far
  size_t claims = 0, late = 0;
  generate_population(opt, [&](const std::string& l) {
    auto j = nlohmann::json::parse(l);
    if (!j.contains("person")) return;
    const std::string p = j["person"], d = j.contains("date") ? j["date"] : j["at"];
    if (j["type"] == "claim") {
      ++claims;
      if (latest.count(p) && d < latest[p]) ++late;
    }
    if (d > latest[p]) latest[p] = d;
  });
  ASSERT_GT(claims, 3000u * 7);
  const double share = static_cast<double>(late) / static_cast<double>(claims);
  EXPECT_GT(share, 0.04) << late << " of " << claims;
  EXPECT_LT(share, 0.065) << late << " of " << claims;
  opt.late_share = 0;
  claims = late = 0;
  latest.clear();
  generate_population(opt, [&](const std::string& l) {
    auto j = nlohmann::json::parse(l);
    if (j["type"] != "claim") return;
    ++claims;
    const std::string p = j["person"], d = j["date"];
    if (latest.count(p) && d < latest[p]) ++late;
    if (d > latest[p]) latest[p] = d;
  });
  EXPECT_EQ(late, 0u);
}

TEST(Generator, OptionsOutsideTheWindowAreRefusedNamingTheOption) {
  GeneratorOptions opt;
  opt.from = make_month(2022, 6);
  EXPECT_EQ(check_generator_options(opt), "--from: 2022-06 is outside the policy window 2022-07..2027-06");
  opt.from = make_month(2023, 1);
  opt.to = make_month(2027, 7);
  EXPECT_EQ(check_generator_options(opt), "--to: 2027-07 is outside the policy window 2022-07..2027-06");
  opt.to = make_month(2022, 12);
  EXPECT_EQ(check_generator_options(opt), "--to: 2022-12 is before --from 2023-01");
  opt.to = make_month(2023, 12);
  opt.people = 0;
  EXPECT_EQ(check_generator_options(opt), "--people: 0 is outside 1..9999999");
  EXPECT_THROW(generate_population(opt, [](const std::string&) {}), std::invalid_argument);
}

// Peak RSS in KiB of `gongji-generate ARGS > /dev/null`, from GNU time (-1 when it fails). Not wait4's rusage:
// a child forked from this test process would count the test's own pages until it execs.
long generator_peak_kib(const std::string& args) {
  char tmpl[] = "/tmp/gongji-gen-rss-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  close(fd);
  const std::string cmd = std::string("/usr/bin/time -f %M -o ") + tmpl + " " + GONGJI_GENERATE_BIN + " " + args +
                          " > /dev/null";
  long kib = -1;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(tmpl);
    in >> kib;
  }
  std::remove(tmpl);
  return kib;
}

// Streaming: 24 months take the memory of 2 (it grows with people and one month's events, not with the span).
TEST(Generator, MemoryDoesNotGrowWithTheSpan) {
  if (access("/usr/bin/time", X_OK) != 0) GTEST_SKIP() << "needs GNU time (Debian package time)";
  const long two = generator_peak_kib("--people 40000 --from 2023-01 --to 2023-02");
  const long many = generator_peak_kib("--people 40000 --from 2023-01 --to 2024-12");
  ASSERT_GT(two, 0);
  ASSERT_GT(many, 0);
  EXPECT_LT(many, two * 12 / 10 + 2048) << "2 months: " << two << " KiB, 24 months: " << many << " KiB";
  EXPECT_LT(many, 64 * 1024) << "40,000 people should need well under 64 MiB";
}

}  // namespace
}  // namespace gongji
