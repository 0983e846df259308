#include "replay/explain.h"

#include <algorithm>
#include <set>

#include "events/fb_codec.h"
#include "replay/reconstruct.h"
#include "readback/output_lines.h"

namespace gongji {

namespace {
std::vector<Rule> rules_of(const Settlement& s) {
  std::vector<Rule> rules;
  for (const TraceStep& t : s.trace)
    if (std::find(rules.begin(), rules.end(), t.rule) == rules.end()) rules.push_back(t.rule);
  return rules;
}

// The trace as EVENTS.md prints it: each step's rule and text (two sayings may render the same text; a store
// migrated from lines holds the one step_from_text chose).
bool same_trace(const Settlement& a, const Settlement& b) {
  if (a.trace.size() != b.trace.size()) return false;
  for (size_t i = 0; i < a.trace.size(); ++i)
    if (a.trace[i].rule != b.trace[i].rule || a.trace[i].detail() != b.trace[i].detail()) return false;
  return true;
}
}  // namespace

std::vector<std::string> settlement_differences(const Output& a, const Output& b) {
  const Settlement* x = a.settlement.get();
  const Settlement* y = b.settlement.get();
  if (a.kind != b.kind || !x || !y) return a.kind == b.kind && !x && !y ? std::vector<std::string>{}
                                                                       : std::vector<std::string>{"kind"};
  std::vector<std::string> out;
  auto field = [&](const char* name, bool differs) {
    if (differs) out.emplace_back(name);
  };
  field("after", x->after != y->after);
  field("benefit", x->benefit != y->benefit);
  field("claim", x->claim != y->claim);
  field("covered", x->covered != y->covered);
  field("date", x->date != y->date);
  field("deductible", x->deductible != y->deductible);
  field("eligible", x->eligible != y->eligible);
  field("event", x->event != y->event);
  field("facility", x->facility != y->facility);
  field("fund", x->fund != y->fund);
  field("level", x->level != y->level);
  // A line the store kept (one changed by hand) that is not what its own fields print: a key they do not read
  // (patient, articles, rules, one added) was changed.
  const auto edited = [](const Output& o) { return !o.text.empty() && !settlement_from_line(o.text, true); };
  field("line", edited(a) || edited(b));
  field("patient", x->patient() != y->patient());
  field("person", x->person != y->person);
  field("ratio", x->ratio != y->ratio);
  field("reasons", x->reasons != y->reasons);
  field("rules", rules_of(*x) != rules_of(*y));
  field("scheme", x->scheme != y->scheme);
  field("self_first", x->self_first != y->self_first);
  field("status", x->status != y->status);
  field("total", x->total != y->total);
  return out;
}

namespace {
// A record a store names at `offset` of `partition` that the log ends before: StoreError saying so (before the
// person's history is read, whose later records would fail first, naming no event).
void check_in_log(EventLog& log, int partition, uint64_t offset, const std::string& what) {
  if (offset >= log.end_offset(partition))
    throw StoreError("the log has no record at partition " + std::to_string(partition) + " offset " +
                     std::to_string(offset) + " (" + what + "): truncated, or past retention");
}
}  // namespace

Rederivation rederive_claim(const Store& store, EventLog& log, const std::string& claim, const Policy* other) {
  return rederive_claim(store, log, store.claim_person(claim, ""), claim, other);
}

Rederivation rederive_claim(const Store& store, EventLog& log, const std::string& person, const std::string& claim,
                            const Policy* other, ReplayCache* cache) {
  // The claim index names the settlement's partition and offset (c/<claim>/<person>/<partition>/<offset>/<n>): the
  // settled one, else the first (a claim refused before its person or facility was known may have settled later).
  std::optional<SettlementRef> at = store.settled_settlement(person, claim);
  if (!at) at = store.settlement(person, claim);
  if (!at) throw NotFoundError("no settlement for claim " + claim + " of person " + person);
  const int partition = at->partition;
  const uint64_t offset = at->offset;
  check_in_log(log, partition, offset, "claim " + claim + " of person " + person);
  Rederivation r;
  r.recorded = at->record;
  if (!r.recorded.settlement) throw StoreError("the claim index of " + claim + " names " + at->key + ", no settlement");
  std::shared_ptr<const Policy> recorded_policy;
  if (!other) {
    ReplayCache once;  // without a caller's cache, the policy is loaded for this call alone
    recorded_policy = (cache ? *cache : once).stored_policy(store, r.recorded.settlement->policy_version);
  }
  const Policy& policy = other ? *other : *recorded_policy;
  r.policy_version = policy.version();
  Reconstruction before = reconstruct_person(store, log, person, policy, {}, offset, cache);
  // The claim event itself, through the person's index.
  const std::optional<uint64_t> locator = store.event_locator(person, partition, offset);
  if (!locator) throw StoreError("claim " + claim + " is not in " + person + "'s index");
  FoldContext ctx{&policy, partition, store.partitions(), true};
  log.read_at(partition, offset, *locator, [&](const LogRecord& rec) {
    // Under the policy's code lists, as its fold decodes (projections/store.cc): a code they do not list makes the
    // claim a dead letter there, so the recomputation is that dead letter, not a settlement.
    std::optional<Event> e;
    try {
      e.emplace(decode_event(rec.payload, policy.codes()));
    } catch (const EventError& err) {
      r.recomputed = output_of(DeadLetter{partition, offset, err.what(), r.recorded.settlement->event,
                                          EventType::claim, person, claim});
      return;
    }
    for (const Output& o : apply_event(*e, before.state, ctx))
      if (o.settlement) r.recomputed = o;
  });
  auto diffs = settlement_differences(r.recorded, r.recomputed);
  const Settlement* x = r.recorded.settlement.get();
  const Settlement* y = r.recomputed.settlement.get();
  if (!other && x && y && x->policy_version != y->policy_version) diffs.insert(diffs.begin(), "policy_version");
  if (!other && x && y && !same_trace(*x, *y)) diffs.push_back("trace");
  r.equal = diffs.empty();
  r.first_difference = diffs.empty() ? "" : diffs.front();
  return r;
}

MovementRederivation rederive_movements(const Store& store, EventLog& log, const std::string& person,
                                        const std::string& event, ReplayCache* cache) {
  MovementRederivation r;
  auto movement_of = [&](const Output& o) {
    if (const auto* m = o.record ? std::get_if<AccountMovement>(o.record.get()) : nullptr)
      return m->event == event && m->person == person;
    // A line that does not read back to itself (changed by hand): what it says it is, compared as its text.
    if (o.record || o.settlement || (o.kind != "account_credit" && o.kind != "account_debit")) return false;
    const nlohmann::json j = nlohmann::json::parse(o.text, nullptr, false);
    return j.is_object() && j.value("event", "") == event && j.value("person", "") == person;
  };
  int partition = 0;
  uint64_t offset = 0;
  store.person_output_refs(person, [&](const SettlementRef& ref) {
    if (!movement_of(ref.record)) return true;
    partition = ref.partition, offset = ref.offset;
    r.recorded.push_back(ref.record);
    return true;
  });
  if (r.recorded.empty()) throw NotFoundError("no account movement of person " + person + " for event " + event);
  check_in_log(log, partition, offset, "event " + event);
  const std::optional<Policy> policy = recorded_policy(store);
  if (!policy) {
    std::string versions;  // v/ keys, in key order
    store.scan("v/", [&](const std::string& key, std::string_view) {
      versions += (versions.empty() ? "" : ", ") + key.substr(2);
    });
    throw StoreError(versions.empty() ? "the store records no policy version (v/): it cannot say which policy to "
                                        "re-derive an account movement under; fold it with this gongji first"
                                      : "the store was folded under more than one policy version (" + versions +
                                            "): an account movement records none, so there is no one policy to "
                                            "re-derive it under");
  }
  r.policy_version = policy->version();
  Reconstruction before = reconstruct_person(store, log, person, *policy, {}, offset, cache);
  FoldContext ctx{&*policy, partition, store.partitions(), true};
  const std::string where = "partition " + std::to_string(partition) + " offset " + std::to_string(offset);
  bool read = false;
  auto movement_event = [&](const LogRecord& rec) {
    if (rec.offset != offset) return false;
    read = true;
    std::optional<Event> e;
    try {  // a record the policy's code lists refuse moves nothing: the recomputation then has no movement
      e.emplace(decode_event(rec.payload, policy->codes()));
    } catch (const EventError& err) {
      r.refused = err.what();
      return false;
    }
    if (e->id() != event)
      throw StoreError("the log's record at " + where + " is event " + e->id() + ", where the store's records of " +
                       person + " name event " + event + ": the store was not folded from this log");
    for (const Output& o : apply_event(*e, before.state, ctx))
      if (movement_of(o)) r.recomputed.push_back(o);
    return false;
  };
  // The event through the index of the person's events, one read (read() passes every record before it in its
  // segment); a record neither i/ nor g/ lists is looked for that way.
  if (const std::optional<uint64_t> locator = store.event_locator(person, partition, offset))
    log.read_at(partition, offset, *locator, [&](const LogRecord& rec) { movement_event(rec); });
  else
    log.read(partition, offset, movement_event);
  if (!read)
    throw StoreError("the log has no record at " + where + " (event " + event + "): truncated, or past retention");
  r.equal = r.recorded.size() == r.recomputed.size();
  for (size_t i = 0; r.equal && i < r.recorded.size(); ++i) r.equal = r.recorded[i].line() == r.recomputed[i].line();
  return r;
}

std::vector<std::string> movement_differences(const MovementRederivation& r) {
  std::set<std::string> keys;
  for (size_t i = 0; i < std::min(r.recorded.size(), r.recomputed.size()); ++i) {
    const nlohmann::json a = nlohmann::json::parse(r.recorded[i].line(), nullptr, false);
    const nlohmann::json b = nlohmann::json::parse(r.recomputed[i].line(), nullptr, false);
    if (!a.is_object() || !b.is_object()) {
      keys.insert("line");
      continue;
    }
    for (const auto& [k, v] : a.items())
      if (!b.contains(k) || b[k] != v) keys.insert(k);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) keys.insert(k);
  }
  std::vector<std::string> out(keys.begin(), keys.end());
  if (r.recorded.size() != r.recomputed.size()) out.push_back("movements");
  return out;
}

}  // namespace gongji
