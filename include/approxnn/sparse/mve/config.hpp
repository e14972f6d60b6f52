#pragma once
// Whether the Arm MVE (Helium) kernels of approxnn::sparse::mve are compiled: on a target with integer MVE
// (__ARM_FEATURE_MVE bit 0, e.g. arm-none-eabi-g++ -mcpu=cortex-m55). On every other target the headers of this
// folder compile to nothing but these two names, so that including them anywhere is harmless; code that calls
// the kernels must itself be guarded by APPROXNN_MVE (a call on a host build fails to compile, never at run time).

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define APPROXNN_MVE 1
#else
#define APPROXNN_MVE 0
#endif

namespace approxnn::sparse::mve {

/// True when the MVE kernels of this folder exist in this translation unit.
inline constexpr bool available = APPROXNN_MVE != 0;

}  // namespace approxnn::sparse::mve
