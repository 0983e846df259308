// Tests that can fail (issue 9 item 11): a refusal is checked by its type and by its message, never by "it threw".
#pragma once
#include <gtest/gtest.h>

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

}  // namespace gongji::test
