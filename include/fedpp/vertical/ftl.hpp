/// \file ftl.hpp
/// Federated transfer learning after Liu, Kang, Xing, Chen & Yang 2020 ("A Secure Federated
/// Transfer Learning Framework", IEEE Intelligent Systems 35(4); arXiv:1812.03337). Party A holds
/// labelled rows x^A (its features), party B rows x^B of other features; n rows are held by both
/// (the overlap, aligned by PSI). Each party maps its rows to d-dimensional representations with
/// its own network (u^A = Net_A(x^A), u^B = Net_B(x^B)); B labels its other rows through A's
/// labels with the paper's translator φ(u^B) = Φ·u^B, Φ = (1/N_A) Σ_i y_i (u_i^A)ᵀ.
///
/// Classes: the paper is binary (y ∈ {−1, +1}); here K classes one-vs-rest with the zero-sum
/// target coding y_ic = +1 at the label and −1/(K − 1) elsewhere (K = 2: the paper's ±1; with ±1
/// for K > 2 every Φ_c would carry the common term −ū of all rows), Φ a K × d matrix, B's
/// prediction argmax_c φ_c(u^B). The loss keeps the paper's Taylor form with C(y) = −y and
/// D(y) = 1. The loss on the overlap
/// (the paper's Taylor approximation of the logistic loss at φ = 0, its alignment loss
/// ½‖u^A − u^B‖², weighted by γ, both averaged over the overlap) is
///
///   L = (1/n) Σ_j Σ_c [log 2 − ½ y_jc φ_jc + ⅛ φ_jc²] + (γ/2n) Σ_j ‖u_j^A − u_j^B‖²,  φ_j = Φ u_j^B
///
/// plus (λ/2)‖θ‖² of each network (each party applies its own), and optionally A's own term
/// (α/N_A) Σ_i Σ_c [log 2 − ½ y_ic φ_ic + ⅛ φ_ic²] with φ_i = Φ u_i^A over all its rows
/// (ftl_options::self_weight; 0: the paper's loss; A computes it alone). Its gradients:
///
///   ∂L/∂u_j^B = a_j + M u_j^B,   a_j = −(1/2n) Σ_c y_jc Φ_c − (γ/n) u_j^A,   M = (1/4n) ΦᵀΦ + (γ/n) I
///   ∂L/∂Φ_c   = −(1/2n) Σ_j y_jc u_j^B + (1/4n) Φ_c P,   P = Σ_j u_j^B (u_j^B)ᵀ
///   ∂L/∂u_i^A = (1/N_A) Σ_c y_ic ∂L/∂Φ_c  (every labelled row)  + (γ/n)(u_j^A − u_j^B) (overlap row j)
///
/// One step (the whole overlap; Φ over all of A's rows), messages in order:
///
///   B → A   U^B (n × d) and P (d × d)                 plaintext mode: as is; Paillier: under B's key
///   A → B   a (n × d) and M (d × d)                   plaintext: as is; Paillier: under A's key, and
///           [[∂L/∂u^A_overlap + R₁]], [[∂L/∂Φ + R₂]]  computed under B's key, masked, re-randomised
///   B → A   (Paillier) the decrypted masked values, and [[a_j + M u_j^B + R₃]] under A's key
///   A → B   (Paillier) the decrypted masked values
///
/// then each party back-propagates its own gradient through its own network and steps (Adam, the
/// same in both modes). In Paillier mode values are fixed point (16^−10, products 16^−20) and
/// masks are uniform residues, so each decrypting party sees uniform values; the two modes give
/// the same updates up to the fixed point (tests/vertical_ftl_test.cpp).
///
/// What each party learns (semi-honest; FATE's hetero-FTL reveals the same): in Paillier mode A
/// learns ∂L/∂u^A for its rows — whose alignment part (γ/n)(u_j^A − u_j^B) gives it B's overlap
/// representations u_j^B — and ∂L/∂Φ (sums over the overlap of B's representations); B learns
/// ∂L/∂u_j^B = a_j + M u_j^B (hence the vectors a_j, which mix A's labels and representations,
/// and M, A's ΦᵀΦ, over the steps); neither sees the other's features, labels or network. In
/// plaintext mode both see every exchanged value as is (for experiments, not for deployment).
/// Prediction: A sends Φ (plaintext mode) or [[Φ]] (Paillier: B computes [[Φ u^B + R]], A decrypts
/// the masked scores, B removes R), so B learns its scores and A nothing.
///
/// Every received message is checked first (tag, step, section layout and sizes against n, d and
/// K, ciphertexts in range for the key, residues below n, finite values within max_abs_value):
/// malformed_message, the party unchanged. Opt-in component fedpp::paillier.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"
#include "fedpp/vertical/bigint.hpp"
#include "fedpp/vertical/detail/codec.hpp"
#include "fedpp/vertical/detail/receive_from_peer.hpp"
#include "fedpp/vertical/paillier.hpp"
#include "fedpp/vertical/paillier_encoding.hpp"
#include "fedpp/vertical/paillier_wire.hpp"
#include "fedpp/vertical/split_nn_mlp.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// Control tags of FTL (a block of its own; values are part of the wire format).
enum class ftl_tag : std::uint32_t {
  public_key = 0x46540001,   ///< either party: its Paillier public key
  b_components = 0x46540002, ///< B → A: U^B, P
  a_components = 0x46540003, ///< A → B: a, M (and A's masked gradients under B's key)
  b_reply = 0x46540004,      ///< B → A: A's masked gradients decrypted, [[∂L/∂U^B + R₃]]
  a_reply = 0x46540005,      ///< A → B: ∂L/∂U^B + R₃ decrypted
  phi = 0x46540006,          ///< A → B: Φ or [[Φ]]
  scores = 0x46540007,       ///< B → A: [[Φ u^B + R]] of the rows to predict
  scores_reply = 0x46540008  ///< A → B: the masked scores decrypted
};

