#include "replay/statement.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "events/text.h"
#include "ledger/chronic.h"
#include "ledger/ledger.h"
#include "ledger/rules.h"
#include "ledger/settlement.h"
#include "replay/person_view.h"

namespace gongji {

using nlohmann::json;

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

// A statement entry: the record's date, kind, the fields it shows (EVENTS.md spellings) and what it adds to the
// year's totals.
struct Entry {
  Date date = 0;
  std::string kind;
  json fields = json::object();
  Money fund = 0, credit = 0, debit = 0;
};

Entry entry_of(const Settlement& s) {
  Entry e{s.date, "settlement"};
  json& f = e.fields;
  f = {{"claim", s.claim}, {"status", spelled(s.status)}, {"benefit", spelled(s.benefit)},
       {"fund", format_money(s.fund)}, {"total", format_money(s.total)}, {"patient", format_money(s.patient())},
       {"event", s.event}, {"reasons", json::array()}};
  if (!s.facility.empty()) f["facility"] = s.facility;
  for (Reason r : s.reasons) f["reasons"].push_back(spelled(r));
  if (s.status == ClaimStatus::settled) e.fund = s.fund;
  return e;
}

// Records with a date (`at`): reversals, account movements, refusals. A contribution mismatch and a dead letter carry
// none, so no year: they are not entries.
std::optional<Entry> entry_of(const Record& rec) {
  if (const auto* r = std::get_if<Reversal>(&rec))
    return Entry{r->at, "reversal", {{"claim", r->claim}, {"fund", format_money(r->fund)}, {"event", r->event}},
                 r->fund};
  if (const auto* m = std::get_if<AccountMovement>(&rec)) {
    Entry e{m->at, m->credit ? "account_credit" : "account_debit",
            {{"amount", format_money(m->amount)}, {"event", m->event}}};
    if (m->month) e.fields["month"] = format_month(*m->month);
    if (m->purpose) e.fields["purpose"] = spelled(*m->purpose);
    (m->credit ? e.credit : e.debit) = m->amount;
    return e;
  }
  if (const auto* r = std::get_if<Refusal>(&rec))
    return Entry{r->at, "refusal", {{"reason", spelled(r->reason)}, {"event", r->event}}};
  return std::nullopt;
}

// The chronic buckets of `period` from `from` to `at` under the standing `st` (chronic_of_year): those of the
// registrations in effect on some day of it, or with effects in it.
json period_buckets(const PersonState& p, const Policy& policy, int year, Period period, const Standing& st, Date from,
                    Date at) {
  json buckets = json::object();  // by name: deterministic order
  for (const Registration& r : p.registrations) {
    const Sums sums = sum_effects(p, year, period, r.bucket, dec31(year));
    if ((r.effective > at || r.ended <= from || r.ended <= r.effective) && !any_effect(sums)) continue;  // chronic_view
    buckets[std::string(chronic_bucket_name(r.bucket))] = {
        {"limit", format_money(chronic_limit(p, st, r.bucket, at, policy.at(at)))},
        {"limit_used", format_money(sums.limit_used)},
        {"deductible_paid", format_money(sums.deductible)},
        {"fund_paid", format_money(sums.fund)}};
  }
  return buckets;
}

// CHR-*: the chronic accumulators of the year, scheme period by scheme period (a scheme change starts a new period,
// ORD-TYPE, with accumulators of its own): for each period, each chronic bucket that had a registration in effect on
// some day of it (CHR-REG; one revoked before it took effect never was) or effects in it (a claim settled before such
// a revocation was logged), with the bucket's limit (CHR-LIM) on the period's last day in the year and the policy's
// window, and what the period's effects dated by the year's end
// consumed (TIME-ASOF: a reversal dated after the period, restored into it, counts); none while the chronic benefit
// is not in force (T-START). A period starts at the year's first day or its own start (enrolment, a scheme change);
// one a change back on its first day superseded (periods_superseded_on) is shown from that day to that day, where
// claims settled in it before the change back was logged have effects.
// Then every registration approved by the year's end, with the day it ended and why.
json chronic_of_year(const PersonState& p, const Policy& policy, int year) {
  json periods = json::array();
  const auto add = [&](Period period, const Standing& st, Date from, Date to, Date at) {
    if (std::max(from, policy.window_from()) > at || !policy.at(at).chronic_in_force) return;
    json buckets = period_buckets(p, policy, year, period, st, from, at);
    if (!buckets.empty())
      periods.push_back({{"from", format_date(from)}, {"to", format_date(to)}, {"scheme", spelled(st.scheme)},
                         {"buckets", buckets}});
  };
  for (Date a = jan1(year); a <= dec31(year);) {
    Date b = a;  // the period's last day in the year
    while (b < dec31(year) && period_start(p, b + 1) == period_start(p, a)) ++b;
    const Date at = std::min(b, policy.window_to()), from = std::max(a, period_start(p, b).start);
    for (const auto& [period, st] : periods_superseded_on(p, a))
      if (a <= policy.window_to()) add(period, st, a, a, a);
    if (const Standing* st = standing_at(p, at)) add(period_start(p, b), *st, from, b, at);
    a = b + 1;
  }
  json registrations = json::array();
  for (const Registration& r : p.registrations) {
    if (r.approved > dec31(year)) continue;
    json j = {{"disease", r.disease}, {"bucket", std::string(chronic_bucket_name(r.bucket))},
              {"effective", format_date(r.effective)}};
    if (r.ended <= dec31(year)) j["ended"] = format_date(r.ended);
    if (r.ended <= dec31(year) && r.end_reason) j["end_reason"] = spelled(*r.end_reason);
    registrations.push_back(j);
  }
  return {{"periods", periods}, {"registrations", registrations}};
}

// Every output record naming the person that has a date, as data, through the person's indexes
// (Store::person_outputs_as_data): those of their own events and those a shared event produced for them
// (period_closed: ACC-RET credits).
std::vector<Entry> entries_of(const Store& store, const std::string& person) {
  std::vector<Entry> records;
  store.person_outputs_as_data(person, [&](const Settlement* st, const Record* r) {
    if (std::optional<Entry> e = st ? entry_of(*st) : entry_of(*r)) records.push_back(std::move(*e));
    return true;
  });
  return records;
}

}  // namespace

