/// \file scaling_attack.hpp
/// Scaling / model replacement (Bagdasaryan et al. 2020, "How To Backdoor Federated Learning",
/// §4.2): an attacker boosts its change by γ so that it survives averaging; with γ = n/η
/// (n clients, server rate η) the averaged model is replaced by the attacker's. A client hook.
#pragma once

#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/client/round_config.hpp"

#include <span>

namespace fedpp::attacks {

/// Client hook: attackers send γ · Δ.
struct scaling_attack {
  attacker_set attackers; ///< who attacks
  double boost = 10.0;    ///< γ

  /// In place on the upload; honest clients pass through.
  template <class T>
  void process_update(client_id client, const round_config&, std::span<T> delta) const {
    if (!attackers.contains(client)) return;
    const T factor = static_cast<T>(boost);
    for (T& v : delta) v *= factor;
  }
};

} // namespace fedpp::attacks
