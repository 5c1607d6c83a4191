/// \file feddf_aggregator.hpp
/// Server-side ensemble distillation, FedDF (Lin, Kong, Stich, Jaggi, NeurIPS 2020, "Ensemble
/// Distillation for Robust Model Fusion in Federated Learning", Algorithm 1), as an aggregator of
/// fedpp::server: no change to the round loop.
///
/// Per round, with S_t the accepted clients and x_k = x_global + Δ_k their models:
///  1. x_0 = FedAvg of the deltas applied to the global model (the inner aggregator, weighted by
///     examples as the paper's initialisation Σ n_k/n x_k);
///  2. the teacher is the ensemble of the clients' models on the server's unlabeled proxy data:
///     t(d) = (1/|S_t|) Σ_k f(x_k, d) (AVGLOGITS; ensemble_rule::median_logits for a robust one);
///  3. x_0 is fine-tuned by distill() on KL(softmax(t/T) ‖ softmax(f(x, d)/T)) over proxy batches;
///  4. report() returns x − x_global as the round's mean delta, so the server's optimizer (server
///     SGD with η = 1 lands exactly on x) and its finiteness checks apply as to any aggregate.
///
/// Each client's logits on the proxy set are computed when its update is accumulated and folded
/// into the ensemble; the server keeps O(model + n_proxy × C) memory for the mean rule (K × n_proxy
/// × C values for the median), never K models. Trust: an update reaches the ensemble only after the
/// checks every aggregate makes (layout, finite values — and here also a finite client model
/// x_global + Δ_k and finite logits), before anything changes; a client refused by the inner
/// aggregator (e.g. its weight) leaves no trace in the ensemble. A client that passes the checks
/// but sends a poisoned model influences the teacher as it influences the FedAvg mean; the median
/// rule bounds that influence per logit (docs/distillation.md).
///
/// Use: construct a `feddf` context (student model, proxy set, options), give the server its
/// `factory()`, then `watch(server.model())` before the first round:
///
///   distillation::feddf<adapter> df(adapter(model), std::move(proxy), options);
///   server<float, uniform_sampler, server_sgd<float>, distillation::feddf_aggregator<adapter>>
///       srv(init, sampler, {}, server_opts, {}, {}, df.factory());
///   df.watch(srv.model());
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/distillation/distillable_model.hpp"
#include "fedpp/distillation/distiller.hpp"
#include "fedpp/distillation/ensemble_teacher.hpp"
#include "fedpp/distillation/proxy_set.hpp"
#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::distillation {

/// Settings of FedDF's server step.
struct feddf_options {
  distillation_options distillation{};                 ///< the student's fine-tuning (distiller.hpp)
  ensemble_rule ensemble = ensemble_rule::mean_logits; ///< how the clients' logits are combined
  std::size_t logits_batch = 256;                      ///< proxy rows per forward pass of a client model

  /// Throws invalid_config naming the bad value.
  void validate() const {
    distillation.validate();
    if (logits_batch == 0) throw invalid_config("feddf_options: logits_batch must be > 0");
    if (distillation.loss.hard_label_weight != 0)
      throw invalid_config("feddf_options: the proxy data is unlabeled; hard_label_weight must be 0");
  }
};

/// One round's distillation, as feddf::last_round() tells it.
struct feddf_round_report {
  std::size_t teachers = 0;           ///< client models in the ensemble
  bool distilled = false;             ///< false: x_0 was not finite, the FedAvg mean went through as it was
  distillation_report distillation{}; ///< what distill() did
};

template <distillable_model M, aggregator Inner>
class feddf_aggregator;

/// FedDF's shared context: the student architecture, the proxy set, the options, the global model
/// the server holds, and a report of the last round. A cheap handle: copies share one state, so
/// the factory given to the server and the caller's object see the same rounds. Not thread-safe:
/// one server (thread) at a time.
template <distillable_model M>
class feddf {
public:
  using value_type = typename M::value_type;

  /// Throws invalid_config for bad options or a proxy set whose rows are not the model's input.
  feddf(M model, proxy_set<value_type> proxy, feddf_options options = {})
      : s_(std::make_shared<state>(
            state{std::move(model), std::move(proxy), std::move(options), nullptr, 0, std::nullopt})) {
    s_->options.validate();
    if (s_->proxy.num_features() != s_->model.num_features())
      throw invalid_config("feddf: the proxy set has " + std::to_string(s_->proxy.num_features()) +
                           " features, the model " + std::to_string(s_->model.num_features()));
  }

