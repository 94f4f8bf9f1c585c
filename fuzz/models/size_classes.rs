//! Fuzz target: [`SizeClasses`] through [`GlobalAlloc`], every answer checked against a model.
//!
//! libFuzzer's bytes are decoded with `arbitrary` into a list of calls on a fresh
//! `SizeClasses` (an instance, not the global allocator): `alloc`, `alloc_zeroed`, `realloc`
//! to bigger and smaller sizes and across classes, `dealloc`, writes into live blocks, and
//! deallocations of every kind of bad pointer a class can be handed (inside a block, a block
//! freed already, a block of another class or of another `SizeClasses`, null, the stack, the
//! edges of a class's regions, any address at all). Sizes from 1 byte to `isize::MAX`,
//! alignments from 1 to 2^63: the edges of every class and of the large (whole-page) blocks.
//!
//! The model works out every answer from the documented rules alone: which class serves a
//! layout (the smallest that is big enough and aligned enough), that large blocks are whole
//! pages aligned to a page and anything aligned to more is refused with null, when a class's
//! pool grows (only when every block it has is in use, a region twice the size of the last),
//! which regions of `DECOMMIT_FROM` bytes of blocks or more give their memory back when a
//! class is at most a quarter in use (every empty one but the smallest; their blocks then
//! read as never used; only once the class has handed out four times the bytes going back
//! since it last gave any back), and when a class that emptied gives back every region (after 64
//! allocations since it last did), when `realloc` keeps a block in place (same class, a
//! smaller class by less than half, or the same number of pages), where `dealloc` finds a
//! block a shrinking `realloc` left in a larger class (and any pointer: the search goes up
//! the classes), every
//! counter of [`SizeClasses::class_stats`] and [`SizeClasses::large_stats`]. It checks that
//! every block is aligned, inside its class's regions, in use there, and overlaps no other
//! live block; that `alloc_zeroed` is zeroed, `realloc` keeps the bytes both sizes share,
//! and every live block keeps what was written to it.
//!
//! Bad input: the module docs promise that a class's pool "checks the pointer, so a pointer
//! that is not one of its in-use blocks is refused and counted in that class's
//! `PoolStats::rejected`". So a bad `dealloc` with a class's layout must change nothing but
//! one refused-free counter of that class (not in the pool, inside a block, or a double
//! free, as the model predicts from the class's region layouts). A large layout gives its
//! pointer straight back to the memory source, with no check (`GlobalAlloc` makes a bad
//! pointer undefined behaviour, and the crate promises nothing more), so bad pointers are
//! only ever given with a class's layout. Null to `dealloc` with a class's layout is ignored
//! and counted nowhere. An impossible request (aligned to more than a page and larger than
//! the largest class, or to more than the largest class; more bytes than an address space
//! holds) must give null and change nothing; a `realloc` that cannot be served gives null
//! and leaves the old block as it was.
//!
//! Live bytes stay under [`LIVE_LIMIT`] (the model skips requests past it), so the fuzzer
//! does not run out of memory; requests between that and what no address space can map are
//! skipped too (`mmap` may or may not give them).
//!
//! `fuzz_targets/size_classes.rs` hands this model libFuzzer's inputs, and
//! `tests/fuzz_corpus.rs` replays every committed input of `corpus/size_classes/` through it.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::ptr;

use arbitrary::Arbitrary;
// Each model includes it: a fuzz target builds one model, `tests/fuzz_corpus.rs` all of them.
#[path = "common.rs"]
#[allow(clippy::duplicate_mod)]
mod common;
use common::{all_bytes_are, PATTERN_SPAN};
use memory_pool::{
    BlockState, ClassStats, LargeStats, PoolStats, RegionLayout, SizeClasses, CLASS_COUNT,
    CLASS_SIZES, DECOMMIT_FROM, LARGEST_CLASS, MAX_REGIONS,
};

/// Large blocks are whole pages of this size, and aligned to it.
const PAGE: usize = 4096;

/// A class that empties after this many allocations since it last did, and no more than
/// [`RELEASE_REUSE`] per block it touched, gives every region's memory back (`SizeClasses`'
/// docs, *Memory given back*).
const RELEASE_EMPTY_AFTER: u64 = 64;
const RELEASE_REUSE: u64 = 4;
/// A class's first region holds this many bytes of blocks (at least [`MIN_FIRST_COUNT`]
/// blocks) over the system's memory, which commits lazily; each region after it twice as
/// many blocks as the one before.
const FIRST_REGION_BYTES: usize = 1 << 20;
const MIN_FIRST_COUNT: usize = 4;
/// `alloc_zeroed` blocks up to this size are checked to be zero all through (only their two
/// ends above it).
const ZEROES_CHECKED: usize = 64 << 10;
/// The most bytes (whole class blocks, whole pages) live at once: requests past it are not
/// made.
const LIVE_LIMIT: usize = 32 << 20;
/// The largest large block asked for (a `realloc` copies it).
const BLOCK_LIMIT: usize = 4 << 20;
/// More than any 64-bit address space can map (x86-64 with 5-level paging has 2^56 bytes of
/// user space, others less): a request this large must get null.
const NO_ROOM: usize = 1 << 56;
/// Block states are compared through `class_block_states` (which copies a region's states
/// from its first block on) for blocks below this index.
const STATES_CHECKED: usize = 64;

