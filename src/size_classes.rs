//! Size classes: a general-purpose allocator made of pools. [`SizeClasses`]'s doc tells how.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::growing::Growth;
use crate::map::{PoolStats, RegionLayout};
use crate::memory::{MemorySource, SystemMemory};
use crate::region::{state_cell, RegionView, CACHED};
use crate::{sanitizer, BlockState, GrowingPool, RejectedFrees};

#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
mod thread_cache;
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
use thread_cache::{Push, ThreadCache, CACHE, CACHED_CLASSES, MOST_CACHED, NOBODY, REGISTRY};

/// The block size of each class, smallest first: two classes per doubling up to 32 KiB (each
/// half again the one before, or a third more), then four (a quarter of the doubling apart) up
/// to 1 MiB.
pub const CLASS_SIZES: [usize; CLASS_COUNT] = [
    8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192,
    12288, 16384, 24576, 32768, 40960, 49152, 57344, 65536, 81920, 98304, 114688, 131072, 163840,
    196608, 229376, 262144, 327680, 393216, 458752, 524288, 655360, 786432, 917504, 1048576,
];

/// How many size classes there are.
pub const CLASS_COUNT: usize = 43;

/// Requests larger than this (or aligned to more) bypass the classes.
pub const LARGEST_CLASS: usize = 1 << 20;

/// Large blocks are whole pages of this size; it is also the largest alignment they have.
const PAGE_SIZE: usize = 4096;

/// Bytes in a class's first region (it doubles from there), for classes of up to 15 KiB;
/// larger classes start with [`MIN_FIRST_COUNT`] blocks. Over a memory source that
/// [commits lazily](MemorySource::commits_lazily), [`LAZY_FIRST_REGION_BYTES`] instead.
#[cfg(not(target_arch = "wasm32"))]
const FIRST_REGION_BYTES: usize = 60 * 1024;

/// Bytes in a class's first region over a source whose untouched pages cost nothing (the
/// system's, natively), for classes below 256 KiB. Such a region costs RAM only for the
/// blocks handed out, as a 60 KiB one does, but a class then has one region, or two, where
/// it had five or six, and `free` has fewer to tell apart. Measured on talc's random-actions
/// workload (1 thread, 200 ms runs, interleaved): 1 MiB against 60 KiB ran 8 % faster at max
/// size 1000, 14 % at 5000 and 15 % at 20000, with the same live ÷ RSS on its memory
/// workload; 256 KiB gained about half of that, 4 MiB no more.
const LAZY_FIRST_REGION_BYTES: usize = 1 << 20;

/// The fewest blocks in a class's first region.
#[cfg(not(target_arch = "wasm32"))]
const MIN_FIRST_COUNT: usize = 4;

/// How a class's pool grows: doubling (see [`GrowingPool`]).
#[cfg(not(target_arch = "wasm32"))]
const CLASS_GROWTH: Growth = Growth::Doubling;

// On wasm32 linear memory is all real and never shrinks, so a class's regions follow its need
// more closely: a first region of about 32 KiB (one block, for the classes above it), and
// gentle growth, about a quarter more a region (see `GrowingPool`'s module doc). With
// doubling from 60 KiB, talc's random-actions workload ended with 1.6 to 1.8 times talc's
// linear memory. The first region and the growth were picked on a model of that workload
// (four seeds, with and without realloc) among 24 to 48 KiB and three growth sequences.

/// Bytes in a class's first region on wasm32, for classes of up to 32 KiB: half a KiB short
/// of 32 KiB, so that blocks and bookkeeping fit in eight of the 4 KiB grains linear memory is
/// handed out in (with 32 KiB of blocks, most first regions would take nine).
#[cfg(target_arch = "wasm32")]
const FIRST_REGION_BYTES: usize = 32 * 1024 - 512;

/// The fewest blocks in a class's first region on wasm32.
#[cfg(target_arch = "wasm32")]
const MIN_FIRST_COUNT: usize = 1;

/// How a class's pool grows on wasm32: gently.
#[cfg(target_arch = "wasm32")]
const CLASS_GROWTH: Growth = Growth::Gentle;

/// A class's region with at least this many bytes of blocks gives its memory back to the
/// system (`madvise`, natively) when it is empty and another such region of the class is
/// empty too (the larger of the two goes). See *Memory given back* on [`SizeClasses`].
pub const DECOMMIT_FROM: usize = 128 * 1024;

/// The fewest bytes of blocks in any class's first region: 57 344 natively (the 8 KiB class's
/// seven blocks: it rounds [`FIRST_REGION_BYTES`] down the most); 16 384 on wasm32 (the 16 KiB
/// class's one block).
const SMALLEST_FIRST_REGION: usize = smallest_first_region();

const fn smallest_first_region() -> usize {
    let mut smallest = usize::MAX;
    let mut class = 0;
    while class < CLASS_COUNT {
        let bytes = first_count(class) * CLASS_SIZES[class];
        if bytes < smallest {
            smallest = bytes;
        }
        class += 1;
    }
    smallest
}

/// How many region slots each class's pool keeps. Region `k` of a class holds at least
/// `SMALLEST_FIRST_REGION · m(k)` bytes of blocks, where `m(k)` is `2^k` natively (doubling)
/// and the gentle multiples on wasm32 ([`CLASS_GROWTH`]).
///
/// - On 64-bit, 24: at least 895 GiB per class and shard (57 344 · (2^24 − 1) B), more memory
///   than a machine of today has. 48 slots ([`MAX_REGIONS`], as many as the address space
///   could ever fill) made each class's pool 11 KB, written when the class is first used and
///   so resident from then on: 360 KB for 33 classes, which stayed in RSS after a program
///   freed everything (an eighth of what talc's memory workload started with). With 24: 5.8
///   KB a class.
/// - Elsewhere (wasm32), as many as can ever be filled: no region can be larger than
///   `isize::MAX` bytes (a [`Pool`](crate::Pool) refuses it as too large), so a slot past the
///   last `k` for which that fits would never be used: 25 with gentle growth. 48 inline slots
///   in each of 33 classes made the allocator 225 408 bytes of zeroed linear memory before
///   its first allocation; 16 slots and doubling, 77 568; the 25 slots gentle growth needs,
///   119 296 for 33 classes. A class can hold from 700 MB (the 16 KiB class, whose first
///   region is one block) to over a gigabyte there.
///
/// A class whose slots are all full says no (null), as a full [`GrowingPool`] does.
///
/// [`MAX_REGIONS`]: crate::MAX_REGIONS
pub(crate) const CLASS_REGIONS: usize = if cfg!(target_pointer_width = "64") {
    24
} else {
    slots_that_can_fill()
};

/// Region slots that can ever be filled, in a class of the smallest first region.
const fn slots_that_can_fill() -> usize {
    let mut regions = 0;
    // Region `regions` has at least `SMALLEST_FIRST_REGION · m(regions)` bytes: count while
    // that still fits in an `isize`.
    while regions < crate::MAX_REGIONS {
        match CLASS_GROWTH.multiple(regions) {
            Some(multiple) if multiple <= (isize::MAX as usize) / SMALLEST_FIRST_REGION => {
                regions += 1
            }
            _ => break,
        }
    }
    regions
}

// Checked when the crate is built, for its target: either the region that would need slot
// `CLASS_REGIONS` is one `Pool` refuses as too large, in every class, or the slots hold at
// least 512 GiB of every class.
const _: () = {
    let mut class = 0;
    while class < CLASS_COUNT {
        if let Some(multiple) = CLASS_GROWTH.multiple(CLASS_REGIONS) {
            if let Some(blocks) = first_count(class).checked_mul(multiple) {
                let refused = crate::Pool::region_size(CLASS_SIZES[class], blocks).is_none();
                // Natively (doubling), the slots before it hold `multiple − 1` first regions.
                let bytes = (first_count(class) * CLASS_SIZES[class]) as u64;
                let held = bytes.saturating_mul(multiple as u64 - 1);
                assert!(refused || (cfg!(target_pointer_width = "64") && held >= 1 << 39));
            }
        }
        class += 1;
    }
};

/// Blocks in class `class`'s first region (over a source that does not commit lazily: the
/// fewest a class ever starts with).
const fn first_count(class: usize) -> usize {
    blocks_in(FIRST_REGION_BYTES, class)
}

/// Blocks in a first region of `bytes` of class `class`: at least [`MIN_FIRST_COUNT`].
const fn blocks_in(bytes: usize, class: usize) -> usize {
    let count = bytes / CLASS_SIZES[class];
    if count > MIN_FIRST_COUNT {
        count
    } else {
        MIN_FIRST_COUNT
    }
}

/// A class's pool.
type ClassPool<M> = GrowingPool<M, CLASS_REGIONS>;

/// Class for a size of `1 + 8·(k − 1) ..= 8·k` bytes, for sizes up to 1024: one load.
const SMALL_CLASS: [u8; 129] = small_class_table();

const fn small_class_table() -> [u8; 129] {
    let mut table = [0u8; 129];
    let mut eighths = 1;
    let mut class = 0;
    while eighths <= 128 {
        while CLASS_SIZES[class] < eighths * 8 {
            class += 1;
        }
        table[eighths] = class as u8;
        eighths += 1;
    }
    table
}

/// The alignment a class's blocks are guaranteed: the largest power of two dividing its size
/// (a pool aligns its first block to that, and every block is a whole number of sizes away).
#[inline(always)]
const fn class_align(class: usize) -> usize {
    1 << CLASS_SIZES[class].trailing_zeros()
}

/// The index of the 1 KiB class, the last one [`SMALL_CLASS`] covers; above it the ladder
/// alternates `3 · 2^k` and `2^(k+2)` up to 32 KiB ([`QUARTERS_FROM`]).
const KIB_CLASS: usize = 12;

/// The index of the 32 KiB class; above it each doubling has four classes, `5`, `6`, `7` and
/// `8 · 2^k`, up to [`LARGEST_CLASS`].
const QUARTERS_FROM: usize = 22;
const _: () = {
    assert!(CLASS_SIZES[KIB_CLASS] == 1024);
    assert!(CLASS_SIZES[QUARTERS_FROM] == 32 * 1024);
    assert!(CLASS_SIZES[CLASS_COUNT - 1] == LARGEST_CLASS);
};

/// The smallest class whose blocks are at least `size` bytes, for `1 ..= LARGEST_CLASS`.
///
/// Up to 1 KiB one table load. Above it, arithmetic instead of a search. Write `size − 1`
/// with its highest set bit at position `k`, so that `2^k < size ≤ 2^(k+1)`: the bits just
/// below that one say where in the doubling `size` falls. Up to 32 KiB a doubling has two
/// classes, so one bit says which: at most `1.5 · 2^k` or above. Above 32 KiB it has four,
/// and two bits say which quarter. No loop and no data-dependent branch: a binary search
/// over the ladder took several hard-to-predict branches per call on random sizes.
#[inline(always)]
fn class_of_size(size: usize) -> usize {
    debug_assert!((1..=LARGEST_CLASS).contains(&size));
    if size <= 1024 {
        return SMALL_CLASS[size.div_ceil(8)] as usize;
    }
    let below = size - 1;
    let k = (usize::BITS - 1 - below.leading_zeros()) as usize; // 10 ..= 19
    if size <= 32 * 1024 {
        let half = (below >> (k - 1)) & 1;
        KIB_CLASS + 2 * (k - 10) + 1 + half
    } else {
        let quarter = (below >> (k - 2)) & 3;
        QUARTERS_FROM + 4 * (k - 15) + 1 + quarter
    }
}

