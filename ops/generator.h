// A realistic synthetic population and its year of events, for the demo, the crash and determinism tests and the
// benchmark. Deterministic: the same options give the same events, byte for byte, on every machine.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace gongji {

struct GeneratorOptions {
  int people = 10000;
  uint64_t seed = 20221201;
  int first_year = 2023;  // visits from 2022-12-01 (T-START) through December of last_year
  int last_year = 2023;
  bool contributions = true;  // monthly contribution_paid for employees in service
};

// Calls `emit` with each event as a JSON line, in feeding order (by business date).
void generate_population(const GeneratorOptions& opt, const std::function<void(const std::string&)>& emit);

}  // namespace gongji
