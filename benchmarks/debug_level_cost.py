"""What each checking level costs (GCRT_DEBUG_LEVEL, docs/debugging.md): the
peers' gcrt program built with -c opt at levels 0, 1 (the default) and 2
(--config=gcdebug's level), run interleaved, rotating which level goes
first each run. Prints per workload the medians of wall and CPU time for
each level and their ratios to level 1.

    for n in 0 1 2; do
      bazel build -c opt --copt=-DGCRT_DEBUG_LEVEL=$n \\
        //benchmarks/peers/gcrt:gcrt_workloads
      cp bazel-bin/benchmarks/peers/gcrt/gcrt_workloads /tmp/workloads-$n
    done
    python3 benchmarks/debug_level_cost.py --runs 7 \\
      0=/tmp/workloads-0 1=/tmp/workloads-1 2=/tmp/workloads-2
"""
import argparse
import os
import re
import statistics
import subprocess

WORKLOADS = [
    ("binary-trees 21", ["binary-trees", "21"]),
    ("GCBench", ["gcbench"]),
]


def run_once(binary, args):
    cmd = ["/usr/bin/time", "-f", "TIME %e %U %S", binary] + args
    p = subprocess.run(cmd, env=dict(os.environ), capture_output=True,
                       text=True, check=True)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+)", p.stderr)
    return float(m[1]), float(m[2]) + float(m[3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("builds", nargs="+", metavar="LEVEL=BINARY",
                    help="a level and the program built at it; level 1 is "
                    "the baseline")
    a = ap.parse_args()
    builds = [tuple(b.split("=", 1)) for b in a.builds]
    levels = [lvl for lvl, _ in builds]
    if "1" not in levels:
        ap.error("level 1 (the default build) is the baseline: give 1=BINARY")
    print("| workload | level | wall s | wall ratio | CPU s | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for name, args in WORKLOADS:
        results = {lvl: [] for lvl in levels}
        for i in range(a.runs):
            shift = i % len(builds)
            for lvl, binary in builds[shift:] + builds[:shift]:
                results[lvl].append(run_once(binary, args))
        med = {lvl: (statistics.median(w for w, _ in r),
                     statistics.median(c for _, c in r))
               for lvl, r in results.items()}
        base = med["1"]
        for lvl in levels:
            wall, cpu = med[lvl]
            print(f"| {name} | {lvl} | {wall:.3f} | {wall / base[0]:.3f} "
                  f"| {cpu:.3f} | {cpu / base[1]:.3f} |")


if __name__ == "__main__":
    main()
