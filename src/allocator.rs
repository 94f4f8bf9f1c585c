//! The allocator trait that collections take (feature `allocator-api2`).
//!
//! Rust's collections take their allocator as a type parameter, through the `Allocator`
//! trait. That trait is still unstable in `core`, so the ecosystem uses its stable mirror, the
//! [`allocator-api2`](https://docs.rs/allocator-api2) crate: its own `Vec` and `Box` take an
//! allocator, and so do `hashbrown`'s maps and sets. This module implements that trait for
//! two of the crate's allocators, each by shared reference (the trait's methods take `&self`,
//! and `&A` is an allocator whenever `A` is):
//!
//! - **[`SizeClasses`]**: any layout, from the class that fits it (or whole pages above 1 MiB),
//!   so `Vec::new_in(&classes)` and `HashMap::new_in(&classes)` keep all their memory in a heap
//!   you create, inspect with [`SizeClasses::class_stats`], and drop as a whole.
//! - **[`TypedPool`]**: one block per allocation, so `Box::new_in(value, &pool)` puts the value
//!   in the pool. A layout that does not fit one block (larger, or aligned more than the
//!   blocks are) is refused with [`AllocError`]; the pool is unchanged.
//!
//! # What the trait's edge cases do
//!
//! | call | `&SizeClasses` | `&TypedPool` |
//! |---|---|---|
//! | `allocate` of a zero-sized layout | a dangling, aligned pointer; no memory used | the same |
//! | `allocate` larger than a block / than 1 MiB | whole pages from the memory source | `Err(AllocError)` |
//! | `allocate` aligned more than a block | a class (or pages) aligned enough, up to 4 KiB; `Err` above | `Err(AllocError)` |
//! | `deallocate` of a zero-sized layout | nothing to do | nothing to do |
//! | `deallocate` of a pointer from elsewhere | refused and counted in its class's [`PoolStats::rejected`](crate::PoolStats) (above 1 MiB it cannot be checked: the caller's promise) | refused and counted in [`TypedPool::stats`] |
//!
//! `deallocate` with a pointer the allocator did not hand out breaks the trait's contract, so
//! a caller may not rely on it; the pools check anyway, as their `free` always does, so such
//! a bug is counted instead of corrupting the free list.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use ::allocator_api2::alloc::{AllocError, Allocator};

use crate::{MemorySource, SizeClasses, TypedPool};

/// The answer to a zero-sized request: no memory, just a non-null address aligned as asked
/// (the layout's alignment itself), which is never dereferenced and never freed.
fn dangling(layout: Layout) -> NonNull<[u8]> {
    // SAFETY: an alignment is never zero.
    let address = unsafe { NonNull::new_unchecked(ptr::without_provenance_mut(layout.align())) };
    NonNull::slice_from_raw_parts(address, 0)
}

// SAFETY: every block handed out is an in-use block of a class (or large pages) that fits
// `layout` (the `GlobalAlloc` impl's guarantee), reported with the class's block size (or the
// whole pages), which are all usable; it stays valid until deallocated or until the
// `SizeClasses` is dropped, which the borrow in `&SizeClasses` prevents while it is in use.
// Zero-sized requests get a dangling pointer and are never passed to the classes.
unsafe impl<M: MemorySource + Clone> Allocator for SizeClasses<M> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        // SAFETY: the layout has a non-zero size.
        let block = NonNull::new(unsafe { self.alloc(layout) }).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(
            block,
            self.usable_size(layout),
        ))
    }

    unsafe fn deallocate(&self, block: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: the caller passes a block this allocator returned for `layout`
            // (a refused pointer of a class is counted, not freed).
            unsafe { self.dealloc(block.as_ptr(), layout) }
        }
    }
}

// SAFETY: a block handed out is an in-use block of the pool, whose `block_size` bytes are
// usable and aligned to `block_align` (both checked against `layout` first); it stays valid
// until deallocated or until the pool is dropped, which the borrow in `&TypedPool` prevents.
// Zero-sized requests get a dangling pointer and never reach the pool.
unsafe impl<T, M: MemorySource> Allocator for TypedPool<T, M> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let (size, align) = self.block_layout();
        if layout.size() > size || layout.align() > align {
            return Err(AllocError);
        }
        let block = self.alloc_block().ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(block, size))
    }

    unsafe fn deallocate(&self, block: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // A pointer that is not an in-use block is refused, counted, and changes nothing.
            let _ = self.free_block(block);
        }
    }
}
