//! The region: the one piece of memory a pool owns, and the only place that touches it.
//!
//! ```text
//!  base                                   blocks
//!  │ state bytes: one per block │ padding │ block 0 │ block 1 │ … │ block n-1 │
//!  └──────── metadata ──────────┘         └──── n blocks of `stride` bytes ────┘
//! ```
//!
//! Each block's state ([`BlockState`]) is one byte, so checking a `free` is one load, and
//! the bytes start as zero (= never used), so a fresh region needs no initialisation at all.
//! A free block stores the index of the next free block in one of its words: the free list
//! costs no memory of its own. In blocks of two cache lines or more that word is *coloured*:
//! block `i` keeps its link `i mod colours` cache lines into the block (see [`Region::link`]).
//!
//! Every `unsafe` access to the region lives in this file; each takes a block index that the
//! caller has checked against [`Region::count`].

use core::ptr::NonNull;

use crate::memory::MemorySource;
use crate::{BlockState, PoolError};

/// Where an address falls relative to the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    /// Exactly at the start of block `index`.
    BlockStart(usize),
    /// `offset` bytes into block `index`.
    Inside { index: usize, offset: usize },
    /// Not in any block.
    Outside,
}

pub(crate) struct Region<M: MemorySource> {
    memory: M,
    base: NonNull<u8>,
    size: usize,
    blocks: NonNull<u8>,
    stride: usize,
    count: usize,
    /// `stride × count`: the addresses `blocks .. blocks + blocks_len` are blocks.
    blocks_len: usize,
    /// `⌈2^BITS / stride⌉`: dividing by `stride` becomes a multiply (see [`mul_high`]).
    reciprocal: usize,
    /// `colours - 1`, a power of two minus one: block `i`'s link sits `(i & colour_mask)`
    /// cache lines into the block. Zero for blocks under two cache lines.
    colour_mask: usize,
}

impl<M: MemorySource> Region<M> {
    /// Asks `memory` for room for `count` state bytes and `count` blocks of `stride` bytes
    /// aligned to `align` (a power of two that divides `stride`).
    pub(crate) fn new(
        stride: usize,
        align: usize,
        count: usize,
        mut memory: M,
    ) -> Result<Self, PoolError> {
        debug_assert!(align.is_power_of_two() && stride % align == 0 && stride >= 4);
        let too_large = PoolError::TooLarge {
            block_size: stride,
            block_count: count,
        };
        // State bytes, then up to `align - 1` bytes of padding, then the blocks.
        let blocks_len = stride.checked_mul(count).ok_or(too_large)?;
        let size = count
            .checked_add(align - 1)
            .and_then(|metadata| metadata.checked_add(blocks_len))
            .filter(|&size| size <= isize::MAX as usize)
            .ok_or(too_large)?;
        let base = memory
            .acquire(size)
            .ok_or(PoolError::OutOfMemory { bytes: size })?;
        let states_end = base.as_ptr().addr() + count;
        let padding = states_end.next_multiple_of(align) - states_end;
        // SAFETY: `count + padding + blocks_len <= size`, so this stays inside the region.
        let blocks = unsafe { base.add(count + padding) };
        Ok(Region {
            memory,
            base,
            size,
            blocks,
            stride,
            count,
            blocks_len,
            reciprocal: usize::MAX / stride + 1,
            colour_mask: colours(stride) - 1,
        })
    }

    /// How many blocks there are.
    #[inline(always)]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Bytes from one block's start to the next.
    #[inline(always)]
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// The region's first byte, its size, and the first block, as addresses.
    pub(crate) fn addresses(&self) -> (usize, usize, usize) {
        (
            self.base.as_ptr().addr(),
            self.size,
            self.blocks.as_ptr().addr(),
        )
    }

    /// Where `addr` falls: O(1), a subtraction, a compare and two multiplies.
    #[inline(always)]
    pub(crate) fn locate(&self, addr: usize) -> Location {
        // Addresses below the blocks wrap around to huge offsets and fail the same test.
        let offset = addr.wrapping_sub(self.blocks.as_ptr().addr());
        if offset >= self.blocks_len {
            return Location::Outside;
        }
        let index = mul_high(offset, self.reciprocal);
        if index * self.stride == offset {
            Location::BlockStart(index)
        } else {
            // Only misuse lands here, so a real division is fine.
            Location::Inside {
                index: offset / self.stride,
                offset: offset % self.stride,
            }
        }
    }

    /// The state bytes, one per block, in address order.
    pub(crate) fn states(&self) -> &[u8] {
        // SAFETY: the first `count` bytes of the region are the state bytes; they are
        // initialised (the source zeroes them) and only written through `&mut self`.
        unsafe { core::slice::from_raw_parts(self.base.as_ptr(), self.count) }
    }

    /// Block `index`'s state byte.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    #[inline(always)]
    pub(crate) unsafe fn state(&self, index: usize) -> u8 {
        debug_assert!(index < self.count);
        // SAFETY: the caller checked `index < count`; state bytes are initialised.
        unsafe { self.base.add(index).read() }
    }

    /// Sets block `index`'s state byte.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    #[inline(always)]
    pub(crate) unsafe fn set_state(&mut self, index: usize, state: BlockState) {
        debug_assert!(index < self.count);
        // SAFETY: the caller checked `index < count`; we own the region mutably.
        unsafe { self.base.add(index).write(state as u8) }
    }

