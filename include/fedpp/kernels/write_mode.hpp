/// \file write_mode.hpp
/// Whether a kernel adds into its output or overwrites it.
#pragma once

namespace fedpp::kernels {

/// How a kernel writes its output: add into it, or overwrite it.
enum class write_mode { accumulate, overwrite };

} // namespace fedpp::kernels
