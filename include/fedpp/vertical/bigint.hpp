/// \file bigint.hpp
/// An arbitrary-precision integer (GMP's mpz_t) as a regular C++ value type: the plaintexts,
/// ciphertexts and key parts of fedpp::vertical's Paillier scheme (opt-in component
/// fedpp::paillier, which links GMP).
#pragma once

#include "fedpp/error.hpp"

#include <gmp.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// A signed integer of any size. Copy copies the digits; move steals them (the moved-from value is
/// zero). Raw GMP calls reach the number through get().
class bigint {
public:
  /// Zero.
  bigint() { mpz_init(v_); }
  /// The value of a signed 64-bit integer.
  bigint(std::int64_t x) { // NOLINT(google-explicit-constructor): integers convert like integers
    mpz_init(v_);
    set_i64(x);
  }
  /// The value of an int (so `bigint b = 5;` is not ambiguous).
  bigint(int x) : bigint(static_cast<std::int64_t>(x)) {} // NOLINT(google-explicit-constructor)
  /// The value of an unsigned 64-bit integer.
  [[nodiscard]] static bigint from_u64(std::uint64_t x) {
    bigint b;
    mpz_import(b.v_, 1, -1, sizeof x, 0, 0, &x);
    return b;
  }
  /// Parses a number written in `base` (2..62; 0 = C prefixes 0x, 0b, 0). Throws invalid_config
  /// for text that is not a number.
  [[nodiscard]] static bigint from_string(std::string_view text, int base = 10) {
    bigint b;
    const std::string s(text);
    if (s.empty() || mpz_set_str(b.v_, s.c_str(), base) != 0)
      throw invalid_config("bigint::from_string: \"" + s.substr(0, 64) + "\" is not a base-" +
                           std::to_string(base) + " integer");
    return b;
  }
  /// The unsigned integer of `bytes` read little-endian (the wire format's order).
  [[nodiscard]] static bigint from_bytes_le(std::span<const std::byte> bytes) {
    bigint b;
    if (!bytes.empty()) mpz_import(b.v_, bytes.size(), -1, 1, 0, 0, bytes.data());
    return b;
  }

  bigint(const bigint& o) { mpz_init_set(v_, o.v_); }
  bigint(bigint&& o) noexcept {
    mpz_init(v_);
    mpz_swap(v_, o.v_);
  }
  bigint& operator=(const bigint& o) {
    if (this != &o) mpz_set(v_, o.v_);
    return *this;
  }
  bigint& operator=(bigint&& o) noexcept {
    mpz_swap(v_, o.v_);
    mpz_set_ui(o.v_, 0);
    return *this;
  }
  ~bigint() { mpz_clear(v_); }

  /// The GMP number, for mpz_* calls.
  [[nodiscard]] mpz_ptr get() noexcept { return v_; }
  [[nodiscard]] mpz_srcptr get() const noexcept { return v_; }

  /// -1, 0 or +1.
  [[nodiscard]] int sign() const noexcept { return mpz_sgn(v_); }
  /// True for an odd number.
  [[nodiscard]] bool is_odd() const noexcept { return mpz_odd_p(v_) != 0; }
  /// Bits of |x| (0 for zero).
  [[nodiscard]] std::size_t bit_length() const noexcept { return sign() == 0 ? 0 : mpz_sizeinbase(v_, 2); }
  /// Bytes of |x| little-endian, at least `min_bytes` long (zero-padded). Throws invalid_config
  /// when |x| needs more than `max_bytes` (default: no limit).
  [[nodiscard]] std::vector<std::byte>
  to_bytes_le(std::size_t min_bytes = 0,
              std::size_t max_bytes = std::numeric_limits<std::size_t>::max()) const {
    const std::size_t need = (bit_length() + 7) / 8;
    if (need > max_bytes)
      throw invalid_config("bigint::to_bytes_le: the number needs " + std::to_string(need) +
                           " bytes, more than " + std::to_string(max_bytes));
    std::vector<std::byte> out(need > min_bytes ? need : min_bytes);
    write_le(out);
    return out;
  }
  /// Writes |x| little-endian into `out`, zero-padded; throws invalid_config when it does not fit.
  void write_le(std::span<std::byte> out) const {
    const std::size_t need = (bit_length() + 7) / 8;
    if (need > out.size())
      throw invalid_config("bigint::write_le: the number needs " + std::to_string(need) +
                           " bytes, the field has " + std::to_string(out.size()));
    for (auto& b : out) b = std::byte{0};
    if (need > 0) {
      std::size_t written = 0;
      mpz_export(out.data(), &written, -1, 1, 0, 0, v_);
    }
  }
  /// Decimal (or `base`) text.
  [[nodiscard]] std::string to_string(int base = 10) const {
    std::string s(mpz_sizeinbase(v_, base) + 2, '\0');
    mpz_get_str(s.data(), base, v_);
    s.resize(std::char_traits<char>::length(s.c_str()));
    return s;
  }
  /// The value as int64; throws invalid_config when it does not fit.
  [[nodiscard]] std::int64_t to_i64() const {
    if (bit_length() > 63 && !(sign() < 0 && bit_length() == 64 && mpz_scan1(v_, 0) == 63))
      throw invalid_config("bigint::to_i64: " + to_string().substr(0, 40) + " does not fit in 64 bits");
    std::uint64_t mag = 0;
    std::size_t count = 0;
    mpz_export(&mag, &count, -1, sizeof mag, 0, 0, v_);
    if (count == 0) mag = 0;
    return sign() < 0 ? static_cast<std::int64_t>(~mag + 1) : static_cast<std::int64_t>(mag);
  }

  friend bool operator==(const bigint& a, const bigint& b) noexcept { return mpz_cmp(a.v_, b.v_) == 0; }
  friend std::strong_ordering operator<=>(const bigint& a, const bigint& b) noexcept {
    const int c = mpz_cmp(a.v_, b.v_);
    return c < 0   ? std::strong_ordering::less
           : c > 0 ? std::strong_ordering::greater
                   : std::strong_ordering::equal;
  }
  friend bigint operator+(const bigint& a, const bigint& b) {
    bigint r;
    mpz_add(r.v_, a.v_, b.v_);
    return r;
  }
  friend bigint operator-(const bigint& a, const bigint& b) {
    bigint r;
    mpz_sub(r.v_, a.v_, b.v_);
    return r;
  }
  friend bigint operator*(const bigint& a, const bigint& b) {
    bigint r;
    mpz_mul(r.v_, a.v_, b.v_);
    return r;
  }
  bigint operator-() const {
    bigint r;
    mpz_neg(r.v_, v_);
    return r;
  }
  /// x mod m in [0, m) (m > 0).
  [[nodiscard]] bigint mod(const bigint& m) const {
    bigint r;
    mpz_mod(r.v_, v_, m.v_);
    return r;
  }
  /// 2^k.
  [[nodiscard]] static bigint pow2(std::size_t k) {
    bigint r;
    mpz_setbit(r.v_, k);
    return r;
  }

private:
  void set_i64(std::int64_t x) {
    const std::uint64_t mag = x < 0 ? ~static_cast<std::uint64_t>(x) + 1 : static_cast<std::uint64_t>(x);
    mpz_import(v_, 1, -1, sizeof mag, 0, 0, &mag);
    if (x < 0) mpz_neg(v_, v_);
  }
  mpz_t v_;
};

} // namespace fedpp::vertical
