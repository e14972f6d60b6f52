#pragma once
// Rounding-based approximate multiplier (RoBA; Zendegani et al., TVLSI 2017): A_r, B_r are the operands rounded
// to the nearest power of two (3 * 2^(p-2), halfway between 2^(p-1) and 2^p, rounds up to 2^p; 0 stays 0), and
//   M = A_r * B + B_r * A - A_r * B_r.

#include <array>
#include <bit>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

struct roba_family {
    static constexpr std::string_view name = "roba";
    static constexpr std::array<parameter_spec, 0> parameter_specs{};

    /// x rounded to the nearest power of two, ties up.
    static constexpr std::uint32_t round_to_power_of_two(std::uint32_t x) noexcept {
        if (x == 0) return 0;
        const int t = static_cast<int>(std::bit_width(x)) - 1;
        return 2 * x >= (3U << t) ? (std::uint32_t{2} << t) : (std::uint32_t{1} << t);
    }
    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 0>&) noexcept {
        const std::uint32_t ar = round_to_power_of_two(a);
        const std::uint32_t br = round_to_power_of_two(b);
        // A_r B + B_r A - A_r B_r = A B - (A - A_r)(B - B_r) >= 3/4 A B: never negative.
        return ar * b + br * a - ar * br;
    }
    static constexpr bool is_exact(const std::array<int, 0>&) noexcept { return false; }
    /// Two rounding units (a leading-one detector and 8 AND gates each), two shifters forming A_r B and B_r A
    /// (16 output bits, shift 0..8), a 4-bit adder and a decoder (17 AND gates) forming A_r B_r, and a 17-bit
    /// three-operand adder (one carry-save row and one ripple adder).
    static constexpr double relative_power(const std::array<int, 0>&) noexcept {
        namespace pm = power_model;
        const pm::gate_cost cost = 2 * (pm::leading_one_detector(8) + 8 * pm::and2) + 2 * pm::barrel_shifter(16, 8) +
                            pm::ripple_adder(4) + 17 * pm::and2 + 2 * pm::ripple_adder(17);
        return pm::relative_to_exact(cost);
    }
};

/// The rounding-based approximate multiplier.
template <operand_code Operand>
using roba = closed_form<Operand, roba_family>;

}  // namespace approxnn::multipliers
