#pragma once
// AVX-512 dCSR kernels (F, BW, VL, DQ, VNNI, VBMI + GFNI: Ice Lake and later; other CPUs take the AVX2
// backend) for int8 weights and the exact product: SpMV and SpMM over a row range.
//
// Decoding, per group (16 lanes, one xmm of bytes): the nibble block's upper or lower nibbles through a gf2p8affineqb
// selection matrix; the extension bit-planes: the group's packed masks (popcount(bitmap) uint16) moved by a
// per-bitmap vpshufb into the rows of a GF(2) bit matrix and transposed into lane bits 4..7 by gf2p8affineqb (no
// branch on the data); + the row's ramp s·j (a table, s <= 17). The SpMV decodes the two groups that share a nibble
// block and a bitmap byte together in one ymm.
// SpMV: no gather. The group's columns lie in [B_k, B_k + 255]: its 256-byte window of biased activations
// (x ^ 0x80, in a buffer padded by 256 bytes on both sides) is looked up with two vpermt2b on the 128-byte halves,
// blended by bit 7 of the offsets; one vpdpbusd with the 16 weights; the bias (128 + zero point) times the row sum
// (vpsadbw) is subtracted per row.
// SpMM: each row is decoded once into int32 offsets and serves four activation columns per decoded group with
// masked vpgatherdd of the dword ENDING at each activation byte (nothing past x[C−1] is read; groups with B_k < 3
// take columns 0..2 from a small vector, so nothing before x[0] is read either), vpdpbusd on the biased top bytes.
// Inactive lanes are masked in every load of values. Callers check the CPU once, at the entry point
// (dcsr_kernels.hpp).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "approxnn/core/output_stage.hpp"
#include "approxnn/sparse/dcsr_view.hpp"
#include "approxnn/sparse/x86/target.hpp"

namespace approxnn::sparse::x86 {

#if APPROXNN_DCSR_X86

/// The arrays the group decoder reads, as locals (keeps them in registers inside the kernels' loops).
struct avx512_streams {
    const std::uint8_t* delta_indices;
    const std::uint8_t* bitmaps;
    const std::uint16_t* bitmasks;
    std::uint32_t bitmasks_unmasked_end;  ///< positions below it may load 4 masks (8 bytes) at once
};

inline avx512_streams avx512_streams_of(const dcsr_view<std::int8_t>& w) noexcept {
    // Without bitmasks the masked loads below would be issued (with empty masks) at a null address: fault
    // suppression then costs a microcode assist per load (measured: 5x slower SpMV). Point them at zeros instead.
    alignas(16) static constexpr std::uint16_t no_masks[8] = {};
    if (w.bitmasks_size == 0) return {w.delta_indices, w.bitmaps, no_masks, 5};
    return {w.delta_indices, w.bitmaps, w.bitmasks, w.bitmasks_size >= 4 ? w.bitmasks_size - 3 : 0};
}

/// The last `planes` masks of the stream (no load at all for none: a masked load whose masked-out part leaves the
/// array can cost a microcode assist).
APPROXNN_DCSR_TARGET_AVX512 inline __m128i avx512_tail_masks(const std::uint16_t* masks,
                                                             std::uint32_t planes) noexcept {
    if (planes == 0) return _mm_setzero_si128();
    return _mm_maskz_loadu_epi16(static_cast<__mmask8>((1U << planes) - 1U), masks);
}

/// Offsets s·j + d of global group g as 16 bytes; consumes the group's bitmasks from `bitmask` on. The nibble
/// selection and the bit-plane transposition are two gf2p8affineqb: no branch on the bitmap.
APPROXNN_DCSR_TARGET_AVX512 inline __m128i avx512_group_offsets(const avx512_streams& st, std::uint32_t g, __m128i ramp,
                                                                std::uint32_t& bitmask) noexcept {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(st.delta_indices + std::size_t{g / 2} * 16));
    const std::uint32_t odd = g & 1U;
    const std::uint32_t bitmap = (static_cast<std::uint32_t>(st.bitmaps[g / 2]) >> (4 - 4 * odd)) & 0xFU;
    const __m128i nibble = _mm_gf2p8affine_epi64_epi8(
        block, _mm_load_si128(reinterpret_cast<const __m128i*>(dcsr_nibble_matrices[odd])), 0);
    const auto planes = static_cast<std::uint32_t>(__builtin_popcount(bitmap));
    const __m128i packed = bitmask < st.bitmasks_unmasked_end
                               ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(st.bitmasks + bitmask))
                               : avx512_tail_masks(st.bitmasks + bitmask, planes);
    bitmask += planes;
    const __m128i rows =
        _mm_shuffle_epi8(packed, _mm_loadu_si128(reinterpret_cast<const __m128i*>(dcsr_mask_slots[bitmap].data())));
    const __m128i lanes = _mm_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
    const __m128i extension = _mm_gf2p8affine_epi64_epi8(lanes, rows, 0);
    return _mm_add_epi8(_mm_or_si128(nibble, extension), ramp);
}

