//! Fuzz target: the teaching heap, any sequence of operations, every answer checked against a
//! model.
//!
//! libFuzzer's bytes are decoded with `arbitrary` into a `Heap` to create (any size: too small,
//! huge and overflowing ones included; memory from the system, or from a buffer that may be a
//! little too small and start at any address) and a list of operations: requests of any size
//! (0, huge, overflowing, exactly the largest that fits and one byte more, exactly a free
//! block's payload, so the split-or-not edge is reached), writes into live blocks, and frees
//! of every kind of pointer (live blocks, blocks freed already and maybe merged since, headers,
//! interior and misaligned pointers, the heap's edges, another heap's blocks, the stack's, any
//! address).
//!
//! The [`Model`] keeps the heap as a list of blocks in address order and predicts every answer
//! from it: whether creation fails and how, the first free block that fits each request and
//! whether it is split, which error each bad free gets and with which payload, how free blocks
//! merge on either side, every counter (`blocks_searched`, `splits` and `merges` included),
//! `blocks()`, `free_list()`, `leaks()`, `total_free`, `largest_free`, `largest_request`,
//! `header_bytes` and `external_fragmentation`. A refused call (a bad free, an impossible
//! size) must change nothing but its counter, and every live block must still hold the bytes
//! last written to it.
//!
//! This file is the model only: `fuzz_targets/heap.rs` hands it libFuzzer's inputs, and
//! `tests/fuzz_corpus.rs` replays every committed input of `corpus/heap/` through it in a
//! plain `cargo test`.

use std::collections::BTreeMap;
use std::ptr::NonNull;

// The sizes the pool models decode too (one definition, so one decoding).
#[path = "common.rs"]
#[allow(clippy::duplicate_mod)]
mod common;
use common::Size;

use arbitrary::Arbitrary;
use memory_pool::teaching::{Heap, HeapBlock, HeapError, HeapFreeError, HeapStats};
use memory_pool::{MemorySource, SliceMemory};

const WORD: usize = size_of::<usize>();
/// The smallest block: a header and a free-list link.
const MIN_BLOCK: usize = 2 * WORD;
/// Bytes written and verified at each end of a live block's payload.
const PATTERN_SPAN: usize = 256;
/// A heap the system must grant: anything bigger may be refused.
const SYSTEM_MUST_GRANT: usize = 1 << 30;
/// The largest buffer a slice-backed heap gets.
const BUFFER_MOST: usize = 1 << 20;

#[derive(Arbitrary, Debug)]
enum Source {
    /// `mmap`: `Heap::new`.
    System,
    /// `Heap::new_in` over a buffer of the region's size plus `spare` bytes (up to 1 MiB), that
    /// starts `skew` bytes into a `Vec` (so it is often not word-aligned).
    Slice { spare: i16, skew: u8 },
}

#[derive(Arbitrary, Debug)]
struct Creation {
    size: Size,
    source: Source,
}

/// How many bytes to ask `alloc` for.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Request {
    Size(Size),
    /// `largest_request() + delta`: the largest request that fits, and just past it.
    Largest(i8),
    /// The payload of the n-th free block `+ delta`: an exact fit, a split, or one that leaves
    /// too little to split off.
    FreeBlock(u16, i8),
}

/// A pointer to hand to `free`.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pointer {
    /// The n-th live block (in address order).
    Live(u16),
    /// An address `alloc` returned and that was freed since: a double free, or (once merged
    /// into a neighbour) a pointer inside a free block.
    Freed(u16),
    /// `back` bytes (1 to a word) before the n-th live block: into its header.
    Header { live: u16, back: u8 },
    /// `offset` bytes into the n-th block (any state), from its header.
    Inside { block: u16, offset: usize },
    /// `delta` bytes from an edge of the heap.
    Near { edge: Edge, delta: i32 },
    /// Any address at all.
    Address(usize),
    /// A block of another heap.
    OtherHeap(u8),
    /// A byte on the stack.
    Stack(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Edge {
    /// Where the memory source's region starts (the heap may start up to a word later).
    RegionStart,
    Start,
    End,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Request),
    /// `count` requests of `size` bytes in a row.
    AllocMany {
        count: u8,
        size: u8,
    },
    Free(Pointer),
    /// Overwrite both ends of the n-th live block with `byte`.
    Write {
        live: u16,
        byte: u8,
    },
    /// Free every live block, in address order or reversed.
    FreeAll {
        reversed: bool,
    },
    /// Free every other live block (a hole between each two blocks in use).
    FreeEveryOther {
        odd: bool,
    },
}

