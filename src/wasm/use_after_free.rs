//! The bug the page's "Use after free" figure plays: a write through a pointer to a block that
//! was freed. More methods of the JS `Pool` class (wasm-bindgen lets a class's methods come
//! from several `impl` blocks).
//!
//! `writeBytes` refuses a block that is not in use, as a correct program never writes one.
//! `writeDangling` is the same write without that check: what a program does when it keeps
//! a pointer after `free`. It can only reach the pool's blocks (never its state bytes or chunk
//! lists, which a stale pointer into a block cannot reach either), and it is memory-safe: the
//! pool reads a free block's link through a raw pointer and checks it before following it
//! (see `Pool::alloc`), so whatever lands there, the worst is a list cut short.

use js_sys::{Error, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;

use super::{js_error, to_usize, JsPool};
use crate::FreeError;

#[wasm_bindgen(js_class = Pool)]
impl JsPool {
    /// `writeDangling(address, bytes)`: copies `bytes` to `address` whatever the state of the
    /// block there (free, in use by someone else, or never used), as a write through a stale
    /// pointer would. All of `bytes` must lie inside one block. Nothing is written when it
    /// throws.
    ///
    /// # Errors
    ///
    /// A bad number, `bytes` that is not a `Uint8Array`, or a range that is not inside one
    /// of the pool's blocks.
    #[wasm_bindgen(js_name = writeDangling)]
    pub fn write_dangling(&mut self, address: f64, bytes: &Uint8Array) -> Result<(), Error> {
        let address = to_usize(address, "address")?;
        if !bytes.is_instance_of::<Uint8Array>() {
            return Err(js_error("bytes must be a Uint8Array"));
        }
        let length = bytes.length() as usize;
        let pool = self.pool_mut()?;
        let layout = pool.layout();
        let offset = address.wrapping_sub(layout.blocks);
        let index = offset / layout.stride;
        if index >= layout.count {
            return Err(js_error(FreeError::NotInPool { addr: address }));
        }
        let within = offset % layout.stride;
        if length > layout.stride - within {
            return Err(js_error(format_args!(
                "{length} bytes at {address:#x} do not fit in block {index}: it has {} bytes \
                 and {address:#x} is {within} bytes into it",
                layout.stride
            )));
        }
        let block = pool
            .block_ptr(index)
            .ok_or_else(|| js_error("no such block"))?;
        // SAFETY: `within + length <= stride`, so the range lies inside block `index` of the
        // pool's region, with the region's provenance. The pool holds no reference to its
        // blocks' bytes (it reads a free block's link through a raw pointer, and checks it
        // before following it), and `&mut self` makes this the only access while it copies.
        let target = unsafe { core::slice::from_raw_parts_mut(block.as_ptr().add(within), length) };
        bytes.copy_to(target);
        Ok(())
    }

    /// How many times `alloc` found a free list damaged (a free block's link overwritten
    /// with something that is not a free block of this pool) and dropped the rest of it.
    #[wasm_bindgen(getter, js_name = damagedFreeLists)]
    pub fn damaged_free_lists(&self) -> Result<f64, Error> {
        Ok(self.pool()?.stats().damaged_free_lists as f64)
    }
}
