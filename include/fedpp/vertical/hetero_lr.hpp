/// \file hetero_lr.hpp
/// Vertical (heterogeneous) logistic regression with Paillier: the guest holds the labels and
/// some feature columns of the aligned rows (after PSI), each host other columns of the same rows.
/// The protocol is FATE's hetero-LR without an arbiter (the guest holds the key), the two-party
/// form of Hardy et al. 2017 ("Private federated learning on vertically partitioned data via
/// entity resolution and additively homomorphic encryption", arXiv:1711.10677), with their
/// Taylor approximation of the logistic loss at wx = 0 (labels y ∈ {−1, +1}):
///
///   log(1 + e^(−y·wx)) ≈ log 2 − ½·y·wx + ⅛·(wx)²,   d = ∂/∂wx = ¼·wx − ½·y   (the "residual")
///
/// Per mini-batch B (the same batches on every party: hetero_lr_schedule, shared seed):
///
///   host h → guest   wx_h = X_h·w_h on B's rows (plaintext: the guest learns it)
///   guest            wx = X_g·w_g + b + Σ_h wx_h, d_i = ¼·wx_i − ½·y_i,
///                    updates w_g, b with its own plaintext gradient
///   guest → hosts    [[d_i]] for i ∈ B (Paillier, the guest's key; fixed point 16^−10)
///   host h           [[G_j]] = Π_i [[d_i]]^(x_ij) = [[Σ_i d_i·x_ij]] for each of its columns j,
///                    re-randomised, plus a uniform mask r_j ∈ Z_n: [[G_j + r_j]]
///   host h → guest   [[G_j + r_j]]
///   guest → host h   (G_j + r_j) mod n, decrypted (a uniform residue: it tells the guest nothing)
///   host h           G_j = residue − r_j mod n, decoded; w_h ← w_h − η_t·(G_j/|B| + λ·w_h)
///
/// After each epoch the guest tells every host whether to stop (loss change below tolerance, or
/// the last epoch). Learning rate η_t = η₀, η₀/(1 + δ·t) or η₀/√(1 + δ·t) with t the epoch (FATE's
/// "decay" and "decay_sqrt"). L2 penalty λ/2·‖w‖² on every weight but the intercept (held by
/// the guest). Prediction on aligned rows: each host sends wx_h for the rows the guest names.
///
/// What each party learns (semi-honest parties): the guest learns wx_h of every batch row (as in
/// FATE: the host's partial linear predictor, not its features or weights), the hosts' feature
/// counts, and uniform residues; a host learns the encrypted residuals only (IND-CPA under the
/// guest's key) and its own gradient; no party sees another's features, labels or unmasked
/// gradients. Not covered: a malicious host may ask the guest to decrypt ciphertexts built from
/// [[d]] (the guest refuses one equal to a residual it sent, nothing more); repeated wx_h over
/// many epochs constrain the host's data (the known leakage of FATE's protocol).
///
/// Every received message is checked before anything changes (sender endpoint and claimed
/// sender, tag, session or step counter, counts against the batch and the host's columns,
/// ciphertexts in [1, n²) and coprime to n, residues below n, finite values within
/// hetero_lr_options::max_abs_value): malformed_message (or impersonation) with the reason.
/// Opt-in component fedpp::paillier.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"
#include "fedpp/vertical/bigint.hpp"
#include "fedpp/vertical/detail/codec.hpp"
#include "fedpp/vertical/detail/receive_from_peer.hpp"
#include "fedpp/vertical/paillier.hpp"
#include "fedpp/vertical/paillier_encoding.hpp"
#include "fedpp/vertical/paillier_wire.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::vertical {

/// Control tags of hetero-LR (a block of its own; values are part of the wire format).
enum class hetero_lr_tag : std::uint32_t {
  host_hello = 0x484c0001,      ///< host → guest: u64 rows, u64 columns
  public_key = 0x484c0002,      ///< guest → host: the Paillier public key (paillier_wire payload)
  partial_wx = 0x484c0003,      ///< host → guest: u64 count, count × f64 wx_h
  residuals = 0x484c0004,       ///< guest → host: [[d_i]] (paillier_wire ciphertext list)
  masked_gradient = 0x484c0005, ///< host → guest: [[G_j + r_j]] (ciphertext list)
  unmasked = 0x484c0006,        ///< guest → host: u64 count, count × residue (⌈bits(n)/8⌉ bytes)
  epoch_end = 0x484c0007,       ///< guest → host: u8 stop, f64 loss
  predict_rows = 0x484c0008,    ///< guest → host: u64 count, count × u64 row
  predict_wx = 0x484c0009,      ///< host → guest: u64 count, count × f64 wx_h
  finish = 0x484c000a           ///< guest → host: the session is over
};

/// Learning-rate schedules (t = epoch, from 0).
enum class hetero_lr_schedule_kind : std::uint8_t {
  constant,    ///< η₀
  inverse,     ///< η₀ / (1 + δ·t)  (FATE "decay")
  inverse_sqrt ///< η₀ / √(1 + δ·t) (FATE "decay_sqrt")
};

/// Options both parties must agree on (the guest's copy decides when to stop).
struct hetero_lr_options {
  std::size_t batch_size = 64; ///< rows per mini-batch (the last batch of an epoch may be smaller)
  std::size_t max_epochs = 30; ///< epochs at most
  double learning_rate = 0.15; ///< η₀
  hetero_lr_schedule_kind schedule = hetero_lr_schedule_kind::inverse_sqrt;
  double decay = 1.0;         ///< δ
  double l2 = 0.01;           ///< λ (0: none)
  double tolerance = 1e-4;    ///< stop when |loss_e − loss_(e−1)| < tolerance (0: never)
  std::uint64_t seed = 1;     ///< the shared batch order
  std::uint64_t session = 0;  ///< carried in the setup messages' round field
  double max_abs_value = 1e6; ///< bound on received wx_h and decoded gradients
  std::size_t max_host_columns = std::size_t{1} << 20; ///< a host announcing more is refused
  fedpp::parallel::thread_pool* pool = nullptr;        ///< encryption / products on this pool (not owned)
  std::chrono::milliseconds timeout{std::chrono::minutes(10)}; ///< the drivers' wait per message

