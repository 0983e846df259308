#include "consumers/views.h"

#include "events/text.h"
#include "ledger/settlement.h"
#include "ledger/trace.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

namespace gongji {

using nlohmann::json;

namespace {
std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}
// A text field of a record for a person to read: ids may hold what EVENTS.md allows and a terminal acts on (U+2028,
// bidirectional controls), written as escapes (terminal_safe), so that no id forges a line or reorders one.
std::string s(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? terminal_safe(j[k].get<std::string>()) : "";
}
// Columns a terminal gives one code point: 2 for the East Asian wide and fullwidth ranges of Markus Kuhn's wcwidth
// (Hangul Jamo, the angle brackets U+2329-232A, CJK radicals to Yi but U+303F, Hangul Jamo extended A and
// syllables, CJK compatibility ideographs, vertical forms, CJK compatibility and small form variants, fullwidth
// forms, the emoji blocks U+1F300-1F64F and U+1F900-1F9FF, the CJK extensions of planes 2 and 3), 1 for every other
// (a citation's "§" included; combining marks are not told apart: citations hold none).
size_t columns_of(char32_t c) {
  const bool wide = (c >= 0x1100 && c <= 0x115F) || c == 0x2329 || c == 0x232A ||
                    (c >= 0x2E80 && c <= 0xA4CF && c != 0x303F) || (c >= 0xA960 && c <= 0xA97F) ||
                    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE10 && c <= 0xFE19) ||
                    (c >= 0xFE30 && c <= 0xFE6F) || (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) ||
                    (c >= 0x1F300 && c <= 0x1F64F) || (c >= 0x1F900 && c <= 0x1F9FF) ||
                    (c >= 0x20000 && c <= 0x3FFFD);
  return wide ? 2 : 1;
}
// The terminal columns of `text`, UTF-8 (a record parsed from JSON); safe on any bytes, where a stray byte counts 1.
size_t columns_of_text(const std::string& text) {
  size_t used = 0;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t c = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n && i + k < text.size(); ++k)
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    used += columns_of(c);
    i += n;
  }
  return used;
}
// `text` padded with spaces to `width` terminal columns, so that the next column lines up whatever the text's script;
// text already as wide or wider is left as it is.
std::string pad_columns(const std::string& text, size_t width) {
  const size_t used = columns_of_text(text);
  return used >= width ? text : text + std::string(width - used, ' ');
}
constexpr long kShownDeadLetters = 5;  // dead letters the report shows
}  // namespace

void print_record(const json& r, std::ostream& out, const std::string& how) {
  out << s(r, "kind") << " of " << s(r, "person") << ", event " << s(r, "event") << " (" << how << ")\n";
  for (const auto& [k, v] : r.items()) {
    if (k == "kind" || k == "person" || k == "event") continue;
    out << "  " << k << ": " << (v.is_string() ? terminal_safe(v.get<std::string>()) : v.dump());
    const std::string article = k == "rule" && v.is_string() ? article_of(v.get<std::string>()) : "";
    if (!article.empty()) out << " [" << article << "]";
    out << "\n";
  }
}

void print_explanation(const json& r, std::ostream& out) {
  if (r.value("kind", "") != "settlement") return print_record(r, out, "as recorded");
  // A claim of someone with no standing on its date (UNKNOWN_PERSON, not yet enrolled) has no scheme to name.
  const std::string scheme = s(r, "scheme");
  out << "claim " << s(r, "claim") << " of " << s(r, "person") << (scheme.empty() ? "" : " (" + scheme + ")") << ", "
      << s(r, "benefit") << " on " << s(r, "date");
  if (r.contains("facility")) out << " at " << s(r, "facility");
  out << ": " << s(r, "status");
  if (!r["reasons"].empty()) {
    out << " (";
    for (size_t i = 0; i < r["reasons"].size(); ++i) out << (i ? ", " : "") << r["reasons"][i].get<std::string>();
    out << ")";
  }
  out << "\n  policy " << s(r, "policy_version") << "\n";
  // The article column is as wide as this settlement's widest citation, at least 20 columns, counted in terminal
  // columns, not bytes: an article may cite "N§2(三)", and chronic rules cite up to "[N§3(一); Annex 2; Art.16]".
  size_t width = 20;
  for (const auto& st : r["trace"]) width = std::max(width, columns_of_text("[" + s(st, "article") + "]"));
  int n = 0;
  for (const auto& st : r["trace"])
    out << fmt("  %2d. %-10s ", ++n, s(st, "rule").c_str()) << pad_columns("[" + s(st, "article") + "]", width)
        << " " << s(st, "detail") << "\n";
  out << fmt("  total %s | eligible %s | self-first %s | deductible %s | covered %s | ratio %s | fund pays %s | "
             "patient pays %s\n",
             s(r, "total").c_str(), s(r, "eligible").c_str(), s(r, "self_first").c_str(), s(r, "deductible").c_str(),
             s(r, "covered").c_str(), s(r, "ratio").c_str(), s(r, "fund").c_str(), s(r, "patient").c_str());
}

