//! talc's wasm-perf workload, *random actions*, as one wasm module per global allocator
//! (`--features size_classes|dlmalloc|talc|rlsf|lol_alloc`), run under node by `run.mjs`.
//!
//! One iteration does `actions` actions, each one of three kinds, equally likely:
//!
//! - **alloc** a block of 100 ..= 1000 bytes, aligned to `8 << (r.trailing_zeros() / 2)` for a
//!   random `u16` `r` (8 B most of the time, up to 2 KiB once in 65 536);
//! - **free** a random live block (swapped out of the list of live blocks);
//! - **realloc** a random live block to 100 ..= 10 000 bytes.
//!
//! Without realloc (`with_realloc == 0`) only the first two kinds are drawn. A free or a
//! realloc with no live block does nothing and is not counted, so every iteration does
//! exactly `actions` calls of the allocator; at its end every block left is freed. The live
//! list itself is a `Vec` of 10 000 entries from the same allocator, as in talc's code.
//!
//! The random numbers come from a wyrand generator in this module, seeded by `seed`: for one
//! seed every allocator sees the very same sequence of calls (none fails while memory lasts).
//! The timing is done in JavaScript around `iterations`, so one call runs wasm code only.

#[cfg(not(any(
    feature = "size_classes",
    feature = "dlmalloc",
    feature = "talc",
    feature = "rlsf",
    feature = "lol_alloc"
)))]
compile_error!("pick one allocator: --features size_classes, dlmalloc, talc, rlsf or lol_alloc");

use core::cell::Cell;
use std::alloc::{alloc, dealloc, realloc, Layout};

#[cfg(feature = "size_classes")]
#[global_allocator]
static SIZE_CLASSES: memory_pool::SizeClasses = memory_pool::SizeClasses::new();

#[cfg(feature = "talc")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(feature = "rlsf")]
#[global_allocator]
static RLSF: rlsf::SmallGlobalTlsf = rlsf::SmallGlobalTlsf::new();

#[cfg(feature = "lol_alloc")]
#[global_allocator]
// SAFETY: a wasm32 module without the atomics feature runs on one thread.
static LOL: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// The generator's state, kept between calls so that the iterations follow one sequence.
struct State(Cell<u64>);

// SAFETY: a wasm32 module without the atomics feature runs on one thread.
unsafe impl Sync for State {}

static RNG: State = State(Cell::new(0));

/// wyrand (the generator fastrand uses): one add and one 64 × 64 → 128-bit multiply a draw.
fn next() -> u64 {
    let state = RNG.0.get().wrapping_add(0xa076_1d64_78bd_642f);
    RNG.0.set(state);
    let product = u128::from(state) * u128::from(state ^ 0xe703_7ed1_a0b4_28db);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A number in `0..n` (Lemire's multiply-shift; its bias, below 2⁻²⁰ here, does not matter).
fn below(n: usize) -> usize {
    ((next() >> 32) * n as u64 >> 32) as usize
}

/// Starts the sequence of random numbers over from `seed`.
#[no_mangle]
pub extern "C" fn seed(seed: u32) {
    RNG.0.set(u64::from(seed));
}

/// Runs `count` iterations of `actions` actions each, with or without realloc. Returns how
/// many allocations (or reallocs) failed: 0, unless memory ran out, which ends the call.
#[no_mangle]
pub extern "C" fn iterations(count: u32, actions: u32, with_realloc: u32) -> u32 {
    let kinds = if with_realloc != 0 { 3 } else { 2 };
    for _ in 0..count {
        if !iteration(actions as usize, kinds) {
            return 1;
        }
    }
    0
}

/// One iteration; `false` if an allocation failed (its blocks are freed all the same).
fn iteration(actions: usize, kinds: usize) -> bool {
    let mut live: Vec<(*mut u8, Layout)> = Vec::with_capacity(10_000);
    let mut done = 0;
    let mut failed = false;
    while done < actions && !failed {
        match below(kinds) {
            0 => {
                let size = 100 + below(901);
                let align = 8 << ((next() as u16).trailing_zeros() / 2);
                let layout = Layout::from_size_align(size, align).expect("a power of two");
                // SAFETY: the layout's size is not zero.
                let block = unsafe { alloc(layout) };
                failed = block.is_null();
                if !failed {
                    live.push((block, layout));
                    done += 1;
                }
            }
            1 if !live.is_empty() => {
                let (block, layout) = live.swap_remove(below(live.len()));
                // SAFETY: a live block, allocated with this layout, freed once.
                unsafe { dealloc(block, layout) };
                done += 1;
            }
            2 if !live.is_empty() => {
                let index = below(live.len());
                let entry = &mut live[index];
                let new_size = 100 + below(9901);
                // SAFETY: a live block with its layout; the new size is not zero and, rounded
                // up to the alignment (at most 2 KiB), far from `isize::MAX`.
                let moved = unsafe { realloc(entry.0, entry.1, new_size) };
                failed = moved.is_null();
                if !failed {
                    // SAFETY: the size and alignment were just accepted by `realloc`.
                    *entry = (moved, unsafe {
                        Layout::from_size_align_unchecked(new_size, entry.1.align())
                    });
                    done += 1;
                }
            }
            _ => {}
        }
    }
    for (block, layout) in live {
        // SAFETY: every block still live, with its layout, freed once.
        unsafe { dealloc(block, layout) };
    }
    !failed
}
