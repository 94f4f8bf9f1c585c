//! `Pool` for JavaScript: a [`crate::Pool`] in linear memory, behind checked arguments.
//!
//! Every method checks its numbers with `to_usize`, answers misuse with a JS `Error`
//! (never a panic), and leaves the pool exactly as it was when it throws.

use std::sync::Once;
use std::vec::Vec;

use js_sys::{Error, Reflect, Symbol, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use super::{install_panic_hook, js_error, to_usize};
use crate::{BlockState, FreeError, Pool};

/// A pool of fixed-size blocks in the module's linear memory, exported to JavaScript as
/// `Pool`: `alloc()` hands out a block's address, `free(address)` takes it back, and the
/// getters and `blockStates()` / `freeList()` show the memory map. Misuse throws an `Error`
/// and leaves the pool unchanged. Call `destroy()` when done (not the usual wasm-bindgen
/// `free()`: here `free` is the pool's own).
#[wasm_bindgen(js_name = Pool)]
#[derive(Debug)]
pub struct JsPool {
    /// `None` once `destroy()` has released the pool, so that later calls can say so.
    pool: Option<Pool>,
}

#[wasm_bindgen(js_class = Pool)]
impl JsPool {
    /// `new Pool(blockSize, blockCount)`: `blockCount` blocks of at least `blockSize` bytes
    /// (rounded up to a multiple of 4, the alignment of an address on wasm32).
    ///
    /// # Errors
    ///
    /// A bad number (see `to_usize`), zero, or a pool that does not fit in memory.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = blockSize)] block_size: f64,
        #[wasm_bindgen(js_name = blockCount)] block_count: f64,
    ) -> Result<JsPool, Error> {
        install_panic_hook();
        dispose_means_destroy();
        let block_size = to_usize(block_size, "blockSize")?;
        let block_count = to_usize(block_count, "blockCount")?;
        let pool = Pool::new(block_size, block_count).map_err(js_error)?;
        Ok(JsPool { pool: Some(pool) })
    }

    /// `alloc()`: the address of a block, or `undefined` when every block is in use.
    ///
    /// # Errors
    ///
    /// Only when the pool was destroyed.
    pub fn alloc(&mut self) -> Result<Option<usize>, Error> {
        Ok(self
            .pool_mut()?
            .alloc()
            .map(|block| block.as_ptr().expose_provenance()))
    }

    /// `free(address)`: gives the block at `address` back to the pool.
    ///
    /// # Errors
    ///
    /// The [`FreeError`] message for an address outside the pool, inside a block rather than
    /// at its start, or of a block that is not in use; the pool is unchanged (except for the
    /// count of refused frees; `free(0)` is refused without being counted). Also a bad
    /// number, or a destroyed pool.
    pub fn free(&mut self, address: f64) -> Result<(), Error> {
        let address = to_usize(address, "address")?;
        let pool = self.pool_mut()?;
        // A pointer with exposed provenance: the pool only compares its address unless it
        // is exactly one of the pool's in-use blocks, which were exposed by `alloc`.
        let block = core::ptr::with_exposed_provenance_mut::<u8>(address);
        match core::ptr::NonNull::new(block) {
            Some(block) => pool.free(block).map_err(js_error),
            // Address 0 (null) is never a block. The core takes only non-null pointers, so
            // this refusal is not counted in `rejectedNotInPool`.
            None => Err(js_error(FreeError::NotInPool { addr: 0 })),
        }
    }

    /// `destroy()`: releases the pool's region, to be reused by the next `Pool`. Every later
    /// call on this object throws. Blocks still in use are released with the region.
    ///
    /// # Errors
    ///
    /// When the pool was already destroyed.
    pub fn destroy(&mut self) -> Result<(), Error> {
        match self.pool.take() {
            Some(pool) => {
                drop(pool);
                Ok(())
            }
            None => Err(destroyed()),
        }
    }

    /// The size of each block in bytes (the requested size, rounded up).
    #[wasm_bindgen(getter, js_name = blockSize)]
    pub fn block_size(&self) -> Result<usize, Error> {
        Ok(self.pool()?.block_size())
    }

    /// The number of blocks.
    #[wasm_bindgen(getter, js_name = blockCount)]
    pub fn block_count(&self) -> Result<usize, Error> {
        Ok(self.pool()?.block_count())
    }

    /// Blocks handed out and not yet freed.
    #[wasm_bindgen(getter, js_name = inUse)]
    pub fn in_use(&self) -> Result<usize, Error> {
        Ok(self.pool()?.in_use())
    }

    /// The most blocks ever in use at once.
    #[wasm_bindgen(getter, js_name = peakInUse)]
    pub fn peak_in_use(&self) -> Result<usize, Error> {
        Ok(self.pool()?.stats().peak_in_use)
    }

    /// Successful `alloc` calls (exact up to 2^53, far beyond any page's lifetime).
    #[wasm_bindgen(getter, js_name = totalAllocs)]
    pub fn total_allocs(&self) -> Result<f64, Error> {
        Ok(self.pool()?.stats().total_allocs as f64)
    }

    /// Successful `free` calls.
    #[wasm_bindgen(getter, js_name = totalFrees)]
    pub fn total_frees(&self) -> Result<f64, Error> {
        Ok(self.pool()?.stats().total_frees as f64)
    }

    /// The index of the first never-used block (`blockCount` once all were used).
    #[wasm_bindgen(getter, js_name = nextNeverUsed)]
    pub fn next_never_used(&self) -> Result<usize, Error> {
        Ok(self.pool()?.next_never_used())
    }

    /// Refused frees of addresses outside the pool.
    #[wasm_bindgen(getter, js_name = rejectedNotInPool)]
    pub fn rejected_not_in_pool(&self) -> Result<f64, Error> {
        Ok(self.pool()?.stats().rejected.not_in_pool as f64)
    }

    /// Refused frees of addresses inside a block but not at its start.
    #[wasm_bindgen(getter, js_name = rejectedMisaligned)]
    pub fn rejected_misaligned(&self) -> Result<f64, Error> {
        Ok(self.pool()?.stats().rejected.misaligned as f64)
    }

    /// Refused frees of blocks that were free already or never handed out.
    #[wasm_bindgen(getter, js_name = rejectedDoubleFree)]
    pub fn rejected_double_free(&self) -> Result<f64, Error> {
        Ok(self.pool()?.stats().rejected.double_free as f64)
    }

    /// The address of the region's first byte (padding, the chunk lists, then the state
    /// bytes).
    #[wasm_bindgen(getter, js_name = regionBase)]
    pub fn region_base(&self) -> Result<usize, Error> {
        Ok(self.pool()?.layout().base)
    }

    /// The region's size in bytes: metadata, then blocks.
    #[wasm_bindgen(getter, js_name = regionSize)]
    pub fn region_size(&self) -> Result<usize, Error> {
        Ok(self.pool()?.layout().size)
    }

    /// Blocks are grouped by the aligned piece of memory of this many bytes they start in (a
    /// chunk), each chunk with its own free list, which ends with an odd address (one of the
    /// chunk's blocks plus one: never a block).
    #[wasm_bindgen(getter, js_name = chunkBytes)]
    pub fn chunk_bytes(&self) -> Result<usize, Error> {
        Ok(self.pool()?.layout().chunk_bytes)
    }

    /// The address of block 0; the `blocksStart - regionBase` bytes before it are metadata.
    #[wasm_bindgen(getter, js_name = blocksStart)]
    pub fn blocks_start(&self) -> Result<usize, Error> {
        Ok(self.pool()?.layout().blocks)
    }

    /// The address of the state bytes, one per block (0 never used, 1 free, 2 in use): JS
    /// can view them live as `new Uint8Array(memory.buffer, statesAddress, blockCount)`.
    #[wasm_bindgen(getter, js_name = statesAddress)]
    pub fn states_address(&self) -> Result<usize, Error> {
        Ok(self.pool()?.layout().states)
    }

    /// A copy of the state bytes, in address order.
    #[wasm_bindgen(js_name = blockStates)]
    pub fn block_states(&self) -> Result<Uint8Array, Error> {
        let states: Vec<u8> = self
            .pool()?
            .blocks()
            .map(|block| block.state as u8)
            .collect();
        Ok(Uint8Array::from(&states[..]))
    }

    /// The free list: block indices in the order `alloc` hands them out again.
    #[wasm_bindgen(js_name = freeList)]
    pub fn free_list(&self) -> Result<Uint32Array, Error> {
        // Indices are below the block count, which fits in 32 bits on wasm32.
        let list: Vec<u32> = self.pool()?.free_list().map(|index| index as u32).collect();
        Ok(Uint32Array::from(&list[..]))
    }

    /// The address of block `index`.
    ///
    /// # Errors
    ///
    /// A bad number, or an index that is not below `blockCount`.
    #[wasm_bindgen(js_name = addressOf)]
    pub fn address_of(&self, index: f64) -> Result<usize, Error> {
        let index = to_usize(index, "index")?;
        let pool = self.pool()?;
        pool.block_ptr(index)
            .map(|block| block.as_ptr().addr())
            .ok_or_else(|| no_such_block(index, pool.block_count()))
    }

    /// Where block `index` keeps its free-list link while it is free: the address of a
    /// 4-byte word inside the block that holds the address of the next free block (or, at
    /// the end of its chunk's list, an end mark: an odd address).
    ///
    /// # Errors
    ///
    /// A bad number, or an index that is not below `blockCount`.
    #[wasm_bindgen(js_name = linkAddress)]
    pub fn link_address(&self, index: f64) -> Result<usize, Error> {
        let index = to_usize(index, "index")?;
        let pool = self.pool()?;
        pool.link_address(index)
            .ok_or_else(|| no_such_block(index, pool.block_count()))
    }

    /// The index of the block that contains `address` (at its start or anywhere inside).
    ///
    /// # Errors
    ///
    /// A bad number, or an address outside the pool's blocks.
    #[wasm_bindgen(js_name = indexOf)]
    pub fn index_of(&self, address: f64) -> Result<usize, Error> {
        let address = to_usize(address, "address")?;
        Ok(self.pool()?.block_at(address)?.0)
    }

    /// `writeBytes(address, bytes)`: copies `bytes` to `address`, which with all of `bytes`
    /// must lie inside one block that is in use. Nothing is written when it throws.
    ///
    /// # Errors
    ///
    /// A bad number, `bytes` that is not a `Uint8Array`, or a range that is not inside one
    /// in-use block.
    #[wasm_bindgen(js_name = writeBytes)]
    pub fn write_bytes(&mut self, address: f64, bytes: &Uint8Array) -> Result<(), Error> {
        let address = to_usize(address, "address")?;
        let pool = self.pool_mut()?;
        // The JS glue does not check types: without this, a plain array or a number would
        // be read through a `length` that may be undefined.
        if !bytes.is_instance_of::<Uint8Array>() {
            return Err(js_error("bytes must be a Uint8Array"));
        }
        let block = pool.in_use_range(address, bytes.length() as usize)?;
        // SAFETY: `in_use_range` checked that the range lies inside one block that is in use:
        // memory of this pool's region that the pool itself does not read or write while the
        // block is in use. No Rust reference to it exists, and `&mut self` keeps this the
        // only access for the length of the copy.
        let target = unsafe { core::slice::from_raw_parts_mut(block, bytes.length() as usize) };
        bytes.copy_to(target);
        Ok(())
    }

    /// `readBytes(address, length)`: a copy of `length` bytes at `address`, which must lie
    /// inside one block that is in use.
    ///
    /// # Errors
    ///
    /// A bad number, or a range that is not inside one in-use block.
    #[wasm_bindgen(js_name = readBytes)]
    pub fn read_bytes(&self, address: f64, length: f64) -> Result<Uint8Array, Error> {
        let address = to_usize(address, "address")?;
        let length = to_usize(length, "length")?;
        let pool = self.pool()?;
        let block = pool.in_use_range(address, length)?;
        // SAFETY: as in `write_bytes`; the bytes are initialised (fresh memory is zeroed and
        // only ever written with initialised bytes), and `&self` excludes writers.
        let source = unsafe { core::slice::from_raw_parts(block.cast_const(), length) };
        Ok(Uint8Array::from(source))
    }
}

