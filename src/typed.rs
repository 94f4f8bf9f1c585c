//! Typed, safe handles: a pool of `T`s whose blocks are boxes.
//!
//! [`TypedPool<T>`] is a [`Pool`] sized and aligned for `T`. Its `alloc` moves a value into
//! a block and returns a [`PoolBox`], which works like a `Box<T>`: it derefs to the value,
//! drops it and returns the block when it goes out of scope, and it borrows the pool, so the
//! compiler rejects any box that would outlive its pool. No `unsafe` is needed to use it.

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::{MemorySource, Pool, PoolError, PoolStats, SystemMemory};

/// A pool of blocks that each hold one `T`.
///
/// # Examples
///
/// ```
/// use memory_pool::TypedPool;
///
/// #[derive(Debug, PartialEq)]
/// struct Particle { x: f32, y: f32 }
///
/// let pool = TypedPool::new(2)?;
/// let mut a = pool.alloc(Particle { x: 1.0, y: 2.0 }).unwrap();
/// let b = pool.alloc(Particle { x: 3.0, y: 4.0 }).unwrap();
/// a.x += 10.0;
/// assert_eq!(a.x, 11.0);
///
/// // Full: the value is handed back instead of being lost.
/// let rejected = pool.alloc(Particle { x: 0.0, y: 0.0 }).unwrap_err();
/// assert_eq!(rejected, Particle { x: 0.0, y: 0.0 });
///
/// drop(b); // its block goes back to the pool
/// assert_eq!(pool.in_use(), 1);
/// # Ok::<(), memory_pool::PoolError>(())
/// ```
///
/// With the `allocator-api2` feature, `&TypedPool` is also an allocator for allocator-api2's
/// and hashbrown's collections: each allocation takes one block, and a layout that does not
/// fit one is refused with `AllocError` (see the crate doc's *Collections in a pool*).
///
/// # Misuse that does not compile
///
/// The mistakes `Pool::free` has to catch at run time cannot be written here. A box borrows
/// its pool, so it cannot outlive it (no use after the pool is dropped):
///
/// ```compile_fail,E0505
/// let pool = memory_pool::TypedPool::new(1).unwrap();
/// let boxed = pool.alloc(1u32).unwrap();
/// drop(pool); // error: cannot move out of `pool` because it is borrowed
/// assert_eq!(*boxed, 1);
/// ```
///
/// Boxes free their blocks through `&TypedPool` without a lock, so neither a pool nor a box
/// can be shared with or sent to another thread:
///
/// ```compile_fail,E0277
/// fn shared<T: Sync>(_: &T) {}
/// shared(&memory_pool::TypedPool::<u32>::new(1).unwrap());
/// ```
///
/// ```compile_fail,E0277
/// fn sent<T: Send>(_: T) {}
/// let pool = memory_pool::TypedPool::new(1).unwrap();
/// sent(pool.alloc(1u32).unwrap());
/// ```
pub struct TypedPool<T, M: MemorySource = SystemMemory> {
    // `PoolBox` frees through `&TypedPool`, so the pool needs interior mutability. No pool
    // method calls out to user code, so a mutable borrow never overlaps another one, and the
    // `UnsafeCell` keeps `TypedPool` from being shared between threads.
    pool: UnsafeCell<Pool<M>>,
    _values: PhantomData<T>,
}

impl<T> TypedPool<T> {
    /// Creates a pool with room for `capacity` values of `T`, in memory from the operating
    /// system.
    ///
    /// # Errors
    ///
    /// As for [`Pool::new`]: zero capacity, a size that overflows, or no memory.
    #[cfg(any(unix, target_arch = "wasm32"))]
    pub fn new(capacity: usize) -> Result<Self, PoolError> {
        TypedPool::new_in(capacity, SystemMemory)
    }
}

