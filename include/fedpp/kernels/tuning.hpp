/// \file tuning.hpp
/// Compile-time tuning knobs of the kernels (constexpr, not macros).
#pragma once

#include <cstddef>

namespace fedpp::kernels {

/// Blocking of weighted_sum: out is processed in blocks of `block_elements`, and within a block
/// the K inputs are consumed `group` at a time, so each accumulator element is loaded and stored
/// once per group (not once per input) while the block stays in L1.
struct weighted_sum_tuning {
  /// Elements of out per block (a multiple of every vector width; 8192 doubles = 64 KiB, in L2).
  /// Measured on AMD EPYC (Zen 5, 1 MiB L2), K = 32, D = 4M: 2048 to 65536 are within noise of
  /// each other once prefetching is on; below 2048 the per-block stream restarts cost.
  static constexpr std::size_t block_elements = 8192;
  /// Inputs folded into the accumulator per pass over a block.
  static constexpr std::size_t group = 8;
  /// Software prefetch distance in input elements (0: none). With `group` streams read in
  /// short bursts the hardware prefetchers lag; prefetching 1 KiB ahead in each input stream
  /// gained about 20% on the development machine (docs/benchmarks.md).
  static constexpr std::size_t prefetch_elements = 256;
};

/// Blocking of weighted_sum_checked in place: a block of every input is checked for NaN/Inf and
/// then folded while it is still in cache (L3), so the K blocks together must fit there; long
/// blocks matter because short per-input bursts starve the hardware prefetchers.
struct checked_weighted_sum_tuning {
  /// Bytes of input (all K inputs together) per block.
  static constexpr std::size_t cache_budget_bytes = std::size_t{4} << 20;
  /// Bounds of the block length in elements (multiples of 64, so of every vector width).
  static constexpr std::size_t min_block_elements = 512;
  static constexpr std::size_t max_block_elements = 65536;
};

/// Chunking of the parallel kernels: chunks are whole multiples of this many elements so that
/// every element is computed by the same code path as in the serial call (bitwise-equal results).
struct parallel_tuning {
  /// Granularity of a chunk (a multiple of weighted_sum_tuning::block_elements).
  static constexpr std::size_t chunk_granularity = weighted_sum_tuning::block_elements;
};

} // namespace fedpp::kernels
