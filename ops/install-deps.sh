#!/usr/bin/env bash
# Installs every system dependency of gongji from Debian packages. Idempotent: re-running it installs
# nothing new once everything is present. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  librocksdb-dev libflatbuffers-dev flatbuffers-compiler
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev libspdlog-dev
  librdkafka-dev
  libjemalloc-dev  # every program's allocator (CMakeLists.txt)
  libcpp-httplib-dev libssl-dev python3-prometheus-client
  python3 python3-confluent-kafka python3-flatbuffers
  chromium fonts-noto-cjk
  chromium-driver python3-selenium  # the dispute desk's browser test (tests/browser/desk_walk.py)
  # The fuzz tree (ops/fuzz.sh): clang and its runtime (libFuzzer, ASan, UBSan); 19, not bookworm's default 14,
  # because the code captures structured bindings in lambdas (C++20, clang >= 16).
  clang-19 libclang-rt-19-dev
)

# The Kafka broker for the tests runs on Java 17 and its jars come through Maven; a machine that already has
# both (any JDK >= 17) keeps its own.
command -v java >/dev/null || PACKAGES+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || PACKAGES+=(maven)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
