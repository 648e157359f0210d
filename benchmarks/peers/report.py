#!/usr/bin/env python3
"""Summarizes a peer comparison run (benchmarks/peers/run.sh): medians over
the runs, every figure as a ratio to gcrt measured in the same run (the
median of the per-run ratios), a check that every implementation printed
the same checksum, and three plots drawn with gnuplot.

    python3 benchmarks/peers/report.py benchmarks/peers/results
"""
import collections
import csv
import os
import statistics
import subprocess
import sys

IMPLS = ["gcrt", "go", "boehm", "cppgc", "glibc", "mimalloc", "jemalloc"]
COLLECTORS = ["gcrt", "go", "boehm", "cppgc"]


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if digits == 2 and abs(x) < 1:
        return f"{x:.3f}"
    return f"{x:.{digits}f}"


def main(out):
    rows = list(csv.DictReader(open(os.path.join(out, "raw.csv"))))
    by = collections.defaultdict(list)  # (workload, impl) -> rows
    for r in rows:
        by[(r["workload"], r["impl"])].append(r)
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    impls = [i for i in IMPLS if any(r["impl"] == i for r in rows)]

    def value(r, key):
        v = num(r[key])
        if key == "peak_rss_kb" and v is not None:
            v /= 1024
        return v

    def ratio(w, impl, key):
        """Median over runs of impl's value / gcrt's value in that run."""
        base = {r["run"]: value(r, key) for r in by[(w, "gcrt")]}
        rs = []
        for r in by[(w, impl)]:
            b, v = base.get(r["run"]), value(r, key)
            if b and v is not None:
                rs.append(v / b)
        return median(rs)

    lines = []
    machine = open(os.path.join(out, "machine.txt")).read().strip()
    lines.append("```\n" + machine + "\n```\n")
    problems = []
    summary = collections.defaultdict(dict)  # workload -> impl -> wall ratio
    for w in workloads:
        sums = {r["checksum"] for i in impls for r in by[(w, i)] if r["checksum"]}
        failed = [f"{i} run {r['run']} (exit {r['exit']})" for i in impls
                  for r in by[(w, i)] if r["exit"] != "0" or not r["checksum"]]
        if len(sums) > 1:
            problems.append(f"{w}: checksums differ: {sorted(sums)}")
        if failed:
            problems.append(f"{w}: failed: {', '.join(failed)}")
        micro = any(num(r["ns_per_op"]) is not None for i in impls for r in by[(w, i)])
        longlived = w == "long-lived"
        lines.append(f"### {w} (checksum {', '.join(sorted(sums)) or '-'})\n")
        head = ["impl", "wall s", "x gcrt", "CPU s", "x gcrt", "peak RSS MiB",
                "x gcrt", "GCs", "pause total ms", "max pause ms", "x gcrt"]
        if micro:
            head += ["ns/op", "x gcrt"]
        if longlived:
            head += ["max step ms", "x gcrt", "p99 step ms"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for i in impls:
            rs = by[(w, i)]
            if not rs:
                continue
            m = lambda k: median(value(r, k) for r in rs)
            cells = [i, fmt(m("wall_s")), fmt(ratio(w, i, "wall_s")),
                     fmt(m("cpu_s")), fmt(ratio(w, i, "cpu_s")),
                     fmt(m("peak_rss_kb"), 0), fmt(ratio(w, i, "peak_rss_kb")),
                     fmt(m("collections"), 0), fmt(m("pause_total_ms"), 1),
                     fmt(m("pause_max_ms"), 2), fmt(ratio(w, i, "pause_max_ms"))]
            if micro:
                cells += [fmt(m("ns_per_op")), fmt(ratio(w, i, "ns_per_op"))]
            if longlived:
                cells += [fmt(m("latency_max_ms"), 2),
                          fmt(ratio(w, i, "latency_max_ms")),
                          fmt(m("latency_p99_ms"), 3)]
            lines.append("| " + " | ".join(cells) + " |")
            summary[w][i] = ratio(w, i, "wall_s")
        lines.append("")
    lines += scaling(out, by, impls)
    if problems:
        lines.append("**Problems:**\n")
        lines += [f"- {p}" for p in problems]
        lines.append("")
    table = "\n".join(lines)
    open(os.path.join(out, "table.md"), "w").write(table + "\n")
    print(table)
    plots(out, workloads, impls, summary)
    return 1 if problems else 0


def scaling(out, by, impls):
    """Allocation's 2-thread over 1-thread throughput per run, beside what
    the machine gave a second thread in that run (ceiling.csv)."""
    path = os.path.join(out, "ceiling.csv")
    if not os.path.exists(path):
        return []
    ceiling = {r["run"]: r for r in csv.DictReader(open(path))}
    runs = sorted(ceiling, key=int)
    per_impl = {}
    for i in impls:
        one = {r["run"]: num(r["ns_per_op"]) for r in by[("allocation-1", i)]}
        two = {r["run"]: num(r["ns_per_op"]) for r in by[("allocation-2", i)]}
        per_impl[i] = {r: one[r] / two[r] for r in runs
                       if one.get(r) and two.get(r)}
    keys = [("core_scaling", "machine: core-bound loop"),
            ("chain_scaling", "machine: latency-bound loop"),
            ("store_scaling", "machine: stores, a 4 MiB region per thread"),
            ("shared_scaling", "machine: stores, one 4 MiB region, 8 KiB chunks interleaved")]
    lines = ["### Allocation: 2 threads over 1 thread, beside the machine's ceiling\n",
             "Throughput with 2 threads over 1 thread (2.00: a second core doubles it); "
             "the machine's rows come from benchmarks/peers/machine/ceiling.cc, run "
             "just before that run's Allocation workloads.\n",
             "| | median | " + " | ".join(f"run {r}" for r in runs) + " |",
             "|---|---|" + "---|" * len(runs)]
    for k, label in keys:
        vals = [num(ceiling[r][k]) for r in runs]
        lines.append(f"| {label} | {fmt(median(vals))} | " +
                     " | ".join(fmt(v) for v in vals) + " |")
    for i in impls:
        vals = [per_impl[i].get(r) for r in runs]
        if any(v is not None for v in vals):
            lines.append(f"| {i} | {fmt(median(vals))} | " +
                         " | ".join(fmt(v) for v in vals) + " |")
    lines.append("")
    return lines


def plots(out, workloads, impls, summary):
    # Wall time per workload, as a ratio to gcrt (log scale).
    with open(os.path.join(out, "wall.dat"), "w") as f:
        f.write("workload " + " ".join(impls) + "\n")
        for w in workloads:
            f.write(w + " " + " ".join(
                fmt(summary[w].get(i), 3) if summary[w].get(i) else "?"
                for i in impls) + "\n")
    # Pause distributions: every pause of the long-lived and binary-trees
    # workloads, per collector, as a cumulative distribution.
    pauses = collections.defaultdict(list)
    for r in csv.DictReader(open(os.path.join(out, "pauses.csv"))):
        if num(r["pause_ms"]) is not None:
            pauses[(r["workload"], r["impl"])].append(float(r["pause_ms"]))
    # The summary kept in git (figures/pause_summary.csv); pauses.csv, every
    # pause, stays in the results folder.
    with open(os.path.join(out, "pause_summary.csv"), "w") as f:
        f.write("workload,impl,pauses,p50_ms,p99_ms,max_ms\n")
        for (w, i), v in sorted(pauses.items()):
            v = sorted(v)
            q = lambda p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
            f.write(f"{w},{i},{len(v)},{q(0.5):.4f},{q(0.99):.4f},{v[-1]:.4f}\n")
    # gcrt's time to safepoint per cycle (part of each pause above).
    ttsp = collections.defaultdict(list)
    ttsp_path = os.path.join(out, "ttsp.csv")
    if os.path.exists(ttsp_path):
        for r in csv.DictReader(open(ttsp_path)):
            if num(r["ttsp_ms"]) is not None:
                ttsp[(r["workload"], r["impl"])].append(float(r["ttsp_ms"]))
    with open(os.path.join(out, "ttsp_summary.csv"), "w") as f:
        f.write("workload,impl,cycles,p50_ms,p99_ms,max_ms\n")
        for (w, i), v in sorted(ttsp.items()):
            v = sorted(v)
            q = lambda p: v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]
            f.write(f"{w},{i},{len(v)},{q(0.5):.4f},{q(0.99):.4f},{v[-1]:.4f}\n")
    pause_sets = []
    for w in ["long-lived", "binary-trees"]:
        for i in COLLECTORS:
            ps = sorted(pauses.get((w, i), []))
            if not ps:
                continue
            name = f"pauses.{w}.{i}.dat"
            with open(os.path.join(out, name), "w") as f:
                for k, p in enumerate(ps):
                    f.write(f"{max(p, 1e-3)} {(k + 1) / len(ps)}\n")
            pause_sets.append((w, i, name))
    # Heap size over time of the long-lived workload, first run.
    heap = collections.defaultdict(list)
    for r in csv.DictReader(open(os.path.join(out, "heap.csv"))):
        if r["run"] == "1":
            heap[r["impl"]].append((float(r["t_ms"]) / 1000, float(r["rss_kb"]) / 1024))
    heap_sets = []
    for i in impls:
        if heap.get(i):
            name = f"heap.{i}.dat"
            with open(os.path.join(out, name), "w") as f:
                for t, m in heap[i]:
                    f.write(f"{t} {m}\n")
            heap_sets.append((i, name))

    gp = [
        "set terminal png size 1100,560 font ',10'",
        "set key outside right",
        "set grid ytics",
        # Wall time.
        "set output 'wall.png'",
        "set title 'Median wall time as a ratio to gcrt in the same run (lower is better)'",
        "set style data histograms", "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1", "set logscale y 2",
        "set xtics rotate by -30", "set ylabel 'x gcrt'",
        "plot 'wall.dat' using 2:xtic(1) title columnheader(2)" + "".join(
            f", '' using {k + 2} title columnheader({k + 2})"
            for k in range(1, len(impls))),
        "unset logscale y", "set xtics norotate", "unset style",
        # Pauses: one panel per workload.
        "set output 'pauses.png'",
        "set multiplot layout 1,2 title 'Collection pauses, cumulative distribution (every run)'",
        "set logscale x 10", "set xlabel 'pause (ms)'", "set ylabel 'fraction of pauses <= x'",
        "set yrange [0:1.02]", "set key inside left top",
    ]
    colors = {"gcrt": 1, "go": 2, "boehm": 3, "cppgc": 4}
    for w in ["long-lived", "binary-trees"]:
        sets = [(i, n) for ww, i, n in pause_sets if ww == w]
        if sets:
            gp.append(f"set title '{w}'")
            gp.append("plot " + ", ".join(
                f"'{n}' using 1:2 with steps lt {colors[i]} lw 2 title '{i}'"
                for i, n in sets))
    gp += ["unset multiplot", "set key outside right",
           "unset logscale x", "set yrange [*:*]",
           "set output 'heap.png'",
           "set title 'long-lived: resident set size over time (first run)'",
           "set xlabel 'seconds since start'", "set ylabel 'RSS (MiB)'"]
    if heap_sets:
        gp.append("plot " + ", ".join(
            f"'{n}' using 1:2 with lines lw 2 title '{i}'" for i, n in heap_sets))
    open(os.path.join(out, "plots.gp"), "w").write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", "plots.gp"], cwd=out, check=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/peers/results"))