/// How the exchanged values travel.
enum class ftl_mode : std::uint8_t {
  plaintext, ///< as doubles (the same math; for experiments)
  paillier   ///< encrypted, masked before decryption
};

/// What both parties agree on.
struct ftl_options {
  std::size_t classes = 10;    ///< K
  double gamma = 1.0;          ///< γ, weight of the alignment loss
  double l2 = 1e-4;            ///< λ
  double learning_rate = 1e-3; ///< Adam's step size
  /// α, weight of A's own supervised term (α/N_A) Σ_i Σ_c ℓ(y_ic, Φ_c·u_i^A) over all its rows,
  /// computed by A alone (nothing exchanged). 0: the paper's loss.
  double self_weight = 0.0;
  ftl_mode mode = ftl_mode::plaintext;
  double max_abs_value = 1e6; ///< bound on every received or decoded value
  std::uint64_t session = 0;
  fedpp::parallel::thread_pool* pool = nullptr; ///< Paillier work on this pool (not owned)
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};

  void validate() const {
    auto bad = [](const std::string& why) { throw invalid_config("ftl_options: " + why); };
    if (classes < 2) bad("classes must be >= 2");
    if (!(gamma >= 0) || !std::isfinite(gamma)) bad("gamma must be finite and >= 0");
    if (!(l2 >= 0) || !std::isfinite(l2)) bad("l2 must be finite and >= 0");
    if (!(learning_rate > 0) || !std::isfinite(learning_rate)) bad("learning_rate must be finite and > 0");
    if (!(self_weight >= 0) || !std::isfinite(self_weight)) bad("self_weight must be finite and >= 0");
    if (!(max_abs_value > 0) || !std::isfinite(max_abs_value)) bad("max_abs_value must be finite and > 0");
  }
};

/// One party's rows, row-major, owned.
struct ftl_rows {
  std::size_t rows = 0, width = 0;
  std::vector<double> x;
  [[nodiscard]] const double* row(std::size_t i) const noexcept { return x.data() + i * width; }
  void validate(const char* who) const {
    if (x.size() != rows * width)
      throw invalid_config(std::string(who) + ": " + std::to_string(x.size()) + " values for " +
                           std::to_string(rows) + " x " + std::to_string(width));
    for (double v : x)
      if (!std::isfinite(v)) throw invalid_config(std::string(who) + ": a feature value is not finite");
  }
};

