#include "consumers/views.h"

#include "ledger/settlement.h"

#include <cstdio>
#include <map>
#include <vector>

namespace gongji {

using nlohmann::json;

namespace {
std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}
std::string s(const json& j, const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; }
Money m(const json& j, const char* k) { return record_money(j, k); }
constexpr long kShownDeadLetters = 5;  // dead letters the report shows
}  // namespace

void print_explanation(const json& r, std::ostream& out) {
  if (r.value("kind", "") != "settlement") {
    out << r.dump(2) << "\n";
    return;
  }
  out << "claim " << s(r, "claim") << " of " << s(r, "person") << " (" << s(r, "scheme") << "), " << s(r, "benefit")
      << " on " << s(r, "date");
  if (r.contains("facility")) out << " at " << s(r, "facility");
  out << ": " << s(r, "status");
  if (!r["reasons"].empty()) {
    out << " (";
    for (size_t i = 0; i < r["reasons"].size(); ++i) out << (i ? ", " : "") << r["reasons"][i].get<std::string>();
    out << ")";
  }
  out << "\n  policy " << s(r, "policy_version") << "\n";
  int n = 0;
  for (const auto& st : r["trace"])
    out << fmt("  %2d. %-10s %-20s %s\n", ++n, s(st, "rule").c_str(), ("[" + s(st, "article") + "]").c_str(),
               s(st, "detail").c_str());
  out << fmt("  total %s | eligible %s | self-first %s | deductible %s | covered %s | ratio %s | fund pays %s | "
             "patient pays %s\n",
             s(r, "total").c_str(), s(r, "eligible").c_str(), s(r, "self_first").c_str(), s(r, "deductible").c_str(),
             s(r, "covered").c_str(), s(r, "ratio").c_str(), s(r, "fund").c_str(), s(r, "patient").c_str());
}

std::string describe_dead_letter(const json& r) {
  std::string where = "partition " + std::to_string(r.value("partition", 0)) + " offset " +
                      std::to_string(r.value("offset", uint64_t{0}));
  std::string what;
  if (r.contains("event")) what += " event " + s(r, "event") + " (" + s(r, "type") + ")";
  if (r.contains("person")) what += " person " + s(r, "person");
  if (r.contains("claim")) what += " claim " + s(r, "claim");
  return where + ":" + what + (what.empty() ? " " : ": ") + s(r, "reason");
}

void print_report(const Store& store, std::ostream& out, int explained) {
  std::map<std::string, long> by_status, by_reason;
  std::map<std::string, Money> fund_by_scheme_level, fund_by_benefit, fund_by_month, total_by_scheme;
  std::map<std::string, json> picks;
  Money fund = 0, total = 0, reversed = 0;
  long claims = 0, reversals = 0, refusals = 0, dead = 0;
  std::vector<std::string> first_dead;
  store.outputs([&](const json& r) {
    std::string kind = s(r, "kind");
    if (kind == "dead_letter") {
      if (dead++ < kShownDeadLetters) first_dead.push_back(describe_dead_letter(r));
      return true;
    }
    if (kind == "reversal") {
      ++reversals;
      reversed += m(r, "fund");
      return true;
    }
    if (kind == "refusal") {
      ++refusals;
      ++by_reason[s(r, "reason")];
      return true;
    }
    if (kind != "settlement") return true;
    ++claims;
    ++by_status[s(r, "status")];
    for (const auto& x : r["reasons"]) ++by_reason[x.get<std::string>()];
    total += m(r, "total");
    if (s(r, "status") != "settled") return true;
    Money f = m(r, "fund");
    fund += f;
    fund_by_scheme_level[s(r, "scheme") + " level " + std::to_string(r.value("level", 0))] += f;
    total_by_scheme[s(r, "scheme")] += m(r, "eligible");
    fund_by_benefit[s(r, "benefit")] += f;
    fund_by_month[s(r, "date").substr(0, 7)] += f;
    bool picked = false;  // a claim explains one case: the first below, in this order, that no earlier claim explains
    auto pick = [&](const std::string& why, bool cond) {
      picked = picked || (cond && f > 0 && picks.try_emplace(why, r).second);
    };
    const std::string reasons = r["reasons"].dump(), rules = r["rules"].dump();
    pick("a limit reached mid-claim", reasons.find("LIMIT_REACHED") != std::string::npos && m(r, "covered") > 0);
    pick("temporary out-of-area care", m(r, "self_first") > 0);
    pick("a TCM hospital", rules.find("F-TCM") != std::string::npos);
    pick("acupuncture-led care", rules.find("ORD-ACU") != std::string::npos);
    pick("an automatic first designation", reasons.find("AUTO_DESIGNATED") != std::string::npos);
    return true;
  });
  out << "== gongji: " << claims << " claims settled by the fold ==\n";
  for (auto& [k, v] : by_status) out << fmt("  %-10s %8ld\n", k.c_str(), v);
  out << fmt("  charged %s yuan, fund paid %s yuan; %ld reversals restored %s yuan\n", format_money(total).c_str(),
             format_money(fund).c_str(), reversals, format_money(-reversed).c_str());
  out << "\n== fund paid by scheme and level (yuan) ==\n";
  for (auto& [k, v] : fund_by_scheme_level) out << fmt("  %-22s %14s\n", k.c_str(), format_money(v).c_str());
  out << "\n== fund paid by benefit ==\n";
  for (auto& [k, v] : fund_by_benefit) out << fmt("  %-22s %14s\n", k.c_str(), format_money(v).c_str());
  out << "\n== fund paid by month of service ==\n";
  for (auto& [k, v] : fund_by_month) out << fmt("  %-22s %14s\n", k.c_str(), format_money(v).c_str());
  out << "\n== reason codes (claims and refused events) ==\n";
  for (auto& [k, v] : by_reason) out << fmt("  %-32s %8ld\n", k.c_str(), v);
  out << "\n== dead letters (records the fold could not apply; `gongji dead-letters` lists them all): " << dead
      << " ==\n";
  for (const auto& line : first_dead) out << "  " << line << "\n";
  if (dead > kShownDeadLetters) out << "  ... and " << dead - kShownDeadLetters << " more\n";
  int n = 0;
  for (auto& [why, r] : picks) {
    if (n++ >= explained) break;
    out << "\n== explained: " << why << " ==\n";
    print_explanation(r, out);
  }
}

}  // namespace gongji
