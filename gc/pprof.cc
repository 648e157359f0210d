// See pprof.h. profile.proto's field numbers, as its definition gives them.
#include "gcrt/gc/pprof.h"

#include <map>
#include <unordered_map>

#include "gcrt/runtime/symbolize.h"

namespace gc::internal {

namespace {

// Profile
constexpr int kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4,
              kFunction = 5, kStringTable = 6, kTimeNanos = 9, kPeriodType = 11,
              kPeriod = 12;
// ValueType
constexpr int kValueTypeType = 1, kValueTypeUnit = 2;
// Sample
constexpr int kSampleLocationId = 1, kSampleValue = 2;
// Mapping
constexpr int kMappingId = 1, kMappingStart = 2, kMappingLimit = 3,
              kMappingOffset = 4, kMappingFilename = 5, kMappingBuildId = 6,
              kMappingHasFunctions = 7;
// Location
constexpr int kLocationId = 1, kLocationMappingId = 2, kLocationAddress = 3,
              kLocationLine = 4;
// Line
constexpr int kLineFunctionId = 1;
// Function
constexpr int kFunctionId = 1, kFunctionName = 2, kFunctionSystemName = 3;

// A protocol buffer message being written: varints and length-delimited
// fields.
class Message {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>(v | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void Tag(int field, int wire_type) {
    Varint(static_cast<uint64_t>(field) << 3 | wire_type);
  }
  void Uint(int field, uint64_t v) {
    if (v == 0) return;  // proto3: a zero is the default, left out
    Tag(field, 0);
    Varint(v);
  }
  void Bool(int field, bool v) { Uint(field, v ? 1 : 0); }
  void Bytes(int field, const std::string& bytes) {
    Tag(field, 2);
    Varint(bytes.size());
    out_ += bytes;
  }
  void Sub(int field, const Message& m) { Bytes(field, m.out_); }
  void Packed(int field, const std::vector<uint64_t>& values) {
    Message m;
    for (uint64_t v : values) m.Varint(v);
    Bytes(field, m.out_);
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

class StringTable {
 public:
  StringTable() { Index(""); }  // index 0 is the empty string
  uint64_t Index(const std::string& s) {
    auto [it, added] = index_.try_emplace(s, strings_.size());
    if (added) strings_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  std::unordered_map<std::string, uint64_t> index_;
  std::vector<std::string> strings_;
};

Message ValueType(StringTable& st, const char* type, const char* unit) {
  Message m;
  m.Uint(kValueTypeType, st.Index(type));
  m.Uint(kValueTypeUnit, st.Index(unit));
  return m;
}

}  // namespace

std::string EncodeHeapProfile(const std::vector<HeapProfileSite>& sites,
                              uint64_t rate, int64_t time_unix_ns) {
  StringTable st;
  Message profile;
  for (auto [type, unit] : {std::pair{"alloc_objects", "count"},
                            {"alloc_space", "bytes"},
                            {"inuse_objects", "count"},
                            {"inuse_space", "bytes"}}) {
    profile.Sub(kSampleType, ValueType(st, type, unit));
  }
  const Message period_type = ValueType(st, "space", "bytes");

  const std::vector<runtime::LoadedModule> modules = runtime::LoadedModules();
  auto mapping_of = [&](uintptr_t pc) -> uint64_t {
    for (size_t i = 0; i < modules.size(); i++) {
      if (pc >= modules[i].start && pc < modules[i].limit) return i + 1;
    }
    return 0;
  };
  std::map<uintptr_t, uint64_t> locations;    // pc -> location id
  std::map<std::string, uint64_t> functions;  // name -> function id
  Message locations_out, functions_out;
  for (const HeapProfileSite& s : sites) {
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < s.stack.size(); i++) {
      auto [it, added] =
          locations.try_emplace(s.stack[i], locations.size() + 1);
      ids.push_back(it->second);
      if (!added) continue;
      Message loc;
      loc.Uint(kLocationId, it->second);
      loc.Uint(kLocationMappingId, mapping_of(s.stack[i]));
      loc.Uint(kLocationAddress, s.stack[i]);
      if (!s.functions[i].empty()) {
        auto [f, new_function] =
            functions.try_emplace(s.functions[i], functions.size() + 1);
        if (new_function) {
          Message fn;
          fn.Uint(kFunctionId, f->second);
          fn.Uint(kFunctionName, st.Index(s.functions[i]));
          fn.Uint(kFunctionSystemName, st.Index(s.functions[i]));
          functions_out.Sub(kFunction, fn);
        }
        Message line;
        line.Uint(kLineFunctionId, f->second);
        loc.Sub(kLocationLine, line);
      }
      locations_out.Sub(kLocation, loc);
    }
    Message sample;
    sample.Packed(kSampleLocationId, ids);
    sample.Packed(kSampleValue, {s.alloc_objects, s.alloc_bytes,
                                 s.inuse_objects, s.inuse_bytes});
    profile.Sub(kSample, sample);
  }
  for (size_t i = 0; i < modules.size(); i++) {
    Message m;
    m.Uint(kMappingId, i + 1);
    m.Uint(kMappingStart, modules[i].start);
    m.Uint(kMappingLimit, modules[i].limit);
    m.Uint(kMappingOffset, modules[i].file_offset);
    m.Uint(kMappingFilename, st.Index(modules[i].path));
    m.Uint(kMappingBuildId, st.Index(modules[i].build_id));
    m.Bool(kMappingHasFunctions, true);
    profile.Sub(kMapping, m);
  }
  std::string out = profile.str() + locations_out.str() + functions_out.str();
  Message tail;
  for (const std::string& s : st.strings()) tail.Bytes(kStringTable, s);
  tail.Uint(kTimeNanos, static_cast<uint64_t>(time_unix_ns));
  tail.Sub(kPeriodType, period_type);
  tail.Uint(kPeriod, rate);
  return out + tail.str();
}

}  // namespace gc::internal
