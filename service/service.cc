#include "service/service.h"

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <iostream>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include "events/partition.h"
#include "events/text.h"
#include "oplog/oplog.h"
#include "replay/audit.h"
#include "service/access_log.h"
#include "service/auth.h"
#include "service/desk.h"
#include "service/metrics.h"
#include "service/request_target.h"

namespace gongji {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxBody = 64 * 1024;  // issue 11 item 2: a body over 64 KiB gets 413
constexpr uint64_t kReadThrough = 16 << 20;  // a body the server reads through before its 413 (pre_route)
constexpr const char* kForwardedBy = "X-Gongji-Forwarded-By";  // PartitionOwners (service.h)
constexpr const char* kMember = "X-Gongji-Member";
// A member asking another for its share of a month view: the one partition wanted (service.h PartitionOwners).
constexpr const char* kShare = "X-Gongji-Partition";

// An answer that is not this service's to give now: a share of a month view that another member could not give
// (its status, or 503 when it did not answer), a partition no member owns.
struct Unavailable : std::runtime_error {
  Unavailable(int s, const std::string& what) : std::runtime_error(what), status(s) {}
  int status;
};

struct Reply {
  Reply(int s, std::string b, std::string t = "application/json", std::string m = "")
      : status(s), body(std::move(b)), type(std::move(t)), member(std::move(m)) {}
  int status;
  std::string body;
  std::string type;
  std::string member;  // the member that answered, when another one did (a forwarded request)
};

// Every JSON answer: text that is not UTF-8 (a request's bytes echoed in a message) becomes U+FFFD, never a throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

Reply error_reply(int status, const std::string& message, const std::string& parameter = "") {
  json j = {{"status", status}, {"error", message}};
  if (!parameter.empty()) j["parameter"] = parameter;
  return {status, dump(j)};
}

Reply json_reply(const json& j) { return {200, dump(j)}; }

// One GET as its route reads it (service/request_target.h): the route's named path segments, decoded, and the
// query's parameters, read by run_handler once the token is checked (a malformed query is a 400 naming the parameter).
struct Call {
  const httplib::Request& req;
  std::map<std::string, std::string> path;  // by the names of the route's pattern ("{person}" -> "person")
  std::vector<std::pair<std::string, std::string>> query;
  const std::string* find(const std::string& name) const {
    for (const auto& [n, v] : query)
      if (n == name) return &v;
    return nullptr;
  }
  bool has(const std::string& name) const { return find(name) != nullptr; }
  std::string param(const std::string& name) const {  // "" when not given
    const std::string* v = find(name);
    return v ? *v : "";
  }
  std::string segment(const std::string& name) const {
    auto it = path.find(name);
    return it == path.end() ? "" : it->second;
  }
};

// The path's segment `name` (a person, claim or facility) under the rules of an event's ids (events/text.h): else
// ParameterError naming it.
std::string id_param(const Call& call, const char* name) {
  const std::string id = call.segment(name);
  if (std::string why = text_field_problem(id); !why.empty()) throw ParameterError(name, why);
  return id;
}

// The bearer token of `Authorization: Bearer <token>`, or "".
std::string bearer(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  return h.starts_with("Bearer ") ? h.substr(7) : "";
}

int year_param(const std::string& text) {
  if (text.size() != 4 || text.find_first_not_of("0123456789") != std::string::npos)
    throw ParameterError("year", "expected a year YYYY, got '" + text + "'");
  return std::stoi(text);
}

std::string format_param(const Call& call, std::set<std::string> allowed) {
  std::string f = call.has("format") ? call.param("format") : "json";
  if (!allowed.count(f)) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw ParameterError("format", "expected one of " + list + ", got '" + f + "'");
  }
  return f;
}

// One consistent view of the ledger: a secondary instance of the store, the log it was folded from brought up to
// it (EventLog::refresh after each catch-up; opened once and checked against the store, Store::check_log), and the
// ReplayCache of that log. A request reads one view from start to end; a catch-up never touches a view a request
// holds (QueryService::Impl::catch_up), so no answer reads across two fold batches and no request waits for a
// catch-up.
struct View {
  std::unique_ptr<Store> store;
  std::unique_ptr<EventLog> log;
  std::unique_ptr<ReplayCache> replay = std::make_unique<ReplayCache>();  // of `log`: a new one when it is reopened
  Clock::time_point caught_up = Clock::now();  // when its store last caught up with the primary (or was opened)
  std::string dir;  // its secondary instance's own files
};

using Handler = std::function<Reply(const Call&, View&)>;

struct Route {
  std::string endpoint;
  Area area;
  std::vector<std::string> params;  // the query parameters it takes; any other is a 400
};

// A route of the table the pre-routing handler matches GETs against (QueryService::Impl::routes).
struct Routed {
  std::vector<std::string> pattern;  // path segments: a literal, or "{name}" for any non-empty segment
  Route route;
  Handler handler;
};

// Whether `segments` (decoded) match `pattern`, its named segments then in `path`.
bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
             std::map<std::string, std::string>& path) {
  if (pattern.size() != segments.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& want = pattern[i];
    if (want.starts_with('{') && want.ends_with('}')) {
      if (segments[i].empty()) return false;
      path[want.substr(1, want.size() - 2)] = segments[i];
    } else if (want != segments[i]) {
      return false;
    }
  }
  return true;
}

// Answers `r`, then closes the connection. cpp-httplib 0.11.4 keeps a connection whatever "Connection: close" the
// answer says, but closes it when a content provider gives up (returns false): this one gives up once it has written
// the whole answer, so the client reads all of it and then the end of the connection.
void answer_then_close(httplib::Response& res, const Reply& r) {
  res.status = r.status;
  res.set_header("Connection", "close");
  auto body = std::make_shared<const std::string>(r.body);
  res.set_content_provider(body->size(), r.type.c_str(),
                           [body](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(body->data() + offset, length);
                             return false;
                           });
}

}  // namespace

