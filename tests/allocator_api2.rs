//! The `allocator-api2` feature: allocator-api2's `Vec` and `Box` and hashbrown's `HashMap`
//! with `&SizeClasses` and `&TypedPool` as their allocator, and every bad request the trait
//! can receive, each refused (or served as the trait says) with the pool unchanged.
#![cfg(feature = "allocator-api2")]

use core::alloc::Layout;
use core::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator};
use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use hashbrown::HashMap;
use memory_pool::{BufferMemory, MemorySource, PoolStats, SizeClasses, TypedPool, CLASS_SIZES};

// On wasm32 these tests also run in a browser, under `wasm-pack test --headless --chrome`.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Blocks in use across every class.
fn classes_in_use<M: MemorySource + Clone>(classes: &SizeClasses<M>) -> usize {
    (0..CLASS_SIZES.len())
        .map(|class| classes.class_stats(class).unwrap().stats.in_use)
        .sum()
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn vec_in_size_classes_grows_through_the_classes_and_gives_every_block_back() {
    let classes = SizeClasses::new();
    let mut numbers = Vec::new_in(&classes);
    for i in 0..10_000u32 {
        numbers.push(i);
    }
    // Room for 300,000 u32s: 1.2 MB, past the largest class, so a large block.
    numbers.reserve_exact(300_000);
    assert_eq!(
        numbers.iter().map(|&n| u64::from(n)).sum::<u64>(),
        49_995_000
    );
    assert!(
        classes.large_stats().total_allocs > 0,
        "1.2 MB of u32s is a large block"
    );
    let moved: u64 = (0..CLASS_SIZES.len())
        .map(|class| classes.class_stats(class).unwrap().stats.total_allocs)
        .sum();
    assert!(
        moved > 5,
        "the vector moved up through the classes as it grew"
    );
    drop(numbers);
    assert_eq!(classes_in_use(&classes), 0);
    assert_eq!(classes.large_stats().in_use, 0);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn hash_map_in_size_classes_keeps_its_table_there() {
    let classes = SizeClasses::new();
    let mut squares = HashMap::new_in(&classes);
    for i in 0..1000u64 {
        squares.insert(i, i * i);
    }
    assert_eq!(squares[&31], 961);
    assert!(classes_in_use(&classes) + classes.large_stats().in_use >= 1);
    squares.retain(|key, _| key % 2 == 0);
    squares.shrink_to_fit();
    assert_eq!(squares.len(), 500);
    drop(squares);
    assert_eq!(classes_in_use(&classes), 0);
    assert_eq!(classes.large_stats().in_use, 0);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn boxes_in_a_typed_pool_take_one_block_each_and_return_it_on_drop() {
    let pool = TypedPool::<[u64; 4]>::new(3).unwrap();
    let boxes: std::vec::Vec<_> = (0..3u64).map(|i| Box::new_in([i; 4], &pool)).collect();
    assert_eq!(pool.in_use(), 3);
    assert_eq!(*boxes[2], [2; 4]);
    assert_eq!(
        Box::try_new_in([9; 4], &pool).unwrap_err(),
        AllocError,
        "full"
    );
    // Smaller values fit a block too.
    drop(boxes);
    let small = Box::new_in(7u8, &pool);
    assert_eq!((*small, pool.in_use()), (7, 1));
    drop(small);
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.stats().rejected.total(), 0);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_vec_in_a_typed_pool_fits_while_its_buffer_fits_one_block() {
    let pool = TypedPool::<[u32; 8]>::new(2).unwrap();
    let mut small = Vec::new_in(&pool);
    small.extend_from_slice(&[1u32, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(pool.in_use(), 1);
    assert!(
        small.try_reserve(1000).is_err(),
        "4 KB does not fit a 32-byte block"
    );
    assert_eq!(small.len(), 8);
    drop(small);
    assert_eq!(pool.in_use(), 0);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_small_hash_map_lives_in_one_block_of_a_typed_pool_and_cannot_outgrow_it() {
    // 64-byte blocks: room for the table of a map of three `u8` pairs (4 buckets, their
    // control bytes and a group of padding), not for one of a hundred.
    let pool = TypedPool::<[u64; 8]>::new(2).unwrap();
    let mut map = HashMap::with_capacity_in(3, &pool);
    assert_eq!(pool.in_use(), 1);
    for (key, value) in [(1u8, 10u8), (2, 20), (3, 30)] {
        map.insert(key, value);
    }
    assert_eq!(map[&2], 20);
    assert!(
        map.try_reserve(100).is_err(),
        "the larger table does not fit a block"
    );
    assert_eq!((map.len(), pool.in_use()), (3, 1), "the map is as it was");
    drop(map);
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.stats().rejected.total(), 0);
}

/// What one `Allocator` call did to the pool it was made on.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// `allocate` answered `Err(AllocError)`.
    Refused,
    /// `allocate` gave a dangling zero-length block.
    Dangling,
    /// `deallocate` was refused by the pool and counted.
    Counted,
    /// `deallocate` of a zero-sized block: nothing happened.
    Ignored,
}

/// A bad request to the allocator `A`, by name.
struct Case<A: ?Sized> {
    name: &'static str,
    call: fn(&A) -> Outcome,
    expected: Outcome,
}

fn allocate_outcome(allocator: &impl Allocator, layout: Layout) -> Outcome {
    match allocator.allocate(layout) {
        Err(AllocError) => Outcome::Refused,
        Ok(block) if block.is_empty() => {
            assert_eq!(block.cast::<u8>().as_ptr() as usize % layout.align(), 0);
            Outcome::Dangling
        }
        Ok(block) => panic!("{layout:?} was served: {block:?}"),
    }
}

/// Memory that is not the allocator's (only its address is used).
static FOREIGN: [u64; 8] = [0; 8];

/// A pointer to memory that is not the allocator's.
fn foreign() -> NonNull<u8> {
    NonNull::from(&FOREIGN).cast()
}

/// Counters and in-use blocks: "unchanged" means all of these are the same, except the
/// refused-free counter that a counted refusal bumps by one.
fn snapshot_pool(pool: &TypedPool<u64>) -> (PoolStats, usize) {
    (pool.stats(), pool.in_use())
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_bad_request_to_a_typed_pool_is_refused_and_leaves_it_unchanged() {
    let cases: [Case<TypedPool<u64>>; 7] = [
        Case {
            name: "zero-sized allocate",
            call: |pool| allocate_outcome(&pool, layout(0, 8)),
            expected: Outcome::Dangling,
        },
        Case {
            name: "zero-sized allocate, alignment far above the block's",
            call: |pool| allocate_outcome(&pool, layout(0, 1 << 20)),
            expected: Outcome::Dangling,
        },
        Case {
            name: "size above the block's",
            call: |pool| allocate_outcome(&pool, layout(9, 1)),
            expected: Outcome::Refused,
        },
        Case {
            name: "alignment above the block's",
            call: |pool| allocate_outcome(&pool, layout(8, 1 << 16)),
            expected: Outcome::Refused,
        },
        Case {
            name: "deallocate of a pointer from elsewhere",
            // SAFETY: breaks the trait's contract on purpose; the pool checks the pointer.
            call: |pool| unsafe {
                pool.deallocate(foreign(), layout(8, 8));
                Outcome::Counted
            },
            expected: Outcome::Counted,
        },
        Case {
            name: "deallocate into the middle of a block",
            call: |pool| {
                let block = pool.allocate(layout(8, 8)).unwrap().cast::<u8>();
                // SAFETY: breaks the contract on purpose (a pointer 4 bytes into a block),
                // then frees the block properly.
                unsafe {
                    pool.deallocate(block.add(4), layout(4, 4));
                    pool.deallocate(block, layout(8, 8));
                }
                Outcome::Counted
            },
            expected: Outcome::Counted,
        },
        Case {
            name: "deallocate of a zero-sized block",
            call: |pool| {
                let block = pool.allocate(layout(0, 8)).unwrap().cast::<u8>();
                // SAFETY: the dangling block was just returned for this layout.
                unsafe { pool.deallocate(block, layout(0, 8)) };
                Outcome::Ignored
            },
            expected: Outcome::Ignored,
        },
    ];
    let pool = TypedPool::<u64>::new(4).unwrap();
    let _held = Box::new_in(1u64, &pool); // a block in use throughout
    for case in cases {
        let (before, in_use) = snapshot_pool(&pool);
        let outcome = (case.call)(&pool);
        assert_eq!(outcome, case.expected, "{}", case.name);
        let (after, in_use_after) = snapshot_pool(&pool);
        assert_eq!(in_use_after, in_use, "{}: blocks in use changed", case.name);
        let refused = after.rejected.total() - before.rejected.total();
        let expected_refusals = u64::from(case.expected == Outcome::Counted);
        assert_eq!(
            refused, expected_refusals,
            "{}: refusals counted",
            case.name
        );
        assert_eq!(after.in_use, before.in_use, "{}", case.name);
    }
    // Still a working pool: every block can be handed out and given back.
    let boxes: std::vec::Vec<_> = (0..3).map(|i| Box::new_in(i, &pool)).collect();
    assert_eq!(pool.in_use(), 4);
    drop(boxes);
    assert_eq!(pool.in_use(), 1);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_bad_request_to_size_classes_is_refused_and_leaves_them_unchanged() {
    // Over a buffer of 256 KiB, so that "more than the memory source has" is the same
    // refusal everywhere (wasm32's linear memory could grow by a gigabyte or two).
    let mut bytes = vec![0u8; 256 * 1024];
    let buffer = BufferMemory::new(&mut bytes);
    let classes = SizeClasses::new_in(&buffer);
    let held = classes.allocate(layout(24, 8)).unwrap(); // a block in use throughout
    let class = SizeClasses::class_for(layout(24, 8)).unwrap();
    let snapshot = |classes: &SizeClasses<&BufferMemory>| {
        let stats: std::vec::Vec<_> = (0..CLASS_SIZES.len())
            .map(|c| classes.class_stats(c).unwrap().stats)
            .collect();
        (stats, classes.large_stats())
    };
    let cases: [Case<SizeClasses<&BufferMemory>>; 5] = [
        Case {
            name: "zero-sized allocate",
            call: |classes| allocate_outcome(&classes, layout(0, 16)),
            expected: Outcome::Dangling,
        },
        Case {
            // 2 MiB: above every class's alignment (the 1 MiB class's) and a large block's
            // (a page). 64 KiB, the 64 KiB class's, was refused only for want of memory, and
            // is not on wasm32, whose first region of that class is one block.
            name: "alignment above every class's and a page",
            call: |classes| allocate_outcome(&classes, layout(64, 1 << 21)),
            expected: Outcome::Refused,
        },
        Case {
            name: "size above what the memory source has",
            call: |classes| allocate_outcome(&classes, layout(1 << 20, 8)),
            expected: Outcome::Refused,
        },
        Case {
            name: "deallocate of a pointer from elsewhere",
            // SAFETY: breaks the contract on purpose; the 24-byte class checks the pointer.
            call: |classes| unsafe {
                classes.deallocate(foreign(), layout(24, 8));
                Outcome::Counted
            },
            expected: Outcome::Counted,
        },
        Case {
            name: "deallocate of a zero-sized block",
            call: |classes| {
                let block = classes.allocate(layout(0, 8)).unwrap().cast::<u8>();
                // SAFETY: the dangling block was just returned for this layout.
                unsafe { classes.deallocate(block, layout(0, 8)) };
                Outcome::Ignored
            },
            expected: Outcome::Ignored,
        },
    ];
    for case in cases {
        let (before, large_before) = snapshot(&classes);
        let outcome = (case.call)(&classes);
        assert_eq!(outcome, case.expected, "{}", case.name);
        let (after, large_after) = snapshot(&classes);
        assert_eq!(large_after, large_before, "{}", case.name);
        for (c, (a, b)) in after.iter().zip(&before).enumerate() {
            let counted = u64::from(case.expected == Outcome::Counted && c == class);
            assert_eq!(
                a.rejected.total(),
                b.rejected.total() + counted,
                "{}",
                case.name
            );
            assert_eq!(
                (a.in_use, a.total_allocs),
                (b.in_use, b.total_allocs),
                "{}",
                case.name
            );
        }
    }
    // SAFETY: `held` was allocated above with this layout.
    unsafe { classes.deallocate(held.cast(), layout(24, 8)) };
    assert_eq!(classes_in_use(&classes), 0);
}
