//! The page's own heap: with the `page-heap` feature (the page's build, `make build`), the
//! module's `#[global_allocator]` is [`SizeClasses`], counted. Every `Vec`, `String` and boxed
//! object the module makes (every array and string the boundary hands to JavaScript, every
//! `Pool` handle) is a block of one of its classes, and the page's "This page's own heap"
//! draws them as the page calls in.
//!
//! The counting allocator keeps, per class, the bytes its callers asked for (to show what
//! rounding up to the class wastes) and a ring of the last [`LOG_LENGTH`] calls. Reading
//! them (`ownHeap()`, `ownHeapLog()`) allocates nothing on this heap: the arrays are made on
//! the JavaScript side and filled one number at a time, so looking does not change what is
//! looked at. A class nobody has used yet is not asked for its counters (asking would make it
//! create its pool).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use js_sys::Float64Array;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::{SizeClasses, CLASS_COUNT, CLASS_SIZES};

/// How many of the last calls the log keeps.
pub const LOG_LENGTH: usize = 64;

/// Numbers per class in `ownHeap()`: block size, regions, capacity (blocks), blocks in use,
/// bytes requested by the blocks in use, allocations, frees. The last row (block size 0) is
/// the large blocks: regions and capacity 0, "blocks in use" in whole pages' bytes.
pub const CLASS_FIELDS: usize = 7;

#[cfg(feature = "page-heap")]
#[global_allocator]
static OWN_HEAP: CountingClasses = CountingClasses::new();

/// [`SizeClasses`] with counters: what each class's callers asked for, and a log.
#[derive(Debug)]
pub struct CountingClasses {
    classes: SizeClasses,
    /// Per class, and last the large blocks: bytes asked for by the blocks in use.
    requested: [AtomicUsize; CLASS_COUNT + 1],
    allocs: [AtomicU64; CLASS_COUNT + 1],
    frees: [AtomicU64; CLASS_COUNT + 1],
    /// Calls so far; call `n` is logged in slot `n % LOG_LENGTH`.
    calls: AtomicU64,
    /// Per slot: the call's number (low 32 bits), `kind << 8 | class`, and its size.
    log: [[AtomicU32; 3]; LOG_LENGTH],
}

/// The row of `layout`'s class, or `CLASS_COUNT` for a large block.
fn row_of(layout: Layout) -> usize {
    SizeClasses::class_for(layout).unwrap_or(CLASS_COUNT)
}

const ALLOC: u32 = 0;
const FREE: u32 = 1;

impl CountingClasses {
    /// An empty heap: no class has a pool until its first request.
    #[allow(clippy::new_without_default)] // a `static` needs a `const fn`
    pub const fn new() -> CountingClasses {
        CountingClasses {
            classes: SizeClasses::new(),
            requested: [const { AtomicUsize::new(0) }; CLASS_COUNT + 1],
            allocs: [const { AtomicU64::new(0) }; CLASS_COUNT + 1],
            frees: [const { AtomicU64::new(0) }; CLASS_COUNT + 1],
            calls: AtomicU64::new(0),
            log: [const { [const { AtomicU32::new(0) }; 3] }; LOG_LENGTH],
        }
    }

