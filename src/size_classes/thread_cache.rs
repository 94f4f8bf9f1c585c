//! Each thread's own cache of freed blocks, in front of its shard: see *Thread caches* on
//! [`SizeClasses`](super::SizeClasses).
//!
//! A thread's cache is a `thread_local` with a constant initialiser and no destructor, so
//! reaching it is one load from the thread's TLS block and nothing is allocated or
//! registered on that path. What must run at thread exit (giving the cached blocks back) is
//! registered once, on the thread's first use of a cache, by touching a second thread-local,
//! [`EXIT`], whose only job is its destructor.
//!
//! Everything another thread may read or write (the owner, each class's count, the
//! counters) is atomic and relaxed: plain loads and stores on the hot path. The blocks
//! themselves and the rest are touched by the owning thread alone.

use core::cell::{Cell, UnsafeCell};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

use super::{SpinLock, CLASS_SIZES};
use crate::region::{state_cell, RegionView, CACHED};
use crate::{sanitizer, BlockState};

/// Classes with a thread cache: the 8 B class to the 8 KiB class. Larger blocks are rarer
/// and each costs more to keep idle, so they go to the shard as before.
pub(super) const CACHED_CLASSES: usize = 19;
const _: () = assert!(CLASS_SIZES[CACHED_CLASSES - 1] == 8192);

/// The most blocks a thread keeps per class: 16, or fewer for classes above 4 KiB, so that
/// a class's cache holds at most 64 KiB. A table, not a division on every call to the shard
/// (a 32-bit `div` is tens of cycles: a block allocated and freed over and over, which goes
/// to the shard each time, took a third longer with it).
pub(super) const MOST_CACHED: [u32; CACHED_CLASSES] = {
    let mut most = [0; CACHED_CLASSES];
    let mut class = 0;
    while class < CACHED_CLASSES {
        let blocks = (64 * 1024) / CLASS_SIZES[class];
        most[class] = if blocks > 16 { 16 } else { blocks as u32 };
        class += 1;
    }
    most
};

/// `owner` before a thread's first use, and after the allocator it served was dropped.
pub(super) const NOBODY: u64 = u64::MAX;
/// `owner` once the thread's exit gave its blocks back: no cache from then on.
pub(super) const EXITED: u64 = u64::MAX - 1;

/// A cached block and its state byte.
#[derive(Clone, Copy)]
struct Entry {
    block: *mut u8,
    state: *mut u8,
}

/// One class of a thread's cache: a stack of blocks this thread freed (or took from its
/// shard in a batch), each marked [`CACHED`], so that a second `free` of one is refused.
pub(super) struct ClassCache {
    /// Blocks on the stack (read by other threads' counts).
    len: AtomicU32,
    /// How many it may hold: [`MOST_CACHED`] for the class, 0 until the thread first goes
    /// to its shard for the class.
    cap: Cell<u32>,
    /// How many more frees than allocations the stack may take before the thread goes to its
    /// shard again: half of what the program held from the shard above the class's idle
    /// mark when it last went there. So the stack is empty whenever the class's pool may
    /// give memory back, as the class's own cache is (see *Thread caches*).
    room: Cell<u32>,
    /// While `room` is 0 and the stack empty, how many more of the thread's allocations of
    /// the class go straight to the shard before it looks at the class again (see
    /// [`skips_the_cache`](Self::skips_the_cache)).
    skips: Cell<u32>,
    /// Blocks freed onto the stack less blocks moved from it back to the shard (wrapping):
    /// what the class's frees, as the shard counts them, miss.
    unseen_frees: AtomicU64,
    /// Blocks popped since the shard was last told (`take_unreported_pops`): handed out by
    /// the class without its pool seeing, which the pool's rules for giving memory back
    /// count as reuse.
    unreported_pops: Cell<u64>,
    /// The region whose blocks `free` may push: the shard's last.
    view: Cell<RegionView>,
    stride: Cell<usize>,
    entries: UnsafeCell<[Entry; 16]>,
}

impl ClassCache {
    const fn new() -> ClassCache {
        ClassCache {
            len: AtomicU32::new(0),
            cap: Cell::new(0),
            room: Cell::new(0),
            skips: Cell::new(0),
            unseen_frees: AtomicU64::new(0),
            unreported_pops: Cell::new(0),
            view: Cell::new(RegionView::NONE),
            stride: Cell::new(0),
            entries: UnsafeCell::new(
                [Entry {
                    block: ptr::null_mut(),
                    state: ptr::null_mut(),
                }; 16],
            ),
        }
    }

