// Fixtures of the service's tests: a data dir folded from a worked example, with a tokens file.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "service/auth.h"
#include "tests/fixtures.h"

namespace gongji::test {

// Ingests and folds the worked example employee_year into DIR/data, and writes DIR/tokens with one token,
// "ops-token", of role ops (name prometheus). Call under ASSERT_NO_FATAL_FAILURE.
inline void folded_example_with_ops_token(const TempDir& dir) {
  const std::string ex = std::string(GONGJI_SOURCE_DIR) + "/tests/scenarios/examples/employee_year.jsonl";
  ASSERT_EQ(run(gongji("ingest --data-dir " + dir / "data" + " " + ex + " >/dev/null")), 0);
  ASSERT_EQ(run(gongji("fold --data-dir " + dir / "data" + " >/dev/null")), 0);
  std::ofstream(dir / "tokens") << sha256_hex("ops-token") << " ops prometheus\n";
}

}  // namespace gongji::test