/// A size, with the edges of every class and of whole pages easy to reach.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Tiny(u8),
    Small(u16),
    /// `CLASS_SIZES[class mod CLASS_COUNT] + delta`.
    ClassEdge(u8, i8),
    /// `(n mod 1024) · PAGE + delta`, from below the largest class to 4 MiB.
    Pages(u16, i16),
    /// `2^(n mod BITS)`.
    PowerOfTwo(u8),
    /// `isize::MAX + delta`, wrapping.
    NearIsizeMax(i16),
    Any(usize),
}

impl Size {
    fn value(self) -> usize {
        match self {
            Size::Tiny(n) => n.into(),
            Size::Small(n) => n.into(),
            Size::ClassEdge(class, delta) => {
                CLASS_SIZES[usize::from(class) % CLASS_COUNT].wrapping_add_signed(delta.into())
            }
            Size::Pages(n, delta) => {
                (usize::from(n % 1024) * PAGE).wrapping_add_signed(delta.into())
            }
            Size::PowerOfTwo(n) => 1 << (u32::from(n) % usize::BITS),
            Size::NearIsizeMax(delta) => (isize::MAX as usize).wrapping_add_signed(delta.into()),
            Size::Any(n) => n,
        }
    }
}

/// A layout to ask for: any size, aligned to `2^(n mod 17)` (1 B to 64 KiB) for most `n`,
/// `2^(n mod BITS)` for the top quarter.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Request {
    size: Size,
    align_log2: u8,
}

impl Request {
    /// The layout, if `Layout` accepts it and it is one `GlobalAlloc` may be asked for (not
    /// of size zero).
    fn layout(self) -> Option<Layout> {
        let size = self.size.value();
        Layout::from_size_align(size, align(self.align_log2))
            .ok()
            .filter(|_| size != 0)
    }
}

fn align(log2: u8) -> usize {
    let shift = if log2 >= 192 {
        u32::from(log2) % usize::BITS
    } else {
        u32::from(log2) % 17
    };
    1 << shift
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Alloc {
        request: Request,
        zeroed: bool,
    },
    /// Up to 255 allocations of one layout in a row (to make the classes grow).
    AllocMany {
        request: Request,
        count: u8,
    },
    /// Resize the n-th live block (in address order) to `size`, keeping its alignment.
    Realloc {
        live: u16,
        size: Size,
    },
    Dealloc {
        live: u16,
    },
    /// Overwrite both ends of the n-th live block with `byte`.
    Write {
        live: u16,
        byte: u8,
    },
    /// Deallocate every live block, in address order or reversed.
    DeallocAll {
        reversed: bool,
    },
    /// A pointer that is not an in-use block of the class its layout maps to.
    BadDealloc(Bad),
}

/// A bad pointer for `dealloc`, always with a layout that maps to a class.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Bad {
    /// `offset` bytes into the n-th live block (a block's middle, with its own layout for a
    /// class block; with class `offset mod CLASS_COUNT`'s layout for a large one).
    Inside {
        live: u16,
        offset: u16,
    },
    /// The n-th most recently freed class block, again.
    Freed(u16),
    /// The n-th live block, with the layout of another class.
    WrongClass {
        live: u16,
        class: u8,
    },
    /// Null.
    Null {
        class: u8,
    },
    /// `delta` bytes from an edge of one of a class's regions.
    Near {
        class: u8,
        region: u8,
        edge: Edge,
        delta: i32,
    },
    /// A byte on the stack.
    Stack {
        class: u8,
        byte: u8,
    },
    /// A block of another `SizeClasses`, of the same class.
    OtherAllocator {
        class: u8,
    },
    Address {
        class: u8,
        addr: usize,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Edge {
    RegionStart,
    FirstBlock,
    LastBlock,
    BlocksEnd,
    RegionEnd,
}

/// One fuzz input: the calls to make on a fresh `SizeClasses`.
#[derive(Arbitrary, Debug)]
pub struct Input {
    ops: Vec<Op>,
}

/// Runs the calls of `input` on a fresh `SizeClasses`, checking every answer.
pub fn run(input: Input) {
    let allocator = SizeClasses::new();
    let other = SizeClasses::new();
    let mut model = Model::new(&allocator, &other);
    for op in input.ops {
        model.step(op);
        model.check_counters();
    }
    model.finish();
}

/// The class the model says serves `layout`: the smallest one whose blocks are at least
/// `layout.size()` and aligned to at least `layout.align()` (a class of `s` bytes is aligned
/// to the largest power of two dividing `s`), or `None` for a large request.
fn class_for(layout: Layout) -> Option<usize> {
    if layout.size() > LARGEST_CLASS {
        return None;
    }
    CLASS_SIZES
        .iter()
        .position(|&size| size >= layout.size() && class_align(size) >= layout.align())
}

fn class_align(size: usize) -> usize {
    1 << size.trailing_zeros()
}

/// Blocks in a class's first region.
fn first_count(class: usize) -> usize {
    (FIRST_REGION_BYTES / CLASS_SIZES[class]).max(MIN_FIRST_COUNT)
}

/// A layout that maps to `class` exactly.
fn class_layout(class: usize) -> Layout {
    Layout::from_size_align(CLASS_SIZES[class], 1).expect("a class size is a valid layout")
}

/// What an allocation must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A block of this class.
    Class(usize),
    /// A large block of this many bytes (whole pages).
    Large(usize),
    /// Null: the request cannot be served.
    Null,
    /// Not asked: past the live-byte limit, or a size `mmap` may or may not give.
    Skip,
}