impl<T, M: MemorySource> TypedPool<T, M> {
    /// Creates a pool with room for `capacity` values of `T`, in memory from `memory`.
    ///
    /// # Errors
    ///
    /// As for [`Pool::new_in`].
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{SliceMemory, TypedPool};
    ///
    /// let mut buffer = [0u8; 1024];
    /// let pool = TypedPool::new_in(8, SliceMemory::new(&mut buffer))?;
    /// assert_eq!(*pool.alloc(7u64).unwrap(), 7);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn new_in(capacity: usize, memory: M) -> Result<Self, PoolError> {
        Ok(TypedPool {
            pool: UnsafeCell::new(Pool::with_layout_in(Layout::new::<T>(), capacity, memory)?),
            _values: PhantomData,
        })
    }

    /// Moves `value` into a free block. O(1).
    ///
    /// # Errors
    ///
    /// Gives `value` back when every block is in use.
    pub fn alloc(&self, value: T) -> Result<PoolBox<'_, T, M>, T> {
        let Some(block) = self.with_pool(Pool::alloc) else {
            return Err(value);
        };
        let block = block.cast::<T>();
        // SAFETY: the block is ours, sized and aligned for `T` (the pool's layout).
        unsafe { block.write(value) };
        Ok(PoolBox {
            value: block,
            pool: self,
        })
    }

    /// How many values are alive.
    pub fn in_use(&self) -> usize {
        self.with_pool(|pool| pool.in_use())
    }

    /// How many values fit.
    pub fn capacity(&self) -> usize {
        self.with_pool(|pool| pool.block_count())
    }

    /// The underlying pool's counters.
    pub fn stats(&self) -> PoolStats {
        self.with_pool(|pool| pool.stats())
    }

    /// Every block's usable size and the alignment every block has (what the `Allocator`
    /// impl serves): the stride, and the largest power of two dividing the first block's
    /// address and the stride.
    #[cfg(feature = "allocator-api2")]
    pub(crate) fn block_layout(&self) -> (usize, usize) {
        self.with_pool(|pool| {
            let first = pool.block_ptr(0).map_or(0, |block| block.as_ptr().addr());
            let size = pool.block_size();
            (size, 1 << (first | size).trailing_zeros())
        })
    }

    /// A free block, or `None` when every block is in use.
    #[cfg(feature = "allocator-api2")]
    pub(crate) fn alloc_block(&self) -> Option<NonNull<u8>> {
        self.with_pool(Pool::alloc)
    }

    /// Gives a block back; the pool refuses (and counts) what is not one of its in-use blocks.
    #[cfg(feature = "allocator-api2")]
    pub(crate) fn free_block(&self, block: NonNull<u8>) -> Result<(), crate::FreeError> {
        self.with_pool(|pool| pool.free(block))
    }

    /// Runs `f` with the pool borrowed mutably; `f` never reaches user code.
    fn with_pool<R>(&self, f: impl FnOnce(&mut Pool<M>) -> R) -> R {
        // SAFETY: `TypedPool` is not `Sync`, and every `f` passed here is a pool method that
        // calls no user code, so no other reference to the pool exists while this one lives.
        f(unsafe { &mut *self.pool.get() })
    }
}

impl<T, M: MemorySource> fmt::Debug for TypedPool<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedPool")
            .field("capacity", &self.capacity())
            .field("in_use", &self.in_use())
            .finish()
    }
}

/// A value living in a [`TypedPool`]'s block: a `Box` whose memory is the pool's.
///
/// Dropping it drops the value and returns the block to the pool.
pub struct PoolBox<'pool, T, M: MemorySource = SystemMemory> {
    value: NonNull<T>,
    pool: &'pool TypedPool<T, M>,
}

impl<T, M: MemorySource> PoolBox<'_, T, M> {
    /// Moves the value out and returns the block to the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use memory_pool::{PoolBox, TypedPool};
    ///
    /// let pool = TypedPool::new(1)?;
    /// let boxed = pool.alloc(String::from("hello")).unwrap();
    /// assert_eq!(PoolBox::into_inner(boxed), "hello");
    /// assert_eq!(pool.in_use(), 0);
    /// # Ok::<(), memory_pool::PoolError>(())
    /// ```
    pub fn into_inner(boxed: Self) -> T {
        let boxed = core::mem::ManuallyDrop::new(boxed);
        // SAFETY: the block holds an initialised `T`, read once; `ManuallyDrop` stops the
        // destructor from dropping it again.
        let value = unsafe { boxed.value.read() };
        boxed.release_block();
        value
    }

    fn release_block(&self) {
        let result = self.pool.with_pool(|pool| pool.free(self.value.cast()));
        debug_assert!(result.is_ok(), "a PoolBox owns an in-use block of its pool");
    }
}

impl<T, M: MemorySource> Deref for PoolBox<'_, T, M> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the block holds an initialised `T` that this box owns.
        unsafe { self.value.as_ref() }
    }
}

impl<T, M: MemorySource> DerefMut for PoolBox<'_, T, M> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes the access unique.
        unsafe { self.value.as_mut() }
    }
}

impl<T, M: MemorySource> Drop for PoolBox<'_, T, M> {
    fn drop(&mut self) {
        // SAFETY: the value is initialised and dropped exactly once, here. Its destructor may
        // use the pool; the pool is not borrowed until it has finished.
        unsafe { self.value.drop_in_place() };
        self.release_block();
    }
}

impl<T: fmt::Debug, M: MemorySource> fmt::Debug for PoolBox<'_, T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
