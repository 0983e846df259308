#include "replay/replay.h"

#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "oplog/oplog.h"

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

namespace {
std::string positions_text(const std::map<int, uint64_t>& positions) {
  std::string out;
  for (auto [p, off] : positions) out += (out.empty() ? "" : ", ") + std::to_string(p) + ":" + std::to_string(off);
  return out.empty() ? "none" : out;
}

// Whether the checkpoint's store at `dir` serves a replay under `policy`: everything it holds was folded under
// `policy` (its v/ keys, projections/store.h, name no other version), and it holds what its positions.json says (the
// file, which chose it, has no checksum: a damaged one could make a checkpoint folded past the target "fit", and the
// fold would then find nothing to fold, leaving a store past the target under the target's name). Opened read-only
// (nothing written there); a store that cannot be opened: StoreError.
bool serves(const std::string& dir, const CheckpointInfo& c, const Policy& policy) {
  const Store copy(dir, true);
  bool only = true;
  const std::string own = key_part(policy.version());
  copy.scan("v/", [&](const std::string& key, std::string_view) {
    if (key.substr(2) != own) only = false;
  });
  if (const std::map<int, uint64_t> held = copy.positions(); held != c.positions) {
    oplog::warn("the checkpoint " + c.path + " is not replayed from: its positions.json says " +
                positions_text(c.positions) + " and its store holds " + positions_text(held));
    return false;
  }
  return only;
}
}  // namespace

std::string replay_target(const std::string& out) {
  fs::path o = fs::path(out).lexically_normal();
  if (!o.has_filename() && o.has_parent_path()) o = o.parent_path();  // "DIR/" names DIR
  return o.string();
}

std::string partial_exists_message(const std::string& work) {
  return work + " exists: left by a replay that did not finish (not a whole store), or by one whose --out appeared "
                "while it ran (then whole, its digest in that replay's error), or in use by a replay still running; "
                "once none runs, remove or move it, then replay again";
}

namespace {
// Moves the finished store `work` to `out`, never over anything made at `out` meanwhile (rename(2) would replace an
// empty directory). A filesystem without RENAME_NOREPLACE (NFS, some FUSE) gets a check, then rename(2).
void move_into_place(const std::string& work, const std::string& out, const std::string& digest) {
  const std::string left = "the replayed store (digest " + digest + ") is whole in " + work + "; move it with mv";
  int err = ::renameat2(AT_FDCWD, work.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) == 0 ? 0 : errno;
  if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) {
    struct stat st;
    err = ::lstat(out.c_str(), &st) == 0 ? EEXIST : ::rename(work.c_str(), out.c_str()) == 0 ? 0 : errno;
  }
  if (err == EEXIST || err == ENOTEMPTY) throw StoreError(out + " appeared while the replay ran: " + left);
  if (err != 0) throw StoreError("cannot rename " + work + " to " + out + ": " + std::strerror(err) + "; " + left);
}

// fsync(2) of every file of the checkpoint copied into `work` (a checkpoint's db/ is flat: RocksDB's files), then of
// `work`: the replay reports its store whole at
// --out only once it is durable (RocksDB syncs the files it writes itself, not these). A failure: StoreError naming
// the file.
void sync_copy(const std::string& work) {
  for (const auto& e : fs::directory_iterator(work)) {
    if (!e.is_regular_file()) continue;
    fsync_path(e.path().string());
  }
  fsync_path(work);
}

// Empties `work` (ours) of a checkpoint copy that did not serve; a failure to is refused, not folded over.
void empty_work(const std::string& work) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(work)) fs::remove_all(e.path(), ec);
  if (!fs::is_empty(work)) throw StoreError("cannot empty " + work + ": " + ec.message());
}