  /// Throws invalid_config for a value out of range.
  void validate() const {
    auto bad = [](const std::string& why) { throw invalid_config("hetero_lr_options: " + why); };
    if (batch_size == 0) bad("batch_size must be > 0");
    if (max_epochs == 0) bad("max_epochs must be > 0");
    if (!(learning_rate > 0) || !std::isfinite(learning_rate)) bad("learning_rate must be finite and > 0");
    if (!(decay >= 0) || !std::isfinite(decay)) bad("decay must be finite and >= 0");
    if (!(l2 >= 0) || !std::isfinite(l2)) bad("l2 must be finite and >= 0");
    if (!(tolerance >= 0) || !std::isfinite(tolerance)) bad("tolerance must be finite and >= 0");
    if (!(max_abs_value > 0) || !std::isfinite(max_abs_value)) bad("max_abs_value must be finite and > 0");
    if (max_host_columns == 0) bad("max_host_columns must be > 0");
  }
  /// η_t for epoch t.
  [[nodiscard]] double rate(std::size_t epoch) const noexcept {
    const double t = static_cast<double>(epoch);
    switch (schedule) {
    case hetero_lr_schedule_kind::inverse:
      return learning_rate / (1.0 + decay * t);
    case hetero_lr_schedule_kind::inverse_sqrt:
      return learning_rate / std::sqrt(1.0 + decay * t);
    case hetero_lr_schedule_kind::constant:
      break;
    }
    return learning_rate;
  }
};

/// The shared batch order: epoch e's permutation of the N aligned rows (seeded by (seed, e)),
/// cut into batches of B.
class hetero_lr_schedule {
public:
  hetero_lr_schedule(std::size_t rows, std::size_t batch_size, std::uint64_t seed)
      : n_(rows), b_(batch_size), seed_(seed) {
    if (n_ == 0 || b_ == 0) throw invalid_config("hetero_lr_schedule: rows and batch size must be > 0");
  }
  /// Batches per epoch ⌈N/B⌉.
  [[nodiscard]] std::size_t batches() const noexcept { return (n_ + b_ - 1) / b_; }
  /// Epoch e's order of the rows.
  [[nodiscard]] std::vector<std::size_t> order(std::size_t epoch) const {
    std::vector<std::size_t> o(n_);
    std::iota(o.begin(), o.end(), std::size_t{0});
    rng gen = rng::for_stream(seed_, epoch);
    for (std::size_t i = n_; i > 1; --i) std::swap(o[i - 1], o[gen.below(i)]);
    return o;
  }
  /// Batch b of an order.
  [[nodiscard]] std::span<const std::size_t> batch(std::span<const std::size_t> order, std::size_t b) const {
    const std::size_t first = b * b_;
    return order.subspan(first, std::min(b_, order.size() - first));
  }

private:
  std::size_t n_, b_;
  std::uint64_t seed_;
};

/// Rows × columns of one party, row-major, owned.
struct hetero_lr_features {
  std::size_t rows = 0;
  std::size_t columns = 0;
  std::vector<double> x; ///< rows × columns
  /// Throws invalid_config unless x holds rows × columns finite values.
  void validate(const char* who) const {
    if (x.size() != rows * columns)
      throw invalid_config(std::string(who) + ": " + std::to_string(x.size()) + " feature values for " +
                           std::to_string(rows) + " x " + std::to_string(columns));
    for (double v : x)
      if (!std::isfinite(v)) throw invalid_config(std::string(who) + ": a feature value is not finite");
  }
  [[nodiscard]] const double* row(std::size_t i) const noexcept { return x.data() + i * columns; }
};

/// The fixed point of the protocol: residuals and features are encoded with exponent −10
/// (16^−10 ≈ 9.1·10^−13, python-paillier's precision = 1e-12), products with −20.
inline constexpr int hetero_lr_exponent = -10;
/// python-paillier's precision argument that gives hetero_lr_exponent.
inline constexpr double hetero_lr_precision = 1e-12;

namespace detail {

inline bigint hlr_mantissa(const paillier_public_key& pk, double v) {
  const encoded_number e = encode(pk, v, hetero_lr_precision);
  if (e.exponent != hetero_lr_exponent) throw invalid_config("hetero_lr: fixed-point exponent mismatch");
  return signed_mantissa(pk, e.encoding);
}

inline message hlr_message(hetero_lr_tag tag, std::uint64_t round, endpoint_id self,
                           std::vector<std::byte> payload) {
  return vertical::detail::control_message(round, self, static_cast<std::uint32_t>(tag), payload);
}

inline std::span<const std::byte> hlr_expect(const wire::decoded_message& d, hetero_lr_tag tag,
                                             std::uint64_t round, const char* who) {
  if (d.kind() != wire::message_kind::control || d.tag() != static_cast<std::uint32_t>(tag))
    throw malformed_message(std::string(who) + ": expected tag " +
                            wire::detail::hex(static_cast<std::uint32_t>(tag)) + ", got kind " +
                            wire::to_string(d.kind()) + " tag " + wire::detail::hex(d.tag()));
  if (d.round() != round)
    throw malformed_message(std::string(who) + ": message of step/session " + std::to_string(d.round()) +
                            " where " + std::to_string(round) + " was expected (out of order)");
  return d.payload_bytes();
}

inline std::vector<std::byte> hlr_doubles(std::span<const double> v) {
  vertical::detail::byte_writer w;
  w.u64(v.size());
  for (double x : v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &x, 8);
    w.u64(bits);
  }
  return std::move(w.bytes());
}

