// The values of the Lisp: every one is a GC object, made with gc::make and
// never freed by hand. The empty list (nil, also false) is the null pointer.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gcrt/gc.h"

namespace lisp {

class Interpreter;
struct Env;
struct Value;

// A builtin gets the evaluated arguments as a view of the interpreter's
// value stack, which is a registered root: they stay alive while it runs,
// even if it allocates.
using Builtin = gc::Root<Value> (*)(Interpreter&,
                                    std::span<const gc::Ptr<Value>> args);

enum class Kind : uint8_t { kNumber, kSymbol, kCons, kLambda, kBuiltin };

// One struct for every kind, with the fields of the kind in use. It is an
// aggregate of gc::Ptr and pointer-free fields, so it needs no trace(): gcrt
// finds the three gc::Ptr fields at compile time and scans a Value with a
// pointer bitmap. The symbol name is a raw pointer to a std::string the
// symbol table owns (not a GC object), which the collector ignores.
struct Value {
  Kind kind = Kind::kNumber;
  int64_t number = 0;                 // kNumber
  const std::string* name = nullptr;  // kSymbol, kBuiltin
  Builtin builtin = nullptr;          // kBuiltin
  gc::Ptr<Value> car, cdr;            // kCons; kLambda: parameters, body
  gc::Ptr<Env> env;                   // kLambda: the scope it closes over
};

// A scope: the variables it binds, as a list of (symbol . value) pairs, and
// the scope around it. Closures keep their scope alive by pointing to it.
struct Env {
  gc::Ptr<Env> parent;
  gc::Ptr<Value> bindings;
};

// The constructors below allocate, and an allocation may run a collection.
// Their gc::Ptr arguments are not roots (the test runs with
// GCRT_STACK_SCAN=off, where only registered roots count): the caller keeps
// what they point to reachable from a root (a gc::Root, the value stack)
// until the call returns. The result is a gc::Root: rooted from birth.
inline gc::Root<Value> MakeNumber(int64_t n) {
  return gc::make<Value>(Value{.kind = Kind::kNumber, .number = n});
}
inline gc::Root<Value> Cons(gc::Ptr<Value> car, gc::Ptr<Value> cdr) {
  return gc::make<Value>(Value{.kind = Kind::kCons, .car = car, .cdr = cdr});
}

inline bool IsCons(const gc::Ptr<Value>& v) {
  return v && v->kind == Kind::kCons;
}

// The printed form: 42, foo, (1 2 3), #<lambda>, #<builtin +>.
std::string Print(const gc::Ptr<Value>& v);

}  // namespace lisp
