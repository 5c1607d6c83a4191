/// \file count_sketch.hpp
/// Count sketch (Charikar, Chen & Farach-Colton 2002) of a D-dimensional vector, as FetchSGD uses
/// it (Rothchild et al. 2020, "FetchSGD: Communication-Efficient Federated Learning with
/// Sketching"): r rows × c columns; row j adds s_j(i)·x_i to bucket h_j(i). Linear:
/// S(a) + S(b) = S(a + b), so a server sums the clients' sketches without decoding them, and
/// recovers heavy hitters from the sum: x̂_i = median_j s_j(i)·S[j, h_j(i)].
///
/// Hashing (intentional difference from the textbook's independent h_j(i)): coordinates are hashed
/// in blocks of B = 64 consecutive indices — h_j(i) = 64·g_j(⌊i/64⌋) + (i mod 64) with g_j a hash
/// into c/64 block slots — while the signs s_j(i) are hashed per coordinate. Two coordinates
/// collide in row j with probability 64/c if they share i mod 64 and never otherwise, so each
/// coordinate still meets D/c others in expectation, the estimate stays unbiased (independent
/// signs) with the textbook variance Σ_{k collides} x_k², and insertion becomes a streaming,
/// vectorizable add of contiguous blocks instead of a scattered one. Hashes come from `seed`,
/// which server and clients share.
///
/// Payload body after the common header (param = r, chunk = c, size = D): u64 seed, r·c × f32.
#pragma once

#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/kernels.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/top_k.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

/// An r × c count sketch of D-dimensional vectors (see the file comment).
class count_sketch {
public:
  /// Coordinates hashed together (columns must be a multiple of it).
  static constexpr std::size_t block = 64;
  /// Most rows (the signs of all rows come from one 32-bit hash per coordinate).
  static constexpr std::size_t max_rows = 32;
  /// Most columns a payload may claim (2^28).
  static constexpr std::size_t max_columns = std::size_t{1} << 28;