/// A zero vector the compiler cannot reuse: the merge source of a gather is also its destination, and g++ 12 would
/// otherwise merge into the previous gather's result (an all-ones mask still waits for it), chaining the gathers.
APPROXNN_DCSR_TARGET_AVX512 inline __m512i avx512_fresh_zero() noexcept {
    __m512i z = _mm512_setzero_si512();
    __asm__ volatile("" : "+v"(z));
    return z;
}

/// The activations at the active lanes' columns idx + 3 (idx = offset + B_k − 3), in the top byte of each int32
/// lane (shift right arithmetically by 24 to sign-extend). Groups with b = B_k >= 3 read x[column − 3 .. column];
/// otherwise columns < 3 come from `head` (x[0], x[1], x[2] << 24 in lanes 0..2).
template <class Byte>
APPROXNN_DCSR_TARGET_AVX512 inline __m512i avx512_gather_top(const Byte* x, __m512i idx, std::int32_t b,
                                                             __mmask16 active, __m512i head) noexcept {
    if (b >= 3) return _mm512_mask_i32gather_epi32(avx512_fresh_zero(), active, idx, x, 1);
    const __m512i column = _mm512_add_epi32(idx, _mm512_set1_epi32(3));
    const __mmask16 low = _mm512_mask_cmplt_epi32_mask(active, column, _mm512_set1_epi32(3));
    const __m512i from_head = _mm512_maskz_permutexvar_epi32(low, column, head);
    return _mm512_mask_i32gather_epi32(from_head, static_cast<__mmask16>(active & ~low), idx, x, 1);
}

/// x[0..2] << 24 in lanes 0..2 (fewer when C < 3).
template <class Byte>
APPROXNN_DCSR_TARGET_AVX512 inline __m512i avx512_head(const Byte* x, std::uint32_t cols) noexcept {
    alignas(64) std::int32_t h[16] = {};
    for (std::uint32_t c = 0; c < 3 && c < cols; ++c) {
        h[c] = static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint8_t>(x[c])) << 24);
    }
    return _mm512_load_si512(h);
}

APPROXNN_DCSR_TARGET_AVX512 inline __mmask16 avx512_active(std::uint32_t remaining) noexcept {
    return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1U << remaining) - 1U);
}

/// The low 128 bits, free (a register view). _mm512_castsi512_si128 is an extract with an undefined operand in
/// g++ 12's headers, which -O3 reports as maybe-uninitialized.
APPROXNN_DCSR_TARGET_AVX512 inline __m128i avx512_low128(__m512i v) noexcept {
    typedef long long v8di __attribute__((vector_size(64)));
    return reinterpret_cast<__m128i>(
        __builtin_shufflevector(reinterpret_cast<v8di>(v), reinterpret_cast<v8di>(v), 0, 1));
}

/// The sum of the 16 int32 lanes (modulo 2^32). Written out, and with zero-masking intrinsics throughout this file:
/// the plain forms pass an undefined vector that g++ 12 -O3 reports as maybe-uninitialized.
APPROXNN_DCSR_TARGET_AVX512 inline std::int32_t avx512_hsum(__m512i v) noexcept {
    const __m256i s =
        _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xFF, v, 0), _mm512_maskz_extracti64x4_epi64(0xFF, v, 1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

/// The lanes' sum minus the bias correction, modulo 2^32.
APPROXNN_DCSR_TARGET_AVX512 inline std::int32_t avx512_total(__m512i a, std::uint32_t correction) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(avx512_hsum(a)) - correction);
}

