#include "service/queries.h"

#include <filesystem>
#include <map>
#include <set>

#include "events/money.h"
#include "events/partition.h"
#include "service/access_log.h"
#include "ledger/settlement.h"
#include "oplog/oplog.h"
#include "replay/statement.h"
#include "replay/person_view.h"

namespace gongji {

using nlohmann::json;

namespace {

std::string cli_option(std::string parameter) {
  for (char& c : parameter)
    if (c == '_') c = '-';
  return "--" + parameter;
}

std::string str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
}

json row_json(const FundRow& r) {
  return {{"settled", format_money(r.settled)}, {"reversed", format_money(r.reversed)},
          {"net", format_money(checked_add(r.settled, r.reversed))}};
}

json rows_json(const std::map<std::string, FundRow>& rows) {
  json j = json::object();
  for (const auto& [k, v] : rows) j[k] = row_json(v);
  return j;
}

// What a month's view keeps of a settled claim, so that its reversal counts in the same rows.
struct ClaimRows {
  std::string scheme, benefit, facility;
  int level = 0;
};

std::string claim_key(const json& r) { return str(r, "person") + "/" + str(r, "claim"); }

std::string claim_key(const std::string& person, const std::string& claim) { return person + "/" + claim; }

bool in_month(Date d, Month month) { return month_of(d) == month; }

std::string scheme_of(const Settlement& s) { return s.scheme ? spelled(*s.scheme) : ""; }

json reasons_of(const Settlement& s) {
  json a = json::array();
  for (Reason r : s.reasons) a.push_back(spelled(r));
  return a;
}

}  // namespace

ParameterError::ParameterError(const std::string& p, const std::string& d)
    : std::runtime_error(cli_option(p) + ": " + d), parameter(p), detail(d) {}

namespace {
// The policy versions the store recorded (its v/ keys), in key order, comma-separated.
std::string recorded_versions(const Store& store) {
  std::string used;
  store.scan("v/", [&](const std::string& key, std::string_view) {
    used += (used.empty() ? "" : ", ") + key.substr(2);  // a version (xxh128:<hex>) is its own key_part
  });
  return used;
}

// What a fold under `p`, a text the store recorded, passes over: said on the operational log, once per key.
void warn_passed_over(const Policy& p) {
  for (const std::string& m : p.passed_over())  // a text an older gongji took (ledger/policy.h)
    oplog::warn("the store's policy " + p.version() + " holds what the loader passes over, as it did when the store " +
                "was folded under it (a file holding it is refused now, but for the store's own text): " + m);
}
}  // namespace

Policy read_policy(const Store& store, const std::string& policy_file, bool or_built_in) {
  if (!policy_file.empty()) return named_policy(store, policy_file);
  if (std::optional<Policy> recorded = recorded_policy(store)) return *recorded;
  if (or_built_in) return default_policy();
  const std::string used = recorded_versions(store);
  // None recorded: a store made by a first fold that has not recorded its policy yet (not the caller's mistake).
  if (used.empty()) throw NotFoldedError("the store at " + store.dir() + " has no policy recorded yet: it has folded "
                                         "nothing (run `gongji fold`, or wait for the one running)");
  throw ParameterError("policy", "the store used several policy versions (" + used + "): name the file of one");
}

void refuse_another_policy(const Store& store, const Policy& p, const std::string& view) {
  const std::string used = recorded_versions(store);
  if (used.empty() || store.policy_text(p.version())) return;
  throw ParameterError("policy", "policy " + p.version() + " is not one this store was folded under (" + used +
                                     "): " + view + " shows what the store recorded, under its own policy; omit "
                                     "--policy, or ask `explain --policy` or `what-if` for another policy's effect");
}