/// The class that serves `layout`, or `None` for a large request: the smallest class at
/// least as large as the size and aligned to at least the alignment.
///
/// It starts at the class of the size, or of the alignment if that is larger (a class's
/// alignment, the largest power of two dividing its size, is never more than its size). That
/// class may still be aligned to less, say 48 B (aligned to 16) for an alignment of 32: then
/// the next classes up are tried. For every alignment up to a page one step is enough
/// (checked below, when the crate is built): of the classes at least as large as a power of
/// two `a`, only `1.5 · a` is not a multiple of it. Larger alignments walk further up.
///
/// Why a loop and not one add of that step: the loop ends with `class < CLASS_COUNT` known
/// to the compiler, so the class arrays that `alloc` and `free` index next need no bounds
/// check; with the add (and a cold call for alignments above a page) talc's random actions
/// ran about 5 % slower on wasm32 (16.6 against 17.5 actions/µs with realloc, 27.0 against
/// 28.3 without, in one interleaved run) and no faster natively.
#[inline(always)]
fn class_of(layout: Layout) -> Option<usize> {
    let align = layout.align();
    let wanted = layout.size().max(align);
    if wanted > LARGEST_CLASS {
        return None;
    }
    let mut class = class_of_size(wanted);
    while class_align(class) < align {
        class += 1;
        if class == CLASS_COUNT {
            return None;
        }
    }
    Some(class)
}

// `class_of`'s one step: for every alignment `a` up to a page, a class of at least `a` bytes
// that is not a multiple of `a` is followed by one that is.
const _: () = {
    let mut align = 1;
    while align <= PAGE_SIZE {
        let mut class = 0;
        while class < CLASS_COUNT {
            if CLASS_SIZES[class] >= align && CLASS_SIZES[class] % align != 0 {
                assert!(class + 1 < CLASS_COUNT && CLASS_SIZES[class + 1] % align == 0);
            }
            class += 1;
        }
        align *= 2;
    }
};

/// Whether a `realloc` to a smaller class by less than half keeps the block (see *`realloc`*
/// on [`SizeClasses`]). Not on wasm32: linear memory never shrinks, so a block kept at up to
/// twice its size is memory kept for good; on talc's wasm workload keeping them took linear
/// memory from 1.24 to 1.29 times talc's, for no gain in speed there.
const SHRINK_IN_PLACE: bool = cfg!(not(target_arch = "wasm32"));

/// A value behind a spin lock: an atomic flag, no allocation, no system call. The flag
/// comes first (`repr(C)`), in the same cache line as the value's first words.
#[repr(C)]
struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the flag lets one thread at a time reach the value, so sharing the lock shares no
// unsynchronised access; the value itself must be able to move between threads.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock: the value is the guard's until it drops (which releases the lock,
    /// also when a panic unwinds).
    #[inline(always)]
    fn lock(&self) -> Locked<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.wait();
        }
        Locked(self)
    }

    /// Someone else holds the lock: spin politely, then let other threads run.
    #[cold]
    #[inline(never)]
    fn wait(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 64 {
                    core::hint::spin_loop();
                } else {
                    yield_thread();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// A [`SpinLock`] held: its value, until the guard drops and releases the lock.
struct Locked<'a, T>(&'a SpinLock<T>);

impl<T> core::ops::Deref for Locked<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so the value is reached through this guard alone.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> core::ops::DerefMut for Locked<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference for its life.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for Locked<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

/// With an operating system's threads: let the holder of the lock run.
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
fn yield_thread() {
    std::thread::yield_now();
}

/// Without `std` (or on wasm32, which has no threads to yield to): keep spinning.
#[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
fn yield_thread() {
    core::hint::spin_loop();
}

/// One class of one shard, as every call sees it: the class's lock and its cache of freed
/// blocks, side by side with the other classes' (see *The cache in front of each class* on
/// [`SizeClasses`]). The class's pool is elsewhere in the shard, in [`Shard::pools`], and
/// behind the same lock.
///
/// Everything starts as zeros, so a fresh [`SizeClasses`] is all zeros: a `static` of it goes
/// to `.bss` and costs no bytes in the program file (a wasm module carried ~127 KB of data
/// for it otherwise).
type Class = Aligned<SpinLock<FreeCache>>;

/// A value on a 128-byte boundary and 128 bytes long (if it fits): for [`Class`].
#[cfg_attr(not(target_arch = "wasm32"), repr(C, align(128)))]
struct Aligned<T>(T);

#[cfg(not(target_arch = "wasm32"))]
const _: () = assert!(size_of::<Class>() == 128);

/// A class's cache: a stack of blocks the program freed, all in one region of the class's
/// pool (the one it last handed out a block from), each checked when it was pushed and
/// marked [`CACHED`]; and the class's counts as the program sees them.
///
/// With its lock, 128 bytes on a 128-byte boundary ([`Class`]): the lock and the words
/// `alloc` and `free` test sit in one cache line, the counters in the next, and 43 classes
/// take 5.5 KB (a class's pool is some 5.7 KB by itself, so with the lock beside the pool
/// each class's hot words were a page apart).
#[repr(C)]
struct FreeCache {
    /// The top block of the stack (null: empty); each links to the next through its link
    /// slot, as on a pool's free list.
    top: *mut u8,
    /// Blocks on the stack, and how many it may hold (0 until the class's first block).
    len: u32,
    cap: u32,
    /// The region every cached block is in.
    region: RegionView,
    /// Blocks of the class the program holds: handed out and not given back.
    in_use: usize,
    peak_in_use: usize,
    /// Blocks popped from the stack by `alloc`. (Those pushed by `free` are counted from it:
    /// every block pushed was popped, or moved to the pool by [`flush`](Self::flush), or is
    /// on the stack, or was lost.)
    allocs: u64,
    /// Times what was left of the stack was dropped because a use-after-free wrote over a
    /// link ([`drop_damaged`](Self::drop_damaged)), and the blocks dropped so.
    damaged: u64,
    lost: u64,
    /// The cache takes a block only if the program still holds more than this many after
    /// giving it back: a quarter of the pool's blocks once it has several regions, else 0.
    /// At or below that the pool may give memory back (see *Memory given back*), and a
    /// region holding a cached block could not; so those frees go to the pool, as if there
    /// were no cache, the cache's blocks first.
    idle_at: usize,
    /// The class's block stride, for the sanitizer's annotations.
    stride: usize,
    /// Frees of ended threads' caches that the counts here never saw (see `unseen_frees` in
    /// a thread's cache), and as many allocations: counted in when the thread ended.
    ended_threads_frees: u64,
    /// Blocks threads' caches handed out that the pool did not see, less those they took
    /// from this cache (wrapping): reuse, for the pool's rules (see `before_pool_free`).
    thread_reuse: u64,
}

// SAFETY: the pointers are addresses in the class's pool's regions, which belong to the
// allocator, not to a thread; the cache is only reached through its class's lock.
unsafe impl Send for FreeCache {}

/// Whether classes keep a cache (see *The cache in front of each class* on
/// [`SizeClasses`]): natively. Not on wasm32, where a class's first region is 32 KiB and a
/// class soon has several, so that one region's cache catches fewer frees: there talc's
/// random-actions workload ran slower with it (0.75 against 0.97 times talc's actions per
/// µs with realloc, 0.92 against 1.37 without) in a module 2.3 KB larger.
const CACHES: bool = cfg!(not(target_arch = "wasm32"));

/// The most blocks a class's cache holds: 32, or fewer for classes above 8 KiB, so that a
/// cache holds at most 256 KiB (and at least one block).
const fn cache_cap(class: usize) -> u32 {
    let blocks = (256 * 1024) / CLASS_SIZES[class];
    if blocks > 32 {
        32
    } else if blocks < 1 {
        1
    } else {
        blocks as u32
    }
}

impl FreeCache {
    const EMPTY: FreeCache = FreeCache {
        top: ptr::null_mut(),
        len: 0,
        cap: 0,
        region: RegionView::NONE,
        in_use: 0,
        peak_in_use: 0,
        allocs: 0,
        damaged: 0,
        lost: 0,
        idle_at: 0,
        stride: 0,
        ended_threads_frees: 0,
        thread_reuse: 0,
    };

    /// Pops the top block and marks it in use, or `None` if the stack is empty (or damaged).
    #[inline(always)]
    fn pop(&mut self) -> Option<NonNull<u8>> {
        if !CACHES {
            return None;
        }
        let block = self.take()?;
        self.allocs += 1;
        // No peak to update: a block on the stack was in use before, and each push and pop
        // moves one block between the program and the stack, so the program's blocks plus
        // the stack's never exceed the peak. Only the pool's blocks can raise it.
        self.in_use += 1;
        sanitizer::block_handed_out(block, self.stride);
        Some(block)
    }

    /// The pool handed out a block.
    #[inline(always)]
    fn count_handed_out(&mut self) {
        if !CACHES {
            return;
        }
        self.in_use += 1;
        self.peak_in_use = self.peak_in_use.max(self.in_use);
    }

    /// The pool took back one of the class's blocks from the program.
    #[inline(always)]
    fn count_given_back(&mut self) {
        if CACHES {
            self.in_use -= 1;
        }
    }

    /// Pops the top block and marks it in use, counting nothing.
    #[inline(always)]
    fn take(&mut self) -> Option<NonNull<u8>> {
        let block = self.top;
        // An empty stack's top is null, and `NONE` finds nothing; a block pushed was found
        // in `region`, so anything else was written over a link.
        let Some(state) = self.region.state_byte(block.addr()) else {
            return self.drop_damaged();
        };
        // SAFETY: `state_byte` found a block starting at `block`, and `state` is its state
        // byte, inside the region and initialised; the region is the pool's, and we hold the
        // class's lock, so nobody else reads or writes either.
        unsafe {
            let state = state_cell(state);
            if state.load(Ordering::Relaxed) != CACHED {
                return self.drop_damaged();
            }
            state.store(BlockState::InUse as u8, Ordering::Relaxed);
            self.top = self.region.link_slot(block).read();
        }
        self.len -= 1;
        NonNull::new(block)
    }

    /// The stack is empty, or its top is not a cached block of the region: a use-after-free
    /// wrote over a link (or nothing was ever pushed). Drop what is left (those blocks stay
    /// marked cached, lost to the pool, as a pool drops a damaged list), and say `None`.
    #[cold]
    #[inline(never)]
    fn drop_damaged(&mut self) -> Option<NonNull<u8>> {
        if self.len != 0 {
            self.damaged += 1;
            self.lost += u64::from(self.len);
        }
        self.top = ptr::null_mut();
        self.len = 0;
        None
    }

    /// Pushes `block`, freed by the program, if the stack has room and `block` is an in-use
    /// block of the region: it is marked cached. `false` (and nothing changed) otherwise, for
    /// the pool to take it, or refuse it.
    #[inline(always)]
    fn push(&mut self, block: NonNull<u8>) -> bool {
        if !CACHES || self.len == self.cap || self.in_use <= self.idle_at + 1 {
            return false;
        }
        let addr = block.addr().get();
        let Some(state) = self.region.state_byte(addr) else {
            return false;
        };
        let block = self.region.block(addr);
        // SAFETY: `state_byte` found a block starting at `block`, and `state` is its state
        // byte; we hold the class's lock. An in-use block is the program's until this `free`,
        // so it is ours to write from here on: its link slot.
        unsafe {
            let state = state_cell(state);
            if state.load(Ordering::Relaxed) != BlockState::InUse as u8 {
                return false;
            }
            state.store(CACHED, Ordering::Relaxed);
            let link = self.region.link_slot(block);
            link.write(self.top);
            if let Some(block) = NonNull::new(block) {
                sanitizer::block_freed(block, self.stride, link.addr() - addr);
            }
        }
        self.top = block;
        self.len += 1;
        self.in_use -= 1;
        true
    }

    /// Gives every cached block to `pool`: marked in use again, then freed there as the
    /// program's `free` would have.
    #[cold]
    #[inline(never)]
    fn flush<M: MemorySource + Clone>(&mut self, pool: &mut ClassPool<M>) {
        while let Some(block) = self.take() {
            let freed = pool.free_if_in_regions(block);
            debug_assert!(matches!(freed, Some(Ok(()))), "a cached block is in use");
        }
    }

    /// Before `pool` frees one of the class's blocks and maybe gives memory back: tells it
    /// how many blocks the cache handed out, and if that free leaves the class idle (see
    /// `idle_at`), gives it the cache's blocks first, so that the pool decides as if the
    /// program had given them back there.
    #[inline(always)]
    fn before_pool_free<M: MemorySource + Clone>(&mut self, pool: &mut ClassPool<M>) {
        if !CACHES {
            return;
        }
        pool.note_reused(self.allocs.wrapping_add(self.thread_reuse));
        if self.len != 0 && self.in_use <= self.idle_at + 1 {
            self.flush(pool);
        }
    }

    /// `free` of `block` by the pool, as the cache did not take it: the pool frees it (counted
    /// here as given back), or refuses it, or says `None` (not in its regions).
    #[inline(always)]
    fn free_to_pool<M: MemorySource + Clone>(
        &mut self,
        pool: &mut ClassPool<M>,
        block: NonNull<u8>,
    ) -> Option<Result<(), crate::FreeError>> {
        self.before_pool_free(pool);
        let freed = pool.free_if_in_regions(block);
        if let Some(Ok(())) = freed {
            self.count_given_back();
        }
        freed
    }

    /// [`before_pool_free`](Self::before_pool_free), for a search that has not yet found the
    /// pool `block` is in: only if it is in one of `pool`'s regions.
    ///
    /// Without caches nothing at all, not even the search: `view_of` is a second caller of
    /// the pool's `region_of`, which on wasm32 at opt-level "z" then stayed a call in every
    /// free instead of being inlined (1 to 2 % of talc's workload).
    #[inline(always)]
    fn before_pool_free_of<M: MemorySource + Clone>(
        &mut self,
        block: NonNull<u8>,
        pool: &mut ClassPool<M>,
    ) {
        if CACHES && pool.view_of(block.addr().get()).is_some() {
            self.before_pool_free(pool);
        }
    }

    /// The class's counters as the program sees them: the pool's, with the blocks the
    /// cache handed out and took back counted in, and the blocks waiting in it counted free.
    fn program_stats(&self, pool: PoolStats) -> PoolStats {
        if !CACHES {
            return pool;
        }
        PoolStats {
            in_use: self.in_use,
            peak_in_use: self.peak_in_use,
            // Ended threads' frees can count below zero (a thread gives back blocks it took
            // from here, not freed by the program): wrapping, as in the thread caches.
            total_allocs: (pool.total_allocs + self.allocs).wrapping_add(self.ended_threads_frees),
            // The pool's frees less the cached blocks it was given, plus every block pushed:
            // popped again, moved to the pool, on the stack, or lost.
            total_frees: (pool.total_frees + self.allocs + u64::from(self.len) + self.lost)
                .wrapping_add(self.ended_threads_frees),
            damaged_free_lists: pool.damaged_free_lists + self.damaged,
            ..pool
        }
    }
}

/// A class locked: its cache, and its pool (made on first use).
struct ClassLocked<'a, M: MemorySource + Clone> {
    cache: Locked<'a, FreeCache>,
    pool: &'a UnsafeCell<PoolSlot<M>>,
}

