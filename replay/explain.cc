#include "replay/explain.h"

#include <cstring>

#include "events/fb_codec.h"
#include "replay/reconstruct.h"

namespace gongji {

using nlohmann::json;

std::vector<std::string> settlement_differences(const json& a, const json& b) {
  std::vector<std::string> out;
  std::set<std::string> keys;
  for (auto& [k, _] : a.items()) keys.insert(k);
  for (auto& [k, _] : b.items()) keys.insert(k);
  for (const auto& k : keys) {
    if (k == "policy_version" || k == "trace") continue;
    if (!a.contains(k) || !b.contains(k) || a[k] != b[k]) out.push_back(k);
  }
  return out;
}

Rederivation rederive_claim(const Store& store, EventLog& log, const std::string& claim, const Policy* other) {
  return rederive_claim(store, log, store.claim_person(claim, ""), claim, other);
}

Rederivation rederive_claim(const Store& store, EventLog& log, const std::string& person, const std::string& claim,
                            const Policy* other, ReplayCache* cache) {
  // The claim index names the settlement's partition and offset (c/<claim>/<person>/<partition>/<offset>/<n>).
  std::optional<SettlementRef> at = store.settlement(person, claim);
  if (!at) throw NotFoundError("no settlement for claim " + claim + " of person " + person);
  const int partition = at->partition;
  const uint64_t offset = at->offset;
  Rederivation r;
  r.recorded = at->record;
  std::shared_ptr<const Policy> recorded_policy;
  if (!other) {
    ReplayCache once;  // without a caller's cache, the policy is loaded for this call alone
    recorded_policy = (cache ? *cache : once).stored_policy(store, r.recorded.at("policy_version"));
  }
  const Policy& policy = other ? *other : *recorded_policy;
  r.policy_version = policy.version();
  Reconstruction before = reconstruct_person(store, log, person, policy, {}, offset, cache);
  // The claim event itself, through the person's index.
  uint64_t locator = 0;
  bool found = false;
  const std::string index_key = "i/" + key_part(person) + "/" + hex4(partition) + "/" + hex16(offset);
  store.scan(index_key, [&](const std::string&, std::string_view v) {
    uint64_t where[2];
    std::memcpy(where, v.data(), sizeof where);
    locator = where[0];
    found = true;
  });
  if (!found) throw StoreError("claim " + claim + " is not in " + person + "'s index");
  FoldContext ctx{&policy, partition, store.partitions(), true};
  log.read_at(partition, offset, locator, [&](const LogRecord& rec) {
    // Under the policy's code lists, as its fold decodes (projections/store.cc): a code they do not list makes the
    // claim a dead letter there, so the recomputation is that dead letter, not a settlement.
    std::optional<Event> e;
    try {
      e.emplace(decode_event(rec.payload, policy.codes()));
    } catch (const EventError& err) {
      r.recomputed = {{"kind", "dead_letter"}, {"partition", partition}, {"offset", offset},
                      {"event", r.recorded.value("event", "")}, {"person", person}, {"claim", claim},
                      {"reason", err.what()}};
      return;
    }
    for (const Output& o : apply_event(*e, before.state, ctx))
      if (o.kind == "settlement") r.recomputed = o.json();
  });
  auto diffs = settlement_differences(r.recorded, r.recomputed);
  if (!other && r.recorded.value("policy_version", "") != r.recomputed.value("policy_version", ""))
    diffs.insert(diffs.begin(), "policy_version");
  if (!other && r.recorded.value("trace", json()) != r.recomputed.value("trace", json())) diffs.push_back("trace");
  r.equal = diffs.empty();
  r.first_difference = diffs.empty() ? "" : diffs.front();
  return r;
}

}  // namespace gongji
