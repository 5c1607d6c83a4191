// Sizes a payload declares never cause an allocation beyond what the target (the model's layout)
// allows: a decoder checks its counts against the bytes present and the target size before it
// allocates anything. This binary replaces the global operator new to record the largest single
// allocation made while a decode runs (its own executable: the replacement is program-wide).
#include "fedpp/compression/compression.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <vector>

namespace {
std::atomic<bool> tracking{false};
std::atomic<std::size_t> largest{0};

void note(std::size_t n) noexcept {
  if (!tracking.load(std::memory_order_relaxed)) return;
  std::size_t seen = largest.load(std::memory_order_relaxed);
  while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}
void* allocate(std::size_t n, std::size_t align) {
  note(n);
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n == 0 ? 1 : n)
                                               : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
} // namespace

void* operator new(std::size_t n) { return allocate(n, 0); }
void* operator new[](std::size_t n) { return allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace fc = fedpp::compression;

namespace {

// Decodes `p` into a 16-element accumulator (the payload is for 2^20 elements, so it is refused
// as the wrong size) and returns the largest allocation made meanwhile.
std::size_t largest_allocation_decoding(const std::vector<std::byte>& p) {
  std::vector<float> acc(16, 0.0F);
  largest = 0;
  tracking = true;
  try {
    fc::decode_accumulate(p, 1.0F, acc);
  } catch (const fedpp::error&) {
  }
  tracking = false;
  return largest;
}

std::vector<float> ramp(std::size_t d) {
  std::vector<float> x(d);
  for (std::size_t i = 0; i < d; ++i) x[i] = static_cast<float>(i % 7) - 3.0F;
  return x;
}

// Not inlined: with the vector's size known after inlining, GCC 12 warns (falsely) that the
// compressors' scan loop could overflow its pointer.
template <class C>
[[gnu::noinline]] std::vector<std::byte> payload(const C& c, std::span<const float> x) {
  std::vector<std::byte> p;
  c.compress(x, 1, p);
  return p;
}

} // namespace

// Payloads with one scale per element (chunk 1) or k = D values carry megabytes of counts the
// decoder used to copy (scales, norms, indices) before it compared D with the target.
TEST(CompressionAllocation, DeclaredSizesAreCheckedAgainstTheTargetBeforeAllocating) {
  const auto x = ramp(std::size_t{1} << 20);
  const std::vector<std::vector<std::byte>> payloads{
      payload(fc::uniform_quantizer(8, 1), x),
      payload(fc::uniform_quantizer(1, 1, fc::rounding::nearest, true), x),
      payload(fc::qsgd(7, 1), x),
      payload(fc::sign_compressor(true, 1), x),
      payload(fc::sparsifier::top_fraction(1.0), x),
      payload(fc::sparsifier::top_fraction(0.01), x),
      payload(fc::float_cast(), x)};
  for (const auto& p : payloads) {
    ASSERT_GT(p.size(), 32768U);
    // A refusal builds a message; nothing near the payload's counts (megabytes) is allocated.
    EXPECT_LE(largest_allocation_decoding(p), 4096U) << fc::to_string(fc::peek_header(p).scheme);
  }
}

// The tracker works: decoding into the right size allocates what the layout implies (the rotated
// quantizer's P-element buffer, QSGD's D codes, the sparse indices).
TEST(CompressionAllocation, TheTrackerSeesTheDecodersOwnBuffers) {
  const std::size_t d = 4096;
  const auto p = payload(fc::qsgd(7, 64), ramp(d));
  std::vector<float> acc(d, 0.0F);
  largest = 0;
  tracking = true;
  fc::decode_accumulate(p, 1.0F, acc);
  tracking = false;
  EXPECT_GE(largest.load(), d); // the D one-byte codes
  EXPECT_LE(largest.load(), 2 * d);
}
