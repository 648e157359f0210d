#include "examples/lisp/value.h"

#include <string>

namespace lisp {

// Printing allocates nothing in the GC heap, so plain gc::Ptr walks are
// safe here: no collection can run until it returns.
std::string Print(const gc::Ptr<Value>& v) {
  if (!v) return "()";
  switch (v->kind) {
    case Kind::kNumber:
      return std::to_string(v->number);
    case Kind::kSymbol:
      return *v->name;
    case Kind::kLambda:
      return "#<lambda>";
    case Kind::kBuiltin:
      return "#<builtin " + *v->name + ">";
    case Kind::kCons:
      break;
  }
  std::string out = "(";
  gc::Ptr<Value> p = v;
  for (;;) {
    out += Print(p->car);
    p = p->cdr;
    if (!p) break;
    if (!IsCons(p)) {
      out += " . " + Print(p);
      break;
    }
    out += ' ';
  }
  return out + ")";
}

}  // namespace lisp
