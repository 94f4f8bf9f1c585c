#!/usr/bin/env bash
# Builds one wasm module per allocator, twice (with the workload loops, and with only
# alloc/free for the size table), then runs the workloads under node.
# Output: target/results.json (read by scripts/bench_report.py).
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "run.sh: node (v18 or later) is needed to run the wasm benchmarks" >&2; exit 1; }
mkdir -p target/modules
for allocator in pool dlmalloc talc lol_alloc bare_list; do
    for variant in workloads size; do
        features=$allocator
        [ "$variant" = workloads ] && features="$allocator,workloads"
        cargo build --quiet --locked --target wasm32-unknown-unknown --release --features "$features"
        cp target/wasm32-unknown-unknown/release/memory_pool_wasm_bench.wasm \
            "target/modules/$allocator-$variant.wasm"
    done
done
node --no-liftoff run.mjs target/modules > target/results.json
cat target/results.json
