//! Behaviour of `SizeClasses` used directly (not installed): which class serves what,
//! `realloc` in place or moved with the bytes copied, large blocks, alignment, counters.

use core::alloc::{GlobalAlloc, Layout};

use memory_pool::{BlockState, RegionLayout, SizeClasses, SystemMemory, CLASS_SIZES};

// On wasm32 these tests also run in a browser, under `wasm-pack test --headless --chrome`.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Every byte natively; under Miri (slow) every 61st byte (the same ones for every length, so
/// checking a prefix checks only bytes that were written).
fn bytes(len: usize) -> impl Iterator<Item = usize> {
    let step = if cfg!(miri) { 61 } else { 1 };
    (0..len).step_by(step)
}

fn fill(block: *mut u8, len: usize) {
    for i in bytes(len) {
        // SAFETY: the block holds at least `len` bytes, ours.
        unsafe { block.add(i).write(i as u8 ^ 0x5A) };
    }
}

fn holds(block: *const u8, len: usize) -> bool {
    // SAFETY: the block holds at least `len` bytes, ours.
    bytes(len).all(|i| unsafe { block.add(i).read() } == i as u8 ^ 0x5A)
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn small_requests_come_from_their_class_and_go_back_to_it() {
    let allocator = SizeClasses::new();
    let sizes = [1, 9, 24, 48, 100, 1000, 4096, 30_000, 200_000]; // nine different classes
                                                                  // SAFETY: every layout has a non-zero size; each block is freed once with its layout.
    unsafe {
        let blocks: Vec<*mut u8> = sizes
            .iter()
            .map(|&s| allocator.alloc(layout(s, 1)))
            .collect();
        for (&size, &block) in sizes.iter().zip(&blocks) {
            assert!(!block.is_null());
            let class = SizeClasses::class_for(layout(size, 1)).unwrap();
            assert_eq!(
                allocator.class_stats(class).unwrap().stats.in_use,
                1,
                "size {size}"
            );
            fill(block, size);
        }
        for (&size, &block) in sizes.iter().zip(&blocks) {
            assert!(holds(block, size));
            allocator.dealloc(block, layout(size, 1));
        }
    }
    for class in 0..CLASS_SIZES.len() {
        assert_eq!(allocator.class_stats(class).unwrap().stats.in_use, 0);
    }
    assert_eq!(allocator.large_stats().total_allocs, 0);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn realloc_within_a_class_stays_in_place() {
    let allocator = SizeClasses::new();
    // SAFETY: non-zero sizes; the block is passed back with the layout it has now.
    unsafe {
        let block = allocator.alloc(layout(100, 8)); // 128 B class
        fill(block, 100);
        let grown = allocator.realloc(block, layout(100, 8), 128);
        assert_eq!(grown, block);
        let shrunk = allocator.realloc(grown, layout(128, 8), 97);
        assert_eq!(shrunk, block);
        assert!(holds(shrunk, 97));
        allocator.dealloc(shrunk, layout(97, 8));
    }
    let large = allocator.large_stats();
    assert_eq!((large.reallocs_in_place, large.reallocs_moved), (2, 0));
    assert_eq!(allocator.class_stats(6).unwrap().stats.in_use, 0);
}

/// A block shrunk to a smaller class by less than half stays where it is; freed later with
/// its new layout, it is found in its real class, checked as any other (a second free is
/// refused there), also when shrunk twice or freed by another thread. Natively only: on
/// wasm32, whose linear memory never shrinks, a smaller class always moves the block.
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn realloc_shrinking_by_less_than_half_stays_in_place() {
    let allocator = SizeClasses::new();
    let class = |size| SizeClasses::class_for(layout(size, 8)).unwrap();
    // SAFETY: non-zero sizes; each block is passed back with the layout it has now, and
    // freed once but for the double free, which the allocator refuses.
    unsafe {
        let block = allocator.alloc(layout(3000, 8)); // 3 KiB class
        fill(block, 3000);
        let shrunk = allocator.realloc(block, layout(3000, 8), 2000); // 2 KiB class asked
        assert_eq!(shrunk, block);
        assert!(holds(shrunk, 2000));
        // Twice: 2000 → 1100 (the 1536 B class; at least half of the 2 KiB asked before).
        let again = allocator.realloc(shrunk, layout(2000, 8), 1100);
        assert_eq!(again, block);
        assert!(holds(again, 1100));
        // Less than half: moved, and the old block freed from its real class.
        let moved = allocator.realloc(again, layout(1100, 8), 500);
        assert_ne!(moved, block);
        assert!(holds(moved, 500));
        assert_eq!(allocator.class_stats(class(3000)).unwrap().stats.in_use, 0);
        allocator.dealloc(moved, layout(500, 8));

        // Freed with the smaller layout, by this thread, then again (refused).
        let block = allocator.alloc(layout(3000, 8));
        let shrunk = allocator.realloc(block, layout(3000, 8), 2000);
        assert_eq!(shrunk, block);
        allocator.dealloc(shrunk, layout(2000, 8));
        assert_eq!(allocator.class_stats(class(3000)).unwrap().stats.in_use, 0);
        allocator.dealloc(shrunk, layout(2000, 8));
        let real = allocator.class_stats(class(3000)).unwrap().stats;
        assert_eq!(real.rejected.double_free, 1);
        let asked = allocator.class_stats(class(2000)).unwrap().stats;
        assert_eq!(asked.rejected.total() + asked.total_frees, 0);
    }
    // By another thread (another shard).
    {
        // SAFETY: as above; the block is used by one thread at a time.
        let block = unsafe { allocator.alloc(layout(3000, 8)) };
        // SAFETY: as above.
        let shrunk = Handed(unsafe { allocator.realloc(block, layout(3000, 8), 2000) });
        assert_eq!(shrunk.0, block);
        std::thread::scope(|scope| {
            let allocator = &allocator;
            scope.spawn(move || {
                let Handed(shrunk) = { shrunk }; // the whole wrapper moves in, not its field
                                                 // SAFETY: as above; the block with the layout `realloc` left it with, once.
                unsafe { allocator.dealloc(shrunk, layout(2000, 8)) }
            });
        });
    }
    let large = allocator.large_stats();
    assert_eq!(large.reallocs_moved, 1);
    for class in 0..CLASS_SIZES.len() {
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(stats.in_use, 0, "class {class}");
        assert_eq!(stats.total_allocs, stats.total_frees, "class {class}");
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn realloc_across_classes_moves_and_copies_the_bytes() {
    let allocator = SizeClasses::new();
    // SAFETY: as above.
    unsafe {
        let mut block = allocator.alloc(layout(10, 1));
        let mut size = 10;
        fill(block, size);
        // Up through the classes (the page classes too) and into large blocks, then back down.
        for new_size in [
            20, 40, 200, 3000, 5000, 40_000, 100_000, 700_000, 2_000_000, 3_000_000, 4000, 50, 3,
        ] {
            let moved = allocator.realloc(block, layout(size, 1), new_size);
            assert!(!moved.is_null());
            assert!(holds(moved, size.min(new_size)), "{size} → {new_size}");
            block = moved;
            size = new_size;
            fill(block, size);
        }
        allocator.dealloc(block, layout(size, 1));
    }
    let large = allocator.large_stats();
    assert_eq!(large.reallocs_moved, 13);
    assert_eq!(
        (large.total_allocs, large.total_frees, large.in_use),
        (2, 2, 0)
    );
    for class in 0..CLASS_SIZES.len() {
        assert_eq!(allocator.class_stats(class).unwrap().stats.in_use, 0);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn large_realloc_within_the_same_pages_stays_in_place() {
    let allocator = SizeClasses::new();
    // SAFETY: as above.
    unsafe {
        let block = allocator.alloc(layout(2_000_000, 8)); // 489 pages
        fill(block, 2_000_000);
        assert_eq!(
            allocator.realloc(block, layout(2_000_000, 8), 489 * 4096),
            block
        );
        assert_eq!(allocator.large_stats().bytes_in_use, 489 * 4096);
        assert!(holds(block, 2_000_000));
        allocator.dealloc(block, layout(489 * 4096, 8));
    }
    let large = allocator.large_stats();
    assert_eq!(
        (large.in_use, large.bytes_in_use, large.peak_bytes_in_use),
        (0, 0, 489 * 4096)
    );
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_alignment_up_to_1_mib_is_honoured() {
    let allocator = SizeClasses::new();
    for align in (0..=20).map(|shift| 1usize << shift) {
        // Large blocks (above 1 MiB) are whole pages: aligned to 4 KiB, no more.
        let large = if align <= 4096 { 1_100_000 } else { 1 };
        for size in [1, 7, 33, 100, 700, 3000, 5000, 20_000, 300_000, large] {
            // SAFETY: non-zero size; freed with the same layout.
            unsafe {
                let block = allocator.alloc(layout(size, align));
                assert!(!block.is_null());
                assert_eq!(block.addr() % align, 0, "size {size} align {align}");
                fill(block, size);
                allocator.dealloc(block, layout(size, align));
            }
        }
    }
    // Large blocks are page-aligned: beyond the classes and a page, the allocator says no
    // rather than misalign.
    // SAFETY: non-zero sizes.
    unsafe {
        assert!(allocator.alloc(layout(64, 2 << 20)).is_null());
        assert!(allocator.alloc(layout(1_100_000, 8192)).is_null());
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_foreign_or_double_free_is_refused_and_counted() {
    let allocator = SizeClasses::new();
    let mut local = [0u64; 4];
    // SAFETY: deliberately wrong frees: the allocator must refuse them without touching
    // anything (its pools check every pointer).
    unsafe {
        let block = allocator.alloc(layout(16, 8));
        allocator.dealloc(local.as_mut_ptr().cast(), layout(16, 8));
        allocator.dealloc(block, layout(16, 8));
        allocator.dealloc(block, layout(16, 8));
    }
    let stats = allocator.class_stats(1).unwrap().stats;
    assert_eq!(stats.in_use, 0);
    assert_eq!(
        (stats.rejected.not_in_pool, stats.rejected.double_free),
        (1, 1)
    );
    assert_eq!(local, [0; 4]);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_memory_map_is_copied_out_without_allocating() {
    let allocator = SizeClasses::new();
    // SAFETY: non-zero sizes; the first block is freed once.
    let blocks: Vec<*mut u8> = (0..3)
        .map(|_| unsafe { allocator.alloc(layout(64, 8)) })
        .collect();
    // SAFETY: as above.
    unsafe { allocator.dealloc(blocks[1], layout(64, 8)) };
    let mut regions = [RegionLayout::default(); 4];
    assert_eq!(allocator.class_regions(4, &mut regions), 1);
    assert_eq!(regions[0].stride, 64);
    assert_eq!(regions[0].blocks, blocks[0].addr());
    let mut states = [0u8; 5];
    let count = allocator.class_block_states(4, 0, &mut states);
    assert_eq!(count, regions[0].count);
    let expected = [
        BlockState::InUse,
        BlockState::Free,
        BlockState::InUse,
        BlockState::NeverUsed,
        BlockState::NeverUsed,
    ];
    assert_eq!(states, expected.map(|state| state as u8));
    assert_eq!(allocator.class_block_states(4, 1, &mut states), 0);
    let stats = allocator.class_stats(4).unwrap();
    assert_eq!(
        (stats.regions, stats.stats.in_use, stats.stats.peak_in_use),
        (1, 2, 3)
    );
}

/// A block's pointer, handed from the thread that allocated it to another.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy)]
struct Handed(*mut u8);

// SAFETY: the tests hand each block to exactly one other thread, which alone uses it then.
#[cfg(not(target_arch = "wasm32"))]
unsafe impl Send for Handed {}
#[cfg(not(target_arch = "wasm32"))]
// SAFETY: shared only to be read (the pointer itself), never written through by two threads.
unsafe impl Sync for Handed {}

/// Native only (wasm32 here is one thread): blocks allocated by one thread are freed by
/// another (each thread allocates from its own shard), and a second free of such a block is
/// refused and counted once, wherever it was allocated.
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn blocks_freed_by_another_thread_go_back_to_their_own_shard() {
    let allocator = SizeClasses::new();
    let per_thread = if cfg!(miri) { 20 } else { 2000 };
    let sizes = [24, 100, 3000, 70_000];
    // Each thread allocates its blocks and hands their addresses over.
    let handed: Vec<Vec<(Handed, usize)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let allocator = &allocator;
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            let size = sizes[i % sizes.len()];
                            // SAFETY: a non-zero size.
                            let block = unsafe { allocator.alloc(layout(size, 8)) };
                            assert!(!block.is_null());
                            fill(block, size.min(64));
                            (Handed(block), size)
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Each thread frees the other's blocks, at the same time.
    std::thread::scope(|scope| {
        for blocks in handed.iter().rev() {
            let allocator = &allocator;
            scope.spawn(move || {
                for &(Handed(block), size) in blocks {
                    assert!(holds(block, size.min(64)));
                    // SAFETY: allocated by `allocator` with this layout, freed once.
                    unsafe { allocator.dealloc(block, layout(size, 8)) };
                }
            });
        }
    });
    for &size in &sizes {
        let class = SizeClasses::class_for(layout(size, 8)).unwrap();
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(stats.in_use, 0, "size {size}");
        assert_eq!(stats.total_frees, stats.total_allocs, "size {size}");
        assert_eq!(stats.rejected.total(), 0, "size {size}");
    }
    // A second free of a block another thread allocated: refused once, nothing changed.
    let (Handed(block), size) = handed[0][0];
    let class = SizeClasses::class_for(layout(size, 8)).unwrap();
    // SAFETY: a deliberate double free, which the classes refuse.
    unsafe { allocator.dealloc(block, layout(size, 8)) };
    let stats = allocator.class_stats(class).unwrap().stats;
    assert_eq!((stats.in_use, stats.rejected.double_free), (0, 1));
    assert_eq!(stats.rejected.total(), 1);
}

/// No class has a block in use or a refused free.
fn assert_every_class_empty_and_unrefused(allocator: &SizeClasses) {
    for class in 0..CLASS_SIZES.len() {
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(
            (stats.in_use, stats.rejected.total()),
            (0, 0),
            "class {class}"
        );
    }
}

/// Bytes of class `class`'s blocks handed out at least once since their region was made or
/// last gave its memory back (the rest read as never used): what the class may hold resident.
fn class_touched(allocator: &SizeClasses, class: usize) -> usize {
    let regions = allocator.class_regions(class, &mut []);
    let mut touched = 0;
    for region in 0..regions {
        let mut states = vec![0u8; allocator.class_block_states(class, region, &mut [])];
        allocator.class_block_states(class, region, &mut states);
        touched += states
            .iter()
            .filter(|&&state| state != BlockState::NeverUsed as u8)
            .count();
    }
    touched * CLASS_SIZES[class]
}

/// Memory given back: once a class is at most a quarter in use, its empty regions of
/// `DECOMMIT_FROM` bytes or more give their memory back (their addresses kept), all but the
/// smallest, kept as a spare; provided the class has handed out four times those bytes since
/// it last gave any back.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_mostly_idle_class_gives_its_empty_regions_back() {
    let allocator = SizeClasses::new();
    let sizes: &[usize] = if cfg!(miri) {
        &[40_000]
    } else {
        &[40_000, 100_000, 300_000, 900_000]
    };
    const { assert!(memory_pool::DECOMMIT_FROM <= 4 * 40_000) };
    for &size in sizes {
        let class = SizeClasses::class_for(layout(size, 8)).unwrap();
        // SAFETY: a non-zero size.
        let first = unsafe { allocator.alloc(layout(size, 8)) };
        assert!(!first.is_null());
        // Blocks in the class's first region: natively 1 MiB of them, at least 4 (the
        // system's memory commits lazily); on wasm32 one, and the class grows gently.
        let n = allocator.class_stats(class).unwrap().capacity;
        let doubling = cfg!(not(target_arch = "wasm32"));
        // Natively its regions hold n, 2n, 4n and 8n blocks (15n), at least 160 KB each.
        let count = if doubling { 15 * n } else { 60 };
        let mut blocks = vec![first];
        // SAFETY: non-zero sizes; each block freed once, with its layout.
        blocks.extend((1..count).map(|_| unsafe { allocator.alloc(layout(size, 8)) }));
        assert!(blocks.iter().all(|block| !block.is_null()));
        for &block in &blocks {
            // Every page written, so every page is resident.
            for offset in (0..size).step_by(4096) {
                // SAFETY: inside the block, ours.
                unsafe { block.add(offset).write(1) };
            }
        }
        if doubling {
            assert_eq!(allocator.class_stats(class).unwrap().regions, 4);
        }
        assert!(allocator.touched_bytes() >= count * CLASS_SIZES[class]);
        // The credit: the last block freed and allocated again (it comes back from the free
        // list) until more than 4 × the 12n blocks that will go back were handed out.
        for _ in 0..48 * n {
            // SAFETY: as above.
            unsafe {
                allocator.dealloc(blocks[count - 1], layout(size, 8));
                blocks[count - 1] = allocator.alloc(layout(size, 8));
            }
        }
        // Regions 1, 2 and 3 emptied, region 0's n blocks still in use: a fifteenth.
        for &block in &blocks[n..] {
            // SAFETY: as above.
            unsafe { allocator.dealloc(block, layout(size, 8)) };
        }
        if cfg!(all(unix, not(miri))) {
            // Region 1 (2n blocks) kept as the spare; regions 2 and 3 gave their memory back.
            let touched = class_touched(&allocator, class);
            assert_eq!(touched, 3 * n * CLASS_SIZES[class], "class {class}");
            let mut states = [0u8; 16];
            allocator.class_block_states(class, 2, &mut states);
            assert_eq!(states, [BlockState::NeverUsed as u8; 16]);
            // They serve again, as before.
            // SAFETY: a non-zero size; freed once.
            unsafe {
                let block = allocator.alloc(layout(size, 8));
                fill(block, size);
                assert!(holds(block, size));
                allocator.dealloc(block, layout(size, 8));
            }
        } else {
            // wasm32's linear memory cannot shrink, and Miri has no madvise: the memory stays.
            assert_eq!(allocator.decommits(), 0);
        }
        for &block in &blocks[..n] {
            // SAFETY: as above.
            unsafe { allocator.dealloc(block, layout(size, 8)) };
        }
    }
    assert_every_class_empty_and_unrefused(&allocator);
}

/// Without the credit (few blocks handed out since the class last gave memory back), an
/// emptied region keeps its memory: crossing a quarter back and forth costs no system call.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_region_not_paid_for_keeps_its_memory() {
    let allocator = SizeClasses::new();
    let size = 100_000;
    let class = SizeClasses::class_for(layout(size, 8)).unwrap();
    // SAFETY: non-zero sizes; each block freed once, with its layout.
    let blocks: Vec<*mut u8> = (0..60)
        .map(|_| unsafe { allocator.alloc(layout(size, 8)) })
        .collect();
    for &block in &blocks[4..] {
        // SAFETY: as above.
        unsafe { allocator.dealloc(block, layout(size, 8)) };
    }
    // 60 handed out, fewer than 4 × the 48 that would go back: all 60 stay touched.
    assert_eq!(allocator.decommits(), 0);
    assert_eq!(class_touched(&allocator, class), 60 * CLASS_SIZES[class]);
    for &block in &blocks[..4] {
        // SAFETY: as above.
        unsafe { allocator.dealloc(block, layout(size, 8)) };
    }
}

/// A class whose every block is free, after 64 allocations or more since it last did so and
/// no more than four per block it touched (it filled, then emptied), gives all its memory
/// back, its first region and its spare too: after a program frees everything, the classes
/// hold nothing resident.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn an_emptied_class_gives_back_even_its_first_region() {
    let allocator = SizeClasses::new();
    let count = if cfg!(miri) { 130 } else { 3000 };
    // Small classes (first regions of 60 KiB, below DECOMMIT_FROM), a page class, a large one.
    let sizes = [8, 40, 3000, 70_000, 900_000];
    let blocks: Vec<(*mut u8, usize)> = (0..count)
        .map(|i| {
            // Fewer of the large ones, but more than 64 of each size.
            let size = sizes[i % sizes.len()];
            // SAFETY: a non-zero size.
            let block = unsafe { allocator.alloc(layout(size, 8)) };
            assert!(!block.is_null());
            fill(block, size.min(8192));
            (block, size)
        })
        .collect();
    assert!(allocator.touched_bytes() > 0);
    let (last, rest) = blocks.split_last().unwrap();
    for &(block, size) in rest {
        // SAFETY: allocated above with this layout, freed once.
        unsafe { allocator.dealloc(block, layout(size, 8)) };
    }
    // SAFETY: as above.
    unsafe { allocator.dealloc(last.0, layout(last.1, 8)) };
    if cfg!(all(unix, not(miri))) {
        assert_eq!(allocator.touched_bytes(), 0);
        // At least one region a size went back (the first regions of the small classes too).
        assert!(allocator.decommits() >= sizes.len() as u64);
    } else {
        assert_eq!(allocator.decommits(), 0);
    }
    // Nothing lost: each class serves again, bytes intact.
    for size in sizes {
        // SAFETY: a non-zero size; freed once.
        unsafe {
            let block = allocator.alloc(layout(size, 8));
            fill(block, size.min(8192));
            assert!(holds(block, size.min(8192)));
            allocator.dealloc(block, layout(size, 8));
        }
    }
    assert_every_class_empty_and_unrefused(&allocator);
}

/// One block allocated and freed over and over empties its class every time. Its memory is a
/// working set in use, not idle: the class keeps it (each give-back would cost a system call,
/// and page faults to fill the block again). Once the class fills with many blocks and
/// empties, having handed out no more than four blocks per block touched since, it gives
/// everything back.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_class_emptied_over_and_over_keeps_its_memory_until_it_fills_and_empties() {
    let allocator = SizeClasses::new();
    let size = 70_000;
    let class = SizeClasses::class_for(layout(size, 8)).unwrap();
    let rounds = if cfg!(miri) { 130 } else { 640 };
    for _ in 0..rounds {
        // SAFETY: a non-zero size; freed once, with its layout.
        unsafe {
            let block = allocator.alloc(layout(size, 8));
            assert!(!block.is_null());
            block.write(7);
            allocator.dealloc(block, layout(size, 8));
        }
    }
    assert_eq!(allocator.decommits(), 0);
    assert_eq!(class_touched(&allocator, class), CLASS_SIZES[class]);
    // Now a phase that fills the class: `rounds` + 1 blocks handed out since the class last
    // gave anything back, against the `blocks` it touches, fewer than four each.
    let blocks: Vec<*mut u8> = (0..rounds / 2)
        .map(|_| {
            // SAFETY: a non-zero size.
            let block = unsafe { allocator.alloc(layout(size, 8)) };
            assert!(!block.is_null());
            fill(block, size);
            block
        })
        .collect();
    for &block in &blocks {
        // SAFETY: allocated above with this layout, freed once.
        unsafe { allocator.dealloc(block, layout(size, 8)) };
    }
    if cfg!(all(unix, not(miri))) {
        assert!(allocator.decommits() > 0);
        assert_eq!(class_touched(&allocator, class), 0);
    } else {
        assert_eq!(allocator.decommits(), 0);
    }
    let stats = allocator.class_stats(class).unwrap().stats;
    assert_eq!((stats.in_use, stats.rejected.total()), (0, 0));
}

/// A large block resized to another large size keeps its bytes; natively (Linux) the pages
/// are moved by `mremap`, not copied, and the counters read as for any moved `realloc`.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn large_realloc_to_other_pages_keeps_the_bytes() {
    let allocator = SizeClasses::new();
    // SAFETY: non-zero sizes; the block is passed back with the layout it has now.
    unsafe {
        let block = allocator.alloc(layout(1_500_000, 4096));
        fill(block, 1_500_000);
        let grown = allocator.realloc(block, layout(1_500_000, 4096), 6_000_000);
        assert!(!grown.is_null());
        assert_eq!(grown.addr() % 4096, 0);
        assert!(holds(grown, 1_500_000));
        fill(grown, 6_000_000);
        let shrunk = allocator.realloc(grown, layout(6_000_000, 4096), 2_000_000);
        assert!(holds(shrunk, 2_000_000));
        allocator.dealloc(shrunk, layout(2_000_000, 4096));
    }
    let large = allocator.large_stats();
    assert_eq!(
        (
            large.in_use,
            large.bytes_in_use,
            large.total_allocs,
            large.total_frees
        ),
        (0, 0, 3, 3)
    );
    assert_eq!(large.reallocs_moved, 2);
    // Counted as alloc-then-free: at the shrink, 6 MB and 2 MB were both "in use".
    assert_eq!(large.peak_bytes_in_use, 6_000_640 + 2_002_944);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn the_allocator_itself_stays_small() {
    // What a `static` of it costs before its first allocation: zeroed memory (on wasm32,
    // linear memory from the start), mostly each class's inline region slots. Measured:
    // 245 760 B on x86-64 for 43 classes with 24 slots each (33 classes: 188 416 B, and
    // 371 968 B with 48 slots); on wasm32, with the 25 region slots per class its gentle
    // growth needs, 156 032 B for 43 classes (33 classes: 119 296 B; 77 568 B with 16
    // slots for doubling, 225 408 B with 48). Each class's lock and cache of freed blocks
    // add 128 B: 252 032 B on x86-64.
    let bytes = size_of::<SizeClasses>();
    let bound = if cfg!(target_pointer_width = "64") {
        256_000
    } else {
        166_000
    };
    assert!(bytes <= bound, "SizeClasses is {bytes} B, over {bound}");
}

/// wasm32, where linear memory never shrinks: a class aligned as much as its block (the
/// 128 KiB class) takes one block's bytes and its bookkeeping, not one more block of room to
/// align it, because linear memory places the region so that the block falls aligned.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn on_wasm32_a_class_region_keeps_no_room_to_align_its_blocks() {
    let allocator = SizeClasses::new();
    let layout = layout(120_000, 8);
    let class = SizeClasses::class_for(layout).unwrap();
    assert_eq!(CLASS_SIZES[class], 131_072);
    // SAFETY: a non-zero size; freed once, with its layout.
    let block = unsafe { allocator.alloc(layout) };
    assert_eq!(block.addr() % 131_072, 0);
    let mut regions = [RegionLayout::default(); 1];
    assert_eq!(allocator.class_regions(class, &mut regions), 1);
    assert_eq!(regions[0].count, 1, "a first region of one block");
    assert!(
        regions[0].size <= 131_072 + 4096,
        "{} bytes",
        regions[0].size
    );
    // SAFETY: allocated above with this layout.
    unsafe { allocator.dealloc(block, layout) };
}

/// A block freed while others of its class are in use waits in the class's cache (marked, so
/// that a second `free` of it is refused) and is handed out again before any other. (An
/// allocator with one shard, which has no thread caches: so the block waits in its class's.)
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_cached_block_freed_twice_is_refused_and_handed_out_once() {
    let allocator = SizeClasses::new_in(SystemMemory);
    let block_layout = layout(64, 8);
    let class = SizeClasses::class_for(block_layout).unwrap();
    // SAFETY: non-zero sizes; the second free of `b` is the deliberate misuse under test,
    // which the allocator must refuse.
    unsafe {
        let [a, b, c] = [(); 3].map(|_| allocator.alloc(block_layout));
        allocator.dealloc(b, block_layout);
        allocator.dealloc(b, block_layout);
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(stats.rejected.double_free, 1);
        assert_eq!(
            (stats.in_use, stats.total_allocs, stats.total_frees),
            (2, 3, 1)
        );
        let again = allocator.alloc(block_layout);
        let next = allocator.alloc(block_layout);
        assert_eq!(again, b, "the cached block comes back first");
        assert!(![a, b, c].contains(&next), "and only once");
        for block in [a, again, c, next] {
            allocator.dealloc(block, block_layout);
        }
    }
    let stats = allocator.class_stats(class).unwrap().stats;
    assert_eq!(
        (stats.in_use, stats.total_allocs, stats.total_frees),
        (0, 5, 5)
    );
    assert_eq!(stats.peak_in_use, 4);
}

/// A use-after-free that writes over the link of a block waiting in a class's cache (here,
/// with the address of a block in use) makes the cache drop what it holds, counted, rather
/// than hand out that address: the allocator stays consistent.
#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_use_after_free_over_a_cached_link_hands_out_no_block_in_use() {
    // One shard, no thread caches (whose stacks keep no links in the blocks).
    let allocator = SizeClasses::new_in(SystemMemory);
    let block_layout = layout(64, 8);
    let class = SizeClasses::class_for(block_layout).unwrap();
    // SAFETY: non-zero sizes. Writing into `c` after freeing it is the misuse under test:
    // the memory is still the allocator's (a region of its class), so the write lands there.
    unsafe {
        let [a, b, c, d] = [(); 4].map(|_| allocator.alloc(block_layout));
        allocator.dealloc(b, block_layout);
        allocator.dealloc(c, block_layout);
        // A 64-byte free block keeps its link in its first word.
        c.cast::<*mut u8>().write(a);
        let first = allocator.alloc(block_layout);
        let second = allocator.alloc(block_layout);
        assert_eq!(first, c);
        assert!(![a, b, c, d].contains(&second), "{second:p} is not free");
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(stats.damaged_free_lists, 1);
        assert_eq!(stats.in_use, 4);
        for block in [a, first, second, d] {
            allocator.dealloc(block, block_layout);
        }
        // `b` was lost with the cache's damaged stack: never handed out again, and never
        // freed twice either.
        allocator.dealloc(b, block_layout);
    }
    let stats = allocator.class_stats(class).unwrap().stats;
    assert_eq!((stats.in_use, stats.rejected.double_free), (0, 1));
}

/// `count` blocks of `block_layout` from `allocator`.
#[cfg(not(target_arch = "wasm32"))]
fn alloc_blocks(allocator: &SizeClasses, block_layout: Layout, count: usize) -> Vec<*mut u8> {
    // SAFETY: non-zero sizes.
    let blocks: Vec<_> = (0..count)
        .map(|_| unsafe { allocator.alloc(block_layout) })
        .collect();
    assert!(blocks.iter().all(|block| !block.is_null()));
    blocks
}

/// A block freed into the calling thread's cache (natively, with [`SizeClasses::new`]) is
/// marked, so a second `free` of it is refused, on this thread or another; it comes back on
/// this thread's next allocations, once; the counts are the program's throughout. And the
/// cache's stack keeps no link in its blocks: a use-after-free writing over them damages
/// nothing (a class's own cache would drop its stack, see the test above).
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn a_block_in_a_threads_cache_freed_twice_is_refused_on_any_thread() {
    let allocator = SizeClasses::new();
    let block_layout = layout(64, 8);
    let class = SizeClasses::class_for(block_layout).unwrap();
    let blocks = alloc_blocks(&allocator, block_layout, 64);
    let freed = &blocks[..8];
    // SAFETY: each block freed once with its layout, but for the deliberate second frees
    // under test; the writes after the free are the use-after-free under test, into memory
    // that is still the allocator's (a region of the class).
    unsafe {
        for &block in freed {
            allocator.dealloc(block, block_layout);
            block.cast::<usize>().write(0xDEAD_BEEF);
        }
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(
            (stats.in_use, stats.total_allocs, stats.total_frees),
            (56, 64, 8)
        );
        allocator.dealloc(freed[7], block_layout);
        let (twice, shared) = (&Handed(freed[6]), &allocator);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let Handed(block) = *twice;
                shared.dealloc(block, block_layout)
            });
        });
        let stats = allocator.class_stats(class).unwrap().stats;
        assert_eq!(stats.rejected.double_free, 2);
        assert_eq!((stats.in_use, stats.total_frees), (56, 8));
        let mut again = alloc_blocks(&allocator, block_layout, 8);
        let mut expected = freed.to_vec();
        again.sort();
        expected.sort();
        assert_eq!(again, expected, "the freed blocks come back, each once");
        assert_eq!(
            allocator
                .class_stats(class)
                .unwrap()
                .stats
                .damaged_free_lists,
            0
        );
        for block in again.into_iter().chain(blocks[8..].iter().copied()) {
            allocator.dealloc(block, block_layout);
        }
    }
    let stats = allocator.class_stats(class).unwrap().stats;
    assert_eq!(
        (stats.in_use, stats.total_allocs, stats.total_frees),
        (0, 72, 72)
    );
}

