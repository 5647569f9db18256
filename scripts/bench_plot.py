#!/usr/bin/env python3
"""SVG bar chart of sluicebox's criterion benches against its peers (stdlib only).

Same data as scripts/bench_table.py: one block of horizontal bars per workload, one bar
per implementation, median ns/message on a log scale (shorter is better).

    python3 scripts/bench_plot.py -o bench.svg
    python3 scripts/bench_plot.py --dir /work/target-bench/criterion --max-age-min 60 -o b.svg
"""

import argparse
import math
import os
import sys
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_table  # noqa: E402  (the loader and the row order live there)

COLORS = {
    "sluicebox": "#d62728",
    "tokio-mpsc": "#1f77b4",
    "tokio": "#6baed6",
    "async-channel": "#2ca02c",
    "async-lock": "#98df8a",
    "flume": "#9467bd",
    "kanal": "#ff7f0e",
    "thingbuf": "#8c564b",
    "crossbeam": "#17becf",
    "maitake-sync": "#e377c2",
}
BAR, GAP, LABEL_W, PLOT_W, TOP = 9, 10, 300, 640, 74


def svg(rows):
    cols = bench_table.columns(rows)
    items = sorted(rows.items(), key=bench_table.row_key)
    values = [v for _, impls in items for v in impls.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(hi) - math.log10(lo)

    def x(ns):
        return LABEL_W + PLOT_W * (math.log10(ns) - math.log10(lo)) / span

    height = TOP + sum(len(i) * BAR + GAP for _, i in items) + 30
    width = LABEL_W + PLOT_W + 90
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{LABEL_W}" y="16" font-size="13" font-weight="bold">'
        "median ns per message (log scale, shorter is better)</text>",
    ]
    # Legend, wrapped to the plot's width.
    lx, ly = LABEL_W, 26
    for c in cols:
        if lx + 16 + 7 * len(c) > width:
            lx, ly = LABEL_W, ly + 14
        out.append(
            f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{COLORS.get(c, "#7f7f7f")}"/>'
        )
        out.append(f'<text x="{lx + 13}" y="{ly + 9}">{escape(c)}</text>')
        lx += 16 + 7 * len(c)
    # Decade grid lines.
    bottom = height - 25
    decade = lo
    while decade <= hi * 1.0001:
        gx = x(decade)
        out.append(
            f'<line x1="{gx:.1f}" y1="{TOP - 8}" x2="{gx:.1f}" y2="{bottom}" stroke="#ddd"/>'
        )
        label = f"{decade:,.0f}" if decade >= 1 else f"{decade:g}"
        out.append(f'<text x="{gx:.1f}" y="{bottom + 14}" text-anchor="middle">{label}</text>')
        decade *= 10
    # Bars.
    y = TOP
    for (group, param), impls in items:
        block = len(impls) * BAR
        r, _best = bench_table.ratio(impls)
        title = f"{group} {param}"
        out.append(
            f'<text x="{LABEL_W - 6}" y="{y + block / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(title)}</text>"
        )
        if r is not None:
            out.append(
                f'<text x="{LABEL_W - 6}" y="{y + block / 2 + 15:.1f}" text-anchor="end" '
                f'fill="#666" font-size="9">×{r:.2f} of best peer</text>'
            )
        for c in [c for c in cols if c in impls]:
            ns = impls[c]
            w = max(x(ns) - LABEL_W, 1)
            color = COLORS.get(c, "#7f7f7f")
            out.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR - 1}" fill="{color}">'
                f"<title>{escape(c)}: {ns:,.1f} ns</title></rect>"
            )
            out.append(
                f'<text x="{LABEL_W + w + 3:.1f}" y="{y + BAR - 1.5}" font-size="8">'
                f"{bench_table.fmt_ns(ns)}</text>"
            )
            y += BAR
        y += GAP
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=bench_table.default_dir(), help="criterion directory")
    ap.add_argument("--max-age-min", type=float, help="only results newer than N minutes")
    ap.add_argument("-o", "--output", default="bench.svg", help="SVG file to write")
    args = ap.parse_args()
    rows = bench_table.load(args.dir, args.max_age_min)
    if not rows:
        sys.exit(f"no criterion results under {args.dir}")
    with open(args.output, "w") as f:
        f.write(svg(rows))
    print(f"wrote {args.output} ({len(rows)} workloads)")


if __name__ == "__main__":
    main()