namespace detail {

/// Fixed point of FTL's Paillier mode: inputs at 16^−10, products and added terms at 16^−20.
inline constexpr int ftl_exp1 = -10;
inline constexpr int ftl_exp2 = -20;

inline bigint ftl_mantissa(const paillier_public_key& pk, double v, int exponent) {
  const encoded_number e = encode(pk, v, exponent == ftl_exp1 ? 1e-12 : 1e-24);
  if (e.exponent != exponent) throw invalid_config("ftl: fixed-point exponent mismatch");
  return signed_mantissa(pk, e.encoding);
}

/// A message body: sections of doubles, ciphertexts or residues, each checked on reading.
class ftl_writer {
public:
  void doubles(std::span<const double> v) {
    w_.u8(0);
    w_.u64(v.size());
    for (double x : v) {
      std::uint64_t b = 0;
      std::memcpy(&b, &x, 8);
      w_.u64(b);
    }
  }
  void ciphertexts(const paillier_public_key& pk, std::span<const paillier_ciphertext> cs) {
    const auto bytes = paillier_wire::encode_ciphertexts(pk, cs);
    w_.u8(1);
    w_.u64(bytes.size());
    w_.raw(bytes);
  }
  void residues(const paillier_public_key& pk, std::span<const bigint> ms) {
    const std::size_t width = (pk.bits() + 7) / 8;
    w_.u8(2);
    w_.u64(ms.size());
    for (const auto& m : ms) m.write_le(std::span<std::byte>(w_.grow(width), width));
  }
  std::vector<std::byte>& bytes() { return w_.bytes(); }

private:
  vertical::detail::byte_writer w_;
};

class ftl_reader {
public:
  ftl_reader(std::span<const std::byte> p, const char* what, double bound) : r_(p, what), bound_(bound) {}
  std::vector<double> doubles(std::size_t expected) {
    kind(0);
    const std::uint64_t count = r_.u64();
    if (count != expected)
      r_.fail("holds " + std::to_string(count) + " values where " + std::to_string(expected) +
              " were expected");
    r_.check_count(count, 8);
    std::vector<double> out(count);
    for (auto& v : out) {
      const std::uint64_t b = r_.u64();
      std::memcpy(&v, &b, 8);
      if (!std::isfinite(v) || std::fabs(v) > bound_)
        r_.fail("holds a value that is not finite or above the bound");
    }
    return out;
  }
  std::vector<paillier_ciphertext> ciphertexts(const paillier_public_key& pk, std::size_t expected) {
    kind(1);
    const std::uint64_t len = r_.u64();
    if (len > r_.remaining()) r_.fail("declares a ciphertext section longer than the message");
    auto list = paillier_wire::decode_ciphertexts(pk, r_.raw(static_cast<std::size_t>(len)), expected);
    if (list.ciphertexts.size() != expected || !list.exponents.empty())
      r_.fail("holds " + std::to_string(list.ciphertexts.size()) + " ciphertexts where " +
              std::to_string(expected) + " (without exponents) were expected");
    return std::move(list.ciphertexts);
  }
  /// Residues below n, unmasked with `masks` and decoded at exponent ftl_exp2.
  std::vector<double> unmasked(const paillier_public_key& pk, std::span<const bigint> masks) {
    kind(2);
    const std::uint64_t count = r_.u64();
    if (count != masks.size())
      r_.fail("holds " + std::to_string(count) + " residues where " + std::to_string(masks.size()) +
              " were expected");
    const std::size_t width = (pk.bits() + 7) / 8;
    r_.check_count(count, width);
    std::vector<double> out(count);
    for (std::size_t i = 0; i < count; ++i) {
      const bigint v = bigint::from_bytes_le(r_.raw(width));
      if (v >= pk.n()) r_.fail("residue " + std::to_string(i) + " is not below n");
      double x = 0;
      try {
        x = decode(pk, encoded_number{(v - masks[i]).mod(pk.n()), ftl_exp2});
      } catch (const paillier_overflow&) {
        r_.fail("residue " + std::to_string(i) + " unmasks to an overflow");
      }
      if (!std::isfinite(x) || std::fabs(x) > bound_)
        r_.fail("residue " + std::to_string(i) + " unmasks above the bound");
      out[i] = x;
    }
    return out;
  }
  void finish() const { r_.finish(); }

private:
  void kind(std::uint8_t k) {
    const std::uint8_t got = r_.u8();
    if (got != k)
      r_.fail("has a section of kind " + std::to_string(got) + " where " + std::to_string(k) +
              " was expected");
  }
  vertical::detail::byte_reader r_;
  double bound_;
};

inline message ftl_message(ftl_tag tag, std::uint64_t round, endpoint_id self,
                           std::vector<std::byte>& payload) {
  return vertical::detail::control_message(round, self, static_cast<std::uint32_t>(tag), payload);
}

inline std::span<const std::byte> ftl_expect(const wire::decoded_message& d, ftl_tag tag, std::uint64_t round,
                                             const char* who) {
  if (d.kind() != wire::message_kind::control || d.tag() != static_cast<std::uint32_t>(tag))
    throw malformed_message(std::string(who) + ": expected tag " +
                            wire::detail::hex(static_cast<std::uint32_t>(tag)) + ", got tag " +
                            wire::detail::hex(d.tag()));
  if (d.round() != round)
    throw malformed_message(std::string(who) + ": message of step " + std::to_string(d.round()) + " where " +
                            std::to_string(round) + " was expected (out of order)");
  return d.payload_bytes();
}

/// Adam (Kingma & Ba 2015) with L2 added to the gradient.
struct ftl_adam {
  std::vector<double> m, v;
  std::uint64_t t = 0;
  void step(std::span<double> theta, std::span<const double> grad, double lr, double l2) {
    if (m.empty()) m.assign(theta.size(), 0.0), v.assign(theta.size(), 0.0);
    ++t;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1.0 - std::pow(b1, static_cast<double>(t)),
                 c2 = 1.0 - std::pow(b2, static_cast<double>(t));
    for (std::size_t i = 0; i < theta.size(); ++i) {
      const double g = grad[i] + l2 * theta[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      theta[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
    }
  }
};

/// Encrypts values at `exponent` with the key holder's CRT obfuscators.
inline std::vector<paillier_ciphertext> ftl_encrypt(const paillier_private_key& sk, std::span<const double> v,
                                                    int exponent, random_source& rng,
                                                    fedpp::parallel::thread_pool* pool) {
  std::vector<bigint> ms(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    ms[i] = sk.public_key().to_residue(ftl_mantissa(sk.public_key(), v[i], exponent));
  return sk.encrypt(ms, rng, pool);
}

/// out[i] (exponent ftl_exp2) = base[i] + plain[i] + Σ_k coef(i, k) · c(i, k), plus mask[i],
/// re-randomised: the homomorphic linear maps of both parties. coef and c at ftl_exp1, base (a
/// ciphertext, optional) and plain (optional) at ftl_exp2.
template <class Terms>
std::vector<paillier_ciphertext>
ftl_linear(const paillier_public_key& pk, std::size_t outputs, std::size_t terms, Terms&& term,
           std::span<const double> plain, const std::vector<paillier_ciphertext>* base,
           std::vector<bigint>& masks, random_source& rng, fedpp::parallel::thread_pool* pool) {
  masks.resize(outputs);
  std::vector<bigint> rs(outputs);
  for (std::size_t i = 0; i < outputs; ++i) {
    masks[i] = vertical::detail::uniform_below(pk.n(), rng);
    rs[i] = pk.random_r(rng);
  }
  std::vector<paillier_ciphertext> out(outputs);
  vertical::detail::for_each_index(pool, outputs, [&](std::size_t i) {
    paillier_ciphertext acc = base != nullptr ? (*base)[i] : paillier_ciphertext{bigint(1)};
    for (std::size_t k = 0; k < terms; ++k) {
      const auto [coef, c] = term(i, k);
      if (coef == 0.0) continue;
      const bigint mc = ftl_mantissa(pk, coef, ftl_exp1);
      if (mc.sign() == 0) continue;
      acc = pk.add(acc, pk.multiply(*c, mc));
    }
    bigint add = masks[i];
    if (!plain.empty()) add = (add + ftl_mantissa(pk, plain[i], ftl_exp2)).mod(pk.n());
    acc = pk.add_plain(acc, add);
    out[i] = pk.add(acc, paillier_ciphertext{pk.obfuscator_for(rs[i])});
  });
  return out;
}

} // namespace detail

/// Party A: labelled rows, its network and Φ. Step calls: on_b_components() → a_components
/// message; in Paillier mode then on_b_reply() → a_reply message. A refused message leaves it
/// unchanged.
class ftl_party_a {
public:
  /// `labels` one per row in [0, classes); `overlap[j]` A's row of overlap row j (B's row
  /// overlap_b[j]); `keys` needed in Paillier mode.
  ftl_party_a(split_nn_mlp<double> net, std::uint64_t init_seed, ftl_rows x, std::vector<int> labels,
              std::vector<std::size_t> overlap, ftl_options options,
              std::optional<paillier_keypair> keys = std::nullopt, random_source rng = random_source())
      : net_(std::move(net)), x_(std::move(x)), labels_(std::move(labels)), overlap_(std::move(overlap)),
        o_(options), keys_(std::move(keys)), rng_(std::move(rng)) {
    o_.validate();
    x_.validate("ftl_party_a");
    if (x_.width != net_.input_width())
      throw invalid_config("ftl_party_a: rows of width " + std::to_string(x_.width) +
                           " for a network of input " + std::to_string(net_.input_width()));
    if (labels_.size() != x_.rows) throw invalid_config("ftl_party_a: one label per row");
    for (int l : labels_)
      if (l < 0 || static_cast<std::size_t>(l) >= o_.classes)
        throw invalid_config("ftl_party_a: a label outside [0, classes)");
    if (overlap_.empty()) throw invalid_config("ftl_party_a: no overlap rows");
    for (std::size_t r : overlap_)
      if (r >= x_.rows)
        throw invalid_config("ftl_party_a: overlap row " + std::to_string(r) + " out of range");
    if (o_.mode == ftl_mode::paillier && !keys_)
      throw invalid_config("ftl_party_a: Paillier mode needs a key pair");
    theta_.resize(net_.num_parameters());
    net_.initialize(theta_, init_seed);
  }

  [[nodiscard]] const std::vector<double>& parameters() const noexcept { return theta_; }
  [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
  [[nodiscard]] std::size_t dimension() const noexcept { return net_.output_width(); }
  /// ∂L/∂θ_A of the last step (before L2 and Adam).
  [[nodiscard]] const std::vector<double>& last_gradient() const noexcept { return grad_; }
  /// The loss of the last step (plaintext mode only: Paillier mode leaves it NaN).
  [[nodiscard]] double last_loss() const noexcept { return loss_; }
  [[nodiscard]] const ftl_options& options() const noexcept { return o_; }

  /// This party's public key (Paillier mode).
  [[nodiscard]] message public_key_message(endpoint_id self) const {
    auto p = paillier_wire::encode_public_key(keys_.value().public_key);
    return detail::ftl_message(ftl_tag::public_key, o_.session, self, p);
  }
  /// B's public key.
  void on_public_key(const wire::decoded_message& d, const paillier_wire::key_limits& limits = {}) {
    const auto p = detail::ftl_expect(d, ftl_tag::public_key, o_.session, "ftl party A");
    if (peer_) throw malformed_message("ftl party A: a second public key");
    peer_ = paillier_wire::decode_public_key(p, limits);
  }

  /// B's U^B and P: computes Φ, a, M and (plaintext mode) steps; returns the message for B.
  message on_b_components(const wire::decoded_message& d, endpoint_id self) {
    if (waiting_reply_) throw malformed_message("ftl party A: B's components while waiting for its reply");
    if (o_.mode == ftl_mode::paillier && !peer_)
      throw malformed_message("ftl party A: B's components before its key");
    const auto p = detail::ftl_expect(d, ftl_tag::b_components, step_, "ftl party A");
    const std::size_t n = overlap_.size(), dd = dimension(), K = o_.classes;
    detail::ftl_reader r(p, "ftl B components", o_.max_abs_value);
    std::vector<double> ub, pm;
    std::vector<paillier_ciphertext> cub, cp;
    if (o_.mode == ftl_mode::plaintext) {
      ub = r.doubles(n * dd);
      pm = r.doubles(dd * dd);
    } else {
      cub = r.ciphertexts(*peer_, n * dd);
      cp = r.ciphertexts(*peer_, dd * dd);
    }
    r.finish();

    // Forward on every row of A; Φ; the overlap's y, u^A.
    {
      const auto u = net_.forward(theta_, x_.rows, x_.x.data(), x_.width, ws_);
      ua_.assign(u.begin(), u.end());
    }
    const double na = static_cast<double>(x_.rows), nn = static_cast<double>(n);
    phi_.assign(K * dd, 0.0);
    for (std::size_t i = 0; i < x_.rows; ++i)
      for (std::size_t c = 0; c < K; ++c) {
        const double y = y_of(i, c);
        for (std::size_t k = 0; k < dd; ++k) phi_[c * dd + k] += y * ua_[i * dd + k] / na;
      }
    // a_j = −(1/2n) Σ_c y_jc Φ_c − (γ/n) u_j^A;  M = (1/4n) ΦᵀΦ + (γ/n) I.
    std::vector<double> a(n * dd, 0.0), m(dd * dd, 0.0);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < dd; ++k) {
        double s = 0;
        for (std::size_t c = 0; c < K; ++c) s += y_of(overlap_[j], c) * phi_[c * dd + k];
        a[j * dd + k] = -s / (2 * nn) - o_.gamma / nn * ua_[overlap_[j] * dd + k];
      }
    for (std::size_t k = 0; k < dd; ++k)
      for (std::size_t l = 0; l < dd; ++l) {
        double s = 0;
        for (std::size_t c = 0; c < K; ++c) s += phi_[c * dd + k] * phi_[c * dd + l];
        m[k * dd + l] = s / (4 * nn) + (k == l ? o_.gamma / nn : 0.0);
      }
    // A's own supervised term (local): r_ic = −½ y_ic + ¼ φ_ic with φ_i = Φ u_i^A.
    self_u_.assign(x_.rows * dd, 0.0);
    self_phi_.assign(K * dd, 0.0);
    self_loss_ = 0;
    if (o_.self_weight > 0) {
      const double w = o_.self_weight / na;
      for (std::size_t i = 0; i < x_.rows; ++i)
        for (std::size_t c = 0; c < K; ++c) {
          double phi = 0;
          for (std::size_t k = 0; k < dd; ++k) phi += phi_[c * dd + k] * ua_[i * dd + k];
          const double y = y_of(i, c);
          const double rr = w * (-0.5 * y + 0.25 * phi);
          self_loss_ += w * (std::log(2.0) - 0.5 * y * phi + 0.125 * phi * phi);
          for (std::size_t k = 0; k < dd; ++k) {
            self_u_[i * dd + k] += rr * phi_[c * dd + k];
            self_phi_[c * dd + k] += rr * ua_[i * dd + k];
          }
        }
    }
    detail::ftl_writer w;
    if (o_.mode == ftl_mode::plaintext) {
      // A's gradient directly from U^B and P; the loss too.
      std::vector<double> g_ov(n * dd), g_phi(K * dd);
      double loss = 0;
      for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t c = 0; c < K; ++c) {
          double phi = 0;
          for (std::size_t k = 0; k < dd; ++k) phi += phi_[c * dd + k] * ub[j * dd + k];
          const double y = y_of(overlap_[j], c);
          loss += (std::log(2.0) - 0.5 * y * phi + 0.125 * phi * phi) / nn;
        }
        for (std::size_t k = 0; k < dd; ++k) {
          const double diff = ua_[overlap_[j] * dd + k] - ub[j * dd + k];
          g_ov[j * dd + k] = o_.gamma / nn * diff;
          loss += 0.5 * o_.gamma / nn * diff * diff;
        }
      }
      for (std::size_t c = 0; c < K; ++c)
        for (std::size_t k = 0; k < dd; ++k) {
          double s = 0;
          for (std::size_t j = 0; j < n; ++j) s += y_of(overlap_[j], c) * ub[j * dd + k];
          double t = 0;
          for (std::size_t l = 0; l < dd; ++l) t += phi_[c * dd + l] * pm[l * dd + k];
          g_phi[c * dd + k] = -s / (2 * nn) + t / (4 * nn);
        }
      w.doubles(a);
      w.doubles(m);
      auto out = detail::ftl_message(ftl_tag::a_components, step_, self, w.bytes());
      apply(g_ov, g_phi);
      loss_ = loss + self_loss_;
      return out;
    }
    // Paillier: [[a]] (exp −20), [[M]] (exp −10) under A's key; A's gradients under B's key.
    const paillier_public_key& pb = *peer_;
    // Σ_j y_jc [[u_jk]] through sums of ciphertexts: S_all and S⁺ per (c, k).
    std::vector<paillier_ciphertext> s_all(dd, paillier_ciphertext{bigint(1)});
    std::vector<paillier_ciphertext> s_pos(K * dd, paillier_ciphertext{bigint(1)});
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < dd; ++k) {
        s_all[k] = pb.add(s_all[k], cub[j * dd + k]);
        s_pos[labels_[overlap_[j]] * dd + k] = pb.add(s_pos[labels_[overlap_[j]] * dd + k], cub[j * dd + k]);
      }
    // Σ_j y_jc u_jk = (K/(K−1)) S⁺ − (1/(K−1)) S_all:
    // ∂Φ_ck = −(1/2n)((K/(K−1)) S⁺_ck − (1/(K−1)) S_all_k) + (1/4n) Σ_l Φ_cl P_lk.
    const double km1 = static_cast<double>(K - 1);
    std::vector<bigint> masks_ov, masks_phi;
    std::vector<double> plain_ov(n * dd);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < dd; ++k) plain_ov[j * dd + k] = o_.gamma / nn * ua_[overlap_[j] * dd + k];
    const double neg_g = -o_.gamma / nn;
    auto enc_ov = detail::ftl_linear(
        pb, n * dd, 1,
        [&](std::size_t i, std::size_t) {
          return std::pair<double, const paillier_ciphertext*>(neg_g, &cub[i]);
        },
        plain_ov, nullptr, masks_ov, rng_, o_.pool);
    auto enc_phi = detail::ftl_linear(
        pb, K * dd, 2 + dd,
        [&](std::size_t i, std::size_t t) {
          const std::size_t c = i / dd, k = i % dd;
          if (t == 0)
            return std::pair<double, const paillier_ciphertext*>(-static_cast<double>(K) / (km1 * 2 * nn),
                                                                 &s_pos[i]);
          if (t == 1) return std::pair<double, const paillier_ciphertext*>(1.0 / (km1 * 2 * nn), &s_all[k]);
          const std::size_t l = t - 2;
          return std::pair<double, const paillier_ciphertext*>(phi_[c * dd + l] / (4 * nn), &cp[l * dd + k]);
        },
        {}, nullptr, masks_phi, rng_, o_.pool);
    const auto ea = detail::ftl_encrypt(keys_->private_key, a, detail::ftl_exp2, rng_, o_.pool);
    const auto em = detail::ftl_encrypt(keys_->private_key, m, detail::ftl_exp1, rng_, o_.pool);
    w.ciphertexts(keys_->public_key, ea);
    w.ciphertexts(keys_->public_key, em);
    w.ciphertexts(pb, enc_ov);
    w.ciphertexts(pb, enc_phi);
    masks_ov_ = std::move(masks_ov);
    masks_phi_ = std::move(masks_phi);
    waiting_reply_ = true;
    loss_ = std::nan("");
    return detail::ftl_message(ftl_tag::a_components, step_, self, w.bytes());
  }

  /// Paillier mode: B's decryptions of A's masked gradients and [[∂L/∂U^B + R₃]]: A unmasks and
  /// steps, and returns ∂L/∂U^B + R₃ decrypted.
  message on_b_reply(const wire::decoded_message& d, endpoint_id self) {
    if (!waiting_reply_) throw malformed_message("ftl party A: B's reply out of order");
    const auto p = detail::ftl_expect(d, ftl_tag::b_reply, step_, "ftl party A");
    const std::size_t n = overlap_.size(), dd = dimension();
    detail::ftl_reader r(p, "ftl B reply", o_.max_abs_value);
    const auto g_ov = r.unmasked(*peer_, masks_ov_);
    const auto g_phi = r.unmasked(*peer_, masks_phi_);
    const auto cgb = r.ciphertexts(keys_->public_key, n * dd);
    r.finish();
    const auto res = keys_->private_key.decrypt(cgb, o_.pool);
    detail::ftl_writer w;
    w.residues(keys_->public_key, res);
    auto out = detail::ftl_message(ftl_tag::a_reply, step_, self, w.bytes());
    waiting_reply_ = false;
    apply(g_ov, g_phi);
    return out;
  }

  /// Φ for B's predictions: plaintext, or [[Φ]] under A's key (Paillier mode).
  [[nodiscard]] message phi_message(endpoint_id self) {
    compute_phi();
    detail::ftl_writer w;
    if (o_.mode == ftl_mode::plaintext) {
      w.doubles(phi_);
    } else {
      w.ciphertexts(keys_->public_key,
                    detail::ftl_encrypt(keys_->private_key, phi_, detail::ftl_exp1, rng_, o_.pool));
    }
    return detail::ftl_message(ftl_tag::phi, o_.session, self, w.bytes());
  }
  /// Paillier mode: decrypts B's masked scores (at most max_rows rows of K).
  [[nodiscard]] message on_scores(const wire::decoded_message& d, endpoint_id self, std::size_t rows) const {
    const auto p = detail::ftl_expect(d, ftl_tag::scores, o_.session, "ftl party A");
    detail::ftl_reader r(p, "ftl masked scores", o_.max_abs_value);
    const auto cs = r.ciphertexts(keys_->public_key, rows * o_.classes);
    r.finish();
    detail::ftl_writer w;
    w.residues(keys_->public_key, keys_->private_key.decrypt(cs, o_.pool));
    return detail::ftl_message(ftl_tag::scores_reply, o_.session, self, w.bytes());
  }

