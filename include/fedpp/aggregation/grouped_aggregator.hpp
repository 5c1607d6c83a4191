/// \file grouped_aggregator.hpp
/// Per-group aggregation: the model's named tensors are split into groups (by name prefix or
/// explicit lists), each aggregated by its own policy, or left out of aggregation altogether.
/// Uses: a personalized head kept on the clients (Arivazhagan et al. 2019, "Federated Learning
/// with Personalization Layers"), a GAN's generator and discriminator aggregated separately,
/// SCAFFOLD's model and control-variate halves (aggregation/scaffold_aggregator.hpp).
///
/// The result has the full model layout. A left-out group is reported as a ZERO delta: the
/// server's copy of those tensors does not move under server_sgd / server_momentum / FedOpt
/// (their state stays zero for it), and each client keeps its own local copy (the client must
/// not overwrite those tensors with the broadcast — that is the client's side of the contract).
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

namespace fedpp {

namespace detail {

// Type-erased aggregator over client_update<T> → flat_model<T>, so groups can use different
// policies. merge requires the same dynamic type.
template <element_type T>
class erased_aggregator {
public:
  // Not from itself: checking aggregator<erased_aggregator> asks whether it is movable, which would
  // consider this constructor again (clang reports the recursion; GCC happens to cut it short).
  template <class A>
  requires(!std::same_as<A, erased_aggregator>) &&
      aggregator<A>&& std::same_as<typename A::input_type, client_update<T>>&& std::same_as<
          typename A::result_type, flat_model<T>> explicit erased_aggregator(A a)
      : self_(std::make_unique<model<A>>(std::move(a))) {}

  void accumulate(const client_update<T>& u) { self_->accumulate(u); }
  void merge(erased_aggregator&& other) { self_->merge(*other.self_); }
  [[nodiscard]] std::size_t num_inputs() const { return self_->num_inputs(); }
  [[nodiscard]] bool can_report() const { return self_->can_report(); }
  [[nodiscard]] flat_model<T> report() && { return self_->report(); }
  [[nodiscard]] const char* type_name() const noexcept { return self_->type_name(); }

private:
  struct base {
    virtual ~base() = default;
    virtual void accumulate(const client_update<T>& u) = 0;
    virtual void merge(base& other) = 0;
    [[nodiscard]] virtual std::size_t num_inputs() const = 0;
    [[nodiscard]] virtual bool can_report() const = 0;
    virtual flat_model<T> report() = 0;
    [[nodiscard]] virtual const char* type_name() const noexcept = 0;
  };
  template <class A>
  struct model final : base {
    explicit model(A a) : agg(std::move(a)) {}
    void accumulate(const client_update<T>& u) override { agg.accumulate(u); }
    void merge(base& other) override {
      auto* same = dynamic_cast<model*>(&other);
      if (same == nullptr)
        throw invalid_config(std::string("grouped_aggregator::merge: a group's policies differ (") +
                             type_name() + " vs " + other.type_name() + ")");
      agg.merge(std::move(same->agg));
    }
    [[nodiscard]] std::size_t num_inputs() const override { return agg.num_inputs(); }
    [[nodiscard]] bool can_report() const override { return agg.can_report(); }
    flat_model<T> report() override { return std::move(agg).report(); }
    [[nodiscard]] const char* type_name() const noexcept override { return typeid(A).name(); }
    A agg;
  };
  std::unique_ptr<base> self_;
};

} // namespace detail

/// Which tensors form a group, and what happens to them. Build with group_plan's methods.
template <element_type T>
struct tensor_group {
  /// Makes the group's aggregator over the group's own sub-layout (its tensors in model order).
  using factory = std::function<detail::erased_aggregator<T>(const model_layout&)>;

  std::string name;               ///< for messages and sub_layout()
  std::string prefix;             ///< tensors whose name starts with this (when `names` is empty)
  std::vector<std::string> names; ///< explicit tensor names (take precedence over `prefix`)
  factory make;                   ///< empty = left out (kept local: reported as zero delta)

