// The servers of the checkpoint_restore harness and of its seeds (make_corpus.cpp): six server
// configurations, each built in a fixed non-trivial state (a model that is not the initial one,
// an optimizer that has stepped, round 3; SCAFFOLD with two clients' controls), so that a
// checkpoint of it is the same on every run.
#pragma once

#include "fuzz_common.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/scaffold_aggregator.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/orchestration/availability.hpp"
#include "fedpp/orchestration/checkpoint.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <vector>

namespace fuzz::checkpoint_servers {

using namespace fedpp;

inline constexpr std::size_t kinds = 6; ///< SGD, FedAdam, FedAvgM, central DP, SCAFFOLD, SGD on doubles
inline constexpr std::uint64_t saved_round = 3;
inline constexpr std::size_t num_clients = 10;

using sgd_server = server<float, uniform_sampler>;
using adam_server = server<float, uniform_sampler, fedadam<float>>;
using momentum_server = server<float, uniform_sampler, server_momentum<float>>;
using dp_hooks = privacy::central_dp_hooks<float>;
using dp_server =
    server<float, poisson_sampler, server_sgd<float>, fedavg<float>, wall_clock_availability, dp_hooks>;
using scaffold_optimizer = scaffold_server_optimizer<server_sgd<float>>;
using scaffold_server = server<float, uniform_sampler, scaffold_optimizer, scaffold_aggregator<float>>;
using double_server = server<double, uniform_sampler>;

inline server_options options() {
  server_options o;
  o.seed = 5;
  return o;
}

template <class T>
std::vector<T> ramp(std::size_t n, double scale) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(scale * (static_cast<double>((i * 7) % 13) - 6.0));
  return v;
}

template <class T>
flat_model<T> model_of(const model_layout& l, double scale) {
  flat_model<T> m(l);
  const auto v = ramp<T>(m.size(), scale);
  std::copy(v.begin(), v.end(), m.span().begin());
  return m;
}

/// Moves `s` to round 3 with a model of its layout and the optimizer `o`.
template <class Server, class Optimizer>
void set_state(Server& s, Optimizer o) {
  using T = typename Server::value_type;
  s.replace_state(model_of<T>(s.layout(), 0.125), std::move(o), saved_round);
}

/// An optimizer that has taken `steps` steps.
template <class O>
O stepped(O o, int steps) {
  std::vector<float> model = ramp<float>(o.size(), 0.5), delta = ramp<float>(o.size(), 0.01);
  for (int k = 0; k < steps; ++k) o.step(std::span<float>(model), std::span<const float>(delta));
  return o;
}

/// Calls f(server, extras...) with server configuration `kind` (0..kinds−1) in its fixed state.
template <class F>
void with_server(unsigned kind, F&& f) {
  const model_layout fl = fuzz::float_layout();
  const std::size_t d = fl.total_size();
  switch (kind % kinds) {
  case 0: {
    sgd_server s(flat_model<float>(fl), uniform_sampler(num_clients, 4), server_sgd<float>(0.7), options());
    set_state(s, server_sgd<float>(0.7));
    f(s);
    break;
  }
  case 1: {
    const fedopt_params p{0.05, 0.9, 0.99, 1e-3};
    adam_server s(flat_model<float>(fl), uniform_sampler(num_clients, 4), fedadam<float>(d, p), options());
    set_state(s, stepped(fedadam<float>(d, p), 2));
    f(s);
    break;
  }
  case 2: {
    momentum_server s(flat_model<float>(fl), uniform_sampler(num_clients, 4),
                      server_momentum<float>(d, 1.0, 0.9), options());
    set_state(s, stepped(server_momentum<float>(d, 1.0, 0.9), 1));
    f(s);
    break;
  }
  case 3: {
    privacy::central_dp_options o;
    o.noise_multiplier = 0.5;
    o.clip_norm = 1.0;
    o.sampling_rate = 0.5;
    o.population = num_clients;
    dp_server s(flat_model<float>(fl), poisson_sampler(num_clients, 0.5), {}, options(), {},
                dp_hooks(o, fl, privacy::secure_rng::reproducible(privacy::reproducible_seed{9}),
                         privacy::rdp_accountant(), privacy::adaptive_clipping(1.0, 0.5, 0.2, 1.0)),
                [](const model_layout& l) { return fedavg<float>(l, weighting::uniform); });
    set_state(s, server_sgd<float>{});
    f(s);
    break;
  }
  case 4: {
    scaffold_server s(flat_model<float>(scaffold_layout(fl)), uniform_sampler(num_clients, 4),
                      scaffold_optimizer(d, server_sgd<float>(1.0)), options(), {}, {},
                      [](const model_layout& l) { return scaffold_aggregator<float>(l, num_clients); });
    set_state(s, scaffold_optimizer(d, server_sgd<float>(1.0)));
    scaffold_control_store<float> controls(d);
    controls.put(2, ramp<float>(d, 0.03));
    controls.put(7, ramp<float>(d, -0.02));
    f(s, controls);
    break;
  }
  default: {
    const model_layout dl = fuzz::double_layout();
    double_server s(flat_model<double>(dl), uniform_sampler(num_clients, 4), server_sgd<double>(0.5),
                    options());
    set_state(s, server_sgd<double>(0.5));
    f(s);
    break;
  }
  }
}

} // namespace fuzz::checkpoint_servers
