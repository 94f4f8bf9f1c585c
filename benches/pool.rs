//! The pool against the allocators a user would pick instead, measured side by side in one run.
//!
//! Every contender answers the same two questions, "give me a block" and "take it back", through
//! [`Contender`]:
//!
//! | name | what it is |
//! |---|---|
//! | `pool` | [`memory_pool::Pool`], every misuse check on (`free` returns a `Result`) |
//! | `glibc` | `malloc` / `free` from the C library, through `libc` |
//! | `mimalloc` | Microsoft's mimalloc, through the `mimalloc` crate |
//! | `slab` | `slab::Slab`, a vector of slots with a free-slot stack (handles are keys) |
//! | `bare-list (lower bound)` | an intrusive free list with **no checks at all**: what a pool costs if it trusts its caller completely. Not a usable allocator; a floor. |
//!
//! Workloads (`make bench` turns the numbers into `benches/results.md`):
//! - `pair-B`: allocate one block of B bytes, free it, repeat;
//! - `reverse-B`: allocate 10,000 blocks, free them last-first;
//! - `random-B`: allocate 10,000 blocks, free them in a fixed, pre-shuffled order;
//! - `held-pair` / `held-random`: the same on top of N blocks already held, N from 1 K to 10 M
//!   (the cost of an operation must not depend on how big or how full the heap is);
//! - `whole-random`: allocate all N blocks and free them in shuffled order, N from 1 K to 10 M
//!   (the working set outgrows every cache: this shows the memory hierarchy, for everyone);
//! - `create-1GiB`: create and drop a pool of 1 GiB;
//! - `colour-4096`: the cache-set effect of 4 KiB blocks, before and after colouring: the
//!   bare list with every link at the same offset of its block versus links staggered one
//!   cache line per block; and, in the run `make bench` builds with
//!   `--cfg memory_pool_uncoloured`, the pool with every link in its block's first word (its
//!   coloured figures are `reverse-4096` and `random-4096`).
//!
//! Blocks are never written by the workloads, so every contender is timed on its own
//! bookkeeping only.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memory_pool::Pool;

/// Blocks per batch in the batch workloads.
const BATCH: usize = 10_000;
/// Heap sizes for the scaling workloads, in blocks.
const SCALES: [usize; 5] = [1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// One allocator under test. `Handle` is what `alloc` gives back and `free` takes: a pointer
/// for most, a key for `slab`.
trait Contender {
    type Handle: Copy;
    fn alloc(&mut self) -> Self::Handle;
    fn free(&mut self, handle: Self::Handle);
}

struct PoolContender(Pool);

impl Contender for PoolContender {
    type Handle = NonNull<u8>;
    #[inline(always)]
    fn alloc(&mut self) -> NonNull<u8> {
        self.0.alloc().expect("the pool is sized for the workload")
    }
    #[inline(always)]
    fn free(&mut self, block: NonNull<u8>) {
        self.0
            .free(block)
            .expect("the workload frees only its own blocks");
    }
}

struct Glibc(usize);

impl Contender for Glibc {
    type Handle = *mut u8;
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        // SAFETY: malloc may be called with any size; a null return is checked.
        let block = unsafe { libc::malloc(self.0) }.cast::<u8>();
        assert!(!block.is_null());
        block
    }
    #[inline(always)]
    fn free(&mut self, block: *mut u8) {
        // SAFETY: `block` came from malloc above and is freed once.
        unsafe { libc::free(block.cast()) }
    }
}

struct Mimalloc(Layout);

impl Contender for Mimalloc {
    type Handle = *mut u8;
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        // SAFETY: the layout has a non-zero size; a null return is checked.
        let block = unsafe { mimalloc::MiMalloc.alloc(self.0) };
        assert!(!block.is_null());
        block
    }
    #[inline(always)]
    fn free(&mut self, block: *mut u8) {
        // SAFETY: `block` came from `alloc` with the same layout and is freed once.
        unsafe { mimalloc::MiMalloc.dealloc(block, self.0) }
    }
}

/// `slab` stores values, so it gets an uninitialised block of the right size: inserting one
/// writes nothing but slab's own bookkeeping.
struct SlabContender<const B: usize>(slab::Slab<MaybeUninit<[u8; B]>>);

impl<const B: usize> Contender for SlabContender<B> {
    type Handle = usize;
    #[inline(always)]
    fn alloc(&mut self) -> usize {
        self.0.insert(MaybeUninit::uninit())
    }
    #[inline(always)]
    fn free(&mut self, key: usize) {
        self.0.remove(key);
    }
}