namespace {
// fold_policy without its warnings.
Policy settled_fold_policy(const Store& store, const std::string& policy_file) {
  const std::string used = recorded_versions(store);
  if (policy_file.empty() && used.empty()) return default_policy();
  Policy p = policy_file.empty() ? read_policy(store, "") : named_policy(store, policy_file);
  if (used.empty() || store.policy_text(p.version())) return p;
  const bool several = used.find(',') != std::string::npos;
  throw ParameterError("policy", policy_file + " is policy " + p.version() + ", but this store was folded under " +
                                     used + (several ? ": name the file of one of them" : ": omit --policy to fold "
                                     "on under the store's own") + " (`gongji policy --policy FILE` gives a file's "
                                     "version). Folded on under another policy, a store holds records no audit can "
                                     "check; ask what-if for that policy's effect, or fold a copy of the log into a "
                                     "new data directory under it");
}
}  // namespace

Policy fold_policy(const Store& store, const std::string& policy_file) {
  Policy p = settled_fold_policy(store, policy_file);
  warn_passed_over(p);
  return p;
}

void check_fold_policy_before_writing(const std::string& state_dir, const std::string& policy_file) {
  try {
    if (std::filesystem::exists(state_dir + "/CURRENT")) (void)settled_fold_policy(Store(state_dir, true), policy_file);
    else if (!policy_file.empty()) (void)load_policy_file(policy_file);
  } catch (const StoreFormatError& e) {
    if (!e.migratable) throw;  // the writable open would refuse it too; migratable ones it migrates, then checks
  }
}

Policy named_policy(const Store& store, const std::string& policy_file) {
  const std::string text = read_policy_file(policy_file);
  const bool recorded = store.policy_text(policy_version(text)) == text;
  return load_policy_text(text, policy_file, recorded ? PolicyText::stored : PolicyText::given);
}

KnownAt known_at_param(const std::string& text, const EventLog& log) {
  KnownAt k;
  try {
    k = parse_known_at(text);
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw ParameterError("known_at", why.starts_with("--known-at: ") ? why.substr(12) : why);
  }
  for (const auto& [p, off] : k.offsets)
    if (p < 0 || p >= log.partitions())
      throw ParameterError("known_at", "partition " + std::to_string(p) +
                                           " does not exist (the log has partitions 0 to " +
                                           std::to_string(log.partitions() - 1) + ")");
  return k;
}

namespace {
std::string time_text(int64_t ms) {  // as --known-at takes it
  return utc_timestamp(AccessLog::Clock::time_point(std::chrono::milliseconds(ms)));
}
}  // namespace

std::optional<Date> default_as_of(const Store& store, const std::string& person, const KnownAt* known) {
  const int partition = partition_of(person, store.partitions());
  Store::Admits admits;
  if (known) admits = [&](uint64_t offset, int64_t ms) { return known->admits(partition, offset, ms); };
  if (known && known->ms) {  // the events ingested by then are a prefix of the partition outside the window
    const auto bound = known->offsets.find(partition);
    const std::optional<Store::Disorder> d = store.disorder(partition);
    if (d && (bound == known->offsets.end() || d->first_offset < bound->second) && *known->ms >= d->from_ms &&
        *known->ms < d->to_ms)
      throw ParameterError("as_of", "is needed for person " + person + " as known at that time: partition " +
                                        std::to_string(partition) + " of the log holds events ingested out of order "
                                        "(from offset " + std::to_string(d->first_offset) + " on, ingested between " +
                                        time_text(d->from_ms) + " and " + time_text(d->to_ms) +
                                        "), so its latest date as known then is not kept");
  }
  return store.latest_date(partition, admits);
}