/// The 16 weight bytes moved to byte 3 of each int32 lane (other bytes zero): the signed operand of vpdpbusd.
APPROXNN_DCSR_TARGET_AVX512 inline __m512i avx512_weights_top(__m128i wb) noexcept {
    const __m512i to_top = _mm512_set_epi8(15, 0, 0, 0, 14, 0, 0, 0, 13, 0, 0, 0, 12, 0, 0, 0, 11, 0, 0, 0, 10, 0, 0, 0,
                                           9, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 6, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 3, 0,
                                           0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_maskz_permutexvar_epi8(0x8888888888888888ULL, to_top, _mm512_castsi128_si512(wb));
}

/// Sum of n int8 values (vpsadbw on the biased bytes; for the zero-point and bias corrections).
APPROXNN_DCSR_TARGET_AVX512 inline std::int32_t avx512_byte_sum(const std::int8_t* values, std::uint32_t n) noexcept {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512i t = _mm512_setzero_si512();
    std::uint32_t i = 0;
    for (; i + 64 <= n; i += 64) {
        t = _mm512_add_epi64(
            t, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512(values + i), flip), _mm512_setzero_si512()));
    }
    if (i < n) {
        const __mmask64 tail = _bzhi_u64(~0ULL, n - i);
        const __m512i v =
            _mm512_maskz_mov_epi8(tail, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, values + i), flip));
        t = _mm512_add_epi64(t, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    const __m256i h =
        _mm256_add_epi64(_mm512_maskz_extracti64x4_epi64(0xFF, t, 0), _mm512_maskz_extracti64x4_epi64(0xFF, t, 1));
    const __m128i q = _mm_add_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    const std::int64_t biased = _mm_cvtsi128_si64(q) + _mm_extract_epi64(q, 1);
    return static_cast<std::int32_t>(biased - 128 * static_cast<std::int64_t>(n));
}

/// Bytes of padding on each side of the biased activations of the window SpMV (see spmv_rows_avx512).
inline constexpr std::size_t avx512_window_padding = 256;

/// The 16 biased activations at b + offsets, looked up in the 256-byte window starting at column b: two vpermt2b on
/// its 128-byte halves, blended by bit 7 of the offsets. Rows with small slopes (s < 8) seldom reach the upper half:
/// for them (Wide = false) a branch skips it when no offset has bit 7; wide rows always need it (no branch).
template <bool Wide>
APPROXNN_DCSR_TARGET_AVX512 inline __m128i avx512_window_lookup(const std::uint8_t* xmid, std::int32_t b,
                                                                __m128i off8) noexcept {
    const __m512i idx = _mm512_castsi128_si512(off8);
    const std::uint8_t* window = xmid + b;
    const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(window), idx, _mm512_loadu_si512(window + 64));
    const __mmask16 high = _mm_movepi8_mask(off8);
    if (!Wide && high == 0) return avx512_low128(lo);
    const __m512i hi =
        _mm512_permutex2var_epi8(_mm512_loadu_si512(window + 128), idx, _mm512_loadu_si512(window + 192));
    return _mm_mask_blend_epi8(high, avx512_low128(lo), avx512_low128(hi));
}

/// acc += the dot products of 16 activation bytes (uint8) and 16 weights (int8), four per int32 lane.
APPROXNN_DCSR_TARGET_AVX512 inline __m128i avx512_dot16(__m128i acc, __m128i activations, __m128i weights) noexcept {
    return _mm_dpbusd_epi32(acc, activations, weights);
}

/// One group of SpMV: acc (4 int32 lanes) += xu·w over the active lanes (all 16 when Full). The group's columns
/// lie in [b, b + 255]: the 256-byte window of biased activations starting at column b is loaded (four zmm) and
/// the 16 lanes are looked up with vpermi2b (two 128-byte halves, chosen by bit 7 of the offset) — one or two
/// permutes instead of a 16-load gather. A group whose offsets are all below 128 needs only the first half.
template <bool Wide, bool Full>
APPROXNN_DCSR_TARGET_AVX512 inline __m128i avx512_spmv_group(const avx512_streams& st, const std::uint8_t* xmid,
                                                             const std::int8_t* values, std::uint32_t g, __m128i ramp,
                                                             std::int32_t b, std::uint32_t remaining,
                                                             std::uint32_t& bitmask, __m128i acc) noexcept {
    const __m128i xv = avx512_window_lookup<Wide>(xmid, b, avx512_group_offsets(st, g, ramp, bitmask));
    const __m128i wb = Full ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(values))
                            : _mm_maskz_loadu_epi8(avx512_active(remaining), values);
    return avx512_dot16(acc, xv, wb);
}

