/// \file capability_hints.hpp
/// Per-client capability hints against system heterogeneity: clients are tagged with a device
/// class ("phone", "laptop", ...) and each class overrides parts of the round's round_config
/// (less local work for weak devices, as in FedProx's variable local work, Li et al. 2020,
/// "Federated Optimization in Heterogeneous Networks").
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/scheduling/detail/format.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace fedpp {

/// The round_config fields a device class changes; unset fields keep the base value, `extra`
/// entries are added to (and override same-named entries of) the base's extra.
struct config_overrides {
  std::optional<std::uint32_t> local_epochs;         ///< > 0
  std::optional<std::uint32_t> batch_size;           ///< > 0
  std::optional<double> learning_rate;               ///< finite and > 0
  std::optional<std::chrono::milliseconds> deadline; ///< ≥ 0 (0 = none)
  std::map<std::string, std::string> extra;          ///< merged into round_config::extra

  /// `base` with these overrides applied.
  [[nodiscard]] round_config apply(round_config base) const {
    if (local_epochs) base.local_epochs = *local_epochs;
    if (batch_size) base.batch_size = *batch_size;
    if (learning_rate) base.learning_rate = *learning_rate;
    if (deadline) base.deadline = *deadline;
    for (const auto& [key, value] : extra) base.extra[key] = value;
    return base;
  }

  friend bool operator==(const config_overrides&, const config_overrides&) = default;
};

/// Maps clients to device classes and device classes to config_overrides. Every mistake is
/// caught while configuring (an undefined class, a bad override value), never per round.
class capability_hints {
public:
  /// Defines device class `name` with `overrides`. Throws invalid_config (nothing changed) for
  /// an empty or already defined name, or a zero epoch/batch count, a non-finite or
  /// non-positive learning rate, or a negative deadline.
  capability_hints& define_class(const std::string& name, config_overrides overrides) {
    const std::string who = "capability_hints: device class '" + name + "'";
    if (name.empty()) throw invalid_config("capability_hints: a device class needs a non-empty name");
    if (classes_.contains(name)) throw invalid_config(who + " is already defined");
    if (overrides.local_epochs && *overrides.local_epochs == 0)
      throw invalid_config(who + ": local_epochs must be > 0, got 0");
    if (overrides.batch_size && *overrides.batch_size == 0)
      throw invalid_config(who + ": batch_size must be > 0, got 0");
    if (overrides.learning_rate && !(*overrides.learning_rate > 0 && std::isfinite(*overrides.learning_rate)))
      throw invalid_config(who + ": learning_rate must be finite and > 0, got " +
                           detail::format_number(*overrides.learning_rate));
    if (overrides.deadline && overrides.deadline->count() < 0)
      throw invalid_config(who + ": deadline must be >= 0 ms, got " +
                           std::to_string(overrides.deadline->count()));
    classes_.emplace(name, std::move(overrides));
    return *this;
  }

  /// Tags `client` with the defined class `name` (replacing an earlier tag). Throws
  /// invalid_config (nothing changed) when the class is not defined.
  capability_hints& assign(client_id client, const std::string& name) {
    require_defined(name, "client " + std::to_string(client));
    clients_[client] = name;
    return *this;
  }

  /// Class for clients without a tag (none by default: they get the base config). Throws
  /// invalid_config (nothing changed) when the class is not defined.
  capability_hints& set_default_class(const std::string& name) {
    require_defined(name, "the default class");
    default_class_ = name;
    return *this;
  }

  /// The class of `client`: its tag, else the default class, else none.
  [[nodiscard]] std::optional<std::string> class_of(client_id client) const {
    if (const auto it = clients_.find(client); it != clients_.end()) return it->second;
    return default_class_;
  }

  /// The overrides of the defined class `name`; throws invalid_config for an undefined class.
  [[nodiscard]] const config_overrides& overrides_of(const std::string& name) const {
    require_defined(name, "overrides_of");
    return classes_.at(name);
  }

  /// `base` with the overrides of `client`'s class applied (`base` itself for a client without
  /// a class).
  [[nodiscard]] round_config config_for(client_id client, const round_config& base) const {
    const auto name = class_of(client);
    if (!name) return base;
    return classes_.at(*name).apply(base);
  }

  /// Number of defined classes.
  [[nodiscard]] std::size_t num_classes() const noexcept { return classes_.size(); }

private:
  void require_defined(const std::string& name, const std::string& for_what) const {
    if (!classes_.contains(name))
      throw invalid_config("capability_hints: device class '" + name + "' (for " + for_what +
                           ") is not defined; define_class it first");
  }

  std::map<std::string, config_overrides> classes_;
  std::map<client_id, std::string> clients_;
  std::optional<std::string> default_class_;
};

} // namespace fedpp
