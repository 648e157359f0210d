// The census on a signal: GCRT_DEBUG=census=SIGUSR2 (or USR2, or a signal
// number; runtime/env.h says which signals are taken) prints gc::census()
// to stderr each time the process receives that signal, as a JVM prints
// its class histogram on SIGQUIT. Nothing is installed unless asked.
//
// The handler is async-signal-safe: it writes one byte to a non-blocking
// pipe (errno saved and restored; a byte that does not fit, the pipe being
// full of census requests already, is dropped). A thread of its own blocks
// reading the pipe while not attached to the GC heap, so it never holds up
// a stop of the world; for each byte it attaches, takes the census (which
// stops the world: Collector::RunWithHeapSwept), writes a header line
// naming the signal and the table to stderr, and detaches again.
//
// The handler replaces whatever the program had for that signal (the
// previous disposition is not chained: the signal is the census's). After
// fork() the child has a pipe of its own at once (the parent's thread goes
// on reading the parent's) and its reading thread starts again with the
// collector's other threads, at the child's first cycle: a signal the child
// receives before then is printed then.
#pragma once

namespace gc::internal {

// Installs the handler for `sig` and starts the reading thread. Called once,
// by the Collector's constructor, when GCRT_DEBUG asks for it.
void StartCensusOnSignal(int sig);

// In the child of a fork (gc/fork.cc, its only thread): a new pipe for the
// handler, the inherited one closed.
void ResetCensusSignalAfterFork();

// In the child of a fork, from Collector::RestartThreadsAfterFork: starts
// the reading thread again if the parent had one.
void RestartCensusSignalThreadAfterFork();

}  // namespace gc::internal
