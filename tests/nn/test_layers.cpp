// The parameter-light layers of nn/ (relu, relu6, batch_norm, max_pool2d, avg_pool2d, global_avg_pool, flatten,
// option_a_shortcut) and the loss: finite-difference gradient checks, behaviour against hand-computed values,
// thread-count independence, and the errors they report.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/loss.hpp"
#include "approxnn/nn/tensor.hpp"
#include "gradient_check.hpp"
#include "test_support.hpp"

namespace {

namespace nn = approxnn::nn;
namespace gc = gradient_check;
using approxnn::parameter_error;
using approxnn::shape_error;
using test_support::check_throws_with;

/// Random values at least 0.1 away from relu6's kinks 0 and 6: in [-1.1, -0.1], [0.1, 5.9] or [6.1, 7.1].
nn::tensor away_from_relu6_kinks(const nn::shape_t& shape, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> interval(0, 2);
    std::uniform_real_distribution<float> u(0.0F, 1.0F);
    nn::tensor t(shape);
    for (float& v : t) {
        switch (interval(rng)) {
            case 0: v = -0.1F - u(rng); break;
            case 1: v = 0.1F + 5.8F * u(rng); break;
            default: v = 6.1F + u(rng); break;
        }
    }
    return t;
}

/// Distinct values 0.05 apart in a random order (no two within a finite-difference step: no max-pool ties).
nn::tensor distinct_values(const nn::shape_t& shape, std::uint32_t seed) {
    nn::tensor t(shape);
    std::vector<std::size_t> order(t.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::shuffle(order.begin(), order.end(), std::mt19937(seed));
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = 0.05F * static_cast<float>(order[i]) - 2.0F;
    return t;
}

void randomise_affine(nn::batch_norm& bn, std::uint32_t seed) {
    bn.gamma() = gc::uniform(bn.gamma().shape(), seed, 0.5F, 1.5F);
    bn.beta() = gc::uniform(bn.beta().shape(), seed + 1, -0.5F, 0.5F);
}

/// Forward (training) then backward with grad_output = ones-like random values; returns output and grad_input.
struct pass_result {
    nn::tensor output, grad_input;
};
pass_result run_pass(nn::layer& layer, const nn::tensor& input, std::uint32_t seed) {
    pass_result r;
    layer.forward(input, r.output, nn::mode::training);
    const nn::tensor g = gc::uniform(r.output.shape(), seed);
    layer.backward(g, r.grad_input);
    return r;
}

bool same_bits(const nn::tensor& a, const nn::tensor& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
               return std::memcmp(&x, &y, sizeof x) == 0;
           });
}

/// Runs forward / backward with 1 thread and with every thread on a large input; both must agree bit for bit.
template <class Layer>
void check_thread_independence(Layer& layer, const nn::tensor& input) {
    layer.set_threads(1);
    zero_gradients(layer);
    const pass_result serial = run_pass(layer, input, 99);
    std::vector<nn::tensor> serial_grads;
    layer.visit_parameters("", [&](const std::string&, nn::parameter& p) { serial_grads.push_back(p.grad); });
    layer.set_threads(0);
    zero_gradients(layer);
    const pass_result parallel = run_pass(layer, input, 99);
    CHECK(same_bits(serial.output, parallel.output));
    CHECK(same_bits(serial.grad_input, parallel.grad_input));
    std::size_t k = 0;
    layer.visit_parameters("", [&](const std::string& name, nn::parameter& p) {
        INFO(name);
        CHECK(same_bits(serial_grads.at(k++), p.grad));
    });
    nn::tensor eval_serial, eval_parallel;
    layer.set_threads(1);
    layer.forward(input, eval_serial, nn::mode::evaluation);
    layer.set_threads(0);
    layer.forward(input, eval_parallel, nn::mode::evaluation);
    CHECK(same_bits(eval_serial, eval_parallel));
}

/// forward() keeps the output's buffer when the shape does not change.
void check_output_buffer_reused(nn::layer& layer, const nn::tensor& input) {
    nn::tensor output;
    layer.forward(input, output, nn::mode::evaluation);
    const float* first = output.data();
    layer.forward(input, output, nn::mode::evaluation);
    CHECK(output.data() == first);
}

void check_values(const nn::tensor& actual, const nn::shape_t& shape, const std::vector<float>& expected,
                  double tolerance = 1e-6) {
    REQUIRE(actual.shape() == shape);
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO("element " << i);
        CHECK(actual[i] == doctest::Approx(expected[i]).epsilon(tolerance));
    }
}

}  // namespace

// ----------------------------------------------------------------------------------------------------------------
// The checker itself.

namespace {

/// Wraps a layer and spoils its gradients: grad_input times (1 + input_error), and parameter gradients plus
/// parameter_error times the value (a "missing term").
class spoiled final : public nn::layer {
public:
    spoiled(nn::layer& inner, double input_error, double param_error)
        : inner_(inner), input_error_(input_error), param_error_(param_error) {}
    [[nodiscard]] std::string kind() const override { return "spoiled " + inner_.kind(); }
    [[nodiscard]] nn::shape_t output_shape(const nn::shape_t& input) const override {
        return inner_.output_shape(input);
    }
    void forward(const nn::tensor& input, nn::tensor& output, nn::mode m) override { inner_.forward(input, output, m); }
    void backward(const nn::tensor& grad_output, nn::tensor& grad_input) override {
        inner_.backward(grad_output, grad_input);
        for (float& g : grad_input) g *= static_cast<float>(1.0 + input_error_);
        inner_.visit_parameters("", [&](const std::string&, nn::parameter& p) {
            for (std::size_t i = 0; i < p.grad.size(); ++i) p.grad[i] += static_cast<float>(param_error_ * p.value[i]);
        });
    }
    void visit_parameters(const std::string& prefix, const nn::parameter_visitor& fn) override {
        inner_.visit_parameters(prefix, fn);
    }

private:
    nn::layer& inner_;
    double input_error_, param_error_;
};

}  // namespace