struct QueryService::Impl {
  QueryOptions opt;
  std::string secondary;  // the secondary instances' own files, DATA/query-secondary-<pid>/{a,b,reopened-N} (removed at
                          // the end)
  // Two views: requests take `current`; a catch-up brings `spare` up to the fold once no request holds it any more,
  // then swaps the two. Guarded by views_mu (held only to copy or swap the pointers).
  std::mutex views_mu;
  std::shared_ptr<View> current, spare;
  std::shared_ptr<View> view() {
    std::lock_guard<std::mutex> lock(views_mu);
    return current;
  }
  TokenTable tokens;
  std::unique_ptr<AccessLog> access;
  RateLimiter limiter;
  RequestMetrics requests;
  LedgerMetrics ledger;
  std::unique_ptr<httplib::Server> server;
  int port = 0;
  bool tls = false;
  std::mutex catch_up_mu;  // one catch-up at a time; guards last_catch_up and reopen_after
  Clock::time_point last_catch_up{};
  Clock::time_point reopen_after{};  // no reopening of the log before then (refresh_log)
  std::mutex error_mu;  // guards catch_up_error (never held while taking another lock)
  std::string catch_up_error;  // the last catch-up's failure ("" when it succeeded): /readyz answers 503
  std::atomic<uint64_t> catch_up_failures{0};
  std::atomic<uint64_t> catch_up_skipped{0};  // catch-ups not done because a request still read the spare view
  void set_catch_up_error(const std::string& e) {
    std::lock_guard<std::mutex> lock(error_mu);
    catch_up_error = e;
  }
  std::string last_catch_up_error() {
    std::lock_guard<std::mutex> lock(error_mu);
    return catch_up_error;
  }
  std::mutex policy_mu;
  std::map<std::string, std::shared_ptr<const Policy>> policies;  // by the store's v/ keys and or_built_in

  explicit Impl(QueryOptions o) : opt(std::move(o)), limiter(opt.rate) {}
  ~Impl() {
    current.reset();
    spare.reset();
    if (!secondary.empty()) fs::remove_all(secondary);
  }
  std::shared_ptr<View> open_view(const std::string& dir, const EventLog* like);
  void reopen_spare(std::shared_ptr<View>& next, const std::string& why);
  int reopened = 0;  // views opened again (reopen_spare), under catch_up_mu
  Clock::time_point reopen_store_after{};  // after a reopen failed: the next one not before, under catch_up_mu
  void open();
  void bind();
  void routes();
  void person_routes();
  void audit_routes();
  void ops_routes();
  void audit_run_routes();
  void route(const std::string& pattern, const Route& r, const Handler& h);
  std::vector<Routed> table;  // every GET route but the desk's page: matched by dispatch()
  bool dispatch(const httplib::Request& req, httplib::Response& res);
  void refuse_method(const httplib::Request& req, httplib::Response& res);  // 405
  // Answers a request whose body is left unread, then closes its connection (answer_then_close). The server writes
  // no body for HEAD, so the content provider that closes the connection would never run: the request is answered
  // as a GET. (cpp-httplib's Request is the server's own, not a const object: the cast is well defined.) The answer
  // then carries a body a HEAD client does not read, on a connection that closes after it.
  void refuse_unread(const httplib::Request& req, httplib::Response& res, const Reply& r, const std::string& endpoint) {
    if (req.method == "HEAD") const_cast<httplib::Request&>(req).method = "GET";
    answer_then_close(res, r);
    requests.observe(endpoint, r.status, 0);
  }
  // Before any route: the body limit, bodies the server would not read, GETs of the routes' table (dispatch).
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res);
  struct Refused {
    Reply reply;
    std::string endpoint;  // as the request metrics count it
  };
  // A request refused for its body (pre_route); `before_body`: asked at Expect: 100-continue, before it is sent.
  std::optional<Refused> body_refusal(const httplib::Request& req, bool before_body) const;
  void send(httplib::Response& res, const Reply& reply, const std::string& endpoint, Clock::time_point t0);
  Reply admit(const httplib::Request& req);
  std::timed_mutex intake_mu;  // one POST /v1/events at a time (an Ingestor is not thread-safe)
  Reply answer(Call& call, const Route& r, const Handler& h);
  Reply run_handler(Call& call, const Route& r, const Handler& h);
  Reply logged(const Call& call, const Principal& who, const Route& r, Reply reply);
  // A month view's share asked by another member of a serve group (X-Gongji-Partition); a plain `gongji query`
  // answers every partition whatever the header says.
  bool share_asked(const httplib::Request& req) const { return opt.owners && req.has_header(kShare); }
  Reply forward(const httplib::Request& req, int partition);
  httplib::Result ask_member(const std::string& url, const std::string& target, const httplib::Headers& headers) const;
  MonthShare decoded_share(MonthView kind, const json& body, int p);
  json month_view(const httplib::Request& req, MonthView kind,
                  const std::function<MonthShare(std::optional<int>)>& share);
  json share_of(const httplib::Request& req, int partition);
  std::atomic<int> gathering{0};  // month views asking other members now (month_view)
  std::vector<int> answered_partitions(const EventLog& log) const;
  static bool known_facility(const Store& store, int partitions, const std::string& facility);
  void catch_up();
  void refresh_log(View& v);
  std::shared_ptr<const Policy> policy(const Store& store, bool or_built_in);
  // Seconds until the limiter admits one more request of a token that used its burst: 1/rate, at least 1.
  std::string retry_after() const { return std::to_string(std::max<long long>(1, std::llround(1 / opt.rate))); }
  std::string rate_text() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", opt.rate);
    return buf;
  }
};

