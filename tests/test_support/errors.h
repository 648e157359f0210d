// Checking the errors gcrt reports.
#pragma once

#include <stdexcept>
#include <string>

namespace gc::testing {

// What fn() threw as std::invalid_argument; empty if it threw nothing.
// (Any other exception propagates and fails the test.)
template <typename Fn>
std::string InvalidArgumentOf(Fn fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace gc::testing
