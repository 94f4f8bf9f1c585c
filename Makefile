# The README's two commands are `make serve` and `make test`; everything else is a part of them
# or an extra. Every target installs what it needs first (scripts/setup.sh, idempotent).

PORT ?= 8000
SHELL := bash
# The crate's rust-version (Cargo.toml), which `lint` builds with.
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)

.PHONY: serve build test test-native lint miri test-wasm setup loom bench bench-size-classes bench-size-classes-wasm bench-random-actions bench-wasm-random-actions

## Build the wasm module into www/pkg and serve www/ on http://127.0.0.1:$(PORT)/
serve: build
	@echo "Serving the playground at http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	python3 -m http.server $(PORT) --bind 127.0.0.1 -d www

## The page's module: www/pkg/memory_pool.js (+ .d.ts) and memory_pool_bg.wasm. wasm-pack's
## own wasm-opt is off (it would download binaryen from GitHub); npm's binaryen (pinned in
## scripts/wasm-opt/, installed by setup.sh) runs instead: -Oz shrinks the module by a tenth and
## drops its name section (Rust names for backtraces, a fifth of it); a panic still prints its
## Rust message (console_error_panic_hook). The Rust doc comments wasm-bindgen copies into the
## glue (a third of it) are dropped too: memory_pool.d.ts keeps them. The page's module is
## built for size (opt-level "z", its own target dir): 70 KB instead of 80, and what it runs (a
## few calls per step of a figure) is not where speed shows. The race's module, which is timed,
## keeps the release profile's opt-level 3.
WASM_OPT := scripts/wasm-opt/node_modules/.bin/wasm-opt
build:
	scripts/setup.sh wasm
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_TARGET_DIR=target/page \
		wasm-pack build --release --target web --out-dir www/pkg -- --locked --features page-heap
	$(WASM_OPT) -Oz www/pkg/memory_pool_bg.wasm -o www/pkg/memory_pool_bg.wasm
	scripts/strip_glue_docs.py www/pkg/memory_pool.js
	# The race's module (feature `race`: the same boundary plus `Race` and dlmalloc), loaded
	# only by its Web Worker (www/js/race-worker.js) when the reader starts the race.
	wasm-pack build --release --target web --out-dir www/pkg-race --out-name memory_pool_race -- --locked --features race
	$(WASM_OPT) -Oz www/pkg-race/memory_pool_race_bg.wasm -o www/pkg-race/memory_pool_race_bg.wasm
	scripts/strip_glue_docs.py www/pkg-race/memory_pool_race.js

## Every test: lints, native tests and doctests, the browser tests, Miri on the core.
test: lint test-native test-wasm miri

lint:
	scripts/setup.sh native
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked --features allocator-api2 -- -D warnings
	# The benches measure native peers (glibc, mimalloc): wasm32 lints everything but them.
	cargo clippy --target wasm32-unknown-unknown --lib --tests --examples --locked --features allocator-api2,race -- -D warnings
	# The page's build: the module's own global allocator (src/wasm/own_heap.rs).
	cargo clippy --target wasm32-unknown-unknown --lib --locked --features page-heap -- -D warnings
	# no_std: the crate without `std` on bare metal, with 64-bit atomics (x86_64) and without
	# (Cortex-M4F: no SyncPool or SizeClasses there). `rustc --crate-type rlib`: no cdylib.
	for target in x86_64-unknown-none thumbv7em-none-eabihf; do \
		cargo rustc --lib --crate-type rlib --no-default-features --target $$target --locked -- -D warnings || exit 1; \
	done
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --locked
	# The wasm boundary is documented on docs.rs too (its wasm32 target).
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --target wasm32-unknown-unknown --locked
	# The oldest Rust the crate says it builds with (rust-version), with its optional feature.
	cargo +$(MSRV) build --locked --features allocator-api2
	# The package (what `cargo publish` would upload) builds, and cargo has nothing to warn of.
	@mkdir -p target
	set -o pipefail; cargo package --locked --allow-dirty 2>&1 | tee target/package.log
	@! grep -q '^warning' target/package.log || { echo "lint: cargo package warned" >&2; exit 1; }

test-native:
	cargo test --locked --features allocator-api2

