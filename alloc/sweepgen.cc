#include "gcrt/alloc/sweepgen.h"

#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/check.h"

namespace gc::alloc {

const char* SweepGen::StateName(State state) {
  switch (state) {
    case State::kUnswept:
      return "unswept (h-2)";
    case State::kSweeping:
      return "being swept (h-1)";
    case State::kSwept:
      return "swept (h)";
    case State::kCachedUnswept:
      return "cached, unswept (h+1)";
    case State::kCachedSwept:
      return "cached, swept (h+3)";
    case State::kInvalid:
      break;
  }
  return "invalid";
}

void SweepGen::Transition(const char* name, uint32_t h, State from,
                          uint32_t to) {
  // Relaxed: the caller owns the span's generation (its Cache, its Central
  // lock, or its claim), so no other thread stores it meanwhile.
  uint32_t sg = gen_.load(std::memory_order_relaxed);
  if (GCRT_PREDICT_FALSE(StateOf(sg, h) != from)) {
    BadTransition(name, sg, h, from);
  }
  gen_.store(to, std::memory_order_release);
}

void SweepGen::BadTransition(const char* name, uint32_t sg, uint32_t h,
                             State expected) {
  runtime::Print(
      "sweepgen transition %s: the span's generation is %u, %s, with the "
      "heap's generation h = %u; it must be %s",
      name, sg, StateName(StateOf(sg, h)), h, StateName(expected));
  GCRT_THROW("a span's sweepgen moves only by the protocol's transitions");
}

SweepClaim& SweepClaim::operator=(SweepClaim&& other) noexcept {
  if (this != &other) {
    if (span_ != nullptr) Dropped();
    span_ = other.span_;
    h_ = other.h_;
    cached_ = other.cached_;
    other.span_ = nullptr;
  }
  return *this;
}

SweepClaim::Counter SweepClaim::in_flight_;

SweepClaim SweepClaim::TryAcquire(Span* s, uint32_t h) {
  // Counted before the claim: a thread whose claim of s fails because this
  // one won (a walker, gc::Sweeper::Finish's or one it synchronizes with)
  // read this CAS, and so sees the count until the sweep is filed.
  in_flight_.n.fetch_add(1, std::memory_order_relaxed);
  uint32_t sg = h - 2;
  if (!s->sweepgen.gen_.compare_exchange_strong(sg, h - 1,
                                                std::memory_order_acq_rel)) {
    in_flight_.n.fetch_sub(1, std::memory_order_release);
    return SweepClaim();
  }
  return SweepClaim(s, h, /*cached=*/false);
}

void SweepClaim::SpanFreed() && {
  span_ = nullptr;
  if (!cached_) in_flight_.n.fetch_sub(1, std::memory_order_release);
}

SweepClaim SweepClaim::AcquireCachedStale(Span* s, uint32_t h) {
  uint32_t sg = s->sweepgen.gen_.load(std::memory_order_relaxed);
  if (GCRT_PREDICT_FALSE(SweepGen::StateOf(sg, h) !=
                         SweepGen::State::kCachedUnswept)) {
    SweepGen::BadTransition("AcquireCachedStale", sg, h,
                            SweepGen::State::kCachedUnswept);
  }
  return SweepClaim(s, h, /*cached=*/true);
}

void SweepClaim::Finish() && {
  Span* s = span_;
  span_ = nullptr;
  // The heap's generation moves only with the world stopped, after every
  // sweep in flight has finished (Sweeper::Finish): a claim never outlives
  // its generation.
  uint32_t h = Heap::Get().sweepgen();
  if (GCRT_PREDICT_FALSE(h != h_)) {
    runtime::Print(
        "a sweep claim taken at heap generation %u finished at generation %u",
        h_, h);
    GCRT_THROW("no sweep is in flight when the heap's sweepgen moves");
  }
  if (cached_) {
    s->sweepgen.Transition("Finish (cached)", h_,
                           SweepGen::State::kCachedUnswept, h_ + 3);
  } else {
    s->sweepgen.Transition("Finish", h_, SweepGen::State::kSweeping, h_);
    in_flight_.n.fetch_sub(1, std::memory_order_release);
  }
}

void SweepClaim::Dropped() {
  runtime::Print(
      "the sweep claim on span %#lx (heap generation %u) was dropped before "
      "Finish() or SpanFreed()",
      static_cast<unsigned long>(span_->base), h_);
  GCRT_THROW("every sweep claim ends in Finish() or SpanFreed()");
}

}  // namespace gc::alloc
