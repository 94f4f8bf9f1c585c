//! `Heap` for JavaScript: the crate's teaching [`crate::teaching::Heap`] in linear memory, so the page
//! can run the same workload on a pool and on a general-purpose heap, side by side.
//!
//! ```js
//! const heap = new Heap(768);          // 768 bytes, headers included; throws Error for bad numbers
//! const a = heap.alloc(40);            // an address, or undefined when no hole is large enough
//! heap.free(a);                        // throws Error with the HeapFreeError message on misuse
//! heap.blocks();                       // Uint32Array [address, size, used (0/1), …] in address order
//! heap.fragmentation;                  // 1 − largestFree / totalFree
//! Heap.headerSize();                   // 4: the header in front of every block on wasm32
//! heap.destroy();
//! ```
//!
//! As for `Pool`, `free(address)` is the allocator's own free and `destroy()` releases the
//! heap (so does `Symbol.dispose`: `using heap = new Heap(…)`); every number from JS is
//! checked with `to_usize`, and misuse throws an `Error` and leaves the heap unchanged.

use std::sync::Once;
use std::vec::Vec;

use js_sys::{Error, Reflect, Symbol, Uint32Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use super::{install_panic_hook, js_error, to_usize};
use crate::teaching::{Heap, HeapFreeError};

/// A first-fit heap with a header per block, splitting and coalescing, exported to
/// JavaScript as `Heap`. Call `destroy()` when done (`free` is the heap's own).
#[wasm_bindgen(js_name = Heap)]
#[derive(Debug)]
pub struct JsHeap {
    /// `None` once `destroy()` has released the heap.
    heap: Option<Heap>,
}

#[wasm_bindgen(js_class = Heap)]
impl JsHeap {
    /// `new Heap(size)`: a heap over `size` bytes, headers included, one free block at first.
    ///
    /// # Errors
    ///
    /// A bad number, a size too small for one block, or no memory.
    #[wasm_bindgen(constructor)]
    pub fn new(size: f64) -> Result<JsHeap, Error> {
        install_panic_hook();
        dispose_means_destroy();
        let size = to_usize(size, "size")?;
        let heap = Heap::new(size).map_err(js_error)?;
        Ok(JsHeap { heap: Some(heap) })
    }

    /// `Heap.headerSize()`: the bytes of header in front of every block.
    #[wasm_bindgen(js_name = headerSize)]
    pub fn header_size() -> usize {
        Heap::HEADER_BYTES
    }

    /// `alloc(size)`: the address of at least `size` bytes, or `undefined` when no free block
    /// is large enough (first fit).
    ///
    /// # Errors
    ///
    /// A bad number, or a destroyed heap.
    pub fn alloc(&mut self, size: f64) -> Result<Option<usize>, Error> {
        let size = to_usize(size, "size")?;
        Ok(self
            .heap_mut()?
            .alloc(size)
            .map(|block| block.as_ptr().expose_provenance()))
    }

    /// `free(address)`: gives the block at `address` back, merging it with free neighbours.
    ///
    /// # Errors
    ///
    /// The [`HeapFreeError`] message for an address that is not a block in use; the heap is
    /// unchanged. Also a bad number, or a destroyed heap.
    pub fn free(&mut self, address: f64) -> Result<(), Error> {
        let address = to_usize(address, "address")?;
        let heap = self.heap_mut()?;
        // The heap only compares this address with its blocks; it reads and writes its
        // memory through its own pointer to the region, never through this one.
        let block = core::ptr::with_exposed_provenance_mut::<u8>(address);
        match core::ptr::NonNull::new(block) {
            Some(block) => heap.free(block).map_err(js_error),
            None => Err(js_error(HeapFreeError::NotInHeap { addr: 0 })),
        }
    }

    /// `destroy()`: releases the heap's region; every later call on this object throws.
    ///
    /// # Errors
    ///
    /// When the heap was already destroyed.
    pub fn destroy(&mut self) -> Result<(), Error> {
        self.heap.take().map(drop).ok_or_else(destroyed)
    }

    /// Every block in address order, as `[address, size, used, address, size, used, …]`
    /// (`size` includes the header; `used` is 1 or 0).
    pub fn blocks(&self) -> Result<Uint32Array, Error> {
        let flat: Vec<u32> = self
            .heap()?
            .blocks()
            .flat_map(|block| [block.addr as u32, block.size as u32, u32::from(block.used)])
            .collect();
        Ok(Uint32Array::from(&flat[..]))
    }

    /// The heap's size in bytes, headers included.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> Result<usize, Error> {
        Ok(self.heap()?.size())
    }

    /// The address of the first block's header.
    #[wasm_bindgen(getter)]
    pub fn start(&self) -> Result<usize, Error> {
        Ok(self.heap()?.start())
    }

    /// External fragmentation: `1 − largestFree / totalFree` (0 when nothing is free).
    #[wasm_bindgen(getter)]
    pub fn fragmentation(&self) -> Result<f64, Error> {
        Ok(self.heap()?.external_fragmentation())
    }

    /// The largest free block in bytes, header included.
    #[wasm_bindgen(getter, js_name = largestFree)]
    pub fn largest_free(&self) -> Result<usize, Error> {
        Ok(self.heap()?.largest_free())
    }

    /// All free bytes, headers of free blocks included.
    #[wasm_bindgen(getter, js_name = totalFree)]
    pub fn total_free(&self) -> Result<usize, Error> {
        Ok(self.heap()?.total_free())
    }

    /// The largest request `alloc` can serve now.
    #[wasm_bindgen(getter, js_name = largestRequest)]
    pub fn largest_request(&self) -> Result<usize, Error> {
        Ok(self.heap()?.largest_request())
    }

    /// Bytes spent on the headers of the blocks in use.
    #[wasm_bindgen(getter, js_name = headerBytes)]
    pub fn header_bytes(&self) -> Result<usize, Error> {
        Ok(self.heap()?.header_bytes())
    }

    /// Blocks handed out and not yet freed.
    #[wasm_bindgen(getter, js_name = inUse)]
    pub fn in_use(&self) -> Result<usize, Error> {
        Ok(self.heap()?.stats().in_use)
    }

    /// Successful `alloc` calls.
    #[wasm_bindgen(getter, js_name = totalAllocs)]
    pub fn total_allocs(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().total_allocs as f64)
    }

    /// Successful `free` calls.
    #[wasm_bindgen(getter, js_name = totalFrees)]
    pub fn total_frees(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().total_frees as f64)
    }

    /// `alloc` calls that found no free block large enough.
    #[wasm_bindgen(getter, js_name = failedAllocs)]
    pub fn failed_allocs(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().failed_allocs as f64)
    }

    /// Refused `free` calls.
    #[wasm_bindgen(getter, js_name = rejectedFrees)]
    pub fn rejected_frees(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().rejected_frees as f64)
    }

    /// Free blocks looked at by all first-fit searches so far.
    #[wasm_bindgen(getter, js_name = blocksSearched)]
    pub fn blocks_searched(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().blocks_searched as f64)
    }

    /// Times `alloc` split a free block.
    #[wasm_bindgen(getter)]
    pub fn splits(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().splits as f64)
    }

    /// Times `free` merged a block with a free neighbour.
    #[wasm_bindgen(getter)]
    pub fn merges(&self) -> Result<f64, Error> {
        Ok(self.heap()?.stats().merges as f64)
    }
}

