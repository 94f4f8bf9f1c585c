//! The wasm boundary: the pool as JavaScript sees it (wasm32 only).
//!
//! This module is only the boundary. It owns three jobs and nothing else:
//! - **checking what JavaScript passes in.** A JS number is an `f64`, and wasm-bindgen's
//!   own `u32`/`usize` conversion silently wraps (`-1` becomes `4294967295`, `1.5` becomes
//!   `1`). Every number from JS is therefore taken as `f64` and checked by `to_usize`: NaN,
//!   ±Infinity, negative, fractional and anything above `2^32 - 1` are refused with an
//!   `Error` that names the argument and the value.
//! - **turning every failure into a JS `Error`** with a message a learner can read: Rust
//!   errors go through `js_error`. No panic crosses the boundary on purpose; if a bug
//!   panics anyway, `install_panic_hook` makes the browser console show the Rust message.
//! - **handing the memory map over cheaply**: counters as numbers, block states and the free
//!   list as typed arrays, and the address of the state bytes so JS can *view* them in
//!   `memory.buffer` without copying anything.
//!
//! # The JavaScript API
//!
//! ```js
//! import init, { Pool, wasmMemory } from "./pkg/memory_pool.js";
//! await init();
//!
//! const pool = new Pool(64, 16);        // 16 blocks of 64 bytes; throws Error for bad numbers
//! const a = pool.alloc();               // a block's address in linear memory (a number),
//! pool.alloc();                         //   or undefined when every block is in use
//! pool.writeBytes(a, new Uint8Array([1, 2, 3]));  // only inside one in-use block
//! pool.readBytes(a, 3);                 // Uint8Array [1, 2, 3], a copy
//! pool.free(a);                         // gives the block back
//! pool.free(a);                         // throws Error("double free: block 0 at 0x… is already free")
//!
//! // The memory map, for drawing it on every frame:
//! pool.blockStates();                   // Uint8Array, one byte per block: 0 never used, 1 free, 2 in use
//! new Uint8Array(wasmMemory().buffer, pool.statesAddress, pool.blockCount); // the same bytes, live
//! pool.freeList();                      // Uint32Array of block indices, the order alloc pops them
//! pool.regionBase; pool.blocksStart;    // metadata is blocksStart - regionBase bytes, then the blocks
//!
//! pool.destroy();                       // the region goes back to be reused by the next Pool
//! pool.alloc();                         // throws Error("this pool was destroyed …")
//! ```
//!
//! | member | what it does |
//! |---|---|
//! | `new Pool(blockSize, blockCount)` | creates a pool; throws `Error` for bad numbers or a `PoolError` |
//! | `alloc()` | `number` (block address) or `undefined` when the pool is full |
//! | `free(address)` | gives a block back; throws `Error` with the `FreeError` message, pool unchanged |
//! | `destroy()` | releases the region; every later call on this object throws `Error` |
//! | `blockSize`, `blockCount`, `inUse`, `peakInUse`, `totalAllocs`, `totalFrees`, `nextNeverUsed` | counters (numbers) |
//! | `rejectedNotInPool`, `rejectedMisaligned`, `rejectedDoubleFree` | refused frees, by reason |
//! | `regionBase`, `regionSize`, `blocksStart`, `statesAddress` | the region's layout, as addresses |
//! | `blockStates()` | `Uint8Array` copy of the state bytes, address order |
//! | `freeList()` | `Uint32Array` of block indices, pop order |
//! | `addressOf(index)`, `indexOf(address)` | block index ↔ address; throw outside the pool |
//! | `writeBytes(address, bytes)`, `readBytes(address, length)` | the real bytes of one in-use block |
//! | `wasmMemory()` | the module's `WebAssembly.Memory` |
//!
//! # `free` and `destroy`
//!
//! wasm-bindgen gives every exported class a method `free()` that releases the Rust object
//! behind it, and points `Symbol.dispose` at it. Here `free(address)` is the pool's own free,
//! exported under that name on purpose (it is what the page teaches), and it replaces the
//! generated one. Releasing the pool is `destroy()`: it drops the pool, so its region goes
//! back to the module's list of released memory and the next `Pool` reuses it. The small JS
//! handle object stays valid but empty, so calling it again gives a clear `Error` instead of
//! wasm-bindgen's "null pointer passed to rust"; the few bytes of the handle itself are
//! released by wasm-bindgen's `FinalizationRegistry` when JavaScript drops the object (which
//! also releases the region of a pool that was never destroyed). wasm-bindgen also points
//! `Symbol.dispose` at `free`; the constructor points it at `destroy` instead, so
//! `using pool = new Pool(…)` works. The generated `.d.ts` still declares the generated
//! `free(): void` next to `free(address: number): void`; only the second exists.
//!
//! # For other boundary modules
//!
//! `to_usize`, `js_error` and `install_panic_hook` are shared: an exported type checks
//! its numbers with the first, maps its errors with the second and calls the third in its
//! constructor.

