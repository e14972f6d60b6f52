// AGN (noise/agn.hpp) and layer profiles (noise/layer_profile.hpp): the noise hook against its definition, its
// sigma gradient against the noise it drew, the reward and its gradient against hand values, sigma learning
// moving in the expected direction on a toy model, and tolerances from traced exact outputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/noise/agn.hpp"
#include "approxnn/noise/layer_profile.hpp"
#include "small_cnn.hpp"
#include "test_support.hpp"

namespace {

namespace nn = approxnn::nn;
namespace noise = approxnn::noise;
using test_support::check_throws_with;

using test_support::small_cnn;

nn::tensor ramp(const nn::shape_t& shape) {
    nn::tensor t(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 3.0 + 0.5);
    return t;
}

double std_of(const nn::tensor& t) {
    double s = 0.0, q = 0.0;
    for (const float v : t) {
        s += v;
        q += static_cast<double>(v) * v;
    }
    const double n = static_cast<double>(t.size());
    return std::sqrt((q - s * s / n) / (n - 1.0));
}

}  // namespace

TEST_CASE("agn: the hook adds eps * std(y) * sigma in training, nothing in evaluation; eps is standard normal") {
    const nn::tensor y = ramp({64, 8, 8, 16});
    noise::gaussian_noise hook(0.25, 42);
    nn::tensor e = y;
    hook.forward(e, nn::mode::evaluation);
    CHECK(e.values().size() == y.size());
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(e[i] == y[i]);

    nn::tensor t = y;
    hook.forward(t, nn::mode::training);
    const double sy = std_of(y);
    CHECK(hook.last_output_std() == doctest::Approx(sy).epsilon(1e-9));
    // eps = (t - y) / (std * sigma): mean 0, std 1, and a Gaussian's fourth moment 3.
    double m1 = 0.0, m2 = 0.0, m4 = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        const double eps = (static_cast<double>(t[i]) - y[i]) / (sy * 0.25);
        m1 += eps;
        m2 += eps * eps;
        m4 += eps * eps * eps * eps;
    }
    const double n = static_cast<double>(y.size());
    CHECK(std::abs(m1 / n) < 0.02);
    CHECK(m2 / n == doctest::Approx(1.0).epsilon(0.02));
    CHECK(m4 / n == doctest::Approx(3.0).epsilon(0.05));

    // A second call draws new noise; the same seed reproduces the sequence, whatever the thread count.
    nn::tensor t2 = y;
    hook.forward(t2, nn::mode::training);
    CHECK(t2.values()[5] != t.values()[5]);
    for (const unsigned threads : {1U, 2U}) {
        noise::gaussian_noise again(0.25, 42);
        again.set_threads(threads);
        nn::tensor r = y;
        again.forward(r, nn::mode::training);
        for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(r[i] == t[i]);
    }

    // Disabled: an identity.
    hook.set_enabled(false);
    nn::tensor d = y;
    hook.forward(d, nn::mode::training);
    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(d[i] == y[i]);
}

TEST_CASE("agn: backward passes the gradient through and adds sum(grad * eps * std) to sigma's gradient") {
    const nn::tensor y = ramp({8, 5, 5, 4});
    noise::gaussian_noise hook(0.5, 3);
    nn::tensor t = y;
    hook.forward(t, nn::mode::training);
    nn::tensor grad = ramp({8, 5, 5, 4});
    for (float& g : grad) g *= 0.1F;
    const nn::tensor grad_in = grad;
    hook.sigma_parameter().grad[0] = 1.0F;  // accumulates
    hook.backward(grad);
    double expected = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) expected += static_cast<double>(grad_in[i]) * (t[i] - y[i]) / 0.5;
    CHECK(hook.sigma_parameter().grad[0] == doctest::Approx(1.0 + expected).epsilon(1e-4));
    for (std::size_t i = 0; i < grad.size(); ++i) REQUIRE(grad[i] == grad_in[i]);
    // A finite difference of L = sum(grad * y') in sigma, with the noise held fixed (same seed, first call).
    const auto loss_at = [&](double sigma) {
        noise::gaussian_noise h(sigma, 3);
        nn::tensor v = y;
        h.forward(v, nn::mode::training);
        double l = 0.0;
        for (std::size_t i = 0; i < v.size(); ++i) l += static_cast<double>(grad_in[i]) * v[i];
        return l;
    };
    const double fd = (loss_at(0.5 + 1e-2) - loss_at(0.5 - 1e-2)) / 2e-2;
    CHECK(fd == doctest::Approx(expected).epsilon(1e-3));
}