TEST_CASE("gradient checker: rejects gradients 1% off, accepts the true ones") {
    nn::batch_norm bn(4);
    randomise_affine(bn, 5);
    const nn::tensor input = gc::uniform({3, 2, 2, 4}, 7);
    const gc::options o;
    {
        spoiled exact(bn, 0.0, 0.0);
        const gc::report r = gc::measure(exact, input, o);
        INFO(r.describe());
        CHECK(r.passed(o.tolerance));
    }
    {
        spoiled wrong_input(bn, 0.01, 0.0);
        const gc::report r = gc::measure(wrong_input, input, o);
        INFO(r.describe());
        CHECK_FALSE(r.passed(o.tolerance));
    }
    {
        spoiled wrong_parameters(bn, 0.0, 0.01);
        const gc::report r = gc::measure(wrong_parameters, input, o);
        INFO(r.describe());
        CHECK_FALSE(r.passed(o.tolerance));
        CHECK(r.tensors.at(0).error <= o.tolerance);  // the input gradient is still right
    }
}

// ----------------------------------------------------------------------------------------------------------------
// Gradient checks.

TEST_CASE("gradient: relu, NHWC [2, 3, 4, 5] and (N, F) [4, 7]") {
    nn::relu layer;
    gc::check(layer, nn::shape_t{2, 3, 4, 5});
    gc::check(layer, nn::shape_t{4, 7}, {.seed = 3});
}

TEST_CASE("gradient: relu6, inputs on both sides of 0 and 6") {
    nn::relu6 layer;
    gc::check(layer, away_from_relu6_kinks({2, 3, 4, 5}, 11));
}

TEST_CASE("gradient: batch_norm, NHWC [3, 2, 3, 4], (N, F) [5, 3], and two rows [2, 6]") {
    SUBCASE("NHWC") {
        nn::batch_norm bn(4);
        randomise_affine(bn, 21);
        gc::check(bn, gc::uniform({3, 2, 3, 4}, 22));
    }
    SUBCASE("features") {
        nn::batch_norm bn(3);
        randomise_affine(bn, 23);
        gc::check(bn, gc::uniform({5, 3}, 24, -3.0F, 5.0F));
    }
    SUBCASE("two rows (eps 0.5: with a tiny eps the output is nearly sign(x1 - x2), too curved to difference)") {
        nn::batch_norm bn(6, 0.5);
        randomise_affine(bn, 25);
        gc::check(bn, gc::uniform({2, 6}, 26));
    }
    SUBCASE("large mean, small spread") {
        nn::batch_norm bn(2, 1e-3);
        randomise_affine(bn, 27);
        nn::tensor x = gc::uniform({4, 3, 2}, 28, 9.0F, 11.0F);
        gc::check(bn, x, {.step = 1e-2});
    }
}

TEST_CASE("gradient: max_pool2d, distinct inputs") {
    struct config {
        std::size_t kernel, stride, padding;
        nn::shape_t shape;
    };
    for (const config& c : {config{2, 2, 0, {2, 4, 6, 3}}, config{3, 2, 1, {2, 5, 6, 3}}, config{3, 1, 1, {1, 4, 5, 2}},
                            config{2, 3, 1, {1, 7, 5, 2}}}) {
        CAPTURE(c.kernel);
        CAPTURE(c.stride);
        CAPTURE(c.padding);
        nn::max_pool2d layer(c.kernel, c.stride, c.padding);
        gc::check(layer, distinct_values(c.shape, static_cast<std::uint32_t>(c.kernel * 10 + c.stride)));
    }
}

TEST_CASE("gradient: avg_pool2d, count_include_pad on and off") {
    struct config {
        std::size_t kernel, stride, padding;
        bool include_pad;
        nn::shape_t shape;
    };
    for (const config& c : {config{2, 2, 0, true, {2, 4, 6, 3}}, config{3, 2, 1, true, {2, 5, 6, 3}},
                            config{3, 2, 1, false, {2, 5, 6, 3}}, config{3, 1, 2, false, {1, 4, 5, 2}}}) {
        CAPTURE(c.kernel);
        CAPTURE(c.stride);
        CAPTURE(c.padding);
        CAPTURE(c.include_pad);
        nn::avg_pool2d layer(c.kernel, c.stride, c.padding, c.include_pad);
        gc::check(layer, c.shape);
    }
}

TEST_CASE("gradient: global_avg_pool [2, 3, 4, 5], flatten [2, 3, 4, 5]") {
    nn::global_avg_pool pool;
    gc::check(pool, nn::shape_t{2, 3, 4, 5});
    nn::flatten flat;
    gc::check(flat, nn::shape_t{2, 3, 4, 5});
}

TEST_CASE("gradient: option_a_shortcut, stride 2 and 1, even and odd padding") {
    nn::option_a_shortcut a(2, 8);
    gc::check(a, nn::shape_t{2, 5, 4, 3});
    nn::option_a_shortcut b(1, 4);
    gc::check(b, nn::shape_t{1, 3, 3, 4});
    nn::option_a_shortcut c(3, 5);
    gc::check(c, nn::shape_t{1, 7, 6, 2});
}

TEST_CASE("gradient: a residual block of batch_norm, avg_pool2d and an option-A shortcut, then pooling") {
    nn::sequential net;
    auto body = std::make_unique<nn::sequential>();
    auto& bn = body->emplace<nn::batch_norm>("bn", 3);
    randomise_affine(bn, 31);
    body->emplace<nn::avg_pool2d>("pool", 3, 2, 1);
    net.emplace<nn::residual>("block", std::move(body), std::make_unique<nn::option_a_shortcut>(2, 3));
    net.emplace<nn::global_avg_pool>("gap");
    net.emplace<nn::flatten>("flat");
    gc::check(net, gc::uniform({2, 5, 4, 3}, 32));
}

