#!/usr/bin/env bash
# Installs, idempotently, every tool the Makefile needs, from the package registries only
# (crates.io, Debian, npm): nothing is downloaded from GitHub or any other host.
#
#   scripts/setup.sh native   rustfmt, clippy
#   scripts/setup.sh miri     + nightly miri and rust-src
#   scripts/setup.sh wasm     + wasm32 target, wasm-pack, wasm-bindgen-cli (the Cargo.lock version)
#   scripts/setup.sh browser  + wasm, Debian's chromium and chromedriver, Node.js (if missing)
#   scripts/setup.sh nightly  + the nightly toolchain (AddressSanitizer builds)
#   scripts/setup.sh fuzz     + nightly and cargo-fuzz (libFuzzer)
#   scripts/setup.sh tsan     + nightly and rust-src (ThreadSanitizer rebuilds std)
#   scripts/setup.sh all      everything above
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
export PATH="$HOME/.cargo/bin:$PATH"

native() {
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
    # The lint step also checks the wasm32 build of the crate.
    rustup target list --installed | grep -q '^wasm32-unknown-unknown$' ||
        { say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }
    # ... the crate's rust-version (Cargo.toml), which it is also built with ...
    local msrv
    msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
    rustup toolchain list | grep -q "^$msrv-" ||
        { say "installing Rust $msrv (the crate's rust-version)"; rustup toolchain install "$msrv" --profile minimal; }
    # ... and the no_std build for two bare-metal targets (with and without 64-bit atomics).
    local target
    for target in x86_64-unknown-none thumbv7em-none-eabihf; do
        rustup target list --installed | grep -q "^$target\$" ||
            { say "adding the $target target"; rustup target add "$target"; }
    done
}

miri() {
    if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
        say "installing nightly miri"
        rustup toolchain install nightly --profile minimal --component miri,rust-src
    fi
}

# The wasm-bindgen version this crate is locked to; the CLI must match it exactly, or
# wasm-pack tries to download a matching one (which fails here).
wasm_bindgen_version() {
    cargo metadata --format-version 1 --locked 2>/dev/null |
        python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="wasm-bindgen"))'
}

wasm() {
    # 0.15.1 is the version the browser tests were made with; any installed one is kept.
    have wasm-pack || { say "installing wasm-pack (~2 min)"; cargo install wasm-pack --locked --version 0.15.1; }
    local want
    want=$(wasm_bindgen_version)
    if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$want" ]; then
        # Not --locked: its shipped lockfile pins a crate newer than the registry may have.
        say "installing wasm-bindgen-cli $want (~2 min)"
        cargo install wasm-bindgen-cli --version "=$want" --force
    fi
    # wasm-opt for `make build`: binaryen from npm, at the version its lockfile pins (wasm-pack
    # would fetch it from GitHub; Debian's binaryen 108 breaks wasm-bindgen modules).
    node_and_npm
    local tools
    tools="$(dirname "$0")/wasm-opt"
    if [ "$(cd "$tools" && node -p 'require("binaryen/package.json").version' 2>/dev/null)" != \
        "$(cd "$tools" && node -p 'require("./package-lock.json").packages["node_modules/binaryen"].version')" ]; then
        say "installing binaryen's wasm-opt from npm (~10 s, 104 MB)"
        (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# Node.js runs the page's end-to-end tests and binaryen's wasm-opt: the machine's, or Debian's.
node_and_npm() {
    if ! have node || ! have npm; then
        say "installing Node.js and npm"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
}

browser() {
    wasm
    if ! have chromium || ! have chromedriver; then
        say "installing Debian's chromium and chromium-driver"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
}

# --- reliability (issue 8): nightly for sanitizers, cargo-fuzz for libFuzzer -------------
nightly() {
    rustup toolchain list | grep -q '^nightly' ||
        { say "installing the nightly toolchain"; rustup toolchain install nightly --profile minimal; }
}

fuzz() {
    nightly
    # 0.13.2 is the version the fuzz target was made with; any installed one is kept.
    have cargo-fuzz ||
        { say "installing cargo-fuzz (~1 min)"; cargo install cargo-fuzz --locked --version 0.13.2; }
    # libfuzzer-sys compiles libFuzzer, which is C++.
    have c++ || {
        say "installing Debian's g++ (libFuzzer is C++)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
    }
}
tsan() {
    nightly
    rustup component list --toolchain nightly --installed | grep -q '^rust-src' ||
        { say "adding nightly rust-src"; rustup component add rust-src --toolchain nightly; }
}
# --- end reliability ---------------------------------------------------------------------

case "${1:-all}" in
    native) native ;;
    miri) native; miri ;;
    wasm) native; wasm ;;
    browser) native; browser ;;
    nightly) native; nightly ;;
    fuzz) native; fuzz ;;
    tsan) native; tsan ;;
    all) native; miri; browser; fuzz; tsan ;;
    *) echo "usage: $0 [native|miri|wasm|browser|nightly|fuzz|tsan|all]" >&2; exit 2 ;;
esac
