// The harnesses' checksum: a 64-bit mixer (splitmix64's finalizer), so an
// object's fields can be checked against a function of its id.
#pragma once

#include <cstdint>

namespace stress {

inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace stress
