//! `BufferMemory`: one buffer of your own shared by many pools, as on a target with no
//! operating system (`default-features = false` on bare metal); and `SizeClasses` and
//! `TypedPool` built over it instead of the system's memory.

use core::alloc::{GlobalAlloc, Layout};

use memory_pool::{
    BufferMemory, GrowingPool, MemorySource, Pool, SizeClasses, TypedPool, CLASS_SIZES,
};

#[test]
fn pools_over_one_buffer_get_disjoint_regions_inside_it() {
    let mut bytes = vec![0xEEu8; 8192];
    let (start, end) = (
        bytes.as_ptr() as usize,
        bytes.as_ptr() as usize + bytes.len(),
    );
    let buffer = BufferMemory::new(&mut bytes);
    let mut a = Pool::new_in(16, 32, &buffer).unwrap();
    let mut b = Pool::new_in(64, 16, &buffer).unwrap();
    let (la, lb) = (a.layout(), b.layout());
    assert!(la.base >= start && la.base + la.size <= lb.base && lb.base + lb.size <= end);
    assert!(buffer.used() <= buffer.capacity());
    // Every block of both is usable, and none is shared.
    let blocks: Vec<_> = std::iter::from_fn(|| a.alloc())
        .chain(std::iter::from_fn(|| b.alloc()))
        .collect();
    assert_eq!(blocks.len(), 48);
    let mut addresses: Vec<usize> = blocks.iter().map(|block| block.as_ptr() as usize).collect();
    addresses.sort_unstable();
    addresses.dedup();
    assert_eq!(addresses.len(), 48, "no block is handed out twice");
}

#[test]
fn regions_handed_out_are_zeroed_even_over_a_dirty_buffer() {
    let mut bytes = vec![0xEEu8; 1024];
    let buffer = BufferMemory::new(&mut bytes);
    let region = (&buffer).acquire(100).unwrap();
    // SAFETY: `acquire` returned 100 bytes of the buffer, ours.
    let region_bytes = unsafe { core::slice::from_raw_parts(region.as_ptr(), 100) };
    assert!(region_bytes.iter().all(|&byte| byte == 0));
}

#[test]
fn a_request_larger_than_what_is_left_is_refused() {
    let mut bytes = vec![0u8; 4096];
    let buffer = BufferMemory::new(&mut bytes);
    assert!((&buffer).acquire(4097).is_none());
    let _pool = Pool::new_in(8, 100, &buffer).unwrap();
    let used = buffer.used();
    assert!(matches!(
        Pool::new_in(8, 1000, &buffer),
        Err(memory_pool::PoolError::OutOfMemory { .. })
    ));
    assert_eq!(buffer.used(), used, "a refused request carves nothing");
}

#[test]
fn the_last_region_given_back_is_reused_and_an_earlier_one_is_not() {
    let mut bytes = vec![0u8; 8192];
    let start = bytes.as_ptr() as usize;
    let buffer = BufferMemory::new(&mut bytes);
    let first = Pool::new_in(32, 8, &buffer).unwrap();
    let second = Pool::new_in(32, 8, &buffer).unwrap();
    let (second_base, after_second) = (second.layout().base, buffer.used());
    drop(second);
    assert_eq!(
        buffer.used(),
        second_base - start,
        "the last region came back"
    );
    let third = Pool::new_in(32, 8, &buffer).unwrap();
    assert_eq!(third.layout().base, second_base, "and was reused");
    drop(first);
    assert_eq!(
        buffer.used(),
        after_second,
        "a region below another one stays carved"
    );
}

#[test]
fn growing_pool_over_a_buffer_grows_until_the_buffer_is_full() {
    let mut bytes = vec![0u8; 16 * 1024];
    let buffer = BufferMemory::new(&mut bytes);
    let layout = Layout::from_size_align(64, 8).unwrap();
    let mut pool = GrowingPool::with_layout_in(layout, 4, &buffer).unwrap();
    let mut blocks = Vec::new();
    while let Some(block) = pool.alloc() {
        blocks.push(block);
    }
    assert!(pool.region_count() > 1);
    assert!(blocks.len() * 64 <= 16 * 1024);
    for block in blocks {
        pool.free(block).unwrap();
    }
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn size_classes_over_a_buffer_serve_classes_and_large_blocks_from_it() {
    let mut bytes = vec![0u8; 4 << 20];
    let (start, end) = (
        bytes.as_ptr() as usize,
        bytes.as_ptr() as usize + bytes.len(),
    );
    let buffer = BufferMemory::new(&mut bytes);
    let classes = SizeClasses::new_in(&buffer);
    for layout in [
        Layout::from_size_align(24, 8).unwrap(),
        Layout::from_size_align(CLASS_SIZES[10], 64).unwrap(),
        Layout::from_size_align(1_100_000, 4096).unwrap(), // large: straight from the buffer
    ] {
        // SAFETY: every layout has a non-zero size.
        let block = unsafe { classes.alloc(layout) };
        assert!(!block.is_null(), "{layout:?}");
        assert!((start..end).contains(&(block as usize)), "{layout:?}");
        assert_eq!(block as usize % layout.align(), 0, "{layout:?}");
        // SAFETY: the block holds `layout.size()` bytes, ours.
        unsafe { block.write_bytes(0xAB, layout.size()) };
        // SAFETY: allocated just above with this layout.
        unsafe { classes.dealloc(block, layout) };
    }
    assert_eq!(classes.large_stats().total_frees, 1);
    let class = SizeClasses::class_for(Layout::from_size_align(24, 8).unwrap()).unwrap();
    assert_eq!(classes.class_stats(class).unwrap().stats.in_use, 0);
}

#[test]
fn size_classes_over_a_full_buffer_answer_null() {
    let mut bytes = vec![0u8; 1024];
    let buffer = BufferMemory::new(&mut bytes);
    let classes = SizeClasses::new_in(&buffer);
    // SAFETY: a non-zero size.
    let block = unsafe { classes.alloc(Layout::from_size_align(8, 8).unwrap()) };
    assert!(
        block.is_null(),
        "a class's first region (60 KiB) does not fit in 1 KiB"
    );
}

#[test]
fn typed_pool_over_a_buffer_holds_values() {
    let mut bytes = vec![0u8; 4096];
    let buffer = BufferMemory::new(&mut bytes);
    let pool = TypedPool::new_in(4, &buffer).unwrap();
    let boxes: Vec<_> = (0..4u64).map(|i| pool.alloc(i * 10).unwrap()).collect();
    assert_eq!(pool.alloc(99).unwrap_err(), 99);
    assert_eq!(*boxes[3], 30);
    drop(boxes);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn the_documented_example_fits_wherever_its_buffer_starts() {
    // `BufferMemory`'s example makes a 16 × 32 and a 256 × 4 pool in 8 KiB of stack; where
    // the stack puts those bytes decides each region's padding, so try every start mod 4 KiB
    // (under Miri, slow, every 97th).
    let mut backing = vec![0u8; 4096 + 8192];
    for offset in (0..4096).step_by(if cfg!(miri) { 97 } else { 1 }) {
        let buffer = BufferMemory::new(&mut backing[offset..offset + 8192]);
        let small = Pool::new_in(16, 32, &buffer);
        let large = Pool::new_in(256, 4, &buffer);
        assert!(small.is_ok() && large.is_ok(), "buffer at offset {offset}");
    }
}
