//! A long randomized run: millions of pool operations checked against a model, then proof
//! that nothing was lost.
//!
//! ```sh
//! make stress                                              # 10 million operations
//! cargo run --release --example stress -- 50000000 SEED    # any count, any seed
//! ```
//!
//! Each phase drives one pool (different block sizes, counts and memory sources) with a
//! random mix of allocations, frees, rewrites of live blocks and refused frees (double,
//! interior, foreign), with the fill level swept from empty to full and back so exhaustion
//! and a long free list both happen often. Every `alloc` must hand out exactly the block the
//! model predicts (the last freed, else the next never used), every freed block must still
//! hold its own pattern, and at the end every live block's pattern must be intact and every
//! counter, the block map and the free list must equal the model's. Exits non-zero (a panic)
//! on the first difference.

use std::ptr::NonNull;
use std::time::Instant;

use memory_pool::{BlockState, FreeError, MemorySource, Pool, PoolStats, SliceMemory};

/// SplitMix64: a tiny, good-enough generator, so the run needs no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A live block and the allocation id its pattern was made from.
#[derive(Clone, Copy)]
struct Live {
    block: NonNull<u8>,
    index: usize,
    id: u64,
}

/// The pattern word `word` of allocation `id`: different in every word and every allocation.
fn pattern(id: u64, word: usize) -> u64 {
    ((id << 16) | word as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn fill(live: &Live, words: usize) {
    let block = live.block.cast::<u64>();
    for word in 0..words {
        // SAFETY: the block is live, ours, aligned to 8 and `words * 8` bytes long.
        unsafe { block.add(word).write(pattern(live.id, word)) };
    }
}

fn verify(live: &Live, words: usize) {
    let block = live.block.cast::<u64>();
    for word in 0..words {
        // SAFETY: as in `fill`; every word was written by `fill`.
        let got = unsafe { block.add(word).read() };
        assert_eq!(
            got,
            pattern(live.id, word),
            "block {} (allocation {}) lost word {word}",
            live.index,
            live.id
        );
    }
}

/// Runs `ops` random operations on `pool`, checking it against the model throughout.
fn phase<M: MemorySource>(mut pool: Pool<M>, ops: u64, rng: &mut Rng) -> PoolStats {
    let count = pool.block_count();
    let stride = pool.block_size();
    let words = stride / 8;
    let first = pool.layout().blocks;
    let foreign = 0u64;

    let mut live: Vec<Live> = Vec::new();
    let mut free_stack: Vec<usize> = Vec::new();
    let mut next_never_used = 0;
    let mut expected = PoolStats::default();
    let mut next_id = 0u64;
    // The fill level the run is heading for; re-drawn whenever it is reached.
    let mut target = count / 2;

    for _ in 0..ops {
        if live.len() == target {
            target = match rng.below(4) {
                0 => 0,
                1 => count,
                _ => rng.below(count + 1),
            };
        }
        let roll = rng.below(100);
        if roll < 2 {
            // A refused free: the pool must change nothing but one rejected counter.
            let (ptr, kind) = match rng.below(3) {
                0 if !free_stack.is_empty() => {
                    let index = free_stack[rng.below(free_stack.len())];
                    (first + index * stride, 2)
                }
                1 => (
                    first + rng.below(count) * stride + 1 + rng.below(stride - 1),
                    1,
                ),
                _ => (std::ptr::from_ref(&foreign).addr(), 0),
            };
            let before = (
                pool.in_use(),
                pool.next_never_used(),
                pool.stats().total_frees,
            );
            let block = pool.block_ptr(0).unwrap();
            let ptr = block.map_addr(|_| ptr.try_into().unwrap());
            let error = pool.free(ptr).unwrap_err();
            match (kind, error) {
                (0, FreeError::NotInPool { .. }) => expected.rejected.not_in_pool += 1,
                (1, FreeError::Misaligned { .. }) => expected.rejected.misaligned += 1,
                (2, FreeError::DoubleFree { .. }) => expected.rejected.double_free += 1,
                (kind, error) => panic!("refusal kind {kind}: got {error:?}"),
            }
            let after = (
                pool.in_use(),
                pool.next_never_used(),
                pool.stats().total_frees,
            );
            assert_eq!(after, before, "a refused free changed the pool");
        } else if roll < 10 && !live.is_empty() {
            // Rewrite a live block with a new allocation id.
            let n = rng.below(live.len());
            verify(&live[n], words);
            live[n].id = next_id;
            next_id += 1;
            fill(&live[n], words);
        } else if live.len() < target || (live.len() == target && rng.below(2) == 0) {
            let predicted = free_stack
                .last()
                .copied()
                .or((next_never_used < count).then_some(next_never_used));
            let Some(block) = pool.alloc() else {
                assert_eq!(predicted, None, "alloc refused with blocks left");
                continue;
            };
            let index = predicted.expect("alloc handed out a block from a full pool");
            assert_eq!(
                block.as_ptr().addr(),
                first + index * stride,
                "not the predicted block"
            );
            if free_stack.pop().is_none() {
                next_never_used += 1;
            }
            let entry = Live {
                block,
                index,
                id: next_id,
            };
            next_id += 1;
            fill(&entry, words);
            live.push(entry);
            expected.total_allocs += 1;
            expected.in_use += 1;
            expected.peak_in_use = expected.peak_in_use.max(expected.in_use);
        } else if !live.is_empty() {
            let entry = live.swap_remove(rng.below(live.len()));
            verify(&entry, words);
            pool.free(entry.block).unwrap();
            free_stack.push(entry.index);
            expected.total_frees += 1;
            expected.in_use -= 1;
        }
    }

    // Nothing lost: every live block intact, the counters, the map and the free list exact.
    for entry in &live {
        verify(entry, words);
    }
    assert_eq!(pool.stats(), expected, "counters");
    let mut states = vec![BlockState::NeverUsed; count];
    for &index in &free_stack {
        states[index] = BlockState::Free;
    }
    for entry in &live {
        states[entry.index] = BlockState::InUse;
    }
    assert!(
        pool.blocks().map(|block| block.state).eq(states),
        "block map"
    );
    assert!(
        pool.free_list().eq(free_stack.iter().rev().copied()),
        "free list"
    );
    assert_eq!(pool.next_never_used(), next_never_used);
    let mut leaks: Vec<usize> = live.iter().map(|entry| entry.index).collect();
    leaks.sort_unstable();
    assert!(pool.leaks().map(|block| block.index).eq(leaks), "leaks");
    pool.stats()
}

/// One phase of the run: a pool to create and drive.
type Phase<'a> = Box<dyn FnOnce(&mut Rng) -> PoolStats + 'a>;

fn main() {
    let mut args = std::env::args().skip(1);
    let ops: u64 = args
        .next()
        .map_or(10_000_000, |arg| arg.parse().expect("operation count"));
    let seed: u64 = args.next().map_or(0x5EED, |arg| arg.parse().expect("seed"));
    let mut rng = Rng(seed);
    let mut buffer = vec![0u8; 1 << 20];
    let start = Instant::now();
    let per_phase = ops / 4;
    let phases: [(&str, Phase<'_>); 4] = [
        (
            "65536 blocks of 8 bytes, mmap",
            Box::new(|rng| phase(Pool::new(8, 1 << 16).unwrap(), per_phase, rng)),
        ),
        (
            "1000 blocks of 48 bytes, mmap",
            Box::new(|rng| phase(Pool::new(48, 1000).unwrap(), per_phase, rng)),
        ),
        (
            "4096 blocks of 200 bytes, a 1 MiB slice",
            Box::new(|rng| {
                phase(
                    Pool::new_in(200, 4096, SliceMemory::new(&mut buffer)).unwrap(),
                    per_phase,
                    rng,
                )
            }),
        ),
        (
            "64 blocks of 4096 bytes aligned to 4096, mmap",
            Box::new(|rng| {
                let layout = std::alloc::Layout::from_size_align(4096, 4096).unwrap();
                phase(
                    Pool::with_layout(layout, 64).unwrap(),
                    ops - 3 * per_phase,
                    rng,
                )
            }),
        ),
    ];
    for (name, run) in phases {
        let phase_start = Instant::now();
        let stats = run(&mut rng);
        println!(
            "{name}: {} allocs, {} frees, {} refused, peak {} — intact ({:.2?})",
            stats.total_allocs,
            stats.total_frees,
            stats.rejected.total(),
            stats.peak_in_use,
            phase_start.elapsed()
        );
    }
    println!(
        "{ops} operations (seed {seed}) checked against the model in {:.2?}",
        start.elapsed()
    );
}
