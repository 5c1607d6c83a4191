/// \file memory_space.hpp
/// Memory spaces are tag types carried by every view, so host code cannot be handed device
/// memory (or the reverse) without a compile error. Adding a space never changes user code.
#pragma once

#include <concepts>
#include <type_traits>

namespace fedpp {

/// Ordinary CPU-addressable memory.
struct host_space {
  static constexpr const char* name = "host";
  static constexpr bool host_accessible = true;
};

/// Memory of a CUDA device (cudaMalloc). Kernels for it live in fedpp/cuda/*.cuh.
struct cuda_device_space {
  static constexpr const char* name = "cuda_device";
  static constexpr bool host_accessible = false;
};

/// A memory space tag: names itself and says whether the CPU may dereference it.
template <class S>
concept memory_space = std::is_empty_v<S> && requires {
  { S::name } -> std::convertible_to<const char*>;
  { S::host_accessible } -> std::convertible_to<bool>;
};

static_assert(memory_space<host_space>);
static_assert(memory_space<cuda_device_space>);

} // namespace fedpp
