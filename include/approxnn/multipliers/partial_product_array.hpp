#pragma once
// Designs that keep a subset of the 8x8 partial-product array, plus a constant:
//   M_u(a, b) = sum over kept cells (i, j) of a_i b_j 2^(i+j) + constant,
// with row j of the array formed by the bit b_j of the SECOND operand. Column truncation, operand truncation, the
// broken-array multiplier and perforation are such designs. The description serves the power estimate (which cells
// and adders remain) and the GEMM kernels (a design whose rows fall into r distinct row masks is a sum of r exact
// byte products: M_u(a, b) = sum_t (a & mask_t) * (b & rows_t)).

#include <array>
#include <cstdint>

namespace approxnn::multipliers {

struct partial_product_array {
    std::uint64_t kept = ~std::uint64_t{0};  ///< bit 8j + i set: the cell a_i b_j is kept
    std::uint32_t constant = 0;              ///< added to every unsigned product

    /// The bits i of a kept in row j.
    [[nodiscard]] constexpr std::uint32_t row_mask(int j) const noexcept {
        return static_cast<std::uint32_t>((kept >> (8 * j)) & 0xFFU);
    }

    /// M_u(a, b) for a, b in [0, 255].
    [[nodiscard]] constexpr std::uint32_t evaluate(std::uint32_t a, std::uint32_t b) const noexcept {
        std::uint32_t sum = constant;
        for (int j = 0; j < 8; ++j) {
            if ((b >> j) & 1U) sum += (a & row_mask(j)) << j;
        }
        return sum;
    }

    /// The cells with i + j >= k.
    static constexpr partial_product_array columns_from(int k) noexcept {
        partial_product_array d{0, 0};
        for (int j = 0; j < 8; ++j) {
            for (int i = 0; i < 8; ++i) {
                if (i + j >= k) d.kept |= std::uint64_t{1} << (8 * j + i);
            }
        }
        return d;
    }

    friend constexpr bool operator==(const partial_product_array&, const partial_product_array&) = default;
};

/// One term of a decomposition: (a & activation_mask) * (b & weight_bits), both factors bytes.
struct array_term {
    std::uint32_t activation_mask;
    std::uint32_t weight_bits;
};

/// The decomposition of a constant-free array design into exact byte products, one per distinct non-zero row mask
/// (rows with the same mask merge). terms[0 .. count) are valid; count <= 8.
struct array_decomposition {
    std::array<array_term, 8> terms{};
    int count = 0;
};

constexpr array_decomposition decompose(const partial_product_array& design) noexcept {
    array_decomposition d;
    for (int j = 0; j < 8; ++j) {
        const std::uint32_t mask = design.row_mask(j);
        if (mask == 0) continue;
        int t = 0;
        while (t < d.count && d.terms[static_cast<std::size_t>(t)].activation_mask != mask) ++t;
        if (t == d.count) d.terms[static_cast<std::size_t>(d.count++)] = {mask, 0};
        d.terms[static_cast<std::size_t>(t)].weight_bits |= std::uint32_t{1} << j;
    }
    return d;
}

}  // namespace approxnn::multipliers
