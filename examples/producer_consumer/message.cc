#include "examples/producer_consumer/message.h"

#include <string>
#include <vector>

namespace producer_consumer {

namespace {

// SplitMix64's finalizer: payload numbers that look random but are a
// function of (producer, sequence, index).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

uint64_t Seed(uint32_t producer, uint32_t sequence) {
  return Mix(uint64_t{producer} << 32 | sequence);
}

uint32_t Length(uint64_t seed) { return 1 + seed % 64; }

uint64_t Combine(uint64_t checksum, uint64_t value) {
  return Mix(checksum ^ value);
}

}  // namespace

gc::Root<Message> MakeMessage(uint32_t producer, uint32_t sequence) {
  const uint64_t seed = Seed(producer, sequence);
  const uint32_t length = Length(seed);
  // Cell i (from 1, head first) holds Mix(seed + i); the checksum combines
  // them in list order.
  uint64_t checksum = 0;
  for (uint32_t i = 1; i <= length; i++)
    checksum = Combine(checksum, Mix(seed + i));
  // Built from the tail: `payload` is a gc::Root, so the cells made so far
  // survive the allocation of the next one.
  gc::Root<Cell> payload;
  for (uint32_t i = length; i > 0; i--) {
    payload = gc::make<Cell>(payload, Mix(seed + i));
  }
  return gc::make<Message>(producer, sequence, checksum, payload);
}

bool Intact(const Message& message) {
  // Reading needs no roots: the caller holds the message rooted, the cells
  // are reachable from it, and nothing here allocates.
  const uint64_t seed = Seed(message.producer, message.sequence);
  uint64_t checksum = 0;
  uint32_t i = 0;
  for (gc::Ptr<Cell> c = message.payload; c; c = c->next) {
    i++;
    if (c->value != Mix(seed + i)) return false;
    checksum = Combine(checksum, c->value);
  }
  return i == Length(seed) && checksum == message.checksum;
}

std::string CheckTallies(const std::vector<Tally>& tallies, uint32_t producers,
                         uint32_t per_producer) {
  std::vector<std::vector<uint32_t>> seen(
      producers, std::vector<uint32_t>(per_producer, 0));
  for (const Tally& tally : tallies) {
    if (tally.corrupt != 0) {
      return std::to_string(tally.corrupt) + " messages arrived corrupt";
    }
    for (uint64_t id : tally.ids) {
      uint32_t producer = id >> 32, sequence = id & 0xffffffffu;
      if (producer >= producers || sequence >= per_producer) {
        return "a message that was never sent";
      }
      seen[producer][sequence]++;
    }
  }
  for (uint32_t p = 0; p < producers; p++) {
    for (uint32_t s = 0; s < per_producer; s++) {
      if (seen[p][s] != 1) {
        return "message " + std::to_string(s) + " of producer " +
               std::to_string(p) + " arrived " + std::to_string(seen[p][s]) +
               " times";
      }
    }
  }
  return "";
}

}  // namespace producer_consumer
