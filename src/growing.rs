//! A pool that grows without moving a block.
//!
//! A [`Pool`] has one region, so when every block is in use it can only say `None`. The
//! obvious fix, "allocate a bigger region and copy the blocks over" (`realloc` on the whole
//! pool), moves every block and leaves every pointer the program holds dangling. A
//! [`GrowingPool`] grows the other way: it keeps its full regions where they are and adds a
//! new region twice the size of the last one.
//!
//! ```text
//!  region 0: n blocks    region 1: 2n blocks       region 2: 4n blocks
//!  [■■■■■■■■]           [■■■■■■■■□□□□□□□□]        [■□□□□□□□□□□□□□□□□□□□□□□□□□□□□□□]
//!       ▲ never moved         ▲ never moved             ▲ new blocks come from here
//! ```
//!
//! Doubling keeps the number of regions small: after `k` growths the pool has
//! `n·(2^(k+1) − 1)` blocks in `k + 1` regions, so [`MAX_REGIONS`] (48) slots cover more
//! blocks than any address space holds. The slots live inline in the struct, so a growing pool
//! needs no memory except its regions: it can live inside a global allocator.
//!
//! Inline slots are not free, though: each is a whole [`Pool`] (about 230 bytes on 64-bit),
//! so 48 of them make a growing pool about 12 KB before it has a region. A user who knows
//! that its regions can never pass some number (because the first one is large, and region
//! `k` is `2^k` times larger) can say so with the `REGIONS` parameter: `SizeClasses` keeps 16
//! on wasm32, where a class's 17th region would be larger than the address space.
//!
//! Doubling can cost up to twice the memory a pool needs: the newest region may be barely
//! used. Natively that costs address space only (an untouched page takes no RAM), but a wasm
//! module's linear memory is all real and never shrinks, so [`SizeClasses`](crate::SizeClasses)
//! grows its pools more *gently* on wasm32 (`Growth::Gentle`, crate-private): region `k` has
//! 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7, 9, 11, 14, 17, 21, 26, 32 times the first's blocks
//! (from the fifth region on, the pool grows by about a quarter a step, so the newest region
//! is about a fifth of it), then four times more at each step, so that its few slots still
//! reach hundreds of megabytes.
//!
//! `free` finds the region a pointer belongs to by binary search over the regions sorted by
//! address (O(log regions); on wasm32, with few regions, a scan), then lets that region's [`Pool`] check and take the block
//! (O(1)). `alloc` takes the oldest region that has room, found with one bit scan of a mask.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::map::PoolStats;
use crate::memory::{MemorySource, SystemMemory};
use crate::region::block_shape;
use crate::{FreeError, Pool, PoolError};

/// The most regions a [`GrowingPool`] can have: region `k` holds `first_count · 2^k` blocks,
/// so 48 regions are more blocks than fit in a 64-bit address space for any `first_count`.
pub const MAX_REGIONS: usize = 48;

/// How much larger than the first each new region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Natively nothing grows gently (see the module doc).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) enum Growth {
    /// Region `k` has `2^k` times the first's blocks.
    Doubling,
    /// Region `k` has [`GENTLE`]`[k]` times the first's blocks, and from there four times more
    /// at each step.
    Gentle,
}

/// The first multiples of [`Growth::Gentle`]: the pool grows by about a quarter a step.
const GENTLE: [usize; 20] = [
    1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6, 7, 9, 11, 14, 17, 21, 26, 32,
];

impl Growth {
    /// How many times the first region's blocks region `k` has; `None` if that overflows.
    pub(crate) const fn multiple(self, k: usize) -> Option<usize> {
        match self {
            Growth::Doubling => 1usize.checked_shl(k as u32),
            Growth::Gentle if k < GENTLE.len() => Some(GENTLE[k]),
            Growth::Gentle => match 4usize.checked_pow((k - GENTLE.len() + 1) as u32) {
                Some(step) => GENTLE[GENTLE.len() - 1].checked_mul(step),
                None => None,
            },
        }
    }
}