  /// True when tensor `tensor` belongs to this group.
  [[nodiscard]] bool matches(const std::string& tensor) const {
    if (!names.empty()) return std::find(names.begin(), names.end(), tensor) != names.end();
    return tensor.compare(0, prefix.size(), prefix) == 0;
  }
};

/// The grouping of a model: ordered groups, each tensor in exactly one (checked against the
/// layout when the aggregator is built). Copyable; share one plan across rounds.
template <element_type T = float>
class group_plan {
public:
  /// Tensors named `prefix…` aggregated by `make_aggregator(sub_layout)` (any aggregator over
  /// client_update<T> → flat_model<T>, e.g. `[](const model_layout& l) { return fedavg<float>(l); }`).
  template <class Factory>
  group_plan& by_prefix(std::string name, std::string prefix, Factory make_aggregator) {
    return add({std::move(name), std::move(prefix), {}, erase(std::move(make_aggregator))});
  }
  /// The listed tensors aggregated by `make_aggregator(sub_layout)`.
  template <class Factory>
  group_plan& by_names(std::string name, std::vector<std::string> tensors, Factory make_aggregator) {
    if (tensors.empty()) throw invalid_config("group_plan: group '" + name + "' lists no tensors");
    return add({std::move(name), {}, std::move(tensors), erase(std::move(make_aggregator))});
  }
  /// Tensors named `prefix…` left out: kept local, reported as a zero delta.
  group_plan& keep_local_prefix(std::string name, std::string prefix) {
    return add({std::move(name), std::move(prefix), {}, {}});
  }
  /// The listed tensors left out: kept local, reported as a zero delta.
  group_plan& keep_local_names(std::string name, std::vector<std::string> tensors) {
    if (tensors.empty()) throw invalid_config("group_plan: group '" + name + "' lists no tensors");
    return add({std::move(name), {}, std::move(tensors), {}});
  }

  /// The groups, in order.
  [[nodiscard]] const std::vector<tensor_group<T>>& groups() const noexcept { return groups_; }

  /// For every tensor of `layout` the index of its group. Throws invalid_config naming a tensor
  /// that no group (or two groups) claim, or a group that claims no tensor.
  [[nodiscard]] std::vector<std::size_t> assign(const model_layout& layout) const {
    std::vector<std::size_t> owner(layout.num_tensors());
    std::vector<std::size_t> count(groups_.size(), 0);
    for (std::size_t t = 0; t < layout.num_tensors(); ++t) {
      const std::string& tensor = layout[t].name;
      std::optional<std::size_t> found;
      for (std::size_t g = 0; g < groups_.size(); ++g) {
        if (!groups_[g].matches(tensor)) continue;
        if (found)
          throw invalid_config("group_plan: tensor '" + tensor + "' is in groups '" + groups_[*found].name +
                               "' and '" + groups_[g].name + "'");
        found = g;
      }
      if (!found) throw invalid_config("group_plan: tensor '" + tensor + "' is in no group");
      owner[t] = *found;
      ++count[*found];
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (count[g] == 0)
        throw invalid_config("group_plan: group '" + groups_[g].name + "' matches no tensor");
      for (const auto& n : groups_[g].names)
        if (layout.find(n) == nullptr)
          throw invalid_config("group_plan: group '" + groups_[g].name + "' names tensor '" + n +
                               "', which the model does not have");
    }
    return owner;
  }

private:
  template <class Factory>
  static typename tensor_group<T>::factory erase(Factory make) {
    return
        [make = std::move(make)](const model_layout& sub) { return detail::erased_aggregator<T>(make(sub)); };
  }
  group_plan& add(tensor_group<T> group) {
    if (group.name.empty()) throw invalid_config("group_plan: a group name must not be empty");
    for (const auto& g : groups_)
      if (g.name == group.name) throw invalid_config("group_plan: duplicate group name '" + group.name + "'");
    groups_.push_back(std::move(group));
    return *this;
  }

  std::vector<tensor_group<T>> groups_;
};

/// An aggregator that aggregates each group of tensors with its own policy (see the file
/// comment). Satisfies `aggregator` with input client_update<T> and result flat_model<T> over the
/// full layout, so it is a fedpp::server Aggregator (built by a factory capturing the plan).
///
/// Validation: the wrapper first checks the whole update (layout, weight finite and > 0, no
/// NaN/Inf in any tensor, left-out ones included) and throws rejected_update with nothing
/// changed. Groups are then fed in order; a group policy that rejects an input for a reason of
/// its own (beyond those checks) after an earlier group accepted it would leave the groups
/// disagreeing, so the wrapper then refuses every further call with invalid_config (never a
/// silently inconsistent result). The built-in policies reject nothing beyond the wrapper's checks.
template <element_type T = float>
class grouped_aggregator {
public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;

  /// Splits `layout` by `plan` and builds one aggregator per aggregated group; throws
  /// invalid_config when the plan does not cover the layout exactly once.
  grouped_aggregator(model_layout layout, const group_plan<T>& plan)
      : layout_(std::move(layout)), owner_(plan.assign(layout_)) {
    if (!layout_.is_uniform(dtype_of<T>))
      throw invalid_config("grouped_aggregator: the layout has tensors of another dtype than the model's");
    for (std::size_t g = 0; g < plan.groups().size(); ++g) {
      group_state s;
      s.name = plan.groups()[g].name;
      for (std::size_t t = 0; t < layout_.num_tensors(); ++t)
        if (owner_[t] == g) {
          s.tensors.push_back(t);
          s.layout.add(layout_[t].name, layout_[t].shape, layout_[t].type);
        }
      if (plan.groups()[g].make) s.aggregate.emplace(plan.groups()[g].make(s.layout));
      groups_.push_back(std::move(s));
    }
  }