impl<M: MemorySource + Clone> ClassLocked<'_, M> {
    /// The class's cache and its pool, if the pool has been made.
    fn existing(&mut self) -> Option<(&mut FreeCache, &mut ClassPool<M>)> {
        // SAFETY: a class's pool is only reached while its cache's lock is held, which
        // `self.cache` does for as long as `self` lives (see `Shard::lock`).
        let pool = unsafe { &mut *self.pool.get() }.get_mut()?;
        Some((&mut self.cache, pool))
    }

    /// The class's cache and its pool (class `index`, made now if need be, its regions
    /// from `memory`).
    #[inline(always)]
    fn both(&mut self, index: usize, memory: &M) -> (&mut FreeCache, &mut ClassPool<M>) {
        // SAFETY: as in `existing`.
        let slot = unsafe { &mut *self.pool.get() };
        if !slot.made {
            make_class_pool(slot, index, memory);
        }
        let Some(pool) = slot.get_mut() else {
            unreachable!("made just above")
        };
        (&mut self.cache, pool)
    }
}

/// The most shards a [`SizeClasses::new`] spreads its threads over: natively with `std`,
/// eight (or as many as there are processors, if fewer); on wasm32 (one thread) and without
/// `std` (no thread-local storage), one.
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
pub const SHARDS: usize = 8;

/// The most shards a [`SizeClasses::new`] spreads its threads over: natively with `std`,
/// eight (or as many as there are processors, if fewer); on wasm32 (one thread) and without
/// `std` (no thread-local storage), one.
#[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
pub const SHARDS: usize = 1;

/// One full ladder of classes, each behind its own lock. A [`SizeClasses`] has one inline
/// (its *home* shard) and up to [`SHARDS`] more in memory of their own, made when a thread
/// first needs one.
///
/// Aligned to 128 bytes (two cache lines, what x86-64 prefetches together) so that no cache
/// line holds both a shard's words, written by its threads, and anything another thread
/// reads on every call (the home shard sits inside the allocator, next to `others`).
#[repr(align(128))]
struct Shard<M: MemorySource + Clone> {
    /// Each class's lock and cache.
    classes: [Class; CLASS_COUNT],
    /// Each class's pool, made on the class's first use, and only reached while holding its
    /// lock in `classes`.
    pools: [UnsafeCell<PoolSlot<M>>; CLASS_COUNT],
    /// The shard's `realloc` counters ([`LargeStats`] sums them). Per shard, not per
    /// allocator: one counter bumped by every thread's `realloc` would bounce its cache line
    /// between the processors on every call (measured: two threads on talc's workload then
    /// did 1.25 times the actions of one, against 2.2 times for glibc).
    reallocs_in_place: AtomicU64,
    reallocs_moved: AtomicU64,
}

// SAFETY: a shard is shared between threads; its pools are reached only through `lock`,
// while holding the class's lock, and may move between threads with it (`M: Send`).
unsafe impl<M: MemorySource + Clone + Send> Sync for Shard<M> {}

impl<M: MemorySource + Clone> Shard<M> {
    const fn new() -> Self {
        Shard {
            classes: [const { Aligned(SpinLock::new(FreeCache::EMPTY)) }; CLASS_COUNT],
            pools: [const { UnsafeCell::new(PoolSlot::EMPTY) }; CLASS_COUNT],
            reallocs_in_place: AtomicU64::new(0),
            reallocs_moved: AtomicU64::new(0),
        }
    }

    /// Locks class `class`: its cache, and through it its pool.
    #[inline(always)]
    fn lock(&self, class: usize) -> ClassLocked<'_, M> {
        ClassLocked {
            cache: self.classes[class].0.lock(),
            pool: &self.pools[class],
        }
    }

    /// Runs `f` on class `class`'s cache and pool if the pool has been made, holding the
    /// class's lock; `None` otherwise (nothing is made).
    fn with_existing<R>(
        &self,
        class: usize,
        f: impl FnOnce(&mut FreeCache, &mut ClassPool<M>) -> R,
    ) -> Option<R> {
        let mut locked = self.lock(class);
        let (cache, pool) = locked.existing()?;
        Some(f(cache, pool))
    }
}

/// The shard of the calling thread: threads are dealt shards in turn (1, 2, …, `n`, 1, …) on
/// their first call, and keep theirs for life, where `n` is the number of processors online
/// (at most [`SHARDS`]). 0, the home shard, is for a thread whose thread-locals are gone.
///
/// Why no more shards than processors: no more threads than that run at once, so as many
/// shards are enough for threads dealt in turn never to wait for each other; and each shard
/// used keeps its own free blocks, so more shards would only spread a program's memory over
/// more pools (a program that keeps starting threads would warm up shard after shard).
///
/// The thread-local is a `Cell<usize>` with a constant initialiser and no destructor: it
/// never allocates (a global allocator's thread-local must not, or its first use would call
/// the allocator from inside itself). A thread can end with its blocks still in use or
/// already handed to other threads; its shard simply serves the next thread dealt the same
/// number (what the thread's cache held went back to the shard first: see *Thread caches*
/// on [`SizeClasses`]).
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
#[inline(always)]
fn thread_shard() -> usize {
    use core::cell::Cell;
    std::thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD
        .try_with(|shard| {
            let mut index = shard.get();
            if index == usize::MAX {
                index = deal_shard();
                shard.set(index);
            }
            index
        })
        .unwrap_or(0)
}

/// The next shard number to deal to a thread.
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
#[cold]
fn deal_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static IN_USE: AtomicUsize = AtomicUsize::new(0);
    let mut shards = IN_USE.load(Ordering::Relaxed);
    if shards == 0 {
        shards = processors().clamp(1, SHARDS);
        IN_USE.store(shards, Ordering::Relaxed);
    }
    1 + NEXT.fetch_add(1, Ordering::Relaxed) % shards
}

/// Processors online: `sysconf`, which allocates nothing (`std::thread::available_parallelism`
/// may, reading cgroup files).
#[cfg(all(feature = "std", unix, not(miri)))]
fn processors() -> usize {
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online).unwrap_or(1)
}

/// Elsewhere (and under Miri, whose threads are its own): every shard.
#[cfg(all(feature = "std", not(target_arch = "wasm32"), any(not(unix), miri)))]
fn processors() -> usize {
    SHARDS
}

/// One shard: nothing to choose.
#[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
#[inline(always)]
fn thread_shard() -> usize {
    0
}

/// Adds one shard's counters of a class to the sum of the others'.
fn add_stats(sum: &mut PoolStats, shard: PoolStats) {
    sum.in_use += shard.in_use;
    sum.peak_in_use += shard.peak_in_use;
    sum.total_allocs += shard.total_allocs;
    sum.total_frees += shard.total_frees;
    let RejectedFrees {
        not_in_pool,
        misaligned,
        double_free,
    } = shard.rejected;
    sum.rejected.not_in_pool += not_in_pool;
    sum.rejected.misaligned += misaligned;
    sum.rejected.double_free += double_free;
    sum.damaged_free_lists += shard.damaged_free_lists;
}

