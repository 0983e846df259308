// `gongji what-if --policy OTHER.yaml`: replays the whole log under another parameters file into a scratch store
// (never the live one) and reports, per claim and in totals, how the fund payments would differ.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "log/event_log.h"
#include "projections/store.h"

namespace gongji {

struct ClaimDifference {
  std::string claim, person, event;
  int partition = 0;
  uint64_t offset = 0;  // the log record of its settlement
  Money recorded = 0, what_if = 0;
};

// A claim the live store settled that the replay under the other policy could not settle at all: its record was a
// dead letter there (e.g. a code the other policy's lists lack). It counts as paid nothing under the other policy.
struct NotSettled {
  std::string claim, person, event;
  int partition = 0;
  uint64_t offset = 0;
  std::string reason;  // the replay's dead letter's
};

struct WhatIfReport {
  // Claims whose fund payment differs, partition by partition (0 first), each partition's in log order.
  std::vector<ClaimDifference> claims;
  size_t claims_compared = 0;  // every live settlement record: every benefit, rejected and referred ones too
  std::vector<NotSettled> not_settled;  // likewise ordered
  // The reverse: records the live store dead-lettered that the replay settles (recorded 0.00; what-if its fund,
  // counted in the what-if totals; names as far as the dead letter names them). Likewise ordered.
  std::vector<ClaimDifference> settled_only_under_other;
  // Totals of fund paid (settlements net of reversals), recorded vs what-if, by "scheme", "level", "benefit", "month"
  // ("2023-03"); a settlement naming no scheme, or no level (one refused or referred before F-LEVEL set it), is under
  // "none". Each side groups a claim by its own settlement's dimensions, so a group's totals may be equal while
  // claims in it changed (their changes cancel, or a claim moved between groups).
  std::map<std::string, std::map<std::string, std::pair<Money, Money>>> totals;
  Money recorded_total = 0, what_if_total = 0;
};

// `log`: the one `live` was folded from (Store::check_log refuses another, StoreError): each live settlement is
// compared with the replay's of the same log record, and the replay's records past the live store's position (a
// store still folding) are left out. Memory: one partition's replayed settlements at a time (an
// offset, a fund and four codes each) and the claims that differ.
WhatIfReport what_if(const Store& live, EventLog& log, const Policy& other, const std::string& scratch);

}  // namespace gongji
