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
    NonNull::new(region.cast())
}

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
