// Generates alloc/size_classes.inc, the allocator's size-class table, and
// prints it to stdout:
//
//   bazel run //alloc:size_classes_gen > alloc/size_classes.inc
//
// The policy is the one of Go 1.19 (src/runtime/mksizeclasses.go),
// reimplemented here so that gcrt rounds and packs small objects exactly as
// Go does, which gives 68 classes counting the dummy class 0:
//
//   - Spans are made of 8 KiB pages. Requests up to kMaxSmallSize = 32768
//     bytes get a size class; larger ones a span of their own (class 0).
//   - Candidate sizes step by an alignment that widens at powers of two:
//     8 bytes below 32, then 16 (the mark bitmaps assume 16-byte slots from
//     32 bytes up), size/8 from 128 (so rounding up wastes at most ~12.5%),
//     and 256 from 2048.
//   - Each candidate gets the fewest pages whose leftover tail after packing
//     objects is at most 1/8 of the span (allocsize % size <= allocsize / 8),
//     so tail waste is at most 12.5%.
//   - A candidate that packs the same number of objects into the same number
//     of pages as the previous class replaces that class's size: two such
//     classes would only split the free lists for no memory saving.
//   - Each class then grows to the largest size that still packs its object
//     count into its pages, rounded down to 128 bytes so that the coarse
//     size-to-class array (128-byte steps above 1 KiB) stays exact.
//
// The generator checks its own output and aborts rather than print a table
// the runtime would mis-use: sizes increasing, the per-class division magic
// exact for every offset in the span, and both lookup arrays answering the
// smallest fitting class for every size.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// These mirror alloc/size_classes.h, which the generated file relies on; the
// generator cannot include it, since that header includes the output.
constexpr int kPageShift = 13;
constexpr int kPageSize = 1 << kPageShift;
constexpr int kMaxSmallSize = 32768;
constexpr int kSmallSizeDiv = 8;
constexpr int kSmallSizeMax = 1024;
constexpr int kLargeSizeDiv = 128;

struct SizeClass {
  int size = 0;    // bytes per object
  int npages = 0;  // pages per span
};

bool IsPowerOfTwo(int x) { return x > 0 && (x & (x - 1)) == 0; }

[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "size_classes_gen: %s\n", why.c_str());
  std::abort();
}

int SpanBytes(const SizeClass& c) { return c.npages * kPageSize; }
int ObjectsPerSpan(const SizeClass& c) { return SpanBytes(c) / c.size; }

std::vector<SizeClass> MakeClasses() {
  // Class 0 stands for "no small class": large objects.
  std::vector<SizeClass> classes(1);

  int align = 8;
  for (int size = align; size <= kMaxSmallSize; size += align) {
    if (IsPowerOfTwo(size)) {
      if (size >= 2048) {
        align = 256;
      } else if (size >= 128) {
        align = size / 8;
      } else if (size >= 32) {
        align = 16;
      }
    }
    if (!IsPowerOfTwo(align)) Fail("alignment is not a power of two");

    int span = kPageSize;
    while (span % size > span / 8) span += kPageSize;
    const int npages = span / kPageSize;

    SizeClass& prev = classes.back();
    if (classes.size() > 1 && prev.npages == npages &&
        span / prev.size == span / size) {
      prev.size = size;
      continue;
    }
    classes.push_back({size, npages});
  }

  // Example: 8448 bytes packs 6 objects into 7 pages, and so does 9472; the
  // larger size serves more requests at no cost in memory.
  for (size_t i = 1; i < classes.size(); ++i) {
    SizeClass& c = classes[i];
    const int span = SpanBytes(c);
    const int grown = (span / (span / c.size)) & ~(kLargeSizeDiv - 1);
    if (grown > c.size) c.size = grown;
  }
  return classes;
}

// The multiplier m with (n * m) >> 32 == n / size, as in Go's divMul.
uint32_t DivMagic(int size) {
  return ~uint32_t{0} / static_cast<uint32_t>(size) + 1;
}

// Smallest class whose size is at least `size`.
int SmallestFittingClass(const std::vector<SizeClass>& classes, int size) {
  for (size_t i = 0; i < classes.size(); ++i) {
    if (classes[i].size >= size) return static_cast<int>(i);
  }
  Fail("no class fits " + std::to_string(size) + " bytes");
}

struct Lookups {
  std::vector<int> by8;    // [(size + 7) / 8] for size <= kSmallSizeMax
  std::vector<int> by128;  // [(size - 1024 + 127) / 128] above kSmallSizeMax
};

// Entry i covers the sizes that round up to its step, so it holds the class
// of the largest size in the step (Go fills the arrays the same way).
Lookups MakeLookups(const std::vector<SizeClass>& classes) {
  Lookups l;
  for (int i = 0; i <= kSmallSizeMax / kSmallSizeDiv; ++i) {
    l.by8.push_back(SmallestFittingClass(classes, i * kSmallSizeDiv));
  }
  for (int i = 0; i <= (kMaxSmallSize - kSmallSizeMax) / kLargeSizeDiv; ++i) {
    l.by128.push_back(
        SmallestFittingClass(classes, kSmallSizeMax + i * kLargeSizeDiv));
  }
  return l;
}

int LookupClass(const Lookups& l, int size) {
  if (size <= kSmallSizeMax) {
    return l.by8[(size + kSmallSizeDiv - 1) / kSmallSizeDiv];
  }
  return l.by128[(size - kSmallSizeMax + kLargeSizeDiv - 1) / kLargeSizeDiv];
}

