#pragma once
// Operand truncation: the t least-significant bits of both operands are cleared before an exact product,
//   M = ((a >> t) << t) * ((b >> t) << t).

#include <array>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

struct operand_truncation_family {
    static constexpr std::string_view name = "operand_truncation";
    static constexpr std::array<parameter_spec, 1> parameter_specs{
        {{"t", 0, 8, "number of least-significant bits cleared in each operand"}}};

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 1>& p) noexcept {
        const int t = p[0];
        return ((a >> t) << t) * ((b >> t) << t);
    }
    static constexpr bool is_exact(const std::array<int, 1>& p) noexcept { return p[0] == 0; }
    static constexpr partial_product_array array(const std::array<int, 1>& p) noexcept {
        partial_product_array d{0, 0};
        for (int j = p[0]; j < 8; ++j) {
            for (int i = p[0]; i < 8; ++i) d.kept |= std::uint64_t{1} << (8 * j + i);
        }
        return d;
    }
    static constexpr double relative_power(const std::array<int, 1>& p) noexcept {
        return power_model::relative_to_exact(power_model::array_design_cost(array(p)));
    }
};

/// Operand truncation of t bits, t in [0, 8].
template <operand_code Operand, int T>
using operand_truncation = closed_form<Operand, operand_truncation_family, T>;

}  // namespace approxnn::multipliers