int statement_year(const Store& store, const Policy& policy, const std::string& person) {
  auto p = store.person(person);
  if (!p) throw NotFoundError("no person " + person);
  const int first = year_of(policy.window_from()), last = year_of(policy.window_to());
  int latest = 0;
  for (const Entry& e : entries_of(store, person))
    if (year_of(e.date) >= first && year_of(e.date) <= last) latest = std::max(latest, year_of(e.date));
  if (latest) return latest;
  return p->enrolled == kNever ? first : std::clamp(year_of(p->enrolled), first, last);
}

Statement statement(const Store& store, const Policy& policy, const std::string& person, int year) {
  auto p = store.person(person);
  if (!p) throw NotFoundError("no person " + person);
  std::vector<Entry> records = entries_of(store, person);
  auto nofac = [](const std::string&) -> const FacilityState* { return nullptr; };
  json entries = json::array();
  Money fund = 0, credits = 0, debits = 0;
  const auto limit = [](const PersonDay& d) { return d.limit ? json(format_money(*d.limit)) : json(); };
  for (Entry& r : records) {
    if (year_of(r.date) != year) continue;
    const PersonDay day = person_day(*p, r.date, policy);
    json e = {{"date", format_date(r.date)}, {"kind", r.kind}, {"deductible_paid", format_money(day.deductible_paid)},
              {"limit_used", format_money(day.limit_used)}, {"limit", limit(day)},
              {"balance", format_money(day.balance)}};
    e.update(r.fields);
    fund += r.fund;
    credits += r.credit;
    debits += r.debit;
    entries.push_back(e);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const json& a, const json& b) { return a["date"] < b["date"]; });
  Statement s;
  json daily = json::array();
  for (Date d = jan1(year); d <= dec31(year); ++d) {
    const PersonDay& day = s.days.emplace_back(person_day(*p, d, policy));
    daily.push_back({{"date", format_date(d)}, {"limit_used", format_money(day.limit_used)}, {"limit", limit(day)},
                     {"balance", format_money(day.balance)}});
  }
  json end = person_view(*p, dec31(year), policy, nofac);
  s.view = {{"person", person},
            {"year", year},
            {"scheme", end["scheme"]},
            {"entries", entries},
            {"daily", daily},
            {"totals", {{"fund_paid", format_money(fund)}, {"account_credits", format_money(credits)},
                        {"account_debits", format_money(debits)}, {"year_end", end}}},
            {"chronic", chronic_of_year(*p, policy, year)}};
  return s;
}