TEST_CASE("agn: the reward weights each layer by its share of multiplications and caps sigma at sigma_max") {
    auto model = small_cnn(1);
    noise::agn_options o;
    o.sigma_init = 0.2;
    o.sigma_max = 0.5;
    o.lambda = 0.3;
    noise::noise_injection agn(*model, {12, 12, 1}, o);
    REQUIRE(agn.size() == 3);
    // conv1: 12*12*8*9 = 10368; conv2: 6*6*16*72 = 41472; fc: 144*10 = 1440.
    const double total = 10368.0 + 41472.0 + 1440.0;
    CHECK(agn.operation_share(0) == doctest::Approx(10368.0 / total));
    CHECK(agn.operation_share(1) == doctest::Approx(41472.0 / total));
    CHECK(agn.layer_name(2) == "fc");
    CHECK(agn.penalty() == doctest::Approx(-0.3 * 0.2));
    agn.hook(1).set_sigma(-0.7);  // |sigma| above the cap: no gradient, capped reward
    agn.hook(2).set_sigma(-0.1);
    nn::zero_gradients(*model);
    const double value = agn.add_penalty_gradient();
    const double expected = -0.3 * (10368.0 / total * 0.2 + 41472.0 / total * 0.5 + 1440.0 / total * 0.1);
    CHECK(value == doctest::Approx(expected));
    CHECK(agn.hook(0).sigma_parameter().grad[0] == doctest::Approx(-0.3 * 10368.0 / total));
    CHECK(agn.hook(1).sigma_parameter().grad[0] == 0.0F);
    CHECK(agn.hook(2).sigma_parameter().grad[0] == doctest::Approx(+0.3 * 1440.0 / total));
    const std::vector<double> sigmas = agn.sigmas();
    REQUIRE(sigmas.size() == 3);
    CHECK(sigmas[0] == doctest::Approx(0.2));
    CHECK(sigmas[1] == doctest::Approx(0.7));
    CHECK(sigmas[2] == doctest::Approx(0.1));
    // The sigmas are model parameters under the layer's name.
    std::vector<std::string> names;
    model->visit_parameters("", [&](const std::string& n, nn::parameter&) { names.push_back(n); });
    CHECK(std::find(names.begin(), names.end(), "conv2.hook.sigma") != names.end());
    agn.detach();
    for (const auto& l : nn::product_layers(*model)) CHECK(l.layer->hook() == nullptr);

    noise::agn_options bad;
    bad.lambda = -1.0;
    check_throws_with<approxnn::parameter_error>([&] { noise::noise_injection x(*model, {12, 12, 1}, bad); },
                                                 {"lambda", "-1"});
    bad = {};
    bad.sigma_max = 0.0;
    check_throws_with<approxnn::parameter_error>([&] { noise::noise_injection x(*model, {12, 12, 1}, bad); },
                                                 {"sigma_max"});
}

