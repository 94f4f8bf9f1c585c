//! Fuzz target: any growing pool, any sequence of operations, every answer checked against a
//! model.
//!
//! libFuzzer's bytes are decoded with `arbitrary` into a `GrowingPool` to create (any block
//! size, first-region count and alignment: zero, huge and overflowing ones included; memory
//! from the system, or from a clonable arena of any size whose regions start at any address)
//! and a list of operations: allocations (enough to add region after region), writes into
//! live blocks, and `free`/`check` of every kind of pointer (live blocks of every region,
//! freed and never-used blocks of any region, interior and misaligned pointers, pointers into
//! a region's metadata or past its end, another pool's blocks, the stack's, any address).
//!
//! The [`Model`] predicts every answer independently of the pool's own arithmetic: whether
//! creation fails and how; which region and which block `alloc` hands out (the oldest region
//! with a free block; inside it, the region's free lists, then never-used blocks in address
//! order); when it must add a region, how many blocks that region has and how many bytes it
//! asks its memory source for, and whether it then answers `None`; which error each bad
//! pointer gets, with the block index counted across regions; every counter, of the pool and
//! of each region; `capacity`, `region_count`, `in_use`, each region's block map and free
//! list. A refused free must change nothing but its rejected counter, and every live block
//! must still hold the bytes last written to it.
//!
//! This file is the model only: `fuzz_targets/growing_pool.rs` hands it libFuzzer's inputs,
//! and `tests/fuzz_corpus.rs` replays every committed input of `corpus/growing_pool/` through
//! it in a plain `cargo test`.

use std::alloc::Layout;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::rc::Rc;

// The sizes the pool models decode too (one definition, so one decoding).
#[path = "common.rs"]
#[allow(clippy::duplicate_mod)]
mod common;
use common::Size;

use arbitrary::Arbitrary;
use memory_pool::{
    BlockState, FreeError, GrowingPool, MemorySource, Pool, PoolError, PoolStats, RegionLayout,
    SystemMemory, MAX_REGIONS,
};

const WORD: usize = size_of::<usize>();
/// Bytes written and verified at each end of a live block.
const PATTERN_SPAN: usize = 256;
/// Pools up to this many blocks (over all regions) have every block map, free list and leak
/// list compared with the model after every step; bigger ones at the end.
const FULL_MAP_LIMIT: usize = 256;
/// A region the system must grant: anything bigger may be refused (`mmap` of terabytes, or
/// of more than the sanitizer leaves free, fails, and `None` is then the right answer).
const SYSTEM_MUST_GRANT: usize = 1 << 30;
/// The largest arena: regions are carved from it one after the other.
const ARENA_MOST: usize = 8 << 20;
/// Allocations stop (an `Alloc` does nothing) once the blocks handed out add up to this many
/// bytes, each counted up to 64 KiB: that much a freed block gets poisoned under ASan, and the
/// shadow pages it takes stay resident, so thousands of large blocks per input made the
/// fuzzer run out of memory (2 GB).
const HANDED_OUT_MOST: usize = 32 << 20;