/// A live block and what it must hold: `(start, end, byte)` ranges of its first
/// `layout.size()` bytes, not overlapping.
#[derive(Debug, Clone)]
struct Block {
    ptr: *mut u8,
    layout: Layout,
    class: Option<usize>,
    contents: Vec<(usize, usize, u8)>,
}

impl Block {
    /// The bytes the block takes: its class's size, or its whole pages.
    fn extent(&self) -> usize {
        match self.class {
            Some(class) => CLASS_SIZES[class],
            None => self.layout.size().next_multiple_of(PAGE),
        }
    }

    fn write(&mut self, start: usize, end: usize, byte: u8) {
        if start >= end {
            return;
        }
        // SAFETY: `start < end <= layout.size()`: bytes of the block, which is live and ours.
        unsafe { self.ptr.add(start).write_bytes(byte, end - start) };
        let mut kept = Vec::with_capacity(self.contents.len() + 2);
        for &(s, e, b) in &self.contents {
            if e <= start || s >= end {
                kept.push((s, e, b));
                continue;
            }
            if s < start {
                kept.push((s, start, b));
            }
            if e > end {
                kept.push((end, e, b));
            }
        }
        kept.push((start, end, byte));
        self.contents = kept;
    }

    /// Overwrites both ends of the block with `byte`.
    fn fill(&mut self, byte: u8) {
        let [(head, head_len), (tail, tail_len)] = spans(self.layout.size());
        self.write(head, head + head_len, byte);
        self.write(tail, tail + tail_len, byte);
    }

    /// Only the first `len` bytes are kept (a `realloc` to `len`).
    fn keep(&mut self, len: usize) {
        self.contents.retain(|&(start, _, _)| start < len);
        for range in &mut self.contents {
            range.1 = range.1.min(len);
        }
    }

    fn verify(&self) {
        for &(start, end, byte) in &self.contents {
            // SAFETY: the range is inside the block's first `layout.size()` bytes, written by
            // `write` (or zeroed by `alloc_zeroed`), and the block is live.
            let bytes = unsafe { std::slice::from_raw_parts(self.ptr.add(start), end - start) };
            if all_bytes_are(bytes, byte) {
                continue;
            }
            if let Some(at) = bytes.iter().position(|&b| b != byte) {
                panic!(
                    "block {:p} ({:?}) lost its contents at byte {}: {:#x}, not {byte:#x}",
                    self.ptr,
                    self.layout,
                    start + at,
                    bytes[at]
                );
            }
        }
    }
}

/// The two ends of a block of `size` bytes that patterns are written to: all of it when it
/// is small.
fn spans(size: usize) -> [(usize, usize); 2] {
    let head = size.min(PATTERN_SPAN);
    let tail = (size - head).min(PATTERN_SPAN);
    [(0, head), (size - tail, tail)]
}

/// What a class looks like from outside.
#[derive(Debug, Clone, Copy, Default)]
struct ClassModel {
    regions: usize,
    capacity: usize,
    stats: PoolStats,
}

struct Model<'a> {
    allocator: &'a SizeClasses,
    /// Another allocator: its blocks are foreign to `allocator`.
    other: &'a SizeClasses,
    other_blocks: [Option<*mut u8>; CLASS_COUNT],
    /// Live blocks by address.
    live: BTreeMap<usize, Block>,
    /// Class blocks freed, most recent last (at most 64 kept).
    freed: Vec<(usize, Layout)>,
    classes: [ClassModel; CLASS_COUNT],
    /// For each class, each region: how many of its blocks were handed out since it was made
    /// or last gave its memory back (0: it holds no memory). The pool hands out a region's
    /// fresh blocks in address order, so they are its first ones.
    committed: Vec<Vec<usize>>,
    /// For each class, its `total_allocs` when it last gave memory back, and when it last
    /// gave every region back.
    allocs_at_decommit: [u64; CLASS_COUNT],
    allocs_at_release: [u64; CLASS_COUNT],
    /// Per class, blocks touched in regions given back since its last release (the quarter
    /// rule's); with `committed`, the blocks it touched since then.
    touched_then_given_back: [u64; CLASS_COUNT],
    large: LargeStats,
    live_bytes: usize,
    next_byte: u8,
}

