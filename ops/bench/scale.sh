#!/usr/bin/env bash
# Benchmark (not a test), issue 10 item 2: the whole path at the city's size. For each row: generate (gongji-generate)
# -> ingest -> fold -> audit -> what-if (ORD-LIM employee limit 1600 -> 2000) -> in-process person queries
# (gongji-bench-query: as-of from the store, and known-at, the person folded again from its log records), and, in
# the same run on the same disk, Debian's `db_bench fillrandom` (rocksdb-tools: values of 400 bytes, the fold's
# compression LZ4, its memtable sizes, its universal compaction and its compaction triggers, WriteBatches of 1000,
# no WAL as the fold's commits (projections/store.h Durability::unlogged), one put per event of the row, at most
# 10 M). Prints one table.
#
#   ops/bench/scale.sh [--quick] [--only LABEL[,LABEL...]] [--work DIR] [--build DIR] [--queries N] [--keep]
#                      [--table FILE] [--fold-runs N]
#
# Rows (Weihai: 2.9 M insured): 1% 10% 100% for one year (2023-01..2023-12), and 10%x5y, the whole policy window
# (2022-07..2027-06). --quick: 0.1% and 1%, one year. --only picks rows by label, from either set (e.g. --only 1%).
# --work: where the rows' data go (default build/scale-work; each row's directory is removed when it is done unless
# --keep). --build: the build tree (default build, built first by ops/build.sh; any other is used as it is).
# --queries: random persons queried of each kind (default 200: a known-at query folds the person again and opens the
# log, so it is the slow one). --table: where the table is also written (default build/scale-table.txt, replaced
# each run), since a long run's terminal may be gone when it ends. --fold-runs: how many times a row of less than 1 M
# events is folded (default 5), each from its log into a new store, the table giving the median: a fold of a few
# seconds varies by 10% or more from run to run, and the 1% row is what cost x divides by.
#
# Columns: events = lines generated (each event once); ingest and fold ev/s = events / wall seconds of the command
# (the fold's: the median of --fold-runs for a row of less than 1 M events; RSS, puts/ev and person B/ev are the
# first fold's);
# cost x = the fold's seconds per event relative to the 1% row (or the first row when 1% is not run): 1.0 means the
# cost per event does not grow; RSS = the fold's peak (/usr/bin/time); puts/ev = keys the fold put per event, and
# person B/ev = bytes of person states among them (each commit rewrites every person its events touched, so this
# grows with the persons per partition: see the fold's last operational line); B/ev = bytes on disk per event of the
# log, the store and the checkpoints (one `du` over the three, so files hard-linked between them count once, in the
# first one that holds them); audit and what-if in wall seconds; p50/p99 in ms; db_bench = fillrandom keys/s;
# fold/db = fold ev/s over db_bench keys/s.
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0; only=""; work=build/scale-work; build=build; queries=200; keep=0; table=build/scale-table.txt; fold_runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --only) only="$2"; shift ;;
    --work) work="$2"; shift ;;
    --build) build="$2"; shift ;;
    --queries) queries="$2"; shift ;;
    --keep) keep=1 ;;
    --table) table="$2"; shift ;;
    --fold-runs) fold_runs="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "scale.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

[[ "$fold_runs" =~ ^[1-9][0-9]*$ ]] || { echo "scale.sh: --fold-runs must be a positive whole number" >&2; exit 2; }

# label:people:span
all_rows=("0.1%:2900:1y" "1%:29000:1y" "10%:290000:1y" "100%:2900000:1y" "10%x5y:290000:window")
if [ -n "$only" ]; then
  rows=()
  IFS=, read -ra want <<< "$only"
  for w in "${want[@]}"; do
    found=0
    for r in "${all_rows[@]}"; do [ "${r%%:*}" = "$w" ] && rows+=("$r") && found=1; done
    [ $found = 1 ] || { echo "scale.sh: --only: no row labelled $w (rows: 0.1% 1% 10% 100% 10%x5y)" >&2; exit 2; }
  done
elif [ $quick = 1 ]; then
  rows=("0.1%:2900:1y" "1%:29000:1y")
else
  rows=("1%:29000:1y" "10%:290000:1y" "100%:2900000:1y" "10%x5y:290000:window")
fi

# Tools: GNU time for peak RSS, db_bench for the baseline (bench-only packages, installed when missing).
need=()
[ -x /usr/bin/time ] || need+=(time)
command -v db_bench >/dev/null || need+=(rocksdb-tools)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null
fi
if [ "$build" = build ]; then ./ops/build.sh >/dev/null; fi
for b in gongji gongji-generate gongji-bench-query; do
  [ -x "$build/$b" ] || { echo "scale.sh: $build/$b is missing (build it first)" >&2; exit 1; }