/// Reads u64 count + count f64, refusing a count other than `expected`, a non-finite value or one
/// above `bound` in magnitude.
inline std::vector<double> hlr_read_doubles(std::span<const std::byte> p, std::size_t expected, double bound,
                                            const char* what) {
  vertical::detail::byte_reader r(p, what);
  const std::uint64_t count = r.u64();
  if (count != expected)
    r.fail("holds " + std::to_string(count) + " values, expected " + std::to_string(expected));
  r.check_count(count, 8);
  std::vector<double> out(count);
  for (auto& v : out) {
    const std::uint64_t bits = r.u64();
    std::memcpy(&v, &bits, 8);
    if (!std::isfinite(v)) r.fail("holds a value that is not finite");
    if (std::fabs(v) > bound) r.fail("holds a value above the bound " + std::to_string(bound));
  }
  r.finish();
  return out;
}

/// Taylor loss of one row, y ∈ {−1, +1}.
inline double hlr_taylor_loss(double wx, double y) noexcept {
  return std::log(2.0) - 0.5 * y * wx + 0.125 * wx * wx;
}

} // namespace detail

/// The label holder. Holds its columns, the labels (0/1), its weights and intercept, and the key
/// pair. Step calls (the drivers below make them in order): public_key_message(); on_hello(h)
/// for every host; then per step: on_partial_wx(h) for every host (the last returns the
/// residuals message), on_masked_gradient(h) for every host (each returns that host's unmasked
/// message); after every epoch's last step epoch_end_message(). A refused message leaves the
/// party unchanged.
class hetero_lr_guest {
public:
  /// `labels` in {0, 1} (1 = the positive class), one per row; `hosts` feature holders.
  hetero_lr_guest(hetero_lr_features features, std::vector<int> labels, std::size_t hosts,
                  hetero_lr_options options, paillier_keypair keys, random_source rng)
      : f_(std::move(features)), o_(options), keys_(std::move(keys)), rng_(std::move(rng)),
        sched_(f_.rows, o_.batch_size, o_.seed), hosts_(hosts) {
    o_.validate();
    f_.validate("hetero_lr_guest");
    if (hosts == 0) throw invalid_config("hetero_lr_guest: needs at least one host");
    if (labels.size() != f_.rows)
      throw invalid_config("hetero_lr_guest: " + std::to_string(labels.size()) + " labels for " +
                           std::to_string(f_.rows) + " rows");
    y_.reserve(labels.size());
    for (int l : labels) {
      if (l != 0 && l != 1) throw invalid_config("hetero_lr_guest: labels must be 0 or 1");
      y_.push_back(l == 1 ? 1.0 : -1.0);
    }
    w_.assign(f_.columns, 0.0);
    host_columns_.assign(hosts, 0);
    wx_.assign(hosts, {});
    have_wx_.assign(hosts, false);
    answered_.assign(hosts, false);
    order_ = sched_.order(0);
  }

