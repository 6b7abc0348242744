#!/usr/bin/env bash
# Packages every workspace crate as `cargo publish` would (without compiling them: --no-verify)
# and fails when a .crate is over crates.io's 10 MB upload limit, or when cargo left an example,
# bench or binary out of its package. Prints the size of every .crate.
#
# Tests and their fixtures (testdata/, tests/) stay in the repository on purpose, so cargo's
# "ignoring test ..." warnings are expected; they are counted, not shown.
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=10000000
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
package_dir="${target_dir:-target}/package"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Old .crate files (other versions) would otherwise be measured too.
rm -f "$package_dir"/*.crate
if ! cargo package --workspace --no-verify --allow-dirty >"$log" 2>&1; then
  cat "$log"
  echo "package: cargo package failed"
  exit 1
fi

test_warning='^warning: ignoring test `[^`]*` as `tests/[^`]*` is not included in the published package$'
grep -v -e "$test_warning" "$log" || true
echo "package: $(grep -c -e "$test_warning" "$log" || true) test targets left out of the packages (tests stay in the repository)"

status=0
if grep -E '^warning: ignoring (example|benchmark|binary)' "$log"; then
  echo "package: an example, bench or binary is not in its crate's package (see above)"
  status=1
fi

printf '%-34s %12s %9s\n' crate bytes MB
for crate in "$package_dir"/*.crate; do
  size=$(wc -c <"$crate")
  name=$(basename "$crate")
  printf '%-34s %12d %9.2f\n' "$name" "$size" "$(awk "BEGIN { print $size / 1000000 }")"
  if [ "$size" -gt "$LIMIT" ]; then
    echo "package: $name is $size bytes, over crates.io's limit of $LIMIT bytes"
    status=1
  fi
done
exit "$status"
