#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds, and runs the multiplier report on the built-in default
# catalogue (text table, CSV, JSON, PNG heat map in approxnn-output/multipliers/). Arguments are passed on to
# multiplier_report; see tools/main.sh --help.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dependencies.sh
approxnn_install_dependencies

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DAPPROXNN_WARNINGS_AS_ERRORS=ON > /dev/null
cmake --build build/release --target multiplier_report -j "$(nproc)"
exec build/release/examples/multiplier_report "$@"
