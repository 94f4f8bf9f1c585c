//! Looking inside a pool: block states, the free list, counters and leaks.
//!
//! Everything here only reads the pool and allocates nothing, so it is safe to call from a
//! global allocator or on every animation frame of the playground page.

use core::fmt;
use core::iter::{Enumerate, FusedIterator};
use core::slice;
use core::sync::atomic::AtomicU8;
use core::sync::atomic::Ordering::Relaxed;

use crate::memory::{MemorySource, SystemMemory};
use crate::region::{Region, WaitingChunks};

/// The state of one block, as stored in the pool's state bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlockState {
    /// Never handed out since the pool was created: its memory may not even be committed yet.
    NeverUsed = 0,
    /// Handed out once and given back: it is on the free list.
    Free = 1,
    /// Handed out and not yet given back.
    InUse = 2,
}

impl BlockState {
    /// Decodes a state byte. A pool writes the three values; a block waiting in a
    /// [`SizeClasses`](crate::SizeClasses) class's cache of freed blocks holds a fourth,
    /// and reads as free (the program gave it back).
    pub(crate) fn from_byte(byte: u8) -> BlockState {
        match byte {
            2 => BlockState::InUse,
            1 | crate::region::CACHED => BlockState::Free,
            _ => BlockState::NeverUsed,
        }
    }
}

/// One block: where it is and what state it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Its position, 0 for the block at the lowest address.
    pub index: usize,
    /// The address of its first byte.
    pub addr: usize,
    /// Its state.
    pub state: BlockState,
}

/// The pool's counters. [`Pool::stats`](crate::Pool::stats) returns a copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Blocks handed out and not yet freed.
    pub in_use: usize,
    /// The most blocks that were ever in use at once. (Exact, unless a use-after-free
    /// rewrote free-list links: then it may undercount. See `damaged_free_lists`.)
    pub peak_in_use: usize,
    /// Successful calls of `alloc`.
    pub total_allocs: u64,
    /// Successful calls of `free`.
    pub total_frees: u64,
    /// Calls of `free` that were refused, by reason.
    pub rejected: RejectedFrees,
    /// Times `alloc` found the free list damaged (a free block written to after it was
    /// freed) and dropped the rest of the list rather than hand out a bad block.
    pub damaged_free_lists: u64,
}

/// How many calls of `free` were refused, for each [`FreeError`](crate::FreeError) kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectedFrees {
    /// Pointers from outside the pool.
    pub not_in_pool: u64,
    /// Pointers into the middle of a block.
    pub misaligned: u64,
    /// Blocks that were already free or never handed out.
    pub double_free: u64,
}

impl RejectedFrees {
    /// All refused frees.
    pub fn total(&self) -> u64 {
        self.not_in_pool + self.misaligned + self.double_free
    }
}

/// Where a pool's region is and how it is laid out, as addresses.
///
/// ```text
///  base                    states                blocks
///  │ padding │ chunk lists │ state bytes: `count` │ block 0 │ block 1 │ … │     (base + size)
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegionLayout {
    /// The region's first byte.
    pub base: usize,
    /// The region's size in bytes, metadata and blocks together.
    pub size: usize,
    /// The state bytes, one per block (`count` bytes, just below the first block). Below
    /// them are the chunk lists, and padding that puts the blocks on their alignment.
    pub states: usize,
    /// The first block's address. `blocks - base` bytes are metadata (padding, chunk lists,
    /// state bytes).
    pub blocks: usize,
    /// The distance from one block's start to the next (equal to the block size).
    pub stride: usize,
    /// The number of blocks.
    pub count: usize,
    /// The blocks are grouped by where they start into chunks: pieces of memory of this many
    /// bytes, aligned to it. Each chunk has its own free list, which ends with an odd address
    /// (one of the chunk's blocks plus one: never a block).
    pub chunk_bytes: usize,
}

/// Every block in address order; see [`Pool::blocks`](crate::Pool::blocks).
#[derive(Debug, Clone)]
pub struct Blocks<'a> {
    states: Enumerate<slice::Iter<'a, AtomicU8>>,
    first_block: usize,
    stride: usize,
}

