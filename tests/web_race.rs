//! The race's wasm boundary in a real browser: `Race`, as the page's worker uses it.
//!
//! Built with the `race` feature (`make test-wasm` passes it): the module that only the race's
//! Web Worker loads. The page times these calls; here they are checked, not timed.
#![cfg(all(target_arch = "wasm32", feature = "race"))]

use js_sys::Error;
use memory_pool::wasm::JsRace;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const ALLOCATORS: [&str; 4] = ["pool", "sizeClasses", "dlmalloc", "heap"];

fn message<T: core::fmt::Debug>(result: Result<T, Error>) -> String {
    String::from(result.expect_err("this call must throw").message())
}

#[wasm_bindgen_test]
fn every_allocator_runs_every_workload_again_and_again() {
    for name in ALLOCATORS {
        let mut race = JsRace::new(name).unwrap();
        assert_eq!(race.allocator().unwrap(), name);
        race.pair(1000.0).unwrap();
        // The pool holds 16,384 blocks and the heap room for one batch and 16 blocks: batches
        // that kept their blocks would run out on the second.
        for random in [false, true, false] {
            race.batch(1.0, random)
                .unwrap_or_else(|e| panic!("{name}: {}", String::from(e.message())));
        }
        race.pair(10.0).unwrap();
        race.destroy();
    }
}

#[wasm_bindgen_test]
fn an_unknown_allocator_is_refused_with_the_names_to_use() {
    let text = message(JsRace::new("mimalloc"));
    assert!(text.contains("\"mimalloc\""), "{text}");
    for name in ALLOCATORS {
        assert!(text.contains(name), "{text} names {name}");
    }
}

#[wasm_bindgen_test]
fn bad_counts_and_a_destroyed_race_throw_errors_not_panics() {
    let mut race = JsRace::new("pool").unwrap();
    assert!(message(race.pair(-1.0)).starts_with("n must be a whole number"));
    assert!(message(race.batch(f64::NAN, false)).starts_with("reps must be a whole number"));
    race.destroy();
    assert!(message(race.pair(1.0)).contains("destroyed"));
    assert!(message(race.batch(1.0, true)).contains("destroyed"));
    assert!(message(race.allocator()).contains("destroyed"));
    assert_eq!(JsRace::batch_size(), 10_000);
    assert_eq!(JsRace::block_size(), 64);
}
