// fork() in a program that uses gcrt (Boehm GC's GC_atfork_* in spirit):
// the child gets a consistent heap in which the forking thread goes on,
// and the collector's own threads start again when the child first needs
// them. See gc/collector.h for the overview.
//
//   prepare  (parent, forking thread) stops the world - from any state of
//            the thread: running, inside gc::Blocking (popen and system
//            fork there), or not attached - so every mutator is parked at
//            a safepoint (no allocator or collector lock held, no span half
//            swept) or in a blocking region; then takes, in lock order
//            (runtime/lock_order.h), the locks threads the world does not
//            stop for may hold (the collector's, the background sweeper's,
//            the roots', the mark helpers', the finalizers', the weak
//            table's, the Centrals', the gcBits and page heap's - once no
//            scavenged window is in flight - and the processor table's).
//   parent   releases them and restarts the world.
//   child    only the forking thread exists: condition variables dead
//            threads waited on are made anew; every processor another
//            thread held goes back (its cache flushed into the Centrals)
//            and becomes idle; finalizers other threads were running count
//            as run; the locks are released and the world restarts. The
//            mark helpers, the background sweeper (and periodic cycles),
//            the finalizer thread, the scavenger and the census signal's
//            reader (gc/census_signal.h: the child gets a pipe of its own
//            at once) start again at the child's first cycle.
//
// What the dead threads held stays: their gc::Root handles keep their
// objects alive (a Root may have moved to the forking thread), objects they
// were constructing stay alive, never destroyed. A fork from inside a
// destructor the collector runs, a trace function, a root set callback or
// gc::free is not supported: the child's first collection stops the
// program with a message saying so.
#pragma once

namespace gc::internal {

// Registers the handlers (pthread_atfork), once; the collector calls it
// when it is created.
void InstallForkHandlers();

}  // namespace gc::internal
