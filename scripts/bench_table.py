#!/usr/bin/env python3
"""Markdown table of sluicebox's criterion benches against its peers (stdlib only).

Reads every `<criterion dir>/**/new/benchmark.json` + `estimates.json` that `cargo bench`
left (benches/channels.rs, benches/semaphore.rs) and prints one row per workload: the
median time per message (ns; per acquire+release for the semaphore rows) of each
implementation, and sluicebox's ratio to the best peer (< 1.00: sluicebox is faster).

    SLUICEBOX_BENCH_QUICK=1 cargo bench -p sluicebox-benches --bench channels --bench semaphore
    python3 scripts/bench_table.py                   # target/criterion, or $CARGO_TARGET_DIR
    python3 scripts/bench_table.py --dir /work/target-bench/criterion --max-age-min 60

Rows of earlier runs stay in the criterion directory: `--max-age-min` keeps only results
written in the last N minutes (e.g. to show only the quick run you just made).
"""

import argparse
import json
import os
import re
import sys
import time

OURS = "sluicebox"
# Column order; any other implementation found is appended in name order.
PEERS = [
    "tokio-mpsc",
    "async-channel",
    "flume",
    "kanal",
    "thingbuf",
    "crossbeam",
    "tokio",
    "async-lock",
    "maitake-sync",
]
# Row order by the group's first path segment.
SECTIONS = ["try_pair", "blocking", "tokio", "smol", "scale", "sem_uncontended", "sem_contended"]
TOPOS = ["spsc", "mpsc4x1", "mpmc4x4"]
EXECS = ["tokio", "smol"]


def default_dir():
    base = os.environ.get("CARGO_TARGET_DIR")
    if not base:
        here = os.path.dirname(os.path.abspath(__file__))
        base = os.path.join(here, os.pardir, "target")
    return os.path.normpath(os.path.join(base, "criterion"))


def load(criterion_dir, max_age_min=None):
    """{(group, param): {impl: median_ns}} from criterion's `new/` estimates."""
    cutoff = time.time() - max_age_min * 60 if max_age_min else None
    rows = {}
    for root, _dirs, files in os.walk(criterion_dir):
        if os.path.basename(root) != "new" or "estimates.json" not in files:
            continue
        if "benchmark.json" not in files:
            continue
        est_path = os.path.join(root, "estimates.json")
        if cutoff is not None and os.path.getmtime(est_path) < cutoff:
            continue
        with open(os.path.join(root, "benchmark.json")) as f:
            bench = json.load(f)
        with open(est_path) as f:
            est = json.load(f)
        ns = est["median"]["point_estimate"]
        elems = (bench.get("throughput") or {}).get("Elements") or 1
        group = bench["group_id"]
        impl = bench.get("function_id") or ""
        param = bench.get("value_str") or ""
        rows.setdefault((group, param), {})[impl] = ns / elems
    return rows


def natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def row_key(item):
    (group, param), _ = item
    parts = group.split("/")
    sec = SECTIONS.index(parts[0]) if parts[0] in SECTIONS else len(SECTIONS)
    topo = next((TOPOS.index(p) for p in parts if p in TOPOS), 0)
    rest = [p for p in parts[1:] if p not in TOPOS]
    execs = [EXECS.index(p) for p in rest if p in EXECS]
    rest = [p for p in rest if p not in EXECS]
    return (sec, parts[0], execs, rest, topo, natural(param))


def columns(rows):
    seen = {impl for impls in rows.values() for impl in impls}
    cols = [OURS] if OURS in seen else []
    cols += [p for p in PEERS if p in seen]
    cols += sorted(seen - set(cols))
    return cols


def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns >= 100:
        return f"{ns:,.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def ratio(impls):
    """(sluicebox / best peer, best peer's name), or (None, None)."""
    ours = impls.get(OURS)
    peers = {k: v for k, v in impls.items() if k != OURS}
    if ours is None or not peers:
        return None, None
    best = min(peers, key=peers.get)
    return ours / peers[best], best


def table(rows):
    cols = columns(rows)
    out = ["| workload | " + " | ".join(cols) + " | sluicebox / best peer |"]
    out.append("|---|" + "---:|" * len(cols) + "---|")
    for (group, param), impls in sorted(rows.items(), key=row_key):
        r, best = ratio(impls)
        cells = []
        for c in cols:
            cell = fmt_ns(impls.get(c))
            if c == best or (c == OURS and r is not None and r < 1):
                cell = f"**{cell}**"
            cells.append(cell)
        rtxt = f"{r:.2f} ({best})" if r is not None else "–"
        if r is not None and r > 1.10:
            rtxt += " ⚠"
        out.append(f"| {group} {param} | " + " | ".join(cells) + f" | {rtxt} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=default_dir(), help="criterion output directory")
    ap.add_argument("--max-age-min", type=float, help="only results newer than N minutes")
    args = ap.parse_args()
    rows = load(args.dir, args.max_age_min)
    if not rows:
        sys.exit(f"no criterion results under {args.dir}")
    print("Median ns per message (per acquire+release for sem_*); lower is better.")
    print("Bold: the best peer, and sluicebox where it beats it. ⚠: sluicebox >10% behind.")
    print()
    print(table(rows))
    ratios = [ratio(i)[0] for i in rows.values()]
    ratios = [r for r in ratios if r is not None]
    if ratios:
        ahead = sum(r <= 1.0 for r in ratios)
        print()
        print(f"sluicebox at or ahead of the best peer in {ahead} of {len(ratios)} rows.")


if __name__ == "__main__":
    main()
