#!/usr/bin/env bash
# Installs the system dependencies (ops/install-deps.sh) and builds gongji into build/ (Release with debug info).
# Extra arguments go to cmake (ops/test.sh passes -DGONGJI_WERROR=ON). Incremental: re-running rebuilds only what
# changed; ccache keeps compiled objects between clean clones.
set -euo pipefail
cd "$(dirname "$0")/.."
./ops/install-deps.sh
# ccache hashes the build's directory by default, so that a clone at another path would miss every object: paths
# relative to the clone and no directory in the hash let clean clones share the cache (as ops/fuzz.sh does).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# GONGJI_BUILD_TARGETS="a b": only those targets (ops/demo.sh builds the program and the generator, not the tests).
cmake --build build -j2 ${GONGJI_BUILD_TARGETS:+--target $GONGJI_BUILD_TARGETS}
