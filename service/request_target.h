// A GET's request target as the query service reads it (README, the query service's refusals).
//
// Why not the HTTP library's own reading: it decodes the whole path before matching it, so an id holding '/' (sent
// as %2F, as the desk's page sends it) split into two segments: `/v1/persons/P%2F1` matched no route, and
// `/v1/persons/E1%2Fsettlements` answered E1's settlements; it took `a=1=2` as `a=2`, and a parameter given twice as
// its first value.
//
// Contract: the path is split at each '/' first, then each segment is percent-decoded, so an encoded '/' stays
// inside its segment; a '%' not followed by two hexadecimal digits is malformed (TargetError). The query (after the
// first '?') is split at '&' (empty pieces are passed over); each piece is a name up to its first '=' and a value
// after it (a piece without '=' has the value ""), both percent-decoded with '+' read as a space, as a form sends
// it. A name given twice is refused, naming it.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gongji {

// A malformed target: `parameter` names what the caller wrote wrongly ("path", or a query parameter's name, or
// "query" when the name itself does not decode); what() is "<parameter>: <detail>".
struct TargetError : std::runtime_error {
  TargetError(std::string p, std::string d)
      : std::runtime_error(p + ": " + d), parameter(std::move(p)), detail(std::move(d)) {}
  std::string parameter, detail;
};

// The path of `target` (up to '?' or '#'), its segments decoded: "/v1/persons/P%2F1" -> {"v1", "persons", "P/1"}.
// The leading '/' gives no segment; "//" and a trailing '/' give empty ones.
std::vector<std::string> path_segments(const std::string& target);

// The query of `target` as (name, value) pairs in the order sent; TargetError for a malformed escape or a name
// given twice.
std::vector<std::pair<std::string, std::string>> query_params(const std::string& target);

}  // namespace gongji
