// The read questions of the ledger, one function each (issue 11): the command line (`gongji person`,
// `settlements`, `explain --json`, `statement`) and the query service (service/service.h) both call these, so that
// an endpoint's body and the command's output answer the same question alike.
//
// Contract: every function only reads the store (and, where it says so, the log the store was folded from). Errors:
//   ParameterError      a parameter that does not parse or is out of range, named (the CLI's exit_code::kUsage,
//                       the service's 400);
//   NotFoundError       no such person, claim or settlement (kNotFound, 404);
//   AmbiguousClaimError a claim id several persons hold, asked for without a person (kUsage, 400);
//   anything else       a runtime failure (StoreError, LogError: kFailure, 500).
// Thread-safety: as the Store's const methods (RocksDB reads): callable from several threads at once.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "log/event_log.h"
#include "projections/store.h"
#include "replay/explain.h"
#include "replay/reconstruct.h"

namespace gongji {

// EVENTS.md: the kinds of output record (`settlements --kind`, the service's `kind`).
inline const std::vector<std::string> kOutputKinds = {"settlement", "reversal", "account_credit", "account_debit",
                                                      "refusal", "contribution_mismatch", "dead_letter"};

// A bad parameter. `parameter` is the service's name ("as_of", "known_at", "year", "month", "policy", ...);
// what() is the command line's wording, "--as-of: <detail>" (its option is `parameter` with '_' as '-').
struct ParameterError : std::runtime_error {
  ParameterError(const std::string& parameter, const std::string& detail);
  std::string parameter, detail;
};

// Opens, read-only, the log the store was folded from (the command line: Paths::open_log_of).
using LogOpener = std::function<std::unique_ptr<EventLog>()>;
// The log a question re-derives from, asked for only when the question needs it, and already checked against the
// store (Store::check_log): the command line opens it then; the query service hands the one it keeps open.
using LogSource = std::function<EventLog&()>;

// A policy file a user names (--policy) on an existing store. The text of a version the store recorded (the same
// bytes) is read as the store reads it (PolicyText::stored): an older gongji may have folded under it with a key the
// loader now refuses in a given file (Policy::passed_over). Any other text is read as given. Every --policy on a
// store is read so: fold, serve, replay, the views, the query service, explain --policy and what-if.
Policy named_policy(const Store& store, const std::string& policy_file);

// The policy a read on an existing store uses (issue 9 item 10): `policy_file` when given, else the one the store's
// fold recorded. A store folded under several versions needs a policy file (ParameterError "policy"), unless
// `or_built_in`: then the built-in policy, for the views that only read dates and limits from it.
Policy read_policy(const Store& store, const std::string& policy_file, bool or_built_in = false);

// A view of what the store recorded (`person`, `statement`, the query service) reads it under the policy it was
// folded under: another version's limits and dates beside the recorded effects would mix two policies (DESIGN.md:
// another policy is a what-if, never mixed in). ParameterError "policy" naming both, `view` saying who refuses; a
// store that recorded none takes any.
void refuse_another_policy(const Store& store, const Policy& p, const std::string& view);

// The policy a fold or `serve` folds on under (DESIGN.md: a replay under another policy is a what-if, never silently
// mixed): `policy_file` when given, else the one the store recorded, else (a store not yet folded) the built-in
// policy. A file of a version the store has not recorded, on a store that has recorded one, is refused
// (ParameterError "policy", naming both): folded on, the store would hold records of two policies, which no audit
// can check (an audit replays the whole log under one). A store already holding several versions (an earlier
// binary's) needs a file naming one of them.
Policy fold_policy(const Store& store, const std::string& policy_file);
// Refuses, as fold_policy does but without its warnings, the policy a fold or `serve` of the store at `state_dir`
// would refuse, on a read-only open, before either opens the store or the log for writing: a refused policy then
// changes nothing (no torn tail cut, no migration, not even the files a writable open of RocksDB writes). With no
// store there yet, only that `policy_file` loads; a store this binary reads only once migrated (formats 2 and 3) is
// left to fold_policy after the writable open (any other format is refused here, as the writable open would).
void check_fold_policy_before_writing(const std::string& state_dir, const std::string& policy_file);

// A knowledge time (replay/reconstruct.h parse_known_at) whose partitions the log has; else ParameterError
// "known_at".
KnownAt known_at_param(const std::string& text, const EventLog& log);

// The default --as-of of `person` (POLICY.md TIME-ASOF): the latest date in the log, which TIME-LOG makes the
// person's partition (Store::latest_date; with `known`, of the events known then); nullopt when none is. With a time
// as `known` inside the window of a partition's events ingested out of log order (Store::disorder), that date is
// not kept: ParameterError "as_of" (give one). A store below format 10: StoreFormatError (Store::latest_date).
std::optional<Date> default_as_of(const Store& store, const std::string& person, const KnownAt* known = nullptr);

// `gongji person`: the person's state as JSON (replay/person_view.h person_view) as of `as_of` (YYYY-MM-DD; "" =
// default_as_of, decided before the person is read, so its refusals come before a NotFoundError), as known at
// `known_at` ("" = everything folded; else the person is folded again from the log, TIME-REPLAY). No such person (as
// known then): NotFoundError "no person P[ known at T ...]".
// `policy`: when set, the policy read_policy(store, policy_file, known_at.empty()) gives (a caller's cache, checked
// by the caller with refuse_another_policy); otherwise a `policy_file` of another version is refused (ParameterError).
// `cache`: for the known-at reconstruction (replay/reconstruct.h ReplayCache), a long-lived reader's.
struct PersonQuery {
  std::string person, as_of, known_at, policy_file;
  const Policy* policy = nullptr;
  ReplayCache* cache = nullptr;
};
nlohmann::json person_query(const Store& store, const LogSource& log, const PersonQuery& q);

// `gongji settlements` and /v1/persons/{P}/settlements: the output records of `person` (or, without one, of the one
// person holding `claim`, or every record), keeping only `claim` and `kind` where given, in log order, as the store
// holds them (printed with Output::line(): no JSON parsed). A person or claim asked for that no record of any kind
// names is not found, as for `person` and `explain` (an empty answer would read as "nothing yet"): NotFoundError "no
// person P" (nor does the store hold P: a person known only by records naming them, such as an UNKNOWN_PERSON
// rejection, is found) or "no record of claim C[ of person P]"; one with records, none of `kind`, is an empty answer.
void records_query(const Store& store, const std::string& person, const std::string& claim, const std::string& kind,
                   const std::function<void(const Output&)>& fn);

// The reversal records (kind "reversal") of the person's claim, in log order: a claim refunded later. `explain` and
// the query service's claim answer list them after the re-derivation ("reversals"), so that a payment taken back is
// never read as standing.
std::vector<nlohmann::json> claim_reversals(const Store& store, const std::string& person, const std::string& claim);

// `gongji explain --json`: a re-derivation as JSON {claim, person, recorded, recomputed, equal, policy_version,
// differences (when not equal), what_if (with another policy)}.
nlohmann::json explanation_json(const Rederivation& r, const std::string& claim, const std::string& person,
                                bool what_if);
// The same object as one compact line (keys sorted, as nlohmann prints it), the two records spliced in as they print
// (Output::line()): the query service's answer, with no JSON parsed back.
std::string explanation_line(const Rederivation& r, const std::string& claim, const std::string& person,
                             bool what_if, const std::vector<nlohmann::json>& reversals = {});

// `gongji statement`: the person's year as "json" (2-space indented, newline-terminated), "html" or "text".
// A year outside the policy window: ParameterError "year"; no year: statement_year's (replay/statement.h); no such
// person: NotFoundError. `policy`: when set, the policy read_policy(store, policy_file, true) gives (a caller's cache).
std::string statement_query(const Store& store, const std::string& person, std::optional<int> year,
                            const std::string& format,
                            const std::string& policy_file, const Policy* policy = nullptr);

// A month "YYYY-MM", or ParameterError naming `parameter`.
Month month_param(const std::string& text, const std::string& parameter = "month");

// A facility's month (issue 11 item 4), by month of service: {facility, month, claims: [{claim, person, date,
// benefit, scheme, level, status, reasons, fund, total}], patients (distinct persons with a claim there),
// fund: {settled, reversed, net}, fund_by_benefit, fund_by_scheme: {name: net fund}, reversals: [{claim, person,
// at, fund}]}. Money as yuan strings. A reversal counts in its claim's month (its `date`). Reads the month's
// settlements of the facility and reversals (of `partition` only, when given) through Store::month_outputs_as_data.
nlohmann::json facility_month(const Store& store, const std::string& facility, Month month,
                              std::optional<int> partition = std::nullopt);

// The fund's month, counted as `gongji report` counts "fund paid by month of service" (settled claims by service
// date), with reversals in their claim's month: {month, claims, fund: {settled, reversed, net}, by_scheme,
// by_level, by_benefit, by_scheme_level: {key: {settled, reversed, net}}, account: {credits, debits: {count,
// amount}}} (account movements by their date `at`). Reads the month's records (of `partition` only, when given)
// through Store::month_outputs_as_data.
nlohmann::json fund_month(const Store& store, Month month, std::optional<int> partition = std::nullopt);

// The auditor's overview of a month (the list to pick a facility from): every facility with a claim of that month
// of service, {month, facilities: [{facility, claims, patients, fund: {settled, reversed, net}}], out_of_area:
// {claims, patients, fund}} in facility order, counted as facility_month counts; out_of_area counts the claims with
// no facility (ORD-AWAY), so that the facilities and it add up to the fund's month. Reads the month's settlements
// and reversals (of `partition` only, when given) through Store::month_outputs_as_data.
nlohmann::json facilities_of_month(const Store& store, Month month, std::optional<int> partition = std::nullopt);

// The three month views, each over one partition's outputs when `partition` is given (a serve member's share: a
// person's records, a claim's settlement and its reversal are all in the person's partition), are merged here, in
// partition order, into the view over every partition: lists concatenated, counts and money added (patients too:
// no person has records in two partitions), facilities by facility. Equal to the view computed over one store
// holding every partition.
enum class MonthView { facility, fund, facilities };

// Fund settled and reversed (negative) of one row of a month view, in fen; its net is their sum.
struct FundRow {
  Money settled = 0, reversed = 0;
};
// A month view, or one partition's share of it, as data (issue 9 item 2): its money in fen, shares added as data in
// partition order (add), rendered once (to_json: the JSON above). The facility view's claims and reversals are kept
// as they render: listed, never summed.
struct MonthShare {
  MonthShare(MonthView v, Month m) : view(v), month(m) {}
  MonthView view = MonthView::fund;
  Month month = 0;
  std::string facility;                                        // facility view
  nlohmann::json claims = nlohmann::json::array();             // facility view
  nlohmann::json reversals = nlohmann::json::array();          // facility view
  long claim_count = 0;                                        // fund view
  size_t patients = 0;                                         // facility view
  FundRow fund;                                                // facility and fund views
  std::map<std::string, std::map<std::string, FundRow>> rows;  // fund_by_benefit, ...; by_scheme, by_level, ...
  long credits = 0, debits = 0;                                // fund view: account movements
  Money credited = 0, debited = 0;
  struct Facility {
    long claims = 0;
    size_t patients = 0;
    FundRow fund;
  };
  std::map<std::string, Facility> facilities;  // facilities view; "": the out-of-area claims (no facility)
  void add(const MonthShare& other);
  nlohmann::json to_json() const;
  // A share another member sent (the wire between serve members: the one place its money is read from text).
  static MonthShare from_json(MonthView view, const nlohmann::json& j);
};
MonthShare facility_month_share(const Store& store, const std::string& facility, Month month,
                                std::optional<int> partition);
MonthShare fund_month_share(const Store& store, Month month, std::optional<int> partition);
MonthShare facilities_month_share(const Store& store, Month month, std::optional<int> partition);
// Shares as JSON (as members send them) merged: from_json, add, to_json.
nlohmann::json merge_month_views(MonthView view, const std::vector<nlohmann::json>& shares);
// As CSV: facility,claims,patients,settled,reversed,net; the out-of-area claims last, with an empty facility.
std::string facilities_of_month_csv(const nlohmann::json& view);

// The two month views as CSV (RFC 4180, header line first, CRLF): the facility's claims, one a line
// (claim,person,date,benefit,scheme,level,status,fund,total), then each reversal as a line with status "reversal",
// its date `at`, its claim's benefit, scheme and level and no total, so that the fund column sums to fund.net; the
// fund's rows (view,key,settled,reversed,net,count,amount) for the total and each of by_scheme, by_level,
// by_benefit, by_scheme_level (count and amount empty), then "account,credits" and "account,debits" (only count
// and amount). A text field (id, code, date) starting with = + - @ TAB, CR or ' gets a leading ' (formula
// injection; a reader strips exactly one); money and counts never do.
std::string facility_month_csv(const nlohmann::json& view);
std::string fund_month_csv(const nlohmann::json& view);

}  // namespace gongji