json person_query(const Store& store, const LogSource& log_source, const PersonQuery& q) {
  std::optional<Date> as_of;
  if (!q.as_of.empty()) {
    as_of = parse_date(q.as_of);
    if (!as_of) throw ParameterError("as_of", date_problem(q.as_of));
  }
  std::optional<Policy> read;
  if (!q.policy) read = read_policy(store, q.policy_file, q.known_at.empty());
  const Policy& policy = q.policy ? *q.policy : *read;
  // Only a file loaded here can be another policy: the store's own needs no check, nor a caller's cache, which the
  // query service checked when it started (a v/ scan a request saved).
  if (read && !q.policy_file.empty()) refuse_another_policy(store, *read, "person");
  std::optional<KnownAt> known;
  if (!q.known_at.empty()) known = known_at_param(q.known_at, log_source());
  // As known at T: every event ingested by then, so none the store has not folded yet (TIME-ASOF).
  if (known && store.partitions() > 0)
    refuse_unfolded(store, log_source(), partition_of(q.person, store.partitions()), *known);
  // The default before the person is read: a date it cannot give is refused with nothing read.
  if (!as_of) as_of = default_as_of(store, q.person, known ? &*known : nullptr);
  std::optional<PersonState> p;
  if (known) {
    // TIME-REPLAY: what the ledger held, as known at T: the person's history folded again up to T.
    Reconstruction r = reconstruct_person(store, log_source(), q.person, policy, *known, std::nullopt, q.cache);
    if (PersonState* ps = r.state.person(q.person)) p = *ps;
  } else {
    p = store.person(q.person);
  }
  // (No date: nothing folded, or known then, in the person's partition, so no person either.)
  if (!p || !as_of)
    throw NotFoundError("no person " + q.person +
                        (q.known_at.empty() ? ""
                                            : " known at " + q.known_at +
                                                  " (knowledge time: when events were ingested)"));
  return person_view(*p, *as_of, policy, [](const std::string&) { return nullptr; });
}

void records_query(const Store& store, const std::string& person, const std::string& claim, const std::string& kind,
                   const std::function<void(const Output&)>& fn) {
  auto keep = [&](const Output& r) {
    if ((claim.empty() || r.claim == claim) && (kind.empty() || r.kind == kind)) fn(r);
    return true;
  };
  // EVENTS.md: a claim is its person and its claim id. A claim alone means the one person with a settlement of that
  // id (several: AmbiguousClaimError); an id no settlement holds (a dead-lettered claim) is looked for in the dead
  // letters, the only records that can name it (Store::dead_letter_outputs).
  std::string who = person;
  if (who.empty() && !claim.empty() && !store.claim_holders(claim, 1).empty()) who = store.claim_person(claim, "");
  auto each = [&](const std::function<bool(const Output&)>& f) {
    if (!who.empty()) store.person_stored_outputs(who, f);  // the person's indexes (i/ and r/)
    else if (!claim.empty()) store.dead_letter_outputs(f);  // keep() reads each one's claim
    else store.stored_outputs(f);
  };
  bool named = false;  // a record of the person or claim asked for, of any kind
  each([&](const Output& r) {
    named = named || claim.empty() || r.claim == claim;
    return keep(r);
  });
  if (named || (person.empty() && claim.empty())) return;
  if (claim.empty() && !store.person(person)) throw NotFoundError("no person " + person);
  if (!claim.empty())
    throw NotFoundError("no record of claim " + claim + (person.empty() ? "" : " of person " + person));
}

json explanation_json(const Rederivation& r, const std::string& claim, const std::string& person, bool what_if) {
  json j = {{"claim", claim},
            {"person", person},
            {"recorded", json::parse(r.recorded.line())},
            {"recomputed", json::parse(r.recomputed.line())},
            {"equal", r.equal}, {"policy_version", r.policy_version}};
  if (!r.equal) j["differences"] = settlement_differences(r.recorded, r.recomputed);
  if (what_if) j["what_if"] = true;
  return j;
}

std::vector<json> claim_reversals(const Store& store, const std::string& person, const std::string& claim) {
  std::vector<json> out;
  store.person_outputs(person, [&](const json& r) {
    if (r.value("kind", "") == "reversal" && r.value("claim", "") == claim) out.push_back(r);
    return true;
  });
  return out;
}

std::string explanation_line(const Rederivation& r, const std::string& claim, const std::string& person,
                             bool what_if, const std::vector<json>& reversals) {
  json head = {{"claim", claim}, {"person", person}, {"equal", r.equal}, {"policy_version", r.policy_version}};
  if (!r.equal) head["differences"] = settlement_differences(r.recorded, r.recomputed);
  std::string line = head.dump(-1, ' ', false, json::error_handler_t::replace);
  line.pop_back();  // '}': "recomputed", "recorded" and "reversals" sort after every key above, "what_if" after them
  line += ",\"recomputed\":" + r.recomputed.line() + ",\"recorded\":" + r.recorded.line();
  if (!reversals.empty())
    line += ",\"reversals\":" + json(reversals).dump(-1, ' ', false, json::error_handler_t::replace);
  return line + (what_if ? ",\"what_if\":true}" : "}");
}

