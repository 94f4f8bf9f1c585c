//! Fuzz target: any pool, any sequence of operations, every answer checked against a model.
//!
//! libFuzzer's bytes are decoded with `arbitrary` into a pool to create (any block size,
//! block count, alignment and memory source: zero, huge and overflowing ones included) and
//! a list of operations: allocations, writes into live blocks, and `free`/`check` of every
//! kind of pointer (live, already freed, never handed out, inside a block, around the
//! region's edges, another pool's, the stack's, any address at all).
//!
//! The [`Model`] predicts every answer independently of the pool's own arithmetic: whether
//! creation fails and how, which block `alloc` hands out next (the free list is a stack, then
//! never-used blocks in address order), which error each bad pointer gets, every counter,
//! the block map and the free list. A refused free must change nothing but its rejected
//! counter, and every live block must still hold the bytes last written to it.
//!
//! This file is the model only: `fuzz_targets/pool_ops.rs` hands it libFuzzer's inputs, and
//! `tests/fuzz_corpus.rs` replays every committed input of `corpus/pool_ops/` through it in a
//! plain `cargo test`, so a stale model or a regression fails `make test` at once.
//!
//! Fuzz it with `make fuzz FUZZ_TARGETS=pool_ops` (60 s) or `cargo +nightly fuzz run pool_ops`.

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use arbitrary::Arbitrary;
use memory_pool::{BlockState, FreeError, MemorySource, Pool, PoolError, PoolStats, SliceMemory};

// Each model includes it: a fuzz target builds one model, `tests/fuzz_corpus.rs` all of them.
#[path = "common.rs"]
#[allow(clippy::duplicate_mod)]
mod common;
use common::{
    check_message, chunk_of, expect_free, fill, nth, verify, Creation, FreeLists, Live, Source,
};

const WORD: usize = size_of::<usize>();
/// Pools up to this many blocks have their whole map, free list and leaks compared with the
/// model after every step; bigger ones at the end, and only the blocks the run touched.
const FULL_MAP_LIMIT: usize = 128;

/// A pointer to hand to `free` or `check`.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pointer {
    /// The n-th live block (in address order).
    Live(u16),
    /// The n-th block on the free list: a double free.
    Freed(u16),
    /// A block that was never handed out.
    NeverUsed(usize),
    /// `offset` bytes into block `block` (both reduced to fit).
    Inside { block: usize, offset: usize },
    /// `delta` bytes from an edge of the region.
    Near { edge: Edge, delta: i32 },
    /// Any address at all.
    Address(usize),
    /// A block of another pool.
    OtherPool(u8),
    /// A byte on the stack.
    Stack(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Edge {
    RegionStart,
    FirstBlock,
    LastBlock,
    BlocksEnd,
    RegionEnd,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc,
    /// Up to 255 allocations in a row (to reach exhaustion quickly).
    AllocMany(u8),
    Free(Pointer),
    Check(Pointer),
    /// Overwrite both ends of the n-th live block with `byte`.
    Write {
        live: u16,
        byte: u8,
    },
    /// Free every live block, in address order or reversed.
    FreeAll {
        reversed: bool,
    },
    /// A use-after-free bug: overwrite the free-list link of the n-th block that has been
    /// freed (at `Pool::link_address`). The pool must never hand out a block that is in use, or
    /// one twice; it may lose the rest of its free list.
    Scribble {
        freed: u16,
        link: Link,
    },
}

/// What a use-after-free writes over a free block's link.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Link {
    /// The address of a block (often a real one: free, in use or never used).
    Index(u16),
    /// An end-of-list mark: an odd address (here the block's own, plus one).
    End,
    /// The block's own address: a cycle.
    Itself,
    Any(usize),
}

/// One fuzz input: a pool to create and what to do with it.
#[derive(Arbitrary, Debug)]
pub struct Input {
    creation: Creation,
    ops: Vec<Op>,
}