namespace {
// The statement's scheme for people: as of the year's last day (build_statement), or that there is none on it.
std::string scheme_said(const json& s) {
  if (s["scheme"].is_string()) return s["scheme"].get<std::string>();
  return "no scheme on " + std::to_string(s["year"].get<int>()) + "-12-31";
}

// CHR-*: a person with chronic registrations gets the section `chronic` (chronic_of_year) as lines.
void chronic_text(std::ostream& o, const json& s) {
  const json& chronic = s["chronic"];
  if (chronic["registrations"].empty()) return;
  o << "chronic outpatient, " << s["year"].get<int>() << ":\n";
  for (const json& period : chronic["periods"])
    for (const auto& [bucket, v] : period["buckets"].items())  // buckets in name order (a JSON object)
      o << "  " << period["from"].get<std::string>() << " to " << period["to"].get<std::string>() << " ("
        << period["scheme"].get<std::string>() << "), bucket " << bucket << ": deductible paid "
        << v["deductible_paid"].get<std::string>() << ", limit used " << v["limit_used"].get<std::string>() << " of "
        << v["limit"].get<std::string>() << ", fund paid " << v["fund_paid"].get<std::string>() << "\n";
  for (const json& r : chronic["registrations"]) {
    const std::string effective = r["effective"].get<std::string>(), ended = r.value("ended", "");
    o << "  disease " << r["disease"].get<std::string>() << " (" << r["bucket"].get<std::string>() << "): "
      << (!ended.empty() && ended <= effective ? "never in effect (from " + effective + ")"
                                                : "in effect from " + effective);
    if (!ended.empty()) o << ", ended " << ended;
    if (r.contains("end_reason")) {  // in words: "scheme_changed" (the JSON's spelling) reads "scheme changed"
      std::string reason = r["end_reason"].get<std::string>();
      std::replace(reason.begin(), reason.end(), '_', ' ');
      o << " (" << reason << ")";
    }
    o << "\n";
  }
}
}  // namespace

std::string statement_text(const Statement& statement) {
  const json& s = statement.view;
  std::ostringstream o;
  const std::string scheme = scheme_said(s);
  // Ids for a person to read: what a terminal acts on written as escapes (events/text.h terminal_safe).
  o << "Statement for " << terminal_safe(s["person"].get<std::string>()) << ", " << s["year"] << " (" << scheme
    << ")\n";
  char line[2048];  // a claim id of 256 bytes, escaped, and the other columns
  // The deductible and limit columns are the ordinary outpatient's (ORD-DED, ORD-LIM) on each entry's date, whatever
  // the entry's benefit: a chronic claim's own accumulators are in its settlement (`explain`).
  const char* row = "%-10s  %-15s %-14s %-10s %-9s %10s %10s  %10s %10s %10s\n";
  const auto trimmed = [](std::string l) {  // no spaces before the line's end
    while (l.size() > 1 && l[l.size() - 2] == ' ') l.erase(l.size() - 2, 1);
    return l;
  };
  std::snprintf(line, sizeof line, row, "date", "kind", "claim", "benefit", "status", "fund", "amount", "ordinary:",
                "", "");
  o << trimmed(line);
  std::snprintf(line, sizeof line, row, "", "", "", "", "", "", "", "deductible", "limit used", "balance");
  o << line;
  for (const auto& e : s["entries"]) {
    std::snprintf(line, sizeof line, row, e["date"].get<std::string>().c_str(), e["kind"].get<std::string>().c_str(),
                  terminal_safe(e.value("claim", "")).c_str(), e.value("benefit", "").c_str(),
                  e.value("status", "").c_str(),
                  e.value("fund", "").c_str(), e.value("amount", "").c_str(),
                  e["deductible_paid"].get<std::string>().c_str(), e["limit_used"].get<std::string>().c_str(),
                  e["balance"].get<std::string>().c_str());
    o << line;
  }
  o << "(deductible and limit used: the ordinary outpatient's on each date; a chronic or other benefit's are in its\n"
       " settlement: gongji explain --claim)\n";
  o << "fund paid " << s["totals"]["fund_paid"].get<std::string>() << "; account credits "
    << s["totals"]["account_credits"].get<std::string>() << ", debits "
    << s["totals"]["account_debits"].get<std::string>() << "\n";
  chronic_text(o, s);
  return o.str();
}