private:
  /// The target coding: +1 at the label, −1/(K − 1) elsewhere (K = 2: the paper's ±1).
  double y_of(std::size_t row, std::size_t c) const noexcept {
    return labels_[row] == static_cast<int>(c) ? 1.0 : -1.0 / static_cast<double>(o_.classes - 1);
  }
  void compute_phi() {
    const auto u = net_.forward(theta_, x_.rows, x_.x.data(), x_.width, ws_);
    const std::size_t dd = dimension(), K = o_.classes;
    phi_.assign(K * dd, 0.0);
    for (std::size_t i = 0; i < x_.rows; ++i)
      for (std::size_t c = 0; c < K; ++c)
        for (std::size_t k = 0; k < dd; ++k)
          phi_[c * dd + k] += y_of(i, c) * u[i * dd + k] / static_cast<double>(x_.rows);
  }
  /// dU^A = (1/N_A) Σ_c y_ic ∂Φ_c for every row, + the alignment gradient on the overlap rows.
  void apply(const std::vector<double>& g_ov, const std::vector<double>& g_phi) {
    const std::size_t dd = dimension(), K = o_.classes;
    std::vector<double> du = self_u_;
    du.resize(x_.rows * dd, 0.0);
    for (std::size_t i = 0; i < x_.rows; ++i)
      for (std::size_t c = 0; c < K; ++c) {
        const double y = y_of(i, c) / static_cast<double>(x_.rows);
        for (std::size_t k = 0; k < dd; ++k)
          du[i * dd + k] += y * (g_phi[c * dd + k] + (self_phi_.empty() ? 0.0 : self_phi_[c * dd + k]));
      }
    for (std::size_t j = 0; j < overlap_.size(); ++j)
      for (std::size_t k = 0; k < dd; ++k) du[overlap_[j] * dd + k] += g_ov[j * dd + k];
    std::vector<double> grad(theta_.size());
    (void)net_.forward(theta_, x_.rows, x_.x.data(), x_.width, ws_);
    net_.backward(theta_, x_.rows, x_.x.data(), x_.width, du, grad, {}, ws_);
    adam_.step(theta_, grad, o_.learning_rate, o_.l2);
    grad_ = std::move(grad);
    ++step_;
  }

  split_nn_mlp<double> net_;
  ftl_rows x_;
  std::vector<int> labels_;
  std::vector<std::size_t> overlap_;
  ftl_options o_;
  std::optional<paillier_keypair> keys_;
  std::optional<paillier_public_key> peer_;
  random_source rng_;
  std::vector<double> theta_, ua_, phi_, grad_, self_u_, self_phi_;
  double self_loss_ = 0;
  std::vector<bigint> masks_ov_, masks_phi_;
  split_nn_mlp<double>::workspace ws_;
  detail::ftl_adam adam_;
  std::uint64_t step_ = 0;
  double loss_ = std::nan("");
  bool waiting_reply_ = false;
};

