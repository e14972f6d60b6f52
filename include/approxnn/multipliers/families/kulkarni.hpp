#pragma once
// Kulkarni's under-designed multiplier (Kulkarni, Gupta, Ercegovac, 2011): a 2x2 block that is exact except
// 3 x 3 = 7, and the 8-bit product sum_{i,j} UDM(a_i, b_j) << 2(i + j) over the 2-bit digits a_i, b_j.

#include <array>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

struct kulkarni_family {
    static constexpr std::string_view name = "kulkarni";
    static constexpr std::array<parameter_spec, 0> parameter_specs{};

    static constexpr std::uint32_t block(std::uint32_t x, std::uint32_t y) noexcept {
        return (x == 3U && y == 3U) ? 7U : x * y;
    }
    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 0>&) noexcept {
        std::uint32_t sum = 0;
        for (int i = 0; i < 4; ++i) {
            for (int j = 0; j < 4; ++j) sum += block((a >> (2 * i)) & 3U, (b >> (2 * j)) & 3U) << (2 * (i + j));
        }
        return sum;
    }
    static constexpr bool is_exact(const std::array<int, 0>&) noexcept { return false; }
    /// 16 blocks of 4 AND gates and 1 OR gate (outputs a0b0, a1b0 | a0b1, a1b1), and the adders that sum their
    /// 48 output bits (3 per block at columns 2(i+j) .. 2(i+j)+2).
    static constexpr double relative_power(const std::array<int, 0>&) noexcept {
        namespace pm = power_model;
        pm::column_heights heights{};
        for (int i = 0; i < 4; ++i) {
            for (int j = 0; j < 4; ++j) {
                for (int bit = 0; bit < 3; ++bit) ++heights[static_cast<std::size_t>(2 * (i + j) + bit)];
            }
        }
        return pm::relative_to_exact(16 * (4 * pm::and2 + pm::or2) + pm::reduction_cost(heights));
    }
};

/// Kulkarni's multiplier built from under-designed 2x2 blocks.
template <operand_code Operand>
using kulkarni = closed_form<Operand, kulkarni_family>;

}  // namespace approxnn::multipliers
