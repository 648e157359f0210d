// Command go_workloads is the Go peer of the gcrt comparison: one program
// that runs any workload of benchmarks/peers/WORKLOADS.md,
//
//	go_workloads <workload> [arguments]
//
// written the way Go programs are written (plain pointers, goroutines, the
// runtime's defaults: GOGC=100, GOMAXPROCS = the number of CPUs). The
// collector's statistics come from runtime.MemStats: NumGC, PauseTotalNs and
// the ring of the last 256 per-cycle pauses, PauseNs, each of which is the sum
// of the cycle's two stop-the-world phases (sweep termination and mark
// termination).
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	start = time.Now()
	out   = bufio.NewWriter(os.Stdout)
)

// ---- The machine lines and the collector's statistics. ----

// pauseLog collects the per-cycle pauses of runtime.MemStats.PauseNs. The
// ring holds the last 256 cycles only, so a caller that runs more cycles
// than that between two polls loses the oldest of them (counted in lost).
type pauseLog struct {
	seen   uint32 // cycles already collected
	pauses []float64
	lost   uint32
	stats  runtime.MemStats
}

func (p *pauseLog) poll() {
	runtime.ReadMemStats(&p.stats)
	n := p.stats.NumGC
	ring := uint32(len(p.stats.PauseNs))
	from := p.seen
	if n-from > ring {
		p.lost += n - from - ring
		from = n - ring
	}
	// Cycle c (counting from 0) is at PauseNs[c % 256].
	for c := from; c < n; c++ {
		p.pauses = append(p.pauses, float64(p.stats.PauseNs[c%ring])/1e6)
	}
	p.seen = n
}

// print writes the gc: line and one pause_ms: line per collected pause.
func (p *pauseLog) print() {
	longest := 0.0
	for _, ms := range p.pauses {
		longest = math.Max(longest, ms)
	}
	if p.lost > 0 {
		fmt.Fprintf(out, "(the PauseNs ring lost %d of %d pauses; pause_max_ms is over the rest)\n",
			p.lost, p.stats.NumGC)
	}
	fmt.Fprintf(out, "gc: collections=%d pause_total_ms=%.3f pause_max_ms=%.3f\n",
		p.stats.NumGC, float64(p.stats.PauseTotalNs)/1e6, longest)
	for _, ms := range p.pauses {
		fmt.Fprintf(out, "pause_ms: %.4f\n", ms)
	}
}

// finish reads the collector's statistics once, at the end of a workload,
// and prints them and the checksum.
func finish(checksum int64) {
	var p pauseLog
	p.poll()
	p.print()
	fmt.Fprintf(out, "checksum: %d\n", checksum)
}

func printRate(elapsed time.Duration, ops int64) {
	fmt.Fprintf(out, "rate: ns_per_op=%.3f\n", float64(elapsed.Nanoseconds())/float64(ops))
}

// rssKiB is the resident set size, from /proc/self/statm.
func rssKiB() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(statm)
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(fields[1]), 10, 64)
	return pages * int64(os.Getpagesize()) / 1024
}

func msSince(t time.Time) float64 {
	return float64(time.Since(t).Nanoseconds()) / 1e6
}

// ---- binary-trees and binary-trees-mt. ----

type treeNode struct {
	left, right *treeNode
}

func bottomUpTree(depth int) *treeNode {
	if depth <= 0 {
		return &treeNode{}
	}
	left := bottomUpTree(depth - 1)
	return &treeNode{left, bottomUpTree(depth - 1)}
}

func (t *treeNode) check() int64 {
	if t.left == nil {
		return 1
	}
	return 1 + t.left.check() + t.right.check()
}

const minDepth = 4

func binaryTrees(maxDepth, threads int) {
	var checksum int64
	stretch := maxDepth + 1
	c := bottomUpTree(stretch).check()
	fmt.Fprintf(out, "stretch tree of depth %d\t check: %d\n", stretch, c)
	checksum += c

	longLived := bottomUpTree(maxDepth)

	// sums[k][i] is what worker k found at the i-th depth.
	var depths []int
	for d := minDepth; d <= maxDepth; d += 2 {
		depths = append(depths, d)
	}
	sums := make([][]int64, threads)
	var wg sync.WaitGroup
	for k := 0; k < threads; k++ {
		sums[k] = make([]int64, len(depths))
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for i, d := range depths {
				iterations := 1 << (maxDepth - d + minDepth)
				for it := k * iterations / threads; it < (k+1)*iterations/threads; it++ {
					sums[k][i] += bottomUpTree(d).check()
				}
			}
		}(k)
	}
	wg.Wait()
	for i, d := range depths {
		var sum int64
		for k := range sums {
			sum += sums[k][i]
		}
		fmt.Fprintf(out, "%d\t trees of depth %d\t check: %d\n", 1<<(maxDepth-d+minDepth), d, sum)
		checksum += sum
	}

	c = longLived.check()
	fmt.Fprintf(out, "long lived tree of depth %d\t check: %d\n", maxDepth, c)
	checksum += c
	finish(checksum)
}

