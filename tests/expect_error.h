// Tests that can fail (issue 9 item 11): a refusal is checked by its type and by its message, never by "it threw".
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <string>

namespace gongji::test {

// The message of the E that `f` throws; "<no exception>" when `f` returns. Another exception is a test failure
// (its message returned after "<other exception> "), so the caller's message check fails too.
template <typename E, typename F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected another exception type, got: " << e.what();
    return std::string("<other exception> ") + e.what();
  }
  return "<no exception>";
}

// The line (1-based) of `text` on which `needle` first starts; 0 (and a test failure) when it is not there.
inline int line_on(const std::string& text, const std::string& needle) {
  const auto p = text.find(needle);
  EXPECT_NE(p, std::string::npos) << needle;
  if (p == std::string::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(p), '\n'));
}

// "<origin>:<line>: ", the line of `text` on which `needle` starts: what the policy loader puts before a value it
// refuses (ledger/policy.h).
inline std::string at_line(const std::string& text, const std::string& needle, const std::string& origin = "test") {
  const int line = line_on(text, needle);
  return line ? origin + ":" + std::to_string(line) + ": " : "";
}

}  // namespace gongji::test
