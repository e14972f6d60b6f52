#pragma once
// AVX-512 packing for the VNNI kernel: activation codes -> the panel layout [k4][32][4] of u8 factors.
//
// The expanded operand is term-major with every term padded to Kp = round_up(K, 4) rows: row k' = t * Kp + k is term
// t applied to code row k (zero for k >= K), so that sum_t sum_k f_t(x_k) g_t(w_k) is one dot product over k' and
// no group of 4 rows straddles two terms. factor_tables[t * 256 + code] gives the biased u8 factor. The per-column
// sums of the factors (for the unsigned correction) are returned in sums[0 .. 32). Two sources: K rows of codes
// (K x N activations), or N columns of K contiguous codes (N x K activations, gathered 4 codes at a time).
// Needs VNNI (column sums) and VBMI (byte permutes); callers check host_cpu().

#include <cstddef>
#include <cstdint>

#include "approxnn/gemm/kernels/avx512_vbmi.hpp"
#include "approxnn/gemm/kernels/avx512_vnni.hpp"

namespace approxnn::gemm::kernels {

#if APPROXNN_HAS_X86_KERNELS

/// The factors of 64 codes (term t).
APPROXNN_TARGET_VNNI_VBMI inline __m512i vnni_factors(__m512i codes, const std::uint8_t* table, bool identity_xor,
                                                      __m512i flip) noexcept {
    if (identity_xor) return _mm512_xor_si512(codes, flip);
    const __mmask64 bit6 = _mm512_movepi8_mask(_mm512_add_epi8(codes, codes));
    const __mmask64 bit7 = _mm512_movepi8_mask(codes);
    return vbmi_lookup(codes, table, bit6, bit7, _kand_mask64(bit6, bit7));
}

/// The 32 biased factors of code row k (term table `table`) in the low half of a vector (zero past k_rows).
APPROXNN_TARGET_VNNI_VBMI inline __m512i vnni_factor_row(const std::uint8_t* const* rows, std::size_t k_rows,
                                                         std::size_t k, const std::uint8_t* table, bool identity_xor,
                                                         __m512i flip) noexcept {
    if (k >= k_rows) return _mm512_setzero_si512();
    return vnni_factors(_mm512_maskz_loadu_epi8(0xFFFFFFFFULL, rows[k]), table, identity_xor, flip);
}

/// From K x N codes: rows[k] points at 32 readable codes of row k (k < k_rows); k4 = terms * Kp / 4.
APPROXNN_TARGET_VNNI_VBMI inline void vnni_pack_panel(const std::uint8_t* const* rows, std::size_t k_rows,
                                                      std::size_t terms, const std::uint8_t* factor_tables,
                                                      bool identity_xor, std::uint8_t xor_value, std::size_t k4,
                                                      std::uint8_t* out, std::int32_t* sums) noexcept {
    // Stage 1 interleaves two rows bytewise: pair[2n + i] = row_i[n] for the 32 columns n.
    // Stage 2 interleaves two pairs: out[4n + i] = row_i[n], columns 0..15 then 16..31.
    alignas(64) std::uint8_t pair_index[64];
    alignas(64) std::uint8_t low_index[64];
    alignas(64) std::uint8_t high_index[64];
    for (int j = 0; j < 64; ++j) {
        pair_index[j] = static_cast<std::uint8_t>((j % 2) * 64 + j / 2);
        const int row = j % 4;
        const int column = j / 4;
        const int source = (row >= 2 ? 64 : 0) + row % 2;
        low_index[j] = static_cast<std::uint8_t>(source + 2 * column);
        high_index[j] = static_cast<std::uint8_t>(source + 2 * (column + 16));
    }
    const __m512i pairs = _mm512_load_si512(pair_index);
    const __m512i low = _mm512_load_si512(low_index);
    const __m512i high = _mm512_load_si512(high_index);
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(xor_value));
    __m512i s0 = _mm512_setzero_si512();
    __m512i s1 = _mm512_setzero_si512();
    const std::size_t groups = (k_rows + 3) / 4;  // per term; k4 = terms * groups
    (void)k4;
    std::uint8_t* dst = out;
    for (std::size_t t = 0; t < terms; ++t) {
        const std::uint8_t* table = factor_tables + t * 256;
        for (std::size_t g = 0; g < groups; ++g, dst += 128) {
            const std::size_t k = 4 * g;
            const __m512i r0 = vnni_factor_row(rows, k_rows, k, table, identity_xor, flip);
            const __m512i r1 = vnni_factor_row(rows, k_rows, k + 1, table, identity_xor, flip);
            const __m512i r2 = vnni_factor_row(rows, k_rows, k + 2, table, identity_xor, flip);
            const __m512i r3 = vnni_factor_row(rows, k_rows, k + 3, table, identity_xor, flip);
            const __m512i p01 = _mm512_permutex2var_epi8(r0, pairs, r1);
            const __m512i p23 = _mm512_permutex2var_epi8(r2, pairs, r3);
            const __m512i o0 = _mm512_permutex2var_epi8(p01, low, p23);
            const __m512i o1 = _mm512_permutex2var_epi8(p01, high, p23);
            _mm512_storeu_si512(dst, o0);
            _mm512_storeu_si512(dst + 64, o1);
            s0 = _mm512_dpbusd_epi32(s0, o0, ones);
            s1 = _mm512_dpbusd_epi32(s1, o1, ones);
        }
    }
    _mm512_storeu_si512(sums, s0);
    _mm512_storeu_si512(sums + 16, s1);
}

