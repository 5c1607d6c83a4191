/// \file simulation.hpp
/// Everything of the simulation harness: datasets and loaders, partitioners, models and their
/// training, device heterogeneity, progress display and CSV metrics.
#pragma once

#include "fedpp/simulation/csv_writer.hpp"
#include "fedpp/simulation/dataset.hpp"
#include "fedpp/simulation/dataset_view.hpp"
#include "fedpp/simulation/device_availability.hpp"
#include "fedpp/simulation/device_model.hpp"
#include "fedpp/simulation/fashion_mnist.hpp"
#include "fedpp/simulation/idx_reader.hpp"
#include "fedpp/simulation/local_training.hpp"
#include "fedpp/simulation/mlp.hpp"
#include "fedpp/simulation/partitioners.hpp"
#include "fedpp/simulation/progress_bar.hpp"
#include "fedpp/simulation/softmax_regression.hpp"
#include "fedpp/simulation/trainable_model.hpp"
