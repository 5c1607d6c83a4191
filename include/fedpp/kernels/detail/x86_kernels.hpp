/// \file x86_kernels.hpp
/// AVX2 and AVX-512 builds of the hot kernels, compiled with function target attributes so a
/// baseline (-O2, SSE2) build still carries them; dispatch.hpp picks one at run time.
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/tuning.hpp"

#include <cstddef>
#include <cstdint>

#if FEDPP_RUNTIME_DISPATCH

namespace fedpp::kernels::detail {

#define FEDPP_X86_NS x86_avx2
#define FEDPP_X86_TARGET "avx2,fma"
#define FEDPP_X86_BYTES 32
#include "fedpp/kernels/detail/x86_isa_kernels.ipp"
#undef FEDPP_X86_NS
#undef FEDPP_X86_TARGET
#undef FEDPP_X86_BYTES

#define FEDPP_X86_NS x86_avx512
#define FEDPP_X86_TARGET "avx512f,avx512dq,avx512vl,avx512bw,fma"
#define FEDPP_X86_BYTES 64
#include "fedpp/kernels/detail/x86_isa_kernels.ipp"
#undef FEDPP_X86_NS
#undef FEDPP_X86_TARGET
#undef FEDPP_X86_BYTES

} // namespace fedpp::kernels::detail

#endif
