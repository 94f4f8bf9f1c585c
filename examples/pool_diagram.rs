//! Draws the README's picture, `img.png`, from a real pool.
//!
//! It builds a pool, allocates and frees a few blocks, and then draws what the pool itself
//! reports (`layout`, `blocks`, `free_list`, `next_never_used`) as an HTML page holding an
//! SVG. `make img.png` turns that page into a PNG with headless Chromium, so the picture is
//! always true to the code:
//!
//! ```sh
//! cargo run --example pool_diagram > target/pool_diagram.html
//! ```

use std::fmt::Write;

use memory_pool::{BlockState, Pool};

const BLOCK_WIDTH: usize = 96;
const LEFT: usize = 150;
const ROW_Y: usize = 130;
const BLOCK_HEIGHT: usize = 86;

fn main() {
    let mut pool = Pool::new(32, 8).expect("a small pool");
    let blocks: Vec<_> = (0..6).map(|_| pool.alloc().expect("room")).collect();
    for index in [1, 4, 2] {
        pool.free(blocks[index]).expect("an in-use block");
    }
    print!("{}", page(&pool));
}

/// The whole picture: the metadata, the blocks in address order, and the free list's links.
fn page(pool: &Pool) -> String {
    let layout = pool.layout();
    let count = pool.block_count();
    let width = LEFT + count * BLOCK_WIDTH + 30;
    let height = 345;
    let mut svg = String::new();
    let metadata = layout.blocks - layout.base;
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, sans-serif">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1d4ed8"/></marker>
<pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#f3f4f6"/><line x1="0" y1="0" x2="0" y2="8" stroke="#d1d5db" stroke-width="3"/></pattern></defs>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="20" y="32" font-size="20" font-weight="bold" fill="#111827">A pool of {count} blocks of {size} bytes: its memory map</text>
<text x="20" y="56" font-size="13" fill="#4b5563">Drawn by examples/pool_diagram.rs from a real Pool after 6 allocs and 3 frees (blocks 1, 4, 2); addresses are offsets from the region's start.</text>
"##,
        size = pool.block_size(),
    );
    // The metadata part: the chunk lists and padding up to the blocks' alignment, then one
    // state byte per block right below the first block.
    let states: Vec<String> = pool
        .blocks()
        .map(|block| format!("{:02x}", block.state as u8))
        .collect();
    let _ = write!(
        svg,
        r##"<rect x="20" y="{ROW_Y}" width="{w}" height="{BLOCK_HEIGHT}" fill="#ede9fe" stroke="#5b21b6"/>
<text x="{tx}" y="{y1}" font-size="13" text-anchor="middle" fill="#3b0764" font-weight="bold">metadata</text>
<text x="{tx}" y="{y2}" font-size="11" text-anchor="middle" fill="#3b0764">{padding} B lists + padding</text>
<text x="{tx}" y="{y3}" font-size="11" text-anchor="middle" fill="#3b0764" font-family="DejaVu Sans Mono, monospace">{bytes}</text>
<text x="{tx}" y="{y3b}" font-size="11" text-anchor="middle" fill="#3b0764" font-family="DejaVu Sans Mono, monospace">{bytes2}</text>
<text x="{tx}" y="{y4}" font-size="11" text-anchor="middle" fill="#3b0764">{count} state bytes</text>
<text x="20" y="{ya}" font-size="11" fill="#374151" font-family="DejaVu Sans Mono, monospace">+0x0</text>
"##,
        w = LEFT - 30,
        tx = 20 + (LEFT - 30) / 2,
        y1 = ROW_Y + 18,
        y2 = ROW_Y + 34,
        y3 = ROW_Y + 50,
        y3b = ROW_Y + 62,
        y4 = ROW_Y + 78,
        ya = ROW_Y + BLOCK_HEIGHT + 16,
        bytes = states[..count.min(4)].join(" "),
        bytes2 = states[count.min(4)..count.min(8)].join(" "),
        padding = metadata - count,
    );
    for block in pool.blocks() {
        let x = LEFT + block.index * BLOCK_WIDTH;
        let (fill, stroke, label, text) = match block.state {
            BlockState::InUse => ("#f59e0b", "#92400e", "in use", "#451a03"),
            BlockState::Free => ("#bfdbfe", "#1d4ed8", "free", "#1e3a8a"),
            BlockState::NeverUsed => ("url(#hatch)", "#6b7280", "never used", "#374151"),
        };
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{ROW_Y}" width="{w}" height="{BLOCK_HEIGHT}" fill="{fill}" stroke="{stroke}" stroke-width="2"/>
<text x="{cx}" y="{y1}" font-size="14" font-weight="bold" text-anchor="middle" fill="{text}">block {index}</text>
<text x="{cx}" y="{y2}" font-size="12" text-anchor="middle" fill="{text}">{label}</text>
<text x="{x}" y="{ya}" font-size="11" fill="#374151" font-family="DejaVu Sans Mono, monospace">+{offset:#x}</text>
"##,
            w = BLOCK_WIDTH - 6,
            cx = x + (BLOCK_WIDTH - 6) / 2,
            y1 = ROW_Y + 30,
            y2 = ROW_Y + 50,
            ya = ROW_Y + BLOCK_HEIGHT + 16,
            index = block.index,
            offset = block.addr - layout.base,
        );
    }
    // The free list: from its head through each free block, in the order alloc pops them.
    let head_x = LEFT - 60;
    let _ = writeln!(
        svg,
        r##"<text x="{head_x}" y="{y}" font-size="13" fill="#1d4ed8" font-weight="bold" text-anchor="middle">free list head</text>"##,
        y = ROW_Y - 44,
    );
    // Links leave a block right of its centre and arrive left of it, so in and out differ.
    let mut from = head_x;
    let mut chain = vec![String::from("head")];
    for (hop, index) in pool.free_list().enumerate() {
        let left = LEFT + index * BLOCK_WIDTH;
        let to = left + 30;
        let lift = 24 + 10 * hop;
        let start_y = if hop == 0 { ROW_Y - 38 } else { ROW_Y };
        let _ = write!(
            svg,
            r##"<path d="M{from},{start_y} C{from},{c} {to},{c} {to},{ROW_Y}" fill="none" stroke="#1d4ed8" stroke-width="2" marker-end="url(#arrow)"/>
<text x="{label_x}" y="{label_y}" font-size="11" fill="#1d4ed8" text-anchor="middle">pop {n}</text>
"##,
            c = ROW_Y - lift - 10,
            label_x = (from + to) / 2,
            label_y = ROW_Y - lift - 10,
            n = hop + 1,
        );
        from = left + BLOCK_WIDTH - 36;
        chain.push(format!("block {index}"));
    }
    let never = pool.next_never_used();
    chain.push(format!("then never-used blocks from block {never}"));
    let legend_y = ROW_Y + BLOCK_HEIGHT + 60;
    let _ = write!(
        svg,
        r##"<text x="20" y="{y}" font-size="13" fill="#1d4ed8">free list (the order alloc hands blocks out): {chain}</text>
<g font-size="13" fill="#111827">
<rect x="20" y="{ly}" width="16" height="16" fill="#ede9fe" stroke="#5b21b6"/><text x="42" y="{lt}">metadata: a state byte per block (00 never used, 01 free, 02 in use)</text>
<rect x="520" y="{ly}" width="16" height="16" fill="#f59e0b" stroke="#92400e"/><text x="542" y="{lt}">in use</text>
<rect x="620" y="{ly}" width="16" height="16" fill="#bfdbfe" stroke="#1d4ed8"/><text x="642" y="{lt}">free (on the free list)</text>
<rect x="820" y="{ly}" width="16" height="16" fill="url(#hatch)" stroke="#6b7280"/><text x="842" y="{lt}">never used</text>
</g>
<text x="20" y="{ny}" font-size="12" fill="#4b5563">The free list lives inside the free blocks: each holds the address of the next. alloc pops the head, free pushes onto it: O(1), no search, no header.</text>
</svg>"##,
        y = ROW_Y + BLOCK_HEIGHT + 40,
        chain = chain.join(" → "),
        ly = legend_y,
        lt = legend_y + 13,
        ny = legend_y + 44,
    );
    format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<style>html,body{{margin:0;background:#fff}}</style>\n{svg}\n"
    )
}
