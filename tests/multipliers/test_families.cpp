// Every closed-form family's products equal an independent, straightforward implementation of its definition in
// docs/multipliers.md, exhaustively: all 65 536 operand pairs, every valid parameter value, uint8 and int8 operands,
// through the policy types, the run-time design_instance and design_instance::parse of the policy's name.
//
// The references below are written from the documented definitions only, in a deliberately different style from
// the library: bit-by-bit partial products for the array designs, floating point for the logarithmic designs,
// base-4 digit loops for Kulkarni, nearest power of two by comparing distances for RoBA. They never call the
// library's families or its internals.

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "approxnn/multipliers/families.hpp"

namespace {

namespace am = approxnn::multipliers;
using approxnn::signedness;
using wide = long long;

// ---------------------------------------------------------------------------------------------------------------
// Reference implementations: the unsigned core M_u(a, b) for a, b in [0, 255] and the parameter values p.

using reference_core = wide (*)(unsigned a, unsigned b, std::span<const int> p);

int bit(unsigned x, int i) { return static_cast<int>((x >> i) & 1U); }
wide power_of_two(int e) { return wide{1} << e; }

wide reference_exact(unsigned a, unsigned b, std::span<const int>) {
    return static_cast<wide>(a) * static_cast<wide>(b);
}

// Column truncation: sum over the kept cells i + j >= k of a_i b_j 2^(i+j), one cell at a time.
wide reference_column_truncation(unsigned a, unsigned b, std::span<const int> p) {
    const int k = p[0];
    wide sum = 0;
    for (int i = 0; i < 8; ++i) {
        for (int j = 0; j < 8; ++j) {
            if (i + j >= k && bit(a, i) == 1 && bit(b, j) == 1) sum += power_of_two(i + j);
        }
    }
    return sum;
}

// round(sum over the removed cells i + j < k of 2^(i+j) / 4), in floating point.
wide reference_correction(int k) {
    double removed = 0.0;
    for (int i = 0; i < 8; ++i) {
        for (int j = 0; j < 8; ++j) {
            if (i + j < k) removed += std::ldexp(1.0, i + j);
        }
    }
    return std::llround(removed / 4.0);
}

wide reference_column_truncation_corrected(unsigned a, unsigned b, std::span<const int> p) {
    static const std::array<wide, 16> corrections = [] {
        std::array<wide, 16> c{};
        for (int k = 0; k < 16; ++k) c[static_cast<std::size_t>(k)] = reference_correction(k);
        return c;
    }();
    return reference_column_truncation(a, b, p) + corrections[static_cast<std::size_t>(p[0])];
}

// Operand truncation: clear the t low bits of each operand by subtracting the remainder modulo 2^t.
wide reference_operand_truncation(unsigned a, unsigned b, std::span<const int> p) {
    const wide step = power_of_two(p[0]);
    const wide ta = static_cast<wide>(a) - static_cast<wide>(a) % step;
    const wide tb = static_cast<wide>(b) - static_cast<wide>(b) % step;
    return ta * tb;
}

// Broken array: cells with row j >= h (bits of the second operand) and column i + j >= v.
wide reference_broken_array(unsigned a, unsigned b, std::span<const int> p) {
    const int h = p[0];
    const int v = p[1];
    wide sum = 0;
    for (int j = 0; j < 8; ++j) {
        for (int i = 0; i < 8; ++i) {
            if (j >= h && i + j >= v && bit(a, i) == 1 && bit(b, j) == 1) sum += power_of_two(i + j);
        }
    }
    return sum;
}

// Perforation: a * (b - sum_{q=j}^{j+m-1} b_q 2^q).
wide reference_perforation(unsigned a, unsigned b, std::span<const int> p) {
    const int first = p[0];
    const int rows = p[1];
    wide perforated = 0;
    for (int q = first; q < first + rows; ++q) perforated += bit(b, q) * power_of_two(q);
    return static_cast<wide>(a) * (static_cast<wide>(b) - perforated);
}

// DRUM: the k bits from the leading one down, the lowest of them forced to 1, and the shift s = t(x) - k + 1.
struct drum_operand {
    wide value;
    int shift;
};
drum_operand reference_drum_operand(unsigned x, int k) {
    int leading = -1;
    for (int i = 7; i >= 0; --i) {
        if (bit(x, i) == 1) {
            leading = i;
            break;
        }
    }
    if (leading <= k - 1) return {static_cast<wide>(x), 0};
    const int shift = leading - k + 1;
    wide value = 0;
    for (int i = 0; i < k; ++i) {  // bit i of the kept value is bit shift + i of x; bit 0 forced to 1
        value += (i == 0 ? 1 : bit(x, shift + i)) * power_of_two(i);
    }
    return {value, shift};
}
wide reference_drum(unsigned a, unsigned b, std::span<const int> p) {
    const drum_operand ra = reference_drum_operand(a, p[0]);
    const drum_operand rb = reference_drum_operand(b, p[0]);
    return ra.value * rb.value * power_of_two(ra.shift + rb.shift);
}

// Logarithmic designs in double precision: a = 2^k (1 + x). Every quantity has at most a few dozen significant
// bits, so the arithmetic below is exact.
struct log_form {
    int characteristic;
    double fraction;
};
const std::array<log_form, 256>& log_forms() {
    static const std::array<log_form, 256> forms = [] {
        std::array<log_form, 256> f{};
        for (unsigned a = 1; a < 256; ++a) {
            const double x = static_cast<double>(a);
            int k = static_cast<int>(std::floor(std::log2(x)));
            while (std::ldexp(1.0, k) > x) --k;  // guard floor(log2) against rounding at either end
            while (std::ldexp(1.0, k + 1) <= x) ++k;
            f[a] = {k, x / std::ldexp(1.0, k) - 1.0};
        }
        return f;
    }();
    return forms;
}

double reference_mitchell_real(unsigned a, unsigned b) {
    if (a == 0 || b == 0) return 0.0;
    const auto [k1, x1] = log_forms()[a];
    const auto [k2, x2] = log_forms()[b];
    return x1 + x2 < 1.0 ? std::ldexp(1.0 + x1 + x2, k1 + k2) : std::ldexp(x1 + x2, k1 + k2 + 1);
}

wide reference_mitchell(unsigned a, unsigned b, std::span<const int>) {
    return std::llround(reference_mitchell_real(a, b));  // integral for 8-bit operands (checked below)
}

// MBM: c = C * 2^-7 added to the fraction sum (c / 2 when x1 + x2 >= 1), the result floored.
wide reference_mbm(unsigned a, unsigned b, std::span<const int> p) {
    if (a == 0 || b == 0) return 0;
    const auto [k1, x1] = log_forms()[a];
    const auto [k2, x2] = log_forms()[b];
    const double c = std::ldexp(static_cast<double>(p[0]), -7);
    const double m =
        x1 + x2 < 1.0 ? std::ldexp(1.0 + x1 + x2 + c, k1 + k2) : std::ldexp(x1 + x2 + c / 2.0, k1 + k2 + 1);
    return static_cast<wide>(std::floor(m));
}

// Kulkarni: base-4 digits of each operand, the under-designed 2x2 product of every digit pair.
constexpr std::array<std::array<int, 4>, 4> under_designed_2x2{{
    {0, 0, 0, 0},
    {0, 1, 2, 3},
    {0, 2, 4, 6},
    {0, 3, 6, 7},  // 3 x 3 = 7
}};
wide reference_kulkarni(unsigned a, unsigned b, std::span<const int>) {
    wide sum = 0;
    wide weight_a = 1;
    for (unsigned ra = a, i = 0; i < 4; ++i, ra /= 4, weight_a *= 4) {
        wide weight_b = 1;
        for (unsigned rb = b, j = 0; j < 4; ++j, rb /= 4, weight_b *= 4) {
            sum += under_designed_2x2[ra % 4][rb % 4] * weight_a * weight_b;
        }
    }
    return sum;
}

// RoBA: the nearest power of two by comparing distances, ties to the larger one; 0 stays 0 (reading of the
// definition: 0 has no nearest power of two, and the rounding hardware produces 0 for 0).
wide reference_nearest_power_of_two(unsigned x) {
    if (x == 0) return 0;
    wide best = 1;
    for (int e = 1; e <= 9; ++e) {
        const wide candidate = power_of_two(e);
        if (std::llabs(static_cast<wide>(x) - candidate) <= std::llabs(static_cast<wide>(x) - best)) best = candidate;
    }
    return best;
}
wide reference_roba(unsigned a, unsigned b, std::span<const int>) {
    const wide ar = reference_nearest_power_of_two(a);
    const wide br = reference_nearest_power_of_two(b);
    return ar * static_cast<wide>(b) + br * static_cast<wide>(a) - ar * br;
}

// ---------------------------------------------------------------------------------------------------------------
// The policy under test, seen through its type: static properties and its 65 536 products [first * 256 + second].

struct policy_view {
    std::string name;
    bool is_signed = false;
    bool is_exact = false;
    std::vector<std::string_view> parameter_names;
    std::vector<int> parameter_values;
    std::vector<std::int32_t> products;
};

using product_function = std::int32_t (*)(int first, int second) noexcept;

std::vector<std::int32_t> all_products(product_function multiply) {
    std::vector<std::int32_t> products(65536);
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            products[static_cast<std::size_t>(first * 256 + second)] = multiply(first, second);
        }
    }
    return products;
}

