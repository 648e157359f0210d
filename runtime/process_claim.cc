#include "gcrt/runtime/process_claim.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "gcrt/runtime/check.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace gc::runtime {
namespace {

// Far from where Linux places mappings on x86-64 and AArch64 with 47- or
// 48-bit address spaces (top-down from the stack; PIE images at 0x55...,
// brk after them), and from the ranges AddressSanitizer reserves.
constexpr uintptr_t kRecordAddress = uintptr_t{0x3e7a} << 32;
constexpr size_t kRecordBytes = 4096;
constexpr uint64_t kMagic = 0x676372742d6f6e65;  // "gcrt-one"

struct Record {
  uint64_t magic;
  // The claiming copy's own `g_anchor`, which tells the copies apart and
  // names the module that holds it (dladdr).
  const void* anchor;
};

// Its address identifies this copy of the runtime.
const char g_anchor = 0;

// The module holding `p`: its path, or "the program" for the executable.
const char* ModuleOf(const void* p) {
  Dl_info info;
  if (dladdr(p, &info) != 0 && info.dli_fname != nullptr &&
      info.dli_fname[0] != '\0') {
    return info.dli_fname;
  }
  return "the program";
}

// Reads the record at the claimed address without faulting, whatever is
// mapped there.
bool ReadRecord(Record* out) {
  iovec local{out, sizeof(*out)};
  iovec remote{reinterpret_cast<void*>(kRecordAddress), sizeof(*out)};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) ==
         static_cast<ssize_t>(sizeof(*out));
}

}  // namespace

void ClaimProcess() {
#if defined(GCRT_TSAN)
  // ThreadSanitizer owns the address range: no check under it.
  return;
#else
  void* want = reinterpret_cast<void*>(kRecordAddress);
  void* got = mmap(want, kRecordBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (got == want) {
    auto* record = static_cast<Record*>(got);
    record->anchor = &g_anchor;
    record->magic = kMagic;
    mprotect(got, kRecordBytes, PROT_READ);
    return;
  }
  if (got != MAP_FAILED) {  // an old kernel took the flag for a hint
    munmap(got, kRecordBytes);
    return;
  }
  Record other;
  if (errno != EEXIST || !ReadRecord(&other) || other.magic != kMagic ||
      other.anchor == &g_anchor) {
    return;
  }
  Print(
      "two copies of gcrt in one process: the one in %s started first, and "
      "now the one in %s. Each has its own heap and collector: an object "
      "of one kept only by the other's objects is reclaimed while in use, "
      "and a thread blocked in one holds the other's collections up. Link "
      "every module that uses gcrt against the same libgcrt.so (a program "
      "linked with libgcrt.a cannot share it with a plugin)",
      ModuleOf(other.anchor), ModuleOf(&g_anchor));
  GCRT_FATAL("one copy of gcrt per process");
#endif
}

}  // namespace gc::runtime
