// `gongji query`: the ledger's questions over HTTP (issue 11 items 1 to 5), answered from an embedded store
// while `fold` writes to it. The store is opened as two RocksDB secondary instances, each with the log brought up to
// it: a request reads the current one from start to end, while the first request after `catch_up_every` brings the
// other up to the folding primary and makes it current (so no answer reads across two fold batches; only that
// request waits for the catch-up, unless the current view is older than twice `catch_up_every`; with 0, each
// request first catches up). /readyz reports the answering view's age. Every answer is the one the command line
// gives (service/queries.h): JSON unless said otherwise.
//
// Endpoints (GET; {P} a person id, {C} a claim id, {F} a facility id, {Y} a year, {M} a month YYYY-MM):
//   /v1/persons/{P}?as_of=YYYY-MM-DD&known_at=T         person           desk, auditor   = `gongji person`
//   /v1/persons/{P}/settlements?kind=K&claim=C          settlements      desk, auditor   = `gongji settlements`
//   /v1/persons/{P}/claims/{C}                          claim            desk, auditor   = `gongji explain --json`
//   /v1/persons/{P}/statements/{Y}?format=json|html     statement        desk, auditor   = `gongji statement`
//   /v1/facilities/{F}/months/{M}?format=json|csv       facility_month   auditor
//   /v1/fund/months/{M}?format=json|csv                 fund_month       auditor
//   /v1/fund/months/{M}/facilities?format=json|csv      month_facilities auditor (each facility's claims, fund)
//   /v1/audits  /v1/audits/{ID|latest}                 audits, audit    auditor (the runs `gongji audit` recorded)
//   /healthz  /readyz  /metrics                         health, ready, metrics   ops
//   /  /desk                                            desk             no token: the dispute desk's page
//                                                       (service/desk.h), which sends the user's token itself
//   POST /v1/events   (only with QueryOptions::intake)  events           intake: JSON Lines of events appended
//                                                       through ingest/ingest.h, as `gongji ingest` does; 200, or
//                                                       422 when a line was refused: {"appended", "duplicate",
//                                                       "refused", "refusals": [dead letters]} (Impl::admit)
// Answers: 200; 400 {"error": "<parameter>: <what is wrong>", "parameter"} for a parameter that does not parse, is
// out of range or is unknown, and for a path id (person, claim, facility) an event would refuse (events/text.h:
// UTF-8, no control character, at most 256 bytes); 401 without a known bearer token (Authorization: Bearer
// <token>); 403 for a role the endpoint does not allow; 404 no such person, claim, facility or path; 413 a request
// body over 64 KiB; 429, with Retry-After, more than `rate` requests a second for one token; 500 a runtime failure
// (the message names the file; an unexpected exception gets a 500 without its text, which goes to stderr);
// /readyz 503 while a partition lags by more than `ready_lag` records or while the last catch-up with the fold
// failed (requests keep the last view meanwhile; counted in gongji_catch_up_failures_total). Every answer of a
// person endpoint (200 or not) is first appended to the access log (service/access_log.h); if that fails the answer
// is 500 and no data leaves.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "ingest/ingest.h"
#include "service/queries.h"

namespace gongji {

// Serving beside `gongji serve` (issue 11 item 1): a member of the consumer group answers for the partitions it
// owns and forwards a person's request of another partition to that partition's owner, with the caller's bearer
// token, which the owner checks again; the forwarded request carries the header X-Gongji-Forwarded-By (the
// forwarder's URL) and is never forwarded again (503 while the group rebalances). Only the owner, which reads the
// data, writes the access-log line (via "http from ADDR, forwarded by URL"; the header is as the request claims it).
// Every answer says who gave it in X-Gongji-Member. A member answers for a partition it was assigned only once its
// store has caught up with what the group had published (PartitionOwners::owns; meanwhile 503, retry).
// readyz and metrics count the owned partitions only. The facility and fund views read every partition: a member
// computes its own partitions' shares and asks each other partition's owner for its share (the same path, the
// caller's token, checked again, and X-Gongji-Partition: P; answered in JSON for that partition only, never passed
// on), then adds them as data in partition order (queries.h MonthShare), CSV after the merge. A share that cannot
// be had fails the view with the owner's status (503 when it did not answer).
// serve implements it from the group's metadata (consumers/group_owners.h); `gongji query` has none and answers
// for every partition of its store. Implementations are called from the request threads.
class PartitionOwners {
 public:
  virtual ~PartitionOwners() = default;
  virtual int partitions() const = 0;
  virtual bool owns(int partition) const = 0;
  // The base URL (scheme://host:port) of the member that owns `partition` now; "" when none is known.
  virtual std::string owner(int partition) = 0;
};

struct QueryOptions {
  std::string data_dir;                  // DATA: its state/ (the store) and log/ (the embedded log)
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free one (QueryService::port())
  std::string tokens_file;               // service/auth.h; required
  std::string access_log;                // "" = DATA/access-log.jsonl
  int access_log_keep_days = 0;          // 0: keep everything
  std::string cert, key;                 // both set: HTTPS
  double rate = 100;                     // requests a second per token
  uint64_t ready_lag = 1000;             // /readyz: the most records a partition may lag
  int threads = 32;                      // request threads (requests answered at once); listen backlog 1024
  std::string policy_file;               // "" = the policy the fold recorded
  std::chrono::milliseconds catch_up_every{100};
  LogOpener open_log;                    // null: the embedded log DATA/log, read-only; called at the start and
                                         // again only when the log must be reopened (after a truncation)
  bool check_log = true;                 // check the log against the store at each open (Store::check_log); serve
                                         // checks its store against the topic itself
  std::function<void()> catch_up_hook;   // tests: runs before each catch-up; a throw is a failed catch-up
  std::shared_ptr<PartitionOwners> owners;  // null: every partition is answered here (`gongji query`)
  std::string member;                    // this member's URL (X-Gongji-Member); "" = scheme://listen
  std::function<std::string()> more_metrics;  // serve: its own figures (Prometheus text), after the service's
  // serve: POST /v1/events appends through it (above; role intake). null: POST is refused (405) on every path.
  std::shared_ptr<Ingestor> intake;
};

class QueryService {
 public:
  // Opens the store (refused like any read command: "no store in ..."), the log the store was folded from, checked
  // against it (LogError, StoreError; a Kafka log needs its broker now), the tokens file (TokenFileError) and the
  // access log, and binds (std::runtime_error naming the address). Does not serve yet.
  explicit QueryService(QueryOptions options);
  ~QueryService();
  QueryService(const QueryService&) = delete;
  QueryService& operator=(const QueryService&) = delete;

  int port() const;
  bool tls() const;
  // This service's URL, scheme://host:port (QueryOptions::member when given).
  const std::string& member() const;
  // Serves until stop() (from another thread); false when serving failed.
  bool run();
  void stop();
  // Waits (up to `timeout`) until run() is accepting connections.
  bool wait_until_running(std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `gongji query`: runs a QueryService until SIGINT or SIGTERM; prints where it listens on stderr. Exit status.
int run_query_service(const QueryOptions& options);

}  // namespace gongji
