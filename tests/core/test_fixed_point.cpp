#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <type_traits>

#include "approxnn/core/fixed_point.hpp"
#include "approxnn/core/output_stage.hpp"

using approxnn::quantized_multiplier;

namespace {
quantized_multiplier quantize(double real) {
    quantized_multiplier q;
    REQUIRE(approxnn::quantize_multiplier(real, q));
    return q;
}
}  // namespace

TEST_CASE("rounding_divide_by_pot rounds to nearest, ties away from zero") {
    using approxnn::rounding_divide_by_pot;
    CHECK(rounding_divide_by_pot(5, 1) == 3);    // 2.5
    CHECK(rounding_divide_by_pot(-5, 1) == -3);  // -2.5
    CHECK(rounding_divide_by_pot(4, 1) == 2);
    CHECK(rounding_divide_by_pot(-4, 1) == -2);
    CHECK(rounding_divide_by_pot(7, 2) == 2);    // 1.75
    CHECK(rounding_divide_by_pot(-7, 2) == -2);  // -1.75
    CHECK(rounding_divide_by_pot(6, 2) == 2);    // 1.5
    CHECK(rounding_divide_by_pot(-6, 2) == -2);  // -1.5
    CHECK(rounding_divide_by_pot(5, 2) == 1);    // 1.25
    CHECK(rounding_divide_by_pot(-5, 2) == -1);  // -1.25
    CHECK(rounding_divide_by_pot(123, 0) == 123);
}

TEST_CASE("saturating_rounding_doubling_high_mul") {
    using approxnn::saturating_rounding_doubling_high_mul;
    constexpr std::int32_t min = std::numeric_limits<std::int32_t>::min();
    CHECK(saturating_rounding_doubling_high_mul(min, min) == std::numeric_limits<std::int32_t>::max());
    CHECK(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30) == (1 << 29));  // 2^60 * 2 / 2^32
    CHECK(saturating_rounding_doubling_high_mul(100, 1 << 30) == 50);             // 100 * 0.5
    CHECK(saturating_rounding_doubling_high_mul(3, 1 << 30) == 2);                // 1.5, nudged up
    CHECK(saturating_rounding_doubling_high_mul(-3, 1 << 30) == -1);              // -1.5, truncated after the nudge
}

TEST_CASE("quantize_multiplier represents a scale as multiplier * 2^(shift - 31)") {
    CHECK(quantize(0.5) == quantized_multiplier{1 << 30, 0});
    CHECK(quantize(1.0) == quantized_multiplier{1 << 30, 1});
    CHECK(quantize(0.25) == quantized_multiplier{1 << 30, -1});
    CHECK(quantize(0.75) == quantized_multiplier{3 << 29, 0});
    CHECK(quantize(0.0) == quantized_multiplier{0, 0});
    CHECK(quantize(1e-30) == quantized_multiplier{0, 0});  // below 2^-31: a zero scale
    quantized_multiplier q;
    CHECK_FALSE(approxnn::quantize_multiplier(-0.5, q));
    CHECK_FALSE(approxnn::quantize_multiplier(std::nan(""), q));
    CHECK_FALSE(approxnn::quantize_multiplier(1e12, q));
    // 1 - 2^-40 rounds up to 2^31 and renormalises.
    CHECK(quantize(1.0 - std::ldexp(1.0, -40)) == quantized_multiplier{1 << 30, 1});
}

TEST_CASE("multiply_by_quantized_multiplier matches TFLite's results") {
    using approxnn::multiply_by_quantized_multiplier;
    CHECK(multiply_by_quantized_multiplier(100, quantize(0.5)) == 50);
    CHECK(multiply_by_quantized_multiplier(3, quantize(0.5)) == 2);    // 1.5 -> 2
    CHECK(multiply_by_quantized_multiplier(-3, quantize(0.5)) == -1);  // TFLite's double rounding: -1.5 -> -1
    // Double rounding, as in TFLite: 5 * 0.5 = 2.5 -> 3 in the high multiply, then 3 / 2 = 1.5 -> 2 (not 1.25 -> 1).
    CHECK(multiply_by_quantized_multiplier(5, quantize(0.25)) == 2);
    CHECK(multiply_by_quantized_multiplier(6, quantize(0.25)) == 2);   // 1.5 -> 2
    CHECK(multiply_by_quantized_multiplier(-6, quantize(0.25)) == -2);  // -1.5 -> -2 (ties away in the shift)
    CHECK(multiply_by_quantized_multiplier(1000, quantize(2.5)) == 2500);  // left shift path
    // Any scale: each of the two roundings is off by at most 1/2 (in its own unit), so within one unit overall.
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::int32_t> xs(-(1 << 20), 1 << 20);
    std::uniform_real_distribution<double> scales(1e-5, 0.999);
    for (int i = 0; i < 20000; ++i) {
        const std::int32_t x = xs(rng);
        const quantized_multiplier q = quantize(scales(rng));
        const double exact = x * (q.multiplier * std::ldexp(1.0, q.shift - 31));
        CHECK(std::fabs(multiply_by_quantized_multiplier(x, q) - exact) <= 1.0 + 1e-9);
    }
}

TEST_CASE("output stages run in order and the last one fixes the type") {
    using namespace approxnn;
    const std::int32_t bias[2] = {10, -1000};
    const quantized_multiplier scales[2] = {quantize(0.5), quantize(0.25)};
    const auto pipeline = quantized_output<std::int8_t>(bias, requantize_stage{scales, {}, 3});
    static_assert(std::is_same_v<pipeline_output_t<decltype(pipeline)>, std::int8_t>);
    static_assert(std::is_same_v<pipeline_output_t<std::tuple<>>, std::int32_t>);
    CHECK(apply_output_stages(100, 0, pipeline) == 58);     // (100 + 10) * 0.5 + 3
    CHECK(apply_output_stages(100, 1, pipeline) == -128);   // (100 - 1000) * 0.25 + 3 = -222 -> clamped
    CHECK(apply_output_stages(1000, 0, pipeline) == 127);   // 508 -> clamped
    CHECK(apply_output_stages(7, 0, std::tuple<>{}) == 7);
    const auto relu6 = std::tuple{bias_stage{}, clamp_stage{0, 6}};
    CHECK(apply_output_stages(9, 0, relu6) == 6);
    CHECK(apply_output_stages(-9, 0, relu6) == 0);
    CHECK(apply_output_stages(300, 0, std::tuple{saturate_to<std::uint8_t>{}}) == 255);
}
