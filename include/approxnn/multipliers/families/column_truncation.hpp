#pragma once
// Column truncation: the partial products a_i b_j with i + j < k are removed from the 8x8 array,
//   M = sum_{i+j >= k} a_i b_j 2^(i+j),
// and its variant with constant correction, which adds round(sum_{i+j<k} 2^(i+j) / 4), the expected value of the
// removed bits for independent uniform operand bits (the sum is odd, so the rounding never ties).

#include <array>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

namespace detail {
/// sum_{i+j >= k} a_i b_j 2^(i+j) for 8-bit a, b: row j of the array is (a << j), with the columns below k masked.
constexpr std::uint32_t columns_from(std::uint32_t a, std::uint32_t b, int k) noexcept {
    const std::uint32_t keep = ~std::uint32_t{0} << k;
    std::uint32_t sum = 0;
    for (int j = 0; j < 8; ++j) {
        if ((b >> j) & 1U) sum += (a << j) & keep;
    }
    return sum;
}

/// The constant correction of column truncation k: round(sum_{i,j<8, i+j<k} 2^(i+j) / 4).
constexpr std::uint32_t column_truncation_correction(int k) noexcept {
    std::uint32_t removed = 0;
    for (int j = 0; j < 8; ++j) {
        for (int i = 0; i < 8; ++i) {
            if (i + j < k) removed += std::uint32_t{1} << (i + j);
        }
    }
    return (removed + 2) / 4;
}

}  // namespace detail

struct column_truncation_family {
    static constexpr std::string_view name = "column_truncation";
    static constexpr std::array<parameter_spec, 1> parameter_specs{
        {{"k", 0, 15, "number of least-significant partial-product columns removed"}}};

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 1>& p) noexcept {
        return detail::columns_from(a, b, p[0]);
    }
    static constexpr partial_product_array array(const std::array<int, 1>& p) noexcept {
        return partial_product_array::columns_from(p[0]);
    }
    static constexpr bool is_exact(const std::array<int, 1>& p) noexcept { return p[0] == 0; }
    static constexpr double relative_power(const std::array<int, 1>& p) noexcept {
        return power_model::relative_to_exact(power_model::array_design_cost(array(p)));
    }
};

struct column_truncation_corrected_family {
    static constexpr std::string_view name = "column_truncation_corrected";
    static constexpr std::array<parameter_spec, 1> parameter_specs{
        {{"k", 0, 15, "number of least-significant partial-product columns removed"}}};

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 1>& p) noexcept {
        return detail::columns_from(a, b, p[0]) + detail::column_truncation_correction(p[0]);
    }
    static constexpr partial_product_array array(const std::array<int, 1>& p) noexcept {
        partial_product_array d = partial_product_array::columns_from(p[0]);
        d.constant = detail::column_truncation_correction(p[0]);
        return d;
    }
    // k = 1 removes a0*b0 and adds round(1/4) = 0: inexact. Only k = 0 is exact.
    static constexpr bool is_exact(const std::array<int, 1>& p) noexcept { return p[0] == 0; }
    static constexpr double relative_power(const std::array<int, 1>& p) noexcept {
        return power_model::relative_to_exact(power_model::array_design_cost(array(p)));
    }
};

/// Column truncation with k columns removed, k in [0, 15].
template <operand_code Operand, int K>
using column_truncation = closed_form<Operand, column_truncation_family, K>;

/// Column truncation with k columns removed plus the constant correction, k in [0, 15].
template <operand_code Operand, int K>
using column_truncation_corrected = closed_form<Operand, column_truncation_corrected_family, K>;

}  // namespace approxnn::multipliers
