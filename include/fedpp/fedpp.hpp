/// \file fedpp.hpp
/// Everything of fedpp that needs nothing but a C++20 compiler (the "core"), in one include:
///
///   #include <fedpp/fedpp.hpp>   // link fedpp::fedpp
///
/// The optional components keep their own headers and CMake targets, because each brings a
/// dependency: fedpp/secagg/*.hpp (fedpp::secagg, libsodium), fedpp/transport/mpi_transport.hpp
/// (fedpp::mpi), fedpp/simulation/*.hpp (fedpp::simulation: zlib, Eigen), fedpp/tensor/eigen.hpp
/// (fedpp::eigen), fedpp/tensor/xtensor.hpp (fedpp::xtensor), fedpp/vertical/psi*.hpp (fedpp::psi:
/// libsodium), fedpp/vertical/paillier*.hpp and bigint.hpp (fedpp::paillier: GMP, libsodium).
/// Including only the headers a file
/// uses compiles faster; this header is for convenience. The test headers.umbrella_complete fails
/// when a core header is missing here.
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/error.hpp"

// Aggregation: FedAvg, q-FedAvg, FedNova, SCAFFOLD, weight policies, robust rules
#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/fednova.hpp"
#include "fedpp/aggregation/grouped_aggregator.hpp"
#include "fedpp/aggregation/qfedavg.hpp"
#include "fedpp/aggregation/robust/bulyan.hpp"
#include "fedpp/aggregation/robust/coordinate_median.hpp"
#include "fedpp/aggregation/robust/geometric_median.hpp"
#include "fedpp/aggregation/robust/krum.hpp"
#include "fedpp/aggregation/robust/mean_around_median.hpp"
#include "fedpp/aggregation/robust/norm_bounding.hpp"
#include "fedpp/aggregation/robust/robust.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/trimmed_mean.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/aggregation/scaffold_aggregator.hpp"
#include "fedpp/aggregation/scaffold_client.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/aggregation/weight_policy.hpp"
#include "fedpp/aggregation/weighted_average.hpp"

// Attacks (measurement tools for robust aggregation)
#include "fedpp/attacks/alie_attack.hpp"
#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/attacks/attacks.hpp"
#include "fedpp/attacks/gaussian_noise_attack.hpp"
#include "fedpp/attacks/label_flip.hpp"
#include "fedpp/attacks/scaling_attack.hpp"
#include "fedpp/attacks/sign_flip.hpp"

// Privacy attacks and empirical DP auditing (measurement tools)
#include "fedpp/audit/backdoor.hpp"
#include "fedpp/audit/dlg.hpp"
#include "fedpp/audit/gradient_inversion.hpp"
#include "fedpp/audit/membership_inference.hpp"
#include "fedpp/audit/one_run_audit.hpp"
#include "fedpp/audit/png_writer.hpp"
#include "fedpp/audit/roc.hpp"

// Client-side helpers
#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/client/update_helpers.hpp"

// Compression: quantizers, sparsifiers, sketches, error feedback, compressed FedAvg
#include "fedpp/compression/bit_packing.hpp"
#include "fedpp/compression/compressed_fedavg.hpp"
#include "fedpp/compression/compressed_update.hpp"
#include "fedpp/compression/compression.hpp"
#include "fedpp/compression/compression_hooks.hpp"
#include "fedpp/compression/compressor.hpp"
#include "fedpp/compression/count_sketch.hpp"
#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/compression/decode.hpp"
#include "fedpp/compression/error_feedback.hpp"
#include "fedpp/compression/fetchsgd.hpp"
#include "fedpp/compression/float_cast.hpp"
#include "fedpp/compression/hadamard_rotation.hpp"
#include "fedpp/compression/majority_vote.hpp"
#include "fedpp/compression/payload_header.hpp"
#include "fedpp/compression/qsgd.hpp"
#include "fedpp/compression/sign_compressor.hpp"
#include "fedpp/compression/sketch_aggregator.hpp"
#include "fedpp/compression/sparsifier.hpp"
#include "fedpp/compression/top_k.hpp"
#include "fedpp/compression/uniform_quantizer.hpp"

// Knowledge distillation: FedDF's server aggregator, teacher -> student distillation
#include "fedpp/distillation/distillable_model.hpp"
#include "fedpp/distillation/distillation.hpp"
#include "fedpp/distillation/distiller.hpp"
#include "fedpp/distillation/ensemble_teacher.hpp"
#include "fedpp/distillation/feddf_aggregator.hpp"
#include "fedpp/distillation/proxy_set.hpp"
#include "fedpp/distillation/soft_targets.hpp"

// Federated GANs: G and D on one flat vector, local training, per-network aggregation plan,
// instability monitors (the Fréchet distance, gan/frechet.hpp, needs fedpp::eigen)
#include "fedpp/gan/gan_models.hpp"
#include "fedpp/gan/gan_plan.hpp"
#include "fedpp/gan/gan_trainer.hpp"
#include "fedpp/gan/mode_collapse.hpp"

