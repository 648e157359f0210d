#pragma once

#include <stdexcept>
#include <string>

namespace lisp {

// A Lisp error (unbound symbol, wrong type, bad syntax): the top level
// prints it and goes on with the next form.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace lisp
