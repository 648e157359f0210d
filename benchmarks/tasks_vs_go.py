#!/usr/bin/env python3
"""gcrt's tasks (api/task.h) beside Go's goroutines and beside threads,
interleaved runs, medians (the first of each pair alternates):

  task-spawn       one task from gc::go to its end (batches of 1000 joined
                   by a wait group), against a goroutine (sync.WaitGroup)
  task-switch      one hand-over between two tasks over unbuffered
                   channels, against two goroutines
  binary-trees     depth 21, the iterations split between N tasks, beside
                   the same split between N std::threads (gcrt) and N
                   goroutines (Go); wall, CPU and peak RSS
  many             100 activities allocating trees for 3 s: tasks on
                   GCRT_PROCS workers against 100 threads; the stops' time
                   to safepoint (p50, p99, max over every cycle of a run,
                   then the median over runs)

    bazel build -c opt //benchmarks/peers/gcrt:gcrt_workloads \\
        //benchmarks/peers/go:go_workloads
    python3 benchmarks/tasks_vs_go.py [--runs 5]
"""
import argparse
import os
import re
import statistics
import subprocess


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))] if v else float("nan")


def run(binary, args):
    cmd = ["/usr/bin/time", "-f", "TIME %e %U %S %M", binary] + args
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", p.stderr)
    rate = re.search(r"rate: ns_per_op=([\d.]+)", p.stdout)
    ttsp = [float(x) for x in re.findall(r"^ttsp_ms: ([\d.]+)", p.stdout, re.M)]
    pauses = [float(x)
              for x in re.findall(r"^pause_ms: ([\d.]+)", p.stdout, re.M)]
    return {
        "wall": float(m[1]),
        "cpu": float(m[2]) + float(m[3]),
        "rss": int(m[4]) / 1024.0,
        "rate": float(rate[1]) if rate else None,
        "ttsp": ttsp,
        "pauses": pauses,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=2,
                    help="binary-trees: tasks, threads and goroutines")
    a = ap.parse_args()
    bin_dir = subprocess.run(["bazel", "info", "-c", "opt", "bazel-bin"],
                             capture_output=True, text=True,
                             check=True).stdout.strip()
    gcrt = os.path.join(bin_dir, "benchmarks/peers/gcrt/gcrt_workloads")
    go = os.path.join(bin_dir, "benchmarks/peers/go/go_workloads")
    n = str(a.tasks)
    cases = [
        ("task-spawn", [("gcrt tasks", gcrt, ["task-spawn", "1000000"]),
                        ("Go goroutines", go, ["task-spawn", "1000000"])]),
        ("task-switch", [("gcrt tasks", gcrt, ["task-switch", "1000000"]),
                         ("Go goroutines", go, ["task-switch", "1000000"])]),
        ("binary-trees 21", [
            ("gcrt " + n + " tasks", gcrt, ["binary-trees-tasks", "21", n]),
            ("gcrt " + n + " threads", gcrt, ["binary-trees-mt", "21", n]),
            ("Go " + n + " goroutines", go, ["binary-trees-mt", "21", n])]),
        ("many (100, 3 s)", [
            ("gcrt 100 tasks", gcrt, ["many-tasks", "100", "3000"]),
            ("gcrt 100 threads", gcrt, ["many-threads", "100", "3000"])]),
    ]
    for title, impls in cases:
        results = {name: [] for name, _, _ in impls}
        for i in range(a.runs):
            order = impls if i % 2 == 0 else impls[::-1]
            for name, binary, args in order:
                results[name].append(run(binary, args))
        print(f"\n### {title} ({a.runs} runs, medians)\n")
        if title.startswith("task-"):
            print("| implementation | ns per op | runs |")
            print("|---|---|---|")
            base = None
            for name, _, _ in impls:
                rates = [r["rate"] for r in results[name]]
                med = statistics.median(rates)
                base = base or med
                print(f"| {name} | {med:.1f} ({med / base:.2f}x) | "
                      f"{', '.join(f'{x:.1f}' for x in rates)} |")
        elif title.startswith("binary"):
            print("| implementation | wall s | CPU s | peak RSS MiB |")
            print("|---|---|---|---|")
            for name, _, _ in impls:
                rs = results[name]
                print(f"| {name} | {statistics.median(r['wall'] for r in rs):.2f} | "
                      f"{statistics.median(r['cpu'] for r in rs):.2f} | "
                      f"{statistics.median(r['rss'] for r in rs):.0f} |")
        else:
            print("| implementation | cycles | TTSP p50 ms | p99 | max "
                  "| pause p50 ms | pause max |")
            print("|---|---|---|---|---|---|---|")
            for name, _, _ in impls:
                rs = results[name]

                def med(f):
                    return statistics.median(f(r) for r in rs)
                print(f"| {name} | {med(lambda r: len(r['ttsp'])):.0f} | "
                      f"{med(lambda r: percentile(r['ttsp'], 50)):.3f} | "
                      f"{med(lambda r: percentile(r['ttsp'], 99)):.3f} | "
                      f"{med(lambda r: max(r['ttsp'])):.3f} | "
                      f"{med(lambda r: percentile(r['pauses'], 50)):.3f} | "
                      f"{med(lambda r: max(r['pauses'])):.3f} |")


if __name__ == "__main__":
    main()
