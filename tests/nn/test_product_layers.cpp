// The product layers of nn/ (conv2d, linear; product_layer.hpp): finite-difference gradients of every convolution
// geometry, fake quantisation against the documented formulas, the straight-through estimator, approximate products
// against a scalar reference computed here from the integer codes, operand traces, output hooks, and the errors.
//
// The references below are independent of the layers: one im2col walk (for_each_column_entry) feeds the float
// convolution, the integer product with any multiplier M(a, w) and the expected trace rows.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/multipliers/table.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/tensor.hpp"
#include "gradient_check.hpp"
#include "test_support.hpp"

namespace {

namespace nn = approxnn::nn;
namespace gc = gradient_check;
namespace am = approxnn::multipliers;
namespace ag = approxnn::gemm;
using approxnn::parameter_error;
using approxnn::shape_error;
using approxnn::signedness;
using test_support::check_throws_with;

// ----------------------------------------------------------------------------------------------------------------
// Geometry and the independent im2col walk.

/// A convolution (or, with 1x1 spatial size and a 1x1 kernel, a linear layer) and its input.
struct geometry {
    std::string name;
    std::size_t batch = 1, height = 1, width = 1, in_channels = 1, out_channels = 1;
    nn::conv2d_options options{};

    [[nodiscard]] const approxnn::conv::conv2d_params& p() const { return options.params; }
    [[nodiscard]] std::size_t groups() const { return p().groups; }
    [[nodiscard]] std::size_t in_per_group() const { return in_channels / groups(); }
    [[nodiscard]] std::size_t out_per_group() const { return out_channels / groups(); }
    [[nodiscard]] std::size_t depth() const { return options.kernel_h * options.kernel_w * in_per_group(); }
    [[nodiscard]] std::size_t out_h() const {
        const std::size_t extent = p().dilation_h * (options.kernel_h - 1) + 1;
        return (height + p().pad_top + p().pad_bottom - extent) / p().stride_h + 1;
    }
    [[nodiscard]] std::size_t out_w() const {
        const std::size_t extent = p().dilation_w * (options.kernel_w - 1) + 1;
        return (width + p().pad_left + p().pad_right - extent) / p().stride_w + 1;
    }
    [[nodiscard]] std::size_t pixels() const { return batch * out_h() * out_w(); }
    [[nodiscard]] nn::shape_t input_shape() const { return {batch, height, width, in_channels}; }
    [[nodiscard]] nn::shape_t output_shape() const { return {batch, out_h(), out_w(), out_channels}; }
};

nn::conv2d_options square(std::size_t kernel, std::size_t stride, std::size_t padding, std::size_t groups = 1,
                          bool bias = true) {
    return nn::conv2d_options::square(kernel, stride, padding, groups, bias);
}

/// A linear layer (N, in) -> (N, out) seen as a 1x1 convolution of N images of 1x1 pixel.
geometry linear_geometry(std::size_t batch, std::size_t in, std::size_t out) {
    return {"linear " + std::to_string(in) + " -> " + std::to_string(out), batch, 1, 1, in, out, square(1, 1, 0)};
}

constexpr std::size_t in_padding = std::numeric_limits<std::size_t>::max();

/// Calls fn(group, pixel, k, input index) for every entry of every group's im2col matrix (pixels batch-major, then
/// row, then column; k = (i * kernel_w + j) * in_per_group + c); the input index is in_padding in the padding.
template <class F>
void for_each_column_entry(const geometry& g, F&& fn) {
    const std::size_t oh = g.out_h(), ow = g.out_w(), cg = g.in_per_group();
    for (std::size_t gr = 0; gr < g.groups(); ++gr) {
        for (std::size_t b = 0; b < g.batch; ++b) {
            for (std::size_t oy = 0; oy < oh; ++oy) {
                for (std::size_t ox = 0; ox < ow; ++ox) {
                    const std::size_t pixel = (b * oh + oy) * ow + ox;
                    for (std::size_t i = 0; i < g.options.kernel_h; ++i) {
                        for (std::size_t j = 0; j < g.options.kernel_w; ++j) {
                            const long iy = static_cast<long>(oy * g.p().stride_h + i * g.p().dilation_h) -
                                            static_cast<long>(g.p().pad_top);
                            const long ix = static_cast<long>(ox * g.p().stride_w + j * g.p().dilation_w) -
                                            static_cast<long>(g.p().pad_left);
                            const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<long>(g.height) &&
                                                ix < static_cast<long>(g.width);
                            for (std::size_t c = 0; c < cg; ++c) {
                                const std::size_t k = (i * g.options.kernel_w + j) * cg + c;
                                const std::size_t at =
                                    inside ? ((b * g.height + static_cast<std::size_t>(iy)) * g.width +
                                              static_cast<std::size_t>(ix)) * g.in_channels + gr * cg + c
                                           : in_padding;
                                fn(gr, pixel, k, at);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y[pixel * out + o] = sum over the im2col row of x[.] * w[o * depth + k] (zero padding), in double.
std::vector<double> reference_float_conv(const geometry& g, const std::vector<double>& x, const std::vector<double>& w) {
    std::vector<double> y(g.pixels() * g.out_channels, 0.0);
    const std::size_t og = g.out_per_group(), depth = g.depth();
    for_each_column_entry(g, [&](std::size_t gr, std::size_t pixel, std::size_t k, std::size_t at) {
        if (at == in_padding) return;
        for (std::size_t o = gr * og; o < (gr + 1) * og; ++o) y[pixel * g.out_channels + o] += x[at] * w[o * depth + k];
    });
    return y;
}

// ----------------------------------------------------------------------------------------------------------------
// Quantisation by the formulas documented in quantisation.hpp, written out again here.

struct activation_params {
    float scale = 1.0F;
    std::int32_t zero_point = 0;
    std::int32_t code_min = 0, code_max = 255;
};

/// Scale and zero point of the range [range_lo, range_hi] (widened to contain 0).
activation_params activation_quantisation(signedness s, float range_lo, float range_hi) {
    const float lo = std::min(range_lo, 0.0F);
    const float hi = std::max(range_hi, 0.0F);
    activation_params q;
    if (s == signedness::signed_operands) {
        const float m = std::max(-lo, hi);
        q.scale = m > 0.0F ? m / 127.0F : 1.0F;
        q.zero_point = 0;
        q.code_min = -127;
        q.code_max = 127;
        return q;
    }
    if (hi - lo > 0.0F) {
        q.scale = (hi - lo) / 255.0F;
        q.zero_point = std::clamp(static_cast<std::int32_t>(std::nearbyint(-lo / q.scale)), 0, 255);
    }
    return q;
}

std::int32_t unclamped_code(float x, const activation_params& q) {
    return static_cast<std::int32_t>(std::nearbyint(x / q.scale)) + q.zero_point;
}
std::int32_t activation_code(float x, const activation_params& q) {
    return std::clamp(unclamped_code(x, q), q.code_min, q.code_max);
}
bool clipped(float x, const activation_params& q) { return unclamped_code(x, q) != activation_code(x, q); }

struct weight_params {
    std::vector<float> scales;          // per output channel
    std::vector<std::int32_t> codes;    // round(w / s) in [-127, 127], before the zero point
    std::int32_t zero_point = 0;        // 0 signed, 128 unsigned
};

weight_params weight_quantisation(const nn::tensor& w, signedness s, bool per_channel) {
    weight_params q;
    const std::size_t channels = w.dim(0), per = w.size() / channels;
    q.zero_point = s == signedness::signed_operands ? 0 : 128;
    float global = 0.0F;
    for (std::size_t o = 0; o < channels; ++o) {
        float m = 0.0F;
        for (std::size_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[o * per + i]));
        q.scales.push_back(m);
        global = std::max(global, m);
    }
    for (float& v : q.scales) {
        const float m = per_channel ? v : global;
        v = m > 0.0F ? m / 127.0F : 1.0F;
    }
    for (std::size_t o = 0; o < channels; ++o) {
        for (std::size_t i = 0; i < per; ++i) {
            q.codes.push_back(
                std::clamp(static_cast<std::int32_t>(std::nearbyint(w[o * per + i] / q.scales[o])), -127, 127));
        }
    }
    return q;
}

/// The raw byte of an operand value (int8 values as two's complement).
std::uint8_t raw_byte(std::int32_t value) { return static_cast<std::uint8_t>(value & 0xFF); }

/// Everything the reference needs about a quantised layer after a forward on x.
struct quantised_operands {
    activation_params activation;
    weight_params weights;
    std::vector<std::int32_t> x_codes;  // activation code values (zero point included)
};

quantised_operands quantise_operands(const nn::product_layer& layer, const nn::tensor& x) {
    const nn::quantisation q = *layer.quantisation_config();
    const nn::tensor& range = layer.input_quantiser().range();
    quantised_operands r;
    r.activation = activation_quantisation(q.scheme, range[0], range[1]);
    r.weights = weight_quantisation(layer.weight().value, q.scheme, q.per_channel_weights);
    for (float v : x) r.x_codes.push_back(activation_code(v, r.activation));
    return r;
}

/// y = x' * w' + bias with x', w' the dequantised codes (the fake-quantised float forward).
std::vector<double> reference_fake_quant(const geometry& g, const nn::product_layer& layer, const quantised_operands& q) {
    std::vector<double> x, w;
    for (std::int32_t c : q.x_codes) x.push_back(static_cast<double>((c - q.activation.zero_point) * q.activation.scale));
    const std::size_t depth = g.depth();
    for (std::size_t i = 0; i < q.weights.codes.size(); ++i) {
        w.push_back(static_cast<double>(static_cast<float>(q.weights.codes[i]) * q.weights.scales[i / depth]));
    }
    std::vector<double> y = reference_float_conv(g, x, w);
    if (const nn::parameter* b = const_cast<nn::product_layer&>(layer).bias()) {
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += b->value[i % g.out_channels];
    }
    return y;
}

/// M(activation byte, weight byte).
using product_fn = std::function<std::int32_t(std::uint8_t, std::uint8_t)>;

/// The integer accumulators: acc = sum_k M(a, w) - zw * sum_k a - za * sum_k w + K * za * zw over operand values,
/// with padded taps reading the activation zero point's code (as conv2d.hpp documents).
std::vector<std::int64_t> reference_accumulators(const geometry& g, const quantised_operands& q, signedness s,
                                                 const product_fn& product) {
    const std::size_t og = g.out_per_group(), depth = g.depth();
    const auto value = [s](std::uint8_t byte) -> std::int64_t {
        return s == signedness::signed_operands ? std::int64_t{static_cast<std::int8_t>(byte)} : std::int64_t{byte};
    };
    const std::int64_t za = q.activation.zero_point, zw = q.weights.zero_point;
    std::vector<std::int64_t> products(g.pixels() * g.out_channels, 0), sum_a(g.groups() * g.pixels(), 0);
    std::vector<std::int64_t> sum_w(g.out_channels, 0);
    for (std::size_t o = 0; o < g.out_channels; ++o) {
        for (std::size_t k = 0; k < depth; ++k) sum_w[o] += value(raw_byte(q.weights.codes[o * depth + k] + zw));
    }
    for_each_column_entry(g, [&](std::size_t gr, std::size_t pixel, std::size_t k, std::size_t at) {
        const std::uint8_t a = raw_byte(at == in_padding ? static_cast<std::int32_t>(za) : q.x_codes[at]);
        sum_a[gr * g.pixels() + pixel] += value(a);
        for (std::size_t o = gr * og; o < (gr + 1) * og; ++o) {
            products[pixel * g.out_channels + o] += product(a, raw_byte(q.weights.codes[o * depth + k] + zw));
        }
    });
    std::vector<std::int64_t> acc(products.size());
    for (std::size_t pixel = 0; pixel < g.pixels(); ++pixel) {
        for (std::size_t o = 0; o < g.out_channels; ++o) {
            const std::size_t gr = o / og;
            acc[pixel * g.out_channels + o] = products[pixel * g.out_channels + o] - zw * sum_a[gr * g.pixels() + pixel] -
                                              za * sum_w[o] + static_cast<std::int64_t>(depth) * za * zw;
        }
    }
    return acc;
}

// ----------------------------------------------------------------------------------------------------------------
// Layers.

std::unique_ptr<nn::product_layer> make_layer(const geometry& g, bool linear_layer = false) {
    if (linear_layer) return std::make_unique<nn::linear>(g.in_channels, g.out_channels, g.options.bias);
    return std::make_unique<nn::conv2d>(g.in_channels, g.out_channels, g.options);
}

nn::shape_t layer_input_shape(const geometry& g, bool linear_layer) {
    return linear_layer ? nn::shape_t{g.batch, g.in_channels} : g.input_shape();
}

void randomise(nn::product_layer& l, std::uint32_t seed) {
    l.weight().value = gc::uniform(l.weight().value.shape(), seed);
    if (nn::parameter* b = l.bias()) b->value = gc::uniform(b->value.shape(), seed + 1, -0.5F, 0.5F);
}

/// The convolution geometries checked everywhere (names carry the configuration). Loops over (geometry, linear)
/// pairs name the members instead of binding them: clang 14 cannot capture structured bindings (CAPTURE does).
std::vector<geometry> conv_geometries() {
    std::vector<geometry> v;
    v.push_back({"3x3 pad 1", 2, 5, 6, 3, 4, square(3, 1, 1)});
    v.push_back({"3x3 stride 2 pad 1", 2, 7, 8, 3, 4, square(3, 2, 1)});
    {
        geometry g{"3x3 dilation 2 pad 2", 1, 7, 7, 2, 3, square(3, 1, 2)};
        g.options.params.dilation_h = g.options.params.dilation_w = 2;
        v.push_back(g);
    }
    {
        geometry g{"3x4 asymmetric padding (2, 0, 1, 3), strides 2x1", 2, 6, 5, 2, 3, square(3, 1, 0)};
        g.options.kernel_w = 4;
        auto& p = g.options.params;
        p.pad_top = 2;
        p.pad_bottom = 0;
        p.pad_left = 1;
        p.pad_right = 3;
        p.stride_h = 2;
        v.push_back(g);
    }
    v.push_back({"3x3 groups 2", 2, 5, 5, 4, 6, square(3, 1, 1, 2)});
    v.push_back({"3x3 depthwise (multiplier 1)", 2, 5, 5, 4, 4, square(3, 1, 1, 4)});
    v.push_back({"3x3 depthwise multiplier 2 stride 2", 2, 7, 7, 3, 6, square(3, 2, 1, 3)});
    v.push_back({"1x1 pointwise", 2, 4, 3, 5, 3, square(1, 1, 0)});
    v.push_back({"1x1 stride 2 (lowered)", 2, 5, 5, 3, 2, square(1, 2, 0)});
    v.push_back({"5x5 pad 2", 1, 8, 8, 2, 3, square(5, 1, 2)});
    v.push_back({"3x3 pad 1 without bias", 2, 4, 4, 3, 2, square(3, 1, 1, 1, false)});
    return v;
}

/// max |a - b| / max(max |b|, floor).
double relative_difference(const nn::tensor& a, const std::vector<double>& b, double floor = 1e-3) {
    double worst = 0.0, scale = floor;
    for (double v : b) scale = std::max(scale, std::abs(v));
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
    return worst / scale;
}
double relative_difference(const nn::tensor& a, const nn::tensor& b, double floor = 1e-3) {
    return relative_difference(a, std::vector<double>(b.begin(), b.end()), floor);
}

bool all_zero(const nn::tensor& t) {
    return std::all_of(t.begin(), t.end(), [](float v) { return v == 0.0F; });
}

std::string scheme_name(signedness s) { return s == signedness::signed_operands ? "signed" : "unsigned"; }

std::shared_ptr<const ag::multiplier_plan> exact_plan(signedness s) {
    if (s == signedness::signed_operands) {
        return std::make_shared<const ag::multiplier_plan>(ag::multiplier_plan::of<am::exact<std::int8_t>>());
    }
    return std::make_shared<const ag::multiplier_plan>(ag::multiplier_plan::of<am::exact<std::uint8_t>>());
}

/// A table of exact products plus uniform errors in [-spread, spread], indexed by raw bytes with the weight in
/// position `weight`.
am::table_multiplier random_table(signedness s, approxnn::operand_position weight, int spread, std::uint32_t seed,
                                  std::string name) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> error(-spread, spread);
    std::vector<std::int32_t> products(65536);
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            const int a = s == signedness::signed_operands ? static_cast<std::int8_t>(first) : first;
            const int b = s == signedness::signed_operands ? static_cast<std::int8_t>(second) : second;
            products[static_cast<std::size_t>(first * 256 + second)] = a * b + error(rng);
        }
    }
    return am::table_multiplier(s, weight, products, std::move(name));
}

/// An approximate multiplier with its own scalar form (not the plan's), for the references.
struct approximate_multiplier {
    std::string name;
    signedness scheme;
    std::shared_ptr<const ag::multiplier_plan> plan;
    product_fn product;
};

std::vector<approximate_multiplier> approximate_multipliers() {
    std::vector<approximate_multiplier> v;
    for (const char* name : {"column_truncation_u8_k6", "drum_s8_k3", "drum_u8_k4", "mitchell_s8"}) {
        const am::design_instance d = am::design_instance::parse(name);
        v.push_back({name, d.operand_signedness(), std::make_shared<const ag::multiplier_plan>(d),
                     [d](std::uint8_t a, std::uint8_t w) { return d.multiply(a, w); }});
    }
    // Small errors (an error plane exists), and large ones with the weight first (products span more than 16 bits).
    const auto add_table = [&](am::table_multiplier t) {
        const std::string name = t.name();
        const signedness s = t.operand_signedness();
        v.push_back({name, s, std::make_shared<const ag::multiplier_plan>(t),
                     [t](std::uint8_t a, std::uint8_t w) { return t.multiply_activation_weight(a, w); }});
    };
    add_table(random_table(signedness::unsigned_operands, approxnn::operand_position::second, 100, 11, "random_u8_e100"));
    add_table(random_table(signedness::signed_operands, approxnn::operand_position::first, 3000, 12, "random_s8_e3000_wfirst"));
    add_table(random_table(signedness::unsigned_operands, approxnn::operand_position::first, 2000, 13, "random_u8_e2000_wfirst"));
    return v;
}

/// Runs a training forward then backward with grad_output g; returns output and grad_input.
struct pass {
    nn::tensor output, grad_input;
};
pass forward_backward(nn::layer& l, const nn::tensor& x, const nn::tensor& g) {
    pass r;
    l.forward(x, r.output, nn::mode::training);
    l.backward(g, r.grad_input);
    return r;
}

}  // namespace

// ----------------------------------------------------------------------------------------------------------------
// 1. Gradients (float layers).

TEST_CASE("conv2d gradient: input, weight and bias of every geometry") {
    for (const geometry& g : conv_geometries()) {
        CAPTURE(g.name);
        nn::conv2d conv(g.in_channels, g.out_channels, g.options);
        randomise(conv, 3);
        CHECK(conv.output_shape(g.input_shape()) == g.output_shape());
        const gc::report r = gc::measure(conv, gc::away_from_zero(g.input_shape(), 5));
        INFO(r.describe());
        CHECK(r.shapes_ok);
        CHECK(r.tensors.size() == (g.options.bias ? 3U : 2U));
        CHECK(r.passed(1e-3));
    }
}

TEST_CASE("conv2d forward: every geometry equals the direct convolution (float)") {
    for (const geometry& g : conv_geometries()) {
        CAPTURE(g.name);
        nn::conv2d conv(g.in_channels, g.out_channels, g.options);
        randomise(conv, 7);
        const nn::tensor x = gc::uniform(g.input_shape(), 8);
        nn::tensor y;
        conv.forward(x, y, nn::mode::evaluation);
        std::vector<double> expected = reference_float_conv(g, std::vector<double>(x.begin(), x.end()),
                                                            std::vector<double>(conv.weight().value.begin(),
                                                                                conv.weight().value.end()));
        if (conv.bias()) {
            for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += conv.bias()->value[i % g.out_channels];
        }
        REQUIRE(y.shape() == g.output_shape());
        CHECK(relative_difference(y, expected) < 1e-5);
        CHECK(conv.multiplications_per_sample(g.input_shape()) == g.out_h() * g.out_w() * g.out_channels * g.depth());
    }
}

TEST_CASE("linear gradient: input, weight and bias; without bias") {
    for (const bool bias : {true, false}) {
        CAPTURE(bias);
        nn::linear fc(7, 5, bias);
        randomise(fc, 11);
        const gc::report r = gc::measure(fc, gc::away_from_zero({4, 7}, 12));
        INFO(r.describe());
        CHECK(r.tensors.size() == (bias ? 3U : 2U));
        CHECK(r.passed(1e-3));
        CHECK((fc.bias() != nullptr) == bias);
    }
}

TEST_CASE("product layers: set_input_gradient(false) writes zeros to grad_input, parameter gradients stay right") {
    std::vector<std::pair<geometry, bool>> cases;  // (geometry, linear)
    for (const geometry& g : conv_geometries()) cases.emplace_back(g, false);
    cases.emplace_back(linear_geometry(3, 6, 4), true);
    for (const bool quantised : {false, true}) {
        for (const auto& entry : cases) {
            const geometry& g = entry.first;
            const bool is_linear = entry.second;
            CAPTURE(g.name);
            CAPTURE(quantised);
            auto l = make_layer(g, is_linear);
            randomise(*l, 21);
            CHECK(l->input_gradient());
            l->set_input_gradient(false);
            CHECK_FALSE(l->input_gradient());
            if (quantised) l->set_quantisation(nn::quantisation{});
            const nn::shape_t in_shape = layer_input_shape(g, is_linear);
            if (!quantised) {  // finite differences of the parameters (the input is not checked)
                gc::options o;
                o.check_input = false;
                const gc::report r = gc::measure(*l, gc::away_from_zero(in_shape, 22), o);
                INFO(r.describe());
                CHECK(r.passed(1e-3));
            }
            const nn::tensor x = gc::away_from_zero(in_shape, 23);
            nn::tensor y;
            l->forward(x, y, nn::mode::training);
            nn::tensor gi(nn::shape_t{2}, std::numeric_limits<float>::quiet_NaN());
            l->backward(gc::uniform(y.shape(), 24), gi);
            CHECK(gi.shape() == in_shape);
            CHECK(all_zero(gi));
            // The weight gradient equals that of a twin computing the input gradient.
            auto twin = make_layer(g, is_linear);
            twin->weight().value = l->weight().value;
            if (twin->bias()) twin->bias()->value = l->bias()->value;
            if (quantised) twin->set_quantisation(nn::quantisation{});
            l->weight().grad.fill(0.0F);
            l->forward(x, y, nn::mode::training);
            l->backward(gc::uniform(y.shape(), 24), gi);
            nn::tensor y2, gi2;
            twin->forward(x, y2, nn::mode::training);
            twin->backward(gc::uniform(y.shape(), 24), gi2);
            CHECK(relative_difference(l->weight().grad, twin->weight().grad) < 1e-6);
            CHECK_FALSE(all_zero(gi2));
        }
    }
}

// ----------------------------------------------------------------------------------------------------------------
// 2. Fake quantisation and the straight-through estimator.

TEST_CASE("quantisation: conv2d and linear fake-quantised forward equals the documented formulas") {
    std::vector<std::pair<geometry, bool>> cases;
    for (const geometry& g : conv_geometries()) cases.emplace_back(g, false);
    cases.emplace_back(linear_geometry(5, 9, 4), true);
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const bool per_channel : {true, false}) {
            for (const bool non_negative : {false, true}) {  // [0, 2]: the unsigned zero point is 0
                for (const auto& entry : cases) {
                    const geometry& g = entry.first;
                    const bool is_linear = entry.second;
                    CAPTURE(g.name);
                    CAPTURE(scheme_name(s));
                    CAPTURE(per_channel);
                    CAPTURE(non_negative);
                    auto l = make_layer(g, is_linear);
                    randomise(*l, 31);
                    // Channels of different magnitudes, so per-channel and per-tensor scales differ.
                    nn::tensor& w = l->weight().value;
                    const std::size_t per = w.size() / w.dim(0);
                    for (std::size_t i = 0; i < w.size(); ++i) w[i] *= 1.0F + static_cast<float>(i / per);
                    CHECK_FALSE(l->quantised());
                    l->set_quantisation(nn::quantisation{s, per_channel});
                    REQUIRE(l->quantised());
                    const nn::shape_t in_shape = layer_input_shape(g, is_linear);
                    const nn::tensor x = non_negative ? gc::uniform(in_shape, 32, 0.0F, 2.0F) : gc::uniform(in_shape, 32);
                    nn::tensor y;
                    l->forward(x, y, nn::mode::training);
                    // The first training batch sets the range to [min, max] (containing 0).
                    const float lo = std::min(*std::min_element(x.begin(), x.end()), 0.0F);
                    const float hi = std::max(*std::max_element(x.begin(), x.end()), 0.0F);
                    CHECK(l->input_quantiser().range()[0] == lo);
                    CHECK(l->input_quantiser().range()[1] == hi);
                    const quantised_operands q = quantise_operands(*l, x);
                    if (s == signedness::unsigned_operands && non_negative) CHECK(q.activation.zero_point == 0);
                    const nn::quant_params p = l->input_quantiser().params();
                    CHECK(p.scale == q.activation.scale);
                    CHECK(p.zero_point == q.activation.zero_point);
                    CHECK(l->weight_quantisation().scales(w) == q.weights.scales);
                    CHECK(l->weight_quantisation().zero_point() == q.weights.zero_point);
                    const std::vector<double> expected = reference_fake_quant(g, *l, q);
                    CHECK(relative_difference(y, expected) < 1e-5);
                    // Evaluation uses the stored range: the same output.
                    nn::tensor y_eval;
                    l->forward(x, y_eval, nn::mode::evaluation);
                    CHECK(relative_difference(y_eval, expected) < 1e-5);
                    // Quantisation changes the output (the test would pass vacuously otherwise).
                    auto plain = make_layer(g, is_linear);
                    plain->weight().value = w;
                    if (plain->bias()) plain->bias()->value = l->bias()->value;
                    nn::tensor y_float;
                    plain->forward(x, y_float, nn::mode::evaluation);
                    CHECK(relative_difference(y_float, expected) > 1e-4);
                    CHECK(relative_difference(y_float, expected) < 0.05);
                }
            }
        }
    }
}

TEST_CASE("quantisation: STE gradients are those of the float product of x' and w', zero where x was clipped") {
    std::vector<std::pair<geometry, bool>> cases;
    for (const geometry& g : conv_geometries()) cases.emplace_back(g, false);
    cases.emplace_back(linear_geometry(6, 10, 3), true);
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const bool per_channel : {true, false}) {
            for (const auto& entry : cases) {
                const geometry& g = entry.first;
                const bool is_linear = entry.second;
                CAPTURE(g.name);
                CAPTURE(scheme_name(s));
                CAPTURE(per_channel);
                auto l = make_layer(g, is_linear);
                randomise(*l, 41);
                l->set_quantisation(nn::quantisation{s, per_channel});
                // A stored range narrower than the batch: the EMA moves it 10 % of the way, the rest is clipped.
                l->input_quantiser().range()[0] = -0.3F;
                l->input_quantiser().range()[1] = 0.4F;
                const nn::shape_t in_shape = layer_input_shape(g, is_linear);
                const nn::tensor x = gc::uniform(in_shape, 42);
                const float x_lo = std::min(*std::min_element(x.begin(), x.end()), 0.0F);
                const float x_hi = std::max(*std::max_element(x.begin(), x.end()), 0.0F);
                nn::tensor y;
                l->forward(x, y, nn::mode::training);
                const nn::tensor& range = l->input_quantiser().range();
                CHECK(range[0] == doctest::Approx(-0.3F + 0.1F * (x_lo + 0.3F)).epsilon(1e-6));
                CHECK(range[1] == doctest::Approx(0.4F + 0.1F * (x_hi - 0.4F)).epsilon(1e-6));
                const quantised_operands q = quantise_operands(*l, x);
                const nn::tensor g_out = gc::uniform(y.shape(), 43);
                nn::tensor gi;
                l->backward(g_out, gi);

                // The twin: a float layer with weights w' fed with x' gives the unmasked gradients.
                auto twin = make_layer(g, is_linear);
                nn::tensor xq(in_shape);
                std::size_t clipped_count = 0;
                for (std::size_t i = 0; i < x.size(); ++i) {
                    xq[i] = static_cast<float>(q.x_codes[i] - q.activation.zero_point) * q.activation.scale;
                    clipped_count += clipped(x[i], q.activation) ? 1 : 0;
                }
                CHECK(clipped_count > x.size() / 4);
                CHECK(clipped_count < x.size());
                const std::size_t depth = g.depth();
                for (std::size_t i = 0; i < twin->weight().value.size(); ++i) {
                    twin->weight().value[i] = static_cast<float>(q.weights.codes[i]) * q.weights.scales[i / depth];
                }
                if (twin->bias()) twin->bias()->value = l->bias()->value;
                const pass t = forward_backward(*twin, xq, g_out);
                CHECK(relative_difference(y, t.output) < 1e-5);
                REQUIRE(gi.shape() == in_shape);
                std::size_t masked_wrong = 0, passed_wrong = 0;
                for (std::size_t i = 0; i < x.size(); ++i) {
                    if (clipped(x[i], q.activation)) {
                        masked_wrong += gi[i] == 0.0F ? 0 : 1;  // exactly zero where clipped
                    } else {
                        passed_wrong += std::abs(gi[i] - t.grad_input[i]) <= 1e-5F ? 0 : 1;
                    }
                }
                CHECK(masked_wrong == 0);
                CHECK(passed_wrong == 0);
                // Weight gradients are those of w' (weights are never clipped), the bias gradient the sum of g.
                CHECK(relative_difference(l->weight().grad, twin->weight().grad) < 1e-5);
                if (l->bias()) CHECK(relative_difference(l->bias()->grad, twin->bias()->grad) < 1e-6);
            }
        }
    }
}