// ---- gcbench. ----

const (
	kStretchTreeDepth   = 18
	kLongLivedTreeDepth = 16
	kArraySize          = 500000
	kMinTreeDepth       = 4
	kMaxTreeDepth       = 16
)

type benchNode struct {
	left, right *benchNode
	i, j        int32
}

func treeSize(i int) int { return (1 << (i + 1)) - 1 }

func numIters(i int) int { return 2 * treeSize(kStretchTreeDepth) / treeSize(i) }

// populate builds a tree top-down under n.
func populate(depth int, n *benchNode) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = &benchNode{}
	n.right = &benchNode{}
	populate(depth, n.left)
	populate(depth, n.right)
}

// makeTree builds a tree bottom-up.
func makeTree(depth int) *benchNode {
	if depth <= 0 {
		return &benchNode{}
	}
	left := makeTree(depth - 1)
	return &benchNode{left: left, right: makeTree(depth - 1)}
}

func count(n *benchNode) int64 {
	if n == nil {
		return 0
	}
	return 1 + count(n.left) + count(n.right)
}

func gcbench() {
	var checksum int64
	checksum += count(makeTree(kStretchTreeDepth))

	longLived := &benchNode{}
	populate(kLongLivedTreeDepth, longLived)

	array := make([]float64, kArraySize)
	for i := 0; i < kArraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}

	for d := kMinTreeDepth; d <= kMaxTreeDepth; d += 2 {
		iters := numIters(d)
		var nodes int64
		for i := 0; i < iters; i++ {
			n := &benchNode{}
			populate(d, n)
			nodes += count(n)
		}
		for i := 0; i < iters; i++ {
			nodes += count(makeTree(d))
		}
		fmt.Fprintf(out, "%d iterations of trees of depth %d: %d nodes\n", iters, d, nodes)
		checksum += nodes
	}

	if array[1000] != 1.0/1000 {
		fmt.Fprintln(out, "array corrupted")
	}
	checksum += count(longLived)
	finish(checksum)
}

// ---- malloc8, malloc16, malloctypeinfo8, malloctypeinfo16. ----

type typeInfo8 struct {
	p *int
}

type typeInfo16 struct {
	p *int
	x int64
}

// Each loop stores its object here, so that it escapes to the heap and
// becomes garbage when the next iteration overwrites it.
var (
	sink8           *int64
	sink16          *[2]int64
	sinkTypeInfo8   *typeInfo8
	sinkTypeInfo16  *typeInfo16
	microBenchmarks = map[string]func(n int){
		"malloc8": func(n int) {
			for i := 0; i < n; i++ {
				sink8 = new(int64)
			}
		},
		"malloc16": func(n int) {
			for i := 0; i < n; i++ {
				sink16 = new([2]int64)
			}
		},
		"malloctypeinfo8": func(n int) {
			for i := 0; i < n; i++ {
				sinkTypeInfo8 = new(typeInfo8)
			}
		},
		"malloctypeinfo16": func(n int) {
			for i := 0; i < n; i++ {
				sinkTypeInfo16 = new(typeInfo16)
			}
		},
	}
)

func micro(loop func(n int), n int) {
	t0 := time.Now()
	loop(n)
	printRate(time.Since(t0), int64(n))
	finish(int64(n))
}

// ---- goroutines beside gcrt's tasks. ----

// taskSpawn starts n goroutines in batches of 1000 joined by a WaitGroup:
// the cost of one goroutine from go to its end.
func taskSpawn(n int) {
	const batch = 1000
	t0 := time.Now()
	for done := 0; done < n; done += batch {
		b := batch
		if n-done < b {
			b = n - done
		}
		var wg sync.WaitGroup
		wg.Add(b)
		for i := 0; i < b; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	printRate(time.Since(t0), int64(n))
	finish(int64(n))
}

// taskSwitch hands a value back and forth between two goroutines over two
// unbuffered channels n times; the rate is per one-way message.
func taskSwitch(n int) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	var sum int64
	for i := 0; i < n; i++ {
		ping <- i
		sum += int64(<-pong)
	}
	close(ping)
	printRate(time.Since(t0), int64(2*n))
	finish(sum)
}

