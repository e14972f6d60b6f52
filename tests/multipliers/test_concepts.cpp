// The multiplier concept and its helpers: every family policy is a multiplier; swapped<>, multiply_activation_weight
// and multiply_n behave as documented; has_parameters, has_power_estimate and has_array_form detect what they
// should; and types that break one requirement of the contract are rejected.

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/multiplier.hpp"

namespace {

namespace am = approxnn::multipliers;
using approxnn::operand_position;

template <class T>
concept names_its_family = requires { typename T::family; };

// ---------------------------------------------------------------------------------------------------------------
// Every family policy, for both operand types.

template <class M, class Op>
constexpr bool check_family_policy() {
    static_assert(approxnn::multiplier<M>, "a family policy must satisfy approxnn::multiplier");
    static_assert(std::is_same_v<approxnn::operand_t<M>, Op>);
    static_assert(std::is_same_v<approxnn::product_t<M>, std::int32_t>);
    static_assert(M::is_signed == std::is_signed_v<Op>);
    static_assert(M::weight_operand == operand_position::second, "family policies take the weight second");
    static_assert(approxnn::has_parameters<M>);
    static_assert(approxnn::has_power_estimate<M>);
    static_assert(!approxnn::has_array_form<M>);
    static_assert(approxnn::signedness_of<M> ==
                  (std::is_signed_v<Op> ? approxnn::signedness::signed_operands
                                        : approxnn::signedness::unsigned_operands));
    static_assert(approxnn::multiplier<am::swapped<M>>);
    static_assert(approxnn::has_parameters<am::swapped<M>>);
    static_assert(approxnn::has_power_estimate<am::swapped<M>>);
    static_assert(am::swapped<M>::weight_operand == operand_position::first);
    static_assert(am::swapped<M>::is_exact == M::is_exact);
    static_assert(am::swapped<M>::is_signed == M::is_signed);
    static_assert(am::design_family<typename M::family>);
    static_assert(std::is_same_v<typename am::swapped<M>::family, typename M::family>);
    return true;
}

template <class Op>
constexpr bool check_every_family() {
    return check_family_policy<am::exact<Op>, Op>() && check_family_policy<am::column_truncation<Op, 0>, Op>() &&
           check_family_policy<am::column_truncation<Op, 15>, Op>() &&
           check_family_policy<am::column_truncation_corrected<Op, 4>, Op>() &&
           check_family_policy<am::operand_truncation<Op, 8>, Op>() &&
           check_family_policy<am::broken_array<Op, 2, 6>, Op>() &&
           check_family_policy<am::broken_array<Op, 7, 15>, Op>() &&
           check_family_policy<am::perforation<Op, 0, 2>, Op>() && check_family_policy<am::perforation<Op, 8 - 3, 3>, Op>() &&
           check_family_policy<am::drum<Op, 1>, Op>() && check_family_policy<am::drum<Op, 7>, Op>() &&
           check_family_policy<am::mitchell<Op>, Op>() && check_family_policy<am::mbm<Op>, Op>() &&
           check_family_policy<am::mbm<Op, 0>, Op>() && check_family_policy<am::mbm<Op, 127>, Op>() &&
           check_family_policy<am::kulkarni<Op>, Op>() && check_family_policy<am::roba<Op>, Op>();
}
static_assert(check_every_family<std::uint8_t>());
static_assert(check_every_family<std::int8_t>());

// Parameters: names and values, in order; none for the parameterless families.
static_assert(approxnn::parameters_of<am::exact<std::uint8_t>>().empty());
static_assert(approxnn::parameters_of<am::roba<std::int8_t>>().empty());
static_assert(approxnn::parameters_of<am::broken_array<std::uint8_t, 2, 6>>().size() == 2);
static_assert(approxnn::parameters_of<am::broken_array<std::uint8_t, 2, 6>>()[0] == approxnn::parameter{"h", 2});
static_assert(approxnn::parameters_of<am::broken_array<std::uint8_t, 2, 6>>()[1] == approxnn::parameter{"v", 6});
static_assert(approxnn::parameters_of<am::mbm<std::int8_t>>()[0] == approxnn::parameter{"c", 10});
static_assert(approxnn::parameters_of<am::swapped<am::drum<std::uint8_t, 5>>>()[0] == approxnn::parameter{"k", 5});

// Products are available at compile time.
static_assert(am::exact<std::int8_t>::multiply(-128, -128) == 16384);
static_assert(am::exact<std::uint8_t>::multiply(255, 255) == 65025);
static_assert(am::kulkarni<std::uint8_t>::multiply(3, 3) == 7);
static_assert(am::mitchell<std::uint8_t>::multiply(3, 3) == 8);

// ---------------------------------------------------------------------------------------------------------------
// swapped<M> exchanges the operands and moves the weight with them. perforation j = 0, m = 1 drops bit 0 of the
// second operand: M(3, 1) = 3 * 0 = 0, M(1, 3) = 1 * 2 = 2.

using perforated = am::perforation<std::uint8_t, 0, 1>;
using perforated_swapped = am::swapped<perforated>;
static_assert(perforated::multiply(3, 1) == 0);
static_assert(perforated::multiply(1, 3) == 2);
static_assert(perforated_swapped::multiply(3, 1) == 2);
static_assert(perforated_swapped::multiply(1, 3) == 0);
static_assert(std::is_same_v<approxnn::operand_t<perforated_swapped>, std::uint8_t>);
static_assert(std::is_same_v<approxnn::product_t<perforated_swapped>, std::int32_t>);
static_assert(am::swapped<perforated_swapped>::weight_operand == operand_position::second);
static_assert(am::swapped<perforated_swapped>::multiply(3, 1) == 0);
// The roles survive the swap: the activation-weight product is the same.
static_assert(approxnn::multiply_activation_weight<perforated>(3, 1) == 0);
static_assert(approxnn::multiply_activation_weight<perforated_swapped>(3, 1) == 0);
static_assert(approxnn::multiply_activation_weight<perforated>(1, 3) == 2);
static_assert(approxnn::multiply_activation_weight<perforated_swapped>(1, 3) == 2);

// ---------------------------------------------------------------------------------------------------------------
// Small local policies. valid_policy is a minimal multiplier; its product is deliberately non-commutative
// (1000 a + b) so that the operand order is visible.

struct valid_policy {
    using operand_type = std::int8_t;
    using product_type = std::int32_t;
    static constexpr bool is_signed = true;
    static constexpr bool is_exact = false;
    static constexpr operand_position weight_operand = operand_position::second;
    static std::string name() { return "valid_policy"; }
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return 1000 * a + b; }
};

