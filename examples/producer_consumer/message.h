// The objects the producers hand to the consumers, and how each side makes
// and checks them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gcrt/gc.h"

namespace producer_consumer {

// A payload cell: a linked list of numbers, so a message is a small graph
// of GC objects, not one block.
struct Cell {
  gc::Ptr<Cell> next;
  uint64_t value = 0;
};

// Aggregates of gc::Ptr and plain fields: no trace() needed.
struct Message {
  uint32_t producer = 0;
  uint32_t sequence = 0;
  uint64_t checksum = 0;  // over the payload, computed by the producer
  gc::Ptr<Cell> payload;
};

// A new message, rooted: its payload is 1 to 64 cells of numbers derived
// from (producer, sequence), so the consumer can tell what it should hold.
gc::Root<Message> MakeMessage(uint32_t producer, uint32_t sequence);

// Whether the message holds exactly what MakeMessage put in it: its
// checksum matches its payload, and the payload matches its producer and
// sequence number.
bool Intact(const Message& message);

// What one consumer received: every message's (producer, sequence), and the
// number whose contents were wrong.
struct Tally {
  std::vector<uint64_t> ids;  // producer << 32 | sequence
  uint64_t corrupt = 0;

  void Count(const Message& message) {
    ids.push_back(uint64_t{message.producer} << 32 | message.sequence);
    if (!Intact(message)) corrupt++;
  }
};

// Checks the consumers' tallies against what `producers` producers sent,
// `per_producer` each: every message received exactly once, and intact.
// Returns an empty string, or what went wrong.
std::string CheckTallies(const std::vector<Tally>& tallies, uint32_t producers,
                         uint32_t per_producer);

}  // namespace producer_consumer
