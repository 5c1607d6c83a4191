/// \file kernels.hpp
/// Umbrella header of the host kernels over contiguous elements (spans or host tensor_views):
/// scaled_accumulate, weighted_sum, weighted_sum_checked, dot, squared_norm, scale,
/// clip_by_l2_norm, find_non_finite, all_finite. Vectorized with xsimd when FEDPP_USE_XSIMD is 1 (plain loops
/// otherwise); the hot kernels also pick AVX2/AVX-512 at run time (dispatch.hpp). Threaded versions:
/// fedpp/parallel.
#pragma once

#include "fedpp/kernels/checked_weighted_sum.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/kernels/scale.hpp"
#include "fedpp/kernels/scaled_accumulate.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/kernels/tuning.hpp"
#include "fedpp/kernels/weighted_sum.hpp"
#include "fedpp/kernels/write_mode.hpp"