/// Puts class `index`'s empty pool in `slot`. Out of line: a pool is some 5.7 KB, and built
/// in the caller it gave every `alloc` and `dealloc` a frame that large, with a stack probe
/// (a store a page down the stack) on each call.
#[cold]
#[inline(never)]
fn make_class_pool<M: MemorySource + Clone>(slot: &mut PoolSlot<M>, index: usize, memory: &M) {
    slot.pool.write(class_pool(index, memory.clone()));
    slot.made = true;
}

/// A class's pool, made on the class's first use. All zeros is a slot with no pool yet
/// (`made` is `false`, and the pool's bytes are not read), so a shard in fresh zeroed memory
/// needs nothing written here: an `Option` would have had its tag written in every class,
/// one page touched per class (some 170 KB resident) before the first allocation.
struct PoolSlot<M: MemorySource + Clone> {
    made: bool,
    pool: MaybeUninit<ClassPool<M>>,
}

impl<M: MemorySource + Clone> PoolSlot<M> {
    const EMPTY: Self = PoolSlot {
        made: false,
        pool: MaybeUninit::uninit(),
    };

    #[inline(always)]
    fn get_mut(&mut self) -> Option<&mut ClassPool<M>> {
        // SAFETY: `made` is set only once `pool` is written (`make_class_pool`).
        self.made.then(|| unsafe { self.pool.assume_init_mut() })
    }
}

impl<M: MemorySource + Clone> Drop for PoolSlot<M> {
    fn drop(&mut self) {
        if self.made {
            // SAFETY: made, so initialised; dropped once, here.
            unsafe { self.pool.assume_init_drop() };
        }
    }
}

/// The empty pool for class `index`: blocks of its size and alignment, a first region of
/// about 60 KiB (1 MiB over the system's memory natively, 32 KiB on wasm32).
#[cold]
fn class_pool<M: MemorySource + Clone>(index: usize, memory: M) -> ClassPool<M> {
    let size = CLASS_SIZES[index];
    let first_count = if memory.commits_lazily() {
        blocks_in(LAZY_FIRST_REGION_BYTES, index)
    } else {
        first_count(index)
    };
    // `let … else` with a plain message rather than `expect`, whose message would format the
    // error: that pulled `Debug` for both errors and most of `core::fmt` into every wasm
    // module using the classes (a fifth of its code).
    let Ok(layout) = Layout::from_size_align(size, class_align(index)) else {
        unreachable!("class sizes are powers of two times small odd numbers: valid layouts")
    };
    let Ok(mut pool) = ClassPool::with_layout_and_slots_in(layout, first_count, memory) else {
        unreachable!("class sizes and counts are not zero")
    };
    pool.decommit_empty_regions_from(DECOMMIT_FROM);
    pool.grow_as(CLASS_GROWTH);
    pool
}

/// A general-purpose allocator: one [`GrowingPool`] per size class from 8 B to 1 MiB, and
/// whole pages from the memory source above that.
///
/// One pool serves one size. A program asks for every size, so [`SizeClasses`] keeps a
/// ladder of [`GrowingPool`]s, one per *size class*, and serves each request from the
/// smallest class that fits it:
///
/// ```text
///  request:   1..8   9..16  17..32  33..48  49..64  65..96  …  32769..40960  40961..49152  …  917505..1048576  more
///  class:     8      16     32      48      64      96      …  40 KiB        48 KiB        …  1 MiB            large
/// ```
///
/// Up to 32 KiB the classes grow by about a half at each step (…, 64, 96, 128, 192, 256, …),
/// so rounding a request up wastes at most a third of a block (internal fragmentation). Above
/// 32 KiB, where one block is many pages and a third of it is a lot of memory, a doubling has
/// four classes (32, 40, 48, 56, 64 KiB, 80, …): at most a fifth is wasted. (Measured on talc's
/// memory workload, mostly blocks of 10 to 200 KB: live bytes ÷ RSS went from 0.85 with two
/// classes a doubling to 0.93 with four.) Blocks in one class are all alike, so there is no
/// external fragmentation inside a class. Requests above 1 MiB (or aligned to more than 1
/// MiB) are *large*: each goes straight to the memory source (`mmap`, or linear memory on
/// wasm32) rounded up to whole 4 KiB pages.
///
/// # Why classes up to 1 MiB: no cliff above the small sizes
///
/// A large block costs a system call to get and another to give back, plus a page fault per
/// page touched the first time: microseconds, where a class takes nanoseconds. With classes
/// ending at 4 KiB, the mixed benchmark (`benches/size_classes.rs`, uniform sizes 1 B – 10 KB)
/// ran nearly 40 times slower than glibc; with classes ending at 32 KiB, talc's random-actions
/// workload (`benches/random_actions.rs`) ran 8 to 10 times slower than glibc once its sizes
/// went past 20 KB, for the same reason. So the ladder goes on in page multiples up to 1 MiB:
/// a freed 200 KB block is a free block of its class, handed to the next request of that
/// class without asking the kernel, and its pages stay mapped (and, once touched, resident).
/// Above 1 MiB a request is rare enough, and its bytes costly enough to fill, that a system
/// call is a small part of its price (glibc's own `mmap` threshold starts at 128 KiB).
///
/// [`SizeClasses`] implements [`GlobalAlloc`], so a whole program can run on it:
///
/// ```
/// use memory_pool::SizeClasses;
///
/// #[global_allocator]
/// static ALLOCATOR: SizeClasses = SizeClasses::new();
///
/// let words: Vec<String> = (0..100).map(|i| format!("word {i}")).collect();
/// assert_eq!(words[42], "word 42");
/// ```
///
/// # Finding the class again on free
///
/// `GlobalAlloc::dealloc` is told the layout the block was allocated with, so the class is
/// computed again from the size: no header per block, no search (but for a block a `realloc`
/// shrank in place, see below). Each class's pool still
/// checks the pointer, so a pointer that is not one of its in-use blocks is refused and counted
/// in that class's [`PoolStats::rejected`] instead of corrupting anything. A large block's
/// size also comes from the layout, so it needs no bookkeeping at all.
///
/// # `realloc`
///
/// If the new size falls in the same class (or, for a large block, the same number of pages),
/// the block stays where it is: it already has room. Natively (not on wasm32, see
/// `SHRINK_IN_PLACE`) it stays too when it shrinks to a smaller
/// class by less than half (a 3000-byte `String` in the 3 KiB class cut to 2000 bytes): the
/// block is then at most twice what is asked of it, and the copy is saved, as glibc and
/// mimalloc save it. Otherwise a block of the new class is allocated, the bytes are copied, and
/// the old block is freed.
///
/// A block shrunk in place is freed later with its new, smaller layout, whose class is not the
/// block's: `dealloc` does not find it in that class and looks in the classes above (the slow
/// path a block freed by another thread takes too), where it is found and checked as any other.
///
/// # Threads
///
/// Each class has its own lock, a spin lock (an atomic flag) that allocates nothing, unlike
/// `std::sync::Mutex`, which may allocate and so cannot guard a global allocator. And
/// [`SizeClasses::new`] keeps not one ladder of classes but up to [`SHARDS`] of them, one
/// *shard* per processor: each thread is dealt a shard on its first call (in turn: 0, 1, …)
/// and allocates from it for life, so two threads running at once take two different locks
/// and never wait for each other (with one ladder, talc's random-actions workload ran 3 to 9
/// times slower on two threads than on one).
///
/// ```text
///  thread A ─▶ shard 1: [8 B pool] [16 B pool] … [1 MiB pool]   (made on A's first call)
///  thread B ─▶ shard 2: [8 B pool] [16 B pool] … [1 MiB pool]   (made on B's first call)
///  thread C ─▶ shard 1 again (when there are two processors)
/// ```
///
/// The shards threads are dealt are in memory of their own, from the memory source, so that
/// they stay where they are when the allocator value moves: a thread's cache (below) gives
/// its blocks back to its shard when the thread ends, through a pointer it keeps. The *home*
/// shard, inside the struct, serves an allocator made with [`SizeClasses::new_in`], and a
/// thread whose shard could not be made.
///
/// A block freed by another thread than the one that allocated it (a `String` sent over a
/// channel) is not in the freeing thread's shard: `dealloc` looks in the other shards' pools
/// of the class, takes that shard's lock, and gives the block back where it came from, so
/// the check of every pointer holds across threads too. A pointer in no shard is refused and
/// counted in the caller's.
///
/// A thread's shard number is kept in a thread-local with a constant initialiser and no
/// destructor: nothing is allocated on a thread's first call; its shard serves the next
/// thread dealt the same number. On wasm32 (one thread) and without `std` there is one shard,
/// and choosing it costs nothing. [`SizeClasses::new_in`] (a memory source of your own, maybe
/// a small buffer) also keeps to one shard, and has no thread caches.
///
/// # The cache in front of each class
///
/// A class's pool does all a `free` needs in O(1), but all of it: find which of the class's
/// regions the block is in, check its state byte, put it on the free list of its 16 KiB
/// chunk (so that blocks handed out one after another lie close together), and count it in
/// the region and in the pool. That is many words, spread over each class's 5.7 KB of
/// bookkeeping, on every call. So each class keeps beside its lock a small *cache* of blocks
/// the program freed, as glibc's and mimalloc's thread caches do in front of their heaps:
///
/// ```text
///  lock │ cache: top ─▶ [block] ─▶ [block] ─▶ …  (at most 32, all in one region)  ┐ 128 B a class,
///       │        that region's four words, the class's counts                   ┘ side by side
///  the class's pool, 5.7 KB: its regions, chunk lists, counters     (reached when the cache can't)
/// ```
///
/// - `free` checks the pointer against the cache's region with the pool's own arithmetic
///   (one multiply says whether it is a block start there, the state byte whether it is in
///   use), marks the block *cached* and pushes it: the lock, one line of the cache, the state
///   byte and the block, nothing of the pool.
/// - `alloc` pops the top block, checks it still reads cached, and marks it in use.
/// - Anything the cache does not take goes to the pool, which frees it or refuses it as
///   before: a pointer that is no block in use of the region, a block of another region of
///   the class, or any block once the cache holds 32 (or 256 KiB of its class). The cache
///   follows the pool: when it is empty and the pool hands out a block, the cache takes that
///   block's region as its own.
/// - Every free is still checked, before the block is cached: a second `free` of a cached
///   block finds it marked cached, not in use, and is refused as a double free; a
///   use-after-free that overwrites a cached block's link leads `alloc` to something not
///   marked cached, and the cache drops what it holds (counted in
///   [`PoolStats::damaged_free_lists`]) rather than follow it, as a pool drops a damaged list.
/// - The cache keeps no block the pool could give back: a `free` that leaves the program
///   holding at most a quarter of the class's blocks (with a single region, none) goes to the
///   pool, the cached blocks first, so the rules below decide as if there were no cache
///   (and they count the blocks the cache handed out as handed out).
///
/// The counters are the program's: [`SizeClasses::class_stats`] counts a cached block as
/// freed, and [`SizeClasses::class_block_states`] shows it free.
///
/// # Thread caches
///
/// The class's cache is still behind the class's lock, and taking a lock is an atomic
/// read-modify-write: the processor waits for every store before it to be written out,
/// tens of cycles, on every `alloc` and every `free`. So natively, with `std`, each thread
/// also keeps, for each class up to 8 KiB, a stack of up to 16 blocks it freed (64 KiB at
/// most), reached through a thread-local and no lock at all, as mimalloc's and glibc's
/// threads do:
///
/// ```text
///  thread A's cache: [8 B: block, block, …] [16 B: …] … [8 KiB: …]    no lock
///        │ empty, or out of room: half the stack at a time, one lock
///        ▼
///  shard 1, class 64 B: lock │ cache (≤ 32 blocks) │ pool
/// ```
///
/// - `free` checks the pointer as the class's cache does, against the region the shard hands
///   out from (a block start there, its state byte *in use*), marks it *cached* and pushes
///   it. The state bytes are read and written as relaxed atomics (plain loads and stores),
///   so the check races with nothing the shard does under its lock. A second `free` of a
///   block in a thread's cache, on any thread, finds it cached and is refused. The stack
///   keeps its blocks' addresses in the thread-local, not links in the blocks, so a
///   use-after-free has nothing there to damage.
/// - `alloc` pops a block and marks it in use. An empty stack goes to the shard: one block
///   from the class, plus up to half the stack's room of the class's cached blocks.
/// - A full stack goes to the shard too: the older half of it goes back there, through the
///   class's cache and pool as the program's frees would have.
/// - The stack takes at most half as many more frees than allocations as the program held
///   blocks of the class from the shard, above the class's idle mark (*Memory given back*),
///   when the thread last went there. So by the time the class could give memory back, the
///   stack has gone back to the shard, and the pool decides as if it were not there. While
///   the stack is empty and may take no frees, the class's calls go to the shard as if there
///   were no thread cache, but for every 16th allocation, which looks at the class again.
/// - When the thread ends, its stacks go back to its shard (the thread-local's destructor,
///   registered on the thread's first use of its cache: the calls that registering makes go
///   to the shard). A cache serves one allocator, the first the thread uses: a dropped
///   allocator tells the caches serving it to forget it, under a lock the threads' exits take
///   too.
/// - The counters stay the program's: blocks in thread caches count as freed. The one
///   exception is `peak_in_use`, which counts blocks a thread's cache took from its class in
///   a batch as in use.
///
/// What is not caught: two threads freeing the same block *at the same moment*, with nothing
/// ordering the two calls, may both see it in use. (Frees ordered by the program, as any
/// correct hand-over between threads is, are: each sees what the other wrote.) A class's lock
/// made that case an error too.
///
/// # Memory given back
///
/// A pool never gives a block back to the system: a freed block waits for the next request
/// of its class. That is what makes a class fast, and what would keep a program that once
/// held a gigabyte at a gigabyte of RAM after it freed everything. So a class's region whose
/// blocks are all free gives its memory back, keeping its addresses (natively
/// `madvise(MADV_DONTNEED)`: the kernel takes the pages now, and they read as zero when next
/// touched, so the region starts over with every block never used). The policy:
///
/// - only regions of at least [`DECOMMIT_FROM`] (128 KiB) of blocks (over a source of yours
///   that can give memory back, whose first regions are 60 KiB, those are kept);
/// - only when the class is at most a quarter in use, as a vector shrinks only when a quarter
///   full: the region given back is needed again only after the blocks in use have about
///   doubled, so its page faults are paid for by many operations, not one;
/// - only when the class has handed out at least four times the bytes it gives back since it
///   last gave any back: a class of a dozen large blocks crosses its quarter back and forth
///   all the time, and without this credit gave back (then faulted in again) some 370
///   regions a second on talc's workload with sizes up to 100 KB, which made it 2.5 times
///   slower than keeping them;
/// - never the smallest such empty region of the class: it is kept as a spare, so that one
///   block allocated and freed over and over costs no system call (a class of one region
///   keeps it);
/// - except when the whole class is empty, no block of it in use, having handed out at least
///   64 blocks since it last was, and at most four per block of memory it touched since: then
///   every region of the class gives its memory back, the first region and the spare too.
///   A program that frees everything gets its RSS back (talc's memory workload: within 7 %
///   of what it started with, against 3.7 times with the rules above alone). A class
///   emptied over and over (a few blocks allocated and freed in a loop, each handed out many
///   times) is a working set between two uses, not idle memory: it keeps its memory, which is
///   at most what it touched, its peak in use. (Measured on talc's random-actions workload at
///   sizes up to 100 KB, where a class of a dozen large blocks empties dozens of times a
///   second: giving back once per 64 allocations ran at 1.5 actions/µs, this rule at 2.0,
///   never giving back at 2.6.)
///
/// [`SizeClasses::touched_bytes`] says how much the classes may hold resident,
/// [`SizeClasses::decommits`] how often a region went back. On wasm32 linear memory cannot
/// shrink, and over a [`MemorySource`] of your own (a buffer) nothing is given back (its
/// [`MemorySource::decommit`] says no): the memory stays, as before.
///
/// # Looking inside
///
/// [`SizeClasses::class_stats`], [`SizeClasses::large_stats`],
/// [`SizeClasses::class_regions`] and [`SizeClasses::class_block_states`] copy the counters and
/// the memory map out without allocating, so they can be called from code that runs on this
/// very allocator (the playground page drawing its own heap).
///
/// Create it with the `const fn` [`SizeClasses::new`] in a `static` and install it with
/// `#[global_allocator]`, or use one directly through the [`GlobalAlloc`] methods. `M` is
/// where every class's regions and every large block come from: the operating system by
/// default, or any [`MemorySource`] that can be cloned (each class's pool holds a clone), such
/// as [`&BufferMemory`](crate::BufferMemory) over a buffer of your own, given to
/// [`SizeClasses::new_in`].
///
/// With the `allocator-api2` feature, `&SizeClasses` is also an allocator for allocator-api2's
/// and hashbrown's collections (see the crate doc's *Collections in a pool*).
///
/// # Examples
///
/// ```
/// use core::alloc::{GlobalAlloc, Layout};
/// use memory_pool::SizeClasses;
///
/// let allocator = SizeClasses::new();
/// let layout = Layout::from_size_align(40, 8).unwrap();
/// // SAFETY: the layout has a non-zero size.
/// let block = unsafe { allocator.alloc(layout) };
/// assert!(!block.is_null());
/// assert_eq!(allocator.class_stats(3).unwrap().block_size, 48); // 40 B → the 48 B class
/// assert_eq!(allocator.class_stats(3).unwrap().stats.in_use, 1);
/// // SAFETY: allocated just above with this layout.
/// unsafe { allocator.dealloc(block, layout) };
/// ```
pub struct SizeClasses<M: MemorySource + Clone = SystemMemory> {
    /// Shard 0, and the only one of an allocator made with [`SizeClasses::new_in`].
    home: Shard<M>,
    /// Shards `1..SHARDS`, null until a thread dealt that number first allocates; each in
    /// memory from `memory`, given back on drop.
    others: [AtomicPtr<Shard<M>>; SHARDS],
    /// This allocator's number for the thread caches, given on its first use of one (0:
    /// none yet; see *Thread caches*). Without thread caches (wasm32, no `std`), unused.
    #[cfg_attr(
        not(all(feature = "std", not(target_arch = "wasm32"))),
        allow(dead_code)
    )]
    id: AtomicU64,
    /// Whether all threads use the home shard ([`SizeClasses::new_in`]) rather than being
    /// spread over the shards ([`SizeClasses::new`]). `false` for sharded, so that a `static`
    /// made with `new` is all zeros, in `.bss`.
    one_shard: bool,
    large: LargeCounters,
    memory: M,
}

