//! `GrowingPool`: any growing pool, any sequence of operations, every answer checked against
//! the model in `models/growing_pool.rs` (shared with `tests/fuzz_corpus.rs`, which replays
//! the corpus).
#![no_main]

#[path = "../models/growing_pool.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|input: model::Input| model::run(input));
