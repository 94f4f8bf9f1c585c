//! The misuse matrix for the JavaScript class: every bad input JavaScript can give `Pool`,
//! from JavaScript itself, one table.
//!
//! Each row calls the generated class the way a page would, and checks: it throws an
//! `Error` (a `TypeError` for values JavaScript cannot even turn into a number), never a
//! Rust panic (`WebAssembly.RuntimeError`); the message says what was wrong; and everything
//! JavaScript can see of the pool (block states, free list, counters, every byte of its
//! region) and the size of linear memory are as before, except the one refused-free counter
//! the row names. Rows: non-numbers, NaN, negative, fractional, ≥ 2^32 and infinite numbers
//! for every numeric argument; null, foreign, metadata, interior, past-the-end, double and
//! never-allocated frees; impossible pools; exhaustion; methods called on another object;
//! every method of a destroyed pool.
//!
//! Run by `make test-wasm` (headless Chromium), next to `tests/web.rs`.
#![cfg(target_arch = "wasm32")]

use js_sys::Error;
use memory_pool::wasm::{wasm_memory, JsPool};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
const WHOLE = "must be a whole number from 0 to 4294967295, not ";

// Values JavaScript may pass for a number, and how the message shows them (`null`: the value
// becomes a valid number and is not a bad-number row).
const BAD_VALUES = [
    [undefined, "NaN"], [NaN, "NaN"], [{}, "NaN"], ["x", "NaN"], [[1, 2], "NaN"],
    [-1, "-1"], [-0.5, "-0.5"], [0.5, "0.5"], [1.5, "1.5"], ["1.5", "1.5"],
    [2 ** 32, "4294967296"], [2 ** 53, "9007199254740992"], [-(2 ** 32), "-4294967296"],
    [Infinity, "Infinity"], [-Infinity, "-Infinity"], [2 ** 40, "1099511627776"],
];
// Values whose conversion to a number throws a TypeError before the pool is reached.
const UNCONVERTIBLE = [[10n, "a BigInt"], [Symbol("s"), "a Symbol"]];

/// Everything JavaScript can see of a pool, and the size of linear memory.
function look(pool, memory) {
    return JSON.stringify({
        states: Array.from(pool.blockStates()),
        freeList: Array.from(pool.freeList()),
        counters: [pool.inUse, pool.peakInUse, pool.totalAllocs, pool.totalFrees,
                   pool.nextNeverUsed, pool.blockSize, pool.blockCount],
        region: Array.from(new Uint8Array(memory.buffer, pool.regionBase, pool.regionSize)),
        memory: memory.buffer.byteLength,
    });
}

function rejected(pool) {
    return { notInPool: pool.rejectedNotInPool, misaligned: pool.rejectedMisaligned,
             doubleFree: pool.rejectedDoubleFree };
}

