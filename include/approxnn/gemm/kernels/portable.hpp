#pragma once
// Portable kernels (standard C++ and xsimd): the fallbacks for CPUs without AVX-512 VNNI / VBMI, and the
// reference shape of what the x86 kernels compute.
//
// dot_panel:    raw[r][n] = sum_k a[r][k] * b[k][n], int32 values (true factors), panel of 64 columns.
// lookup_panel: raw[r][n] = sum_k table[a[r][k] * 256 + b[k][n]], table laid out [weight][activation].

#include <array>
#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

namespace approxnn::gemm::kernels {

/// Columns of one packed panel of the portable kernels.
inline constexpr std::size_t portable_panel_width = 64;

inline void portable_dot_panel(const std::int32_t* a, std::size_t lda, std::size_t rows, const std::int32_t* b,
                               std::size_t k, std::int32_t* raw, std::size_t ldr) noexcept {
    using batch = xsimd::batch<std::int32_t>;
    constexpr std::size_t lanes = batch::size;
    constexpr std::size_t vectors = portable_panel_width / lanes;
    static_assert(portable_panel_width % lanes == 0);
    for (std::size_t r = 0; r < rows; ++r) {
        std::array<batch, vectors> acc;
        acc.fill(batch(0));
        const std::int32_t* ar = a + r * lda;
        for (std::size_t q = 0; q < k; ++q) {
            const batch w(ar[q]);
            const std::int32_t* bq = b + q * portable_panel_width;
            for (std::size_t v = 0; v < vectors; ++v) acc[v] += batch::load_unaligned(bq + v * lanes) * w;
        }
        for (std::size_t v = 0; v < vectors; ++v) acc[v].store_unaligned(raw + r * ldr + v * lanes);
    }
}

inline void portable_lookup_panel(const std::uint8_t* a, std::size_t lda, std::size_t rows, const std::uint8_t* b,
                                  std::size_t k, const std::int32_t* table, std::int32_t* raw,
                                  std::size_t ldr) noexcept {
    for (std::size_t r = 0; r < rows; ++r) {
        std::array<std::int32_t, portable_panel_width> acc{};
        const std::uint8_t* ar = a + r * lda;
        for (std::size_t q = 0; q < k; ++q) {
            const std::int32_t* row = table + std::size_t{ar[q]} * 256;
            const std::uint8_t* bq = b + q * portable_panel_width;
            for (std::size_t n = 0; n < portable_panel_width; ++n) acc[n] += row[bq[n]];
        }
        for (std::size_t n = 0; n < portable_panel_width; ++n) raw[r * ldr + n] = acc[n];
    }
}

}  // namespace approxnn::gemm::kernels
