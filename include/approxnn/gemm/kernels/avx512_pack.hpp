#pragma once
// AVX-512 packing for the VNNI kernel: K rows of activation codes -> the panel layout [k4][32][4] of u8 factors.
//
// Row k' of the expanded operand is term t = k' / K applied to code row k = k' % K (term-major expansion:
// sum_t sum_k f_t(x_k) g_t(w_k) is a dot product over k' = t * K + k). factor_tables[t * 256 + code] gives the biased
// u8 factor. Rows past K' are zero. The per-column sums of the factors (for the unsigned correction) are returned in
// sums[0 .. 32). Needs VNNI (column sums) and VBMI (byte permutes); callers check host_cpu().

#include <cstddef>
#include <cstdint>

#include "approxnn/gemm/kernels/avx512_vbmi.hpp"
#include "approxnn/gemm/kernels/avx512_vnni.hpp"

namespace approxnn::gemm::kernels {

#if APPROXNN_HAS_X86_KERNELS

/// The 32 biased factors of expanded row kk in the low half of a vector (zero past the end).
APPROXNN_TARGET_VNNI_VBMI inline __m512i vnni_factor_row(const std::uint8_t* const* rows, std::size_t k_rows,
                                                         std::size_t expanded, std::size_t kk,
                                                         const std::uint8_t* factor_tables, bool identity_xor,
                                                         __m512i flip) noexcept {
    if (kk >= expanded) return _mm512_setzero_si512();
    const std::size_t t = kk / k_rows;
    const __m512i codes = _mm512_maskz_loadu_epi8(0xFFFFFFFFULL, rows[kk - t * k_rows]);
    if (identity_xor) return _mm512_xor_si512(codes, flip);
    const __mmask64 bit6 = _mm512_movepi8_mask(_mm512_add_epi8(codes, codes));
    const __mmask64 bit7 = _mm512_movepi8_mask(codes);
    return vbmi_lookup(codes, factor_tables + t * 256, bit6, bit7, _kand_mask64(bit6, bit7));
}

/// rows[k] points at 32 readable codes of row k (k < k_rows); terms * k_rows expanded rows; k4 = ceil(terms * k_rows / 4).
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
    const std::size_t expanded = terms * k_rows;
    for (std::size_t q = 0; q < k4; ++q) {
        const __m512i r0 = vnni_factor_row(rows, k_rows, expanded, 4 * q, factor_tables, identity_xor, flip);
        const __m512i r1 = vnni_factor_row(rows, k_rows, expanded, 4 * q + 1, factor_tables, identity_xor, flip);
        const __m512i r2 = vnni_factor_row(rows, k_rows, expanded, 4 * q + 2, factor_tables, identity_xor, flip);
        const __m512i r3 = vnni_factor_row(rows, k_rows, expanded, 4 * q + 3, factor_tables, identity_xor, flip);
        const __m512i p01 = _mm512_permutex2var_epi8(r0, pairs, r1);
        const __m512i p23 = _mm512_permutex2var_epi8(r2, pairs, r3);
        const __m512i o0 = _mm512_permutex2var_epi8(p01, low, p23);
        const __m512i o1 = _mm512_permutex2var_epi8(p01, high, p23);
        _mm512_storeu_si512(out + q * 128, o0);
        _mm512_storeu_si512(out + q * 128 + 64, o1);
        s0 = _mm512_dpbusd_epi32(s0, o0, ones);
        s1 = _mm512_dpbusd_epi32(s1, o1, ones);
    }
    _mm512_storeu_si512(sums, s0);
    _mm512_storeu_si512(sums + 16, s1);
}

#endif  // APPROXNN_HAS_X86_KERNELS

}  // namespace approxnn::gemm::kernels
