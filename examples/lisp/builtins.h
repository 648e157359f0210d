#pragma once

#include "examples/lisp/interpreter.h"

namespace lisp {

// Defines the builtins in the interpreter's global scope: + - * mod
// (integers), < > = (numbers), eq? (identity), cons car cdr list length
// null? (lists), and (collect), which runs a full collection now.
void InstallBuiltins(Interpreter& interpreter);

}  // namespace lisp
