// One copy of gcrt per process.
//
// A program linked with libgcrt.a that loads a plugin linked with
// libgcrt.so holds two runtimes: two heaps and two collectors, each blind
// to the other's objects and threads. An object of one stored in an
// object of the other is reclaimed while in use, and a thread blocked in
// one holds the other's stops up for good. Nothing in the linker prevents
// it, so the first copy to start claims the process: it maps a record at
// a fixed address (MAP_FIXED_NOREPLACE), and a second copy, finding the
// address taken by another copy's record, stops the program naming both
// modules. The record is private memory: a fork's child inherits it with
// the copy that wrote it, and exec drops it.
//
// Where the address cannot be used (a kernel before 4.17 treats the flag
// as a hint; ThreadSanitizer keeps that range for itself; a foreign
// mapping there), the check is skipped and says nothing.
#pragma once

namespace gc::runtime {

// Called once, as the heap starts. Stops the program (Fatal) if another
// copy of gcrt claimed the process.
void ClaimProcess();

}  // namespace gc::runtime
