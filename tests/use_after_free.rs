//! What the pool's checks do when a program writes into a block after freeing it (issue 18's
//! "What no check can catch"): each kind of write a use-after-free can make, and the one
//! promise that holds for all of them.
//!
//! A free block holds the free-list link in its first word, so a write through a stale
//! pointer lands on that link. What `alloc` does next depends on what was written:
//!
//! | written over the link | what `alloc` does | counted? |
//! |---|---|---|
//! | data that is no block's address (`42`) | hands out the block, then refuses to follow the link: drops the rest of that list | `damaged_free_lists` |
//! | the address of a block in use | hands out the block, then finds the next one in use: refuses it, drops the list | `damaged_free_lists` |
//! | an odd number | takes it for the end of the list: the blocks after it are lost, silently | no |
//! | the address of another free block | follows it: the blocks in between are lost, silently | no |
//!
//! and a write after the block was handed out *again* lands in its new owner's data, where no
//! check of the pool can see it at all. The promise that holds: `alloc` never hands out a
//! block that is in use, whatever was written (the last test tries thousands of writes).
//! The page's "Use after free" figure plays the same calls on the wasm build.

use core::ptr::NonNull;

use memory_pool::{BlockState, Pool};

/// A use-after-free: writes `value` into the first word of `block`, which was freed. The
/// tests do on purpose what a buggy program does by mistake.
fn write_after_free(block: NonNull<u8>, value: usize) {
    // SAFETY: the block lies inside the pool's region, which is still mapped (the pool is
    // alive), is word-aligned, and nothing holds a reference to it: the pool only reads its
    // free blocks through raw pointers, and checks what it reads before following it.
    unsafe { block.cast::<usize>().write(value) }
}

/// The first word of `block`, as the pool's next owner of it would see it.
fn first_word(block: NonNull<u8>) -> usize {
    // SAFETY: as in `write_after_free`; the block is in use and ours to read.
    unsafe { block.cast::<usize>().read() }
}

/// Block indices of a pool of `count` 16-byte blocks after allocating all of them.
fn full_pool(count: usize) -> (Pool, Vec<NonNull<u8>>) {
    let mut pool = Pool::new(16, count).unwrap();
    let blocks = (0..count).map(|_| pool.alloc().unwrap()).collect();
    (pool, blocks)
}

#[test]
fn data_written_over_a_link_is_caught_at_the_next_alloc_and_the_rest_of_that_list_is_dropped() {
    let (mut pool, blocks) = full_pool(4);
    let [a, b] = [blocks[0], blocks[1]];
    pool.free(a).unwrap();
    pool.free(b).unwrap(); // the list: b → a → end
    write_after_free(b, 42);
    // b is still free and fine to hand out: the pool only learns of the damage when it
    // follows b's link. The new owner finds the 42 in it.
    assert_eq!(pool.alloc(), Some(b));
    assert_eq!(first_word(b), 42);
    assert_eq!(pool.stats().damaged_free_lists, 0);
    // 42 is no block of this pool: the pool refuses to follow it, drops that list (a with
    // it) and has no block left to give.
    assert_eq!(pool.alloc(), None);
    assert_eq!(pool.stats().damaged_free_lists, 1);
    // a stays marked free, on no list: lost for as long as the pool lives.
    assert_eq!(pool.state(0), Some(BlockState::Free));
    assert_eq!(pool.free_list().count(), 0);
    assert_eq!(pool.in_use(), 3);
}

#[test]
fn a_forged_link_to_a_block_in_use_is_refused_and_that_block_is_not_handed_out_twice() {
    let (mut pool, blocks) = full_pool(4);
    pool.free(blocks[0]).unwrap();
    write_after_free(blocks[0], blocks[3].as_ptr().addr());
    assert_eq!(pool.alloc(), Some(blocks[0]));
    assert_eq!(
        pool.alloc(),
        None,
        "block 3 is in use: never handed out again"
    );
    assert_eq!(pool.stats().damaged_free_lists, 1);
}

#[test]
fn an_odd_number_over_a_link_ends_the_list_silently() {
    let (mut pool, blocks) = full_pool(4);
    for &block in &blocks[..3] {
        pool.free(block).unwrap(); // the list: 2 → 1 → 0 → end
    }
    // Odd, like the end mark every list ends with: the pool cannot tell the two apart.
    write_after_free(blocks[2], 0x4141_4141);
    assert_eq!(pool.alloc(), Some(blocks[2]));
    assert_eq!(pool.alloc(), None, "blocks 1 and 0 are free but lost");
    assert_eq!(pool.stats().damaged_free_lists, 0, "and nothing counted it");
    assert_eq!(pool.state(1), Some(BlockState::Free));
}