TEST_CASE("quantisation: set_quantisation keeps the observed range for the same scheme, resets it otherwise") {
    nn::conv2d conv(2, 3, square(3, 1, 1));
    randomise(conv, 51);
    conv.set_quantisation(nn::quantisation{signedness::unsigned_operands, true});
    nn::tensor y;
    conv.forward(gc::uniform({1, 4, 4, 2}, 52), y, nn::mode::training);
    REQUIRE(conv.input_quantiser().observed());
    const float lo = conv.input_quantiser().range()[0];
    conv.set_quantisation(nn::quantisation{signedness::unsigned_operands, false});
    CHECK(conv.input_quantiser().range()[0] == lo);
    CHECK_FALSE(conv.weight_quantisation().per_channel());
    conv.set_quantisation(nn::quantisation{signedness::signed_operands, true});
    CHECK_FALSE(conv.input_quantiser().observed());
    CHECK(conv.input_quantiser().scheme() == signedness::signed_operands);
    // The range is a buffer of the layer while quantised.
    std::vector<std::string> buffers;
    conv.visit_buffers("stem", [&](const std::string& name, nn::tensor&) { buffers.push_back(name); });
    CHECK(buffers == std::vector<std::string>{"stem.input_range"});
    conv.set_quantisation(std::nullopt);
    CHECK_FALSE(conv.quantised());
    buffers.clear();
    conv.visit_buffers("stem", [&](const std::string& name, nn::tensor&) { buffers.push_back(name); });
    CHECK(buffers.empty());
}

