#include "examples/lisp/builtins.h"

#include <span>
#include <string>

#include "examples/lisp/error.h"

namespace lisp {

namespace {

using Args = std::span<const gc::Ptr<Value>>;

void ExpectCount(Args args, size_t n, const char* name) {
  if (args.size() != n) {
    throw Error(std::string(name) + " takes " + std::to_string(n) +
                " arguments, got " + std::to_string(args.size()));
  }
}

int64_t Number(const gc::Ptr<Value>& v, const char* name) {
  if (!v || v->kind != Kind::kNumber) {
    throw Error(std::string(name) + " of a non-number: " + Print(v));
  }
  return v->number;
}

gc::Ptr<Value> Pair(const gc::Ptr<Value>& v, const char* name) {
  if (!IsCons(v))
    throw Error(std::string(name) + " of a non-pair: " + Print(v));
  return v;
}

gc::Root<Value> Add(Interpreter&, Args args) {
  int64_t sum = 0;
  for (const gc::Ptr<Value>& v : args) sum += Number(v, "+");
  return MakeNumber(sum);
}

gc::Root<Value> Multiply(Interpreter&, Args args) {
  int64_t product = 1;
  for (const gc::Ptr<Value>& v : args) product *= Number(v, "*");
  return MakeNumber(product);
}

gc::Root<Value> Subtract(Interpreter&, Args args) {
  if (args.empty()) throw Error("- takes at least 1 argument");
  if (args.size() == 1) return MakeNumber(-Number(args[0], "-"));
  int64_t difference = Number(args[0], "-");
  for (const gc::Ptr<Value>& v : args.subspan(1)) difference -= Number(v, "-");
  return MakeNumber(difference);
}

gc::Root<Value> Mod(Interpreter&, Args args) {
  ExpectCount(args, 2, "mod");
  int64_t divisor = Number(args[1], "mod");
  if (divisor == 0) throw Error("mod by zero");
  return MakeNumber(Number(args[0], "mod") % divisor);
}

gc::Root<Value> Less(Interpreter& in, Args args) {
  ExpectCount(args, 2, "<");
  return in.Bool(Number(args[0], "<") < Number(args[1], "<"));
}

gc::Root<Value> Greater(Interpreter& in, Args args) {
  ExpectCount(args, 2, ">");
  return in.Bool(Number(args[0], ">") > Number(args[1], ">"));
}

gc::Root<Value> NumberEqual(Interpreter& in, Args args) {
  ExpectCount(args, 2, "=");
  return in.Bool(Number(args[0], "=") == Number(args[1], "="));
}

gc::Root<Value> Identical(Interpreter& in, Args args) {
  ExpectCount(args, 2, "eq?");
  return in.Bool(args[0] == args[1]);
}

// The arguments live on the interpreter's value stack (a root) while these
// allocate, so handing the gc::Ptr arguments to Cons is safe.
gc::Root<Value> MakePair(Interpreter&, Args args) {
  ExpectCount(args, 2, "cons");
  return Cons(args[0], args[1]);
}

gc::Root<Value> List(Interpreter&, Args args) {
  gc::Root<Value> list;  // rooted: it is the tail of the next cons
  for (size_t i = args.size(); i > 0; i--) list = Cons(args[i - 1], list);
  return list;
}

gc::Root<Value> Car(Interpreter&, Args args) {
  ExpectCount(args, 1, "car");
  return gc::Root<Value>(Pair(args[0], "car")->car);
}

gc::Root<Value> Cdr(Interpreter&, Args args) {
  ExpectCount(args, 1, "cdr");
  return gc::Root<Value>(Pair(args[0], "cdr")->cdr);
}

gc::Root<Value> Length(Interpreter&, Args args) {
  ExpectCount(args, 1, "length");
  int64_t n = 0;
  for (gc::Ptr<Value> p = args[0]; p; p = Pair(p, "length")->cdr) n++;
  return MakeNumber(n);
}

gc::Root<Value> IsNull(Interpreter& in, Args args) {
  ExpectCount(args, 1, "null?");
  return in.Bool(!args[0]);
}

// A full collection in the middle of evaluation: everything the program
// still uses (the value stack, the scopes of the calls in progress, the
// symbols) must survive it, and the script's results show that it did.
gc::Root<Value> Collect(Interpreter& in, Args args) {
  ExpectCount(args, 0, "collect");
  gc::collect();
  return in.True();
}

}  // namespace

void InstallBuiltins(Interpreter& interpreter) {
  interpreter.DefineBuiltin("+", &Add);
  interpreter.DefineBuiltin("-", &Subtract);
  interpreter.DefineBuiltin("*", &Multiply);
  interpreter.DefineBuiltin("mod", &Mod);
  interpreter.DefineBuiltin("<", &Less);
  interpreter.DefineBuiltin(">", &Greater);
  interpreter.DefineBuiltin("=", &NumberEqual);
  interpreter.DefineBuiltin("eq?", &Identical);
  interpreter.DefineBuiltin("cons", &MakePair);
  interpreter.DefineBuiltin("car", &Car);
  interpreter.DefineBuiltin("cdr", &Cdr);
  interpreter.DefineBuiltin("list", &List);
  interpreter.DefineBuiltin("length", &Length);
  interpreter.DefineBuiltin("null?", &IsNull);
  interpreter.DefineBuiltin("collect", &Collect);
}

}  // namespace lisp
