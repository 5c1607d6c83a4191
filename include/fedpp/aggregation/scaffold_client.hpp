/// \file scaffold_client.hpp
/// Client side of SCAFFOLD (Karimireddy et al. 2020, Algorithm 1, option II):
///   local steps   y ← y − η_l (g_i(y) − c_i + c)           (correct(): grad += c − c_i)
///   after K steps c_i⁺ = c_i − c + (x − y) / (K η_l)
///   upload        (Δy, Δc) = (y − x, c_i⁺ − c_i)            in the doubled layout
/// c_i persists per client across rounds (scaffold_control_store keeps it in simulation).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// One client's SCAFFOLD round: built from the server's c and the client's c_i (both size D),
/// it corrects gradients during local training and writes the upload at the end.
template <element_type T = float>
class scaffold_client {
public:
  /// Throws invalid_config when c and c_i differ in size.
  scaffold_client(std::span<const T> server_control, std::span<const T> client_control)
      : correction_(server_control.size()) {
    if (server_control.size() != client_control.size())
      throw invalid_config("scaffold_client: the server control variate has " +
                           std::to_string(server_control.size()) + " elements, the client's " +
                           std::to_string(client_control.size()));
    for (std::size_t i = 0; i < correction_.size(); ++i)
      correction_[i] = server_control[i] - client_control[i];
  }

  /// D.
  [[nodiscard]] std::size_t size() const noexcept { return correction_.size(); }

  /// grad ← grad + (c − c_i): the drift-corrected gradient of one local step.
  void correct(std::span<T> grad) const {
    check("correct", grad.size());
    for (std::size_t i = 0; i < grad.size(); ++i) grad[i] += correction_[i];
  }

  /// Option II end of round: with x the global model the client started from, y its model after
  /// `steps` = K local steps of rate `learning_rate` = η_l, writes Δy = y − x into
  /// upload[0, D), Δc = c_i⁺ − c_i = (x − y)/(K η_l) − c into upload[D, 2D), and updates
  /// `client_control` (c_i) to c_i⁺ in place. Throws invalid_config (nothing written) for
  /// sizes other than D / 2D, K = 0 or η_l not finite and > 0.
  void finish(std::span<const T> global, std::span<const T> local, std::size_t steps, double learning_rate,
              std::span<T> client_control, std::span<T> upload) const {
    check("finish (global)", global.size());
    check("finish (local)", local.size());
    check("finish (client control)", client_control.size());
    if (upload.size() != 2 * size())
      throw invalid_config("scaffold_client::finish: the upload has " + std::to_string(upload.size()) +
                           " elements, the doubled layout " + std::to_string(2 * size()));
    if (steps == 0) throw invalid_config("scaffold_client::finish: K = 0 local steps");
    if (!(learning_rate > 0) || !std::isfinite(learning_rate))
      throw invalid_config("scaffold_client::finish: the local learning rate must be finite and > 0, got " +
                           std::to_string(learning_rate));
    const double inv = 1.0 / (static_cast<double>(steps) * learning_rate);
    const std::size_t d = size();
    for (std::size_t i = 0; i < d; ++i) {
      const double dy = static_cast<double>(local[i]) - static_cast<double>(global[i]);
      // c = c_i + correction; c_i⁺ − c_i = −c + (x − y)/(K η_l).
      const double c = static_cast<double>(client_control[i]) + static_cast<double>(correction_[i]);
      const double dc = -dy * inv - c;
      upload[i] = static_cast<T>(dy);
      upload[d + i] = static_cast<T>(dc);
      client_control[i] = static_cast<T>(static_cast<double>(client_control[i]) + dc);
    }
  }

private:
  void check(const char* what, std::size_t n) const {
    if (n != size())
      throw invalid_config(std::string("scaffold_client::") + what + ": " + std::to_string(n) +
                           " elements, the model has " + std::to_string(size()));
  }

  std::vector<T> correction_;
};

} // namespace fedpp
