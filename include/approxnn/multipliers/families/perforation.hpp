#pragma once
// Partial-product perforation (Zervakis et al., TVLSI 2016): m consecutive partial-product rows starting at row j
// are not generated; rows come from the bits of the second operand,
//   M = a * (b - sum_{q=j}^{j+m-1} b_q 2^q),   0 <= j <= 7, 0 <= m, j + m <= 8.

#include <array>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"
#include "approxnn/multipliers/power_model.hpp"

namespace approxnn::multipliers {

struct perforation_family {
    static constexpr std::string_view name = "perforation";
    static constexpr std::array<parameter_spec, 2> parameter_specs{
        {{"j", 0, 7, "first perforated partial-product row (bit of the second operand)"},
         {"m", 0, 8, "number of consecutive perforated rows"}}};
    static constexpr std::string_view constraint = "j + m <= 8";
    static constexpr bool constraint_holds(const std::array<int, 2>& p) noexcept { return p[0] + p[1] <= 8; }

    static constexpr std::uint32_t perforated_rows(const std::array<int, 2>& p) noexcept {
        return ((std::uint32_t{1} << p[1]) - 1U) << p[0];
    }
    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 2>& p) noexcept {
        return a * (b & ~perforated_rows(p));
    }
    static constexpr bool is_exact(const std::array<int, 2>& p) noexcept { return p[1] == 0; }
    static constexpr partial_product_array array(const std::array<int, 2>& p) noexcept {
        partial_product_array d{0, 0};
        for (int j = 0; j < 8; ++j) {
            if (((perforated_rows(p) >> j) & 1U) == 0) d.kept |= std::uint64_t{0xFF} << (8 * j);
        }
        return d;
    }
    static constexpr double relative_power(const std::array<int, 2>& p) noexcept {
        return power_model::relative_to_exact(power_model::array_design_cost(array(p)));
    }
};

/// Perforation of M rows starting at row J.
template <operand_code Operand, int J, int M>
using perforation = closed_form<Operand, perforation_family, J, M>;

}  // namespace approxnn::multipliers
