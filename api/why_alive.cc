#include "gcrt/why_alive.h"

#include <cstdio>
#include <stdexcept>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/census.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/marker.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/internal/field_names.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"

namespace gc {

namespace {

std::string RootName(const internal::RetentionPath& p, int root_tid) {
  if (p.root_is_constructing) return "an object under construction";
  switch (p.root_kind) {
    case internal::RootJob::kArena:
      return p.root_is_global ? "a gc::Global handle" : "a gc::Root handle";
    case internal::RootJob::kRootSet:
      if (p.root_set_what != nullptr) return p.root_set_what;
      return p.root_is_range ? "a gc::RootRange" : "a gc::RootSet";
    case internal::RootJob::kFinalizers:
      return "a finalizer (the path's first object has one, queued or not: "
             "it and what it reaches are kept until the finalizer has run)";
    case internal::RootJob::kStack: {
      if (root_tid == 0) {
        return "the stack of the thread with processor " +
               std::to_string(p.root_processor) + " (conservative stack scan)";
      }
      char name[16];
      runtime::ThreadName(root_tid, name, sizeof(name));
      return "the stack of thread " + std::to_string(root_tid) + " \"" + name +
             "\" (processor " + std::to_string(p.root_processor) +
             "; conservative stack scan)";
    }
    case internal::RootJob::kTaskStack:
      return "the stack of a task no worker is running (conservative stack "
             "scan)";
    case internal::RootJob::kTaskClosure:
      return "the function object or arguments of a task (gc::go; scanned "
             "conservatively until the function returns)";
  }
  return "a root";
}

}  // namespace

WhyAlive why_alive(const void* object) {
  internal::RetentionPath found;
  int root_tid = 0;  // the thread whose stack holds the root, if one does
  bool reclaimed = false;
  const auto target = reinterpret_cast<uintptr_t>(object);
  internal::Collector::Get().RunWithHeapSwept(
      "why_alive", "gc::why_alive()",
      [&found, &root_tid, &reclaimed, object, target] {
        runtime::AssertWorldStopped();
        // Held in the quarantine (debug builds): dead, its destructor run,
        // as a release build would have freed it.
        reclaimed = internal::MaybeReclaimedWorldStopped(object);
        if (reclaimed) return;
        found = internal::FindRetentionPath(target);
        if (found.reachable && found.root_kind == internal::RootJob::kStack) {
          runtime::ForEachProcessor([&](const runtime::Processor& p) {
            if (p.id() == found.root_processor) root_tid = p.owner_tid();
          });
        }
      });
  if (reclaimed) {
    throw std::invalid_argument("gcrt: why_alive(" + alloc::HexAddress(target) +
                                "): the object was reclaimed already" +
                                internal::ReclaimedNote(object));
  }
  if (found.object == 0) {
    throw std::invalid_argument(
        "gcrt: why_alive(" + alloc::HexAddress(target) +
        "): not in an allocated object of the GC heap (never allocated by "
        "gcrt, or reclaimed already)");
  }
  WhyAlive out;
  out.reachable = found.reachable;
  if (!found.reachable) {
    out.path.push_back(
        RetentionStep{reinterpret_cast<const void*>(found.object),
                      alloc::TypeName(found.object_type), -1, ""});
    return out;
  }
  out.root = RootName(found, root_tid);
  for (size_t i = 0; i < found.objects.size(); i++) {
    out.path.push_back(RetentionStep{
        reinterpret_cast<const void*>(found.objects[i]),
        alloc::TypeName(found.types[i]), found.offsets[i],
        i == 0 ? std::string()
               : internal::FieldNameAt(found.types[i - 1], found.offsets[i])});
  }
  return out;
}

std::string WhyAlive::text() const {
  std::string out;
  if (path.empty()) return "(no object)\n";
  const RetentionStep& target = path.back();
  char line[96];
  std::snprintf(line, sizeof line, "%p", target.object);
  out += line;
  out += " (" + target.type + ")";
  if (!reachable) {
    return out +
           " is not reachable from any root (the calling thread's own stack "
           "is not searched: with stack scanning on, a stale word there may "
           "still keep it)\n";
  }
  out += " is reachable from " + root + ":\n";
  for (size_t i = 0; i < path.size(); i++) {
    std::snprintf(line, sizeof line, "  %p ", path[i].object);
    out += line + path[i].type;
    if (i > 0) {
      const std::string& field = path[i].field;
      if (!field.empty()) {
        out +=
            "  at " + path[i - 1].type + (field[0] == '[' ? "" : ".") + field;
      } else if (path[i].offset >= 0) {
        out += "  at offset " + std::to_string(path[i].offset) + " of the " +
               path[i - 1].type;
      } else {
        out += "  through a trace() of the " + path[i - 1].type +
               " (no word of it points here)";
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace gc