/// One fuzz input: a heap to create and what to do with it.
#[derive(Arbitrary, Debug)]
pub struct Input {
    creation: Creation,
    ops: Vec<Op>,
}

/// Creates the heap `input` asks for and runs its operations, checking every answer.
pub fn run(input: Input) {
    let size = input.creation.size.value();
    let expected = expect_creation(size);
    match input.creation.source {
        Source::System => {
            let result = Heap::new(size);
            if let (Err(HeapError::OutOfMemory { bytes }), Ok(region)) = (&result, expected) {
                let bytes = *bytes;
                // The system may refuse a huge region, and only a huge one.
                assert_eq!(bytes, region, "OutOfMemory names the bytes asked for");
                assert!(region > SYSTEM_MUST_GRANT, "a {region}-byte heap refused");
                return;
            }
            exercise(result, expected, None, &input.ops);
        }
        Source::Slice { spare, skew } => {
            let region = expected.unwrap_or(0);
            let len = region.saturating_add_signed(spare.into()).min(BUFFER_MOST);
            let mut vec = vec![0xA5u8; len + usize::from(skew)];
            let buffer = &mut vec[usize::from(skew)..];
            let span = (buffer.as_ptr().addr(), buffer.len());
            let result = Heap::new_in(size, SliceMemory::new(buffer));
            let expected = match expected {
                Ok(region) if region > len => Err(HeapError::OutOfMemory { bytes: region }),
                other => other,
            };
            exercise(result, expected, Some(span), &input.ops);
        }
    }
}

/// `Ok(bytes the heap asks its source for)`, or the error creating a heap of `size` must get
/// before it asks.
fn expect_creation(size: usize) -> Result<usize, HeapError> {
    if size / WORD * WORD < MIN_BLOCK {
        return Err(HeapError::TooSmall { size });
    }
    // Room to round the start up to a word, wherever the source's memory starts.
    size.checked_add(WORD - 1)
        .filter(|&bytes| bytes <= isize::MAX as usize)
        .ok_or(HeapError::OutOfMemory { bytes: size })
}

fn exercise<M: MemorySource>(
    result: Result<Heap<M>, HeapError>,
    expected: Result<usize, HeapError>,
    slice: Option<(usize, usize)>,
    ops: &[Op],
) {
    let heap = match (result, expected) {
        (Err(error), Err(expected)) => {
            assert_eq!(error, expected, "creation refused for the wrong reason");
            assert!(!error.to_string().is_empty());
            return;
        }
        (Err(error), Ok(_)) => panic!("{error:?} for a valid heap"),
        (Ok(_), Err(expected)) => panic!("created a heap that must be refused: {expected:?}"),
        (Ok(heap), Ok(_)) => heap,
    };
    assert_eq!(heap.start() % WORD, 0, "the heap starts misaligned");
    if let Some((start, len)) = slice {
        assert_eq!(
            heap.start(),
            start.next_multiple_of(WORD),
            "the heap skipped memory"
        );
        assert!(
            heap.start() + heap.size() <= start + len,
            "the heap is bigger than its buffer"
        );
    }
    let region_start = slice.map_or(heap.start(), |(start, _)| start);
    Model::new(heap, region_start).run(ops);
}

/// One block as the model keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Block {
    /// From the heap's start to the block's header.
    offset: usize,
    /// Header included.
    size: usize,
    used: bool,
}

/// What a live block holds.
#[derive(Debug, Clone, Copy)]
struct Live {
    payload: NonNull<u8>,
    /// Bytes asked for: the ones written and verified.
    len: usize,
    byte: u8,
}

/// The heap under test and what it should look like.
struct Model<M: MemorySource> {
    heap: Heap<M>,
    start: usize,
    region_start: usize,
    size: usize,
    /// Every block, in address order: they tile the heap.
    blocks: Vec<Block>,
    /// Live blocks: header offset -> contents.
    live: BTreeMap<usize, Live>,
    /// Addresses `alloc` returned that have been freed since (the latest last).
    freed: Vec<usize>,
    stats: HeapStats,
    /// Another heap with blocks in use, whose addresses are foreign to this one.
    other: Heap,
    other_blocks: Vec<NonNull<u8>>,
    next_byte: u8,
}

impl<M: MemorySource> Model<M> {
    fn new(heap: Heap<M>, region_start: usize) -> Self {
        let mut other = Heap::new(1024).expect("a small heap");
        let other_blocks = [8, 24, 100, 16].map(|size| other.alloc(size).expect("room"));
        let size = heap.size();
        let model = Model {
            start: heap.start(),
            region_start,
            size,
            heap,
            blocks: vec![Block {
                offset: 0,
                size,
                used: false,
            }],
            live: BTreeMap::new(),
            freed: Vec::new(),
            stats: HeapStats::default(),
            other,
            other_blocks: other_blocks.to_vec(),
            next_byte: 1,
        };
        model.check_everything();
        model
    }

