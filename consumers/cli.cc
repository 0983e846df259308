// gongji: the command line of EVENTS.md ("Command line (the embedded default)").
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "events/event_log.h"
#include "events/kafka_log.h"
#include "consumers/serve.h"
#include "consumers/views.h"
#include "projections/store.h"
#include "replay/audit.h"
#include "replay/explain.h"
#include "replay/reconstruct.h"
#include "replay/replay.h"
#include "replay/statement.h"
#include "replay/whatif.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gongji {
namespace {

struct Paths {
  std::string data;
  std::string brokers;  // when set, the log is Kafka's events topic
  std::unique_ptr<EventLog> open_log(int partitions = 8, bool read_only = false) const {
    if (!brokers.empty()) {
      KafkaOptions k;
      k.brokers = brokers;
      return open_kafka_log(k);
    }
    return open_segment_log(log(), partitions, read_only);
  }
  std::string log() const { return data + "/log"; }
  std::string state() const { return data + "/state"; }
  std::string dead() const { return data + "/dead-letters.jsonl"; }
};

void require_existing(const Paths& p) {
  if (!fs::exists(p.log()) && !fs::exists(p.state())) throw std::runtime_error("no gongji data in " + p.data + " (run `gongji ingest` first)");
}

int cmd_ingest(const Paths& paths, const std::string& file, int partitions) {
  std::istream* in = &std::cin;
  std::ifstream f;
  if (file != "-") {
    f.open(file);
    if (!f) throw std::runtime_error("cannot read " + file);
    in = &f;
  }
  fs::create_directories(paths.data);
  auto log = paths.open_log(partitions);
  std::ofstream dead(paths.dead(), std::ios::app);
  std::vector<std::string> dead_lines;  // with --brokers, also to the dead-letter topic
  uint64_t appended = 0, duplicate = 0, refused = 0, lineno = 0;
  std::string line;
  auto refuse = [&](const std::string& field, const std::string& code, const std::string& reason) {
    ++refused;
    std::cerr << (file == "-" ? "stdin" : file) << ":" << lineno << ": " << code << ": " << reason << "\n";
    std::string d = json({{"source", file}, {"line", lineno}, {"code", code}, {"field", field}, {"reason", reason},
                          {"raw", line}})
                        .dump(-1, ' ', false, json::error_handler_t::replace);
    dead << d << "\n";
    if (!paths.brokers.empty()) dead_lines.push_back(d);
  };
  while (std::getline(*in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Event e;
    try {
      e = parse_event(line);
    } catch (const EventError& err) {
      refuse(err.field, "INVALID", err.what());
      continue;
    }
    switch (log->append(e)) {
      case AppendResult::appended: ++appended; break;
      case AppendResult::duplicate: ++duplicate; break;
      case AppendResult::conflict:
        refuse("id", "ID_CONFLICT", "event id " + e.id + " is already in the log with other content");
        break;
    }
  }
  log->sync();
  dead.flush();
  if (!paths.brokers.empty()) publish_dead_letters(paths.brokers, "gongji.dead-letters", dead_lines);
  std::cout << "appended " << appended << ", duplicate " << duplicate << ", refused " << refused << "\n";
  return refused ? 3 : 0;
}

Policy policy_from(const std::string& file) { return file.empty() ? default_policy() : load_policy_file(file); }

int cmd_fold(const Paths& paths, const std::string& policy_file, size_t batch, size_t crash_before,
             size_t checkpoint_every) {
  if (paths.brokers.empty()) require_existing(paths);
  auto log = paths.open_log();
  Store store(paths.state());
  Policy policy = policy_from(policy_file);
  FoldOptions opt;
  opt.batch_events = batch;
  if (crash_before) opt.crash_before_batch = crash_before;
  opt.checkpoint_dir = paths.data + "/checkpoints";
  opt.checkpoint_every = checkpoint_every;
  FoldStats s = store.fold(*log, policy, opt);
  std::cout << "folded " << s.events << " events, " << s.outputs << " output records, " << s.dead_letters
            << " dead letters\n";
  return 0;
}

int cmd_settlements(const Paths& paths, const std::string& person, const std::string& claim, const std::string& kind) {
  require_existing(paths);
  Store store(paths.state(), true);
  store.outputs([&](const json& r) {
    if (!person.empty() && r.value("person", "") != person) return true;
    if (!claim.empty() && r.value("claim", "") != claim) return true;
    if (!kind.empty() && r.value("kind", "") != kind) return true;
    std::cout << r.dump() << "\n";
    return true;
  });
  return 0;
}

int cmd_person(const Paths& paths, const std::string& id, const std::string& as_of_s, const std::string& policy_file,
               const std::string& known_at) {
  require_existing(paths);
  Store store(paths.state(), true);
  std::optional<PersonState> p;
  std::optional<Policy> recorded = policy_file.empty() ? recorded_policy(store) : std::nullopt;
  if (!known_at.empty()) {
    // TIME-REPLAY: what the ledger held, as known at T: the person's history folded again up to T.
    if (policy_file.empty() && !recorded)
      throw std::runtime_error("the store used several policy versions: name one with --policy");
    auto log = paths.open_log(8, true);
    Reconstruction r = reconstruct_person(store, *log, id, policy_file.empty() ? *recorded : load_policy_file(policy_file),
                                          parse_known_at(known_at));
    if (PersonState* ps = r.state.person(id)) p = *ps;
  } else {
    p = store.person(id);
  }
  if (!p) {
    std::cerr << "gongji person: no person " << id << "\n";
    return 4;
  }
  Date as_of = latest_date(*p);
  if (!as_of_s.empty()) {
    auto d = parse_date(as_of_s);
    if (!d) throw std::runtime_error("--as-of: expected a date YYYY-MM-DD, got '" + as_of_s + "'");
    as_of = *d;
  }
  Policy policy = !policy_file.empty() ? load_policy_file(policy_file) : recorded ? *recorded : default_policy();
  std::cout << person_view(*p, as_of, policy, [](const std::string&) { return nullptr; }).dump() << "\n";
  return 0;
}

int cmd_explain(const Paths& paths, const std::string& claim, const std::string& event, bool as_json,
                const std::string& policy_file) {
  require_existing(paths);
  Store store(paths.state(), true);
  if (claim.empty()) {  // an account movement or another record: shown as recorded
    std::optional<json> rec;
    store.outputs([&](const json& r) {
      if (r.value("event", "") == event) rec = r;
      return !rec;
    });
    if (!rec) {
      std::cerr << "gongji explain: no output record for event " << event << "\n";
      return 4;
    }
    print_explanation(*rec, std::cout);
    return 0;
  }
  auto log = paths.open_log(8, true);
  std::optional<Policy> other;
  if (!policy_file.empty()) other = load_policy_file(policy_file);
  Rederivation r = rederive_claim(store, *log, claim, other ? &*other : nullptr);
  if (as_json) {
    json j = {{"claim", claim}, {"recorded", r.recorded}, {"recomputed", r.recomputed}, {"equal", r.equal},
              {"policy_version", r.policy_version}};
    if (!r.equal) j["differences"] = settlement_differences(r.recorded, r.recomputed);
    if (other) j["what_if"] = true;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << (other ? "what-if: claim re-derived under " + policy_file + " (" + r.policy_version + ")\n"
                        : "claim re-derived from the log under its recorded policy (" + r.policy_version + ")\n");
    print_explanation(r.recomputed, std::cout);
    if (other) {
      auto diffs = settlement_differences(r.recorded, r.recomputed);
      if (diffs.empty()) std::cout << "\nno difference from the recorded settlement\n";
      for (const auto& f : diffs)
        std::cout << "\n  " << f << ": recorded " << r.recorded.value(f, json()).dump() << ", what-if "
                  << r.recomputed.value(f, json()).dump();
      if (!diffs.empty()) std::cout << "\n";
    } else if (r.equal) {
      std::cout << "\nthe recomputation equals the recorded settlement\n";
    } else {
      std::cout << "\n*** MISMATCH: the recomputation differs from the recorded settlement; first differing field '"
                << r.first_difference << "': recorded " << r.recorded.value(r.first_difference, json()).dump()
                << ", recomputed " << r.recomputed.value(r.first_difference, json()).dump() << " ***\n";
    }
  }
  return other || r.equal ? 0 : 5;
}

int cmd_audit(const Paths& paths, const std::string& policy_file) {
  require_existing(paths);
  Store store(paths.state(), true);
  std::optional<Policy> pol = policy_file.empty() ? recorded_policy(store) : std::optional<Policy>(load_policy_file(policy_file));
  if (!pol) throw std::runtime_error("the store used several policy versions: name one with --policy");
  auto log = paths.open_log(8, true);
  char tmpl[] = "/tmp/gongji-audit-XXXXXX";
  std::string scratch = mkdtemp(tmpl);
  AuditReport rep = audit(store, *log, *pol, scratch + "/state");
  std::cout << "audit of " << paths.data << " (replayed into " << scratch << ")\n";
  for (const auto& c : rep.checked) std::cout << "  ok: " << c << "\n";
  for (const auto& c : rep.failed) std::cout << "  FAILED: " << c << "\n";
  for (const auto& f : rep.findings) std::cout << "  FINDING: " << f << "\n";
  std::cout << (rep.findings.empty() ? "the books hold\n" : std::to_string(rep.findings.size()) + " findings\n");
  fs::remove_all(scratch);
  return rep.findings.empty() ? 0 : 6;
}

int cmd_what_if(const Paths& paths, const std::string& policy_file, bool as_json, size_t show) {
  require_existing(paths);
  Store store(paths.state(), true);
  Policy other = load_policy_file(policy_file);
  auto log = paths.open_log(8, true);
  char tmpl[] = "/tmp/gongji-whatif-XXXXXX";
  std::string scratch = mkdtemp(tmpl);
  WhatIfReport rep = what_if(store, *log, other, scratch + "/state");
  fs::remove_all(scratch);
  if (as_json) {
    json j = {{"policy", policy_file}, {"policy_version", other.version()}, {"claims_compared", rep.claims_compared},
              {"recorded_fund", format_money(rep.recorded_total)}, {"what_if_fund", format_money(rep.what_if_total)}};
    json claims = json::array();
    for (const auto& c : rep.claims)
      claims.push_back({{"claim", c.claim}, {"person", c.person}, {"event", c.event},
                        {"recorded_fund", format_money(c.recorded)}, {"what_if_fund", format_money(c.what_if)},
                        {"difference", format_money(c.what_if - c.recorded)}});
    j["claims"] = claims;
    for (auto& [dim, rows] : rep.totals)
      for (auto& [k, v] : rows)
        j["totals"][dim][k] = {{"recorded", format_money(v.first)}, {"what_if", format_money(v.second)},
                               {"difference", format_money(v.second - v.first)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "what-if under " << policy_file << " (" << other.version() << "): " << rep.claims_compared
            << " claims compared, " << rep.claims.size() << " would be paid differently\n";
  std::cout << "  fund paid: recorded " << format_money(rep.recorded_total) << ", what-if "
            << format_money(rep.what_if_total) << ", difference " << format_money(rep.what_if_total - rep.recorded_total) << "\n";
  for (auto& [dim, rows] : rep.totals) {
    std::cout << "\n  by " << dim << ":\n";
    for (auto& [k, v] : rows)
      if (v.first != v.second)
        std::cout << "    " << k << ": " << format_money(v.first) << " -> " << format_money(v.second) << " ("
                  << format_money(v.second - v.first) << ")\n";
  }
  std::cout << "\n  claims (first " << std::min(show, rep.claims.size()) << "):\n";
  for (size_t i = 0; i < rep.claims.size() && i < show; ++i)
    std::cout << "    " << rep.claims[i].claim << " (" << rep.claims[i].person << "): " << format_money(rep.claims[i].recorded)
              << " -> " << format_money(rep.claims[i].what_if) << "\n";
  return 0;
}

int cmd_replay(const Paths& paths, const std::string& known_at, const std::string& out, const std::string& policy_file) {
  require_existing(paths);
  std::optional<Policy> pol;
  {
    Store store(paths.state(), true);
    pol = policy_file.empty() ? recorded_policy(store) : std::optional<Policy>(load_policy_file(policy_file));
  }
  if (!pol) throw std::runtime_error("the store used several policy versions: name one with --policy");
  auto log = paths.open_log(8, true);
  auto target = positions_at(*log, parse_known_at(known_at));
  ReplayResult r = replay_to(*log, *pol, target, paths.data + "/checkpoints", out,
                             [](uint64_t n) { std::cerr << "replay: " << n << " events folded\n"; });
  std::cout << "replayed into " << out << (r.from_checkpoint.empty() ? " from zero" : " from checkpoint " + r.from_checkpoint)
            << ": " << r.stats.events << " events folded; positions";
  for (auto [p, off] : target) std::cout << " " << p << ":" << off;
  std::cout << "; digest " << r.digest << "\n";
  return 0;
}

int cmd_statement(const Paths& paths, const std::string& person, int year, const std::string& format,
                  const std::string& out, const std::string& policy_file) {
  require_existing(paths);
  Store store(paths.state(), true);
  std::optional<Policy> pol = policy_file.empty() ? recorded_policy(store) : std::optional<Policy>(load_policy_file(policy_file));
  json s = statement(store, pol ? *pol : default_policy(), person, year);
  std::string text = format == "json" ? s.dump(2) + "\n" : format == "html" ? statement_html(s) : statement_text(s);
  if (out.empty() || out == "-") std::cout << text;
  else std::ofstream(out) << text;
  return 0;
}

int cmd_report(const Paths& paths, int explained) {
  require_existing(paths);
  Store store(paths.state(), true);
  print_report(store, std::cout, explained);
  return 0;
}

int cmd_digest(const Paths& paths) {
  require_existing(paths);
  Store store(paths.state(), true);
  std::cout << store.digest() << "\n";
  return 0;
}

}  // namespace
}  // namespace gongji

int main(int argc, char** argv) {
  using namespace gongji;
  CLI::App app{"gongji: an event-sourced benefit ledger for Weihai's outpatient mutual aid (门诊共济).\n"
               "Events in (JSON Lines, EVENTS.md), settlements and state out. Data lives under --data-dir."};
  app.require_subcommand(1);
  Paths paths;
  auto data_opt = [&](CLI::App* c) {
    c->add_option("--data-dir", paths.data, "directory holding the log (log/), projections (state/) and dead letters")
        ->required();
  };

  std::string file, policy_file, person, claim, kind, as_of, event;
  int partitions = 8;
  size_t batch = 2000, crash_before = 0;
  bool as_json = false;

  auto* ingest = app.add_subcommand("ingest", "validate events (JSON Lines) and append them to the log.\n"
                                              "Prints counts appended / duplicate / refused; refusals go to stderr and to "
                                              "DATA/dead-letters.jsonl. Exit 0 if nothing was refused, 3 if some were.");
  data_opt(ingest);
  ingest->add_option("file", file, "events file, - for stdin")->required();
  ingest->add_option("--partitions", partitions, "partition count when the log is created (default 8)");
  ingest->add_option("--brokers", paths.brokers, "append to Kafka's gongji.events topic instead of the embedded log "
                                                 "(duplicates are then decided by the fold)");

  auto* fold = app.add_subcommand("fold", "fold every event not yet folded into the projections, settling claims");
  data_opt(fold);
  fold->add_option("--policy", policy_file, "policy parameters file (default: the built-in Weihai policy)");
  fold->add_option("--batch", batch, "events per committed batch (default 2000)");
  fold->add_option("--brokers", paths.brokers, "fold from Kafka's gongji.events topic instead of the embedded log");
  size_t checkpoint_every = 200000;
  fold->add_option("--checkpoint-every", checkpoint_every, "keep a RocksDB checkpoint in DATA/checkpoints every N events "
                                                           "(replays start from the nearest; default 200000, 0: none)");
  fold->add_option("--crash-before-batch", crash_before, "fault injection: exit 137 before committing batch N")
      ->group("");

  auto* sets = app.add_subcommand("settlements", "output records (settlement, reversal, refusal, ...) as JSON Lines, "
                                                 "in log order");
  data_opt(sets);
  sets->add_option("--person", person, "only this person's records");
  sets->add_option("--claim", claim, "only this claim's records");
  sets->add_option("--kind", kind, "only records of this kind (settlement, reversal, refusal, ...)");

  auto* pers = app.add_subcommand("person", "one person's state as JSON, as of a business date (TIME-ASOF)");
  data_opt(pers);
  pers->add_option("--brokers", paths.brokers, "read events from Kafka's gongji.events (the store was folded from it)");
  pers->add_option("--person", person, "person id")->required();
  pers->add_option("--as-of", as_of, "business date YYYY-MM-DD (default: the person's latest date in the log)");
  pers->add_option("--policy", policy_file, "policy parameters file (default: the one the fold used)");
  std::string known_at;
  pers->add_option("--known-at", known_at, "knowledge time: only events ingested by then (YYYY-MM-DDTHH:MM:SSZ, ms "
                                           "since the epoch, or P:OFFSET,...); the person is folded again from the log");

  auto* expl = app.add_subcommand("explain", "a settlement re-derived step by step from the log under its recorded "
                                             "policy (each step with its rule ID and article) and checked against the "
                                             "record; exit 5 on a mismatch. --event shows another output record");
  data_opt(expl);
  expl->add_option("--brokers", paths.brokers, "read events from Kafka's gongji.events (the store was folded from it)");
  auto* claim_opt = expl->add_option("--claim", claim, "claim id");
  auto* event_opt = expl->add_option("--event", event, "event id (account movements, refusals)");
  claim_opt->excludes(event_opt);
  expl->add_flag("--json", as_json, "print the re-derivation as JSON");
  expl->add_option("--policy", policy_file, "what-if: re-derive under this policy file and report the differences");

  int explained = 5;
  auto* rep = app.add_subcommand("report", "a readable summary: claims by status and reason, fund paid by scheme, "
                                           "level, benefit and month, and a few settlements explained");
  data_opt(rep);
  rep->add_option("--explained", explained, "how many settlements to explain (default 5)");

  auto* aud = app.add_subcommand("audit", "replay the log from zero and check the books: projections equal the replay "
                                           "(per partition and person on a mismatch), one settlement per claim, fund "
                                           "totals, account balances, limits; exit 6 on any finding");
  data_opt(aud);
  aud->add_option("--brokers", paths.brokers, "read events from Kafka's gongji.events (the store was folded from it)");
  aud->add_option("--policy", policy_file, "policy file (default: the one the fold used)");

  std::string whatif_policy;
  size_t show = 20;
  auto* wif = app.add_subcommand("what-if", "replay the log under another policy file (never touching the live store) "
                                            "and report how fund payments would differ, per claim and in totals by "
                                            "scheme, level, benefit and month");
  data_opt(wif);
  wif->add_option("--brokers", paths.brokers, "read events from Kafka's gongji.events (the store was folded from it)");
  wif->add_option("--policy", whatif_policy, "the other policy parameters file")->required();
  wif->add_flag("--json", as_json, "the whole report as JSON");
  wif->add_option("--show", show, "claims to list in the text report (default 20)");

  std::string replay_out;
  auto* rpl = app.add_subcommand("replay", "rebuild, into a new directory, the store as it stood when everything "
                                           "ingested up to --known-at had been folded, from the nearest checkpoint");
  data_opt(rpl);
  rpl->add_option("--brokers", paths.brokers, "read events from Kafka's gongji.events (the store was folded from it)");
  rpl->add_option("--known-at", known_at, "YYYY-MM-DDTHH:MM:SSZ, ms since the epoch, or P:OFFSET,...")->required();
  rpl->add_option("--out", replay_out, "a new directory for the rebuilt store")->required();
  rpl->add_option("--policy", policy_file, "policy file (default: the one the fold used)");

  int year = 2023;
  std::string format = "text", out_file;
  auto* stm = app.add_subcommand("statement", "a person's year: every claim, settlement and account movement with the "
                                              "running deductible, limit and balance, as text, JSON or an HTML page "
                                              "with a chart");
  data_opt(stm);
  stm->add_option("--person", person, "person id")->required();
  stm->add_option("--year", year, "calendar year (default 2023)");
  stm->add_option("--format", format, "text, json or html (default text)")->check(CLI::IsMember({"text", "json", "html"}));
  stm->add_option("--out", out_file, "write to this file instead of stdout");

  auto* dig = app.add_subcommand("digest", "the determinism digest: a hash over every key and value of the projections");
  data_opt(dig);

  ServeOptions sopt;
  auto* srv = app.add_subcommand("serve", "a consumer-group member: folds its partitions of gongji.events into "
                                          "DATA/state and publishes output records exactly once (Kafka transactions "
                                          "with an outbox) to gongji.settlements, dead letters to gongji.dead-letters");
  srv->add_option("--data-dir", sopt.data_dir, "this member's store")->required();
  srv->add_option("--brokers", sopt.brokers, "Kafka bootstrap servers")->required();
  srv->add_option("--group", sopt.group, "consumer group (default gongji)");
  srv->add_option("--policy", sopt.policy_file, "policy parameters file (default: built-in)");
  srv->add_option("--events-topic", sopt.events_topic, "default gongji.events");
  srv->add_option("--settlements-topic", sopt.settlements_topic, "default gongji.settlements");
  srv->add_option("--dead-letter-topic", sopt.dead_letter_topic, "default gongji.dead-letters");
  srv->add_option("--batch", sopt.batch_events, "events per transaction at most (default 2000)");
  srv->add_option("--idle-exit", sopt.idle_exit_seconds, "exit after this many seconds with nothing to fold (default: run until SIGTERM)");

  CLI11_PARSE(app, argc, argv);
  if (*srv) return serve(sopt);
  try {
    if (*ingest) return cmd_ingest(paths, file, partitions);
    if (*fold) return cmd_fold(paths, policy_file, batch, crash_before, checkpoint_every);
    if (*sets) return cmd_settlements(paths, person, claim, kind);
    if (*pers) return cmd_person(paths, person, as_of, policy_file, known_at);
    if (*expl) {
      if (claim.empty() && event.empty()) throw std::runtime_error("give --claim or --event");
      return cmd_explain(paths, claim, event, as_json, policy_file);
    }
    if (*dig) return cmd_digest(paths);
    if (*rep) return cmd_report(paths, explained);
    if (*aud) return cmd_audit(paths, policy_file);
    if (*wif) return cmd_what_if(paths, whatif_policy, as_json, show);
    if (*rpl) return cmd_replay(paths, known_at, replay_out, policy_file);
    if (*stm) return cmd_statement(paths, person, year, format, out_file, policy_file);
  } catch (const std::exception& e) {
    std::cerr << "gongji " << app.get_subcommands().front()->get_name() << ": " << e.what() << "\n";
    return 2;
  }
  return 0;
}
