#!/usr/bin/env python3
"""Plots of a gcrt cycle log (GCRT_DEBUG=gclog=path: a JSON line per cycle).

    GCRT_DEBUG=gclog=/tmp/gc.jsonl ./program
    python3 tools/gclog_plot.py /tmp/gc.jsonl out/ [--no-plot]

Writes into out/: pauses.dat (start_s, pause_ms, ttsp_ms per cycle),
heap.dat (start_s and heap before / marked / goal in MiB per cycle),
histogram.dat (pause counts in 0.1 ms buckets), gclog.gp (a gnuplot
script), and, unless --no-plot or gnuplot is missing, three plots:
pauses.png (the pause timeline), heap.png (the heap over time) and
histogram.png (the pause histogram). Prints a summary: cycles, pause
p50/p99/max, total pause.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

MIB = 1024.0 * 1024.0


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("out")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    cycles = []
    with open(args.log) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                cycles.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{args.log}:{n}: not a JSON line: {e}")
    if not cycles:
        sys.exit(f"{args.log}: no cycles")
    os.makedirs(args.out, exist_ok=True)
    pauses = [c["pause_ns"] / 1e6 for c in cycles]
    with open(os.path.join(args.out, "pauses.dat"), "w") as f:
        f.write("# start_s pause_ms ttsp_ms\n")
        for c in cycles:
            f.write(f"{c['start_s']:.6f} {c['pause_ns'] / 1e6:.4f} "
                    f"{c['ttsp_ns'] / 1e6:.4f}\n")
    with open(os.path.join(args.out, "heap.dat"), "w") as f:
        f.write("# start_s heap_before_mib heap_marked_mib goal_mib\n")
        for c in cycles:
            goal = c["goal"] / MIB if c["goal"] >= 0 else float("nan")
            f.write(f"{c['start_s']:.6f} {c['heap_before'] / MIB:.3f} "
                    f"{c['heap_marked'] / MIB:.3f} {goal:.3f}\n")
    buckets = {}
    for p in pauses:
        b = int(p * 10)  # 0.1 ms buckets
        buckets[b] = buckets.get(b, 0) + 1
    with open(os.path.join(args.out, "histogram.dat"), "w") as f:
        f.write("# bucket_start_ms cycles\n")
        for b in range(0, max(buckets) + 1):
            f.write(f"{b / 10:.1f} {buckets.get(b, 0)}\n")
    gp = os.path.join(args.out, "gclog.gp")
    with open(gp, "w") as f:
        f.write("""set terminal pngcairo size 900,450 noenhanced
set grid
set offsets 0, 0, graph 0.05, 0
set output 'pauses.png'
set title 'pause per cycle'
set xlabel 'seconds since start'
set ylabel 'ms'
plot 'pauses.dat' using 1:2 with impulses title 'pause', \\
     'pauses.dat' using 1:3 with points pt 7 ps 0.4 title 'time to safepoint'
set output 'heap.png'
set title 'heap per cycle'
set ylabel 'MiB'
plot 'heap.dat' using 1:2 with linespoints title 'at cycle start', \\
     'heap.dat' using 1:3 with linespoints title 'marked (live)', \\
     'heap.dat' using 1:4 with steps title 'goal'
set output 'histogram.png'
set title 'pause histogram'
set xlabel 'pause (ms, 0.1 ms buckets)'
set ylabel 'cycles'
set style fill solid
plot 'histogram.dat' using 1:2 with boxes title ''
""")
    print(f"cycles {len(cycles)}, pause p50 {percentile(pauses, 50):.3f} ms, "
          f"p99 {percentile(pauses, 99):.3f} ms, max {max(pauses):.3f} ms, "
          f"total {sum(pauses):.1f} ms")
    # Where the stops' time went (gc::StopTimes), part by part.
    parts = ["ttsp", "sweep", "roots", "ttsp2", "mark", "weak", "flip",
             "flush", "pace"]
    stops = [c["stop"] for c in cycles if "stop" in c]
    if stops:
        print("stop parts, ms (p50 / p99 / max):")
        for part in parts:
            v = [s[part + "_ns"] / 1e6 for s in stops]
            print(f"  {part:<6} {percentile(v, 50):.3f} / "
                  f"{percentile(v, 99):.3f} / {max(v):.3f}")
    if not args.no_plot:
        if shutil.which("gnuplot") is None:
            print("gnuplot not found: data and script written, no plots")
        else:
            subprocess.run(["gnuplot", "gclog.gp"], cwd=args.out, check=True)


if __name__ == "__main__":
    main()
