// service/request_target.h: a request target read segment by segment, then decoded; a query read whole values, each
// name once.
#include "service/request_target.h"

#include <gtest/gtest.h>

#include "tests/expect_error.h"

namespace gongji::test {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;
using Segments = std::vector<std::string>;

TEST(RequestTarget, ThePathIsSplitBeforeItIsDecoded) {
  EXPECT_EQ(path_segments("/v1/persons/P%2F1/claims/C%2f2?as_of=x"),
            (Segments{"v1", "persons", "P/1", "claims", "C/2"}));
  EXPECT_EQ(path_segments("/v1/persons/A+B%20C%25"), (Segments{"v1", "persons", "A+B C%"}));  // '+' is '+' in a path
  EXPECT_EQ(path_segments("/v1/persons/%E5%BC%A0"), (Segments{"v1", "persons", "\xE5\xBC\xA0"}));
  EXPECT_EQ(path_segments("/"), (Segments{""}));
  EXPECT_EQ(path_segments("/a//b/"), (Segments{"a", "", "b", ""}));
  EXPECT_EQ(path_segments("/a#b/c"), (Segments{"a"}));
  for (const char* bad : {"/v1/persons/P%2", "/v1/persons/P%", "/v1/persons/P%G1", "/v1/%2x/y"}) {
    try {
      path_segments(bad);
      ADD_FAILURE() << bad;
    } catch (const TargetError& e) {
      EXPECT_EQ(e.parameter, "path");
      EXPECT_STREQ(e.what(), "path: a '%' not followed by two hexadecimal digits (send '%' as %25)");
    }
  }
}

TEST(RequestTarget, AQueryValueIsEverythingAfterItsFirstEqualsSign) {
  EXPECT_EQ(query_params("/p"), Params{});
  EXPECT_EQ(query_params("/p?"), Params{});
  EXPECT_EQ(query_params("/p?as_of=2023-01-01=2024-12-31"), (Params{{"as_of", "2023-01-01=2024-12-31"}}));
  EXPECT_EQ(query_params("/p?known_at=2100-01-01T08:00:00+08:00&claim=A%2FB%2B1%25"),
            (Params{{"known_at", "2100-01-01T08:00:00 08:00"}, {"claim", "A/B+1%"}}));  // '+' a space, as a form
  EXPECT_EQ(query_params("/p?&kind&&claim=;x=1&"), (Params{{"kind", ""}, {"claim", ";x=1"}}));
  EXPECT_EQ(query_params("/p?a=1#b=2"), (Params{{"a", "1"}}));
  auto refused = [](const std::string& target, const std::string& parameter, const std::string& what) {
    try {
      query_params(target);
      ADD_FAILURE() << target;
    } catch (const TargetError& e) {
      EXPECT_EQ(e.parameter, parameter) << target;
      EXPECT_EQ(e.what(), what) << target;
    }
  };
  refused("/p?as_of=1&as_of=2", "as_of", "as_of: is given more than once");
  refused("/p?kind=a&kind=", "kind", "kind: is given more than once");
  refused("/p?as%5Fof=1&as_of=2", "as_of", "as_of: is given more than once");  // the same name once decoded
  refused("/p?claim=A%2", "claim", "claim: a '%' not followed by two hexadecimal digits (send '%' as %25)");
  refused("/p?cl%zaim=1", "query", "query: a '%' not followed by two hexadecimal digits (send '%' as %25)");
}

}  // namespace
}  // namespace gongji::test