/// Where one region's memory lies, for the binary search in `free`.
#[derive(Debug, Clone, Copy)]
struct RegionSpan {
    start: usize,
    end: usize,
    region: usize,
}

/// A pool of equal-sized blocks that adds a region twice as large when it is full, and never
/// moves a block.
///
/// Block indices (in errors and [`check`](Self::check)) count across regions in creation
/// order: region 0 holds blocks `0..n`, region 1 blocks `n..3n`, and so on.
///
/// `M` must be [`Clone`]: each region gets its own copy of the memory source.
///
/// # Examples
///
/// ```
/// use memory_pool::GrowingPool;
///
/// let mut pool = GrowingPool::new(64, 4)?; // 4 blocks at first
/// let blocks: Vec<_> = (0..100).map(|_| pool.alloc().unwrap()).collect();
/// assert_eq!(pool.region_count(), 5); // 4 + 8 + 16 + 32 + 64 blocks
/// assert_eq!(pool.capacity(), 124);
/// for block in blocks {
///     pool.free(block)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `REGIONS` is how many regions it can have (at most 64, the bits of its room mask): the
/// struct holds a slot for each, so fewer slots make it smaller. With `REGIONS` below
/// [`MAX_REGIONS`], `alloc` says `None` once `REGIONS` regions are full.
pub struct GrowingPool<M: MemorySource + Clone = SystemMemory, const REGIONS: usize = MAX_REGIONS> {
    layout: Layout,
    first_count: usize,
    memory: M,
    /// Region `k` (in creation order) has `first_count · growth.multiple(k)` blocks.
    regions: [Option<Pool<M>>; REGIONS],
    region_count: usize,
    /// The first `region_count` entries, sorted by address.
    by_address: [RegionSpan; REGIONS],
    /// Bit `k` set: region `k` may have a block to hand out.
    with_room: u64,
    /// Doubling, unless `SizeClasses` on wasm32 asked for gentle growth.
    growth: Growth,
    /// A region with at least this many bytes of blocks gives its memory back when its last
    /// block in use is freed (`usize::MAX`: never, the default; `SizeClasses` sets it).
    decommit_from: usize,
    /// Regions that gave their memory back so.
    decommits: u64,
    /// `stats.total_allocs` when the pool last gave memory back (see
    /// [`decommit_region`](Self::decommit_region) and [`release_everything`](Self::release_everything)).
    allocs_at_decommit: u64,
    /// `stats.total_allocs` when the pool last gave all its memory back (see
    /// [`release_everything`](Self::release_everything)).
    allocs_at_release: u64,
    /// Blocks that regions given back since then (by [`decommit_region`](Self::decommit_region))
    /// had touched: with what the regions have touched now, the blocks touched since the last
    /// release.
    touched_then_given_back: u64,
    /// Blocks handed out again by a cache in front of the pool, without the pool
    /// (`SizeClasses`'s, see [`note_reused`](Self::note_reused)).
    reused: u64,
    stats: PoolStats,
}

/// Whether a pool gives memory back at all: not on wasm32 (see `free_in_region`).
const GIVES_BACK: bool = cfg!(not(target_arch = "wasm32"));

/// A pool whose every block is free gives all its memory back (the first region too), if it
/// handed out at least this many blocks since it last did, and no more than
/// [`RELEASE_REUSE`] per block it touched: see [`GrowingPool::release_everything`].
pub(crate) const RELEASE_EMPTY_AFTER: u64 = 64;

/// An emptied pool that handed out more than this many blocks per block of memory it touched
/// since it last gave everything back keeps its memory: see
/// [`GrowingPool::release_everything`].
pub(crate) const RELEASE_REUSE: u64 = 4;

