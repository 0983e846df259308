#!/usr/bin/env bash
# Benchmark (not a test): end-to-end events/second through Kafka — ingest -> fold -> settlement committed — on a
# local single-node broker, and, measured in the same run on the same broker over the same topic, the rate of
# Kafka's own kafka-consumer-perf-test and of a Kafka Streams peer (ops/bench/streams-peer: the ordinary-outpatient
# fold as a Kafka shop would write it, exactly-once, RocksDB state) and of gongji serve alone over the full topic;
# prints a table of the rates and their ratios. gongji serve alone and the peer run ROUNDS times each (default 3),
# alternately, and their rows are the medians; the end-to-end and perf-test rows are one run each.
#   ops/bench/kafka_bench.sh [PEOPLE]     (default 10000; builds first; GONGJI_KAFKA_PORT moves the broker;
#                                          PEER_THREADS: the peer's stream threads, default 2 like serve's fold;
#                                          PEER_HEAP: the peer's JVM heap, default 1g; ROUNDS: default 3)
set -euo pipefail
rounds=${ROUNDS:-3}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "kafka_bench.sh: ROUNDS must be a positive whole number" >&2; exit 2; }
cd "$(dirname "$0")/../.."
./ops/build.sh >/dev/null
# The peer's jar (build/streams-peer), rebuilt quietly when missing or older than its sources or the event schema.
peer_jar=build/streams-peer/streams-peer.jar
stale=""  # find fails where there is no jar yet (a fresh clone), which set -e would end the script on
[ -f "$peer_jar" ] && stale=$(find ops/bench/streams-peer events/events.fbs -type f -newer "$peer_jar" | head -1)
if [ ! -f "$peer_jar" ] || [ -n "$stale" ]; then
  # ops/install-deps.sh installs a JRE for the broker; the peer's build needs the JDK (installed here as root).
  if ! command -v javac >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -q && apt-get install -y -q openjdk-17-jdk-headless) >/dev/null
  fi
  command -v javac >/dev/null || { echo "kafka_bench.sh: the Streams peer needs a JDK (javac) to build" >&2; exit 1; }
  out=$(mvn -q -B -f ops/bench/streams-peer/pom.xml package 2>&1) || { echo "$out" >&2; exit 1; }
fi
people=${1:-10000}
dir=$(mktemp -d /tmp/gongji-kbench-XXXXXX)
trap './ops/kafka/kafka.sh stop "$dir/kafka" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
./ops/kafka/kafka.sh stop build/kafka-bench >/dev/null 2>&1 || true
b=$(./ops/kafka/kafka.sh start "$dir/kafka" 1 2>/dev/null | tail -1)
./ops/kafka/kafka.sh topics "$b" 8 1 2>/dev/null
./ops/kafka/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create \
  --topic gongji.peer.settlements --partitions 8 --replication-factor 1 >/dev/null 2>&1 \
  || { echo "kafka_bench.sh: cannot create topic gongji.peer.settlements on $b" >&2; exit 1; }
./ops/kafka/kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --create \
  --topic gongji.refold.settlements --partitions 8 --replication-factor 1 >/dev/null 2>&1 \
  || { echo "kafka_bench.sh: cannot create topic gongji.refold.settlements on $b" >&2; exit 1; }
