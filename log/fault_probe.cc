#include "log/fault_probe.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace gongji::probe {
namespace {

struct Armed {
  std::string point;
  unsigned long nth = 1;
  Action action = Action::none;
  unsigned long hits = 0;
};

std::mutex g_mu;
Armed g_armed;
bool g_loaded = false;
// What hit() reads without the lock: kUnknown until GONGJI_FAULT was read, then whether a probe is armed. A
// production run reads kDisarmed here at every probe after the first: one load and one compare (fold.before_apply is
// hit once an event, on every fold worker).
enum : int { kUnknown, kDisarmed, kArmed };
std::atomic<int> g_state{kUnknown};

Armed parse(const std::string& spec) {
  Armed a;
  if (spec.empty()) return a;
  std::string s = spec, act = "crash";
  if (auto c = s.find(':'); c != std::string::npos) act = s.substr(c + 1), s.resize(c);
  if (auto at = s.find('@'); at != std::string::npos) {
    std::string n = s.substr(at + 1);
    char* end = nullptr;
    a.nth = std::strtoul(n.c_str(), &end, 10);
    if (n.empty() || *end || a.nth == 0) throw std::invalid_argument("fault probe: bad hit count '" + n + "'");
    s.resize(at);
  }
  bool known = false;
  for (const char* p : kProbePoints) known = known || s == p;
  if (!known) throw std::invalid_argument("fault probe: unknown point '" + s + "'");
  a.point = s;
  if (act == "crash") a.action = Action::crash;
  else if (act == "enospc") a.action = Action::enospc;
  else if (act == "eio") a.action = Action::eio;
  else if (act == "torn") a.action = Action::torn;
  else throw std::invalid_argument("fault probe: unknown action '" + act + "' (crash, enospc, eio, torn)");
  return a;
}

void load_locked() {
  if (g_loaded) return;
  g_loaded = true;
  g_state.store(kDisarmed, std::memory_order_release);  // also when the spec below is refused (thrown once)
  if (const char* env = std::getenv("GONGJI_FAULT")) g_armed = parse(env);
  g_state.store(g_armed.action == Action::none ? kDisarmed : kArmed, std::memory_order_release);
}

}  // namespace

void arm(const std::string& spec) {
  Armed a = parse(spec);
  std::lock_guard<std::mutex> lock(g_mu);
  g_loaded = true;
  g_armed = a;
  g_state.store(a.action == Action::none ? kDisarmed : kArmed, std::memory_order_release);
}

Action hit(std::string_view point) {
  if (g_state.load(std::memory_order_acquire) == kDisarmed) return Action::none;
  std::lock_guard<std::mutex> lock(g_mu);
  load_locked();
  if (g_armed.action == Action::none || g_armed.point != point) return Action::none;
  if (++g_armed.hits != g_armed.nth) return Action::none;
  if (g_armed.action == Action::crash) crash_now();
  return g_armed.action;
}

int fail_errno(std::string_view point) {
  switch (hit(point)) {
    case Action::enospc: return ENOSPC;
    case Action::eio: return EIO;
    case Action::torn: return -1;
    default: return 0;
  }
}

void crash_now() { std::_Exit(137); }

}  // namespace gongji::probe
