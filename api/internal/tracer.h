// Internal to gcrt: not part of the API, may change.
//
// gc::Tracer, the visitor trace functions and root sets are handed, is
// public (api/trace.h gives it its operator()), but defined in the
// collector's layer (gc/tracer.h), which constructs it and whose type
// records (alloc::TypeInfo::trace) name it.
#pragma once

#include "gcrt/gc/tracer.h"
