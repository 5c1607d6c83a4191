/// \file split_nn.hpp
/// Split neural networks for vertical federated learning (Vepakomma et al. 2018; Gupta & Raskar
/// 2018): parties hold different features of the same, aligned examples; each runs a bottom model
/// on its own features, the label holder (party 0) runs the top model on the combined cut-layer
/// activations, and per batch the activations and the gradients w.r.t. them cross the cut as
/// messages over any `transport` (in-process, MPI). This header brings in the whole feature:
///
/// | header                       | what                                                           |
/// |------------------------------|----------------------------------------------------------------|
/// | `split_nn_config.hpp`        | the agreement: parties' endpoints, cut widths, concat or sum, batch size
/// | | `split_nn_mlp.hpp`           | bottom/top layer stacks on flat parameter vectors; a party's feature
/// rows | | `split_nn_schedule.hpp`      | the per-epoch batch order every party computes alike          | |
/// `split_nn_messages.hpp`      | the wire payload of activations and gradients, its checks, the refusals |
/// | `split_nn_cut_noise.hpp`     | per-example clipping and Gaussian noise of activations and gradients |
/// | `split_nn_feature_party.hpp` | a party with features only                                    |
/// | `split_nn_label_party.hpp`   | the label holder                                              |
///
/// Threat model (docs/vertical_split_nn.md): semi-honest parties. The label holder learns every
/// feature party's cut-layer activations (which leak information about its features and can be
/// inverted in part); a feature party learns the gradients w.r.t. its activations (which leak
/// labels: Li et al. 2021). Neither sees the other's raw features, labels or parameters.
#pragma once

#include "fedpp/vertical/split_nn_config.hpp"
#include "fedpp/vertical/split_nn_cut_noise.hpp"
#include "fedpp/vertical/split_nn_feature_party.hpp"
#include "fedpp/vertical/split_nn_label_party.hpp"
#include "fedpp/vertical/split_nn_messages.hpp"
#include "fedpp/vertical/split_nn_mlp.hpp"
#include "fedpp/vertical/split_nn_schedule.hpp"