/// A thread that ends gives the blocks in its cache back to its shard: the class's pool
/// then has every block free, and the counts (which no longer see the thread) are exact.
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn a_thread_that_ends_gives_its_cached_blocks_back() {
    let allocator = SizeClasses::new();
    let block_layout = layout(200, 8);
    let class = SizeClasses::class_for(block_layout).unwrap();
    let worker = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let blocks = alloc_blocks(&allocator, block_layout, 100);
                for &block in &blocks[..40] {
                    // SAFETY: each block freed once, with its layout.
                    unsafe { allocator.dealloc(block, block_layout) };
                }
                // Some of the 40 wait in this thread's cache: the counts say freed anyway.
                let stats = allocator.class_stats(class).unwrap().stats;
                assert_eq!((stats.in_use, stats.total_frees), (60, 40));
                blocks[40..]
                    .iter()
                    .map(|&block| Handed(block))
                    .collect::<Vec<_>>()
            })
            // Joined explicitly: that waits for the thread's end, its thread-locals' too.
            .join()
            .unwrap()
    });
    let stats = allocator.class_stats(class).unwrap().stats;
    assert_eq!((stats.in_use, stats.total_frees), (60, 40));
    for Handed(block) in worker {
        // SAFETY: the worker's blocks still in use, each freed once, with its layout.
        unsafe { allocator.dealloc(block, block_layout) };
    }
    assert_every_class_empty_and_unrefused(&allocator);
}

