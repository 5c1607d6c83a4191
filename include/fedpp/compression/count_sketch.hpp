/// \file count_sketch.hpp
/// Count sketch (Charikar, Chen & Farach-Colton 2002, "Finding frequent items in data streams") of
/// a D-dimensional vector, as FetchSGD uses it (Rothchild et al. 2020, "FetchSGD: Communication-
/// Efficient Federated Learning with Sketching"): r rows × c columns; row j adds s_j(i)·x_i to
/// bucket h_j(i). Linear: S(a) + S(b) = S(a + b), so a server sums the clients' sketches without
/// decoding them, and recovers heavy hitters from the sum: x̂_i = median_j s_j(i)·S[j, h_j(i)].
///
/// Hashing: every coordinate is hashed on its own, every row with its own key. Row j draws
/// g_j(i) = pairwise_hash(key_j, scramble32(i)) (counter_hash.hpp): multiply-add-shift, strongly
/// universal on 32 bits, of the index passed through a fixed bijection (so that a key's
/// arithmetic structure does not line up with strides in the data). The sign is g's top bit,
/// s_j(i) = (−1)^(g ≫ 31), the bucket the other 31 bits scaled to the columns,
/// h_j(i) = ⌊(g mod 2^31)·c / 2^31⌋. For i ≠ k the pair (g_j(i), g_j(k)) is uniform over the
/// keys, so signs and buckets are 2-wise independent and each sign independent of the buckets, as
/// the count sketch's analysis requires (E[x̂_i] = x_i; per row Var = Σ_{k≠i} x_k² / c). For c a
/// power of two the buckets are exactly uniform; otherwise each bucket's probability is within a
/// factor 1 ± c/2^31 of 1/c (3·10⁻⁵ at c = 2^16). Keys come from `seed`, which server and clients
/// share; coordinates are 32-bit, so D ≤ 2^32.
///
/// insert() computes the hashes of a block of coordinates with vector instructions (AVX-512/AVX2
/// chosen at run time, as the core kernels) and adds the signed values one by one, a row at a
/// time and in index order within a row, so a row's sums do not depend on the path or on how rows
/// are spread over threads (insert(pool, x)).
///
/// Payload (format version 2; version 1, whose buckets hashed blocks of 64 consecutive
/// coordinates together, is refused: its cells cannot be summed with version 2's) — body after
/// the common header (param = r, chunk = c, size = D): u64 seed, r·c × f32.
#pragma once

#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/compression/detail/finite_bounds.hpp"
#include "fedpp/compression/detail/payload_io.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/top_k.hpp"
#include "fedpp/config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