/// Party B: its rows (the overlap among them) and its network. Step calls: components_message();
/// on_a_components() (plaintext mode: steps; Paillier mode: returns the b_reply message);
/// Paillier mode: on_a_reply() steps. Predictions: on_phi(), then predict() (plaintext) or
/// scores_message() / on_scores_reply() (Paillier).
class ftl_party_b {
public:
  ftl_party_b(split_nn_mlp<double> net, std::uint64_t init_seed, ftl_rows x, std::vector<std::size_t> overlap,
              ftl_options options, std::optional<paillier_keypair> keys = std::nullopt,
              random_source rng = random_source())
      : net_(std::move(net)), x_(std::move(x)), overlap_(std::move(overlap)), o_(options),
        keys_(std::move(keys)), rng_(std::move(rng)) {
    o_.validate();
    x_.validate("ftl_party_b");
    if (x_.width != net_.input_width())
      throw invalid_config("ftl_party_b: rows of another width than the network's input");
    if (overlap_.empty()) throw invalid_config("ftl_party_b: no overlap rows");
    for (std::size_t r : overlap_)
      if (r >= x_.rows)
        throw invalid_config("ftl_party_b: overlap row " + std::to_string(r) + " out of range");
    if (o_.mode == ftl_mode::paillier && !keys_)
      throw invalid_config("ftl_party_b: Paillier mode needs a key pair");
    theta_.resize(net_.num_parameters());
    net_.initialize(theta_, init_seed);
    xo_.rows = overlap_.size();
    xo_.width = x_.width;
    for (std::size_t r : overlap_) xo_.x.insert(xo_.x.end(), x_.row(r), x_.row(r) + x_.width);
  }

