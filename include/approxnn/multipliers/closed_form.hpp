#pragma once
// Closed-form multiplier designs: a family (an unsigned 8x8 core with integer parameters) turned into a
// multiplier policy for int8 or uint8 operands.
//
// A design family F provides, all static:
//   name                 std::string_view, e.g. "column_truncation"
//   parameter_specs      std::array<parameter_spec, N>: name, inclusive range, meaning of each parameter
//   multiply(a, b, p)    constexpr noexcept std::uint32_t, the unsigned core for a, b in [0, 255] and
//                        parameters p (std::array<int, N>)
//   is_exact(p)          whether the core equals a * b for every a, b in [0, 255]
//   relative_power(p)    the power estimate of the design, exact = 1 (see power_model.hpp)
// and optionally: a cross-parameter constraint, constraint_holds(p) with its text `constraint`;
// multiply_signed(a, b, p) for int8 operands when the family computes the sign-magnitude product faster directly;
// array(p), the partial_product_array the core equals, for designs that keep a subset of the 8x8 array.
//
// Signed operands use sign-magnitude: M(a, b) = sgn(a) sgn(b) M_u(|a|, |b|) with sgn(0) = 0 (|-128| = 128 still
// fits the 8-bit unsigned core). Unsigned operands use the core directly, so M(0, b) may be non-zero for a design
// that adds a constant.

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <span>
#include <type_traits>
#include <utility>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/multiplier.hpp"
#include "approxnn/multipliers/partial_product_array.hpp"

namespace approxnn::multipliers {

/// Name, inclusive range and meaning of one integer parameter of a design family.
struct parameter_spec {
    std::string_view name;
    int min;
    int max;
    std::string_view meaning;
};

namespace detail {
template <class T>
struct is_parameter_spec_array : std::false_type {};
template <std::size_t N>
struct is_parameter_spec_array<std::array<parameter_spec, N>> : std::true_type {};
}  // namespace detail

template <class F>
using family_parameters = std::array<int, std::tuple_size_v<std::remove_cvref_t<decltype(F::parameter_specs)>>>;

/// A closed-form design family (see the contract at the top of this header).
template <class F>
concept design_family =
    requires {
        { F::name } -> std::convertible_to<std::string_view>;
    } &&
    detail::is_parameter_spec_array<std::remove_cvref_t<decltype(F::parameter_specs)>>::value &&
    requires(std::uint32_t a, std::uint32_t b, const family_parameters<F>& p) {
        { F::multiply(a, b, p) } noexcept -> std::same_as<std::uint32_t>;
        { F::is_exact(p) } -> std::same_as<bool>;
        { F::relative_power(p) } -> std::convertible_to<double>;
    };

/// True when every parameter lies in its range and the family's constraint, if any, holds.
template <design_family F>
constexpr bool parameters_valid(const family_parameters<F>& p) noexcept {
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] < F::parameter_specs[i].min || p[i] > F::parameter_specs[i].max) return false;
    }
    if constexpr (requires { F::constraint_holds(p); }) {
        return F::constraint_holds(p);
    } else {
        return true;
    }
}

/// Throws parameter_error naming the family, the parameter and its value unless parameters_valid<F>(p).
template <design_family F>
void check_parameters(const family_parameters<F>& p) {
    for (std::size_t i = 0; i < p.size(); ++i) {
        const parameter_spec& spec = F::parameter_specs[i];
        if (p[i] < spec.min || p[i] > spec.max) {
            throw parameter_error(std::string(F::name) + ": parameter " + std::string(spec.name) + " = " +
                                  std::to_string(p[i]) + " is outside its range [" + std::to_string(spec.min) +
                                  ", " + std::to_string(spec.max) + "] (" + std::string(spec.meaning) + ")");
        }
    }
    if constexpr (requires { F::constraint_holds(p); }) {
        if (!F::constraint_holds(p)) {
            std::string values;
            for (std::size_t i = 0; i < p.size(); ++i) {
                values += (i ? ", " : "") + std::string(F::parameter_specs[i].name) + " = " + std::to_string(p[i]);
            }
            throw parameter_error(std::string(F::name) + ": parameters " + values + " violate the constraint " +
                                  std::string(F::constraint));
        }
    }
}

