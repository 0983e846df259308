// The person as the command line and the query service print them (EVENTS.md `person`): JSON rendered at the
// edge from the ledger's state and its figures as data (ledger/ledger.h person_day, ledger/chronic.h).
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "ledger/ledger.h"

namespace gongji {

// The person as of a business date (POLICY.md TIME-ASOF), as the JSON of EVENTS.md `person`.
nlohmann::json person_view(const PersonState& p, Date as_of, const Policy& policy,
                           const std::function<const FacilityState*(const std::string&)>& facilities);

nlohmann::json chronic_view(const PersonState& p, Date as_of, const Params* params);

}  // namespace gongji
