#!/usr/bin/env bash
# Regenerates docs/demo.gif and docs/demo_metrics.png, the pictures at the top of the README,
# from `cosmos demo` (release build, default episode and push) and prints the demo's last line
# for the README's caption. Fails if the GIF grows past 1 MB. PROFILE=dev uses the dev build
# instead of the release one (the same frames and numbers, the build is just slower to run).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --profile "${PROFILE:-release}" --locked --quiet -- demo --out "$out" | tee "$out/demo.log"
cp "$out/demo.gif" docs/demo.gif
cp "$out/demo_metrics.png" docs/demo_metrics.png
size=$(stat -c %s docs/demo.gif)
if [ "$size" -ge 1000000 ]; then
  echo "demo-gif: docs/demo.gif is $size bytes, over the 1 MB the README allows" >&2
  exit 1
fi
echo "demo-gif: wrote docs/demo.gif ($size bytes) and docs/demo_metrics.png"
echo "demo-gif: caption numbers: $(tail -1 "$out/demo.log")"
