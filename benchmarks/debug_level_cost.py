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
import statistics

from run_timing import run_once

WORKLOADS = [
    ("binary-trees 21", ["binary-trees", "21"]),
    ("GCBench", ["gcbench"]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workload", choices=[n for n, _ in WORKLOADS],
                    help="only this one")
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
        if a.workload and name != a.workload:
            continue
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
            print(f"| {name} | {lvl} | {wall:.4f} | {wall / base[0]:.3f} "
                  f"| {cpu:.4f} | {cpu / base[1]:.3f} |")


if __name__ == "__main__":
    main()