// ----------------------------------------------------------------------------------------------------------------
// 3. Approximate products.

TEST_CASE("product layers: the exact multiplier plan gives the fake-quantised float forward (u8 and s8)") {
    std::vector<std::pair<geometry, bool>> cases;
    for (const geometry& g : conv_geometries()) cases.emplace_back(g, false);
    cases.emplace_back(linear_geometry(5, 9, 4), true);
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const bool per_channel : {true, false}) {
            for (const auto& entry : cases) {
                const geometry& g = entry.first;
                const bool is_linear = entry.second;
                CAPTURE(g.name);
                CAPTURE(scheme_name(s));
                CAPTURE(per_channel);
                auto l = make_layer(g, is_linear);
                randomise(*l, 61);
                l->set_quantisation(nn::quantisation{s, per_channel});
                const nn::tensor x = gc::uniform(layer_input_shape(g, is_linear), 62);
                nn::tensor fake, approx;
                l->forward(x, fake, nn::mode::training);  // observes the range
                l->forward(x, fake, nn::mode::evaluation);
                l->set_multiplier(exact_plan(s));
                REQUIRE(l->multiplier() != nullptr);
                l->forward(x, approx, nn::mode::evaluation);
                CHECK(relative_difference(approx, fake) < 1e-5);
                // Training mode takes the same product (and backward the same STE gradients).
                const nn::tensor g_out = gc::uniform(fake.shape(), 63);
                const pass a = forward_backward(*l, x, g_out);
                CHECK(relative_difference(a.output, fake) < 1e-5);
                const nn::tensor weight_grad = l->weight().grad;
                l->weight().grad.fill(0.0F);
                l->set_multiplier(nullptr);
                const pass f = forward_backward(*l, x, g_out);
                CHECK(relative_difference(a.grad_input, f.grad_input) < 1e-6);
                CHECK(relative_difference(weight_grad, l->weight().grad) < 1e-6);
            }
        }
    }
}

