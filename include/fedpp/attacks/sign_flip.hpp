/// \file sign_flip.hpp
/// Sign flipping (e.g. Damaskinos et al. 2018; Karimireddy et al. 2021): an attacker uploads
/// −scale · Δ instead of its honest change Δ. A client hook (client_host's process_update).
#pragma once

#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/client/round_config.hpp"

#include <span>

namespace fedpp::attacks {

/// Client hook: attackers send −scale · Δ (scale = 1: the plain sign flip).
struct sign_flip {
  attacker_set attackers; ///< who attacks
  double scale = 1.0;     ///< magnitude of the flipped update

  /// In place on the upload; honest clients pass through.
  template <class T>
  void process_update(client_id client, const round_config&, std::span<T> delta) const {
    if (!attackers.contains(client)) return;
    const T factor = static_cast<T>(-scale);
    for (T& v : delta) v *= factor;
  }
};

} // namespace fedpp::attacks