namespace {
// Removes DATA/query-secondary-<pid> directories whose process is gone (a `gongji query` that was killed).
void remove_stale_secondaries(const std::string& data_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("query-secondary-")) continue;
    const std::string pid = name.substr(16, name.find('-', 16) - 16);  // "<pid>" or "<pid>-<n>"
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    if (::kill(std::stoi(pid), 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

void QueryService::Impl::open() {
  const std::string state = opt.data_dir + "/state";
  if (!fs::exists(state + "/CURRENT"))
    throw std::runtime_error("no store in " + state + " (run `gongji ingest` and `gongji fold` first)");
  if (opt.tokens_file.empty()) throw ParameterError("tokens", "a tokens file is required (service/auth.h)");
  tokens = TokenTable::load(opt.tokens_file);
  remove_stale_secondaries(opt.data_dir);
  secondary = opt.data_dir + "/query-secondary-" + std::to_string(::getpid());
  for (int n = 2; fs::exists(secondary); ++n)  // another QueryService of this process (tests)
    secondary = opt.data_dir + "/query-secondary-" + std::to_string(::getpid()) + "-" + std::to_string(n);
  std::error_code ec;
  if (!fs::create_directory(secondary, ec))
    throw std::runtime_error("cannot create " + secondary + " for the secondary instances: " + ec.message());
  if (!opt.open_log) {
    const std::string dir = opt.data_dir + "/log";
    opt.open_log = [dir] { return open_segment_log(dir, 8, true); };
  }
  current = open_view(secondary + "/a", nullptr);
  if (!opt.policy_file.empty())  // refused once, at start, rather than at every person and statement request
    refuse_another_policy(*current->store, named_policy(*current->store, opt.policy_file), "the query service");
  spare = open_view(secondary + "/b", current->log.get());
  access = std::make_unique<AccessLog>(opt.access_log.empty() ? opt.data_dir + "/access-log.jsonl" : opt.access_log,
                                       opt.access_log_keep_days);
}

// A view on a new secondary instance in `dir`. Its log: a copy of `like`'s (the embedded log is then not read again:
// opening checksums every partition's tail) or, without one, opened and checked against the store.
std::shared_ptr<View> QueryService::Impl::open_view(const std::string& dir, const EventLog* like) {
  std::error_code ec;
  if (!fs::create_directory(dir, ec))
    throw std::runtime_error("cannot create " + dir + " for a secondary instance: " + ec.message());
  auto v = std::make_shared<View>();
  v->dir = dir;
  v->store = std::make_unique<Store>(opt.data_dir + "/state", StoreOptions{true, false, nullptr}, dir);
  if (like) v->log = like->reader_copy();
  if (!v->log) {
    v->log = opt.open_log();
    if (opt.check_log) v->store->check_log(*v->log);
  }
  return v;
}

void QueryService::Impl::bind() {
  if (!opt.cert.empty() || !opt.key.empty()) {
    if (opt.cert.empty() || opt.key.empty()) throw ParameterError("cert", "--cert and --key go together");
    auto ssl = std::make_unique<httplib::SSLServer>(opt.cert.c_str(), opt.key.c_str());
    if (!ssl->is_valid())
      throw ParameterError("cert", "cannot load the certificate " + opt.cert + " and key " + opt.key);
    server = std::move(ssl);
    tls = true;
  } else {
    server = std::make_unique<httplib::Server>();
  }
  server->set_payload_max_length(kMaxBody);
  server->new_task_queue = [n = static_cast<size_t>(opt.threads)] { return new httplib::ThreadPool(n); };
  // Only SO_REUSEADDR: httplib's default adds SO_REUSEPORT, with which a second `gongji query` on the same port
  // would start silently and take half the requests. A second bind fails instead.
  int listening = -1;
  server->set_socket_options([&listening](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening = sock;
  });
  const size_t colon = opt.listen.rfind(':');
  const std::string host = colon == std::string::npos ? "" : opt.listen.substr(0, colon);
  const std::string port_text = colon == std::string::npos ? "" : opt.listen.substr(colon + 1);
  if (host.empty() || port_text.empty() || port_text.find_first_not_of("0123456789") != std::string::npos ||
      port_text.size() > 5 || std::stoi(port_text) > 65535)
    throw ParameterError("listen", "expected HOST:PORT, got '" + opt.listen + "'");
  const int wanted = std::stoi(port_text);
  port = wanted == 0 ? server->bind_to_any_port(host) : (server->bind_to_port(host, wanted) ? wanted : -1);
  if (port <= 0) throw std::runtime_error("cannot listen on " + opt.listen + " (is another process listening there?)");
  // httplib listens with a backlog of 5: a burst of connections beyond it waits for a SYN retry (1 s). Listening
  // again on the bound socket sets a longer queue.
  if (listening >= 0 && ::listen(listening, 1024) != 0)
    oplog::warn(std::string("cannot lengthen the listen queue: ") + std::strerror(errno));
  server->set_socket_options([](int sock) {  // the captured variable is gone after bind
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (host != "127.0.0.1" && host != "localhost" && host != "::1" && !tls)
    oplog::warn("listening on " + opt.listen + " without TLS (give --cert and --key)");
}

// At most every catch_up_every, the request that finds it due brings the spare view up to the fold (its store caught
// up with the primary, then its log with the store) and makes it current; it waits for that, the others answer from
// the current view meanwhile, unless that view is older than twice catch_up_every (then they wait too, so that no
// answer is older than that while catch-ups succeed). The spare is caught up only once no request still reads it:
// until then catch-ups are skipped (counted; /readyz says when the current view grows old). With catch_up_every 0
// (tests) every request first catches up. A failed catch-up (possible while the primary writes) keeps the current
// view: logged, counted, shown by /readyz.
void QueryService::Impl::catch_up() {
  std::unique_lock<std::mutex> lock(catch_up_mu, std::defer_lock);
  if (opt.catch_up_every.count() == 0 || Clock::now() - view()->caught_up > 2 * opt.catch_up_every) lock.lock();
  else if (!lock.try_lock()) return;  // another request is catching up, and the current view is recent
  const auto now = Clock::now();
  if (last_catch_up != Clock::time_point{} && now - last_catch_up < opt.catch_up_every) return;
  std::shared_ptr<View> next;
  {
    std::lock_guard<std::mutex> views(views_mu);
    if (spare.use_count() > 1) {  // a request still reads the view it had before the last swap
      ++catch_up_skipped;
      return;
    }
    next = spare;
  }
  // The last reader's reads of `next` (its shared_ptr released with acq_rel) happen before the writes below.
  std::atomic_thread_fence(std::memory_order_acquire);
  last_catch_up = now;
  try {
    if (opt.catch_up_hook) opt.catch_up_hook();
    try {
      next->store->catch_up();
    } catch (const StoreReplaced& e) {
      if (Clock::now() < reopen_store_after) throw;  // a reopen failed less than 10 s ago
      reopen_spare(next, e.what());
    }
    next->caught_up = Clock::now();
    refresh_log(*next);
    set_catch_up_error("");
  } catch (const std::exception& e) {
    ++catch_up_failures;
    set_catch_up_error(e.what());
    oplog::error(std::string("catching up with the fold failed, still answering from the last view: ") + e.what());
    return;
  }
  std::lock_guard<std::mutex> views(views_mu);
  spare = std::move(current);
  current = std::move(next);
}

// `next`, the spare view (no request holds it), on the store now at DATA/state, replaced since the view opened it
// (StoreReplaced: moved aside and folded anew, or a copy put in its place): a new view, its log opened and checked
// against that store; the old one closed and its files removed. A new view that fails to open leaves the old one as
// the spare (the catch-up fails: /readyz says why). Its answers were the old store's, 200, until a restart.
void QueryService::Impl::reopen_spare(std::shared_ptr<View>& next, const std::string& why) {
  oplog::warn(why + ": the query service opens it again");
  const std::string dir = secondary + "/reopened-" + std::to_string(++reopened);
  std::shared_ptr<View> fresh;
  try {
    fresh = open_view(dir, nullptr);
    if (!opt.policy_file.empty())
      refuse_another_policy(*fresh->store, named_policy(*fresh->store, opt.policy_file), "the query service");
  } catch (...) {  // tried again 10 s later at the earliest (a store missing while it is rebuilt, say)
    fresh.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
    reopen_store_after = Clock::now() + std::chrono::seconds(10);
    throw;
  }
  const std::string old = next->dir;
  {
    std::lock_guard<std::mutex> views(views_mu);
    spare = fresh;
  }
  next = fresh;  // the old view's last owner: closed here, before its files go
  std::error_code ec;
  fs::remove_all(old, ec);
}

// The log brought up to the store just caught up. A log whose files no longer continue what was read (an operator's
// `gongji log truncate`) is opened again, checked against the store as at the start, with a new ReplayCache; a
// reopen that fails is tried again only 10 s later (meanwhile each catch-up fails fast, and the failure shows in
// /readyz). The store's view has moved on either way: a question needing a record the log does not reach answers
// 500 naming it.
void QueryService::Impl::refresh_log(View& v) {
  try {
    v.log->refresh();
  } catch (const LogError& e) {
    if (Clock::now() < reopen_after) throw;
    oplog::warn(std::string("opening the log again: ") + e.what());
    try {
      auto fresh = opt.open_log();
      if (opt.check_log) v.store->check_log(*fresh);
      v.log = std::move(fresh);
      v.replay = std::make_unique<ReplayCache>();
    } catch (...) {
      reopen_after = Clock::now() + std::chrono::seconds(10);
      throw;
    }
  }
}

// `pattern`: "/v1/persons/{person}/claims/{claim}", a name in braces for any non-empty segment.
void QueryService::Impl::route(const std::string& pattern, const Route& r, const Handler& h) {
  table.push_back({path_segments(pattern), r, h});
}

// A GET of a route of the table: answered (true), else left to the server's own routes (the desk's page, 404).
// The path is matched segment by segment as service/request_target.h reads it, so an id may hold an encoded '/'.
bool QueryService::Impl::dispatch(const httplib::Request& req, httplib::Response& res) {
  const auto t0 = Clock::now();
  std::vector<std::string> segments;
  try {
    segments = path_segments(req.target);
  } catch (const TargetError& e) {
    send(res, error_reply(400, e.what(), e.parameter), "other", t0);
    return true;
  }
  for (const Routed& r : table) {
    Call call{req, {}, {}};
    if (!matches(r.pattern, segments, call.path)) continue;
    send(res, answer(call, r.route, r.handler), r.route.endpoint, t0);
    return true;
  }
  return false;
}

void QueryService::Impl::send(httplib::Response& res, const Reply& reply, const std::string& endpoint,
                              Clock::time_point t0) {
  res.status = reply.status;
  res.set_content(reply.body, reply.type.c_str());
  res.set_header(kMember, reply.member.empty() ? opt.member : reply.member);
  if (reply.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  if (reply.status == 429) res.set_header("Retry-After", retry_after());
  // Personal data: never cached by a browser or proxy, never sniffed into another type; the statement's page runs
  // no script and loads nothing.
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  if (reply.type.starts_with("text/html"))
    res.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  requests.observe(endpoint, reply.status, std::chrono::duration<double>(Clock::now() - t0).count());
}

// POST /v1/events (QueryOptions::intake): the body's JSON Lines through ingest/ingest.h, one request at a time (a
// request that waits over 2 s for the one before gets 503 with Retry-After, so that posts never hold every request
// thread). Each post is first appended to the access log (who, from where, how many bytes): no write without its
// trail, so a log that cannot be written is a 500 with nothing appended. 200 when every line was appended (or was a
// duplicate), 422 when some were refused (the others are appended, so sending the whole body again is safe: an event
// already in the log is a duplicate, which the fold tells when the log cannot); the body gives the counts and each
// refusal in its dead-letter form. A failure of the log or of the dead-letter topic is a 500 naming it: whether the
// lines were appended is then not known, and sending them again is the remedy.
Reply QueryService::Impl::admit(const httplib::Request& req) {
  const std::optional<Principal> who = tokens.authenticate(bearer(req));
  if (!who) return error_reply(401, "a known bearer token is required (Authorization: Bearer <token>)");
  if (!limiter.admit(who->name))
    return error_reply(429, "more than " + rate_text() + " requests a second for token " + who->name);
  if (!role_allows(who->role, Area::intake))
    return error_reply(403, "role " + role_name(who->role) + " may not write events (role intake may)");
  if (!req.params.empty())
    return error_reply(400, req.params.begin()->first + ": unknown parameter of events", req.params.begin()->first);
  std::unique_lock<std::timed_mutex> lock(intake_mu, std::chrono::seconds(2));
  if (!lock.owns_lock()) return error_reply(503, "another post of events is being appended: retry");
  try {
    access->append({who->name, role_name(who->role), "http from " + req.remote_addr,
                     "events (" + std::to_string(req.body.size()) + " bytes)", "", "", 0});
  } catch (const std::exception& ex) {
    return error_reply(500, std::string("the access log cannot be written, so nothing is appended: ") + ex.what());
  }
  std::istringstream in(req.body);
  std::string refusals;  // the dead-letter lines, each already a JSON object
  IngestCounts n;
  try {
    n = opt.intake->ingest(in, "http:" + who->name, [&](const IngestRefusal& r) {
      refusals += (refusals.empty() ? "" : ",") + dead_letter_line(r);
    });
  } catch (const std::exception& e) {
    oplog::error(std::string("POST /v1/events from ") + who->name + ": " + e.what());
    return error_reply(500, std::string("the events may not all be appended (send them again): ") + e.what());
  }
  const json counts = {{"appended", n.appended}, {"duplicate", n.duplicate}, {"refused", n.refused}};
  std::string body = counts.dump();
  body.pop_back();  // '}': the refusals follow as they are
  return Reply{n.refused ? 422 : 200, body + ",\"refusals\":[" + refusals + "]}\n"};
}

// read_policy's answer, kept while the store's policy versions (v/ keys) stay the same: loading a policy text is
// most of a person query's time.
std::shared_ptr<const Policy> QueryService::Impl::policy(const Store& store, bool or_built_in) {
  std::string key = or_built_in ? "1" : "0";
  store.scan("v/", [&](const std::string& k, std::string_view) { key += "\n" + k; });
  std::lock_guard<std::mutex> lock(policy_mu);
  auto& cached = policies[key];
  if (!cached) cached = std::make_shared<const Policy>(read_policy(store, opt.policy_file, or_built_in));
  return cached;
}

Reply QueryService::Impl::answer(Call& call, const Route& r, const Handler& h) {
  const httplib::Request& req = call.req;
  const std::optional<Principal> who = tokens.authenticate(bearer(req));
  if (!who) return error_reply(401, "a known bearer token is required (Authorization: Bearer <token>)");
  if (!limiter.admit(who->name))
    return error_reply(429, "more than " + rate_text() + " requests a second for token " + who->name);
  if (!role_allows(who->role, r.area))
    return error_reply(403, "role " + role_name(who->role) + " may not read " + r.endpoint);
  if (const std::string person = call.segment("person");
      opt.owners && r.area == Area::person && text_field_problem(person).empty()) {
    const int p = partition_of(person, opt.owners->partitions());
    if (!opt.owners->owns(p)) return forward(req, p);
  }
  Reply reply = run_handler(call, r, h);
  // The facility views list persons too, and an audit run's findings name them: their reads are logged as well
  // (the list of audit runs gives counts only).
  const bool lists_persons =
      r.endpoint == "facility_month" || r.endpoint == "month_facilities" || r.endpoint == "audit";
  return r.area == Area::person || lists_persons ? logged(call, *who, r, std::move(reply)) : reply;
}

Reply QueryService::Impl::run_handler(Call& call, const Route& r, const Handler& h) {
  try {
    try {
      call.query = query_params(call.req.target);
    } catch (const TargetError& e) {
      throw ParameterError(e.parameter, e.detail);
    }
    for (const auto& [name, value] : call.query)
      if (std::find(r.params.begin(), r.params.end(), name) == r.params.end())
        throw ParameterError(name, "unknown parameter of " + r.endpoint);
    catch_up();
    const std::shared_ptr<View> v = view();  // held to the end of the answer: no catch-up touches it meanwhile
    return h(call, *v);
  } catch (const ParameterError& e) {
    return error_reply(400, e.parameter + ": " + e.detail, e.parameter);  // the parameter as the request names it
  } catch (const AmbiguousClaimError& e) {
    return error_reply(400, "claim " + e.claim + " is held by several persons: name the person", "claim");
  } catch (const NotFoundError& e) {
    return error_reply(404, e.what());
  } catch (const Unavailable& e) {
    return error_reply(e.status, e.what());
  } catch (const StoreFormatError& e) {  // a store an earlier gongji wrote, lacking what this answer needs: fold it
    return error_reply(503, e.what());
  } catch (const NotFoldedError& e) {  // the log holds what the answer needs, not folded yet: the fold will
    return error_reply(503, e.what());
  } catch (const std::exception& e) {
    return error_reply(500, e.what());
  }
}

// Issue 11 item 2: every read of a person's data is in the access log before its answer leaves.
Reply QueryService::Impl::logged(const Call& call, const Principal& who, const Route& r, Reply reply) {
  const httplib::Request& req = call.req;
  // The peer's address always; the forwarder's URL as the request claims it (a forwarded read: service.h).
  std::string via = "http from " + req.remote_addr;
  if (req.has_header(kForwardedBy)) via += ", forwarded by " + req.get_header_value(kForwardedBy);
  const bool person = r.area == Area::person;
  // A view that is not a person's is logged by its path as sent (still encoded: an id holding '/' stays one).
  const std::string path = req.target.substr(0, req.target.find('?'));
  AccessEntry e{who.name, role_name(who.role), via, person ? r.endpoint : r.endpoint + " " + path,
                person ? call.segment("person") : "",
                r.endpoint == "claim" ? call.segment("claim") : call.param("claim"),
                reply.status};
  try {
    access->append(e);
  } catch (const std::exception& ex) {
    return error_reply(500, std::string("the access log cannot be written, so nothing is answered: ") + ex.what());
  }
  return reply;
}

// A person's request of a partition another member owns: sent on to that owner with the caller's token (which the
// owner checks again); its answer is passed back as it came. Never forwarded twice: a forwarded request for a
// partition not owned here either (the group is moving it) gets 503.
Reply QueryService::Impl::forward(const httplib::Request& req, int partition) {
  const std::string p = std::to_string(partition);
  if (req.has_header(kForwardedBy))
    return error_reply(503, "partition " + p + " is not owned here either (the group is rebalancing): retry");
  const std::string url = opt.owners->owner(partition);
  if (url.empty()) return error_reply(503, "no member owns partition " + p + " now (the group is rebalancing): retry");
  auto res = ask_member(url, req.target, {{"Authorization", req.get_header_value("Authorization")},
                                          {kForwardedBy, opt.member}});
  if (!res)
    return error_reply(503, "the owner of partition " + p + ", " + url + ", did not answer (" +
                                httplib::to_string(res.error()) + "): retry");
  return {res->status, res->body, res->get_header_value("Content-Type"), res->get_header_value(kMember)};
}

httplib::Result QueryService::Impl::ask_member(const std::string& url, const std::string& target,
                                               const httplib::Headers& headers) const {
  httplib::Client client(url);
  client.set_url_encode(false);  // `target` is sent as the caller sent it: already encoded ('+' stays '+')
  if (tls) client.set_ca_cert_path(opt.cert);  // the members share one certificate
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(15));
  return client.Get(target, headers);
}

// A month view (issue 11 item 4) over every partition. `gongji query`: its store holds them all. A serve member:
// its own partitions' shares computed here, every other partition's asked of its owner (GET the same path, JSON,
// with the caller's token, which the owner checks again, and X-Gongji-Partition), added as data in partition order
// (queries.h MonthShare); each partition as of its owner's last catch-up. A request that is itself a share
// answers for that one partition, if owned here (else 503), and is never passed on. At most half the request threads
// ask other members at once, so that the shares two members ask of each other always find a thread.
json QueryService::Impl::month_view(const httplib::Request& req, MonthView kind,
                                    const std::function<MonthShare(std::optional<int>)>& share) {
  if (!opt.owners) return share(std::nullopt).to_json();
  const int n = opt.owners->partitions();
  if (req.has_header(kShare)) {
    const std::string asked = req.get_header_value(kShare);
    const int p = asked.size() <= 4 && !asked.empty() && asked.find_first_not_of("0123456789") == std::string::npos
                      ? std::stoi(asked) : -1;
    if (p < 0 || p >= n) throw ParameterError("partition", "expected a partition 0 to " + std::to_string(n - 1) +
                                                               " in " + kShare + ", got '" + asked + "'");
    if (!opt.owners->owns(p))
      throw Unavailable(503, "partition " + asked + " is not owned here (the group is rebalancing): retry");
    return share(p).to_json();
  }
  struct Slot {
    std::atomic<int>& n;
    ~Slot() { --n; }
  } slot{gathering};
  if (++gathering > std::max(1, opt.threads / 2))
    throw Unavailable(503, "too many month views are being gathered from the members at once: retry");
  // Added as data in partition order: this member's shares as computed, the others' decoded from what they sent.
  std::optional<MonthShare> all;
  for (int p = 0; p < n; ++p) {
    MonthShare s = opt.owners->owns(p) ? share(p) : decoded_share(kind, share_of(req, p), p);
    if (all) all->add(s);
    else all = std::move(s);
  }
  return all->to_json();
}

// A share another member sent, as data; one that does not read is that member's fault: 502 naming it.
MonthShare QueryService::Impl::decoded_share(MonthView kind, const json& body, int p) {
  try {
    return MonthShare::from_json(kind, body);
  } catch (const std::exception& e) {
    throw Unavailable(502, "the owner of partition " + std::to_string(p) + " sent a share that does not read: " +
                               e.what());
  }
}

// Partition p's share of the month view `req` asks, from its owner. An owner that refuses (its tokens file or
// partition count differs from this member's) is this service's fault, not the caller's: 502 naming it.
json QueryService::Impl::share_of(const httplib::Request& req, int p) {
  const std::string url = opt.owners->owner(p), ps = std::to_string(p);
  if (url.empty()) throw Unavailable(503, "no member owns partition " + ps + " now (the group is rebalancing): retry");
  // The path as the caller sent it (still percent-encoded: an id may hold % ? #), without its query.
  auto res = ask_member(url, req.target.substr(0, req.target.find('?')),
                        {{"Authorization", req.get_header_value("Authorization")}, {kForwardedBy, opt.member},
                         {kShare, ps}});
  const std::string owner = "the owner of partition " + ps + ", " + url + ", ";
  if (!res)
    throw Unavailable(503, owner + "did not answer (" + httplib::to_string(res.error()) + "): retry");
  json body = json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    const std::string said = body.is_object() && body.contains("error") && body["error"].is_string()
                                 ? body["error"].get<std::string>() : res->body.substr(0, 200);
    const int status = res->status == 429 || res->status >= 500 ? res->status : 502;
    throw Unavailable(status, owner + "answered " + std::to_string(res->status) + ": " + said);
  }
  if (!body.is_object()) throw Unavailable(502, owner + "answered a share that is not a JSON object");
  return body;
}

// Facilities are in every partition's state: any partition the store holds tells (a member that owns none yet
// still knows them).
bool QueryService::Impl::known_facility(const Store& store, int partitions, const std::string& facility) {
  for (int p = 0; p < partitions; ++p)
    if (store.facility(p, facility)) return true;
  return false;
}

// The partitions this service answers for: its owned ones in a serve group, else every partition of the log.
std::vector<int> QueryService::Impl::answered_partitions(const EventLog& log) const {
  std::vector<int> ps;
  for (int p = 0; p < log.partitions(); ++p)
    if (!opt.owners || opt.owners->owns(p)) ps.push_back(p);
  return ps;
}

void QueryService::Impl::person_routes() {
  route("/v1/persons/{person}", {"person", Area::person, {"as_of", "known_at"}}, [this](const Call& call, View& v) {
    for (const char* name : {"as_of", "known_at"})  // as the command line: an option given empty is refused
      if (call.has(name) && call.param(name).empty())
        throw ParameterError(name, "is empty (leave it out for the latest)");
    const std::string known_at = call.param("known_at");
    const auto pol = policy(*v.store, known_at.empty());
    return json_reply(person_query(*v.store, [&v]() -> EventLog& { return *v.log; },
                                   {id_param(call, "person"), call.param("as_of"), known_at, opt.policy_file,
                                    pol.get(), v.replay.get()}));
  });
  route("/v1/persons/{person}/settlements", {"settlements", Area::person, {"kind", "claim"}},
        [this](const Call& call, View& v) {
          const std::string kind = call.param("kind"), person = id_param(call, "person"), claim = call.param("claim");
          if (call.has("kind") && kind.empty())  // as the command line: an empty kind is a mistake
            throw ParameterError("kind", "is empty (leave it out for every kind)");
          if (!kind.empty() && std::find(kOutputKinds.begin(), kOutputKinds.end(), kind) == kOutputKinds.end())
            throw ParameterError("kind", "unknown kind '" + kind + "'");
          if (call.has("claim") && claim.empty())  // as the command line: an empty id is a mistake
            throw ParameterError("claim", "is empty (leave it out for every claim)");
          if (std::string why = claim.empty() ? "" : text_field_problem(claim); !why.empty())
            throw ParameterError("claim", why);
          // The records as the store holds them, spliced in: nothing parsed back (issue 9 item 2). Someone no record
          // names and the store does not hold, or a claim no record names: 404, as the command line.
          std::string records;
          records_query(*v.store, person, claim, kind,
                        [&](const Output& r) { records += (records.empty() ? "" : ",") + r.line(); });
          return Reply{200, R"({"person":)" + json(person).dump() + R"(,"records":[)" + records + "]}\n"};
        });
  route("/v1/persons/{person}/claims/{claim}", {"claim", Area::person, {}}, [this](const Call& call, View& v) {
    const std::string person = id_param(call, "person"), claim = id_param(call, "claim");
    const Rederivation r = rederive_claim(*v.store, *v.log, person, claim, nullptr, v.replay.get());
    return Reply{200, explanation_line(r, claim, person, false, claim_reversals(*v.store, person, claim)) + "\n"};
  });
  route("/v1/persons/{person}/statements/{year}", {"statement", Area::person, {"format"}},
        [this](const Call& call, View& v) {
          const std::string format = format_param(call, {"json", "html"}), person = id_param(call, "person");
          return Reply{200, statement_query(*v.store, person, year_param(call.segment("year")), format,
                                            opt.policy_file, policy(*v.store, true).get()),
                       format == "html" ? "text/html; charset=utf-8" : "application/json"};
        });
}

void QueryService::Impl::audit_routes() {
  route("/v1/facilities/{facility}/months/{month}", {"facility_month", Area::audit, {"format"}},
        [this](const Call& call, View& v) {
          const std::string format = format_param(call, {"json", "csv"});
          const std::string facility = id_param(call, "facility");
          const Month month = month_param(call.segment("month"));
          json view = month_view(call.req, MonthView::facility, [&](std::optional<int> p) {
            return facility_month_share(*v.store, facility, month, p);
          });
          if (share_asked(call.req)) return json_reply(view);  // the asking member decides what is missing
          if (view["claims"].empty() && !known_facility(*v.store, v.store->partitions(), facility))
            throw NotFoundError("no facility " + facility);
          if (format == "csv") return Reply{200, facility_month_csv(view), "text/csv; charset=utf-8"};
          return json_reply(view);
        });
  route("/v1/fund/months/{month}/facilities", {"month_facilities", Area::audit, {"format"}},
        [this](const Call& call, View& v) {
          const std::string format = format_param(call, {"json", "csv"});
          const Month month = month_param(call.segment("month"));
          json view = month_view(call.req, MonthView::facilities,
                                 [&](std::optional<int> p) { return facilities_month_share(*v.store, month, p); });
          if (format == "csv" && !share_asked(call.req))
            return Reply{200, facilities_of_month_csv(view), "text/csv; charset=utf-8"};
          return json_reply(view);
        });
  route("/v1/fund/months/{month}", {"fund_month", Area::audit, {"format"}}, [this](const Call& call, View& v) {
    const std::string format = format_param(call, {"json", "csv"});
    const Month month = month_param(call.segment("month"));
    json view = month_view(call.req, MonthView::fund,
                           [&](std::optional<int> p) { return fund_month_share(*v.store, month, p); });
    if (format == "csv" && !share_asked(call.req)) return Reply{200, fund_month_csv(view), "text/csv; charset=utf-8"};
    return json_reply(view);
  });
}

// The audit runs `gongji audit` recorded in DATA/audits (replay/audit.h): a summary of each, newest first, and one
// run whole (its id, or "latest").
void QueryService::Impl::audit_run_routes() {
  route("/v1/audits", {"audits", Area::audit, {}}, [this](const Call&, View&) {
    json list = json::array();
    for (const json& run : audit_runs(opt.data_dir + "/audits"))
      list.push_back({{"id", run["id"]}, {"at", run["at"]}, {"policy_version", run["policy_version"]},
                      {"positions", run["positions"]}, {"not_audited", run.value("not_audited", json::array())},
                      {"books_hold", run["books_hold"]}, {"findings", run["findings"].size()}});
    return json_reply({{"audits", list}});
  });
  route("/v1/audits/{audit}", {"audit", Area::audit, {}}, [this](const Call& call, View&) {
    const std::string id = id_param(call, "audit");
    for (const json& run : audit_runs(opt.data_dir + "/audits"))
      if (id == "latest" || run["id"] == id) return json_reply(run);
    throw NotFoundError(id == "latest" ? "no audit run is recorded (run `gongji audit`)" : "no audit run " + id);
  });
}

void QueryService::Impl::ops_routes() {
  route("/healthz", {"health", Area::ops, {}}, [](const Call&, View&) { return json_reply({{"status", "ok"}}); });
  route("/readyz", {"ready", Area::ops, {}}, [this](const Call&, View& v) {
    json lag = json::object();
    bool ready = true;
    for (int p : answered_partitions(*v.log)) {
      const uint64_t end = v.log->end_offset(p), at = v.store->folded_offset(p), behind = end > at ? end - at : 0;
      lag[std::to_string(p)] = behind;
      ready = ready && behind <= opt.ready_lag;
    }
    json body = {{"ready", ready}, {"lag", lag}, {"max_lag", opt.ready_lag}};
    if (opt.owners && lag.empty()) {  // a serve member before its first assignment, or between two
      body["ready"] = ready = false;
      body["reason"] = "this member answers for no partition yet";
    }
    if (std::string failed = last_catch_up_error(); !failed.empty()) {
      body["ready"] = ready = false;
      body["catch_up_error"] = failed;
    }
    // The lag above is the answering view's own; a view not caught up for long (requests kept holding the other
    // one) is not ready either: older than 50 catch-up intervals, and at least 5 s.
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - v.caught_up);
    body["view_age_ms"] = age.count();
    if (age > std::max<std::chrono::milliseconds>(std::chrono::seconds(5), 50 * opt.catch_up_every)) {
      body["ready"] = ready = false;
      body["reason"] = "the view answering is " + std::to_string(age.count()) + " ms old: catch-ups failed (see "
                       "catch_up_error) or were skipped while requests held the other view";
    }
    return Reply{ready ? 200 : 503, dump(body)};
  });
  route("/metrics", {"metrics", Area::ops, {}}, [this](const Call&, View& v) {
    const std::string failures = "# HELP gongji_catch_up_failures_total failed catch-ups with the fold\n"
                                 "# TYPE gongji_catch_up_failures_total counter\n"
                                 "gongji_catch_up_failures_total " + std::to_string(catch_up_failures.load()) + "\n"
                                 "# HELP gongji_catch_up_skipped_total catch-ups skipped: a request still read the "
                                 "spare view\n"
                                 "# TYPE gongji_catch_up_skipped_total counter\n"
                                 "gongji_catch_up_skipped_total " + std::to_string(catch_up_skipped.load()) + "\n"
                                 "# HELP gongji_view_age_seconds since the answering view last caught up with the "
                                 "fold\n"
                                 "# TYPE gongji_view_age_seconds gauge\n"
                                 "gongji_view_age_seconds " +
                                 std::to_string(std::chrono::duration<double>(Clock::now() - v.caught_up).count()) +
                                 "\n";
    return Reply{200, ledger.render(*v.store, v.log.get()) + requests.render() + failures + store_metrics(*v.store) +
                          (opt.more_metrics ? opt.more_metrics() : ""),
                 "text/plain; version=0.0.4"};
  });
}

void QueryService::Impl::refuse_method(const httplib::Request& req, httplib::Response& res) {
  const bool events = opt.intake && req.path == "/v1/events";
  Reply r = error_reply(405, events ? "only POST is served at /v1/events (" + req.method + ")"
                                    : "only GET is served (" + req.method + " " + req.path + ")");
  res.status = r.status;
  res.set_content(r.body, r.type.c_str());
  res.set_header("Allow", events ? "POST" : "GET");
  requests.observe("other", 405, 0);
}

// Item 2: the server reads a body only for POST, PUT, PATCH and DELETE, and only with a Content-Length: cpp-httplib
// 0.11.4 reads a chunked body whole, with no limit (a POST to any path, before its token is looked at, could fill the
// memory), and a body with neither until the connection closes. So a chunked body is 411, a body declared on another
// method 400; those four go to their handlers with a Content-Length (the body read first; one over 64 KiB, up to
// kReadThrough, is read through and discarded by the server, which answers 413: refused unread, the client could get
// a reset for its answer), and without one are answered here at once (405, or 411 at /v1/events). A refusal that
// leaves a body unread closes the connection after its answer (refuse_unread): kept, the body's bytes past what the
// server read ahead would be read as the next request. A GET of the routes' table is answered here (dispatch); any
// other method is 405.
std::optional<QueryService::Impl::Refused> QueryService::Impl::body_refusal(const httplib::Request& req,
                                                                          bool before_body) const {
  const bool events = opt.intake && req.path == "/v1/events";
  // How long the body is must be said once and one way, in decimal digits (two answers are how a body is smuggled
  // past a proxy; the server read "abc" or "0x2000" as 0).
  std::string coding = req.get_header_value("Transfer-Encoding");
  for (char& c : coding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // names ignore case
  const std::string length = req.get_header_value("Content-Length");
  const bool decimal = length.size() <= 18 && length.find_first_not_of("0123456789") == std::string::npos;
  if (req.get_header_value_count("Content-Length") > 1 || req.get_header_value_count("Transfer-Encoding") > 1 ||
      (!coding.empty() && (coding != "chunked" || req.has_header("Content-Length"))) ||
      (req.has_header("Content-Length") && (length.empty() || !decimal)))
    return Refused{error_reply(400, "a body's length is given by one Content-Length in decimal digits or by "
                                    "Transfer-Encoding: chunked alone"), "other"};
  // A header name holding a space or a tab (RFC 9112: 400): "Content-Length : 8192" is no length to the server,
  // which read the body as requests, and may be one to a proxy in front of it.
  for (const auto& [name, value] : req.headers)
    if (name.find_first_of(" \t") != std::string::npos)
      return Refused{error_reply(400, "a header's name holds a space or a tab"), "other"};
  if (!coding.empty())
    return Refused{error_reply(411, "a request body is read only with a Content-Length (at most 65536 bytes), never "
                                    "chunked"), events ? "events" : "other"};
  const uint64_t declared = length.empty() ? 0 : std::stoull(length);
  const bool read = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE";
  if (!read && declared > 0) return Refused{error_reply(400, "a " + req.method + " request carries no body"), "other"};
  // The server reads a body over 64 KiB through and answers 413 (so that a client still sending gets it, not a
  // reset); one over kReadThrough is refused unread at once rather than hold a thread that long. Before the body is
  // sent (Expect: 100-continue), any body over 64 KiB is refused: the client then sends none.
  if (read && declared > (before_body ? kMaxBody : kReadThrough))
    return Refused{error_reply(413, "a request body may hold at most 65536 bytes"), "too_large"};
  return std::nullopt;
}

httplib::Server::HandlerResponse QueryService::Impl::pre_route(const httplib::Request& req, httplib::Response& res) {
  using Done = httplib::Server::HandlerResponse;
  if (const std::optional<Refused> r = body_refusal(req, false)) {
    refuse_unread(req, res, r->reply, r->endpoint);
    return Done::Handled;
  }
  if (req.method == "GET") return dispatch(req, res) ? Done::Handled : Done::Unhandled;
  const bool read = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE";
  if (read && req.has_header("Content-Length")) return Done::Unhandled;
  if (req.method == "POST" && opt.intake && req.path == "/v1/events") {
    Reply r = error_reply(411, "POST /v1/events needs a Content-Length");
    res.status = r.status;
    res.set_content(r.body, r.type.c_str());
    requests.observe("events", r.status, 0);
    return Done::Handled;
  }
  refuse_method(req, res);
  return Done::Handled;
}

void QueryService::Impl::routes() {
  // Only GET is served, and POST at /v1/events where events are taken: any other method on any path is 405 (before a
  // token is looked at; nothing is read). HEAD too: it would read as a GET (and log a read) without an answer.
  const auto not_allowed = [this](const httplib::Request& req, httplib::Response& res) { refuse_method(req, res); };
  server->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return pre_route(req, res); });
  // Expect: 100-continue: a body the service would refuse is refused before the client sends it (RFC 9110: a final
  // status in place of 100; the server sent 100 and the client sent the body, then refused or discarded it).
  server->set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
    const std::optional<Refused> r = body_refusal(req, true);
    if (!r) return 100;
    refuse_unread(req, res, r->reply, r->endpoint);
    return r->reply.status;
  });
  // An answer no route gave (no such endpoint, a malformed request): JSON too, counted as endpoint "other".
  server->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return;  // (answer_then_close's answers have a provider)
    if (res.status == 404) {
      Reply r = error_reply(404, "no such endpoint: " + req.path);
      res.set_content(r.body, r.type.c_str());
      requests.observe("other", res.status, 0);
      return;
    }
    // 413: a body over kMaxBody, which the server read through (pre_route), or stopped reading when the client
    // paused past the read timeout. The server's other refusals are of a request it could not read whole (a
    // malformed line or header, a body shorter than its Content-Length). Either way what follows on the connection
    // cannot be taken for the start of a request: it is closed after the answer.
    if (res.status == 413)
      refuse_unread(req, res, error_reply(413, "a request body may hold at most 65536 bytes"), "too_large");
    else
      refuse_unread(req, res, error_reply(res.status, "HTTP " + std::to_string(res.status)), "other");
  });
  // A handler that threw past its own catch: a JSON 500 whose body and headers hold no exception text (it goes to
  // stderr), counted as endpoint "error".
  server->set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      oplog::error(e.what());
    } catch (...) {
      oplog::error("an exception that is not a std::exception");
    }
    Reply r = error_reply(500, "an internal error (see the service's log)");
    res.status = r.status;
    res.set_content(r.body, r.type.c_str());
    requests.observe("error", 500, 0);
  });
  if (opt.intake)
    server->Post("/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      send(res, admit(req), "events", t0);
      if (res.status == 503) res.set_header("Retry-After", "1");
    });
  server->Post(".*", not_allowed);
  server->Put(".*", not_allowed);
  server->Patch(".*", not_allowed);
  server->Delete(".*", not_allowed);
  // Item 3: the dispute desk's page, without a token: it holds no data, its own requests carry the user's token.
  const DeskPage& desk = desk_page();
  for (const char* path : {"/", "/desk"})
    server->Get(path, [this, &desk](const httplib::Request&, httplib::Response& res) {
      res.set_content(desk.html.data(), desk.html.size(), "text/html; charset=utf-8");
      for (const auto& [name, value] : desk.headers) res.set_header(name, value);
      requests.observe("desk", 200, 0);
    });
  person_routes();
  audit_routes();
  audit_run_routes();
  ops_routes();
}