/// Creates the pool `input` asks for and runs its operations, checking every answer.
pub fn run(input: Input) {
    let Creation {
        block_size,
        block_count,
        align_log2,
        source,
    } = input.creation;
    let (size, count) = (block_size.value(), block_count.value());
    let layout = match align_log2 {
        None => None,
        Some(n) => match Layout::from_size_align(size, 1 << (u32::from(n) % usize::BITS)) {
            Ok(layout) => Some(layout),
            // `Layout` itself refuses it: the pool is never asked.
            Err(_) => return,
        },
    };
    let align = layout.map_or(1, |layout| layout.align()).max(WORD);
    let expected = expect_creation(size, count, align, layout.is_some());
    match source {
        Source::System => {
            let result = match layout {
                None => Pool::new(size, count),
                Some(layout) => Pool::with_layout(layout, count),
            };
            exercise(result, &expected, None, &input.ops);
        }
        Source::Slice { len, skew } => {
            let mut vec = vec![0xA5u8; usize::from(len) + usize::from(skew)];
            let buffer = &mut vec[usize::from(skew)..];
            let span = (buffer.as_ptr().addr(), buffer.len());
            let memory = SliceMemory::new(buffer);
            let result = match layout {
                None => Pool::new_in(size, count, memory),
                Some(layout) => Pool::with_layout_in(layout, count, memory),
            };
            exercise(result, &expected, Some(span), &input.ops);
        }
    }
}

/// What creating a pool of `count` blocks of `size` bytes aligned to `align` may answer.
struct ExpectedCreation {
    size: usize,
    count: usize,
    align: usize,
    /// The block size the pool must report: `size` (at least a word) rounded up to `align`.
    stride: Option<usize>,
    /// What the first block is aligned to: the largest power of two dividing the stride, up
    /// to a cache line (or `align`, if more), so no block straddles more cache lines than its
    /// size needs. The pool asks for up to `placement - 1` bytes of padding to get there.
    placement: usize,
    /// Errors the request must get one of (empty: it is a valid request).
    must_fail: Vec<PoolError>,
    /// Whether `TooLarge` is allowed: the blocks and state bytes fit in `isize::MAX`, but
    /// not with the chunk lists and the padding that places the blocks.
    too_large_allowed: bool,
    /// Fewest bytes a region can have: one block and one state byte per block, and the chunk
    /// lists (two words for each 16 KiB the blocks can start in, and a word to align them).
    min_bytes: usize,
    via_layout: bool,
}

fn expect_creation(size: usize, count: usize, align: usize, via_layout: bool) -> ExpectedCreation {
    let stride = size.max(WORD).checked_next_multiple_of(align);
    const CACHE_LINE: usize = 64;
    let placement = stride.map_or(align, |stride| {
        (1 << stride.trailing_zeros()).min(align.max(CACHE_LINE))
    });
    let blocks_and_states = stride
        .and_then(|stride| stride.checked_mul(count))
        .and_then(|blocks| blocks.checked_add(count))
        .filter(|&bytes| bytes <= isize::MAX as usize);
    // Blocks start in at most `span / 16 KiB + 2` of the 16 KiB-aligned chunks.
    const CHUNK: usize = 16 << 10;
    let lists = stride
        .and_then(|stride| stride.checked_mul(count.saturating_sub(1)))
        .map(|span| (span / CHUNK + 2) * 2 * WORD + WORD - 1);
    let min_bytes = blocks_and_states
        .zip(lists)
        .and_then(|(bytes, lists)| bytes.checked_add(lists))
        .filter(|&bytes| bytes <= isize::MAX as usize);
    let mut must_fail = Vec::new();
    if size == 0 {
        must_fail.push(PoolError::ZeroBlockSize);
    }
    if count == 0 {
        must_fail.push(PoolError::ZeroBlockCount);
    }
    if blocks_and_states.is_none() && size != 0 && count != 0 {
        must_fail.push(PoolError::TooLarge {
            block_size: size,
            block_count: count,
        });
    }
    // The blocks and state bytes fit, but not with the chunk lists or the placement padding.
    let too_large_allowed = blocks_and_states.is_some()
        && min_bytes.is_none_or(|bytes| {
            bytes
                .checked_add(placement - 1)
                .is_none_or(|n| n > isize::MAX as usize)
        });
    ExpectedCreation {
        size,
        count,
        align,
        stride,
        placement,
        must_fail,
        too_large_allowed,
        min_bytes: min_bytes.unwrap_or(usize::MAX),
        via_layout,
    }
}

