//! Fuzz target: a [`SyncPool`] driven from one thread, every answer checked against the model
//! and against a [`Pool`] of the same shape given the same calls.
//!
//! One thread sees no races, so a `SyncPool`'s answers must be a `Pool`'s: the same errors for
//! the same pointers, the same counters, the same block states, the bytes of every live block
//! kept. The input is decoded as `pool_ops`'s is (a pool of any block size, block count,
//! alignment and memory source, zero, huge and overflowing ones included; see `common.rs`),
//! then a list of `alloc`, `free`, `contains`, `state` and writes, with every kind of
//! pointer: live, already freed, never handed out, inside a block, around the blocks' edges and
//! the metadata below them, another pool's, the stack's, any address at all.
//!
//! The model predicts every answer independently: creation's errors (and that a big enough
//! buffer is never refused, however it is aligned), which block `alloc` hands out (the free
//! list is one stack, then never-used blocks in address order), each refusal, every counter.
//! A refused free must change nothing but its rejected counter.
//!
//! The twin `Pool` is made in a 16 KiB buffer aligned to 16 KiB whenever it fits there: its
//! blocks then all start in one chunk, so its per-chunk free lists are one stack too, and it
//! must answer every call exactly as the `SyncPool` does (its free list is compared as well).
//! A pool larger than a chunk hands blocks out in a different order by design (a `Pool` takes
//! from one chunk's list at a time), so larger `SyncPool`s are checked against the model only.
//!
//! `fuzz_targets/sync_pool.rs` hands this model libFuzzer's inputs, and `tests/fuzz_corpus.rs`
//! replays every committed input of `corpus/sync_pool/` through it.

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::{self, NonNull};

use arbitrary::Arbitrary;
use memory_pool::{
    BlockState, FreeError, MemorySource, Pool, PoolError, PoolStats, SliceMemory, SyncPool,
    SystemMemory,
};

// Each model includes it: a fuzz target builds one model, `tests/fuzz_corpus.rs` all of them.
#[path = "common.rs"]
#[allow(clippy::duplicate_mod)]
mod common;
use common::{check_message, expect_free, fill, nth, verify, Creation, FreeLists, Live, Source};

const WORD: usize = size_of::<usize>();
/// Pools up to this many blocks have every block's state compared with the model after every
/// step (and every live block's contents); bigger ones only the blocks the run touched.
const FULL_MAP_LIMIT: usize = 128;
/// A `Pool` keeps one free list per chunk of this many bytes (aligned to it).
const CHUNK: usize = 16 << 10;
const CACHE_LINE: usize = 64;
/// About the most memory the patterns may touch. A byte written makes the kernel back its
/// whole page, a 2 MiB huge page in a big mapping: 490 blocks of 512 MiB, each written at
/// both ends, took libFuzzer past its 2 GB limit. So blocks past a budget of this many
/// bytes (each block costing its stride, at most two huge pages) are handed out and freed
/// unwritten.
const TOUCH_LIMIT: usize = 256 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// A pointer to hand to `free` or `contains`.
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
    /// `delta` bytes from an edge of the blocks.
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
    /// Where the links and state bytes below the blocks start (five bytes a block), without
    /// the padding that aligns the blocks.
    Metadata,
    FirstBlock,
    LastBlock,
    BlocksEnd,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc,
    /// Up to 255 allocations in a row (to reach exhaustion quickly).
    AllocMany(u8),
    Free(Pointer),
    Contains(Pointer),
    /// `state(n mod (count + 1))`: one past the last block included.
    State(usize),
    /// Overwrite both ends of the n-th live block with `byte`.
    Write {
        live: u16,
        byte: u8,
    },
    /// Free every live block, in address order or reversed.
    FreeAll {
        reversed: bool,
    },
}

/// One fuzz input: a pool to create and what to do with it.
#[derive(Arbitrary, Debug)]
pub struct Input {
    creation: Creation,
    ops: Vec<Op>,
}

