// Whole models, the optimiser and the training loop of nn/: the model zoo (names, operation and parameter counts,
// shapes, initialisation), SGD and learning-rate schedules against hand values, evaluate() on hand-checked logits,
// train_step against a hand-computed update, and train() on the synthetic data set (accuracy, float and QAT,
// bit-identical repetitions and thread-count independence).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/loss.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/optimizer.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/trainer.hpp"
#include "gradient_check.hpp"
#include "small_cnn.hpp"
#include "test_support.hpp"

namespace {

namespace nn = approxnn::nn;
namespace gc = gradient_check;
using approxnn::parameter_error;
using test_support::check_throws_with;

std::vector<std::string> product_layer_names(nn::layer& model) {
    std::vector<std::string> names;
    for (const auto& l : nn::product_layers(model)) names.push_back(l.name);
    return names;
}

/// Every parameter value and buffer of a model, in visiting order.
std::vector<float> state_of(nn::layer& model) {
    std::vector<float> v;
    model.visit_parameters("", [&](const std::string&, nn::parameter& p) { v.insert(v.end(), p.value.begin(), p.value.end()); });
    model.visit_buffers("", [&](const std::string&, nn::tensor& t) { v.insert(v.end(), t.begin(), t.end()); });
    return v;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Parameter counts by the architecture (conv weights k*k*in/groups*out, batch norm 2 per channel).
std::size_t conv_params(std::size_t k, std::size_t in, std::size_t out, std::size_t groups = 1) {
    return k * k * in / groups * out;
}
std::size_t basic_block_params(std::size_t in, std::size_t out) {
    return conv_params(3, in, out) + 2 * out + conv_params(3, out, out) + 2 * out;
}
std::size_t cifar_resnet_params(std::size_t n, std::size_t in_channels, std::size_t classes) {
    std::size_t total = conv_params(3, in_channels, 16) + 2 * 16;
    std::size_t in = 16;
    for (std::size_t s = 0; s < 3; ++s) {
        const std::size_t out = 16U << s;
        for (std::size_t b = 0; b < n; ++b) {
            total += basic_block_params(in, out);
            in = out;
        }
    }
    return total + 64 * classes + classes;
}
std::size_t mobilenet_v2_params(std::size_t in_channels, std::size_t classes) {
    std::size_t total = conv_params(3, in_channels, 16) + 2 * 16;
    struct stage_t {
        std::size_t t, c, n;
    };
    std::size_t in = 16;
    for (const stage_t st : {stage_t{1, 16, 1}, stage_t{6, 24, 2}, stage_t{6, 32, 2}, stage_t{6, 64, 2}}) {
        for (std::size_t i = 0; i < st.n; ++i) {
            const std::size_t hidden = in * st.t;
            if (st.t != 1) total += conv_params(1, in, hidden) + 2 * hidden;
            total += conv_params(3, hidden, hidden, hidden) + 2 * hidden;
            total += conv_params(1, hidden, st.c) + 2 * st.c;
            in = st.c;
        }
    }
    return total + conv_params(1, 64, 256) + 2 * 256 + 256 * classes + classes;
}

using test_support::small_cnn;

nn::train_options quiet_options(std::size_t epochs, std::size_t batch, float lr) {
    nn::train_options o;
    o.epochs = epochs;
    o.batch_size = batch;
    o.optimizer.learning_rate = lr;
    o.optimizer.momentum = 0.9F;
    o.optimizer.weight_decay = 5e-4F;
    o.schedule = nn::lr_schedule::cosine_annealing(lr, epochs);
    o.seed = 7;
    o.on_epoch = [](const nn::epoch_report&) { return true; };
    return o;
}

/// While alive, every parallel_for of this thread runs serially (as nested calls do).
class serial_scope {
public:
    serial_scope() : previous_(approxnn::detail::inside_parallel_task) { approxnn::detail::inside_parallel_task = true; }
    ~serial_scope() { approxnn::detail::inside_parallel_task = previous_; }
    serial_scope(const serial_scope&) = delete;
    serial_scope& operator=(const serial_scope&) = delete;

private:
    bool previous_;
};

/// A layer holding a decayed parameter "w" and a parameter "b" without decay (identity forward).
class two_parameters final : public nn::layer {
public:
    nn::parameter w{nn::shape_t{2}, true};
    nn::parameter b{nn::shape_t{1}, false};

    [[nodiscard]] std::string kind() const override { return "two_parameters"; }
    [[nodiscard]] nn::shape_t output_shape(const nn::shape_t& input) const override { return input; }
    void forward(const nn::tensor& input, nn::tensor& output, nn::mode) override { output = input; }
    void backward(const nn::tensor& grad_output, nn::tensor& grad_input) override { grad_input = grad_output; }
    void visit_parameters(const std::string& prefix, const nn::parameter_visitor& fn) override {
        fn(nn::join_name(prefix, "w"), w);
        fn(nn::join_name(prefix, "b"), b);
    }
};

}  // namespace

// ----------------------------------------------------------------------------------------------------------------
// 5. Models.

TEST_CASE("model: product_layers of resnet8 in forward order with hierarchical names") {
    auto m = nn::resnet8();
    const std::vector<std::string> names = product_layer_names(*m);
    std::string listing;
    for (const auto& n : names) listing += n + "\n";
    MESSAGE("resnet8 product layers:\n" << listing);
    CHECK(names == std::vector<std::string>{"conv1", "layer1.0.block.body.conv1", "layer1.0.block.body.conv2",
                                            "layer2.0.block.body.conv1", "layer2.0.block.body.conv2",
                                            "layer3.0.block.body.conv1", "layer3.0.block.body.conv2", "linear"});
    // The names are the layers' message names, and their parameters' prefixes.
    for (const auto& l : nn::product_layers(*m)) CHECK(l.layer->name() == l.name);
    std::vector<std::string> params;
    m->visit_parameters("", [&](const std::string& name, nn::parameter&) { params.push_back(name); });
    CHECK(std::find(params.begin(), params.end(), "layer2.0.block.body.conv1.weight") != params.end());
    CHECK(std::find(params.begin(), params.end(), "layer2.0.block.body.bn2.bias") != params.end());
    CHECK(std::find(params.begin(), params.end(), "linear.bias") != params.end());

    auto lenet = nn::lenet5();
    CHECK(product_layer_names(*lenet) == std::vector<std::string>{"conv1", "conv2", "fc1", "fc2", "fc3"});
    auto r20 = nn::resnet20();
    CHECK(nn::product_layers(*r20).size() == 20);
    CHECK(product_layer_names(*r20)[6] == "layer1.2.block.body.conv2");
    auto mobile = nn::mobilenet_v2();
    const std::vector<std::string> mobile_names = product_layer_names(*mobile);
    CHECK(mobile_names.size() == 1 + 2 + 6 * 3 + 2);  // stem, t = 1 block, six t = 6 blocks, head, FC
    CHECK(mobile_names[0] == "stem");
    CHECK(mobile_names[1] == "features.0.body.depthwise");  // stride 1, 16 -> 16: a residual
    CHECK(mobile_names[3] == "features.1.expand");          // stride 2: no shortcut
    CHECK(mobile_names[6] == "features.2.body.expand");
    CHECK(mobile_names.back() == "classifier");
}

TEST_CASE("model: operation_counts of lenet5 and resnet8 against hand-computed multiplications per sample") {
    auto lenet = nn::lenet5();
    const auto ops = nn::operation_counts(*lenet, {28, 28, 1});
    REQUIRE(ops.size() == 5);
    const std::vector<std::size_t> lenet_expected{28 * 28 * 6 * 25, 10 * 10 * 16 * 150, 400 * 120, 120 * 84, 84 * 10};
    CHECK(lenet_expected == std::vector<std::size_t>{117600, 240000, 48000, 10080, 840});
    for (std::size_t i = 0; i < ops.size(); ++i) {
        CAPTURE(ops[i].name);
        CHECK(ops[i].multiplications == lenet_expected[i]);
    }
    CHECK(ops[0].name == "conv1");
    CHECK(ops[0].kind == "conv2d");
    CHECK(ops[0].output == nn::shape_t{1, 28, 28, 6});
    CHECK(ops[1].output == nn::shape_t{1, 10, 10, 16});
    CHECK(ops[4].kind == "linear");
    CHECK(ops[4].output == nn::shape_t{1, 10});

    auto r8 = nn::resnet8();
    const auto r8_ops = nn::operation_counts(*r8, {28, 28, 1});
    REQUIRE(r8_ops.size() == 8);
    // 3x3 convolutions: out_h * out_w * out_c * 9 * in_c; stages at 28, 14 and 7 pixels.
    const std::vector<std::size_t> r8_expected{28 * 28 * 16 * 9 * 1,  28 * 28 * 16 * 9 * 16, 28 * 28 * 16 * 9 * 16,
                                               14 * 14 * 32 * 9 * 16, 14 * 14 * 32 * 9 * 32, 7 * 7 * 64 * 9 * 32,
                                               7 * 7 * 64 * 9 * 64,   64 * 10};
    std::size_t total = 0;
    for (std::size_t i = 0; i < r8_ops.size(); ++i) {
        CAPTURE(r8_ops[i].name);
        CHECK(r8_ops[i].multiplications == r8_expected[i]);
        total += r8_ops[i].multiplications;
    }
    CHECK(total == 9'145'216);
    CHECK(r8_ops[3].output == nn::shape_t{1, 14, 14, 32});
    // Per sample: the same for a product layer asked directly.
    CHECK(nn::product_layers(*r8)[5].layer->multiplications_per_sample({3, 14, 14, 32}) == 7 * 7 * 64 * 9 * 32);

    // Existing hooks stay in place (and see the counting forward).
    struct counting_hook final : nn::output_hook {
        int forwards = 0;
        void forward(nn::tensor&, nn::mode) override { ++forwards; }
        void backward(nn::tensor&) override {}
    };
    auto hook = std::make_shared<counting_hook>();
    nn::product_layers(*lenet)[1].layer->set_output_hook(hook);
    (void)nn::operation_counts(*lenet, {28, 28, 1});
    CHECK(hook->forwards == 1);
    CHECK(nn::product_layers(*lenet)[1].layer->hook() == hook.get());
    CHECK(nn::product_layers(*lenet)[0].layer->hook() == nullptr);
    // A sample shape the model cannot take: the error propagates and the hooks are restored.
    CHECK_THROWS_AS((void)nn::operation_counts(*lenet, {28, 28, 3}), approxnn::shape_error);
    CHECK(nn::product_layers(*lenet)[1].layer->hook() == hook.get());
    CHECK(nn::product_layers(*lenet)[0].layer->hook() == nullptr);
}

TEST_CASE("model: parameter counts (ResNet-20 ~0.27 M with one input channel) and output shapes of every model") {
    CHECK(cifar_resnet_params(3, 1, 10) == 269'434);       // CIFAR ResNet-20 (3 input channels): 269 722
    CHECK(cifar_resnet_params(3, 3, 10) == 269'722);
    CHECK(cifar_resnet_params(1, 1, 10) == 75'002);
    const std::size_t lenet_params = (25 * 1 * 6 + 6) + (25 * 6 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10);
    CHECK(lenet_params == 61'706);
    struct expected_t {
        const char* name;
        std::size_t parameters;
    };
    for (const expected_t e : {expected_t{"lenet5", lenet_params}, expected_t{"resnet8", cifar_resnet_params(1, 1, 10)},
                               expected_t{"resnet20", cifar_resnet_params(3, 1, 10)},
                               expected_t{"mobilenet_v2", mobilenet_v2_params(1, 10)}}) {
        CAPTURE(e.name);
        auto m = nn::make_model(e.name);
        CHECK(nn::parameter_count(*m) == e.parameters);
        CHECK(m->output_shape({2, 28, 28, 1}) == nn::shape_t{2, 10});
        const nn::tensor x = gc::uniform({2, 28, 28, 1}, 3, 0.0F, 1.0F);
        nn::tensor y, gi;
        m->forward(x, y, nn::mode::evaluation);
        CHECK(y.shape() == nn::shape_t{2, 10});
        CHECK(std::all_of(y.begin(), y.end(), [](float v) { return std::isfinite(v); }));
        m->forward(x, y, nn::mode::training);
        CHECK(y.shape() == nn::shape_t{2, 10});
        m->backward(gc::uniform(y.shape(), 4), gi);
        CHECK(gi.shape() == x.shape());
        MESSAGE(std::string(e.name) << ": " << e.parameters << " parameters");
    }
    auto r32 = nn::cifar_resnet(32, {.classes = 7});
    CHECK(nn::parameter_count(*r32) == cifar_resnet_params(5, 1, 7));
    CHECK(r32->output_shape({1, 28, 28, 1}) == nn::shape_t{1, 7});
    auto rgb = nn::lenet5({.input_height = 32, .input_width = 32, .input_channels = 3});
    CHECK(rgb->output_shape({1, 32, 32, 3}) == nn::shape_t{1, 10});
    CHECK(nn::product_layers(*rgb)[2].layer->weight().value.shape() == nn::shape_t{120, 6 * 6 * 16});
}

TEST_CASE("model: make_model and cifar_resnet reject unknown names and depths") {
    check_throws_with<approxnn::not_found_error>([] { (void)nn::make_model("vgg16"); }, {"'vgg16'", "lenet5", "resnet20"});
    check_throws_with<parameter_error>([] { (void)nn::cifar_resnet(9); }, {"cifar_resnet", "depth 9", "6n + 2"});
    check_throws_with<parameter_error>([] { (void)nn::cifar_resnet(2); }, {"depth 2"});
    check_throws_with<parameter_error>([] { (void)nn::cifar_resnet(0); }, {"depth 0"});
    CHECK(nn::product_layers(*nn::cifar_resnet(14)).size() == 14);
}

TEST_CASE("model: initialise is deterministic for a seed; He-normal convolutions, uniform linear layers") {
    auto a = nn::lenet5({.seed = 5});
    auto b = nn::lenet5({.seed = 5});
    auto c = nn::lenet5({.seed = 6});
    CHECK(bit_identical(state_of(*a), state_of(*b)));
    CHECK_FALSE(bit_identical(state_of(*a), state_of(*c)));
    nn::initialise(*c, 5);
    CHECK(bit_identical(state_of(*a), state_of(*c)));

    auto r20 = nn::resnet20({.seed = 3});
    const auto layers = nn::product_layers(*r20);
    // layer3.2.block.body.conv2: 64 x 3 x 3 x 64 weights, std sqrt(2 / (64 * 9)).
    const nn::tensor& w = layers[18].layer->weight().value;
    REQUIRE(w.size() == 36864);
    double sum = 0.0, squares = 0.0;
    for (float v : w) {
        sum += v;
        squares += static_cast<double>(v) * v;
    }
    const double mean = sum / 36864.0;
    const double std = std::sqrt(squares / 36864.0 - mean * mean);
    CHECK(std::abs(mean) < 0.003);
    CHECK(std == doctest::Approx(std::sqrt(2.0 / 576.0)).epsilon(0.02));
    CHECK(layers[0].layer->bias() == nullptr);
    // The classifier: U(-1/8, 1/8) for weights and bias (fan-in 64).
    nn::product_layer& fc = *layers.back().layer;
    const auto [lo, hi] = std::minmax_element(fc.weight().value.begin(), fc.weight().value.end());
    CHECK(*lo >= -0.125F);
    CHECK(*hi < 0.125F);
    CHECK(*hi - *lo > 0.2F);
    for (float v : fc.bias()->value) CHECK(std::abs(v) <= 0.125F);
    // The first layer does not compute the input gradient (nothing consumes it); the others do.
    CHECK_FALSE(layers[0].layer->input_gradient());
    for (std::size_t i = 1; i < layers.size(); ++i) CHECK(layers[i].layer->input_gradient());
    // Batch norm starts at gamma 1, beta 0 (initialise touches conv / linear only).
    std::size_t bn_values = 0;
    r20->visit_parameters("", [&](const std::string& name, nn::parameter& p) {
        if (name == "bn1.weight") {
            bn_values += p.value.size();
            for (float v : p.value) CHECK(v == 1.0F);
        }
    });
    CHECK(bn_values == 16);
}

TEST_CASE("model: quantise sets and clears every product layer's quantisation") {
    auto m = nn::resnet8();
    nn::quantise(*m, nn::quantisation{approxnn::signedness::signed_operands, false});
    for (const auto& l : nn::product_layers(*m)) {
        CAPTURE(l.name);
        REQUIRE(l.layer->quantised());
        CHECK(l.layer->quantisation_config()->scheme == approxnn::signedness::signed_operands);
        CHECK_FALSE(l.layer->quantisation_config()->per_channel_weights);
    }
    std::vector<std::string> buffers;
    m->visit_buffers("", [&](const std::string& name, nn::tensor&) {
        if (name.find("input_range") != std::string::npos) buffers.push_back(name);
    });
    CHECK(buffers.size() == 8);
    CHECK(buffers.front() == "conv1.input_range");
    nn::quantise(*m, std::nullopt);
    for (const auto& l : nn::product_layers(*m)) CHECK_FALSE(l.layer->quantised());
}

// ----------------------------------------------------------------------------------------------------------------
// 6. Optimiser and schedules.

TEST_CASE("optimizer: sgd follows PyTorch's momentum, weight decay (decay parameters only) and nesterov on hand values") {
    // w = 1 (decay), b = 2 (no decay), constant gradients 0.5 and -1; lr 0.1, momentum 0.9, weight decay 0.01.
    // Plain, step 1: g' = 0.5 + 0.01 * 1 = 0.51, v = 0.51, w = 1 - 0.051 = 0.949.
    //        step 2: g' = 0.5 + 0.00949 = 0.50949, v = 0.459 + 0.50949 = 0.96849, w = 0.949 - 0.096849 = 0.852151.
    //        b: v = -1, b = 2.1; v = -1.9, b = 2.29.
    // Nesterov, step 1: w = 1 - 0.1 * (0.51 + 0.9 * 0.51) = 0.9031.
    //           step 2: g' = 0.509031, v = 0.968031, w = 0.9031 - 0.1 * (0.509031 + 0.8712279) = 0.76507411.
    //           b: 2 + 0.1 * 1.9 = 2.19; v = -1.9, b = 2.19 + 0.1 * (1 + 1.71) = 2.461.
    for (const bool nesterov : {false, true}) {
        CAPTURE(nesterov);
        two_parameters p;
        p.w.value[0] = 1.0F;
        p.w.value[1] = -4.0F;
        p.b.value[0] = 2.0F;
        p.w.grad.fill(0.5F);
        p.b.grad.fill(-1.0F);
        nn::sgd opt({.learning_rate = 0.1F, .momentum = 0.9F, .weight_decay = 0.01F, .nesterov = nesterov});
        opt.step(p);
        CHECK(p.w.value[0] == doctest::Approx(nesterov ? 0.9031 : 0.949).epsilon(1e-6));
        CHECK(p.b.value[0] == doctest::Approx(nesterov ? 2.19 : 2.1).epsilon(1e-6));
        CHECK(p.w.grad[0] == 0.5F);  // gradients are left as they are
        opt.step(p);
        CHECK(p.w.value[0] == doctest::Approx(nesterov ? 0.76507411 : 0.852151).epsilon(1e-6));
        CHECK(p.b.value[0] == doctest::Approx(nesterov ? 2.461 : 2.29).epsilon(1e-6));

        // Many steps with changing gradients against the formulas in double.
        double w = p.w.value[1], v = 0.0;
        two_parameters q;
        q.w.value[1] = p.w.value[1];
        nn::sgd fresh({.learning_rate = 0.05F, .momentum = 0.8F, .weight_decay = 0.1F, .nesterov = nesterov});
        for (int step = 0; step < 20; ++step) {
            const double g = std::sin(step * 0.7);
            q.w.grad[1] = static_cast<float>(g);
            fresh.step(q);
            const double gd = g + 0.1 * w;
            v = 0.8 * v + gd;
            w -= 0.05 * (nesterov ? gd + 0.8 * v : v);
        }
        CHECK(q.w.value[1] == doctest::Approx(w).epsilon(1e-5));
    }

    // Momentum 0 and weight decay 0: plain gradient descent; set_learning_rate takes effect on the next step; reset()
    // forgets the velocity.
    two_parameters p;
    p.w.value[0] = 1.0F;
    p.w.grad[0] = 2.0F;
    nn::sgd plain({.learning_rate = 0.25F, .momentum = 0.0F, .weight_decay = 0.0F});
    plain.step(p);
    CHECK(p.w.value[0] == 0.5F);
    plain.set_learning_rate(0.5F);
    CHECK(plain.options().learning_rate == 0.5F);
    plain.step(p);
    CHECK(p.w.value[0] == -0.5F);
    nn::sgd heavy({.learning_rate = 1.0F, .momentum = 0.5F, .weight_decay = 0.0F});
    p.w.value[0] = 0.0F;
    heavy.step(p);  // v = 2
    heavy.step(p);  // v = 3
    CHECK(p.w.value[0] == -5.0F);
    heavy.reset();
    heavy.step(p);  // v = 2 again
    CHECK(p.w.value[0] == -7.0F);
}

TEST_CASE("optimizer: sgd options out of range are parameter_error naming the values") {
    check_throws_with<parameter_error>([] { nn::sgd s({.learning_rate = -0.1F}); }, {"sgd", "learning rate -0.1"});
    check_throws_with<parameter_error>([] { nn::sgd s({.momentum = 1.0F}); }, {"sgd", "momentum 1.0"});
    check_throws_with<parameter_error>([] { nn::sgd s({.momentum = -0.5F}); }, {"momentum -0.5"});
    check_throws_with<parameter_error>([] { nn::sgd s({.weight_decay = -1e-3F}); }, {"weight decay -0.001"});
    check_throws_with<parameter_error>([] { nn::sgd s({.learning_rate = std::nanf("")}); }, {"learning rate nan"});
    CHECK_NOTHROW(nn::sgd({.learning_rate = 0.0F, .momentum = 0.0F, .weight_decay = 0.0F}));
}

TEST_CASE("optimizer: lr_schedule constant, step, multi-step and cosine values") {
    const nn::lr_schedule constant = nn::lr_schedule::constant_rate(0.05F);
    CHECK(constant.at(0.0) == 0.05F);
    CHECK(constant.at(123.5) == 0.05F);

    const nn::lr_schedule step = nn::lr_schedule::step_decay(0.1F, 30, 0.1F);
    CHECK(step.at(0.0) == doctest::Approx(0.1));
    CHECK(step.at(29.99) == doctest::Approx(0.1));
    CHECK(step.at(30.0) == doctest::Approx(0.01));
    CHECK(step.at(59.0) == doctest::Approx(0.01));
    CHECK(step.at(65.0) == doctest::Approx(0.001));
    nn::lr_schedule broken = step;
    broken.step = 0;
    check_throws_with<parameter_error>([&] { (void)broken.at(1.0); }, {"lr_schedule", "step 0"});

    const nn::lr_schedule multi = nn::lr_schedule::multi_step_decay(0.1F, {100, 150}, 0.1F);
    CHECK(multi.at(0.0) == doctest::Approx(0.1));
    CHECK(multi.at(99.5) == doctest::Approx(0.1));
    CHECK(multi.at(100.0) == doctest::Approx(0.01));
    CHECK(multi.at(149.0) == doctest::Approx(0.01));
    CHECK(multi.at(150.0) == doctest::Approx(0.001));
    CHECK(multi.at(400.0) == doctest::Approx(0.001));

    // Cosine to 0 over 10 epochs: 0.5 * base * (1 + cos(pi * t / T)), held at 0 afterwards.
    const nn::lr_schedule cosine = nn::lr_schedule::cosine_annealing(0.1F, 10);
    CHECK(cosine.at(0.0) == doctest::Approx(0.1));
    CHECK(cosine.at(2.5) == doctest::Approx(0.05 * (1.0 + std::sqrt(0.5))));
    CHECK(cosine.at(5.0) == doctest::Approx(0.05));
    CHECK(cosine.at(7.5) == doctest::Approx(0.05 * (1.0 - std::sqrt(0.5))));
    CHECK(cosine.at(10.0) == doctest::Approx(0.0));
    CHECK(cosine.at(25.0) == doctest::Approx(0.0));
    for (double t = 0.5; t <= 10.0; t += 0.5) CHECK(cosine.at(t) <= cosine.at(t - 0.5));
}

// ----------------------------------------------------------------------------------------------------------------
// 7. Evaluation and training.

TEST_CASE("training: evaluate gives top-1, top-5 and the mean loss of hand-checked logits, in batches") {
    // The model is a flatten: the logits are the images (7 samples, 1 x 1 x 6).
    const std::vector<std::vector<float>> logits{{5, 1, 0, 0, 0, 0},  // label 0: top-1
                                                 {1, 2, 3, 4, 5, 6},  // label 0: 5 greater, not even top-5
                                                 {1, 2, 3, 4, 5, 6},  // label 1: 4 greater, top-5 only
                                                 {0, 0, 0, 0, 0, 0},  // label 3: ties favour the label, top-1
                                                 {2, 9, 2, 2, 2, 2},  // label 2: 1 greater, top-5 only
                                                 {0, 0, 7, 0, 0, 0},  // label 2: top-1
                                                 {3, 1, 4, 1, 5, 9}};  // label 5: top-1
    const std::vector<std::uint8_t> labels{0, 0, 1, 3, 2, 2, 5};
    nn::dataset d;
    d.classes = 6;
    d.name = "hand";
    d.labels = labels;
    std::vector<float> flat;
    for (const auto& row : logits) flat.insert(flat.end(), row.begin(), row.end());
    d.images = nn::tensor({7, 1, 1, 6}, flat);
    double loss = 0.0;
    for (std::size_t i = 0; i < 7; ++i) {
        double sum = 0.0;
        for (float z : logits[i]) sum += std::exp(static_cast<double>(z));
        loss += std::log(sum) - logits[i][labels[i]];
    }
    loss /= 7.0;

    nn::sequential model;
    model.emplace<nn::flatten>("flatten");
    for (const std::size_t batch : {std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{500}}) {
        CAPTURE(batch);
        nn::tensor out;
        const nn::evaluation e = nn::evaluate(model, d, batch, &out);
        CHECK(e.samples == 7);
        CHECK(e.top1 == doctest::Approx(4.0 / 7.0));
        CHECK(e.top5 == doctest::Approx(6.0 / 7.0));
        CHECK(e.loss == doctest::Approx(loss).epsilon(1e-6));
        CHECK(out.shape() == nn::shape_t{7, 6});
        CHECK(std::equal(out.begin(), out.end(), flat.begin()));
    }
    // Fewer than 5 classes: top-5 is top-K (every sample).
    nn::dataset three = d;
    three.classes = 3;
    three.images = nn::tensor({2, 1, 1, 3}, std::vector<float>{1, 2, 3, 3, 2, 1});
    three.labels = {0, 0};
    const nn::evaluation e3 = nn::evaluate(model, three);
    CHECK(e3.top1 == doctest::Approx(0.5));
    CHECK(e3.top5 == doctest::Approx(1.0));
    nn::dataset empty;
    empty.images = nn::tensor({0, 1, 1, 6});
    CHECK(nn::evaluate(model, empty).samples == 0);
    check_throws_with<parameter_error>([&] { (void)nn::evaluate(model, d, 0); }, {"evaluate", "batch size 0"});
}

TEST_CASE("training: train_step zeroes the gradients, back-propagates the cross-entropy and steps (hand values)") {
    nn::sequential model;
    auto& fc = model.emplace<nn::linear>("fc", 3, 2);
    const std::vector<float> w0{0.5F, -0.25F, 1.0F, -1.0F, 0.75F, 0.25F};
    const std::vector<float> b0{0.1F, -0.2F};
    std::copy(w0.begin(), w0.end(), fc.weight().value.begin());
    std::copy(b0.begin(), b0.end(), fc.bias()->value.begin());
    fc.weight().grad.fill(100.0F);  // stale gradients must not leak into the step
    const nn::tensor x({2, 3}, std::vector<float>{1.0F, 2.0F, -1.0F, 0.5F, -0.5F, 2.0F});
    const std::vector<std::uint8_t> labels{1, 0};
    // Hand computation: z = x W^T + b, p = softmax(z), dz = (p - onehot) / 2, dW = dz^T x, db = sum dz.
    std::vector<double> dz(4);
    double loss = 0.0;
    std::size_t correct = 0;
    for (std::size_t n = 0; n < 2; ++n) {
        double z[2];
        for (std::size_t o = 0; o < 2; ++o) {
            z[o] = b0[o];
            for (std::size_t i = 0; i < 3; ++i) z[o] += static_cast<double>(x[n * 3 + i]) * w0[o * 3 + i];
        }
        const double m = std::max(z[0], z[1]);
        const double s = std::exp(z[0] - m) + std::exp(z[1] - m);
        loss += m + std::log(s) - z[labels[n]];
        correct += (z[labels[n]] >= z[1 - labels[n]]) ? 1 : 0;
        for (std::size_t o = 0; o < 2; ++o) dz[n * 2 + o] = (std::exp(z[o] - m) / s - (o == labels[n] ? 1.0 : 0.0)) / 2.0;
    }
    loss /= 2.0;
    nn::sgd opt({.learning_rate = 0.5F, .momentum = 0.0F, .weight_decay = 0.0F});
    const nn::step_result r = nn::train_step(model, opt, x, labels);
    CHECK(r.loss == doctest::Approx(loss).epsilon(1e-6));
    CHECK(r.correct == correct);
    for (std::size_t o = 0; o < 2; ++o) {
        double db = 0.0;
        for (std::size_t n = 0; n < 2; ++n) db += dz[n * 2 + o];
        CHECK(fc.bias()->value[o] == doctest::Approx(b0[o] - 0.5 * db).epsilon(1e-6));
        CHECK(fc.bias()->grad[o] == doctest::Approx(db).epsilon(1e-6));
        for (std::size_t i = 0; i < 3; ++i) {
            double dw = 0.0;
            for (std::size_t n = 0; n < 2; ++n) dw += dz[n * 2 + o] * x[n * 3 + i];
            CHECK(fc.weight().value[o * 3 + i] == doctest::Approx(w0[o * 3 + i] - 0.5 * dw).epsilon(1e-6));
        }
    }
    // The regulariser's value is added to the loss; it runs after backward.
    double seen_grad = 0.0;
    const nn::step_result with_reg = nn::train_step(model, opt, x, labels, [&](nn::layer&) {
        seen_grad = fc.weight().grad[0];
        return 1.5;
    });
    CHECK(seen_grad != 0.0);
    CHECK(with_reg.loss > 1.5);
}

TEST_CASE("training: a small CNN learns the synthetic data set; QAT reaches within a few points of float") {
    const nn::dataset train_set = nn::synthetic_dataset(2000, 1);
    const nn::dataset test_set = nn::synthetic_dataset(500, 2);
    const nn::evaluation before = nn::evaluate(*small_cnn(3), test_set);
    CHECK(before.top1 < 0.3);

    double float_top1 = 0.0;
    for (const bool qat : {false, true}) {
        CAPTURE(qat);
        auto model = small_cnn(3);
        if (qat) nn::quantise(*model, nn::quantisation{});
        nn::train_options o = quiet_options(4, 32, 0.05F);
        o.validation = &test_set;
        std::vector<nn::epoch_report> seen;
        o.on_epoch = [&](const nn::epoch_report& r) {
            seen.push_back(r);
            return true;
        };
        const auto start = std::chrono::steady_clock::now();
        const std::vector<nn::epoch_report> reports = nn::train(*model, train_set, o);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        REQUIRE(reports.size() == 4);
        CHECK(seen.size() == 4);
        const nn::evaluation e = nn::evaluate(*model, test_set);
        MESSAGE(std::string(qat ? "QAT" : "float") << " small CNN on synthetic(2000): test top-1 " << 100.0 * e.top1 << " %, top-5 "
                                        << 100.0 * e.top5 << " %, loss " << e.loss << ", " << seconds << " s");
        for (const auto& r : reports) MESSAGE(nn::format_report(r));
        REQUIRE(reports.back().validation.has_value());
        CHECK(reports.back().validation->top1 == doctest::Approx(e.top1));
        CHECK(reports.front().epoch == 1);
        CHECK(reports.back().epochs == 4);
        CHECK(reports.back().loss < reports.front().loss);
        CHECK(reports.front().learning_rate == doctest::Approx(0.05));
        CHECK(reports[2].learning_rate == doctest::Approx(0.025));
        CHECK(e.top1 >= 0.96);  // measured: 99.8 % (float and QAT)
        CHECK(e.top5 >= 0.98);
        CHECK(seconds < 20.0);
        if (!qat) {
            float_top1 = e.top1;
        } else {
            CHECK(e.top1 >= float_top1 - 0.03);
            for (const auto& l : nn::product_layers(*model)) CHECK(l.layer->input_quantiser().observed());
        }
    }
}

TEST_CASE("training: the same seeds give bit-identical weights, whatever the thread count; others differ") {
    const nn::dataset data = nn::synthetic_dataset(600, 11);
    nn::train_options o = quiet_options(2, 50, 0.05F);
    o.augment.horizontal_flip = true;
    o.augment.max_shift = 1;
    const auto run = [&](std::uint64_t train_seed, bool serial, bool qat) {
        auto model = small_cnn(5);
        if (qat) nn::quantise(*model, nn::quantisation{approxnn::signedness::signed_operands});
        nn::train_options oo = o;
        oo.seed = train_seed;
        std::optional<serial_scope> scope;
        if (serial) scope.emplace();
        (void)nn::train(*model, data, oo);
        return state_of(*model);
    };
    for (const bool qat : {false, true}) {
        CAPTURE(qat);
        const std::vector<float> a = run(7, false, qat);
        const std::vector<float> b = run(7, false, qat);
        const std::vector<float> serial = run(7, true, qat);
        const std::vector<float> other = run(8, false, qat);
        MESSAGE("hardware threads: " << approxnn::hardware_threads());
        CHECK(bit_identical(a, b));
        CHECK(bit_identical(a, serial));
        CHECK_FALSE(bit_identical(a, other));
    }
}

TEST_CASE("training: on_epoch may stop early; on_batch sees every batch; bad options are parameter_error") {
    const nn::dataset data = nn::synthetic_dataset(100, 3);
    auto model = small_cnn(1);
    nn::train_options o = quiet_options(5, 32, 0.01F);
    std::size_t batches_seen = 0;
    o.on_batch = [&](std::size_t epoch, std::size_t batch, std::size_t batches) {
        CHECK(batches == 4);  // 100 samples in batches of 32: 32, 32, 32, 4
        CHECK(batch == batches_seen % 4);
        CHECK(epoch == batches_seen / 4);
        ++batches_seen;
    };
    o.on_epoch = [](const nn::epoch_report& r) { return r.epoch < 2; };
    const auto reports = nn::train(*model, data, o);
    CHECK(reports.size() == 2);
    CHECK(batches_seen == 8);
    CHECK_FALSE(reports[0].validation.has_value());
    CHECK(reports[0].train_top1 >= 0.0);
    CHECK(reports[0].train_top1 <= 1.0);

    nn::train_options bad = quiet_options(1, 0, 0.01F);
    check_throws_with<parameter_error>([&] { (void)nn::train(*model, data, bad); }, {"train", "batch size 0"});
    nn::dataset empty;
    empty.name = "nothing";
    empty.images = nn::tensor({0, 12, 12, 1});
    check_throws_with<parameter_error>([&] { (void)nn::train(*model, empty, quiet_options(1, 8, 0.01F)); },
                                       {"train", "'nothing'", "empty"});
    nn::train_options bad_sgd = quiet_options(1, 8, 0.01F);
    bad_sgd.optimizer.momentum = 1.5F;
    check_throws_with<parameter_error>([&] { (void)nn::train(*model, data, bad_sgd); }, {"sgd", "momentum 1.5"});
}

TEST_CASE("training: recalibrate_batch_norm re-estimates running statistics under a biased multiplier, nothing else") {
    const nn::dataset train_set = nn::synthetic_dataset(1500, 3);
    const nn::dataset test_set = nn::synthetic_dataset(400, 4);
    auto model = nn::cifar_resnet(8, {.input_height = 12, .input_width = 12, .input_channels = 1, .classes = 10});
    nn::quantise(*model, nn::quantisation{});
    nn::train_options o = quiet_options(2, 32, 0.05F);
    (void)nn::train(*model, train_set, o);
    const double exact = nn::evaluate(*model, test_set).top1;
    // Truncating 7 columns: every product is too small, by 192 on average (std 115): the channels' means move.
    nn::assign_multiplier(*model, std::make_shared<const approxnn::gemm::multiplier_plan>(
                                      approxnn::multipliers::design_instance::parse("column_truncation_u8_k7")));
    const double biased = nn::evaluate(*model, test_set).top1;
    // Every parameter value, and every batch norm's running mean.
    const auto snapshot = [&] {
        std::pair<std::vector<float>, std::vector<float>> s;
        model->visit_parameters("", [&](const std::string&, nn::parameter& p) {
            s.first.insert(s.first.end(), p.value.begin(), p.value.end());
        });
        model->visit_buffers("", [&](const std::string& n, nn::tensor& t) {
            if (n.find("running_mean") != std::string::npos) s.second.insert(s.second.end(), t.begin(), t.end());
        });
        return s;
    };
    const auto [weights_before, stats_before] = snapshot();
    nn::recalibrate_batch_norm(*model, train_set, 640, 64);
    const double recalibrated = nn::evaluate(*model, test_set).top1;
    const auto [weights_after, stats_after] = snapshot();
    MESSAGE("top-1 exact " << exact << ", column truncation k=7 " << biased << ", recalibrated " << recalibrated);
    CHECK(weights_after == weights_before);
    nn::visit_layers(*model, [](const std::string&, nn::layer& l) {
        if (auto* bn = dynamic_cast<nn::batch_norm*>(&l)) CHECK(bn->momentum() == 0.1);  // restored
    });
    CHECK(stats_after != stats_before);
    CHECK(recalibrated > biased + 0.1);
    check_throws_with<parameter_error>([&] { nn::recalibrate_batch_norm(*model, train_set, 100, 1); }, {"batch size 1"});
}
