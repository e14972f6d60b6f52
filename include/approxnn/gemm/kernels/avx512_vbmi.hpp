#pragma once
// AVX-512 VBMI kernels: 256-entry byte-table lookups with vpermb, on which the table and error-plane paths run.
//
// lookup_tile<Rows, Planes> adds to raw[r][n] the sum over k of value(w = a[r][k], x = b[k][n]) for Rows <= 2 weight rows
// and 128 columns of activation codes (b: k rows of 128 codes), where value = plane0[w][x] for one
// plane and plane0[w][x] + 256 * plane1[w][x] for two. Planes of weight w start at planes + w * plane_stride (the
// second at +256). 64 lookups into a 256-byte plane take 4 vpermb merged under masks of the index bits 6 and 7;
// sums are kept in 16-bit lanes (raw words and their high bytes, so that the even bytes are recovered exactly) and
// widened every 256 steps. Callers check host_cpu().has_vbmi_kernels() first.

#include <cstddef>
#include <cstdint>

#include "approxnn/gemm/kernels/avx512_vnni.hpp"

namespace approxnn::gemm::kernels {

/// Columns of one packed panel of the lookup kernel.
inline constexpr std::size_t vbmi_panel_width = 128;
/// Weight rows per lookup micro-kernel call.
inline constexpr std::size_t vbmi_rows = 2;
/// Steps the 16-bit sums can take before they must be widened: 256 * 255 < 2^16.
inline constexpr std::size_t vbmi_flush_interval = 256;

#if APPROXNN_HAS_X86_KERNELS

/// 64 lookups of the codes x in the 256-byte table t.
APPROXNN_TARGET_VBMI inline __m512i vbmi_lookup(__m512i x, const std::uint8_t* t, __mmask64 bit6, __mmask64 bit7,
                                                __mmask64 bit67) noexcept {
    // A full-mask merge is the plain vpermb (and avoids g++'s false -Wmaybe-uninitialized on the unmasked form).
    __m512i r = _mm512_mask_permutexvar_epi8(x, ~__mmask64{0}, x, _mm512_loadu_si512(t));
    r = _mm512_mask_permutexvar_epi8(r, bit6, x, _mm512_loadu_si512(t + 64));
    r = _mm512_mask_permutexvar_epi8(r, bit7, x, _mm512_loadu_si512(t + 128));
    r = _mm512_mask_permutexvar_epi8(r, bit67, x, _mm512_loadu_si512(t + 192));
    return r;
}

/// Position (0..31) in the flush buffers of the sum of byte pair (word) i: unpacklo/unpackhi order.
constexpr int vbmi_flush_position(int word) noexcept {
    const int lane = word / 8;
    const int in_lane = word % 8;
    return in_lane < 4 ? lane * 4 + in_lane : 16 + lane * 4 + (in_lane - 4);
}

/// Adds the byte sums held as raw words `words` and high bytes `high` (32 lanes each) to the int32 sums of the even
/// and the odd bytes, in unpack order (vbmi_flush_position).
APPROXNN_TARGET_VBMI inline void vbmi_flush(__m512i words, __m512i high, std::int32_t* even, std::int32_t* odd) noexcept {
    const __m512i low = _mm512_sub_epi16(words, _mm512_slli_epi16(high, 8));  // exact: each sum < 2^16
    const __m512i zero = _mm512_setzero_si512();
    _mm512_storeu_si512(even, _mm512_add_epi32(_mm512_loadu_si512(even), _mm512_unpacklo_epi16(low, zero)));
    _mm512_storeu_si512(even + 16, _mm512_add_epi32(_mm512_loadu_si512(even + 16), _mm512_unpackhi_epi16(low, zero)));
    _mm512_storeu_si512(odd, _mm512_add_epi32(_mm512_loadu_si512(odd), _mm512_unpacklo_epi16(high, zero)));
    _mm512_storeu_si512(odd + 16, _mm512_add_epi32(_mm512_loadu_si512(odd + 16), _mm512_unpackhi_epi16(high, zero)));
}

// One (row, vector, plane) accumulation: words R and high bytes O.
#define APPROXNN_VBMI_ACCUMULATE(R, O, value) \
    R = _mm512_add_epi16(R, value);           \
    O = _mm512_add_epi16(O, _mm512_srli_epi16(value, 8));

#define APPROXNN_VBMI_ROW(r)                                                                             \
    if constexpr (Rows > r) {                                                                            \
        const std::uint8_t* t = planes + std::size_t{a[r * lda + k]} * plane_stride;                     \
        const __m512i l0 = vbmi_lookup(x0, t, m6a, m7a, m67a);                                           \
        APPROXNN_VBMI_ACCUMULATE(w##r##00, h##r##00, l0)                                                 \
        const __m512i l1 = vbmi_lookup(x1, t, m6b, m7b, m67b);                                           \
        APPROXNN_VBMI_ACCUMULATE(w##r##10, h##r##10, l1)                                                 \
        if constexpr (Planes == 2) {                                                                     \
            const __m512i u0 = vbmi_lookup(x0, t + 256, m6a, m7a, m67a);                                 \
            APPROXNN_VBMI_ACCUMULATE(w##r##01, h##r##01, u0)                                             \
            const __m512i u1 = vbmi_lookup(x1, t + 256, m6b, m7b, m67b);                                 \
            APPROXNN_VBMI_ACCUMULATE(w##r##11, h##r##11, u1)                                             \
        }                                                                                                \
    }

// Sums per (row r, vector v, plane p) live at sums + ((r * 2 + v) * 2 + p) * 64: 32 even, then 32 odd.
#define APPROXNN_VBMI_FLUSH(r)                                                                           \
    if constexpr (Rows > r) {                                                                            \
        vbmi_flush(w##r##00, h##r##00, sums + ((r * 2 + 0) * 2 + 0) * 64, sums + ((r * 2 + 0) * 2 + 0) * 64 + 32); \
        vbmi_flush(w##r##10, h##r##10, sums + ((r * 2 + 1) * 2 + 0) * 64, sums + ((r * 2 + 1) * 2 + 0) * 64 + 32); \
        if constexpr (Planes == 2) {                                                                     \
            vbmi_flush(w##r##01, h##r##01, sums + ((r * 2 + 0) * 2 + 1) * 64, sums + ((r * 2 + 0) * 2 + 1) * 64 + 32); \
            vbmi_flush(w##r##11, h##r##11, sums + ((r * 2 + 1) * 2 + 1) * 64, sums + ((r * 2 + 1) * 2 + 1) * 64 + 32); \
        }                                                                                                \
    }

/// One flush interval (k1 - k0 <= 256 steps) of lookup_tile, with its 16 accumulators in registers; the widened
/// sums are added to `sums`. A function of its own so that g++ keeps every accumulator in a register.
template <int Rows, int Planes>
APPROXNN_TARGET_VBMI void vbmi_lookup_interval(const std::uint8_t* a, std::size_t lda, const std::uint8_t* b,
                                               std::size_t ldb, std::size_t k0, std::size_t k1,
                                               const std::uint8_t* planes, std::size_t plane_stride,
                                               std::int32_t* sums) noexcept {
    __m512i w000 = _mm512_setzero_si512(), h000 = _mm512_setzero_si512();
    __m512i w010 = _mm512_setzero_si512(), h010 = _mm512_setzero_si512();
    __m512i w001 = _mm512_setzero_si512(), h001 = _mm512_setzero_si512();
    __m512i w011 = _mm512_setzero_si512(), h011 = _mm512_setzero_si512();
    __m512i w100 = _mm512_setzero_si512(), h100 = _mm512_setzero_si512();
    __m512i w110 = _mm512_setzero_si512(), h110 = _mm512_setzero_si512();
    __m512i w101 = _mm512_setzero_si512(), h101 = _mm512_setzero_si512();
    __m512i w111 = _mm512_setzero_si512(), h111 = _mm512_setzero_si512();
    for (std::size_t k = k0; k < k1; ++k) {
        const __m512i x0 = _mm512_loadu_si512(b + k * ldb);
        const __m512i x1 = _mm512_loadu_si512(b + k * ldb + 64);
        const __mmask64 m6a = _mm512_movepi8_mask(_mm512_add_epi8(x0, x0));
        const __mmask64 m7a = _mm512_movepi8_mask(x0);
        const __mmask64 m67a = _kand_mask64(m6a, m7a);
        const __mmask64 m6b = _mm512_movepi8_mask(_mm512_add_epi8(x1, x1));
        const __mmask64 m7b = _mm512_movepi8_mask(x1);
        const __mmask64 m67b = _kand_mask64(m6b, m7b);
        APPROXNN_VBMI_ROW(0)
        APPROXNN_VBMI_ROW(1)
    }
    APPROXNN_VBMI_FLUSH(0)
    APPROXNN_VBMI_FLUSH(1)
}

template <int Rows, int Planes>
APPROXNN_TARGET_VBMI void vbmi_lookup_tile(const std::uint8_t* a, std::size_t lda, const std::uint8_t* b,
                                           std::size_t ldb, std::size_t k_total, const std::uint8_t* planes,
                                           std::size_t plane_stride, std::int32_t* raw, std::size_t ldr) noexcept {
    static_assert(Rows == 1 || Rows == 2);
    static_assert(Planes == 1 || Planes == 2);
    alignas(64) std::int32_t sums[2 * 2 * 2 * 64] = {};
    for (std::size_t k0 = 0; k0 < k_total; k0 += vbmi_flush_interval) {
        const std::size_t k1 = k0 + vbmi_flush_interval < k_total ? k0 + vbmi_flush_interval : k_total;
        vbmi_lookup_interval<Rows, Planes>(a, lda, b, ldb, k0, k1, planes, plane_stride, sums);
    }
    // Word i of vector v holds the columns v * 64 + 2i (even byte) and v * 64 + 2i + 1 (odd byte).
    for (int r = 0; r < Rows; ++r) {
        for (int v = 0; v < 2; ++v) {
            const std::int32_t* lo = sums + ((r * 2 + v) * 2 + 0) * 64;
            const std::int32_t* hi = sums + ((r * 2 + v) * 2 + 1) * 64;
            std::int32_t* out = raw + static_cast<std::size_t>(r) * ldr + static_cast<std::size_t>(v) * 64;
            for (int i = 0; i < 32; ++i) {
                const int p = vbmi_flush_position(i);
                out[2 * i] += lo[p] + (Planes == 2 ? hi[p] * 256 : 0);
                out[2 * i + 1] += lo[32 + p] + (Planes == 2 ? hi[32 + p] * 256 : 0);
            }
        }
    }
}

#undef APPROXNN_VBMI_ACCUMULATE
#undef APPROXNN_VBMI_ROW
#undef APPROXNN_VBMI_FLUSH

/// Adds the sums of rows [0, rows) of a panel to raw, two rows at a time.
template <int Planes>
APPROXNN_TARGET_VBMI void vbmi_lookup_panel(const std::uint8_t* a, std::size_t lda, std::size_t rows,
                                            const std::uint8_t* b, std::size_t ldb, std::size_t k,
                                            const std::uint8_t* planes, std::size_t plane_stride, std::int32_t* raw,
                                            std::size_t ldr) noexcept {
    std::size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        vbmi_lookup_tile<2, Planes>(a + r * lda, lda, b, ldb, k, planes, plane_stride, raw + r * ldr, ldr);
    }
    if (r < rows) vbmi_lookup_tile<1, Planes>(a + r * lda, lda, b, ldb, k, planes, plane_stride, raw + r * ldr, ldr);
}

#endif  // APPROXNN_HAS_X86_KERNELS

}  // namespace approxnn::gemm::kernels