template <class Policy>
policy_view view_of() {
    static_assert(approxnn::multiplier<Policy>);
    static_assert(std::is_same_v<typename Policy::product_type, std::int32_t>);
    using operand = typename Policy::operand_type;
    policy_view view;
    view.name = Policy::name();
    view.is_signed = Policy::is_signed;
    view.is_exact = Policy::is_exact;
    for (const approxnn::parameter& p : approxnn::parameters_of<Policy>()) {
        view.parameter_names.push_back(p.name);
        view.parameter_values.push_back(p.value);
    }
    // Raw bytes 0..255 converted to the operand type (two's complement for int8).
    view.products = all_products([](int first, int second) noexcept {
        return Policy::multiply(static_cast<operand>(first), static_cast<operand>(second));
    });
    return view;
}

struct reference_family {
    std::string_view name;
    std::vector<std::string_view> parameter_names;
    reference_core core;
};

int operand_value(int code, signedness s) {
    return s == signedness::signed_operands ? static_cast<int>(static_cast<std::int8_t>(code)) : code;
}

int sign_of(int x) { return (x > 0) - (x < 0); }

// Counts the pairs where a product differs from the expected one and remembers the first.
struct mismatches {
    long count = 0;
    int a = 0;
    int b = 0;
    wide expected = 0;
    wide got = 0;
    void note(int first_operand, int second_operand, wide expected_product, wide got_product) noexcept {
        if (count++ == 0) {
            a = first_operand;
            b = second_operand;
            expected = expected_product;
            got = got_product;
        }
    }
    [[nodiscard]] std::string describe() const {
        std::string text = std::to_string(count);
        text += " mismatches";
        if (count > 0) {
            text += ", first at (";
            text += std::to_string(a);
            text += ", ";
            text += std::to_string(b);
            text += "): expected ";
            text += std::to_string(expected);
            text += ", got ";
            text += std::to_string(got);
        }
        return text;
    }
};