namespace detail::sketch {

/// Coordinates whose hashes are computed at once (a buffer on the stack).
inline constexpr std::size_t hash_block = 256;
/// Coordinates inserted into every row before the next ones are read: their values and scrambled
/// indices (16 KiB each) stay in L1/L2 while each row takes its adds.
inline constexpr std::size_t insert_span = std::size_t{1} << 12;

/// Bucket of a 32-bit hash among `cols` columns (the 31 bits below the sign, scaled).
[[nodiscard]] constexpr std::uint32_t bucket_of(std::uint32_t g, std::uint64_t cols) noexcept {
  return static_cast<std::uint32_t>((std::uint64_t{g & 0x7fffffffU} * cols) >> 31);
}

/// Bit pattern of x with the sign of the hash g applied (the top bit flips the sign; exact).
[[nodiscard]] inline float apply_sign(std::uint32_t g, float x) noexcept {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  b ^= g & 0x80000000U;
  std::memcpy(&x, &b, 4);
  return x;
}

#if defined(__GNUC__)
/// GCC vector types: `Bytes` of 64-bit lanes, as many 32-bit lanes in half the bytes (u32), and
/// `Bytes` of 32-bit lanes (u32w).
template <std::size_t Bytes>
struct lanes_of {
  typedef std::uint64_t u64 __attribute__((vector_size(Bytes)));
  typedef std::uint32_t u32 __attribute__((vector_size(Bytes / 2)));
  typedef std::uint32_t u32w __attribute__((vector_size(Bytes)));
  static constexpr std::size_t count = Bytes / 8;
};
#endif

/// scr[t] = scramble32(first + t) for t < n (`Bytes`-wide vectors of 32-bit lanes, then scalar).
template <std::size_t Bytes>
[[gnu::always_inline]] inline void scramble_block(std::uint64_t first, std::size_t n,
                                                  std::uint32_t* scr) noexcept {
  std::size_t t = 0;
#if defined(__GNUC__)
  using u32v = typename lanes_of<Bytes>::u32w;
  constexpr std::size_t lanes = Bytes / 4;
  u32v i;
  for (std::size_t l = 0; l < lanes; ++l) i[l] = static_cast<std::uint32_t>(first + l);
  for (; t + lanes <= n; t += lanes, i += static_cast<std::uint32_t>(lanes)) {
    u32v h = i;
    scramble_in_place(h);
    __builtin_memcpy(scr + t, &h, Bytes);
  }
#endif
  for (; t < n; ++t) scr[t] = scramble32(static_cast<std::uint32_t>(first + t));
}

/// For t < n: idx[t] = h(i_t) and out[t] = s(i_t)·x[t] (Values) or s(i_t) (±1.0, !Values), one
/// row's hashes of the coordinates whose scrambled indices are scr[t]; `Bytes`-wide vectors of
/// 64-bit lanes, then a scalar tail.
template <std::size_t Bytes, bool Values>
[[gnu::always_inline]] inline void hash_block_body(pairwise_key key, std::uint64_t cols,
                                                   const std::uint32_t* scr, std::size_t n, const float* x,
                                                   std::uint32_t* idx, float* out) noexcept {
  std::size_t t = 0;
#if defined(__GNUC__)
  using u64v = typename lanes_of<Bytes>::u64;
  using u32h = typename lanes_of<Bytes>::u32;
  constexpr std::size_t lanes = lanes_of<Bytes>::count;
  for (; t + lanes <= n; t += lanes) {
    u32h s32;
    __builtin_memcpy(&s32, scr + t, Bytes / 2);
    const u64v i = __builtin_convertvector(s32, u64v);
    const u64v g = (i * key.a + key.b) >> 32;                       // pairwise_hash, lane by lane
    const u64v bucket = ((g & 0x7fffffffU) * cols) >> 31;           // bucket_of
    const u32h sign = __builtin_convertvector(g >> 31, u32h) << 31; // the top bit, in place
    const u32h b32 = __builtin_convertvector(bucket, u32h);
    __builtin_memcpy(idx + t, &b32, Bytes / 2);
    u32h v;
    if constexpr (Values)
      __builtin_memcpy(&v, x + t, Bytes / 2);
    else
      v = u32h{} + 0x3f800000U; // 1.0f
    v ^= sign;
    __builtin_memcpy(out + t, &v, Bytes / 2);
  }
#endif
  for (; t < n; ++t) {
    const std::uint32_t g = pairwise_hash(key, scr[t]);
    idx[t] = bucket_of(g, cols);
    out[t] = apply_sign(g, Values ? x[t] : 1.0F);
  }
}

/// Rows [row_begin, row_end) += S(x) restricted to those rows: hashes a block at a time, then
/// adds the signed values one by one in index order.
template <std::size_t Bytes>
[[gnu::always_inline]] inline void insert_body(const pairwise_key* keys, std::size_t row_begin,
                                               std::size_t row_end, std::size_t cols, float* table,
                                               const float* x, std::size_t dim) noexcept {
  alignas(64) std::uint32_t scr[insert_span];
  alignas(64) std::uint32_t idx[hash_block];
  alignas(64) float val[hash_block];
  for (std::size_t x0 = 0; x0 < dim; x0 += insert_span) {
    const std::size_t x1 = std::min(dim, x0 + insert_span);
    scramble_block<Bytes>(x0, x1 - x0, scr);
    for (std::size_t j = row_begin; j < row_end; ++j) {
      float* row = table + j * cols;
      for (std::size_t b0 = x0; b0 < x1; b0 += hash_block) {
        const std::size_t len = std::min(hash_block, x1 - b0);
        hash_block_body<Bytes, true>(keys[j], cols, scr + (b0 - x0), len, x + b0, idx, val);
        for (std::size_t t = 0; t < len; ++t) row[idx[t]] += val[t];
      }
    }
  }
}

/// Median of v[0, n) (n ≤ 32), reordering v. For even n, the mean of the middle two, computed
/// from halves so that the mean of two finite floats stays finite (halving is exact above
/// float's subnormal range, so this equals 0.5·(a + b) wherever that is finite).
[[nodiscard]] inline float median(float* v, std::size_t n) noexcept {
  for (std::size_t a = 1; a < n; ++a) { // insertion sort: r is small
    const float key = v[a];
    std::size_t b = a;
    for (; b > 0 && v[b - 1] > key; --b) v[b] = v[b - 1];
    v[b] = key;
  }
  return n % 2 == 1 ? v[n / 2] : 0.5F * v[n / 2 - 1] + 0.5F * v[n / 2];
}

/// out[t] = median over rows of s_j(first + t)·S[j, h_j(first + t)] for t < n ≤ hash_block.
template <std::size_t Bytes>
[[gnu::always_inline]] inline void estimate_body(const pairwise_key* keys, std::size_t rows, std::size_t cols,
                                                 const float* table, std::size_t first, std::size_t n,
                                                 float* out) noexcept {
  alignas(64) std::uint32_t scr[hash_block];
  alignas(64) std::uint32_t idx[hash_block];
  alignas(64) float sgn[hash_block];
  alignas(64) float e[hash_block][32];
  scramble_block<Bytes>(first, n, scr);
  for (std::size_t j = 0; j < rows; ++j) {
    hash_block_body<Bytes, false>(keys[j], cols, scr, n, nullptr, idx, sgn);
    const float* row = table + j * cols;
    for (std::size_t t = 0; t < n; ++t) e[t][j] = sgn[t] * row[idx[t]];
  }
  for (std::size_t t = 0; t < n; ++t) out[t] = median(e[t], rows);
}

/// The loops at the instruction set the build targets, and (x86-64, GCC/Clang) at AVX2 and
/// AVX-512 with function target attributes, chosen at run time: a plain -O2 build targets SSE2,
/// whose 64-bit multiplies are emulated.
inline void insert_compiled(const pairwise_key* keys, std::size_t r0, std::size_t r1, std::size_t cols,
                            float* table, const float* x, std::size_t dim) noexcept {
  insert_body<static_cast<std::size_t>(kernels::detail::compiled_vector_bytes)>(keys, r0, r1, cols, table, x,
                                                                                dim);
}
inline void estimate_compiled(const pairwise_key* keys, std::size_t rows, std::size_t cols,
                              const float* table, std::size_t first, std::size_t n, float* out) noexcept {
  estimate_body<static_cast<std::size_t>(kernels::detail::compiled_vector_bytes)>(keys, rows, cols, table,
                                                                                  first, n, out);
}
#if defined(__x86_64__) && defined(__GNUC__) && FEDPP_RUNTIME_DISPATCH
__attribute__((target("avx2,fma"))) inline void insert_avx2(const pairwise_key* keys, std::size_t r0,
                                                            std::size_t r1, std::size_t cols, float* table,
                                                            const float* x, std::size_t dim) noexcept {
  insert_body<32>(keys, r0, r1, cols, table, x, dim);
}
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) inline void
insert_avx512(const pairwise_key* keys, std::size_t r0, std::size_t r1, std::size_t cols, float* table,
              const float* x, std::size_t dim) noexcept {
  insert_body<64>(keys, r0, r1, cols, table, x, dim);
}
__attribute__((target("avx2,fma"))) inline void estimate_avx2(const pairwise_key* keys, std::size_t rows,
                                                              std::size_t cols, const float* table,
                                                              std::size_t first, std::size_t n,
                                                              float* out) noexcept {
  estimate_body<32>(keys, rows, cols, table, first, n, out);
}
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) inline void
estimate_avx512(const pairwise_key* keys, std::size_t rows, std::size_t cols, const float* table,
                std::size_t first, std::size_t n, float* out) noexcept {
  estimate_body<64>(keys, rows, cols, table, first, n, out);
}
#endif

