#pragma once
// Finite-difference gradient checks for any nn::layer (tests only).
//
// The loss is a random projection L(x, p) = sum(layer(x; p) * R) with R uniform in [-1, 1], so backward() gets
// grad_output = R. Each checked element of the input and of every parameter is moved by +-step and the central
// difference (L+ - L-) / (x+ - x-) is taken in double (x+ and x- as rounded to float). All forwards run in training
// mode (buffers such as batch-norm running statistics change). Before backward() every parameter gradient is set
// to random values G0 and grad_input to NaNs of a wrong shape: the analytic parameter gradient is grad - G0 (the
// contract: backward accumulates into parameter gradients and overwrites grad_input). Error of a tensor:
// max |analytic - numeric| / max(max |numeric|, scale_floor).
//
// The default input is uniform in +-[0.1, 1.1] (magnitudes away from 0, so a step of 0.01 never crosses relu's
// kink); layers with other kinks (relu6, max-pool ties) need inputs chosen by the test.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"

namespace gradient_check {

namespace nn = approxnn::nn;

struct options {
    std::uint32_t seed = 1;                 ///< of the projection R, of G0 and of the default input
    double step = 1e-2;                     ///< the central-difference step
    double tolerance = 1e-3;                ///< the largest error accepted per tensor
    double scale_floor = 0.1;               ///< the error's denominator is at least this
    std::size_t max_checks_per_tensor = 0;  ///< 0: every element; else at most this many, evenly spread
    bool check_input = true;
    bool check_parameters = true;
};

/// The comparison for one tensor ("input" or a parameter's name).
struct tensor_report {
    std::string name;
    std::size_t checked = 0;
    double error = 0.0;  ///< max |analytic - numeric| / max(max |numeric|, scale_floor)
    std::size_t worst_index = 0;
    double worst_analytic = 0.0, worst_numeric = 0.0;
};

struct report {
    std::vector<tensor_report> tensors;
    bool shapes_ok = true;  ///< output and grad_input got the shapes output_shape() and the input have
    std::string shape_message;

    [[nodiscard]] double worst_error() const {
        double e = 0.0;
        for (const auto& t : tensors) e = std::max(e, t.error);
        return e;
    }
    [[nodiscard]] bool passed(double tolerance) const {
        if (!shapes_ok) return false;
        return std::all_of(tensors.begin(), tensors.end(), [&](const tensor_report& t) {
            return t.error <= tolerance;  // false for NaN
        });
    }
    [[nodiscard]] std::string describe() const {
        std::ostringstream s;
        s.precision(6);
        if (!shapes_ok) s << shape_message << "\n";
        for (const auto& t : tensors) {
            s << t.name << ": " << t.checked << " elements, error " << t.error << " (worst at " << t.worst_index
              << ": analytic " << t.worst_analytic << ", numeric " << t.worst_numeric << ")\n";
        }
        return s.str();
    }
};

/// Values uniform in [lo, hi].
inline nn::tensor uniform(const nn::shape_t& shape, std::uint32_t seed, float lo = -1.0F, float hi = 1.0F) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    nn::tensor t(shape);
    for (float& v : t) v = dist(rng);
    return t;
}

/// Values with random sign and magnitude uniform in [0.1, 1.1].
inline nn::tensor away_from_zero(const nn::shape_t& shape, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> magnitude(0.1F, 1.1F);
    std::bernoulli_distribution negative(0.5);
    nn::tensor t(shape);
    for (float& v : t) v = negative(rng) ? -magnitude(rng) : magnitude(rng);
    return t;
}

namespace detail {

inline double projected(nn::layer& layer, const nn::tensor& input, const nn::tensor& projection, nn::tensor& out) {
    layer.forward(input, out, nn::mode::training);
    double sum = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) sum += static_cast<double>(out[i]) * projection[i];
    return sum;
}

inline std::vector<std::size_t> picks(std::size_t size, std::size_t max_checks) {
    std::vector<std::size_t> v;
    if (max_checks == 0 || max_checks >= size) {
        for (std::size_t i = 0; i < size; ++i) v.push_back(i);
    } else {
        for (std::size_t k = 0; k < max_checks; ++k) v.push_back(k * size / max_checks);
    }
    return v;
}

