// Interned symbols: one Value per name, so symbols compare by pointer.
#pragma once

#include <string>
#include <unordered_map>

#include "examples/lisp/value.h"
#include "gcrt/gc.h"

namespace lisp {

class SymbolTable {
 public:
  SymbolTable() = default;
  SymbolTable(const SymbolTable&) = delete;
  SymbolTable& operator=(const SymbolTable&) = delete;

  // The symbol named `name`, made on first use.
  gc::Root<Value> Intern(const std::string& name);

 private:
  // The table lives in C++ heap memory, which the collector never scans:
  // the root set below is what keeps every interned symbol alive. It visits
  // the gc::Ptr values (the Tracer takes the map whole) with the world
  // stopped, so no lock is needed against the interpreter's own thread.
  // Node-based: a symbol's name pointer (Value::name, a key here) stays
  // valid as the map grows.
  std::unordered_map<std::string, gc::Ptr<Value>> symbols_;
  gc::RootSet roots_{[this](gc::Tracer& t) { t(symbols_); }};
};

}  // namespace lisp
