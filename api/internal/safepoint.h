// Internal to gcrt: not part of the API, may change.
//
// The safepoint glue gc::safepoint and gc::Blocking inline (api/gc.h,
// api/thread.h): the mutator's side of safepoints (runtime/safepoint_poll.h:
// the poll, one load and a predicted branch, and BlockingRegion), without
// stop-the-world.
#pragma once

#include "gcrt/runtime/safepoint_poll.h"