    fn run(mut self, ops: &[Op]) {
        let mut stack = [0u8; 64];
        for op in ops {
            match *op {
                Op::Alloc(request) => {
                    let size = self.request(request);
                    self.alloc(size);
                }
                Op::AllocMany { count, size } => (0..count).for_each(|_| self.alloc(size.into())),
                Op::Free(pointer) => {
                    if let Some(ptr) = self.pointer(pointer, &mut stack) {
                        self.free(ptr);
                    }
                }
                Op::Write { live, byte } => {
                    if let Some(live) = nth(&mut self.live, live.into()) {
                        live.byte = byte;
                        fill(live);
                    }
                }
                Op::FreeAll { reversed } => {
                    let mut blocks: Vec<_> = self.live.values().map(|live| live.payload).collect();
                    if reversed {
                        blocks.reverse();
                    }
                    blocks.into_iter().for_each(|block| self.free(block));
                }
                Op::FreeEveryOther { odd } => {
                    let blocks: Vec<_> = self.live.values().map(|live| live.payload).collect();
                    let every_other = blocks.into_iter().skip(usize::from(odd)).step_by(2);
                    every_other.for_each(|block| self.free(block));
                }
            }
            self.check_everything();
        }
    }

    fn free_blocks(&self) -> impl Iterator<Item = &Block> + '_ {
        self.blocks.iter().filter(|block| !block.used)
    }

    fn largest_free(&self) -> usize {
        self.free_blocks()
            .map(|block| block.size)
            .max()
            .unwrap_or(0)
    }

    fn request(&self, request: Request) -> usize {
        match request {
            Request::Size(size) => size.value(),
            Request::Largest(delta) => self
                .largest_free()
                .saturating_sub(WORD)
                .wrapping_add_signed(delta.into()),
            Request::FreeBlock(n, delta) => {
                let free: Vec<usize> = self.free_blocks().map(|block| block.size).collect();
                let size = free.get(usize::from(n) % free.len().max(1)).copied();
                (size.unwrap_or(MIN_BLOCK) - WORD).wrapping_add_signed(delta.into())
            }
        }
    }

    fn alloc(&mut self, size: usize) {
        // The request rounded up to a word, a header, and at least the smallest block.
        let needed = size
            .max(1)
            .checked_next_multiple_of(WORD)
            .and_then(|payload| payload.checked_add(WORD))
            .map(|block| block.max(MIN_BLOCK));
        assert_eq!(Heap::block_size_for(size), needed, "block_size_for({size})");
        let before = self.snapshot();
        let got = self.heap.alloc(size);
        let Some(needed) = needed else {
            assert_eq!(got, None, "alloc({size}) whose block size overflows");
            self.stats.failed_allocs += 1;
            return self.check_unchanged(before, "an impossible alloc");
        };
        // First fit: the lowest free block large enough; every free block looked at counts.
        let mut found = None;
        for (i, block) in self
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, block)| !block.used)
        {
            self.stats.blocks_searched += 1;
            if block.size >= needed {
                found = Some(i);
                break;
            }
        }
        let Some(i) = found else {
            assert_eq!(got, None, "alloc({size}): no free block has {needed} bytes");
            self.stats.failed_allocs += 1;
            return self.check_unchanged(before, "a refused alloc");
        };
        let block = self.blocks[i];
        let payload = got.unwrap_or_else(|| panic!("alloc({size}) refused; block {i} fits"));
        assert_eq!(
            payload.as_ptr().addr(),
            self.start + block.offset + WORD,
            "alloc({size}) did not take the first block that fits"
        );
        if block.size - needed >= MIN_BLOCK {
            // Split: the rest stays free, right after.
            self.blocks[i].size = needed;
            self.blocks.insert(
                i + 1,
                Block {
                    offset: block.offset + needed,
                    size: block.size - needed,
                    used: false,
                },
            );
            self.stats.splits += 1;
        }
        self.blocks[i].used = true;
        self.stats.in_use += 1;
        self.stats.total_allocs += 1;
        self.next_byte = self.next_byte.wrapping_add(1);
        let live = Live {
            payload,
            len: size,
            byte: self.next_byte,
        };
        fill(&live);
        self.freed.retain(|&addr| addr != payload.as_ptr().addr());
        assert!(self.live.insert(block.offset, live).is_none());
    }

    fn free(&mut self, ptr: NonNull<u8>) {
        let addr = ptr.as_ptr().addr();
        let expected = self.expect(addr);
        if let Ok(i) = expected {
            // The last moment the block is ours: it must still hold what we wrote.
            verify(&self.live[&self.blocks[i].offset]);
        }
        let before = self.snapshot();
        let result = self.heap.free(ptr);
        assert_eq!(result, expected.map(|_| ()), "free({ptr:p})");
        let i = match expected {
            Ok(i) => i,
            Err(error) => {
                check_message(&error);
                self.stats.rejected_frees += 1;
                return self.check_unchanged(before, "a refused free");
            }
        };
        self.live.remove(&self.blocks[i].offset);
        self.blocks[i].used = false;
        if self.blocks.get(i + 1).is_some_and(|next| !next.used) {
            self.blocks[i].size += self.blocks.remove(i + 1).size;
            self.stats.merges += 1;
        }
        if i > 0 && !self.blocks[i - 1].used {
            self.blocks[i - 1].size += self.blocks.remove(i).size;
            self.stats.merges += 1;
        }
        self.stats.in_use -= 1;
        self.stats.total_frees += 1;
        self.freed.push(addr);
        if self.freed.len() > 64 {
            self.freed.remove(0);
        }
    }

    /// What `free(addr)` must answer: `Ok(the block's position in the list)`, or the error.
    fn expect(&self, addr: usize) -> Result<usize, HeapFreeError> {
        let offset = addr.wrapping_sub(self.start);
        let Some(i) = self
            .blocks
            .iter()
            .position(|block| (block.offset..block.offset + block.size).contains(&offset))
        else {
            return Err(HeapFreeError::NotInHeap { addr });
        };
        let block = self.blocks[i];
        let payload = self.start + block.offset + WORD;
        match (addr == payload, block.used) {
            (true, true) => Ok(i),
            (true, false) => Err(HeapFreeError::DoubleFree { addr }),
            (false, true) => Err(HeapFreeError::NotBlockStart { addr, payload }),
            (false, false) => Err(HeapFreeError::InsideFreeBlock { addr, payload }),
        }
    }

    /// Turns a [`Pointer`] into an address, or `None` when there is no such block now.
    fn pointer(&mut self, pointer: Pointer, stack: &mut [u8; 64]) -> Option<NonNull<u8>> {
        let addr = match pointer {
            Pointer::Live(n) => return nth(&mut self.live, n.into()).map(|live| live.payload),
            Pointer::Freed(n) => *self.freed.get(usize::from(n) % self.freed.len().max(1))?,
            Pointer::Header { live, back } => {
                let payload = nth(&mut self.live, live.into())?.payload;
                payload.as_ptr().addr() - (1 + usize::from(back) % WORD)
            }
            Pointer::Inside { block, offset } => {
                let block = self.blocks[usize::from(block) % self.blocks.len()];
                self.start + block.offset + offset % block.size
            }
            Pointer::Near { edge, delta } => {
                let edge = match edge {
                    Edge::RegionStart => self.region_start,
                    Edge::Start => self.start,
                    Edge::End => self.start + self.size,
                };
                edge.wrapping_add_signed(delta as isize)
            }
            Pointer::Address(addr) => addr,
            Pointer::OtherHeap(n) => {
                return Some(self.other_blocks[usize::from(n) % self.other_blocks.len()])
            }
            Pointer::Stack(n) => return Some(NonNull::from(&mut stack[usize::from(n) % 64])),
        };
        // The heap only compares the address; it never uses the pointer to reach memory.
        let base = stack.as_mut_ptr();
        NonNull::new(base.wrapping_add(addr.wrapping_sub(base.addr())))
    }

    /// Everything observable about the heap except the counters of refusals.
    fn snapshot(&self) -> (Vec<HeapBlock>, Vec<HeapBlock>, HeapStats) {
        let mut stats = self.heap.stats();
        stats.failed_allocs = 0;
        stats.rejected_frees = 0;
        (
            self.heap.blocks().collect(),
            self.heap.free_list().collect(),
            stats,
        )
    }

    fn check_unchanged(&self, before: (Vec<HeapBlock>, Vec<HeapBlock>, HeapStats), what: &str) {
        let mut before = before;
        // A refused alloc still searched: that counter is the model's to check.
        before.2.blocks_searched = self.stats.blocks_searched;
        let mut after = self.snapshot();
        after.2.blocks_searched = self.stats.blocks_searched;
        assert!(after == before, "{what} changed the heap");
    }

    fn expected_blocks(&self) -> Vec<HeapBlock> {
        self.blocks
            .iter()
            .map(|block| HeapBlock {
                addr: self.start + block.offset,
                size: block.size,
                used: block.used,
            })
            .collect()
    }

    fn check_everything(&self) {
        assert_eq!(self.heap.stats(), self.stats, "the heap's counters");
        assert_eq!(
            (self.heap.start(), self.heap.size()),
            (self.start, self.size)
        );
        let blocks = self.expected_blocks();
        assert!(self.heap.blocks().eq(blocks.iter().copied()), "blocks()");
        let free: Vec<HeapBlock> = blocks.iter().copied().filter(|b| !b.used).collect();
        assert!(
            self.heap.free_list().eq(free.iter().copied()),
            "free_list()"
        );
        assert!(
            self.heap
                .leaks()
                .eq(blocks.iter().copied().filter(|b| b.used)),
            "leaks()"
        );
        for pair in self.blocks.windows(2) {
            assert_eq!(pair[0].offset + pair[0].size, pair[1].offset);
            assert!(pair[0].used || pair[1].used, "two free blocks side by side");
        }
        for block in &blocks {
            assert_eq!(block.payload(), block.addr + WORD);
        }
        let total: usize = free.iter().map(|block| block.size).sum();
        let largest = self.largest_free();
        assert_eq!(self.heap.total_free(), total, "total_free()");
        assert_eq!(self.heap.largest_free(), largest, "largest_free()");
        assert_eq!(
            self.heap.largest_request(),
            largest.saturating_sub(WORD),
            "largest_request()"
        );
        assert_eq!(self.heap.header_bytes(), self.live.len() * WORD);
        let fragmentation = if total == 0 {
            0.0
        } else {
            1.0 - largest as f64 / total as f64
        };
        assert_eq!(self.heap.external_fragmentation(), fragmentation);
        assert!((0.0..1.0).contains(&fragmentation));
        assert_eq!(self.live.len(), self.stats.in_use);
        for live in self.live.values() {
            verify(live);
        }
        // Nothing was freed into the wrong heap.
        assert_eq!(self.other.stats().in_use, self.other_blocks.len());
        assert_eq!(self.other.stats().total_frees, 0);
    }
}