  /// The guest's weights (its columns), then the intercept.
  [[nodiscard]] const std::vector<double>& weights() const noexcept { return w_; }
  [[nodiscard]] double intercept() const noexcept { return b_; }
  [[nodiscard]] const paillier_public_key& public_key() const noexcept { return keys_.public_key; }
  [[nodiscard]] const hetero_lr_options& options() const noexcept { return o_; }
  /// Global step (batches done), epoch, batches per epoch.
  [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
  [[nodiscard]] std::size_t epoch() const noexcept { return step_ / sched_.batches(); }
  [[nodiscard]] std::size_t batches_per_epoch() const noexcept { return sched_.batches(); }
  /// Mean Taylor loss of each finished epoch (over its batches, at the weights of each batch).
  [[nodiscard]] const std::vector<double>& epoch_losses() const noexcept { return losses_; }
  /// Columns each host announced.
  [[nodiscard]] const std::vector<std::size_t>& host_columns() const noexcept { return host_columns_; }
  /// True once a step's every masked gradient was answered and the epoch is complete.
  [[nodiscard]] bool epoch_complete() const noexcept {
    return step_ > 0 && step_ % sched_.batches() == 0 && !epoch_reported_;
  }

  /// The public key for the hosts (round = session).
  [[nodiscard]] message public_key_message(endpoint_id self) const {
    return detail::hlr_message(hetero_lr_tag::public_key, o_.session, self,
                               paillier_wire::encode_public_key(keys_.public_key));
  }

  /// Host h's hello: its row count (must equal ours) and column count (1..max_host_columns).
  void on_hello(std::size_t h, const wire::decoded_message& d) {
    check_host(h);
    const auto p = detail::hlr_expect(d, hetero_lr_tag::host_hello, o_.session, "hetero_lr guest");
    vertical::detail::byte_reader r(p, "hetero_lr host hello");
    const std::uint64_t rows = r.u64();
    const std::uint64_t cols = r.u64();
    r.finish();
    if (rows != f_.rows)
      r.fail("declares " + std::to_string(rows) + " rows, the guest aligned " + std::to_string(f_.rows));
    if (cols == 0 || cols > o_.max_host_columns)
      r.fail("declares " + std::to_string(cols) + " columns, allowed 1.." +
             std::to_string(o_.max_host_columns));
    if (host_columns_[h] != 0) r.fail("is a second hello from host " + std::to_string(h));
    host_columns_[h] = static_cast<std::size_t>(cols);
  }

  /// Host h's wx_h for the current batch. Returns the residuals message [[d]] (for every host)
  /// once all hosts' wx have arrived, and then updates the guest's own weights; nullopt before.
  std::optional<message> on_partial_wx(std::size_t h, const wire::decoded_message& d, endpoint_id self) {
    check_host(h);
    if (host_columns_[h] == 0)
      throw malformed_message("hetero_lr guest: wx from host " + std::to_string(h) + " before its hello");
    if (residuals_sent_)
      throw malformed_message("hetero_lr guest: wx from host " + std::to_string(h) +
                              " while waiting for gradients");
    const auto p = detail::hlr_expect(d, hetero_lr_tag::partial_wx, step_, "hetero_lr guest");
    if (have_wx_[h])
      throw malformed_message("hetero_lr guest: a second wx of step " + std::to_string(step_) +
                              " from host " + std::to_string(h));
    const auto batch = current_batch();
    auto values = detail::hlr_read_doubles(p, batch.size(), o_.max_abs_value, "hetero_lr partial wx");
    wx_[h] = std::move(values);
    have_wx_[h] = true;
    if (!std::all_of(have_wx_.begin(), have_wx_.end(), [](bool b) { return b; })) return std::nullopt;

    // Every host's wx is here: residuals, the guest's step, [[d]].
    const std::size_t n = batch.size();
    std::vector<double> dres(n);
    double loss = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = batch[k];
      double wx = b_;
      const double* xi = f_.row(i);
      for (std::size_t j = 0; j < f_.columns; ++j) wx += w_[j] * xi[j];
      for (std::size_t hh = 0; hh < hosts_; ++hh) wx += wx_[hh][k];
      dres[k] = 0.25 * wx - 0.5 * y_[i];
      loss += detail::hlr_taylor_loss(wx, y_[i]);
    }
    std::vector<bigint> ms(n);
    for (std::size_t k = 0; k < n; ++k)
      ms[k] = keys_.public_key.to_residue(detail::hlr_mantissa(keys_.public_key, dres[k]));
    sent_ = keys_.private_key.encrypt(ms, rng_, o_.pool); // may throw before the state changes
    const double rate = o_.rate(epoch());
    std::vector<double> g(f_.columns, 0.0);
    double gb = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const double* xi = f_.row(batch[k]);
      for (std::size_t j = 0; j < f_.columns; ++j) g[j] += dres[k] * xi[j];
      gb += dres[k];
    }
    const double inv = 1.0 / static_cast<double>(n);
    for (std::size_t j = 0; j < f_.columns; ++j) w_[j] -= rate * (g[j] * inv + o_.l2 * w_[j]);
    b_ -= rate * gb * inv;
    epoch_loss_ += loss;
    epoch_rows_ += n;
    residuals_sent_ = true;
    std::fill(answered_.begin(), answered_.end(), false);
    return detail::hlr_message(hetero_lr_tag::residuals, step_, self,
                               paillier_wire::encode_ciphertexts(keys_.public_key, sent_));
  }

  /// Host h's masked gradient [[G + r]]: decrypts and returns the residues for host h. After the
  /// last host, the step is done.
  message on_masked_gradient(std::size_t h, const wire::decoded_message& d, endpoint_id self) {
    check_host(h);
    if (!residuals_sent_)
      throw malformed_message("hetero_lr guest: a masked gradient before the residuals were sent");
    const auto p = detail::hlr_expect(d, hetero_lr_tag::masked_gradient, step_, "hetero_lr guest");
    if (answered_[h])
      throw malformed_message("hetero_lr guest: a second masked gradient of step " + std::to_string(step_) +
                              " from host " + std::to_string(h));
    auto list = paillier_wire::decode_ciphertexts(keys_.public_key, p, host_columns_[h]);
    if (list.ciphertexts.size() != host_columns_[h] || !list.exponents.empty())
      throw malformed_message("hetero_lr guest: host " + std::to_string(h) + " sent " +
                              std::to_string(list.ciphertexts.size()) + " gradient ciphertexts (expected " +
                              std::to_string(host_columns_[h]) + ", no exponents)");
    for (const auto& c : list.ciphertexts)
      for (const auto& s : sent_)
        if (c == s)
          throw malformed_message("hetero_lr guest: host " + std::to_string(h) +
                                  " asked to decrypt a residual it was sent");
    const auto res = keys_.private_key.decrypt(list.ciphertexts, o_.pool);
    const std::size_t width = (keys_.public_key.bits() + 7) / 8;
    vertical::detail::byte_writer w;
    w.u64(res.size());
    for (const auto& m : res) m.write_le(std::span<std::byte>(w.grow(width), width));
    answered_[h] = true;
    if (std::all_of(answered_.begin(), answered_.end(), [](bool b) { return b; })) finish_step();
    return detail::hlr_message(hetero_lr_tag::unmasked, d.round(), self, std::move(w.bytes()));
  }

  /// After an epoch's last step: records the epoch's loss and returns (stop?, message for the hosts).
  std::pair<bool, message> epoch_end_message(endpoint_id self) {
    if (!epoch_complete())
      throw invalid_config("hetero_lr guest: epoch_end_message before the epoch is complete");
    double w2 = 0;
    for (double v : w_) w2 += v * v;
    const double loss = epoch_loss_ / static_cast<double>(epoch_rows_) + 0.5 * o_.l2 * w2;
    const bool converged =
        !losses_.empty() && o_.tolerance > 0 && std::fabs(loss - losses_.back()) < o_.tolerance;
    losses_.push_back(loss);
    epoch_loss_ = 0;
    epoch_rows_ = 0;
    epoch_reported_ = true;
    stopped_ = converged || losses_.size() >= o_.max_epochs;
    converged_ = converged;
    if (!stopped_) order_ = sched_.order(losses_.size());
    vertical::detail::byte_writer w;
    w.u8(stopped_ ? 1 : 0);
    std::uint64_t bits = 0;
    std::memcpy(&bits, &loss, 8);
    w.u64(bits);
    return {stopped_, detail::hlr_message(hetero_lr_tag::epoch_end, step_, self, std::move(w.bytes()))};
  }
  /// True when training stopped because the loss change fell below the tolerance.
  [[nodiscard]] bool converged() const noexcept { return converged_; }

  /// The guest's part of the linear predictor for `rows`: b + X_g·w_g.
  [[nodiscard]] std::vector<double> partial_wx(std::span<const std::size_t> rows) const {
    std::vector<double> out(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (rows[k] >= f_.rows)
        throw invalid_config("hetero_lr guest: row " + std::to_string(rows[k]) + " out of range");
      double wx = b_;
      for (std::size_t j = 0; j < f_.columns; ++j) wx += w_[j] * f_.row(rows[k])[j];
      out[k] = wx;
    }
    return out;
  }

  /// b + X·w_g for every row of `x` (the guest's columns of rows it did not train on).
  [[nodiscard]] std::vector<double> partial_wx(const hetero_lr_features& x) const {
    x.validate("hetero_lr_guest::partial_wx");
    if (x.columns != f_.columns) throw invalid_config("hetero_lr guest: rows of another column count");
    std::vector<double> out(x.rows);
    for (std::size_t i = 0; i < x.rows; ++i) {
      double wx = b_;
      for (std::size_t j = 0; j < f_.columns; ++j) wx += w_[j] * x.row(i)[j];
      out[i] = wx;
    }
    return out;
  }

