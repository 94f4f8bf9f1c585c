//! AddressSanitizer annotations: free blocks are poisoned, so a program that touches a block
//! after freeing it is stopped with a report instead of silently corrupting its next owner.
//!
//! ASan watches `malloc`; it cannot know which parts of a pool's region are handed out. These
//! three calls tell it. They exist only in builds with `--cfg memory_pool_asan`, which
//! `make asan` and `make fuzz` pass together with `-Zsanitizer=address`; everywhere else they
//! are empty and compile to nothing.
//!
//! A free block's link word stays unpoisoned (the first word, or a few cache lines in for
//! blocks of 128 bytes or more): it holds the free-list link, which the pool itself reads and
//! writes (and checks, should a stray write damage it). Blocks never handed
//! out are not poisoned either, so creating even a terabyte pool stays O(1). And only the
//! first [`POISON_LIMIT`] bytes of a block are poisoned: ASan keeps one shadow byte per 8
//! bytes, so poisoning a 512 GiB block (the fuzzer tried) would write 64 GiB of shadow.

use core::ptr::NonNull;

/// How much of each block is poisoned when it is freed: the start of a block, where a stale
/// pointer most likely still points, and a bounded amount of shadow memory per block.
const POISON_LIMIT: usize = 1 << 16;

#[cfg(memory_pool_asan)]
extern "C" {
    fn __asan_poison_memory_region(addr: *const u8, size: usize);
    fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
}

/// `block` (of `stride` bytes) was just freed, its link written `link_offset` bytes in:
/// everything but the link is off limits.
#[inline(always)]
pub(crate) fn block_freed(block: NonNull<u8>, stride: usize, link_offset: usize) {
    let link_end = link_offset + size_of::<usize>();
    #[cfg(memory_pool_asan)]
    // SAFETY: changes only ASan's shadow of bytes inside the block, which the pool owns.
    unsafe {
        let limit = stride.min(POISON_LIMIT);
        __asan_poison_memory_region(block.as_ptr(), link_offset.min(limit));
        if link_end < limit {
            __asan_poison_memory_region(block.as_ptr().wrapping_add(link_end), limit - link_end);
        }
    }
    let _ = (block, stride, link_end);
}

/// `block` (of `stride` bytes) was just handed out: lift the poison, all of it is usable.
#[inline(always)]
pub(crate) fn block_handed_out(block: NonNull<u8>, stride: usize) {
    #[cfg(memory_pool_asan)]
    // SAFETY: changes only ASan's shadow of the block's bytes.
    unsafe {
        __asan_unpoison_memory_region(block.as_ptr(), stride.min(POISON_LIMIT));
    }
    let _ = (block, stride, POISON_LIMIT);
}

/// The pool is going away: lift the poison from the first `count` blocks (those it ever
/// handed out), so the memory's next user (a reused mapping, or the buffer of a
/// `SliceMemory`) is not mistaken for a use after free.
#[cfg(memory_pool_asan)]
pub(crate) fn blocks_released(first: NonNull<u8>, stride: usize, count: usize) {
    if stride <= POISON_LIMIT {
        // SAFETY: changes only ASan's shadow of the region's blocks.
        unsafe { __asan_unpoison_memory_region(first.as_ptr(), stride * count) }
    } else {
        for index in 0..count {
            let block = first.as_ptr().wrapping_add(index * stride);
            // SAFETY: as above, for the poisoned start of one block.
            unsafe { __asan_unpoison_memory_region(block, POISON_LIMIT) }
        }
    }
}