/// A region given back because its pool is mostly idle must have been paid for: since the
/// pool last gave memory back, it handed out at least this many times the bytes it gives
/// back now. See [`GrowingPool::decommit_region`].
pub(crate) const DECOMMIT_CREDIT: u64 = 4;

impl GrowingPool {
    /// A growing pool of blocks of at least `block_size` bytes (aligned to
    /// `align_of::<usize>()`), whose first region has `first_count` blocks, in memory from the
    /// operating system. No memory is taken until the first `alloc`.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroBlockSize`], [`PoolError::ZeroBlockCount`], or
    /// [`PoolError::TooLarge`] when the block size overflows.
    #[cfg(any(unix, target_arch = "wasm32"))]
    pub fn new(block_size: usize, first_count: usize) -> Result<GrowingPool, PoolError> {
        // Before the size check below, as `Pool::new` does: zero blocks of any size is "no
        // blocks", not "too large".
        if block_size == 0 {
            return Err(PoolError::ZeroBlockSize);
        }
        if first_count == 0 {
            return Err(PoolError::ZeroBlockCount);
        }
        let layout = Layout::from_size_align(block_size, align_of::<usize>()).map_err(|_| {
            PoolError::TooLarge {
                block_size,
                block_count: first_count,
            }
        })?;
        GrowingPool::with_layout_in(layout, first_count, SystemMemory)
    }
}

impl<M: MemorySource + Clone> GrowingPool<M> {
    /// A growing pool whose blocks fit `layout`, first region of `first_count` blocks, each
    /// region from a clone of `memory`. A `const fn`, so it can initialise a `static`; no
    /// memory is taken until the first `alloc`.
    ///
    /// # Errors
    ///
    /// As for [`GrowingPool::new`]. A refused `memory` is forgotten, not dropped (a `const fn`
    /// cannot run its destructor): nothing is lost for [`SystemMemory`], but a source that
    /// owns something (a buffer, an `Rc`) leaks it.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use memory_pool::{GrowingPool, SystemMemory};
    ///
    /// let mut pool =
    ///     GrowingPool::with_layout_in(Layout::from_size_align(48, 16).unwrap(), 1, SystemMemory)?;
    /// assert_eq!(pool.region_count(), 0);
    /// let block = pool.alloc().unwrap();
    /// assert_eq!(block.as_ptr() as usize % 16, 0);
    /// assert_eq!(pool.block_size(), 48);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub const fn with_layout_in(
        layout: Layout,
        first_count: usize,
        memory: M,
    ) -> Result<Self, PoolError> {
        Self::with_layout_and_slots_in(layout, first_count, memory)
    }
}

impl<M: MemorySource + Clone, const REGIONS: usize> GrowingPool<M, REGIONS> {
    /// As [`GrowingPool::with_layout_in`], for a pool with `REGIONS` region slots instead of
    /// [`MAX_REGIONS`] (a smaller struct; `alloc` says `None` once they are all full).
    ///
    /// # Errors
    ///
    /// As for [`GrowingPool::with_layout_in`].
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use memory_pool::{GrowingPool, SystemMemory};
    ///
    /// let layout = Layout::from_size_align(64, 8).unwrap();
    /// let mut pool = GrowingPool::<_, 2>::with_layout_and_slots_in(layout, 1, SystemMemory)?;
    /// let blocks = [pool.alloc(), pool.alloc(), pool.alloc()]; // 1 + 2 blocks in 2 regions
    /// assert!(blocks.iter().all(Option::is_some));
    /// assert_eq!(pool.alloc(), None); // no third slot
    /// assert!(size_of_val(&pool) < size_of::<GrowingPool>());
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub const fn with_layout_and_slots_in(
        layout: Layout,
        first_count: usize,
        memory: M,
    ) -> Result<Self, PoolError> {
        if let Some(error) = Self::refuse(layout, first_count) {
            // A memory source that was never asked for memory has nothing to give back, and
            // a `const fn` cannot run its destructor.
            core::mem::forget(memory);
            return Err(error);
        }
        Ok(Self::empty(layout, first_count, memory))
    }

