/// \file robust.hpp
/// Every Byzantine-robust aggregator: coordinate_median, trimmed_mean, krum (Multi-Krum),
/// bulyan, geometric_median (RFA) over an update_matrix, and the streaming norm_bounding; the
/// standalone mean_around_median (Bulyan's coordinate-wise step).
#pragma once

#include "fedpp/aggregation/robust/bulyan.hpp"
#include "fedpp/aggregation/robust/coordinate_median.hpp"
#include "fedpp/aggregation/robust/geometric_median.hpp"
#include "fedpp/aggregation/robust/krum.hpp"
#include "fedpp/aggregation/robust/mean_around_median.hpp"
#include "fedpp/aggregation/robust/norm_bounding.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/trimmed_mean.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
