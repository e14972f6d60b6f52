#pragma once
// AVX2 dCSR kernels for int8 weights and the exact product (the x86 fallback below the AVX-512 backend):
// SpMV and SpMM over a row range.
//
// Per group: nibbles with a shift and a mask (SSE); each announced extension bit-plane expanded from its uint16 lane
// mask to bytes (vpshufb, vpand, vpcmpeqb) and ORed in as 16 << i; + the row's ramp s·j; two 8-lane vpgatherdd of
// the dword ending at each activation byte (x − 3 + column: vpsrad 24 sign-extends, nothing past x[C−1] is read);
// vpmulld with the sign-extended weights. Groups with B_k < 3 (a column < 3 possible) and the weights of a short last
// group go through small local copies, so nothing outside x[0, C) and values[0, N) is read.
// Callers check the CPU (avx2, bmi2) once, at the entry point (dcsr_kernels.hpp).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/x86/target.hpp"

namespace approxnn::sparse::x86 {

#if APPROXNN_DCSR_X86

/// Offsets s·j + d of global group g as 16 bytes; consumes the group's bitmasks from `bitmask` on.
APPROXNN_DCSR_TARGET_AVX2 inline __m128i avx2_group_offsets(const dcsr_view<std::int8_t>& w, std::uint32_t g,
                                                            __m128i ramp, std::uint32_t& bitmask) noexcept {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.delta_indices + std::size_t{g / 2} * 16));
    const std::uint32_t odd = g & 1U;
    __m128i d = _mm_and_si128(_mm_srl_epi16(block, _mm_cvtsi32_si128(odd != 0 ? 0 : 4)), _mm_set1_epi8(0x0F));
    std::uint32_t planes = (static_cast<std::uint32_t>(w.bitmaps[g / 2]) >> (odd != 0 ? 0 : 4)) & 0xFU;
    if (planes != 0) {
        const __m128i spread = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        const __m128i bits = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
        for (; planes != 0; planes &= planes - 1) {
            const int i = __builtin_ctz(planes);
            const __m128i mask = _mm_shuffle_epi8(_mm_cvtsi32_si128(w.bitmasks[bitmask++]), spread);
            const __m128i lanes = _mm_cmpeq_epi8(_mm_and_si128(mask, bits), bits);
            d = _mm_or_si128(d, _mm_and_si128(lanes, _mm_set1_epi8(static_cast<char>(16 << i))));
        }
    }
    return _mm_add_epi8(d, ramp);
}

/// Lanes [0, active) as an AVX2 gather mask (sign bits) for 8 lanes starting at lane `first`.
APPROXNN_DCSR_TARGET_AVX2 inline __m256i avx2_lane_mask(std::uint32_t active, std::uint32_t first) noexcept {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<std::int32_t>(active) - static_cast<std::int32_t>(first)),
                              lane);
}

/// Sum over the active lanes of w_j · x[b + off_j] for one group (int32 lanes, to be summed by the caller).
APPROXNN_DCSR_TARGET_AVX2 inline __m256i avx2_group_products(const std::int8_t* x, __m128i off8, std::int32_t b,
                                                             std::uint32_t active, const std::int8_t* values) noexcept {
    alignas(16) std::int8_t weights[16] = {};
    const std::int8_t* wp = values;
    if (active < 16) {
        std::memcpy(weights, values, active);
        wp = weights;
    }
    const __m128i wb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wp));
    const __m256i w_lo = _mm256_cvtepi8_epi32(wb);
    const __m256i w_hi = _mm256_cvtepi8_epi32(_mm_srli_si128(wb, 8));
    __m256i x_lo;
    __m256i x_hi;
    if (b >= 3) {
        const __m256i base = _mm256_set1_epi32(b - 3);
        const __m256i i_lo = _mm256_add_epi32(_mm256_cvtepu8_epi32(off8), base);
        const __m256i i_hi = _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(off8, 8)), base);
        const auto* xi = reinterpret_cast<const int*>(x);
        if (active == 16) {
            x_lo = _mm256_i32gather_epi32(xi, i_lo, 1);
            x_hi = _mm256_i32gather_epi32(xi, i_hi, 1);
        } else {
            x_lo = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), xi, i_lo, avx2_lane_mask(active, 0), 1);
            x_hi = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), xi, i_hi, avx2_lane_mask(active, 8), 1);
        }
        x_lo = _mm256_srai_epi32(x_lo, 24);
        x_hi = _mm256_srai_epi32(x_hi, 24);
    } else {  // columns may be < 3: read them one by one
        alignas(16) std::uint8_t off[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(off), off8);
        alignas(32) std::int32_t xs[16] = {};
        for (std::uint32_t j = 0; j < active; ++j) xs[j] = x[b + off[j]];
        x_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(xs));
        x_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(xs + 8));
    }
    return _mm256_add_epi32(_mm256_mullo_epi32(x_lo, w_lo), _mm256_mullo_epi32(x_hi, w_hi));
}

