// Symbols for code addresses, from the binary's own files: the watchdog's
// stack dumps (runtime/backtrace.h) and the heap profile's stacks
// (gc/heap_profile.h) name functions without an external tool.
//
// A function's name comes from its module's ELF symbol table (.symtab, so
// static functions and executables not linked with -rdynamic are named
// too; .dynsym or dladdr where the file has none), demangled. There is no
// DWARF reading: no file names, line numbers or inlined frames (a function
// inlined into its caller is its caller's).
//
// Allocates and opens files: never from a signal handler.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gc::runtime {

struct SymbolizedFrame {
  std::string function;  // demangled; empty if no symbol covers the address
  std::string mangled;   // the symbol as the binary spells it
  uintptr_t function_offset = 0;  // of the address from the function's start
  std::string module;           // the file's path (the executable's, resolved)
  uintptr_t module_offset = 0;  // of the address from the module's load
                                // bias: what `addr2line -e module` takes
};

// Symbolizes addresses, opening each module's file once (up to 16 of them;
// past that, dladdr's exported names only). Not thread-safe: one per
// caller.
class Symbolizer {
 public:
  Symbolizer();
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Fills *out for code address `pc`. A return address (exact false) may
  // be the first byte after its call's function (a call to a noreturn
  // function ends it), so the call itself (pc - 1) is looked up; the
  // offsets are still pc's. Returns false if no loaded module holds it.
  bool Symbolize(uintptr_t pc, bool exact, SymbolizedFrame* out);

 private:
  struct Modules;
  std::unique_ptr<Modules> modules_;
};

// A loaded module's executable segment, as pprof's Mapping describes it.
struct LoadedModule {
  uintptr_t start = 0;        // first address of the segment
  uintptr_t limit = 0;        // one past its last
  uintptr_t file_offset = 0;  // of start in the file
  std::string path;           // the executable's resolved through /proc
  std::string build_id;       // the GNU build id in hex, or empty
};

// The executable segments of the program and its shared libraries (through
// dl_iterate_phdr), the executable first.
std::vector<LoadedModule> LoadedModules();

}  // namespace gc::runtime