    /// Why `with_layout_in(layout, first_count, _)` would fail, if it would.
    const fn refuse(layout: Layout, first_count: usize) -> Option<PoolError> {
        if layout.size() == 0 {
            Some(PoolError::ZeroBlockSize)
        } else if first_count == 0 {
            Some(PoolError::ZeroBlockCount)
        } else if block_shape(layout).is_none() {
            Some(PoolError::TooLarge {
                block_size: layout.size(),
                block_count: first_count,
            })
        } else {
            None
        }
    }

    /// A pool with no region yet, for arguments that [`refuse`](Self::refuse) accepts.
    const fn empty(layout: Layout, first_count: usize, memory: M) -> Self {
        // A const assertion on the parameter: the room mask has 64 bits.
        const { assert!(REGIONS <= 64, "a GrowingPool has at most 64 regions") };
        GrowingPool {
            layout,
            first_count,
            memory,
            regions: [const { None }; REGIONS],
            region_count: 0,
            by_address: [RegionSpan {
                start: 0,
                end: 0,
                region: 0,
            }; REGIONS],
            with_room: 0,
            growth: Growth::Doubling,
            decommit_from: usize::MAX,
            decommits: 0,
            allocs_at_decommit: 0,
            allocs_at_release: 0,
            touched_then_given_back: 0,
            reused: 0,
            stats: PoolStats {
                in_use: 0,
                peak_in_use: 0,
                total_allocs: 0,
                total_frees: 0,
                rejected: crate::RejectedFrees {
                    not_in_pool: 0,
                    misaligned: 0,
                    double_free: 0,
                },
                damaged_free_lists: 0,
            },
        }
    }

    /// Hands out a block, adding a region when every region is full. `None` only when the
    /// memory source refuses a new region (or all `REGIONS` slots, [`MAX_REGIONS`] unless
    /// said otherwise, are used).
    ///
    /// O(1) while a region has room; growing costs one request to the memory source.
    #[inline]
    pub fn alloc(&mut self) -> Option<NonNull<u8>> {
        while self.with_room != 0 {
            let k = self.with_room.trailing_zeros() as usize;
            if let Some(pool) = &mut self.regions[k] {
                if let Some(block) = pool.alloc() {
                    self.count_alloc();
                    return Some(block);
                }
            }
            self.with_room &= !(1 << k);
        }
        self.grow_and_alloc()
    }

    #[inline(always)]
    fn count_alloc(&mut self) {
        self.stats.total_allocs += 1;
        self.stats.in_use += 1;
        self.stats.peak_in_use = self.stats.peak_in_use.max(self.stats.in_use);
    }

    /// Every region is full: add the next one, twice as large as the last (or as `growth`
    /// says).
    #[cold]
    #[inline(never)]
    fn grow_and_alloc(&mut self) -> Option<NonNull<u8>> {
        let k = self.region_count;
        if k == REGIONS {
            return None;
        }
        let count = self.first_count.checked_mul(self.growth.multiple(k)?)?;
        let mut pool = Pool::with_layout_in(self.layout, count, self.memory.clone()).ok()?;
        let block = pool.alloc()?;
        let layout = pool.layout();
        let span = RegionSpan {
            start: layout.base,
            end: layout.base + layout.size,
            region: k,
        };
        // Insert into the address-sorted table, keeping it sorted.
        let at = self.by_address[..k].partition_point(|other| other.start < span.start);
        self.by_address.copy_within(at..k, at + 1);
        self.by_address[at] = span;
        self.regions[k] = Some(pool);
        self.region_count += 1;
        self.with_room |= 1 << k;
        self.count_alloc();
        Some(block)
    }