impl<'a> Model<'a> {
    fn new(allocator: &'a SizeClasses, other: &'a SizeClasses) -> Self {
        let model = Model {
            allocator,
            other,
            other_blocks: [None; CLASS_COUNT],
            live: BTreeMap::new(),
            freed: Vec::new(),
            classes: [ClassModel::default(); CLASS_COUNT],
            committed: vec![Vec::new(); CLASS_COUNT],
            allocs_at_decommit: [0; CLASS_COUNT],
            allocs_at_release: [0; CLASS_COUNT],
            touched_then_given_back: [0; CLASS_COUNT],
            large: LargeStats::default(),
            live_bytes: 0,
            next_byte: 0,
        };
        model.check_counters();
        assert_eq!(allocator.class_stats(CLASS_COUNT), None);
        model
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Alloc { request, zeroed } => {
                if let Some(layout) = request.layout() {
                    self.alloc(layout, zeroed);
                }
            }
            Op::AllocMany { request, count } => {
                if let Some(layout) = request.layout() {
                    for _ in 0..count {
                        if self.expect_alloc(layout) == Expect::Skip {
                            break;
                        }
                        self.alloc(layout, false);
                    }
                }
            }
            Op::Realloc { live, size } => {
                if let Some(addr) = self.nth_live(live) {
                    self.realloc(addr, size.value());
                }
            }
            Op::Dealloc { live } => {
                if let Some(addr) = self.nth_live(live) {
                    self.dealloc(addr);
                }
            }
            Op::Write { live, byte } => {
                if let Some(addr) = self.nth_live(live) {
                    let block = self.live.get_mut(&addr).expect("a live block");
                    block.fill(byte);
                }
            }
            Op::DeallocAll { reversed } => self.dealloc_all(reversed),
            Op::BadDealloc(bad) => self.bad_dealloc(bad),
        }
    }

    fn nth_live(&self, n: u16) -> Option<usize> {
        let len = self.live.len();
        (len > 0).then(|| *self.live.keys().nth(usize::from(n) % len).expect("n < len"))
    }

    /// What `alloc(layout)` must answer.
    fn expect_alloc(&self, layout: Layout) -> Expect {
        if let Some(class) = class_for(layout) {
            return if self.live_bytes + CLASS_SIZES[class] > LIVE_LIMIT {
                Expect::Skip
            } else {
                Expect::Class(class)
            };
        }
        if layout.align() > PAGE {
            return Expect::Null;
        }
        match layout.size().checked_next_multiple_of(PAGE) {
            None => Expect::Null,
            Some(bytes) if bytes > NO_ROOM => Expect::Null,
            Some(bytes) if bytes > BLOCK_LIMIT || self.live_bytes + bytes > LIVE_LIMIT => {
                Expect::Skip
            }
            Some(bytes) => Expect::Large(bytes),
        }
    }

    fn alloc(&mut self, layout: Layout, zeroed: bool) {
        assert_eq!(
            SizeClasses::class_for(layout),
            class_for(layout),
            "class_for({layout:?})"
        );
        let expected = self.expect_alloc(layout);
        if expected == Expect::Skip {
            return;
        }
        // SAFETY: the layout's size is not zero.
        let ptr = unsafe {
            if zeroed {
                self.allocator.alloc_zeroed(layout)
            } else {
                self.allocator.alloc(layout)
            }
        };
        if expected == Expect::Null {
            assert!(ptr.is_null(), "{layout:?} must be refused, got {ptr:p}");
            return;
        }
        assert!(!ptr.is_null(), "{layout:?} refused ({expected:?} expected)");
        let mut block = self.allocated(ptr, layout, expected);
        if zeroed {
            let size = layout.size();
            let [(head, head_len), (tail, tail_len)] = if size <= ZEROES_CHECKED {
                [(0, size), (size, 0)]
            } else {
                spans(size)
            };
            for (start, len) in [(head, head_len), (tail, tail_len)] {
                // SAFETY: inside the block's `size` bytes, which `alloc_zeroed` initialised.
                let bytes = unsafe { std::slice::from_raw_parts(ptr.add(start), len) };
                if all_bytes_are(bytes, 0) {
                    continue;
                }
                if let Some(at) = bytes.iter().position(|&b| b != 0) {
                    panic!(
                        "alloc_zeroed({layout:?}) = {ptr:p}: byte {} is not 0",
                        start + at
                    );
                }
            }
            let [(head, head_len), (tail, tail_len)] = spans(size);
            block.contents = vec![(head, head + head_len, 0)];
            if tail_len > 0 {
                block.contents.push((tail, tail + tail_len, 0));
            }
        } else {
            self.next_byte = self.next_byte.wrapping_add(1);
            block.fill(self.next_byte);
        }
        self.live.insert(ptr.addr(), block);
    }

    /// `alloc` (or a moving `realloc`) gave `ptr` for `layout`, as `expected`: checks the
    /// block and counts it.
    fn allocated(&mut self, ptr: *mut u8, layout: Layout, expected: Expect) -> Block {
        let addr = ptr.addr();
        assert_eq!(
            addr % layout.align(),
            0,
            "{ptr:p} for {layout:?}: misaligned"
        );
        let class = match expected {
            Expect::Class(class) => Some(class),
            Expect::Large(_) => None,
            Expect::Null | Expect::Skip => unreachable!("no block expected"),
        };
        let block = Block {
            ptr,
            layout,
            class,
            contents: Vec::new(),
        };
        let end = addr + block.extent();
        if let Some((&before, other)) = self.live.range(..=addr).next_back() {
            assert!(
                before + other.extent() <= addr,
                "{ptr:p} ({layout:?}) overlaps live block {before:#x} ({:?})",
                other.layout
            );
        }
        if let Some((&after, other)) = self.live.range(addr..).next() {
            assert!(
                end <= after,
                "{ptr:p} ({layout:?}) overlaps live block {after:#x} ({:?})",
                other.layout
            );
        }
        self.live_bytes += block.extent();
        match class {
            Some(class) => {
                let model = &mut self.classes[class];
                if model.stats.in_use == model.capacity {
                    // Every block in use: the pool grows by a region twice the last one.
                    assert!(model.regions < MAX_REGIONS);
                    model.capacity += first_count(class) << model.regions;
                    model.regions += 1;
                    self.check_regions(class);
                }
                let stats = &mut self.classes[class].stats;
                stats.in_use += 1;
                stats.peak_in_use = stats.peak_in_use.max(stats.in_use);
                stats.total_allocs += 1;
                let (region, index) = self.locate(class, addr).unwrap_or_else(|| {
                    panic!("{ptr:p} ({layout:?}) is not a block of class {class}")
                });
                let committed = &mut self.committed[class];
                if committed.len() <= region {
                    committed.resize(region + 1, 0);
                }
                committed[region] = committed[region].max(index + 1);
                self.check_state(class, region, index, BlockState::InUse);
            }
            None => {
                assert_eq!(addr % PAGE, 0, "a large block not on a page");
                let large = &mut self.large;
                large.in_use += 1;
                large.bytes_in_use += block.extent();
                large.peak_bytes_in_use = large.peak_bytes_in_use.max(large.bytes_in_use);
                large.total_allocs += 1;
            }
        }
        block
    }

    fn regions(&self, class: usize) -> Vec<RegionLayout> {
        let mut regions = [RegionLayout::default(); MAX_REGIONS];
        let count = self.allocator.class_regions(class, &mut regions);
        assert_eq!(count, self.classes[class].regions, "class {class} regions");
        regions[..count].to_vec()
    }

    /// Class `class`'s regions: region `k` has `first_count << k` blocks of the class's size,
    /// aligned to the class.
    fn check_regions(&self, class: usize) {
        let size = CLASS_SIZES[class];
        for (k, region) in self.regions(class).iter().enumerate() {
            assert_eq!(region.stride, size, "class {class} region {k}");
            assert_eq!(
                region.count,
                first_count(class) << k,
                "class {class} region {k}"
            );
            assert_eq!(
                region.blocks % class_align(size),
                0,
                "class {class} region {k}"
            );
            assert!(region.blocks >= region.base);
            assert!(region.blocks + size * region.count <= region.base + region.size);
        }
    }

    /// The region and block index of the block that starts at `addr` in class `class`.
    fn locate(&self, class: usize, addr: usize) -> Option<(usize, usize)> {
        self.regions(class)
            .iter()
            .enumerate()
            .find_map(|(k, region)| {
                let offset = addr.checked_sub(region.blocks)?;
                (offset % region.stride == 0 && offset / region.stride < region.count)
                    .then_some((k, offset / region.stride))
            })
    }

    fn check_state(&self, class: usize, region: usize, index: usize, state: BlockState) {
        if index >= STATES_CHECKED {
            return;
        }
        let mut states = [0u8; STATES_CHECKED];
        let count = self
            .allocator
            .class_block_states(class, region, &mut states[..=index]);
        assert!(index < count);
        assert_eq!(
            states[index], state as u8,
            "class {class} region {region} block {index}"
        );
    }

    fn dealloc(&mut self, addr: usize) {
        let block = self.live.remove(&addr).expect("a live block");
        block.verify();
        // SAFETY: the block is live, allocated by `allocator` with this layout.
        unsafe { self.allocator.dealloc(block.ptr, block.layout) };
        self.freed_block(&block);
    }

    /// `block` was given back: counts it.
    fn freed_block(&mut self, block: &Block) {
        self.live_bytes -= block.extent();
        match block.class {
            Some(class) => {
                let stats = &mut self.classes[class].stats;
                stats.in_use -= 1;
                stats.total_frees += 1;
                if let Some((region, index)) = self.locate(class, block.ptr.addr()) {
                    let state = if self.decommits_on_free(class, region) {
                        BlockState::NeverUsed
                    } else {
                        BlockState::Free
                    };
                    self.check_state(class, region, index, state);
                } else {
                    panic!("freed block {:p} left its class", block.ptr);
                }
                if self.freed.len() == 64 {
                    self.freed.remove(0);
                }
                self.freed.push((block.ptr.addr(), block.layout));
            }
            None => {
                let large = &mut self.large;
                large.in_use -= 1;
                large.bytes_in_use -= block.extent();
                large.total_frees += 1;
            }
        }
    }

    /// A block of region `region` of class `class` was just freed (and is no longer in
    /// `live`, nor counted in use): whether that region gives its memory back now. The rule:
    /// when a free empties a region of `DECOMMIT_FROM` bytes of blocks or more and at most a
    /// quarter of the class's blocks are in use, every empty region that big still holding
    /// memory gives it back (and starts over never used), except the smallest, kept as a spare.
    /// But when the free leaves no block of the class in use, after at least
    /// `RELEASE_EMPTY_AFTER` allocations since the class last did so and no more than
    /// `RELEASE_REUSE` per block touched since (in its regions now, and in those given back
    /// since), every region still holding
    /// memory gives it back, whatever its size.
    fn decommits_on_free(&mut self, class: usize, region: usize) -> bool {
        let regions = self.regions(class);
        let model = self.classes[class];
        let handed_out = model.stats.total_allocs - self.allocs_at_release[class];
        let touched = self.touched_then_given_back[class]
            + self.committed[class].iter().sum::<usize>() as u64;
        if model.stats.in_use == 0
            && handed_out >= RELEASE_EMPTY_AFTER
            && handed_out <= RELEASE_REUSE * touched
        {
            self.allocs_at_release[class] = model.stats.total_allocs;
            self.touched_then_given_back[class] = 0;
            self.allocs_at_decommit[class] = model.stats.total_allocs;
            let committed = &mut self.committed[class];
            committed.resize(regions.len(), 0);
            let decommitted = committed[region] > 0;
            committed.fill(0);
            return decommitted;
        }
        let mut in_use = vec![0usize; regions.len()];
        for other in self.live.values() {
            if other.class == Some(class) {
                let addr = other.ptr.addr();
                // Its region: the one whose blocks span the address (the live block is one).
                if let Some(k) = regions
                    .iter()
                    .position(|r| addr >= r.blocks && addr < r.blocks + r.stride * r.count)
                {
                    in_use[k] += 1;
                }
            }
        }
        let big = |k: usize| regions[k].count * regions[k].stride >= DECOMMIT_FROM;
        let model = self.classes[class];
        let committed = &mut self.committed[class];
        committed.resize(regions.len(), 0);
        if in_use[region] != 0 || !big(region) || model.stats.in_use * 4 > model.capacity {
            return false;
        }
        let idle: Vec<usize> = (0..regions.len())
            .filter(|&k| committed[k] > 0 && in_use[k] == 0 && big(k))
            .collect();
        // The credit: the bytes going back (the spare, the first idle region, stays) must
        // have been handed out four times over since the class last gave memory back.
        let size = CLASS_SIZES[class] as u64;
        let going: u64 = idle
            .iter()
            .skip(1)
            .map(|&k| committed[k] as u64 * size)
            .sum();
        let handed_out = (model.stats.total_allocs - self.allocs_at_decommit[class]) * size;
        if going == 0 || handed_out < 4 * going {
            return false;
        }
        self.allocs_at_decommit[class] = model.stats.total_allocs;
        // Every idle region but the smallest (the first: regions grow) goes back.
        for &k in idle.iter().skip(1) {
            self.touched_then_given_back[class] += committed[k] as u64;
            committed[k] = 0;
        }
        idle.iter().skip(1).any(|&k| k == region)
    }

    fn dealloc_all(&mut self, reversed: bool) {
        let mut blocks: Vec<usize> = self.live.keys().copied().collect();
        if reversed {
            blocks.reverse();
        }
        for addr in blocks {
            self.dealloc(addr);
        }
    }

    fn realloc(&mut self, addr: usize, new_size: usize) {
        let old = self.live[&addr].clone();
        let Some(new_layout) = Layout::from_size_align(new_size, old.layout.align())
            .ok()
            .filter(|_| new_size != 0)
        else {
            // Not a size `realloc` may be asked for.
            return;
        };
        // The class of the layout the caller passes (the block may sit in a larger one, if a
        // `realloc` shrank it in place before).
        let stays = match (class_for(old.layout), class_for(new_layout)) {
            (Some(old), Some(new)) => new == old || (new < old && new_size >= CLASS_SIZES[old] / 2),
            (None, None) => old.layout.size().div_ceil(PAGE) == new_size.div_ceil(PAGE),
            _ => false,
        };
        let expected = if stays {
            None
        } else {
            match self.expect_alloc(new_layout) {
                Expect::Skip => return,
                expected => Some(expected),
            }
        };
        old.verify();
        // SAFETY: the block is live, allocated with `old.layout`; `new_size` is not zero and
        // fits a layout of the same alignment.
        let ptr = unsafe { self.allocator.realloc(old.ptr, old.layout, new_size) };
        let kept = old.layout.size().min(new_size);
        match expected {
            None => {
                assert_eq!(ptr, old.ptr, "realloc to {new_size} moved {:?}", old.layout);
                self.large.reallocs_in_place += 1;
                let block = self.live.get_mut(&addr).expect("a live block");
                block.layout = new_layout;
                block.keep(kept);
                block.verify();
                self.next_byte = self.next_byte.wrapping_add(1);
                let [_, (tail, tail_len)] = spans(new_size);
                block.write(tail, tail + tail_len, self.next_byte);
            }
            Some(Expect::Null) => {
                assert!(
                    ptr.is_null(),
                    "realloc to {new_layout:?} must fail, got {ptr:p}"
                );
                // The old block is still live and untouched.
                self.live[&addr].verify();
            }
            Some(expected) => {
                assert!(!ptr.is_null(), "realloc to {new_layout:?} refused");
                // Out of the live blocks first: a large block resized by the system (`mremap`)
                // may keep its address, and the new block may overlap only the old one.
                let old = self.live.remove(&addr).expect("a live block");
                let mut block = self.allocated(ptr, new_layout, expected);
                block.contents = old.contents.clone();
                block.keep(kept);
                block.verify();
                self.next_byte = self.next_byte.wrapping_add(1);
                let [_, (tail, tail_len)] = spans(new_size);
                block.write(tail, tail + tail_len, self.next_byte);
                self.freed_block(&old);
                self.large.reallocs_moved += 1;
                self.live.insert(ptr.addr(), block);
            }
        }
    }

    /// What `dealloc(addr, class_layout(class))` must do to class `class`: `Some(counter)`
    /// for a refusal, `None` if `addr` is an in-use block of the class (not a bad pointer).
    fn expect_refusal(&self, class: usize, addr: usize) -> Option<Refusal> {
        for region in self.regions(class) {
            if addr < region.base || addr - region.base >= region.size {
                continue;
            }
            let offset = addr.wrapping_sub(region.blocks);
            if addr < region.blocks || offset >= region.stride * region.count {
                return Some(Refusal::NotInPool);
            }
            if offset % region.stride != 0 {
                return Some(Refusal::Misaligned);
            }
            return match self.live.get(&addr) {
                Some(block) if block.class == Some(class) => None,
                _ => Some(Refusal::DoubleFree),
            };
        }
        Some(Refusal::NotInPool)
    }

    fn bad_dealloc(&mut self, bad: Bad) {
        let class_of = |n: u8| usize::from(n) % CLASS_COUNT;
        let mut stack = [0u8; 64];
        let (class, addr) = match bad {
            Bad::Inside { live, offset } => {
                let Some(addr) = self.nth_live(live) else {
                    return;
                };
                let block = &self.live[&addr];
                match block.class {
                    Some(class) => {
                        let size = CLASS_SIZES[class];
                        (class, addr + 1 + usize::from(offset) % (size - 1))
                    }
                    None => (
                        class_of(offset as u8),
                        addr + usize::from(offset) % block.extent(),
                    ),
                }
            }
            Bad::Freed(n) => {
                let Some(&(addr, layout)) = self
                    .freed
                    .iter()
                    .rev()
                    .nth(usize::from(n) % self.freed.len().max(1))
                else {
                    return;
                };
                (class_for(layout).expect("a class block"), addr)
            }
            Bad::WrongClass { live, class } => {
                let Some(addr) = self.nth_live(live) else {
                    return;
                };
                let mut class = class_of(class);
                if self.live[&addr].class == Some(class) {
                    class = (class + 1) % CLASS_COUNT;
                }
                (class, addr)
            }
            Bad::Null { class } => {
                let class = class_of(class);
                let before = self.snapshot(class);
                // SAFETY: a class's `dealloc` ignores null (the module docs: a pointer that
                // is not an in-use block changes nothing).
                unsafe { self.allocator.dealloc(ptr::null_mut(), class_layout(class)) };
                assert_eq!(
                    self.snapshot(class),
                    before,
                    "dealloc(null) changed class {class}"
                );
                return;
            }
            Bad::Near {
                class,
                region,
                edge,
                delta,
            } => {
                let class = class_of(class);
                let regions = self.regions(class);
                if regions.is_empty() {
                    return;
                }
                let region = regions[usize::from(region) % regions.len()];
                let blocks_end = region.blocks + region.stride * region.count;
                let edge = match edge {
                    Edge::RegionStart => region.base,
                    Edge::FirstBlock => region.blocks,
                    Edge::LastBlock => blocks_end - region.stride,
                    Edge::BlocksEnd => blocks_end,
                    Edge::RegionEnd => region.base + region.size,
                };
                (class, edge.wrapping_add_signed(delta as isize))
            }
            Bad::Stack { class, byte } => (
                class_of(class),
                ptr::from_mut(&mut stack[usize::from(byte) % 64]).addr(),
            ),
            Bad::OtherAllocator { class } => {
                let class = class_of(class);
                let block = match self.other_blocks[class] {
                    Some(block) => block,
                    None => {
                        // SAFETY: a class layout, not of size zero.
                        let block = unsafe { self.other.alloc(class_layout(class)) };
                        assert!(!block.is_null());
                        self.other_blocks[class] = Some(block);
                        block
                    }
                };
                (class, block.addr())
            }
            Bad::Address { class, addr } => (class_of(class), addr),
        };
        if addr == 0 {
            return;
        }
        // `dealloc` looks for the pointer in its layout's class, then in the classes above
        // (where a shrinking `realloc` may have left a block): the first class with a region
        // around the address decides; if none has, the layout's class refuses it.
        let asked = class;
        let class = (asked..CLASS_COUNT)
            .find(|&k| {
                self.regions(k)
                    .iter()
                    .any(|r| addr >= r.base && addr - r.base < r.size)
            })
            .unwrap_or(asked);
        let Some(refusal) = self.expect_refusal(class, addr) else {
            if class != asked {
                // A live block of a larger class, freed with a smaller class's layout: as
                // a block a `realloc` shrank in place, it is found and freed.
                let block = self.live.remove(&addr).expect("a live block");
                block.verify();
                // SAFETY: `addr` is a live block of `allocator`; a smaller layout is what a
                // shrinking `realloc` would have left it with.
                unsafe { self.allocator.dealloc(block.ptr, class_layout(asked)) };
                self.freed_block(&block);
            }
            // Otherwise an in-use block of the class after all (a freed block handed out
            // again): not a bad pointer.
            return;
        };
        let before = self.snapshot(class);
        // SAFETY: not a valid call by `GlobalAlloc`'s contract, but one the crate promises to
        // refuse: a class's pool checks every pointer before it touches anything.
        unsafe {
            self.allocator
                .dealloc(ptr::without_provenance_mut(addr), class_layout(class))
        };
        let rejected = &mut self.classes[class].stats.rejected;
        match refusal {
            Refusal::NotInPool => rejected.not_in_pool += 1,
            Refusal::Misaligned => rejected.misaligned += 1,
            Refusal::DoubleFree => rejected.double_free += 1,
        }
        let mut after = self.snapshot(class);
        after.0.stats.rejected = before.0.stats.rejected;
        assert_eq!(
            after, before,
            "a refused dealloc({addr:#x}) changed class {class}"
        );
        for block in self.live.values() {
            if block.class == Some(class) {
                block.verify();
            }
        }
    }

    /// Everything observable about a class: its counters, its regions, its blocks' states.
    fn snapshot(&self, class: usize) -> (ClassStats, Vec<RegionLayout>, Vec<Vec<u8>>) {
        let stats = self.allocator.class_stats(class).expect("a class");
        let regions = self.regions(class);
        let states = (0..regions.len())
            .map(|k| {
                let mut states = vec![0; regions[k].count];
                let count = self.allocator.class_block_states(class, k, &mut states);
                assert_eq!(count, regions[k].count);
                states
            })
            .collect();
        (stats, regions, states)
    }

    fn check_counters(&self) {
        for (class, model) in self.classes.iter().enumerate() {
            let expected = ClassStats {
                block_size: CLASS_SIZES[class],
                regions: model.regions,
                capacity: model.capacity,
                stats: model.stats,
            };
            assert_eq!(
                self.allocator.class_stats(class),
                Some(expected),
                "class {class}"
            );
        }
        assert_eq!(self.allocator.large_stats(), self.large);
        let in_use: usize = self.classes.iter().map(|class| class.stats.in_use).sum();
        assert_eq!(in_use + self.large.in_use, self.live.len());
    }

    /// Every live block still holds its bytes; freeing them all leaves nothing in use.
    fn finish(mut self) {
        for block in self.live.values() {
            block.verify();
        }
        self.dealloc_all(false);
        self.check_counters();
        for class in 0..CLASS_COUNT {
            self.check_regions(class);
        }
        assert_eq!(self.large.in_use, 0);
        assert_eq!(self.large.bytes_in_use, 0);
        for (class, block) in self.other_blocks.iter().enumerate() {
            if let Some(block) = *block {
                // SAFETY: allocated from `other` with this layout, not freed.
                unsafe { self.other.dealloc(block, class_layout(class)) };
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    NotInPool,
    Misaligned,
    DoubleFree,
}
