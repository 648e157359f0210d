#!/usr/bin/env python3
"""Marking beside the program against stop-the-world, interleaved.

Runs the peers' gcrt program (benchmarks/peers/gcrt, built with -c opt) on
binary-trees, binary-trees-mt, GCBench and the long-lived workload with
GCRT_DEBUG=concurrent=1 (the default) and =0, alternating which goes first
each run, and prints the table benchmarks/README.md shows: medians over the
runs of wall time, CPU time, peak RSS, cycles, pause total; per run the
p50, p99 and max of the cycles' pauses and the max time to safepoint (from
gc::stats(), as the program prints them), then their median; for the
long-lived workload the mutator's step latency p99 and max.

    bazel build -c opt //benchmarks/peers/gcrt:gcrt_workloads
    python3 benchmarks/concurrent_vs_stw.py [--runs 3]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

WORKLOADS = [
    ("binary-trees 21", ["binary-trees", "21"]),
    ("binary-trees-mt 21 2", ["binary-trees-mt", "21", "2"]),
    ("GCBench", ["gcbench"]),
    ("long-lived (256 MiB)", ["long-lived"]),
]
MODES = [("concurrent", "1"), ("STW", "0")]


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def run_once(binary, args, concurrent):
    env = dict(os.environ, GCRT_DEBUG="concurrent=" + concurrent)
    cmd = ["/usr/bin/time", "-f", "TIME %e %U %S %M", binary] + args
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", p.stderr)
    wall, user, sys_, rss_kb = float(m[1]), float(m[2]), float(m[3]), int(m[4])
    gc = re.search(r"gc: collections=(\d+) pause_total_ms=([\d.]+)", p.stdout)
    pauses = [float(x) for x in re.findall(r"^pause_ms: ([\d.]+)", p.stdout, re.M)]
    ttsp = [float(x) for x in re.findall(r"^ttsp_ms: ([\d.]+)", p.stdout, re.M)]
    lat = re.search(r"latency: max_ms=([\d.]+) p99_ms=([\d.]+)", p.stdout)
    return {
        "wall": wall,
        "cpu": user + sys_,
        "rss": rss_kb / 1024.0,
        "cycles": int(gc[1]),
        "pause_total": float(gc[2]),
        "p50": percentile(pauses, 50),
        "p99": percentile(pauses, 99),
        "max": max(pauses) if pauses else float("nan"),
        "ttsp_max": max(ttsp) if ttsp else float("nan"),
        "lat_p99": float(lat[2]) if lat else None,
        "lat_max": float(lat[1]) if lat else None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=None)
    a = ap.parse_args()
    binary = a.binary
    if binary is None:
        bin_dir = subprocess.run(
            ["bazel", "info", "-c", "opt", "bazel-bin"],
            capture_output=True, text=True, check=True).stdout.strip()
        binary = os.path.join(bin_dir, "benchmarks/peers/gcrt/gcrt_workloads")
    results = {(w, m): [] for w, _ in WORKLOADS for m, _ in MODES}
    for i in range(a.runs):
        for name, args in WORKLOADS:
            order = MODES if i % 2 == 0 else MODES[::-1]
            for mode, flag in order:
                r = run_once(binary, args, flag)
                results[(name, mode)].append(r)
                print(f"# run {i + 1} {name} {mode}: {r['wall']:.2f} s, "
                      f"{r['rss']:.0f} MiB, {r['cycles']} cycles, "
                      f"max pause {r['max']:.3f} ms", file=sys.stderr)

    def med(name, mode, key):
        return statistics.median(r[key] for r in results[(name, mode)])

    print("| workload | wall concurrent / STW | ratio | CPU | peak RSS MiB | "
          "cycles | pause total ms | p50 pause | p99 pause | max pause | "
          "max TTSP | latency p99 ; max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _ in WORKLOADS:
        c = lambda k: med(name, "concurrent", k)
        s = lambda k: med(name, "STW", k)
        ratios = [rc["wall"] / rs["wall"] for rc, rs in
                  zip(results[(name, "concurrent")], results[(name, "STW")])]
        lat = "-"
        if results[(name, "concurrent")][0]["lat_p99"] is not None:
            lat = (f"{c('lat_p99'):.3f} / {s('lat_p99'):.3f} ms ; "
                   f"{c('lat_max'):.1f} / {s('lat_max'):.1f} ms")
        print(f"| {name} | {c('wall'):.2f} / {s('wall'):.2f} s | "
              f"{statistics.median(ratios):.2f} | "
              f"{c('cpu'):.1f} / {s('cpu'):.1f} s | "
              f"{c('rss'):.0f} / {s('rss'):.0f} | "
              f"{c('cycles'):.0f} / {s('cycles'):.0f} | "
              f"{c('pause_total'):.1f} / {s('pause_total'):.0f} | "
              f"{c('p50'):.3f} / {s('p50'):.1f} | "
              f"{c('p99'):.3f} / {s('p99'):.1f} | "
              f"{c('max'):.3f} / {s('max'):.1f} | "
              f"{c('ttsp_max'):.3f} / {s('ttsp_max'):.3f} | {lat} |")


if __name__ == "__main__":
    main()