  [[nodiscard]] const std::vector<double>& parameters() const noexcept { return theta_; }
  [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
  [[nodiscard]] std::size_t dimension() const noexcept { return net_.output_width(); }
  /// ∂L/∂θ_B of the last step (before L2 and Adam).
  [[nodiscard]] const std::vector<double>& last_gradient() const noexcept { return grad_; }

  [[nodiscard]] message public_key_message(endpoint_id self) const {
    auto p = paillier_wire::encode_public_key(keys_.value().public_key);
    return detail::ftl_message(ftl_tag::public_key, o_.session, self, p);
  }
  void on_public_key(const wire::decoded_message& d, const paillier_wire::key_limits& limits = {}) {
    const auto p = detail::ftl_expect(d, ftl_tag::public_key, o_.session, "ftl party B");
    if (peer_) throw malformed_message("ftl party B: a second public key");
    peer_ = paillier_wire::decode_public_key(p, limits);
  }

  /// U^B on the overlap and P = Σ_j u_j u_jᵀ (encrypted under B's key in Paillier mode).
  [[nodiscard]] message components_message(endpoint_id self) {
    if (sent_) throw invalid_config("ftl party B: components already sent for step " + std::to_string(step_));
    const std::size_t n = overlap_.size(), dd = dimension();
    const auto u = net_.forward(theta_, n, xo_.x.data(), xo_.width, ws_);
    ub_.assign(u.begin(), u.end());
    std::vector<double> pm(dd * dd, 0.0);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < dd; ++k)
        for (std::size_t l = 0; l < dd; ++l) pm[k * dd + l] += ub_[j * dd + k] * ub_[j * dd + l];
    detail::ftl_writer w;
    if (o_.mode == ftl_mode::plaintext) {
      w.doubles(ub_);
      w.doubles(pm);
    } else {
      w.ciphertexts(keys_->public_key,
                    detail::ftl_encrypt(keys_->private_key, ub_, detail::ftl_exp1, rng_, o_.pool));
      w.ciphertexts(keys_->public_key,
                    detail::ftl_encrypt(keys_->private_key, pm, detail::ftl_exp1, rng_, o_.pool));
    }
    sent_ = true;
    return detail::ftl_message(ftl_tag::b_components, step_, self, w.bytes());
  }

