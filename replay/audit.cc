#include "replay/audit.h"

#include <map>

#include "ledger/accounts.h"
#include "ledger/state_codec.h"

#include "ledger/settlement.h"

namespace gongji {

using nlohmann::json;

namespace {

}  // namespace

AuditReport audit(const Store& live, EventLog& log, const Policy& policy, const std::string& scratch) {
  AuditReport rep;
  // 1. Every projection equals a replay from zero.
  Store replay(scratch);
  replay.fold(log, policy);
  if (replay.digest() == live.digest()) {
    rep.checked.push_back("projections equal a replay from zero (digest " + live.digest() + ")");
  } else {
    for (int p = 0; p < log.partitions(); ++p) {
      if (replay.partition_digest(p) == live.partition_digest(p)) continue;
      rep.findings.push_back("partition " + std::to_string(p) + ": live digest " + live.partition_digest(p) +
                             ", replay " + replay.partition_digest(p));
      std::map<std::string, std::string> a, b;
      live.scan("p/" + hex4(p) + "/", [&](const std::string& k, std::string_view v) { a[k] = std::string(v); });
      replay.scan("p/" + hex4(p) + "/", [&](const std::string& k, std::string_view v) { b[k] = std::string(v); });
      for (auto& [k, v] : b)
        if (!a.count(k) || a[k] != v) rep.findings.push_back("  person " + k.substr(7) + " differs from the replay");
      for (auto& [k, _] : a)
        if (!b.count(k)) rep.findings.push_back("  person " + k.substr(7) + " is not in the replay");
      for (const char* kind : {"o/", "x/", "m/", "f/"}) {
        std::map<std::string, std::string> la, lb;
        live.scan(kind + hex4(p), [&](const std::string& k, std::string_view v) { la[k] = std::string(v); });
        replay.scan(kind + hex4(p), [&](const std::string& k, std::string_view v) { lb[k] = std::string(v); });
        if (la != lb) rep.findings.push_back(std::string("  ") + kind + " records of partition " + std::to_string(p) + " differ");
      }
    }
  }
  // 2. Every claim event has exactly one settlement (the same set as the replay's).
  std::map<std::string, int> live_settlements, replay_settlements;
  std::map<std::string, Money> fund_by_group, balance_by_person;
  Money fund_total = 0;
  long over_limit = 0;
  live.outputs([&](const json& r) {
    std::string kind = r.value("kind", "");
    if (kind == "settlement") {
      ++live_settlements[r.value("event", "")];
      if (r["status"] == "settled") {
        Money f = record_money(r, "fund");
        fund_total += f;
        fund_by_group[r.value("scheme", "?") + "/level " + std::to_string(r.value("level", 0)) + "/" +
                      r["date"].get<std::string>().substr(0, 7)] += f;
        // 5. No settlement covered more than its limit had room for.
        const json& after = r["after"];
        if (after.contains("limit") && after["limit"].is_string() &&
            record_money(after, "limit_used") > record_money(after, "limit")) {
          ++over_limit;
          rep.findings.push_back("claim " + r["claim"].get<std::string>() + ": limit used " +
                                 after["limit_used"].get<std::string>() + " above the limit " + after["limit"].get<std::string>());
        }
      }
    } else if (kind == "reversal") {
      fund_total += record_money(r, "fund");
    } else if (kind == "account_credit") {
      balance_by_person[r["person"]] += record_money(r, "amount");
    } else if (kind == "account_debit") {
      balance_by_person[r["person"]] -= record_money(r, "amount");
    }
    return true;
  });
  replay.outputs([&](const json& r) {
    if (r.value("kind", "") == "settlement") ++replay_settlements[r.value("event", "")];
    return true;
  });
  long claims_bad = 0;
  for (auto& [ev, n] : live_settlements)
    if (n != 1 || !replay_settlements.count(ev)) ++claims_bad, rep.findings.push_back("claim event " + ev + " has " + std::to_string(n) + " settlements in the live store");
  for (auto& [ev, n] : replay_settlements)
    if (!live_settlements.count(ev)) ++claims_bad, rep.findings.push_back("claim event " + ev + " has no settlement in the live store");
  rep.checked.push_back(std::to_string(live_settlements.size()) + " claim events, each with exactly one settlement");
  // 3. Fund totals: the groups add up, and the records agree with the fund effects kept in person state.
  Money groups = 0;
  for (auto& [_, f] : fund_by_group) groups += f;
  Money in_state = 0;
  std::map<std::string, Money> state_balance;
  live.scan("p/", [&](const std::string& k, std::string_view v) {
    PersonState p = decode_person(v);
    for (const Effect& e : p.effects) in_state += e.fund;
    Money b = account_balance(p);
    if (b != 0 || balance_by_person.count(p.id)) state_balance[p.id] = b;
  });
  Money reversed = fund_total;
  for (auto& [_, f] : fund_by_group) reversed -= f;
  if (groups + reversed != in_state)
    rep.findings.push_back("fund paid by the records (" + format_money(groups + reversed) + ") differs from the fund in person state (" +
                           format_money(in_state) + ")");
  rep.checked.push_back("fund paid " + format_money(fund_total) + " (" + std::to_string(fund_by_group.size()) +
                        " scheme/level/month groups) equals the fund recorded in person state");
  // 4. Account balances equal credits minus debits.
  for (auto& [person, b] : state_balance)
    if (balance_by_person[person] != b)
      rep.findings.push_back("person " + person + ": account balance " + format_money(b) + " but credits minus debits " +
                             format_money(balance_by_person[person]));
  rep.checked.push_back(std::to_string(state_balance.size()) + " account balances equal credits minus debits");
  rep.checked.push_back("no settlement covered more than its limit had room for");
  return rep;
}

}  // namespace gongji
