//! Memory from the operating system on Unix: anonymous private `mmap`.
//!
//! The kernel hands out address space, not memory: a page is committed only when it is first
//! touched, and it reads as zero until then. That is why a pool of a gigabyte is created
//! instantly and costs only the pages its blocks actually use.

use core::ptr::{self, NonNull};

/// Maps `size` bytes of fresh, zeroed, readable and writable memory.
pub(crate) fn acquire(size: usize) -> Option<NonNull<u8>> {
    if size == 0 {
        return None;
    }
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory; every argument is valid for that request.
    let region = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | map_noreserve(),
            -1,
            0,
        )
    };
    if region == libc::MAP_FAILED {
        return None;
    }
    ask_for_huge_pages(region, size);
    NonNull::new(region.cast())
}

/// Asks Linux to back a large region with 2 MiB pages when it can (transparent huge pages).
///
/// Why: a batch over 10,000 blocks of 4 KiB touches 10,000 different 4 KiB pages, more than
/// the TLB holds, so every operation paid for a page-table walk (measured: 4 KiB-block
/// batches 2× slower than 64-byte ones even with coloured links). With 2 MiB pages the same
/// blocks sit in 20 pages. Still lazy: nothing is committed until touched, so creating a
/// 1 GiB pool stays instant. Only a hint: if the kernel says no, nothing changes.
#[cfg(all(target_os = "linux", not(miri)))]
fn ask_for_huge_pages(region: *mut libc::c_void, size: usize) {
    const HUGE_PAGE: usize = 2 << 20;
    if size >= HUGE_PAGE {
        // SAFETY: `region .. region + size` is the mapping just made; MADV_HUGEPAGE only
        // changes how the kernel backs it, never its contents or validity.
        unsafe { libc::madvise(region, size, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(any(not(target_os = "linux"), miri))]
fn ask_for_huge_pages(_region: *mut libc::c_void, _size: usize) {}

/// Unmaps a region that [`acquire`] returned.
///
/// # Safety
///
/// `region` and `size` must come from one call of [`acquire`], and the region must not be
/// used afterwards.
pub(crate) unsafe fn release(region: NonNull<u8>, size: usize) {
    // SAFETY: the caller guarantees this is exactly one mapping of ours, no longer used.
    let result = unsafe { libc::munmap(region.as_ptr().cast(), size) };
    debug_assert_eq!(result, 0, "munmap of a region we mapped cannot fail");
}

/// Drops the pages behind a whole region of [`acquire`] (`madvise(MADV_DONTNEED)`): the
/// kernel takes them back now, and they read as zero when next touched. `false` (and nothing
/// dropped) if the bytes do not start a region on a page, or the kernel refused.
///
/// # Safety
///
/// `region .. region + size` runs from the start of one live region of [`acquire`] to its
/// end, and nothing uses those bytes.
#[cfg(not(miri))]
pub(crate) unsafe fn decommit(region: NonNull<u8>, size: usize) -> bool {
    // madvise works on whole pages. Every region is a mapping of its own, from a page
    // boundary, and the mapping's last page is ours to its end, so the bytes from a page
    // boundary to the end of a region round up to whole pages of that mapping. Anything else
    // (the middle of a region) is not dropped at all, so nothing changes unless it all goes.
    const PAGE: usize = 4096;
    let start = region.as_ptr().addr();
    if start % PAGE != 0 || size == 0 {
        return false;
    }
    // SAFETY: whole pages of a mapping of ours that nothing uses (see above); DONTNEED on a
    // private anonymous mapping only replaces them with zero pages.
    let result = unsafe {
        libc::madvise(
            region.as_ptr().cast(),
            size.next_multiple_of(PAGE),
            libc::MADV_DONTNEED,
        )
    };
    result == 0
}

/// Resizes a region of [`acquire`] with `mremap`, letting the kernel move it: its pages move
/// to the new address without a copy, and pages added read as zero. `None` if the kernel
/// refused; the region is then as it was.
///
/// # Safety
///
/// `region` and `old_size` are one live mapping of ours; on `Some`, it is not used again.
#[cfg(all(target_os = "linux", not(miri)))]
pub(crate) unsafe fn resize(
    region: NonNull<u8>,
    old_size: usize,
    new_size: usize,
) -> Option<NonNull<u8>> {
    // SAFETY: one whole mapping of ours; MREMAP_MAYMOVE lets the kernel pick the new place,
    // and on failure it leaves the old mapping untouched.
    let moved = unsafe {
        libc::mremap(
            region.as_ptr().cast(),
            old_size,
            new_size,
            libc::MREMAP_MAYMOVE,
        )
    };
    if moved == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(moved.cast())
}

/// Under Miri (no `madvise`): never.
#[cfg(miri)]
pub(crate) unsafe fn decommit(_region: NonNull<u8>, _size: usize) -> bool {
    false
}

/// Don't reserve swap for the whole mapping up front: a pool of millions of blocks that
/// uses only a few should not be refused for lack of swap it will never need.
/// (Miri's `mmap` accepts only the plain flags, so it does without.)
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
fn map_noreserve() -> libc::c_int {
    libc::MAP_NORESERVE
}

#[cfg(any(not(any(target_os = "linux", target_os = "android")), miri))]
fn map_noreserve() -> libc::c_int {
    0
}
