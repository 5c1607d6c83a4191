/// \file gan_plan.hpp
/// How a GAN's two networks are aggregated on `fedpp::server`: a group_plan with the generator
/// ("gen." tensors) and the discriminator ("disc." tensors) as separate groups, each its own
/// FedAvg (weighted by the clients' examples), or the discriminator kept local (a zero delta at
/// the server, discriminator_sharing::local on the clients). The server is the ordinary one with
/// grouped_aggregator as its Aggregator, so the groups go through the checked aggregation path:
/// a report with a NaN/Inf anywhere (either network) is refused (rejected_update, counted in
/// round_metrics::rejected) and the global model does not move by it.
#pragma once

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/grouped_aggregator.hpp"
#include "fedpp/gan/gan_trainer.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <functional>
#include <utility>

namespace fedpp::gan {

/// Group names of gan_group_plan.
inline constexpr const char* generator_group = "generator";
inline constexpr const char* discriminator_group = "discriminator";

/// The plan: "generator" = tensors "gen.…" with fedavg<float>; "discriminator" = tensors
/// "disc.…" with fedavg<float>, or kept local for discriminator_sharing::local.
[[nodiscard]] inline group_plan<float>
gan_group_plan(discriminator_sharing sharing = discriminator_sharing::federated) {
  group_plan<float> plan;
  plan.by_prefix(generator_group, "gen.", [](const model_layout& l) { return fedavg<float>(l); });
  if (sharing == discriminator_sharing::federated)
    plan.by_prefix(discriminator_group, "disc.", [](const model_layout& l) { return fedavg<float>(l); });
  else
    plan.keep_local_prefix(discriminator_group, "disc.");
  return plan;
}

/// The server's aggregator factory for `plan`: a grouped_aggregator over each round's layout.
[[nodiscard]] inline std::function<grouped_aggregator<float>(const model_layout&)>
gan_aggregator_factory(group_plan<float> plan) {
  return [plan = std::move(plan)](const model_layout& layout) {
    return grouped_aggregator<float>(layout, plan);
  };
}

/// A synchronous server whose aggregator is a grouped_aggregator (build it with
/// gan_aggregator_factory as the last constructor argument).
template <client_sampler Sampler>
using gan_server = server<float, Sampler, server_sgd<float>, grouped_aggregator<float>>;

} // namespace fedpp::gan