build/gongji-generate --people "$people" > "$dir/events.jsonl"
n=$(wc -l < "$dir/events.jsonl")
idle=3
start=$(date +%s.%N)
build/gongji serve --brokers "$b" --data-dir "$dir/serve" --idle-exit $idle > "$dir/serve.out" 2>&1 &
spid=$!
build/gongji ingest --brokers "$b" --data-dir "$dir/ingest" "$dir/events.jsonl" > /dev/null
wait $spid
end=$(date +%s.%N)
records=$(grep '^serve:' "$dir/serve.out" | tail -1)
in_topic=$(echo "$records" | sed -n 's/^serve: folded \([0-9]*\) events.*/\1/p')  # records in the topic (global events in every partition)
e2e=$(python3 -c "print(f'{$n / ($end - $start - $idle):.0f}')")
echo "end-to-end: $n events ingested, folded and settled in $(python3 -c "print(f'{$end - $start - $idle:.2f}')") s = $e2e events/s ($records)"
perf=$(./ops/kafka/kafka.sh tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$b" \
  --topic gongji.events --messages "$in_topic" --timeout 60000 2>/dev/null | tail -1)
rate=$(echo "$perf" | awk -F', *' '{print $6}')
echo "kafka-consumer-perf-test over the same topic: $rate msgs/s  ($perf)"
python3 -c "print(f'ratio: {$e2e / $rate:.3f} (end-to-end events/s over consumer-perf-test msgs/s)')"
# gongji serve alone over the now complete topic, without ingest running beside it (a new group and store each
# round; its records go to gongji.refold.settlements), and the peer over the same topic from the earliest offset
# under a new application id each round, until it has processed every record of the topic (or after 3 idle seconds,
# not counted), timed from the shell, JVM start included. Runs on one machine differ from one to the next (on the
# 2-core machine of issue 10, by up to 10%), so each runs ROUNDS times, the two alternating and taking turns at
# going first, and the table shows each one's median. Every round adds its records and the peer's changelog topics
# to the broker under $dir, removed at the end.
serve_times=() peer_times=()
run_serve() {
  local start end
  start=$(date +%s.%N)
  build/gongji serve --brokers "$b" --data-dir "$dir/refold$round" --group "gongji-refold-$$-$round" \
    --settlements-topic gongji.refold.settlements --idle-exit $idle > "$dir/refold.out" 2>&1 \
    || { echo "kafka_bench.sh: gongji serve failed:" >&2; tail -20 "$dir/refold.out" >&2; exit 1; }
  end=$(date +%s.%N)
  rm -rf "$dir/refold$round"
  serve_times+=("$(python3 -c "print(f'{$end - $start - $idle:.2f}')")")
}
run_peer() {
  local start end peer_idle
  start=$(date +%s.%N)
  java -Xms256m -Xmx${PEER_HEAP:-1g} -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$peer_jar:build/streams-peer/lib/*" gongji.peer.PeerMain --brokers "$b" --state-dir "$dir/peer$round" \
    --app-id "gongji-streams-peer-$$-$round" --expect "$in_topic" --idle-exit 3 \
    --threads "${PEER_THREADS:-2}" > "$dir/peer.out" 2> "$dir/peer.err" \
    || { echo "kafka_bench.sh: the Streams peer failed:" >&2; tail -20 "$dir/peer.err" >&2; exit 1; }
  end=$(date +%s.%N)
  rm -rf "$dir/peer$round"
  peer=$(grep '^peer:' "$dir/peer.out" | tail -1)
  peer_idle=$(echo "$peer" | sed -n 's/.* idle=\([0-9.]*\).*/\1/p')
  peer_times+=("$(python3 -c "print(f'{$end - $start - $peer_idle:.2f}')")")
}
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then run_serve; run_peer; else run_peer; run_serve; fi
  echo "round $round: gongji serve over the full topic ${serve_times[-1]} s" \
    "($(grep '^serve:' "$dir/refold.out" | tail -1)); Kafka Streams peer ${peer_times[-1]} s ($peer)"
done
median() {  # of its arguments (numbers)
  printf '%s\n' "$@" | LC_ALL=C sort -g |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
fold_s=$(median "${serve_times[@]}")
peer_s=$(median "${peer_times[@]}")
fold_rate=$(python3 -c "print(f'{$n / $fold_s:.0f}')")
peer_rate=$(python3 -c "print(f'{$n / $peer_s:.0f}')")
echo "gongji serve over the full topic: $n events in $fold_s s (median of ${serve_times[*]}) = $fold_rate events/s"
echo "Kafka Streams peer: $n events (ordinary fold) in $peer_s s (median of ${peer_times[*]}) = $peer_rate events/s"
python3 - "$e2e" "$fold_rate" "$peer_rate" "$rate" "$n" "$in_topic" <<'PY'
import sys
g, f, s, k, n, recs = (float(x) for x in sys.argv[1:])
# The perf test counts topic records (a shared event is copied into every partition): the folds' rates are turned
# into records/s (x records/events) before they are divided by it.
per_record = recs / n
rows = [("gongji end-to-end (ingest + serve)", g, per_record), ("gongji serve, full topic", f, per_record),
        ("Kafka Streams peer, ordinary only", s, per_record), ("kafka-consumer-perf-test (msgs/s)", k, 1.0)]
print(f"\n{'':36}{'events/s':>10}{'/ perf-test':>13}{'/ peer':>9}")
for name, r, scale in rows:
    print(f"{name:36}{r:>10.0f}{r * scale / k:>13.3f}{r / s:>9.3f}")
print(f"(/ perf-test: records/s over its msgs/s; {recs:.0f} records in the topic for {n:.0f} events)")
PY
echo "(gongji serve alone and the peer: medians of $rounds runs each; end to end and the perf test: one run each)"