TEST_CASE("agn: sigma learning shrinks sigma without a reward and grows it with a strong one (toy model)") {
    const nn::dataset data = nn::synthetic_dataset(1200, 11);
    auto base = small_cnn(4);
    nn::quantise(*base, nn::quantisation{});
    nn::train_options t;
    t.epochs = 2;
    t.batch_size = 32;
    t.optimizer.learning_rate = 0.05F;
    t.schedule = nn::lr_schedule::constant_rate(0.05F);
    t.on_epoch = [](const nn::epoch_report&) { return true; };
    (void)nn::train(*base, data, t);

    std::vector<double> low, high;
    for (const double lambda : {0.0, 8.0}) {
        auto model = small_cnn(4);
        nn::quantise(*model, nn::quantisation{});
        // Same starting weights as the trained base.
        std::vector<nn::parameter*> from, to;
        base->visit_parameters("", [&](const std::string&, nn::parameter& p) { from.push_back(&p); });
        model->visit_parameters("", [&](const std::string&, nn::parameter& p) { to.push_back(&p); });
        REQUIRE(from.size() == to.size());
        for (std::size_t i = 0; i < from.size(); ++i) to[i]->value = from[i]->value;
        noise::agn_options o;
        o.sigma_init = 0.3;
        o.sigma_max = 1.0;
        o.lambda = lambda;
        noise::noise_injection agn(*model, {12, 12, 1}, o);
        nn::train_options a = t;
        a.epochs = 1;
        a.optimizer.learning_rate = 0.02F;
        a.schedule = nn::lr_schedule::constant_rate(0.02F);
        a.regulariser = agn.regulariser();
        (void)nn::train(*model, data, a);
        (lambda == 0.0 ? low : high) = agn.sigmas();
    }
    MESSAGE("sigmas without reward: " << low[0] << " " << low[1] << " " << low[2] << "; with lambda 8: " << high[0]
                                      << " " << high[1] << " " << high[2]);
    // Without a reward noise only hurts: every sigma shrinks. With one, the convolutions (97 % of the
    // multiplications) take more noise; the classifier's reward (3 %) is too small to outweigh its loss.
    for (std::size_t l = 0; l < 3; ++l) {
        CAPTURE(l);
        CHECK(low[l] < 0.3);
    }
    CHECK(high[0] > 0.3);
    CHECK(high[1] > 0.3);
    CHECK(high[0] > 4 * low[0]);
    CHECK(high[1] > 4 * low[1]);
}

TEST_CASE("profile: exact integer outputs, their std and tolerances tau = |sigma| * std(Y) per layer") {
    auto model = small_cnn(2);
    nn::quantise(*model, nn::quantisation{});
    const nn::dataset data = nn::synthetic_dataset(64, 5);
    nn::train_options t;
    t.epochs = 1;
    t.batch_size = 16;
    t.on_epoch = [](const nn::epoch_report&) { return true; };
    (void)nn::train(*model, data, t);  // observes the activation ranges
    const auto profiles = noise::profile_layers(*model, data.images);
    REQUIRE(profiles.size() == 3);
    CHECK(profiles[0].name == "conv1");
    CHECK(profiles[0].operations == 10368);
    CHECK(profiles[1].trace.depth == 72);
    CHECK(profiles[1].trace.pixels == 64 * 36);
    CHECK(profiles[2].trace.exact_output.size() == 64 * 10);
    for (const auto& p : profiles) {
        double s = 0.0, q = 0.0;
        for (const auto v : p.trace.exact_output) {
            s += v;
            q += static_cast<double>(v) * v;
        }
        const double n = static_cast<double>(p.trace.exact_output.size());
        CHECK(p.output_mean == doctest::Approx(s / n));
        CHECK(p.output_std == doctest::Approx(std::sqrt((q - s * s / n) / (n - 1.0))));
        CHECK(p.output_std > 0.0);
    }
    const auto tau = noise::tolerances(profiles, {0.1, -0.2, 0.0});
    CHECK(tau[0] == doctest::Approx(0.1 * profiles[0].output_std));
    CHECK(tau[1] == doctest::Approx(0.2 * profiles[1].output_std));
    CHECK(tau[2] == 0.0);
    check_throws_with<approxnn::shape_error>([&] { (void)noise::tolerances(profiles, {0.1}); }, {"1 sigmas", "3 layers"});
    auto float_model = small_cnn(2);
    check_throws_with<approxnn::parameter_error>([&] { (void)noise::profile_layers(*float_model, data.images); },
                                                 {"conv1", "not quantised"});
}
