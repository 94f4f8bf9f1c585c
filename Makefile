# The README's two commands are `make serve` and `make test`; everything else is a part of them
# or an extra. Every target installs what it needs first (scripts/setup.sh, idempotent).

PORT ?= 8000
SHELL := bash

.PHONY: serve build test test-native lint miri test-wasm setup loom bench bench-size-classes bench-size-classes-wasm

## Build the wasm module into www/pkg and serve www/ on http://127.0.0.1:$(PORT)/
serve: build
	@echo "Serving the playground at http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	python3 -m http.server $(PORT) --bind 127.0.0.1 -d www

## The page's module: www/pkg/memory_pool.js (+ .d.ts) and memory_pool_bg.wasm. wasm-opt is
## off (Cargo.toml says why), so wasm-pack downloads nothing. The module's name section (Rust
## names for backtraces, 22 of its 112 KB) is dropped, which keeps the page under its 250 KB
## budget; a panic still prints its Rust message (console_error_panic_hook).
build:
	scripts/setup.sh wasm
	wasm-pack build --release --target web --out-dir www/pkg -- --locked
	scripts/strip_wasm_names.py www/pkg/memory_pool_bg.wasm

## Every test: lints, native tests and doctests, the browser tests, Miri on the core.
test: lint test-native test-wasm miri

lint:
	scripts/setup.sh native
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	# The benches measure native peers (glibc, mimalloc): wasm32 lints everything but them.
	cargo clippy --target wasm32-unknown-unknown --lib --tests --examples --locked -- -D warnings

test-native:
	cargo test --locked

## tests/web.rs (the wasm boundary), tests/web_heap.rs (the teaching heap's) and the core's
## tests/pool.rs and tests/typed.rs, compiled to wasm32 and run in headless Chromium.
## `--test '*'` skips the doctests, which compiled to wasm32 would only be linked, not run.
## wasm-pack exits 0 when a suite has no test at all, so the count of suites that ran tests is
## checked too.
test-wasm:
	scripts/setup.sh browser
	@mkdir -p target
	set -o pipefail; wasm-pack test --headless --chrome -- --test '*' --locked 2>&1 | tee target/test-wasm.log
	@suites=$$(grep -cE '^test result: ok\. [1-9][0-9]* passed' target/test-wasm.log); \
	if [ "$$suites" -lt 8 ]; then \
		echo "test-wasm: only $$suites browser suites ran tests; expected 8 (pool, typed, web, web_heap, web_misuse, growing, size_classes, global_alloc)" >&2; \
		exit 1; \
	fi

## The core's tests under Miri, on the slice-backed source (mmap is not available to Miri).
miri:
	scripts/setup.sh miri
	MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-disable-isolation" cargo +nightly miri test --locked --lib --test pool --test model --test typed --test growing --test size_classes --test sync_pool --test misuse

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

## The page in real headless Chromium (tests/e2e, playwright-core pinned in its lockfile).
.PHONY: test-e2e
test: test-e2e

test-e2e: build
	scripts/setup.sh browser
	cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	cd tests/e2e && node --test --test-reporter=spec playground.test.js misuse.test.js story.test.js

## Issue 7: model-check SyncPool's lock-free free list under loom (every interleaving of small
## scenarios; ABA included). Not part of `make test`: the loom build takes a few minutes.
loom:
	scripts/setup.sh native
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --locked --lib loom_checks

## Issue 7: SizeClasses against glibc and mimalloc on a mixed workload (benches/size_classes.rs).
bench-size-classes:
	scripts/setup.sh native
	cargo bench --locked --bench size_classes

## Issue 7: the same workload on wasm32 in Node, against dlmalloc and talc (tests/wasm_mixed.rs).
bench-size-classes-wasm:
	scripts/setup.sh wasm
	wasm-pack test --node --release -- --locked --test wasm_mixed -- --include-ignored --nocapture

## ---- Reliability (issue 8): separate targets, each too slow for `make test` -------------

FUZZ_SECONDS ?= 60
STRESS_OPS ?= 10000000
.PHONY: fuzz asan stress

## Fuzz the pool for $(FUZZ_SECONDS) s on one core (nightly, libFuzzer + AddressSanitizer).
## New inputs go to fuzz/target/corpus (ignored); the committed seeds are only read.
## A failure leaves its input in fuzz/artifacts/pool_ops/ and prints how to reproduce it.
fuzz:
	scripts/setup.sh fuzz
	mkdir -p fuzz/target/corpus/pool_ops
	RUSTFLAGS="--cfg memory_pool_asan" cargo +nightly fuzz run pool_ops \
		fuzz/target/corpus/pool_ops fuzz/corpus/pool_ops -- \
		-max_total_time=$(FUZZ_SECONDS)

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
## benches/results.md and benches/results.svg. Takes about eight minutes here; not part of `make test`
## (whose clippy --all-targets compiles the benches).
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
	python3 scripts/bench_report.py