std::string describe_dead_letter(const DeadLetter& d) {
  std::string where = "partition " + std::to_string(d.partition) + " offset " + std::to_string(d.offset);
  std::string what;
  if (d.event) what += " event " + terminal_safe(*d.event) + " (" + (d.type ? type_name(*d.type) : "") + ")";
  if (d.person) what += " person " + terminal_safe(*d.person);
  if (d.claim) what += " claim " + terminal_safe(*d.claim);
  return where + ":" + what + (what.empty() ? " " : ": ") + terminal_safe(d.reason);
}

namespace {
// The cases `report` explains a settlement of, one each, in the order a claim is tried against them. The fourth is
// a claim with an ORD-ACU step: the trace steps ORD-ACU only for a TCM item it refuses (ledger/claims.cc
// tcm_item_eligible), so an acupuncture-led claim whose items all pass does not show it.
constexpr std::array<const char*, 5> kExplainedCases = {"a limit reached mid-claim", "temporary out-of-area care",
                                                        "a TCM hospital", "a TCM item refused under ORD-ACU",
                                                        "an automatic first designation"};

// The report's totals, from the records as data (Store::outputs_as_data).
struct ReportBooks {
  std::map<std::string, long> by_status, by_reason;
  std::map<std::string, Money> fund_by_scheme_level, fund_by_benefit, fund_by_month;
  std::map<std::string, Settlement> picks;  // case -> the settlement explaining it
  std::set<std::string> shown;               // the cases some settlement shows, whatever it paid
  Money fund = 0, total = 0, reversed = 0;
  long claims = 0, reversals = 0, refusals = 0, dead = 0;
  std::vector<std::string> first_dead;

  void add(const Record& rec) {
    if (const auto* d = std::get_if<DeadLetter>(&rec)) {
      if (dead++ < kShownDeadLetters) first_dead.push_back(describe_dead_letter(*d));
    } else if (const auto* r = std::get_if<Reversal>(&rec)) {
      ++reversals;
      reversed += r->fund;
    } else if (const auto* f = std::get_if<Refusal>(&rec)) {
      ++refusals;
      ++by_reason[spelled(f->reason)];
    }
  }

  // Which of kExplainedCases a settlement shows, in that order.
  static std::array<bool, kExplainedCases.size()> cases_shown(const Settlement& r) {
    auto has_rule = [&](Rule rule) {
      return std::any_of(r.trace.begin(), r.trace.end(), [&](const TraceStep& st) { return st.rule == rule; });
    };
    return {(r.reasons.count(Reason::LIMIT_REACHED) || r.reasons.count(Reason::INPATIENT_LIMIT_REACHED)) &&
                r.covered > 0,
            r.self_first > 0, has_rule(Rule::F_TCM), has_rule(Rule::ORD_ACU),
            r.reasons.count(Reason::AUTO_DESIGNATED) > 0};
  }

