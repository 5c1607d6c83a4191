/// \file tuning.hpp
/// Compile-time tuning knobs of the kernels (constexpr, not macros).
#pragma once

#include <cstddef>

namespace fedpp::kernels {

/// Blocking of weighted_sum: out is processed in blocks of `block_elements`, and within a block
/// the K inputs are consumed `group` at a time, so each accumulator element is loaded and stored
/// once per group (not once per input) while the block stays in L1.
struct weighted_sum_tuning {
  /// Elements of out per block (a multiple of every vector width; 2048 doubles = 16 KiB).
  static constexpr std::size_t block_elements = 2048;
  /// Inputs folded into the accumulator per pass over a block.
  static constexpr std::size_t group = 8;
};

/// Chunking of the parallel kernels: chunks are whole multiples of this many elements so that
/// every element is computed by the same code path as in the serial call (bitwise-equal results).
struct parallel_tuning {
  /// Granularity of a chunk (a multiple of weighted_sum_tuning::block_elements).
  static constexpr std::size_t chunk_granularity = 4 * weighted_sum_tuning::block_elements;
};

} // namespace fedpp::kernels