#[test]
fn a_forged_link_to_another_free_block_is_followed_and_the_blocks_it_skips_are_lost() {
    let (mut pool, blocks) = full_pool(4);
    for &block in &blocks[..3] {
        pool.free(block).unwrap(); // the list: 2 → 1 → 0 → end
    }
    write_after_free(blocks[2], blocks[0].as_ptr().addr()); // 2 → 0: skips 1
    assert_eq!(pool.alloc(), Some(blocks[2]));
    assert_eq!(pool.alloc(), Some(blocks[0]));
    assert_eq!(pool.alloc(), None);
    assert_eq!(pool.stats().damaged_free_lists, 0);
    assert_eq!(
        pool.state(1),
        Some(BlockState::Free),
        "block 1: free, and never again handed out"
    );
}

#[test]
fn a_write_after_the_block_was_handed_out_again_lands_in_the_new_owners_data_unseen() {
    let (mut pool, blocks) = full_pool(2);
    let stale = blocks[0];
    pool.free(stale).unwrap();
    let new_owner = pool.alloc().unwrap();
    assert_eq!(new_owner, stale, "the block freed last is handed out first");
    write_after_free(new_owner, 7); // the new owner writes its value…
    write_after_free(stale, 99); // …and the old one, through its stale pointer, overwrites it
    assert_eq!(first_word(new_owner), 99);
    // Nothing in the pool changed: no state byte, no link, no counter can tell.
    let stats = pool.stats();
    assert_eq!((stats.damaged_free_lists, stats.rejected.total()), (0, 0));
    assert_eq!(pool.free(new_owner), Ok(()));
}

/// A small xorshift generator: the same "random" sequence on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn whatever_a_use_after_free_writes_alloc_never_hands_out_a_block_in_use() {
    // Blocks of 64 bytes, so that 3,000 of them span many 16 KiB chunks (a list each).
    const COUNT: usize = 3000;
    let mut pool = Pool::new(64, COUNT).unwrap();
    let first = pool.block_ptr(0).unwrap().as_ptr().addr();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut owned: Vec<NonNull<u8>> = Vec::new();
    let mut is_owned = vec![false; COUNT];
    // Blocks freed and (as far as we know) not handed out since: where a stale pointer writes.
    let mut freed: Vec<NonNull<u8>> = Vec::new();
    let (mut writes, mut handed_out) = (0, 0);
    for _ in 0..200_000 {
        match rng.below(10) {
            0..=3 => {
                if let Some(block) = pool.alloc() {
                    let index = pool
                        .check(block.as_ptr())
                        .expect("a block of this pool, now in use");
                    assert!(
                        !is_owned[index],
                        "block {index}, in use, was handed out again"
                    );
                    is_owned[index] = true;
                    owned.push(block);
                    handed_out += 1;
                }
            }
            4..=7 if !owned.is_empty() => {
                let block = owned.swap_remove(rng.below(owned.len()));
                is_owned[pool.check(block.as_ptr()).unwrap()] = false;
                pool.free(block).unwrap();
                freed.push(block);
            }
            8..=9 if !freed.is_empty() => {
                let at = rng.below(freed.len());
                let target = freed[at];
                if pool.check(target.as_ptr()).is_ok() {
                    // Handed out again since: a write now is the test above, not this one.
                    freed.swap_remove(at);
                    continue;
                }
                // A stale pointer writes over a link: a block's address (in use, free or never
                // used), an address inside a block, an odd number, or plain data.
                let some_block = first + 64 * rng.below(COUNT);
                let value = match rng.below(4) {
                    0 => some_block,
                    1 => some_block + 8,
                    2 => some_block | 1,
                    _ => rng.below(1 << 20),
                };
                write_after_free(target, value);
                writes += 1;
            }
            _ => {}
        }
        assert_eq!(pool.in_use(), owned.len());
    }
    assert!(
        writes > 10_000 && handed_out > 50_000,
        "{writes} writes, {handed_out} allocs"
    );
    assert!(pool.stats().damaged_free_lists > 0);
}