std::string statement_query(const Store& store, const std::string& person, std::optional<int> asked,
                            const std::string& format, const std::string& policy_file, const Policy* policy) {
  std::optional<Policy> read;
  if (!policy) read = read_policy(store, policy_file, true);
  const Policy& used = policy ? *policy : *read;
  if (read && !policy_file.empty()) refuse_another_policy(store, *read, "statement");  // as person_query
  const int year = asked ? *asked : statement_year(store, used, person);
  if (year < year_of(used.window_from()) || year > year_of(used.window_to()))
    throw ParameterError("year", std::to_string(year) + " is outside the policy window " +
                                     format_date(used.window_from()) + " to " + format_date(used.window_to()));
  if (format != "json" && format != "html" && format != "text")
    throw ParameterError("format", "expected json, html or text, got '" + format + "'");
  const Statement s = statement(store, used, person, year);
  if (format == "json") return s.view.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  return format == "html" ? statement_html(s) : statement_text(s);
}

Month month_param(const std::string& text, const std::string& parameter) {
  auto m = parse_month(text);
  if (!m) throw ParameterError(parameter, "expected a month YYYY-MM, got '" + text + "'");
  return *m;
}

MonthShare facility_month_share(const Store& store, const std::string& facility, Month month,
                                std::optional<int> partition) {
  MonthShare v{MonthView::facility, month};
  v.facility = facility;
  std::map<std::string, ClaimRows> settled;  // person/claim of the facility's settled claims in the month
  std::map<std::string, FundRow>&by_benefit = v.rows["fund_by_benefit"], &by_scheme = v.rows["fund_by_scheme"];
  std::set<std::string> patients;
  FundRow& total = v.fund;
  json &claims = v.claims, &reversals = v.reversals;
  store.month_outputs_as_data({month, partition, facility, false}, [&](const Settlement* s, const Record* rec) {
    if (s && s->facility == facility && in_month(s->date, month)) {
      patients.insert(s->person);
      json c = {{"claim", s->claim}, {"person", s->person}, {"date", format_date(s->date)},
                {"benefit", spelled(s->benefit)}, {"scheme", scheme_of(*s)},
                {"level", s->level ? json(s->level) : json(nullptr)},  // null: rejected or referred before F-LEVEL
                {"status", spelled(s->status)}, {"reasons", reasons_of(*s)}, {"fund", format_money(s->fund)},
                {"total", format_money(s->total)}};
      claims.push_back(std::move(c));
      if (s->status != ClaimStatus::settled) return true;
      settled[claim_key(s->person, s->claim)] = {scheme_of(*s), spelled(s->benefit), facility, 0};
      add_to(total.settled, s->fund);
      add_to(by_benefit[spelled(s->benefit)].settled, s->fund);
      add_to(by_scheme[scheme_of(*s)].settled, s->fund);
    } else if (const Reversal* r = rec ? std::get_if<Reversal>(rec) : nullptr; r && in_month(r->date, month)) {
      // the settlement precedes its reversal in the person's partition
      auto it = settled.find(claim_key(r->person, r->claim));
      if (it == settled.end()) return true;
      add_to(total.reversed, r->fund);
      add_to(by_benefit[it->second.benefit].reversed, r->fund);
      add_to(by_scheme[it->second.scheme].reversed, r->fund);
      reversals.push_back({{"claim", r->claim}, {"person", r->person}, {"at", format_date(r->at)},
                           {"fund", format_money(r->fund)}});
    }
    return true;
  });
  v.patients = patients.size();
  return v;
}

json facility_month(const Store& store, const std::string& facility, Month month, std::optional<int> partition) {
  return facility_month_share(store, facility, month, partition).to_json();
}