/// Two full groups 2p, 2p+1 of one row (they share a nibble block and a bitmap byte): decoded together in one ymm
/// (nibbles, bit-planes, ramp), then looked up and multiplied per group. acc (4 int32 lanes) += xu·w.
template <bool Wide>
APPROXNN_DCSR_TARGET_AVX512 inline void avx512_spmv_pair(const avx512_streams& st, const std::uint8_t* xmid,
                                                         const std::int8_t* values, std::uint32_t p, __m256i ramp2,
                                                         std::int32_t b0, std::int32_t b1, std::uint32_t& bitmask,
                                                         __m128i& acc0, __m128i& acc1) noexcept {
    const __m256i block = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(st.delta_indices + std::size_t{p} * 16)));
    const __m256i matrices = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&dcsr_nibble_matrices[0][0]));
    const __m256i nibbles = _mm256_gf2p8affine_epi64_epi8(block, matrices, 0);
    const std::uint32_t byte = st.bitmaps[p];
    const auto planes = static_cast<std::uint32_t>(__builtin_popcount(byte));
    const __m128i packed = bitmask + 4 < st.bitmasks_unmasked_end
                               ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(st.bitmasks + bitmask))
                               : avx512_tail_masks(st.bitmasks + bitmask, planes);
    bitmask += planes;
    const __m256i rows =
        _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(packed),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dcsr_pair_mask_slots[byte].data())));
    const __m256i lanes = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
    const __m256i off = _mm256_add_epi8(_mm256_or_si256(nibbles, _mm256_gf2p8affine_epi64_epi8(lanes, rows, 0)), ramp2);
    const __m128i x0 = avx512_window_lookup<Wide>(xmid, b0, _mm256_castsi256_si128(off));
    const __m128i x1 = avx512_window_lookup<Wide>(xmid, b1, _mm256_extracti128_si256(off, 1));
    acc0 = avx512_dot16(acc0, x0, _mm_loadu_si128(reinterpret_cast<const __m128i*>(values)));
    acc1 = avx512_dot16(acc1, x1, _mm_loadu_si128(reinterpret_cast<const __m128i*>(values + 16)));
}

/// One row of SpMV (n > 0 stored elements, slope s) starting at group g: returns the partial sums (int32 lanes
/// 0..3); advances g, bitmask and values past the row.
template <bool Wide>
APPROXNN_DCSR_TARGET_AVX512 __attribute__((always_inline)) inline __m128i avx512_spmv_row(
    const avx512_streams& st, const std::uint8_t* xmid, const std::int8_t*& values, const std::int8_t* minimums,
    std::uint32_t& g, std::uint32_t& bitmask, std::uint32_t n, std::uint32_t s) noexcept {
    __m128i acc = _mm_setzero_si128();
    const __m128i ramp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dcsr_ramps[s].data()));
    const __m256i ramp2 = _mm256_broadcastsi128_si256(ramp);
    const auto step = 16 * static_cast<std::int32_t>(s);
    std::int32_t b = -step;
    std::uint32_t full = n / 16;
    if (full != 0 && (g & 1U) != 0) {  // an odd first group alone, then pairs sharing a nibble block
        b += step + minimums[g];
        acc = avx512_spmv_group<Wide, true>(st, xmid, values, g, ramp, b, 16, bitmask, acc);
        ++g;
        values += 16;
        --full;
    }
    __m128i acc1 = _mm_setzero_si128();  // a second chain of vpdpbusd
    for (; full >= 2; full -= 2, g += 2, values += 32) {
        const std::int32_t b0 = b + step + minimums[g];
        b = b0 + step + minimums[g + 1];
        avx512_spmv_pair<Wide>(st, xmid, values, g / 2, ramp2, b0, b, bitmask, acc, acc1);
    }
    acc = _mm_add_epi32(acc, acc1);
    if (full != 0) {
        b += step + minimums[g];
        acc = avx512_spmv_group<Wide, true>(st, xmid, values, g, ramp, b, 16, bitmask, acc);
        ++g;
        values += 16;
    }
    if (n % 16 != 0) {
        b += step + minimums[g];
        acc = avx512_spmv_group<Wide, false>(st, xmid, values, g, ramp, b, n % 16, bitmask, acc);
        ++g;
        values += n % 16;
    }
    return acc;
}