/// insert_body on an explicit path (one the CPU has: see kernels::isa_available).
inline void insert_on(kernels::isa path, const pairwise_key* keys, std::size_t r0, std::size_t r1,
                      std::size_t cols, float* table, const float* x, std::size_t dim) noexcept {
#if defined(__x86_64__) && defined(__GNUC__) && FEDPP_RUNTIME_DISPATCH
  if (path == kernels::isa::avx512) return insert_avx512(keys, r0, r1, cols, table, x, dim);
  if (path == kernels::isa::avx2) return insert_avx2(keys, r0, r1, cols, table, x, dim);
#endif
  (void)path;
  insert_compiled(keys, r0, r1, cols, table, x, dim);
}

/// estimate_body on an explicit path.
inline void estimate_on(kernels::isa path, const pairwise_key* keys, std::size_t rows, std::size_t cols,
                        const float* table, std::size_t first, std::size_t n, float* out) noexcept {
#if defined(__x86_64__) && defined(__GNUC__) && FEDPP_RUNTIME_DISPATCH
  if (path == kernels::isa::avx512) return estimate_avx512(keys, rows, cols, table, first, n, out);
  if (path == kernels::isa::avx2) return estimate_avx2(keys, rows, cols, table, first, n, out);
#endif
  (void)path;
  estimate_compiled(keys, rows, cols, table, first, n, out);
}

} // namespace detail::sketch