  /// An empty sketch. Throws invalid_config unless 1 ≤ rows ≤ 32 and columns is a positive
  /// multiple of 64 up to 2^28.
  count_sketch(std::size_t rows, std::size_t columns, std::size_t dimension, std::uint64_t seed)
      : rows_(rows), cols_(columns), dim_(dimension), seed_(seed) {
    if (rows < 1 || rows > max_rows)
      throw invalid_config("count_sketch: " + std::to_string(rows) + " rows, expected 1..32");
    if (columns == 0 || columns % block != 0 || columns > max_columns)
      throw invalid_config("count_sketch: " + std::to_string(columns) +
                           " columns, expected a positive multiple of 64 up to 2^28");
    table_.assign(rows * columns, 0.0F);
    sign_key_ = counter_key::from_seed(seed ^ 0x7369676e73ULL);
    for (std::size_t j = 0; j < rows; ++j)
      row_keys_[j] = counter_key::from_seed(seed + 0x9e3779b97f4a7c15ULL * (j + 1));
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t columns() const noexcept { return cols_; }
  [[nodiscard]] std::size_t dimension() const noexcept { return dim_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  /// The r × c table, row-major.
  [[nodiscard]] std::span<const float> table() const noexcept { return table_; }
  /// Payload bytes of this sketch.
  [[nodiscard]] std::size_t payload_bytes() const noexcept {
    return payload_header_bytes + 8 + 4 * table_.size();
  }
  /// True when `other` hashes identically (same r, c, D, seed), i.e. the two can be summed.
  [[nodiscard]] bool compatible(const count_sketch& other) const noexcept {
    return rows_ == other.rows_ && cols_ == other.cols_ && dim_ == other.dim_ && seed_ == other.seed_;
  }

  /// Column of coordinate i in row j.
  [[nodiscard]] std::size_t bucket(std::size_t j, std::size_t i) const noexcept {
    return block_base(j, i / block) + i % block;
  }
  /// Sign (+1/−1) of coordinate i in row j.
  [[nodiscard]] float sign(std::size_t j, std::size_t i) const noexcept {
    return ((counter_hash(sign_key_, i) >> j) & 1U) != 0 ? -1.0F : 1.0F;
  }

  /// Adds x (D elements) to the sketch: S += S(x).
  void insert(std::span<const float> x) {
    if (x.size() != dim_)
      throw invalid_config("count_sketch::insert: " + std::to_string(x.size()) +
                           " elements, the sketch is for " + std::to_string(dim_));
#if defined(__x86_64__) && defined(__GNUC__) && FEDPP_RUNTIME_DISPATCH
    // The 64-wide loops vectorize at any -O level; the hash's 32-bit multiplies want AVX2 or
    // better, which a plain -O2 build (SSE2) only reaches through this run-time choice.
    if (kernels::active_isa() == kernels::isa::avx512) return insert_avx512(x);
    if (kernels::active_isa() == kernels::isa::avx2) return insert_avx2(x);
#endif
    insert_blocks(x);
  }

  /// Adds the sparse vector {indices[j]: values[j]} (S += S(x) for a k-sparse x, in O(k·r)): how
  /// FetchSGD subtracts the coordinates it applied from its error sketch. Throws invalid_config
  /// (unchanged) for mismatched lengths or an index ≥ D.
  void insert_sparse(std::span<const std::uint32_t> indices, std::span<const float> values) {
    if (indices.size() != values.size())
      throw invalid_config("count_sketch::insert_sparse: " + std::to_string(indices.size()) + " indices, " +
                           std::to_string(values.size()) + " values");
    for (const std::uint32_t i : indices)
      if (i >= dim_)
        throw invalid_config("count_sketch::insert_sparse: index " + std::to_string(i) +
                             " is outside the sketch's dimension " + std::to_string(dim_));
    for (std::size_t t = 0; t < indices.size(); ++t)
      for (std::size_t j = 0; j < rows_; ++j)
        table_[j * cols_ + bucket(j, indices[t])] += sign(j, indices[t]) * values[t];
  }

  /// S += other (linearity). Throws invalid_config (unchanged) when the sketches differ in shape or seed.
  count_sketch& operator+=(const count_sketch& other) {
    add_scaled(other, 1.0F);
    return *this;
  }
  /// S += w·other.
  void add_scaled(const count_sketch& other, float w) {
    if (!compatible(other))
      throw invalid_config("count_sketch: cannot add a " + shape(other) + " sketch to a " + shape(*this) +
                           " one");
    for (std::size_t i = 0; i < table_.size(); ++i) table_[i] += w * other.table_[i];
  }
  /// S *= w.
  void scale(float w) noexcept {
    for (auto& v : table_) v *= w;
  }

  /// x̂_i = median over rows of s_j(i)·S[j, h_j(i)] (for even r, the mean of the middle two).
  [[nodiscard]] float estimate(std::size_t i) const {
    std::array<float, max_rows> e{};
    for (std::size_t j = 0; j < rows_; ++j) e[j] = sign(j, i) * table_[j * cols_ + bucket(j, i)];
    return median(e.data(), rows_);
  }
  /// All D estimates.
  void estimate_all(std::span<float> out) const {
    if (out.size() != dim_)
      throw invalid_config("count_sketch::estimate_all: output of " + std::to_string(out.size()) +
                           " elements, the sketch is for " + std::to_string(dim_));
    for (std::size_t i = 0; i < dim_; ++i) out[i] = estimate(i);
  }
  /// Heavy-hitter recovery: the k coordinates with the largest |x̂_i| (ascending indices) and
  /// their estimates.
  void top_k(std::size_t k, std::vector<std::uint32_t>& indices, std::vector<float>& values) const {
    std::vector<float> est(dim_);
    estimate_all(est);
    top_k_indices(est, k, indices);
    values.resize(indices.size());
    for (std::size_t j = 0; j < indices.size(); ++j) values[j] = est[indices[j]];
  }

  /// Appends the sketch as a payload.
  void serialize(std::vector<std::byte>& out) const {
    out.reserve(out.size() + payload_bytes());
    detail::byte_writer w(out);
    payload_header{payload_scheme::count_sketch, static_cast<std::uint8_t>(rows_), 0,
                   static_cast<std::uint32_t>(cols_), dim_}
        .write(w);
    w.u64(seed_);
    auto* p = w.grow(4 * table_.size());
    for (std::size_t i = 0; i < table_.size(); ++i) {
      const auto b = std::bit_cast<std::uint32_t>(table_[i]);
      for (int k = 0; k < 4; ++k)
        p[4 * i + static_cast<std::size_t>(k)] = static_cast<std::byte>((b >> (8 * k)) & 0xffU);
    }
  }

  /// Parses and validates a sketch payload (throws malformed_message; never reads past the end).
  /// The table it allocates is exactly the payload's cells (4 bytes each, all present); a
  /// caller that will estimate coordinates (estimate_all, top_k allocate D floats) should use the
  /// overload that checks D first.
  [[nodiscard]] static count_sketch deserialize(std::span<const std::byte> payload) {
    return deserialize(payload, std::nullopt);
  }
  /// deserialize, refusing (invalid_config, before allocating anything) a sketch of vectors of
  /// another dimension than `dimension`.
  [[nodiscard]] static count_sketch deserialize(std::span<const std::byte> payload, std::size_t dimension) {
    return deserialize(payload, std::optional<std::size_t>(dimension));
  }

private:
  [[nodiscard]] static count_sketch deserialize(std::span<const std::byte> payload,
                                                std::optional<std::size_t> dimension) {
    detail::byte_reader r(payload);
    const auto h = payload_header::read(r);
    if (h.scheme != payload_scheme::count_sketch)
      detail::malformed(std::string("expected a count_sketch payload, got ") + to_string(h.scheme));
    if (h.param < 1 || h.param > max_rows || h.flags != 0)
      detail::malformed("count_sketch: " + std::to_string(h.param) + " rows (expected 1..32), flags " +
                        std::to_string(h.flags));
    if (h.chunk == 0 || h.chunk % block != 0 || h.chunk > max_columns)
      detail::malformed("count_sketch: " + std::to_string(h.chunk) +
                        " columns, expected a positive multiple of 64 up to 2^28");
    const std::uint64_t seed = r.u64("seed");
    const std::uint64_t cells = std::uint64_t{h.param} * h.chunk;
    if (r.remaining() != 4 * cells)
      detail::malformed("count_sketch: " + std::to_string(cells) + " cells need " +
                        std::to_string(4 * cells) + " bytes, the payload has " +
                        std::to_string(r.remaining()));
    if (dimension && h.size != *dimension)
      throw invalid_config("count_sketch::deserialize: the sketch is of " + std::to_string(h.size) +
                           "-element vectors, expected " + std::to_string(*dimension));
    count_sketch s(h.param, h.chunk, h.size, seed);
    for (std::size_t i = 0; i < s.table_.size(); ++i) {
      s.table_[i] = r.f32("cell");
      if (!std::isfinite(s.table_[i]))
        detail::malformed("count_sketch: cell " + std::to_string(i) + " (row " + std::to_string(i / s.cols_) +
                          ") is " + detail::show(s.table_[i]));
    }
    return s;
  }

  /// insert's loops: 64 coordinates' sign hashes at once, then one contiguous signed add per row.
  [[gnu::always_inline]] void insert_blocks(std::span<const float> x) noexcept {
    std::uint32_t h[block];
    for (std::size_t b0 = 0; b0 < dim_; b0 += block) {
      const std::size_t len = std::min(block, dim_ - b0);
      const auto lo = static_cast<std::uint32_t>(b0);
      const std::uint32_t hi_term = counter_high_term(b0);
      for (std::size_t t = 0; t < block; ++t) { // counter_hash(sign_key_, b0 + t), in 32-bit lanes
        h[t] = lo + static_cast<std::uint32_t>(t);
        counter_mix_in_place(h[t], sign_key_, hi_term);
      }
      // A local copy of the block: provably distinct from the table, so -O2's vectorizer (which
      // adds no run-time alias checks) takes the row loops.
      float xs[block];
      std::memcpy(xs, x.data() + b0, len * sizeof(float));
      for (std::size_t j = 0; j < rows_; ++j) {
        float* dst = table_.data() + j * cols_ + block_base(j, b0 / block);
        // A select rather than a sign-bit flip: the vectorizer takes it at -O2 (negation is exact).
        if (len == block) {
          for (std::size_t t = 0; t < block; ++t) dst[t] += ((h[t] >> j) & 1U) != 0 ? -xs[t] : xs[t];
        } else {
          for (std::size_t t = 0; t < len; ++t) dst[t] += ((h[t] >> j) & 1U) != 0 ? -xs[t] : xs[t];
        }
      }
    }
  }
#if defined(__x86_64__) && defined(__GNUC__) && FEDPP_RUNTIME_DISPATCH
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void
  insert_avx512(std::span<const float> x) noexcept {
    insert_blocks(x);
  }
  __attribute__((target("avx2,fma"))) void insert_avx2(std::span<const float> x) noexcept {
    insert_blocks(x);
  }
#endif
  [[nodiscard]] std::size_t block_base(std::size_t j, std::size_t b) const noexcept {
    const std::uint64_t slots = cols_ / block;
    return static_cast<std::size_t>((std::uint64_t{counter_hash(row_keys_[j], b)} * slots) >> 32) * block;
  }
  static float median(float* v, std::size_t n) {
    std::sort(v, v + n);
    // Halves first: the mean of two finite floats is finite (their sum may not be). Halving is
    // exact above float's subnormal range, so this equals 0.5·(a + b) wherever that is finite.
    return n % 2 == 1 ? v[n / 2] : 0.5F * v[n / 2 - 1] + 0.5F * v[n / 2];
  }
  static std::string shape(const count_sketch& s) {
    return std::to_string(s.rows_) + "x" + std::to_string(s.cols_) + " (D = " + std::to_string(s.dim_) +
           ", seed " + std::to_string(s.seed_) + ")";
  }

  std::size_t rows_;
  std::size_t cols_;
  std::size_t dim_;
  std::uint64_t seed_;
  counter_key sign_key_{};
  std::array<counter_key, max_rows> row_keys_{};
  std::vector<float> table_;
};

} // namespace fedpp::compression
