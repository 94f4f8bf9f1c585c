//! `TypedPool` and `PoolBox`: values in, destructors run, blocks back, nothing unsafe.

use std::cell::Cell;
use std::rc::Rc;

use memory_pool::{PoolBox, TypedPool};

// On wasm32 these tests also run in a browser, under `wasm-pack test --headless --chrome`.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Counts its drops in a shared cell.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn values_round_trip_and_blocks_return_on_drop() {
    let pool = TypedPool::new(3).unwrap();
    let mut boxes: Vec<_> = (0..3).map(|i| pool.alloc(vec![i; 10]).unwrap()).collect();
    boxes[1].push(99);
    assert_eq!(*boxes[1], [vec![1; 10], vec![99]].concat());
    assert_eq!(pool.in_use(), 3);
    drop(boxes.remove(0));
    assert_eq!(pool.in_use(), 2);
    let again = pool.alloc(vec![7]).unwrap();
    assert_eq!(*again, [7]);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn full_pool_hands_the_value_back() {
    let pool = TypedPool::new(1).unwrap();
    let _kept = pool.alloc(String::from("first")).unwrap();
    assert_eq!(pool.alloc(String::from("second")).unwrap_err(), "second");
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn destructors_run_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let pool = TypedPool::new(4).unwrap();
    let a = pool.alloc(DropCounter(drops.clone())).ok().unwrap();
    let b = pool.alloc(DropCounter(drops.clone())).ok().unwrap();
    drop(a);
    assert_eq!(drops.get(), 1);
    let inner = PoolBox::into_inner(b);
    assert_eq!(
        drops.get(),
        1,
        "into_inner moves the value out without dropping it"
    );
    drop(inner);
    assert_eq!(drops.get(), 2);
    assert_eq!(pool.in_use(), 0);
    assert_eq!(pool.stats().total_frees, 2);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn over_aligned_values_are_aligned() {
    #[repr(align(128))]
    struct Wide(#[allow(dead_code)] u8);
    let pool = TypedPool::new(5).unwrap();
    let boxes: Vec<_> = (0..5).map(|i| pool.alloc(Wide(i)).ok().unwrap()).collect();
    for boxed in &boxes {
        assert_eq!(&**boxed as *const Wide as usize % 128, 0);
    }
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_destructor_may_use_the_same_pool() {
    struct Child<'a>(&'a TypedPool<u32>);
    impl Drop for Child<'_> {
        fn drop(&mut self) {
            let replacement = self.0.alloc(5).unwrap();
            assert_eq!(*replacement, 5);
        }
    }
    let numbers = TypedPool::new(2).unwrap();
    let children = TypedPool::new(1).unwrap();
    drop(children.alloc(Child(&numbers)).ok().unwrap());
    assert_eq!(numbers.stats().total_allocs, 1);
}

#[test]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn zero_capacity_is_an_error() {
    assert!(TypedPool::<u8>::new(0).is_err());
}
