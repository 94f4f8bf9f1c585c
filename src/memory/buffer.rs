//! Memory from one buffer you own, shared by any number of pools.
//!
//! [`SliceMemory`](super::SliceMemory) hands its slice to one pool, once. A [`GrowingPool`]
//! asks for a new region each time it grows, and [`SizeClasses`] has a pool per class, so they
//! need a source that can be asked many times: [`BufferMemory`] carves regions off the front
//! of its buffer, one after the other (a *bump* allocator of regions), and `&BufferMemory` is
//! a [`MemorySource`] that is `Copy`, so every pool holds a copy of the same reference.
//!
//! A region given back is reused only if it is the last one carved (pools dropped in the
//! reverse order of their creation give their memory back, all but the padding that aligned
//! each region); any other is kept until the buffer itself is dropped. Regions of pools are long-lived, so that is rarely a loss, but a
//! program that creates and drops pools in any order should give each its own `SliceMemory`.
//!
//! [`GrowingPool`]: crate::GrowingPool
//! [`SizeClasses`]: crate::SizeClasses

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::MemorySource;

/// Regions are aligned like the system's pages: a region of 4 KiB or more starts on a 4 KiB
/// boundary, a smaller one on its size rounded up to a power of two (at least 16 bytes).
/// The pools align their blocks themselves; this is for `SizeClasses`' large blocks, which
/// are whole regions and must be aligned for their layout (up to a page), and it keeps a
/// region's words and atomics aligned without padding.
const PAGE_ALIGN: usize = 4096;

fn region_align(size: usize) -> usize {
    size.checked_next_power_of_two()
        .unwrap_or(PAGE_ALIGN)
        .clamp(16, PAGE_ALIGN)
}

/// A buffer that hands out regions to many pools: `&BufferMemory` is the [`MemorySource`].
///
/// Thread-safe (the offset of the first unused byte is an atomic), so a `SizeClasses` over it
/// can be a `static`'s global allocator on a target with threads.
///
/// # Examples
///
/// ```
/// use memory_pool::{BufferMemory, Pool};
///
/// // 1.7 KiB of regions, and room for their padding: each starts on its size rounded up to
/// // a power of two (the second on 2 KiB), wherever the buffer itself happens to start.
/// let mut bytes = [0u8; 8192];
/// let buffer = BufferMemory::new(&mut bytes);
/// let mut small = Pool::new_in(16, 32, &buffer)?;
/// let mut large = Pool::new_in(256, 4, &buffer)?;
/// assert!(buffer.used() > 0);
/// let (a, b) = (small.alloc().unwrap(), large.alloc().unwrap());
/// assert_ne!(a, b);
/// drop((small, large));
/// # Ok::<(), memory_pool::PoolError>(())
/// ```
#[derive(Debug)]
pub struct BufferMemory<'a> {
    start: NonNull<u8>,
    len: usize,
    /// Bytes from `start` that are carved off (regions handed out, and their padding).
    used: AtomicUsize,
    _buffer: PhantomData<&'a mut [u8]>,
}

// SAFETY: the buffer is borrowed mutably for `'a`, so the `BufferMemory` is its only user;
// regions are carved with an atomic compare-and-swap on `used`, so two threads never get
// overlapping bytes.
unsafe impl Send for BufferMemory<'_> {}
// SAFETY: as above; every method takes `&self` and touches `used` only atomically.
unsafe impl Sync for BufferMemory<'_> {}

impl<'a> BufferMemory<'a> {
    /// A source that carves regions out of `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        BufferMemory {
            len: buffer.len(),
            start: NonNull::from(buffer).cast(),
            used: AtomicUsize::new(0),
            _buffer: PhantomData,
        }
    }

    /// How many bytes of the buffer are carved off: regions handed out, the padding that
    /// aligns them, and regions given back out of order.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The buffer's length in bytes.
    pub fn capacity(&self) -> usize {
        self.len
    }
}

// SAFETY: each region is `size` bytes of the buffer past every region handed out before
// (the compare-and-swap on `used` makes sure), zeroed before it is returned, and the buffer
// is borrowed for `'a`, which outlives every pool holding the reference.
unsafe impl MemorySource for &BufferMemory<'_> {
    fn acquire(&mut self, size: usize) -> Option<NonNull<u8>> {
        let base = self.start.as_ptr().addr();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let offset = (base + used).checked_next_multiple_of(region_align(size))? - base;
            let end = offset.checked_add(size).filter(|&end| end <= self.len)?;
            match self
                .used
                .compare_exchange_weak(used, end, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    // SAFETY: `offset + size <= len`, so the region is inside the buffer, and
                    // the swap made `offset .. end` ours alone.
                    let region = unsafe { self.start.add(offset) };
                    // SAFETY: as above: `size` bytes of the buffer that only we use.
                    unsafe { region.write_bytes(0, size) };
                    return Some(region);
                }
                Err(now) => used = now,
            }
        }
    }

    unsafe fn release(&mut self, region: NonNull<u8>, size: usize) {
        // The last region carved is given back; any other stays carved (see the module doc).
        // Release, paired with `acquire`'s Acquire: the next owner of these bytes sees every
        // write of the last one before its own.
        let offset = region.as_ptr().addr() - self.start.as_ptr().addr();
        let _ =
            self.used
                .compare_exchange(offset + size, offset, Ordering::Release, Ordering::Relaxed);
    }
}
