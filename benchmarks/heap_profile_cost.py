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
import re
import statistics
import subprocess
import tempfile

WORKLOADS = [
    ("binary-trees 21", ["binary-trees", "21"]),
    ("GCBench", ["gcbench"]),
]
MODES = [("off", "memprofilerate=0"), ("default", "")]


def run_once(binary, args, debug):
    env = dict(os.environ, GCRT_DEBUG=debug)
    cmd = ["/usr/bin/time", "-f", "TIME %e %U %S", binary] + args
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+)", p.stderr)
    return float(m[1]), float(m[2]) + float(m[3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--binary",
        default="bazel-bin/benchmarks/peers/gcrt/gcrt_workloads")
    a = ap.parse_args()
    print("| workload | off: wall s | default: wall s | wall ratio "
          "| off: CPU s | default: CPU s | CPU ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, args in WORKLOADS:
        results = {m: [] for m, _ in MODES}
        for i in range(a.runs):
            order = MODES if i % 2 == 0 else list(reversed(MODES))
            for mode, debug in order:
                results[mode].append(run_once(a.binary, args, debug))
        med = {m: (statistics.median(w for w, _ in r),
                   statistics.median(c for _, c in r))
               for m, r in results.items()}
        off, on = med["off"], med["default"]
        print(f"| {name} | {off[0]:.3f} | {on[0]:.3f} | {on[0] / off[0]:.3f} "
              f"| {off[1]:.3f} | {on[1]:.3f} | {on[1] / off[1]:.3f} |")


if __name__ == "__main__":
    main()
