//! Batches for the page's "A million blocks": a pool of 1,048,576 blocks is driven a few
//! thousand calls at a time, so the calls run in the module rather than one by one through
//! the JavaScript boundary. More methods of the JS `Pool` class.

use std::vec::Vec;

use js_sys::{Error, Uint32Array};
use wasm_bindgen::prelude::wasm_bindgen;

use super::{to_usize, JsPool};
use crate::BlockState;

#[wasm_bindgen(js_class = Pool)]
impl JsPool {
    /// `allocMany(count)`: up to `count` calls of `alloc()`; the addresses handed out, in
    /// order (fewer than `count` when the pool ran out).
    ///
    /// # Errors
    ///
    /// A bad number, or a destroyed pool.
    #[wasm_bindgen(js_name = allocMany)]
    pub fn alloc_many(&mut self, count: f64) -> Result<Uint32Array, Error> {
        let count = to_usize(count, "count")?;
        let pool = self.pool_mut()?;
        let mut addresses = Vec::with_capacity(count.min(pool.available()));
        while addresses.len() < count {
            let Some(block) = pool.alloc() else { break };
            // Linear memory has 32-bit addresses.
            addresses.push(block.as_ptr().expose_provenance() as u32);
        }
        Ok(Uint32Array::from(&addresses[..]))
    }

    /// `freeRandom(count, seed)`: frees `count` blocks in use picked at random (the same
    /// ones for the same `seed` and pool), or every block in use if there are fewer. Returns
    /// how many it freed.
    ///
    /// # Errors
    ///
    /// A bad number, or a destroyed pool.
    #[wasm_bindgen(js_name = freeRandom)]
    pub fn free_random(&mut self, count: f64, seed: f64) -> Result<usize, Error> {
        let count = to_usize(count, "count")?;
        let mut state = (to_usize(seed, "seed")? as u64) ^ 0x9E37_79B9_7F4A_7C15;
        let pool = self.pool_mut()?;
        let blocks = pool.block_count();
        let target = count.min(pool.in_use());
        let mut freed = 0;
        while freed < target {
            // xorshift64: a block index at random.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let index = (state % blocks as u64) as usize;
            if pool.state(index) != Some(BlockState::InUse) {
                continue; // (in use blocks exist, so this ends)
            }
            if let Some(block) = pool.block_ptr(index) {
                if pool.free(block).is_ok() {
                    freed += 1;
                }
            }
        }
        Ok(freed)
    }
}