// Copies into `work` (empty, ours) the newest usable checkpoint at or before `target`, naming it in `res`; leaves
// `work` empty when none serves.
void copy_best_checkpoint(const Policy& policy, const std::map<int, uint64_t>& target, const std::string& checkpoints,
                          const std::string& work, ReplayResult& res) {
  // The checkpoints whose every position is at or before the target, the most folded records first
  // (Store::checkpoints lists only complete checkpoints of this store format).
  std::vector<CheckpointInfo> fitting;
  for (const CheckpointInfo& c : Store::checkpoints(checkpoints)) {
    bool fits = true;
    for (auto [p, off] : c.positions) {
      auto t = target.find(p);
      if (off > (t == target.end() ? UINT64_MAX : t->second)) fits = false;
    }
    if (fits && c.total > 0) fitting.push_back(c);
  }
  std::stable_sort(fitting.begin(), fitting.end(), [](const auto& a, const auto& b) { return a.total > b.total; });
  for (const CheckpointInfo& c : fitting) {
    // Not used: a checkpoint holding records folded under another policy version than the replay's, checked before
    // it is copied (Store::fold refuses to fold on a store under a policy it has not recorded, so the replay failed
    // where an older checkpoint, or zero, serves; one holding both versions is refused too, which the fold would not
    // do: a replay under one policy starts from that policy's records only); one that cannot be opened; and one a
    // fold running meanwhile retires (Store::retain_checkpoints renames it before removing it): a copy that failed,
    // or whose source no longer stands under its name, may be partial.
    bool usable = false;
    try {
      usable = serves(c.path + "/db", c, policy);
    } catch (const std::exception&) {  // retired meanwhile, or damaged: the next one, or zero
    }
    std::error_code ec;
    if (usable) fs::copy(c.path + "/db", work, fs::copy_options::recursive, ec);
    if (usable && !ec && fs::exists(c.path + "/positions.json")) {
      sync_copy(work);
      res.from_checkpoint = c.path;
      break;
    }
    empty_work(work);
  }
}
}  // namespace

ReplayResult replay_to(EventLog& log, const Policy& policy, const std::map<int, uint64_t>& target,
                       const std::string& checkpoints, const std::string& out_given,
                       const std::function<void(uint64_t)>& progress) {
  const std::string out = replay_target(out_given);
  if (fs::exists(out)) throw StoreError(out + " already exists (replay writes a new store there)");
  // Built in <out>.partial and renamed to `out` once folded and closed, so that `out` is never a store short of the
  // target (a replay killed midway). A .partial left by one is refused, not removed: it may not be ours. It is taken
  // with mkdir(2), which fails if it exists, so two replays to one --out at once cannot both build in it.
  const std::string work = out + ".partial";
  const fs::path parent = fs::path(out).parent_path().empty() ? "." : fs::path(out).parent_path();
  fs::create_directories(parent);
  if (::mkdir(work.c_str(), 0777) != 0) {
    const int err = errno;
    if (err == EEXIST) throw StoreError(partial_exists_message(work));
    throw StoreError("cannot create " + work + ": " + std::strerror(err));
  }
  ReplayResult res;
  std::unique_ptr<Store> store;
  try {  // until the store is open, a failure leaves nothing: `work` is ours (our mkdir made it) and holds no fold
    copy_best_checkpoint(policy, target, checkpoints, work, res);
    store = std::make_unique<Store>(work);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(work, ec);
    fs::remove(work + ".creating.lock", ec);  // a creation that failed leaves it (create_store); `work` was ours
    throw;
  }
  FoldOptions opt;
  opt.until = target;
  opt.progress = progress;
  res.stats = store->fold(log, policy, opt);
  res.digest = store->digest();
  store.reset();  // closed: its memtables flushed
  move_into_place(work, out, res.digest);
  try {
    write_probe("replay.before_parent_fsync", parent.string());
    fsync_path(parent.string());
  } catch (const StoreError& e) {  // the store is in place, whole; only the rename's durability is in doubt
    throw StoreError(std::string(e.what()) + ": the replayed store (digest " + res.digest + ") is whole at " + out +
                     ", but its rename into place may not survive a crash of the machine until " + parent.string() +
                     " is synced (check the device, then `sync -f " + parent.string() + "`)");
  }
  return res;
}

}  // namespace gongji
