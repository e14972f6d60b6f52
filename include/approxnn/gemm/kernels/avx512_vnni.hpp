#pragma once
// AVX-512 VNNI kernels: the exact int8 dot product (vpdpbusd), on which the exact and decomposed paths run.
//
// dot_tile<Rows> computes raw[r][n] = sum_q u8(b[q][n][0..3]) . s8(a[r][4q .. 4q+3]) for Rows <= 8 weight rows and
// the 32 columns of one packed panel: b is [k4][32][4] bytes, a is Rows rows of 4*k4 bytes (stride lda).
// Compiled for AVX-512 through function attributes: callers check host_cpu().has_vnni_kernels() first.

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define APPROXNN_HAS_X86_KERNELS 1
#define APPROXNN_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define APPROXNN_TARGET_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))
#define APPROXNN_TARGET_VNNI_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))
#else
#define APPROXNN_HAS_X86_KERNELS 0
#endif

namespace approxnn::gemm::kernels {

/// Columns of one packed panel of the VNNI kernel.
inline constexpr std::size_t vnni_panel_width = 32;
/// Weight rows per VNNI micro-kernel call.
inline constexpr std::size_t vnni_rows = 8;

#if APPROXNN_HAS_X86_KERNELS

// Accumulators are named variables, not arrays: g++ 12 spills arrays of __m512i (see docs/performance.md).
#define APPROXNN_VNNI_ROW(r)                                                                           \
    if constexpr (Rows > r) {                                                                          \
        std::int32_t w;                                                                                \
        std::memcpy(&w, a + r * lda + 4 * q, 4);                                                       \
        const __m512i wb = _mm512_set1_epi32(w);                                                       \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, wb);                                                \
        c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, wb);                                                \
    }

#define APPROXNN_VNNI_STORE(r)                                                                         \
    if constexpr (Rows > r) {                                                                          \
        _mm512_storeu_si512(raw + r * ldr, c##r##0);                                                   \
        _mm512_storeu_si512(raw + r * ldr + 16, c##r##1);                                              \
    }

template <int Rows>
APPROXNN_TARGET_VNNI void vnni_dot_tile(const std::int8_t* a, std::size_t lda, const std::uint8_t* b, std::size_t k4,
                                        std::int32_t* raw, std::size_t ldr) noexcept {
    static_assert(Rows >= 1 && Rows <= 8);
    __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512();
    __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512();
    __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512();
    __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512();
    __m512i c40 = _mm512_setzero_si512(), c41 = _mm512_setzero_si512();
    __m512i c50 = _mm512_setzero_si512(), c51 = _mm512_setzero_si512();
    __m512i c60 = _mm512_setzero_si512(), c61 = _mm512_setzero_si512();
    __m512i c70 = _mm512_setzero_si512(), c71 = _mm512_setzero_si512();
    for (std::size_t q = 0; q < k4; ++q) {
        const __m512i b0 = _mm512_loadu_si512(b + q * 128);
        const __m512i b1 = _mm512_loadu_si512(b + q * 128 + 64);
        APPROXNN_VNNI_ROW(0)
        APPROXNN_VNNI_ROW(1)
        APPROXNN_VNNI_ROW(2)
        APPROXNN_VNNI_ROW(3)
        APPROXNN_VNNI_ROW(4)
        APPROXNN_VNNI_ROW(5)
        APPROXNN_VNNI_ROW(6)
        APPROXNN_VNNI_ROW(7)
    }
    APPROXNN_VNNI_STORE(0)
    APPROXNN_VNNI_STORE(1)
    APPROXNN_VNNI_STORE(2)
    APPROXNN_VNNI_STORE(3)
    APPROXNN_VNNI_STORE(4)
    APPROXNN_VNNI_STORE(5)
    APPROXNN_VNNI_STORE(6)
    APPROXNN_VNNI_STORE(7)
}

#undef APPROXNN_VNNI_ROW
#undef APPROXNN_VNNI_STORE

/// raw rows [0, rows) of a panel, 8 at a time.
APPROXNN_TARGET_VNNI inline void vnni_dot_panel(const std::int8_t* a, std::size_t lda, std::size_t rows,
                                                const std::uint8_t* b, std::size_t k4, std::int32_t* raw,
                                                std::size_t ldr) noexcept {
    std::size_t r = 0;
    for (; r + 8 <= rows; r += 8) vnni_dot_tile<8>(a + r * lda, lda, b, k4, raw + r * ldr, ldr);
    switch (rows - r) {
        case 1: vnni_dot_tile<1>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        case 2: vnni_dot_tile<2>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        case 3: vnni_dot_tile<3>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        case 4: vnni_dot_tile<4>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        case 5: vnni_dot_tile<5>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        case 6: vnni_dot_tile<6>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        case 7: vnni_dot_tile<7>(a + r * lda, lda, b, k4, raw + r * ldr, ldr); break;
        default: break;
    }
}

#endif  // APPROXNN_HAS_X86_KERNELS

}  // namespace approxnn::gemm::kernels
