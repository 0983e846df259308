// `gongji audit`: replays the log from zero into a scratch store and checks the live books (issue 5).
#pragma once
#include <string>
#include <vector>

#include "events/event_log.h"
#include "projections/store.h"

namespace gongji {

struct AuditReport {
  std::vector<std::string> findings;  // empty: the books hold
  std::vector<std::string> checked;   // what was checked, for the report
};

// `scratch` is a directory for the replay (created, then left for inspection).
AuditReport audit(const Store& live, EventLog& log, const Policy& policy, const std::string& scratch);

}  // namespace gongji
