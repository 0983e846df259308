// A realistic synthetic population and its events, for the demo, the crash and determinism tests and the
// benchmarks, up to the size of Weihai (about 2.9 million insured) and the policy's whole window (2022-07 to
// 2027-06). Deterministic: the same options give the same events, byte for byte, on every machine.
//
// It streams: events are made month by month, each person's month from its own random stream (seed, person,
// month), and each month's events are written in order before the next month is made. Memory is a few dozen bytes
// per person plus one month's events; it does not grow with the number of months.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "events/date.h"

namespace gongji {

struct GeneratorOptions {
  int people = 10000;  // 1 .. kMaxPeople; ids P0000000, P0000001, ...
  uint64_t seed = 20221201;
  Month from = make_month(2022, 12);  // first month with visits, contributions and period closes (T-START)
  Month to = make_month(2023, 12);    // last such month; events dated after it (refunds, late claims) follow it
  bool contributions = true;          // monthly contribution_paid for employees in service
  // Chance that a claim is held back 3 to 10 weeks before it is logged, behind later-dated events of its person
  // (a real feed's late reports). The default makes about 5% of claims late in that sense.
  double late_share = 0.08;
};

inline constexpr int kMaxPeople = 9999999;
inline constexpr Month kGeneratorFirstMonth = 2022 * 12 + 6;  // 2022-07: the policy window's first month
inline constexpr Month kGeneratorLastMonth = 2027 * 12 + 5;   // 2027-06: its last

// "" when the options are usable; otherwise what is wrong, naming the option.
std::string check_generator_options(const GeneratorOptions& opt);

// The assumptions behind the population's mix (ages, schemes, statuses, tiers, facilities, visit rates), one per
// line, for `gongji-generate --help`.
const char* generator_assumptions();

// Whether the generator's person `index` (person id P%07d) is a woman: the population's half that alone has prenatal
// and menopausal visits. No event carries a person's sex (EVENTS.md), so this is where it can be read.
bool generated_woman(uint64_t seed, int index);

// Calls `emit` with each event as a JSON line (keys sorted, money as strings), in feeding order: by the date it is
// logged (a late claim: the day it arrives), then reference data, person events, claims, period closes, then
// creation order. Throws std::invalid_argument when check_generator_options refuses the options.
void generate_population(const GeneratorOptions& opt, const std::function<void(const std::string&)>& emit);

}  // namespace gongji