/// The product of a and b through an unsigned core, with sign-magnitude handling for int8 operands.
template <operand_code Operand, class Core>
constexpr std::int32_t sign_magnitude_product(Operand a, Operand b, const Core& core) noexcept {
    if constexpr (std::is_unsigned_v<Operand>) {
        return static_cast<std::int32_t>(core(std::uint32_t{a}, std::uint32_t{b}));
    } else {
        const int sa = a;
        const int sb = b;
        const auto magnitude = static_cast<std::int32_t>(
            core(static_cast<std::uint32_t>(sa < 0 ? -sa : sa), static_cast<std::uint32_t>(sb < 0 ? -sb : sb)));
        const std::int32_t negate = (sa ^ sb) >> 31;  // -1 when the signs differ, else 0
        const std::int32_t product = (magnitude ^ negate) - negate;
        return (sa != 0 && sb != 0) ? product : 0;  // sgn(0) = 0
    }
}

/// "family_u8_k4"-style identifier of an instance: family, operand type, then each parameter as name + value.
inline std::string instance_name(std::string_view family, signedness s, std::span<const parameter> parameters) {
    std::string name(family);
    name += '_';
    name += type_tag(s);
    for (const parameter& p : parameters) {
        name += '_';
        name += p.name;
        name += std::to_string(p.value);
    }
    return name;
}

namespace detail {
template <design_family F, std::size_t... I>
constexpr auto named_parameters(const family_parameters<F>& values, std::index_sequence<I...>) noexcept {
    return std::array<parameter, sizeof...(I)>{parameter{F::parameter_specs[I].name, values[I]}...};
}
}  // namespace detail

namespace detail {
template <class F, auto Values, bool = requires { F::array(Values); }>
struct array_design_of {};
template <class F, auto Values>
struct array_design_of<F, Values, true> {
    /// The partial-product array the unsigned core equals (see partial_product_array.hpp).
    static constexpr partial_product_array partial_products = F::array(Values);
};
}  // namespace detail

/// The multiplier policy of family F with parameters P... for Operand codes (int8: sign-magnitude; uint8: the core).
/// The weight is the second operand; use swapped<> for the other assignment.
template <operand_code Operand, design_family F, int... P>
struct closed_form : detail::array_design_of<F, family_parameters<F>{P...}> {
    static_assert(sizeof...(P) == std::tuple_size_v<family_parameters<F>>,
                  "approxnn: wrong number of parameters for this multiplier family (see its parameter_specs)");
    static_assert(parameters_valid<F>(family_parameters<F>{P...}),
                  "approxnn: a parameter of this multiplier family is outside its documented range or violates its "
                  "constraint (see the family's parameter_specs and constraint)");

    using family = F;
    using operand_type = Operand;
    using product_type = std::int32_t;

    static constexpr family_parameters<F> parameter_values{P...};
    static constexpr std::array<parameter, sizeof...(P)> parameters =
        detail::named_parameters<F>(parameter_values, std::make_index_sequence<sizeof...(P)>{});
    static constexpr bool is_signed = std::is_signed_v<Operand>;
    static constexpr bool is_exact = F::is_exact(parameter_values);
    static constexpr operand_position weight_operand = operand_position::second;

    static std::string name() {
        return instance_name(F::name, is_signed ? signedness::signed_operands : signedness::unsigned_operands,
                             parameters);
    }

    static constexpr product_type multiply(operand_type a, operand_type b) noexcept {
        if constexpr (requires { F::multiply_signed(std::int32_t{}, std::int32_t{}, parameter_values); }) {
            if constexpr (is_signed) return F::multiply_signed(a, b, parameter_values);
        }
        return sign_magnitude_product(
            a, b, [](std::uint32_t x, std::uint32_t y) noexcept { return F::multiply(x, y, parameter_values); });
    }

    static constexpr double relative_power() noexcept { return F::relative_power(parameter_values); }
};

}  // namespace approxnn::multipliers
