#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (CTest over GoogleTest), then checks the worked examples.
set -euo pipefail
cd "$(dirname "$0")/.."
./ops/build.sh
cd build
ctest --output-on-failure -j2 --timeout 900