  /// The global model every round starts from (the server's model(): its address is stable for the
  /// server's lifetime). Throws invalid_config when its layout is not the model's.
  void watch(const flat_model<value_type>& global) {
    if (global.size() != s_->model.layout().total_size() ||
        global.layout().hash() != s_->model.layout().hash())
      throw invalid_config("feddf::watch: the global model has " + std::to_string(global.size()) +
                           " elements (layout hash " + std::to_string(global.layout().hash()) +
                           "), the student's layout " + std::to_string(s_->model.layout().total_size()) +
                           " (hash " + std::to_string(s_->model.layout().hash()) + ")");
    s_->global = &global;
  }

  [[nodiscard]] const M& model() const noexcept { return s_->model; }
  [[nodiscard]] const proxy_set<value_type>& proxy() const noexcept { return s_->proxy; }
  [[nodiscard]] const feddf_options& options() const noexcept { return s_->options; }
  /// The watched global model, or null.
  [[nodiscard]] const flat_model<value_type>* global() const noexcept { return s_->global; }
  /// Rounds distilled so far.
  [[nodiscard]] std::size_t rounds() const noexcept { return s_->rounds; }
  /// The last distilled round's report (none before the first).
  [[nodiscard]] const std::optional<feddf_round_report>& last_round() const noexcept { return s_->last; }

  /// The server's aggregator factory: one feddf_aggregator<M, Inner> per round.
  template <aggregator Inner = fedavg<value_type>>
  [[nodiscard]] std::function<feddf_aggregator<M, Inner>(const model_layout&)> factory() const {
    return [self = *this](const model_layout& layout) { return feddf_aggregator<M, Inner>(self, layout); };
  }

private:
  template <distillable_model, aggregator>
  friend class feddf_aggregator;

  struct state {
    M model;
    proxy_set<value_type> proxy;
    feddf_options options;
    const flat_model<value_type>* global = nullptr;
    std::size_t rounds = 0;
    std::optional<feddf_round_report> last;
  };
  std::shared_ptr<state> s_;
};

/// One round of FedDF (see the file comment). Satisfies `aggregator` with input
/// client_update<V> and result flat_model<V> (the mean delta after distillation), so it is a
/// fedpp::server Aggregator. `Inner` computes the starting point (FedAvg by default).
template <distillable_model M, aggregator Inner = fedavg<typename M::value_type>>
class feddf_aggregator {
public:
  using value_type = typename M::value_type;
  using input_type = client_update<value_type>;
  using result_type = flat_model<value_type>;
  static_assert(std::same_as<typename Inner::input_type, input_type> &&
                    std::same_as<typename Inner::result_type, result_type>,
                "feddf_aggregator: the inner aggregator must take client_update<V> and report flat_model<V>");

  /// This round's aggregator over `layout`, the model's. Throws invalid_config when no global model
  /// is watched or the layouts differ.
  feddf_aggregator(feddf<M> context, const model_layout& layout)
      : ctx_(std::move(context)), layout_(layout), inner_(make_inner(layout)),
        teacher_(ctx_.proxy().size(), ctx_.model().num_classes(), ctx_.options().ensemble) {
    if (ctx_.global() == nullptr)
      throw invalid_config("feddf_aggregator: no global model; call feddf::watch(server.model()) before the "
                           "first round");
    if (layout.hash() != ctx_.model().layout().hash() || layout.total_size() != ctx_.global()->size())
      throw invalid_config("feddf_aggregator: the server's layout is not the student model's");
    global_ = ctx_.global();
  }

