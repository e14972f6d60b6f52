#pragma once
// The multiplier concept: an 8-bit approximate multiplier as a stateless policy type.
//
// A policy M provides, all static:
//   operand_type      std::int8_t or std::uint8_t (the integer codes the multiplier sees)
//   product_type      an integer type whose values fit in std::int32_t
//   multiply(a, b)    constexpr and noexcept; a is the first operand, b the second
//   name()            a printable, file-name-safe identifier of the instance
//   is_signed         bool, equal to std::is_signed_v<operand_type>
//   is_exact          bool, true when multiply(a, b) == a * b for every pair
//   weight_operand    operand_position: which argument of multiply() is the weight
// Optional, detected when present:
//   parameters        a std::array<approxnn::parameter, N> naming the design parameters
//   relative_power()  a power estimate normalised to the exact multiplier (= 1)
//   multiply_n(first, second, out, n)   an array form (e.g. vectorised); must equal multiply() element-wise

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace approxnn {

/// Whether a multiplier's operands are int8 (two's complement) or uint8 codes.
enum class signedness : bool { unsigned_operands = false, signed_operands = true };

/// Position of an argument of multiply(first, second).
enum class operand_position : unsigned char { first, second };

constexpr std::string_view to_string(signedness s) noexcept {
    return s == signedness::signed_operands ? "signed" : "unsigned";
}

constexpr std::string_view to_string(operand_position p) noexcept {
    return p == operand_position::first ? "first" : "second";
}

/// Short tag used in names: "s8" or "u8".
constexpr std::string_view type_tag(signedness s) noexcept {
    return s == signedness::signed_operands ? "s8" : "u8";
}

/// An 8-bit operand code type.
template <class T>
concept operand_code = std::same_as<T, std::int8_t> || std::same_as<T, std::uint8_t>;

/// An integer type whose every value fits in std::int32_t (the accumulator type of the kernels).
template <class T>
concept product_integer =
    std::integral<T> && !std::same_as<T, bool> &&
    static_cast<long long>(std::numeric_limits<T>::min()) >= std::numeric_limits<std::int32_t>::min() &&
    static_cast<long long>(std::numeric_limits<T>::max()) <= std::numeric_limits<std::int32_t>::max();

/// A named integer design parameter of a multiplier instance (e.g. {"k", 4}).
struct parameter {
    std::string_view name;
    int value;
    friend constexpr bool operator==(const parameter&, const parameter&) = default;
};

namespace detail {
// Satisfied when M::multiply can be evaluated at compile time.
template <class M>
concept constexpr_multiply = requires {
    typename std::integral_constant<
        long long, static_cast<long long>(M::multiply(typename M::operand_type{1}, typename M::operand_type{1}))>;
};

template <class T, class V>
concept static_value_of = std::same_as<std::remove_cvref_t<T>, V>;
}  // namespace detail

/// A stateless 8-bit multiplier policy (see the contract at the top of this header).
template <class M>
concept multiplier =
    std::is_empty_v<M> && std::is_trivially_default_constructible_v<M> &&
    requires {
        typename M::operand_type;
        typename M::product_type;
        requires operand_code<typename M::operand_type>;
        requires product_integer<typename M::product_type>;
        requires detail::static_value_of<decltype(M::is_signed), bool>;
        requires detail::static_value_of<decltype(M::is_exact), bool>;
        requires detail::static_value_of<decltype(M::weight_operand), operand_position>;
        requires M::is_signed == std::is_signed_v<typename M::operand_type>;
        { M::name() } -> std::convertible_to<std::string>;
    } &&
    requires(typename M::operand_type a, typename M::operand_type b) {
        { M::multiply(a, b) } noexcept -> std::same_as<typename M::product_type>;
    } &&
    detail::constexpr_multiply<M>;

template <multiplier M>
using operand_t = typename M::operand_type;

template <multiplier M>
using product_t = typename M::product_type;

template <multiplier M>
inline constexpr signedness signedness_of = M::is_signed ? signedness::signed_operands : signedness::unsigned_operands;

/// M declares its design parameters.
template <class M>
concept has_parameters = multiplier<M> && requires {
    { std::span<const parameter>(M::parameters) };
};

/// M carries its own relative power estimate (exact = 1).
template <class M>
concept has_power_estimate = multiplier<M> && requires {
    { M::relative_power() } -> std::convertible_to<double>;
};

/// M offers an array form multiply_n(first, second, out, n).
template <class M>
concept has_array_form = multiplier<M> && requires(const operand_t<M>* first, const operand_t<M>* second,
                                                   product_t<M>* out, std::size_t n) {
    { M::multiply_n(first, second, out, n) } noexcept;
};

/// The design parameters of M (empty when M declares none).
template <multiplier M>
constexpr std::span<const parameter> parameters_of() noexcept {
    if constexpr (has_parameters<M>) {
        return std::span<const parameter>(M::parameters);
    } else {
        return {};
    }
}

/// M's product with the roles made explicit: the activation code and the weight code.
template <multiplier M>
constexpr product_t<M> multiply_activation_weight(operand_t<M> activation, operand_t<M> weight) noexcept {
    if constexpr (M::weight_operand == operand_position::second) {
        return M::multiply(activation, weight);
    } else {
        return M::multiply(weight, activation);
    }
}

/// out[i] = M::multiply(first[i], second[i]) for i < n, through M's array form when it has one.
template <multiplier M>
constexpr void multiply_n(const operand_t<M>* first, const operand_t<M>* second, product_t<M>* out,
                          std::size_t n) noexcept {
    if constexpr (has_array_form<M>) {
        M::multiply_n(first, second, out, n);
    } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = M::multiply(first[i], second[i]);
    }
}

namespace detail {
template <class M, bool = has_parameters<M>>
struct parameters_from {};
template <class M>
struct parameters_from<M, true> {
    static constexpr auto parameters = M::parameters;
};
template <class M, bool = requires { typename M::family; }>
struct family_from {};
template <class M>
struct family_from<M, true> {
    using family = typename M::family;
};
template <class M, bool = has_power_estimate<M>>
struct power_estimate_from {};
template <class M>
struct power_estimate_from<M, true> {
    static double relative_power() { return M::relative_power(); }
};
}  // namespace detail

namespace multipliers {

/// M with its arguments exchanged: swapped<M>::multiply(a, b) == M::multiply(b, a), and the weight moves with them.
/// Use it to give the weight the other input of a non-commutative design.
template <multiplier M>
struct swapped : detail::parameters_from<M>, detail::family_from<M>, detail::power_estimate_from<M> {
    using operand_type = operand_t<M>;
    using product_type = product_t<M>;
    static constexpr bool is_signed = M::is_signed;
    static constexpr bool is_exact = M::is_exact;
    static constexpr operand_position weight_operand =
        M::weight_operand == operand_position::first ? operand_position::second : operand_position::first;

    static std::string name() { return std::string(M::name()) + "_swapped"; }

    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return M::multiply(b, a); }
};

}  // namespace multipliers
}  // namespace approxnn
