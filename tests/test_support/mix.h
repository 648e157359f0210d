// Data a test can check later: a 64-bit mixer, so an object's fields can be
// checked against a function of its id, and memory stamped with a pattern
// derived from a tag.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gc::testing {

// splitmix64's finalizer.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Fills [p, p+n) with a pattern derived from tag: whole words, then the
// bytes of the tail.
inline void Stamp(void* p, size_t n, uint64_t tag) {
  const uint64_t key = Mix(tag);
  auto* w = static_cast<uint64_t*>(p);
  const size_t words = n / 8;
  for (size_t i = 0; i < words; i++) w[i] = Mix(key + i);
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = words * 8; i < n; i++) {
    b[i] = static_cast<unsigned char>(Mix(key + i));
  }
}

// Offset of the first byte of [p, p+n) that does not hold tag's pattern
// (the start of its word), or n if all do.
inline size_t CheckStamp(const void* p, size_t n, uint64_t tag) {
  const uint64_t key = Mix(tag);
  auto* w = static_cast<const uint64_t*>(p);
  const size_t words = n / 8;
  for (size_t i = 0; i < words; i++) {
    if (w[i] != Mix(key + i)) return i * 8;
  }
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = words * 8; i < n; i++) {
    if (b[i] != static_cast<unsigned char>(Mix(key + i))) return i;
  }
  return n;
}

inline bool IsZero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0) return false;
  }
  return true;
}

}  // namespace gc::testing
