# The README's two commands are `make serve` and `make test`; everything else is a part of them
# or an extra. Every target installs what it needs first (scripts/setup.sh, idempotent).

PORT ?= 8000
SHELL := bash

.PHONY: serve build test test-native lint miri test-wasm setup loom bench-size-classes bench-size-classes-wasm test-wasm-size-classes

## Build the wasm module into www/pkg and serve www/ on http://127.0.0.1:$(PORT)/
serve: build
	@echo "Serving the playground at http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	python3 -m http.server $(PORT) --bind 127.0.0.1 -d www

build:
	scripts/setup.sh wasm
	wasm-pack build --release --target web --out-dir www/pkg --no-typescript

## Every test: lints, native tests and doctests, Miri on the core.
test: lint test-native miri

lint:
	scripts/setup.sh native
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --locked -- -D warnings

test-native:
	cargo test --locked

## The core's tests under Miri, on the slice-backed source (mmap is not available to Miri).
miri:
	scripts/setup.sh miri
	MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-disable-isolation" cargo +nightly miri test --locked --lib --test pool --test model --test typed --test growing --test size_classes --test sync_pool

setup:
	scripts/setup.sh all

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

## Issue 7: GrowingPool, SizeClasses and SizeClasses-as-global-allocator tests in headless Chrome.
test-wasm-size-classes:
	scripts/setup.sh browser
	wasm-pack test --headless --chrome -- --locked --test growing --test size_classes --test global_alloc
