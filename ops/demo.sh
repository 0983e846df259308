#!/usr/bin/env bash
# The main job on the embedded default (no server): generate a realistic population and its year of events,
# ingest them, fold them into the projections, and print a readable summary with a few settlements explained.
#   ops/demo.sh [PEOPLE]     (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
GONGJI_BUILD_TARGETS="gongji gongji-generate" ./ops/build.sh  # the tests are built by ops/test.sh
people=${1:-10000}
data=${GONGJI_DEMO_DIR:-build/demo}
rm -rf "$data"
mkdir -p "$data"
echo "== generating $people insured persons and their events (2022-12-01 to 2023-12-31)"
build/gongji-generate --people "$people" > "$data/events.jsonl"
wc -l < "$data/events.jsonl" | xargs echo "   events:"
echo "== ingest"
time build/gongji ingest --data-dir "$data" "$data/events.jsonl"
echo "== fold"
time build/gongji fold --data-dir "$data" --log-level warn  # without its progress and storage lines (info)
echo
build/gongji report --data-dir "$data" --explained 5
echo
echo "Explore: build/gongji settlements --data-dir $data --person P0000001"
echo "         build/gongji person --data-dir $data --person P0000001 --as-of 2023-06-30"
echo "         build/gongji explain --data-dir $data --claim CL2 --person P0000001"