MonthShare fund_month_share(const Store& store, Month month, std::optional<int> partition) {
  MonthShare v{MonthView::fund, month};
  std::map<std::string, ClaimRows> settled;
  std::map<std::string, FundRow>&by_scheme = v.rows["by_scheme"], &by_level = v.rows["by_level"],
                                 &by_benefit = v.rows["by_benefit"], &by_scheme_level = v.rows["by_scheme_level"];
  FundRow& total = v.fund;
  long &claims = v.claim_count, &credits = v.credits, &debits = v.debits;
  Money &credited = v.credited, &debited = v.debited;
  auto add = [&](const ClaimRows& c, Money f, bool reversal) {
    const std::string level = std::to_string(c.level);
    for (FundRow* row : {&total, &by_scheme[c.scheme], &by_level[level], &by_benefit[c.benefit],
                         &by_scheme_level[c.scheme + " level " + level]})
      add_to(reversal ? row->reversed : row->settled, f);
  };
  store.month_outputs_as_data({month, partition, std::nullopt, true}, [&](const Settlement* s, const Record* rec) {
    if (s) {
      if (!in_month(s->date, month)) return true;
      ++claims;
      if (s->status != ClaimStatus::settled) return true;
      ClaimRows c{scheme_of(*s), spelled(s->benefit), s->facility, s->level};
      settled[claim_key(s->person, s->claim)] = c;
      add(c, s->fund, false);
    } else if (const auto* r = std::get_if<Reversal>(rec); r && in_month(r->date, month)) {
      if (auto it = settled.find(claim_key(r->person, r->claim)); it != settled.end()) add(it->second, r->fund, true);
    } else if (const auto* m = std::get_if<AccountMovement>(rec); m && in_month(m->at, month)) {
      ++(m->credit ? credits : debits);
      add_to(m->credit ? credited : debited, m->amount);
    }
    return true;
  });
  return v;
}

json fund_month(const Store& store, Month month, std::optional<int> partition) {
  return fund_month_share(store, month, partition).to_json();
}

namespace {
// One RFC 4180 field. `text` (an id, a code, a date): a leading = + - @ TAB or CR gets a ' before it, so that a
// spreadsheet does not take it for a formula (OWASP "CSV injection"); money and counts are never text, so a
// negative amount stays a number.
std::string csv_field(const json& v, bool text) {
  if (v.is_null()) return "";  // none, as a missing field
  std::string t = v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, json::error_handler_t::replace);
  // A text field a spreadsheet would take for a formula gets a leading '; so does one that starts with ' itself, so
  // that a reader strips exactly one ' from any field starting with one ("'=1" and "=1" stay two values).
  if (text && !t.empty() && std::string_view("=+-@\t\r'").find(t[0]) != std::string_view::npos) t.insert(0, "'");
  if (t.find_first_of(",\"\r\n") == std::string::npos) return t;
  std::string q = "\"";
  for (char c : t) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
std::string csv_text(const json& v) { return csv_field(v, true); }
std::string csv_number(const json& v) { return csv_field(v, false); }
}  // namespace

std::string facility_month_csv(const json& view) {
  std::string out = "claim,person,date,benefit,scheme,level,status,fund,total\r\n";
  auto line = [&](const json& c, const json& date, const json& status, const json& fund, const json& total) {
    out += csv_text(c.value("claim", json(""))) + "," + csv_text(c.value("person", json(""))) + "," +
           csv_text(date) + "," + csv_text(c.value("benefit", json(""))) + "," +
           csv_text(c.value("scheme", json(""))) + "," + csv_number(c.value("level", json(""))) + "," +
           csv_text(status) + "," + csv_number(fund) + "," + csv_number(total) + "\r\n";
  };
  for (const json& c : view["claims"])
    line(c, c.value("date", json("")), c.value("status", json("")), c.value("fund", json("")),
         c.value("total", json("")));
  // Reversals as rows of their own (status "reversal", dated when reversed, no total), with their claim's benefit,
  // scheme and level, so that the fund column sums to the view's net fund.
  for (const json& r : view.value("reversals", json::array())) {
    json claim = r;
    for (const json& c : view["claims"])
      if (claim_key(c) == claim_key(r)) claim = c;
    line(claim, r.value("at", json("")), json("reversal"), r.value("fund", json("")), json(""));
  }
  return out;
}

