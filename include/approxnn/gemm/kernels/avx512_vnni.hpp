#pragma once
// AVX-512 VNNI kernels: the exact int8 dot product (vpdpbusd), on which the exact and decomposed paths run.
//
// dot_tile<Rows> computes (or, accumulating, adds to) raw[r][n] = sum_q u8(b[q][n][0..3]) . s8(a[r][4q .. 4q+3]) for Rows <= 8 weight rows and
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

#define APPROXNN_VNNI_LOAD(r)                                                                          \
    if constexpr (Rows > r) {                                                                          \
        if (accumulate) {                                                                              \
            c##r##0 = _mm512_loadu_si512(raw + r * ldr);                                               \
            c##r##1 = _mm512_loadu_si512(raw + r * ldr + 16);                                          \
        }                                                                                              \
    }

template <int Rows>
APPROXNN_TARGET_VNNI void vnni_dot_tile(const std::int8_t* a, std::size_t lda, const std::uint8_t* b, std::size_t k4,
                                        std::int32_t* raw, std::size_t ldr, bool accumulate) noexcept {
    static_assert(Rows >= 1 && Rows <= 8);
    __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512();
    __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512();
    __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512();
    __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512();
    __m512i c40 = _mm512_setzero_si512(), c41 = _mm512_setzero_si512();
    __m512i c50 = _mm512_setzero_si512(), c51 = _mm512_setzero_si512();
    __m512i c60 = _mm512_setzero_si512(), c61 = _mm512_setzero_si512();
    __m512i c70 = _mm512_setzero_si512(), c71 = _mm512_setzero_si512();
    APPROXNN_VNNI_LOAD(0)
    APPROXNN_VNNI_LOAD(1)
    APPROXNN_VNNI_LOAD(2)
    APPROXNN_VNNI_LOAD(3)
    APPROXNN_VNNI_LOAD(4)
    APPROXNN_VNNI_LOAD(5)
    APPROXNN_VNNI_LOAD(6)
    APPROXNN_VNNI_LOAD(7)
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
#undef APPROXNN_VNNI_LOAD

/// Groups of 4 rows of a panel per block: 256 groups are 32 KiB of packed activations, which stay in L1 while every
/// row block of the weights passes over them.
inline constexpr std::size_t vnni_k4_block = 256;

/// raw rows [0, rows) of a panel (k4 groups of 4 expanded rows), 8 rows at a time, in blocks of vnni_k4_block groups.
APPROXNN_TARGET_VNNI inline void vnni_dot_panel(const std::int8_t* a, std::size_t lda, std::size_t rows,
                                                const std::uint8_t* b, std::size_t k4, std::int32_t* raw,
                                                std::size_t ldr) noexcept {
    for (std::size_t q0 = 0; q0 < k4; q0 += vnni_k4_block) {
        const std::size_t q = k4 - q0 < vnni_k4_block ? k4 - q0 : vnni_k4_block;
        const std::int8_t* aq = a + 4 * q0;
        const std::uint8_t* bq = b + 128 * q0;
        const bool accumulate = q0 > 0;
        std::size_t r = 0;
        for (; r + 8 <= rows; r += 8) vnni_dot_tile<8>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate);
        switch (rows - r) {
            case 1: vnni_dot_tile<1>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            case 2: vnni_dot_tile<2>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            case 3: vnni_dot_tile<3>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            case 4: vnni_dot_tile<4>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            case 5: vnni_dot_tile<5>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            case 6: vnni_dot_tile<6>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            case 7: vnni_dot_tile<7>(aq + r * lda, lda, bq, q, raw + r * ldr, ldr, accumulate); break;
            default: break;
        }
    }
}

#endif  // APPROXNN_HAS_X86_KERNELS

}  // namespace approxnn::gemm::kernels
