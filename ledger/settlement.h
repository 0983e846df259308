// A settlement (POLICY.md §4) and its trace: every step names the rule ID of POLICY.md and its article.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/event.h"
#include "ledger/trace.h"

namespace gongji {

// A money field of an output record ("-466.67" allowed); 0 when absent or not money.
Money record_money(const nlohmann::json& record, const char* field);
// The same for the text of such a field: "-466.67" allowed, 0 when not money.
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
  // a DOM. Rendered at the edges (the outbox, the command line, the wire), never inside the fold.
  std::string to_line() const;

 private:
  void refuse(ClaimStatus status_, Reason reason);  // only with the step that says why (above)
};

// A settlement from its output line: the inverse of to_line(), for stores that kept settlements as lines (store
// formats 2 and 3; projections/store.cc migrates them). `exact`: nullopt unless every field reads and the line is
// exactly what to_line() prints for the settlement read back. Not exact (the books of a line changed by hand): what
// the fields say, a missing or malformed one left at its default (money 0, status rejected); nullopt only for a
// line that is not a settlement object.
std::optional<Settlement> settlement_from_line(std::string_view line, bool exact = true);

// The invariants of a finished settlement record (ledger/invariant.h): INV-SETTLE-NONNEG, INV-ELIGIBLE-LE-TOTAL,
// INV-COVERED-LE-ELIGIBLE, INV-FUND-LE-COVERED, INV-PATIENT-FUND-TOTAL. Throws InvariantViolation.
void check_settlement(const Settlement& s);

}  // namespace gongji