/// Creates the pool `input` asks for (and its twin `Pool`, if it fits in a chunk) and runs its
/// operations, checking every answer.
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
    let expected = expect_creation(size, count, layout);
    // The layout a `Pool` twin is made with: the one `SyncPool::new` makes.
    let twin_layout = layout.or_else(|| Layout::from_size_align(size, WORD).ok());
    match source {
        Source::System => {
            let result = match layout {
                None => SyncPool::new(size, count),
                Some(layout) => SyncPool::with_layout_in(layout, count, SystemMemory),
            };
            exercise(result, &expected, None, twin_layout, &input.ops);
        }
        Source::Slice { len, skew } => {
            // `SyncPool` has no `new_in`: a slice pool is made with a layout.
            let Some(layout) = twin_layout else {
                return;
            };
            let mut vec = vec![0xA5u8; usize::from(len) + usize::from(skew)];
            let buffer = &mut vec[usize::from(skew)..];
            let span = (buffer.as_ptr().addr(), buffer.len());
            let result = SyncPool::with_layout_in(layout, count, SliceMemory::new(buffer));
            exercise(result, &expected, Some(span), twin_layout, &input.ops);
        }
    }
}

/// What creating a `SyncPool` of `count` blocks of `size` bytes (fitting `layout`, if given)
/// may answer.
struct ExpectedCreation {
    count: usize,
    align: usize,
    /// `size` (at least a word) rounded up to the alignment (at least a word).
    stride: Option<usize>,
    /// What the first block is aligned to: the largest power of two dividing the stride, up to
    /// a cache line (or the alignment, if more).
    placement: usize,
    /// Errors the request must get one of (empty: it is a valid request).
    must_fail: Vec<PoolError>,
    /// The blocks and their metadata (a 4-byte link and a state byte per block) fit in
    /// `isize::MAX`, but perhaps not with the padding that places the blocks.
    too_large_allowed: bool,
    /// The fewest bytes the region can have: the blocks and their metadata.
    min_bytes: usize,
}

fn expect_creation(size: usize, count: usize, layout: Option<Layout>) -> ExpectedCreation {
    let align = layout.map_or(1, |layout| layout.align()).max(WORD);
    let stride = size.max(WORD).checked_next_multiple_of(align);
    let placement = stride.map_or(align, |stride| {
        (1 << stride.trailing_zeros()).min(align.max(CACHE_LINE))
    });
    let min_bytes = stride
        .and_then(|stride| stride.checked_mul(count))
        .and_then(|blocks| Some(blocks.checked_add(count.checked_mul(5)?)))
        .flatten()
        .filter(|&bytes| bytes <= isize::MAX as usize);
    let mut must_fail = Vec::new();
    if size == 0 {
        must_fail.push(PoolError::ZeroBlockSize);
    }
    if count == 0 {
        must_fail.push(PoolError::ZeroBlockCount);
    }
    // Block indices are 32 bits (`u32::MAX` marks the end of the free list).
    let too_many = count >= u32::MAX as usize;
    // A block larger than `isize::MAX` is too large however many there are (and
    // `SyncPool::new(isize::MAX, 0)` may say so rather than that there are none).
    let block_too_large = stride.is_none_or(|stride| stride > isize::MAX as usize);
    if size != 0 && (block_too_large || too_many || (count != 0 && min_bytes.is_none())) {
        must_fail.push(PoolError::TooLarge {
            block_size: size,
            block_count: count,
        });
    }
    let too_large_allowed = min_bytes.is_some_and(|bytes| {
        bytes
            .checked_add(placement + 3)
            .is_none_or(|n| n > isize::MAX as usize)
    });
    ExpectedCreation {
        count,
        align,
        stride,
        placement,
        must_fail,
        too_large_allowed,
        min_bytes: min_bytes.unwrap_or(usize::MAX),
    }
}

