#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (CTest over GoogleTest), including the tests against a real
# Apache Kafka broker that this script starts on 127.0.0.1 (ops/kafka/kafka.sh) and stops when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
./ops/build.sh -DGONGJI_WERROR=ON  # warnings are errors in the test build (README)
root="$PWD"
# The fuzz targets (issue 8): a clang tree beside the gcc one; ctest runs each for 30 s, alone (RUN_SERIAL).
./ops/fuzz.sh build "$root/build/fuzz"
cmake -S . -B build -DGONGJI_FUZZ_BIN_DIR="$root/build/fuzz" >/dev/null
kdir="$root/build/kafka-test"
./ops/kafka/kafka.sh stop "$kdir" 2>/dev/null || true
rm -rf "$kdir"
trap '"$root/ops/kafka/kafka.sh" stop "$kdir" || true' EXIT
# The test brokers' ports (39092-39094, and 39191-39294 for a test's own three-broker cluster) lie in Linux's
# ephemeral range: reserved from it where root may, so that no client's connection takes one before a broker binds it
# (a broker of the own cluster once did not start within 90 s, its log unseen).
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$reserved" ] && ! grep -q 39090-39300 "$reserved"; then
  cur=$(cat "$reserved")
  echo "${cur:+$cur,}39090-39300" > "$reserved" 2>/dev/null || true
fi
echo "== starting Kafka for the tests"
GONGJI_BROKERS=$(./ops/kafka/kafka.sh start "$kdir" 1 | tail -1)
export GONGJI_BROKERS
export GONGJI_KAFKA_DIR="$kdir"  # its data: a test damages a record batch on the broker's disk
GONGJI_KAFKA_SASL=$(./ops/kafka/kafka.sh sasl "$kdir")  # "HOST:PORT USER PASSWORD": the listener requiring SASL
export GONGJI_KAFKA_SASL
./ops/kafka/kafka.sh topics "$GONGJI_BROKERS" 8 1
echo "== Kafka at $GONGJI_BROKERS"
cd build
ctest --output-on-failure -j2 --timeout 900