/// SpMV rows [first, last); `at` is where row `first` starts. xmid points at the biased activations
/// xmid[c] = x[c] ^ 0x80 (uint8 x + 128) for c < C, inside a buffer with avx512_window_padding bytes on both sides
/// (any value: they only meet zero weights), so that every window [b, b + 255] of a valid row is readable.
/// y[r] = pipeline(sum xu·w − (128 + zp)·sum w) = pipeline(sum x·w − zp·sum w).
template <class Pipeline>
APPROXNN_DCSR_TARGET_AVX512 void spmv_rows_avx512(const dcsr_view<std::int8_t>& w, std::uint32_t first,
                                                  std::uint32_t last, dcsr_row_start at, const std::uint8_t* xmid,
                                                  pipeline_output_t<Pipeline>* y, const Pipeline& pipeline,
                                                  std::int32_t input_zero_point) noexcept {
    const avx512_streams st = avx512_streams_of(w);
    const std::int64_t base_size = w.nnze / w.rows;
    const std::uint32_t cols = w.cols;
    const std::int16_t* row_offsets = w.row_offsets;
    const std::int8_t* minimums = w.group_minimums;
    const auto bias = static_cast<std::uint32_t>(128 + input_zero_point);
    std::uint32_t g = at.group;
    std::uint32_t bitmask = at.bitmask;
    const std::int8_t* values = w.values + at.value;
    for (std::uint32_t r = first; r < last; ++r) {
        const auto n = static_cast<std::uint32_t>(base_size + row_offsets[r]);
        const std::uint32_t s = dcsr_slope(cols, n);
        __m128i acc = _mm_setzero_si128();
        std::int32_t row_sum = 0;
        if (n != 0) {
            row_sum = avx512_byte_sum(values, n);
            acc = s >= 8 ? avx512_spmv_row<true>(st, xmid, values, minimums, g, bitmask, n, s)
                         : avx512_spmv_row<false>(st, xmid, values, minimums, g, bitmask, n, s);
        }
        __m128i t = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        const auto total = static_cast<std::int32_t>(static_cast<std::uint32_t>(_mm_cvtsi128_si32(t)) -
                                                     bias * static_cast<std::uint32_t>(row_sum));
        y[r] = apply_output_stages(total, r, pipeline);
    }
}