  /// Validates the whole update, then hands each aggregated group its tensors.
  void accumulate(const input_type& update) {
    if (broken_) throw invalid_config("grouped_aggregator: " + *broken_);
    validate(update);
    bool fed_one = false;
    for (auto& g : groups_) {
      if (!g.aggregate) continue;
      input_type part{update.client, {}, update.weight};
      for (std::size_t t : g.tensors) part.model.add(layout_[t].name, update.model[t].view);
      try {
        g.aggregate->accumulate(part);
      } catch (const rejected_update& e) {
        if (fed_one)
          broken_ = "group '" + g.name + "' rejected an update the earlier groups accepted: " + e.what();
        throw;
      }
      fed_one = true;
    }
    ++num_inputs_;
  }

  /// Merges group by group; throws invalid_config (nothing changed) for another layout or
  /// grouping. A policy-type mismatch is detected in the first group that differs (groups are
  /// built from the same plan in practice, so this does not arise there).
  void merge(grouped_aggregator&& other) {
    if (&other == this)
      throw invalid_config("grouped_aggregator::merge: cannot merge an aggregate into itself");
    if (auto diff = model_layout::describe_difference(layout_, other.layout_))
      throw invalid_config("grouped_aggregator::merge: layouts differ: " + *diff);
    if (owner_ != other.owner_ || groups_.size() != other.groups_.size())
      throw invalid_config("grouped_aggregator::merge: the groupings differ");
    for (std::size_t g = 0; g < groups_.size(); ++g)
      if (groups_[g].aggregate.has_value() != other.groups_[g].aggregate.has_value())
        throw invalid_config("grouped_aggregator::merge: group '" + groups_[g].name +
                             "' is aggregated on one side and kept local on the other");
    for (std::size_t g = 0; g < groups_.size(); ++g)
      if (groups_[g].aggregate) groups_[g].aggregate->merge(std::move(*other.groups_[g].aggregate));
    num_inputs_ += other.num_inputs_;
    other.num_inputs_ = 0;
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return num_inputs_; }
  [[nodiscard]] bool can_report() const {
    if (broken_ || num_inputs_ == 0) return false;
    return std::all_of(groups_.begin(), groups_.end(),
                       [](const group_state& g) { return !g.aggregate || g.aggregate->can_report(); });
  }
  [[nodiscard]] const model_layout& layout() const noexcept { return layout_; }
  /// The sub-layout of group `name` (its tensors in model order); invalid_config if unknown.
  [[nodiscard]] const model_layout& sub_layout(std::string_view name) const {
    for (const auto& g : groups_)
      if (g.name == name) return g.layout;
    throw invalid_config("grouped_aggregator: no group named '" + std::string(name) + "'");
  }

  /// The full-layout result: each aggregated group's result in its tensors, zeros in the
  /// left-out groups. Throws invalid_config when a group cannot report.
  [[nodiscard]] flat_model<T> report() && {
    if (!can_report())
      throw invalid_config("grouped_aggregator: nothing to report (" + std::to_string(num_inputs_) +
                           " inputs accepted" + (broken_ ? ", " + *broken_ : std::string()) + ")");
    flat_model<T> out(layout_); // zero-initialized: left-out groups report a zero delta
    for (auto& g : groups_) {
      if (!g.aggregate) continue;
      const flat_model<T> part = std::move(*g.aggregate).report();
      if (part.size() != g.layout.total_size())
        throw invalid_config("grouped_aggregator: group '" + g.name + "' reported " +
                             std::to_string(part.size()) + " elements, its layout has " +
                             std::to_string(g.layout.total_size()));
      std::size_t src = 0;
      for (std::size_t t : g.tensors) {
        const auto& e = layout_[t];
        std::copy_n(part.data() + src, e.size(), out.data() + e.offset);
        src += e.size();
      }
    }
    return out;
  }

private:
  struct group_state {
    std::string name;
    std::vector<std::size_t> tensors;
    model_layout layout;
    std::optional<detail::erased_aggregator<T>> aggregate;
  };

  void validate(const input_type& update) const {
    if (auto diff = update.model.describe_mismatch(layout_))
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    if (!(std::isfinite(update.weight) && update.weight > 0))
      throw rejected_update(update.client, rejection_reason::bad_weight,
                            "weight " + std::to_string(update.weight) + " (must be finite and > 0)");
    for (const auto& t : update.model.tensors()) {
      const auto values = t.view.span();
      const std::size_t bad = kernels::find_non_finite(values);
      if (bad != values.size())
        throw rejected_update(update.client, rejection_reason::non_finite,
                              "tensor '" + t.name + "' element " + std::to_string(bad) + " is " +
                                  std::to_string(values[bad]));
    }
  }

  model_layout layout_;
  std::vector<std::size_t> owner_;
  std::vector<group_state> groups_;
  std::size_t num_inputs_ = 0;
  std::optional<std::string> broken_;
};

static_assert(aggregator<grouped_aggregator<float>>);

} // namespace fedpp
