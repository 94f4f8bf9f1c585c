//! Model-based randomized test: long random sequences of alloc, free and misuse, checked
//! step by step against a model (the set of live blocks and their patterns).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::ptr::NonNull;

use memory_pool::{BlockState, FreeError, MemorySource, Pool, SliceMemory, SystemMemory};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Alloc,
    /// Free the n-th live block (modulo how many are live).
    FreeLive(usize),
    /// Free the n-th block that has been freed before (a double free).
    FreeAgain(usize),
    /// Free a pointer `offset` bytes into block n.
    FreeInside(usize, usize),
    /// Free a pointer outside the pool.
    FreeForeign(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Alloc),
        3 => any::<usize>().prop_map(Op::FreeLive),
        1 => any::<usize>().prop_map(Op::FreeAgain),
        1 => (any::<usize>(), 1..4096usize).prop_map(|(n, off)| Op::FreeInside(n, off)),
        1 => any::<usize>().prop_map(Op::FreeForeign),
    ]
}

/// The byte written into every byte of the block with this id.
fn pattern(id: u64) -> u8 {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

fn run<M: MemorySource>(mut pool: Pool<M>, ops: &[Op]) {
    let size = pool.block_size();
    let count = pool.block_count();
    // addr -> the block and the id of the allocation living there
    let mut live: BTreeMap<usize, (NonNull<u8>, u64)> = BTreeMap::new();
    let mut freed: Vec<usize> = Vec::new();
    let mut next_id = 0u64;
    let mut peak = 0;
    let foreign = [0u8; 64];

    for op in ops {
        let map_before: Vec<BlockState> = pool.blocks().map(|b| b.state).collect();
        let free_list_before: Vec<usize> = pool.free_list().collect();
        let never_used_before = pool.next_never_used();
        let mut rejected = false;
        match *op {
            Op::Alloc => match pool.alloc() {
                Some(block) => {
                    // The pool hands out what its free list said comes next (across all the
                    // chunks' lists), and only then never-used blocks, in address order.
                    let expected = free_list_before
                        .first()
                        .copied()
                        .unwrap_or(never_used_before);
                    assert_eq!(
                        pool.check(block.as_ptr()),
                        Ok(expected),
                        "not the next block"
                    );
                    let addr = block.as_ptr() as usize;
                    assert!(!live.contains_key(&addr), "block handed out twice");
                    assert_eq!(addr % core::mem::align_of::<usize>(), 0);
                    // SAFETY: the block is `size` bytes and ours.
                    unsafe { block.as_ptr().write_bytes(pattern(next_id), size) };
                    live.insert(addr, (block, next_id));
                    freed.retain(|&a| a != addr);
                    next_id += 1;
                }
                None => assert_eq!(live.len(), count, "None while blocks are free"),
            },
            Op::FreeLive(n) if !live.is_empty() => {
                let (&addr, &(block, _)) = live.iter().nth(n % live.len()).unwrap();
                let index = pool.check(block.as_ptr()).unwrap();
                assert_eq!(pool.block_ptr(index), Some(block));
                pool.free(block).unwrap();
                live.remove(&addr);
                freed.push(addr);
            }
            Op::FreeAgain(n) if !freed.is_empty() => {
                let addr = freed[n % freed.len()];
                let index = (addr - pool.layout().blocks) / size;
                let err = pool.free(pool.block_ptr(index).unwrap()).unwrap_err();
                assert!(matches!(err, FreeError::DoubleFree { block, .. } if block == index));
                rejected = true;
            }
            Op::FreeInside(n, offset) => {
                let index = n % count;
                let offset = offset % size;
                if offset != 0 {
                    let ptr = pool.block_ptr(index).unwrap().as_ptr().wrapping_add(offset);
                    let err = pool
                        .free(core::ptr::NonNull::new(ptr).unwrap())
                        .unwrap_err();
                    assert_eq!(
                        err,
                        FreeError::Misaligned {
                            addr: ptr as usize,
                            block: index,
                            offset
                        }
                    );
                    rejected = true;
                }
            }
            Op::FreeForeign(n) => {
                let ptr = NonNull::from(&foreign[n % 64]);
                let err = pool.free(ptr).unwrap_err();
                assert!(matches!(err, FreeError::NotInPool { .. }));
                rejected = true;
            }
            _ => {}
        }
        if rejected {
            let map_after: Vec<BlockState> = pool.blocks().map(|b| b.state).collect();
            assert_eq!(map_after, map_before, "a refused free changed the map");
            assert_eq!(pool.free_list().collect::<Vec<_>>(), free_list_before);
        }
        peak = peak.max(live.len());

        // The pool agrees with the model...
        assert_eq!(pool.in_use(), live.len());
        assert_eq!(pool.stats().peak_in_use, peak);
        let in_use: Vec<usize> = pool.leaks().map(|b| b.addr).collect();
        assert_eq!(in_use, live.keys().copied().collect::<Vec<_>>());
        // Every freed block is on exactly one of the lists: none lost, none twice.
        let mut listed: Vec<usize> = pool.free_list().collect();
        listed.sort_unstable();
        let first = pool.layout().blocks;
        let mut free: Vec<usize> = freed.iter().map(|addr| (addr - first) / size).collect();
        free.sort_unstable();
        assert_eq!(listed, free, "the free lists lost or repeated a block");
        // ...and every live block still holds its own pattern. Miri checks one byte a word:
        // the pool writes only whole, aligned words (links) into blocks, so a stray write
        // still shows, at an eighth of the interpreted cost.
        let sample = if cfg!(miri) { size_of::<usize>() } else { 1 };
        for (&addr, &(block, id)) in &live {
            // SAFETY: live blocks are ours and fully written.
            let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), size) };
            assert!(
                bytes.iter().step_by(sample).all(|&b| b == pattern(id)),
                "block at {addr:#x} was overwritten"
            );
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.total_allocs, next_id);
    assert_eq!(stats.total_allocs - stats.total_frees, live.len() as u64);
}

