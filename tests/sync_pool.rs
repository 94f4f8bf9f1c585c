//! Behaviour of `SyncPool`: the single-threaded guarantees (misuse refused, pool unchanged),
//! then threads allocating, passing blocks to each other over channels and freeing them,
//! checked against a model of who holds what at the end.

use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use std::alloc::Layout;

use memory_pool::{BlockState, FreeError, PoolError, SliceMemory, SyncPool};

/// A block sent between threads (a raw pointer is not `Send`; ownership moves with it).
#[derive(Clone, Copy)]
struct Held(NonNull<u8>);
// SAFETY: whoever holds a `Held` is the block's only user; sending it moves that right.
unsafe impl Send for Held {}

/// Stamps the whole block with `owner`, so two owners of one block would see each other.
fn stamp(block: NonNull<u8>, size: usize, owner: u64) {
    for word in 0..size / 8 {
        // SAFETY: the block is `size` bytes, aligned to 8, and ours.
        unsafe { block.cast::<u64>().as_ptr().add(word).write(owner) };
    }
}

fn stamped(block: NonNull<u8>, size: usize, owner: u64) -> bool {
    // SAFETY: as above.
    (0..size / 8).all(|word| unsafe { block.cast::<u64>().as_ptr().add(word).read() } == owner)
}

#[test]
fn misuse_is_refused_and_counted() {
    let pool = SyncPool::new(32, 4).unwrap();
    let a = pool.alloc().unwrap();
    let b = pool.alloc().unwrap();
    pool.free(a).unwrap();
    assert!(matches!(
        pool.free(a),
        Err(FreeError::DoubleFree {
            block: 0,
            state: BlockState::Free,
            ..
        })
    ));
    let inside = b.map_addr(|addr| addr.checked_add(4).unwrap());
    assert!(matches!(
        pool.free(inside),
        Err(FreeError::Misaligned {
            block: 1,
            offset: 4,
            ..
        })
    ));
    let never = b.map_addr(|addr| addr.checked_add(64).unwrap()); // block 3
    assert!(matches!(
        pool.free(never),
        Err(FreeError::DoubleFree {
            block: 3,
            state: BlockState::NeverUsed,
            ..
        })
    ));
    assert!(matches!(
        pool.free(NonNull::from(&0u8)),
        Err(FreeError::NotInPool { .. })
    ));
    let stats = pool.stats();
    assert_eq!(
        (stats.in_use, stats.total_allocs, stats.total_frees),
        (1, 2, 1)
    );
    assert_eq!(stats.rejected.total(), 4);
    assert_eq!(pool.state(1), Some(BlockState::InUse));
    assert_eq!(pool.alloc(), Some(a), "the freed block comes back first");
    assert!(pool.contains(inside.as_ptr()));
}

/// The `sync_pool` fuzz target's first find: a buffer that starts off a 4-byte boundary was
/// refused as "out of memory" however big it was (the links were put at its very start, so
/// they had to be aligned there), where a `Pool` takes any buffer that is big enough.
#[test]
fn a_big_enough_buffer_is_taken_wherever_it_starts() {
    let layout = Layout::from_size_align(41, 8).unwrap();
    let mut buffer = vec![0u8; 4096];
    for skew in 0..8 {
        let pool = SyncPool::with_layout_in(layout, 38, SliceMemory::new(&mut buffer[skew..]))
            .unwrap_or_else(|error| panic!("skew {skew}: {error}"));
        let blocks: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
        assert_eq!(blocks.len(), 38);
        for (index, &block) in blocks.iter().enumerate() {
            assert_eq!(block.as_ptr().addr() % 8, 0);
            stamp(block, 48, index as u64);
        }
        for (index, &block) in blocks.iter().enumerate().rev() {
            assert!(
                stamped(block, 48, index as u64),
                "skew {skew}: block {index}"
            );
            pool.free(block).unwrap();
        }
        assert_eq!(pool.state(0), Some(BlockState::Free));
        assert_eq!(pool.alloc(), Some(blocks[0]));
    }
}

#[test]
fn a_full_pool_says_none_and_errors_match_pool() {
    let pool = SyncPool::new(8, 2).unwrap();
    let _blocks = [pool.alloc().unwrap(), pool.alloc().unwrap()];
    assert_eq!(pool.alloc(), None);
    assert_eq!(SyncPool::new(0, 2).unwrap_err(), PoolError::ZeroBlockSize);
    assert_eq!(SyncPool::new(8, 0).unwrap_err(), PoolError::ZeroBlockCount);
    assert!(matches!(
        SyncPool::new(8, u32::MAX as usize),
        Err(PoolError::TooLarge { .. })
    ));
}