fn exercise<M: MemorySource>(
    result: Result<SyncPool<M>, PoolError>,
    expected: &ExpectedCreation,
    slice: Option<(usize, usize)>,
    twin_layout: Option<Layout>,
    ops: &[Op],
) {
    let pool = match result {
        Err(error) => return check_creation_error(error, expected, slice),
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
    // The twin: a `Pool` whose blocks all start in one chunk, if it fits in one.
    let mut chunk = vec![0u8; 2 * CHUNK];
    let skip = chunk.as_ptr().addr().next_multiple_of(CHUNK) - chunk.as_ptr().addr();
    let twin = twin_layout
        .and_then(|layout| {
            Pool::with_layout_in(
                layout,
                expected.count,
                SliceMemory::new(&mut chunk[skip..skip + CHUNK]),
            )
            .ok()
        })
        .inspect(|twin| {
            let layout = twin.layout();
            assert_eq!((layout.stride, layout.count), (stride, expected.count));
            let last = layout.blocks + stride * (expected.count - 1);
            assert_eq!(layout.blocks / CHUNK, last / CHUNK, "the twin spans chunks");
        });
    Model::new(pool, twin, expected, slice).run(ops);
}

fn check_creation_error(
    error: PoolError,
    expected: &ExpectedCreation,
    slice: Option<(usize, usize)>,
) {
    let message = error.to_string();
    assert!(!message.is_empty());
    if !expected.must_fail.is_empty() {
        // Any one of the reasons is a right answer.
        assert!(
            expected.must_fail.contains(&error),
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
            // The padding that places the blocks, and up to 3 bytes to align the links.
            assert!(
                bytes < expected.min_bytes + expected.placement + 3,
                "asked for too much: {bytes} bytes for {} and up to {} of padding",
                expected.min_bytes,
                expected.placement + 2
            );
            assert!(message.contains(&bytes.to_string()), "{message}");
            if let Some((start, len)) = slice {
                assert!(
                    len < bytes,
                    "a big enough buffer was refused: {len} bytes at {start:#x} for {bytes}"
                );
            }
        }
        other => panic!("{other:?} for a valid request"),
    }
}

/// The `SyncPool` under test, its twin, and what they should look like.
struct Model<'a, M: MemorySource> {
    pool: SyncPool<M>,
    twin: Option<Pool<SliceMemory<'a>>>,
    stride: usize,
    count: usize,
    align: usize,
    placement: usize,
    slice: Option<(usize, usize)>,
    /// The first block's address, known from the first `alloc` (which hands out block 0).
    first_block: Option<usize>,
    /// Blocks in use: index -> contents (the pointer is the `SyncPool`'s block).
    live: BTreeMap<usize, Live>,
    /// The free list: one stack (every block in "chunk" 0).
    free: FreeLists,
    next_never_used: usize,
    stats: PoolStats,
    /// Another pool's blocks, foreign pointers to this one.
    other: (SyncPool, Vec<NonNull<u8>>),
    /// Blocks below this index get patterns written and checked (see [`TOUCH_LIMIT`]).
    patterned: usize,
    next_byte: u8,
}

