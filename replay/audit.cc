#include "replay/audit.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "events/date.h"
#include "events/fb_codec.h"
#include "events/partition.h"
#include "ledger/accounts.h"
#include "ledger/settlement.h"
#include "ledger/state_codec.h"

namespace gongji {

using nlohmann::json;

namespace {

using Findings = std::vector<std::string>;

// One check's outcome into the report: "ok" only when it found nothing.
void record(AuditReport& rep, const std::string& name, const std::string& covered, Findings findings) {
  if (findings.empty()) {
    rep.checked.push_back(name + ": " + covered);
    return;
  }
  rep.failed.push_back(name);
  for (auto& f : findings) rep.findings.push_back(std::move(f));
}

std::string join(const std::set<int>& parts) {
  std::string s;
  for (int p : parts) s += (s.empty() ? "" : ",") + std::to_string(p);
  return s;
}

// The partitions whose digests differ between the two stores (each digest a scan: computed once, here), none when
// the stores' digests are equal.
std::map<int, std::pair<std::string, std::string>> differing_partitions(const Store& live, const Store& replay,
                                                                        int partitions, bool stores_equal) {
  std::map<int, std::pair<std::string, std::string>> out;  // partition -> live digest, replay digest
  for (int p = 0; p < partitions && !stores_equal; ++p)
    if (std::string a = live.partition_digest(p), b = replay.partition_digest(p); a != b) out[p] = {a, b};
  return out;
}

// replay: the live projections equal a replay from zero up to the store's positions; on a mismatch, per partition,
// person and record kind.
// `live_digest` and `replay_digest`: the two stores' digest() (each a full scan, so computed once by the caller).
Findings compare_with_replay(const Store& live, const Store& replay,
                             const std::map<int, std::pair<std::string, std::string>>& differing,
                             const std::string& live_digest, const std::string& replay_digest) {
  Findings out;
  if (replay_digest == live_digest) return out;
  for (const auto& [p, digests] : differing) {
    out.push_back("partition " + std::to_string(p) + ": live digest " + digests.first + ", replay " + digests.second);
    std::map<std::string, std::string> a, b;
    live.scan("p/" + hex4(p) + "/", [&](const std::string& k, std::string_view v) { a[k] = std::string(v); });
    replay.scan("p/" + hex4(p) + "/", [&](const std::string& k, std::string_view v) { b[k] = std::string(v); });
    for (auto& [k, v] : b)
      if (!a.count(k) || a[k] != v)
        out.push_back("  person " + key_part_decode(k.substr(7)) + " differs from the replay");
    for (auto& [k, _] : a)
      if (!b.count(k)) out.push_back("  person " + key_part_decode(k.substr(7)) + " is not in the replay");
    for (const char* kind : {"o/", "x/", "m/", "f/", "d/", "e/", "w/", "l/", "u/", "t/"}) {
      std::map<std::string, std::string> la, lb;
      live.scan(kind + hex4(p), [&](const std::string& k, std::string_view v) { la[k] = std::string(v); });
      replay.scan(kind + hex4(p), [&](const std::string& k, std::string_view v) { lb[k] = std::string(v); });
      for (auto& [k, v] : la)
        if (!lb.count(k) || lb[k] != v) out.push_back("  " + k + " differs from the replay");
      for (auto& [k, _] : lb)
        if (!la.count(k)) out.push_back("  " + k + " is missing from the live store");
    }
  }
  if (out.empty()) out.push_back("live digest " + live_digest + " differs from the replay's " + replay_digest);
  return out;
}

// What the output records of one partition say, gathered in one pass. A partition's records name only its own
// persons (each partition folds the persons it owns: a claim, a reversal and an account movement are records of the
// person's partition), so the books are kept a partition at a time: at the city's size (about 20 M settlements a
// year) books of every partition at once held maps of every claim, several GB.
struct Books {
  std::map<std::string, int> settlements;                        // claim event -> settlement records
  std::map<std::pair<std::string, std::string>, Money> fund;     // (person, claim) -> settled fund net of reversals
  std::map<std::string, Money> groups;                           // scheme/level/month -> fund
  std::map<std::string, Money> balance;                          // person -> credits - debits
  Findings over_limit;
};

Books read_books(const Store& s, int partition) {
  Books b;
  s.outputs_of_as_data(partition, [&](const Settlement* st, const Record* r) {
    if (st) {
      ++b.settlements[st->event];
      if (st->status != ClaimStatus::settled) return true;
      add_to(b.fund[{st->person, st->claim}], st->fund);
      add_to(b.groups[(st->scheme ? spelled(*st->scheme) : "?") + "/level " + std::to_string(st->level) + "/" +
               format_date(st->date).substr(0, 7)],
             st->fund);
      // A settlement that covered something left the year's limit used within the limit on its date. One that
      // covered nothing may stand above it: a claim logged late, dated before the limit rose (P-MINOR), finds the
      // running total of later-dated claims above its own date's limit and rightly counts nothing (room 0).
      std::optional<Money> limit, used;
      for (const AccumulatorAfter& a : st->after) {
        if (a.key == Accumulator::limit) limit = a.value;
        if (a.key == Accumulator::limit_used) used = a.value;
      }
      if (st->covered > 0 && limit && used && *used > *limit)
        b.over_limit.push_back("claim " + st->claim + " of " + st->person + ": limit used " + format_money(*used) +
                               " above the limit " + format_money(*limit));
      return true;
    }
    if (const auto* v = std::get_if<Reversal>(r)) {
      add_to(b.fund[{v->person, v->claim}], v->fund);
    } else if (const auto* m = std::get_if<AccountMovement>(r)) {
      add_to(b.balance[m->person], m->credit ? m->amount : -m->amount);
    }
    return true;
  });
  return b;
}

// settlements: exactly one per claim event, and the same claim events as the replay's.
Findings check_settlements(const Books& live, const Books& replay) {
  Findings out;
  for (auto& [ev, n] : live.settlements) {
    if (n != 1) out.push_back("claim event " + ev + " has " + std::to_string(n) + " settlements in the live store");
    else if (!replay.settlements.count(ev))
      out.push_back("claim event " + ev + " is settled live but not in the replay");
  }
  for (auto& [ev, n] : replay.settlements)
    if (!live.settlements.count(ev)) out.push_back("claim event " + ev + " has no settlement in the live store");
  return out;
}

// fund: per claim, the records' fund equals the fund the person's state recorded for it.
// balances: every account balance equals its credits minus its debits.
// Both read every person's state of the partition: one scan decodes each person once for the two checks.
struct PersonChecks {
  Findings fund, balances;
};

PersonChecks check_persons(const Store& live, int partition, const Books& books) {
  PersonChecks out;
  std::map<std::pair<std::string, std::string>, Money> in_state;
  std::set<std::string> seen;
  live.scan("p/" + hex4(partition) + "/", [&](const std::string&, std::string_view v) {
    PersonState p = decode_person(v);
    for (const Effect& e : p.effects)
      if (e.bucket != Bucket::inpatient && (e.fund != 0 || books.fund.count({p.id, e.claim})))
        add_to(in_state[{p.id, e.claim}], e.fund);
    Money b = account_balance(p);
    auto it = books.balance.find(p.id);
    Money flows = it == books.balance.end() ? 0 : it->second;
    seen.insert(p.id);
    if (b != flows)
      out.balances.push_back("person " + p.id + ": account balance " + format_money(b) +
                             " but credits minus debits " + format_money(flows));
  });
  for (auto& [key, f] : books.fund) {
    auto it = in_state.find(key);
    Money s = it == in_state.end() ? 0 : it->second;
    if (s != f)
      out.fund.push_back("claim " + key.second + " of " + key.first + ": fund " + format_money(f) +
                         " in its records but " + format_money(s) + " in the person's state");
  }
  for (auto& [key, s] : in_state)
    if (!books.fund.count(key) && s != 0)
      out.fund.push_back("claim " + key.second + " of " + key.first + ": fund " + format_money(s) +
                         " in the person's state but no settlement record");
  for (auto& [person, flows] : books.balance)
    if (!seen.count(person) && flows != 0)
      out.balances.push_back("person " + person + ": account movements of " + format_money(flows) +
                             " but no person state");
  return out;
}

// The log check (AuditReport's "log"); whether the log is sound. A torn tail past the store's position is an append
// being written beside the audit, or one a crash cut short: no fold took it, and the next open for writing cuts it.
bool check_log(AuditReport& rep, const Store& live, const std::string& log_dir) {
  Findings damaged;
  std::string torn;  // the partitions with such a tail
  for (const LogFinding& f : verify_segment_log(log_dir))
    if (f.torn && f.torn->offset >= live.folded_offset(f.torn->partition))
      torn += (torn.empty() ? "" : ", ") + std::to_string(f.torn->partition);
    else
      damaged.push_back("log: " + f.message());
  const bool sound = damaged.empty();
  record(rep, "log",
         "every record of every partition is whole and passes its checksum" +
             (torn.empty() ? std::string()
                           : " (but for a torn tail past the store's position in partition " + torn +
                                 ": an append being written, or one a crash cut short, which the next open for "
                                 "writing cuts)"),
         std::move(damaged));
  return sound;
}

// EVENTS.md: an event id names one event. Each partition's fold refuses an id it folded before with other content
// (ID_CONFLICT), but sees only its own ids: two events of two persons under one id, put in two partitions (on Kafka;
// the embedded log's ingest refuses the second), were both applied. The replay applies both again, so only this
// check sees them.
Findings clashing_ids(const Store& live, EventLog& log) {
  Findings out;
  for (const Store::IdClash& c : live.clashing_ids(log.partitions())) {
    std::map<uint64_t, std::vector<int>> by_content;  // digest -> the partitions that folded that content
    std::vector<uint64_t> order;                      // the contents in the order of their first partition
    for (const auto& [p, digest] : c.folded) {
      if (!by_content.count(digest)) order.push_back(digest);
      by_content[digest].push_back(p);
    }
    std::string where;
    for (uint64_t digest : order) {
      const std::vector<int>& ps = by_content[digest];
      where += std::string(where.empty() ? "" : ", ") + "one in partition" + (ps.size() == 1 ? " " : "s ");
      for (size_t i = 0; i < ps.size(); ++i) where += (i ? " " : "") + std::to_string(ps[i]);
    }
    out.push_back("event id " + c.id + " was folded with " + std::to_string(order.size()) + " different contents, " +
                  where + ": events under one id, each applied (the embedded log's ingest refuses all but the "
                  "first; a Kafka topic cannot)");
  }
  return out;
}

}  // namespace

std::vector<std::string> missing_shared_copies(EventLog& log, size_t* in_flight) {
  const int n = log.partitions();
  struct Copies {
    std::string type;
    std::set<int> expected, present, all;  // all: every partition it must reach, synced or not
  };
  std::map<std::string, Copies> shared;  // event id -> where it must be and where it is
  for (int p = 0; p < n; ++p) {
    // A copy past the synced end may be one an append beside the audit is still writing the others of: it is
    // counted where it is, and asks for none (EventLog::synced_end).
    const uint64_t synced = log.synced_end(p);
    log.read(p, 0, [&](const LogRecord& r) {
      try {
        Event e = decode_event(r.payload);
        if (!e.is_global() && !e.as<FamilyLinked>()) return true;
        Copies& c = shared[e.id()];
        c.type = type_name(e.type());
        for (int q : partitions_for(e, n)) {
          c.all.insert(q);
          if (r.offset < synced) c.expected.insert(q);
        }
        c.present.insert(p);
      } catch (const EventError&) {
        // an undecodable record is the fold's dead letter, not a shared event
      }
      return true;
    });
  }
  Findings out;
  if (in_flight) *in_flight = 0;
  for (auto& [id, c] : shared) {
    std::set<int> missing;
    for (int q : c.expected)
      if (!c.present.count(q)) missing.insert(q);
    if (!missing.empty())
      out.push_back("partition " + join(missing) + " lacks shared event " + id + " (" + c.type +
                    ") that partition " + join(c.present) + " holds");
    else if (in_flight && !std::includes(c.present.begin(), c.present.end(), c.all.begin(), c.all.end()))
      ++*in_flight;  // only past synced ends, not yet in every partition: not audited
  }
  return out;
}

namespace {
// The shared-copies check (AuditReport's "shared-copies"), saying how many shared events it could not audit yet.
void check_shared_copies(AuditReport& rep, EventLog& log) {
  size_t in_flight = 0;
  Findings missing = missing_shared_copies(log, &in_flight);
  record(rep, "shared-copies",
         "every shared event reaches every partition it concerns (TIME-LOG)" +
             (in_flight == 0 ? std::string()
                             : " (not audited: " + std::to_string(in_flight) + " shared event" +
                                   (in_flight == 1 ? "" : "s") + " past the log's synced ends, not yet in every "
                                   "partition: an ingest beside the audit writing them, or one killed before its "
                                   "sync (the next open for writing syncs them; a copy still missing is then a "
                                   "finding))"),
         std::move(missing));
}
}  // namespace

AuditReport audit(const Store& live, EventLog& log, const Policy& policy, const std::string& scratch,
                  const std::string& log_dir) {
  // The replay below builds a store of this binary's format and compares it byte for byte (the digest): a store read
  // as it is in an older format would differ in every value that format kept otherwise.
  if (live.format() != kStoreFormat)
    throw StoreFormatError("the store at " + live.dir() + " has format " + std::to_string(live.format()) +
                           " and an audit compares it with a replay of format " + std::to_string(kStoreFormat) +
                           "; run `gongji fold` on it once (with the --brokers it was folded with; it folds on "
                           "under the store's own policy): it migrates the store in place, then audit");
  AuditReport rep;
  if (!log_dir.empty() && !check_log(rep, live, log_dir)) {
    // a replay of a damaged log would stop at the damage: nothing more can be checked
    rep.findings.push_back("the other checks were not run: repair the log first (gongji log verify / truncate)");
    return rep;
  }
  check_shared_copies(rep, log);
  record(rep, "ids", "no event id was folded in two partitions with other content", clashing_ids(live, log));
  // The replay stops where the live store stopped: records the log holds beyond it (an ingest not folded yet, a
  // fold killed) are not the store's to hold, and are not audited (cmd_audit says so).
  Store replay(scratch);
  FoldOptions up_to_the_store;
  for (int p = 0; p < log.partitions(); ++p) up_to_the_store.until[p] = live.folded_offset(p);
  replay.fold(log, policy, up_to_the_store);
  const std::string live_digest = live.digest(), replay_digest = replay.digest();
  const auto differing = differing_partitions(live, replay, log.partitions(), live_digest == replay_digest);
  record(rep, "replay",
         "projections equal a replay from zero up to the store's positions (digest " + live_digest + ")",
         compare_with_replay(live, replay, differing, live_digest, replay_digest));
  // Partition by partition (Books). Equal digests mean equal output records, so the replay's books are the live
  // ones: read them only where a partition's differ.
  Findings settlements, fund, balances, over_limit;
  size_t claim_events = 0, accounts = 0;
  Money total = 0;
  std::set<std::string> groups;  // scheme/level/month
  for (int p = 0; p < log.partitions(); ++p) {
    Books books = read_books(live, p);
    const std::optional<Books> replayed_differs =
        differing.contains(p) ? std::optional<Books>(read_books(replay, p)) : std::nullopt;
    for (std::string& f : check_settlements(books, replayed_differs ? *replayed_differs : books))
      settlements.push_back(std::move(f));
    PersonChecks persons = check_persons(live, p, books);
    std::move(persons.fund.begin(), persons.fund.end(), std::back_inserter(fund));
    std::move(persons.balances.begin(), persons.balances.end(), std::back_inserter(balances));
    std::move(books.over_limit.begin(), books.over_limit.end(), std::back_inserter(over_limit));
    claim_events += books.settlements.size();
    accounts += books.balance.size();
    for (auto& [_, f] : books.fund) add_to(total, f);
    for (auto& [g, _] : books.groups) groups.insert(g);
  }
  record(rep, "settlements",
         std::to_string(claim_events) +
             " claim events, each with exactly one settlement record (settled, rejected or referred)",
         std::move(settlements));
  record(rep, "fund", "fund paid net of reversals " + format_money(total) + " (" + std::to_string(groups.size()) +
                          " scheme/level/month groups) equals the fund recorded in person state, claim by claim",
         std::move(fund));
  record(rep, "balances", std::to_string(accounts) + " account balances equal credits minus debits",
         std::move(balances));
  record(rep, "limits", "no settlement covered more than its limit had room for", std::move(over_limit));
  return rep;
}

nlohmann::json audit_record(const AuditReport& report, const std::map<int, uint64_t>& positions,
                            const std::vector<int>& not_audited, const std::string& policy_version,
                            std::chrono::system_clock::time_point at) {
  const std::string iso =
      format_instant(std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
  std::string id = "audit-";  // "audit-20240301T120000123Z"
  for (char c : iso)
    if (c != '-' && c != ':' && c != '.') id += c;
  nlohmann::json pos = nlohmann::json::object();
  for (const auto& [p, at_offset] : positions) pos[std::to_string(p)] = at_offset;
  return {{"id", id},
          {"at", iso},
          {"policy_version", policy_version},
          {"positions", pos},
          {"not_audited", not_audited},
          {"books_hold", report.findings.empty()},
          {"checked", report.checked},
          {"failed", report.failed},
          {"findings", report.findings}};
}

namespace {
// Whether `j` is a run as audit_record writes it, with the id `id` (its file's name): every field of its type, and
// books_hold true exactly when there is no finding. Anything else (a file edited, cut short, another program's) is
// not answered as a run.
bool is_audit_run(const nlohmann::json& j, const std::string& id) {
  if (j.is_discarded() || !j.is_object()) return false;
  auto is = [&](const char* key, nlohmann::json::value_t type) { return j.contains(key) && j[key].type() == type; };
  using T = nlohmann::json::value_t;
  if (!is("id", T::string) || j["id"] != id || !is("at", T::string) || !is("policy_version", T::string) ||
      !is("positions", T::object) || !is("books_hold", T::boolean) || !is("checked", T::array) ||
      !is("failed", T::array) || !is("findings", T::array))
    return false;
  for (const auto& [partition, at] : j["positions"].items())
    if (!at.is_number_unsigned()) return false;
  if (j.contains("not_audited")) {  // runs recorded before it was have none
    if (!j["not_audited"].is_array()) return false;
    for (const auto& p : j["not_audited"])
      if (!p.is_number_unsigned()) return false;
  }
  return j["books_hold"] == j["findings"].empty();
}
}  // namespace

std::vector<nlohmann::json> audit_runs(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<nlohmann::json> runs;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return runs;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json" && e.path().filename().string().starts_with("audit-"))
      files.push_back(e.path().string());
  std::sort(files.rbegin(), files.rend());  // ids sort by time: newest first
  for (const auto& f : files) {
    std::ifstream in(f);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (!is_audit_run(j, std::filesystem::path(f).stem().string()))
      throw std::runtime_error(f + ": not an audit run's record");
    runs.push_back(std::move(j));
  }
  return runs;
}

}  // namespace gongji