struct weight_first_policy : valid_policy {
    static constexpr operand_position weight_operand = operand_position::first;
    static std::string name() { return "weight_first_policy"; }
};

struct parameterised_policy : valid_policy {
    static constexpr std::array<approxnn::parameter, 2> parameters{{{"q", 3}, {"r", 4}}};
    static constexpr double relative_power() noexcept { return 0.25; }
};

struct power_only_policy : valid_policy {
    static double relative_power() { return 0.5; }
};

struct array_form_policy : valid_policy {
    static inline int array_form_calls = 0;
    static void multiply_n(const operand_type* first, const operand_type* second, product_type* out,
                           std::size_t n) noexcept {
        ++array_form_calls;
        for (std::size_t i = 0; i < n; ++i) out[i] = multiply(first[i], second[i]);
    }
};

// An array form that may throw is not an array form approxnn uses.
struct throwing_array_form_policy : valid_policy {
    static inline int array_form_calls = 0;
    static void multiply_n(const operand_type* first, const operand_type* second, product_type* out, std::size_t n) {
        ++array_form_calls;
        for (std::size_t i = 0; i < n; ++i) out[i] = multiply(first[i], second[i]);
    }
};

struct unsigned_policy {
    using operand_type = std::uint8_t;
    using product_type = std::uint16_t;  // any integer type whose values fit in int32
    static constexpr bool is_signed = false;
    static constexpr bool is_exact = true;
    static constexpr operand_position weight_operand = operand_position::second;
    static constexpr const char* name() { return "unsigned_policy"; }  // convertible to std::string suffices
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept {
        return static_cast<product_type>(a * b);
    }
};

static_assert(approxnn::multiplier<valid_policy>);
static_assert(approxnn::multiplier<weight_first_policy>);
static_assert(approxnn::multiplier<parameterised_policy>);
static_assert(approxnn::multiplier<power_only_policy>);
static_assert(approxnn::multiplier<array_form_policy>);
static_assert(approxnn::multiplier<throwing_array_form_policy>);
static_assert(approxnn::multiplier<unsigned_policy>);

