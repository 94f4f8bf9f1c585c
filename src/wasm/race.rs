//! `Race` for JavaScript: the benchmarks' alloc/free workloads, run on the reader's own
//! machine, on four allocators in linear memory.
//!
//! The README's benchmarks were measured on one machine, natively and under node. This
//! boundary lets the page time the same three workloads in the reader's browser, on the
//! reader's CPU: one call runs a whole chunk of work in wasm, and JavaScript (a Web Worker,
//! so the page never waits for it) times the call with `performance.now()`.
//!
//! ```js
//! const race = new Race("pool");     // "pool", "sizeClasses", "dlmalloc" or "heap"
//! race.pair(100000);                 // 100,000 times: alloc a 64-byte block, free it at once
//! race.batch(3, false);              // 3 times: alloc 10,000 blocks, free them last-first
//! race.batch(3, true);               // …or in a fixed random order (the benchmarks' shuffle)
//! Race.batchSize();                  // 10000
//! race.destroy();                    // the allocator's memory goes back (dlmalloc keeps it)
//! ```
//!
//! The contenders, every block 64 bytes aligned to 8, as in the benchmarks:
//! - `pool`: a [`Pool`] of 16,384 blocks, every check on;
//! - `sizeClasses`: a [`SizeClasses`] of its own, through `GlobalAlloc` as a program uses it;
//! - `dlmalloc`: an instance of the `dlmalloc` crate, the allocator Rust's standard library
//!   uses on wasm32, asking for memory with `memory.grow` as std's does;
//! - `heap`: the teaching [`Heap`], first fit with a header per block, big enough for a batch.
//!
//! A refused free or a failed allocation is a bug in the workload, not something to time:
//! it ends the call with an `Error` that says which allocator and which call.

use core::alloc::{GlobalAlloc, Layout};
use core::hint::black_box;
use core::ptr::{null_mut, NonNull};
use std::boxed::Box;
use std::string::String;
use std::vec;
use std::vec::Vec;

use js_sys::Error;
use wasm_bindgen::prelude::wasm_bindgen;

use super::{install_panic_hook, js_error, to_usize};
use crate::teaching::Heap;
use crate::{Pool, SizeClasses};

/// The size of every block the workloads ask for, as in the README's 64-byte figures.
const BLOCK_SIZE: usize = 64;
/// The alignment the benchmarks' peers are asked for.
const BLOCK_ALIGN: usize = 8;
/// Blocks per batch, as in the benchmarks.
const BATCH: usize = 10_000;
/// The pool's capacity: a batch, with room to spare (the benchmarks' figure).
const POOL_BLOCKS: usize = 16_384;

/// What a workload needs from an allocator: a 64-byte block, and giving it back.
trait Contender {
    /// A block, or null when the allocator has none.
    fn alloc(&mut self) -> *mut u8;
    /// Gives `block` back; `false` when the allocator refused it.
    fn free(&mut self, block: *mut u8) -> bool;
}

impl Contender for Pool {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        Pool::alloc(self).map_or(null_mut(), NonNull::as_ptr)
    }

    #[inline(always)]
    fn free(&mut self, block: *mut u8) -> bool {
        NonNull::new(block).is_some_and(|block| Pool::free(self, block).is_ok())
    }
}

impl Contender for Heap {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        Heap::alloc(self, BLOCK_SIZE).map_or(null_mut(), NonNull::as_ptr)
    }

    #[inline(always)]
    fn free(&mut self, block: *mut u8) -> bool {
        NonNull::new(block).is_some_and(|block| Heap::free(self, block).is_ok())
    }
}

/// The size classes, used the way a program's `#[global_allocator]` is (boxed: its table of
/// classes is about 150 KB).
struct Classes(Box<SizeClasses>);

impl Contender for Classes {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        // SAFETY: the layout's size is not zero.
        unsafe { self.0.alloc(LAYOUT) }
    }

    #[inline(always)]
    fn free(&mut self, block: *mut u8) -> bool {
        // SAFETY: the workloads pass back only blocks `alloc` gave, once each, with the
        // layout they were allocated with.
        unsafe { self.0.dealloc(block, LAYOUT) };
        true
    }
}