    fn note(&self, kind: u32, layout: Layout) {
        let row = row_of(layout);
        if kind == ALLOC {
            self.requested[row].fetch_add(layout.size(), Ordering::Relaxed);
            self.allocs[row].fetch_add(1, Ordering::Relaxed);
        } else {
            self.requested[row].fetch_sub(layout.size(), Ordering::Relaxed);
            self.frees[row].fetch_add(1, Ordering::Relaxed);
        }
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let slot = &self.log[call as usize % LOG_LENGTH];
        slot[0].store(call as u32, Ordering::Relaxed);
        slot[1].store(kind << 8 | row as u32, Ordering::Relaxed);
        slot[2].store(layout.size() as u32, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to `SizeClasses` unchanged (a `GlobalAlloc` itself); the counting
// around it allocates nothing.
unsafe impl GlobalAlloc for CountingClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let block = unsafe { self.classes.alloc(layout) };
        if !block.is_null() {
            self.note(ALLOC, layout);
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        self.note(FREE, layout);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.classes.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let moved = unsafe { self.classes.realloc(block, layout, new_size) };
        if !moved.is_null() {
            // Counted as what it amounts to: the old block freed, a block of the new size.
            self.note(FREE, layout);
            // SAFETY: `realloc`'s contract: the new size, at this alignment, is a valid layout.
            self.note(ALLOC, unsafe {
                Layout::from_size_align_unchecked(new_size, layout.align())
            });
        }
        moved
    }
}

/// The counting heap this module runs on, if it does (`page-heap`).
fn own_heap() -> Option<&'static CountingClasses> {
    #[cfg(feature = "page-heap")]
    return Some(&OWN_HEAP);
    #[cfg(not(feature = "page-heap"))]
    None
}

/// `ownHeap()`: the module's own heap now, `CLASS_FIELDS` numbers per class and a last row for
/// the large blocks (see `CLASS_FIELDS`); an empty array if the module was built without
/// `page-heap` (then Rust's default allocator serves it, uncounted). Allocates nothing here.
#[wasm_bindgen(js_name = ownHeap)]
pub fn own_heap_now() -> Float64Array {
    let Some(heap) = own_heap() else {
        return Float64Array::new_with_length(0);
    };
    let out = Float64Array::new_with_length(((CLASS_COUNT + 1) * CLASS_FIELDS) as u32);
    // (Rows index four arrays at once, one row more than there are classes.)
    let class_size = |row: usize| CLASS_SIZES.get(row).copied().unwrap_or(0);
    for row in 0..=CLASS_COUNT {
        let allocs = heap.allocs[row].load(Ordering::Relaxed);
        let (size, regions, capacity, in_use) = if row == CLASS_COUNT {
            (0, 0, 0, heap.classes.large_stats().bytes_in_use)
        } else if allocs == 0 {
            (class_size(row), 0, 0, 0) // never used: no pool, and asking would make one
        } else {
            match heap.classes.class_stats(row) {
                Some(stats) => (
                    stats.block_size,
                    stats.regions,
                    stats.capacity,
                    stats.stats.in_use,
                ),
                None => (class_size(row), 0, 0, 0),
            }
        };
        let values = [
            size,
            regions,
            capacity,
            in_use,
            heap.requested[row].load(Ordering::Relaxed),
        ];
        let at = (row * CLASS_FIELDS) as u32;
        for (i, value) in values.into_iter().enumerate() {
            out.set_index(at + i as u32, value as f64);
        }
        out.set_index(at + 5, allocs as f64);
        out.set_index(at + 6, heap.frees[row].load(Ordering::Relaxed) as f64);
    }
    out
}

/// `ownHeapCalls()`: how many allocations and frees the module's heap has served (0 without
/// `page-heap`).
#[wasm_bindgen(js_name = ownHeapCalls)]
pub fn own_heap_calls() -> f64 {
    own_heap().map_or(0.0, |heap| heap.calls.load(Ordering::Relaxed) as f64)
}

/// `ownHeapLog()`: the last calls (at most `LOG_LENGTH`), oldest first, 4 numbers each: the
/// call's number, 0 for an allocation or 1 for a free, the class (`CLASS_COUNT` for a large
/// block) and the size asked for. Allocates nothing here.
#[wasm_bindgen(js_name = ownHeapLog)]
pub fn own_heap_log() -> Float64Array {
    let Some(heap) = own_heap() else {
        return Float64Array::new_with_length(0);
    };
    let calls = heap.calls.load(Ordering::Relaxed);
    let first = calls.saturating_sub(LOG_LENGTH as u64);
    let out = Float64Array::new_with_length(((calls - first) * 4) as u32);
    for (i, call) in (first..calls).enumerate() {
        let slot = &heap.log[call as usize % LOG_LENGTH];
        let kind = slot[1].load(Ordering::Relaxed);
        let at = (i * 4) as u32;
        out.set_index(at, call as f64);
        out.set_index(at + 1, f64::from(kind >> 8));
        out.set_index(at + 2, f64::from(kind & 0xff));
        out.set_index(at + 3, f64::from(slot[2].load(Ordering::Relaxed)));
    }
    out
}
