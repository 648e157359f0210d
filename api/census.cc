#include "gcrt/census.h"

#include "gcrt/gc/census.h"

namespace gc {

Census census() {
  Census out;
  for (internal::CensusRow& row : internal::TakeCensus()) {
    out.objects += row.objects;
    out.bytes += row.bytes;
    out.types.push_back(
        CensusEntry{std::move(row.type), row.objects, row.bytes});
  }
  return out;
}

std::string Census::text(size_t top) const {
  std::vector<internal::CensusRow> rows;
  rows.reserve(types.size());
  for (const CensusEntry& e : types) {
    rows.push_back(internal::CensusRow{e.type, e.objects, e.bytes});
  }
  return internal::FormatCensus(rows, top);
}

}  // namespace gc
