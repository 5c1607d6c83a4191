/// \file distillation.hpp
/// The knowledge-distillation family (docs/distillation.md) in one include: soft targets and the
/// distillation loss, the distillable_model concept, proxy sets, the ensemble teacher, the
/// distiller (teacher → student), and FedDF's server aggregator. The adapter of the simulation's
/// models, simulation/distillation_adapter.hpp, needs fedpp::simulation and is included apart.
#pragma once

#include "fedpp/distillation/distillable_model.hpp"
#include "fedpp/distillation/distiller.hpp"
#include "fedpp/distillation/ensemble_teacher.hpp"
#include "fedpp/distillation/feddf_aggregator.hpp"
#include "fedpp/distillation/proxy_set.hpp"
#include "fedpp/distillation/soft_targets.hpp"
