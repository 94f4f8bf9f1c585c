//! The wasm half of the benchmarks: the same workloads as `benches/pool.rs`, in a module
//! built once per allocator (`--features pool|dlmalloc|talc|lol_alloc|bare_list`) and run
//! under node by `run.mjs`. `bare_list` is the unchecked lower bound, not an allocator.
//!
//! Every module exports `alloc_block() -> *mut u8` and `free_block(*mut u8) -> u32`
//! (0 = freed; the pool answers 1 for a free it refused), after `setup(block_size)`. With
//! `--features workloads` it also exports the loops, so the timing is of wasm code only:
//! one call from JavaScript runs a whole workload.

#[cfg(not(any(
    feature = "pool",
    feature = "dlmalloc",
    feature = "talc",
    feature = "lol_alloc",
    feature = "bare_list"
)))]
compile_error!("pick one allocator: --features pool, dlmalloc, talc, lol_alloc or bare_list");

use core::cell::UnsafeCell;

/// State kept between calls. A wasm32 module without the atomics feature runs on one thread.
struct Global<T>(UnsafeCell<T>);

// SAFETY: single-threaded wasm32 (no atomics): nothing is ever shared between threads.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// # Safety
    ///
    /// Single-threaded, and no other reference from `get` is alive (each export takes one
    /// and drops it before returning).
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut T {
        // SAFETY: as the caller promises.
        unsafe { &mut *self.0.get() }
    }
}

/// Hands out one block of the size given to `setup`, or null.
#[no_mangle]
pub extern "C" fn alloc_block() -> *mut u8 {
    contender::with(core::ptr::null_mut(), |held| held.alloc())
}

/// Gives a block back: 0 when freed, 1 when refused (only the pool checks).
#[no_mangle]
pub extern "C" fn free_block(block: *mut u8) -> u32 {
    contender::with(1, |held| held.free(block))
}

// Each contender: `setup` (exported); `with(failed, work)`, which runs `work` with what a
// workload holds (`Held`: the pool, as a native caller holds its `&mut Pool`; nothing for the
// others, whose state is global), or answers `failed` if there is nothing to run it on; and
// `Held::alloc` / `Held::free`, inlined into the exports and into the workload loops alike (the
// pool is small enough to inline, as it is natively; the peers' `std::alloc` calls end in
// their allocator's out-of-line functions either way).

#[cfg(feature = "pool")]
mod contender {
    use super::Global;
    use core::ptr::{null_mut, NonNull};
    use memory_pool::Pool;

    /// Enough blocks for every workload (the batches hold 10,000).
    const CAPACITY: usize = 16_384;
    static POOL: Global<Option<Pool>> = Global(core::cell::UnsafeCell::new(None));

    #[no_mangle]
    pub extern "C" fn setup(block_size: usize) -> u32 {
        // SAFETY: single-threaded; the reference is dropped before returning.
        let pool = unsafe { POOL.get() };
        *pool = None; // release the previous region first, so it can be reused
        *pool = Pool::new(block_size, CAPACITY).ok();
        pool.is_some() as u32
    }

    /// The pool, held for a whole workload as a caller holds its `&mut Pool` (natively too).
    pub struct Held(&'static mut Pool);

    /// Runs `work` with the pool, or answers `failed` if `setup` made none.
    #[inline(always)]
    pub fn with<R>(failed: R, work: impl FnOnce(&mut Held) -> R) -> R {
        // SAFETY: single-threaded; the reference is dropped before returning.
        match unsafe { POOL.get() } {
            Some(pool) => work(&mut Held(pool)),
            None => failed,
        }
    }

    impl Held {
        #[inline(always)]
        pub fn alloc(&mut self) -> *mut u8 {
            self.0.alloc().map_or(null_mut(), NonNull::as_ptr)
        }

        #[inline(always)]
        pub fn free(&mut self, block: *mut u8) -> u32 {
            match NonNull::new(block) {
                Some(block) => self.0.free(block).is_err() as u32,
                None => 1,
            }
        }
    }
}

/// For the contenders whose state is global (the bare list's head, the global allocators):
/// a workload holds nothing, and each contender gives `Held` its `alloc` and `free`.
#[cfg(not(feature = "pool"))]
mod global {
    pub struct Held;

    #[inline(always)]
    pub fn with<R>(_failed: R, work: impl FnOnce(&mut Held) -> R) -> R {
        work(&mut Held)
    }
}

/// THE LOWER BOUND, NOT AN ALLOCATOR: an intrusive free list that checks nothing (a double
/// free silently corrupts it), as in the native benchmarks.
#[cfg(feature = "bare_list")]
mod contender {
    use super::Global;
    use core::ptr::null_mut;

    const CAPACITY: usize = 16_384;
    static HEAD: Global<*mut u8> = Global(core::cell::UnsafeCell::new(null_mut()));
    /// The arena and its size: kept, and reused by every later `setup` it is big enough for.
    static ARENA: Global<(*mut u8, usize)> = Global(core::cell::UnsafeCell::new((null_mut(), 0)));

