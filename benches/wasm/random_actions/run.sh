#!/usr/bin/env bash
# Builds one module per global allocator at opt-level "z" (as talc's wasm-perf does; set
# OPT_LEVEL=3 for speed-optimised modules), runs talc's random-actions workload in each
# under node and prints the table (run.mjs). Results: target/results-z.json (or -3), and the
# table in target/results-z.md.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "run.sh: node (v18 or later) is needed" >&2; exit 1; }
opt=${OPT_LEVEL:-z}
mkdir -p "target/modules-$opt"
for allocator in size_classes talc dlmalloc rlsf lol_alloc; do
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt CARGO_TARGET_DIR="target/opt-$opt" \
        cargo build --quiet --locked --target wasm32-unknown-unknown --release --features "$allocator"
    cp "target/opt-$opt/wasm32-unknown-unknown/release/memory_pool_wasm_random_actions.wasm" \
        "target/modules-$opt/$allocator.wasm"
done
echo "talc's random actions on wasm32, opt-level $opt (node $(node --version), load average $(cut -d' ' -f1-3 /proc/loadavg)):" >&2
node --no-liftoff run.mjs "target/modules-$opt" > "target/results-$opt.json"
node -e 'const r = require(process.argv[1]); console.log(r.table)' "$PWD/target/results-$opt.json" \
    > "target/results-$opt.md"