/// Checks the creation result against `expected`, then runs `ops` on the pool if there is one.
/// `slice` is the buffer a `SliceMemory` pool was given (start address, length).
fn exercise<M: MemorySource>(
    result: Result<Pool<M>, PoolError>,
    expected: &ExpectedCreation,
    slice: Option<(usize, usize)>,
    ops: &[Op],
) {
    let pool = match result {
        Err(error) => {
            check_creation_error(error, expected, slice);
            return;
        }
        Ok(pool) => pool,
    };
    assert!(
        expected.must_fail.is_empty(),
        "created a pool that must be refused: {:?}",
        expected.must_fail
    );
    if let Some((_, len)) = slice {
        assert!(len >= expected.min_bytes, "pool bigger than its buffer");
    }
    let stride = expected.stride.expect("a created pool has a stride");
    assert_eq!(pool.block_size(), stride);
    assert_eq!(pool.block_count(), expected.count);
    let layout = pool.layout();
    assert_eq!((layout.stride, layout.count), (stride, expected.count));
    assert_eq!(layout.blocks % expected.align, 0, "blocks misaligned");
    assert_eq!(
        layout.blocks % expected.placement,
        0,
        "blocks not placed on {} bytes",
        expected.placement
    );
    assert!(
        layout.blocks >= layout.base + expected.count,
        "blocks overlap the state bytes"
    );
    // The metadata (state bytes and chunk lists) and at most the padding to the placement.
    let metadata = expected.min_bytes - stride * expected.count;
    assert!(layout.blocks - layout.base < metadata + expected.placement);
    assert_eq!(
        layout.states,
        layout.blocks - expected.count,
        "state bytes below the blocks"
    );
    assert!(layout.blocks + stride * expected.count <= layout.base + layout.size);
    if let Some((start, len)) = slice {
        assert!(layout.base >= start && layout.base + layout.size <= start + len);
    }
    Model::new(pool).run(ops);
}

fn check_creation_error(
    error: PoolError,
    expected: &ExpectedCreation,
    slice: Option<(usize, usize)>,
) {
    let message = error.to_string();
    assert!(!message.is_empty());
    if !expected.must_fail.is_empty() {
        // Any one of the reasons is a right answer (`Pool::new(usize::MAX, 0)` is both too
        // large and empty); a `TooLarge` may name the requested or the rounded-up size.
        let accepted = expected
            .must_fail
            .iter()
            .any(|reason| match (reason, error) {
                (
                    PoolError::TooLarge { block_count, .. },
                    PoolError::TooLarge {
                        block_size,
                        block_count: got_count,
                    },
                ) => {
                    *block_count == got_count
                        && (block_size == expected.size || Some(block_size) == expected.stride)
                }
                _ => *reason == error,
            });
        assert!(
            accepted,
            "{error:?}, expected one of {:?}",
            expected.must_fail
        );
        return;
    }
    match error {
        PoolError::TooLarge { .. } => assert!(
            expected.too_large_allowed,
            "a {}-byte request refused as too large",
            expected.min_bytes
        ),
        PoolError::OutOfMemory { bytes } => {
            assert!(
                bytes >= expected.min_bytes,
                "asked its source for too little"
            );
            assert!(
                bytes < expected.min_bytes + expected.placement,
                "asked for too much: {bytes} bytes for {} and up to {} of padding",
                expected.min_bytes,
                expected.placement - 1
            );
            assert!(message.contains(&bytes.to_string()), "{message}");
            if let Some((_, len)) = slice {
                assert!(len < bytes, "a big enough buffer was refused");
            }
        }
        other => panic!(
            "{other:?} for a valid request (layout: {})",
            expected.via_layout
        ),
    }
}

/// The pool under test and what it should look like.
struct Model<M: MemorySource> {
    pool: Pool<M>,
    first_block: usize,
    stride: usize,
    count: usize,
    /// Blocks in use: index -> contents.
    live: BTreeMap<usize, Live>,
    /// The free lists.
    free: FreeLists,
    /// Blocks below this index have been handed out at least once.
    next_never_used: usize,
    stats: PoolStats,
    /// Another pool, whose blocks are foreign pointers to this one.
    other: Pool,
    /// How many free-list links were overwritten. Once one was, the model no longer knows
    /// the free list's order; it only knows which blocks are free.
    scribbles: u64,
    next_byte: u8,
}

