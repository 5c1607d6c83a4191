/// \file update_matrix.hpp
/// The whole round's updates in one contiguous K × D buffer (row k = client k), rows padded to
/// 64 bytes, grown within a memory budget the user sets. Robust aggregators need every update
/// at once; this is where they keep them.
#pragma once

#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/detail/huge_pages.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// Default budget of a robust aggregator's update buffer: 1 GiB.
inline constexpr std::size_t default_memory_budget = std::size_t{1} << 30;

/// K rows of D values of type T in one 64-byte-aligned allocation, with each row's weight and
/// client id. Appending beyond `budget_bytes` throws invalid_config (state unchanged): clients
/// are never dropped silently.
template <element_type T>
class update_matrix {
public:
  /// An empty matrix of rows of `dim` elements that may use at most `budget_bytes`.
  explicit update_matrix(std::size_t dim, std::size_t budget_bytes = default_memory_budget)
      : dim_(dim), stride_(padded(dim)), budget_(budget_bytes) {}

  /// Elements per row (D).
  [[nodiscard]] std::size_t dim() const noexcept { return dim_; }
  /// Distance in elements between the starts of consecutive rows (D rounded up to 64 bytes).
  [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
  /// Rows held (K).
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  /// The memory budget in bytes.
  [[nodiscard]] std::size_t budget() const noexcept { return budget_; }
  /// Bytes K rows take.
  [[nodiscard]] std::size_t bytes_for(std::size_t k) const noexcept { return k * stride_ * sizeof(T); }
  /// Bytes allocated now.
  [[nodiscard]] std::size_t allocated_bytes() const noexcept { return data_.size() * sizeof(T); }

  /// Row k (D elements, 64-byte aligned).
  [[nodiscard]] std::span<const T> row(std::size_t k) const noexcept {
    return {data_.data() + k * stride_, dim_};
  }
  [[nodiscard]] std::span<T> row(std::size_t k) noexcept { return {data_.data() + k * stride_, dim_}; }
  /// Start of the buffer (row k at data() + k·stride()).
  [[nodiscard]] const T* data() const noexcept { return data_.data(); }
  /// Weight (number of examples) of row k.
  [[nodiscard]] std::span<const double> weights() const noexcept { return weights_; }
  /// Client of row k.
  [[nodiscard]] std::span<const client_id> clients() const noexcept { return clients_; }

  /// Throws invalid_config when `extra` more rows would exceed the budget.
  void require_room(std::size_t extra, const char* who) const {
    const std::size_t k = rows_ + extra;
    if (bytes_for(k) > budget_)
      throw invalid_config(std::string(who) + ": memory budget of " + std::to_string(budget_) +
                           " bytes exceeded: " + std::to_string(bytes_for(k)) + " bytes needed for K = " +
                           std::to_string(k) + " updates of D = " + std::to_string(dim_) + " " +
                           to_string(dtype_of<T>) + " values (raise the budget or sample fewer clients)");
  }

  /// Makes room for `extra` more rows (budget checked first; geometric growth capped by the
  /// budget, so at most one copy per doubling).
  void reserve_more(std::size_t extra, const char* who) {
    require_room(extra, who);
    const std::size_t need = (rows_ + extra) * stride_;
    if (need <= data_.size()) return;
    const std::size_t cap_rows = stride_ == 0 ? 0 : budget_ / (stride_ * sizeof(T));
    const std::size_t grown = std::min(std::max(rows_ + extra, 2 * capacity_rows()), cap_rows);
    const std::size_t elements = std::max(grown * stride_, need);
    detail::aligned_buffer<T> bigger(elements, detail::uninitialized);
    detail::advise_huge_pages(bigger.data(), elements * sizeof(T)); // before the zeroing faults the pages in
    bigger.fill_zero();
    if (rows_ != 0) std::memcpy(static_cast<void*>(bigger.data()), data_.data(), rows_ * stride_ * sizeof(T));
    data_ = std::move(bigger);
    weights_.reserve(rows_ + extra);
    clients_.reserve(rows_ + extra);
  }

  /// Appends one row assembled from `pieces` (concatenated, D elements in all); call
  /// reserve_more first. Noexcept after reserve_more succeeded.
  template <class Pieces>
  void append(client_id client, double weight, const Pieces& pieces) noexcept {
    T* dst = data_.data() + rows_ * stride_;
    for (std::span<const T> piece : pieces) {
      if (!piece.empty()) std::memcpy(dst, piece.data(), piece.size() * sizeof(T));
      dst += piece.size();
    }
    weights_.push_back(weight);
    clients_.push_back(client);
    ++rows_;
  }

  /// Appends every row of `other` (same D; call reserve_more(other.rows()) first).
  void append_all(const update_matrix& other) noexcept {
    for (std::size_t k = 0; k < other.rows(); ++k) {
      const std::span<const T> piece[1] = {other.row(k)};
      append(other.clients_[k], other.weights_[k], piece);
    }
  }

  /// Forgets every row (keeps the allocation).
  void clear() noexcept {
    rows_ = 0;
    weights_.clear();
    clients_.clear();
  }

private:
  /// Row stride: whole 64-byte lines. Kernels read all K rows near the same offset together (the
  /// coordinate-wise ones a line per row, the Gram blocks of pairwise_distances.hpp 16 lines per
  /// row), so the rows must not share cache sets. A power-of-two row (D = 2^20 floats is 4 MiB)
  /// would put every row in the same set; an odd line count alone is not enough either: a stride
  /// of 2^16 + 1 lines starts row r at set r, so the K rows' 16-line blocks pile onto ~K + 16 of
  /// L2's 2048 sets and evict each other (Krum's Gram phase ran 2.5x slower, D = 2^20, K = 64).
  /// Rows of at least 2048 lines (128 KiB) therefore get a stride ≡ 33 (mod 64) lines: the rows'
  /// first lines fall in distinct L1 sets, ~33 sets apart in L2, for at most 63 lines (≤ 3 %) of
  /// padding; shorter rows keep the odd count (their matrix spans few sets' worth of rows).
  static std::size_t padded(std::size_t dim) noexcept {
    constexpr std::size_t per_line =
        detail::buffer_alignment / sizeof(T) == 0 ? 1 : detail::buffer_alignment / sizeof(T);
    constexpr std::size_t long_row_lines = 2048, set_period = 64, set_offset = 33;
    std::size_t lines = (dim + per_line - 1) / per_line;
    if (lines >= long_row_lines)
      lines += (set_offset + set_period - lines % set_period) % set_period;
    else if (lines % 2 == 0 && lines != 0)
      ++lines;
    return lines * per_line;
  }
  [[nodiscard]] std::size_t capacity_rows() const noexcept {
    return stride_ == 0 ? 0 : data_.size() / stride_;
  }

  std::size_t dim_;
  std::size_t stride_;
  std::size_t budget_;
  std::size_t rows_ = 0;
  detail::aligned_buffer<T> data_;
  std::vector<double> weights_;
  std::vector<client_id> clients_;
};

} // namespace fedpp
