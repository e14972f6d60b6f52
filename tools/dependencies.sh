#!/usr/bin/env bash
# Installs the Debian 12 packages approxnn's build, tests and examples need, when any is missing.
# Usage: tools/dependencies.sh [--tests]   (as root, or with sudo available; --tests adds the test tools)
# Sourced by tools/main.sh and tools/test.sh.
set -euo pipefail

# What building and running the main job needs.
APPROXNN_PACKAGES=(
  g++ cmake ninja-build
  xtensor-dev libxtensor-dev xtl-dev libxsimd-dev nlohmann-json3-dev
  doctest-dev libbenchmark-dev libcli11-dev libeigen3-dev zlib1g-dev
  dataset-fashion-mnist
  gnuplot-nox
)
# What the tests need on top: clang 14 with its sanitizer and libFuzzer runtimes, and the Cortex-M55 toolchain and
# emulator for the MVE kernels.
APPROXNN_TEST_PACKAGES=(
  clang-14 libclang-rt-14-dev
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
)

approxnn_install_dependencies() {
  local wanted=("${APPROXNN_PACKAGES[@]}")
  if [[ "${1:-}" == "--tests" ]]; then
    wanted+=("${APPROXNN_TEST_PACKAGES[@]}")
  fi
  local missing=()
  local package
  for package in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "approxnn: installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "approxnn: these packages are missing and this is not root (and sudo is not available): ${missing[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  approxnn_install_dependencies "$@"
fi