impl<M: MemorySource> Model<M> {
    fn new(pool: Pool<M>) -> Self {
        let layout = pool.layout();
        let mut other = Pool::new(64, 4).expect("a small pool");
        while other.alloc().is_some() {}
        let mut model = Model {
            first_block: layout.blocks,
            stride: layout.stride,
            count: layout.count,
            pool,
            live: BTreeMap::new(),
            free: FreeLists {
                current_chunk: chunk_of(layout.blocks),
                ..FreeLists::default()
            },
            next_never_used: 0,
            stats: PoolStats::default(),
            other,
            scribbles: 0,
            next_byte: 1,
        };
        model.check_everything();
        model
    }

    fn run(mut self, ops: &[Op]) {
        let mut stack = [0u8; 64];
        for op in ops {
            match *op {
                Op::Alloc => self.alloc(),
                Op::AllocMany(n) => (0..n).for_each(|_| self.alloc()),
                Op::Free(pointer) => {
                    if let Some(ptr) = self.pointer(pointer, &mut stack) {
                        self.free(ptr);
                    }
                }
                Op::Check(pointer) => {
                    if let Some(ptr) = self.pointer(pointer, &mut stack) {
                        let expected = self.expect(ptr.as_ptr());
                        assert_eq!(self.pool.check(ptr.as_ptr()), expected);
                        let outside = matches!(expected, Err(FreeError::NotInPool { .. }));
                        assert_eq!(self.pool.contains(ptr.as_ptr()), !outside);
                    }
                }
                Op::Write { live, byte } => {
                    if let Some((_, entry)) = nth(&mut self.live, live.into()) {
                        entry.byte = byte;
                        fill(entry.block, self.stride, byte);
                    }
                }
                Op::FreeAll { reversed } => {
                    let mut blocks: Vec<_> = self.live.values().map(|live| live.block).collect();
                    if reversed {
                        blocks.reverse();
                    }
                    blocks.into_iter().for_each(|block| self.free(block));
                }
                Op::Scribble { freed, link } => self.scribble(freed.into(), link),
            }
            if self.count <= FULL_MAP_LIMIT {
                self.check_everything();
            } else {
                self.check_counters();
            }
        }
        self.check_everything();
    }

    fn alloc(&mut self) {
        if self.scribbles > 0 {
            return self.alloc_after_scribbles();
        }
        let from_lists = self.free.pop();
        let expected = match from_lists {
            Some(index) => Some(index),
            None => (self.next_never_used < self.count).then_some(self.next_never_used),
        };
        let got = self.pool.alloc();
        let Some(index) = expected else {
            assert_eq!(got, None, "alloc from a full pool");
            assert_eq!(self.live.len(), self.count);
            return;
        };
        let block = got.expect("alloc refused with blocks left");
        assert_eq!(
            block.as_ptr().addr(),
            self.first_block + index * self.stride
        );
        if from_lists.is_none() {
            // Every list is empty: the never-used block's chunk becomes the current one.
            self.next_never_used += 1;
            self.free.current_chunk = chunk_of(block.as_ptr().addr());
        }
        self.next_byte = self.next_byte.wrapping_add(1);
        fill(block, self.stride, self.next_byte);
        let old = self.live.insert(
            index,
            Live {
                block,
                byte: self.next_byte,
            },
        );
        assert!(old.is_none(), "block {index} handed out twice");
        self.stats.total_allocs += 1;
        self.stats.in_use += 1;
        self.stats.peak_in_use = self.stats.peak_in_use.max(self.stats.in_use);
    }

    /// Once a link was overwritten, `alloc` may hand out any free block (or, having dropped a
    /// damaged free list, a never-used one, or nothing at all once those run out), but never
    /// a block in use.
    fn alloc_after_scribbles(&mut self) {
        // What is left of the free list is what `alloc` pops; when it is empty (or its head
        // was damaged), the next never-used block.
        let predicted = self.pool.free_list().next();
        let Some(block) = self.pool.alloc() else {
            assert_eq!(predicted, None, "None with blocks on the free list");
            assert_eq!(
                self.next_never_used, self.count,
                "None with never-used blocks left"
            );
            return;
        };
        let offset = block.as_ptr().addr() - self.first_block;
        assert_eq!(offset % self.stride, 0, "alloc handed out a block's middle");
        let index = offset / self.stride;
        let expected = predicted.unwrap_or(self.next_never_used);
        assert_eq!(index, expected, "alloc did not pop what free_list() showed");
        match self.state(index) {
            BlockState::InUse => panic!("block {index} handed out while in use"),
            BlockState::Free => self.free.remove(index),
            BlockState::NeverUsed => {
                assert_eq!(
                    index, self.next_never_used,
                    "never-used blocks out of order"
                );
                self.next_never_used += 1;
            }
        }
        self.next_byte = self.next_byte.wrapping_add(1);
        fill(block, self.stride, self.next_byte);
        let byte = self.next_byte;
        self.live.insert(index, Live { block, byte });
        self.stats.total_allocs += 1;
        self.stats.in_use += 1;
        self.stats.peak_in_use = self.stats.peak_in_use.max(self.stats.in_use);
    }