    #[no_mangle]
    pub extern "C" fn setup(block_size: usize) -> u32 {
        let stride = block_size.max(4).next_multiple_of(4);
        // SAFETY: single-threaded; the references are dropped before returning.
        let (head, kept) = unsafe { (HEAD.get(), ARENA.get()) };
        if kept.1 < stride * CAPACITY {
            // Leaked on purpose: the benchmark module lives as long as the process.
            *kept = (
                vec![0u8; stride * CAPACITY].leak().as_mut_ptr(),
                stride * CAPACITY,
            );
        }
        let arena = kept.0;
        *head = null_mut();
        for i in (0..CAPACITY).rev() {
            // SAFETY: block `i` lies inside the arena, 4-aligned (a `Vec<u8>` from the
            // default allocator is 8-aligned and `stride` a multiple of 4).
            unsafe {
                let block = arena.add(i * stride);
                block.cast::<*mut u8>().write(*head);
                *head = block;
            }
        }
        1
    }

    pub use super::global::{with, Held};

    impl Held {
        #[inline(always)]
        pub fn alloc(&mut self) -> *mut u8 {
            // SAFETY: none checked: the floor. The workloads never overdraw it.
            unsafe {
                let head = HEAD.get();
                let block = *head;
                *head = block.cast::<*mut u8>().read();
                block
            }
        }

        #[inline(always)]
        pub fn free(&mut self, block: *mut u8) -> u32 {
            // SAFETY: none checked; the workloads free only blocks they hold.
            unsafe {
                let head = HEAD.get();
                block.cast::<*mut u8>().write(*head);
                *head = block;
            }
            0
        }
    }
}

#[cfg(not(any(feature = "pool", feature = "bare_list")))]
mod contender {
    use super::Global;
    use std::alloc::Layout;

    #[cfg(feature = "talc")]
    #[global_allocator]
    static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

    #[cfg(feature = "lol_alloc")]
    #[global_allocator]
    // SAFETY: a wasm32 module without atomics is single-threaded.
    static LOL: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
        unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

    static LAYOUT: Global<Layout> = Global(core::cell::UnsafeCell::new(Layout::new::<u64>()));

    #[no_mangle]
    pub extern "C" fn setup(block_size: usize) -> u32 {
        // SAFETY: single-threaded; the reference is dropped before returning.
        let layout = unsafe { LAYOUT.get() };
        match Layout::from_size_align(block_size.max(1), 8) {
            Ok(new) => {
                *layout = new;
                1
            }
            Err(_) => 0,
        }
    }

    pub use super::global::{with, Held};

    impl Held {
        #[inline(always)]
        pub fn alloc(&mut self) -> *mut u8 {
            // SAFETY: the layout has a non-zero size (`setup`); single-threaded.
            unsafe { std::alloc::alloc(*LAYOUT.get()) }
        }

        #[inline(always)]
        pub fn free(&mut self, block: *mut u8) -> u32 {
            // SAFETY: the workloads pass back only blocks from `alloc_block`, once, with the
            // layout they were allocated with.
            unsafe { std::alloc::dealloc(block, *LAYOUT.get()) };
            0
        }
    }
}

#[cfg(feature = "workloads")]
mod workloads {
    use super::contender::with;
    use super::Global;
    use core::hint::black_box;

    /// Blocks per batch, as in the native benchmarks.
    pub const BATCH: usize = 10_000;
    static HELD: Global<[*mut u8; BATCH]> =
        Global(core::cell::UnsafeCell::new([core::ptr::null_mut(); BATCH]));
    static ORDER: Global<[u32; BATCH]> = Global(core::cell::UnsafeCell::new([0; BATCH]));

    /// `n` times: allocate a block, free it. Returns the number of failures (should be 0).
    #[no_mangle]
    pub extern "C" fn pair(n: u32) -> u32 {
        with(n, |contender| {
            let mut failures = 0;
            for _ in 0..n {
                let block = black_box(contender.alloc());
                failures += block.is_null() as u32 + contender.free(block);
            }
            failures
        })
    }

    /// Fills the free order: `random == 0` last-first, otherwise the same fixed shuffle as
    /// the native benchmarks.
    #[no_mangle]
    pub extern "C" fn set_order(random: u32) {
        // SAFETY: single-threaded; the reference is dropped before returning.
        let order = unsafe { ORDER.get() };
        for (i, slot) in order.iter_mut().enumerate() {
            *slot = (BATCH - 1 - i) as u32;
        }
        if random != 0 {
            let mut state = 0x9E37_79B9_7F4A_7C15_u64;
            for i in (1..BATCH).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
    }

    /// `reps` times: allocate 10,000 blocks, free them in the order `set_order` chose.
    #[no_mangle]
    pub extern "C" fn batch(reps: u32) -> u32 {
        // SAFETY: single-threaded; the references are dropped before returning.
        let (held, order) = unsafe { (HELD.get(), ORDER.get()) };
        with(reps, |contender| {
            let mut failures = 0;
            for _ in 0..reps {
                for slot in held.iter_mut() {
                    *slot = black_box(contender.alloc());
                    failures += slot.is_null() as u32;
                }
                for &i in order.iter() {
                    failures += contender.free(held[i as usize]);
                }
            }
            failures
        })
    }
}
