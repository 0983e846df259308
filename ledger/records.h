// The output records other than settlements (EVENTS.md "Outputs"), as data (issue 9 item 2): the ledger returns
// them typed, the store keeps them in a binary form; their JSON line is rendered only at the edges (the command
// line, the views, the HTTP answers), compact and
// with its keys in lexicographic order, byte for byte what the ledger printed when it built them as JSON.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "events/event.h"
#include "ledger/trace.h"

namespace gongji {

// kind reversal (POLICY.md §4): the claim and the amounts restored, negative.
struct Reversal {
  std::string event, claim, person;
  Date at = 0, date = 0;  // date: the reversed claim's
  Money fund = 0, deductible = 0, limit_used = 0, eligible = 0, inpatient_used = 0;
};

// kinds account_credit (ACC-INSVC, ACC-RET: `month` set) and account_debit (ACC-USE: beneficiary and purpose set).
struct AccountMovement {
  bool credit = true;
  std::string event, person;
  Date at = 0;
  Money amount = 0, balance = 0;  // amount: positive for both kinds; balance: after the movement
  TraceStep step;                 // its `rule` and `detail` (ledger/trace.h)
  std::optional<Month> month;
  std::optional<std::string> beneficiary;
  std::optional<Purpose> purpose;
};

// kind refusal: a domain refusal of a non-claim event.
struct Refusal {
  std::string event;
  EventType type{};
  Reason reason{};
  std::string detail;
  Date at = 0;
  std::optional<std::string> person;
};

// kind contribution_mismatch (ACC-FLEX): the amount paid is not the base times the rate.
struct ContributionMismatch {
  std::string event, person;
  Month month = 0;
  Money base = 0, amount = 0, expected = 0;
  Rate rate = 0;
  std::string rule;
};

// kind dead_letter (issue 8 item 4): a log record the fold could not apply; the event's fields where it decoded.
// The store builds it with its texts made valid UTF-8 (a poison record's bytes replaced by U+FFFD); a line renders any
// that are not so replaced too.
struct DeadLetter {
  int partition = 0;
  uint64_t offset = 0;
  std::string reason;
  std::optional<std::string> event;
  std::optional<EventType> type;
  std::optional<std::string> person, claim;
};

// Append-only: the store keeps a record's kind as its index here (encode_record, ledger/state_codec.h), so a kind is
// never moved or removed, and a new one goes at the end (StateCodec.EveryRecordKindHasAStoredForm pins them).
using Record = std::variant<Reversal, AccountMovement, Refusal, ContributionMismatch, DeadLetter>;

// The record's `kind` (EVENTS.md spelling), `person` and `claim` ("" when it has none).
std::string_view record_kind(const Record& r);
std::string record_person(const Record& r);
std::string record_claim(const Record& r);
// Its output line.
std::string record_line(const Record& r);

}  // namespace gongji
