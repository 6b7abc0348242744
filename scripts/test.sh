#!/usr/bin/env bash
# The project's test suite: every crate's tests on the default CPU backend (flex), then the
# shared layers on burn's wgpu backend compared with flex (a software Vulkan adapter is enough).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
if [ "${COSMOS_SKIP_WGPU:-0}" != 1 ]; then
  cargo test --locked -p cosmos-nn --features wgpu --test wgpu
fi