// Contribution evaluation, reputation and rewards (Shapley, TMC, GTG-Shapley, leave-one-out)
#include "fedpp/incentives/coalition.hpp"
#include "fedpp/incentives/gtg_shapley.hpp"
#include "fedpp/incentives/leave_one_out.hpp"
#include "fedpp/incentives/reputation.hpp"
#include "fedpp/incentives/reputation_sampler.hpp"
#include "fedpp/incentives/rewards.hpp"
#include "fedpp/incentives/shapley.hpp"
#include "fedpp/incentives/update_recorder.hpp"

// SIMD kernels
#include "fedpp/kernels/checked_weighted_sum.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/kernels/scale.hpp"
#include "fedpp/kernels/scaled_accumulate.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/kernels/tuning.hpp"
#include "fedpp/kernels/weighted_sum.hpp"
#include "fedpp/kernels/write_mode.hpp"

// Server optimizers: SGD, momentum, FedAdam/FedYogi/FedAdagrad, SCAFFOLD
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/optim/server_sgd.hpp"

// Orchestration: the synchronous and asynchronous servers, client hosts, hooks
#include "fedpp/orchestration/async_server.hpp"
#include "fedpp/orchestration/availability.hpp"
#include "fedpp/orchestration/checkpoint.hpp"
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/client_metrics_mean.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/orchestration/hook_chain.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/profiles.hpp"
#include "fedpp/orchestration/round_metrics.hpp"
#include "fedpp/orchestration/selection_feedback_hooks.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/orchestration/server_hooks.hpp"

// Thread pool and parallel kernels
#include "fedpp/parallel/kernels.hpp"
#include "fedpp/parallel/parallel_for.hpp"
#include "fedpp/parallel/thread_pool.hpp"

// Personalization: partial model sharing (FedPer/FedRep), fine-tuning before evaluation, Ditto,
// clustered FL (IFCA)
#include "fedpp/personalization/client_state_store.hpp"
#include "fedpp/personalization/ditto_trainer.hpp"
#include "fedpp/personalization/fine_tuning_trainer.hpp"
#include "fedpp/personalization/ifca_aggregator.hpp"
#include "fedpp/personalization/ifca_layout.hpp"
#include "fedpp/personalization/ifca_trainer.hpp"
#include "fedpp/personalization/partial_sharing_trainer.hpp"
#include "fedpp/personalization/sharing_plan.hpp"

// Differential privacy: clipping, noise, accountants
#include "fedpp/privacy/adaptive_clipping.hpp"
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/discrete_gaussian.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/local_dp_hooks.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/privacy_budget.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"
#include "fedpp/privacy/secure_rng.hpp"

// Random number generation
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"

// Reinforcement learning: CartPole (gymnasium's v1 dynamics), REINFORCE with a baseline, federated agents
#include "fedpp/rl/cartpole.hpp"
#include "fedpp/rl/federated_agent.hpp"
#include "fedpp/rl/policy_network.hpp"
#include "fedpp/rl/reinforce.hpp"
#include "fedpp/rl/tanh_mlp.hpp"
#include "fedpp/rl/value_network.hpp"

// Client sampling and asynchronous scheduling
#include "fedpp/scheduling/capability_hints.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/constant_staleness.hpp"
#include "fedpp/scheduling/fedasync.hpp"
#include "fedpp/scheduling/fedbuff.hpp"
#include "fedpp/scheduling/hinge_staleness.hpp"
#include "fedpp/scheduling/inverse_sqrt_staleness.hpp"
#include "fedpp/scheduling/oort_sampler.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/polynomial_staleness.hpp"
#include "fedpp/scheduling/power_of_choice_sampler.hpp"
#include "fedpp/scheduling/round_policy.hpp"
#include "fedpp/scheduling/round_tracker.hpp"
#include "fedpp/scheduling/selection_feedback.hpp"
#include "fedpp/scheduling/staleness_function.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/scheduling/weighted_sampler.hpp"

// Tensors: layouts, views, flat models (the Eigen and xtensor adapters are separate)
#include "fedpp/tensor/adapt.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/memory_space.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"
#include "fedpp/tensor/tensor_shape.hpp"
#include "fedpp/tensor/tensor_view.hpp"

// Transport: the in-process transport and the wire format (MPI is separate)
#include "fedpp/transport/duplicate_filter.hpp"
#include "fedpp/transport/in_process_transport.hpp"
#include "fedpp/transport/message.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

// Vertical FL: split neural networks; the protocols' control-message tags (PSI and Paillier are
// optional components)
#include "fedpp/vertical/split_nn.hpp"
#include "fedpp/vertical/split_nn_config.hpp"
#include "fedpp/vertical/split_nn_cut_noise.hpp"
#include "fedpp/vertical/split_nn_feature_party.hpp"
#include "fedpp/vertical/split_nn_label_party.hpp"
#include "fedpp/vertical/split_nn_messages.hpp"
#include "fedpp/vertical/split_nn_mlp.hpp"
#include "fedpp/vertical/split_nn_schedule.hpp"
#include "fedpp/vertical/tags.hpp"