/// The n-th entry (modulo the length) of a map, if it is not empty.
fn nth<V>(map: &mut BTreeMap<usize, V>, n: usize) -> Option<&mut V> {
    let len = map.len();
    (len > 0).then(|| map.values_mut().nth(n % len))?
}

/// The two ends of a payload that patterns are written to: all of it when it is small.
fn spans(len: usize) -> [(usize, usize); 2] {
    let head = len.min(PATTERN_SPAN);
    let tail = (len - head).min(PATTERN_SPAN);
    [(0, head), (len - tail, tail)]
}

fn fill(live: &Live) {
    for (start, len) in spans(live.len) {
        // SAFETY: the block is live, ours, and at least `live.len` bytes long.
        unsafe { live.payload.as_ptr().add(start).write_bytes(live.byte, len) };
    }
}

fn verify(live: &Live) {
    for (start, len) in spans(live.len) {
        // SAFETY: as in `fill`; the bytes were written by `fill`.
        let bytes = unsafe { std::slice::from_raw_parts(live.payload.as_ptr().add(start), len) };
        assert!(
            bytes.iter().all(|&byte| byte == live.byte),
            "the block at {:p} lost its contents at bytes {start}..{}",
            live.payload,
            start + len
        );
    }
}

/// Every refusal says what happened, about which address.
fn check_message(error: &HeapFreeError) {
    let message = error.to_string();
    let has = |text: &str| assert!(message.contains(text), "{message:?} lacks {text:?}");
    match *error {
        HeapFreeError::NotInHeap { addr } => {
            has(&format!("{addr:#x} is not a block of this heap"));
        }
        HeapFreeError::NotBlockStart { addr, payload } if addr < payload => {
            has(&format!(
                "{addr:#x} points into the header of the block at {payload:#x}"
            ));
        }
        HeapFreeError::NotBlockStart { addr, payload } => {
            has(&format!(
                "{} bytes into the block at {payload:#x}",
                addr - payload
            ));
        }
        HeapFreeError::DoubleFree { addr } => has(&format!("double free: the block at {addr:#x}")),
        HeapFreeError::InsideFreeBlock { addr, payload } => {
            has(&format!(
                "{addr:#x} is inside the free block at {payload:#x}"
            ));
        }
    }
}
