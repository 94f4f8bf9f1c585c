//! Memory from a byte slice you own.
//!
//! Useful where there is no operating system to ask, or where you want to see every byte:
//! in tests, under Miri (which cannot call `mmap`), or over a static buffer.

use core::ptr::NonNull;

use super::MemorySource;

/// A [`MemorySource`] that hands out one borrowed byte slice, once.
///
/// The pool borrows the slice for its whole life, so the borrow checker makes sure the
/// buffer outlives every block.
///
/// # Examples
///
/// ```
/// use memory_pool::{Pool, SliceMemory};
///
/// let mut buffer = [0u8; 1024];
/// let mut pool = Pool::new_in(32, 8, SliceMemory::new(&mut buffer)).unwrap();
/// let block = pool.alloc().unwrap();
/// pool.free(block).unwrap();
/// ```
#[derive(Debug)]
pub struct SliceMemory<'a> {
    buffer: Option<&'a mut [u8]>,
}

impl<'a> SliceMemory<'a> {
    /// A source that will hand out (a prefix of) `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self {
            buffer: Some(buffer),
        }
    }
}

// SAFETY: the slice is handed out at most once, zeroed, and it is borrowed for `'a`, which
// outlives the source and so the pool that owns the source.
unsafe impl MemorySource for SliceMemory<'_> {
    fn acquire(&mut self, size: usize) -> Option<NonNull<u8>> {
        let buffer = self.buffer.take_if(|buffer| buffer.len() >= size)?;
        let region = &mut buffer[..size];
        region.fill(0);
        NonNull::new(region.as_mut_ptr())
    }

    unsafe fn release(&mut self, _region: NonNull<u8>, _size: usize) {
        // The slice stays borrowed until the source is dropped; nothing to give back.
    }
}
