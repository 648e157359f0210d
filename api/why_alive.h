// gc::why_alive(): why the collector keeps an object (Go users' missing
// retention path; Boehm's GC_generate_random_backtrace; a V8 heap
// snapshot's retainers). Included by api/gc.h.
//
//   gc::WhyAlive w = gc::why_alive(node.get());
//   if (w.reachable) std::fputs(w.text().c_str(), stderr);
//
// prints, say:
//
//   0x7f3a2c001040 (Node) is reachable from a gc::Global handle:
//     0x7f3a2c000010 Cache
//     0x7f3a2c001000 Bucket  at offset 16 of the Cache
//     0x7f3a2c001040 Node  at Bucket.head
//
// A step names the field that holds it where the holder's type has names
// (GCRT_FIELD_NAMES, api/field_names.h: C++20 cannot reflect them), its
// offset otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gc {

struct RetentionStep {
  const void* object;  // the object's start
  std::string type;    // its type, as gc::census() names it
  // Where the step before holds this object: the byte offset of the word
  // of that object that points into this one; -1 for the first step (the
  // root holds it) and where no word of the object before does (a
  // reference in a std container's buffer, which a trace() walks).
  int64_t offset;
  // That word's field of the step before, where GCRT_FIELD_NAMES named the
  // type's fields (api/field_names.h): "head", "kids[2].left", "[3]" (an
  // element of a gc::Array); empty where no names say (or offset is -1).
  std::string field;
};

struct WhyAlive {
  // Whether a root reaches the object: if not, the next collection
  // reclaims it (unless the calling thread's own stack keeps it: see
  // why_alive).
  bool reachable = false;
  // What holds the first object of the path: "a gc::Root handle", "a
  // gc::Global handle", "a gc::RootSet", "a gc::RootRange", "a finalizer (the
  // path's first object has one, ...)" (an object with a finalizer is kept,
  // with what it reaches, until the finalizer has run, even if nothing else
  // reaches it), "an object under construction", "the stack of thread TID
  // "name" (processor N; conservative stack scan)", "the function object or
  // arguments of a task (gc::go; ...)" (with stack scanning off), "the
  // function object or arguments of a gc::Thread (...)".
  std::string root;
  // One shortest path: from the object the root holds to the object asked
  // about (its last step), each object reached through the one before.
  std::vector<RetentionStep> path;

  // The path as lines of text, as above ("at Type.field" where the field is
  // named, "at offset N of the Type" otherwise); one line saying it is not
  // reachable otherwise.
  std::string text() const;
};

// One shortest chain of references from a root to the object `object`
// points into (its start or any byte inside it), as the next collection
// would find it: handles (gc::Root, gc::Global), root sets, objects under
// construction, finalizable objects, what tasks' and gc::Threads'
// functions captured, and, with stack scanning on, the stacks of other
// threads and tasks. The calling thread's own stack is not searched
// (it holds `object` itself): a local of the caller keeps what it points
// to, whatever this says. A walk from the roots with the world stopped
// (after the last cycle's sweep is finished), stopped as soon as it
// reaches the object: it costs nothing when not called, and when called
// time in proportion to the objects the walk visits (0.12-0.17 us each:
// about 2 s for 16 M, the world stopped throughout) and a word of memory for
// each slot of the spans it reaches: a tool for debugging, not for a
// program's fast path.
// Throws std::invalid_argument if `object` is not in an allocated object
// of the GC heap; std::logic_error where gc::collect() would (inside a
// gc::Blocking scope, or from a destructor the collector runs).
WhyAlive why_alive(const void* object);

}  // namespace gc