void Check(const std::vector<SizeClass>& classes, const Lookups& lookups) {
  // The lookup arrays hold uint8_t class numbers.
  if (classes.size() > 256) Fail("too many classes for uint8_t lookups");
  if (classes.back().size != kMaxSmallSize) Fail("last class is not 32 KiB");
  for (size_t i = 1; i < classes.size(); ++i) {
    const SizeClass& c = classes[i];
    const std::string name = "class " + std::to_string(i);
    if (c.size <= classes[i - 1].size) Fail(name + ": sizes not increasing");
    if (c.size % 8 != 0) Fail(name + ": size not a multiple of 8");
    if (c.size > kSmallSizeMax && c.size % kLargeSizeDiv != 0) {
      Fail(name + ": size above 1 KiB not a multiple of 128");
    }
    const int span = SpanBytes(c);
    if (span % c.size > span / 8) Fail(name + ": tail waste above 12.5%");
    // Offsets up to and including the span end (Go checks the same range),
    // so a pointer one past the last slot also divides correctly.
    const uint64_t magic = DivMagic(c.size);
    for (int64_t n = 0; n <= span; ++n) {
      if (static_cast<int64_t>((n * magic) >> 32) != n / c.size) {
        Fail(name + ": division magic inexact at offset " + std::to_string(n));
      }
    }
  }
  for (int size = 1; size <= kMaxSmallSize; ++size) {
    if (LookupClass(lookups, size) != SmallestFittingClass(classes, size)) {
      Fail("lookup arrays wrong for size " + std::to_string(size));
    }
  }
}

void PrintComment(const std::vector<SizeClass>& classes) {
  std::printf(
      "// class  bytes/obj  bytes/span  objects  tail waste  max waste  "
      "min align\n");
  for (size_t i = 1; i < classes.size(); ++i) {
    const SizeClass& c = classes[i];
    const int span = SpanBytes(c);
    const int objects = ObjectsPerSpan(c);
    const int tail = span % c.size;
    // Worst case: every object is one byte larger than the previous class,
    // so each slot wastes (size - prev - 1) bytes on top of the tail.
    const int prev = classes[i - 1].size;
    const double max_waste =
        100.0 * ((c.size - prev - 1) * objects + tail) / span;
    // Slots start at multiples of the size from a page-aligned base.
    int min_align = c.size & -c.size;
    if (min_align > kPageSize) min_align = kPageSize;
    std::printf("// %5zu  %9d  %10d  %7d  %10d  %8.2f%%  %9d\n", i, c.size,
                span, objects, tail, max_waste, min_align);
  }
}

// Prints `values` as the body of a braced initializer, `per_line` a line.
void PrintValues(const std::vector<uint64_t>& values, int per_line) {
  for (size_t i = 0; i < values.size(); ++i) {
    const bool first = i % per_line == 0;
    std::printf("%s%llu,", first ? "\n    " : " ",
                static_cast<unsigned long long>(values[i]));
  }
  std::printf("\n};\n\n");
}

void PrintClassArray(const char* name, const std::vector<SizeClass>& classes,
                     uint64_t (*value)(const SizeClass&)) {
  std::printf("inline constexpr uint32_t %s[kNumSizeClasses] = {", name);
  std::vector<uint64_t> values;
  for (const SizeClass& c : classes) values.push_back(value(c));
  PrintValues(values, 8);
}

void PrintLookup(const char* name, const char* bound,
                 const std::vector<int>& classes) {
  std::printf("inline constexpr uint8_t %s[%s] = {", name, bound);
  PrintValues(std::vector<uint64_t>(classes.begin(), classes.end()), 16);
}

}  // namespace

int main() {
  const std::vector<SizeClass> classes = MakeClasses();
  const Lookups lookups = MakeLookups(classes);
  Check(classes, lookups);

  std::printf("// Generated by alloc/size_classes_gen.cc; DO NOT EDIT.\n");
  // The checked-in file must stay byte-identical to the generator's output.
  std::printf("// clang-format off\n\n");
  PrintComment(classes);
  std::printf("\nnamespace gc::alloc {\n\n");
  std::printf("inline constexpr int kNumSizeClasses = %zu;\n\n",
              classes.size());
  PrintClassArray("kClassToSize", classes,
                  [](const SizeClass& c) -> uint64_t { return c.size; });
  PrintClassArray("kClassToNPages", classes,
                  [](const SizeClass& c) -> uint64_t { return c.npages; });
  PrintClassArray("kClassToNElems", classes,
                  [](const SizeClass& c) -> uint64_t {
                    return c.size == 0 ? 0 : ObjectsPerSpan(c);
                  });
  PrintClassArray("kClassDivMagic", classes,
                  [](const SizeClass& c) -> uint64_t {
                    return c.size == 0 ? 0 : DivMagic(c.size);
                  });
  PrintLookup("kSizeToClass8", "kSmallSizeMax / kSmallSizeDiv + 1",
              lookups.by8);
  PrintLookup("kSizeToClass128",
              "(kMaxSmallSize - kSmallSizeMax) / kLargeSizeDiv + 1",
              lookups.by128);
  std::printf("}  // namespace gc::alloc\n");
  std::printf("// clang-format on\n");
  return 0;
}
