#include "gcrt/heap_profile.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>

#include "gcrt/alloc/cache.h"
#include "gcrt/gc/heap_profile.h"
#include "gcrt/gc/pprof.h"
#include "gcrt/runtime/env.h"

namespace gc {

namespace {

internal::HeapProfileSite ToInternal(const HeapProfileSite& s) {
  internal::HeapProfileSite out;
  out.stack = s.stack;
  out.functions = s.functions;
  out.inuse_objects = s.inuse_objects;
  out.inuse_bytes = s.inuse_bytes;
  out.alloc_objects = s.alloc_objects;
  out.alloc_bytes = s.alloc_bytes;
  out.samples = s.samples;
  return out;
}

std::vector<internal::HeapProfileSite> ToInternal(
    const std::vector<HeapProfileSite>& sites) {
  std::vector<internal::HeapProfileSite> out;
  out.reserve(sites.size());
  for (const HeapProfileSite& s : sites) out.push_back(ToInternal(s));
  return out;
}

}  // namespace

uint64_t set_mem_profile_rate(uint64_t bytes) {
  // As GCRT_DEBUG=memprofilerate: past 2^40 a sample's weight (the rate)
  // overflows the profile's sums.
  if (bytes > static_cast<uint64_t>(runtime::env::kMaxMemProfileRate)) {
    throw std::invalid_argument(
        "gcrt: set_mem_profile_rate(" + std::to_string(bytes) +
        "): the rate is at most 2^40 bytes (0 turns the profile off)");
  }
  return alloc::SetMemProfileRate(bytes);
}

HeapProfile heap_profile() {
  HeapProfile p;
  p.rate = alloc::g_mem_profile_rate.load(std::memory_order_relaxed);
  for (internal::HeapProfileSite& s : internal::HeapProfileSites()) {
    p.sites.push_back(HeapProfileSite{
        std::move(s.stack), std::move(s.functions), s.inuse_objects,
        s.inuse_bytes, s.alloc_objects, s.alloc_bytes, s.samples});
  }
  return p;
}

std::string HeapProfile::text(size_t top) const {
  return internal::FormatHeapProfile(ToInternal(sites), top);
}

std::string HeapProfile::pprof() const {
  return internal::EncodeHeapProfile(
      ToInternal(sites), rate,
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

void write_heap_profile(std::ostream& out) {
  const std::string bytes = heap_profile().pprof();
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_heap_profile(const std::string& path) {
  const std::string bytes = heap_profile().pprof();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    throw std::runtime_error("gcrt: gc::write_heap_profile: cannot open \"" +
                             path + "\": " + std::strerror(errno));
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    throw std::runtime_error("gcrt: gc::write_heap_profile: cannot write \"" +
                             path + "\": " + std::strerror(err));
  }
}

}  // namespace gc
