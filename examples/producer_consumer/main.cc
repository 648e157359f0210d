// Objects handed between threads, twice: plain threads with a queue of
// gc::Root handles, then gcrt tasks (gc::go) with a gc::Channel and a
// gc::WaitGroup. Producers make messages (small graphs of GC objects with a
// checksum), consumers check each one; collections run all the while, and
// nothing in flight may be lost or reclaimed early.
//
// Standard output is deterministic (the test compares it with
// expected_output.txt); a failed check prints why on stderr and exits 1.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "examples/producer_consumer/message.h"
#include "examples/producer_consumer/root_queue.h"
#include "gcrt/gc.h"
#include "gcrt/task.h"

namespace producer_consumer {
namespace {

constexpr uint32_t kProducers = 2;
constexpr uint32_t kConsumers = 2;
constexpr uint32_t kPerProducer = 20000;

constexpr uint32_t kTaskProducers = 8;
constexpr uint32_t kTaskConsumers = 4;
constexpr uint32_t kPerTaskProducer = 5000;

// Fails the program unless every message arrived once and intact, and at
// least one collection ran while they were in flight.
void Report(const char* part, const std::vector<Tally>& tallies,
            uint32_t producers, uint32_t consumers, uint32_t per_producer,
            uint64_t collections) {
  std::string error = CheckTallies(tallies, producers, per_producer);
  if (!error.empty()) {
    std::fprintf(stderr, "producer_consumer: FAIL (%s): %s\n", part,
                 error.c_str());
    std::exit(1);
  }
  if (collections == 0) {
    std::fprintf(stderr,
                 "producer_consumer: FAIL (%s): no collection ran while "
                 "messages were in flight; send more\n",
                 part);
    std::exit(1);
  }
  std::fprintf(stderr, "producer_consumer: %s: %" PRIu64 " collections\n", part,
               collections);
  std::printf(
      "%s: %u producers sent %u messages, %u consumers received "
      "each once, all intact\n",
      part, producers, producers * per_producer, consumers);
}

void WithThreads() {
  const uint64_t cycles_before = gc::stats().num_gc;
  RootQueue<Message> queue(64);
  std::vector<Tally> tallies(kConsumers);
  {
    // gc::Thread is a std::thread whose join waits inside a gc::Blocking
    // scope: main may wait for a thread that allocates without holding its
    // collections up.
    std::vector<gc::Thread> consumers;
    for (uint32_t c = 0; c < kConsumers; c++) {
      consumers.emplace_back(gc::ThreadName{"consumer"}, [&queue, &tallies, c] {
        while (std::optional<gc::Root<Message>> message = queue.Pop()) {
          tallies[c].Count(**message);
        }
      });
    }
    std::vector<gc::Thread> producers;
    for (uint32_t p = 0; p < kProducers; p++) {
      producers.emplace_back(gc::ThreadName{"producer"}, [&queue, p] {
        for (uint32_t s = 0; s < kPerProducer; s++) {
          queue.Push(MakeMessage(p, s));
        }
      });
    }
    for (gc::Thread& t : producers) t.join();
    queue.Close();
  }  // the consumers join here, once they have drained the queue
  Report("threads", tallies, kProducers, kConsumers, kPerProducer,
         gc::stats().num_gc - cycles_before);
}

void WithTasks() {
  const uint64_t cycles_before = gc::stats().num_gc;
  // A buffered channel of rooted handles. While a message waits in the
  // buffer, the channel's own root set keeps it alive; handed straight to
  // a waiting receiver it is on a task's stack all the way.
  gc::Channel<gc::Root<Message>> channel(64);
  gc::WaitGroup producing;

  // A consumer task returns its tally; join() hands it back.
  std::vector<gc::Task<Tally>> consumers;
  for (uint32_t c = 0; c < kTaskConsumers; c++) {
    consumers.push_back(gc::go([&channel] {
      Tally tally;
      // recv() parks the task (its worker runs others meanwhile) until a
      // message comes, and returns nullopt once the channel is closed and
      // drained.
      while (std::optional<gc::Root<Message>> message = channel.recv()) {
        tally.Count(**message);
      }
      return tally;
    }));
  }
  producing.add(kTaskProducers);
  for (uint32_t p = 0; p < kTaskProducers; p++) {
    // Detached (the handle is dropped): the wait group says when all are
    // done. send() parks the task while the buffer is full.
    gc::go([&channel, &producing, p] {
      for (uint32_t s = 0; s < kPerTaskProducer; s++) {
        channel.send(MakeMessage(p, s));
      }
      producing.done();
    }).detach();
  }
  // main is a plain thread: wait() blocks it inside a gc::Blocking scope.
  producing.wait();
  channel.close();
  std::vector<Tally> tallies;
  for (gc::Task<Tally>& consumer : consumers)
    tallies.push_back(consumer.join());
  Report("tasks", tallies, kTaskProducers, kTaskConsumers, kPerTaskProducer,
         gc::stats().num_gc - cycles_before);
}

}  // namespace
}  // namespace producer_consumer

int main() {
  producer_consumer::WithThreads();
  producer_consumer::WithTasks();
  return 0;
}