private:
  void check_host(std::size_t h) const {
    if (h >= hosts_)
      throw invalid_config("hetero_lr guest: host index " + std::to_string(h) + " of " +
                           std::to_string(hosts_));
  }
  std::span<const std::size_t> current_batch() const {
    return sched_.batch(order_, step_ % sched_.batches());
  }
  void finish_step() {
    ++step_;
    residuals_sent_ = false;
    sent_.clear();
    std::fill(have_wx_.begin(), have_wx_.end(), false);
    epoch_reported_ = false;
  }

  hetero_lr_features f_;
  hetero_lr_options o_;
  paillier_keypair keys_;
  random_source rng_;
  hetero_lr_schedule sched_;
  std::size_t hosts_;
  std::vector<double> y_, w_;
  double b_ = 0;
  std::vector<std::size_t> host_columns_;
  std::vector<std::vector<double>> wx_;
  std::vector<bool> have_wx_, answered_;
  std::vector<std::size_t> order_;
  std::vector<paillier_ciphertext> sent_;
  std::vector<double> losses_;
  double epoch_loss_ = 0;
  std::size_t epoch_rows_ = 0;
  std::uint64_t step_ = 0;
  bool residuals_sent_ = false, epoch_reported_ = false, stopped_ = false, converged_ = false;
};

/// A feature holder. Step calls: hello_message(); on_public_key(); per step partial_wx_message(),
/// on_residuals() (returns the masked gradient), on_unmasked() (updates the weights); after each
/// epoch on_epoch_end() (returns stop?). A refused message leaves the party unchanged.
class hetero_lr_host {
public:
  hetero_lr_host(hetero_lr_features features, hetero_lr_options options, random_source rng)
      : f_(std::move(features)), o_(options), rng_(std::move(rng)), sched_(f_.rows, o_.batch_size, o_.seed) {
    o_.validate();
    f_.validate("hetero_lr_host");
    if (f_.columns == 0) throw invalid_config("hetero_lr_host: no columns");
    w_.assign(f_.columns, 0.0);
    order_ = sched_.order(0);
  }