/// From N x K codes: column n's K codes start at first + n * ld (ld >= K, in bytes); width <= 32 columns.
/// Groups of 4 codes are gathered (16 columns per vpgatherdd); the last, partial group of each term is read
/// byte by byte so that nothing past a column's K codes is touched.
APPROXNN_TARGET_VNNI_VBMI inline void vnni_pack_panel_columns(const std::uint8_t* first, std::size_t ld,
                                                              std::size_t width, std::size_t k_rows,
                                                              std::size_t terms, const std::uint8_t* factor_tables,
                                                              bool identity_xor, std::uint8_t xor_value,
                                                              std::uint8_t* out, std::int32_t* sums) noexcept {
    const std::size_t k4 = (k_rows + 3) / 4;
    const std::size_t full = k_rows / 4;
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(xor_value));
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i offsets0 = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(ld)));
    const __m512i offsets1 = _mm512_add_epi32(offsets0, _mm512_set1_epi32(static_cast<int>(16 * ld)));
    const __mmask16 valid0 = static_cast<__mmask16>(width >= 16 ? 0xFFFFU : (1U << width) - 1U);
    const __mmask16 valid1 = static_cast<__mmask16>(width >= 32 ? 0xFFFFU : width <= 16 ? 0U : (1U << (width - 16)) - 1U);
    __m512i s0 = _mm512_setzero_si512();
    __m512i s1 = _mm512_setzero_si512();
    alignas(64) std::uint8_t tail[128];
    for (std::size_t q = 0; q < k4; ++q) {
        __m512i c0;
        __m512i c1;
        if (q < full) {
            const std::uint8_t* base = first + 4 * q;
            c0 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid0, offsets0, base, 1);
            c1 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid1, offsets1, base, 1);
        } else {
            for (std::size_t n = 0; n < 32; ++n) {
                for (std::size_t i = 0; i < 4; ++i) {
                    const std::size_t k = 4 * q + i;
                    tail[n * 4 + i] = n < width && k < k_rows ? first[n * ld + k] : 0;
                }
            }
            c0 = _mm512_load_si512(tail);
            c1 = _mm512_load_si512(tail + 64);
        }
        // Padding rows (k >= K) of the last group must give zero factors, whatever the table says; columns past
        // the width are never read back.
        const bool partial = q == full;
        const __m512i keep0 = _mm512_set1_epi32(static_cast<int>(partial ? (1U << (8 * (k_rows % 4))) - 1U : ~0U));
        for (std::size_t t = 0; t < terms; ++t) {
            __m512i f0 = vnni_factors(c0, factor_tables + t * 256, identity_xor, flip);
            __m512i f1 = vnni_factors(c1, factor_tables + t * 256, identity_xor, flip);
            if (partial) {
                f0 = _mm512_and_si512(f0, keep0);
                f1 = _mm512_and_si512(f1, keep0);
            }
            std::uint8_t* dst = out + (t * k4 + q) * 128;
            _mm512_storeu_si512(dst, f0);
            _mm512_storeu_si512(dst + 64, f1);
            s0 = _mm512_dpbusd_epi32(s0, f0, ones);
            s1 = _mm512_dpbusd_epi32(s1, f1, ones);
        }
    }
    _mm512_storeu_si512(sums, s0);
    _mm512_storeu_si512(sums + 16, s1);
}

/// out[k] = table[codes[k]] for k < count (s8 factors of one term), and the sum of the factors (as s8 values).
APPROXNN_TARGET_VNNI_VBMI inline std::int64_t vnni_expand_weights(const std::uint8_t* codes, std::size_t count,
                                                                  const std::int8_t* table, std::int8_t* out) noexcept {
    const auto* t = reinterpret_cast<const std::uint8_t*>(table);
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i sums = _mm512_setzero_si512();
    for (std::size_t k = 0; k < count; k += 64) {
        const std::size_t n = count - k < 64 ? count - k : 64;
        const __mmask64 valid = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
        const __m512i x = _mm512_maskz_loadu_epi8(valid, codes + k);
        const __mmask64 bit6 = _mm512_movepi8_mask(_mm512_add_epi8(x, x));
        const __mmask64 bit7 = _mm512_movepi8_mask(x);
        const __m512i g = _mm512_maskz_mov_epi8(valid, vbmi_lookup(x, t, bit6, bit7, _kand_mask64(bit6, bit7)));
        _mm512_mask_storeu_epi8(out + k, valid, g);
        sums = _mm512_dpbusd_epi32(sums, ones, g);
    }
    alignas(64) std::int32_t lanes[16];
    _mm512_store_si512(lanes, sums);
    std::int64_t total = 0;
    for (const std::int32_t v : lanes) total += v;
    return total;
}

#endif  // APPROXNN_HAS_X86_KERNELS

}  // namespace approxnn::gemm::kernels