impl JsPool {
    /// The pool, or the "destroyed" error.
    pub(super) fn pool(&self) -> Result<&Pool, Error> {
        self.pool.as_ref().ok_or_else(destroyed)
    }

    /// The pool, mutably, or the "destroyed" error.
    pub(super) fn pool_mut(&mut self) -> Result<&mut Pool, Error> {
        self.pool.as_mut().ok_or_else(destroyed)
    }
}

/// The checks behind `indexOf`, `readBytes` and `writeBytes`.
trait BlockRanges {
    /// The index of the block containing `address`, and how far into it `address` is.
    fn block_at(&self, address: usize) -> Result<(usize, usize), Error>;

    /// A pointer to `address`, if `address .. address + length` lies inside one in-use block.
    fn in_use_range(&self, address: usize, length: usize) -> Result<*mut u8, Error>;
}

impl BlockRanges for Pool {
    fn block_at(&self, address: usize) -> Result<(usize, usize), Error> {
        let layout = self.layout();
        let offset = address.wrapping_sub(layout.blocks);
        let index = offset / layout.stride;
        if index >= layout.count {
            return Err(js_error(FreeError::NotInPool { addr: address }));
        }
        Ok((index, offset % layout.stride))
    }

    fn in_use_range(&self, address: usize, length: usize) -> Result<*mut u8, Error> {
        let (index, offset) = self.block_at(address)?;
        let block_size = self.block_size();
        if self.state(index) != Some(BlockState::InUse) {
            return Err(js_error(format_args!(
                "block {index} (at {address:#x}) is not in use: only a block that alloc() \
                 handed out, and that is not freed yet, may be read or written"
            )));
        }
        if length > block_size - offset {
            return Err(js_error(format_args!(
                "{length} bytes at {address:#x} do not fit in block {index}: it has \
                 {block_size} bytes and {address:#x} is {offset} bytes into it, so at most {} \
                 bytes fit",
                block_size - offset
            )));
        }
        let block = self
            .block_ptr(index)
            .ok_or_else(|| no_such_block(index, self.block_count()))?;
        // `offset < block_size`, so this stays inside the block, with its provenance.
        Ok(block.as_ptr().wrapping_add(offset))
    }
}

