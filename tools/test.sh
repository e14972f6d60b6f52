#!/usr/bin/env bash
# Runs every test of approxnn: installs missing Debian packages, then
#   1. g++, Release, warnings as errors: unit tests, header self-containment, compile-fail tests, the compiled
#      examples of README.md and docs/, the installed-package consumer test, the examples' default runs, the
#      Cortex-M55 (MVE) programs on qemu-system-arm; the benchmarks are built;
#   2. clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors, without -march=native (so the
#      AVX-512 kernels run through their function attributes and run-time dispatch): the host tests again, and a
#      bounded libFuzzer run of the dCSR container reader.
# Build trees: build/release and build/sanitize.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dependencies.sh
approxnn_install_dependencies --tests

jobs=$(nproc)

echo "== approxnn tests: g++ Release =="
# The Cortex-M55 programs are asked for explicitly: missing tools then fail the configure instead of skipping them.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DAPPROXNN_WARNINGS_AS_ERRORS=ON \
  -DAPPROXNN_MVE_TESTS=ON
cmake --build build/release -j "$jobs"
ctest --test-dir build/release --output-on-failure -j "$jobs"

echo "== approxnn tests: clang 14, AddressSanitizer + UndefinedBehaviorSanitizer =="
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DAPPROXNN_SANITIZE=ON -DAPPROXNN_NATIVE=OFF -DAPPROXNN_WARNINGS_AS_ERRORS=ON -DAPPROXNN_BUILD_BENCHMARKS=OFF
cmake --build build/sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize --output-on-failure -j "$jobs"

echo "== approxnn: all tests passed =="