/// Checks one instance (the policy, its design_instance and its parsed name) against the reference.
void check_instance(const policy_view& policy, const reference_family& reference, const std::vector<int>& values,
                    signedness s) {
    std::string expected_name(reference.name);
    expected_name += s == signedness::signed_operands ? "_s8" : "_u8";
    for (std::size_t i = 0; i < values.size(); ++i) {
        expected_name += '_';
        expected_name += reference.parameter_names[i];
        expected_name += std::to_string(values[i]);
    }
    INFO("instance ", expected_name);
    CHECK(policy.name == expected_name);
    CHECK(policy.is_signed == (s == signedness::signed_operands));
    CHECK(policy.parameter_names == reference.parameter_names);
    CHECK(policy.parameter_values == values);

    const am::design_instance instance(reference.name, s, values);
    CHECK(instance.name() == expected_name);
    const am::design_instance parsed = am::design_instance::parse(policy.name);
    CHECK(parsed.family().name == reference.name);
    CHECK(parsed.operand_signedness() == s);
    CHECK(std::vector<int>(parsed.values().begin(), parsed.values().end()) == values);
    const am::table_multiplier parsed_table = parsed.table();
    const auto parsed_products = parsed_table.products();

    // The unsigned core on the magnitudes the operand type can produce (|-128| = 128 for int8).
    const unsigned limit = s == signedness::signed_operands ? 128U : 255U;
    std::vector<wide> core((limit + 1) * (limit + 1));
    for (unsigned a = 0; a <= limit; ++a) {
        for (unsigned b = 0; b <= limit; ++b) core[a * (limit + 1) + b] = reference.core(a, b, values);
    }

    mismatches policy_errors;
    mismatches instance_errors;
    mismatches parsed_errors;
    bool equals_exact = true;
    for (int first = 0; first < 256; ++first) {
        const int a = operand_value(first, s);
        for (int second = 0; second < 256; ++second) {
            const int b = operand_value(second, s);
            const auto ma = static_cast<unsigned>(std::abs(a));
            const auto mb = static_cast<unsigned>(std::abs(b));
            // Unsigned: the core. Signed: sgn(a) sgn(b) M_u(|a|, |b|), sgn(0) = 0.
            const wide expected = s == signedness::signed_operands
                                      ? sign_of(a) * sign_of(b) * core[ma * (limit + 1) + mb]
                                      : core[ma * (limit + 1) + mb];
            const std::size_t index = static_cast<std::size_t>(first * 256 + second);
            const wide from_policy = policy.products[index];
            const wide from_instance = instance.multiply(a, b);
            const wide from_parsed = parsed_products[index];
            if (from_policy != expected) policy_errors.note(a, b, expected, from_policy);
            if (from_instance != expected) instance_errors.note(a, b, expected, from_instance);
            if (from_parsed != expected) parsed_errors.note(a, b, expected, from_parsed);
            if (from_policy != static_cast<wide>(a) * b) equals_exact = false;
        }
    }
    INFO("policy: ", policy_errors.describe());
    INFO("design_instance: ", instance_errors.describe());
    INFO("parsed design_instance table: ", parsed_errors.describe());
    CHECK(policy_errors.count == 0);
    CHECK(instance_errors.count == 0);
    CHECK(parsed_errors.count == 0);
    CHECK(policy.is_exact == equals_exact);
    CHECK(instance.is_exact() == equals_exact);
    CHECK(parsed.is_exact() == equals_exact);
}

template <class Policy>
void check_policy(const reference_family& reference, const std::vector<int>& values) {
    check_instance(view_of<Policy>(), reference, values,
                   Policy::is_signed ? signedness::signed_operands : signedness::unsigned_operands);
}

// Many instances of one family: views[i] is the policy with parameter values values[i]. Going through function
// pointers keeps each instantiation a small function of its own (a fold expression over hundreds of inlined
// checks takes the optimiser minutes).
using view_function = policy_view (*)();

