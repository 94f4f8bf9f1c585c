//! `Pool`: any pool, any sequence of operations, every answer checked against the model in
//! `models/pool_ops.rs` (shared with `tests/fuzz_corpus.rs`, which replays the corpus).
#![no_main]

#[path = "../models/pool_ops.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|input: model::Input| model::run(input));