/// The counters of large blocks, atomics so they need no lock.
struct LargeCounters {
    in_use: AtomicUsize,
    bytes_in_use: AtomicUsize,
    peak_bytes_in_use: AtomicUsize,
    total_allocs: AtomicU64,
    total_frees: AtomicU64,
}

/// One size class as [`SizeClasses::class_stats`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassStats {
    /// The size of every block in this class, in bytes.
    pub block_size: usize,
    /// How many regions the class's pool has grown to.
    pub regions: usize,
    /// Blocks in all its regions.
    pub capacity: usize,
    /// Its pool's counters (in use, peak, allocations, frees, refused frees).
    pub stats: PoolStats,
}

/// The large blocks (above [`LARGEST_CLASS`]) and `realloc`s, as
/// [`SizeClasses::large_stats`] sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LargeStats {
    /// Large blocks handed out and not yet freed.
    pub in_use: usize,
    /// Their size in bytes, rounded up to whole pages.
    pub bytes_in_use: usize,
    /// The most bytes that were ever in large blocks at once.
    pub peak_bytes_in_use: usize,
    /// Large blocks handed out.
    pub total_allocs: u64,
    /// Large blocks given back.
    pub total_frees: u64,
    /// `realloc`s (of any size) that kept the block where it was.
    pub reallocs_in_place: u64,
    /// `realloc`s that moved the bytes to a new block.
    pub reallocs_moved: u64,
}

impl SizeClasses {
    /// An allocator with every class empty, in memory from the operating system: no memory is
    /// taken until the first request.
    #[cfg(any(unix, target_arch = "wasm32"))]
    pub const fn new() -> SizeClasses {
        let mut classes = SizeClasses::new_in(SystemMemory);
        classes.one_shard = false;
        classes
    }

    /// The class that would serve `layout`: an index into [`CLASS_SIZES`], or `None` for a
    /// large request.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use memory_pool::SizeClasses;
    ///
    /// let class = |size, align| SizeClasses::class_for(Layout::from_size_align(size, align).unwrap());
    /// assert_eq!(class(1, 1), Some(0)); // 8 B
    /// assert_eq!(class(33, 8), Some(3)); // 48 B
    /// assert_eq!(class(33, 32), Some(4)); // 64 B: the 48 B class is only 16-aligned
    /// assert_eq!(class(5000, 8), Some(17)); // 6144 B
    /// assert_eq!(class(40_000, 8), Some(23)); // 40 KiB
    /// assert_eq!(class(2_000_000, 8), None); // large
    /// ```
    pub fn class_for(layout: Layout) -> Option<usize> {
        class_of(layout)
    }
}

impl<M: MemorySource + Clone> SizeClasses<M> {
    /// An allocator with every class empty, whose regions and large blocks come from clones
    /// of `memory`; no memory is taken until the first request. A `const fn`, for a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::{GlobalAlloc, Layout};
    /// use memory_pool::{BufferMemory, SizeClasses};
    ///
    /// let mut bytes = vec![0u8; 1 << 20];
    /// let buffer = BufferMemory::new(&mut bytes);
    /// let classes = SizeClasses::new_in(&buffer);
    /// let layout = Layout::new::<[u64; 4]>();
    /// // SAFETY: the layout has a non-zero size.
    /// let block = unsafe { classes.alloc(layout) };
    /// assert!(!block.is_null());
    /// assert!(buffer.used() > 0); // the 32-byte class's first region
    /// // SAFETY: allocated just above with this layout.
    /// unsafe { classes.dealloc(block, layout) };
    /// ```
    pub const fn new_in(memory: M) -> Self {
        SizeClasses {
            home: Shard::new(),
            others: [const { AtomicPtr::new(ptr::null_mut()) }; SHARDS],
            id: AtomicU64::new(0),
            one_shard: true,
            large: LargeCounters {
                in_use: AtomicUsize::new(0),
                bytes_in_use: AtomicUsize::new(0),
                peak_bytes_in_use: AtomicUsize::new(0),
                total_allocs: AtomicU64::new(0),
                total_frees: AtomicU64::new(0),
            },
            memory,
        }
    }