TEST_CASE("gradient: softmax_cross_entropy against central differences") {
    const nn::softmax_cross_entropy loss;
    nn::tensor logits = gc::uniform({5, 7}, 41, -3.0F, 3.0F);
    const std::vector<int> labels{0, 6, 3, 3, 1};
    nn::tensor gradient({1});
    const double value = loss.value_and_gradient(logits, labels, gradient);
    CHECK(value == doctest::Approx(loss.value(logits, labels)).epsilon(1e-15));
    REQUIRE(gradient.shape() == logits.shape());
    double scale = 0.0, worst = 0.0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const float original = logits[i];
        const auto up = original + 1e-2F, down = original - 1e-2F;
        logits[i] = up;
        const double l_up = loss.value(logits, labels);
        logits[i] = down;
        const double l_down = loss.value(logits, labels);
        logits[i] = original;
        const double numeric = (l_up - l_down) / (static_cast<double>(up) - static_cast<double>(down));
        scale = std::max(scale, std::abs(numeric));
        worst = std::max(worst, std::abs(numeric - gradient[i]));
    }
    CHECK(worst / scale < 1e-4);
}

// ----------------------------------------------------------------------------------------------------------------
// Behaviour.

TEST_CASE("relu and relu6: values and gradients at and around the kinks") {
    const nn::tensor x({1, 9}, {-1.0F, -0.0F, 0.0F, 1e-30F, 3.0F, 5.999F, 6.0F, 6.5F, 1e30F});
    const nn::tensor ones({1, 9}, 1.0F);
    nn::tensor y, g;
    nn::relu r;
    r.forward(x, y, nn::mode::training);
    check_values(y, {1, 9}, {0, 0, 0, 1e-30F, 3, 5.999F, 6, 6.5F, 1e30F});
    r.backward(ones, g);
    check_values(g, {1, 9}, {0, 0, 0, 1, 1, 1, 1, 1, 1});

    nn::relu6 r6;
    r6.forward(x, y, nn::mode::training);
    check_values(y, {1, 9}, {0, 0, 0, 1e-30F, 3, 5.999F, 6, 6, 6});
    r6.backward(ones, g);
    check_values(g, {1, 9}, {0, 0, 0, 1, 1, 1, 0, 0, 0});  // 0 at x = 0 and at x = 6
}

TEST_CASE("relu and relu6: NaN propagates with gradient 0; input and output may be one tensor") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    nn::tensor x({3}, {nan, -2.0F, 7.0F});
    nn::tensor g;
    nn::relu6 r6;
    r6.forward(x, x, nn::mode::training);
    CHECK(std::isnan(x[0]));
    CHECK(x[1] == 0.0F);
    CHECK(x[2] == 6.0F);
    r6.backward(nn::tensor({3}, 1.0F), g);
    check_values(g, {3}, {0, 0, 0});
    nn::relu r;
    nn::tensor z({2}, {nan, 2.0F});
    r.forward(z, z, nn::mode::training);
    CHECK(std::isnan(z[0]));
    CHECK(z[1] == 2.0F);
}

TEST_CASE("batch_norm: names, initial values, decay flags") {
    nn::batch_norm bn(3);
    CHECK(bn.kind() == "batch_norm");
    CHECK(bn.channels() == 3);
    CHECK(bn.eps() == 1e-5);
    CHECK(bn.momentum() == 0.1);
    std::vector<std::string> names;
    bn.visit_parameters("block.bn", [&](const std::string& name, nn::parameter& p) {
        names.push_back(name);
        CHECK_FALSE(p.decay);
        CHECK(p.grad.shape() == nn::shape_t{3});
    });
    CHECK(names == std::vector<std::string>{"block.bn.weight", "block.bn.bias"});
    names.clear();
    bn.visit_buffers("", [&](const std::string& name, nn::tensor&) { names.push_back(name); });
    CHECK(names == std::vector<std::string>{"running_mean", "running_var"});
    check_values(bn.gamma(), {3}, {1, 1, 1});
    check_values(bn.beta(), {3}, {0, 0, 0});
    check_values(bn.running_mean(), {3}, {0, 0, 0});
    check_values(bn.running_var(), {3}, {1, 1, 1});
    CHECK(&bn.weight().value == &bn.gamma());
    CHECK(&bn.bias().value == &bn.beta());
    CHECK(nn::parameter_count(bn) == 6);
}