## tests/web.rs (the wasm boundary), tests/web_heap.rs (the teaching heap's), tests/web_race.rs
## (the race's, with the `race` feature) and the core's
## tests/pool.rs and tests/typed.rs (and the others that say `run_in_browser`, such as
## tests/allocator_api2.rs), compiled to wasm32 and run in headless Chromium.
## `--test '*'` skips the doctests, which compiled to wasm32 would only be linked, not run.
## wasm-pack exits 0 when a suite has no test at all, so the count of suites that ran tests is
## checked too.
test-wasm:
	scripts/setup.sh browser
	@mkdir -p target
	set -o pipefail; wasm-pack test --headless --chrome -- --test '*' --locked --features allocator-api2,race 2>&1 | tee target/test-wasm.log
	@suites=$$(grep -cE '^test result: ok\. [1-9][0-9]* passed' target/test-wasm.log); \
	if [ "$$suites" -lt 11 ]; then \
		echo "test-wasm: only $$suites browser suites ran tests; expected 11 (pool, typed, web, web_heap, web_misuse, web_race, growing, size_classes, global_alloc, allocator_api2, trace)" >&2; \
		exit 1; \
	fi

## The core's tests under Miri, on the slice-backed source (mmap is not available to Miri).
miri:
	scripts/setup.sh miri
	MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-disable-isolation" cargo +nightly miri test --locked --features allocator-api2 --lib --test pool --test model --test typed --test growing --test size_classes --test sync_pool --test misuse --test buffer_memory --test allocator_api2

setup:
	scripts/setup.sh all

## ---- The playground page (www/) ----
# `build` also renders README.md into the page (the one source of the explanation) and copies
# the README's pictures beside it, so www/ can be served or hosted as it is.
.PHONY: page diagram
build: page

page: www/readme.html www/ferris.png www/img.png

# The story part of the README (www/readme.html) and the whole README as a page of its own
# (www/developer.html), in one run.
www/readme.html: README.md examples/render_readme.rs
	cargo run --quiet --locked --example render_readme -- README.md $@ www/developer.html

www/ferris.png: ferris.png
	cp $< $@

www/img.png: img.png
	cp $< $@

## Redraw img.png from a real pool (examples/pool_diagram.rs), rasterised by headless Chromium.
diagram:
	command -v chromium >/dev/null || scripts/setup.sh browser
	mkdir -p target
	cargo run --quiet --locked --example pool_diagram > target/pool_diagram.html
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run --hide-scrollbars \
		--window-size=948,345 --screenshot=$(CURDIR)/img.png file://$(CURDIR)/target/pool_diagram.html

## Issue 18: record the allocation trace of a real program (pulldown-cmark rendering the
## README's story, with a word index; examples/record_trace.rs) for the page's "A real
## program's heap". Then `cargo test --test trace` says the new final counters to put in
## tests/readme_trace.expected (and `make test-wasm` the wasm32 heap's).
.PHONY: trace
trace:
	cargo run --release --quiet --locked --example record_trace -- README.md www/trace/readme.trace

## The page in real headless Chromium (tests/e2e, playwright-core pinned in its lockfile).
.PHONY: test-e2e
test: test-e2e

test-e2e: build
	scripts/setup.sh browser
	cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	cd tests/e2e && node --test --test-reporter=spec playground.test.js misuse.test.js story.test.js beyond.test.js race.test.js

## Issue 7: model-check SyncPool's lock-free free list under loom (every interleaving of small
## scenarios; ABA included). Not part of `make test`: the loom build takes a few minutes.
loom:
	scripts/setup.sh native
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --locked --lib loom_checks

## Issue 7: SizeClasses against glibc and mimalloc on a mixed workload (benches/size_classes.rs).
bench-size-classes:
	scripts/setup.sh native
	cargo bench --locked --bench size_classes

## Issue 15: talc's random-actions workload (1 and 2 threads, max sizes 200 B – 100 KB) and its
## memory-efficiency workload: SizeClasses against glibc, mimalloc, jemalloc and dlmalloc, the
## ratios printed (benches/random_actions.rs; about two minutes; table in target/random-actions.md).
bench-random-actions:
	scripts/setup.sh native
	cargo bench --locked --bench random_actions

## Issue 15, wasm32: talc's wasm-perf workload (random actions, 100 B – 10 KB, with and without
## realloc) in Node, one module per global allocator at opt-level "z": SizeClasses against
## talc, dlmalloc, rlsf and lol_alloc, with the linear memory each ended with and the module
## sizes, every figure also over talc's (benches/wasm/random_actions; about a minute; table in
## benches/wasm/random_actions/target/results-z.md). `OPT_LEVEL=3` for opt-level 3 modules.
bench-wasm-random-actions:
	scripts/setup.sh wasm
	benches/wasm/random_actions/run.sh

