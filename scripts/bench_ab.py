#!/usr/bin/env python3
"""Interleaved A/B runs of one channel workload, for rows too noisy for one criterion sample.

Runs `SLUICEBOX_BENCH_ONE=<spec with {} replaced by each implementation>` against the
channels bench binary, alternating the implementations round by round (so a slow phase of
the machine hits all of them), and prints each one's median ns/message and its ratio to
the first implementation's median.

    cargo bench -p sluicebox-benches --bench channels --no-run
    python3 scripts/bench_ab.py --spec 'blocking/spsc/64/{}/3000000/64B' \\
        --impls sluicebox,crossbeam --rounds 7

Stdlib only. The binary is the newest target/release/deps/channels-* unless --bin is given.

With --bins A,B (two builds of the bench, e.g. two commits of sluicebox) the rounds
alternate the binaries instead, for each implementation in --impls:

    python3 scripts/bench_ab.py --spec 'tokio/spsc/64/{}/1000000' --impls sluicebox \\
        --bins /tmp/before/channels,target/release/deps/channels-abc --rounds 7
"""

import argparse
import glob
import os
import re
import statistics
import subprocess
import sys


def newest_bin():
    bins = [
        b
        for b in glob.glob("target/release/deps/channels-*")
        if os.access(b, os.X_OK) and not b.endswith(".d")
    ]
    if not bins:
        sys.exit(
            "no target/release/deps/channels-* "
            "(run `cargo bench -p sluicebox-benches --bench channels --no-run`)"
        )
    return max(bins, key=os.path.getmtime)


def run(binary, spec):
    env = dict(os.environ, SLUICEBOX_BENCH_ONE=spec)
    out = subprocess.run([binary], env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"([0-9.]+) ns/message", out)
    if not m:
        sys.exit(f"{spec}: no ns/message in output: {out!r}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", required=True, help="workload, {} marks the implementation")
    ap.add_argument("--impls", required=True, help="comma-separated, the first is the base")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--bins", default=None, help="two or more binaries to alternate")
    args = ap.parse_args()
    if "{}" not in args.spec:
        sys.exit("--spec needs a {} where the implementation goes")
    if args.bins:
        # Each (binary, implementation) pair is one contender, named by its position.
        runs = [
            (f"{i}@{n}", b, i)
            for i in args.impls.split(",")
            for n, b in enumerate(args.bins.split(","))
        ]
    else:
        binary = args.bin or newest_bin()
        runs = [(i, binary, i) for i in args.impls.split(",")]
    impls = [name for name, _, _ in runs]
    times = {name: [] for name in impls}
    for _ in range(args.rounds):
        for name, binary, imp in runs:
            times[name].append(run(binary, args.spec.replace("{}", imp)))
    base = statistics.median(times[impls[0]])
    print(f"{args.spec}, {args.rounds} interleaved rounds, median ns/message:")
    for i in impls:
        med = statistics.median(times[i])
        spread = f"{min(times[i]):.1f}-{max(times[i]):.1f}"
        print(f"  {i:14} {med:9.1f}  (range {spread:>15})  {impls[0]}/{i} = {base / med:.2f}")


if __name__ == "__main__":
    main()