TEST_CASE("batch_norm: training uses batch statistics and updates the running ones; evaluation uses those") {
    // Channel 0: 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3).
    // Channel 1: 0, 0, 2, 2 (mean 1, biased variance 1, unbiased 4/3).
    const nn::tensor x({2, 2, 1, 2}, {1, 0, 2, 0, 3, 2, 4, 2});
    nn::batch_norm bn(2);
    bn.gamma() = nn::tensor({2}, {2.0F, 0.5F});
    bn.beta() = nn::tensor({2}, {1.0F, -1.0F});
    const double eps = 1e-5;
    const double s0 = 1.0 / std::sqrt(1.25 + eps), s1 = 1.0 / std::sqrt(1.0 + eps);
    nn::tensor y;
    bn.forward(x, y, nn::mode::training);
    check_values(y, {2, 2, 1, 2},
                 {static_cast<float>(2 * (1 - 2.5) * s0 + 1), static_cast<float>(0.5 * (0 - 1) * s1 - 1),
                  static_cast<float>(2 * (2 - 2.5) * s0 + 1), static_cast<float>(0.5 * (0 - 1) * s1 - 1),
                  static_cast<float>(2 * (3 - 2.5) * s0 + 1), static_cast<float>(0.5 * (2 - 1) * s1 - 1),
                  static_cast<float>(2 * (4 - 2.5) * s0 + 1), static_cast<float>(0.5 * (2 - 1) * s1 - 1)});
    const double m0 = 0.1 * 2.5, m1 = 0.1 * 1.0;
    const double v0 = 0.9 + 0.1 * 5.0 / 3.0, v1 = 0.9 + 0.1 * 4.0 / 3.0;
    check_values(bn.running_mean(), {2}, {static_cast<float>(m0), static_cast<float>(m1)});
    check_values(bn.running_var(), {2}, {static_cast<float>(v0), static_cast<float>(v1)});

    // Evaluation: running statistics, which it leaves alone.
    bn.forward(x, y, nn::mode::evaluation);
    std::vector<float> expected;
    for (std::size_t i = 0; i < 8; ++i) {
        const bool c1 = i % 2 == 1;
        const double v = (x[i] - (c1 ? m1 : m0)) / std::sqrt((c1 ? v1 : v0) + eps) * (c1 ? 0.5 : 2.0) + (c1 ? -1 : 1);
        expected.push_back(static_cast<float>(v));
    }
    check_values(y, {2, 2, 1, 2}, expected, 1e-5);
    check_values(bn.running_mean(), {2}, {static_cast<float>(m0), static_cast<float>(m1)});

    // A second training step compounds the update: r <- 0.9 r + 0.1 statistic.
    bn.forward(x, y, nn::mode::training);
    check_values(bn.running_mean(), {2}, {static_cast<float>(0.9 * m0 + 0.25), static_cast<float>(0.9 * m1 + 0.1)});
    check_values(bn.running_var(), {2},
                 {static_cast<float>(0.9 * v0 + 0.1 * 5.0 / 3.0), static_cast<float>(0.9 * v1 + 0.1 * 4.0 / 3.0)});
}

TEST_CASE("batch_norm: momentum 0 keeps and momentum 1 replaces the running statistics; custom eps") {
    const nn::tensor x({3, 1}, {1, 2, 6});  // mean 3, biased variance 14/3, unbiased 7
    nn::batch_norm keep(1, 1e-3, 0.0);
    nn::batch_norm replace(1, 1e-3, 1.0);
    nn::tensor y;
    keep.forward(x, y, nn::mode::training);
    replace.forward(x, y, nn::mode::training);
    check_values(keep.running_mean(), {1}, {0});
    check_values(keep.running_var(), {1}, {1});
    check_values(replace.running_mean(), {1}, {3});
    check_values(replace.running_var(), {1}, {7});
    const double s = 1.0 / std::sqrt(14.0 / 3 + 1e-3);
    check_values(y, {3, 1}, {static_cast<float>(-2 * s), static_cast<float>(-1 * s), static_cast<float>(3 * s)});
}

TEST_CASE("batch_norm: backward accumulates into weight and bias gradients, with hand values") {
    // One channel, x = 1, 2, 3, 4 -> xhat = (x - 2.5) / sqrt(1.25 + eps); dy = 1, 0, 0, 2.
    nn::batch_norm bn(1);
    const nn::tensor x({4, 1}, {1, 2, 3, 4});
    nn::tensor y, dx;
    bn.forward(x, y, nn::mode::training);
    bn.weight().grad[0] = 10.0F;
    bn.bias().grad[0] = 20.0F;
    bn.backward(nn::tensor({4, 1}, {1, 0, 0, 2}), dx);
    const double s = 1.0 / std::sqrt(1.25 + 1e-5);
    const double xhat[4] = {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s};
    const double dy[4] = {1, 0, 0, 2};
    double sum_dy = 0, sum_dyx = 0;
    for (int i = 0; i < 4; ++i) {
        sum_dy += dy[i];
        sum_dyx += dy[i] * xhat[i];
    }
    CHECK(bn.bias().grad[0] == doctest::Approx(20.0 + 3.0));
    CHECK(bn.weight().grad[0] == doctest::Approx(10.0 + sum_dyx));
    for (int i = 0; i < 4; ++i) {
        CHECK(dx[static_cast<std::size_t>(i)] == doctest::Approx(s * (dy[i] - sum_dy / 4 - xhat[i] * sum_dyx / 4)));
    }
}

TEST_CASE("max_pool2d: ties go to the first element in window order; padding is -infinity") {
    // One 4x4 channel of equal values: each 2x2 window's gradient goes to its top-left element.
    nn::max_pool2d pool(2, 2);
    const nn::tensor x({1, 4, 4, 1}, 5.0F);
    nn::tensor y, g;
    pool.forward(x, y, nn::mode::training);
    check_values(y, {1, 2, 2, 1}, {5, 5, 5, 5});
    pool.backward(nn::tensor({1, 2, 2, 1}, {1, 2, 3, 4}), g);
    check_values(g, {1, 4, 4, 1}, {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0});

    // A tie between the second and fourth elements of the window: the second wins.
    nn::max_pool2d one(2, 2);
    one.forward(nn::tensor({1, 2, 2, 1}, {1, 3, 2, 3}), y, nn::mode::training);
    one.backward(nn::tensor({1, 1, 1, 1}, 1.0F), g);
    check_values(g, {1, 2, 2, 1}, {0, 1, 0, 0});

    // Negative inputs with padding: the maximum is a real element, never the padding.
    nn::max_pool2d padded(3, 2, 1);
    const nn::tensor negative({1, 3, 3, 1}, {-9, -8, -7, -6, -5, -4, -3, -2, -1});
    padded.forward(negative, y, nn::mode::training);
    check_values(y, {1, 2, 2, 1}, {-5, -4, -2, -1});

    // Overlapping windows (stride 1) add their gradients on the shared maximum.
    nn::max_pool2d overlapping(2, 1);
    overlapping.forward(nn::tensor({1, 2, 3, 1}, {0, 9, 0, 0, 0, 0}), y, nn::mode::training);
    check_values(y, {1, 1, 2, 1}, {9, 9});
    overlapping.backward(nn::tensor({1, 1, 2, 1}, {1.5F, 2.0F}), g);
    check_values(g, {1, 2, 3, 1}, {0, 3.5F, 0, 0, 0, 0});
}

