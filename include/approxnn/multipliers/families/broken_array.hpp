#pragma once
// Broken-array multiplier (BAM; Mahdiani et al., TCAS-I 2010): the array is broken horizontally below row h
// (partial-product rows come from the bits b_j of the second operand) and vertically below column v,
//   M = sum_{j >= h, i + j >= v} a_i b_j 2^(i+j),   0 <= h <= 7, h <= v <= 15.

#include <array>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

struct broken_array_family {
    static constexpr std::string_view name = "broken_array";
    static constexpr std::array<parameter_spec, 2> parameter_specs{
        {{"h", 0, 7, "horizontal break: partial-product rows j < h (bits of the second operand) are removed"},
         {"v", 0, 15, "vertical break: partial products in columns i + j < v are removed"}}};
    static constexpr std::string_view constraint = "h <= v";
    static constexpr bool constraint_holds(const std::array<int, 2>& p) noexcept { return p[0] <= p[1]; }

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 2>& p) noexcept {
        const std::uint32_t keep = ~std::uint32_t{0} << p[1];
        std::uint32_t sum = 0;
        for (int j = p[0]; j < 8; ++j) {
            if ((b >> j) & 1U) sum += (a << j) & keep;
        }
        return sum;
    }
    static constexpr bool is_exact(const std::array<int, 2>& p) noexcept { return p[0] == 0 && p[1] == 0; }
    static constexpr partial_product_array array(const std::array<int, 2>& p) noexcept {
        partial_product_array d{0, 0};
        for (int j = p[0]; j < 8; ++j) {
            for (int i = 0; i < 8; ++i) {
                if (i + j >= p[1]) d.kept |= std::uint64_t{1} << (8 * j + i);
            }
        }
        return d;
    }
    static constexpr double relative_power(const std::array<int, 2>& p) noexcept {
        return power_model::relative_to_exact(power_model::array_design_cost(array(p)));
    }
};

/// Broken-array multiplier with breaks h and v.
template <operand_code Operand, int H, int V>
using broken_array = closed_form<Operand, broken_array_family, H, V>;

}  // namespace approxnn::multipliers
