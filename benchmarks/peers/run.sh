#!/usr/bin/env bash
# The side-by-side comparison: builds every implementation of the peer
# workloads (benchmarks/peers/WORKLOADS.md) with Bazel, runs each several
# times, interleaved (the order of implementations rotates every run), and
# writes into benchmarks/peers/results/:
#   raw.csv      one row per run: wall, CPU, peak RSS, the program's lines
#   pauses.csv   every collection pause each collector reported (not kept
#                in git: too large)
#   pause_summary.csv  per workload and collector: count, p50, p99, max
#   ttsp.csv, ttsp_summary.csv  gcrt's time to safepoint per cycle (part
#                of its pause), every cycle and per workload p50, p99, max
#   heap.csv     RSS over time of the long-lived workload
#   ceiling.csv  per run, what the machine gives a second thread
#                (benchmarks/peers/machine/ceiling.cc), measured just before
#                the run's Allocation workloads, whose scaling it bounds
#   table.md     medians, and every figure as a ratio to gcrt in the same run
#   wall.png, pauses.png, heap.png
# benchmarks/peers/figures/ keeps a copy of a run: all of these but
# pauses.csv and ttsp.csv, with machine.txt and commit.txt (see benchmarks/README.md).
# The programs run from bazel-bin (cppgc's finds libnode through its
# runpath there), so nothing may rebuild them while this runs.
#
#   bash benchmarks/peers/run.sh [--runs N] [--quick] [--workloads a,b] [--impls x,y]
#
# --quick runs small sizes (a smoke test of the whole pipeline, a minute).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=3
quick=0
only_workloads=""
only_impls=""
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --workloads) only_workloads=$2; shift 2 ;;
    --impls) only_impls=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--quick] [--workloads a,b] [--impls x,y]" >&2; exit 2 ;;
  esac
done

bash benchmarks/peers/setup.sh >/dev/null

targets=(
  //benchmarks/peers/gcrt:gcrt_workloads
  //benchmarks/peers/go:go_workloads
  //benchmarks/peers/boehm:boehm_workloads
  //benchmarks/peers/cppgc:cppgc_workloads
  //benchmarks/peers/malloc:newdelete_glibc
  //benchmarks/peers/malloc:newdelete_mimalloc
  //benchmarks/peers/malloc:newdelete_jemalloc
  //benchmarks/peers/machine:ceiling
)
echo "peers: building ${#targets[@]} programs (bazel build -c opt)"
bazel build -c opt "${targets[@]}" 2>&1 | tail -2
bin=$(bazel info -c opt bazel-bin 2>/dev/null)/benchmarks/peers
out=benchmarks/peers/results
rm -rf "$out"
mkdir -p "$out/logs"
declare -A impl_bin=(
  [gcrt]=gcrt/gcrt_workloads
  [go]=go/go_workloads
  [boehm]=boehm/boehm_workloads
  [cppgc]=cppgc/cppgc_workloads
  [glibc]=malloc/newdelete_glibc
  [mimalloc]=malloc/newdelete_mimalloc
  [jemalloc]=malloc/newdelete_jemalloc
)
impls=(gcrt go boehm cppgc glibc mimalloc jemalloc)
if [[ -n $only_impls ]]; then IFS=, read -r -a impls <<<"$only_impls"; fi

if ((quick)); then
  depth=16 n=2000000 live="32 20000"
else
  depth=21 n=20000000 live="256 200000"
fi
# name|arguments
workloads=(
  "binary-trees|binary-trees $depth"
  "binary-trees-mt|binary-trees-mt $depth 2"
  "gcbench|gcbench"
  "malloc8|malloc8 $n"
  "malloc16|malloc16 $n"
  "malloctypeinfo8|malloctypeinfo8 $n"
  "malloctypeinfo16|malloctypeinfo16 $n"
  "allocation-1|allocation 1"
  "allocation-2|allocation 2"
  "long-lived|long-lived $live"
)
if [[ -n $only_workloads ]]; then
  selected=()
  for w in "${workloads[@]}"; do
    [[ ",$only_workloads," == *",${w%%|*},"* ]] && selected+=("$w")
  done
  workloads=("${selected[@]}")
