//! `Heap`: the teaching heap, any sequence of operations, every answer checked against the
//! model in `models/heap.rs` (shared with `tests/fuzz_corpus.rs`, which replays the corpus).
#![no_main]

#[path = "../models/heap.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|input: model::Input| model::run(input));
