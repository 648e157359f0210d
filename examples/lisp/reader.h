// The reader: source text to Values (numbers, symbols, lists, 'quote).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "examples/lisp/symbols.h"
#include "examples/lisp/value.h"
#include "gcrt/gc.h"

namespace lisp {

class Reader {
 public:
  Reader(std::string text, SymbolTable* symbols)
      : text_(std::move(text)), symbols_(symbols) {}

  // The next top-level form, or nullopt at the end of the text. Throws
  // lisp::Error on malformed input.
  std::optional<gc::Root<Value>> Next();

 private:
  gc::Root<Value> ReadForm();
  gc::Root<Value> ReadList();
  gc::Root<Value> ReadAtom();
  void SkipSpaceAndComments();

  std::string text_;
  size_t pos_ = 0;
  SymbolTable* symbols_;
};

}  // namespace lisp