  [[nodiscard]] const std::vector<double>& weights() const noexcept { return w_; }
  [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
  [[nodiscard]] bool has_key() const noexcept { return pk_.has_value(); }
  /// The masks of the current step (tests inspect the transcript with them).
  [[nodiscard]] const std::vector<bigint>& current_masks() const noexcept { return masks_; }
  /// The plaintext gradient sums Σ_i d_i x_ij of the last finished step (before /|B| and L2).
  [[nodiscard]] const std::vector<double>& last_gradient_sums() const noexcept { return last_g_; }

  [[nodiscard]] message hello_message(endpoint_id self) const {
    vertical::detail::byte_writer w;
    w.u64(f_.rows);
    w.u64(f_.columns);
    return detail::hlr_message(hetero_lr_tag::host_hello, o_.session, self, std::move(w.bytes()));
  }

  /// The guest's public key (decoded with `limits`: tests use small keys).
  void on_public_key(const wire::decoded_message& d, const paillier_wire::key_limits& limits = {}) {
    const auto p = detail::hlr_expect(d, hetero_lr_tag::public_key, o_.session, "hetero_lr host");
    if (pk_) throw malformed_message("hetero_lr host: a second public key");
    pk_ = paillier_wire::decode_public_key(p, limits);
  }

  /// wx_h = X_h·w_h on the current batch's rows.
  [[nodiscard]] message partial_wx_message(endpoint_id self) {
    if (!pk_) throw invalid_config("hetero_lr host: no public key yet");
    if (waiting_unmask_)
      throw invalid_config("hetero_lr host: partial_wx_message while waiting for the unmasked gradient");
    const auto batch = current_batch();
    std::vector<double> wx(batch.size());
    for (std::size_t k = 0; k < batch.size(); ++k) {
      double s = 0;
      for (std::size_t j = 0; j < f_.columns; ++j) s += w_[j] * f_.row(batch[k])[j];
      wx[k] = s;
    }
    wx_sent_ = true;
    return detail::hlr_message(hetero_lr_tag::partial_wx, step_, self, detail::hlr_doubles(wx));
  }

  /// [[d]] for the batch → [[Σ_i d_i x_ij + r_j]] for each column j (re-randomised).
  [[nodiscard]] message on_residuals(const wire::decoded_message& d, endpoint_id self) {
    if (!pk_ || !wx_sent_ || waiting_unmask_)
      throw malformed_message("hetero_lr host: residuals out of order");
    const auto p = detail::hlr_expect(d, hetero_lr_tag::residuals, step_, "hetero_lr host");
    const auto batch = current_batch();
    auto list = paillier_wire::decode_ciphertexts(*pk_, p, batch.size());
    if (list.ciphertexts.size() != batch.size() || !list.exponents.empty())
      throw malformed_message("hetero_lr host: " + std::to_string(list.ciphertexts.size()) +
                              " residuals for a batch of " + std::to_string(batch.size()) +
                              " (no exponents expected)");
    const paillier_public_key& pk = *pk_;
    // Masks and re-randomisers first (serially, from rng_), then the products on the pool.
    std::vector<bigint> masks(f_.columns), rs(f_.columns);
    for (std::size_t j = 0; j < f_.columns; ++j) {
      masks[j] = vertical::detail::uniform_below(pk.n(), rng_);
      rs[j] = pk.random_r(rng_);
    }
    std::vector<std::vector<bigint>> xs(f_.columns, std::vector<bigint>(batch.size()));
    for (std::size_t k = 0; k < batch.size(); ++k)
      for (std::size_t j = 0; j < f_.columns; ++j) xs[j][k] = detail::hlr_mantissa(pk, f_.row(batch[k])[j]);
    std::vector<paillier_ciphertext> out(f_.columns);
    vertical::detail::for_each_index(o_.pool, f_.columns, [&](std::size_t j) {
      paillier_ciphertext acc{bigint(1)};
      for (std::size_t k = 0; k < batch.size(); ++k) {
        if (xs[j][k].sign() == 0) continue;
        acc = pk.add(acc, pk.multiply(list.ciphertexts[k], xs[j][k]));
      }
      acc = pk.add_plain(acc, masks[j]);
      paillier_ciphertext o{pk.obfuscator_for(rs[j])};
      out[j] = pk.add(acc, o);
    });
    masks_ = std::move(masks);
    waiting_unmask_ = true;
    return detail::hlr_message(hetero_lr_tag::masked_gradient, step_, self,
                               paillier_wire::encode_ciphertexts(pk, out));
  }

  /// The guest's decryptions of [[G + r]]: removes the masks, decodes, steps the weights.
  void on_unmasked(const wire::decoded_message& d) {
    if (!waiting_unmask_) throw malformed_message("hetero_lr host: an unmasked gradient out of order");
    const auto p = detail::hlr_expect(d, hetero_lr_tag::unmasked, step_, "hetero_lr host");
    const paillier_public_key& pk = *pk_;
    vertical::detail::byte_reader r(p, "hetero_lr unmasked gradient");
    const std::uint64_t count = r.u64();
    if (count != f_.columns)
      r.fail("holds " + std::to_string(count) + " values for " + std::to_string(f_.columns) + " columns");
    const std::size_t width = (pk.bits() + 7) / 8;
    r.check_count(count, width);
    std::vector<double> g(f_.columns);
    for (std::size_t j = 0; j < f_.columns; ++j) {
      const bigint v = bigint::from_bytes_le(r.raw(width));
      if (v >= pk.n()) r.fail("value " + std::to_string(j) + " is not below n");
      const bigint m = (v - masks_[j]).mod(pk.n());
      double x = 0;
      try {
        x = decode(pk, encoded_number{m, 2 * hetero_lr_exponent});
      } catch (const paillier_overflow&) {
        r.fail("value " + std::to_string(j) + " decodes to an overflow");
      }
      if (!std::isfinite(x) || std::fabs(x) > o_.max_abs_value * static_cast<double>(o_.batch_size))
        r.fail("value " + std::to_string(j) + " is outside the bound");
      g[j] = x;
    }
    r.finish();
    const double rate = o_.rate(step_ / sched_.batches());
    const double inv = 1.0 / static_cast<double>(current_batch().size());
    for (std::size_t j = 0; j < f_.columns; ++j) w_[j] -= rate * (g[j] * inv + o_.l2 * w_[j]);
    last_g_ = std::move(g);
    masks_.clear();
    waiting_unmask_ = false;
    wx_sent_ = false;
    ++step_;
  }

  /// The guest's end-of-epoch word: true to stop. Out of order (not after an epoch's last step,
  /// or of another step) is refused.
  bool on_epoch_end(const wire::decoded_message& d) {
    if (!needs_epoch_end()) throw malformed_message("hetero_lr host: epoch end out of order");
    const auto p = detail::hlr_expect(d, hetero_lr_tag::epoch_end, step_, "hetero_lr host");
    vertical::detail::byte_reader r(p, "hetero_lr epoch end");
    const std::uint8_t stop = r.u8();
    const std::uint64_t bits = r.u64();
    r.finish();
    if (stop > 1) r.fail("has stop flag " + std::to_string(stop));
    double loss = 0;
    std::memcpy(&loss, &bits, 8);
    if (!std::isfinite(loss)) r.fail("has a non-finite loss");
    epoch_ended_ = step_;
    last_loss_ = loss;
    if (stop == 0) order_ = sched_.order(step_ / sched_.batches());
    return stop == 1;
  }
  /// True after an epoch's last step, before the guest's end-of-epoch word.
  [[nodiscard]] bool needs_epoch_end() const noexcept {
    return !waiting_unmask_ && step_ > 0 && step_ % sched_.batches() == 0 && epoch_ended_ != step_;
  }
  [[nodiscard]] const hetero_lr_options& options() const noexcept { return o_; }
  /// The loss the guest reported last.
  [[nodiscard]] double last_loss() const noexcept { return last_loss_; }

  /// The rows prediction requests name from now on (default: the training rows), e.g. the
  /// aligned test rows. Throws invalid_config for another column count or a non-finite value.
  void set_prediction_features(hetero_lr_features x) {
    x.validate("hetero_lr_host::set_prediction_features");
    if (x.columns != f_.columns)
      throw invalid_config("hetero_lr_host: prediction rows of " + std::to_string(x.columns) +
                           " columns, trained on " + std::to_string(f_.columns));
    predict_ = std::move(x);
  }

  /// wx_h for the rows the guest names (each < rows, at most max_rows of them).
  [[nodiscard]] message on_predict_rows(const wire::decoded_message& d, endpoint_id self,
                                        std::size_t max_rows) const {
    const hetero_lr_features& f = predict_ ? *predict_ : f_;
    const auto p = detail::hlr_expect(d, hetero_lr_tag::predict_rows, o_.session, "hetero_lr host");
    vertical::detail::byte_reader r(p, "hetero_lr predict rows");
    const std::uint64_t count = r.u64();
    if (count > max_rows)
      r.fail("asks for " + std::to_string(count) + " rows, at most " + std::to_string(max_rows));
    r.check_count(count, 8);
    std::vector<double> wx(count);
    for (auto& v : wx) {
      const std::uint64_t row = r.u64();
      if (row >= f.rows) r.fail("names row " + std::to_string(row) + " of " + std::to_string(f.rows));
      double s = 0;
      for (std::size_t j = 0; j < f.columns; ++j) s += w_[j] * f.row(row)[j];
      v = s;
    }
    r.finish();
    return detail::hlr_message(hetero_lr_tag::predict_wx, o_.session, self, detail::hlr_doubles(wx));
  }

private:
  std::span<const std::size_t> current_batch() const {
    return sched_.batch(order_, step_ % sched_.batches());
  }

  hetero_lr_features f_;
  std::optional<hetero_lr_features> predict_;
  hetero_lr_options o_;
  random_source rng_;
  hetero_lr_schedule sched_;
  std::optional<paillier_public_key> pk_;
  std::vector<double> w_, last_g_;
  std::vector<std::size_t> order_;
  std::vector<bigint> masks_;
  std::uint64_t step_ = 0, epoch_ended_ = ~std::uint64_t{0};
  double last_loss_ = 0;
  bool wx_sent_ = false, waiting_unmask_ = false;
};

/// What a guest's training run did.
struct hetero_lr_report {
  std::size_t epochs = 0;            ///< epochs run
  bool converged = false;            ///< stopped by the tolerance (else by max_epochs)
  std::vector<double> losses;        ///< per epoch (Taylor loss + L2 of the guest's weights)
  std::vector<double> epoch_seconds; ///< wall time of each epoch (the guest's view)
};

/// The guest over a transport: setup with every host of `hosts`, then epochs of steps until the
/// guest stops. Throws malformed_message / impersonation for a refused message, fedpp::error on
/// timeout.
template <transport T>
hetero_lr_report run_hetero_lr_guest(T& t, std::span<const endpoint_id> hosts, hetero_lr_guest& g) {
  const auto& o = g.options();
  auto index_of = [&](endpoint_id from) {
    for (std::size_t h = 0; h < hosts.size(); ++h)
      if (hosts[h] == from) return h;
    throw malformed_message("hetero_lr guest: a message from endpoint " + std::to_string(from) +
                            ", not a host");
  };
  // Messages of one host arrive in order, but hosts race each other: keep early ones per host.
  std::vector<std::deque<wire::decoded_message>> early(hosts.size());
  auto next_from = [&](std::size_t want) {
    while (early[want].empty()) {
      auto env = t.receive(transport_clock::now() + o.timeout);
      if (!env)
        throw fedpp::error("hetero_lr guest: no message within " + std::to_string(o.timeout.count()) + " ms");
      const std::size_t h = index_of(env->from);
      auto d = wire::decode(env->message);
      if (!may_speak_for(t, env->from, d.sender()))
        throw impersonation(env->from, d.sender(), "hetero_lr message");
      if (early[h].size() >= 4)
        throw malformed_message("hetero_lr guest: host " + std::to_string(h) + " runs ahead of the protocol");
      early[h].push_back(std::move(d));
    }
    auto d = std::move(early[want].front());
    early[want].pop_front();
    return d;
  };
  for (endpoint_id h : hosts) t.send(h, g.public_key_message(t.id()));
  for (std::size_t h = 0; h < hosts.size(); ++h) g.on_hello(h, next_from(h));
  hetero_lr_report rep;
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    std::optional<message> residuals;
    for (std::size_t h = 0; h < hosts.size(); ++h) residuals = g.on_partial_wx(h, next_from(h), t.id());
    for (endpoint_id h : hosts) t.send(h, *residuals);
    for (std::size_t h = 0; h < hosts.size(); ++h)
      t.send(hosts[h], g.on_masked_gradient(h, next_from(h), t.id()));
    if (g.epoch_complete()) {
      auto [stop, m] = g.epoch_end_message(t.id());
      for (endpoint_id h : hosts) t.send(h, m);
      const auto now = std::chrono::steady_clock::now();
      rep.epoch_seconds.push_back(std::chrono::duration<double>(now - start).count());
      start = now;
      if (stop) break;
    }
  }
  rep.losses = g.epoch_losses();
  rep.epochs = rep.losses.size();
  rep.converged = g.converged();
  return rep;
}