impl<'a> Blocks<'a> {
    pub(crate) fn new(states: &'a [AtomicU8], first_block: usize, stride: usize) -> Self {
        Blocks {
            states: states.iter().enumerate(),
            first_block,
            stride,
        }
    }
}

impl Iterator for Blocks<'_> {
    type Item = BlockInfo;

    fn next(&mut self) -> Option<BlockInfo> {
        let (index, byte) = self.states.next()?;
        Some(BlockInfo {
            index,
            addr: self.first_block + index * self.stride,
            state: BlockState::from_byte(byte.load(Relaxed)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.states.size_hint()
    }
}

impl ExactSizeIterator for Blocks<'_> {}
impl FusedIterator for Blocks<'_> {}

/// The freed blocks' indices in the order `alloc` will pop them: the current list, then the
/// list of each chunk waiting its turn; see [`Pool::free_list`](crate::Pool::free_list).
pub struct FreeList<'a, M: MemorySource = SystemMemory> {
    region: &'a Region<M>,
    next: usize,
    steps_left: usize,
    waiting: WaitingChunks<'a, M>,
}

impl<'a, M: MemorySource> FreeList<'a, M> {
    pub(crate) fn new(region: &'a Region<M>, head: usize) -> Self {
        FreeList {
            region,
            next: head,
            steps_left: distinct_blocks(region, head),
            waiting: region.waiting_chunks(),
        }
    }
}

/// How many distinct blocks the free list from `head` visits before it ends or, if a
/// use-after-free wrote a cycle into it, before it comes back to a block already visited.
///
/// Brent's cycle detection: a "hare" walks ahead while a "tortoise" waits at the last power
/// of two steps; they meet only on a cycle, whose length `lambda` that gives, and a second
/// walk finds where the cycle starts (`mu`). O(length of the list) time, no memory, so the
/// list of a damaged pool is listed once, not `block_count` times over.
fn distinct_blocks<M: MemorySource>(region: &Region<M>, head: usize) -> usize {
    // The next block after a free one; `None` at the end mark or at anything not free.
    let step = |index| region.checked_link(index);
    let Some(mut hare) = step(head) else {
        return 0;
    };
    let (mut tortoise, mut power, mut lambda, mut walked) = (head, 1, 1, 1);
    while tortoise != hare {
        if power == lambda {
            (tortoise, power, lambda) = (hare, power * 2, 0);
        }
        match step(hare) {
            Some(next) => hare = next,
            None => return walked, // the list ended: every block on it was distinct
        }
        walked += 1;
        lambda += 1;
    }
    // A cycle of `lambda` blocks: start a hare `lambda` blocks ahead and walk both until
    // they meet, at the cycle's first block, `mu` steps from the head.
    let (mut tortoise, mut hare) = (head, head);
    for _ in 0..lambda {
        hare = step(hare).unwrap_or(hare);
    }
    let mut mu = 0;
    while tortoise != hare && mu < walked {
        (tortoise, hare) = (
            step(tortoise).unwrap_or(tortoise),
            step(hare).unwrap_or(hare),
        );
        mu += 1;
    }
    mu + lambda
}

impl<M: MemorySource> Iterator for FreeList<'_, M> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        // `steps_left` ends a list's walk before it repeats a block, should a use-after-free
        // have written a cycle into it; `checked_link` ends it at the end mark or at anything
        // not free. Then `alloc` goes on with the next waiting chunk, and so does this.
        loop {
            while self.steps_left == 0 {
                self.next = self.waiting.next()?;
                self.steps_left = distinct_blocks(self.region, self.next);
            }
            self.steps_left -= 1;
            let index = self.next;
            // (`distinct_blocks` counted only free blocks, so this is always `Some`.)
            if let Some(next) = self.region.checked_link(index) {
                self.next = next;
                return Some(index);
            }
            self.steps_left = 0;
        }
    }
}

impl<M: MemorySource> FusedIterator for FreeList<'_, M> {}

impl<M: MemorySource> fmt::Debug for FreeList<'_, M> {
    // (The waiting chunks are not shown: `next` is what `alloc` takes first.)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FreeList")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