TEST_CASE("max_pool2d: channels are pooled independently; NaN wins") {
    nn::max_pool2d pool(2, 2);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // (1, 2, 2, 2): channel 0 = 1, 4, 3, 2; channel 1 = 8, nan, 5, 9.
    nn::tensor y;
    pool.forward(nn::tensor({1, 2, 2, 2}, {1, 8, 4, nan, 3, 5, 2, 9}), y, nn::mode::evaluation);
    REQUIRE(y.shape() == nn::shape_t{1, 1, 1, 2});
    CHECK(y[0] == 4.0F);
    CHECK(std::isnan(y[1]));
}

TEST_CASE("avg_pool2d: count_include_pad divides by kernel * kernel, otherwise by the real elements") {
    // 2x2 input 1, 2, 3, 4, kernel 2, stride 1, padding 1: a 3x3 output; the corners see one element.
    const nn::tensor x({1, 2, 2, 1}, {1, 2, 3, 4});
    nn::tensor y, g;
    nn::avg_pool2d include(2, 1, 1);
    CHECK(include.count_include_pad());
    include.forward(x, y, nn::mode::training);
    check_values(y, {1, 3, 3, 1}, {0.25F, 0.75F, 0.5F, 1.0F, 2.5F, 1.5F, 0.75F, 1.75F, 1.0F});
    include.backward(nn::tensor({1, 3, 3, 1}, 1.0F), g);
    check_values(g, {1, 2, 2, 1}, {1, 1, 1, 1});  // each input is in 4 windows, 1/4 each

    nn::avg_pool2d exclude(2, 1, 1, false);
    exclude.forward(x, y, nn::mode::training);
    check_values(y, {1, 3, 3, 1}, {1, 1.5F, 2, 2, 2.5F, 3, 3, 3.5F, 4});
    exclude.backward(nn::tensor({1, 3, 3, 1}, 1.0F), g);
    // Input 1 (top left) is in windows of 1, 2, 2 and 4 elements.
    check_values(g, {1, 2, 2, 1}, {2.25F, 2.25F, 2.25F, 2.25F});
}

TEST_CASE("global_avg_pool: means per image and channel") {
    nn::global_avg_pool pool;
    nn::tensor y, g;
    // (2, 1, 2, 2): image 0 has pixels (1, 5) and (3, 7) -> means 2, 6; image 1 -> 0, -1.
    pool.forward(nn::tensor({2, 1, 2, 2}, {1, 5, 3, 7, 0, -1, 0, -1}), y, nn::mode::training);
    check_values(y, {2, 2}, {2, 6, 0, -1});
    pool.backward(nn::tensor({2, 2}, {4, 8, 2, 0}), g);
    check_values(g, {2, 1, 2, 2}, {2, 4, 2, 4, 1, 0, 1, 0});
}

