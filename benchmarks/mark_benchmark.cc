// Mark throughput and pause for a given live heap, marking with the world
// stopped and beside the program (the default).
//
//   mark_benchmark [live MiB ...]     (default: 64 256 1024)
//
// Builds a live heap of the given size (binary trees of 32-byte nodes, half
// their words pointers, plus a sprinkling of 4 KiB pointer-free buffers),
// then runs gc::collect() 5 times with 1 mark worker and 5 times with 2,
// each way, and prints the median pause; with the world stopped, also the
// mark throughput (marked bytes per second of pause: no allocation happens
// between the collections, so the pause is the mark of the live heap plus
// mark termination). Beside the program, the pause is the cycle's two
// stops, which mark no heap object with no program running.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> left, right;
  std::array<int64_t, 2> payload;
};

struct Buffer {
  std::array<char, 4096> bytes;
};

gc::Ptr<Node> Build(int depth) {
  gc::Root<Node> n = gc::make<Node>();
  n->payload[0] = depth;
  if (depth > 0) {
    n->left = Build(depth - 1);
    n->right = Build(depth - 1);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes;
  for (int i = 1; i < argc; i++) sizes.push_back(std::atol(argv[i]));
  if (sizes.empty()) sizes = {64, 256, 1024};
  gc::set_gc_percent(-1);  // only the explicit collections below
  std::printf("%-10s %-11s %-8s %-14s %-14s %-12s\n", "live_MiB", "mode",
              "workers", "pause_ms_med", "MB_per_s", "objects");
  for (long mib : sizes) {
    std::vector<gc::Root<Node>> trees;
    std::vector<gc::Root<Buffer>> buffers;
    // Depth-16 trees: 2^17 - 1 nodes of 32 bytes = 4 MiB each.
    long ntrees = std::max(1L, mib * 15 / 16 / 4);
    for (long i = 0; i < ntrees; i++) trees.push_back(Build(16));
    for (long i = 0; i < mib * 1024 / 16 / 4; i++) {
      buffers.push_back(gc::make<Buffer>());
    }
    gc::collect();  // sweep everything before measuring
    for (bool concurrent : {false, true}) {
      gc::set_concurrent_mark(concurrent);
      for (uint32_t workers : {1u, 2u}) {
        gc::set_mark_workers(workers);
        std::vector<double> pauses;
        uint64_t marked = 0, objects = 0;
        for (int r = 0; r < 5; r++) {
          gc::collect();
          gc::Stats s = gc::stats();
          pauses.push_back(s.pause_ns[(s.num_gc + 255) % 256] / 1e6);
          marked = s.last_marked_bytes;
        }
        std::sort(pauses.begin(), pauses.end());
        double med = pauses[2];
        objects = static_cast<uint64_t>(ntrees) * ((1 << 17) - 1);
        char rate[32] = "-";
        if (!concurrent) {
          std::snprintf(rate, sizeof(rate), "%.0f", marked / 1e6 / (med / 1e3));
        }
        std::printf("%-10ld %-11s %-8u %-14.2f %-14s %-12lu\n", mib,
                    concurrent ? "concurrent" : "stw", workers, med, rate,
                    static_cast<unsigned long>(objects));
      }
    }
  }
  return 0;
}