    /// The region whose memory contains `addr`: a binary search, O(log regions).
    #[cfg(not(target_arch = "wasm32"))]
    #[inline]
    fn region_of(&self, addr: usize) -> Option<usize> {
        let spans = &self.by_address[..self.region_count];
        let after = spans.partition_point(|span| span.start <= addr);
        let span = spans[..after].last()?;
        (addr < span.end).then_some(span.region)
    }

    /// The region whose memory contains `addr`, on wasm32: a scan down from the highest
    /// region. There a pool has few regions (at most 15 in `SizeClasses`, a handful in
    /// practice), and the scan, inlined, is cheaper than the binary search, which the module
    /// built for size keeps as a call (measured: 8 % of talc's random-actions workload).
    /// `inline(always)`: at opt-level "z" a plain `#[inline]` is dropped as soon as a second
    /// caller appears, which is how a `free` once came to call it again unnoticed.
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    fn region_of(&self, addr: usize) -> Option<usize> {
        let span = self.by_address[..self.region_count]
            .iter()
            .rev()
            .find(|span| span.start <= addr)?;
        (addr < span.end).then_some(span.region)
    }

    /// The view of the region `addr` lies in, if any (see [`RegionView`]).
    ///
    /// [`RegionView`]: crate::region::RegionView
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn view_of(&self, addr: usize) -> Option<crate::region::RegionView> {
        let k = self.region_of(addr)?;
        self.regions[k].as_ref().map(Pool::region_view)
    }

    /// The block index of region `k`'s first block.
    fn first_index(&self, k: usize) -> usize {
        // Region `k` exists, so every region before it fits in memory: nothing overflows.
        (0..k)
            .map(|j| self.first_count * self.growth.multiple(j).unwrap_or(0))
            .sum()
    }