void check_instances(std::span<const view_function> views, const reference_family& reference,
                     const std::vector<std::vector<int>>& values) {
    REQUIRE(views.size() == values.size());
    for (std::size_t i = 0; i < views.size(); ++i) {
        const policy_view view = views[i]();
        check_instance(view, reference, values[i],
                       view.is_signed ? signedness::signed_operands : signedness::unsigned_operands);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The parameter sets: every valid value, from the documented ranges.

struct parameter_pair {
    int first;
    int second;
};

// Broken array: 0 <= h < 8, h <= v < 16.
constexpr std::size_t broken_array_count = [] {
    std::size_t n = 0;
    for (int h = 0; h < 8; ++h) {
        for (int v = h; v < 16; ++v) ++n;
    }
    return n;
}();
constexpr auto broken_array_parameters = [] {
    std::array<parameter_pair, broken_array_count> out{};
    std::size_t n = 0;
    for (int h = 0; h < 8; ++h) {
        for (int v = h; v < 16; ++v) out[n++] = {h, v};
    }
    return out;
}();
static_assert(broken_array_count == 100);

// Perforation: first row 0 <= j < 8, m >= 0 rows, j + m <= 8.
constexpr std::size_t perforation_count = [] {
    std::size_t n = 0;
    for (int j = 0; j < 8; ++j) {
        for (int m = 0; j + m <= 8; ++m) ++n;
    }
    return n;
}();
constexpr auto perforation_parameters = [] {
    std::array<parameter_pair, perforation_count> out{};
    std::size_t n = 0;
    for (int j = 0; j < 8; ++j) {
        for (int m = 0; j + m <= 8; ++m) out[n++] = {j, m};
    }
    return out;
}();
static_assert(perforation_count == 44);

const reference_family exact_reference{"exact", {}, reference_exact};
const reference_family column_truncation_reference{"column_truncation", {"k"}, reference_column_truncation};
const reference_family column_truncation_corrected_reference{"column_truncation_corrected", {"k"},
                                                             reference_column_truncation_corrected};
const reference_family operand_truncation_reference{"operand_truncation", {"t"}, reference_operand_truncation};
const reference_family broken_array_reference{"broken_array", {"h", "v"}, reference_broken_array};
const reference_family perforation_reference{"perforation", {"j", "m"}, reference_perforation};
const reference_family drum_reference{"drum", {"k"}, reference_drum};
const reference_family mitchell_reference{"mitchell", {}, reference_mitchell};
const reference_family mbm_reference{"mbm", {"c"}, reference_mbm};
const reference_family kulkarni_reference{"kulkarni", {}, reference_kulkarni};
const reference_family roba_reference{"roba", {}, reference_roba};

template <class Op, std::size_t... K>
void check_column_truncation(std::index_sequence<K...>) {
    constexpr std::array<view_function, sizeof...(K)> views{&view_of<am::column_truncation<Op, static_cast<int>(K)>>...};
    check_instances(views, column_truncation_reference, {{static_cast<int>(K)}...});
}
template <class Op, std::size_t... K>
void check_column_truncation_corrected(std::index_sequence<K...>) {
    constexpr std::array<view_function, sizeof...(K)> views{
        &view_of<am::column_truncation_corrected<Op, static_cast<int>(K)>>...};
    check_instances(views, column_truncation_corrected_reference, {{static_cast<int>(K)}...});
}
template <class Op, std::size_t... T>
void check_operand_truncation(std::index_sequence<T...>) {
    constexpr std::array<view_function, sizeof...(T)> views{&view_of<am::operand_truncation<Op, static_cast<int>(T)>>...};
    check_instances(views, operand_truncation_reference, {{static_cast<int>(T)}...});
}
template <class Op, std::size_t... I>
void check_broken_array(std::index_sequence<I...>) {
    constexpr std::array<view_function, sizeof...(I)> views{
        &view_of<am::broken_array<Op, broken_array_parameters[I].first, broken_array_parameters[I].second>>...};
    check_instances(views, broken_array_reference,
                    {{broken_array_parameters[I].first, broken_array_parameters[I].second}...});
}
template <class Op, std::size_t... I>
void check_perforation(std::index_sequence<I...>) {
    constexpr std::array<view_function, sizeof...(I)> views{
        &view_of<am::perforation<Op, perforation_parameters[I].first, perforation_parameters[I].second>>...};
    check_instances(views, perforation_reference,
                    {{perforation_parameters[I].first, perforation_parameters[I].second}...});
}
template <class Op, std::size_t... I>
void check_drum(std::index_sequence<I...>) {  // k = 1 + I
    constexpr std::array<view_function, sizeof...(I)> views{&view_of<am::drum<Op, static_cast<int>(I) + 1>>...};
    check_instances(views, drum_reference, {{static_cast<int>(I) + 1}...});
}
template <class Op, std::size_t... C>
void check_mbm(std::index_sequence<C...>) {
    constexpr std::array<view_function, sizeof...(C)> views{&view_of<am::mbm<Op, static_cast<int>(C)>>...};
    check_instances(views, mbm_reference, {{static_cast<int>(C)}...});
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// The parameter sets enumerated above are exactly the valid ones of each family.

namespace {
template <class F>
std::size_t count_valid_parameters() {
    constexpr std::size_t n = F::parameter_specs.size();
    am::family_parameters<F> p{};
    for (std::size_t i = 0; i < n; ++i) p[i] = F::parameter_specs[i].min;
    std::size_t valid = 0;
    while (true) {
        if (am::parameters_valid<F>(p)) ++valid;
        std::size_t i = 0;
        while (i < n && p[i] == F::parameter_specs[i].max) {
            p[i] = F::parameter_specs[i].min;
            ++i;
        }
        if (i == n) break;
        ++p[i];
    }
    return valid;
}

template <class F>
void check_ranges(std::vector<std::string_view> names, std::vector<int> minima, std::vector<int> maxima) {
    INFO("family ", F::name);
    REQUIRE(F::parameter_specs.size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        CHECK(F::parameter_specs[i].name == names[i]);
        CHECK(F::parameter_specs[i].min == minima[i]);
        CHECK(F::parameter_specs[i].max == maxima[i]);
    }
}
}  // namespace

TEST_CASE("families: parameter ranges and the enumerated parameter sets cover every valid instance") {
    check_ranges<am::exact_family>({}, {}, {});
    check_ranges<am::column_truncation_family>({"k"}, {0}, {15});
    check_ranges<am::column_truncation_corrected_family>({"k"}, {0}, {15});
    check_ranges<am::operand_truncation_family>({"t"}, {0}, {8});
    check_ranges<am::broken_array_family>({"h", "v"}, {0, 0}, {7, 15});
    check_ranges<am::perforation_family>({"j", "m"}, {0, 0}, {7, 8});
    check_ranges<am::drum_family>({"k"}, {1}, {7});
    check_ranges<am::mitchell_family>({}, {}, {});
    check_ranges<am::mbm_family>({"c"}, {0}, {127});
    check_ranges<am::kulkarni_family>({}, {}, {});
    check_ranges<am::roba_family>({}, {}, {});

    CHECK(count_valid_parameters<am::broken_array_family>() == broken_array_count);
    for (const parameter_pair& p : broken_array_parameters) {
        CHECK(am::parameters_valid<am::broken_array_family>({p.first, p.second}));
    }
    CHECK_FALSE(am::parameters_valid<am::broken_array_family>({3, 2}));  // h > v
    CHECK(count_valid_parameters<am::perforation_family>() == perforation_count);
    for (const parameter_pair& p : perforation_parameters) {
        CHECK(am::parameters_valid<am::perforation_family>({p.first, p.second}));
    }
    CHECK_FALSE(am::parameters_valid<am::perforation_family>({5, 4}));  // j + m > 8
    CHECK(count_valid_parameters<am::column_truncation_family>() == 16);
    CHECK(count_valid_parameters<am::operand_truncation_family>() == 9);
    CHECK(count_valid_parameters<am::drum_family>() == 7);
    CHECK(count_valid_parameters<am::mbm_family>() == 128);
    CHECK(count_valid_parameters<am::exact_family>() == 1);

    std::vector<std::string_view> names;
    for (const am::family_info& f : am::design_families()) names.push_back(f.name);
    CHECK(names == std::vector<std::string_view>{"exact", "column_truncation", "column_truncation_corrected",
                                                 "operand_truncation", "broken_array", "perforation", "drum",
                                                 "mitchell", "mbm", "kulkarni", "roba"});
}

// ---------------------------------------------------------------------------------------------------------------
// Exhaustive comparison with the references.

TEST_CASE("exact u8: equals the reference") { check_policy<am::exact<std::uint8_t>>(exact_reference, {}); }
TEST_CASE("exact s8: equals the reference") { check_policy<am::exact<std::int8_t>>(exact_reference, {}); }

TEST_CASE("column_truncation u8: every k equals the reference") {
    check_column_truncation<std::uint8_t>(std::make_index_sequence<16>{});
}
TEST_CASE("column_truncation s8: every k equals the reference") {
    check_column_truncation<std::int8_t>(std::make_index_sequence<16>{});
}

TEST_CASE("column_truncation_corrected u8: every k equals the reference") {
    check_column_truncation_corrected<std::uint8_t>(std::make_index_sequence<16>{});
}
TEST_CASE("column_truncation_corrected s8: every k equals the reference") {
    check_column_truncation_corrected<std::int8_t>(std::make_index_sequence<16>{});
}

TEST_CASE("operand_truncation u8: every t equals the reference") {
    check_operand_truncation<std::uint8_t>(std::make_index_sequence<9>{});
}
TEST_CASE("operand_truncation s8: every t equals the reference") {
    check_operand_truncation<std::int8_t>(std::make_index_sequence<9>{});
}

TEST_CASE("broken_array u8: every (h, v) equals the reference") {
    check_broken_array<std::uint8_t>(std::make_index_sequence<broken_array_count>{});
}
TEST_CASE("broken_array s8: every (h, v) equals the reference") {
    check_broken_array<std::int8_t>(std::make_index_sequence<broken_array_count>{});
}

TEST_CASE("perforation u8: every (j, m) equals the reference") {
    check_perforation<std::uint8_t>(std::make_index_sequence<perforation_count>{});
}
TEST_CASE("perforation s8: every (j, m) equals the reference") {
    check_perforation<std::int8_t>(std::make_index_sequence<perforation_count>{});
}

TEST_CASE("drum u8: every k equals the reference") { check_drum<std::uint8_t>(std::make_index_sequence<7>{}); }
TEST_CASE("drum s8: every k equals the reference") { check_drum<std::int8_t>(std::make_index_sequence<7>{}); }

TEST_CASE("mitchell u8: equals the reference") { check_policy<am::mitchell<std::uint8_t>>(mitchell_reference, {}); }
TEST_CASE("mitchell s8: equals the reference") { check_policy<am::mitchell<std::int8_t>>(mitchell_reference, {}); }

TEST_CASE("mbm u8: every c equals the reference") { check_mbm<std::uint8_t>(std::make_index_sequence<128>{}); }
TEST_CASE("mbm s8: every c equals the reference") { check_mbm<std::int8_t>(std::make_index_sequence<128>{}); }

TEST_CASE("kulkarni u8: equals the reference") { check_policy<am::kulkarni<std::uint8_t>>(kulkarni_reference, {}); }
TEST_CASE("kulkarni s8: equals the reference") { check_policy<am::kulkarni<std::int8_t>>(kulkarni_reference, {}); }

TEST_CASE("roba u8: equals the reference") { check_policy<am::roba<std::uint8_t>>(roba_reference, {}); }
TEST_CASE("roba s8: equals the reference") { check_policy<am::roba<std::int8_t>>(roba_reference, {}); }

// ---------------------------------------------------------------------------------------------------------------
// Anchor facts from the documentation, computed by hand.

TEST_CASE("column_truncation_corrected u8/s8: the correction constants computed by hand") {
    // Column c of the 8x8 array holds min(c + 1, 15 - c) cells of weight 2^c. Removing columns < k removes
    //   k = 1: 1                                  -> round(1/4)     = 0
    //   k = 2: 1 + 2*2 = 5                        -> round(5/4)     = 1
    //   k = 3: 5 + 3*4 = 17                       -> round(17/4)    = 4
    //   k = 4: 17 + 4*8 = 49                      -> round(49/4)    = 12
    //   k = 5: 49 + 5*16 = 129                    -> round(129/4)   = 32
    //   k = 8: sum_{c<8} (c+1) 2^c = 7*2^8 + 1 = 1793 -> round(1793/4) = 448
    //   k = 15: every cell, 255*255 = 65025       -> round(65025/4) = 16256
    // The removed sum is odd for k >= 1, so the rounding never ties.
    CHECK(am::column_truncation_corrected<std::uint8_t, 0>::multiply(0, 0) == 0);
    CHECK(am::column_truncation_corrected<std::uint8_t, 1>::multiply(0, 0) == 0);
    CHECK(am::column_truncation_corrected<std::uint8_t, 2>::multiply(0, 0) == 1);
    CHECK(am::column_truncation_corrected<std::uint8_t, 3>::multiply(0, 0) == 4);
    CHECK(am::column_truncation_corrected<std::uint8_t, 4>::multiply(0, 0) == 12);
    CHECK(am::column_truncation_corrected<std::uint8_t, 5>::multiply(0, 0) == 32);
    CHECK(am::column_truncation_corrected<std::uint8_t, 8>::multiply(0, 0) == 448);
    CHECK(am::column_truncation_corrected<std::uint8_t, 15>::multiply(0, 0) == 16256);
    CHECK(am::column_truncation_corrected<std::uint8_t, 15>::multiply(255, 255) == 16256);  // nothing is kept
    CHECK(reference_correction(4) == 12);
    CHECK(reference_correction(8) == 448);
    CHECK(reference_correction(15) == 16256);

    // k = 4 adds 12 to every plain column-truncation product.
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const auto ua = static_cast<std::uint8_t>(a);
            const auto ub = static_cast<std::uint8_t>(b);
            if (am::column_truncation_corrected<std::uint8_t, 4>::multiply(ua, ub) !=
                am::column_truncation<std::uint8_t, 4>::multiply(ua, ub) + 12) {
                FAIL_CHECK("k = 4 correction is not 12 at (", a, ", ", b, ")");
            }
        }
    }
    // 15 * 15 with k = 4: cells of columns >= 4 of 0b1111 x 0b1111 are 3*16 + 2*32 + 1*64 = 176, plus 12.
    CHECK(am::column_truncation<std::uint8_t, 4>::multiply(15, 15) == 176);
    CHECK(am::column_truncation_corrected<std::uint8_t, 4>::multiply(15, 15) == 188);
    // Signed: sign-magnitude with sgn(0) = 0, so a zero operand gives 0 despite the constant.
    CHECK(am::column_truncation_corrected<std::int8_t, 4>::multiply(0, -5) == 0);
    CHECK(am::column_truncation_corrected<std::int8_t, 4>::multiply(-1, 1) == -12);
    CHECK(am::column_truncation_corrected<std::int8_t, 4>::multiply(-15, -15) == 188);
}

TEST_CASE("mitchell u8: integral, never overestimates, largest relative error exactly 1/9 at x1 = x2 = 0.5") {
    using mitchell = am::mitchell<std::uint8_t>;
    CHECK(mitchell::multiply(3, 3) == 8);
    CHECK(mitchell::multiply(6, 6) == 32);
    CHECK(mitchell::multiply(192, 3) == 512);  // 1.5 * 2^7 times 1.5 * 2^1: 2^9 (0.5 + 0.5)
    CHECK(mitchell::multiply(255, 255) == 65024);
    CHECK(mitchell::multiply(0, 77) == 0);
    CHECK(am::mitchell<std::int8_t>::multiply(-3, 3) == -8);
    CHECK(am::mitchell<std::int8_t>::multiply(-128, -128) == 16384);

    long non_integral = 0;
    long overestimates = 0;
    long worst_pairs = 0;
    long worst_pairs_at_half = 0;
    bool beyond_one_ninth = false;
    for (unsigned a = 1; a < 256; ++a) {
        for (unsigned b = 1; b < 256; ++b) {
            const double real = reference_mitchell_real(a, b);
            if (real != std::floor(real)) ++non_integral;
            const wide m = mitchell::multiply(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b));
            const wide exact = static_cast<wide>(a) * b;
            if (m > exact) ++overestimates;
            // relative error (exact - m) / exact compared with 1/9 in integers
            if (9 * (exact - m) > exact) beyond_one_ninth = true;
            if (9 * (exact - m) == exact) {
                ++worst_pairs;
                if (log_forms()[a].fraction == 0.5 && log_forms()[b].fraction == 0.5) ++worst_pairs_at_half;
            }
        }
    }
    CHECK(non_integral == 0);
    CHECK(overestimates == 0);
    CHECK_FALSE(beyond_one_ninth);
    // Operands 3 * 2^p (x = 0.5) for p = 0..6: 7 values each, 49 pairs, and no others reach 1/9.
    CHECK(worst_pairs == 49);
    CHECK(worst_pairs_at_half == 49);

    // A power-of-two operand has x = 0, so the product is exact.
    for (unsigned a = 0; a < 256; ++a) {
        for (int p = 0; p < 8; ++p) {
            const unsigned b = 1U << p;
            CHECK(mitchell::multiply(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)) ==
                  static_cast<wide>(a * b));
        }
    }
}