    /// The calling thread's shard and its number.
    #[inline(always)]
    fn own_shard(&self) -> (usize, &Shard<M>) {
        if SHARDS == 1 || self.one_shard {
            return (0, &self.home);
        }
        let index = thread_shard();
        if index == 0 {
            return (0, &self.home);
        }
        let shard = self.others[index - 1].load(Ordering::Acquire);
        if shard.is_null() {
            return self.make_shard(index);
        }
        // SAFETY: a non-null entry points to a shard `make_shard` initialised and published
        // (Release, read with Acquire above); it lives until `self` is dropped.
        (index, unsafe { &*shard })
    }

    /// Shard `index`'s first use: its memory from the source, every class empty. If the
    /// source has no memory for it (or gives it misaligned), the thread uses the home shard.
    #[cold]
    #[inline(never)]
    fn make_shard(&self, index: usize) -> (usize, &Shard<M>) {
        let bytes = size_of::<Shard<M>>();
        let Some(memory) = self.memory.clone().acquire(bytes) else {
            return (0, &self.home);
        };
        let shard: *mut Shard<M> = memory.as_ptr().cast();
        if !shard.is_aligned() {
            // SAFETY: the pair just came from `acquire`, and nothing uses it.
            unsafe { self.memory.clone().release(memory, bytes) };
            return (0, &self.home);
        }
        for class in 0..CLASS_COUNT {
            // SAFETY: `shard` is aligned and `bytes` long, ours alone until published; each
            // class is written in place (a whole shard is too big to build on the stack).
            // The pool slots are left as the source gave them, zeros: empty (`PoolSlot`).
            unsafe {
                ptr::addr_of_mut!((*shard).classes[class])
                    .write(Aligned(SpinLock::new(FreeCache::EMPTY)));
            }
        }
        // SAFETY: as above, for the two counters.
        unsafe {
            ptr::addr_of_mut!((*shard).reallocs_in_place).write(AtomicU64::new(0));
            ptr::addr_of_mut!((*shard).reallocs_moved).write(AtomicU64::new(0));
        }
        match self.others[index - 1].compare_exchange(
            ptr::null_mut(),
            shard,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: initialised above; from now on it lives until `self` is dropped.
            Ok(_) => (index, unsafe { &*shard }),
            Err(theirs) => {
                // Another thread dealt the same number made it first: use theirs. Ours holds
                // no pool yet, so giving its memory back is all there is to do.
                // SAFETY: the pair from `acquire` above, never published.
                unsafe { self.memory.clone().release(memory, bytes) };
                // SAFETY: as in `own_shard`.
                (index, unsafe { &*theirs })
            }
        }
    }

    /// Every shard made so far, with its number: the home shard first.
    fn numbered_shards(&self) -> impl Iterator<Item = (usize, &Shard<M>)> + '_ {
        let others = self.others.iter().enumerate().filter_map(|(index, shard)| {
            let shard = shard.load(Ordering::Acquire);
            // SAFETY: as in `own_shard`.
            (!shard.is_null()).then(|| (index + 1, unsafe { &*shard }))
        });
        core::iter::once((0, &self.home)).chain(others)
    }

    /// Every shard made so far, the home shard first.
    fn shards(&self) -> impl Iterator<Item = &Shard<M>> + '_ {
        self.numbered_shards().map(|(_, shard)| shard)
    }

    /// Class `class`'s counters, or `None` if there is no such class: the sums over every
    /// shard (so `peak_in_use` is the sum of each shard's peak, at least the real peak when
    /// several threads allocate), with the blocks in threads' caches counted as freed (but in
    /// `peak_in_use`, which counts those a thread's cache took from its shard in a batch).
    /// While other threads allocate, a snapshot of moving counts. Allocates nothing.
    pub fn class_stats(&self, class: usize) -> Option<ClassStats> {
        if class >= CLASS_COUNT {
            return None;
        }
        let mut sum = ClassStats {
            block_size: CLASS_SIZES[class],
            regions: 0,
            capacity: 0,
            stats: PoolStats::default(),
        };
        // The registry's lock first (a thread's exit takes it, then the class's).
        #[cfg(all(feature = "std", not(target_arch = "wasm32")))]
        let registry = REGISTRY.lock();
        for shard in self.shards() {
            shard.with_existing(class, |cache, pool| {
                sum.regions += pool.regions().count();
                sum.capacity += pool.capacity();
                add_stats(&mut sum.stats, cache.program_stats(pool.stats()));
            });
        }
        #[cfg(all(feature = "std", not(target_arch = "wasm32")))]
        {
            // Blocks in threads' caches count as freed, as in a class's own cache.
            let (held, unseen) = self.thread_counts(&registry, class);
            let stats = &mut sum.stats;
            stats.in_use = stats.in_use.saturating_sub(held);
            stats.total_frees = stats.total_frees.wrapping_add(unseen);
            stats.total_allocs = stats
                .total_allocs
                .wrapping_add(unseen)
                .wrapping_sub(held as u64);
        }
        Some(sum)
    }

    /// Bytes of memory the allocator may hold resident: in every class's regions, the blocks
    /// handed out at least once since the region was made or last gave its memory back (a
    /// block never handed out was never touched), plus the large blocks in use. An upper
    /// bound of what the classes cost in RAM, without asking the system. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::{GlobalAlloc, Layout};
    /// use memory_pool::SizeClasses;
    ///
    /// let allocator = SizeClasses::new();
    /// let layout = Layout::from_size_align(100_000, 8).unwrap(); // the 112 KiB class
    /// // SAFETY: non-zero sizes; each block freed once, with its layout.
    /// let blocks: Vec<_> = (0..100).map(|_| unsafe { allocator.alloc(layout) }).collect();
    /// assert!(allocator.touched_bytes() >= 100 * 114_688);
    /// for block in blocks {
    ///     unsafe { allocator.dealloc(block, layout) };
    /// }
    /// // The class is empty after handing out more than 64 blocks: all its memory went back.
    /// # #[cfg(all(unix, not(miri)))]
    /// assert_eq!(allocator.touched_bytes(), 0);
    /// ```
    pub fn touched_bytes(&self) -> usize {
        let mut bytes = self.large.bytes_in_use.load(Ordering::Relaxed);
        for shard in self.shards() {
            for class in 0..CLASS_COUNT {
                bytes += shard
                    .with_existing(class, |_, pool| pool.touched_bytes())
                    .unwrap_or(0);
            }
        }
        bytes
    }

    /// How many times a class's region gave its memory back to the system (see *Memory given
    /// back*). Allocates nothing.
    pub fn decommits(&self) -> u64 {
        let mut decommits = 0;
        for shard in self.shards() {
            for class in 0..CLASS_COUNT {
                decommits += shard
                    .with_existing(class, |_, pool| pool.decommits())
                    .unwrap_or(0);
            }
        }
        decommits
    }

    /// The counters of large blocks and of `realloc`. Allocates nothing.
    pub fn large_stats(&self) -> LargeStats {
        let large = &self.large;
        LargeStats {
            in_use: large.in_use.load(Ordering::Relaxed),
            bytes_in_use: large.bytes_in_use.load(Ordering::Relaxed),
            peak_bytes_in_use: large.peak_bytes_in_use.load(Ordering::Relaxed),
            total_allocs: large.total_allocs.load(Ordering::Relaxed),
            total_frees: large.total_frees.load(Ordering::Relaxed),
            reallocs_in_place: self
                .shards()
                .map(|shard| shard.reallocs_in_place.load(Ordering::Relaxed))
                .sum(),
            reallocs_moved: self
                .shards()
                .map(|shard| shard.reallocs_moved.load(Ordering::Relaxed))
                .sum(),
        }
    }

    /// Copies the layouts of class `class`'s regions (in creation order) into `out` and
    /// returns how many regions the class has (which may be more than `out` holds).
    /// Allocates nothing.
    ///
    /// With several shards (threads), the regions of the home shard come first, then each
    /// other shard's in turn.
    pub fn class_regions(&self, class: usize, out: &mut [RegionLayout]) -> usize {
        if class >= CLASS_COUNT {
            return 0;
        }
        let mut count = 0;
        for shard in self.shards() {
            shard.with_existing(class, |_, pool| {
                for region in pool.regions() {
                    if let Some(slot) = out.get_mut(count) {
                        *slot = region.layout();
                    }
                    count += 1;
                }
            });
        }
        count
    }

    /// Copies the state of each block of region `region` of class `class` into `out`, one
    /// [`BlockState`](crate::BlockState) as `u8` per block in address order, and returns the
    /// region's block count (0 if there is no such region). Allocates nothing.
    pub fn class_block_states(&self, class: usize, region: usize, out: &mut [u8]) -> usize {
        if class >= CLASS_COUNT {
            return 0;
        }
        let mut skip = region;
        for shard in self.shards() {
            let found = shard.with_existing(class, |_, pool| {
                let Some(region) = pool.regions().nth(skip) else {
                    skip -= pool.regions().count();
                    return None;
                };
                for (slot, block) in out.iter_mut().zip(region.blocks()) {
                    *slot = block.state as u8;
                }
                Some(region.block_count())
            });
            if let Some(Some(count)) = found {
                return count;
            }
        }
        0
    }

    /// How many bytes of a block handed out for `layout` are usable: its class's block size,
    /// or its whole pages.
    #[cfg(feature = "allocator-api2")]
    pub(crate) fn usable_size(&self, layout: Layout) -> usize {
        match class_of(layout) {
            Some(class) => CLASS_SIZES[class],
            None => layout.size().next_multiple_of(PAGE_SIZE),
        }
    }

    /// A large block: whole pages straight from the memory source.
    #[cold]
    fn alloc_large(&self, layout: Layout) -> *mut u8 {
        if layout.align() > PAGE_SIZE {
            return ptr::null_mut();
        }
        let Some(bytes) = layout.size().checked_next_multiple_of(PAGE_SIZE) else {
            return ptr::null_mut();
        };
        let Some(block) = self.memory.clone().acquire(bytes) else {
            return ptr::null_mut();
        };
        if block.as_ptr().addr() % layout.align() != 0 {
            // The system's pages are aligned; a source of your own may not be.
            // SAFETY: the pair just came from `acquire`, and nothing uses it.
            unsafe { self.memory.clone().release(block, bytes) };
            return ptr::null_mut();
        }
        let large = &self.large;
        large.in_use.fetch_add(1, Ordering::Relaxed);
        let now = large.bytes_in_use.fetch_add(bytes, Ordering::Relaxed) + bytes;
        large.peak_bytes_in_use.fetch_max(now, Ordering::Relaxed);
        large.total_allocs.fetch_add(1, Ordering::Relaxed);
        block.as_ptr()
    }

    /// A large block resized to another large size by the memory source itself (`mremap`
    /// natively: the pages move, nothing is copied), or `None` if the source cannot (wasm32,
    /// a buffer of yours) and the block is as it was. Counted as a moved `realloc`: a large
    /// block allocated, then the old one freed.
    ///
    /// # Safety
    ///
    /// `block` was returned for `layout`, large, and is in use; on `Some` it is not used
    /// again.
    #[cold]
    unsafe fn resize_large(
        &self,
        block: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> Option<*mut u8> {
        let old_bytes = layout.size().next_multiple_of(PAGE_SIZE);
        let new_bytes = new_size.checked_next_multiple_of(PAGE_SIZE)?;
        let block = NonNull::new(block)?;
        // SAFETY: a large block is exactly the pair `acquire(old_bytes)` (or an earlier
        // resize) returned; the caller gives it up if this succeeds.
        let moved = unsafe { self.memory.clone().resize(block, old_bytes, new_bytes)? };
        // A resized region is aligned as the old one was, up to a page (the trait's promise),
        // and the old one was aligned for the layout, which asks at most a page.
        debug_assert_eq!(moved.as_ptr().addr() % layout.align(), 0);
        let large = &self.large;
        // Counted as the copying path counts: the new block allocated, then the old freed.
        let now = large.bytes_in_use.fetch_add(new_bytes, Ordering::Relaxed) + new_bytes;
        large.peak_bytes_in_use.fetch_max(now, Ordering::Relaxed);
        large.bytes_in_use.fetch_sub(old_bytes, Ordering::Relaxed);
        large.total_allocs.fetch_add(1, Ordering::Relaxed);
        large.total_frees.fetch_add(1, Ordering::Relaxed);
        self.own_shard()
            .1
            .reallocs_moved
            .fetch_add(1, Ordering::Relaxed);
        Some(moved.as_ptr())
    }

    /// Gives a large block's pages back.
    ///
    /// # Safety
    ///
    /// `block` was returned by `alloc_large(layout)` (or resized in place to `layout`) and is
    /// not used again.
    #[cold]
    unsafe fn dealloc_large(&self, block: *mut u8, layout: Layout) {
        let bytes = layout.size().next_multiple_of(PAGE_SIZE);
        if let Some(block) = NonNull::new(block) {
            // SAFETY: the caller passes a block that `acquire(bytes)` returned (a resize in
            // place keeps the page count, so `bytes` is unchanged), once.
            unsafe { self.memory.clone().release(block, bytes) };
            let large = &self.large;
            large.in_use.fetch_sub(1, Ordering::Relaxed);
            large.bytes_in_use.fetch_sub(bytes, Ordering::Relaxed);
            large.total_frees.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(any(unix, target_arch = "wasm32"))]
impl Default for SizeClasses {
    fn default() -> Self {
        SizeClasses::new()
    }
}

// SAFETY: small blocks come from the class's pool, which hands out each block once until it
// is freed, sized and aligned for the class, which `class_of` picked to fit the layout; large
// blocks are fresh regions of at least the layout's size, checked to be aligned for it
// (alignments above a page are refused with null). `realloc` returns either the same block (when the new layout
// maps to the same class or page count, so it fits) or a new one with the bytes copied.
unsafe impl<M: MemorySource + Clone> GlobalAlloc for SizeClasses<M> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            Some(class) => match self.thread_alloc(class) {
                Some(block) => block,
                None => self.alloc_in(self.own_shard().1, class),
            },
            None => self.alloc_large(layout),
        }
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match class_of(layout) {
            Some(class) => {
                if let Some(block) = NonNull::new(block) {
                    if self.thread_free(class, block) {
                        return;
                    }
                    let (own, shard) = self.own_shard();
                    self.dealloc_in(own, shard, class, block);
                }
            }
            // SAFETY: the caller passes a block this allocator returned for `layout`; a
            // large layout maps to a large block.
            None => unsafe { self.dealloc_large(block, layout) },
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not
        // overflow `isize`, which is what a layout needs.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let classes = (class_of(layout), class_of(new_layout));
        let stays = match classes {
            // The same class, or a smaller one for which the block is at most twice too big:
            // shrinking by less than half keeps the block, as glibc and mimalloc do.
            (Some(old), Some(new)) => {
                new == old || (SHRINK_IN_PLACE && new < old && new_size >= CLASS_SIZES[old] / 2)
            }
            (None, None) => layout.size().div_ceil(PAGE_SIZE) == new_size.div_ceil(PAGE_SIZE),
            _ => false,
        };
        if stays {
            self.own_shard()
                .1
                .reallocs_in_place
                .fetch_add(1, Ordering::Relaxed);
            return block;
        }
        if classes == (None, None) {
            // SAFETY: the caller's block, allocated large with `layout`.
            if let Some(moved) = unsafe { self.resize_large(block, layout, new_size) } {
                return moved;
            }
        }
        if let (true, (Some(old), Some(new))) = (CACHES, classes) {
            // From one class to another: one shard for both, found once. (Not on wasm32,
            // with one shard, where it only made the module larger.)
            let (own, shard) = self.own_shard();
            let moved = match self.thread_alloc(new) {
                Some(moved) => moved,
                None => self.alloc_in(shard, new),
            };
            if let Some(old_block) = NonNull::new(block).filter(|_| !moved.is_null()) {
                // SAFETY: as below.
                unsafe { ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size)) };
                if !self.thread_free(old, old_block) {
                    self.dealloc_in(own, shard, old, old_block);
                }
                shard.reallocs_moved.fetch_add(1, Ordering::Relaxed);
            }
            return moved;
        }
        // SAFETY: `new_layout` has a non-zero size (the caller's contract for `realloc`).
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are at least `min` bytes long and distinct (the old one is
            // still in use, so the new one cannot be it); the old one is freed once, with the
            // layout it was allocated with.
            unsafe {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            self.own_shard()
                .1
                .reallocs_moved
                .fetch_add(1, Ordering::Relaxed);
        }
        moved
    }
}