/// An allocator dropped while a thread whose cache served it still runs: the thread's cache
/// forgets it (its memory is gone), and serves the next allocator the thread uses; the end
/// of the thread touches neither.
#[test]
#[cfg(not(target_arch = "wasm32"))]
fn a_dropped_allocator_is_forgotten_by_the_threads_that_cached_for_it() {
    use std::sync::{mpsc, Arc};
    let first = Arc::new(SizeClasses::new());
    let (dropped, wait) = mpsc::channel::<()>();
    let (used, wait_used) = mpsc::channel::<()>();
    let block_layout = layout(64, 8);
    let class = SizeClasses::class_for(block_layout).unwrap();
    let worker = {
        let first = Arc::clone(&first);
        std::thread::spawn(move || {
            let blocks = alloc_blocks(&first, block_layout, 64);
            for block in blocks {
                // SAFETY: each block freed once, with its layout.
                unsafe { first.dealloc(block, block_layout) };
            }
            drop(first);
            used.send(()).unwrap();
            wait.recv().unwrap();
            let second = SizeClasses::new();
            let blocks = alloc_blocks(&second, block_layout, 64);
            for &block in &blocks[..32] {
                // SAFETY: as above.
                unsafe { second.dealloc(block, block_layout) };
            }
            let stats = second.class_stats(class).unwrap().stats;
            assert_eq!((stats.in_use, stats.total_frees), (32, 32));
            for &block in &blocks[32..] {
                // SAFETY: as above.
                unsafe { second.dealloc(block, block_layout) };
            }
            assert_every_class_empty_and_unrefused(&second);
        })
    };
    wait_used.recv().unwrap();
    // The worker's cache still serves `first` (it holds blocks of it, maybe): dropped now.
    drop(Arc::into_inner(first).expect("the worker dropped its handle"));
    dropped.send(()).unwrap();
    worker.join().unwrap();
}
