//! `SyncPool` from one thread: any pool, any sequence of operations, every answer checked
//! against the model in `models/sync_pool.rs` and a `Pool` twin (shared with
//! `tests/fuzz_corpus.rs`, which replays the corpus).
#![no_main]

#[path = "../models/sync_pool.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|input: model::Input| model::run(input));
