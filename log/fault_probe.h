// Named failure probes (in the spirit of Redpanda's failure_probes and RocksDB's FaultInjectionTestFS): points in
// the log, the fold, checkpoints and `serve` where a test can make the process crash, or make a write or an fsync
// fail, on purpose. Production runs never arm a probe; an unarmed probe costs one load and one compare.
//
// Contract:
// - A probe is armed by the environment variable GONGJI_FAULT=<point>[@<n>][:<action>] (read once, at the first
//   probe), or in process by arm(). <point> is one of kProbePoints; <n> (default 1) is which hit of that point fires;
//   <action> is crash (default), enospc, eio or torn.
// - crash: the process ends at once with exit status 137 (std::_Exit: no destructors, no flush), as a SIGKILL would.
// - enospc / eio: fail_errno() returns ENOSPC / EIO at that hit; the caller treats it exactly like the same errno
//   from the operating system.
// - torn: the caller writes about half of what it was asked to write, then the process crashes (exit 137).
// - Every point a test can name is listed once, in kProbePoints, so that a test can walk them all.
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace gongji::probe {

inline constexpr std::array<const char*, 29> kProbePoints = {
    // log/segment_log.cc
    "log.before_write",          // before framed records are written to a segment
    "log.after_write",           // after the write, before its fdatasync
    "log.before_fsync",          // before a segment's fdatasync
    "log.after_fsync",           // after it, before the id index records the new end
    "log.before_segment_create", // before a new segment file is created (a roll)
    "log.after_segment_create",  // after it is created, before the directory is fsynced
    "log.before_index_commit",   // before the id index's batch is written
    "log.after_index_commit",    // after it
    "log.truncate_before_cut",   // `log truncate`, after the id index forgets the dropped records: before each
                                 // later segment's removal (the last first), and before the cut of its segment
    "log.truncate_before_unmark",  // `log truncate`, after the cut: before the index forgets the truncation's mark
    "log.scan_open",             // a segment opened to be scanned (enospc / eio: the open fails with it)
    "log.scan_read",             // each read of a segment's scan, 4 MiB at most (eio: the read fails, nothing read)
    // projections/store.cc
    "store.before_create",       // before a new store's database is created (in <dir>.creating)
    "fold.before_commit",        // before a fold batch is written to RocksDB
    "fold.after_commit",         // after it is written and synced
    "fold.before_apply",         // before an event is applied (mid-batch)
    "checkpoint.before_create",  // before a RocksDB checkpoint is made
    "checkpoint.after_create",   // after the checkpoint's files exist, before positions.json
    "checkpoint.before_rename",  // before the finished checkpoint is renamed into place
    "checkpoint.before_retire",  // after an old checkpoint is renamed to *.partial, before it is removed
    "deadletter.before_write",   // before a dead letter is written (ingest's file)
    // replay/replay.cc
    "replay.before_parent_fsync",  // after the replayed store is renamed to --out, before its parent is fsynced
    // consumers/serve.cc
    "serve.before_outbox_commit",  // a fold worker, before it commits one partition's part of a batch (the outbox)
    "serve.before_early_commit",   // a fold worker, before it commits a partition's part of a batch early, at
                                   // ServeOptions::partition_batch_events, FoldOptions::max_persons_in_memory or a
                                   // poison record's rollback
    "serve.before_store_sync",     // after every partition of the batch is committed (unsynced), before the one WAL
                                   // sync that makes the batch durable (Store::sync)
    "serve.after_outbox_commit",   // after every partition of the batch is committed and the WAL synced, before
                                   // the batch is handed to the publishing thread
    "serve.before_txn_commit",     // a transaction (publishing thread, or a republish on assignment): before its commit
    "serve.after_txn_commit",      // the same, after commit_transaction returns
    "ingest.mid_file",             // between two lines of an ingest (after the first append of a line)
};

enum class Action { none, crash, enospc, eio, torn };

// Arms one probe in process (spec as in GONGJI_FAULT); "" disarms. Throws std::invalid_argument on a bad spec
// (an unknown point names the point).
void arm(const std::string& spec);

// Counts a hit of `point`; returns the action due now (Action::none almost always). A crash action never returns.
Action hit(std::string_view point);

// For crash-only points: hit(point); any non-crash action armed there is ignored.
inline void crash_point(std::string_view point) { (void)hit(point); }

// For write and fsync paths: 0, or the errno (ENOSPC, EIO) the armed probe injects at this hit. A torn action
// returns -1: the caller writes part of its buffer and then calls crash_now().
int fail_errno(std::string_view point);

[[noreturn]] void crash_now();

}  // namespace gongji::probe