impl<M: MemorySource + Clone> SizeClasses<M> {
    /// A block of class `class` from `shard`: from the class's cache if it has one, else
    /// from its pool (null if the memory source has no more).
    #[inline(always)]
    fn alloc_in(&self, shard: &Shard<M>, class: usize) -> *mut u8 {
        let mut locked = shard.lock(class);
        if let Some(block) = locked.cache.pop() {
            return block.as_ptr();
        }
        self.alloc_from_pool(&mut locked, class)
    }

    /// The class's cache is empty: a block from its pool. The cache then follows the pool
    /// to the region the block is in, so that the next blocks freed there are cached.
    #[cfg_attr(not(target_arch = "wasm32"), inline(never))]
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn alloc_from_pool(&self, locked: &mut ClassLocked<'_, M>, class: usize) -> *mut u8 {
        let (cache, pool) = locked.both(class, &self.memory);
        let Some(block) = pool.alloc() else {
            return ptr::null_mut();
        };
        cache.count_handed_out();
        if !CACHES {
            return block.as_ptr();
        }
        if cache.len == 0 {
            if let Some(region) = pool.view_of(block.addr().get()) {
                cache.region = region;
                cache.cap = cache_cap(class);
                cache.stride = pool.block_size();
            }
        }
        cache.idle_at = if pool.region_count() > 1 {
            pool.capacity() / 4
        } else {
            0
        };
        block.as_ptr()
    }

    /// Frees `block`, allocated in class `class`, from the calling thread's shard `shard`
    /// (numbered `own`): onto the class's cache if it can be, else to the pool, or wherever
    /// it is. A refused free (not a block of this class in use) changes nothing and is
    /// counted in the class's `rejected` counters.
    #[inline(always)]
    fn dealloc_in(&self, own: usize, shard: &Shard<M>, class: usize, block: NonNull<u8>) {
        let mut locked = shard.lock(class);
        if locked.cache.push(block) {
            return;
        }
        self.dealloc_to_pool(own, locked, class, block);
    }

    /// `free` of a block the class's cache did not take: the pool frees it, or refuses it,
    /// or it is none of the pool's, and someone else's.
    #[cfg_attr(not(target_arch = "wasm32"), inline(never))]
    #[cfg_attr(target_arch = "wasm32", inline(always))]
    fn dealloc_to_pool(
        &self,
        own: usize,
        mut locked: ClassLocked<'_, M>,
        class: usize,
        block: NonNull<u8>,
    ) {
        let (cache, pool) = locked.both(class, &self.memory);
        if cache.free_to_pool(pool, block).is_none() {
            drop(locked);
            self.dealloc_elsewhere(own, class, block);
        }
    }

    /// A block that is in none of the calling thread's shard's regions of its class: another
    /// thread's shard allocated it (a block handed between threads), or a `realloc` shrank it
    /// in place and it sits in a larger class, or it is no block of this allocator at all,
    /// refused and counted in the caller's shard.
    ///
    /// The search goes up from the block's class, each class in every shard (the caller's
    /// own shard of its own class was looked in already): a block handed between threads is
    /// found at the first step, a shrunk one a class or two above. Only a pointer that is
    /// nobody's block goes through them all.
    #[cold]
    #[inline(never)]
    fn dealloc_elsewhere(&self, own: usize, class: usize, block: NonNull<u8>) {
        for larger in class..CLASS_COUNT {
            for (index, shard) in self.numbered_shards() {
                if larger == class && index == own {
                    continue;
                }
                let freed = shard.with_existing(larger, |cache, pool| {
                    cache.before_pool_free_of(block, pool);
                    let freed = pool.free_if_in_regions(block);
                    if let Some(Ok(())) = freed {
                        cache.count_given_back();
                    }
                    freed
                });
                if let Some(Some(_)) = freed {
                    // Freed there, or refused and counted there (inside that shard's region).
                    return;
                }
            }
        }
        let (_, shard) = self.own_shard();
        let mut locked = shard.lock(class);
        locked.both(class, &self.memory).1.refuse_foreign(block);
    }
}

/// Gives a block of class `class` back to the locked class (of the shard it came from), as
/// the program's `free` would: onto the class's cache, or to its pool.
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
fn give_back_locked<M: MemorySource + Clone>(locked: &mut ClassLocked<'_, M>, block: NonNull<u8>) {
    if locked.cache.push(block) {
        return;
    }
    let Some((cache, pool)) = locked.existing() else {
        unreachable!("a block of the class came from its pool")
    };
    let freed = cache.free_to_pool(pool, block);
    debug_assert!(
        matches!(freed, Some(Ok(()))),
        "a thread's cached block is in use"
    );
}

/// A thread's cached blocks back to the shard `shard`, at the thread's exit.
///
/// # Safety
///
/// `shard` is a live `Shard<M>`, the one `cache`'s blocks came from.
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
unsafe fn give_back_at_exit<M: MemorySource + Clone>(shard: *const (), cache: &ThreadCache) {
    // SAFETY: the caller's promise.
    let shard = unsafe { &*shard.cast::<Shard<M>>() };
    for (class, cached) in cache.classes.iter().enumerate() {
        if cached.is_empty() && cached.unseen_frees() == 0 {
            continue;
        }
        let mut locked = shard.lock(class);
        let pops = cached.take_unreported_pops();
        locked.cache.thread_reuse = locked.cache.thread_reuse.wrapping_add(pops);
        cached.drain(|block| give_back_locked(&mut locked, block));
        let unseen = cached.unseen_frees();
        let counts = &mut locked.cache.ended_threads_frees;
        *counts = counts.wrapping_add(unseen);
    }
}