TEST_CASE("mbm u8: c = 0 is Mitchell, the default is c = 10 (2^-4 + 2^-6), and it is less biased") {
    static_assert(std::is_same_v<am::mbm<std::uint8_t>, am::mbm<std::uint8_t, 10>>);
    CHECK(std::ldexp(10.0, -7) == std::ldexp(1.0, -4) + std::ldexp(1.0, -6));
    // 255 * 255: k1 = k2 = 7, x1 = x2 = 127/128, x1 + x2 >= 1: 2^15 (254/128 + 5/128) = 256 * 259.
    CHECK(am::mbm<std::uint8_t>::multiply(255, 255) == 66304);
    // 128 * 128: x1 = x2 = 0: 2^14 (1 + 10/128) = 16384 + 1280.
    CHECK(am::mbm<std::uint8_t>::multiply(128, 128) == 17664);
    // 3 * 3: 2^3 (0.5 + 0.5 + 5/128) = 8.3125, floored.
    CHECK(am::mbm<std::uint8_t>::multiply(3, 3) == 8);
    CHECK(am::mbm<std::uint8_t>::multiply(0, 200) == 0);

    wide mitchell_error_sum = 0;
    wide mbm_error_sum = 0;
    long differ_from_mitchell = 0;
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const auto ua = static_cast<std::uint8_t>(a);
            const auto ub = static_cast<std::uint8_t>(b);
            const wide mitchell = am::mitchell<std::uint8_t>::multiply(ua, ub);
            if (am::mbm<std::uint8_t, 0>::multiply(ua, ub) != mitchell) ++differ_from_mitchell;
            mitchell_error_sum += mitchell - a * b;
            mbm_error_sum += am::mbm<std::uint8_t>::multiply(ua, ub) - a * b;
        }
    }
    CHECK(differ_from_mitchell == 0);
    CHECK(mitchell_error_sum < 0);
    CHECK(std::llabs(mbm_error_sum) < std::llabs(mitchell_error_sum));
}

