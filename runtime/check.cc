// See check.h.
#include "runtime/check.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace gc::runtime {

namespace {

void WriteAll(const char* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(2, buf, n);
    if (w <= 0) return;
    buf += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void Print(const char* fmt, ...) {
  char buf[512];
  int n = std::snprintf(buf, sizeof(buf), "gcrt: ");
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
  if (len > sizeof(buf) - 2) len = sizeof(buf) - 2;
  buf[len++] = '\n';
  WriteAll(buf, len);
}

void Throw(const char* invariant, const char* file, unsigned line,
           const char* function) noexcept {
  Print("fatal error: invariant violated: %s", invariant);
  Print("  at %s:%u (%s)", file, line, function);
  std::abort();
}

}  // namespace gc::runtime