  void add(const Settlement& r) {
    ++claims;
    ++by_status[spelled(r.status)];
    for (Reason x : r.reasons) ++by_reason[spelled(x)];
    total += r.total;
    const std::array<bool, kExplainedCases.size()> shows = cases_shown(r);
    for (size_t c = 0; c < shows.size(); ++c)
      if (shows[c]) shown.insert(kExplainedCases[c]);
    if (r.status != ClaimStatus::settled) return;
    const Money f = r.fund;
    const std::string scheme = r.scheme ? spelled(*r.scheme) : "";
    fund += f;
    fund_by_scheme_level[scheme + " level " + std::to_string(r.level)] += f;
    fund_by_benefit[spelled(r.benefit)] += f;
    fund_by_month[format_month(month_of(r.date))] += f;
    // A claim paying something explains one case: the first it shows, in kExplainedCases' order, that no earlier
    // claim explains.
    if (f > 0)
      for (size_t c = 0; c < shows.size(); ++c)
        if (shows[c] && picks.try_emplace(kExplainedCases[c], r).second) break;
  }
};
}  // namespace

void print_report(const Store& store, std::ostream& out, int explained) {
  ReportBooks b;
  store.outputs_as_data([&](const Settlement* s, const Record* r) {
    if (s) b.add(*s);
    else b.add(*r);
    return true;
  });
  // "Settled" is one status among three, so the heading counts the claims the fold decided. Fund paid is as each
  // claim was settled, before reversals; the net after them is what `audit` balances (issue 10 newcomer run).
  out << "== gongji: " << b.claims << " claims decided by the fold, by status ==\n";
  for (auto& [k, v] : b.by_status) out << fmt("  %-10s %8ld\n", k.c_str(), v);
  out << fmt("  charged %s yuan; fund paid %s yuan as settled, %s yuan taken back by %ld reversal%s: %s yuan net\n",
             format_money(b.total).c_str(), format_money(b.fund).c_str(), format_money(-b.reversed).c_str(),
             b.reversals, b.reversals == 1 ? "" : "s", format_money(b.fund + b.reversed).c_str());
  out << "\n== fund paid by scheme and level (yuan, as settled, before reversals) ==\n";
  for (auto& [k, v] : b.fund_by_scheme_level) out << fmt("  %-22s %14s\n", k.c_str(), format_money(v).c_str());
  out << "\n== fund paid by benefit (as settled) ==\n";
  for (auto& [k, v] : b.fund_by_benefit) out << fmt("  %-22s %14s\n", k.c_str(), format_money(v).c_str());
  out << "\n== fund paid by month of service (as settled) ==\n";
  for (auto& [k, v] : b.fund_by_month) out << fmt("  %-22s %14s\n", k.c_str(), format_money(v).c_str());
  out << "\n== reason codes (claims and refused events) ==\n";
  for (auto& [k, v] : b.by_reason) out << fmt("  %-32s %8ld\n", k.c_str(), v);
  out << "\n== dead letters (records the fold could not apply; `gongji dead-letters` lists them all): " << b.dead
      << " ==\n";
  for (const auto& line : b.first_dead) out << "  " << line << "\n";
  if (b.dead > kShownDeadLetters) out << "  ... and " << b.dead - kShownDeadLetters << " more\n";
  int n = 0;
  for (const char* why : kExplainedCases) {
    auto pick = b.picks.find(why);
    if (pick == b.picks.end()) continue;
    if (n++ >= explained) break;
    out << "\n== explained: " << why << " ==\n";
    print_explanation(json::parse(pick->second.to_line()), out);  // the edge: the settlement as the CLI shows it
  }
  // The cases not explained are named, so that fewer explanations than asked for are not a puzzle.
  std::string absent, unexplained;
  for (const char* c : kExplainedCases) {
    if (!b.shown.contains(c)) absent += std::string(absent.empty() ? "" : "; ") + c;
    else if (!b.picks.contains(c)) unexplained += std::string(unexplained.empty() ? "" : "; ") + c;
  }
  if (explained <= 0) return;
  if (!absent.empty()) out << "\n(not explained: this data has no settlement showing " << absent << ")\n";
  if (!unexplained.empty())
    out << "\n(not explained: found only in settlements that pay nothing or were used above for another case: "
        << unexplained << ")\n";
}

}  // namespace gongji