impl<'a, M: MemorySource> Model<'a, M> {
    fn new(
        pool: SyncPool<M>,
        twin: Option<Pool<SliceMemory<'a>>>,
        expected: &ExpectedCreation,
        slice: Option<(usize, usize)>,
    ) -> Self {
        let other = SyncPool::new(64, 4).expect("a small pool");
        let other_blocks = std::iter::from_fn(|| other.alloc()).collect();
        let patterned = (TOUCH_LIMIT / pool.block_size().min(2 * HUGE_PAGE)).max(1);
        let model = Model {
            stride: pool.block_size(),
            count: pool.block_count(),
            align: expected.align,
            placement: expected.placement,
            slice,
            pool,
            twin,
            first_block: None,
            live: BTreeMap::new(),
            free: FreeLists::default(),
            next_never_used: 0,
            stats: PoolStats::default(),
            other: (other, other_blocks),
            patterned,
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
                    if let Some(offset) = self.pointer(pointer, &mut stack) {
                        self.free(offset);
                    }
                }
                Op::Contains(pointer) => {
                    if let Some(offset) = self.pointer(pointer, &mut stack) {
                        self.contains(offset);
                    }
                }
                Op::State(n) => {
                    let index = n % (self.count + 1);
                    let expected = (index < self.count).then(|| self.state(index));
                    assert_eq!(self.pool.state(index), expected, "state({index})");
                    if let Some(twin) = &self.twin {
                        assert_eq!(twin.state(index), expected, "the twin's state({index})");
                    }
                }
                Op::Write { live, byte } => {
                    let patterned = self.patterned;
                    if let Some((&index, entry)) = nth(&mut self.live, live.into()) {
                        entry.byte = byte;
                        if index < patterned {
                            fill(entry.block, self.stride, byte);
                        }
                        if let Some(twin) = &self.twin {
                            fill(twin.block_ptr(index).expect("a block"), self.stride, byte);
                        }
                    }
                }
                Op::FreeAll { reversed } => {
                    let mut blocks: Vec<usize> = self.live.keys().copied().collect();
                    if reversed {
                        blocks.reverse();
                    }
                    for index in blocks {
                        self.free(index * self.stride);
                    }
                }
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
        let expected = self
            .free
            .pop()
            .or_else(|| (self.next_never_used < self.count).then_some(self.next_never_used));
        let got = self.pool.alloc();
        let twin = self.twin.as_mut().map(Pool::alloc);
        let Some(index) = expected else {
            assert_eq!(got, None, "alloc from a full pool");
            assert_eq!(twin.flatten(), None, "the twin's alloc from a full pool");
            assert_eq!(self.live.len(), self.count);
            return;
        };
        let block = got.expect("alloc refused with blocks left");
        let addr = block.as_ptr().addr();
        let first_block = *self.first_block.get_or_insert_with(|| {
            assert_eq!(index, 0, "the first alloc is block 0");
            addr
        });
        assert_eq!(
            addr,
            first_block + index * self.stride,
            "alloc: block {index}"
        );
        if index == 0 {
            self.check_placement(addr);
        }
        if let Some(twin) = twin {
            let twin_block = twin.expect("the twin refused an alloc");
            let offset = twin_block.as_ptr().addr() - self.twin_first_block();
            assert_eq!(
                offset,
                index * self.stride,
                "the twin's alloc: block {index}"
            );
        }
        if index == self.next_never_used {
            self.next_never_used += 1;
        }
        self.next_byte = self.next_byte.wrapping_add(1);
        if index < self.patterned {
            fill(block, self.stride, self.next_byte);
        }
        if let Some(twin) = &self.twin {
            fill(
                twin.block_ptr(index).expect("a block"),
                self.stride,
                self.next_byte,
            );
        }
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

    /// Block 0 is aligned, placed, and (for a slice) inside the buffer with room for the
    /// metadata below it.
    fn check_placement(&self, first_block: usize) {
        assert_eq!(first_block % self.align, 0, "blocks misaligned");
        assert_eq!(
            first_block % self.placement,
            0,
            "blocks not placed on {} bytes",
            self.placement
        );
        if let Some((start, len)) = self.slice {
            assert!(
                first_block >= start + 5 * self.count,
                "no room for the metadata"
            );
            assert!(first_block + self.stride * self.count <= start + len);
        }
    }

    fn twin_first_block(&self) -> usize {
        self.twin.as_ref().expect("a twin").layout().blocks
    }

    /// Frees the address `offset` bytes (wrapping) from the first block, in the pool and its
    /// twin.
    fn free(&mut self, offset: usize) {
        let first_block = self
            .first_block
            .expect("pointers only once block 0 is known");
        let addr = first_block.wrapping_add(offset);
        let twin_addr = self
            .twin
            .as_ref()
            .map(|twin| twin.layout().blocks.wrapping_add(offset));
        if addr == 0 || twin_addr == Some(0) {
            return;
        }
        let expected = self.expect(addr, first_block);
        let before = (expected.is_err() && self.count <= FULL_MAP_LIMIT).then(|| self.map());
        let ptr = match expected {
            // The live block itself, with its provenance.
            Ok(index) => {
                if index < self.patterned {
                    verify(index, self.live[&index], self.stride);
                }
                self.live[&index].block
            }
            Err(_) => NonNull::new(ptr::without_provenance_mut(addr)).expect("not null"),
        };
        let result = self.pool.free(ptr);
        assert_eq!(result, expected.map(|_| ()), "free({ptr:p})");
        if let (Some(twin), Some(twin_addr)) = (&mut self.twin, twin_addr) {
            let first = twin.block_ptr(0).expect("block 0");
            let twin_ptr = NonNull::new(first.as_ptr().with_addr(twin_addr)).expect("not null");
            if let Ok(index) = expected {
                let live = Live {
                    block: twin_ptr,
                    byte: self.live[&index].byte,
                };
                verify(index, live, self.stride);
            }
            let twin_result = twin.free(twin_ptr);
            assert_eq!(
                twin_result.map_err(without_addr),
                result.map_err(without_addr),
                "the twin answered free({twin_ptr:p}) otherwise"
            );
        }
        match expected {
            Ok(index) => {
                self.live.remove(&index);
                self.free.push(index, 0);
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

    fn contains(&self, offset: usize) {
        let first_block = self
            .first_block
            .expect("pointers only once block 0 is known");
        let addr = first_block.wrapping_add(offset);
        let inside = !matches!(
            self.expect(addr, first_block),
            Err(FreeError::NotInPool { .. })
        );
        assert_eq!(
            self.pool.contains(ptr::without_provenance(addr)),
            inside,
            "contains({addr:#x})"
        );
        if let Some(twin) = &self.twin {
            let addr = twin.layout().blocks.wrapping_add(offset);
            assert_eq!(twin.contains(ptr::without_provenance(addr)), inside);
        }
    }

    /// What `free(addr)` must answer.
    fn expect(&self, addr: usize, first_block: usize) -> Result<usize, FreeError> {
        expect_free(addr, first_block, self.stride, self.count, |index| {
            self.state(index)
        })
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

    /// Turns a [`Pointer`] into an offset (wrapping) from the first block, or `None` when there
    /// is no such block now (or block 0's address is not known yet).
    fn pointer(&mut self, pointer: Pointer, stack: &mut [u8; 64]) -> Option<usize> {
        let first_block = self.first_block?;
        let from = |addr: usize| addr.wrapping_sub(first_block);
        let block = |index: usize| index * self.stride;
        Some(match pointer {
            Pointer::Live(n) => {
                let (&index, _) = nth(&mut self.live, n.into())?;
                block(index)
            }
            Pointer::Freed(n) => {
                let index = self.free.get(usize::from(n) % self.free.len().max(1))?;
                block(index)
            }
            Pointer::NeverUsed(n) => {
                let left = self.count - self.next_never_used;
                (left > 0).then(|| block(self.next_never_used + n % left))?
            }
            Pointer::Inside {
                block: index,
                offset,
            } => block(index % self.count) + offset % self.stride,
            Pointer::Near { edge, delta } => {
                let edge = match edge {
                    Edge::Metadata => (5 * self.count).wrapping_neg(),
                    Edge::FirstBlock => 0,
                    Edge::LastBlock => block(self.count - 1),
                    Edge::BlocksEnd => block(self.count),
                };
                edge.wrapping_add_signed(delta as isize)
            }
            Pointer::Address(addr) => from(addr),
            Pointer::OtherPool(n) => from(self.other.1[usize::from(n) % 4].as_ptr().addr()),
            Pointer::Stack(n) => from(ptr::from_mut(&mut stack[usize::from(n) % 64]).addr()),
        })
    }

    /// Everything observable about the pool except the rejected counters.
    fn map(&self) -> (Vec<Option<BlockState>>, usize, PoolStats) {
        let mut stats = self.pool.stats();
        stats.rejected = Default::default();
        (
            (0..=self.count)
                .map(|index| self.pool.state(index))
                .collect(),
            self.pool.next_never_used(),
            stats,
        )
    }

    fn check_counters(&self) {
        assert_eq!(self.pool.stats(), self.stats);
        assert_eq!(self.pool.in_use(), self.live.len());
        assert_eq!(self.pool.next_never_used(), self.next_never_used);
        if let Some(twin) = &self.twin {
            assert_eq!(twin.stats(), self.stats, "the twin's counters");
            assert_eq!(twin.next_never_used(), self.next_never_used);
        }
    }

    /// Counters, the state of every block the run touched (of every block in pools up to
    /// 2^16 blocks), the twin's free list, and the contents of every live block.
    fn check_everything(&self) {
        self.check_counters();
        let touched = self.live.keys().copied().chain(self.free.order());
        for index in (0..self.next_never_used.min(1 << 16)).chain(touched) {
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
        if let Some(twin) = &self.twin {
            let free_list: Vec<usize> = twin.free_list().collect();
            assert_eq!(free_list, self.free.order(), "the twin's free list");
            for (index, block) in twin.blocks().enumerate() {
                assert_eq!(block.state, self.state(index), "the twin's block {index}");
            }
        }
        for (&index, &live) in &self.live {
            if index < self.patterned {
                verify(index, live, self.stride);
            }
            if let Some(twin) = &self.twin {
                let block = twin.block_ptr(index).expect("a block");
                verify(index, Live { block, ..live }, self.stride);
            }
        }
    }
}

/// An error without its address (the pool and its twin are at different addresses).
fn without_addr(error: FreeError) -> FreeError {
    match error {
        FreeError::NotInPool { .. } => FreeError::NotInPool { addr: 0 },
        FreeError::Misaligned { block, offset, .. } => FreeError::Misaligned {
            addr: 0,
            block,
            offset,
        },
        FreeError::DoubleFree { block, state, .. } => FreeError::DoubleFree {
            addr: 0,
            block,
            state,
        },
    }
}
