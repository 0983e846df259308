#!/usr/bin/env bash
# Benchmark (not a test): end-to-end events/second through Kafka — ingest -> fold -> settlement committed — on a
# local single-node broker, and, measured in the same run on the same broker over the same topic, the rate of
# Kafka's own kafka-consumer-perf-test; prints both and their ratio.
#   ops/bench/kafka_bench.sh [PEOPLE]     (default 10000; builds first)
set -euo pipefail
cd "$(dirname "$0")/../.."
./ops/build.sh >/dev/null
people=${1:-10000}
dir=$(mktemp -d /tmp/gongji-kbench-XXXXXX)
trap './ops/kafka/kafka.sh stop "$dir/kafka" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
./ops/kafka/kafka.sh stop build/kafka-bench >/dev/null 2>&1 || true
b=$(./ops/kafka/kafka.sh start "$dir/kafka" 1 2>/dev/null | tail -1)
./ops/kafka/kafka.sh topics "$b" 8 1 2>/dev/null
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
