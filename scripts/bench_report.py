#!/usr/bin/env python3
"""Turns one `make bench` run into benches/results.md (tables, targets), benches/results.svg
and benches/random_actions.svg.

Reads criterion's samples (target/criterion/<group>/<bench>/new/*.json), the wasm
harness's JSON (benches/wasm/target/results.json) and talc's random-actions workload's, native
(target/random-actions.json) and wasm32 (benches/wasm/random_actions/target/results-z.json). Every number in the outputs comes from
those files. The headline figure of a native bench is its fastest sample (per element when
the bench declared a throughput), like the wasm harness's fastest round: on a machine shared
with other jobs, the least disturbed measurement is the closest to the code's own cost.
criterion's median is shown beside it in benches/results.md.
"""
import datetime
import html
import json
import math
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERION = os.path.join(ROOT, "target", "criterion")
WASM = os.path.join(ROOT, "benches", "wasm", "target", "results.json")
OUT_MD = os.path.join(ROOT, "benches", "results.md")
OUT_SVG = os.path.join(ROOT, "benches", "results.svg")
RANDOM_ACTIONS = os.path.join(ROOT, "target", "random-actions.json")
WASM_RANDOM_ACTIONS = os.path.join(ROOT, "benches", "wasm", "random_actions", "target",
                                   "results-z.json")
OUT_RA_SVG = os.path.join(ROOT, "benches", "random_actions.svg")
README = os.path.join(ROOT, "README.md")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

NATIVE = ["pool", "glibc", "mimalloc", "slab", "bare-list (lower bound)"]
WASM_PEERS = ["pool", "dlmalloc", "talc", "lol_alloc", "bare_list"]
SCALES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]


def core_total(core):
    """The pool's alloc + free code in wasm: the exports' bodies and the slow path of alloc."""
    hot, slow = core.get("hot"), core.get("slow")
    return hot + slow if isinstance(hot, int) and isinstance(slow, int) else "?"


def run(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


MEDIANS = {}


def native_results():
    """{(group, bench id): ns per element, fastest sample} from criterion's JSON files;
    the medians go to MEDIANS."""
    found = {}
    for directory, _, files in os.walk(CRITERION):
        if os.path.basename(directory) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(directory, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(directory, "estimates.json")) as f:
            estimates = json.load(f)
        with open(os.path.join(directory, "sample.json")) as f:
            sample = json.load(f)
        elements = (bench.get("throughput") or {}).get("Elements", 1)
        bench_id = bench["function_id"]
        if bench.get("value_str"):
            bench_id += "/" + bench["value_str"]
        key = (bench["group_id"], bench_id)
        found[key] = min(t / i for t, i in zip(sample["times"], sample["iters"])) / elements
        MEDIANS[key] = estimates["median"]["point_estimate"] / elements
    return found


def fmt(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.2f} ns"


def ratio(slow, fast):
    return None if slow is None or fast is None else slow / fast


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def machine():
    lscpu = run("lscpu")
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                  if line.startswith("Model name")), platform.processor() or "unknown")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "rustc": run("rustc", "--version"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": run("git", "-C", ROOT, "rev-parse", "--short", "HEAD"),
        "load": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else [],
    }


def log_axis(lo, hi, top, plot_h):
    """The y of a value on a log scale from `lo` (the bottom) to `hi` (the top)."""
    def y(value):
        value = min(max(value, lo), hi)
        return top + plot_h * (1 - (math.log10(value) - math.log10(lo)) /
                               (math.log10(hi) - math.log10(lo)))
    return y