done

mkdir -p "$work" "$(dirname "$table")"
: > "$table"  # a run that fails leaves no earlier run's table looking current
policy="$work/what-if.yaml"
sed 's/{from: 2023-01-01, value: "1600.00"}/{from: 2023-01-01, value: "2000.00"}/' ledger/policy/weihai.yaml > "$policy"
cmp -s "$policy" ledger/policy/weihai.yaml && { echo "scale.sh: the what-if edit did not apply" >&2; exit 1; }

secs() { awk '{print $1}' "$1"; }
rss_mb() { awk '{printf "%.0f", $2 / 1024}' "$1"; }
rate() { python3 -c "print(f'{$1 / max($2, 1e-9):.0f}')"; }
per_event() { python3 -c "print(f'{$1 / $2:.0f}')"; }

results=()
for row in "${rows[@]}"; do
  IFS=: read -r label people span <<< "$row"
  if [ "$span" = window ]; then months=(--from 2022-07 --to 2027-06); years=5; else
    months=(--from 2023-01 --to 2023-12); years=1; fi
  d="$work/row-${label//%/pct}"
  rm -rf "$d"; mkdir -p "$d"
  echo "== $label: $people people, $years year(s) in $d" >&2
  /usr/bin/time -f "%e %M" -o "$d/gen.time" "$build/gongji-generate" --people "$people" "${months[@]}" \
    > "$d/events.jsonl"
  events=$(wc -l < "$d/events.jsonl")
  sync  # each timed phase starts with the previous one's writes on disk: it does not pay for their writeback
  echo "   generated $events events in $(secs "$d/gen.time") s" >&2
  /usr/bin/time -f "%e %M" -o "$d/ingest.time" "$build/gongji" ingest --data-dir "$d/data" "$d/events.jsonl" \
    > "$d/ingest.out"
  rm -f "$d/events.jsonl"  # the log holds them now; the disk is for the store
  sync
  echo "   ingest $(secs "$d/ingest.time") s: $(tail -1 "$d/ingest.out")" >&2
  /usr/bin/time -f "%e %M" -o "$d/fold.time" "$build/gongji" fold --data-dir "$d/data" > "$d/fold.out" \
    2> >(tee "$d/fold.err" >&2)
  echo "   fold $(secs "$d/fold.time") s: $(tail -1 "$d/fold.out")" >&2
  fold_times=("$(secs "$d/fold.time")")
  if [ "$events" -lt 1000000 ]; then  # more folds of a short row, each from its log into a new store; the median
    for ((i = 1; i < fold_runs; i++)); do
      rm -rf "$d/refold"; mkdir -p "$d/refold"; cp -r "$d/data/log" "$d/refold/log"; sync
      /usr/bin/time -f "%e %M" -o "$d/refold.time" "$build/gongji" fold --data-dir "$d/refold" > "$d/refold.out" \
        2> "$d/refold.err" || { echo "scale.sh: fold run $((i + 1)) failed (its data kept in $d/refold):" >&2
                                tail -20 "$d/refold.err" >&2; exit 1; }
      [ "$(tail -1 "$d/refold.out")" = "$(tail -1 "$d/fold.out")" ] ||
        { echo "scale.sh: fold run $((i + 1)) folded otherwise: $(tail -1 "$d/refold.out")" >&2; exit 1; }
      fold_times+=("$(secs "$d/refold.time")")
    done
    rm -rf "$d/refold"
    [ "$fold_runs" = 1 ] || echo "   fold seconds of $fold_runs runs: ${fold_times[*]}" >&2
  fi
  fold_s=$(printf '%s\n' "${fold_times[@]}" | sort -g |
    awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
  mkdir -p "$d/data/checkpoints"
  sizes=$(du -sb "$d/data/log" "$d/data/state" "$d/data/checkpoints" | awk '{print $1}')  # one du: links once
  read -r log_b store_b ckpt_b <<< "$(echo $sizes)"
  sync
  s0=$(date +%s.%N)
  audit_rc=0; "$build/gongji" audit --data-dir "$d/data" > "$d/audit.out" 2>&1 || audit_rc=$?
  s1=$(date +%s.%N)
  sync
  w0=$(date +%s.%N)
  "$build/gongji" what-if --data-dir "$d/data" --policy "$policy" > "$d/whatif.out"
  s2=$(date +%s.%N)
  sync
  echo "   audit (exit $audit_rc) $(python3 -c "print(f'{$s1 - $s0:.1f}')") s, what-if" \
       "$(python3 -c "print(f'{$s2 - $w0:.1f}')") s" >&2
  q=$("$build/gongji-bench-query" --data-dir "$d/data" --people "$people" --queries "$queries" "${months[@]}" | tail -1)
  eval "$q"  # asof_p50_ms=.. asof_p99_ms=.. knownat_p50_ms=.. knownat_p99_ms=..
  num=$(( events < 10000000 ? events : 10000000 ))
  rm -rf "$work/dbbench"
  dbb=$(db_bench --benchmarks=fillrandom --num="$num" --value_size=400 --compression_type=lz4 --batch_size=1000 \
    --write_buffer_size=268435456 --max_write_buffer_number=4 --compaction_style=1 \
    --level0_file_num_compaction_trigger=16 --level0_slowdown_writes_trigger=32 --level0_stop_writes_trigger=48 \
    --sync=0 --disable_wal=1 \
    --db="$work/dbbench" 2>/dev/null |
    awk '/^fillrandom/ {for (i = 1; i <= NF; i++) if ($i == "ops/sec") print $(i-1)}')
  rm -rf "$work/dbbench"
  echo "   query: $q; db_bench fillrandom $dbb keys/s" >&2
  ingest_r=$(rate "$events" "$(secs "$d/ingest.time")")
  fold_r=$(rate "$events" "$fold_s")
  audit_s=$(python3 -c "print(f'{$s1 - $s0:.1f}')"); [ $audit_rc = 0 ] || audit_s="$audit_s (exit $audit_rc)"
  whatif_s=$(python3 -c "print(f'{$s2 - $w0:.1f}')")
  disk="$(per_event "$log_b" "$events")|$(per_event "$store_b" "$events")|$(per_event "$ckpt_b" "$events")"
  lat="$asof_p50_ms|$asof_p99_ms|$knownat_p50_ms|$knownat_p99_ms"
  rss=$(rss_mb "$d/fold.time")
  # The fold's last operational line: "storage: wrote K keys (B bytes) in C commits; P of them
  # persons (PB bytes), ..."
  wrote=$(grep -o 'wrote [0-9]* keys ([0-9]* bytes) in [0-9]* commits; [0-9]* of them persons ([0-9]* bytes)' \
    "$d/fold.err" | tail -1 | tr -d '();' || true)
  read -r _ keys _ _ _ _ _ _ persons _ _ _ person_b _ <<< "${wrote:-x 0 x x x x x x 0 x x x 0 x}"
  writes="$(python3 -c "print(f'{$keys / $events:.2f}')")|$(per_event "$person_b" "$events")"
  results+=("$label|$people|$years|$events|$ingest_r|$fold_r|$rss|$disk|$audit_s|$whatif_s|$lat|$dbb|$writes")
  echo "   row: ${results[-1]}" >&2  # kept on stderr as it comes
  [ $keep = 1 ] || rm -rf "$d"
done
# The table: cost per event relative to the 1% row (or the first).
printf '%s\n' "${results[@]}" | python3 -c '
import sys
rows = [l.rstrip("\n").split("|") for l in sys.stdin if l.strip()]
base = next((r for r in rows if r[0] == "1%"), rows[0])
head = ["row", "people", "years", "events", "ingest ev/s", "fold ev/s", "cost x", "fold RSS MB", "puts/ev",
        "person B/ev", "log B/ev", "store B/ev", "ckpt B/ev", "audit s", "what-if s", "as-of p50", "as-of p99",
        "known-at p50", "known-at p99", "db_bench/s", "fold/db"]
out = []
for r in rows:
    cost = float(base[5]) / float(r[5])
    ratio = float(r[5]) / float(r[16]) if r[16] else float("nan")
    out.append(r[:6] + [f"{cost:.2f}", r[6], r[17], r[18]] + r[7:16] + [r[16], f"{ratio:.3f}"])
w = [max(len(h), *(len(o[i]) for o in out)) for i, h in enumerate(head)]
print("  ".join(h.rjust(w[i]) for i, h in enumerate(head)))
for o in out: print("  ".join(c.rjust(w[i]) for i, c in enumerate(o)))
print(f"cost x: fold seconds per event relative to the {base[0]} row; latencies in ms, in process (gongji-bench-query)")
' | tee "$table"
echo "== the table is also in $table" >&2
[ $keep = 1 ] || { rm -f "$policy"; rmdir "$work" 2>/dev/null || true; }  # only what this run made
