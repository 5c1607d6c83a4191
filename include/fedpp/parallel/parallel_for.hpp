/// \file parallel_for.hpp
/// Splits an index range into contiguous chunks and runs them on a user-supplied thread_pool.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <cstddef>
#include <string>

namespace fedpp::parallel {

/// Calls body(chunk_begin, chunk_end) over contiguous chunks covering [begin, end), at most one
/// chunk per pool thread. Every chunk boundary except `end` is `begin` plus a multiple of
/// `granularity`, so callers can keep boundaries aligned to their blocking and get results
/// identical to a serial call. The first exception thrown by a chunk is rethrown (see
/// thread_pool::run). Throws invalid_config when granularity is 0 or begin > end.
template <class Body>
void parallel_for(thread_pool& pool, std::size_t begin, std::size_t end, std::size_t granularity,
                  Body&& body) {
  if (granularity == 0) throw invalid_config("parallel_for: granularity must be at least 1, got 0");
  if (begin > end)
    throw invalid_config("parallel_for: begin " + std::to_string(begin) + " is past end " +
                         std::to_string(end));
  const std::size_t n = end - begin;
  if (n == 0) return;
  const std::size_t units = (n + granularity - 1) / granularity; // granules, the last maybe partial
  const std::size_t chunks = units < pool.size() ? units : pool.size();
  // Chunk c gets units/chunks granules, the first units%chunks chunks one more.
  const std::size_t base = units / chunks, extra = units % chunks;
  pool.run(chunks, [&](std::size_t c) {
    const std::size_t first_unit = c * base + (c < extra ? c : extra);
    const std::size_t count = base + (c < extra ? 1 : 0);
    const std::size_t lo = begin + first_unit * granularity;
    const std::size_t hi_units = first_unit + count;
    const std::size_t hi = hi_units >= units ? end : begin + hi_units * granularity;
    body(lo, hi);
  });
}

/// parallel_for with granularity 1.
template <class Body>
void parallel_for(thread_pool& pool, std::size_t begin, std::size_t end, Body&& body) {
  parallel_for(pool, begin, end, 1, static_cast<Body&&>(body));
}

} // namespace fedpp::parallel