#[test]
fn threads_allocate_pass_and_free_blocks_and_the_model_agrees() {
    const THREADS: usize = 4;
    // Miri (which also explores weak memory orderings) is slow: fewer rounds there.
    const ROUNDS: usize = if cfg!(miri) { 300 } else { 20_000 };
    let pool = Arc::new(SyncPool::new(64, 1024).unwrap());
    let size = pool.block_size();
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<(Held, u64)>()).unzip();
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(me, inbox)| {
            let pool = Arc::clone(&pool);
            let senders = senders.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let mut held: Vec<(Held, u64)> = Vec::new();
                let (mut allocs, mut frees) = (0u64, 0u64);
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ me as u64;
                start.wait();
                for round in 0..ROUNDS {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // Take in what others sent us: it must still carry their stamp.
                    while let Ok((block, owner)) = inbox.try_recv() {
                        assert!(stamped(block.0, size, owner), "a block changed in transit");
                        held.push((block, owner));
                    }
                    match rng % 8 {
                        0..=2 => {
                            if let Some(block) = pool.alloc() {
                                let owner = ((me as u64) << 32) | round as u64;
                                stamp(block, size, owner);
                                held.push((Held(block), owner));
                                allocs += 1;
                            }
                        }
                        3..=6 if !held.is_empty() => {
                            let (Held(block), owner) = held.swap_remove(rng as usize % held.len());
                            assert!(stamped(block, size, owner), "someone else wrote our block");
                            pool.free(block).unwrap();
                            frees += 1;
                        }
                        _ if !held.is_empty() => {
                            let (block, owner) = held.swap_remove(rng as usize % held.len());
                            let to = (rng >> 8) as usize % THREADS;
                            senders[to].send((block, owner)).unwrap();
                        }
                        _ => {}
                    }
                }
                drop(senders);
                // Collect what is still in flight to us once everyone has stopped sending.
                (held, inbox, allocs, frees)
            })
        })
        .collect();
    drop(senders);
    let mut held = Vec::new();
    let mut inboxes = Vec::new();
    let (mut allocs, mut frees) = (0, 0);
    for worker in workers {
        let (h, inbox, a, f) = worker.join().unwrap();
        held.extend(h);
        inboxes.push(inbox);
        allocs += a;
        frees += f;
    }
    for inbox in inboxes {
        held.extend(inbox.try_iter());
    }

    // The model: every block someone holds is distinct, still stamped, in use, and the
    // counters agree with what the threads did.
    let addresses: HashSet<usize> = held.iter().map(|(b, _)| b.0.as_ptr().addr()).collect();
    assert_eq!(
        addresses.len(),
        held.len(),
        "a block was handed to two owners"
    );
    assert!(held.iter().all(|(b, owner)| stamped(b.0, size, *owner)));
    let stats = pool.stats();
    assert_eq!((stats.total_allocs, stats.total_frees), (allocs, frees));
    assert_eq!(stats.in_use, held.len());
    assert_eq!(stats.rejected.total(), 0);
    let in_use = (0..pool.block_count())
        .filter(|&i| pool.state(i) == Some(BlockState::InUse))
        .count();
    assert_eq!(in_use, held.len());
    for (Held(block), _) in held {
        pool.free(block).unwrap();
    }
    assert_eq!(pool.in_use(), 0);
    assert!(
        allocs as usize > THREADS * ROUNDS / 10,
        "the workload really ran ({allocs} allocations)"
    );
}

#[test]
fn racing_double_frees_succeed_exactly_once() {
    let pool = Arc::new(SyncPool::new(16, 64).unwrap());
    let rounds = if cfg!(miri) { 10 } else { 200 };
    for _ in 0..rounds {
        let block = pool.alloc().unwrap();
        let barrier = Arc::new(Barrier::new(4));
        let successes: usize = (0..4)
            .map(|_| {
                let (pool, barrier) = (Arc::clone(&pool), Arc::clone(&barrier));
                // Deliberately four "owners" of one block: exactly one free may succeed.
                let racer = Held(block);
                thread::spawn(move || {
                    let racer = racer;
                    barrier.wait();
                    pool.free(racer.0).is_ok() as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .sum();
        assert_eq!(successes, 1);
    }
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.rejected.double_free), (0, 3 * rounds));
}