TEST_CASE("flatten: NHWC order, and back") {
    nn::flatten flat;
    nn::tensor x({2, 1, 2, 3});
    std::iota(x.begin(), x.end(), 0.0F);
    nn::tensor y, g;
    flat.forward(x, y, nn::mode::training);
    check_values(y, {2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    flat.backward(y, g);
    CHECK(same_bits(g, x));
    CHECK(flat.output_shape({5, 7}) == nn::shape_t{5, 7});
}

TEST_CASE("option_a_shortcut: subsampling and symmetric zero channels against hand-built tensors") {
    nn::tensor y, g;
    SUBCASE("stride 2, 2 -> 4 channels (one zero channel each side), as F.pad(x[:, :, ::2, ::2], (..., 1, 1))") {
        // x[0, i, j, c] = 10 * (4 * i + j) + c, 4x4x2.
        nn::tensor x({1, 4, 4, 2});
        for (std::size_t i = 0; i < 4; ++i) {
            for (std::size_t j = 0; j < 4; ++j) {
                for (std::size_t c = 0; c < 2; ++c) x[(i * 4 + j) * 2 + c] = static_cast<float>(10 * (4 * i + j) + c);
            }
        }
        nn::option_a_shortcut a(2, 4);
        a.forward(x, y, nn::mode::training);
        check_values(y, {1, 2, 2, 4},
                     {0, 0, 1, 0,  /*(0,0)*/ 0, 20, 21, 0, /*(0,2)*/ 0, 80, 81, 0, /*(2,0)*/ 0, 100, 101, 0 /*(2,2)*/});
        nn::tensor go({1, 2, 2, 4});
        std::iota(go.begin(), go.end(), 1.0F);
        a.backward(go, g);
        std::vector<float> expected(32, 0.0F);
        expected[0] = 2;  // (0, 0): channels 1, 2 of output pixel 0 = 2, 3
        expected[1] = 3;
        expected[4] = 6;  // (0, 2)
        expected[5] = 7;
        expected[16] = 10;  // (2, 0)
        expected[17] = 11;
        expected[20] = 14;  // (2, 2)
        expected[21] = 15;
        check_values(g, {1, 4, 4, 2}, expected);
    }
    SUBCASE("odd size and odd channel gap: 3x3, 1 -> 4 channels (one zero channel before, two after)") {
        nn::tensor x({1, 3, 3, 1});
        std::iota(x.begin(), x.end(), 1.0F);
        nn::option_a_shortcut a(2, 4);
        CHECK(a.output_shape(x.shape()) == nn::shape_t{1, 2, 2, 4});
        a.forward(x, y, nn::mode::training);
        check_values(y, {1, 2, 2, 4}, {0, 1, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0});
    }
    SUBCASE("stride 1, equal channels: the identity") {
        nn::tensor x = gc::uniform({2, 3, 2, 5}, 51);
        nn::option_a_shortcut a(1, 5);
        a.forward(x, y, nn::mode::training);
        CHECK(same_bits(y, x));
        a.backward(x, g);
        CHECK(same_bits(g, x));
    }
}

TEST_CASE("softmax_cross_entropy: hand values, stability, uint8 and int labels") {
    const nn::softmax_cross_entropy loss;
    // Row 0: logits 0, 0, 0, label 1 -> log 3. Row 1: logits 1, 2, 3, label 2 -> log(e + e^2 + e^3) - 3.
    const nn::tensor logits({2, 3}, {0, 0, 0, 1, 2, 3});
    const std::vector<std::uint8_t> labels8{1, 2};
    const std::vector<int> labels{1, 2};
    const double row1 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
    const double expected = (std::log(3.0) + row1) / 2;
    CHECK(loss.value(logits, labels8) == doctest::Approx(expected).epsilon(1e-12));
    CHECK(loss.value(logits, labels) == doctest::Approx(expected).epsilon(1e-12));
    nn::tensor g;
    CHECK(loss.value_and_gradient(logits, labels8, g) == doctest::Approx(expected).epsilon(1e-12));
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    check_values(g, {2, 3},
                 {static_cast<float>(1.0 / 6), static_cast<float>((1.0 / 3 - 1) / 2), static_cast<float>(1.0 / 6),
                  static_cast<float>(std::exp(1.0) / z / 2), static_cast<float>(std::exp(2.0) / z / 2),
                  static_cast<float>((std::exp(3.0) / z - 1) / 2)});

    // Large logits neither overflow nor lose the loss.
    const nn::tensor big({2, 2}, {1000, 0, -1000, 80});
    nn::tensor gb;
    const double v = loss.value_and_gradient(big, std::vector<int>{1, 0}, gb);
    CHECK(v == doctest::Approx((1000.0 + 1080.0) / 2));
    check_values(gb, {2, 2}, {0.5F, -0.5F, -0.5F, 0.5F});
    for (float x : gb) CHECK(std::isfinite(x));
}

TEST_CASE("top_k_correct: counts, and ties favour the label") {
    // Row 0: label 2 is the largest. Row 1: label 0 is third. Row 2: all equal. Row 3: label 1 ties with one above.
    const nn::tensor logits({4, 4}, {0, 1, 5, 2, /**/ 3, 4, 1, 5, /**/ 7, 7, 7, 7, /**/ 1, 3, 3, 0});
    const std::vector<std::uint8_t> labels{2, 0, 3, 1};
    CHECK(nn::top_k_correct(logits, labels, 1) == 3);  // rows 0, 2, 3
    CHECK(nn::top_k_correct(logits, labels, 2) == 3);
    CHECK(nn::top_k_correct(logits, labels, 3) == 4);
    CHECK(nn::top_k_correct(logits, std::vector<int>{1, 3, 0, 0}, 1) == 2);  // rows 1, 2
    CHECK(nn::top_k_correct(logits, std::vector<int>{1, 3, 0, 0}, 4) == 4);

    // NaN: a NaN label logit is never correct; a NaN elsewhere counts as larger.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const nn::tensor with_nan({2, 3}, {nan, 1, 0, 2, nan, 1});
    CHECK(nn::top_k_correct(with_nan, std::vector<int>{0, 0}, 3) == 1);
    CHECK(nn::top_k_correct(with_nan, std::vector<int>{1, 0}, 1) == 0);  // one NaN above each label's logit
    CHECK(nn::top_k_correct(with_nan, std::vector<int>{1, 0}, 2) == 2);
}

TEST_CASE("backward accumulates parameter gradients over two passes") {
    nn::batch_norm bn(3);
    randomise_affine(bn, 61);
    const nn::tensor x = gc::uniform({4, 2, 3}, 62);
    zero_gradients(bn);
    run_pass(bn, x, 63);
    const nn::tensor once_w = bn.weight().grad, once_b = bn.bias().grad;
    run_pass(bn, x, 63);
    for (std::size_t c = 0; c < 3; ++c) {
        CHECK(bn.weight().grad[c] == doctest::Approx(2 * once_w[c]));
        CHECK(bn.bias().grad[c] == doctest::Approx(2 * once_b[c]));
    }
}

TEST_CASE("results do not depend on the thread count (large inputs)") {
    const nn::tensor image = gc::uniform({16, 16, 16, 24}, 71);  // 98304 elements: parallel paths
    SUBCASE("relu") {
        nn::relu layer;
        check_thread_independence(layer, image);
    }
    SUBCASE("relu6") {
        nn::relu6 layer;
        check_thread_independence(layer, gc::uniform(image.shape(), 72, -2.0F, 8.0F));
    }
    SUBCASE("batch_norm") {
        nn::batch_norm layer(24);
        randomise_affine(layer, 73);
        check_thread_independence(layer, image);
    }
    SUBCASE("batch_norm, many channels") {
        nn::batch_norm layer(3000);
        check_thread_independence(layer, gc::uniform({40, 3000}, 74));
    }
    SUBCASE("max_pool2d") {
        nn::max_pool2d layer(3, 2, 1);
        check_thread_independence(layer, image);
    }
    SUBCASE("avg_pool2d") {
        nn::avg_pool2d layer(3, 1, 1, false);
        check_thread_independence(layer, image);
    }
    SUBCASE("global_avg_pool") {
        nn::global_avg_pool layer;
        check_thread_independence(layer, image);
    }
    SUBCASE("option_a_shortcut") {
        nn::option_a_shortcut layer(2, 48);
        check_thread_independence(layer, image);
    }
}

TEST_CASE("large inputs: the parallel paths agree with small-batch references") {
    // Batch norm statistics over 16 images equal those computed image by image in double.
    const nn::tensor x = gc::uniform({16, 16, 16, 24}, 81, -1.0F, 3.0F);
    nn::batch_norm bn(24, 1e-5, 1.0);
    nn::tensor y;
    bn.forward(x, y, nn::mode::training);
    std::vector<double> mean(24, 0.0), sq(24, 0.0);
    const std::size_t rows = x.size() / 24;
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < 24; ++c) mean[c] += x[r * 24 + c];
    }
    for (double& m : mean) m /= static_cast<double>(rows);
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < 24; ++c) sq[c] += (x[r * 24 + c] - mean[c]) * (x[r * 24 + c] - mean[c]);
    }
    for (std::size_t c = 0; c < 24; ++c) {
        CHECK(bn.running_mean()[c] == doctest::Approx(mean[c]).epsilon(1e-6));
        CHECK(bn.running_var()[c] == doctest::Approx(sq[c] / static_cast<double>(rows - 1)).epsilon(1e-6));
    }
    // Max pooling of the batch equals pooling each image alone.
    nn::max_pool2d pool(3, 2, 1);
    nn::tensor batch_out, one_out;
    pool.forward(x, batch_out, nn::mode::evaluation);
    const std::size_t per_image = 16 * 16 * 24, per_out = 8 * 8 * 24;
    for (std::size_t n : {std::size_t{0}, std::size_t{7}, std::size_t{15}}) {
        nn::tensor one({1, 16, 16, 24});
        std::copy(x.begin() + static_cast<std::ptrdiff_t>(n * per_image),
                  x.begin() + static_cast<std::ptrdiff_t>((n + 1) * per_image), one.begin());
        pool.forward(one, one_out, nn::mode::evaluation);
        CHECK(std::equal(one_out.begin(), one_out.end(), batch_out.begin() + static_cast<std::ptrdiff_t>(n * per_out)));
    }
}

