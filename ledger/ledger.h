// The fold step, pure (DESIGN.md "The one idea"): (state, event, policy) -> (new state, output records).
// No I/O, no clock, no randomness: the same events in the same order under the same policy give the same state
// and the same output records, byte for byte.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "events/event.h"
#include "ledger/policy.h"
#include "ledger/records.h"
#include "ledger/settlement.h"
#include "ledger/state.h"

namespace gongji {

// Which persons a period close visits (StateAccess::for_each_person).
enum class Visit {
  everyone,      // December's close: ORD-INC and CHR-SUSP assess every person
  monthly_work,  // every other month: the persons has_monthly_work() holds for, a superset of those it changes
};

// ACC-RET: a closed month other than December credits retirees only, so it can change a person only when their
// retirement is recorded (PersonState::retired_on). Once true it stays true (nothing clears retired_on), so a
// StateAccess may keep an index of these persons that only ever grows.
bool has_monthly_work(const PersonState& p);

// How the fold reaches state. The projection store implements it over RocksDB with a cache; tests over maps.
class StateAccess {
 public:
  virtual ~StateAccess() = default;
  virtual PersonState* person(const std::string& id) = 0;  // nullptr when unknown
  virtual PersonState& create_person(const std::string& id) = 0;
  virtual FacilityState* facility(const std::string& id) = 0;
  virtual FacilityState& create_facility(const std::string& id) = 0;
  virtual PartitionMeta& meta() = 0;
  // The persons of this partition a period close visits (`which`, above), in id order. Visit::monthly_work may also
  // visit persons has_monthly_work() does not hold for (the closing rules leave them unchanged). `fn` marks a person
  // it changes with touch_person() before it returns, reads no other person, and keeps no reference to the one it
  // is given: the store may take it out of memory once `fn` returns (projections/store.cc, a close that streams).
  virtual void for_each_person(Visit which, const std::function<void(PersonState&)>& fn) = 0;
  // Marks a person / facility / the meta as changed (to be written back). A person touched is one person() returned
  // (not null) or create_person() made, in the same batch.
  virtual void touch_person(const std::string& id) = 0;
  virtual void touch_facility(const std::string& id) = 0;
  virtual void touch_meta() = 0;
};

struct FoldContext {
  const Policy* policy = nullptr;
  int partition = 0;
  int partitions = 1;
  // Global events reach every partition; only the first partition reports their refusals, once.
  bool reports_global = true;
  // Does this partition hold the person's history (POLICY.md TIME-LOG)?
  bool owns(const std::string& person) const;
};

// One output record (EVENTS.md "Outputs"): its kind, the claim of a settlement, and the person it names ("" when
// none; the store indexes a person's records by it, projections/store.h r/). A settlement is held as data
// (`settlement`; the store keeps it in its binary form, ledger/state_codec.h) and rendered to its JSON line only at
// the edges, by line(); every other kind as data too (`record`). `text` is set only for an output read back from
// a store that holds it as a JSON line (one put there by hand, or a store a migration has still to convert).
struct Output {
  std::string kind, claim, text;
  std::string person{};  // (initialised: `Output{kind, claim, text}` stays warning-free)
  std::shared_ptr<const Settlement> settlement{};
  std::shared_ptr<const Record> record{};  // every other kind, as data (ledger/records.h)
  // The line: `text`, the line as the store kept it, when there is one (an output read back from the store; a line
  // changed by hand stays as it was published), else the settlement's or the record's, rendered.
  std::string line() const {
    return !text.empty() ? text : settlement ? settlement->to_line() : record ? record_line(*record) : "";
  }
};
// The output of a record: its kind, person and claim, and the record.
Output output_of(Record r);

// EVENTS.md: an event id already folded is a no-op when the content is the same (another copy of the event) and
// ID_CONFLICT when it differs. `seen`: the content digest (event_digest) folded under the id before, if any. The
// fold asks this before apply_event, so every path into the log (ingest, a producer writing to Kafka) agrees.
enum class IdVerdict { new_event, duplicate, conflict };
IdVerdict judge_event_id(std::optional<uint64_t> seen, uint64_t digest);

// Applies one event; returns the output records it produces (EVENTS.md "Outputs"), in order.
std::vector<Output> apply_event(const Event& e, StateAccess& state, const FoldContext& ctx);

// A person's ordinary outpatient figures and account balance on a business date (TIME-ASOF), as data: what
// person_view prints under "ordinary" and "account", and what a statement charts.
struct PersonDay {
  Money deductible_paid = 0, limit_used = 0, fund_paid = 0, balance = 0;
  std::optional<Money> limit;  // none without a standing on that date, or outside the policy window
};
PersonDay person_day(const PersonState& p, Date as_of, const Policy& policy);



}  // namespace gongji