TEST_CASE("product layers: approximate conv2d and linear equal the scalar reference of M on the codes") {
    std::vector<std::pair<geometry, bool>> cases;
    cases.emplace_back(geometry{"3x3 pad 1", 2, 5, 6, 3, 4, square(3, 1, 1)}, false);
    cases.emplace_back(geometry{"3x3 stride 2 pad 1", 2, 7, 8, 3, 4, square(3, 2, 1)}, false);
    cases.emplace_back(geometry{"3x3 groups 2 pad 1", 2, 5, 5, 4, 6, square(3, 1, 1, 2)}, false);
    cases.emplace_back(geometry{"3x3 depthwise pad 1", 2, 5, 5, 4, 4, square(3, 1, 1, 4)}, false);
    cases.emplace_back(geometry{"3x3 depthwise multiplier 2 stride 2 pad 1", 2, 7, 7, 3, 6, square(3, 2, 1, 3)}, false);
    cases.emplace_back(geometry{"5x5 depthwise pad 2, 70 columns", 1, 4, 70, 2, 2, square(5, 1, 2, 2)}, false);
    cases.emplace_back(geometry{"1x1 pointwise", 2, 4, 3, 5, 3, square(1, 1, 0)}, false);
    {
        geometry g{"3x4 asymmetric padding, dilation 2", 1, 7, 6, 2, 3, square(3, 1, 0)};
        g.options.kernel_w = 4;
        g.options.params.pad_top = 2;
        g.options.params.pad_left = 3;
        g.options.params.pad_right = 1;
        g.options.params.dilation_h = g.options.params.dilation_w = 2;
        cases.emplace_back(g, false);
    }
    cases.emplace_back(linear_geometry(5, 9, 4), true);
    for (const approximate_multiplier& m : approximate_multipliers()) {
        for (const bool per_channel : {true, false}) {
            for (const auto& entry : cases) {
                const geometry& g = entry.first;
                const bool is_linear = entry.second;
                CAPTURE(m.name);
                CAPTURE(g.name);
                CAPTURE(per_channel);
                auto l = make_layer(g, is_linear);
                randomise(*l, 71);
                l->set_quantisation(nn::quantisation{m.scheme, per_channel});
                const nn::tensor x = gc::uniform(layer_input_shape(g, is_linear), 72, -0.7F, 1.3F);
                nn::tensor y, fake;
                l->forward(x, fake, nn::mode::training);  // observes the range
                l->set_multiplier(m.plan);
                l->forward(x, y, nn::mode::evaluation);
                const quantised_operands q = quantise_operands(*l, x);
                const std::vector<std::int64_t> acc = reference_accumulators(g, q, m.scheme, m.product);
                // Recover the accumulator from the output: y = s_x * s_w[o] * acc + bias.
                REQUIRE(y.size() == acc.size());
                std::size_t wrong = 0;
                double worst = 0.0;
                for (std::size_t i = 0; i < y.size(); ++i) {
                    const std::size_t o = i % g.out_channels;
                    const double unit = static_cast<double>(q.activation.scale) * q.weights.scales[o];
                    const double bias = l->bias() ? l->bias()->value[o] : 0.0;
                    const double recovered = (static_cast<double>(y[i]) - bias) / unit;
                    const double slack = 0.45 + 3e-7 * (std::abs(static_cast<double>(acc[i])) + std::abs(bias) / unit);
                    const double error = std::abs(recovered - static_cast<double>(acc[i]));
                    worst = std::max(worst, error);
                    wrong += error <= slack ? 0 : 1;
                }
                CAPTURE(worst);
                CHECK(wrong == 0);
                // The multiplier is approximate: the output differs from the exact product's.
                CHECK(relative_difference(y, fake) > 1e-6);
            }
        }
    }
}

