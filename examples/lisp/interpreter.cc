#include "examples/lisp/interpreter.h"

#include <string>

#include "examples/lisp/error.h"

namespace lisp {

namespace {

size_t Length(gc::Ptr<Value> list) {
  size_t n = 0;
  for (; IsCons(list); list = list->cdr) n++;
  return n;
}

// The n-th element of a form (0 is its head), checked: special forms
// report their own syntax errors.
gc::Ptr<Value> Nth(gc::Ptr<Value> form, size_t n, const char* what) {
  for (size_t i = 0; i < n && IsCons(form); i++) form = form->cdr;
  if (!IsCons(form)) throw Error(std::string("malformed ") + what);
  return form->car;
}

}  // namespace

Interpreter::Interpreter()
    : global_(gc::make<Env>()),
      quote_(symbols_.Intern("quote")),
      if_(symbols_.Intern("if")),
      define_(symbols_.Intern("define")),
      lambda_(symbols_.Intern("lambda")),
      let_(symbols_.Intern("let")),
      begin_(symbols_.Intern("begin")),
      t_(symbols_.Intern("t")) {}

void Interpreter::DefineBuiltin(const std::string& name, Builtin builtin) {
  gc::Root<Value> symbol = symbols_.Intern(name);
  gc::Root<Value> fn = gc::make<Value>(
      Value{.kind = Kind::kBuiltin, .name = symbol->name, .builtin = builtin});
  Bind(global_, symbol, fn);
}

gc::Root<Value> Interpreter::EvalTopLevel(const gc::Root<Value>& form) {
  try {
    gc::Root<Value> result = Eval(form, global_);
    stack_.clear();
    return result;
  } catch (...) {
    // The calls in progress were abandoned: their arguments are garbage.
    stack_.clear();
    throw;
  }
}

gc::Root<Value> Interpreter::Lookup(const gc::Ptr<Value>& symbol,
                                    const gc::Ptr<Env>& env) {
  for (gc::Ptr<Env> e = env; e; e = e->parent) {
    for (gc::Ptr<Value> b = e->bindings; b; b = b->cdr) {
      if (b->car->car == symbol) return gc::Root<Value>(b->car->cdr);
    }
  }
  throw Error("unbound symbol: " + *symbol->name);
}

void Interpreter::Bind(const gc::Root<Env>& env, const gc::Ptr<Value>& symbol,
                       const gc::Ptr<Value>& value) {
  for (gc::Ptr<Value> b = env->bindings; b; b = b->cdr) {
    if (b->car->car == symbol) {
      b->car->cdr = value;  // redefinition: a gc::Ptr store (write barrier)
      return;
    }
  }
  // `symbol` and `value` are reachable from the caller's roots; `pair` is
  // rooted before the second allocation.
  gc::Root<Value> pair = Cons(symbol, value);
  env->bindings = Cons(pair, env->bindings);
}

gc::Root<Env> Interpreter::BindArguments(const gc::Root<Value>& fn,
                                         size_t base) {
  size_t given = stack_.size() - base;
  size_t expected = Length(fn->car);
  if (given != expected) {
    throw Error("a lambda of " + std::to_string(expected) +
                " parameters called with " + std::to_string(given) +
                " arguments");
  }
  gc::Root<Env> frame = gc::make<Env>(Env{.parent = fn->env});
  size_t i = base;
  for (gc::Ptr<Value> p = fn->car; p; p = p->cdr)
    Bind(frame, p->car, stack_[i++]);
  return frame;
}

gc::Root<Value> Interpreter::EvalAllButLast(const gc::Ptr<Value>& body,
                                            const gc::Root<Env>& env) {
  gc::Ptr<Value> form = body;
  for (; IsCons(form) && form->cdr; form = form->cdr)
    Eval(gc::Root<Value>(form->car), env);
  return IsCons(form) ? gc::Root<Value>(form->car) : gc::Root<Value>();
}

// The evaluator's rooting discipline: `expr` and `env` are gc::Roots, and so
// is every value computed here that must outlive the next allocation. A
// plain gc::Ptr local is used only to walk a structure that is reachable
// from one of those roots (the parts of `expr`, a lambda's parameter
// list): the collector does not move objects, so such a pointer stays valid
// as long as its object stays reachable.
gc::Root<Value> Interpreter::Eval(gc::Root<Value> expr, gc::Root<Env> env) {
  for (;;) {  // each turn is a tail call: no C++ recursion for it
    if (!expr) return expr;
    switch (expr->kind) {
      case Kind::kNumber:
      case Kind::kLambda:
      case Kind::kBuiltin:
        return expr;
      case Kind::kSymbol:
        return Lookup(expr, env);
      case Kind::kCons:
        break;
    }
    gc::Ptr<Value> head = expr->car;
    if (head == quote_) return gc::Root<Value>(Nth(expr, 1, "quote"));
    if (head == if_) {
      gc::Root<Value> condition =
          Eval(gc::Root<Value>(Nth(expr, 1, "if")), env);
      gc::Ptr<Value> rest = expr->cdr->cdr;
      if (!IsCons(rest)) throw Error("malformed if");
      expr = condition ? rest->car
                       : (IsCons(rest->cdr) ? rest->cdr->car : nullptr);
      continue;
    }
    if (head == define_) {
      gc::Ptr<Value> name = Nth(expr, 1, "define");
      if (!name || name->kind != Kind::kSymbol)
        throw Error("define of a non-symbol");
      gc::Root<Value> value =
          Eval(gc::Root<Value>(Nth(expr, 2, "define")), env);
      Bind(env, name, value);
      return gc::Root<Value>(name);
    }
    if (head == lambda_) {
      // A closure: parameters, body, and the scope it was made in, which it
      // keeps alive for as long as it is itself reachable.
      return gc::make<Value>(Value{.kind = Kind::kLambda,
                                   .car = Nth(expr, 1, "lambda"),
                                   .cdr = expr->cdr->cdr,
                                   .env = env});
    }
    if (head == let_) {
      gc::Root<Env> scope = gc::make<Env>(Env{.parent = env});
      for (gc::Ptr<Value> b = Nth(expr, 1, "let"); IsCons(b); b = b->cdr) {
        gc::Ptr<Value> name = Nth(b->car, 0, "let binding");
        gc::Root<Value> value =
            Eval(gc::Root<Value>(Nth(b->car, 1, "let binding")), env);
        Bind(scope, name, value);
      }
      env = std::move(scope);
      expr = EvalAllButLast(expr->cdr->cdr, env);
      continue;
    }
    if (head == begin_) {
      expr = EvalAllButLast(expr->cdr, env);
      continue;
    }

    // A call: the function, then the arguments onto the value stack, where
    // they stay rooted while later arguments are evaluated (and allocate).
    gc::Root<Value> fn = Eval(gc::Root<Value>(head), env);
    size_t base = stack_.size();
    for (gc::Ptr<Value> arg = expr->cdr; IsCons(arg); arg = arg->cdr) {
      gc::Root<Value> value = Eval(gc::Root<Value>(arg->car), env);
      stack_.push_back(value);
    }
    if (fn && fn->kind == Kind::kBuiltin) {
      gc::Root<Value> result =
          fn->builtin(*this, std::span<const gc::Ptr<Value>>(
                                 stack_.data() + base, stack_.size() - base));
      stack_.resize(base);
      return result;
    }
    if (!fn || fn->kind != Kind::kLambda)
      throw Error("call of a non-function: " + Print(fn));
    // The new scope holds the arguments now; they can leave the stack.
    env = BindArguments(fn, base);
    stack_.resize(base);
    expr = EvalAllButLast(fn->cdr, env);
  }
}

}  // namespace lisp