    /// Pops a cached block and marks it in use, or `None` if the stack is empty.
    #[inline(always)]
    pub(super) fn pop(&self) -> Option<NonNull<u8>> {
        let len = self.len.load(Relaxed).checked_sub(1)?;
        // SAFETY: only the owning thread reaches `entries`; `len < 16`, as `push` keeps it.
        let entry = unsafe { (*self.entries.get()).get_unchecked(len as usize) };
        self.len.store(len, Relaxed);
        self.room.set(self.room.get().saturating_add(1));
        self.unreported_pops.set(self.unreported_pops.get() + 1);
        // SAFETY: the entry's state byte is its block's, in a region of the shard, which
        // lives as long as the allocator this cache serves.
        unsafe { state_cell(entry.state) }.store(BlockState::InUse as u8, Relaxed);
        let block = NonNull::new(entry.block)?;
        sanitizer::block_handed_out(block, self.stride.get());
        Some(block)
    }

    /// Pushes `block`, freed by the program, if the stack has room and `block` is an in-use
    /// block of the class's view: it is marked cached. `false` (nothing changed) otherwise.
    #[inline(always)]
    pub(super) fn push(&self, block: NonNull<u8>) -> Push {
        let len = self.len.load(Relaxed);
        if len >= self.cap.get() || self.room.get() == 0 {
            return Push::Full;
        }
        let view = self.view.get();
        let addr = block.addr().get();
        let Some(state) = view.state_byte(addr) else {
            return Push::NotHere;
        };
        // SAFETY: `state_byte` found a block starting at `addr`; its state byte lives as long
        // as the region.
        let cell = unsafe { state_cell(state) };
        if cell.load(Relaxed) != BlockState::InUse as u8 {
            return Push::NotHere;
        }
        // SAFETY: `addr` is the address of the caller's `NonNull` block.
        let block = unsafe { NonNull::new_unchecked(view.block(addr)) };
        self.put(block, cell, state);
        self.room.set(self.room.get() - 1);
        let unseen = self.unseen_frees.load(Relaxed);
        self.unseen_frees.store(unseen.wrapping_add(1), Relaxed);
        Push::Cached
    }

    /// Takes a block the shard just handed out (marked in use, and counted there) onto the
    /// stack, marked cached; the caller checked there is room.
    pub(super) fn take_from_shard(&self, block: NonNull<u8>, state: *mut u8) {
        // SAFETY: `state` is the block's state byte, in a region of the shard.
        self.put(block, unsafe { state_cell(state) }, state);
    }

    /// Marks `block` (whose state byte is `cell`, at `state`) cached and puts it on top of
    /// the stack, which has room (`len < cap`).
    #[inline(always)]
    fn put(&self, block: NonNull<u8>, cell: &AtomicU8, state: *mut u8) {
        let len = self.len.load(Relaxed);
        debug_assert!(len < self.cap.get());
        cell.store(CACHED, Relaxed);
        let entry = Entry {
            block: block.as_ptr(),
            state,
        };
        // SAFETY: only the owning thread reaches `entries`; `len < cap <= 16`.
        unsafe { *(*self.entries.get()).get_unchecked_mut(len as usize) = entry };
        self.len.store(len + 1, Relaxed);
        sanitizer::block_freed(block, self.stride.get(), 0);
    }

    /// Empties the stack: see [`drain_oldest`](Self::drain_oldest).
    pub(super) fn drain(&self, give_back: impl FnMut(NonNull<u8>)) {
        self.drain_oldest(self.len.load(Relaxed), give_back);
    }

