/// \file server_optimizer.hpp
/// The server update rule: how the aggregated client change moves the global model
/// (Reddi et al. 2021, "Adaptive Federated Optimization": Δ_t = mean_k(w_k − w_t) is a
/// pseudo-gradient, and the server applies an optimizer step to it).
///
/// | expression                   | type / effect                                                 |
/// |------------------------------|---------------------------------------------------------------|
/// | `O::value_type`              | element type of the model                                     |
/// | `opt.step(global, delta)`    | updates `global` (std::span<T>) from the mean client change    |
/// |                              | `delta` (std::span<const T>, same size); throws invalid_config  |
/// |                              | with `global` unchanged when sizes differ                      |
#pragma once

#include <concepts>
#include <span>

namespace fedpp {

/// See the table above.
template <class O>
concept server_optimizer = requires(O& opt, std::span<typename O::value_type> global,
                                    std::span<const typename O::value_type> delta) {
  typename O::value_type;
  opt.step(global, delta);
};

} // namespace fedpp
