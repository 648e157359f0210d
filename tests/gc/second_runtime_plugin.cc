// A plugin holding a copy of gcrt of its own: runtime_copies_test loads it
// into a program linked with another copy.

#include "gcrt/gc.h"

struct PluginNode {
  gc::Ptr<PluginNode> next;
  long value = 0;
};

extern "C" long second_runtime_allocate(long n) {
  gc::Root<PluginNode> head;
  for (long i = 0; i < n; i++) {
    gc::Root<PluginNode> node = gc::make<PluginNode>();
    node->next = head;
    node->value = i;
    head = node;
  }
  return head->value;
}
