//! The teaching heap's wasm boundary in a real browser: `Heap` as the playground uses it.
//!
//! Run with the other browser suites by `make test-wasm`. The Rust tests call the exported
//! methods, exactly the functions the JS class calls; the last test hands a heap to
//! JavaScript and uses the generated class itself.
#![cfg(target_arch = "wasm32")]

use js_sys::Error;
use memory_pool::wasm::JsHeap;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The heap's blocks as (address, size, used) triples.
fn blocks(heap: &JsHeap) -> Vec<(u32, u32, bool)> {
    let flat = heap.blocks().unwrap().to_vec();
    flat.chunks(3).map(|b| (b[0], b[1], b[2] == 1)).collect()
}

fn message<T: core::fmt::Debug>(result: Result<T, Error>) -> String {
    String::from(result.expect_err("this call must throw").message())
}

#[wasm_bindgen_test]
fn blocks_tile_the_heap_and_alloc_returns_the_address_after_a_header() {
    let mut heap = JsHeap::new(256.0).unwrap();
    let header = JsHeap::header_size() as u32;
    assert_eq!(header, 4, "a header is one wasm32 word");
    let a = heap.alloc(10.0).unwrap().expect("room for 10 bytes") as u32;
    let b = heap.alloc(30.0).unwrap().expect("room for 30 bytes") as u32;
    let map = blocks(&heap);
    assert_eq!(
        map[0],
        (a - header, 12 + header, true),
        "10 rounds up to 12, plus a header"
    );
    assert_eq!(map[1], (b - header, 32 + header, true));
    assert!(!map[2].2, "the rest of the heap is one free block");
    let total: u32 = map.iter().map(|block| block.1).sum();
    assert_eq!(total as usize, heap.size().unwrap());
    assert_eq!(heap.in_use().unwrap(), 2);
    assert_eq!(heap.header_bytes().unwrap(), 2 * header as usize);
}

#[wasm_bindgen_test]
fn misuse_throws_the_heap_message_and_changes_nothing() {
    let mut heap = JsHeap::new(256.0).unwrap();
    let a = heap.alloc(16.0).unwrap().unwrap() as f64;
    let _b = heap.alloc(16.0).unwrap().unwrap();
    heap.free(a).unwrap();
    let before = blocks(&heap);
    assert!(message(heap.free(a)).starts_with("double free: the block at 0x"));
    assert!(
        message(heap.free(a + 4.0)).contains("4 bytes into the free block")
            || message(heap.free(a + 4.0)).starts_with("double free?")
    );
    assert!(message(heap.free(8.0)).ends_with("it points outside the heap's region"));
    assert!(message(heap.free(0.0)).starts_with("0x0 is not a block of this heap"));
    assert!(message(heap.free(-1.0)).starts_with("address must be a whole number"));
    assert!(message(heap.alloc(f64::NAN)).starts_with("size must be a whole number"));
    assert_eq!(blocks(&heap), before);
    assert_eq!(heap.total_frees().unwrap(), 1.0);
    assert!(heap.rejected_frees().unwrap() >= 4.0);
}

#[wasm_bindgen_test]
fn holes_between_live_blocks_are_external_fragmentation() {
    let mut heap = JsHeap::new(8.0 * 36.0).unwrap();
    let blocks: Vec<f64> = (0..8)
        .map(|_| heap.alloc(32.0).unwrap().unwrap() as f64)
        .collect();
    for block in blocks.iter().step_by(2) {
        heap.free(*block).unwrap();
    }
    assert_eq!(heap.total_free().unwrap(), 4 * 36);
    assert_eq!(heap.largest_free().unwrap(), 36);
    assert_eq!(heap.largest_request().unwrap(), 32);
    assert!((heap.fragmentation().unwrap() - 0.75).abs() < 1e-12);
    assert_eq!(heap.alloc(33.0).unwrap(), None, "no hole fits 33 bytes");
    assert_eq!(heap.failed_allocs().unwrap(), 1.0);
    heap.free(blocks[1]).unwrap(); // merges the two holes around it
    assert_eq!(heap.merges().unwrap(), 2.0);
    assert_eq!(heap.largest_free().unwrap(), 3 * 36);
}

#[wasm_bindgen_test]
fn a_destroyed_heap_says_so() {
    let mut heap = JsHeap::new(64.0).unwrap();
    heap.destroy().unwrap();
    assert!(message(heap.alloc(8.0)).starts_with("this heap was destroyed"));
    assert!(message(heap.destroy()).starts_with("this heap was destroyed"));
    assert!(message(JsHeap::new(3.0)).starts_with("a heap of 3 bytes cannot hold a single block"));
}

#[wasm_bindgen(inline_js = r#"
export function useHeapFromJavaScript(heap) {
    const a = heap.alloc(24);
    if (typeof a !== 'number') throw new Error(`alloc returned ${a}`);
    heap.free(a);
    try { heap.free(a); throw new Error('a double free did not throw'); } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith('double free')) throw e;
    }
    const blocks = heap.blocks();
    if (!(blocks instanceof Uint32Array) || blocks.length !== 3) throw new Error(`blocks: ${blocks}`);
    heap[Symbol.dispose]?.();
    if (Symbol.dispose) {
        try { heap.alloc(1); throw new Error('Symbol.dispose did not destroy the heap'); } catch (e) {
            if (!e.message.startsWith('this heap was destroyed')) throw e;
        }
    }
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = useHeapFromJavaScript)]
    fn use_heap_from_javascript(heap: JsHeap) -> Result<(), JsValue>;
}

#[wasm_bindgen_test]
fn javascript_frees_with_free_and_releases_with_dispose() {
    let heap = JsHeap::new(128.0).unwrap();
    if let Err(error) = use_heap_from_javascript(heap) {
        panic!(
            "{}",
            String::from(error.unchecked_into::<Error>().message())
        );
    }
}
