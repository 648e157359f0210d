// A small Lisp whose values are GC objects: reads a script, evaluates each
// form, prints "form => value" for every form but a define, and
// "form => error: ..." for one that fails. Then it checks that the
// collector ran while the script did, and exits nonzero if it did not.
//
//   bazel run //examples/lisp -- $PWD/examples/lisp/script.lisp
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "examples/lisp/builtins.h"
#include "examples/lisp/error.h"
#include "examples/lisp/interpreter.h"
#include "examples/lisp/reader.h"
#include "gcrt/gc.h"

namespace {

bool IsDefine(const gc::Ptr<lisp::Value>& form) {
  return lisp::IsCons(form) && form->car &&
         form->car->kind == lisp::Kind::kSymbol && *form->car->name == "define";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SCRIPT.lisp\n", argv[0]);
    return 2;
  }
  std::ifstream file(argv[1]);
  if (!file) {
    std::fprintf(stderr, "lisp: cannot read %s\n", argv[1]);
    return 2;
  }
  std::stringstream text;
  text << file.rdbuf();

  const gc::Stats before = gc::stats();
  lisp::Interpreter interpreter;
  lisp::InstallBuiltins(interpreter);
  lisp::Reader reader(text.str(), &interpreter.symbols());
  try {
    while (std::optional<gc::Root<lisp::Value>> form = reader.Next()) {
      std::string shown = lisp::Print(*form);
      try {
        gc::Root<lisp::Value> value = interpreter.EvalTopLevel(*form);
        if (!IsDefine(*form)) {
          std::printf("%s => %s\n", shown.c_str(), lisp::Print(value).c_str());
        }
      } catch (const lisp::Error& e) {
        std::printf("%s => error: %s\n", shown.c_str(), e.what());
      }
    }
  } catch (const lisp::Error& e) {
    std::fprintf(stderr, "lisp: %s: syntax error: %s\n", argv[1], e.what());
    return 1;
  }

  // The point of the exercise: collections ran while the interpreter's
  // state was live, and the results above are still right. Cycles the
  // program did not ask for (num_gc - num_forced_gc) were triggered by the
  // script's own allocation.
  const gc::Stats after = gc::stats();
  const uint64_t cycles = after.num_gc - before.num_gc;
  const uint64_t triggered =
      cycles - (after.num_forced_gc - before.num_forced_gc);
  std::fprintf(stderr,
               "lisp: %" PRIu64 " collections (%" PRIu64
               " triggered by allocation), %" PRIu64 " objects allocated\n",
               cycles, triggered, after.mallocs - before.mallocs);
  if (triggered == 0) {
    std::fprintf(stderr,
                 "lisp: FAIL: no collection was triggered by the script's "
                 "allocation; make the script allocate more\n");
    return 1;
  }
  return 0;
}