/// A host over a transport: setup, then steps until the guest says stop, then answers the
/// guest's prediction requests (at most `max_predict_rows` rows each) until it says finish.
/// `limits` for the guest's key (default: 2048 bits at least).
template <transport T>
void run_hetero_lr_host(T& t, endpoint_id guest, hetero_lr_host& h,
                        const paillier_wire::key_limits& limits = {},
                        std::size_t max_predict_rows = std::size_t{1} << 24) {
  const auto timeout = h.options().timeout;
  auto next = [&] { return detail::receive_from_peer(t, guest, timeout, "hetero_lr host"); };
  t.send(guest, h.hello_message(t.id()));
  h.on_public_key(next(), limits);
  for (;;) {
    t.send(guest, h.partial_wx_message(t.id()));
    t.send(guest, h.on_residuals(next(), t.id()));
    h.on_unmasked(next());
    if (h.needs_epoch_end() && h.on_epoch_end(next())) break;
  }
  for (;;) {
    const auto d = next();
    if (d.kind() == wire::message_kind::control &&
        d.tag() == static_cast<std::uint32_t>(hetero_lr_tag::finish)) {
      (void)detail::hlr_expect(d, hetero_lr_tag::finish, h.options().session, "hetero_lr host");
      return;
    }
    t.send(guest, h.on_predict_rows(d, t.id(), max_predict_rows));
  }
}