/// THE LOWER BOUND, NOT AN ALLOCATOR ANYONE SHOULD USE: an intrusive free list that checks
/// nothing. A double free or a foreign pointer silently corrupts it. It is here to show how
/// close the checked pool gets to doing no checking at all.
struct BareList {
    memory: Vec<u64>,
    head: *mut u8,
    /// Where in a free block its link lives: 0, or staggered by one cache line per block.
    stagger: bool,
    stride: usize,
}

impl BareList {
    fn new(stride: usize, count: usize, stagger: bool) -> Self {
        assert!(!stagger || (stride.is_power_of_two() && stride >= 128));
        let mut list = BareList {
            memory: vec![0; stride * count / 8],
            head: std::ptr::null_mut(),
            stagger,
            stride,
        };
        let base = list.memory.as_mut_ptr().cast::<u8>();
        for index in (0..count).rev() {
            // SAFETY: `index < count`, so the block lies inside `memory`.
            list.free(unsafe { base.add(index * stride) });
        }
        list
    }

    #[inline(always)]
    fn link_of(&self, block: *mut u8) -> *mut *mut u8 {
        // Staggered: one cache line per 4 KiB page number, as cheap as the pool's colouring
        // (a division here would cost more than the effect it shows).
        let offset = if self.stagger {
            (block.addr() >> 12 & (self.stride / 64 - 1)) * 64
        } else {
            0
        };
        block.wrapping_add(offset).cast()
    }
}

impl Contender for BareList {
    type Handle = *mut u8;
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        let block = self.head;
        // SAFETY: none: this is the unchecked floor. The workloads never overdraw it.
        self.head = unsafe { self.link_of(block).read() };
        block
    }
    #[inline(always)]
    fn free(&mut self, block: *mut u8) {
        // SAFETY: as above; the workloads free only blocks they hold.
        unsafe { self.link_of(block).write(self.head) };
        self.head = block;
    }
}

/// A fixed shuffle of `0..n` (xorshift-driven Fisher–Yates), the same for every contender.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// Allocates `order.len()` blocks, then frees them in `order` (indices into the batch).
#[inline(always)]
fn batch<C: Contender>(contender: &mut C, held: &mut Vec<C::Handle>, order: &[usize]) {
    held.clear();
    for _ in 0..order.len() {
        held.push(black_box(contender.alloc()));
    }
    for &i in order {
        contender.free(held[i]);
    }
}

/// Runs `body` on each contender for `block` bytes, each under its own name.
macro_rules! each_contender {
    ($block:literal, $capacity:expr, |$name:ident, $contender:ident| $body:block) => {{
        {
            let $name = "pool";
            let mut $contender = PoolContender(Pool::new($block, $capacity).expect("pool memory"));
            $body
        }
        {
            let $name = "glibc";
            let mut $contender = Glibc($block);
            $body
        }
        {
            let $name = "mimalloc";
            let mut $contender = Mimalloc(Layout::from_size_align($block, 8).unwrap());
            $body
        }
        {
            let $name = "slab";
            let mut $contender = SlabContender::<$block>(slab::Slab::with_capacity($capacity));
            $body
        }
        {
            let $name = "bare-list (lower bound)";
            let mut $contender = BareList::new($block, $capacity, false);
            $body
        }
    }};
}

fn by_block_size(c: &mut Criterion) {
    macro_rules! for_block {
        ($block:literal) => {{
            let reverse: Vec<usize> = (0..BATCH).rev().collect();
            let random = shuffled(BATCH);
            let mut group = c.benchmark_group(concat!("pair-", $block));
            group.throughput(Throughput::Elements(1));
            each_contender!($block, BATCH, |name, contender| {
                group.bench_function(name, |b| {
                    b.iter(|| {
                        let block = black_box(contender.alloc());
                        contender.free(block);
                    })
                });
            });
            group.finish();
            for (workload, order) in [("reverse-", &reverse), ("random-", &random)] {
                let mut group = c.benchmark_group(format!("{workload}{}", $block));
                group.throughput(Throughput::Elements(BATCH as u64));
                each_contender!($block, BATCH, |name, contender| {
                    let mut held = Vec::with_capacity(BATCH);
                    group.bench_function(name, |b| {
                        b.iter(|| batch(&mut contender, &mut held, order))
                    });
                });
                group.finish();
            }
        }};
    }
    for_block!(16);
    for_block!(64);
    for_block!(4096);
}