    fn scribble(&mut self, n: usize, link: Link) {
        let Some(index) = self.free.get(n % self.free.len().max(1)) else {
            return;
        };
        let address_of = |i: usize| i.wrapping_mul(self.stride).wrapping_add(self.first_block);
        let value = match link {
            Link::Index(i) => address_of(i.into()),
            Link::End => address_of(index) + 1,
            Link::Itself => address_of(index),
            Link::Any(value) => value,
        };
        let block = self.pool.block_ptr(index).expect("a free block");
        // Where the block keeps its link (a whole number of cache lines in, for large blocks).
        let link = self.pool.link_address(index).expect("a block of the pool");
        // SAFETY: the link is an aligned word inside a free block, still mapped; no one else is
        // using it. This is the bug being simulated: writing to a block after freeing it. (As
        // a pointer with the block's provenance, as a program's stale pointer would have.)
        unsafe {
            let slot = block.as_ptr().with_addr(link).cast::<*mut u8>();
            slot.write(block.as_ptr().with_addr(value));
        }
        self.scribbles += 1;
    }

    fn free(&mut self, ptr: NonNull<u8>) {
        let expected = self.expect(ptr.as_ptr());
        let before = (expected.is_err() && self.count <= FULL_MAP_LIMIT).then(|| self.map());
        if let Ok(index) = expected {
            // The last moment the block is ours: it must still hold what we wrote.
            verify(index, self.live[&index], self.stride);
        }
        let result = self.pool.free(ptr);
        assert_eq!(result, expected.map(|_| ()), "free({ptr:p})");
        match expected {
            Ok(index) => {
                self.live.remove(&index);
                self.free.push(index, chunk_of(ptr.as_ptr().addr()));
                self.stats.in_use -= 1;
                self.stats.total_frees += 1;
            }
            Err(error) => {
                check_message(&error);
                let rejected = &mut self.stats.rejected;
                match error {
                    FreeError::NotInPool { .. } => rejected.not_in_pool += 1,
                    FreeError::Misaligned { .. } => rejected.misaligned += 1,
                    FreeError::DoubleFree { .. } => rejected.double_free += 1,
                }
                if let Some(before) = before {
                    assert_eq!(self.map(), before, "a refused free changed the pool");
                }
            }
        }
    }

    /// What `free(ptr)` must answer, worked out from the model alone.
    fn expect(&self, ptr: *const u8) -> Result<usize, FreeError> {
        expect_free(
            ptr.addr(),
            self.first_block,
            self.stride,
            self.count,
            |index| self.state(index),
        )
    }

    fn state(&self, index: usize) -> BlockState {
        if self.live.contains_key(&index) {
            BlockState::InUse
        } else if index < self.next_never_used {
            BlockState::Free
        } else {
            BlockState::NeverUsed
        }
    }

    /// Turns a [`Pointer`] into an address, or `None` when there is no such block now.
    fn pointer(&mut self, pointer: Pointer, stack: &mut [u8; 64]) -> Option<NonNull<u8>> {
        let first = self.pool.block_ptr(0).expect("a pool has a block 0");
        // Every address is derived from block 0 so it keeps the region's provenance.
        let at = |addr: usize| {
            NonNull::new(
                first
                    .as_ptr()
                    .wrapping_add(addr.wrapping_sub(self.first_block)),
            )
        };
        let block_addr = |index: usize| self.first_block + index * self.stride;
        match pointer {
            Pointer::Live(n) => nth(&mut self.live, n.into()).map(|(_, live)| live.block),
            Pointer::Freed(n) => {
                let index = self.free.get(usize::from(n) % self.free.len().max(1))?;
                at(block_addr(index))
            }
            Pointer::NeverUsed(n) => {
                let left = self.count - self.next_never_used;
                (left > 0).then(|| at(block_addr(self.next_never_used + n % left)))?
            }
            Pointer::Inside { block, offset } => {
                at(block_addr(block % self.count) + offset % self.stride)
            }
            Pointer::Near { edge, delta } => {
                let layout = self.pool.layout();
                let edge = match edge {
                    Edge::RegionStart => layout.base,
                    Edge::FirstBlock => layout.blocks,
                    Edge::LastBlock => block_addr(self.count - 1),
                    Edge::BlocksEnd => block_addr(self.count - 1) + self.stride,
                    Edge::RegionEnd => layout.base + layout.size,
                };
                at(edge.wrapping_add_signed(delta as isize))
            }
            Pointer::Address(addr) => at(addr),
            Pointer::OtherPool(n) => self.other.block_ptr(usize::from(n) % 4),
            Pointer::Stack(n) => Some(NonNull::from(&mut stack[usize::from(n) % 64])),
        }
    }