    /// The start of block `index`.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    #[inline(always)]
    pub(crate) unsafe fn block(&self, index: usize) -> NonNull<u8> {
        debug_assert!(index < self.count);
        // SAFETY: `index * stride < blocks_len`, so the block lies inside the region.
        unsafe { self.blocks.add(index * self.stride) }
    }

    /// Where free block `index` keeps its link: `(index & colour_mask)` cache lines in.
    ///
    /// Why not always the first word: with 4 KiB blocks every block starts at the same offset
    /// of its page, so first words all map to the same cache set, and a batch of frees
    /// evicts its own links (measured 2–3× slower batches than at 64 bytes). Staggering the
    /// link by one cache line per block spreads the links over `colours` sets, like slab
    /// allocators "colour" their objects, without changing where blocks are.
    ///
    /// # Safety
    ///
    /// `index < self.count()`.
    #[inline(always)]
    unsafe fn link_slot(&self, index: usize) -> NonNull<usize> {
        let offset = (index & self.colour_mask) * CACHE_LINE;
        // SAFETY: `offset + size_of::<usize>() <= stride` (see `colours`), so the slot lies
        // inside block `index`; it is a multiple of 64 into a `usize`-aligned block.
        unsafe { self.block(index).add(offset).cast::<usize>() }
    }

    /// The free-list link stored in free block `index`: the index of the next free block.
    ///
    /// # Safety
    ///
    /// `index < self.count()`, and the block is free (its link slot holds a link, or at
    /// least initialised bytes written by whoever used it last).
    #[inline(always)]
    pub(crate) unsafe fn link(&self, index: usize) -> usize {
        // SAFETY: the slot is an aligned `usize` inside the block (`link_slot`); a free block
        // is not handed out, so nobody else is writing it.
        unsafe { self.link_slot(index).read() }
    }

    /// Stores `next` as the free-list link of block `index`.
    ///
    /// # Safety
    ///
    /// `index < self.count()`, and the block is being freed (no one else may use it now).
    #[inline(always)]
    pub(crate) unsafe fn set_link(&mut self, index: usize, next: usize) {
        // SAFETY: as for `link`; the block belongs to the pool again.
        unsafe { self.link_slot(index).write(next) }
    }

    /// Reads the link of block `index` if it is in range and free and the link is sound (a
    /// block index, or `count` for the end), for introspection: exactly the blocks `alloc`
    /// would pop.
    pub(crate) fn checked_link(&self, index: usize) -> Option<usize> {
        let free = *self.states().get(index)? == BlockState::Free as u8;
        // SAFETY: `index < count` (the `get` above) and the block is free.
        free.then(|| unsafe { self.link(index) })
            .filter(|&next| next <= self.count)
    }
}

impl<M: MemorySource> Drop for Region<M> {
    fn drop(&mut self) {
        // SAFETY: `base` and `size` are the pair `acquire` returned, released only here.
        unsafe { self.memory.release(self.base, self.size) }
    }
}

/// The cache-line size the link colouring staggers by (64 bytes on every current x86-64 and
/// most Arm cores; a wrong guess only makes colouring less effective, never unsafe).
const CACHE_LINE: usize = 64;

/// How many link positions (colours) a block of `stride` bytes offers: the largest power of
/// two of whole cache lines that fit, at most 64 (a 4 KiB page of lines). The last colour's
/// slot starts at `(colours - 1) × 64 <= stride - 64`, so the link always fits.
fn colours(stride: usize) -> usize {
    let lines = (stride / CACHE_LINE).clamp(1, 64);
    1 << lines.ilog2()
}

/// The high half of `a × b`. With `b = ⌈2^BITS / d⌉` it is `a / d` whenever `d` divides `a`,
/// for every `a` below `2^BITS` (write `b·d = 2^BITS + e` with `e < d`: then
/// `(k·d)·b = k·2^BITS + k·e`, and `k·e < k·d < 2^BITS`). For any other `a` no `k` passes
/// the caller's multiply-back check, which is exactly "not at a block start".
#[inline(always)]
fn mul_high(a: usize, b: usize) -> usize {
    #[cfg(target_pointer_width = "64")]
    type Wide = u128;
    #[cfg(target_pointer_width = "32")]
    type Wide = u64;
    ((a as Wide * b as Wide) >> usize::BITS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coloured_link_slots_fit_inside_their_block() {
        for stride in [
            8,
            16,
            64,
            72,
            120,
            128,
            192,
            1000,
            4096,
            4104,
            65536,
            1 << 20,
        ] {
            let colours = colours(stride);
            assert!(
                colours.is_power_of_two() && colours <= 64,
                "stride {stride}"
            );
            assert!((colours - 1) * CACHE_LINE + size_of::<usize>() <= stride.max(8));
        }
        assert_eq!(colours(64), 1);
        assert_eq!(colours(4096), 64);
    }

    #[test]
    fn mul_high_divides_exactly_at_block_starts() {
        for stride in [8, 24, 40, 48, 64, 72, 4096, 4104, 1 << 20, 1_000_003] {
            let reciprocal = usize::MAX / stride + 1;
            for k in [0, 1, 2, 3, 1000, 1 << 20, (usize::MAX / stride) - 1] {
                assert_eq!(
                    mul_high(k * stride, reciprocal),
                    k,
                    "stride {stride}, k {k}"
                );
            }
        }
    }
}