TEST_CASE("kulkarni u8: 3 x 3 = 7 in every 2x2 block, everything else exact") {
    using kulkarni = am::kulkarni<std::uint8_t>;
    CHECK(kulkarni::multiply(3, 3) == 7);
    CHECK(kulkarni::multiply(12, 12) == 112);         // digit 3 at position 1 in both: 7 << 4
    CHECK(kulkarni::multiply(255, 255) == 50575);     // 7 * (1 + 4 + 16 + 64)^2 = 7 * 7225
    CHECK(kulkarni::multiply(0xAA, 0xAA) == 0xAA * 0xAA);  // digits 2: every block exact
    for (int a = 0; a < 4; ++a) {
        for (int b = 0; b < 4; ++b) {
            CHECK(kulkarni::multiply(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)) ==
                  (a == 3 && b == 3 ? 7 : a * b));
        }
    }
    CHECK(am::kulkarni<std::int8_t>::multiply(-3, 3) == -7);
    CHECK(am::kulkarni<std::int8_t>::multiply(-128, -128) == 16384);  // 128 = digit 2 at position 3: exact
}

TEST_CASE("roba u8: nearest power of two with ties up (3 -> 4, 6 -> 8, 5 -> 4)") {
    CHECK(am::roba_family::round_to_power_of_two(0) == 0);
    CHECK(am::roba_family::round_to_power_of_two(1) == 1);
    CHECK(am::roba_family::round_to_power_of_two(3) == 4);
    CHECK(am::roba_family::round_to_power_of_two(5) == 4);
    CHECK(am::roba_family::round_to_power_of_two(6) == 8);
    CHECK(am::roba_family::round_to_power_of_two(7) == 8);
    CHECK(am::roba_family::round_to_power_of_two(191) == 128);
    CHECK(am::roba_family::round_to_power_of_two(192) == 256);
    for (unsigned x = 0; x < 256; ++x) {
        CHECK(static_cast<wide>(am::roba_family::round_to_power_of_two(x)) == reference_nearest_power_of_two(x));
    }
    // M = AB - (A - A_r)(B - B_r), so the products reveal the rounding direction:
    using roba = am::roba<std::uint8_t>;
    CHECK(roba::multiply(3, 5) == 16);  // 3 -> 4, 5 -> 4: 15 - (-1)(1)   (3 -> 2 would give 14)
    CHECK(roba::multiply(6, 5) == 32);  // 6 -> 8, 5 -> 4: 30 - (-2)(1)   (6 -> 4 would give 28)
    CHECK(roba::multiply(5, 3) == 16);  // 5 -> 4, 3 -> 4: 15 - (1)(-1)   (5 -> 8 would give 12)
    CHECK(roba::multiply(3, 3) == 8);
    CHECK(roba::multiply(0, 9) == 0);
    CHECK(am::roba<std::int8_t>::multiply(-6, 5) == -32);
    // A power-of-two operand is its own rounding: exact.
    for (unsigned a = 0; a < 256; ++a) {
        for (int p = 0; p < 8; ++p) {
            CHECK(roba::multiply(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(1U << p)) ==
                  static_cast<wide>(a << p));
        }
    }
}