TEST_CASE("forward resizes the output in place (no reallocation for the same shape)") {
    const nn::tensor image = gc::uniform({2, 6, 6, 4}, 91);
    nn::relu r;
    nn::relu6 r6;
    nn::batch_norm bn(4);
    nn::max_pool2d mp(2, 2);
    nn::avg_pool2d ap(3, 2, 1);
    nn::global_avg_pool gap;
    nn::flatten flat;
    nn::option_a_shortcut a(2, 8);
    for (nn::layer* l : std::vector<nn::layer*>{&r, &r6, &bn, &mp, &ap, &gap, &flat, &a}) {
        INFO(l->kind());
        check_output_buffer_reused(*l, image);
        CHECK(l->output_shape(image.shape()) == [&] {
            nn::tensor out;
            l->forward(image, out, nn::mode::evaluation);
            return out.shape();
        }());
    }
}

// ----------------------------------------------------------------------------------------------------------------
// Errors.

TEST_CASE("errors: constructor parameters out of range name the value") {
    check_throws_with<parameter_error>([] { nn::batch_norm bn(0); }, {"batch_norm", "channels", "0"});
    check_throws_with<parameter_error>([] { nn::batch_norm bn(4, 0.0); }, {"batch_norm", "eps", "0"});
    check_throws_with<parameter_error>([] { nn::batch_norm bn(4, -1e-3); }, {"eps", "-0.001"});
    check_throws_with<parameter_error>([] { nn::batch_norm bn(4, std::numeric_limits<double>::infinity()); },
                                       {"eps", "inf"});
    check_throws_with<parameter_error>([] { nn::batch_norm bn(4, 1e-5, 1.5); }, {"momentum", "1.5"});
    check_throws_with<parameter_error>([] { nn::batch_norm bn(4, 1e-5, -0.25); }, {"momentum", "-0.25"});
    check_throws_with<parameter_error>([] { nn::max_pool2d p(0, 1); }, {"max_pool2d", "kernel", "0"});
    check_throws_with<parameter_error>([] { nn::max_pool2d p(2, 0); }, {"max_pool2d", "stride", "0"});
    check_throws_with<parameter_error>([] { nn::max_pool2d p(3, 1, 3); }, {"max_pool2d", "padding", "(3), got 3"});
    check_throws_with<parameter_error>([] { nn::avg_pool2d p(0, 1); }, {"avg_pool2d", "kernel", "0"});
    check_throws_with<parameter_error>([] { nn::avg_pool2d p(3, 0); }, {"avg_pool2d", "stride", "0"});
    check_throws_with<parameter_error>([] { nn::avg_pool2d p(2, 2, 5); }, {"avg_pool2d", "padding", "got 5"});
    check_throws_with<parameter_error>([] { nn::option_a_shortcut a(0, 4); }, {"option_a_shortcut", "stride", "0"});
    check_throws_with<parameter_error>([] { nn::option_a_shortcut a(2, 0); },
                                       {"option_a_shortcut", "out_channels", "0"});
}