    /// Gives a block back. O(log regions). Any pointer may be passed: one that is not an
    /// in-use block of this pool is refused with an error and the pool is unchanged (except
    /// for the refused-free counters).
    ///
    /// # Errors
    ///
    /// As for [`Pool::free`], with block indices counted across regions.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{FreeError, GrowingPool};
    ///
    /// let mut pool = GrowingPool::new(32, 1)?;
    /// let a = pool.alloc().unwrap();
    /// let b = pool.alloc().unwrap(); // in region 1, block 1
    /// pool.free(b)?;
    /// assert!(matches!(pool.free(b), Err(FreeError::DoubleFree { block: 1, .. })));
    /// # let _ = a;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn free(&mut self, block: NonNull<u8>) -> Result<(), FreeError> {
        match self.free_if_in_regions(block) {
            Some(result) => result,
            None => Err(self.refuse_foreign(block)),
        }
    }

    /// `free`, for a block inside one of this pool's regions; `None`, counting nothing and
    /// changing nothing, for a pointer outside all of them (which may be another pool's:
    /// `SizeClasses` asks each of a class's shards in turn).
    #[inline]
    pub(crate) fn free_if_in_regions(
        &mut self,
        block: NonNull<u8>,
    ) -> Option<Result<(), FreeError>> {
        let k = self.region_of(block.as_ptr().addr())?;
        Some(self.free_in_region(k, block))
    }

    /// Counts a refused free of a pointer outside every region, and says so.
    #[cold]
    pub(crate) fn refuse_foreign(&mut self, block: NonNull<u8>) -> FreeError {
        self.stats.rejected.not_in_pool += 1;
        FreeError::NotInPool {
            addr: block.as_ptr().addr(),
        }
    }

    /// `free` of a pointer inside region `k`'s memory.
    #[inline]
    fn free_in_region(&mut self, k: usize, block: NonNull<u8>) -> Result<(), FreeError> {
        let Some(pool) = &mut self.regions[k] else {
            unreachable!("every region in the address table exists")
        };
        match pool.free(block) {
            Ok(()) => {
                self.with_room |= 1 << k;
                self.stats.in_use -= 1;
                self.stats.total_frees += 1;
                // On wasm32 no memory source can give memory back (linear memory never
                // shrinks, and a buffer's bytes stay the buffer's): the give-back rules are
                // left out of the module.
                if pool.in_use() == 0 && GIVES_BACK {
                    self.region_emptied(k);
                }
                Ok(())
            }
            Err(error) => {
                let rejected = &mut self.stats.rejected;
                match error {
                    FreeError::NotInPool { .. } => rejected.not_in_pool += 1,
                    FreeError::Misaligned { .. } => rejected.misaligned += 1,
                    FreeError::DoubleFree { .. } => rejected.double_free += 1,
                }
                Err(self.globalise(k, error))
            }
        }
    }

    /// Region `k`'s last block in use was just freed: if the whole pool is now empty and its
    /// memory was not being reused, every region gives its memory back
    /// ([`release_everything`]); otherwise region `k`, if it has `decommit_from` bytes of
    /// blocks or more, is treated as any such region that empties ([`decommit_region`]).
    ///
    /// [`release_everything`]: Self::release_everything
    /// [`decommit_region`]: Self::decommit_region
    #[cold]
    #[inline(never)]
    fn region_emptied(&mut self, k: usize) {
        if self.decommit_from == usize::MAX {
            return;
        }
        let handed_out = self.handed_out() - self.allocs_at_release;
        if self.stats.in_use == 0
            && handed_out >= RELEASE_EMPTY_AFTER
            && handed_out
                <= RELEASE_REUSE
                    .saturating_mul(self.touched_then_given_back + self.touched_blocks() as u64)
        {
            self.release_everything();
            return;
        }
        let Some(pool) = &self.regions[k] else {
            unreachable!("every region in the address table exists")
        };
        if pool.block_count() * pool.block_size() >= self.decommit_from {
            self.decommit_region(k);
        }
    }

    /// Region `k`'s last block in use was just freed. If the pool is now mostly idle (at most
    /// a quarter of its blocks in use), every empty region of at least `decommit_from` bytes
    /// that still holds memory gives it back to the source, except the smallest of them,
    /// kept as a spare, and provided the pool has handed out at least
    /// [`DECOMMIT_CREDIT`] times as many bytes as that since it last gave memory back.
    ///
    /// Why a quarter, as a vector shrinks only when a quarter full: a region given back is
    /// touched afresh (a page fault per page) when the pool needs it again, which takes the
    /// blocks in use to rise from a quarter of the capacity to what the regions below it hold
    /// (about half, for the largest). Why a spare: a program that allocates and frees one
    /// large block over and over would otherwise give its region back, and fault it in again,
    /// every time. Why the credit: with few blocks (a class of 300 KB blocks with a dozen in
    /// use) the quarter is crossed back and forth all the time, and each crossing cost a
    /// system call and then a page fault per page touched again. Measured on talc's
    /// random-actions workload with sizes up to 100 000 B: about 370 regions given back in a
    /// second, which made it 2.5 times slower than keeping them all. With the credit, each
    /// byte given back has been paid for by four bytes handed out, so the page faults of
    /// refilling cost at most about what writing a quarter of those blocks once would.
    #[cold]
    #[inline(never)]
    fn decommit_region(&mut self, k: usize) {
        let _ = k;
        if self.stats.in_use * 4 > self.capacity() {
            return;
        }
        let decommit_from = self.decommit_from;
        let idle = |pool: &Pool<M>| {
            pool.in_use() == 0
                && pool.next_never_used() > 0
                && pool.block_count() * pool.block_size() >= decommit_from
        };
        // Regions in creation order grow, so the first idle one is the smallest: the spare.
        let going = self.regions[..self.region_count]
            .iter()
            .flatten()
            .filter(|pool| idle(pool))
            .skip(1);
        let bytes: usize = going
            .map(|pool| pool.next_never_used() * pool.block_size())
            .sum();
        let handed_out =
            (self.handed_out() - self.allocs_at_decommit).saturating_mul(self.layout.size() as u64);
        if bytes == 0 || handed_out < DECOMMIT_CREDIT.saturating_mul(bytes as u64) {
            return;
        }
        self.allocs_at_decommit = self.handed_out();
        let going = self.regions[..self.region_count]
            .iter_mut()
            .flatten()
            .filter(|pool| idle(pool))
            .skip(1);
        for pool in going {
            let touched = pool.next_never_used() as u64;
            if pool.decommit_if_unused() {
                self.decommits += 1;
                self.touched_then_given_back += touched;
            }
        }
    }

    /// The pool's last block in use was just freed, and since it last did this it handed out
    /// at least [`RELEASE_EMPTY_AFTER`] blocks, but no more than [`RELEASE_REUSE`] per block
    /// of memory it touched since then (in regions still holding memory, and in those
    /// [`decommit_region`](Self::decommit_region) gave back meanwhile;
    /// [`region_emptied`](Self::region_emptied) checks): every region
    /// gives its memory back, whatever its size, the first region and the spare too.
    ///
    /// Why at all: the per-region rule keeps the small regions and a spare, so that a program
    /// churning through a few blocks pays no system call for it; but a program that frees
    /// *everything* would then keep them all, every class's first region resident for good
    /// (measured on talc's memory workload: 3.7 times the RSS the process started with, after
    /// freeing all).
    ///
    /// Why the two counts. Giving memory back is paid for later, if the pool is used again:
    /// a page fault for each page touched afresh (and, with two threads, a TLB flush on the
    /// other processor). A pool emptied over and over, one block or a few allocated and freed
    /// in a loop, is a working set between two uses, not memory left idle: its blocks were
    /// each handed out many times. A pool that filled and then emptied (a phase of the
    /// program over) handed each block out about once. So the pool gives everything back
    /// when it handed out at most four blocks per block touched, and at least 64 (so that a
    /// small pool is not given back and refilled on every few calls). Measured on talc's
    /// random-actions workload at sizes up to 100 KB, where a class of a dozen large blocks
    /// empties dozens of times a second: with the first count alone (once per 64
    /// allocations), 1.5 actions/µs; with both, 2.0; never giving back, 2.6. talc's memory
    /// workload, which fills and frees, still gets its RSS back (within 7 % of its start).
    ///
    /// What it costs: a pool that turned its blocks over many times and then empties for good
    /// keeps what it touched since its last release, at most its peak in use; of that, the
    /// regions of `decommit_from` bytes or more beyond a spare still go back under the
    /// quarter rule of [`decommit_region`](Self::decommit_region).
    #[cold]
    #[inline(never)]
    fn release_everything(&mut self) {
        self.allocs_at_release = self.handed_out();
        self.touched_then_given_back = 0;
        self.allocs_at_decommit = self.handed_out();
        for pool in self.regions[..self.region_count].iter_mut().flatten() {
            if pool.decommit_if_unused() {
                self.decommits += 1;
            }
        }
    }

    /// Blocks handed out, by the pool and by a cache in front of it: what the give-back
    /// rules count.
    fn handed_out(&self) -> u64 {
        self.stats.total_allocs + self.reused
    }

    /// A cache in front of the pool has handed out `blocks` blocks in all so far, blocks it
    /// took back from the program before the pool saw them (their regions still count them
    /// in use). The give-back rules count them as handed out: a class whose blocks go round
    /// through the cache is busy, not idle.
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn note_reused(&mut self, blocks: u64) {
        self.reused = blocks;
    }

    /// From now on, a region with at least `bytes` bytes of blocks gives its memory back to
    /// the source (keeping its addresses) as soon as none of its blocks is in use.
    // Only `SizeClasses` (64-bit atomics) uses it.
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn decommit_empty_regions_from(&mut self, bytes: usize) {
        self.decommit_from = bytes;
    }

    /// From now on, new regions grow as `growth` says (see the module doc). Set before the
    /// first region; only `SizeClasses` on wasm32 asks for [`Growth::Gentle`].
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn grow_as(&mut self, growth: Growth) {
        self.growth = growth;
    }

    /// How many times a region gave its memory back.
    // Only `SizeClasses` (64-bit atomics) uses it.
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn decommits(&self) -> u64 {
        self.decommits
    }

    /// Bytes of blocks that may be resident: in each region, those up to its first block
    /// never used (since its creation or its last decommit).
    // Only `SizeClasses` (64-bit atomics) uses it.
    #[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
    pub(crate) fn touched_bytes(&self) -> usize {
        self.touched_blocks() * self.block_size()
    }

    /// Blocks that may be resident: in each region, those up to its first block never used.
    fn touched_blocks(&self) -> usize {
        self.regions().map(|pool| pool.next_never_used()).sum()
    }

    /// Turns a region's block index in `error` into the pool-wide one.
    fn globalise(&self, k: usize, error: FreeError) -> FreeError {
        let first = self.first_index(k);
        match error {
            FreeError::NotInPool { addr } => FreeError::NotInPool { addr },
            FreeError::Misaligned {
                addr,
                block,
                offset,
            } => FreeError::Misaligned {
                addr,
                block: first + block,
                offset,
            },
            FreeError::DoubleFree { addr, block, state } => FreeError::DoubleFree {
                addr,
                block: first + block,
                state,
            },
        }
    }

    /// What `free(ptr)` would answer, without changing anything: `Ok` with the block's
    /// pool-wide index if it is an in-use block of this pool.
    pub fn check(&self, ptr: *const u8) -> Result<usize, FreeError> {
        let addr = ptr.addr();
        let k = self.region_of(addr).ok_or(FreeError::NotInPool { addr })?;
        let Some(pool) = &self.regions[k] else {
            unreachable!("every region in the address table exists")
        };
        match pool.check(ptr) {
            Ok(index) => Ok(self.first_index(k) + index),
            Err(error) => Err(self.globalise(k, error)),
        }
    }

    /// Whether `ptr` points into any region's blocks. O(log regions).
    pub fn contains(&self, ptr: *const u8) -> bool {
        self.region_of(ptr.addr())
            .and_then(|k| self.regions[k].as_ref())
            .is_some_and(|pool| pool.contains(ptr))
    }

    /// The usable size of each block in bytes.
    pub const fn block_size(&self) -> usize {
        match block_shape(self.layout) {
            Some((stride, _)) => stride,
            None => unreachable!(),
        }
    }

    /// How many regions have been added so far.
    pub fn region_count(&self) -> usize {
        self.region_count
    }

    /// Blocks in all regions together.
    pub fn capacity(&self) -> usize {
        self.regions().map(Pool::block_count).sum()
    }

    /// How many blocks are handed out and not yet freed.
    pub fn in_use(&self) -> usize {
        self.stats.in_use
    }

    /// The regions in creation order (region `k` has `first_count · 2^k` blocks, unless it
    /// grows gently: see the module doc); each is a
    /// [`Pool`] you can look inside with [`Pool::blocks`], [`Pool::layout`] and the rest.
    pub fn regions(&self) -> impl Iterator<Item = &Pool<M>> + '_ {
        self.regions[..self.region_count].iter().flatten()
    }

    /// The counters over all regions: in use, peak, allocations, frees, refused frees.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            damaged_free_lists: self
                .regions()
                .map(|pool| pool.stats().damaged_free_lists)
                .sum(),
            ..self.stats
        }
    }
}

impl<M: MemorySource + Clone, const REGIONS: usize> fmt::Debug for GrowingPool<M, REGIONS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrowingPool")
            .field("block_size", &self.block_size())
            .field("regions", &self.region_count)
            .field("in_use", &self.in_use())
            .finish_non_exhaustive()
    }
}