    /// Everything observable about the pool except the rejected counters.
    fn map(&self) -> (Vec<BlockState>, Vec<usize>, usize, PoolStats) {
        let mut stats = self.pool.stats();
        stats.rejected = Default::default();
        (
            self.pool.blocks().map(|block| block.state).collect(),
            self.pool.free_list().collect(),
            self.pool.next_never_used(),
            stats,
        )
    }

    fn check_counters(&mut self) {
        if self.scribbles > 0 {
            // Each overwritten link can be found damaged at most once.
            let damaged = self.pool.stats().damaged_free_lists;
            assert!(damaged >= self.stats.damaged_free_lists && damaged <= self.scribbles);
            self.stats.damaged_free_lists = damaged;
            // Links rewritten to lead back to blocks an earlier rewrite cut off the list can
            // put more blocks in use than the pool counted as its peak (documented): never
            // more than the true peak.
            let peak = self.pool.stats().peak_in_use;
            assert!(
                peak <= self.stats.peak_in_use,
                "peak {peak} over the true peak"
            );
            let mut expected = self.stats;
            expected.peak_in_use = peak;
            assert_eq!(self.pool.stats(), expected);
        } else {
            assert_eq!(self.pool.stats(), self.stats);
        }
        assert_eq!(self.pool.in_use(), self.live.len());
        assert_eq!(self.pool.available(), self.count - self.live.len());
        assert_eq!(self.pool.next_never_used(), self.next_never_used);
    }

    /// Counters, the free list, the state of every block the run touched (of every block in
    /// pools up to 2^16 blocks), and the contents of every live block.
    fn check_everything(&mut self) {
        self.check_counters();
        let free_list: Vec<usize> = self.pool.free_list().collect();
        if self.scribbles == 0 {
            assert_eq!(free_list, self.free.order(), "free list");
        } else {
            // What is left of the lists: free blocks only, and finite even when an overwritten
            // link made a cycle (each list stops before its first repeat). A link rewired into
            // another chunk's list can make a block appear on two lists: `alloc` hands it out
            // once, then finds it in use and cuts the other list (checked in
            // `alloc_after_scribbles`).
            for &index in &free_list {
                assert_eq!(self.state(index), BlockState::Free, "free list has {index}");
            }
        }
        for index in 0..self.next_never_used.min(1 << 16) {
            assert_eq!(
                self.pool.state(index),
                Some(self.state(index)),
                "block {index}"
            );
        }
        for &index in self.live.keys().chain(&self.free.order()) {
            assert_eq!(
                self.pool.state(index),
                Some(self.state(index)),
                "block {index}"
            );
        }
        if self.next_never_used < self.count {
            assert_eq!(
                self.pool.state(self.next_never_used),
                Some(BlockState::NeverUsed)
            );
        }
        assert_eq!(self.pool.state(self.count), None);
        assert_eq!(self.pool.block_ptr(self.count), None);
        if self.count <= 1 << 16 {
            for (index, block) in self.pool.blocks().enumerate() {
                assert_eq!(block.index, index);
                assert_eq!(block.addr, self.first_block + index * self.stride);
                assert_eq!(block.state, self.state(index), "block {index}");
            }
            let leaks: Vec<usize> = self.pool.leaks().map(|block| block.index).collect();
            assert!(leaks.iter().eq(self.live.keys()), "leaks");
        }
        for (&index, &live) in &self.live {
            verify(index, live, self.stride);
        }
    }
}
