#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds, and runs the QoS pipeline (examples/qos_pipeline) on
# Fashion-MNIST with its defaults: ResNet-8, float training -> QAT -> AGN -> error model -> QoS search (4 multipliers,
# 3 operating points) -> shared fine-tuning -> evaluation (float engine and int8 run-time switching) against the
# baselines; table, CSV/JSON and PNG in approxnn-output/qos/resnet8/. Arguments are passed on to qos_pipeline, e.g.
# tools/main.sh --quick (about a minute), tools/main.sh --help.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/dependencies.sh
approxnn_install_dependencies

cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DAPPROXNN_WARNINGS_AS_ERRORS=ON > /dev/null
cmake --build build/release --target qos_pipeline -j "$(nproc)"
exec build/release/examples/qos_pipeline "$@"
