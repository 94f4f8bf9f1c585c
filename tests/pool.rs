//! Behaviour of `Pool`: allocation order, every misuse refused with the pool unchanged,
//! introspection, leaks, layouts and creation errors. Runs natively and (issue 4) on wasm32.

use core::alloc::Layout;
use core::ptr::{without_provenance, without_provenance_mut, NonNull};

use memory_pool::{BlockState, FreeError, MemorySource, Pool, PoolError, SliceMemory};

// On wasm32 these tests also run in a browser, under `wasm-pack test --headless --chrome`.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Everything observable about a pool except the refused-free counters.
#[derive(Debug, PartialEq)]
struct Snapshot {
    states: Vec<BlockState>,
    free_list: Vec<usize>,
    next_never_used: usize,
    in_use: usize,
    total_allocs: u64,
    total_frees: u64,
}

fn snapshot<M: MemorySource>(pool: &Pool<M>) -> Snapshot {
    let stats = pool.stats();
    Snapshot {
        states: pool.blocks().map(|block| block.state).collect(),
        free_list: pool.free_list().collect(),
        next_never_used: pool.next_never_used(),
        in_use: pool.in_use(),
        total_allocs: stats.total_allocs,
        total_frees: stats.total_frees,
    }
}

/// A pool with blocks 0 and 2 in use, 1 free, 3.. never used.
fn pool_with_history() -> (Pool, [NonNull<u8>; 3]) {
    let mut pool = Pool::new(48, 8).unwrap();
    let blocks = [(); 3].map(|_| pool.alloc().unwrap());
    pool.free(blocks[1]).unwrap();
    (pool, blocks)
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_are_handed_out_in_address_order_then_reused_last_freed_first() {
    let mut pool = Pool::new(32, 4).unwrap();
    let blocks: Vec<_> = (0..4).map(|_| pool.alloc().unwrap()).collect();
    for pair in blocks.windows(2) {
        assert_eq!(pair[1].as_ptr() as usize - pair[0].as_ptr() as usize, 32);
    }
    assert_eq!(pool.alloc(), None);
    pool.free(blocks[1]).unwrap();
    pool.free(blocks[3]).unwrap();
    assert_eq!(pool.alloc(), Some(blocks[3]));
    assert_eq!(pool.alloc(), Some(blocks[1]));
    assert_eq!(pool.alloc(), None);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn exhausted_pool_returns_none_and_stays_usable() {
    let mut pool = Pool::new(8, 3).unwrap();
    let blocks: Vec<_> = (0..3).map(|_| pool.alloc().unwrap()).collect();
    let before = snapshot(&pool);
    assert_eq!(pool.alloc(), None);
    assert_eq!(snapshot(&pool), before);
    pool.free(blocks[0]).unwrap();
    assert_eq!(pool.alloc(), Some(blocks[0]));
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn double_free_is_rejected_and_pool_unchanged() {
    let (mut pool, blocks) = pool_with_history();
    let before = snapshot(&pool);
    let err = pool.free(blocks[1]).unwrap_err();
    assert_eq!(
        err,
        FreeError::DoubleFree {
            addr: blocks[1].as_ptr() as usize,
            block: 1,
            state: BlockState::Free
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "double free: block 1 at {:#x} is already free",
            blocks[1].as_ptr() as usize
        )
    );
    assert_eq!(snapshot(&pool), before);
    assert_eq!(pool.stats().rejected.double_free, 1);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn free_of_never_allocated_block_is_rejected_and_pool_unchanged() {
    let (mut pool, _) = pool_with_history();
    let before = snapshot(&pool);
    let never_used = pool.block_ptr(5).unwrap();
    let err = pool.free(never_used).unwrap_err();
    assert!(matches!(
        err,
        FreeError::DoubleFree {
            block: 5,
            state: BlockState::NeverUsed,
            ..
        }
    ));
    assert!(err.to_string().contains("was never allocated"), "{err}");
    assert_eq!(snapshot(&pool), before);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn foreign_pointer_is_rejected_and_pool_unchanged() {
    let (mut pool, _) = pool_with_history();
    let (other_pool, _) = pool_with_history();
    let on_stack = 0u64;
    let layout = pool.layout();
    let foreign = [
        NonNull::from(&on_stack).cast::<u8>(),
        other_pool.block_ptr(0).unwrap(),
        // the pool's own metadata (state bytes) is not a block either
        NonNull::new(without_provenance_mut(layout.base)).unwrap(),
        // one past the last block
        NonNull::new(without_provenance_mut(
            layout.blocks + layout.stride * layout.count,
        ))
        .unwrap(),
        NonNull::new(without_provenance_mut(usize::MAX)).unwrap(),
    ];
    let before = snapshot(&pool);
    for (n, ptr) in foreign.into_iter().enumerate() {
        let err = pool.free(ptr).unwrap_err();
        assert_eq!(
            err,
            FreeError::NotInPool {
                addr: ptr.as_ptr() as usize
            }
        );
        assert!(
            err.to_string().contains("not a block of this pool"),
            "{err}"
        );
        assert_eq!(snapshot(&pool), before);
        assert_eq!(pool.stats().rejected.not_in_pool, n as u64 + 1);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn misaligned_pointer_is_rejected_and_pool_unchanged() {
    let (mut pool, blocks) = pool_with_history();
    let before = snapshot(&pool);
    for (block, offset) in [(0, 1), (0, 8), (2, 47), (1, 24), (5, 3)] {
        let start = pool.block_ptr(block).unwrap();
        // SAFETY: `offset` is within the 48-byte block.
        let inside = unsafe { start.add(offset) };
        let err = pool.free(inside).unwrap_err();
        assert_eq!(
            err,
            FreeError::Misaligned {
                addr: inside.as_ptr() as usize,
                block,
                offset
            }
        );
        assert!(err
            .to_string()
            .contains(&format!("{offset} bytes into block {block}")));
        assert_eq!(snapshot(&pool), before);
    }
    assert_eq!(pool.stats().rejected.misaligned, 5);
    pool.free(blocks[0]).unwrap();
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn check_matches_free_without_changing_anything() {
    let (pool, blocks) = pool_with_history();
    let before = snapshot(&pool);
    assert_eq!(pool.check(blocks[0].as_ptr()), Ok(0));
    assert_eq!(pool.check(blocks[2].as_ptr()), Ok(2));
    assert!(matches!(
        pool.check(blocks[1].as_ptr()),
        Err(FreeError::DoubleFree { .. })
    ));
    assert_eq!(snapshot(&pool), before);
    assert_eq!(pool.stats().rejected.total(), 0);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn contains_covers_every_byte_of_every_block_and_nothing_else() {
    let pool = Pool::new(24, 5).unwrap();
    let layout = pool.layout();
    let end = layout.blocks + layout.stride * layout.count;
    for addr in layout.base..end + 64 {
        let expected = (layout.blocks..end).contains(&addr);
        assert_eq!(
            pool.contains(without_provenance(addr)),
            expected,
            "{addr:#x}"
        );
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_map_free_list_and_stats_follow_history() {
    let mut pool = Pool::new(16, 6).unwrap();
    let b: Vec<_> = (0..5).map(|_| pool.alloc().unwrap()).collect();
    pool.free(b[3]).unwrap();
    pool.free(b[0]).unwrap();
    pool.free(b[4]).unwrap();
    use BlockState::*;
    let states: Vec<_> = pool.blocks().map(|block| block.state).collect();
    assert_eq!(states, [Free, InUse, InUse, Free, Free, NeverUsed]);
    let addrs: Vec<_> = pool.blocks().map(|block| block.addr).collect();
    let expected: Vec<_> = (0..6)
        .map(|i| pool.block_ptr(i).unwrap().as_ptr() as usize)
        .collect();
    assert_eq!(addrs, expected);
    assert_eq!(pool.free_list().collect::<Vec<_>>(), [4, 0, 3]);
    assert_eq!(pool.next_never_used(), 5);
    let stats = pool.stats();
    assert_eq!(stats.in_use, 2);
    assert_eq!(stats.peak_in_use, 5);
    assert_eq!(stats.total_allocs, 5);
    assert_eq!(stats.total_frees, 3);
    assert_eq!(pool.available(), 4);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn leaks_lists_exactly_the_blocks_still_in_use_and_drop_is_clean() {
    let mut pool = Pool::new(64, 10).unwrap();
    let blocks: Vec<_> = (0..6).map(|_| pool.alloc().unwrap()).collect();
    for &block in blocks.iter().step_by(2) {
        pool.free(block).unwrap();
    }
    let leaked: Vec<_> = pool
        .leaks()
        .map(|block| (block.index, block.addr))
        .collect();
    let expected: Vec<_> = [1, 3, 5].map(|i| (i, blocks[i].as_ptr() as usize)).to_vec();
    assert_eq!(leaked, expected);
    drop(pool); // blocks still in use: the region goes back whole, nothing is freed twice
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_do_not_overlap_and_keep_their_bytes() {
    let mut pool = Pool::new(40, 50).unwrap();
    let size = pool.block_size();
    let blocks: Vec<_> = (0..50).map(|_| pool.alloc().unwrap()).collect();
    for (i, block) in blocks.iter().enumerate() {
        // SAFETY: each block is `size` bytes, ours.
        unsafe { block.as_ptr().write_bytes(i as u8, size) };
    }
    for i in (0..50).step_by(3) {
        pool.free(blocks[i]).unwrap();
    }
    for (i, block) in blocks.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        // SAFETY: the block is still in use and was fully written above.
        let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), size) };
        assert!(bytes.iter().all(|&b| b == i as u8), "block {i} changed");
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn block_sizes_are_rounded_up_to_word_alignment() {
    let word = core::mem::size_of::<usize>();
    for (asked, got) in [
        (1, word),
        (word, word),
        (word + 1, 2 * word),
        (100, 100usize.next_multiple_of(word)),
    ] {
        let mut pool = Pool::new(asked, 4).unwrap();
        assert_eq!(pool.block_size(), got, "asked for {asked}");
        let a = pool.alloc().unwrap();
        assert_eq!(a.as_ptr() as usize % core::mem::align_of::<usize>(), 0);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_do_not_straddle_cache_lines_their_stride_fits_in() {
    // However the memory is placed: a 64-byte block fills one cache line, a 16-byte block sits
    // inside one; a 24-byte stride cannot avoid straddling, and is word-aligned.
    let mut buffer = vec![0u8; 8192];
    for start in (0..64).step_by(8) {
        for (size, line_up) in [(16, 16), (64, 64), (128, 64), (192, 64), (24, 8), (48, 16)] {
            let memory = SliceMemory::new(&mut buffer[start..]);
            let mut pool = Pool::new_in(size, 20, memory).unwrap();
            while let Some(block) = pool.alloc() {
                let addr = block.as_ptr() as usize;
                assert_eq!(addr % line_up, 0, "{size}-byte blocks, memory at +{start}");
            }
        }
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn with_layout_respects_large_alignments() {
    for align in [16, 64, 4096, 1 << 16] {
        let layout = Layout::from_size_align(24, align).unwrap();
        let mut pool = Pool::with_layout(layout, 5).unwrap();
        assert_eq!(pool.block_size(), 24usize.next_multiple_of(align));
        while let Some(block) = pool.alloc() {
            assert_eq!(block.as_ptr() as usize % align, 0, "align {align}");
        }
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn creation_errors_are_reported_not_crashed() {
    assert_eq!(Pool::new(0, 10).unwrap_err(), PoolError::ZeroBlockSize);
    assert_eq!(Pool::new(10, 0).unwrap_err(), PoolError::ZeroBlockCount);
    assert!(matches!(
        Pool::new(usize::MAX, 1),
        Err(PoolError::TooLarge { .. })
    ));
    assert!(matches!(
        Pool::new(1 << 20, usize::MAX / 2),
        Err(PoolError::TooLarge { .. })
    ));
    assert!(matches!(
        Pool::new(isize::MAX as usize / 4, 8),
        Err(PoolError::TooLarge { .. })
    ));
    let message = Pool::new(0, 10).unwrap_err().to_string();
    assert_eq!(message, "a pool's blocks must be at least 1 byte");
}

#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(
    miri,
    ignore = "Miri backs mmap with real memory and aborts rather than refuse"
)]
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn huge_pool_that_the_system_refuses_is_an_error() {
    // 2^46 bytes of address space fits in isize but no x86-64 user address space has room
    // for it twice over; whichever error comes, it must be an error.
    let result = Pool::new(1 << 40, 1 << 10);
    assert!(matches!(
        result,
        Err(PoolError::OutOfMemory { .. }) | Err(PoolError::TooLarge { .. })
    ));
}

#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(
    miri,
    ignore = "Miri backs mmap with real zeroed memory: 1 GiB is too slow"
)]
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn one_gibibyte_pool_is_created_without_touching_its_blocks() {
    let mut pool = Pool::new(64, (1 << 30) / 64).unwrap();
    assert_eq!(pool.block_count(), 1 << 24);
    let block = pool.alloc().unwrap();
    pool.free(block).unwrap();
    assert_eq!(pool.free_list().collect::<Vec<_>>(), [0]);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn slice_memory_source_serves_a_pool_and_refuses_a_second() {
    let mut buffer = vec![0xFFu8; 1024];
    let mut pool = Pool::new_in(32, 16, SliceMemory::new(&mut buffer)).unwrap();
    // The state bytes were zeroed even though the buffer was not.
    assert!(pool
        .blocks()
        .all(|block| block.state == BlockState::NeverUsed));
    let a = pool.alloc().unwrap();
    pool.free(a).unwrap();
    drop(pool);
    let mut small = [0u8; 64];
    assert_eq!(
        Pool::new_in(32, 16, SliceMemory::new(&mut small)).unwrap_err(),
        PoolError::OutOfMemory {
            bytes: Pool::region_size(32, 16).unwrap()
        }
    );
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn write_after_free_cannot_make_alloc_hand_out_a_bad_block() {
    let mut pool = Pool::new(16, 4).unwrap();
    let a = pool.alloc().unwrap();
    let b = pool.alloc().unwrap();
    pool.free(a).unwrap();
    // A use-after-free bug overwrites the free-list link inside `a` with block b's address.
    // SAFETY: the block's memory is still mapped; this simulates a buggy program.
    unsafe { a.cast::<*mut u8>().write(b.as_ptr()) };
    // `a` itself is still free and fine to hand out; the damaged link is then detected...
    assert_eq!(pool.alloc(), Some(a));
    // ...and b, which is in use, is never handed out twice.
    let c = pool.alloc().unwrap();
    assert_ne!(c, b);
    assert_eq!(pool.stats().damaged_free_lists, 1);
    assert_eq!(pool.in_use(), 3);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn free_blocks_link_to_the_next_of_their_chunk_by_address_at_staggered_cache_lines() {
    for (block_size, lines) in [(16, 1), (64, 1), (128, 2), (256, 4), (4096, 64), (4104, 64)] {
        let count = 300;
        let mut pool = Pool::new(block_size, count).unwrap();
        let layout = pool.layout();
        let blocks: Vec<_> = (0..count).map(|_| pool.alloc().unwrap()).collect();
        for &block in &blocks {
            pool.free(block).unwrap();
        }
        // Chunks are aligned pieces of memory: a block's is where its address points.
        let chunk_of = |addr: usize| addr / layout.chunk_bytes;
        let mut offsets = std::collections::BTreeSet::new();
        let mut last_in_chunk = std::collections::BTreeMap::new();
        for (index, &block) in blocks.iter().enumerate() {
            let addr = block.as_ptr().addr();
            let link = pool.link_address(index).unwrap();
            let offset = link - addr;
            assert!(offset % 64 == 0 && offset + size_of::<usize>() <= block_size);
            offsets.insert(offset);
            // Blocks were freed in address order, each onto its own chunk's list: it links to
            // the block freed before it in the same chunk, or, if it was the first, to an end
            // mark: an odd address in its chunk.
            let chunk = chunk_of(addr);
            // SAFETY: the link is an aligned word inside a free block of the pool.
            let next = unsafe { block.as_ptr().with_addr(link).cast::<usize>().read() };
            match last_in_chunk.insert(chunk, addr) {
                Some(previous) => assert_eq!(next, previous, "{block_size}: block {index}"),
                None => assert!(
                    next % 2 == 1 && chunk_of(next) == chunk,
                    "{block_size}: {index}"
                ),
            }
        }
        // Neighbouring blocks use every cache line a block of this size offers.
        assert_eq!(offsets.len(), lines, "{block_size}");
        // Every freed block is on one of the lists, once, and they come back in that order.
        let listed: Vec<usize> = pool.free_list().collect();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..count).collect::<Vec<_>>(), "{block_size}");
        for expected in listed {
            let block = pool.alloc().unwrap();
            assert_eq!(pool.check(block.as_ptr()), Ok(expected));
        }
    }
    assert_eq!(Pool::new(8, 1).unwrap().link_address(1), None);
}
