#pragma once
// Strided matrix views and the options shared by the GEMM front ends.

#include <cstddef>
#include <cstdint>
#include <string>

#include "approxnn/core/error.hpp"

namespace approxnn::gemm {

/// A non-owning view of a rows x cols matrix: element (r, c) is data[r * row_stride + c * col_stride]
/// (strides in elements). Row-major: col_stride = 1; its transpose: row_stride = 1.
template <class T>
struct matrix_view {
    T* data = nullptr;
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::ptrdiff_t row_stride = 0;
    std::ptrdiff_t col_stride = 1;

    [[nodiscard]] constexpr T& operator()(std::size_t r, std::size_t c) const noexcept {
        return data[static_cast<std::ptrdiff_t>(r) * row_stride + static_cast<std::ptrdiff_t>(c) * col_stride];
    }
    /// The same matrix with read-only elements.
    [[nodiscard]] constexpr matrix_view<const T> as_const() const noexcept {
        return {data, rows, cols, row_stride, col_stride};
    }
    /// The transpose (no copy).
    [[nodiscard]] constexpr matrix_view transposed() const noexcept { return {data, cols, rows, col_stride, row_stride}; }
};

/// A row-major rows x cols view with leading dimension ld (default: cols).
template <class T>
constexpr matrix_view<T> row_major(T* data, std::size_t rows, std::size_t cols, std::size_t ld = 0) noexcept {
    return {data, rows, cols, static_cast<std::ptrdiff_t>(ld != 0 ? ld : cols), 1};
}

/// The kernel family computing the products.
enum class kernel_path {
    automatic,    ///< the fastest path the multiplier and the CPU allow
    reference,    ///< the scalar oracle
    exact,        ///< exact int8 dot products (exact multipliers only)
    table,        ///< byte-permute lookups of any 256 x 256 product table
    error_plane,  ///< exact dot products plus a lookup of an error that fits int8
    decomposed,   ///< exact dot products on r expanded operands (array designs)
};

/// Instruction sets the kernels may use.
enum class instruction_set {
    automatic,  ///< what the CPU offers (AVX-512 VNNI / VBMI kernels when present)
    portable,   ///< portable C++ / xsimd kernels only
};

constexpr const char* to_string(kernel_path p) noexcept {
    switch (p) {
        case kernel_path::automatic: return "automatic";
        case kernel_path::reference: return "reference";
        case kernel_path::exact: return "exact";
        case kernel_path::table: return "table";
        case kernel_path::error_plane: return "error_plane";
        case kernel_path::decomposed: return "decomposed";
    }
    return "unknown";
}

struct gemm_options {
    kernel_path path = kernel_path::automatic;
    instruction_set isa = instruction_set::automatic;
    unsigned threads = 0;  ///< 0: every hardware thread; 1: single-threaded
    /// Affine zero points, applied exactly outside the multiplier:
    /// acc = sum_k M(a, w) - weight_zero_point * sum_k a - activation_zero_point * sum_k w + K * za * zw.
    std::int32_t activation_zero_point = 0;
    std::int32_t weight_zero_point = 0;
    /// Output stages see channel m + channel_offset (a group's rows within a convolution's output channels).
    std::size_t channel_offset = 0;
};

}  // namespace approxnn::gemm
