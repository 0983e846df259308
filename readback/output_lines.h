// Output lines read back into records (issue 9 item 6: JSON stays out of ledger/): the settlements and other records
// that stores of formats 5 and older kept as JSON lines (projections/store.cc migrates them), lines changed by hand,
// and the `line` of the wire's records (wire/output_record.h). The ledger writes lines (Settlement::to_line,
// record_line) and never reads one.
#pragma once
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ledger/records.h"
#include "ledger/settlement.h"

namespace gongji {

// A settlement from its output line: the inverse of to_line(), for stores that kept settlements as lines (store
// formats 2 and 3; projections/store.cc migrates them). `exact`: nullopt unless every field reads and the line is
// exactly what to_line() prints for the settlement read back. Not exact (the books of a line changed by hand): what
// the fields say, a missing or malformed one left at its default (money 0, status rejected); nullopt only for a
// line that is not a settlement object.
std::optional<Settlement> settlement_from_line(std::string_view line, bool exact = true);

// A record from its output line (a store of format 5 or older, or a line put there by hand): nullopt for a line that
// is not a record of these kinds.
// `exact`: also nullopt unless the record reads back to the same line byte for byte. Not exact (a line changed by
// hand): what its fields say, a missing or malformed one at its default (money 0, text empty; an account movement
// naming a rule no movement carries reads as its kind's usual one, ACC-INSVC or ACC-USE).
std::optional<Record> record_from_line(std::string_view line, bool exact = true);

// A money field of an output record as JSON ("-466.67" allowed); 0 when absent or not money.
Money record_money(const nlohmann::json& record, const char* field);

}  // namespace gongji