static_assert(!approxnn::has_parameters<valid_policy>);
static_assert(!approxnn::has_power_estimate<valid_policy>);
static_assert(!approxnn::has_array_form<valid_policy>);
static_assert(approxnn::parameters_of<valid_policy>().empty());
static_assert(approxnn::has_parameters<parameterised_policy>);
static_assert(approxnn::has_power_estimate<parameterised_policy>);
static_assert(!approxnn::has_array_form<parameterised_policy>);
static_assert(approxnn::parameters_of<parameterised_policy>().size() == 2);
static_assert(approxnn::parameters_of<parameterised_policy>()[1] == approxnn::parameter{"r", 4});
static_assert(!approxnn::has_parameters<power_only_policy>);
static_assert(approxnn::has_power_estimate<power_only_policy>);
static_assert(approxnn::has_array_form<array_form_policy>);
static_assert(!approxnn::has_parameters<array_form_policy>);
static_assert(!approxnn::has_array_form<throwing_array_form_policy>);
static_assert(!approxnn::has_array_form<unsigned_policy>);

// swapped<> carries parameters and power estimate only when the policy has them; it never has an array form.
static_assert(!approxnn::has_parameters<am::swapped<valid_policy>>);
static_assert(!approxnn::has_power_estimate<am::swapped<valid_policy>>);
static_assert(approxnn::has_parameters<am::swapped<parameterised_policy>>);
static_assert(approxnn::has_power_estimate<am::swapped<parameterised_policy>>);
static_assert(approxnn::parameters_of<am::swapped<parameterised_policy>>()[0] == approxnn::parameter{"q", 3});
static_assert(!approxnn::has_parameters<am::swapped<power_only_policy>>);
static_assert(approxnn::has_power_estimate<am::swapped<power_only_policy>>);
static_assert(!approxnn::has_array_form<am::swapped<array_form_policy>>);
static_assert(approxnn::multiplier<am::swapped<unsigned_policy>>);
static_assert(std::is_same_v<approxnn::product_t<am::swapped<unsigned_policy>>, std::uint16_t>);
static_assert(!names_its_family<am::swapped<valid_policy>>);  // only a policy with a family passes one on
static_assert(std::is_same_v<am::swapped<am::drum<std::int8_t, 3>>::family, am::drum_family>);

// swapped<> on the local policies: operands and weight exchanged.
static_assert(valid_policy::multiply(3, 5) == 3005);
static_assert(am::swapped<valid_policy>::multiply(3, 5) == 5003);
static_assert(am::swapped<valid_policy>::weight_operand == operand_position::first);
static_assert(am::swapped<weight_first_policy>::weight_operand == operand_position::second);
static_assert(am::swapped<am::swapped<valid_policy>>::multiply(3, 5) == 3005);
static_assert(am::swapped<am::swapped<valid_policy>>::weight_operand == operand_position::second);

// multiply_activation_weight(activation, weight) puts the weight where weight_operand says.
static_assert(approxnn::multiply_activation_weight<valid_policy>(3, 5) == 3005);         // multiply(3, 5)
static_assert(approxnn::multiply_activation_weight<weight_first_policy>(3, 5) == 5003);  // multiply(5, 3)
static_assert(approxnn::multiply_activation_weight<am::swapped<valid_policy>>(3, 5) == 3005);
static_assert(approxnn::multiply_activation_weight<am::swapped<weight_first_policy>>(3, 5) == 5003);
static_assert(approxnn::multiply_activation_weight<valid_policy>(-128, 127) == -127873);

// multiply_n without an array form: the element-wise loop, usable at compile time.
constexpr bool multiply_n_falls_back_elementwise() {
    const std::array<std::int8_t, 4> first{1, -2, 3, -128};
    const std::array<std::int8_t, 4> second{5, 6, -7, 127};
    std::array<std::int32_t, 4> out{};
    approxnn::multiply_n<valid_policy>(first.data(), second.data(), out.data(), out.size());
    return out[0] == 1005 && out[1] == -1994 && out[2] == 2993 && out[3] == -127873;
}
static_assert(multiply_n_falls_back_elementwise());

// ---------------------------------------------------------------------------------------------------------------
// Types that are not multipliers: each breaks exactly one requirement of valid_policy.