use core::fmt;
use std::string::ToString;

use js_sys::Error;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

mod pool;
pub use pool::JsPool;

// Issue 18's figures: a write through a stale pointer (more `Pool` methods).
mod use_after_free;
// The module's own heap: SizeClasses as its global allocator (feature `page-heap`), counted.
mod own_heap;
pub use own_heap::CountingClasses;
// A million blocks: batches of calls on one big pool.
mod million;
// A real program's allocation trace, replayed on the teaching heap and the size classes.
mod trace;
pub use trace::JsTraceReplay;

// The teaching heap, for the page's pool-vs-heap comparison.
mod heap;
pub use heap::JsHeap;

// The benchmarks' workloads, timed in the reader's browser (the page's "race"), in the
// module only the race's worker loads (feature `race`).
#[cfg(feature = "race")]
mod race;
#[cfg(feature = "race")]
pub use race::JsRace;

/// The largest number accepted where JS passes an address, size, count or index: linear
/// memory is addressed with 32 bits.
pub const MAX_JS_INDEX: f64 = u32::MAX as f64;

/// Checks a number that JavaScript passed as `name` and converts it to a `usize`.
///
/// # Errors
///
/// An `Error` naming `name` and the value, for NaN, ±Infinity, a negative or fractional
/// number, or one above `2^32 - 1`.
///
/// # Examples
///
/// ```ignore
/// assert_eq!(to_usize(64.0, "blockSize")?, 64);
/// let err = to_usize(-1.0, "blockSize").unwrap_err();
/// // "blockSize must be a whole number from 0 to 4294967295, not -1"
/// ```
pub fn to_usize(value: f64, name: &str) -> Result<usize, Error> {
    let problem = if value.is_nan() {
        "it is NaN (not a number: was it undefined, or the result of a failed calculation?)"
    } else if value.is_infinite() {
        "it is infinite"
    } else if value < 0.0 {
        "it is negative"
    } else if value.fract() != 0.0 {
        "it has a fractional part"
    } else if value > MAX_JS_INDEX {
        "it is larger than 32 bits can hold"
    } else {
        // A whole number in 0 ..= 2^32 - 1, so the cast is exact.
        return Ok(value as usize);
    };
    Err(js_error(format_args!(
        "{name} must be a whole number from 0 to {}, not {}: {problem}",
        u32::MAX,
        JsNumber(value)
    )))
}

/// A JS `Error` whose message is `message` (any Rust error's `Display`, or `format_args!`).
pub fn js_error(message: impl fmt::Display) -> Error {
    Error::new(&message.to_string())
}

/// Makes a Rust panic, should one ever happen, print its message and location to the
/// browser console instead of only "unreachable executed". Cheap to call again.
pub fn install_panic_hook() {
    console_error_panic_hook::set_once();
}

/// The module's linear memory, where every pool's region lives. JS views a pool's state
/// bytes or blocks with `new Uint8Array(wasmMemory().buffer, address, length)`; make a new
/// view after any call that may have grown memory (creating a pool), since growing
/// detaches the old buffer.
#[wasm_bindgen(js_name = wasmMemory, unchecked_return_type = "WebAssembly.Memory")]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Shows an `f64` the way JavaScript prints it (`NaN`, `Infinity`, `-1`, `1.5`, `1e+21`): by
/// asking JavaScript (`Number.prototype.toString`), which also keeps Rust's float formatting
/// out of the module (17 KB of it, measured).
struct JsNumber(f64);

impl fmt::Display for JsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match js_sys::Number::from(self.0).to_string_with_radix(10) {
            Ok(text) => f.write_str(&std::string::String::from(text)),
            // (Radix 10 is always valid; should it ever fail, say something rather than nothing.)
            Err(_) => f.write_str("a number"),
        }
    }
}
