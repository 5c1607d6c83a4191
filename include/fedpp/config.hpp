/// \file config.hpp
/// Version, feature detection and every user-overridable FEDPP_* option macro.
#pragma once

#define FEDPP_VERSION_MAJOR 0
#define FEDPP_VERSION_MINOR 1
#define FEDPP_VERSION_PATCH 0

/// FEDPP_USE_XSIMD: 1 to vectorize kernels with xsimd (default: 1 when <xsimd/xsimd.hpp> is
/// reachable), 0 for the plain-loop fallback. The CMake target fedpp::simd sets it to 1.
#ifndef FEDPP_USE_XSIMD
#if defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#define FEDPP_USE_XSIMD 1
#else
#define FEDPP_USE_XSIMD 0
#endif
#else
#define FEDPP_USE_XSIMD 0
#endif
#endif

/// FEDPP_RUNTIME_DISPATCH: 1 to let the hot kernels pick AVX2/AVX-512 code paths at run time
/// when the compiler flags target less (x86-64 with GCC or Clang only). Default 1 there.
#ifndef FEDPP_RUNTIME_DISPATCH
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define FEDPP_RUNTIME_DISPATCH 1
#else
#define FEDPP_RUNTIME_DISPATCH 0
#endif
#endif

/// FEDPP_ASSERT: hot-loop precondition checks; removed by NDEBUG like assert().
#ifndef FEDPP_ASSERT
#include <cassert>
#define FEDPP_ASSERT(condition) assert(condition)
#endif
