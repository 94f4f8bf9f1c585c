//! The wasm boundary in a real browser: `Pool` as JavaScript uses it.
//!
//! Run with `wasm-pack test --headless --chrome` (`make test-wasm`). Most tests call the
//! exported methods from Rust, exactly the functions the JS class calls; the tests at the end
//! hand a pool to JavaScript and use the generated class itself (`free` vs. wasm-bindgen's
//! `free`, `destroy`, `Symbol.dispose`, thrown `Error`s).
#![cfg(target_arch = "wasm32")]

use js_sys::{Error, Uint8Array, WebAssembly};
use memory_pool::wasm::{to_usize, wasm_memory, JsPool};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const NEVER_USED: u8 = 0;
const FREE: u8 = 1;
const IN_USE: u8 = 2;

/// Every number JS could pass that is not a whole number in 0 ..= 2^32 - 1.
const BAD_NUMBERS: [f64; 7] = [
    f64::NAN,
    -1.0,
    -0.5,
    1.5,
    4294967296.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

/// Everything JavaScript can observe about a pool's allocation state.
#[derive(Debug, PartialEq)]
struct Snapshot {
    states: Vec<u8>,
    free_list: Vec<u32>,
    counters: [f64; 9],
}

fn snapshot(pool: &JsPool) -> Snapshot {
    Snapshot {
        states: pool.block_states().unwrap().to_vec(),
        free_list: pool.free_list().unwrap().to_vec(),
        counters: [
            pool.in_use().unwrap() as f64,
            pool.peak_in_use().unwrap() as f64,
            pool.total_allocs().unwrap(),
            pool.total_frees().unwrap(),
            pool.next_never_used().unwrap() as f64,
            pool.rejected_not_in_pool().unwrap(),
            pool.rejected_misaligned().unwrap(),
            pool.rejected_double_free().unwrap(),
            pool.block_count().unwrap() as f64,
        ],
    }
}

/// A copy of the pool's whole region (state bytes, padding, blocks) out of linear memory.
fn region_bytes(pool: &JsPool) -> Vec<u8> {
    let base = pool.region_base().unwrap() as u32;
    let size = pool.region_size().unwrap() as u32;
    memory_bytes().subarray(base, base + size).to_vec()
}

/// A fresh view of all of linear memory (fresh: growing memory detaches old views).
fn memory_bytes() -> Uint8Array {
    let memory: WebAssembly::Memory = wasm_memory().unchecked_into();
    Uint8Array::new(&memory.buffer())
}

fn message<T: core::fmt::Debug>(result: Result<T, Error>) -> String {
    String::from(result.expect_err("this call must throw").message())
}

/// Asserts that `call` throws `expected` (or a message starting with it, for a prefix
/// ending in `…`), and that the pool's map, counters and every byte of its region are as
/// before, except `rejected`, the one refused-free counter allowed to go up by one.
fn assert_refused<T: core::fmt::Debug>(
    pool: &mut JsPool,
    expected: &str,
    rejected: Option<usize>,
    call: impl FnOnce(&mut JsPool) -> Result<T, Error>,
) {
    let (before, bytes_before) = (snapshot(pool), region_bytes(pool));
    let got = message(call(pool));
    match expected.strip_suffix('…') {
        Some(prefix) => assert!(got.starts_with(prefix), "{got:?} should start {prefix:?}"),
        None => assert_eq!(got, expected),
    }
    let mut after = snapshot(pool);
    if let Some(counter) = rejected {
        after.counters[counter] -= 1.0;
    }
    assert_eq!(after, before, "the pool changed after {got:?}");
    assert_eq!(
        region_bytes(pool),
        bytes_before,
        "memory changed after {got:?}"
    );
}

const NOT_IN_POOL: Option<usize> = Some(5);
const MISALIGNED: Option<usize> = Some(6);
const DOUBLE_FREE: Option<usize> = Some(7);

/// A pool of 8 blocks of 64 bytes with blocks 0, 2, 3 in use, 1 free, 4.. never used.
fn pool_with_history() -> (JsPool, Vec<usize>) {
    let mut pool = JsPool::new(64.0, 8.0).unwrap();
    let blocks: Vec<usize> = (0..4).map(|_| pool.alloc().unwrap().unwrap()).collect();
    pool.free(blocks[1] as f64).unwrap();
    (pool, blocks)
}

#[wasm_bindgen_test]
fn numbers_from_js_are_checked_not_wrapped() {
    assert_eq!(to_usize(0.0, "n").unwrap(), 0);
    assert_eq!(to_usize(64.0, "n").unwrap(), 64);
    assert_eq!(to_usize(4294967295.0, "n").unwrap(), u32::MAX as usize);
    assert_eq!(
        message(to_usize(f64::NAN, "blockSize")),
        "blockSize must be a whole number from 0 to 4294967295, not NaN: it is NaN (not a \
         number: was it undefined, or the result of a failed calculation?)"
    );
    let expected = [
        (-1.0, "not -1: it is negative"),
        (1.5, "not 1.5: it has a fractional part"),
        (
            4294967296.0,
            "not 4294967296: it is larger than 32 bits can hold",
        ),
        (1e300, "it is larger than 32 bits can hold"),
        (f64::INFINITY, "not Infinity: it is infinite"),
        (f64::NEG_INFINITY, "not -Infinity: it is infinite"),
    ];
    for (value, end) in expected {
        let got = message(to_usize(value, "address"));
        assert!(got.starts_with("address must be a whole number"), "{got}");
        assert!(got.ends_with(end), "{got:?} should end {end:?}");
    }
}

#[wasm_bindgen_test]
fn constructor_refuses_bad_numbers_and_impossible_pools() {
    for bad in BAD_NUMBERS {
        let got = message(JsPool::new(bad, 8.0));
        assert!(got.starts_with("blockSize must be a whole number"), "{got}");
        let got = message(JsPool::new(64.0, bad));
        assert!(
            got.starts_with("blockCount must be a whole number"),
            "{got}"
        );
    }
    assert_eq!(
        message(JsPool::new(0.0, 8.0)),
        "a pool's blocks must be at least 1 byte"
    );
    assert_eq!(
        message(JsPool::new(64.0, 0.0)),
        "a pool must have at least 1 block"
    );
    assert_eq!(
        message(JsPool::new(4294967295.0, 2.0)),
        "2 blocks of 4294967295 bytes do not fit in the address space"
    );
    assert_eq!(
        message(JsPool::new(65536.0, 65536.0)),
        "65536 blocks of 65536 bytes do not fit in the address space"
    );
}

#[wasm_bindgen_test]
fn alloc_hands_out_every_block_in_address_order_then_undefined() {
    let mut pool = JsPool::new(20.0, 10.0).unwrap();
    assert_eq!(
        pool.block_size().unwrap(),
        20,
        "20 is already a multiple of 4"
    );
    let start = pool.blocks_start().unwrap();
    for i in 0..10 {
        assert_eq!(pool.alloc().unwrap(), Some(start + i * 20));
        assert_eq!(pool.in_use().unwrap(), i + 1);
    }
    assert_eq!(pool.alloc().unwrap(), None);
    assert_eq!(pool.alloc().unwrap(), None);
    let full = snapshot(&pool);
    assert_eq!(full.states, [IN_USE; 10]);
    assert_eq!(full.free_list, [] as [u32; 0]);
    // in use, peak, allocs, frees, next never used, refused ×3, count
    assert_eq!(full.counters, [10., 10., 10., 0., 10., 0., 0., 0., 10.]);
}

#[wasm_bindgen_test]
fn blocks_freed_in_random_order_come_back_last_freed_first() {
    let mut pool = JsPool::new(24.0, 32.0).unwrap();
    let blocks: Vec<usize> = (0..32).map(|_| pool.alloc().unwrap().unwrap()).collect();
    // A fixed shuffle (xorshift), so a failure is reproducible.
    let mut order: Vec<usize> = (0..32).collect();
    let mut seed = 0x9E37_79B9u32;
    for i in (1..order.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        order.swap(i, seed as usize % (i + 1));
    }
    let mut freed: Vec<u32> = Vec::new();
    for &index in &order {
        pool.free(blocks[index] as f64).unwrap();
        freed.insert(0, index as u32);
        assert_eq!(pool.free_list().unwrap().to_vec(), freed);
        assert_eq!(pool.block_states().unwrap().to_vec()[index], FREE);
    }
    assert_eq!(pool.in_use().unwrap(), 0);
    assert_eq!(pool.peak_in_use().unwrap(), 32);
    assert_eq!(pool.total_frees().unwrap(), 32.0);
    for &index in freed.clone().iter() {
        assert_eq!(pool.alloc().unwrap(), Some(blocks[index as usize]));
    }
    assert_eq!(pool.alloc().unwrap(), None);
}

#[wasm_bindgen_test]
fn double_free_is_refused_with_its_message_and_pool_unchanged() {
    let (mut pool, blocks) = pool_with_history();
    let expected = format!("double free: block 1 at {:#x} is already free", blocks[1]);
    assert_refused(&mut pool, &expected, DOUBLE_FREE, |p| {
        p.free(blocks[1] as f64)
    });
    // The brief's example shape, for a block freed after others.
    pool.free(blocks[3] as f64).unwrap();
    let expected = format!("double free: block 3 at {:#x} is already free", blocks[3]);
    assert_refused(&mut pool, &expected, DOUBLE_FREE, |p| {
        p.free(blocks[3] as f64)
    });
}

#[wasm_bindgen_test]
fn free_of_a_never_allocated_block_is_refused_and_pool_unchanged() {
    let (mut pool, _) = pool_with_history();
    let block_5 = pool.address_of(5.0).unwrap();
    let expected = format!("invalid free: block 5 at {block_5:#x} was never allocated");
    assert_refused(&mut pool, &expected, DOUBLE_FREE, |p| {
        p.free(block_5 as f64)
    });
}

#[wasm_bindgen_test]
fn misaligned_free_is_refused_and_pool_unchanged() {
    let (mut pool, blocks) = pool_with_history();
    for offset in [1, 4, 63] {
        let address = blocks[2] + offset;
        let expected = format!(
            "misaligned free: {address:#x} is {offset} bytes into block 2 (which starts at \
             {:#x}); only the start of a block can be freed",
            blocks[2]
        );
        assert_refused(&mut pool, &expected, MISALIGNED, |p| p.free(address as f64));
    }
}

#[wasm_bindgen_test]
fn foreign_addresses_are_refused_and_pool_unchanged() {
    let (mut pool, _) = pool_with_history();
    let base = pool.region_base().unwrap();
    let end_of_blocks = pool.blocks_start().unwrap() + 8 * 64;
    let other = JsPool::new(64.0, 8.0).unwrap().alloc().unwrap().unwrap();
    for address in [base, base + 3, end_of_blocks, other, 1, u32::MAX as usize] {
        let expected = format!(
            "{address:#x} is not a block of this pool: it points outside the pool's blocks"
        );
        assert_refused(&mut pool, &expected, NOT_IN_POOL, |p| {
            p.free(address as f64)
        });
    }
    // Null is refused with the same words, but never reaches the core, so is not counted.
    let expected = "0x0 is not a block of this pool: it points outside the pool's blocks";
    assert_refused(&mut pool, expected, None, |p| p.free(0.0));
}

#[wasm_bindgen_test]
fn every_method_refuses_bad_numbers_and_changes_nothing() {
    let (mut pool, blocks) = pool_with_history();
    let block = blocks[0] as f64;
    let bytes = Uint8Array::from(&[1u8, 2, 3][..]);
    for bad in BAD_NUMBERS {
        let expect = |name: &str| format!("{name} must be a whole number from 0 to 4294967295…");
        assert_refused(&mut pool, &expect("address"), None, |p| p.free(bad));
        assert_refused(&mut pool, &expect("index"), None, |p| p.address_of(bad));
        assert_refused(&mut pool, &expect("address"), None, |p| p.index_of(bad));
        assert_refused(&mut pool, &expect("address"), None, |p| {
            p.read_bytes(bad, 1.0)
        });
        assert_refused(&mut pool, &expect("length"), None, |p| {
            p.read_bytes(block, bad)
        });
        assert_refused(&mut pool, &expect("address"), None, |p| {
            p.write_bytes(bad, &bytes)
        });
    }
}

#[wasm_bindgen_test]
fn address_of_and_index_of_translate_and_refuse_outside() {
    let (mut pool, blocks) = pool_with_history();
    let start = pool.blocks_start().unwrap();
    for index in 0..8 {
        let address = pool.address_of(index as f64).unwrap();
        assert_eq!(address, start + index * 64);
        for offset in [0, 1, 63] {
            assert_eq!(pool.index_of((address + offset) as f64).unwrap(), index);
        }
    }
    assert_eq!(pool.address_of(0.0).unwrap(), blocks[0]);
    let expected = "there is no block 8: this pool's blocks are numbered 0 to 7";
    assert_refused(&mut pool, expected, None, |p| p.address_of(8.0));
    for address in [start - 1, start + 8 * 64, pool.region_base().unwrap()] {
        let expected = format!(
            "{address:#x} is not a block of this pool: it points outside the pool's blocks"
        );
        assert_refused(&mut pool, &expected, None, |p| p.index_of(address as f64));
    }
}

#[wasm_bindgen_test]
fn bytes_written_through_one_block_never_appear_in_another() {
    let mut pool = JsPool::new(30.0, 6.0).unwrap(); // 32-byte blocks
    let size = pool.block_size().unwrap();
    assert_eq!(size, 32);
    let blocks: Vec<usize> = (0..6).map(|_| pool.alloc().unwrap().unwrap()).collect();
    let pattern = |i: usize| -> Vec<u8> { (0..size).map(|j| (i * 40 + j) as u8 | 1).collect() };
    for (i, &block) in blocks.iter().enumerate() {
        let before = region_bytes(&pool);
        pool.write_bytes(block as f64, &Uint8Array::from(&pattern(i)[..]))
            .unwrap();
        let after = region_bytes(&pool);
        // Only this block's bytes changed, in the whole region.
        let offset = block - pool.region_base().unwrap();
        for (k, (old, new)) in before.iter().zip(&after).enumerate() {
            if !(offset..offset + size).contains(&k) {
                assert_eq!(old, new, "byte {k} of the region changed writing block {i}");
            }
        }
        assert_eq!(after[offset..offset + size], pattern(i)[..]);
    }
    for (i, &block) in blocks.iter().enumerate() {
        assert_eq!(
            pool.read_bytes(block as f64, size as f64).unwrap().to_vec(),
            pattern(i)
        );
    }
    // A partial write inside a block, and a read of its middle.
    pool.write_bytes((blocks[2] + 30) as f64, &Uint8Array::from(&[7u8, 8][..]))
        .unwrap();
    assert_eq!(
        pool.read_bytes((blocks[2] + 29) as f64, 3.0)
            .unwrap()
            .to_vec(),
        [pattern(2)[29], 7, 8]
    );
    assert_eq!(
        pool.read_bytes((blocks[3]) as f64, 0.0).unwrap().length(),
        0
    );
    assert_eq!(
        pool.read_bytes((blocks[3]) as f64, 1.0).unwrap().to_vec(),
        [pattern(3)[0]]
    );
}

#[wasm_bindgen_test]
fn reads_and_writes_outside_one_in_use_block_are_refused_and_write_nothing() {
    let (mut pool, blocks) = pool_with_history(); // 64-byte blocks; 1 free, 4.. never used
    let never_used = pool.address_of(6.0).unwrap();
    let base = pool.region_base().unwrap();
    let end_of_blocks = pool.blocks_start().unwrap() + 8 * 64;
    let one = Uint8Array::from(&[0xEEu8][..]);
    let across = Uint8Array::from(&[0xEEu8; 2][..]);
    let too_long = Uint8Array::from(&[0xEEu8; 65][..]);

    let not_in_use = |index: usize, address: usize| {
        format!(
            "block {index} (at {address:#x}) is not in use: only a block that alloc() handed out, \
             and that is not freed yet, may be read or written"
        )
    };
    let outside = |address: usize| {
        format!("{address:#x} is not a block of this pool: it points outside the pool's blocks")
    };
    let expected = not_in_use(1, blocks[1]);
    assert_refused(&mut pool, &expected, None, |p| {
        p.write_bytes(blocks[1] as f64, &one)
    });
    assert_refused(&mut pool, &expected, None, |p| {
        p.read_bytes(blocks[1] as f64, 1.0)
    });
    let expected = not_in_use(6, never_used + 5);
    assert_refused(&mut pool, &expected, None, |p| {
        p.write_bytes((never_used + 5) as f64, &one)
    });
    for address in [base, end_of_blocks] {
        let expected = outside(address);
        assert_refused(&mut pool, &expected, None, |p| {
            p.write_bytes(address as f64, &one)
        });
        assert_refused(&mut pool, &expected, None, |p| {
            p.read_bytes(address as f64, 1.0)
        });
    }
    // Block 2 is in use, and so is block 3 right after it: still no write across the edge.
    let last = blocks[2] + 63;
    let expected = format!(
        "2 bytes at {last:#x} do not fit in block 2: it has 64 bytes and {last:#x} is 63 bytes \
         into it, so at most 1 bytes fit"
    );
    assert_refused(&mut pool, &expected, None, |p| {
        p.write_bytes(last as f64, &across)
    });
    assert_refused(&mut pool, &expected, None, |p| {
        p.read_bytes(last as f64, 2.0)
    });
    let expected = format!(
        "65 bytes at {:#x} do not fit in block 0: it has 64 bytes and {:#x} is 0 bytes into \
         it, so at most 64 bytes fit",
        blocks[0], blocks[0]
    );
    assert_refused(&mut pool, &expected, None, |p| {
        p.write_bytes(blocks[0] as f64, &too_long)
    });
    assert_refused(&mut pool, &expected, None, |p| {
        p.read_bytes(blocks[0] as f64, 65.0)
    });
    let expected = "4294967295 bytes at…";
    assert_refused(&mut pool, expected, None, |p| {
        p.read_bytes(blocks[0] as f64, 4294967295.0)
    });
}

#[wasm_bindgen_test]
fn memory_map_matches_what_was_done() {
    let mut pool = JsPool::new(13.0, 12.0).unwrap();
    let size = pool.block_size().unwrap();
    assert_eq!(size, 16, "rounded up to a multiple of 4");
    let (base, start) = (pool.region_base().unwrap(), pool.blocks_start().unwrap());
    let metadata = start - base;
    assert_eq!(
        pool.states_address().unwrap(),
        start - 12,
        "the state bytes are just below the blocks"
    );
    // Below them, the chunk lists: a head and a stack link per chunk, at least one chunk.
    assert!(metadata >= 12 + 2 * 4, "chunk lists, then 12 state bytes");
    assert_eq!(start % 4, 0);
    // Linear memory places the region so that the blocks fall aligned: it needs no room to
    // align them, which `Pool::region_size` counts.
    assert!(pool.region_size().unwrap() <= memory_pool::Pool::region_size(13, 12).unwrap());
    assert!(pool.region_size().unwrap() >= metadata + 12 * size);

    // A model of what JS did: alloc 7, free 5, 2 and 6, alloc 1 (gets 6 back).
    let blocks: Vec<usize> = (0..7).map(|_| pool.alloc().unwrap().unwrap()).collect();
    for index in [5, 2, 6] {
        pool.free(blocks[index] as f64).unwrap();
    }
    assert_eq!(pool.alloc().unwrap(), Some(blocks[6]));
    let mut expected = [NEVER_USED; 12];
    expected[..7].fill(IN_USE);
    expected[5] = FREE;
    expected[2] = FREE;
    let snap = snapshot(&pool);
    assert_eq!(snap.states, expected);
    assert_eq!(snap.free_list, [2, 5]);
    // in use, peak, allocs, frees, next never used, refused ×3, count
    assert_eq!(snap.counters, [5., 7., 8., 3., 7., 0., 0., 0., 12.]);

    // The live view JS is told to make shows the same bytes, and follows the next change.
    let states = pool.states_address().unwrap() as u32;
    let view = || memory_bytes().subarray(states, states + 12).to_vec();
    assert_eq!(view(), expected);
    pool.free(blocks[0] as f64).unwrap();
    expected[0] = FREE;
    assert_eq!(view(), expected);
    assert_eq!(pool.block_states().unwrap().to_vec(), expected);
}

#[wasm_bindgen_test]
fn destroyed_pool_refuses_every_call_with_a_clear_error() {
    let (mut pool, blocks) = pool_with_history();
    pool.destroy().unwrap();
    let destroyed = "this pool was destroyed (destroy() released its memory); create a new Pool \
                     to go on";
    let address = blocks[0] as f64;
    let messages = [
        message(pool.alloc()),
        message(pool.free(address)),
        message(pool.destroy()),
        message(pool.block_size()),
        message(pool.block_count()),
        message(pool.in_use()),
        message(pool.peak_in_use()),
        message(pool.total_allocs()),
        message(pool.total_frees()),
        message(pool.next_never_used()),
        message(pool.rejected_not_in_pool()),
        message(pool.rejected_misaligned()),
        message(pool.rejected_double_free()),
        message(pool.region_base()),
        message(pool.region_size()),
        message(pool.blocks_start()),
        message(pool.states_address()),
        message(pool.block_states()),
        message(pool.free_list()),
        message(pool.address_of(0.0)),
        message(pool.index_of(address)),
        message(pool.write_bytes(address, &Uint8Array::new_with_length(1))),
        message(pool.read_bytes(address, 1.0)),
    ];
    for got in messages {
        assert_eq!(got, destroyed);
    }
}

#[wasm_bindgen_test]
fn destroyed_pool_region_is_reused_and_memory_stops_growing() {
    // 256 KiB pools, created and destroyed over and over. The first round may grow memory
    // (or take a released chunk that then merges with its neighbours); from then on every
    // pool gets the same region back and memory does not grow.
    let mut first = JsPool::new(1024.0, 256.0).unwrap();
    let (first_base, size) = (first.region_base().unwrap(), first.region_size().unwrap());
    first.destroy().unwrap();
    let bytes_after_first = memory_bytes().length();
    let mut steady_base = None;
    for round in 0..200 {
        let mut pool = JsPool::new(1024.0, 256.0).unwrap();
        let base = pool.region_base().unwrap();
        assert_eq!(*steady_base.get_or_insert(base), base, "round {round}");
        // A reused region starts like a fresh one: zeroed, every block never used.
        assert_eq!(pool.block_states().unwrap().to_vec(), [NEVER_USED; 256]);
        let block = pool.alloc().unwrap().unwrap();
        assert_eq!(
            pool.read_bytes(block as f64, 1024.0).unwrap().to_vec(),
            [0; 1024]
        );
        pool.write_bytes(block as f64, &Uint8Array::from(&[0xAB; 1024][..]))
            .unwrap();
        pool.destroy().unwrap();
    }
    assert_eq!(memory_bytes().length(), bytes_after_first, "memory grew");
    // The steady region overlaps the first pool's: its memory was reused, not left behind.
    let steady = steady_base.unwrap();
    assert!(
        steady < first_base + size && first_base < steady + size,
        "first pool at {first_base:#x}, later ones at {steady:#x}, {size} bytes each"
    );
}

// --- The generated JavaScript class itself ---

#[wasm_bindgen(inline_js = r#"
function expectThrow(what, call, start) {
    let threw = false;
    try { call(); } catch (e) {
        threw = true;
        if (!(e instanceof Error)) throw new Error(`${what}: threw ${e}, not an Error`);
        if (!e.message.startsWith(start)) throw new Error(`${what}: "${e.message}" does not start "${start}"`);
    }
    if (!threw) throw new Error(`${what}: did not throw`);
}
function expectEqual(what, got, want) {
    if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
}

export function useFromJavaScript(pool, memory) {
    const Pool = pool.constructor;
    expectEqual("class name", Pool.name, "Pool");
    expectEqual("wasmMemory", memory instanceof WebAssembly.Memory, true);
    expectEqual("blockSize", pool.blockSize, 64);
    expectEqual("blockCount", pool.blockCount, 4);
    const a = pool.alloc(), b = pool.alloc();
    expectEqual("alloc gives numbers", typeof a, "number");
    expectEqual("addresses", b - a, 64);
    pool.alloc(); pool.alloc();
    expectEqual("alloc when full", pool.alloc(), undefined);
    // `free` is the pool's free(address), not wasm-bindgen's generated free().
    pool.free(a);
    expectEqual("inUse after free", pool.inUse, 3);
    expectThrow("double free", () => pool.free(a), `double free: block 0 at 0x${a.toString(16)} is already free`);
    expectThrow("free()", () => pool.free(), "address must be a whole number from 0 to 4294967295, not NaN");
    expectThrow("free('x')", () => pool.free("x"), "address must be a whole number");
    expectThrow("free(-1)", () => pool.free(-1), "address must be a whole number from 0 to 4294967295, not -1");
    expectThrow("free(2**32)", () => pool.free(2 ** 32), "address must be a whole number from 0 to 4294967295, not 4294967296");
    expectEqual("rejectedDoubleFree", pool.rejectedDoubleFree, 1);
    expectEqual("inUse unchanged", pool.inUse, 3);
    expectEqual("blockStates", pool.blockStates() instanceof Uint8Array, true);
    expectEqual("blockStates", pool.blockStates().join(), "1,2,2,2");
    expectEqual("live view", new Uint8Array(memory.buffer, pool.statesAddress, pool.blockCount).join(), "1,2,2,2");
    expectEqual("freeList", pool.freeList() instanceof Uint32Array, true);
    expectEqual("freeList", pool.freeList().join(), "0");
    expectEqual("metadata", pool.blocksStart - pool.regionBase >= 4, true);
    pool.writeBytes(b, new Uint8Array([9, 8, 7]));
    expectEqual("readBytes", pool.readBytes(b, 3).join(), "9,8,7");
    expectEqual("bytes in memory", new Uint8Array(memory.buffer, b, 3).join(), "9,8,7");
    expectThrow("writeBytes into a free block", () => pool.writeBytes(a, new Uint8Array(1)), "block 0 (at ");
    expectThrow("writeBytes of an Array", () => pool.writeBytes(b, [1, 2]), "bytes must be a Uint8Array");
    expectThrow("writeBytes of a number", () => pool.writeBytes(b, 5), "bytes must be a Uint8Array");
    expectEqual("nothing written", pool.readBytes(b, 3).join(), "9,8,7");
    expectEqual("indexOf", pool.indexOf(b + 5), 1);
    expectEqual("addressOf", pool.addressOf(1), b);
    // Block 0 is the only free block: its link (its first word, in blocks this small) holds
    // an end mark: an odd address in the same chunk.
    expectEqual("linkAddress", pool.linkAddress(0), a);
    const end = new DataView(memory.buffer).getUint32(pool.linkAddress(0), true);
    expectEqual("end mark is odd", end % 2, 1);
    expectEqual("end mark in the chunk", Math.floor(end / pool.chunkBytes), Math.floor(a / pool.chunkBytes));
    expectThrow("linkAddress(4)", () => pool.linkAddress(4), "there is no block 4");

    expectThrow("new Pool(NaN, 4)", () => new Pool(NaN, 4), "blockSize must be a whole number");
    expectThrow("new Pool(64, 1.5)", () => new Pool(64, 1.5), "blockCount must be a whole number");
    expectThrow("new Pool(0, 4)", () => new Pool(0, 4), "a pool's blocks must be at least 1 byte");

    // Symbol.dispose releases the pool (wasm-bindgen would point it at `free`).
    if (Symbol.dispose) {
        expectEqual("Symbol.dispose is destroy", Pool.prototype[Symbol.dispose], Pool.prototype.destroy);
        const disposable = new Pool(8, 2);
        disposable[Symbol.dispose]();
        expectThrow("alloc after dispose", () => disposable.alloc(), "this pool was destroyed");
    }

    pool.destroy();
    const destroyed = "this pool was destroyed (destroy() released its memory)";
    expectThrow("alloc after destroy", () => pool.alloc(), destroyed);
    expectThrow("free after destroy", () => pool.free(a), destroyed);
    expectThrow("destroy after destroy", () => pool.destroy(), destroyed);
    expectThrow("inUse after destroy", () => pool.inUse, destroyed);
    expectThrow("blockStates after destroy", () => pool.blockStates(), destroyed);
    expectThrow("readBytes after destroy", () => pool.readBytes(b, 1), destroyed);
    // Pool after pool: destroyed regions are reused, so memory stops growing.
    new Pool(64, 4).destroy();
    const bytes = memory.buffer.byteLength;
    for (let i = 0; i < 100; i++) new Pool(64, 4).destroy();
    expectEqual("memory after 100 pools", memory.buffer.byteLength, bytes);
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = useFromJavaScript)]
    fn use_from_javascript(pool: JsPool, memory: JsValue) -> Result<(), JsValue>;
}

#[wasm_bindgen_test]
fn javascript_sees_the_documented_class_and_clear_errors() {
    let pool = JsPool::new(64.0, 4.0).unwrap();
    if let Err(error) = use_from_javascript(pool, wasm_memory()) {
        panic!(
            "{}",
            String::from(error.unchecked_into::<Error>().message())
        );
    }
}