#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
impl<M: MemorySource + Clone> SizeClasses<M> {
    /// A block of class `class` from the calling thread's cache, or `None` for the shard to
    /// serve: the class has no thread cache, or this allocator has none (made with
    /// [`SizeClasses::new_in`]), or the thread's cache serves another allocator.
    #[inline(always)]
    fn thread_alloc(&self, class: usize) -> Option<*mut u8> {
        if self.one_shard || class >= CACHED_CLASSES {
            return None;
        }
        CACHE
            .try_with(|cache| {
                if cache.owner.load(Ordering::Relaxed) == self.id.load(Ordering::Relaxed) {
                    let cached = &cache.classes[class];
                    if let Some(block) = cached.pop() {
                        return Some(block.as_ptr());
                    }
                    if cached.skips_the_cache() {
                        return None;
                    }
                }
                self.thread_refill(cache, class)
            })
            .ok()
            .flatten()
    }

    /// Frees `block` of class `class` onto the calling thread's cache: `true` if done
    /// (cached, or given to the shard with the cache's blocks), `false` for the shard to
    /// free (or refuse).
    #[inline(always)]
    fn thread_free(&self, class: usize, block: NonNull<u8>) -> bool {
        if self.one_shard || class >= CACHED_CLASSES {
            return false;
        }
        CACHE
            .try_with(|cache| {
                if cache.owner.load(Ordering::Relaxed) != self.id.load(Ordering::Relaxed) {
                    return false;
                }
                match cache.classes[class].push(block) {
                    Push::Cached => true,
                    Push::Full if cache.classes[class].is_empty() => false,
                    Push::Full => self.thread_flush(cache, class, block),
                    Push::NotHere => false,
                }
            })
            .unwrap_or(false)
    }

    /// The thread's cache of `class` is empty (or serves nobody yet): a block from the
    /// shard, and as many of the class's cached blocks as the thread's cache may hold. `None`
    /// if the thread cannot have a cache for this allocator (the shard serves it as before).
    #[cold]
    #[inline(never)]
    fn thread_refill(&self, cache: &ThreadCache, class: usize) -> Option<*mut u8> {
        if cache.owner.load(Ordering::Relaxed) != self.id.load(Ordering::Relaxed)
            && !self.claim_thread_cache(cache)
        {
            return None;
        }
        let (_, shard) = self.own_shard();
        let mut locked = shard.lock(class);
        let first = match locked.cache.pop() {
            Some(block) => block.as_ptr(),
            None => self.alloc_from_pool(&mut locked, class),
        };
        if first.is_null() {
            return Some(first);
        }
        let cached = &cache.classes[class];
        let room = self.set_thread_limits(&mut locked, cached, class);
        // Only blocks waiting in the class's cache, freed before: the pool is asked for no
        // block the program did not ask for, so it grows (and counts its peak) as before.
        let want = cached.cap().div_ceil(2).min(room);
        while cached.len() < want {
            let Some(block) = locked.cache.pop() else {
                break;
            };
            // Not a block the program asked for: not reuse either.
            locked.cache.thread_reuse = locked.cache.thread_reuse.wrapping_sub(1);
            let Some(state) = locked.cache.region.state_byte(block.addr().get()) else {
                unreachable!("a cached block is in the cache's region")
            };
            cached.take_from_shard(block, state);
        }
        Some(first)
    }

    /// Makes the calling thread's cache serve this allocator, if it serves none: `false` if
    /// it serves another, or the thread is ending, or its shard is the home shard.
    #[cold]
    #[inline(never)]
    fn claim_thread_cache(&self, cache: &ThreadCache) -> bool {
        if cache.owner.load(Ordering::Relaxed) != NOBODY {
            return false;
        }
        let (own, shard) = self.own_shard();
        let shard: *const Shard<M> = shard;
        own != 0 && cache.claim(self.id(), shard.cast(), give_back_at_exit::<M>)
    }

    /// The thread's cache of `class` is full: its blocks go to the shard, and `block` too.
    #[cold]
    #[inline(never)]
    fn thread_flush(&self, cache: &ThreadCache, class: usize, block: NonNull<u8>) -> bool {
        let (own, shard) = self.own_shard();
        let mut locked = shard.lock(class);
        let cached = &cache.classes[class];
        // Half the stack, the oldest: the newest stay for the next allocations. All of it if
        // the program holds so few blocks of the class that the stack may take no frees.
        cached.drain_oldest(cached.len().div_ceil(2), |block| {
            give_back_locked(&mut locked, block)
        });
        if self.set_thread_limits(&mut locked, cached, class) == 0 {
            cached.drain(|block| give_back_locked(&mut locked, block));
        }
        if !locked.cache.push(block) {
            self.dealloc_to_pool(own, locked, class, block);
        }
        true
    }

    /// With the class locked: how many net frees the thread's cache may now take (returned),
    /// and which region they are checked against (the one the shard hands out from).
    #[inline(always)]
    fn set_thread_limits(
        &self,
        locked: &mut ClassLocked<'_, M>,
        cached: &thread_cache::ClassCache,
        class: usize,
    ) -> u32 {
        let (shard_cache, pool) = locked.both(class, &self.memory);
        let held = shard_cache.in_use.saturating_sub(cached.len() as usize);
        let above_idle = held.saturating_sub(shard_cache.idle_at + 1);
        let room = u32::try_from(above_idle / 2).unwrap_or(u32::MAX);
        shard_cache.thread_reuse = shard_cache
            .thread_reuse
            .wrapping_add(cached.take_unreported_pops());
        cached.set_limits(
            MOST_CACHED[class],
            room,
            shard_cache.region,
            pool.block_size(),
        );
        room
    }

    /// This allocator's number for the thread caches: given on first use, never 0,
    /// [`NOBODY`] or another allocator's.
    fn id(&self) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let new = NEXT.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => new,
            Err(theirs) => theirs,
        }
    }

    /// Blocks of class `class` the threads hold in their caches for this allocator, and the
    /// frees the shards have not seen (see `unseen_frees`). With the registry's lock held.
    fn thread_counts(&self, registry: &thread_cache::Registry, class: usize) -> (usize, u64) {
        let id = self.id.load(Ordering::Relaxed);
        if id == 0 || class >= CACHED_CLASSES {
            return (0, 0);
        }
        registry
            .serving(id)
            .map(|cache| &cache.classes[class])
            .fold((0, 0), |(held, unseen), cached| {
                (
                    held + cached.len() as usize,
                    unseen.wrapping_add(cached.unseen_frees()),
                )
            })
    }

    /// Dropping: no thread's cache may serve this allocator any more.
    fn forget_thread_caches(&mut self) {
        let id = *self.id.get_mut();
        if id == 0 {
            return;
        }
        let registry = REGISTRY.lock();
        for cache in registry.serving(id) {
            cache.owner.store(NOBODY, Ordering::Relaxed);
        }
    }
}

/// Without threads (wasm32) or `std`: no thread caches, and nothing to pay for them.
#[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
impl<M: MemorySource + Clone> SizeClasses<M> {
    #[inline(always)]
    fn thread_alloc(&self, _class: usize) -> Option<*mut u8> {
        None
    }

    #[inline(always)]
    fn thread_free(&self, _class: usize, _block: NonNull<u8>) -> bool {
        false
    }

    fn forget_thread_caches(&mut self) {}
}

impl<M: MemorySource + Clone> Drop for SizeClasses<M> {
    fn drop(&mut self) {
        self.forget_thread_caches();
        for shard in &mut self.others {
            let shard = *shard.get_mut();
            if let Some(memory) = NonNull::new(shard) {
                // SAFETY: a shard `make_shard` made from `acquire(size_of::<Shard>())`; no
                // `&self` is left, so nothing uses it: its pools give their regions back as
                // they drop, then its own memory goes back.
                unsafe {
                    ptr::drop_in_place(shard);
                    self.memory
                        .clone()
                        .release(memory.cast(), size_of::<Shard<M>>());
                }
            }
        }
    }
}

impl<M: MemorySource + Clone> fmt::Debug for SizeClasses<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SizeClasses")
            .field("classes", &CLASS_SIZES)
            .field("large", &self.large_stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_maps_to_the_smallest_class_that_fits() {
        // Every size up to 32 KiB natively and every 61st above (the page classes); under
        // Miri (slow) every 1021st (every 65521st above 32 KiB); each class's edges always.
        let (step, large_step) = if cfg!(miri) { (1021, 65521) } else { (1, 61) };
        let edges = CLASS_SIZES.iter().flat_map(|&size| [size, size + 1]);
        let sizes = (1..=32768)
            .step_by(step)
            .chain((32769..=LARGEST_CLASS).step_by(large_step))
            .chain(edges);
        for size in sizes {
            if size > LARGEST_CLASS {
                continue;
            }
            for align in (0..=21).map(|shift| 1 << shift) {
                let layout = Layout::from_size_align(size, align).unwrap();
                let fits = |c: usize| CLASS_SIZES[c] >= size && class_align(c) >= align;
                let Some(class) = class_of(layout) else {
                    assert!(!(0..CLASS_COUNT).any(fits), "size {size} align {align}");
                    continue;
                };
                assert!(fits(class), "size {size} align {align} → class {class}");
                assert!(
                    (0..class).all(|smaller| !fits(smaller)),
                    "size {size} align {align}: a smaller class fits"
                );
            }
        }
        assert_eq!(
            class_of(Layout::from_size_align(LARGEST_CLASS + 1, 8).unwrap()),
            None
        );
        assert_eq!(class_of(Layout::from_size_align(8, 2 << 20).unwrap()), None);
    }

    #[test]
    fn the_class_slots_hold_what_a_program_can_ask() {
        const { assert!(CLASS_REGIONS <= crate::MAX_REGIONS) };
        for (class, &size) in CLASS_SIZES.iter().enumerate() {
            let multiple = CLASS_GROWTH.multiple(CLASS_REGIONS);
            let blocks = multiple.and_then(|multiple| first_count(class).checked_mul(multiple));
            let refused = blocks
                .and_then(|n| crate::Pool::region_size(size, n))
                .is_none();
            if cfg!(target_pointer_width = "64") {
                // 24 slots, doubling: at least 895 GiB of every class, in one shard.
                let held = (first_count(class) * size) as u128 * ((1u128 << CLASS_REGIONS) - 1);
                assert!(held >= 895 << 30, "class {class}: {held} B");
            } else {
                // Fewer slots than `MAX_REGIONS` lose nothing: the region that would need
                // the next slot is refused as too large by `Pool` itself, in every class.
                assert!(refused, "class {class}: region {CLASS_REGIONS} would fit");
            }
        }
        if cfg!(target_arch = "wasm32") {
            assert_eq!((SMALLEST_FIRST_REGION, CLASS_REGIONS), (16_384, 25));
        } else {
            assert_eq!((SMALLEST_FIRST_REGION, CLASS_REGIONS), (57_344, 24));
        }
    }

    #[test]
    fn each_class_pool_has_its_class_size() {
        let allocator = SizeClasses::new();
        for (class, &size) in CLASS_SIZES.iter().enumerate() {
            assert_eq!(allocator.class_stats(class).unwrap().block_size, size);
        }
        assert_eq!(allocator.class_stats(CLASS_COUNT), None);
    }
}
