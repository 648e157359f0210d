// Internal to gcrt: not part of the API, may change.
//
// The handle glue the API inlines, from the collector's roots (gc/roots.h):
//
//   gc::Root        CurrentHandles, HandleArena::Take, GiveHandle, SetHandle
//                   (the owning thread's fast paths: no lock, no atomic)
//   gc::Global      TakeGlobal, GiveGlobal
//   gc::make        HandleArena::BeginConstruction, EndConstruction,
//                   KeepIfConstructing (the construction stack)
//   gc::RootSet,    RootSetRecord, RegisterRootSet, UnregisterRootSet
//   gc::RootRange
//
// The fast paths need the HandleArena's layout, so gc/roots.h is included
// whole (the root registry the marker uses comes with it); it includes no
// collector, sweeper or heap.
#pragma once

#include "gcrt/gc/roots.h"