// ---- allocation. ----

const (
	allocationOps   = 20000
	allocationPerOp = 1000
)

type pair struct {
	x, y *byte
}

func allocation(threads int) {
	var next atomic.Int64
	last := make([]*pair, threads) // each worker's final object: it escapes
	var wg sync.WaitGroup
	t0 := time.Now()
	for k := 0; k < threads; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			var x *pair
			for next.Add(1) <= allocationOps {
				for i := 0; i < allocationPerOp; i++ {
					x = &pair{}
				}
			}
			last[k] = x
		}(k)
	}
	wg.Wait()
	printRate(time.Since(t0), allocationOps*allocationPerOp)
	finish(allocationOps * allocationPerOp)
}

// ---- long-lived. ----

type liveNode struct {
	left, right *liveNode
	a, b        int64
}

func build(depth int) *liveNode {
	if depth <= 0 {
		return &liveNode{}
	}
	left := build(depth - 1)
	return &liveNode{left: left, right: build(depth - 1), a: int64(depth)}
}

func (t *liveNode) check() int64 {
	if t.left == nil {
		return 1 + t.a
	}
	return 1 + t.a + t.left.check() + t.right.check()
}

type xorShift64 uint64

func (x *xorShift64) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

func longLived(liveMiB, steps int) {
	slots := liveMiB * (1 << 20) / (8191 * 32)
	table := make([]*liveNode, slots)
	for i := range table {
		table[i] = build(12)
	}

	rng := xorShift64(0x9E3779B97F4A7C15)
	latencies := make([]float64, 0, steps)
	var pauses pauseLog
	var checksum int64
	for s := 0; s < steps; s++ {
		t0 := time.Now()
		checksum += build(7).check()
		if s%16 == 0 {
			table[rng.next()%uint64(slots)] = build(12)
		}
		latencies = append(latencies, msSince(t0))
		if (s+1)%1000 == 0 {
			fmt.Fprintf(out, "heap: %.1f %d\n", msSince(start), rssKiB())
			pauses.poll()
		}
	}

	for _, t := range table {
		checksum += t.check()
	}
	if len(latencies) > 0 {
		sort.Float64s(latencies)
		n := len(latencies)
		fmt.Fprintf(out, "latency: max_ms=%.3f p99_ms=%.4f\n", latencies[n-1], latencies[n*99/100])
	}
	pauses.poll()
	pauses.print()
	fmt.Fprintf(out, "checksum: %d\n", checksum)
}

// ---- main. ----

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s binary-trees [depth=21] | binary-trees-mt [depth=21] "+
		"[threads=2] | gcbench | malloc8|malloc16|malloctypeinfo8|malloctypeinfo16 "+
		"[n=20000000] | allocation [threads=1] | long-lived [live_mib=256] [steps=200000] | "+
		"binary-trees-tasks [depth=21] [tasks=2] | task-spawn|task-switch [n=1000000]\n",
		os.Args[0])
	os.Exit(2)
}

// arg is the i-th workload argument (counting from 1), or fallback if absent.
func arg(i, fallback int) int {
	if len(os.Args) <= i+1 {
		return fallback
	}
	v, err := strconv.Atoi(os.Args[i+1])
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bad argument %q\n", os.Args[i+1])
		usage()
	}
	return v
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	defer out.Flush()
	switch w := os.Args[1]; w {
	case "binary-trees":
		binaryTrees(arg(1, 21), 1)
	case "binary-trees-mt", "binary-trees-tasks":
		binaryTrees(arg(1, 21), arg(2, 2))
	case "task-spawn":
		taskSpawn(arg(1, 1000000))
	case "task-switch":
		taskSwitch(arg(1, 1000000))
	case "gcbench":
		gcbench()
	case "allocation":
		allocation(arg(1, 1))
	case "long-lived":
		longLived(arg(1, 256), arg(2, 200000))
	default:
		loop, ok := microBenchmarks[w]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown workload %q\n", w)
			usage()
		}
		micro(loop, arg(1, 20000000))
	}
}
