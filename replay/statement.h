// A person's statement for a year (issue 5): every claim, settlement and account movement of the year with the
// running ordinary deductible and limit and the account balance, as of each entry's business date (TIME-ASOF).
// Found through the person's indexes (projections/store.h `i/` and `r/`, Store::person_outputs), never by
// scanning every output record: the outputs of shared events naming the person (ACC-RET credits of period_closed)
// included.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "projections/store.h"

namespace gongji {

// `view`: {"person", "year", "entries": [{date, kind, claim?, status?, fund?, amount?, deductible_paid, limit_used,
//   limit, balance, ...}], "daily": [{date, limit_used, limit, balance}], "totals": {...}}, the JSON answer;
// `days`: the same days as data (ledger/ledger.h PersonDay, 1 January first), which the HTML's chart draws: no money
// is read back out of the text it rendered.
struct Statement {
  nlohmann::json view;
  std::vector<PersonDay> days;
};
Statement statement(const Store& store, const Policy& policy, const std::string& person, int year);

// The year a statement is of when none is asked for: that of the person's last dated record (a settlement, a
// reversal, an account movement or a refusal) in the policy's window; with none, that of their enrolment (the
// window's first or last year when it is outside it). From the log alone: no clock decides it. NotFoundError for an
// unknown person.
int statement_year(const Store& store, const Policy& policy, const std::string& person);

std::string statement_text(const Statement& s);
std::string statement_html(const Statement& s);

}  // namespace gongji