/// SpMM rows [first, last) for `columns` activation columns: column p of X at x + p·ldx (C int8), column p of Y at
/// y + p·ldy (R outputs). Each row is decoded once into `scratch` (17 int32 per group of the longest row in the
/// range: the offsets + (B_k − 3), then B_k) and serves four columns at a time (four gathers per decoded group).
/// The gathered activations are biased in the register (x ^ 0x80 in the top byte) for vpdpbusd.
template <class Pipeline>
APPROXNN_DCSR_TARGET_AVX512 void spmm_rows_avx512(const dcsr_view<std::int8_t>& w, std::uint32_t first,
                                                  std::uint32_t last, dcsr_row_start at, const std::int8_t* x,
                                                  std::size_t ldx, std::size_t columns, pipeline_output_t<Pipeline>* y,
                                                  std::size_t ldy, const Pipeline& pipeline,
                                                  std::int32_t input_zero_point, std::int32_t* scratch) noexcept {
    const avx512_streams st = avx512_streams_of(w);
    const std::int64_t base_size = w.nnze / w.rows;
    const __m512i flip = _mm512_set1_epi32(static_cast<std::int32_t>(0x80000000U));
    const __m512i ones_top = _mm512_set1_epi32(0x01000000);
    const auto bias = static_cast<std::uint32_t>(128 + input_zero_point);
    std::uint32_t g = at.group;
    std::uint32_t bitmask = at.bitmask;
    const std::int8_t* values = w.values + at.value;
    for (std::uint32_t r = first; r < last; ++r) {
        const auto n = static_cast<std::uint32_t>(base_size + w.row_offsets[r]);
        const std::uint32_t s = dcsr_slope(w.cols, n);
        const std::uint32_t groups = dcsr_groups_of(n);
        // Decode the row once: offsets + (B_k − 3) per group, B_k after them; the weight sum for the bias.
        bool any_head = false;
        __m512i wsum = _mm512_setzero_si512();
        if (groups != 0) {
            const __m128i ramp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(dcsr_ramps[s].data()));
            const auto step = 16 * static_cast<std::int32_t>(s);
            std::int32_t b = -step;
            std::uint32_t remaining = n;
            for (std::uint32_t k = 0; k < groups; ++k, remaining -= 16) {
                b += step + w.group_minimums[g + k];
                any_head = any_head || b < 3;
                scratch[16 * groups + k] = b;
                const __m128i off8 = avx512_group_offsets(st, g + k, ramp, bitmask);
                _mm512_storeu_si512(scratch + 16 * k, _mm512_add_epi32(_mm512_maskz_cvtepu8_epi32(0xFFFF, off8),
                                                                       _mm512_set1_epi32(b - 3)));
                const __m512i wv = avx512_weights_top(_mm_maskz_loadu_epi8(avx512_active(remaining), values + 16 * k));
                wsum = _mm512_dpbusd_epi32(wsum, ones_top, wv);
            }
        }
        const std::uint32_t correction = bias * static_cast<std::uint32_t>(avx512_hsum(wsum));
        std::size_t p = 0;
        if (!any_head) {
            // Four activation columns at a time: one decoded group, four gathers.
            for (; p + 4 <= columns; p += 4) {
                const std::int8_t* x0 = x + p * ldx;
                const std::int8_t* x1 = x0 + ldx;
                const std::int8_t* x2 = x1 + ldx;
                const std::int8_t* x3 = x2 + ldx;
                __m512i a0 = _mm512_setzero_si512();
                __m512i a1 = _mm512_setzero_si512();
                __m512i a2 = _mm512_setzero_si512();
                __m512i a3 = _mm512_setzero_si512();
                std::uint32_t remaining = n;
                for (std::uint32_t k = 0; k < groups; ++k, remaining -= 16) {
                    const __mmask16 active = avx512_active(remaining);
                    const __m512i idx = _mm512_loadu_si512(scratch + 16 * k);
                    const __m512i wv = avx512_weights_top(_mm_maskz_loadu_epi8(active, values + 16 * k));
                    const __m512i g0 = _mm512_mask_i32gather_epi32(avx512_fresh_zero(), active, idx, x0, 1);
                    const __m512i g1 = _mm512_mask_i32gather_epi32(avx512_fresh_zero(), active, idx, x1, 1);
                    const __m512i g2 = _mm512_mask_i32gather_epi32(avx512_fresh_zero(), active, idx, x2, 1);
                    const __m512i g3 = _mm512_mask_i32gather_epi32(avx512_fresh_zero(), active, idx, x3, 1);
                    a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(g0, flip), wv);
                    a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(g1, flip), wv);
                    a2 = _mm512_dpbusd_epi32(a2, _mm512_xor_si512(g2, flip), wv);
                    a3 = _mm512_dpbusd_epi32(a3, _mm512_xor_si512(g3, flip), wv);
                }
                y[(p + 0) * ldy + r] = apply_output_stages(avx512_total(a0, correction), r, pipeline);
                y[(p + 1) * ldy + r] = apply_output_stages(avx512_total(a1, correction), r, pipeline);
                y[(p + 2) * ldy + r] = apply_output_stages(avx512_total(a2, correction), r, pipeline);
                y[(p + 3) * ldy + r] = apply_output_stages(avx512_total(a3, correction), r, pipeline);
            }
        }
        for (; p < columns; ++p) {
            const std::int8_t* xp = x + p * ldx;
            const __m512i head = avx512_head(xp, w.cols);
            __m512i a = _mm512_setzero_si512();
            std::uint32_t remaining = n;
            for (std::uint32_t k = 0; k < groups; ++k, remaining -= 16) {
                const __mmask16 active = avx512_active(remaining);
                const __m512i idx = _mm512_loadu_si512(scratch + 16 * k);
                const std::int32_t b = scratch[16 * groups + k];
                const __m512i wv = avx512_weights_top(_mm_maskz_loadu_epi8(active, values + 16 * k));
                const __m512i xv = _mm512_xor_si512(avx512_gather_top(xp, idx, b, active, head), flip);
                a = _mm512_dpbusd_epi32(a, xv, wv);
            }
            y[p * ldy + r] = apply_output_stages(avx512_total(a, correction), r, pipeline);
        }
        g += groups;
        values += n;
    }
}

#endif  // APPROXNN_DCSR_X86

}  // namespace approxnn::sparse::x86
