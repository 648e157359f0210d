// The evaluator: special forms (quote, if, define, lambda, let, begin),
// closures, and calls to lambdas and builtins, with proper tail calls.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "examples/lisp/symbols.h"
#include "examples/lisp/value.h"
#include "gcrt/gc.h"

namespace lisp {

class Interpreter {
 public:
  Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Evaluates a top-level form in the global scope. Throws lisp::Error; the
  // value stack is left empty either way.
  gc::Root<Value> EvalTopLevel(const gc::Root<Value>& form);

  // Binds `name` to a builtin in the global scope.
  void DefineBuiltin(const std::string& name, Builtin builtin);

  SymbolTable& symbols() { return symbols_; }
  // The symbol t, what predicates return for true (nil is false).
  gc::Root<Value> True() const { return gc::Root<Value>(t_); }
  gc::Root<Value> Bool(bool b) const { return b ? True() : gc::Root<Value>(); }

 private:
  gc::Root<Value> Eval(gc::Root<Value> expr, gc::Root<Env> env);
  gc::Root<Value> Lookup(const gc::Ptr<Value>& symbol, const gc::Ptr<Env>& env);
  void Bind(const gc::Root<Env>& env, const gc::Ptr<Value>& symbol,
            const gc::Ptr<Value>& value);
  // A new scope for a call of `fn` with the stack's values from `base` on.
  gc::Root<Env> BindArguments(const gc::Root<Value>& fn, size_t base);
  // Evaluates all but the last form of `body` in `env`; returns the last
  // (to be evaluated in tail position), or nil for an empty body.
  gc::Root<Value> EvalAllButLast(const gc::Ptr<Value>& body,
                                 const gc::Root<Env>& env);

  SymbolTable symbols_;

  // The value stack: the evaluated arguments of every call in progress.
  // A std::vector is C++ heap memory, invisible to the collector, so it is
  // registered as a gc::RootSet: one registration for the whole stack,
  // however deep it gets, rather than a handle per value. The callback runs
  // with the world stopped (this thread parked at a safepoint, never in the
  // middle of a push_back), and must only visit pointers.
  std::vector<gc::Ptr<Value>> stack_;
  gc::RootSet stack_roots_{[this](gc::Tracer& t) { t(stack_); }};

  // The global scope: a gc::Root member, since this C++ object is not in
  // the GC heap and its gc::Ptr fields would not be traced.
  gc::Root<Env> global_;

  // Symbols the evaluator compares against. Plain gc::Ptr is enough here:
  // the symbol table keeps every interned symbol alive for good.
  gc::Ptr<Value> quote_, if_, define_, lambda_, let_, begin_, t_;
};

}  // namespace lisp