/// An r × c count sketch of D-dimensional vectors (see the file comment).
class count_sketch {
public:
  /// Columns must be a multiple of this (a format rule kept from version 1; the hash does not need it).
  static constexpr std::size_t column_multiple = 64;
  /// Most rows.
  static constexpr std::size_t max_rows = 32;
  /// Most columns a payload may claim (2^28).
  static constexpr std::size_t max_columns = std::size_t{1} << 28;
  /// Largest dimension D (coordinates are hashed as 32-bit keys).
  static constexpr std::uint64_t max_dimension = std::uint64_t{1} << 32;
  /// Payload format version written and read (payload_header.hpp).
  static constexpr std::uint8_t format_version = count_sketch_payload_version;

  /// An empty sketch. Throws invalid_config unless 1 ≤ rows ≤ 32, columns is a positive multiple
  /// of 64 up to 2^28 and dimension ≤ 2^32.
  count_sketch(std::size_t rows, std::size_t columns, std::size_t dimension, std::uint64_t seed)
      : rows_(rows), cols_(columns), dim_(dimension), seed_(seed) {
    if (rows < 1 || rows > max_rows)
      throw invalid_config("count_sketch: " + std::to_string(rows) + " rows, expected 1..32");
    if (columns == 0 || columns % column_multiple != 0 || columns > max_columns)
      throw invalid_config("count_sketch: " + std::to_string(columns) +
                           " columns, expected a positive multiple of 64 up to 2^28");
    if (std::uint64_t{dimension} > max_dimension)
      throw invalid_config("count_sketch: dimension " + std::to_string(dimension) +
                           " exceeds 2^32 (coordinates are hashed as 32-bit keys)");
    table_.assign(rows * columns, 0.0F);
    for (std::size_t j = 0; j < rows; ++j) keys_[j] = pairwise_key::from_seed(seed, j);
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

  /// Column h_j(i) of coordinate i (< D) in row j.
  [[nodiscard]] std::size_t bucket(std::size_t j, std::size_t i) const noexcept {
    return detail::sketch::bucket_of(hash(j, i), cols_);
  }
  /// Sign s_j(i) (+1/−1) of coordinate i (< D) in row j.
  [[nodiscard]] float sign(std::size_t j, std::size_t i) const noexcept {
    return detail::sketch::apply_sign(hash(j, i), 1.0F);
  }

  /// Adds x (D elements) to the sketch: S += S(x).
  void insert(std::span<const float> x) { insert_on(kernels::active_isa(), x); }

  /// insert on an explicit code path (tests run every one: kernels::available_isas()). Every
  /// path produces the same table, bit for bit.
  void insert_on(kernels::isa path, std::span<const float> x) {
    check_insert(x);
    detail::sketch::insert_on(path, keys_.data(), 0, rows_, cols_, table_.data(), x.data(), dim_);
  }

  /// insert with the rows spread over `pool`'s threads (each row taken by one thread, its adds in
  /// the serial order): the same table as insert(x), bit for bit.
  void insert(parallel::thread_pool& pool, std::span<const float> x) {
    check_insert(x);
    const kernels::isa path = kernels::active_isa();
    const std::size_t parts = std::min(pool.size(), rows_);
    pool.run(parts, [&](std::size_t p) {
      detail::sketch::insert_on(path, keys_.data(), rows_ * p / parts, rows_ * (p + 1) / parts, cols_,
                                table_.data(), x.data(), dim_);
    });
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
    for (std::size_t j = 0; j < rows_; ++j)
      for (std::size_t t = 0; t < indices.size(); ++t) {
        const std::uint32_t g = pairwise_hash(keys_[j], scramble32(indices[t]));
        table_[j * cols_ + detail::sketch::bucket_of(g, cols_)] += detail::sketch::apply_sign(g, values[t]);
      }
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
    return detail::sketch::median(e.data(), rows_);
  }
  /// All D estimates (each equal to estimate(i)).
  void estimate_all(std::span<float> out) const {
    if (out.size() != dim_)
      throw invalid_config("count_sketch::estimate_all: output of " + std::to_string(out.size()) +
                           " elements, the sketch is for " + std::to_string(dim_));
    const kernels::isa path = kernels::active_isa();
    for (std::size_t b0 = 0; b0 < dim_; b0 += detail::sketch::hash_block)
      detail::sketch::estimate_on(path, keys_.data(), rows_, cols_, table_.data(), b0,
                                  std::min(detail::sketch::hash_block, dim_ - b0), out.data() + b0);
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

  /// Appends the sketch as a payload (format version 2).
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

  /// Parses and validates a sketch payload (throws malformed_message; never reads past the end;
  /// version-1 payloads are refused, see the file comment). The table it allocates is exactly the
  /// payload's cells (4 bytes each, all present); a caller that will estimate coordinates
  /// (estimate_all, top_k allocate D floats) should use the overload that checks D first.
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
    const auto h = payload_header::read(r); // refuses version 1 with the reason
    if (h.scheme != payload_scheme::count_sketch)
      detail::malformed(std::string("expected a count_sketch payload, got ") + to_string(h.scheme));
    if (h.param < 1 || h.param > max_rows || h.flags != 0)
      detail::malformed("count_sketch: " + std::to_string(h.param) + " rows (expected 1..32), flags " +
                        std::to_string(h.flags));
    if (h.chunk == 0 || h.chunk % column_multiple != 0 || h.chunk > max_columns)
      detail::malformed("count_sketch: " + std::to_string(h.chunk) +
                        " columns, expected a positive multiple of 64 up to 2^28");
    if (h.size > max_dimension)
      detail::malformed("count_sketch: dimension " + std::to_string(h.size) + " exceeds 2^32");
    const std::uint64_t seed = r.u64("seed");
    const std::uint64_t cells = std::uint64_t{h.param} * h.chunk;
    if (r.remaining() != 4 * cells)
      detail::malformed("count_sketch: " + std::to_string(cells) + " cells need " +
                        std::to_string(4 * cells) + " bytes, the payload has " +
                        std::to_string(r.remaining()));
    if (dimension && h.size != *dimension)
      throw invalid_config("count_sketch::deserialize: the sketch is of " + std::to_string(h.size) +
                           "-element vectors, expected " + std::to_string(*dimension));
    count_sketch s(h.param, h.chunk, static_cast<std::size_t>(h.size), seed);
    for (std::size_t i = 0; i < s.table_.size(); ++i) {
      s.table_[i] = r.f32("cell");
      if (!std::isfinite(s.table_[i]))
        detail::malformed("count_sketch: cell " + std::to_string(i) + " (row " + std::to_string(i / s.cols_) +
                          ") is " + detail::show(s.table_[i]));
    }
    return s;
  }

  void check_insert(std::span<const float> x) const {
    if (x.size() != dim_)
      throw invalid_config("count_sketch::insert: " + std::to_string(x.size()) +
                           " elements, the sketch is for " + std::to_string(dim_));
  }
  [[nodiscard]] std::uint32_t hash(std::size_t j, std::size_t i) const noexcept {
    return pairwise_hash(keys_[j], scramble32(static_cast<std::uint32_t>(i)));
  }
  static std::string shape(const count_sketch& s) {
    return std::to_string(s.rows_) + "x" + std::to_string(s.cols_) + " (D = " + std::to_string(s.dim_) +
           ", seed " + std::to_string(s.seed_) + ")";
  }

  std::size_t rows_;
  std::size_t cols_;
  std::size_t dim_;
  std::uint64_t seed_;
  std::array<pairwise_key, max_rows> keys_{};
  std::vector<float> table_;
};

} // namespace fedpp::compression
