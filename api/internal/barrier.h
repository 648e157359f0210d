// Internal to gcrt: not part of the API, may change.
//
// The write barrier gc::Ptr inlines (gc/barrier.h).
#pragma once

#include "gcrt/gc/barrier.h"