## Issue 7: the same workload on wasm32 in Node, against dlmalloc and talc (tests/wasm_mixed.rs).
bench-size-classes-wasm:
	scripts/setup.sh wasm
	wasm-pack test --node --release -- --locked --test wasm_mixed -- --include-ignored --nocapture

## ---- Reliability: fuzzing and sanitizers --------------------------------------------------

FUZZ_SECONDS ?= 60
# Every fuzz target, one file each in fuzz/fuzz_targets/ (its model in fuzz/models/).
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
STRESS_OPS ?= 10000000
.PHONY: fuzz test-fuzz tsan asan stress

## Fuzz each of $(FUZZ_TARGETS) for $(FUZZ_SECONDS) s in turn (nightly, libFuzzer +
## AddressSanitizer; `make fuzz FUZZ_TARGETS=heap` for one). Each starts from its committed
## seeds in fuzz/corpus/<target>/, which are only read; new inputs go to fuzz/target/corpus/
## (ignored). The memory limit is 6 GB, not 2: AddressSanitizer's shadow of the models' huge
## regions stays resident (growing_pool peaked at 4.2 GB in 10 min). A failure stops the run, leaves its input in fuzz/artifacts/<target>/ and prints
## how to reproduce it; `cargo test --test fuzz_corpus` replays the committed seeds on stable.
fuzz:
	scripts/setup.sh fuzz
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p target/corpus/$$target && \
		echo "== fuzz $$target for $(FUZZ_SECONDS) s" && \
		RUSTFLAGS="--cfg memory_pool_asan" cargo +nightly fuzz run $$target \
			target/corpus/$$target corpus/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=6144 -print_final_stats=1 || exit 1; \
	done

## Part of `make test`: every fuzz target, 25 s each, from its seeds.
test-fuzz:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=25
test: test-fuzz

## The threaded tests (SyncPool's threads handing blocks to each other, SizeClasses as the
## global allocator of threads) under ThreadSanitizer: nightly, with std rebuilt instrumented.
## Not part of `make test` (the std build alone takes minutes).
TSAN_HOST = $$(rustc -vV | sed -n 's/^host: //p')
tsan:
	scripts/setup.sh tsan
	RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1" \
		cargo +nightly test --locked -Zbuild-std --target "$(TSAN_HOST)" --target-dir target/tsan \
		--test sync_pool --test global_alloc --test size_classes

## The native tests and doctests under AddressSanitizer (nightly), in their own target dir;
## `--cfg memory_pool_asan` makes the pool poison its free blocks (src/sanitizer.rs).
ASAN_FLAGS := -Zsanitizer=address --cfg memory_pool_asan
asan:
	scripts/setup.sh nightly
	RUSTFLAGS="$(ASAN_FLAGS)" RUSTDOCFLAGS="$(ASAN_FLAGS)" \
		cargo +nightly test --locked --target "$$(rustc -vV | sed -n 's/^host: //p')" \
		--target-dir target/asan

## $(STRESS_OPS) random operations checked against a model; every live block intact at the end.
stress:
	cargo run --release --locked --example stress -- $(STRESS_OPS)

## Benchmarks (issue 6): native criterion suite and wasm modules under node, in one run, then
## benches/results.md and benches/results.svg, then talc's random actions natively
## (target/random-actions.md) and on wasm32 (benches/wasm/random_actions/target/results-z.md).
## Takes about ten minutes here; not part of `make test` (whose clippy --all-targets compiles
## the benches).
bench:
	scripts/setup.sh native
	rm -rf target/criterion
	cargo bench --locked --bench pool
	# Before/after of link colouring: the pool's 4 KiB batches once more, with every link in
	# its block's first word (own target dir; results next to the others).
	RUSTFLAGS="--cfg memory_pool_uncoloured" CARGO_TARGET_DIR=target/uncoloured \
		CRITERION_HOME="$(CURDIR)/target/criterion" \
		cargo bench --locked --bench pool -- 'colour-4096/pool'
	benches/wasm/run.sh
	cargo bench --locked --bench random_actions
	benches/wasm/random_actions/run.sh
	python3 scripts/bench_report.py