TEST_CASE("product layers: a multiplier of the wrong signedness or on an unquantised layer is a parameter_error") {
    nn::sequential model;
    model.emplace<nn::conv2d>("conv1", 1, 2, square(3, 1, 1));
    model.emplace<nn::linear>("fc", 4, 2);
    const auto layers = nn::product_layers(model);
    REQUIRE(layers.size() == 2);
    nn::product_layer& conv = *layers[0].layer;
    nn::product_layer& fc = *layers[1].layer;
    const auto drum_s8 = std::make_shared<const ag::multiplier_plan>(am::design_instance::parse("drum_s8_k4"));
    const auto drum_u8 = std::make_shared<const ag::multiplier_plan>(am::design_instance::parse("drum_u8_k4"));
    check_throws_with<parameter_error>([&] { conv.set_multiplier(drum_u8); }, {"'conv1'", "drum_u8_k4", "quantised"});
    check_throws_with<parameter_error>([&] { fc.set_multiplier(drum_s8); }, {"'fc'", "drum_s8_k4", "quantised"});
    nn::quantise(model, nn::quantisation{signedness::unsigned_operands});
    check_throws_with<parameter_error>([&] { conv.set_multiplier(drum_s8); },
                                       {"'conv1'", "drum_s8_k4", "signed", "unsigned"});
    check_throws_with<parameter_error>([&] { fc.set_multiplier(exact_plan(signedness::signed_operands)); },
                                       {"'fc'", "unsigned"});
    CHECK(conv.multiplier() == nullptr);
    CHECK_NOTHROW(conv.set_multiplier(drum_u8));
    CHECK(conv.multiplier()->name() == "drum_u8_k4");
    // Changing the scheme under a multiplier is refused; dropping the multiplier allows it.
    check_throws_with<parameter_error>(
        [&] { conv.set_quantisation(nn::quantisation{signedness::signed_operands}); }, {"'conv1'", "drum_u8_k4"});
    CHECK(conv.quantisation_config()->scheme == signedness::unsigned_operands);
    conv.set_multiplier(nullptr);
    CHECK_NOTHROW(conv.set_quantisation(nn::quantisation{signedness::signed_operands}));
    CHECK_NOTHROW(conv.set_multiplier(drum_s8));

    // assign_multipliers: one per layer, in order, checked layer by layer.
    nn::quantise(model, std::nullopt);
    conv.set_multiplier(nullptr);
    nn::quantise(model, nn::quantisation{signedness::unsigned_operands});
    check_throws_with<shape_error>([&] { nn::assign_multipliers(model, {drum_u8}); },
                                   {"1 multipliers", "2 conv / linear layers"});
    check_throws_with<parameter_error>([&] { nn::assign_multipliers(model, {drum_u8, drum_s8}); }, {"'fc'", "drum_s8_k4"});
    nn::assign_multipliers(model, {nullptr, drum_u8});
    CHECK(conv.multiplier() == nullptr);
    CHECK(fc.multiplier()->name() == "drum_u8_k4");
    nn::assign_multiplier(model, drum_u8);
    CHECK(conv.multiplier()->name() == "drum_u8_k4");
}