  /// A's a and M. Plaintext mode: steps, returns nullopt. Paillier mode: decrypts A's masked
  /// gradients, forms [[a_j + M u_j + R₃]], returns the reply.
  std::optional<message> on_a_components(const wire::decoded_message& d, endpoint_id self) {
    if (!sent_ || waiting_reply_) throw malformed_message("ftl party B: A's components out of order");
    const auto p = detail::ftl_expect(d, ftl_tag::a_components, step_, "ftl party B");
    const std::size_t n = overlap_.size(), dd = dimension(), K = o_.classes;
    detail::ftl_reader r(p, "ftl A components", o_.max_abs_value);
    if (o_.mode == ftl_mode::plaintext) {
      const auto a = r.doubles(n * dd);
      const auto m = r.doubles(dd * dd);
      r.finish();
      std::vector<double> g(n * dd);
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < dd; ++k) {
          double s = a[j * dd + k];
          for (std::size_t l = 0; l < dd; ++l) s += m[k * dd + l] * ub_[j * dd + l];
          g[j * dd + k] = s;
        }
      apply(g);
      return std::nullopt;
    }
    if (!peer_) throw malformed_message("ftl party B: A's components before its key");
    const paillier_public_key& pa = *peer_;
    const auto ca = r.ciphertexts(pa, n * dd);
    const auto cm = r.ciphertexts(pa, dd * dd);
    const auto c_ov = r.ciphertexts(keys_->public_key, n * dd);
    const auto c_phi = r.ciphertexts(keys_->public_key, K * dd);
    r.finish();
    std::vector<bigint> masks;
    // [[g_jk]] = [[a_jk]] + Σ_l u_jl [[M_kl]] + R₃.
    auto enc_g = detail::ftl_linear(
        pa, n * dd, dd,
        [&](std::size_t i, std::size_t t) {
          const std::size_t j = i / dd, k = i % dd;
          return std::pair<double, const paillier_ciphertext*>(ub_[j * dd + t], &cm[k * dd + t]);
        },
        {}, &ca, masks, rng_, o_.pool);
    const auto r_ov = keys_->private_key.decrypt(c_ov, o_.pool);
    const auto r_phi = keys_->private_key.decrypt(c_phi, o_.pool);
    detail::ftl_writer w;
    w.residues(keys_->public_key, r_ov);
    w.residues(keys_->public_key, r_phi);
    w.ciphertexts(pa, enc_g);
    masks_ = std::move(masks);
    waiting_reply_ = true;
    return detail::ftl_message(ftl_tag::b_reply, step_, self, w.bytes());
  }

  /// Paillier mode: A's decryption of [[∂L/∂U^B + R₃]]: unmask, step.
  void on_a_reply(const wire::decoded_message& d) {
    if (!waiting_reply_) throw malformed_message("ftl party B: A's reply out of order");
    const auto p = detail::ftl_expect(d, ftl_tag::a_reply, step_, "ftl party B");
    detail::ftl_reader r(p, "ftl A reply", o_.max_abs_value);
    const auto g = r.unmasked(*peer_, masks_);
    r.finish();
    waiting_reply_ = false;
    apply(g);
  }

  /// A's Φ (plaintext) or [[Φ]] (Paillier), kept for predictions.
  void on_phi(const wire::decoded_message& d) {
    const auto p = detail::ftl_expect(d, ftl_tag::phi, o_.session, "ftl party B");
    detail::ftl_reader r(p, "ftl phi", o_.max_abs_value);
    const std::size_t n = o_.classes * dimension();
    if (o_.mode == ftl_mode::plaintext) {
      auto phi = r.doubles(n);
      r.finish();
      phi_ = std::move(phi);
    } else {
      if (!peer_) throw malformed_message("ftl party B: Φ before A's key");
      auto c = r.ciphertexts(*peer_, n);
      r.finish();
      cphi_ = std::move(c);
    }
  }

  /// Plaintext mode: scores φ(u^B) = Φ u^B (rows × K) of `rows` of B's data.
  [[nodiscard]] std::vector<double> predict(std::span<const std::size_t> rows) {
    if (phi_.empty()) throw invalid_config("ftl party B: predict before Φ");
    const auto u = represent(rows);
    const std::size_t dd = dimension(), K = o_.classes;
    std::vector<double> out(rows.size() * K, 0.0);
    for (std::size_t i = 0; i < rows.size(); ++i)
      for (std::size_t c = 0; c < K; ++c)
        for (std::size_t k = 0; k < dd; ++k) out[i * K + c] += phi_[c * dd + k] * u[i * dd + k];
    return out;
  }
  /// Paillier mode: [[Φ u^B + R]] of `rows` for A to decrypt.
  [[nodiscard]] message scores_message(std::span<const std::size_t> rows, endpoint_id self) {
    if (cphi_.empty()) throw invalid_config("ftl party B: scores before [[Φ]]");
    score_u_ = represent(rows);
    const std::size_t dd = dimension(), K = o_.classes;
    auto enc = detail::ftl_linear(
        *peer_, rows.size() * K, dd,
        [&](std::size_t i, std::size_t k) {
          return std::pair<double, const paillier_ciphertext*>(score_u_[(i / K) * dd + k],
                                                               &cphi_[(i % K) * dd + k]);
        },
        {}, nullptr, score_masks_, rng_, o_.pool);
    detail::ftl_writer w;
    w.ciphertexts(*peer_, enc);
    return detail::ftl_message(ftl_tag::scores, o_.session, self, w.bytes());
  }
  /// Paillier mode: the decrypted masked scores → rows × K scores.
  [[nodiscard]] std::vector<double> on_scores_reply(const wire::decoded_message& d) {
    const auto p = detail::ftl_expect(d, ftl_tag::scores_reply, o_.session, "ftl party B");
    detail::ftl_reader r(p, "ftl scores", o_.max_abs_value);
    auto s = r.unmasked(*peer_, score_masks_);
    r.finish();
    return s;
  }