impl JsHeap {
    fn heap(&self) -> Result<&Heap, Error> {
        self.heap.as_ref().ok_or_else(destroyed)
    }

    fn heap_mut(&mut self) -> Result<&mut Heap, Error> {
        self.heap.as_mut().ok_or_else(destroyed)
    }
}

/// Points `Heap.prototype[Symbol.dispose]` at `destroy`, once: wasm-bindgen points it at
/// `free`, which on this class is the heap's `free(address)` (see `Pool`'s twin in pool.rs).
fn dispose_means_destroy() {
    static WIRED: Once = Once::new();
    WIRED.call_once(|| {
        let dispose = JsValue::from(Symbol::dispose());
        if dispose.is_undefined() {
            return; // no explicit resource management in this engine: nothing to fix
        }
        let instance = JsValue::from(JsHeap { heap: None });
        let Ok(prototype) = Reflect::get_prototype_of(&instance) else {
            return;
        };
        if let Ok(destroy) = Reflect::get(&prototype, &JsValue::from_str("destroy")) {
            // Setting a property of a class prototype does not fail; if it did, `using`
            // would keep wasm-bindgen's wiring and nothing else would change.
            let _ = Reflect::set(&prototype, &dispose, &destroy);
        }
    });
}

/// The error for any call on a destroyed heap.
fn destroyed() -> Error {
    js_error("this heap was destroyed (destroy() released its memory); create a new Heap to go on")
}