TEST_CASE("drum u8: DRUM(4) keeps 240 of 255 and makes 128 into 144") {
    // 255 = 1111'1111b: leading one at 7, the 4 bits 1111 from it, lowest forced to 1, shift 7 - 4 + 1 = 4.
    CHECK(am::drum<std::uint8_t, 4>::multiply(255, 1) == 240);
    CHECK(am::drum<std::uint8_t, 4>::multiply(1, 255) == 240);
    // 128 = 1000'0000b: bits 1000 -> 1001 = 9, shift 4: 144 (DRUM rounds towards the middle; it may overestimate).
    CHECK(am::drum<std::uint8_t, 4>::multiply(128, 1) == 144);
    CHECK(am::drum<std::uint8_t, 4>::multiply(255, 255) == 225 << 8);
    CHECK(am::drum<std::uint8_t, 4>::multiply(15, 15) == 225);  // t(15) = 3 <= k - 1: kept whole
    CHECK(am::drum<std::uint8_t, 4>::multiply(16, 16) == 324);  // 10000b -> 1001b << 1 = 18 each
    CHECK(am::drum<std::uint8_t, 7>::multiply(255, 255) == (127 * 127) << 2);
    CHECK(am::drum<std::uint8_t, 1>::multiply(200, 100) == 128 * 64);  // k = 1 keeps only the leading one
    CHECK(am::drum<std::int8_t, 4>::multiply(-128, 1) == -144);
}

