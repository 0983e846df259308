#include "replay/replay.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace gongji {


std::map<int, uint64_t> positions_at(EventLog& log, const KnownAt& known) {
  std::map<int, uint64_t> out;
  for (int p = 0; p < log.partitions(); ++p) {
    uint64_t pos = 0;
    log.read(p, 0, [&](const LogRecord& r) {
      if (!known.admits(p, r.offset, r.ingested_ms)) return false;
      pos = r.offset + 1;
      return true;
    });
    out[p] = pos;
  }
  return out;
}

ReplayResult replay_to(EventLog& log, const Policy& policy, const std::map<int, uint64_t>& target,
                       const std::string& checkpoints, const std::string& out,
                       const std::function<void(uint64_t)>& progress) {
  if (fs::exists(out)) throw StoreError(out + " already exists (replay writes a new store there)");
  ReplayResult res;
  // The nearest checkpoint: the one with the most folded records whose every position is at or before the target
  // (Store::checkpoints lists only complete checkpoints of this store format).
  uint64_t best = 0;
  for (const CheckpointInfo& c : Store::checkpoints(checkpoints)) {
    bool fits = true;
    for (auto [p, off] : c.positions) {
      auto t = target.find(p);
      if (off > (t == target.end() ? UINT64_MAX : t->second)) fits = false;
    }
    if (fits && c.total > best) best = c.total, res.from_checkpoint = c.path;
  }
  fs::create_directories(fs::path(out).parent_path().empty() ? "." : fs::path(out).parent_path());
  if (!res.from_checkpoint.empty()) {
    // A fold running meanwhile may retire this checkpoint (Store::retain_checkpoints renames it before removing
    // it): a copy that failed, or whose source no longer stands under its name, may be partial and is not used.
    std::error_code ec;
    fs::copy(res.from_checkpoint + "/db", out, fs::copy_options::recursive, ec);
    if (ec || !fs::exists(res.from_checkpoint + "/positions.json")) {
      fs::remove_all(out);
      res.from_checkpoint.clear();
    }
  }
  Store store(out);
  FoldOptions opt;
  opt.until = target;
  opt.progress = progress;
  res.stats = store.fold(log, policy, opt);
  res.digest = store.digest();
  return res;
}

}  // namespace gongji