    /// Takes the `count` blocks at the bottom of the stack (the longest there) off it: each
    /// marked in use again and passed to `give_back`, as the program's `free` would have. The
    /// blocks now count as freed where the shard counts.
    pub(super) fn drain_oldest(&self, count: u32, mut give_back: impl FnMut(NonNull<u8>)) {
        let len = self.len.load(Relaxed);
        let count = count.min(len);
        for index in 0..count as usize {
            // SAFETY: only the owning thread (or its exit, or the dropping allocator, which
            // no thread uses any more) reaches `entries`; `index < len <= 16`.
            let entry = unsafe { *(*self.entries.get()).get_unchecked(index) };
            // SAFETY: as in `pop`.
            unsafe { state_cell(entry.state) }.store(BlockState::InUse as u8, Relaxed);
            if let Some(block) = NonNull::new(entry.block) {
                sanitizer::block_handed_out(block, self.stride.get());
                give_back(block);
            }
        }
        // SAFETY: as above; `count <= len <= 16`.
        unsafe { (*self.entries.get()).copy_within(count as usize..len as usize, 0) };
        self.len.store(len - count, Relaxed);
        let unseen = self.unseen_frees.load(Relaxed);
        self.unseen_frees
            .store(unseen.wrapping_sub(u64::from(count)), Relaxed);
    }

    /// Whether this allocation should go to the shard as if there were no thread cache: the
    /// stack is empty and may take no frees (the program holds few blocks of the class), so
    /// the cache has nothing to give. Then only every 16th such allocation goes through the
    /// cache's own way to the shard, which looks at the class again; the others skip its
    /// bookkeeping. (A block allocated and freed over and over, each time the class's only
    /// one, ran a half slower through it every time.)
    #[inline(always)]
    pub(super) fn skips_the_cache(&self) -> bool {
        let skips = self.skips.get();
        if skips == 0 {
            return false;
        }
        self.skips.set(skips - 1);
        true
    }

    /// Whether a `free` that found no room should go to the shard as if there were no
    /// thread cache: the stack is empty, so there is nothing to give back with it.
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.len.load(Relaxed) == 0
    }

    /// From the shard: how many blocks and net frees the stack may take, and the region frees
    /// are checked against.
    pub(super) fn set_limits(&self, cap: u32, room: u32, view: RegionView, stride: usize) {
        self.cap.set(cap);
        self.room.set(room);
        self.skips.set(if room == 0 { 15 } else { 0 });
        self.view.set(view);
        self.stride.set(stride);
    }

    pub(super) fn len(&self) -> u32 {
        self.len.load(Relaxed)
    }

    pub(super) fn cap(&self) -> u32 {
        self.cap.get()
    }

    /// The pops since the last call.
    pub(super) fn take_unreported_pops(&self) -> u64 {
        self.unreported_pops.replace(0)
    }

    pub(super) fn unseen_frees(&self) -> u64 {
        self.unseen_frees.load(Relaxed)
    }

    /// Forgets everything, for a new owner (the blocks, if any, were the old owner's).
    fn reset(&self) {
        self.len.store(0, Relaxed);
        self.cap.set(0);
        self.room.set(0);
        self.skips.set(0);
        self.unseen_frees.store(0, Relaxed);
        self.unreported_pops.set(0);
        self.view.set(RegionView::NONE);
    }
}

/// What [`ClassCache::push`] did.
pub(super) enum Push {
    Cached,
    /// The stack is at its cap, or out of room: the shard should take some of its blocks.
    Full,
    /// Not an in-use block of the view's region: for the shard to free, or refuse.
    NotHere,
}

/// One thread's cache.
pub(super) struct ThreadCache {
    /// The allocator this cache serves ([`SizeClasses`](super::SizeClasses)'s id), or
    /// [`NOBODY`], or [`EXITED`]. Written by the owning thread and by a dropping allocator.
    pub(super) owner: AtomicU64,
    /// Being claimed: calls made meanwhile (registering the exit, which may allocate) do not
    /// use the cache.
    claiming: Cell<bool>,
    /// How to give the blocks back at thread exit, and to which shard (a shard in memory of
    /// its own, which does not move as the allocator may).
    give_back: Cell<Option<GiveBack>>,
    shard: Cell<*const ()>,
    /// Neighbours on [`REGISTRY`]'s list (only touched with its lock held).
    next: Cell<*const ThreadCache>,
    prev: Cell<*const ThreadCache>,
    registered: Cell<bool>,
    pub(super) classes: [ClassCache; CACHED_CLASSES],
}

/// Gives every block of a thread's cache back to the shard `shard`.
pub(super) type GiveBack = unsafe fn(shard: *const (), cache: &ThreadCache);

impl ThreadCache {
    const fn new() -> ThreadCache {
        ThreadCache {
            owner: AtomicU64::new(NOBODY),
            claiming: Cell::new(false),
            give_back: Cell::new(None),
            shard: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            registered: Cell::new(false),
            classes: [const { ClassCache::new() }; CACHED_CLASSES],
        }
    }

