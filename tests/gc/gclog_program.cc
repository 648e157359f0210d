// A program for gclog_plot_test: a few cycles with garbage and a live list,
// so the log has pauses and heap figures that move.
#include "gcrt/gc.h"

namespace {
struct Cell {
  gc::Ptr<Cell> next;
  int64_t payload[6] = {};
};
}  // namespace

int main() {
  gc::Root<Cell> live;
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 20000; i++) {
      gc::Root<Cell> c = gc::make<Cell>();
      if (i % 10 == 0) {
        c->next = live;
        live = c;
      }
    }
    gc::collect();
  }
  return 0;
}