namespace detail {
template <transport T>
std::vector<double> hlr_predict(T& t, std::span<const endpoint_id> hosts, const hetero_lr_guest& g,
                                std::span<const std::size_t> rows, std::vector<double> wx) {
  vertical::detail::byte_writer w;
  w.u64(rows.size());
  for (std::size_t r : rows) w.u64(r);
  const message req =
      hlr_message(hetero_lr_tag::predict_rows, g.options().session, t.id(), std::move(w.bytes()));
  for (endpoint_id h : hosts) {
    t.send(h, req);
    const auto d = receive_from_peer(t, h, g.options().timeout, "hetero_lr guest");
    const auto p = hlr_expect(d, hetero_lr_tag::predict_wx, g.options().session, "hetero_lr guest");
    const auto part = hlr_read_doubles(p, rows.size(), g.options().max_abs_value, "hetero_lr predicted wx");
    for (std::size_t k = 0; k < rows.size(); ++k) wx[k] += part[k];
  }
  for (auto& v : wx) v = 1.0 / (1.0 + std::exp(-v));
  return wx;
}
} // namespace detail

/// The guest asks every host for wx_h on `rows` (row indices of the training rows) and returns
/// P(y = 1) = σ(b + X_g·w_g + Σ_h wx_h) per row. Each host learns which rows were asked for.
template <transport T>
std::vector<double> hetero_lr_predict(T& t, std::span<const endpoint_id> hosts, const hetero_lr_guest& g,
                                      std::span<const std::size_t> rows) {
  return detail::hlr_predict(t, hosts, g, rows, g.partial_wx(rows));
}

/// Prediction on other aligned rows: `x` holds the guest's columns of them, and every host set
/// the same rows, in the same order, with set_prediction_features.
template <transport T>
std::vector<double> hetero_lr_predict(T& t, std::span<const endpoint_id> hosts, const hetero_lr_guest& g,
                                      const hetero_lr_features& x) {
  std::vector<std::size_t> rows(x.rows);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  return detail::hlr_predict(t, hosts, g, rows, g.partial_wx(x));
}

/// Tells every host the session is over.
template <transport T>
void hetero_lr_finish(T& t, std::span<const endpoint_id> hosts, const hetero_lr_guest& g) {
  const message m = detail::hlr_message(hetero_lr_tag::finish, g.options().session, t.id(), {});
  for (endpoint_id h : hosts) t.send(h, m);
}

/// The same model trained centrally on all columns (the guest's, then each host's, per row),
/// for the same number of epochs with the same batches, rates and L2, with the Taylor residual
/// (taylor = true: the vertical protocol's arithmetic) or the exact logistic gradient
/// −y·σ(−y·wx). Returns the weights, then the intercept last.
[[nodiscard]] inline std::vector<double> hetero_lr_central(const hetero_lr_features& all,
                                                           std::span<const int> labels,
                                                           const hetero_lr_options& o, std::size_t epochs,
                                                           bool taylor) {
  o.validate();
  all.validate("hetero_lr_central");
  if (labels.size() != all.rows) throw invalid_config("hetero_lr_central: one label per row");
  hetero_lr_schedule sched(all.rows, o.batch_size, o.seed);
  std::vector<double> w(all.columns + 1, 0.0), g(all.columns + 1);
  for (std::size_t e = 0; e < epochs; ++e) {
    const auto order = sched.order(e);
    const double rate = o.rate(e);
    for (std::size_t b = 0; b < sched.batches(); ++b) {
      const auto batch = sched.batch(order, b);
      std::fill(g.begin(), g.end(), 0.0);
      for (std::size_t i : batch) {
        const double y = labels[i] == 1 ? 1.0 : -1.0;
        double wx = w[all.columns];
        for (std::size_t j = 0; j < all.columns; ++j) wx += w[j] * all.row(i)[j];
        const double dres = taylor ? 0.25 * wx - 0.5 * y : -y / (1.0 + std::exp(y * wx));
        for (std::size_t j = 0; j < all.columns; ++j) g[j] += dres * all.row(i)[j];
        g[all.columns] += dres;
      }
      const double inv = 1.0 / static_cast<double>(batch.size());
      for (std::size_t j = 0; j < all.columns; ++j) w[j] -= rate * (g[j] * inv + o.l2 * w[j]);
      w[all.columns] -= rate * g[all.columns] * inv;
    }
  }
  return w;
}

} // namespace fedpp::vertical