// ----------------------------------------------------------------------------------------------------------------
// 4. Tracing and output hooks.

TEST_CASE("product layers: the operand trace holds the im2col codes, weight codes and exact integer outputs") {
    std::vector<std::pair<geometry, bool>> cases;
    cases.emplace_back(geometry{"3x3 groups 2 stride 2 pad 1", 2, 6, 5, 4, 6, square(3, 2, 1, 2)}, false);
    cases.emplace_back(geometry{"3x3 depthwise multiplier 2 pad 1", 1, 5, 4, 3, 6, square(3, 1, 1, 3)}, false);
    cases.emplace_back(geometry{"1x1 pointwise", 2, 3, 3, 4, 5, square(1, 1, 0)}, false);
    cases.emplace_back(geometry{"5x5 pad 2", 1, 6, 6, 2, 3, square(5, 1, 2)}, false);
    cases.emplace_back(linear_geometry(3, 7, 4), true);
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const bool approximate : {false, true}) {
            for (const auto& entry : cases) {
                const geometry& g = entry.first;
                const bool is_linear = entry.second;
                CAPTURE(g.name);
                CAPTURE(scheme_name(s));
                CAPTURE(approximate);
                auto l = make_layer(g, is_linear);
                l->set_name("traced");
                randomise(*l, 81);
                int calls = 0;
                nn::operand_trace t;
                l->set_tracer([&](const nn::operand_trace& trace) {
                    ++calls;
                    t = trace;
                });
                const nn::tensor x = gc::uniform(layer_input_shape(g, is_linear), 82, -1.0F, 1.5F);
                nn::tensor y;
                l->forward(x, y, nn::mode::training);
                CHECK(calls == 0);  // a float layer has no codes
                l->set_quantisation(nn::quantisation{s, true});
                if (approximate) {
                    l->set_multiplier(std::make_shared<const ag::multiplier_plan>(
                        am::design_instance(s == signedness::signed_operands ? "drum" : "column_truncation", s, {4})));
                }
                l->forward(x, y, nn::mode::training);
                REQUIRE(calls == 1);
                const quantised_operands q = quantise_operands(*l, x);
                CHECK(t.layer == "traced");
                CHECK(t.scheme == s);
                CHECK(t.groups == (is_linear ? 1 : g.groups()));
                CHECK(t.pixels == g.pixels());
                CHECK(t.depth == g.depth());
                CHECK(t.out_channels == g.out_channels);
                CHECK(t.activation.scale == q.activation.scale);
                CHECK(t.activation.zero_point == q.activation.zero_point);
                CHECK(t.weight_scales == q.weights.scales);
                CHECK(t.weight_zero_point == q.weights.zero_point);
                // Rows by the independent im2col walk (padding: the zero point's code).
                std::vector<std::uint8_t> rows(g.groups() * g.pixels() * g.depth(), 0xEE);
                for_each_column_entry(g, [&](std::size_t gr, std::size_t pixel, std::size_t k, std::size_t at) {
                    rows[(gr * g.pixels() + pixel) * g.depth() + k] =
                        raw_byte(at == in_padding ? q.activation.zero_point : q.x_codes[at]);
                });
                CHECK(t.activation_rows == rows);
                std::vector<std::uint8_t> weights;
                for (std::int32_t c : q.weights.codes) weights.push_back(raw_byte(c + q.weights.zero_point));
                CHECK(t.weights == weights);
                const auto exact = [s](std::uint8_t a, std::uint8_t w) {
                    return s == signedness::signed_operands
                               ? std::int32_t{static_cast<std::int8_t>(a)} * static_cast<std::int8_t>(w)
                               : std::int32_t{a} * w;
                };
                const std::vector<std::int64_t> acc = reference_accumulators(g, q, s, exact);
                REQUIRE(t.exact_output.size() == acc.size());
                std::size_t wrong = 0;
                for (std::size_t i = 0; i < acc.size(); ++i) wrong += t.exact_output[i] == acc[i] ? 0 : 1;
                CHECK(wrong == 0);
                // The exact output is sum_k (a - za)(w - zw), computed directly from the trace's own operands.
                std::int64_t direct = 0;
                const auto value = [s](std::uint8_t b) -> std::int64_t {
                    return s == signedness::signed_operands ? static_cast<std::int8_t>(b) : b;
                };
                for (std::size_t k = 0; k < t.depth; ++k) {
                    direct += (value(t.activation_rows[k]) - t.activation.zero_point) *
                              (value(t.weights[k]) - t.weight_zero_point);
                }
                CHECK(t.exact_output[0] == direct);  // pixel 0, channel 0 (group 0)
                // Evaluation forwards are traced too; switching the tracer off stops it.
                l->forward(x, y, nn::mode::evaluation);
                CHECK(calls == 2);
                l->set_tracer({});
                l->forward(x, y, nn::mode::evaluation);
                CHECK(calls == 2);
            }
        }
    }
}

