// A person's statement for a year (issue 5): every claim, settlement and account movement of the year with the
// running ordinary deductible and limit and the account balance, as of each entry's business date (TIME-ASOF).
// Found through the person's index of output records (projections/store.h `r/`, Store::person_outputs), never by
// scanning every output record: the outputs of shared events naming the person (ACC-RET credits of period_closed)
// included.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "projections/store.h"

namespace gongji {

// {"person", "year", "entries": [{date, kind, claim?, status?, fund?, amount?, deductible_paid, limit_used,
//   limit, balance, ...}], "daily": [{date, limit_used, balance}], "totals": {...}}
nlohmann::json statement(const Store& store, const Policy& policy, const std::string& person, int year);

std::string statement_text(const nlohmann::json& s);
std::string statement_html(const nlohmann::json& s);

}  // namespace gongji
