#include "replay/whatif.h"

#include "ledger/settlement.h"

namespace gongji {

using nlohmann::json;

namespace {

// What the books need of one settlement (no trace, no line): the dimensions of the totals and the fund.
struct Paid {
  std::string claim, person;
  std::string scheme, benefit, month;
  int level = 0;
  Money fund = 0;  // net of a reversal
};

std::map<std::string, Paid> paid_by_claim_event(const Store& s, std::vector<std::string>* order) {
  std::map<std::string, Paid> out;
  std::map<std::string, std::string> event_of_claim;  // (person/claim) -> settled claim event
  s.outputs_as_data([&](const Settlement* st, const Record* r) {
    if (st) {
      const bool settled = st->status == ClaimStatus::settled;
      out[st->event] = {st->claim, st->person, st->scheme ? spelled(*st->scheme) : "?", spelled(st->benefit),
                        format_date(st->date).substr(0, 7), st->level, settled ? st->fund : 0};
      if (order) order->push_back(st->event);
      if (settled) event_of_claim[st->person + "/" + st->claim] = st->event;
    } else if (const auto* v = std::get_if<Reversal>(r)) {
      auto it = event_of_claim.find(v->person + "/" + v->claim);
      if (it != event_of_claim.end()) out[it->second].fund += v->fund;
    }
    return true;
  });
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
    const Paid& s = it == after.end() ? a : it->second;
    ++rep.claims_compared;
    rep.recorded_total += a.fund;
    rep.what_if_total += b;
    for (int w = 0; w < 2; ++w) {
      const Paid& r = w ? s : a;
      const Money f = w ? b : a.fund;
      for (const auto& [dim, key] : {std::pair<const char*, std::string>{"scheme", r.scheme},
                                     {"level", std::to_string(r.level)}, {"benefit", r.benefit}, {"month", r.month}})
        (w ? rep.totals[dim][key].second : rep.totals[dim][key].first) += f;
    }
    if (a.fund != b)
      rep.claims.push_back({a.claim, a.person, ev, a.fund, b});
  }
  return rep;
}

}  // namespace gongji
