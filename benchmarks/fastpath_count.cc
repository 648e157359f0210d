// Counts the instructions of the allocation fast path with callgrind:
// AllocLoop<...> allocates kN objects and stores each pointer; callgrind
// collects only inside it (--toggle-collect), so Ir / kN is the cost of one
// allocation plus the loop's store and increment (~3 instructions).
// The Make* loops do the same through the public API (gc::make_unrooted,
// gc::make), and RootHandle8 takes and drops a gc::Root per iteration: the
// handle fast path alone, and PtrStore8 stores a gc::Ptr field (the
// write barrier's fast path), PlainStore8 the same loop with a raw pointer. The
// collector is off (gc::set_gc_percent(-1)) while they run, and a collection
// between loops reclaims their objects.
//
//   bash benchmarks/count_fastpath.sh
#include <cstdint>
#include <cstdio>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"

namespace {

using gc::alloc::AllocateFixed;
using gc::alloc::TypeInfo;

struct Ptr1 {
  void* p;
};
struct Ptr2 {
  void *p, *q;
};
constexpr TypeInfo kInt64 = {"int64", 8, 8, true, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kPtr1 = {"Ptr1", 8, 8, false, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kPtr2 = {"Ptr2", 16, 8, false, nullptr, nullptr, 0, nullptr};

constexpr int kN = 1 << 20;

// One function per benchmark so callgrind can toggle on its name.
__attribute__((noinline)) void AllocLoopMalloc8(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = AllocateFixed<8, 8, true, true>(&kInt64);
  }
}
__attribute__((noinline)) void AllocLoopMallocTypeInfo8(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = AllocateFixed<sizeof(Ptr1), 8, false, true>(&kPtr1);
  }
}
__attribute__((noinline)) void AllocLoopMallocTypeInfo16(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = AllocateFixed<sizeof(Ptr2), 8, false, true>(&kPtr2);
  }
}
// 8 bytes with a gc::Ptr: a constructor (it zeroes the field), so gc::make
// records the construction.
struct Node8 {
  gc::Ptr<Node8> next;
};
// 16 pointer-free bytes with a trivial constructor: no construction record.
struct Pod16 {
  int64_t a, b;
};

__attribute__((noinline)) void MakeUnrootedNode8(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = gc::make_unrooted<Node8>().get();
  }
}
__attribute__((noinline)) void MakeUnrootedPod16(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = gc::make_unrooted<Pod16>().get();
  }
}
// gc::make: the allocation, and a handle slot taken and given back.
__attribute__((noinline)) void MakeRootedNode8(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = gc::make<Node8>().get();
  }
}
__attribute__((noinline)) void RootHandle8(void** out, Node8* node) {
  for (int i = 0; i < kN; i++) {
    gc::Root<Node8> r(node);
    out[i] = r.get();
  }
}

// A gc::Ptr store (the write barrier's fast path, no cycle marking): the
// loop alternates node->next between two objects and records it.
__attribute__((noinline)) void PtrStore8(void** out, Node8* node, Node8* a,
                                         Node8* b) {
  gc::Ptr<Node8> pa(a), pb(b);
  for (int i = 0; i < kN; i++) {
    node->next = (i & 1) ? pa : pb;
    out[i] = node->next.get();
    asm volatile("" ::: "memory");  // as PlainStore8
  }
}

// The same loop with a plain pointer field: what the barrier's test adds.
struct RawNode8 {
  RawNode8* next;
};
__attribute__((noinline)) void PlainStore8(void** out, RawNode8* node,
                                           RawNode8* a, RawNode8* b) {
  for (int i = 0; i < kN; i++) {
    node->next = (i & 1) ? a : b;
    out[i] = node->next;
    asm volatile("" ::: "memory");  // the store is not folded into the next
  }
}

__attribute__((noinline)) void EmptyLoop(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = out;
    asm volatile("" ::: "memory");
  }
}

}  // namespace

int main() {
  std::vector<void*> out(kN);
  // Warm: attach the thread and create the heap outside the counted loops.
  gc::alloc::Free(AllocateFixed<16, 8, false, true>(&kPtr2));
  EmptyLoop(out.data());
  AllocLoopMalloc8(out.data());
  AllocLoopMallocTypeInfo8(out.data());
  for (void* p : out) gc::alloc::Free(p);
  AllocLoopMallocTypeInfo16(out.data());
  for (void* p : out) gc::alloc::Free(p);
  // The public API, with the collector off inside the loops.
  gc::set_gc_percent(-1);
  MakeUnrootedNode8(out.data());
  gc::collect();
  MakeUnrootedPod16(out.data());
  gc::collect();
  MakeRootedNode8(out.data());
  gc::collect();
  {
    gc::Root<Node8> node = gc::make<Node8>();
    RootHandle8(out.data(), node.get());
    gc::Root<Node8> a = gc::make<Node8>(), b = gc::make<Node8>();
    PtrStore8(out.data(), node.get(), a.get(), b.get());
  }
  {
    RawNode8 node{}, a{}, b{};
    PlainStore8(out.data(), &node, &a, &b);
  }
  gc::collect();
  std::printf("allocated %d objects per loop\n", kN);
  return 0;
}
