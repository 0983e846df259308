// A settlement (POLICY.md §4) and its trace: every step names the rule ID of POLICY.md and its article.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/event.h"

namespace gongji {

// A money field of an output record ("-466.67" allowed); 0 when absent or not money.
Money record_money(const nlohmann::json& record, const char* field);

// The article each rule ID of POLICY.md rests on.
const char* article_of(const std::string& rule);

struct TraceStep {
  std::string rule, detail;
};

struct Settlement {
  std::string claim, person, event, facility;
  Benefit benefit{};
  ClaimStatus status = ClaimStatus::settled;
  std::optional<Scheme> scheme;  // none when the person is unknown or not enrolled
  Date date = 0;
  int level = 0;
  std::set<Reason> reasons;      // in spelling order (codes.h)
  Money total = 0, eligible = 0, self_first = 0, deductible = 0, covered = 0, fund = 0;
  Rate ratio = 0;
  std::vector<TraceStep> trace;
  // Accumulators after this settlement, in key order (nullopt prints as null).
  std::vector<std::pair<std::string, std::optional<std::string>>> after;

  void step(const std::string& rule, const std::string& detail) { trace.push_back({rule, detail}); }
  // rejected / referred: patient = total, zero everywhere else (POLICY.md §4).
  void refuse(ClaimStatus status_, Reason reason, const std::string& rule, const std::string& detail);
  Money patient() const { return total - fund; }
  // The settlement's output line: compact JSON, keys in lexicographic order, written without a DOM (hot path).
  std::string to_line(const std::string& policy_version) const;
};

// The invariants of a finished settlement record (ledger/invariant.h): INV-SETTLE-NONNEG, INV-ELIGIBLE-LE-TOTAL,
// INV-COVERED-LE-ELIGIBLE, INV-FUND-LE-COVERED, INV-PATIENT-FUND-TOTAL. Throws InvariantViolation.
void check_settlement(const Settlement& s);

}  // namespace gongji