  /// Adds one client's delta: layout and finite values, then its model x_global + Δ and that
  /// model's logits on the proxy set must be finite, then the inner aggregator's checks; refused
  /// with rejected_update (naming the client and the reason), nothing changed.
  void accumulate(const input_type& update) {
    if (auto diff = update.model.describe_mismatch(layout_))
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    const std::size_t d = layout_.total_size();
    theta_.resize(d);
    const auto g = global_->span();
    for (std::size_t t = 0; t < layout_.num_tensors(); ++t) {
      const auto& e = layout_.entries()[t];
      const auto values = update.model[t].view.span();
      for (std::size_t i = 0; i < values.size(); ++i) {
        const value_type v = values[i];
        if (!std::isfinite(static_cast<double>(v)))
          throw rejected_update(update.client, rejection_reason::non_finite,
                                "tensor '" + e.name + "' element " + std::to_string(i) + " is not finite");
        theta_[e.offset + i] = g[e.offset + i] + v;
        if (!std::isfinite(static_cast<double>(theta_[e.offset + i])))
          throw rejected_update(update.client, rejection_reason::non_finite,
                                "global model + delta overflows at tensor '" + e.name + "' element " +
                                    std::to_string(i));
      }
    }
    const std::size_t c = ctx_.model().num_classes();
    std::vector<value_type> z(ctx_.proxy().size() * c);
    logits_of_rows(ctx_.model(), std::span<const value_type>(theta_), ctx_.proxy().rows(),
                   std::span<value_type>(z), ws_, ctx_.options().logits_batch);
    for (std::size_t i = 0; i < z.size(); ++i)
      if (!std::isfinite(static_cast<double>(z[i])))
        throw rejected_update(update.client, rejection_reason::non_finite,
                              "its model's logit on proxy row " + std::to_string(i / c) + " class " +
                                  std::to_string(i % c) + " is not finite");
    teacher_.reserve(1);       // so that commit cannot fail
    inner_.accumulate(update); // its own checks (e.g. the weight); throws with nothing of ours changed
    teacher_.commit(std::move(z));
  }

  /// This aggregator becomes the aggregate of both input sets (a partial aggregate of the same
  /// round and context). Throws invalid_config, nothing changed, otherwise.
  void merge(feddf_aggregator&& other) {
    if (&other == this)
      throw invalid_config("feddf_aggregator::merge: cannot merge an aggregate into itself");
    if (other.ctx_.s_ != ctx_.s_ || other.global_ != global_)
      throw invalid_config("feddf_aggregator::merge: the aggregates belong to different FedDF contexts");
    teacher_.reserve(other.teacher_.members());
    inner_.merge(std::move(other.inner_));
    teacher_.merge(std::move(other.teacher_)); // same shape and rule, capacity reserved: no throw
  }

  /// Accepted client updates (merged ones included).
  [[nodiscard]] std::size_t num_inputs() const { return inner_.num_inputs(); }
  /// True when there is a mean and a teacher.
  [[nodiscard]] bool can_report() const { return inner_.can_report() && teacher_.members() > 0; }
  /// Client models in the ensemble so far.
  [[nodiscard]] std::size_t teachers() const noexcept { return teacher_.members(); }
  /// The teacher's logits so far (proxy rows × classes); throws invalid_config without a member.
  [[nodiscard]] std::vector<double> teacher_logits() const { return teacher_.logits(); }

  /// The round's mean delta: (distilled model) − global. Throws invalid_config when there is
  /// nothing to report.
  [[nodiscard]] result_type report() && {
    if (!can_report()) throw invalid_config("feddf_aggregator: nothing to report (no accepted update)");
    result_type mean = std::move(inner_).report();
    const auto g = global_->span();
    auto delta = mean.span();
    std::vector<value_type> x(delta.size());
    bool finite = true;
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = g[i] + delta[i];
      finite = finite && std::isfinite(static_cast<double>(x[i]));
    }
    auto& s = *ctx_.s_;
    feddf_round_report r;
    r.teachers = teacher_.members();
    if (finite) { // a non-finite x_0 is the server's to refuse (its checked step), not ours to distill
      distillation_options o = s.options.distillation;
      o.seed = rng::for_stream(o.seed, s.rounds)(); // a fresh minibatch order every round
      const std::vector<double> t = teacher_.logits();
      r.distillation = distill(s.model, std::span<value_type>(x), s.proxy, std::span<const double>(t), o);
      r.distilled = true;
      for (std::size_t i = 0; i < x.size(); ++i) delta[i] = x[i] - g[i];
    }
    ++s.rounds;
    s.last = r;
    return mean;
  }

private:
  static Inner make_inner(const model_layout& layout) {
    if constexpr (std::constructible_from<Inner, const model_layout&>)
      return Inner(layout);
    else
      static_assert(std::constructible_from<Inner, const model_layout&>,
                    "feddf_aggregator: the inner aggregator must be constructible from a model_layout");
  }

  feddf<M> ctx_;
  model_layout layout_;
  Inner inner_;
  ensemble_teacher<value_type> teacher_;
  const flat_model<value_type>* global_ = nullptr;
  std::vector<value_type> theta_; // scratch: one client's model
  typename M::workspace ws_;      // scratch: the model's forward passes
};

} // namespace fedpp::distillation
