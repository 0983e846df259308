// Human-readable views over the projections: an explained settlement and the year's report.
#pragma once
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "ledger/records.h"
#include "projections/store.h"

namespace gongji {

// A settlement step by step (rule ID, article, what it found), then its amounts; another record as recorded, a field
// a line (its rule with the article it cites).
void print_explanation(const nlohmann::json& record, std::ostream& out);
// A record other than a settlement: its kind, person and event, and `how` it is shown ("as recorded"), then each
// other field on a line (keys in order), its rule with the article it cites.
void print_record(const nlohmann::json& record, std::ostream& out, const std::string& how);

// Claims by status and reason, fund paid by scheme, level, benefit and month, and `explained` settlements chosen
// to show the rules at work (a limit reached, out of area, a TCM hospital, acupuncture, an automatic designation),
// and the fold's dead letters: their count and the first few.
void print_report(const Store& store, std::ostream& out, int explained);

// One dead letter (a record the fold could not apply, issue 8 item 4) on one line: where it is in the log, what it
// was where known (event, type, person, claim) and why it was not applied.
std::string describe_dead_letter(const DeadLetter& d);

}  // namespace gongji