std::string fund_month_csv(const json& view) {
  std::string out = "view,key,settled,reversed,net,count,amount\r\n";
  auto row = [&](const std::string& v, const std::string& key, const json& r) {
    out += csv_text(v) + "," + csv_text(key) + "," + csv_number(r["settled"]) + "," + csv_number(r["reversed"]) +
           "," + csv_number(r["net"]) + ",,\r\n";
  };
  row("total", view["month"].get<std::string>(), view["fund"]);
  for (const char* v : {"by_scheme", "by_level", "by_benefit", "by_scheme_level"})
    for (const auto& [key, r] : view[v].items()) row(v, key, r);
  // The account's movements of the month (as the JSON's `account`): count and amount, no fund columns.
  for (const char* k : {"credits", "debits"}) {
    const json& a = view["account"][k];
    out += "account," + std::string(k) + ",,,," + csv_number(a["count"]) + "," + csv_number(a["amount"]) + "\r\n";
  }
  return out;
}

MonthShare facilities_month_share(const Store& store, Month month, std::optional<int> partition) {
  MonthShare v{MonthView::facilities, month};
  std::map<std::string, std::set<std::string>> patients;  // by facility
  std::map<std::string, std::string> settled;              // person/claim -> facility
  store.month_outputs_as_data({month, partition, std::nullopt, false}, [&](const Settlement* s, const Record* rec) {
    if (s && in_month(s->date, month)) {  // out of area (no facility): the row keyed "" (no facility id is empty)
      MonthShare::Facility& row = v.facilities[s->facility];
      ++row.claims;
      patients[s->facility].insert(s->person);
      if (s->status != ClaimStatus::settled) return true;
      settled[claim_key(s->person, s->claim)] = s->facility;
      add_to(row.fund.settled, s->fund);
    } else if (const Reversal* r = rec ? std::get_if<Reversal>(rec) : nullptr; r && in_month(r->date, month)) {
      if (auto it = settled.find(claim_key(r->person, r->claim)); it != settled.end())
        add_to(v.facilities[it->second].fund.reversed, r->fund);
    }
    return true;
  });
  for (auto& [facility, row] : v.facilities) row.patients = patients[facility].size();
  return v;
}

json facilities_of_month(const Store& store, Month month, std::optional<int> partition) {
  return facilities_month_share(store, month, partition).to_json();
}

std::string facilities_of_month_csv(const json& view) {
  std::string out = "facility,claims,patients,settled,reversed,net\r\n";
  auto row = [&](const json& facility, const json& f) {
    out += csv_text(facility) + "," + csv_number(f["claims"]) + "," + csv_number(f["patients"]) + "," +
           csv_number(f["fund"]["settled"]) + "," + csv_number(f["fund"]["reversed"]) + "," +
           csv_number(f["fund"]["net"]) + "\r\n";
  };
  for (const json& f : view["facilities"]) row(f["facility"], f);
  // The month's out-of-area claims (no facility; no facility id is empty), last, so that the rows add up to the
  // fund's month.
  if (view.contains("out_of_area") && view["out_of_area"]["claims"] != 0) row("", view["out_of_area"]);
  return out;
}

namespace {
// An amount of a member's share, as format_money writes it: yuan, negative for a reversal (the wire between members).
Money yuan_of(const json& v) {
  const std::string text = v.is_string() ? v.get<std::string>() : "";
  const bool negative = text.starts_with('-');
  std::optional<Money> m = parse_yuan(negative ? std::string_view(text).substr(1) : std::string_view(text));
  if (!m) throw std::runtime_error("a share of a month view holds an amount that is not yuan: " + v.dump());
  return negative ? -*m : *m;  // parse_yuan gives 0 or more: negating cannot overflow
}
FundRow row_of(const json& j) { return {yuan_of(j.at("settled")), yuan_of(j.at("reversed"))}; }
void add_row(FundRow& into, const FundRow& r) { add_to(into.settled, r.settled), add_to(into.reversed, r.reversed); }
// The sections of rows each view has, in its JSON.
std::vector<const char*> row_sections(MonthView v) {
  if (v == MonthView::facility) return {"fund_by_benefit", "fund_by_scheme"};
  if (v == MonthView::fund) return {"by_scheme", "by_level", "by_benefit", "by_scheme_level"};
  return {};
}
}  // namespace

