//! `SizeClasses` through `GlobalAlloc`: any sequence of calls, every answer checked against the
//! model in `models/size_classes.rs` (shared with `tests/fuzz_corpus.rs`, which replays the corpus).
#![no_main]

#[path = "../models/size_classes.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|input: model::Input| model::run(input));