QueryService::QueryService(QueryOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->open();
  impl_->bind();
  impl_->routes();
  Impl& i = *impl_;
  if (i.opt.member.empty())
    i.opt.member = std::string(i.tls ? "https" : "http") + "://" + i.opt.listen.substr(0, i.opt.listen.rfind(':')) +
                   ":" + std::to_string(i.port);
  if (i.opt.owners) i.ledger.answers = [owners = i.opt.owners](int p) { return owners->owns(p); };
}

QueryService::~QueryService() {
  stop();
}

int QueryService::port() const { return impl_->port; }
bool QueryService::tls() const { return impl_->tls; }
const std::string& QueryService::member() const { return impl_->opt.member; }
bool QueryService::run() { return impl_->server->listen_after_bind(); }
void QueryService::stop() {
  if (impl_ && impl_->server) impl_->server->stop();
}

bool QueryService::wait_until_running(std::chrono::milliseconds timeout) const {
  const auto until = Clock::now() + timeout;
  while (!impl_->server->is_running()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int run_query_service(const QueryOptions& options) {
  sigset_t signals;  // blocked in every thread; this one waits for them
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  QueryService svc(options);
  std::atomic<bool> done{false}, ok{true}, stopped{false};
  std::thread serving([&] {
    ok = svc.run() || stopped;
    done = true;
  });
  oplog::info(std::string("listening on ") + (svc.tls() ? "https" : "http") + "://" +
              options.listen.substr(0, options.listen.rfind(':')) + ":" + std::to_string(svc.port()));
  const timespec tick{0, 200 * 1000 * 1000};
  while (!done)
    if (sigtimedwait(&signals, nullptr, &tick) > 0) break;
  stopped = true;
  svc.stop();
  serving.join();
  return ok ? 0 : 1;
}

}  // namespace gongji