/// Rust's own wasm allocator, as an instance of its own (boxed: its bins are 460 bytes).
struct Dl(Box<dlmalloc::Dlmalloc>);

impl Contender for Dl {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        // SAFETY: a non-zero size and a power-of-two alignment.
        unsafe { self.0.malloc(BLOCK_SIZE, BLOCK_ALIGN) }
    }

    #[inline(always)]
    fn free(&mut self, block: *mut u8) -> bool {
        // SAFETY: as for `Classes::free`: only blocks from `malloc`, once each, same layout.
        unsafe { self.0.free(block, BLOCK_SIZE, BLOCK_ALIGN) };
        true
    }
}

/// Every block's layout (a constant, so no `unwrap` on the hot path).
const LAYOUT: Layout = match Layout::from_size_align(BLOCK_SIZE, BLOCK_ALIGN) {
    Ok(layout) => layout,
    Err(_) => panic!("64 bytes aligned to 8 is a valid layout"),
};

/// The allocator a `Race` runs on.
enum Racer {
    Pool(Pool),
    Classes(Classes),
    Dl(Dl),
    Heap(Heap),
}

impl Racer {
    fn name(&self) -> &'static str {
        match self {
            Racer::Pool(_) => "pool",
            Racer::Classes(_) => "sizeClasses",
            Racer::Dl(_) => "dlmalloc",
            Racer::Heap(_) => "heap",
        }
    }
}

/// `n` times: allocate a block, free it. The first call that fails, if one does.
fn pair(contender: &mut impl Contender, n: usize) -> Result<(), &'static str> {
    for _ in 0..n {
        let block = black_box(contender.alloc());
        if block.is_null() {
            return Err("alloc");
        }
        if !contender.free(block) {
            return Err("free");
        }
    }
    Ok(())
}

/// `reps` times: allocate a batch into `held`, free it in `order`.
fn batch(
    contender: &mut impl Contender,
    held: &mut [*mut u8],
    order: &[u32],
    reps: usize,
) -> Result<(), &'static str> {
    for _ in 0..reps {
        for slot in held.iter_mut() {
            *slot = black_box(contender.alloc());
            if slot.is_null() {
                // Give back what this batch holds, so the allocator is whole again.
                for &block in held.iter().take_while(|block| !block.is_null()) {
                    contender.free(block);
                }
                held.fill(null_mut());
                return Err("alloc");
            }
        }
        for &i in order {
            if !contender.free(held[i as usize]) {
                return Err("free");
            }
        }
    }
    Ok(())
}

/// The benchmarks' free orders: last-first, and the same fixed xorshift shuffle.
fn free_order(random: bool) -> Vec<u32> {
    let mut order: Vec<u32> = (0..BATCH as u32).rev().collect();
    if random {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for i in (1..BATCH).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
    }
    order
}

/// One allocator and the workloads that time it, exported to JavaScript as `Race`.
#[wasm_bindgen(js_name = Race)]
pub struct JsRace {
    /// `None` once `destroy()` has released the allocator.
    racer: Option<Racer>,
    held: Vec<*mut u8>,
    last_first: Vec<u32>,
    shuffled: Vec<u32>,
}

impl core::fmt::Debug for JsRace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Race")
            .field("allocator", &self.racer.as_ref().map(Racer::name))
            .finish_non_exhaustive()
    }
}