namespace {

/// Records the pre-bias output, optionally adds a constant to it, and scales the gradient in backward.
struct recording_hook final : nn::output_hook {
    nn::tensor seen, seen_grad;
    float add = 0.0F;
    float grad_factor = 1.0F;
    int forwards = 0, backwards = 0;
    nn::parameter own{nn::shape_t{2}};

    void forward(nn::tensor& y, nn::mode) override {
        ++forwards;
        seen = y;
        for (float& v : y) v += add;
    }
    void backward(nn::tensor& grad) override {
        ++backwards;
        seen_grad = grad;
        for (float& v : grad) v *= grad_factor;
    }
    void visit_parameters(const std::string& prefix, const nn::parameter_visitor& fn) override {
        fn(nn::join_name(prefix, "scale"), own);
    }
};

}  // namespace

TEST_CASE("product layers: output hooks see the pre-bias output and may change it and its gradient") {
    std::vector<std::pair<geometry, bool>> cases;
    cases.emplace_back(geometry{"3x3 pad 1", 2, 4, 5, 3, 4, square(3, 1, 1)}, false);
    cases.emplace_back(geometry{"3x3 depthwise", 2, 4, 4, 3, 3, square(3, 1, 1, 3)}, false);
    cases.emplace_back(geometry{"1x1 pointwise", 2, 3, 3, 4, 2, square(1, 1, 0)}, false);
    cases.emplace_back(linear_geometry(3, 6, 5), true);
    for (const bool approximate : {false, true}) {
        for (const auto& entry : cases) {
            const geometry& g = entry.first;
            const bool is_linear = entry.second;
            CAPTURE(g.name);
            CAPTURE(approximate);
            auto l = make_layer(g, is_linear);
            auto twin = make_layer(g, is_linear);
            randomise(*l, 91);
            randomise(*twin, 91);
            if (approximate) {
                for (auto* layer : {l.get(), twin.get()}) {
                    layer->set_quantisation(nn::quantisation{signedness::unsigned_operands});
                    layer->set_multiplier(std::make_shared<const ag::multiplier_plan>(
                        am::design_instance::parse("drum_u8_k4")));
                }
            }
            auto hook = std::make_shared<recording_hook>();
            l->set_output_hook(hook);
            CHECK(l->hook() == hook.get());
            const nn::tensor x = gc::uniform(layer_input_shape(g, is_linear), 92);
            const std::size_t oc = g.out_channels;

            // Forward: output = seen + bias, bit for bit; the twin without hook gives the same output.
            nn::tensor y, y_twin;
            l->forward(x, y, nn::mode::evaluation);
            twin->forward(x, y_twin, nn::mode::evaluation);
            CHECK(hook->forwards == 1);
            REQUIRE(hook->seen.shape() == y.shape());
            std::size_t wrong = 0;
            for (std::size_t i = 0; i < y.size(); ++i) {
                const float b = l->bias()->value[i % oc];
                wrong += y[i] == hook->seen[i] + b ? 0 : 1;
            }
            CHECK(wrong == 0);
            CHECK(relative_difference(y, y_twin) == 0.0);
            hook->add = 0.25F;
            l->forward(x, y, nn::mode::evaluation);
            CHECK(relative_difference(y, y_twin) > 0.0);
            for (std::size_t i = 0; i < y.size(); ++i) wrong += y[i] == (hook->seen[i] + 0.25F) + l->bias()->value[i % oc] ? 0 : 1;
            CHECK(wrong == 0);
            hook->add = 0.0F;

            // Backward: the hook gets d loss / d output; doubling it doubles the weight and input gradients, not the
            // bias gradient (the bias is added after the hook).
            hook->grad_factor = 2.0F;
            const nn::tensor g_out = gc::uniform(y.shape(), 93);
            const pass a = forward_backward(*l, x, g_out);
            const pass b = forward_backward(*twin, x, g_out);
            CHECK(hook->backwards == 1);
            CHECK(relative_difference(hook->seen_grad, g_out) == 0.0);
            wrong = 0;
            for (std::size_t i = 0; i < l->weight().grad.size(); ++i) {
                wrong += l->weight().grad[i] == 2.0F * twin->weight().grad[i] ? 0 : 1;
            }
            for (std::size_t i = 0; i < a.grad_input.size(); ++i) wrong += a.grad_input[i] == 2.0F * b.grad_input[i] ? 0 : 1;
            CHECK(wrong == 0);
            CHECK(relative_difference(l->bias()->grad, twin->bias()->grad) == 0.0);
            CHECK_FALSE(all_zero(twin->weight().grad));

            // The hook's parameters are the layer's, named under ".hook".
            std::vector<std::string> names;
            l->visit_parameters("fc", [&](const std::string& name, nn::parameter&) { names.push_back(name); });
            CHECK(names == std::vector<std::string>{"fc.weight", "fc.bias", "fc.hook.scale"});
            l->set_output_hook(nullptr);
            CHECK(l->hook() == nullptr);
        }
    }
}

