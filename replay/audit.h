// `gongji audit`: checks the live books against the log and against themselves (issue 5, issue 8 item 9).
//
// Contract: every check can fail. A check is reported as held ("ok") only when it found nothing; otherwise it is
// named in `failed` and each of its findings names what differs (partition, person, claim, event). The checks:
//   log            (embedded log only) every record of every partition is whole and passes its checksum, every
//                  segment follows its predecessor, and the folder holds only the log's files (verify_segment_log);
//                  a torn tail past the store's position is not a finding (an ingest beside the audit is writing
//                  it, or a crash cut its append short: no fold took it, and the next open for writing cuts it)
//   shared-copies  every shared event of the log (TIME-LOG: facility events and period_closed in every partition,
//                  family_linked in both people's partitions) synced in one partition has a copy in each partition
//                  it must reach (EventLog::synced_end: an ingest beside the audit may be writing the other copies
//                  of one past it)
//   ids            no event id was folded in two partitions with other content (Store::clashing_ids: two events
//                  under one id, each applied by its partition's fold; on Kafka, which cannot refuse the second)
//   replay         the projections equal a replay of the log from zero (digest; per partition and person on a
//                  mismatch)
//   settlements    every claim event has exactly one settlement, and the same claim events as the replay
//   fund           per claim, the fund of its settlement and reversal records equals the fund recorded in the
//                  person's state
//   balances       every account balance equals its credits minus its debits
//   limits         no settlement's limit used exceeds its limit
// Tampering with one of these in the store makes that check fail; the replay check usually fails too.
// The settlements, fund, balances and limits checks read the books a partition at a time (a partition's records name
// only its persons), so what audit holds beside the replay is one partition's claims, not the city's.
#pragma once
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "log/event_log.h"
#include "projections/store.h"

namespace gongji {

struct AuditReport {
  std::vector<std::string> findings;  // empty: the books hold
  std::vector<std::string> checked;   // the checks that held, with what they covered
  std::vector<std::string> failed;    // the names of the checks that found something
};

// `scratch` is a directory for the replay's store (created; the caller removes it: `gongji audit` does). The replay
// stops at the live store's positions: a store behind its log (an ingest not folded yet, a fold killed) is audited
// for what it folded, and holds; the records past it are not audited.
// `log_dir`: the embedded log's folder, for the log check ("" with Kafka: the broker keeps its own checksums).
AuditReport audit(const Store& live, EventLog& log, const Policy& policy, const std::string& scratch,
                  const std::string& log_dir = "");

// The shared-copies check alone: findings for every partition that lacks a copy of a shared event synced in
// another. `in_flight`, when given, counts the shared events seen only past synced ends and not yet in every
// partition they must reach (not audited: an append may be writing them).
std::vector<std::string> missing_shared_copies(EventLog& log, size_t* in_flight = nullptr);

// An audit run as the auditor reads it (issue 11 item 2: `gongji audit` keeps each in DATA/audits/ID.json; the
// query service answers them): {id, at (UTC, ISO 8601 to the millisecond), policy_version, positions {partition:
// the store's position audited}, not_audited [the partitions whose log holds records past that position, not
// folded yet], books_hold, checked, failed, findings}. id: "audit-YYYYMMDDTHHMMSSmmmZ". Runs recorded before
// not_audited was have none.
nlohmann::json audit_record(const AuditReport& report, const std::map<int, uint64_t>& positions,
                            const std::vector<int>& not_audited, const std::string& policy_version,
                            std::chrono::system_clock::time_point at);

// The runs kept in `dir` (DATA/audits; none when it does not exist), newest first. A file that is not a run as
// audit_record writes it (every field of its type, the id its file's name, books_hold exactly when no finding) is an
// error naming it (std::runtime_error).
std::vector<nlohmann::json> audit_runs(const std::string& dir);

}  // namespace gongji
