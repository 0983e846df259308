#include "replay/replay.h"

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace gongji {

using nlohmann::json;

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
  if (fs::exists(out)) throw StoreError("replay: " + out + " already exists");
  ReplayResult res;
  // The nearest checkpoint: the one with the most folded records whose every position is at or before the target.
  uint64_t best = 0;
  if (!checkpoints.empty() && fs::exists(checkpoints)) {
    for (const auto& entry : fs::directory_iterator(checkpoints)) {
      // Store::checkpoint: only a complete checkpoint (renamed from "*.partial" after db/ and positions.json were
      // written and synced) is used; anything else in the directory is ignored.
      if (entry.path().filename().string().ends_with(".partial")) continue;
      if (!fs::exists(entry.path() / "db" / "CURRENT")) continue;
      std::ifstream in(entry.path() / "positions.json");
      if (!in) continue;
      json j = json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.contains("positions") || !j["positions"].is_object()) continue;
      // Store::check_format would refuse a checkpoint of another format (none recorded: format 1): not used.
      if (!(j.contains("format") ? j["format"] == kStoreFormat : kStoreFormat == 1)) continue;
      uint64_t total = 0;
      bool fits = true;
      for (auto& [p, off] : j["positions"].items()) {
        if (!off.is_number_unsigned() || p.empty() || p.find_first_not_of("0123456789") != std::string::npos) {
          fits = false;
          break;
        }
        auto t = target.find(std::stoi(p));
        uint64_t limit = t == target.end() ? UINT64_MAX : t->second;
        if (off.get<uint64_t>() > limit) fits = false;
        total += off.get<uint64_t>();
      }
      if (fits && total > best) best = total, res.from_checkpoint = entry.path().string();
    }
  }
  fs::create_directories(fs::path(out).parent_path().empty() ? "." : fs::path(out).parent_path());
  if (!res.from_checkpoint.empty()) fs::copy(res.from_checkpoint + "/db", out, fs::copy_options::recursive);
  Store store(out);
  FoldOptions opt;
  opt.until = target;
  opt.progress = progress;
  res.stats = store.fold(log, policy, opt);
  res.digest = store.digest();
  return res;
}

}  // namespace gongji
