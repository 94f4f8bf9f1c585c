//! Every committed input of every fuzz target, replayed through the target's model on stable
//! in a plain `cargo test`.
//!
//! A fuzz target is only as good as its model, and a model nobody runs goes stale: the pool's
//! layout changed under `pool_ops` once, and its own seed corpus failed for weeks because only
//! `make fuzz` ran it. So each model lives in `fuzz/models/`, included both by its fuzz target
//! (`fuzz/fuzz_targets/`) and here, and this test decodes each file of `fuzz/corpus/<target>/`
//! exactly as libFuzzer's harness does, runs it, and names every input that fails.

// Native only: the models drive native memory sources, and `arbitrary` is a native dev-dependency.
#![cfg(not(target_arch = "wasm32"))]

use std::any::Any;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};

#[path = "../fuzz/models/pool_ops.rs"]
#[allow(dead_code)]
mod pool_ops;

#[path = "../fuzz/models/size_classes.rs"]
#[allow(dead_code)]
mod size_classes;

#[path = "../fuzz/models/sync_pool.rs"]
#[allow(dead_code)]
mod sync_pool;

#[path = "../fuzz/models/growing_pool.rs"]
#[allow(dead_code)]
mod growing_pool;

#[path = "../fuzz/models/heap.rs"]
#[allow(dead_code)]
mod heap;

#[test]
fn pool_ops_corpus_passes_the_model() {
    replay("pool_ops", pool_ops::run);
}

#[test]
fn size_classes_corpus_passes_the_model() {
    replay("size_classes", size_classes::run);
}

#[test]
fn sync_pool_corpus_passes_the_model() {
    replay("sync_pool", sync_pool::run);
}

#[test]
fn growing_pool_corpus_passes_the_model() {
    replay("growing_pool", growing_pool::run);
}

#[test]
fn heap_corpus_passes_the_model() {
    replay("heap", heap::run);
}

/// Runs every input of `fuzz/corpus/<target>/` through `run`, and fails naming each input
/// that panicked (with its decoded form, as `cargo fuzz fmt` would print it).
fn replay<T: for<'a> Arbitrary<'a> + Debug>(target: &str, run: fn(T)) {
    let files = corpus(target);
    let mut ran = 0;
    let mut failures = Vec::new();
    let quiet_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    for file in &files {
        let bytes = std::fs::read(file).expect("a readable corpus file");
        let Some(input) = decode::<T>(&bytes) else {
            continue;
        };
        let shown = format!("{input:?}");
        ran += 1;
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| run(input))) {
            failures.push(format!(
                "{}: {}\n  input: {}",
                file.display(),
                message(&*panic),
                shorten(&shown)
            ));
        }
    }
    panic::set_hook(quiet_hook);
    assert!(
        failures.is_empty(),
        "{} of {ran} inputs of fuzz/corpus/{target} fail the model:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // An input that decodes to nothing tests nothing: most of a corpus must reach the model.
    assert!(
        ran * 2 >= files.len(),
        "only {ran} of {} inputs of fuzz/corpus/{target} decode",
        files.len()
    );
    println!("fuzz/corpus/{target}: {ran} inputs passed the model");
}

/// The files of a target's committed corpus, in name order.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

/// Decodes `bytes` as libfuzzer-sys 0.4's `fuzz_target!` does for a typed input: too short
/// for the type's size hint, or not decodable, and the input is skipped.
fn decode<T: for<'a> Arbitrary<'a>>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

fn shorten(text: &str) -> String {
    const MOST: usize = 600;
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}