/// Miri interprets every step, so it gets shorter runs of the same test.
const MAX_OPS: usize = if cfg!(miri) { 50 } else { 400 };
/// The largest block of the many-chunks test (under Miri, still enough for several chunks).
const MAX_CHUNKY_BLOCK: usize = if cfg!(miri) { 400 } else { 4096 };

/// Under Miri, fewer cases, and XorShift instead of proptest's default ChaCha for drawing
/// them: Miri interprets ChaCha's SIMD rounds one lane at a time, which cost more than the
/// pool's own code.
fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
            ..ProptestConfig::with_cases(4)
        }
    } else {
        ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pool_matches_model_on_system_memory(
        block_size in 1usize..200,
        block_count in 1usize..64,
        ops in prop::collection::vec(op(), 0..MAX_OPS),
    ) {
        run(Pool::<SystemMemory>::new(block_size, block_count).unwrap(), &ops);
    }

    /// Blocks up to 4 KiB in pools up to 256 KiB: many chunks, each with its own list.
    #[test]
    fn pool_of_many_chunks_matches_model(
        block_size in 1usize..MAX_CHUNKY_BLOCK,
        block_count in 1usize..64,
        ops in prop::collection::vec(op(), 0..MAX_OPS),
    ) {
        run(Pool::<SystemMemory>::new(block_size, block_count).unwrap(), &ops);
    }

    #[test]
    fn pool_matches_model_on_slice_memory(
        block_size in 1usize..100,
        block_count in 1usize..32,
        ops in prop::collection::vec(op(), 0..MAX_OPS / 2),
    ) {
        let mut buffer = vec![0u8; 32 * 8 + 32 * 112];
        run(Pool::new_in(block_size, block_count, SliceMemory::new(&mut buffer)).unwrap(), &ops);
    }
}