// ----------------------------------------------------------------------------------------------------------------
// 8. Bad input.

TEST_CASE("conv2d errors: invalid options name the value") {
    const auto make = [](std::size_t in, std::size_t out, nn::conv2d_options o) { nn::conv2d c(in, out, o); };
    check_throws_with<parameter_error>([&] { make(2, 2, square(3, 0, 1)); }, {"conv2d", "stride", "0"});
    check_throws_with<parameter_error>([&] { make(2, 2, square(0, 1, 0)); }, {"conv2d", "kernel", "0 x 0"});
    check_throws_with<parameter_error>([&] { make(2, 2, square(3, 1, 3)); }, {"conv2d", "padding 3", "extent 3"});
    check_throws_with<parameter_error>([&] { make(4, 6, square(3, 1, 1, 3)); },
                                       {"conv2d", "3 groups", "4 input", "6 output"});
    check_throws_with<parameter_error>([&] { make(4, 4, square(3, 1, 1, 0)); }, {"conv2d", "0 groups"});
    check_throws_with<parameter_error>([&] { make(0, 4, square(3, 1, 1)); }, {"conv2d", "0 in"});
    check_throws_with<parameter_error>([&] { make(2, 0, square(3, 1, 1)); }, {"conv2d", "0 out"});
    {
        nn::conv2d_options o = square(3, 1, 1);
        o.params.dilation_w = 0;
        check_throws_with<parameter_error>([&] { make(2, 2, o); }, {"conv2d", "dilation", "1 x 0"});
    }
    {
        nn::conv2d_options o = square(3, 1, 0);
        o.params.pad_right = 4;
        o.params.dilation_w = 2;  // extent 5: padding 4 is allowed
        CHECK_NOTHROW(make(2, 2, o));
        o.params.pad_right = 5;
        check_throws_with<parameter_error>([&] { make(2, 2, o); }, {"right padding 5", "extent 5"});
    }
    check_throws_with<parameter_error>([] { nn::linear l(0, 3); }, {"linear", "0 in"});
    check_throws_with<parameter_error>([] { nn::linear l(3, 0); }, {"linear", "0 out"});
}

TEST_CASE("conv2d and linear errors: input shapes that do not fit name the layer and the shapes") {
    nn::conv2d conv(3, 4, square(5, 1, 0));
    conv.set_name("stem");
    nn::tensor y;
    check_throws_with<shape_error>([&] { conv.forward(nn::tensor({2, 6, 6, 4}), y, nn::mode::evaluation); },
                                   {"conv2d 'stem'", "3 channels", "[2, 6, 6, 4]"});
    check_throws_with<shape_error>([&] { conv.forward(nn::tensor({6, 6, 3}), y, nn::mode::training); },
                                   {"conv2d 'stem'", "[6, 6, 3]"});
    check_throws_with<shape_error>([&] { (void)conv.output_shape({1, 3, 8, 3}); },
                                   {"conv2d 'stem'", "[1, 3, 8, 3]", "5 x 5"});
    check_throws_with<shape_error>([&] { (void)conv.multiplications_per_sample({1, 8, 8, 2}); },
                                   {"conv2d 'stem'", "[1, 8, 8, 2]"});
    nn::linear fc(8, 3);
    fc.set_name("fc2");
    check_throws_with<shape_error>([&] { fc.forward(nn::tensor({2, 7}), y, nn::mode::evaluation); },
                                   {"linear 'fc2'", "[N, 8]", "[2, 7]"});
    check_throws_with<shape_error>([&] { fc.forward(nn::tensor({2, 2, 2, 2}), y, nn::mode::training); },
                                   {"linear 'fc2'", "[2, 2, 2, 2]"});
    // The default name is the kind.
    nn::linear unnamed(4, 2);
    CHECK(unnamed.name() == "linear");
    check_throws_with<shape_error>([&] { (void)unnamed.output_shape({4}); }, {"linear 'linear'", "[4]"});
}

TEST_CASE("conv2d and linear errors: backward without a training forward or with a gradient of the wrong shape") {
    nn::conv2d conv(2, 3, square(3, 1, 1));
    conv.set_name("c");
    nn::linear fc(4, 3);
    fc.set_name("f");
    nn::tensor gi;
    check_throws_with<parameter_error>([&] { conv.backward(nn::tensor({1, 4, 4, 3}), gi); }, {"conv2d 'c'", "forward"});
    check_throws_with<parameter_error>([&] { fc.backward(nn::tensor({2, 3}), gi); }, {"linear 'f'", "forward"});
    nn::tensor y;
    conv.forward(gc::uniform({1, 4, 4, 2}, 1), y, nn::mode::training);
    check_throws_with<shape_error>([&] { conv.backward(nn::tensor({1, 4, 4, 2}), gi); },
                                   {"conv2d 'c'", "[1, 4, 4, 3]", "[1, 4, 4, 2]"});
    const nn::tensor x = gc::uniform({2, 4}, 2);
    fc.forward(x, y, nn::mode::training);
    check_throws_with<shape_error>([&] { fc.backward(nn::tensor({3, 3}), gi); }, {"linear 'f'", "[2, 3]", "[3, 3]"});
    CHECK_NOTHROW(fc.backward(nn::tensor({2, 3}), gi));
    // An evaluation forward, or release_cache(), ends what backward() may use.
    fc.forward(x, y, nn::mode::evaluation);
    check_throws_with<parameter_error>([&] { fc.backward(nn::tensor({2, 3}), gi); }, {"linear 'f'", "forward"});
    conv.forward(gc::uniform({1, 4, 4, 2}, 1), y, nn::mode::training);
    CHECK_NOTHROW(conv.backward(nn::tensor({1, 4, 4, 3}), gi));
    conv.forward(gc::uniform({1, 4, 4, 2}, 1), y, nn::mode::evaluation);
    check_throws_with<parameter_error>([&] { conv.backward(nn::tensor({1, 4, 4, 3}), gi); }, {"conv2d 'c'", "forward"});
    conv.forward(gc::uniform({1, 4, 4, 2}, 1), y, nn::mode::training);
    conv.release_cache();
    check_throws_with<parameter_error>([&] { conv.backward(nn::tensor({1, 4, 4, 3}), gi); }, {"conv2d 'c'", "forward"});
}