private:
  std::vector<double> represent(std::span<const std::size_t> rows) {
    ftl_rows sel{rows.size(), x_.width, {}};
    for (std::size_t r : rows) {
      if (r >= x_.rows) throw invalid_config("ftl party B: row " + std::to_string(r) + " out of range");
      sel.x.insert(sel.x.end(), x_.row(r), x_.row(r) + x_.width);
    }
    const auto u = net_.forward(theta_, sel.rows, sel.x.data(), sel.width, ws_);
    return {u.begin(), u.end()};
  }
  void apply(const std::vector<double>& g) {
    std::vector<double> grad(theta_.size());
    (void)net_.forward(theta_, xo_.rows, xo_.x.data(), xo_.width, ws_);
    net_.backward(theta_, xo_.rows, xo_.x.data(), xo_.width, g, grad, {}, ws_);
    adam_.step(theta_, grad, o_.learning_rate, o_.l2);
    grad_ = std::move(grad);
    sent_ = false;
    ++step_;
  }

  split_nn_mlp<double> net_;
  ftl_rows x_, xo_;
  std::vector<std::size_t> overlap_;
  ftl_options o_;
  std::optional<paillier_keypair> keys_;
  std::optional<paillier_public_key> peer_;
  random_source rng_;
  std::vector<double> theta_, ub_, phi_, score_u_, grad_;
  std::vector<paillier_ciphertext> cphi_;
  std::vector<bigint> masks_, score_masks_;
  split_nn_mlp<double>::workspace ws_;
  detail::ftl_adam adam_;
  std::uint64_t step_ = 0;
  bool sent_ = false, waiting_reply_ = false;
};

/// Party A over a transport: key exchange (Paillier mode), `steps` steps, then Φ for B.
/// `on_step(step, loss)` after each step (loss NaN in Paillier mode).
template <transport T, class OnStep>
void run_ftl_party_a(T& t, endpoint_id b, ftl_party_a& a, std::size_t steps, OnStep&& on_step,
                     const paillier_wire::key_limits& limits = {}) {
  const auto to = a.options().timeout;
  auto next = [&] { return detail::receive_from_peer(t, b, to, "ftl party A"); };
  if (a.options().mode == ftl_mode::paillier) {
    t.send(b, a.public_key_message(t.id()));
    a.on_public_key(next(), limits);
  }
  for (std::size_t s = 0; s < steps; ++s) {
    t.send(b, a.on_b_components(next(), t.id()));
    if (a.options().mode == ftl_mode::paillier) t.send(b, a.on_b_reply(next(), t.id()));
    on_step(s, a.last_loss());
  }
  t.send(b, a.phi_message(t.id()));
}

/// Party B over a transport: the counterpart of run_ftl_party_a.
template <transport T>
void run_ftl_party_b(T& t, endpoint_id a, ftl_party_b& b, std::size_t steps, const ftl_options& o,
                     const paillier_wire::key_limits& limits = {}) {
  auto next = [&] { return detail::receive_from_peer(t, a, o.timeout, "ftl party B"); };
  if (o.mode == ftl_mode::paillier) {
    t.send(a, b.public_key_message(t.id()));
    b.on_public_key(next(), limits);
  }
  for (std::size_t s = 0; s < steps; ++s) {
    t.send(a, b.components_message(t.id()));
    auto reply = b.on_a_components(next(), t.id());
    if (reply) {
      t.send(a, *reply);
      b.on_a_reply(next());
    }
  }
  b.on_phi(next());
}

} // namespace fedpp::vertical