fi

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "g++: $(g++ --version | head -1)"
  echo "go: $(go version)"
  for p in libgc1 libmimalloc2.0 libjemalloc2 libc6; do
    echo "$p: $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"
  done
  echo "cppgc: libnode108 $(dpkg-deb -f "$(ls /var/cache/apt/archives/libnode108_*.deb 2>/dev/null | head -1)" Version 2>/dev/null || echo '(unpacked)')"
  echo "runs: $runs (interleaved), quick: $quick"
} >"$out/machine.txt"
cat "$out/machine.txt"

echo "run,workload,impl,wall_s,cpu_s,peak_rss_kb,exit,checksum,collections,pause_total_ms,pause_max_ms,ns_per_op,latency_max_ms,latency_p99_ms" >"$out/raw.csv"
echo "run,workload,impl,pause_ms" >"$out/pauses.csv"
echo "run,workload,impl,ttsp_ms" >"$out/ttsp.csv"
echo "run,impl,t_ms,rss_kb" >"$out/heap.csv"
echo "run,core_scaling,chain_scaling,store_scaling,shared_scaling" >"$out/ceiling.csv"

field() {  # field <file> <line prefix> <key>: the value of key=value on that line
  { grep -m1 "^$2" "$1" || true; } | tr ' ' '\n' | sed -n "s/^$3=//p"
}

for ((r = 1; r <= runs; r++)); do
  for w in "${workloads[@]}"; do
    name=${w%%|*}
    args=${w#*|}
    if [[ $name == allocation-1 ]]; then
      "$bin/machine/ceiling" >"$out/logs/ceiling.$r"
      c=$out/logs/ceiling.$r
      echo "$r,$(field "$c" ceiling: core_scaling),$(field "$c" ceiling: chain_scaling),$(field "$c" ceiling: store_scaling),$(field "$c" ceiling: shared_scaling)" >>"$out/ceiling.csv"
      printf "run %d ceiling: %s\n" "$r" "$(cat "$c")"
    fi
    # Rotate the order each run, so no implementation always runs first.
    n_impls=${#impls[@]}
    for ((k = 0; k < n_impls; k++)); do
      impl=${impls[$(((k + r) % n_impls))]}
      log="$out/logs/$name.$impl.$r"
      set +e
      t0=$EPOCHREALTIME
      /usr/bin/time -f "%e %U %S %M" -o "$log.time" "$bin/${impl_bin[$impl]}" $args >"$log.out" 2>"$log.err"
      rc=$?
      t1=$EPOCHREALTIME
      set -e
      # Wall time to the microsecond (time's %e has 10 ms steps, too coarse
      # for GCBench); CPU time and peak RSS from /usr/bin/time.
      read -r _ user sys rss < <(tail -1 "$log.time")
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')
      cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
      checksum=$(sed -n 's/^checksum: //p' "$log.out" | head -1)
      collections=$(field "$log.out" "gc:" collections)
      ptotal=$(field "$log.out" "gc:" pause_total_ms)
      pmax=$(field "$log.out" "gc:" pause_max_ms)
      rate=$(field "$log.out" "rate:" ns_per_op)
      lmax=$(field "$log.out" "latency:" max_ms)
      lp99=$(field "$log.out" "latency:" p99_ms)
      echo "$r,$name,$impl,$wall,$cpu,$rss,$rc,$checksum,$collections,$ptotal,$pmax,$rate,$lmax,$lp99" >>"$out/raw.csv"
      sed -n "s/^pause_ms: /$r,$name,$impl,/p" "$log.out" >>"$out/pauses.csv"
      sed -n "s/^ttsp_ms: /$r,$name,$impl,/p" "$log.out" >>"$out/ttsp.csv"
      if [[ $name == long-lived ]]; then
        sed -n "s/^heap: \([^ ]*\) \(.*\)/$r,$impl,\1,\2/p" "$log.out" >>"$out/heap.csv"
      fi
      printf "run %d %-17s %-9s %7.2f s  %6d MiB  rc=%d  checksum %s\n" "$r" "$name" "$impl" "$wall" $((rss / 1024)) "$rc" "$checksum"
    done
  done
done

python3 benchmarks/peers/report.py "$out"