struct non_empty_policy : valid_policy {
    int state;  // no initializer: still trivially default constructible, but not empty
};
static_assert(std::is_trivially_default_constructible_v<non_empty_policy>);
static_assert(!approxnn::multiplier<non_empty_policy>);

struct non_trivial_constructor_policy : valid_policy {
    non_trivial_constructor_policy() {}  // NOLINT: user-provided on purpose
};
static_assert(std::is_empty_v<non_trivial_constructor_policy>);
static_assert(!approxnn::multiplier<non_trivial_constructor_policy>);

struct non_static_multiply_policy : valid_policy {
    constexpr product_type multiply(operand_type a, operand_type b) const noexcept { return a * b; }
};
static_assert(!approxnn::multiplier<non_static_multiply_policy>);

struct non_constexpr_multiply_policy : valid_policy {
    static product_type multiply(operand_type a, operand_type b) noexcept { return a * b; }
};
static_assert(!approxnn::multiplier<non_constexpr_multiply_policy>);

struct non_noexcept_multiply_policy : valid_policy {
    static constexpr product_type multiply(operand_type a, operand_type b) { return a * b; }
};
static_assert(!approxnn::multiplier<non_noexcept_multiply_policy>);

struct int16_operand_policy : valid_policy {
    using operand_type = std::int16_t;
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return a * b; }
};
static_assert(!approxnn::multiplier<int16_operand_policy>);

struct int64_product_policy : valid_policy {
    using product_type = std::int64_t;
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return a * b; }
};
static_assert(!approxnn::multiplier<int64_product_policy>);

struct uint32_product_policy : valid_policy {
    using product_type = std::uint32_t;  // values above INT32_MAX
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept {
        return static_cast<product_type>(a * b);
    }
};
static_assert(!approxnn::multiplier<uint32_product_policy>);

struct bool_product_policy : valid_policy {
    using product_type = bool;
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return a * b != 0; }
};
static_assert(!approxnn::multiplier<bool_product_policy>);

struct wrong_return_type_policy : valid_policy {
    static constexpr std::int16_t multiply(operand_type a, operand_type b) noexcept {
        return static_cast<std::int16_t>(a * b);
    }
};
static_assert(!approxnn::multiplier<wrong_return_type_policy>);

struct inconsistent_signedness_policy : valid_policy {
    static constexpr bool is_signed = false;  // but the operands are int8
};
static_assert(!approxnn::multiplier<inconsistent_signedness_policy>);

struct inconsistent_unsigned_policy : unsigned_policy {
    static constexpr bool is_signed = true;  // but the operands are uint8
};
static_assert(!approxnn::multiplier<inconsistent_unsigned_policy>);

struct int_is_exact_policy : valid_policy {
    static constexpr int is_exact = 0;  // must be a bool
};
static_assert(!approxnn::multiplier<int_is_exact_policy>);

struct bool_weight_operand_policy : valid_policy {
    static constexpr bool weight_operand = true;  // must be an operand_position
};
static_assert(!approxnn::multiplier<bool_weight_operand_policy>);

struct no_name_policy {
    using operand_type = std::int8_t;
    using product_type = std::int32_t;
    static constexpr bool is_signed = true;
    static constexpr bool is_exact = false;
    static constexpr operand_position weight_operand = operand_position::second;
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return a * b; }
};
static_assert(!approxnn::multiplier<no_name_policy>);

struct no_operand_type_policy {  // the concept stops at the missing operand_type, so the rest is never looked at
    using product_type = std::int32_t;
    [[maybe_unused]] static constexpr bool is_signed = true;
    [[maybe_unused]] static constexpr bool is_exact = false;
    [[maybe_unused]] static constexpr operand_position weight_operand = operand_position::second;
    static std::string name() { return "no_operand_type"; }
    static constexpr product_type multiply(std::int8_t a, std::int8_t b) noexcept { return a * b; }
};
static_assert(!approxnn::multiplier<no_operand_type_policy>);

static_assert(!approxnn::multiplier<int>);
static_assert(!approxnn::multiplier<am::table_multiplier>);  // a run-time table is not a compile-time policy
static_assert(!approxnn::has_parameters<non_empty_policy>);  // the optional facets require a multiplier
static_assert(!approxnn::has_power_estimate<int>);
static_assert(!approxnn::has_array_form<non_noexcept_multiply_policy>);

}  // namespace

