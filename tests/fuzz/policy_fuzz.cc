// Fuzz target: the policy loader (ledger/policy.h). Contract under test: load_policy_text accepts a YAML text or
// throws PolicyError naming the parameter, nothing else (no YAML exception, no std::out_of_range, no crash); an
// accepted policy answers at() for the first and the last day of its window.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ledger/policy.h"
#include "tests/fuzz/fuzz_check.h"

using namespace gongji;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::no_foreign_exception("policy", [&] {
    Policy p;
    try {
      p = load_policy_text(text, "fuzz input");
    } catch (const PolicyError&) {
      return;
    }
    FUZZ_CHECK(p.window_from() <= p.window_to(), "window ends before it starts");
    try {
      (void)p.at(p.window_from());
      (void)p.at(p.window_to());
    } catch (const PolicyError& err) {
      fuzz::finding(std::string("an accepted policy has no parameters inside its window: ") + err.what());
    }
  });
  return 0;
}