#[derive(Arbitrary, Debug)]
enum Source {
    /// `mmap`: `GrowingPool::new` / `GrowingPool::with_layout_in(.., SystemMemory)`.
    System,
    /// An arena of `bytes` bytes (up to 8 MiB) that starts `skew` bytes past a cache line;
    /// each region is the next piece of it, so regions lie side by side at any alignment.
    Arena { bytes: ArenaBytes, skew: u8 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ArenaBytes {
    Bytes(u16),
    KiB(u16),
}

#[derive(Arbitrary, Debug)]
struct Creation {
    block_size: Size,
    first_count: Size,
    /// `None`: word alignment (`GrowingPool::new` for the system); `Some(n)`:
    /// `GrowingPool::with_layout_in` aligned to `2^(n mod BITS)`.
    align_log2: Option<u8>,
    source: Source,
}

/// A pointer to hand to `free` or `check`. Regions are picked modulo the number there are.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pointer {
    /// The n-th live block, over all regions.
    Live(u16),
    /// The n-th freed block, over all regions: a double free.
    Freed(u16),
    /// A block of `region` that was never handed out.
    NeverUsed { region: u8, n: usize },
    /// `offset` bytes into block `block` of `region` (both reduced to fit).
    Inside {
        region: u8,
        block: usize,
        offset: usize,
    },
    /// `delta` bytes from an edge of `region`.
    Near { region: u8, edge: Edge, delta: i32 },
    /// Any address at all.
    Address(usize),
    /// A block of another growing pool (of three regions).
    OtherPool(u8),
    /// A block of a plain `Pool`.
    PlainPool(u8),
    /// A byte on the stack.
    Stack(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Edge {
    RegionStart,
    States,
    FirstBlock,
    LastBlock,
    BlocksEnd,
    RegionEnd,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc,
    /// Up to 255 allocations in a row (to fill regions and add new ones quickly).
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
    /// Free every live block of one region, in address order or reversed.
    FreeRegion {
        region: u8,
        reversed: bool,
    },
}

/// One fuzz input: a growing pool to create and what to do with it.
#[derive(Arbitrary, Debug)]
pub struct Input {
    creation: Creation,
    ops: Vec<Op>,
}

/// Creates the pool `input` asks for and runs its operations, checking every answer.
pub fn run(input: Input) {
    let Creation {
        block_size,
        first_count,
        align_log2,
        source,
    } = input.creation;
    let (size, count) = (block_size.value(), first_count.value());
    let align = match align_log2 {
        None => WORD,
        Some(n) => 1 << (u32::from(n) % usize::BITS),
    };
    let layout = Layout::from_size_align(size, align);
    let shape = Shape::new(size, align);
    match source {
        Source::System => {
            let result = match (align_log2, layout) {
                (None, _) => GrowingPool::new(size, count),
                (Some(_), Ok(layout)) => GrowingPool::with_layout_in(layout, count, SystemMemory),
                // `Layout` itself refuses it: the pool is never asked.
                (Some(_), Err(_)) => return,
            };
            exercise(
                result,
                size,
                count,
                shape,
                align_log2.is_none(),
                None,
                &input.ops,
            );
        }
        Source::Arena { bytes, skew } => {
            // `GrowingPool::new` takes the system's memory; a word-aligned `Layout` is the
            // same request for another source.
            let Ok(layout) = layout else { return };
            let bytes = match bytes {
                ArenaBytes::Bytes(n) => usize::from(n),
                ArenaBytes::KiB(n) => (usize::from(n) << 10) % ARENA_MOST,
            };
            let arena = Arena::new(bytes, skew.into());
            let result = GrowingPool::with_layout_in(layout, count, arena.clone());
            if result.is_err() {
                // Documented: a refused source is forgotten, not dropped (a `const fn` cannot
                // drop it), so its clone of the arena still counts.
                assert_eq!(
                    Rc::strong_count(&arena.0),
                    2,
                    "the refused source was dropped"
                );
                // SAFETY: the forgotten clone still holds its count; this gives it back, as
                // its destructor would have.
                unsafe { Rc::decrement_strong_count(Rc::as_ptr(&arena.0)) };
            }
            exercise(result, size, count, shape, false, Some(arena), &input.ops);
        }
    }
}

/// The shape every region's blocks have, worked out from the request alone.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// The block size the pool must report: `size` (at least a word) rounded up to `align`.
    stride: Option<usize>,
    align: usize,
    /// What each region's first block is aligned to: the largest power of two dividing the
    /// stride, up to a cache line (or `align`, if more).
    placement: usize,
}

impl Shape {
    fn new(size: usize, align: usize) -> Shape {
        let align = align.max(WORD);
        let stride = size.max(WORD).checked_next_multiple_of(align);
        const CACHE_LINE: usize = 64;
        let placement = stride.map_or(align, |stride| {
            (1 << stride.trailing_zeros()).min(align.max(CACHE_LINE))
        });
        Shape {
            stride,
            align,
            placement,
        }
    }

    /// What adding a region of `count` blocks asks of the memory source: `Some(fewest)` bytes
    /// (and at most `placement - 1` more), or `None` when it cannot fit in an `isize`. The
    /// second value says whether a `TooLarge` refusal (no request at all) is also right: the
    /// blocks fit, but maybe not with the chunk lists and the padding.
    fn region_bytes(&self, count: usize) -> (Option<usize>, bool) {
        let Some(stride) = self.stride else {
            return (None, true);
        };
        let blocks_and_states = stride
            .checked_mul(count)
            .and_then(|blocks| blocks.checked_add(count))
            .filter(|&bytes| bytes <= isize::MAX as usize);
        // Blocks start in at most `span / 16 KiB + 2` of the 16 KiB-aligned chunks: two words
        // of list for each, and a word to align the lists.
        const CHUNK: usize = 16 << 10;
        let lists = stride
            .checked_mul(count.saturating_sub(1))
            .map(|span| (span / CHUNK + 2) * 2 * WORD + WORD - 1);
        let fewest = blocks_and_states
            .zip(lists)
            .and_then(|(bytes, lists)| bytes.checked_add(lists))
            .filter(|&bytes| bytes <= isize::MAX as usize);
        let too_large_allowed = blocks_and_states.is_some()
            && fewest.is_none_or(|bytes| {
                bytes
                    .checked_add(self.placement - 1)
                    .is_none_or(|n| n > isize::MAX as usize)
            });
        (fewest, too_large_allowed || fewest.is_none())
    }
}

/// A clonable memory source: every clone carves regions from one shared arena, the next
/// piece after the last, and logs every request.
#[derive(Debug, Clone)]
struct Arena(Rc<RefCell<ArenaState>>);

#[derive(Debug)]
struct ArenaState {
    /// The allocation behind the arena, for `Drop`.
    allocation: *mut u8,
    allocation_layout: Layout,
    start: *mut u8,
    len: usize,
    used: usize,
    /// Every `acquire`: the bytes asked for, and where they were given (`None`: refused).
    requests: Vec<(usize, Option<usize>)>,
    releases: usize,
}

impl Arena {
    fn new(len: usize, skew: usize) -> Arena {
        let allocation_layout = Layout::from_size_align(len + skew + 1, 64).expect("a layout");
        // SAFETY: the layout has a non-zero size.
        let allocation = unsafe { std::alloc::alloc(allocation_layout) };
        assert!(!allocation.is_null(), "the test's own allocation failed");
        // Not zeroed: the source zeroes what it hands out, as it promises, and nothing else.
        Arena(Rc::new(RefCell::new(ArenaState {
            allocation,
            allocation_layout,
            start: allocation.wrapping_add(skew),
            len,
            used: 0,
            requests: Vec::new(),
            releases: 0,
        })))
    }

    fn requests(&self) -> usize {
        self.0.borrow().requests.len()
    }

    fn request(&self, n: usize) -> (usize, Option<usize>) {
        self.0.borrow().requests[n]
    }

    /// How many regions were handed out, and how many given back.
    fn regions_out_and_back(&self) -> (usize, usize) {
        let state = self.0.borrow();
        let granted = state.requests.iter().filter(|(_, at)| at.is_some()).count();
        (granted, state.releases)
    }
}

impl Drop for ArenaState {
    fn drop(&mut self) {
        // SAFETY: allocated in `Arena::new` with this layout; the last clone of the source
        // (and so every pool carved from it) is gone.
        unsafe { std::alloc::dealloc(self.allocation, self.allocation_layout) }
    }
}

// SAFETY: each region is a fresh piece of the arena, zeroed here, never handed out twice;
// the arena lives until the last clone of the source is dropped, after every pool using it.
unsafe impl MemorySource for Arena {
    fn acquire(&mut self, size: usize) -> Option<NonNull<u8>> {
        let mut state = self.0.borrow_mut();
        if state.len - state.used < size {
            state.requests.push((size, None));
            return None;
        }
        let region = state.start.wrapping_add(state.used);
        // SAFETY: `used + size <= len`: the bytes are inside the arena and not handed out.
        unsafe { region.write_bytes(0, size) };
        state.used += size;
        state.requests.push((size, Some(region.addr())));
        NonNull::new(region)
    }

    unsafe fn release(&mut self, _region: NonNull<u8>, _size: usize) {
        // The arena is freed as a whole when the last clone goes.
        self.0.borrow_mut().releases += 1;
    }
}

/// Checks the creation result, then runs `ops` on the pool if there is one.
fn exercise<M: MemorySource + Clone>(
    result: Result<GrowingPool<M>, PoolError>,
    size: usize,
    count: usize,
    shape: Shape,
    via_new: bool,
    arena: Option<Arena>,
    ops: &[Op],
) {
    // Checked in this order, as `Pool` does: zero blocks of any size is "no blocks".
    let expected = if size == 0 {
        Some(PoolError::ZeroBlockSize)
    } else if count == 0 {
        Some(PoolError::ZeroBlockCount)
    } else if shape.stride.is_none() || (via_new && size > isize::MAX as usize - (WORD - 1)) {
        // `GrowingPool::new` makes a word-aligned `Layout`, which must fit in an `isize`;
        // `with_layout_in` takes any `Layout` whose stride fits in a `usize`.
        Some(PoolError::TooLarge {
            block_size: size,
            block_count: count,
        })
    } else {
        None
    };
    let pool = match (result, expected) {
        (Err(error), Some(expected)) => {
            assert_eq!(error, expected, "creation refused for the wrong reason");
            assert!(!error.to_string().is_empty());
            return;
        }
        (Err(error), None) => panic!("{error:?} for a valid growing pool"),
        (Ok(_), Some(expected)) => panic!("created a pool that must be refused: {expected:?}"),
        (Ok(pool), None) => pool,
    };
    if let Some(arena) = &arena {
        assert_eq!(arena.requests(), 0, "creation took memory");
    }
    let stride = shape.stride.expect("a created pool has a stride");
    assert_eq!(pool.block_size(), stride);
    assert!(!format!("{pool:?}").is_empty());
    Model::new(pool, count, shape, arena.clone()).run(ops);
    if let Some(arena) = arena {
        let (granted, released) = arena.regions_out_and_back();
        assert_eq!(
            released, granted,
            "dropping the pool gave back {released} of {granted} regions"
        );
    }
}

/// A region's free lists as the model keeps them: the current chunk's list, and the lists of
/// the other chunks with freed blocks, waiting on a stack (a chunk is the 16 KiB-aligned
/// 16 KiB a block starts in).
#[derive(Debug, Default, Clone, PartialEq)]
struct FreeLists {
    /// The list `alloc` pops from (its last element first).
    current: Vec<usize>,
    current_chunk: usize,
    /// Each other chunk's list, and the stack of chunks whose list is not empty.
    waiting: BTreeMap<usize, Vec<usize>>,
    stack: Vec<usize>,
}

/// The chunk of the block at `addr`.
fn chunk_of(addr: usize) -> usize {
    addr / (16 << 10)
}

impl FreeLists {
    fn push(&mut self, index: usize, chunk: usize) {
        if chunk == self.current_chunk {
            self.current.push(index);
        } else {
            let list = self.waiting.entry(chunk).or_default();
            if list.is_empty() {
                self.stack.push(chunk);
            }
            list.push(index);
        }
    }

    fn pop(&mut self) -> Option<usize> {
        loop {
            if let Some(index) = self.current.pop() {
                return Some(index);
            }
            let chunk = self.stack.pop()?;
            self.current = self.waiting.remove(&chunk).unwrap_or_default();
            self.current_chunk = chunk;
        }
    }

    /// Every freed block, in the order `alloc` will hand them out.
    fn order(&self) -> Vec<usize> {
        let waiting = self
            .stack
            .iter()
            .rev()
            .flat_map(|chunk| self.waiting[chunk].iter().rev());
        self.current.iter().rev().chain(waiting).copied().collect()
    }

    fn len(&self) -> usize {
        self.current.len() + self.waiting.values().map(Vec::len).sum::<usize>()
    }
}

/// Where the bytes written into a live block came from.
#[derive(Debug, Clone, Copy)]
struct Live {
    block: NonNull<u8>,
    byte: u8,
}

/// One region as the model knows it.
struct Region {
    layout: RegionLayout,
    /// The pool-wide index of its block 0.
    first_index: usize,
    count: usize,
    /// Blocks in use: local index -> contents.
    live: BTreeMap<usize, Live>,
    free: FreeLists,
    next_never_used: usize,
    /// The counters of this region's own `Pool`.
    stats: PoolStats,
}

impl Region {
    fn available(&self) -> usize {
        self.count - self.live.len()
    }

    fn block_addr(&self, index: usize) -> usize {
        self.layout.blocks + index * self.layout.stride
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

    fn holds(&self, addr: usize) -> bool {
        addr >= self.layout.base && addr - self.layout.base < self.layout.size
    }
}

/// The pool under test and what it should look like.
struct Model<M: MemorySource + Clone> {
    pool: GrowingPool<M>,
    shape: Shape,
    stride: usize,
    first_count: usize,
    arena: Option<Arena>,
    regions: Vec<Region>,
    stats: PoolStats,
    /// Another growing pool (three regions, every block in use) and a plain pool, whose
    /// blocks are foreign pointers to this one.
    other: GrowingPool,
    other_blocks: Vec<NonNull<u8>>,
    plain: Pool,
    /// Bytes handed out so far, each block counted up to 64 KiB (see [`HANDED_OUT_MOST`]).
    handed_out: usize,
    next_byte: u8,
}

impl<M: MemorySource + Clone> Model<M> {
    fn new(pool: GrowingPool<M>, first_count: usize, shape: Shape, arena: Option<Arena>) -> Self {
        let mut other = GrowingPool::new(48, 1).expect("a small growing pool");
        let other_blocks = (0..7).map(|_| other.alloc().expect("a block")).collect();
        let mut plain = Pool::new(64, 4).expect("a small pool");
        while plain.alloc().is_some() {}
        let model = Model {
            stride: pool.block_size(),
            pool,
            shape,
            first_count,
            arena,
            regions: Vec::new(),
            stats: PoolStats::default(),
            other,
            other_blocks,
            plain,
            handed_out: 0,
            next_byte: 1,
        };
        model.check_everything();
        model
    }

    fn capacity(&self) -> usize {
        self.regions.iter().map(|region| region.count).sum()
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
                        let expected = self.expect(ptr.as_ptr().addr());
                        let answer = expected.map(|(k, index)| self.regions[k].first_index + index);
                        assert_eq!(self.pool.check(ptr.as_ptr()), answer, "check({ptr:p})");
                        let outside = matches!(expected, Err(FreeError::NotInPool { .. }));
                        assert_eq!(self.pool.contains(ptr.as_ptr()), !outside);
                    }
                }
                Op::Write { live, byte } => {
                    if let Some(live) = self.nth_live(live.into()) {
                        live.byte = byte;
                        fill(live.block, self.stride, byte);
                    }
                }
                Op::FreeAll { reversed } => {
                    let mut blocks = self.live_blocks(None);
                    if reversed {
                        blocks.reverse();
                    }
                    blocks.into_iter().for_each(|block| self.free(block));
                }
                Op::FreeRegion { region, reversed } => {
                    if !self.regions.is_empty() {
                        let k = usize::from(region) % self.regions.len();
                        let mut blocks = self.live_blocks(Some(k));
                        if reversed {
                            blocks.reverse();
                        }
                        blocks.into_iter().for_each(|block| self.free(block));
                    }
                }
            }
            if self.capacity() <= FULL_MAP_LIMIT {
                self.check_everything();
            } else {
                self.check_counters();
            }
        }
        self.check_everything();
    }

    /// The live blocks of region `k` (of every region if `None`), in address order.
    fn live_blocks(&self, k: Option<usize>) -> Vec<NonNull<u8>> {
        let mut blocks: Vec<NonNull<u8>> = self
            .regions
            .iter()
            .enumerate()
            .filter(|&(j, _)| k.is_none_or(|k| k == j))
            .flat_map(|(_, region)| region.live.values().map(|live| live.block))
            .collect();
        blocks.sort_by_key(|block| block.as_ptr().addr());
        blocks
    }

    /// The n-th live block (modulo their number), counting across regions in creation order.
    fn nth_live(&mut self, n: usize) -> Option<&mut Live> {
        let total: usize = self.regions.iter().map(|region| region.live.len()).sum();
        if total == 0 {
            return None;
        }
        let mut n = n % total;
        for region in &mut self.regions {
            if n < region.live.len() {
                return region.live.values_mut().nth(n);
            }
            n -= region.live.len();
        }
        unreachable!()
    }

    fn alloc(&mut self) {
        if self.handed_out > HANDED_OUT_MOST {
            return;
        }
        self.handed_out += self.stride.min(64 << 10);
        // The oldest region with a free block serves; only when every region is full does the
        // pool grow.
        let Some(k) = self
            .regions
            .iter()
            .position(|region| region.available() > 0)
        else {
            return self.grow();
        };
        let region = &mut self.regions[k];
        let from_lists = region.free.pop();
        let index = from_lists.unwrap_or(region.next_never_used);
        let block = self
            .pool
            .alloc()
            .expect("alloc refused with a region that has room");
        assert_eq!(
            block.as_ptr().addr(),
            region.block_addr(index),
            "alloc: expected block {index} of region {k}"
        );
        if from_lists.is_none() {
            // Every list was empty: the never-used block's chunk becomes the current one.
            region.next_never_used += 1;
            region.free.current_chunk = chunk_of(block.as_ptr().addr());
        }
        self.hand_out(k, index, block);
    }

    /// Every region is full: the pool must add region `k`, of `first_count · 2^k` blocks.
    fn grow(&mut self) {
        let k = self.regions.len();
        let requests_before = self.arena.as_ref().map_or(0, Arena::requests);
        let got = self.pool.alloc();
        let count = (k < MAX_REGIONS)
            .then(|| 1usize.checked_shl(k as u32))
            .flatten()
            .and_then(|blocks| self.first_count.checked_mul(blocks));
        let Some(count) = count else {
            assert_eq!(
                got, None,
                "a region past MAX_REGIONS, or of more than usize::MAX blocks"
            );
            return self.check_no_request(requests_before);
        };
        let (fewest, too_large_allowed) = self.shape.region_bytes(count);
        let granted = match &self.arena {
            Some(arena) => {
                let requests = arena.requests();
                assert!(
                    requests <= requests_before + 1,
                    "asked for two regions at once"
                );
                if requests == requests_before {
                    assert!(too_large_allowed, "grew without asking for memory");
                    assert_eq!(got, None, "a region out of thin air");
                    return;
                }
                let (bytes, granted) = arena.request(requests_before);
                let fewest = fewest.expect("asked for a region that cannot fit in an isize");
                assert!(
                    bytes >= fewest,
                    "asked for {bytes} bytes, {fewest} are needed"
                );
                assert!(
                    bytes < fewest + self.shape.placement,
                    "asked for {bytes} bytes: {fewest} and up to {} of padding",
                    self.shape.placement - 1
                );
                match granted {
                    None => {
                        assert_eq!(got, None, "a region the source refused");
                        return;
                    }
                    Some(base) => {
                        let block = got.expect("a granted region gave no block");
                        Some((base, bytes, block))
                    }
                }
            }
            None => match got {
                None => {
                    assert!(
                        too_large_allowed || fewest.is_none_or(|bytes| bytes > SYSTEM_MUST_GRANT),
                        "a {count}-block region of {fewest:?} bytes refused"
                    );
                    return;
                }
                Some(block) => {
                    let fewest = fewest.expect("a region that cannot fit in an isize");
                    let layout = self.pool.regions().nth(k).expect("the new region").layout();
                    assert!(layout.size >= fewest && layout.size < fewest + self.shape.placement);
                    Some((layout.base, layout.size, block))
                }
            },
        };
        let Some((base, bytes, block)) = granted else {
            unreachable!()
        };
        assert_eq!(
            self.pool.region_count(),
            k + 1,
            "alloc grew, region_count did not"
        );
        let pool = self.pool.regions().nth(k).expect("the new region");
        assert_eq!(pool.block_count(), count);
        let layout = pool.layout();
        assert_eq!(
            (layout.base, layout.size),
            (base, bytes),
            "region {k} is not what was granted"
        );
        assert_eq!((layout.stride, layout.count), (self.stride, count));
        assert_eq!(layout.blocks % self.shape.align, 0, "blocks misaligned");
        assert_eq!(layout.blocks % self.shape.placement, 0, "blocks not placed");
        assert_eq!(
            layout.states,
            layout.blocks - count,
            "state bytes below the blocks"
        );
        assert!(layout.blocks + self.stride * count <= layout.base + layout.size);
        assert_eq!(
            block.as_ptr().addr(),
            layout.blocks,
            "a new region's first block"
        );
        for other in &self.regions {
            let apart = layout.base + layout.size <= other.layout.base
                || other.layout.base + other.layout.size <= layout.base;
            assert!(apart, "region {k} overlaps another");
        }
        let first_index = self.first_count * ((1 << k) - 1);
        let region = Region {
            layout,
            first_index,
            count,
            live: BTreeMap::new(),
            free: FreeLists {
                current_chunk: chunk_of(layout.blocks),
                ..FreeLists::default()
            },
            next_never_used: 1,
            stats: PoolStats::default(),
        };
        self.regions.push(region);
        self.hand_out(k, 0, block);
    }

    fn check_no_request(&self, before: usize) {
        if let Some(arena) = &self.arena {
            assert_eq!(
                arena.requests(),
                before,
                "asked for a region that cannot be"
            );
        }
    }

    /// Block `index` of region `k` was handed out: fill it and count it.
    fn hand_out(&mut self, k: usize, index: usize, block: NonNull<u8>) {
        self.next_byte = self.next_byte.wrapping_add(1);
        fill(block, self.stride, self.next_byte);
        let region = &mut self.regions[k];
        let old = region.live.insert(
            index,
            Live {
                block,
                byte: self.next_byte,
            },
        );
        assert!(
            old.is_none(),
            "block {index} of region {k} handed out twice"
        );
        for stats in [&mut self.stats, &mut region.stats] {
            stats.total_allocs += 1;
            stats.in_use += 1;
            stats.peak_in_use = stats.peak_in_use.max(stats.in_use);
        }
    }

    fn free(&mut self, ptr: NonNull<u8>) {
        let addr = ptr.as_ptr().addr();
        let expected = self.expect(addr);
        let before = (expected.is_err() && self.capacity() <= FULL_MAP_LIMIT).then(|| self.map());
        if let Ok((k, index)) = expected {
            // The last moment the block is ours: it must still hold what we wrote.
            verify(k, index, self.regions[k].live[&index], self.stride);
        }
        let result = self.pool.free(ptr);
        let answer = expected.map(|_| ());
        assert_eq!(result, answer, "free({ptr:p})");
        match expected {
            Ok((k, index)) => {
                let region = &mut self.regions[k];
                region.live.remove(&index);
                region.free.push(index, chunk_of(addr));
                for stats in [&mut self.stats, &mut region.stats] {
                    stats.in_use -= 1;
                    stats.total_frees += 1;
                }
            }
            Err(error) => {
                check_message(&error);
                // The region that had the pointer in its memory refused it too.
                let region = self.regions.iter_mut().find(|region| region.holds(addr));
                let mut counters = vec![&mut self.stats.rejected];
                counters.extend(region.map(|region| &mut region.stats.rejected));
                for rejected in counters {
                    match error {
                        FreeError::NotInPool { .. } => rejected.not_in_pool += 1,
                        FreeError::Misaligned { .. } => rejected.misaligned += 1,
                        FreeError::DoubleFree { .. } => rejected.double_free += 1,
                    }
                }
                if let Some(before) = before {
                    assert!(self.map() == before, "a refused free changed the pool");
                }
            }
        }
    }

    /// What `free(addr)` must answer, from the model alone: `Ok((region, local index))`, or
    /// the error with the block counted across regions.
    fn expect(&self, addr: usize) -> Result<(usize, usize), FreeError> {
        let not_in_pool = FreeError::NotInPool { addr };
        let Some(k) = self.regions.iter().position(|region| region.holds(addr)) else {
            return Err(not_in_pool);
        };
        let region = &self.regions[k];
        let first = region.layout.blocks;
        let offset = addr.wrapping_sub(first) as u128;
        if addr < first || offset >= self.stride as u128 * region.count as u128 {
            return Err(not_in_pool);
        }
        let (block, offset) = (offset / self.stride as u128, offset % self.stride as u128);
        let (block, offset) = (block as usize, offset as usize);
        let global = region.first_index + block;
        if offset != 0 {
            return Err(FreeError::Misaligned {
                addr,
                block: global,
                offset,
            });
        }
        match region.state(block) {
            BlockState::InUse => Ok((k, block)),
            state => Err(FreeError::DoubleFree {
                addr,
                block: global,
                state,
            }),
        }
    }

    /// Turns a [`Pointer`] into an address, or `None` when there is no such block now.
    fn pointer(&mut self, pointer: Pointer, stack: &mut [u8; 64]) -> Option<NonNull<u8>> {
        let regions = self.regions.len();
        let region = |n: u8| (regions > 0).then(|| usize::from(n) % regions);
        match pointer {
            Pointer::Live(n) => self.nth_live(n.into()).map(|live| live.block),
            Pointer::Freed(n) => {
                let freed: Vec<usize> = self
                    .regions
                    .iter()
                    .flat_map(|region| {
                        region
                            .free
                            .order()
                            .into_iter()
                            .map(|i| region.block_addr(i))
                    })
                    .collect();
                let addr = *freed.get(usize::from(n) % freed.len().max(1))?;
                self.at(addr, stack)
            }
            Pointer::NeverUsed { region: k, n } => {
                let region = &self.regions[region(k)?];
                let left = region.count - region.next_never_used;
                let addr = region
                    .block_addr(region.next_never_used + (left > 0).then_some(n % left.max(1))?);
                self.at(addr, stack)
            }
            Pointer::Inside {
                region: k,
                block,
                offset,
            } => {
                let region = &self.regions[region(k)?];
                let addr = region.block_addr(block % region.count) + offset % self.stride;
                self.at(addr, stack)
            }
            Pointer::Near {
                region: k,
                edge,
                delta,
            } => {
                let region = &self.regions[region(k)?];
                let layout = region.layout;
                let edge = match edge {
                    Edge::RegionStart => layout.base,
                    Edge::States => layout.states,
                    Edge::FirstBlock => layout.blocks,
                    Edge::LastBlock => region.block_addr(region.count - 1),
                    Edge::BlocksEnd => region.block_addr(region.count),
                    Edge::RegionEnd => layout.base + layout.size,
                };
                self.at(edge.wrapping_add_signed(delta as isize), stack)
            }
            Pointer::Address(addr) => self.at(addr, stack),
            Pointer::OtherPool(n) => Some(self.other_blocks[usize::from(n) % 7]),
            Pointer::PlainPool(n) => self.plain.block_ptr(usize::from(n) % 4),
            Pointer::Stack(n) => Some(NonNull::from(&mut stack[usize::from(n) % 64])),
        }
    }

    /// A pointer to `addr`, with the provenance of the region it lies in (of the stack's
    /// buffer, if it lies in none: the pool only compares such an address, never uses it).
    fn at(&self, addr: usize, stack: &mut [u8; 64]) -> Option<NonNull<u8>> {
        let k = self.regions.iter().position(|region| region.holds(addr));
        let base = match k {
            Some(k) => {
                let pool = self.pool.regions().nth(k).expect("the region");
                pool.block_ptr(0).expect("a region has a block 0").as_ptr()
            }
            None => stack.as_mut_ptr(),
        };
        NonNull::new(base.wrapping_add(addr.wrapping_sub(base.addr())))
    }

    /// Everything observable about the pool except the rejected counters.
    fn map(&self) -> Vec<(Vec<BlockState>, Vec<usize>, usize, PoolStats)> {
        let mut stats = self.pool.stats();
        stats.rejected = Default::default();
        let mut map = vec![(Vec::new(), Vec::new(), self.pool.capacity(), stats)];
        for pool in self.pool.regions() {
            let mut stats = pool.stats();
            stats.rejected = Default::default();
            map.push((
                pool.blocks().map(|block| block.state).collect(),
                pool.free_list().collect(),
                pool.next_never_used(),
                stats,
            ));
        }
        map
    }

    fn check_counters(&self) {
        assert_eq!(self.pool.stats(), self.stats, "the pool's counters");
        assert_eq!(self.pool.in_use(), self.stats.in_use);
        assert_eq!(self.pool.region_count(), self.regions.len());
        assert_eq!(self.pool.capacity(), self.capacity());
        assert_eq!(self.pool.regions().count(), self.regions.len());
        for (k, (pool, region)) in self.pool.regions().zip(&self.regions).enumerate() {
            assert_eq!(pool.stats(), region.stats, "region {k}'s counters");
            assert_eq!(pool.layout(), region.layout, "region {k} moved");
            assert_eq!(pool.next_never_used(), region.next_never_used, "region {k}");
            assert_eq!(pool.available(), region.available(), "region {k}");
        }
    }

    /// Counters, every region's free list, block states (all of them in regions up to 2^16
    /// blocks) and leaks, and the contents of every live block.
    fn check_everything(&self) {
        self.check_counters();
        for (k, (pool, region)) in self.pool.regions().zip(&self.regions).enumerate() {
            let free_list: Vec<usize> = pool.free_list().collect();
            assert_eq!(free_list, region.free.order(), "region {k}'s free list");
            assert_eq!(
                region.free.len(),
                region.next_never_used - region.live.len()
            );
            for &index in region.live.keys().chain(&region.free.order()) {
                assert_eq!(
                    pool.state(index),
                    Some(region.state(index)),
                    "region {k}, {index}"
                );
            }
            if region.next_never_used < region.count {
                let index = region.next_never_used;
                assert_eq!(pool.state(index), Some(BlockState::NeverUsed));
            }
            assert_eq!(pool.state(region.count), None);
            if region.count <= 1 << 16 {
                for (index, block) in pool.blocks().enumerate() {
                    assert_eq!(block.index, index);
                    assert_eq!(block.addr, region.block_addr(index));
                    assert_eq!(
                        block.state,
                        region.state(index),
                        "region {k}, block {index}"
                    );
                }
                let leaks: Vec<usize> = pool.leaks().map(|block| block.index).collect();
                assert!(leaks.iter().eq(region.live.keys()), "region {k}'s leaks");
            }
            for (&index, &live) in &region.live {
                verify(k, index, live, self.stride);
            }
        }
        // The foreign blocks are untouched: nothing was freed into the wrong pool.
        assert_eq!(self.other.in_use(), 7);
        assert_eq!(self.plain.in_use(), 4);
    }
}