TEST_CASE("multiply_n u8/s8: uses the policy's array form when it has one") {
    const std::array<std::int8_t, 5> first{1, -2, 3, -128, 0};
    const std::array<std::int8_t, 5> second{5, 6, -7, 127, -1};
    const std::array<std::int32_t, 5> expected{1005, -1994, 2993, -127873, -1};

    std::array<std::int32_t, 5> out{};
    array_form_policy::array_form_calls = 0;
    approxnn::multiply_n<array_form_policy>(first.data(), second.data(), out.data(), out.size());
    CHECK(array_form_policy::array_form_calls == 1);
    CHECK(out == expected);

    out = {};
    throwing_array_form_policy::array_form_calls = 0;
    approxnn::multiply_n<throwing_array_form_policy>(first.data(), second.data(), out.data(), out.size());
    CHECK(throwing_array_form_policy::array_form_calls == 0);  // not noexcept: the element-wise loop instead
    CHECK(out == expected);

    out = {};
    approxnn::multiply_n<valid_policy>(first.data(), second.data(), out.data(), out.size());
    CHECK(out == expected);

    const std::array<std::uint8_t, 3> ufirst{255, 3, 0};
    const std::array<std::uint8_t, 3> usecond{255, 3, 9};
    std::array<std::int32_t, 3> uout{};
    approxnn::multiply_n<am::kulkarni<std::uint8_t>>(ufirst.data(), usecond.data(), uout.data(), uout.size());
    const std::array<std::int32_t, 3> uexpected{50575, 7, 0};
    CHECK(uout == uexpected);
}

TEST_CASE("swapped perforation u8 j0 m1: transposed products, same estimate, name with _swapped") {
    using swapped = am::swapped<perforated>;
    CHECK(swapped::name() == "perforation_u8_j0_m1_swapped");
    CHECK(am::swapped<valid_policy>::name() == "valid_policy_swapped");
    CHECK(swapped::relative_power() == perforated::relative_power());
    CHECK(am::swapped<power_only_policy>::relative_power() == 0.5);
    CHECK(am::swapped<parameterised_policy>::relative_power() == 0.25);
    long transposed = 0;
    long asymmetric = 0;
    long roles_kept = 0;
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const auto ua = static_cast<std::uint8_t>(a);
            const auto ub = static_cast<std::uint8_t>(b);
            if (swapped::multiply(ua, ub) == perforated::multiply(ub, ua)) ++transposed;
            if (perforated::multiply(ua, ub) != perforated::multiply(ub, ua)) ++asymmetric;
            if (approxnn::multiply_activation_weight<swapped>(ua, ub) ==
                approxnn::multiply_activation_weight<perforated>(ua, ub)) {
                ++roles_kept;
            }
        }
    }
    CHECK(transposed == 65536);
    CHECK(roles_kept == 65536);
    CHECK(asymmetric > 0);  // the design is not commutative, so the swap is observable
}

TEST_CASE("multiply_activation_weight s8: weight first and weight second policies") {
    for (int activation = -128; activation < 128; activation += 17) {
        for (int weight = -128; weight < 128; weight += 13) {
            const auto x = static_cast<std::int8_t>(activation);
            const auto w = static_cast<std::int8_t>(weight);
            CHECK(approxnn::multiply_activation_weight<valid_policy>(x, w) == 1000 * activation + weight);
            CHECK(approxnn::multiply_activation_weight<weight_first_policy>(x, w) == 1000 * weight + activation);
        }
    }
}

TEST_CASE("family policies: parameters, names and signedness at run time") {
    CHECK(am::broken_array<std::int8_t, 2, 6>::name() == "broken_array_s8_h2_v6");
    CHECK(am::exact<std::uint8_t>::name() == "exact_u8");
    CHECK(am::mbm<std::uint8_t>::name() == "mbm_u8_c10");
    CHECK(approxnn::parameters_of<am::perforation<std::uint8_t, 3, 2>>().size() == 2);
    CHECK(approxnn::parameters_of<am::perforation<std::uint8_t, 3, 2>>()[0].name == "j");
    CHECK(approxnn::parameters_of<am::perforation<std::uint8_t, 3, 2>>()[1].value == 2);
    CHECK(approxnn::to_string(approxnn::signedness_of<am::drum<std::int8_t, 4>>) == "signed");
    CHECK(approxnn::to_string(am::swapped<am::drum<std::int8_t, 4>>::weight_operand) == "first");
}
