#include "replay/whatif.h"

#include "ledger/settlement.h"

namespace gongji {

using nlohmann::json;

namespace {

struct Paid {
  json settlement;
  Money fund = 0;  // net of a reversal
};

std::map<std::string, Paid> paid_by_claim_event(const Store& s, std::vector<std::string>* order) {
  std::map<std::string, Paid> out;
  std::map<std::string, std::string> event_of_claim;  // (person/claim) -> settled claim event
  s.outputs([&](const json& r) {
    std::string kind = r.value("kind", "");
    if (kind == "settlement") {
      std::string ev = r["event"];
      out[ev] = {r, r["status"] == "settled" ? record_money(r, "fund") : 0};
      if (order) order->push_back(ev);
      if (r["status"] == "settled")
        event_of_claim[r["person"].get<std::string>() + "/" + r["claim"].get<std::string>()] = ev;
    } else if (kind == "reversal") {
      auto it = event_of_claim.find(r["person"].get<std::string>() + "/" + r["claim"].get<std::string>());
      if (it != event_of_claim.end()) out[it->second].fund += record_money(r, "fund");
    }
    return true;
  }, Trace::skip);  // the books only: no trace
  return out;
}

}  // namespace

WhatIfReport what_if(const Store& live, EventLog& log, const Policy& other, const std::string& scratch) {
  Store replay(scratch);
  replay.fold(log, other);
  std::vector<std::string> order;
  auto before = paid_by_claim_event(live, &order);
  auto after = paid_by_claim_event(replay, nullptr);
  WhatIfReport rep;
  for (const std::string& ev : order) {
    const Paid& a = before.at(ev);
    auto it = after.find(ev);
    const Money b = it == after.end() ? 0 : it->second.fund;
    const json& s = it == after.end() ? a.settlement : it->second.settlement;
    ++rep.claims_compared;
    rep.recorded_total += a.fund;
    rep.what_if_total += b;
    const std::string month = s["date"].get<std::string>().substr(0, 7);
    auto add = [&](const std::string& dim, const std::string& key, const json& rec, Money f, bool what_if) {
      auto& cell = rep.totals[dim][key];
      (what_if ? cell.second : cell.first) += f;
      (void)rec;
    };
    for (int w = 0; w < 2; ++w) {
      const json& r = w ? s : a.settlement;
      Money f = w ? b : a.fund;
      add("scheme", r.value("scheme", "?"), r, f, w);
      add("level", std::to_string(r.value("level", 0)), r, f, w);
      add("benefit", r.value("benefit", "?"), r, f, w);
      add("month", r["date"].get<std::string>().substr(0, 7), r, f, w);
    }
    (void)month;
    if (a.fund != b)
      rep.claims.push_back({a.settlement["claim"], a.settlement["person"], ev, a.fund, b});
  }
  return rep;
}

}  // namespace gongji
