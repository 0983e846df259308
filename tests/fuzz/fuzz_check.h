// What the fuzz targets share: how a target reports a finding. A finding is a broken property (a round trip that
// does not hold, a recovery that is not idempotent) or an exception of a type the code's contract does not name;
// it prints what broke and aborts, so that libFuzzer keeps the input as a crash artifact. Expected refusals
// (EventError, LogError, PolicyError) are not findings.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace gongji::fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs fn; an exception of any type but the expected ones (caught inside fn) is a finding naming `where`.
template <class Fn>
void no_foreign_exception(const char* where, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    finding(std::string(where) + ": unexpected exception: " + e.what());
  } catch (...) {
    finding(std::string(where) + ": unexpected non-std exception");
  }
}

}  // namespace gongji::fuzz

#define FUZZ_CHECK(cond, what)                                                  \
  do {                                                                          \
    if (!(cond)) ::gongji::fuzz::finding(std::string(#cond) + ": " + (what)); \
  } while (0)
