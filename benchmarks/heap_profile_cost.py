"""The heap profile's cost: the peers' gcrt program with sampling off
(GCRT_DEBUG=memprofilerate=0) and at the default rate (one sample per
512 KiB, on unless turned off), interleaved, alternating which goes first
each run. Prints per workload the medians of wall and CPU time for each
mode and their ratios (default over off).

    bazel build -c opt //benchmarks/peers/gcrt:gcrt_workloads
    python3 benchmarks/heap_profile_cost.py [--runs 5]
"""
import argparse
import os
import statistics

from run_timing import run_once

WORKLOADS = [
    ("binary-trees 21", ["binary-trees", "21"]),
    ("GCBench", ["gcbench"]),
]
MODES = [("off", "memprofilerate=0"), ("default", "")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workload", choices=[n for n, _ in WORKLOADS],
                    help="only this one")
    ap.add_argument(
        "--binary",
        default="bazel-bin/benchmarks/peers/gcrt/gcrt_workloads")
    a = ap.parse_args()
    print("| workload | off: wall s | default: wall s | wall ratio "
          "| off: CPU s | default: CPU s | CPU ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, args in WORKLOADS:
        if a.workload and name != a.workload:
            continue
        results = {m: [] for m, _ in MODES}
        for i in range(a.runs):
            order = MODES if i % 2 == 0 else list(reversed(MODES))
            for mode, debug in order:
                env = dict(os.environ, GCRT_DEBUG=debug)
                results[mode].append(run_once(a.binary, args, env))
        med = {m: (statistics.median(w for w, _ in r),
                   statistics.median(c for _, c in r))
               for m, r in results.items()}
        off, on = med["off"], med["default"]
        print(f"| {name} | {off[0]:.4f} | {on[0]:.4f} | {on[0] / off[0]:.3f} "
              f"| {off[1]:.4f} | {on[1]:.4f} | {on[1] / off[1]:.3f} |")


if __name__ == "__main__":
    main()