    /// Makes this thread's cache serve allocator `id`, whose blocks for it come from `shard`
    /// and go back there through `give_back`. `false` if it cannot: it serves another live
    /// allocator, or the thread is exiting, or a claim is under way.
    #[cold]
    pub(super) fn claim(&self, id: u64, shard: *const (), give_back: GiveBack) -> bool {
        if self.claiming.get() || self.owner.load(Relaxed) != NOBODY {
            return false;
        }
        self.claiming.set(true);
        // Registers the exit's destructor, once per thread; that may allocate, and the calls
        // it makes see `claiming` and go to the shard.
        let registered = EXIT.try_with(|_| ()).is_ok();
        if registered {
            let mut registry = REGISTRY.lock();
            if !self.registered.get() {
                registry.insert(self);
                self.registered.set(true);
            }
            for class in &self.classes {
                class.reset();
            }
            self.shard.set(shard);
            self.give_back.set(Some(give_back));
            self.owner.store(id, Relaxed);
        }
        self.claiming.set(false);
        registered
    }

    /// The thread is ending: its blocks go back to its shard, and it caches no more.
    fn exit(&self) {
        let mut registry = REGISTRY.lock();
        let owner = self.owner.load(Relaxed);
        if owner != NOBODY && owner != EXITED {
            if let Some(give_back) = self.give_back.get() {
                // SAFETY: the owner is alive (a dropping allocator sets `owner` to NOBODY
                // under the registry's lock, which we hold), so its shard is too.
                unsafe { give_back(self.shard.get(), self) };
            }
        }
        self.owner.store(EXITED, Relaxed);
        if self.registered.get() {
            registry.remove(self);
            self.registered.set(false);
        }
    }
}

std::thread_local! {
    /// The calling thread's cache.
    pub(super) static CACHE: ThreadCache = const { ThreadCache::new() };
    /// Its destructor gives the thread's cached blocks back when the thread ends.
    static EXIT: Exit = const { Exit };
}

/// See [`EXIT`].
struct Exit;

impl Drop for Exit {
    fn drop(&mut self) {
        // The cache has no destructor, so it is still there while thread-locals are torn down.
        let _ = CACHE.try_with(ThreadCache::exit);
    }
}

/// Every thread's cache that has served an allocator, so that an allocator can count what
/// the threads hold, and forget them when it is dropped.
pub(super) static REGISTRY: SpinLock<Registry> = SpinLock::new(Registry { head: ptr::null() });

/// A list of thread caches, linked through their `next` and `prev`.
pub(super) struct Registry {
    head: *const ThreadCache,
}

// SAFETY: the list's caches are thread-locals that unlink themselves (under the lock) before
// their thread's storage goes; the list is only reached through `REGISTRY`'s lock.
unsafe impl Send for Registry {}

impl Registry {
    fn insert(&mut self, cache: &ThreadCache) {
        cache.prev.set(ptr::null());
        cache.next.set(self.head);
        if let Some(head) = NonNull::new(self.head.cast_mut()) {
            // SAFETY: a listed cache is alive (see `Send` above); we hold the lock.
            unsafe { head.as_ref() }.prev.set(cache);
        }
        self.head = cache;
    }

    fn remove(&mut self, cache: &ThreadCache) {
        let (prev, next) = (cache.prev.get(), cache.next.get());
        match NonNull::new(prev.cast_mut()) {
            // SAFETY: as in `insert`.
            Some(prev) => unsafe { prev.as_ref() }.next.set(next),
            None => self.head = next,
        }
        if let Some(next) = NonNull::new(next.cast_mut()) {
            // SAFETY: as in `insert`.
            unsafe { next.as_ref() }.prev.set(prev);
        }
    }

    /// Every listed cache serving allocator `id`.
    pub(super) fn serving(&self, id: u64) -> impl Iterator<Item = &ThreadCache> + '_ {
        let mut at = self.head;
        core::iter::from_fn(move || {
            while let Some(cache) = NonNull::new(at.cast_mut()) {
                // SAFETY: as in `insert`; the list cannot change while `self` is borrowed,
                // as that takes the lock.
                let cache = unsafe { &*cache.as_ptr() };
                at = cache.next.get();
                if cache.owner.load(Relaxed) == id {
                    return Some(cache);
                }
            }
            None
        })
    }
}
