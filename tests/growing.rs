//! Behaviour of `GrowingPool`: it grows by adding regions, never moves a block, and still
//! refuses every misuse with the pool unchanged.

use core::alloc::Layout;
use core::ptr::NonNull;

use memory_pool::{BlockState, FreeError, GrowingPool, SystemMemory};

// On wasm32 these tests also run in a browser, under `wasm-pack test --headless --chrome`.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Writes a pattern derived from `tag` over the whole block.
fn fill(block: NonNull<u8>, size: usize, tag: usize) {
    for offset in 0..size {
        // SAFETY: the block is `size` writable bytes, handed out to us.
        unsafe { block.as_ptr().add(offset).write((tag + offset) as u8) };
    }
}

fn holds(block: NonNull<u8>, size: usize, tag: usize) -> bool {
    // SAFETY: the block is `size` readable bytes, handed out to us.
    (0..size).all(|offset| unsafe { block.as_ptr().add(offset).read() } == (tag + offset) as u8)
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_keep_their_address_and_contents_across_many_growths() {
    let mut pool = GrowingPool::new(24, 1).unwrap();
    let size = pool.block_size();
    let mut held = Vec::new();
    // Miri checks every access, slowly: fewer blocks there, still nine regions.
    let blocks = if cfg!(miri) { 300 } else { 5000 };
    for tag in 0..blocks {
        let block = pool.alloc().unwrap();
        fill(block, size, tag);
        held.push(block);
        if tag.is_power_of_two() {
            // Every earlier block is still where it was, with what we wrote.
            assert!(held.iter().enumerate().all(|(t, &b)| holds(b, size, t)));
        }
    }
    let regions = if cfg!(miri) { 9 } else { 13 }; // 1 + 2 + … + 4096 = 8191 ≥ 5000
    assert_eq!(pool.region_count(), regions);
    assert!(held.iter().enumerate().all(|(t, &b)| holds(b, size, t)));
    let mut addresses: Vec<usize> = held.iter().map(|b| b.as_ptr().addr()).collect();
    addresses.sort_unstable();
    addresses.dedup();
    assert_eq!(addresses.len(), held.len(), "no block handed out twice");
    for block in held {
        pool.free(block).unwrap();
    }
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.stats().total_frees, blocks as u64);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn regions_double_and_capacity_follows() {
    let mut pool = GrowingPool::new(8, 3).unwrap();
    assert_eq!((pool.region_count(), pool.capacity()), (0, 0));
    let _blocks: Vec<_> = (0..22).map(|_| pool.alloc().unwrap()).collect();
    let counts: Vec<usize> = pool.regions().map(|region| region.block_count()).collect();
    assert_eq!(counts, [3, 6, 12, 24]);
    assert_eq!(pool.capacity(), 45);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn freed_blocks_in_old_regions_are_reused_before_growing() {
    let mut pool = GrowingPool::new(16, 2).unwrap();
    let blocks: Vec<_> = (0..6).map(|_| pool.alloc().unwrap()).collect(); // regions 2 + 4
    pool.free(blocks[0]).unwrap();
    pool.free(blocks[4]).unwrap();
    assert_eq!(
        pool.alloc(),
        Some(blocks[0]),
        "oldest region with room first"
    );
    assert_eq!(pool.alloc(), Some(blocks[4]));
    assert_eq!(pool.region_count(), 2);
    let _ = pool.alloc().unwrap();
    assert_eq!(pool.region_count(), 3);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn misuse_is_refused_with_pool_unchanged() {
    let mut pool = GrowingPool::new(32, 2).unwrap();
    let blocks: Vec<_> = (0..7).map(|_| pool.alloc().unwrap()).collect(); // 2 + 4 + 8
    pool.free(blocks[3]).unwrap();
    let before = |pool: &GrowingPool| {
        let states: Vec<Vec<BlockState>> = pool
            .regions()
            .map(|region| region.blocks().map(|block| block.state).collect())
            .collect();
        (states, pool.in_use(), pool.stats().total_frees)
    };
    let snapshot = before(&pool);

    let outside = 0u64;
    let err = pool.free(NonNull::from(&outside).cast()).unwrap_err();
    assert!(matches!(err, FreeError::NotInPool { .. }));

    // Block 3 is the second block of region 1: the index counts across regions.
    let err = pool.free(blocks[3]).unwrap_err();
    assert!(
        matches!(
            err,
            FreeError::DoubleFree {
                block: 3,
                state: BlockState::Free,
                ..
            }
        ),
        "{err:?}"
    );

    let inside = blocks[5].map_addr(|addr| addr.checked_add(8).unwrap());
    let err = pool.free(inside).unwrap_err();
    assert!(
        matches!(
            err,
            FreeError::Misaligned {
                block: 5,
                offset: 8,
                ..
            }
        ),
        "{err:?}"
    );

    // A never-used block of the newest region.
    let last = pool.regions().last().unwrap().block_ptr(7).unwrap();
    let err = pool.free(last).unwrap_err();
    assert!(
        matches!(
            err,
            FreeError::DoubleFree {
                block: 13,
                state: BlockState::NeverUsed,
                ..
            }
        ),
        "{err:?}"
    );

    assert_eq!(before(&pool), snapshot);
    let rejected = pool.stats().rejected;
    assert_eq!(
        (
            rejected.not_in_pool,
            rejected.double_free,
            rejected.misaligned
        ),
        (1, 2, 1)
    );
    assert_eq!(pool.check(blocks[6].as_ptr()), Ok(6));
    assert!(pool.contains(inside.as_ptr()));
    assert!(!pool.contains(&outside as *const u64 as *const u8));
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn alignment_is_honoured_in_every_region() {
    let layout = Layout::from_size_align(96, 64).unwrap();
    let mut pool = GrowingPool::with_layout_in(layout, 1, SystemMemory).unwrap();
    for _ in 0..100 {
        assert_eq!(pool.alloc().unwrap().as_ptr().addr() % 64, 0);
    }
    assert_eq!(pool.block_size(), 128);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn zero_sizes_are_errors() {
    use memory_pool::PoolError;
    assert_eq!(
        GrowingPool::new(0, 4).unwrap_err(),
        PoolError::ZeroBlockSize
    );
    assert_eq!(
        GrowingPool::new(8, 0).unwrap_err(),
        PoolError::ZeroBlockCount
    );
}

/// Found by the `growing_pool` fuzz target: a block size too large for a `Layout` made
/// `GrowingPool::new` answer `TooLarge` ("0 blocks of … bytes do not fit") where `Pool::new`
/// answers `ZeroBlockCount`.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn zero_blocks_of_a_huge_size_are_no_blocks_not_too_large() {
    use memory_pool::{Pool, PoolError};
    for size in [usize::MAX, isize::MAX as usize, isize::MAX as usize - 1] {
        assert_eq!(Pool::new(size, 0).unwrap_err(), PoolError::ZeroBlockCount);
        assert_eq!(
            GrowingPool::new(size, 0).unwrap_err(),
            PoolError::ZeroBlockCount,
            "GrowingPool::new({size}, 0)"
        );
    }
}

/// Found by the `growing_pool` fuzz target (LeakSanitizer): `with_layout_in` is a `const fn`,
/// so it cannot drop a source it refuses and forgets it instead. Documented now; this pins it.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_refused_memory_source_is_forgotten_not_dropped() {
    use core::ptr::NonNull;
    use memory_pool::{MemorySource, PoolError};
    use std::rc::Rc;

    #[derive(Clone)]
    struct Counted(#[allow(dead_code)] Rc<()>);
    // SAFETY: never hands out memory.
    unsafe impl MemorySource for Counted {
        fn acquire(&mut self, _size: usize) -> Option<NonNull<u8>> {
            None
        }
        unsafe fn release(&mut self, _region: NonNull<u8>, _size: usize) {}
    }

    let shared = Rc::new(());
    let layout = Layout::from_size_align(8, 8).unwrap();
    let refused = GrowingPool::with_layout_in(layout, 0, Counted(shared.clone()));
    assert_eq!(refused.unwrap_err(), PoolError::ZeroBlockCount);
    assert_eq!(
        Rc::strong_count(&shared),
        2,
        "forgotten: its count is still held"
    );
    // SAFETY: the forgotten clone's count, given back as its destructor would have.
    unsafe { Rc::decrement_strong_count(Rc::as_ptr(&shared)) };
    let pool = GrowingPool::with_layout_in(layout, 1, Counted(shared.clone())).unwrap();
    drop(pool);
    assert_eq!(
        Rc::strong_count(&shared),
        1,
        "an accepted source is dropped with the pool"
    );
}