#[wasm_bindgen(js_class = Race)]
impl JsRace {
    /// `new Race(allocator)`: `"pool"`, `"sizeClasses"`, `"dlmalloc"` or `"heap"`, ready for
    /// 64-byte blocks.
    ///
    /// # Errors
    ///
    /// An unknown name, or no memory for the allocator.
    #[wasm_bindgen(constructor)]
    pub fn new(allocator: &str) -> Result<JsRace, Error> {
        install_panic_hook();
        let racer = match allocator {
            "pool" => Racer::Pool(Pool::new(BLOCK_SIZE, POOL_BLOCKS).map_err(js_error)?),
            "sizeClasses" => Racer::Classes(Classes(Box::default())),
            "dlmalloc" => Racer::Dl(Dl(Box::new(dlmalloc::Dlmalloc::new()))),
            "heap" => {
                // A batch of blocks with their headers, and a little room.
                let block = Heap::block_size_for(BLOCK_SIZE).unwrap_or(2 * BLOCK_SIZE);
                Racer::Heap(Heap::new(block * (BATCH + 16)).map_err(js_error)?)
            }
            other => {
                return Err(js_error(format_args!(
                    "there is no allocator {other:?} to race: use \"pool\", \"sizeClasses\", \"dlmalloc\" or \"heap\""
                )))
            }
        };
        Ok(JsRace {
            racer: Some(racer),
            held: vec![null_mut(); BATCH],
            last_first: free_order(false),
            shuffled: free_order(true),
        })
    }

    /// `Race.batchSize()`: the blocks a batch allocates before it frees them (10,000).
    #[wasm_bindgen(js_name = batchSize)]
    pub fn batch_size() -> usize {
        BATCH
    }

    /// `Race.blockSize()`: the bytes of every block (64).
    #[wasm_bindgen(js_name = blockSize)]
    pub fn block_size() -> usize {
        BLOCK_SIZE
    }

    /// The allocator's name, as given to the constructor.
    #[wasm_bindgen(getter)]
    pub fn allocator(&self) -> Result<String, Error> {
        Ok(self.racer()?.name().into())
    }

    /// `pair(n)`: `n` times, allocate a 64-byte block and free it at once.
    ///
    /// # Errors
    ///
    /// A bad number, a destroyed race, or an allocation or free that failed.
    pub fn pair(&mut self, n: f64) -> Result<(), Error> {
        let n = to_usize(n, "n")?;
        let racer = self.racer_mut()?;
        let outcome = match racer {
            Racer::Pool(pool) => pair(pool, n),
            Racer::Classes(classes) => pair(classes, n),
            Racer::Dl(dl) => pair(dl, n),
            Racer::Heap(heap) => pair(heap, n),
        };
        failed(racer, outcome)
    }

    /// `batch(reps, random)`: `reps` times, allocate 10,000 blocks, then free them all,
    /// last-first (`random` false) or in the benchmarks' fixed random order.
    ///
    /// # Errors
    ///
    /// A bad number, a destroyed race, or an allocation or free that failed.
    pub fn batch(&mut self, reps: f64, random: bool) -> Result<(), Error> {
        let reps = to_usize(reps, "reps")?;
        let order = if random {
            &self.shuffled
        } else {
            &self.last_first
        };
        let held = &mut self.held;
        let racer = self.racer.as_mut().ok_or_else(|| js_error(DESTROYED))?;
        let outcome = match racer {
            Racer::Pool(pool) => batch(pool, held, order, reps),
            Racer::Classes(classes) => batch(classes, held, order, reps),
            Racer::Dl(dl) => batch(dl, held, order, reps),
            Racer::Heap(heap) => batch(heap, held, order, reps),
        };
        failed(racer, outcome)
    }

    /// `destroy()`: releases the allocator; every later call throws `Error`.
    pub fn destroy(&mut self) {
        self.racer = None;
    }
}

const DESTROYED: &str = "this race was destroyed: make a new Race";

impl JsRace {
    fn racer(&self) -> Result<&Racer, Error> {
        self.racer.as_ref().ok_or_else(|| js_error(DESTROYED))
    }

    fn racer_mut(&mut self) -> Result<&mut Racer, Error> {
        self.racer.as_mut().ok_or_else(|| js_error(DESTROYED))
    }
}

/// The `Error` for a workload call that failed.
fn failed(racer: &Racer, outcome: Result<(), &'static str>) -> Result<(), Error> {
    outcome.map_err(|call| {
        js_error(format_args!(
            "{}: a 64-byte {call} failed during the race (out of memory?)",
            racer.name()
        ))
    })
}