/// Points `Pool.prototype[Symbol.dispose]` at `destroy`, once.
///
/// wasm-bindgen points `Symbol.dispose` at the class's `free`, which on this class is the
/// pool's `free(address)`: `using pool = new Pool(…)` would then end with "address must be a
/// whole number …, not NaN" instead of releasing the pool. The class is reachable from Rust
/// only through an instance, so an empty one (as after `destroy()`) is made to find it.
fn dispose_means_destroy() {
    static WIRED: Once = Once::new();
    WIRED.call_once(|| {
        let dispose = JsValue::from(Symbol::dispose());
        if dispose.is_undefined() {
            return; // an engine without explicit resource management: nothing to fix
        }
        let instance = JsValue::from(JsPool { pool: None });
        let Ok(prototype) = Reflect::get_prototype_of(&instance) else {
            return;
        };
        if let Ok(destroy) = Reflect::get(&prototype, &JsValue::from_str("destroy")) {
            // Setting a property of a class prototype does not fail; if it ever did,
            // `Symbol.dispose` would simply keep wasm-bindgen's wiring.
            let _ = Reflect::set(&prototype, &dispose, &destroy);
        }
    });
}

/// The error for any call on a destroyed pool.
fn destroyed() -> Error {
    js_error("this pool was destroyed (destroy() released its memory); create a new Pool to go on")
}

/// The error for a block index that is not below `count`.
fn no_such_block(index: usize, count: usize) -> Error {
    js_error(format_args!(
        "there is no block {index}: this pool's blocks are numbered 0 to {}",
        count - 1
    ))
}
