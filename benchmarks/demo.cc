// The README's demo: a small program in gcrt's idiomatic style, run on
// three threads, that never frees anything by hand, and prints what the
// collector did.
//
//   - two workers build and drop binary trees (binary-trees, depth 18),
//     each keeping one long-lived tree, and hand results to a shared
//     registry through gc::Global handles;
//   - a third thread plays an interpreter: a value stack registered as a
//     gc::RootSet, environments (a class with its own trace() over a
//     std::unordered_map of gc::Ptr) created and discarded, and a
//     gc::Blocking scope around a sleep;
//   - destructors of GC objects count themselves;
//   - the verifier (GCRT_DEBUG=verify=1) checks the first cycles.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> left, right;
};

gc::Root<Node> Bottom(int depth) {
  if (depth == 0) return gc::make<Node>();
  gc::Root<Node> l = Bottom(depth - 1);
  gc::Root<Node> r = Bottom(depth - 1);
  return gc::make<Node>(l, r);
}

long Check(const Node* n) {
  return n->left ? 1 + Check(n->left.get()) + Check(n->right.get()) : 1;
}

std::atomic<long> g_envs_destroyed{0};

struct Value {
  gc::Ptr<Node> tree;
  int64_t number = 0;
};

class Env {
 public:
  explicit Env(gc::Ptr<Env> parent) : parent_(parent) {}
  ~Env() { g_envs_destroyed++; }  // plain fields only: see api/gc.h
  void Set(const std::string& k, gc::Ptr<Value> v) { vars_[k] = v; }
  gc::Ptr<Value> Get(const std::string& k) const {
    auto it = vars_.find(k);
    if (it != vars_.end()) return it->second;
    return parent_ ? parent_->Get(k) : gc::Ptr<Value>();
  }
  void trace(gc::Tracer& t) const { t(parent_, vars_); }

 private:
  gc::Ptr<Env> parent_;
  std::unordered_map<std::string, gc::Ptr<Value>> vars_;
};

// A gc::Mutex, not a std::mutex: its holder allocates (Bottom) while
// holding it, and may park for a collection meanwhile; a thread waiting
// for a std::mutex is not at a safepoint, so that collection's stop would
// wait for the waiter and the waiter for the holder (CI's consumer build
// of this demo hung so once, the stop watchdog naming this lock).
gc::Mutex g_registry_mu;
std::vector<gc::Global<Node>> g_registry;  // results shared across threads

void TreeWorker(int id, long* checksum) {
  gc::Root<Node> long_lived = Bottom(16);
  long total = 0;
  for (int round = 0; round < 6; round++) {
    for (int d = 4; d <= 18; d += 2) {
      long iterations = 1L << (18 - d + 2);
      for (long i = 0; i < iterations; i++) total += Check(Bottom(d).get());
    }
    std::lock_guard<gc::Mutex> lock(g_registry_mu);
    g_registry.emplace_back(Bottom(10));
  }
  total += Check(long_lived.get());
  *checksum = total;
  std::printf("worker %d: checksum %ld\n", id, total);
}

void Interpreter(long* result) {
  std::vector<gc::Ptr<Value>> stack;  // the VM's value stack
  gc::RootSet stack_roots([&](gc::Tracer& t) { t(stack); });
  gc::Root<Env> global = gc::make<Env>(gc::Ptr<Env>());
  long sum = 0;
  for (int call = 0; call < 200000; call++) {
    gc::Root<Env> frame = gc::make<Env>(global);
    auto v = gc::make<Value>();
    v->number = call;
    if (call % 1000 == 0) v->tree = Bottom(8);
    frame->Set("x", v);
    stack.push_back(v);
    if (stack.size() > 64) stack.erase(stack.begin());
    sum += frame->Get("x")->number;
    if (call % 50000 == 0) {
      gc::Blocking blocking;  // the world may stop without this thread
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  *result = sum;
  std::printf("interpreter: %ld, %zu values on its stack\n", sum, stack.size());
}

}  // namespace

int main() {
  auto start = std::chrono::steady_clock::now();
  gc::set_verify(true);  // the verifier re-marks the first cycles
  long a = 0, b = 0, c = 0;
  std::thread t1(TreeWorker, 1, &a);
  std::thread t2(TreeWorker, 2, &b);
  std::thread t3(Interpreter, &c);
  std::thread verify_off([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    gc::set_verify(false);
  });
  t1.join();
  t2.join();
  t3.join();
  verify_off.join();
  bool ok = a == b && a > 0 && c == 199999L * 200000 / 2;
  long registered = 0;
  for (auto& g : g_registry) registered += Check(g.get());
  ok = ok && registered == 12 * 2047;
  g_registry.clear();
  gc::collect();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  gc::Stats s = gc::stats();
  std::printf("\n%s in %.2f s\n", ok ? "all checks passed" : "CHECK FAILED",
              secs);
  std::printf("collections          %" PRIu64 " (%" PRIu64 " forced)\n",
              s.num_gc, s.num_forced_gc);
  std::printf("pause total / max    %.1f ms / %.2f ms\n",
              s.pause_total_ns / 1e6, s.pause_max_ns / 1e6);
  std::printf("objects allocated    %" PRIu64 "\n", s.mallocs);
  std::printf("objects freed        %" PRIu64 "\n", s.frees);
  std::printf("objects live         %" PRIu64 " (%" PRIu64 " bytes)\n",
              s.heap_objects, s.heap_alloc);
  std::printf("destructors run      %" PRIu64 " (Env: %ld)\n",
              s.objects_destroyed, g_envs_destroyed.load());
  std::printf("heap in use / sys    %.1f / %.1f MiB (all memory: %.1f MiB)\n",
              s.heap_inuse / 1048576.0, s.heap_sys / 1048576.0,
              s.sys / 1048576.0);
  std::printf("GC CPU fraction      %.1f%%\n", s.gc_cpu_fraction * 100);
  return ok ? 0 : 1;
}
