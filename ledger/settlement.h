// A settlement (POLICY.md §4) and its trace: every step names the rule ID of POLICY.md and its article.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>


#include "events/event.h"
#include "ledger/trace.h"

namespace gongji {

// The text of an output record's money field: "-466.67" allowed, 0 when not money.
Money signed_yuan(std::string_view v);

// The accumulators a settlement reports after itself (EVENTS.md "after"), in the order of their keys. The store keeps
// the number (append-only, like the trace's tables).
enum class Accumulator : uint8_t { deductible_paid, inpatient_limit_used, limit, limit_used };
inline constexpr std::array<std::string_view, 4> kAccumulatorKeys = {"deductible_paid", "inpatient_limit_used", "limit",
                                                                     "limit_used"};
constexpr std::string_view key_of(Accumulator a) { return kAccumulatorKeys[static_cast<size_t>(a)]; }
struct AccumulatorAfter {
  Accumulator key{};
  std::optional<Money> value;  // in fen; nullopt: none applies (a limit of an inpatient-only disease)
  bool operator==(const AccumulatorAfter&) const = default;
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
  std::vector<AccumulatorAfter> after;
  std::string policy_version;  // the version of the policy that settled it (Policy::version)

  // A step of the trace: `rule` saying S with `values` in its holes (ledger/trace.h; checked at compile time).
  template <Say S, typename... A>
  void step(Rule rule, const A&... values) {
    trace.push_back(make_step<S>(rule, values...));
  }
  // rejected / referred: patient = total, zero everywhere else (POLICY.md §4), and the step that says why.
  template <Say S, typename... A>
  void refuse(ClaimStatus status_, Reason reason, Rule rule, const A&... values) {
    refuse(status_, reason);
    step<S>(rule, values...);
  }
  Money patient() const { return total - fund; }
  // The settlement's output line (EVENTS.md "Outputs"): compact JSON, keys in lexicographic order, written without
  // a DOM. Rendered at the edges (the command line, the views, the HTTP answers), never inside the fold.
  std::string to_line() const;

 private:
  void refuse(ClaimStatus status_, Reason reason);  // only with the step that says why (above)
};


// The invariants of a finished settlement record (ledger/invariant.h): INV-SETTLE-NONNEG, INV-ELIGIBLE-LE-TOTAL,
// INV-COVERED-LE-ELIGIBLE, INV-FUND-LE-COVERED, INV-PATIENT-FUND-TOTAL. Throws InvariantViolation.
void check_settlement(const Settlement& s);

}  // namespace gongji
