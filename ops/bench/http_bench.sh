#!/usr/bin/env bash
# Benchmark (not a test), issue 11 item 6: the query service's latency through HTTP at 10% of the city, with 16
# concurrent clients while the fold runs. Generates N people for one year (gongji-generate, 2023-01..2023-12),
# ingests the first part of the events (--split) and folds it, ingests the rest, then starts `gongji fold` in the
# background on the rest and `gongji query` (a RocksDB secondary of the store, catching up while fold writes) and
# runs gongji-bench-query --http: person as-of, person known-at and explain (/v1/persons/{P}/claims/{C}), each from
# --clients threads for --seconds over HTTP, and beside it the same requests from as many threads in process
# (service/queries.h on a secondary instance of the same store, no HTTP): the baseline of the same run, so what HTTP
# and the service add shows. Then stops the fold and the service, prints the table, and removes what it made.
#
#   ops/bench/http_bench.sh [--people N] [--split F] [--clients N] [--seconds S] [--queries Q] [--work DIR]
#                           [--build DIR] [--keep-alive] [--keep]
#
# --people: insured persons (default 290000, 10% of Weihai's 2.9 M). --split: the share of the events folded before
# the service starts (default 0.5); the fold of the rest runs during the measurement (the output says if it ended
# first: then later figures were taken with no fold running). --clients: concurrent clients, on each side (default
# 16). --seconds: per kind and side (default 20; 3 kinds x 2 sides). --queries: persons sampled, each with a random
# as-of date in the year; explain asks one settled claim of each of them that has one (default 2000). --work: where
# the data go (default build/http-bench-work, removed at the end unless --keep). --build: the build tree (default
# build, built first by ops/build.sh; any other is used as it is). --keep-alive: the clients keep their connections
# (default: a new connection per request, httplib's client default).
#
# The service runs with --rate 1000000 (its per-token limit, default 100/s, would otherwise answer 429) and writes
# its access log (each answer waits for its line's group commit and fdatasync) in the work directory, as in service,
# with its default 32 request threads. The in-process side keeps what the service keeps: one log, refreshed after
# each catch-up, and one ReplayCache (replay/reconstruct.h). A kind's run lasts --seconds plus the requests then in
# flight. Rows: in-process (no HTTP), +access-log (as-of only: in process plus the synced access-log append), http.
# Targets (issue 11): as-of p99 <= 10 ms, known-at p99 <= 50 ms, over HTTP. Exit 1 when a side had errors (answers
# neither 200 nor 404).
set -euo pipefail
cd "$(dirname "$0")/../.."

people=290000; split=0.5; clients=16; seconds=20; queries=2000; work=build/http-bench-work; build=build; keep=0
keep_alive=""
while [ $# -gt 0 ]; do
  case "$1" in
    --people) people="$2"; shift ;;
    --split) split="$2"; shift ;;
    --clients) clients="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --queries) queries="$2"; shift ;;
    --work) work="$2"; shift ;;
    --build) build="$2"; shift ;;
    --keep) keep=1 ;;
    --keep-alive) keep_alive=1 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "http_bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
python3 -c "import sys; s = float('$split'); sys.exit(0 if 0 < s < 1 else 1)" 2>/dev/null ||
  { echo "http_bench.sh: --split must be a number between 0 and 1 (exclusive), got '$split'" >&2; exit 2; }
[[ "$people" =~ ^[1-9][0-9]*$ ]] || { echo "http_bench.sh: --people must be a positive integer" >&2; exit 2; }

if [ "$build" = build ]; then GONGJI_BUILD_TARGETS="gongji gongji-generate gongji-bench-query" ./ops/build.sh \
  >/dev/null; fi
for b in gongji gongji-generate gongji-bench-query; do
  [ -x "$build/$b" ] || { echo "http_bench.sh: $build/$b is missing (build it first)" >&2; exit 1; }
done

d="$work/run-$$"
rm -rf "$d"; mkdir -p "$d"
fold_pid=""; query_pid=""; watch_pid=""
stop() {  # the background processes this run started, by their ids
  for p in $query_pid $fold_pid $watch_pid; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $query_pid $fold_pid $watch_pid; do wait "$p" 2>/dev/null || true; done
  query_pid=""; fold_pid=""; watch_pid=""
}
cleanup() { stop; [ $keep = 1 ] || { rm -rf "$d"; rmdir "$work" 2>/dev/null || true; }; }
trap cleanup EXIT
trap 'exit 130' INT TERM
secs() { awk '{print $1}' "$1"; }
since() { python3 -c "print(f'{$(date +%s.%N) - $1:.0f}')"; }