TEST_CASE("cross-family identities of the definitions") {
    // BAM with h = 0 is column truncation with k = v; operand truncation t = 8, column truncation k = 15 and
    // perforation of all 8 rows keep nothing; perforation is exact on operands whose perforated rows are zero.
    long bam_vs_ct = 0;
    long zero_designs = 0;
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const auto ua = static_cast<std::uint8_t>(a);
            const auto ub = static_cast<std::uint8_t>(b);
            if (am::broken_array<std::uint8_t, 0, 6>::multiply(ua, ub) !=
                am::column_truncation<std::uint8_t, 6>::multiply(ua, ub)) {
                ++bam_vs_ct;
            }
            if (am::operand_truncation<std::uint8_t, 8>::multiply(ua, ub) != 0 ||
                am::column_truncation<std::uint8_t, 15>::multiply(ua, ub) != 0 ||
                am::perforation<std::uint8_t, 0, 8>::multiply(ua, ub) != 0 ||
                am::broken_array<std::uint8_t, 7, 15>::multiply(ua, ub) != 0) {
                ++zero_designs;
            }
        }
    }
    CHECK(bam_vs_ct == 0);
    CHECK(zero_designs == 0);
    CHECK(am::perforation<std::uint8_t, 2, 3>::multiply(1, 255) == 255 - 4 - 8 - 16);
    CHECK(am::perforation<std::uint8_t, 2, 3>::multiply(255, 1) == 255);  // perforates rows of the second operand
    CHECK(am::broken_array<std::uint8_t, 2, 2>::multiply(255, 3) == 0);    // rows 0 and 1 removed
    CHECK(am::broken_array<std::uint8_t, 2, 2>::multiply(3, 255) == 3 * 252);
}