APPROXNN_DCSR_TARGET_AVX2 inline std::int32_t avx2_sum(__m256i v) noexcept {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/// The sum of a row's weights (for the zero-point term), scalar.
inline std::int32_t dcsr_row_weight_sum(const std::int8_t* values, std::uint32_t n) noexcept {
    std::int32_t sum = 0;
    for (std::uint32_t i = 0; i < n; ++i) sum += values[i];
    return sum;
}

/// SpMV rows [first, last): `at` is where row `first` starts. y[r] = pipeline(sum w·x − zp·sum w).
template <class Pipeline>
APPROXNN_DCSR_TARGET_AVX2 void spmv_rows_avx2(const dcsr_view<std::int8_t>& w, std::uint32_t first, std::uint32_t last,
                                              dcsr_row_start at, const std::int8_t* x, pipeline_output_t<Pipeline>* y,
                                              const Pipeline& pipeline, std::int32_t input_zero_point) noexcept {
    const std::int64_t base_size = w.nnze / w.rows;
    std::uint32_t g = at.group;
    std::uint32_t bitmask = at.bitmask;
    const std::int8_t* values = w.values + at.value;
    for (std::uint32_t r = first; r < last; ++r) {
        const auto n = static_cast<std::uint32_t>(base_size + w.row_offsets[r]);
        const std::uint32_t s = dcsr_slope(w.cols, n);
        const std::uint32_t groups = dcsr_groups_of(n);
        __m256i acc = _mm256_setzero_si256();
        if (groups != 0) {
            const __m128i ramp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dcsr_ramps[s].data()));
            const auto step = 16 * static_cast<std::int32_t>(s);
            std::int32_t b = -step;
            for (std::uint32_t k = 0; k < groups; ++k, ++g) {
                b += step + w.group_minimums[g];
                const std::uint32_t active = n - 16 * k < 16 ? n - 16 * k : 16;
                const __m128i off8 = avx2_group_offsets(w, g, ramp, bitmask);
                acc = _mm256_add_epi32(acc, avx2_group_products(x, off8, b, active, values + 16 * k));
            }
        }
        std::uint32_t total = static_cast<std::uint32_t>(avx2_sum(acc));
        if (input_zero_point != 0) {
            total -= static_cast<std::uint32_t>(input_zero_point) *
                     static_cast<std::uint32_t>(dcsr_row_weight_sum(values, n));
        }
        y[r] = apply_output_stages(static_cast<std::int32_t>(total), r, pipeline);
        values += n;
    }
}

/// SpMM rows [first, last) for `columns` activation columns (column p at x + p·ldx, output column p at y + p·ldy).
/// `scratch` holds 17 int32 per group of the longest row in the range (16 offsets as bytes in 4 int32, and B_k).
template <class Pipeline>
APPROXNN_DCSR_TARGET_AVX2 void spmm_rows_avx2(const dcsr_view<std::int8_t>& w, std::uint32_t first, std::uint32_t last,
                                              dcsr_row_start at, const std::int8_t* x, std::size_t ldx,
                                              std::size_t columns, pipeline_output_t<Pipeline>* y, std::size_t ldy,
                                              const Pipeline& pipeline, std::int32_t input_zero_point,
                                              std::int32_t* scratch) noexcept {
    const std::int64_t base_size = w.nnze / w.rows;
    std::uint32_t g = at.group;
    std::uint32_t bitmask = at.bitmask;
    const std::int8_t* values = w.values + at.value;
    for (std::uint32_t r = first; r < last; ++r) {
        const auto n = static_cast<std::uint32_t>(base_size + w.row_offsets[r]);
        const std::uint32_t s = dcsr_slope(w.cols, n);
        const std::uint32_t groups = dcsr_groups_of(n);
        if (groups != 0) {
            const __m128i ramp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dcsr_ramps[s].data()));
            const auto step = 16 * static_cast<std::int32_t>(s);
            std::int32_t b = -step;
            for (std::uint32_t k = 0; k < groups; ++k) {
                b += step + w.group_minimums[g + k];
                _mm_storeu_si128(reinterpret_cast<__m128i*>(scratch + 4 * k),
                                 avx2_group_offsets(w, g + k, ramp, bitmask));
                scratch[4 * groups + k] = b;
            }
        }
        const std::uint32_t correction = input_zero_point != 0
                                             ? static_cast<std::uint32_t>(input_zero_point) *
                                                   static_cast<std::uint32_t>(dcsr_row_weight_sum(values, n))
                                             : 0U;
        for (std::size_t p = 0; p < columns; ++p) {
            const std::int8_t* xp = x + p * ldx;
            __m256i acc = _mm256_setzero_si256();
            for (std::uint32_t k = 0; k < groups; ++k) {
                const std::uint32_t active = n - 16 * k < 16 ? n - 16 * k : 16;
                const __m128i off8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scratch + 4 * k));
                acc = _mm256_add_epi32(acc,
                                       avx2_group_products(xp, off8, scratch[4 * groups + k], active, values + 16 * k));
            }
            y[p * ldy + r] = apply_output_stages(
                static_cast<std::int32_t>(static_cast<std::uint32_t>(avx2_sum(acc)) - correction), r, pipeline);
        }
        g += groups;
        values += n;
    }
}

#endif  // APPROXNN_DCSR_X86

}  // namespace approxnn::sparse::x86
