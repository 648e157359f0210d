// Internal to gcrt: not part of the API, may change.
//
// The weak-reference glue gc::Weak inlines (api/weak.h), from the
// collector's weak references (gc/weak.h): WeakRef (what a gc::Weak holds),
// WeakTarget (the cell's seqlock read, inline: gc::Weak::lock and
// get_unrooted) and WeakRefFor (out of line).
#pragma once

#include "gcrt/gc/weak.h"
