// A program for heap_profile_pprof_test.sh: allocates at two known sites,
// keeps one, collects, and leaves the heap profile to GCRT_DEBUG's
// heapprofile=path (written at exit) and to gc::write_heap_profile
// (argv[1]).
#include <cstdio>
#include <vector>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  char bytes[200] = {};  // 208 bytes: a 208-byte slot (a size class)
};

__attribute__((noinline)) gc::Root<Node> BuildKeptTree(int n) {
  gc::Root<Node> head;
  for (int i = 0; i < n; i++) {
    gc::Root<Node> node = gc::make<Node>();
    node->next = head;
    head = node;
  }
  return head;
}

__attribute__((noinline)) void MakeGarbage(int n) {
  for (int i = 0; i < n; i++) gc::make<Node>()->bytes[0] = 1;
}

}  // namespace

int main(int argc, char** argv) {
  gc::Root<Node> kept = BuildKeptTree(10000);  // 2080000 bytes
  MakeGarbage(20000);
  gc::collect();
  if (argc > 1) gc::write_heap_profile(std::string(argv[1]));
  std::printf("kept %d\n", kept->next != nullptr ? 10000 : 0);
  return 0;
}
