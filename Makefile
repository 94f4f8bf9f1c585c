# The README's two commands are `make serve` and `make test`; everything else is a part of them
# or an extra. Every target installs what it needs first (scripts/setup.sh, idempotent).

PORT ?= 8000
SHELL := bash

.PHONY: serve build test test-native lint miri test-wasm setup

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
	MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-disable-isolation" cargo +nightly miri test --locked --lib --test pool --test model --test typed

setup:
	scripts/setup.sh all

## Benchmarks (issue 6): native criterion suite and wasm modules under node, in one run, then
## benches/results.md and benches/results.svg. Takes about ten minutes; not part of `make test`
## (whose clippy --all-targets compiles the benches).
.PHONY: bench
bench:
	scripts/setup.sh native
	rm -rf target/criterion
	cargo bench --locked --bench pool
	benches/wasm/run.sh
	python3 scripts/bench_report.py
