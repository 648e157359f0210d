// The lock order of gcrt (Go's lockrank.go, as a list): every lock of the
// library, outermost first. A thread that holds a lock takes only locks
// below it; the arrows say which nestings the code has today. Locks that
// are never held together may still be taken in any order. Every lock is
// a runtime::Mutex (runtime/mutex.h); the analysis (clang -Wthread-safety)
// checks what each guards, not this order.
//
//   the stopped world   runtime (safepoint.h). A capability, not a lock
//                       (runtime::kWorldStopped): StopTheWorld is called
//                       holding none of the locks below, and the collector
//                       and the fork handler take them with the world
//                       stopped.
//    0 Collector::cycle_mu_      gc/collector.h   one cycle at a time; taken
//                                  and waited on only inside a blocking
//                                  region, and by the fork handler before
//                                  it stops the world
//    1 Collector::mu_            gc/collector.h   configuration, statistics
//    2 Sweeper::mu_              gc/sweeper.h     the background sweeper
//    3 Quarantine::mu            gc/free.cc       gc::free's debug quarantine
//                                  -> 9, 10 (specials released), 11 to 15
//                                  (FreeQuarantined frees under it)
//    4 RootRegistry::globals_mu_ gc/roots.h       the global handle arena
//                                  -> 5 (BeginMarking), 6 (TakeGlobal)
//    5 RootRegistry::mu_         gc/roots.h       arenas and root sets; held
//                                  with 4 through marking: -> 6, 7, 8, 9
//    6 HandleArena::mu_          gc/roots.h       one arena's chunks; never
//                                  two at once (the fork handler takes all,
//                                  in list order)
//    7 MarkThreads::mu_          gc/marker.cc     the mark helpers; taken
//                                  by MarkThreads::Offer from any thread
//                                  that queues work (an assisting
//                                  mutator's too), under 5 and, marking
//                                  finalizer roots, under 9: never the
//                                  other way but in the fork handler,
//                                  which runs with no marking
//    8 WorkPool::mu_             gc/marker.cc     one marking's work buffers
//    9 g_fin_mu                  gc/finalizer.cc  finalizer registry, queue
//                                  -> 13
//   10 g_weak_mu                 gc/weak.cc       weak specials, cells
//                                  -> 13
//   11 Heap::large_mu_           alloc/heap.h     frees of large objects
//                                  -> 13, 15
//   12 Central::mu_              alloc/central.h  one span class's lists;
//                                  never two at once (but the fork handler)
//   13 Span::specials_lock       alloc/span.h     one span's specials; never
//                                  two at once
//   14 GcBitsArenas::mu_         alloc/gc_bits.h  gcBits arenas
//   15 PageHeap::mu_             alloc/page_heap.h  free pages, scavenger
//   16 ProcessorTable::mu_       runtime/processor.h  processors, the
//                                  stop-the-world handshake
//   17 Quarantine::mu            gc/quarantine.cc  reclaimed objects kept a
//                                  cycle; a leaf, taken with no other lock
//                                  held (the fork handler takes it after 15)
//   18 ShadedQueue::mu           gc/marker.cc     objects the write barrier
//                                  shaded; a leaf, taken from gc::Ptr stores
//                                  under any lock the program holds
//   19 Heap::black_mu_           alloc/heap.h     large objects allocated
//                                  black; a leaf
//   20 RetiredTables::mu         alloc/type_table.cc  type tables replaced
//                                  while marking; a leaf
//   21 Collector::background_mu_ gc/collector.h   the background cycle's
//                                  request; a leaf (the fork handler takes
//                                  it after 1)
//   22 Assists::mu               gc/marker.cc     mark assists' results; a
//                                  leaf
//   23 Collector::oom_mu_        gc/collector.h   the out-of-memory callback;
//                                  a leaf, taken by an allocation that found
//                                  no memory (with no other lock held; the
//                                  callback runs with none)
//   24 EphemeronLog::mu          gc/ephemeron.cc  gc::WeakMap entries
//                                  written while marking; a leaf, taken
//                                  from gc::WeakMap stores under any lock
//                                  the program holds, only while the write
//                                  barrier is on
//   25 g_profile_mu              gc/heap_profile.cc  the heap profile's
//                                  buckets; a leaf, taken by allocation slow
//                                  paths, by frees (under 3 or 11), with the
//                                  world stopped at mark termination, and
//                                  by the fork handler last
//   26 a task primitive's lock   runtime/task.h, api/task.h  TaskShared's
//                                  (join), gc::WaitGroup's, gc::TaskMutex's,
//                                  gc::Channel's: a task parks holding it
//                                  and its worker releases it once the task
//                                  has switched out (Waiter::Wait); wakes
//                                  happen after it is released
//   27 Scheduler::mu_            runtime/scheduler.cc  the global run
//                                  queue, idle slots, waiting workers; a
//                                  leaf
//   28 Slot::mu                  runtime/scheduler.cc  a slot's local run
//                                  queue; a leaf
//   29 TaskRegistry::mu          runtime/scheduler.cc  live tasks, for the
//                                  stack scan: a leaf, taken with the world
//                                  stopped under 4 and 5 (RootJobs)
//   30 StackPool::mu             runtime/task_stack.cc  pooled task
//                                  stacks; a leaf
//
// Destructors and finalizers (user code) run with none of them held; trace
// functions and root set callbacks run under 4 and 5 (marking) and may
// take none.
//
// The fork handler (gc/fork.cc) takes 0 (waiting for a cycle that marks
// beside the program to end), stops the world, then takes 1, 2, 4, 5, all
// of 6, 7, 9, 10, every 12, 14, 15, 16, 25 in this order. It leaves 11, which
// only threads the world stops for take (never across a safepoint), and 3,
// which those threads write under it (and debug builds' pointer checks on
// any thread read under it); 8 exists only while marking; 18 to 20, 22 to 24
// are leaves no cycle holds while the world is stopped for a fork (none
// runs).
#pragma once