/// The two ends of a block that patterns are written to: all of it when it is small.
fn spans(stride: usize) -> [(usize, usize); 2] {
    let head = stride.min(PATTERN_SPAN);
    let tail = (stride - head).min(PATTERN_SPAN);
    [(0, head), (stride - tail, tail)]
}

fn fill(block: NonNull<u8>, stride: usize, byte: u8) {
    for (start, len) in spans(stride) {
        // SAFETY: the block is live, ours, and `stride` bytes long; `start + len <= stride`.
        unsafe { block.as_ptr().add(start).write_bytes(byte, len) };
    }
}

fn verify(k: usize, index: usize, live: Live, stride: usize) {
    for (start, len) in spans(stride) {
        // SAFETY: as in `fill`; the bytes were written by `fill`.
        let bytes = unsafe { std::slice::from_raw_parts(live.block.as_ptr().add(start), len) };
        assert!(
            bytes.iter().all(|&byte| byte == live.byte),
            "block {index} of region {k} lost its contents at bytes {start}..{}",
            start + len
        );
    }
}

/// Every refusal says what happened, with the address or block it is about.
fn check_message(error: &FreeError) {
    let message = error.to_string();
    match *error {
        FreeError::NotInPool { addr } => {
            assert!(message.contains(&format!("{addr:#x}")), "{message}");
        }
        FreeError::Misaligned { block, offset, .. } => assert!(
            message.contains(&format!("{offset} bytes into block {block}")),
            "{message}"
        ),
        FreeError::DoubleFree { block, .. } => assert!(
            message.contains(&format!("block {block} at 0x")),
            "{message}"
        ),
    }
}
