#include "examples/lisp/symbols.h"

namespace lisp {

gc::Root<Value> SymbolTable::Intern(const std::string& name) {
  auto [it, inserted] = symbols_.try_emplace(name);
  if (!inserted) return gc::Root<Value>(it->second);
  // The entry exists (holding null) before the allocation, which may run a
  // collection: the root set then sees a consistent map.
  gc::Root<Value> symbol =
      gc::make<Value>(Value{.kind = Kind::kSymbol, .name = &it->first});
  it->second = symbol;
  return symbol;
}

}  // namespace lisp