/// Compares analytic[i] with the central difference of L over values[i] for the picked i.
template <class Loss>
tensor_report compare(std::string name, nn::tensor& values, const std::vector<double>& analytic, const options& o,
                      Loss&& loss) {
    tensor_report r;
    r.name = std::move(name);
    std::vector<std::size_t> indices = picks(values.size(), o.max_checks_per_tensor);
    std::vector<double> numeric(indices.size());
    for (std::size_t k = 0; k < indices.size(); ++k) {
        const std::size_t i = indices[k];
        const float original = values[i];
        const auto up = static_cast<float>(original + o.step);
        const auto down = static_cast<float>(original - o.step);
        values[i] = up;
        const double l_up = loss();
        values[i] = down;
        const double l_down = loss();
        values[i] = original;
        numeric[k] = (l_up - l_down) / (static_cast<double>(up) - static_cast<double>(down));
    }
    double scale = o.scale_floor;
    for (double n : numeric) scale = std::max(scale, std::abs(n));
    r.checked = indices.size();
    for (std::size_t k = 0; k < indices.size(); ++k) {
        const double e = std::abs(analytic[indices[k]] - numeric[k]) / scale;
        if (!(e <= r.error)) {  // NaN counts as worst
            r.error = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
            r.worst_index = indices[k];
            r.worst_analytic = analytic[indices[k]];
            r.worst_numeric = numeric[k];
        }
    }
    return r;
}

}  // namespace detail

/// Measures the gradients of `layer` at `input` (see the top of this file).
inline report measure(nn::layer& layer, const nn::tensor& input, const options& o = {}) {
    report rep;
    const nn::shape_t out_shape = layer.output_shape(input.shape());
    const nn::tensor projection = uniform(out_shape, o.seed + 1);

    std::vector<std::pair<std::string, nn::parameter*>> params;
    layer.visit_parameters("", [&](const std::string& name, nn::parameter& p) { params.emplace_back(name, &p); });
    std::vector<nn::tensor> initial;
    for (std::size_t k = 0; k < params.size(); ++k) {
        initial.push_back(uniform(params[k].second->grad.shape(), o.seed + 2 + static_cast<std::uint32_t>(k)));
        params[k].second->grad = initial.back();
    }

    nn::tensor output({1}, 123.0F);
    layer.forward(input, output, nn::mode::training);
    nn::tensor grad_input({3}, std::numeric_limits<float>::quiet_NaN());
    layer.backward(projection, grad_input);
    if (output.shape() != out_shape || grad_input.shape() != input.shape()) {
        rep.shapes_ok = false;
        rep.shape_message = "output " + nn::to_string(output.shape()) + " (expected " + nn::to_string(out_shape) +
                            "), grad_input " + nn::to_string(grad_input.shape()) + " (expected " +
                            nn::to_string(input.shape()) + ")";
        return rep;
    }

    nn::tensor x = input;
    nn::tensor scratch;
    const auto loss = [&] { return detail::projected(layer, x, projection, scratch); };
    if (o.check_input) {
        std::vector<double> analytic(grad_input.begin(), grad_input.end());
        rep.tensors.push_back(detail::compare("input", x, analytic, o, loss));
    }
    if (o.check_parameters) {
        for (std::size_t k = 0; k < params.size(); ++k) {
            nn::parameter& p = *params[k].second;
            std::vector<double> analytic(p.grad.size());
            for (std::size_t i = 0; i < analytic.size(); ++i) {
                analytic[i] = static_cast<double>(p.grad[i]) - static_cast<double>(initial[k][i]);
            }
            rep.tensors.push_back(detail::compare(params[k].first, p.value, analytic, o, loss));
        }
    }
    return rep;
}

/// Checks (doctest) the gradients of `layer` at `input`.
inline void check(nn::layer& layer, const nn::tensor& input, const options& o = {}) {
    const report r = measure(layer, input, o);
    INFO(layer.kind() << " at input " << nn::to_string(input.shape()) << ":\n" << r.describe());
    CHECK(r.shapes_ok);
    CHECK(!r.tensors.empty());
    CHECK(r.passed(o.tolerance));
}

/// Checks (doctest) the gradients of `layer` at a random input of `input_shape` (values away from 0).
inline void check(nn::layer& layer, const nn::shape_t& input_shape, const options& o = {}) {
    check(layer, away_from_zero(input_shape, o.seed), o);
}

}  // namespace gradient_check