def svg_start(width, height, left, title):
    """An SVG's opening lines: its size, a white background and a bold title."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{left}" y="20" font-size="14" font-weight="bold">{title}</text>']


def svg_legend(entries, left, step, top):
    """A row of legend entries, (colour, text) each, `step` apart from `left`."""
    out = []
    for i, (colour, text) in enumerate(entries):
        x = left + i * step
        out.append(f'<rect x="{x}" y="{top}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{top + 10}">{html.escape(text)}</text>')
    return out


def chart(native, wasm):
    """A grouped bar chart, log scale: ns per alloc+free at 64-byte blocks."""
    groups = [
        (f"native {w}", [(name, native.get((f"{w}-64", name))) for name in NATIVE])
        for w in ("pair", "reverse", "random")
    ] + [
        (f"wasm {w}", [(name, (wasm.get("ns", {}).get(f"{name}-64") or {}).get(w))
                       for name in WASM_PEERS])
        for w in ("pair", "reverse", "random")
    ]
    colours = {"pool": "#d9480f", "glibc": "#495057", "mimalloc": "#1c7ed6", "slab": "#37b24d",
               "bare-list (lower bound)": "#ced4da", "dlmalloc": "#495057", "talc": "#7048e8",
               "lol_alloc": "#f59f00", "bare_list": "#ced4da"}
    width, height, left, top, bottom = 960, 420, 60, 40, 90
    plot_h = height - top - bottom
    lo, hi = 0.5, 20000.0

    y = log_axis(lo, hi, top, plot_h)
    group_w = (width - left - 20) / len(groups)
    out = svg_start(width, height, left,
                    "ns per alloc+free, 64-byte blocks (log scale, lower is faster)")
    for tick in (1, 10, 100, 1000, 10000):
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   f'stroke="#e9ecef"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for g, (label, bars) in enumerate(groups):
        x0 = left + g * group_w + 8
        bar_w = (group_w - 16) / len(bars)
        for b, (name, ns) in enumerate(bars):
            if ns is None:
                continue
            x = x0 + b * bar_w
            out.append(f'<rect x="{x:.1f}" y="{y(ns):.1f}" width="{bar_w - 2:.1f}" '
                       f'height="{top + plot_h - y(ns):.1f}" fill="{colours[name]}">'
                       f'<title>{html.escape(name)}: {fmt(ns)}</title></rect>')
            out.append(f'<text x="{x + (bar_w - 2) / 2:.1f}" y="{y(ns) - 3:.1f}" '
                       f'text-anchor="middle" font-size="9">{ns:.3g}</text>')
        out.append(f'<text x="{x0 + (group_w - 16) / 2:.1f}" y="{top + plot_h + 16}" '
                   f'text-anchor="middle" font-weight="bold">{label}</text>')
    legend = [("pool", "pool (checked)"), ("glibc", "glibc / dlmalloc"),
              ("mimalloc", "mimalloc"), ("slab", "slab"), ("talc", "talc"),
              ("lol_alloc", "lol_alloc"), ("bare_list", "bare free list (unchecked floor)")]
    out += svg_legend([(colours[key], text) for key, text in legend], left, 125, height - 40)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def load_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def random_actions_tables(ra, wra):
    """Markdown tables of talc's random actions (native speed and memory, wasm32), and the
    issue 15 floors they are held to: (tables, targets)."""
    lines, targets = [], []
    if ra:
        names = ra["contenders"]
        lines += [f"### talc's random actions, natively: actions per µs, best of {ra['trials']} "
                  f"× {ra['ms']} ms (load {ra['load_before']} before, {ra['load_after']} after)",
                  "", "| threads | max size | " + " | ".join(names) + " | " +
                  " | ".join(f"÷ {name}" for name in names[1:]) + " |",
                  "|---" * (2 * len(names) + 1) + "|"]
        for cell in ra["cells"]:
            speed = cell["speed"]
            lines.append(f"| {cell['threads']} | {cell['max_size']} | " +
                         " | ".join(f"{v:.1f}" for v in speed) + " | " +
                         " | ".join(fmt_ratio(ratio(speed[0], v)) for v in speed[1:]) + " |")
        lines.append("")
        below_glibc = [c for c in ra["cells"] if c["speed"][0] < c["speed"][1]]
        worst = min(ra["cells"], key=lambda c: c["speed"][0] / c["speed"][1])
        targets.append(("SizeClasses ≥ glibc at every size, 1 and 2 threads",
                        f"lowest {fmt_ratio(worst['speed'][0] / worst['speed'][1])} "
                        f"({worst['threads']} thread(s), max {worst['max_size']}); "
                        f"{len(below_glibc)} of {len(ra['cells'])} cells below",
                        "met" if not below_glibc else "**missed**"))
        small = [c for c in ra["cells"] if c["threads"] == 1 and c["max_size"] <= 5000]
        if small:
            text = ", ".join(f"{c['max_size']}: {fmt_ratio(c['speed'][0] / c['speed'][2])}"
                             for c in small)
            targets.append(("SizeClasses ≥ 0.9× mimalloc at max 200, 1000, 5000, 1 thread", text,
                            "met" if all(c["speed"][0] >= 0.9 * c["speed"][2] for c in small)
                            else "**missed**"))
        ours = [r for r in ra.get("memory", []) if r["name"] == names[0]]
        if ours:
            lines += ["### talc's memory-efficiency workload, natively", "",
                      "| allocator | reallocs touched | live ÷ RSS at peak | RSS at start | "
                      "RSS after freeing all | after ÷ start |", "|---|---|---|---|---|---|"]
            mib = lambda b: f"{b / (1 << 20):.1f} MiB"  # noqa: E731
            for r in ra["memory"]:
                lines.append(f"| {r['name']} | {'yes' if r['touch_reallocs'] else 'no (talc’s)'} | "
                             f"{r['live'] / r['peak_rss']:.3f} | {mib(r['start_rss'])} | "
                             f"{mib(r['after_rss'])} | {r['after_rss'] / r['start_rss']:.2f} |")
            lines.append("")
            talc_mode = [r for r in ours if not r["touch_reallocs"]][0]
            density = talc_mode["live"] / talc_mode["peak_rss"]
            back = max(r["after_rss"] / r["start_rss"] for r in ours)
            targets.append(("live ÷ RSS ≥ 0.9 on talc's memory workload", f"{density:.3f}",
                            "met" if density >= 0.9 else "**missed**"))
            targets.append(("RSS back within 10 % of its start after freeing all",
                            f"{fmt_ratio(back)} of the start", "met" if back <= 1.1 else
                            "**missed**"))
    rows = wra.get("rows", {})
    if "size_classes" in rows and "talc" in rows:
        lines += [f"### talc's random actions on wasm32 (node {wra.get('node', '?')}, "
                  f"opt-level z, seed {wra.get('seed')})", "",
                  "| allocator | actions/µs with realloc | without | linear memory with realloc "
                  "| without | module |", "|---|---|---|---|---|---|"]
        talc = rows["talc"]
        for name, r in rows.items():
            lines.append(
                f"| {name} | {r['speed']['realloc']:.1f} "
                f"({fmt_ratio(r['speed']['realloc'] / talc['speed']['realloc'])}) | "
                f"{r['speed']['plain']:.1f} "
                f"({fmt_ratio(r['speed']['plain'] / talc['speed']['plain'])}) | "
                f"{r['memory']['realloc'] >> 10:,} KiB "
                f"({fmt_ratio(r['memory']['realloc'] / talc['memory']['realloc'])}) | "
                f"{r['memory']['plain'] >> 10:,} KiB "
                f"({fmt_ratio(r['memory']['plain'] / talc['memory']['plain'])}) | "
                f"{r['module']:,} B |")
        lines.append("")
        ours = rows["size_classes"]
        speed = [ours["speed"][k] / talc["speed"][k] for k in ("realloc", "plain")]
        memory = [ours["memory"][k] / talc["memory"][k] for k in ("realloc", "plain")]
        targets.append(("wasm: SizeClasses ≥ talc's actions/µs, with and without realloc",
                        " and ".join(fmt_ratio(v) for v in speed),
                        "met" if min(speed) >= 1 else "**missed**"))
        targets.append(("wasm: linear memory ≤ 1.25× talc's, with and without realloc",
                        " and ".join(fmt_ratio(v) for v in memory),
                        "met" if max(memory) <= 1.25 else "**missed**"))
    return lines, targets


def random_actions_chart(ra):
    """SizeClasses ÷ each peer per cell of talc's random actions, log scale, with the floors."""
    names = ra["contenders"]
    peers = names[1:]
    colours = {"glibc": "#495057", "mimalloc": "#1c7ed6", "jemalloc": "#37b24d",
               "dlmalloc": "#f59f00"}
    cells = ra["cells"]
    width, height, left, top, bottom = 960, 380, 60, 40, 80
    plot_h = height - top - bottom
    lo, hi = 0.1, 10.0

    y = log_axis(lo, hi, top, plot_h)
    group_w = (width - left - 20) / len(cells)
    out = svg_start(width, height, left, "talc’s random actions: SizeClasses ÷ each allocator "
                    "(log scale, above 1: SizeClasses faster)")
    for tick in (0.1, 0.25, 0.5, 1, 2, 4, 10):
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   f'stroke="{"#868e96" if tick == 1 else "#e9ecef"}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for g, cell in enumerate(cells):
        x0 = left + g * group_w + 6
        bar_w = (group_w - 12) / len(peers)
        for b, peer in enumerate(peers):
            r = cell["speed"][0] / cell["speed"][b + 1]
            x = x0 + b * bar_w
            top_y, base = min(y(r), y(1)), max(y(r), y(1))
            out.append(f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{bar_w - 2:.1f}" '
                       f'height="{base - top_y:.1f}" fill="{colours.get(peer, "#adb5bd")}">'
                       f'<title>÷ {html.escape(peer)}: {r:.2f}</title></rect>')
        out.append(f'<text x="{x0 + (group_w - 12) / 2:.1f}" y="{top + plot_h + 16}" '
                   f'text-anchor="middle">{cell["max_size"]} B</text>')
        out.append(f'<text x="{x0 + (group_w - 12) / 2:.1f}" y="{top + plot_h + 30}" '
                   f'text-anchor="middle" font-size="9">{cell["threads"]} thread'
                   f'{"s" if cell["threads"] > 1 else ""}</text>')
    out += svg_legend([(colours.get(peer, "#adb5bd"), f"÷ {peer}") for peer in peers], left, 140,
                      height - 28)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    native = native_results()
    if not native:
        sys.exit(f"no criterion results under {CRITERION}: run `cargo bench --bench pool` first")
    wasm = {}
    if os.path.exists(WASM):
        with open(WASM) as f:
            wasm = json.load(f)
    m = machine()
    n = lambda group, name: native.get((group, name))  # noqa: E731
    w = lambda name, size, workload: (wasm.get("ns", {}).get(f"{name}-{size}") or {}).get(workload)  # noqa: E731

    md = ["# Benchmark results", "",
          "Written by `make bench` (`scripts/bench_report.py`) from one run; do not edit by hand.",
          "",
          f"- machine: {m['cpu']}, {m['cores']} cores (shared: load average "
          f"{' '.join(m['load'])} when the report was written, so expect noise)",
          f"- {m['rustc']}; node {wasm.get('node', '?')} {' '.join(wasm.get('flags', []))}",
          f"- measured {m['date']} at commit {m['commit']}",
          "- native: criterion (1 s warm-up, 2 s measurement), the fastest sample, with "
          "criterion's median of the samples in brackets; wasm: the fastest of 15 interleaved "
          f"rounds in each of {wasm.get('processes', 1)} node processes",
          "- ns per operation = per alloc+free pair; batches: allocate 10,000, free all "
          "(total / 10,000)", ""]

    md += ["## Native: ns per alloc+free", "",
           "| workload | " + " | ".join(NATIVE) + " | glibc ÷ pool | mimalloc ÷ pool |",
           "|---" * (len(NATIVE) + 3) + "|"]
    for workload in ("pair", "reverse", "random"):
        for size in (16, 64, 4096):
            group = f"{workload}-{size}"
            cells = [f"{fmt(n(group, name))} ({fmt(MEDIANS.get((group, name)))})"
                     for name in NATIVE]
            md.append(f"| {workload} {size} B | " + " | ".join(cells) + " | "
                      f"{fmt_ratio(ratio(n(group, 'glibc'), n(group, 'pool')))} | "
                      f"{fmt_ratio(ratio(n(group, 'mimalloc'), n(group, 'pool')))} |")
    md.append("")

    md += ["## Native scaling (64-byte blocks)", "",
           "`held`: the workload on top of N blocks already allocated and held; "
           "`whole`: allocate all N, free them in shuffled order (working set N × 64 B).", "",
           "| workload | " + " | ".join(f"N = {s:,}" for s in SCALES) + " | max ÷ min |",
           "|---" * (len(SCALES) + 2) + "|"]
    flat = {}
    for group in ("held-pair", "held-random", "whole-random"):
        for name in ("pool", "mimalloc"):
            values = [n(group, f"{name}/{s}") for s in SCALES]
            spread = (max(values) / min(values)) if all(values) else None
            flat[(group, name)] = spread
            medians = [MEDIANS.get((group, f"{name}/{s}")) for s in SCALES]
            md.append(f"| {group} {name} | " +
                      " | ".join(f"{fmt(v)} ({fmt(m)})" for v, m in zip(values, medians)) +
                      f" | {fmt_ratio(spread)} |")
    md.append("")
    create = n("create-1GiB", "pool")
    md += [f"Creating and dropping a 1 GiB pool: **{fmt(create)}** "
           f"(median {fmt(MEDIANS.get(('create-1GiB', 'pool')))}).", ""]

    # The cliff: 4 KiB batches before and after link colouring, on the bare list and the pool.
    before_after = {
        w: {
            "bare-before": n("colour-4096", f"bare-list {w}, links at offset 0"),
            "bare-after": n("colour-4096", f"bare-list {w}, links staggered"),
            "pool-before": n("colour-4096", f"pool {w}, links uncoloured"),
            "pool-after": n(f"{w}-4096", "pool"),
            "pool-64": n(f"{w}-64", "pool"),
            "bare-64": n(f"{w}-64", "bare-list (lower bound)"),
        }
        for w in ("reverse", "random")
    }
    rows = [("bare list, every link at offset 0 (before)", "bare-before"),
            ("bare list, links staggered a cache line per block (after)", "bare-after"),
            ("pool, every link in the first word (before: `--cfg memory_pool_uncoloured`)",
             "pool-before"),
            ("pool, links coloured (after: the pool as shipped)", "pool-after")]
    md += ["## The 4 KiB-block cliff", "",
           "Batches of 10,000 blocks of 4096 bytes, ns per block, before and after link "
           "colouring:", "",
           "| | reverse | random |", "|---|---|---|"]
    md += [f"| {label} | {fmt(before_after['reverse'][key])} | "
           f"{fmt(before_after['random'][key])} |" for label, key in rows]
    growth = {w: (ratio(b["pool-after"], b["pool-64"]), ratio(b["bare-after"], b["bare-64"]))
              for w, b in before_after.items()}
    md += ["", "A 4096-byte batch still costs more per block than a 64-byte one (the pool: "
           f"{fmt_ratio(growth['reverse'][0])} reverse, {fmt_ratio(growth['random'][0])} random; "
           f"the unchecked list with staggered links: {fmt_ratio(growth['reverse'][1])}, "
           f"{fmt_ratio(growth['random'][1])}): 10,000 blocks of 4 KiB are 40 MB, every block "
           "on a page of its own, against 640 KB. That is the memory hierarchy, which no "
           "free-list layout removes; the cache-set conflicts are what colouring does.", ""]

    if wasm:
        md += ["## WebAssembly (node): ns per alloc+free", "",
               "| workload | " + " | ".join(WASM_PEERS) + " | dlmalloc ÷ pool | talc ÷ pool |",
               "|---" * (len(WASM_PEERS) + 3) + "|"]
        for workload in ("pair", "reverse", "random"):
            for size in (16, 64, 4096):
                cells = [fmt(w(name, size, workload)) for name in WASM_PEERS]
                md.append(f"| {workload} {size} B | " + " | ".join(cells) + " | "
                          f"{fmt_ratio(ratio(w('dlmalloc', size, workload), w('pool', size, workload)))} | "
                          f"{fmt_ratio(ratio(w('talc', size, workload), w('pool', size, workload)))} |")
        md.append("")
        size = wasm.get("size", {})
        core = size.get("pool_core", {})
        md += ["## WebAssembly module size (release, exports only `setup`, `alloc_block`, "
               "`free_block`)", "",
               "| allocator | file | without custom sections |", "|---|---|---|"]
        for name in WASM_PEERS[:-1]:  # the bare list is a floor for speed, not a module to ship
            if name in size:
                md.append(f"| {name} | {size[name]['file']:,} B | {size[name]['stripped']:,} B |")
        md += ["", f"The pool's checked alloc + free: the `alloc_block` and `free_block` bodies "
               f"(every check inlined) {core.get('hot', '?')} B, and the rest of alloc "
               f"(`alloc_slow`: the next chunk's list, never-used blocks) {core.get('slow', '?')} "
               f"B, together **{core_total(core)} B**; their cold paths (`refuse`, which "
               f"explains a refused free, and `drop_damaged_list`): {core.get('cold', '?')} B. "
               "The rest of the pool's module is `setup` (creating a pool, the linear-memory "
               "source) and std's panic handler.", ""]

    # Targets (64-byte blocks, checks on).
    pool_pair, glibc_pair, mi_pair = n("pair-64", "pool"), n("pair-64", "glibc"), n("pair-64", "mimalloc")
    pool_rand, mi_rand = n("random-64", "pool"), n("random-64", "mimalloc")

    def check(ok):
        return "–" if ok is None else ("met" if ok else "**missed**")

    def both(*values):
        return None if any(v is None for v in values) else all(values)

    targets = [
        ("native pair ≤ 2 ns", fmt(pool_pair), check(pool_pair and pool_pair <= 2)),
        ("native pair ≥ 3× faster than glibc", fmt_ratio(ratio(glibc_pair, pool_pair)),
         check(ratio(glibc_pair, pool_pair) and ratio(glibc_pair, pool_pair) >= 3)),
        ("native pair ≥ 1.7× faster than mimalloc", fmt_ratio(ratio(mi_pair, pool_pair)),
         check(ratio(mi_pair, pool_pair) and ratio(mi_pair, pool_pair) >= 1.7)),
        ("native random batch no slower than mimalloc",
         f"{fmt(pool_rand)} vs {fmt(mi_rand)} ({fmt_ratio(ratio(mi_rand, pool_rand))})",
         check(pool_rand and mi_rand and pool_rand <= mi_rand)),
    ]
    if wasm:
        wp, wd = w("pool", 64, "pair"), w("dlmalloc", 64, "pair")
        wr, wdr = w("pool", 64, "random"), w("dlmalloc", 64, "random")
        targets += [
            ("wasm pair ≥ 2× faster than dlmalloc", f"{fmt(wp)} vs {fmt(wd)} "
             f"({fmt_ratio(ratio(wd, wp))})", check(both(wp, wd) and wd / wp >= 2)),
            ("wasm random batch ≥ 3× faster than dlmalloc", f"{fmt(wr)} vs {fmt(wdr)} "
             f"({fmt_ratio(ratio(wdr, wr))})", check(both(wr, wdr) and wdr / wr >= 3)),
        ]
    for group in ("held-pair", "held-random"):
        spread = flat.get((group, "pool"))
        targets.append((f"flat scaling ±20%, {group}, 1 K → 10 M", f"max ÷ min {fmt_ratio(spread)}",
                        check(spread and spread <= 1.2)))
    spread = flat.get(("whole-random", "pool"))
    targets.append(("(not a target) whole-pool random batch 1 K → 10 M",
                    f"max ÷ min {fmt_ratio(spread)} (mimalloc "
                    f"{fmt_ratio(flat.get(('whole-random', 'mimalloc')))})", "see note"))
    targets.append(("1 GiB pool created < 1 ms", fmt(create), check(create and create < 1e6)))
    # A cliff is what large blocks cost beyond what they cost an unchecked list without
    # cache-set conflicts (staggered links): 40 MB of 4 KiB blocks against 640 KB of 64-byte
    # ones slows every free list down, and that part is not the cliff.
    for workload, b in before_after.items():
        pool_growth, floor_growth = growth[workload]
        met = None if None in (b["pool-before"], b["pool-after"], floor_growth, pool_growth) \
            else b["pool-after"] < b["pool-before"] and pool_growth <= floor_growth
        targets.append((f"no 4096-byte cliff, {workload} batch: colouring helps, and 4096 B ÷ "
                        "64 B no worse than for the unchecked list with staggered links",
                        f"uncoloured {fmt(b['pool-before'])} → coloured {fmt(b['pool-after'])}; "
                        f"4096 ÷ 64: {fmt_ratio(pool_growth)} (unchecked list "
                        f"{fmt_ratio(floor_growth)})", check(met)))
    if wasm:
        core = wasm.get("size", {}).get("pool_core", {})
        total = core_total(core)
        targets.append(("checked alloc/free core ≤ 1 KB of wasm",
                        f"{total} B ({core.get('hot')} B fast paths + {core.get('slow')} B slow "
                        "path)", check(isinstance(total, int) and total <= 1024)))
    md += ["## Targets (64-byte blocks, all checks on)", "", "| target | measured | |",
           "|---|---|---|"]
    md += [f"| {t} | {v} | {c} |" for t, v, c in targets]
    md += ["", "![ns per alloc+free](results.svg)", ""]
    ra, wra = load_json(RANDOM_ACTIONS), load_json(WASM_RANDOM_ACTIONS)
    ra_lines, ra_targets = random_actions_tables(ra, wra)
    if ra_lines:
        md += ["## SizeClasses on talc's workloads (issue 15)", ""] + ra_lines
        md += ["| floor | measured | |", "|---|---|---|"]
        md += [f"| {t} | {v} | {c} |" for t, v, c in ra_targets]
        if ra:
            md += ["", "![SizeClasses ÷ each allocator](random_actions.svg)", ""]

    with open(OUT_MD, "w") as f:
        f.write("\n".join(md))

    # The README shows the 64-byte rows, the targets and the chart, between its markers.
    summary = [START, "",
               f"Measured by `make bench` on {m['cpu']} ({m['cores']} cores, shared), "
               f"{m['rustc'].split(' (')[0]}, node {wasm.get('node', '?')}, {m['date']}. "
               "ns per alloc+free, 64-byte blocks, fastest sample (medians and every block "
               "size in "
               "[benches/results.md](benches/results.md)).", "",
               "| | " + " | ".join(NATIVE) + " |", "|---" * (len(NATIVE) + 1) + "|"]
    for workload in ("pair", "reverse", "random"):
        summary.append(f"| native {workload} | " +
                       " | ".join(fmt(n(f"{workload}-64", name)) for name in NATIVE) + " |")
    if wasm:
        summary += ["", "| | " + " | ".join(WASM_PEERS) + " |",
                    "|---" * (len(WASM_PEERS) + 1) + "|"]
        for workload in ("pair", "reverse", "random"):
            summary.append(f"| wasm {workload} | " +
                           " | ".join(fmt(w(name, 64, workload)) for name in WASM_PEERS) + " |")
    summary += ["", "| target | measured | |", "|---|---|---|"]
    summary += [f"| {t} | {v} | {c} |" for t, v, c in targets]
    summary += ["", "![ns per alloc+free, 64-byte blocks](benches/results.svg)", ""]
    if ra_lines:
        summary += ["SizeClasses on talc's workloads, in the same run:", ""] + ra_lines
        summary += ["| floor (issue 15) | measured | |", "|---|---|---|"]
        summary += [f"| {t} | {v} | {c} |" for t, v, c in ra_targets]
        if ra:
            summary += ["", "![SizeClasses ÷ each allocator on talc's random actions]"
                        "(benches/random_actions.svg)", ""]
    summary += [END]
    with open(README) as f:
        readme = f.read()
    if START in readme and END in readme:
        before, rest = readme.split(START, 1)
        after = rest.split(END, 1)[1]
        with open(README, "w") as f:
            f.write(before + "\n".join(summary) + after)
    with open(OUT_SVG, "w") as f:
        f.write(chart(native, wasm))
    if ra:
        with open(OUT_RA_SVG, "w") as f:
            f.write(random_actions_chart(ra))
    print(f"wrote {os.path.relpath(OUT_MD, ROOT)}, {os.path.relpath(OUT_SVG, ROOT)}"
          + (f" and {os.path.relpath(OUT_RA_SVG, ROOT)}" if ra else ""))


if __name__ == "__main__":
    main()