void MonthShare::add(const MonthShare& o) {
  for (const json& c : o.claims) claims.push_back(c);
  for (const json& r : o.reversals) reversals.push_back(r);
  claim_count += o.claim_count;
  patients += o.patients;  // a person's records are in one partition only
  add_row(fund, o.fund);
  for (const auto& [section, rows_of] : o.rows)
    for (const auto& [key, row] : rows_of) add_row(rows[section][key], row);
  credits += o.credits, debits += o.debits;
  add_to(credited, o.credited), add_to(debited, o.debited);
  for (const auto& [id, f] : o.facilities) {
    Facility& into = facilities[id];
    into.claims += f.claims, into.patients += f.patients;
    add_row(into.fund, f.fund);
  }
}

json MonthShare::to_json() const {
  json j = {{"month", format_month(month)}};
  if (view == MonthView::facilities) {
    json list = json::array();
    const Facility none;
    const auto away = facilities.find("");
    for (const auto& [id, f] : facilities)
      if (!id.empty())
        list.push_back({{"facility", id}, {"claims", f.claims}, {"patients", f.patients}, {"fund", row_json(f.fund)}});
    j["facilities"] = list;
    const Facility& a = away == facilities.end() ? none : away->second;
    j["out_of_area"] = {{"claims", a.claims}, {"patients", a.patients}, {"fund", row_json(a.fund)}};
    return j;
  }
  for (const char* section : row_sections(view)) {
    auto it = rows.find(section);
    j[section] = it == rows.end() ? json::object() : rows_json(it->second);
  }
  j["fund"] = row_json(fund);
  if (view == MonthView::facility) {
    j["facility"] = facility, j["claims"] = claims, j["reversals"] = reversals, j["patients"] = patients;
  } else {
    j["claims"] = claim_count;
    j["account"] = {{"credits", {{"count", credits}, {"amount", format_money(credited)}}},
                    {"debits", {{"count", debits}, {"amount", format_money(debited)}}}};
  }
  return j;
}

MonthShare MonthShare::from_json(MonthView view, const json& j) {
  const std::optional<Month> month = parse_month(j.at("month").get<std::string>());
  if (!month) throw std::runtime_error("a share of a month view names no month YYYY-MM: " + j.at("month").dump());
  MonthShare v{view, *month};
  if (view == MonthView::facilities) {
    auto facility = [](const json& f) -> Facility {
      return {f.at("claims").get<long>(), f.at("patients").get<size_t>(), row_of(f.at("fund"))};
    };
    for (const json& f : j.at("facilities")) v.facilities[f.at("facility").get<std::string>()] = facility(f);
    // Required: a share without it (a member of an older version) fails the answer, naming the member, rather than
    // leaving its out-of-area claims out of a list that says it adds up.
    if (const Facility away = facility(j.at("out_of_area")); away.claims) v.facilities[""] = away;
    return v;
  }
  v.fund = row_of(j.at("fund"));
  for (const char* section : row_sections(view))
    for (const auto& [key, row] : j.at(section).items()) v.rows[section][key] = row_of(row);
  if (view == MonthView::facility) {
    v.facility = j.at("facility").get<std::string>();
    v.claims = j.at("claims"), v.reversals = j.at("reversals"), v.patients = j.at("patients").get<size_t>();
  } else {
    v.claim_count = j.at("claims").get<long>();
    const json& a = j.at("account");
    v.credits = a.at("credits").at("count").get<long>(), v.credited = yuan_of(a.at("credits").at("amount"));
    v.debits = a.at("debits").at("count").get<long>(), v.debited = yuan_of(a.at("debits").at("amount"));
  }
  return v;
}

json merge_month_views(MonthView view, const std::vector<json>& shares) {
  if (shares.empty()) throw std::invalid_argument("merge_month_views: no share");
  MonthShare all = MonthShare::from_json(view, shares.front());
  for (size_t i = 1; i < shares.size(); ++i) all.add(MonthShare::from_json(view, shares[i]));
  return all.to_json();
}

}  // namespace gongji
