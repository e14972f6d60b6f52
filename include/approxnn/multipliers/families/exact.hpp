#pragma once
// The exact 8x8 multiplier: M(a, b) = a * b.

#include <array>
#include <cstdint>
#include <string_view>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"

namespace approxnn::multipliers {

struct exact_family {
    static constexpr std::string_view name = "exact";
    static constexpr std::array<parameter_spec, 0> parameter_specs{};

    static constexpr std::uint32_t multiply(std::uint32_t a, std::uint32_t b, const std::array<int, 0>&) noexcept {
        return a * b;
    }
    /// For int8 operands, sign-magnitude of the exact core is the two's-complement product.
    static constexpr std::int32_t multiply_signed(std::int32_t a, std::int32_t b, const std::array<int, 0>&) noexcept {
        return a * b;
    }
    static constexpr partial_product_array array(const std::array<int, 0>&) noexcept { return {}; }
    static constexpr bool is_exact(const std::array<int, 0>&) noexcept { return true; }
    static constexpr double relative_power(const std::array<int, 0>&) noexcept { return 1.0; }
};

/// The exact multiplier for Operand codes.
template <operand_code Operand>
using exact = closed_form<Operand, exact_family>;

}  // namespace approxnn::multipliers