TEST_CASE("errors: shapes that do not fit name the layer and the shape") {
    nn::batch_norm bn(4);
    check_throws_with<shape_error>([&] { (void)bn.output_shape({2, 3, 3, 5}); },
                                   {"batch_norm", "4 channels", "[2, 3, 3, 5]"});
    check_throws_with<shape_error>([&] { (void)bn.output_shape({4}); }, {"batch_norm", "[4]"});
    nn::tensor y;
    check_throws_with<shape_error>([&] { bn.forward(nn::tensor({2, 5}), y, nn::mode::evaluation); },
                                   {"batch_norm", "[2, 5]"});
    check_throws_with<shape_error>([&] { bn.forward(nn::tensor({1, 1, 1, 4}), y, nn::mode::training); },
                                   {"batch_norm", "more than one value per channel", "[1, 1, 1, 4]"});
    bn.running_var() = nn::tensor({3}, 1.0F);  // e.g. a bad load
    check_throws_with<shape_error>([&] { bn.forward(nn::tensor({2, 4}), y, nn::mode::evaluation); },
                                   {"batch_norm", "running_var", "[3]", "[4]"});

    nn::max_pool2d mp(3, 1, 1);
    check_throws_with<shape_error>([&] { (void)mp.output_shape({1, 4, 4}); }, {"max_pool2d", "rank 4", "[1, 4, 4]"});
    nn::max_pool2d big(5, 1, 1);
    check_throws_with<shape_error>([&] { (void)big.output_shape({1, 2, 9, 3}); },
                                   {"max_pool2d", "5x5", "[1, 2, 9, 3]", "padded by 1"});
    nn::avg_pool2d ap(5, 1, 0);
    check_throws_with<shape_error>([&] { ap.forward(nn::tensor({1, 9, 4, 1}), y, nn::mode::evaluation); },
                                   {"avg_pool2d", "5x5", "[1, 9, 4, 1]"});
    check_throws_with<shape_error>([&] { (void)ap.output_shape({1, 0, 9, 1}); }, {"avg_pool2d", "[1, 0, 9, 1]"});
    nn::global_avg_pool gap;
    check_throws_with<shape_error>([&] { (void)gap.output_shape({2, 8}); }, {"global_avg_pool", "[2, 8]"});
    nn::flatten flat;
    check_throws_with<shape_error>([&] { (void)flat.output_shape({6}); }, {"flatten", "[6]"});
    nn::option_a_shortcut a(2, 4);
    check_throws_with<shape_error>([&] { (void)a.output_shape({1, 4, 4, 6}); },
                                   {"option_a_shortcut", "at most 4 channels", "[1, 4, 4, 6]"});
    check_throws_with<shape_error>([&] { (void)a.output_shape({4, 4, 2}); }, {"option_a_shortcut", "[4, 4, 2]"});
}

TEST_CASE("errors: backward without a training forward, or with a gradient of the wrong shape") {
    nn::relu r;
    nn::batch_norm bn(2);
    nn::max_pool2d mp(2, 2);
    nn::avg_pool2d ap(2, 2);
    nn::global_avg_pool gap;
    nn::flatten flat;
    nn::option_a_shortcut a(2, 4);
    nn::relu6 r6;
    const nn::tensor image = gc::uniform({2, 4, 4, 2}, 101);
    for (nn::layer* l : std::vector<nn::layer*>{&r, &r6, &bn, &mp, &ap, &gap, &flat, &a}) {
        INFO(l->kind());
        nn::tensor y, g;
        check_throws_with<parameter_error>([&] { l->backward(nn::tensor({1}), g); }, {l->kind(), "training forward"});
        l->forward(image, y, nn::mode::evaluation);
        check_throws_with<parameter_error>([&] { l->backward(y, g); }, {l->kind(), "training forward"});
        l->forward(image, y, nn::mode::training);
        check_throws_with<shape_error>([&] { l->backward(nn::tensor({3, 5}), g); }, {l->kind(), "[3, 5]"});
        l->backward(y, g);
        CHECK(g.shape() == image.shape());
        l->release_cache();
        check_throws_with<parameter_error>([&] { l->backward(y, g); }, {l->kind(), "training forward"});
    }
}

TEST_CASE("errors: loss and top_k_correct name bad labels, shapes and k") {
    const nn::softmax_cross_entropy loss;
    const nn::tensor logits({3, 4}, 0.0F);
    check_throws_with<parameter_error>([&] { (void)loss.value(logits, std::vector<int>{0, 4, 1}); },
                                       {"softmax_cross_entropy", "label 4", "index 1", "[0, 4)"});
    check_throws_with<parameter_error>([&] { (void)loss.value(logits, std::vector<int>{0, 1, -1}); },
                                       {"label -1", "index 2"});
    check_throws_with<parameter_error>([&] { (void)loss.value(logits, std::vector<std::uint8_t>{200, 1, 1}); },
                                       {"label 200", "index 0"});
    nn::tensor g;
    check_throws_with<parameter_error>(
        [&] { (void)loss.value_and_gradient(logits, std::vector<int>{0, 1, 9}, g); }, {"label 9", "index 2"});
    check_throws_with<shape_error>([&] { (void)loss.value(logits, std::vector<int>{0, 1}); },
                                   {"softmax_cross_entropy", "2 labels", "[3, 4]"});
    check_throws_with<shape_error>([&] { (void)loss.value(nn::tensor({12}), std::vector<int>{0}); },
                                   {"softmax_cross_entropy", "[12]"});
    check_throws_with<shape_error>([&] { (void)loss.value(nn::tensor({0, 4}), std::vector<int>{}); }, {"[0, 4]"});
    check_throws_with<parameter_error>([&] { (void)nn::top_k_correct(logits, std::vector<int>{0, 1, 2}, 0); },
                                       {"top_k_correct", "k", "got 0"});
    check_throws_with<parameter_error>([&] { (void)nn::top_k_correct(logits, std::vector<int>{0, 1, 2}, 5); },
                                       {"top_k_correct", "[1, 4]", "got 5"});
    check_throws_with<parameter_error>([&] { (void)nn::top_k_correct(logits, std::vector<std::uint8_t>{0, 7, 2}, 1); },
                                       {"top_k_correct", "label 7", "index 1"});
}