months=(--from 2023-01 --to 2023-12)
echo "== $people people, one year, in $d" >&2
/usr/bin/time -f "%e" -o "$d/gen.time" "$build/gongji-generate" --people "$people" "${months[@]}" > "$d/events.jsonl"
events=$(wc -l < "$d/events.jsonl")
first=$(python3 -c "print(int($events * $split))")
head -n "$first" "$d/events.jsonl" > "$d/part1.jsonl"
tail -n "+$((first + 1))" "$d/events.jsonl" > "$d/part2.jsonl"
rm -f "$d/events.jsonl"
echo "   generated $events events in $(secs "$d/gen.time") s; folding the first $first before the service" >&2
/usr/bin/time -f "%e" -o "$d/ingest1.time" "$build/gongji" ingest --data-dir "$d/data" "$d/part1.jsonl" >/dev/null
/usr/bin/time -f "%e" -o "$d/fold1.time" "$build/gongji" fold --data-dir "$d/data" > "$d/fold1.out"
/usr/bin/time -f "%e" -o "$d/ingest2.time" "$build/gongji" ingest --data-dir "$d/data" "$d/part2.jsonl" >/dev/null
rm -f "$d/part1.jsonl" "$d/part2.jsonl"
echo "   ingest $(secs "$d/ingest1.time") s + $(secs "$d/ingest2.time") s; fold of the first part" \
     "$(secs "$d/fold1.time") s" >&2

# Tokens: a desk token for the requests, an ops one for /healthz; the file holds only their hashes (service/auth.h).
desk=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
ops=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
{ echo "$(printf %s "$desk" | sha256sum | cut -d' ' -f1) desk bench-desk"
  echo "$(printf %s "$ops" | sha256sum | cut -d' ' -f1) ops bench-ops"; } > "$d/tokens"

# The fold of the rest, in the background; a watcher notes when it ends.
fold_t0=$(date +%s.%N)
"$build/gongji" fold --data-dir "$d/data" > "$d/fold2.out" 2> "$d/fold2.err" &
fold_pid=$!
( while kill -0 "$fold_pid" 2>/dev/null; do sleep 0.5; done; date +%s.%N > "$d/fold2.end" ) &
watch_pid=$!
"$build/gongji" query --data-dir "$d/data" --tokens "$d/tokens" --listen 127.0.0.1:0 --rate 1000000 \
  2> "$d/query.err" &
query_pid=$!
url=""
for _ in $(seq 1 300); do  # up to 30 s: the service opens the store and binds
  url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$d/query.err" | head -1 | sed 's/listening on //') || true
  [ -n "$url" ] && curl -sf -H "Authorization: Bearer $ops" "$url/healthz" >/dev/null && break
  kill -0 "$query_pid" 2>/dev/null || { echo "http_bench.sh: gongji query exited:" >&2; cat "$d/query.err" >&2; exit 1; }
  url=""; sleep 0.1
done
[ -n "$url" ] || { echo "http_bench.sh: gongji query did not answer /healthz in 30 s" >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_t0=$(date +%s.%N)
echo "   service at $url; fold running since $(since "$fold_t0") s; measuring ($clients clients," \
     "$seconds s per kind and side)" >&2
bench_rc=0  # its rows also go to stderr as they come (a slow kind's run is as long as its slowest request)
GONGJI_BENCH_TOKEN="$desk" "$build/gongji-bench-query" --data-dir "$d/data" --people "$people" --queries "$queries" \
  "${months[@]}" --http "$url" --clients "$clients" --seconds "$seconds" ${keep_alive:+--keep-alive} |
  tee "$d/bench.out" | sed -u 's/^/   | /' >&2 || bench_rc=${PIPESTATUS[0]}
bench_t1=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -f "$d/fold2.end" ]; then
  fold_state="the fold ENDED $(python3 -c "print(f'{$(cat "$d/fold2.end") - $bench_t0:.0f}')") s into the"
  fold_state="$fold_state $(python3 -c "print(f'{$bench_t1 - $bench_t0:.0f}')") s measurement: later figures had no"
  fold_state="$fold_state fold running ($(tail -1 "$d/fold2.out"))"
else
  fold_state="the fold ran throughout the measurement ($(python3 -c "print(f'{$bench_t1 - $bench_t0:.0f}')") s); stopped"
  fold_state="$fold_state after it"
fi
stop

echo
echo "gongji query through HTTP, $people people ($events events, $first folded before the service started), $clients" \
     "concurrent clients per side"
echo "$fold_state"
echo "load average (1, 5, 15 min) at start: $load_before; at end: $load_after; $(nproc) cores"
cat "$d/bench.out"
[ $bench_rc = 0 ] || echo "http_bench.sh: gongji-bench-query exited $bench_rc (errors above, or stopped)" >&2
exit $bench_rc
