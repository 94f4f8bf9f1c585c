//! No operating system to ask (bare metal): the system source has no memory.
//!
//! [`SystemMemory`](super::SystemMemory) stays a [`MemorySource`](super::MemorySource) here
//! only so that it can remain every pool's default type parameter; the constructors that use
//! it are compiled for Unix and wasm32 only, so this answer is never reached by a pool.

use core::ptr::NonNull;

/// There is no memory to give.
pub(crate) fn acquire(_size: usize) -> Option<NonNull<u8>> {
    None
}

/// Nothing was ever handed out, so nothing can come back.
///
/// # Safety
///
/// None needed: no region exists to be passed here.
pub(crate) unsafe fn release(_region: NonNull<u8>, _size: usize) {}

/// Nothing to give back.
///
/// # Safety
///
/// None needed: no region exists to be passed here.
pub(crate) unsafe fn decommit(_region: NonNull<u8>, _size: usize) -> bool {
    false
}
