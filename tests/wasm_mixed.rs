//! The mixed workload of `benches/size_classes.rs` on wasm32: `SizeClasses` against the
//! allocators a wasm module would otherwise use, dlmalloc (Rust's default on wasm32) and
//! talc. Timed with `performance.now()`; ignored by default (a benchmark, not a check), run
//! with `make bench-size-classes-wasm`:
//!
//! `wasm-pack test --node --release -- --test wasm_mixed -- --include-ignored`

#![cfg(target_arch = "wasm32")]

use std::alloc::GlobalAlloc;

use memory_pool::SizeClasses;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

#[path = "../benches/mixed/workload.rs"]
mod workload;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance)]
    fn now() -> f64;
}

static SIZE_CLASSES: SizeClasses = SizeClasses::new();
static DLMALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// Linear memory's size in KiB.
fn memory_kib() -> usize {
    core::arch::wasm32::memory_size(0) * 64
}

/// Runs the script `runs` times; returns the fastest run in milliseconds and how much linear
/// memory the allocator grew (the contenders run one after another, so each one's growth is
/// its own heap, less what it could reuse from memory released earlier).
fn measure(allocator: &dyn GlobalAlloc, steps: &[workload::Step], runs: usize) -> (f64, usize) {
    let mut slots = workload::slots();
    let before = memory_kib();
    workload::run(allocator, steps, &mut slots); // warm up: grow the heap once
    let fastest = (0..runs)
        .map(|_| {
            let start = now();
            workload::run(allocator, steps, &mut slots);
            now() - start
        })
        .fold(f64::INFINITY, f64::min);
    (fastest, memory_kib() - before)
}

#[wasm_bindgen_test]
#[ignore = "a benchmark: run with --include-ignored, in release mode"]
fn mixed_workload_against_dlmalloc_and_talc() {
    let contenders: [(&str, &dyn GlobalAlloc); 3] = [
        ("size-classes", &SIZE_CLASSES),
        ("dlmalloc", &DLMALLOC),
        ("talc", &TALC),
    ];
    // The allocators are `static`s: zeroed linear memory from the start, beside what each grows.
    console_log!(
        "statics: size-classes {} B, talc {} B; linear memory at start {} KiB",
        size_of::<SizeClasses>(),
        size_of::<talc::wasm::WasmDynamicTalc>(),
        memory_kib()
    );
    for (name, steps) in [
        ("uniform-1B-10KB", workload::script(workload::uniform)),
        (
            "log-uniform-1B-10KB",
            workload::script(workload::log_uniform),
        ),
    ] {
        for (contender, allocator) in contenders {
            let (ms, grown) = measure(allocator, &steps, 15);
            let mops = workload::OPERATIONS as f64 / ms / 1_000.0;
            console_log!(
                "mixed/{name}/{contender}: {ms:.2} ms per run, {mops:.1} M ops/s, \
                 linear memory grown by {grown} KiB"
            );
        }
    }
}