/// Runs one row: `call` must throw an Error starting with `start` (a TypeError if `start` is
/// null), and change nothing but the `counter` refused-free counter, by one.
function refuse(pool, memory, row, call, start, counter) {
    const before = look(pool, memory), rejectedBefore = rejected(pool);
    let error;
    try { call(); } catch (e) { error = e; }
    if (error === undefined) throw new Error(`${row}: did not throw`);
    if (error instanceof WebAssembly.RuntimeError) throw new Error(`${row}: Rust panicked: ${error}`);
    if (!(error instanceof Error)) throw new Error(`${row}: threw ${String(error)}, not an Error`);
    if (start === null) {
        if (!(error instanceof TypeError)) throw new Error(`${row}: ${error}, not a TypeError`);
    } else if (!error.message.startsWith(start)) {
        throw new Error(`${row}: "${error.message}" does not start "${start}"`);
    }
    if (look(pool, memory) !== before) throw new Error(`${row}: the pool or memory changed`);
    const want = { ...rejectedBefore };
    if (counter) want[counter] += 1;
    const got = rejected(pool);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`${row}: refused counters ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
    return 1;
}

export function misuseMatrix(pool, memory) {
    const Pool = pool.constructor;
    // 8 blocks of 64 bytes: 0, 2 and 3 in use, 1 free, 4 to 7 never used.
    const blocks = [pool.alloc(), pool.alloc(), pool.alloc(), pool.alloc()];
    pool.free(blocks[1]);
    pool.writeBytes(blocks[0], new Uint8Array(64).fill(0xAB));
    const other = new Pool(64, 2), foreign = other.alloc();
    const end = pool.blocksStart + pool.blockSize * pool.blockCount;
    let rows = 0;

    // Every numeric argument of every method, with every bad value.
    const numeric = [
        ["new Pool(x, 4)", "blockSize", x => new Pool(x, 4)],
        ["new Pool(64, x)", "blockCount", x => new Pool(64, x)],
        ["free(x)", "address", x => pool.free(x)],
        ["addressOf(x)", "index", x => pool.addressOf(x)],
        ["linkAddress(x)", "index", x => pool.linkAddress(x)],
        ["indexOf(x)", "address", x => pool.indexOf(x)],
        ["readBytes(x, 1)", "address", x => pool.readBytes(x, 1)],
        ["readBytes(block, x)", "length", x => pool.readBytes(blocks[0], x)],
        ["writeBytes(x, bytes)", "address", x => pool.writeBytes(x, new Uint8Array(1))],
    ];
    for (const [what, name, call] of numeric) {
        for (const [value, shown] of BAD_VALUES) {
            rows += refuse(pool, memory, `${what} with ${shown}`, () => call(value), `${name} ${WHOLE}${shown}`);
        }
        for (const [value, kind] of UNCONVERTIBLE) {
            rows += refuse(pool, memory, `${what} with ${kind}`, () => call(value), null);
        }
    }

    // Every kind of address `free` must refuse.
    const at = i => pool.addressOf(i);
    const frees = [
        ["null (address 0)", 0, "0x0 is not a block of this pool", null],
        ["null itself", null, "0x0 is not a block of this pool", null],
        ["the region's first byte", pool.regionBase, "0x", "notInPool"],
        ["the byte before block 0", pool.blocksStart - 1, "0x", "notInPool"],
        ["one past the last block", end, "0x", "notInPool"],
        ["the last address", 2 ** 32 - 1, "0xffffffff is not a block of this pool", "notInPool"],
        ["another pool's block", foreign, "0x", "notInPool"],
        ["1 byte into block 0", blocks[0] + 1, "misaligned free: ", "misaligned"],
        ["the last byte of block 0", blocks[0] + 63, "misaligned free: ", "misaligned"],
        ["the middle of free block 1", blocks[1] + 32, "misaligned free: ", "misaligned"],
        ["inside never-used block 7", at(7) + 4, "misaligned free: ", "misaligned"],
        ["a string naming an interior address", String(blocks[2] + 8), "misaligned free: ", "misaligned"],
        ["block 1 again (double free)", blocks[1], `double free: block 1 at 0x${blocks[1].toString(16)} is already free`, "doubleFree"],
        ["never-allocated block 5", at(5), `invalid free: block 5 at 0x${at(5).toString(16)} was never allocated`, "doubleFree"],
    ];
    for (const [what, address, start, counter] of frees) {
        rows += refuse(pool, memory, `free(${what})`, () => pool.free(address), start, counter);
    }

    // Reads and writes that are not inside one in-use block.
    rows += refuse(pool, memory, "writeBytes into free block 1", () => pool.writeBytes(blocks[1], new Uint8Array(1)), "block 1 (at ");
    rows += refuse(pool, memory, "writeBytes across the end of block 0", () => pool.writeBytes(blocks[0] + 60, new Uint8Array(8)), "8 bytes at ");
    rows += refuse(pool, memory, "readBytes of 65 bytes", () => pool.readBytes(blocks[0], 65), "65 bytes at ");
    rows += refuse(pool, memory, "writeBytes of an Array", () => pool.writeBytes(blocks[0], [1]), "bytes must be a Uint8Array");
    rows += refuse(pool, memory, "addressOf(8)", () => pool.addressOf(8), "there is no block 8");
    rows += refuse(pool, memory, "linkAddress(8)", () => pool.linkAddress(8), "there is no block 8");

    // Pools that cannot exist: refused before any memory is taken.
    const impossible = [
        ["new Pool(0, 4)", () => new Pool(0, 4), "a pool's blocks must be at least 1 byte"],
        ["new Pool(64, 0)", () => new Pool(64, 0), "a pool must have at least 1 block"],
        ["new Pool(2**32 - 1, 2**32 - 1)", () => new Pool(2 ** 32 - 1, 2 ** 32 - 1), "4294967295 blocks of "],
        ["new Pool(2**31, 2)", () => new Pool(2 ** 31, 2), "2 blocks of 2147483648 bytes do not fit"],
        ["new Pool(1, 2**31)", () => new Pool(1, 2 ** 31), "2147483648 blocks of 4 bytes do not fit"],
        ["new Pool(2**30, 2)", () => new Pool(2 ** 30, 2), "2 blocks of 1073741824 bytes do not fit"],
    ];
    for (const [what, call, start] of impossible) {
        rows += refuse(pool, memory, what, call, start);
    }

    // Methods called on something that is not a pool.
    const proto = Pool.prototype;
    const getter = name => Object.getOwnPropertyDescriptor(proto, name).get;
    const notPools = [
        ["alloc on {}", () => proto.alloc.call({})],
        ["free on {}", () => proto.free.call({}, blocks[0])],
        ["inUse on {}", () => getter("inUse").call({})],
        ["blockStates on a number", () => proto.blockStates.call(5)],
        ["destroy on {}", () => proto.destroy.call({})],
    ];
    for (const [what, call] of notPools) {
        rows += refuse(pool, memory, what, call, "");
    }

    // Exhaustion: `undefined`, and nothing changes.
    const taken = [];
    for (let a = pool.alloc(); a !== undefined; a = pool.alloc()) taken.push(a);
    if (taken.length !== 5) throw new Error(`exhaustion: ${taken.length} blocks left, want 5`);
    const full = look(pool, memory);
    for (let i = 0; i < 3; i++) {
        if (pool.alloc() !== undefined) throw new Error("alloc on a full pool");
        if (look(pool, memory) !== full) throw new Error("alloc on a full pool changed it");
        rows += 1;
    }
    // Still a working pool.
    for (const a of taken.concat([blocks[0], blocks[2], blocks[3]])) pool.free(a);
    if (pool.inUse !== 0) throw new Error(`inUse ${pool.inUse} after freeing everything`);

    // A destroyed pool: every method and getter of the class throws the same clear error.
    other.destroy();
    let methods = 0;
    for (const name of Object.getOwnPropertyNames(proto)) {
        if (name === "constructor" || name.startsWith("__")) continue;
        const descriptor = Object.getOwnPropertyDescriptor(proto, name);
        const call = descriptor.get ? () => descriptor.get.call(other)
                                    : () => descriptor.value.call(other, foreign, 1);
        let error;
        try { call(); } catch (e) { error = e; }
        if (!(error instanceof Error) || error instanceof WebAssembly.RuntimeError ||
            !error.message.startsWith("this pool was destroyed")) {
            throw new Error(`${name} on a destroyed pool: ${error}`);
        }
        methods += 1;
    }
    if (methods < 20) throw new Error(`only ${methods} methods and getters found on Pool`);
    return rows + methods;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch, js_name = misuseMatrix)]
    fn misuse_matrix(pool: JsPool, memory: JsValue) -> Result<f64, JsValue>;
}

#[wasm_bindgen_test]
fn every_bad_input_from_javascript_throws_a_clear_error_and_changes_nothing() {
    let pool = JsPool::new(64.0, 8.0).unwrap();
    match misuse_matrix(pool, wasm_memory()) {
        // 9 arguments × 18 values, 14 frees, 6 reads/writes/lookups, 6 pools, 5 wrong `this`,
        // 3 full allocs, and every method of a destroyed pool.
        Ok(rows) => assert!(
            rows >= 9.0 * 18.0 + 14.0 + 6.0 + 6.0 + 5.0 + 3.0 + 20.0,
            "{rows}"
        ),
        Err(error) => panic!(
            "{}",
            String::from(error.unchecked_into::<Error>().message())
        ),
    }
}
