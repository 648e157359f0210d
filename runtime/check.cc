// See check.h.
#include "gcrt/runtime/check.h"

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
  char buf[2048];  // GCRT_DEBUG's refusal lists every item: ~800 bytes
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

void PrintLine(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
  va_end(ap);
  size_t len = m < 0 ? 0 : static_cast<size_t>(m);
  if (len > sizeof(buf) - 2) len = sizeof(buf) - 2;
  buf[len++] = '\n';
  WriteAll(buf, len);
}

void Throw(const char* invariant, const char* file, unsigned line,
           const char* function) noexcept {
  Print("fatal error: invariant violated: %s", invariant);
  Print("  at %s:%u (%s)", file, line, function);
  Print("  (a bug in gcrt, or memory corrupted by the program)");
  std::abort();
}

void Fatal(const char* rule, const char* file, unsigned line,
           const char* function) noexcept {
  Print("fatal error: the program broke a rule of gcrt: %s", rule);
  Print("  detected at %s:%u (%s)", file, line, function);
  std::abort();
}

namespace {

// Formats one operand into buf (no allocation).
void FormatOperand(char* buf, size_t size, const CheckOperand& o) {
  switch (o.kind) {
    case CheckOperand::kSigned:
      std::snprintf(buf, size, "%lld", o.s);
      return;
    case CheckOperand::kUnsigned:
      if (o.u > 0xffff) {
        std::snprintf(buf, size, "%llu (%#llx)", o.u, o.u);
      } else {
        std::snprintf(buf, size, "%llu", o.u);
      }
      return;
    case CheckOperand::kPointer:
      std::snprintf(buf, size, "%p", o.p);
      return;
  }
}

}  // namespace

void CheckOpFailed(const char* expression, CheckOperand a, CheckOperand b,
                   const char* file, unsigned line,
                   const char* function) noexcept {
  char sa[64], sb[64];
  FormatOperand(sa, sizeof(sa), a);
  FormatOperand(sb, sizeof(sb), b);
  Print("fatal error: invariant violated: %s (%s vs. %s)", expression, sa, sb);
  Print("  at %s:%u (%s)", file, line, function);
  Print("  (a bug in gcrt, or memory corrupted by the program)");
  std::abort();
}

}  // namespace gc::runtime
