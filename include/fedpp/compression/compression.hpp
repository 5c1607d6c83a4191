/// \file compression.hpp
/// Umbrella header of fedpp's update compression (see docs/compression.md).
#pragma once

#include "fedpp/compression/bit_packing.hpp"
#include "fedpp/compression/compressed_fedavg.hpp"
#include "fedpp/compression/compressed_update.hpp"
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