std::string statement_html(const Statement& statement) {
  // One self-contained page: a chart of the ordinary limit used and the account balance over the year (inline
  // SVG, no scripts), then the entries.
  const json& s = statement.view;
  const std::vector<PersonDay>& daily = statement.days;
  double max_y = 1;
  for (const PersonDay& d : daily)
    max_y = std::max({max_y, static_cast<double>(d.limit_used), static_cast<double>(d.balance),
                      static_cast<double>(d.limit.value_or(0))});
  const double W = 720, H = 240, L = 60, B = 30;
  auto x = [&](size_t i) {
    return L + (W - L - 10) * static_cast<double>(i) / static_cast<double>(std::max<size_t>(1, daily.size() - 1));
  };
  auto y = [&](Money m) { return H - B - (H - B - 10) * static_cast<double>(m) / max_y; };
  auto path = [&](Money PersonDay::*field) {
    std::ostringstream p;
    for (size_t i = 0; i < daily.size(); ++i) p << (i ? " L" : "M") << x(i) << "," << y(daily[i].*field);
    return p.str();
  };
  std::ostringstream o;
  o << "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>gongji statement " << esc(s["person"])
    << " " << s["year"] << "</title><style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:24px;color:#222}"
    << "table{border-collapse:collapse;font-size:13px}"
    << "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}"
    << "td:nth-child(-n+4),th:nth-child(-n+4){text-align:left}.settled{color:#165}.rejected,.referred{color:#a33}"
    << ".legend span{display:inline-block;width:14px;height:3px;margin:0 6px 3px 12px}</style></head><body>"
    << "<h1>Statement 年度结算单 — " << esc(s["person"]) << ", " << s["year"] << "</h1>"
    << "<p>Scheme: " << esc(scheme_said(s))
    << ". Fund paid this year: <b>"
    << esc(s["totals"]["fund_paid"]) << "</b> yuan. Account: credits " << esc(s["totals"]["account_credits"])
    << ", debits " << esc(s["totals"]["account_debits"]) << ", balance on 31 December <b>"
    << esc(s["totals"]["year_end"]["account"]["balance"]) << "</b>.</p>"
    << "<svg id=\"chart\" width=\"" << W << "\" height=\"" << H
    << "\" role=\"img\" aria-label=\"limit used and balance\">"
    << "<rect x=\"" << L << "\" y=\"10\" width=\"" << W - L - 10 << "\" height=\"" << H - B - 10
    << "\" fill=\"#fafafa\" stroke=\"#ccc\"/>";
  for (int m = 0; m < 12; ++m) {
    size_t i = static_cast<size_t>(first_day(make_month(s["year"].get<int>(), m + 1)) - jan1(s["year"].get<int>()));
    o << "<text x=\"" << x(i) + 2 << "\" y=\"" << H - 10 << "\" font-size=\"11\">" << m + 1 << "月</text>";
  }
  o << "<text x=\"4\" y=\"" << y(static_cast<Money>(max_y)) + 4 << "\" font-size=\"11\">"
    << format_money(static_cast<Money>(max_y)) << "</text><text x=\"4\" y=\"" << y(0) << "\" font-size=\"11\">0</text>"
    << "<path d=\"" << path(&PersonDay::limit_used) << "\" fill=\"none\" stroke=\"#d2691e\" stroke-width=\"2\"/>"
    << "<path d=\"" << path(&PersonDay::balance) << "\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/></svg>"
    << "<p class=\"legend\"><span style=\"background:#d2691e\"></span>ordinary limit used 普通门诊已用限额"
    << "<span style=\"background:#1f77b4\"></span>personal account balance 个人账户余额</p>"
    << "<table><tr><th>date</th><th>kind</th><th>claim</th><th>benefit</th><th>status</th><th>fund</th><th>amount</th>"
    << "<th>ordinary deductible paid</th><th>ordinary limit used</th><th>balance</th></tr>";
  for (const auto& e : s["entries"])
    o << "<tr><td>" << esc(e["date"]) << "</td><td>" << esc(e["kind"]) << "</td><td>" << esc(e.value("claim", ""))
      << "</td><td>" << esc(e.value("benefit", "")) << "</td><td class=\"" << esc(e.value("status", "")) << "\">"
      << esc(e.value("status", "")) << "</td><td>"
      << esc(e.value("fund", "")) << "</td><td>" << esc(e.value("amount", "")) << "</td><td>"
      << esc(e["deductible_paid"]) << "</td><td>" << esc(e["limit_used"]) << " / "
      << esc(e["limit"].is_string() ? e["limit"].get<std::string>() : "") << "</td><td>" << esc(e["balance"])
      << "</td></tr>";
  o << "</table>";
  std::ostringstream chronic;  // CHR-*: as the text statement gives them
  chronic_text(chronic, s);
  if (!chronic.str().empty()) o << "<h2>门诊慢特病 chronic outpatient</h2><pre>" << esc(chronic.str()) << "</pre>";
  o << "</body></html>\n";
  return o.str();
}

}  // namespace gongji