/// Pair and random batch on top of `n` blocks already held: an O(1) allocator does not care.
fn held_scaling(c: &mut Criterion) {
    let random = shuffled(BATCH);
    let mut pair = c.benchmark_group("held-pair");
    pair.throughput(Throughput::Elements(1));
    for n in SCALES {
        let mut pool = PoolContender(Pool::new(64, n + BATCH).unwrap());
        let mut mimalloc = Mimalloc(Layout::from_size_align(64, 8).unwrap());
        let held_pool: Vec<_> = (0..n).map(|_| pool.alloc()).collect();
        let held_mimalloc: Vec<_> = (0..n).map(|_| mimalloc.alloc()).collect();
        pair.bench_function(BenchmarkId::new("pool", n), |b| {
            b.iter(|| {
                let block = black_box(pool.alloc());
                pool.free(block);
            })
        });
        pair.bench_function(BenchmarkId::new("mimalloc", n), |b| {
            b.iter(|| {
                let block = black_box(mimalloc.alloc());
                mimalloc.free(block);
            })
        });
        held_mimalloc
            .into_iter()
            .for_each(|block| mimalloc.free(block));
        drop(held_pool);
    }
    pair.finish();

    let mut group = c.benchmark_group("held-random");
    group.throughput(Throughput::Elements(BATCH as u64));
    for n in SCALES {
        let mut pool = PoolContender(Pool::new(64, n + BATCH).unwrap());
        let mut mimalloc = Mimalloc(Layout::from_size_align(64, 8).unwrap());
        let held_pool: Vec<_> = (0..n).map(|_| pool.alloc()).collect();
        let held_mimalloc: Vec<_> = (0..n).map(|_| mimalloc.alloc()).collect();
        let mut held = Vec::with_capacity(BATCH);
        group.bench_function(BenchmarkId::new("pool", n), |b| {
            b.iter(|| batch(&mut pool, &mut held, &random))
        });
        let mut held = Vec::with_capacity(BATCH);
        group.bench_function(BenchmarkId::new("mimalloc", n), |b| {
            b.iter(|| batch(&mut mimalloc, &mut held, &random))
        });
        held_mimalloc
            .into_iter()
            .for_each(|block| mimalloc.free(block));
        drop(held_pool);
    }
    group.finish();
}

/// Allocate every block, free them all in shuffled order: the working set grows with `n`.
fn whole_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("whole-random");
    group.sample_size(10);
    for n in SCALES {
        let order = shuffled(n);
        group.throughput(Throughput::Elements(n as u64));
        let mut pool = PoolContender(Pool::new(64, n).unwrap());
        let mut held = Vec::with_capacity(n);
        group.bench_function(BenchmarkId::new("pool", n), |b| {
            b.iter(|| batch(&mut pool, &mut held, &order))
        });
        let mut mimalloc = Mimalloc(Layout::from_size_align(64, 8).unwrap());
        let mut held = Vec::with_capacity(n);
        group.bench_function(BenchmarkId::new("mimalloc", n), |b| {
            b.iter(|| batch(&mut mimalloc, &mut held, &order))
        });
    }
    group.finish();
}

fn create_and_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("create-1GiB");
    group.bench_function("pool", |b| {
        b.iter(|| Pool::new(black_box(64), (1 << 30) / 64).expect("1 GiB of address space"))
    });
    group.finish();
}

/// The cache-set effect at 4 KiB blocks, before and after colouring: on the bare list (so
/// that nothing else differs) and, in a build with `--cfg memory_pool_uncoloured`, the pool.
fn colouring(c: &mut Criterion) {
    let reverse: Vec<usize> = (0..BATCH).rev().collect();
    let random = shuffled(BATCH);
    let mut group = c.benchmark_group("colour-4096");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (workload, order) in [("reverse", &reverse), ("random", &random)] {
        if cfg!(memory_pool_uncoloured) {
            let mut held = Vec::with_capacity(BATCH);
            let mut pool = PoolContender(Pool::new(4096, BATCH).expect("a 40 MB pool"));
            group.bench_function(format!("pool {workload}, links uncoloured"), |b| {
                b.iter(|| batch(&mut pool, &mut held, order))
            });
            continue;
        }
        for (links, stagger) in [("links at offset 0", false), ("links staggered", true)] {
            let mut list = BareList::new(4096, BATCH, stagger);
            let mut held = Vec::with_capacity(BATCH);
            group.bench_function(format!("bare-list {workload}, {links}"), |b| {
                b.iter(|| batch(&mut list, &mut held, order))
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared, and `make bench` should finish in minutes.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = by_block_size, held_scaling, whole_scaling, create_and_drop, colouring
}
criterion_main!(benches);
