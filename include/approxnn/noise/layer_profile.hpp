#pragma once
// A quantised model's product layers observed on a reference sample: their integer operands, the statistics of
// their exact integer outputs and their multiplications — what the error model and the tolerances need.
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::noise {

struct layer_profile {
    std::string name;
    std::size_t operations = 0;  ///< multiplications per sample
    nn::operand_trace trace;     ///< integer operands and exact integer outputs on the sample
    double output_mean = 0.0;    ///< of the exact integer output Y_l over the sample
    double output_std = 0.0;     ///< std(Y_l), as torch.std (unbiased)
};

/// Runs `images` (N, H, W, C) through the quantised `model` in one evaluation forward and records every product
/// layer. The model must be quantised (nn::quantise) and is left unchanged, multipliers included; layers running an
/// approximate multiplier are recorded with their exact outputs all the same.
/// Throws parameter_error when the model is not quantised or images is empty.
inline std::vector<layer_profile> profile_layers(nn::layer& model, const nn::tensor& images) {
    if (images.rank() < 2 || images.dim(0) == 0) {
        throw parameter_error("profile_layers: need at least one image, got shape " + nn::to_string(images.shape()));
    }
    auto layers = nn::product_layers(model);
    for (const auto& [name, l] : layers) {
        if (!l->quantised()) {
            throw parameter_error("profile_layers: layer '" + name + "' is not quantised (call nn::quantise first)");
        }
    }
    const nn::shape_t sample(images.shape().begin() + 1, images.shape().end());
    const auto counts = nn::operation_counts(model, sample);
    std::vector<std::optional<nn::operand_trace>> traces(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        layers[i].layer->set_tracer([&traces, i](const nn::operand_trace& t) {
            if (traces[i]) {
                throw parameter_error("profile_layers: layer '" + t.layer + "' ran twice in one forward");
            }
            traces[i] = t;
        });
    }
    try {
        nn::tensor logits;
        model.forward(images, logits, nn::mode::evaluation);
    } catch (...) {
        for (auto& [name, l] : layers) l->set_tracer({});
        throw;
    }
    for (auto& [name, l] : layers) l->set_tracer({});

    std::vector<layer_profile> out;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (!traces[i]) throw parameter_error("profile_layers: layer '" + layers[i].name + "' did not run");
        layer_profile p;
        p.name = layers[i].name;
        p.operations = counts[i].multiplications;
        p.trace = std::move(*traces[i]);
        p.trace.layer = p.name;
        const auto& y = p.trace.exact_output;
        double s = 0.0, q = 0.0;
        for (const std::int32_t v : y) {
            s += v;
            q += static_cast<double>(v) * v;
        }
        const double n = static_cast<double>(y.size());
        p.output_mean = n > 0 ? s / n : 0.0;
        p.output_std = n > 1 ? std::sqrt(std::max(0.0, (q - n * p.output_mean * p.output_mean) / (n - 1.0))) : 0.0;
        out.push_back(std::move(p));
    }
    return out;
}

/// tau_l = |sigma_l| * std(Y_l) for every layer (sigmas in profile order, e.g. noise_injection::sigmas()).
/// Throws shape_error when the counts differ.
inline std::vector<double> tolerances(const std::vector<layer_profile>& profiles, const std::vector<double>& sigmas) {
    if (profiles.size() != sigmas.size()) {
        throw shape_error("tolerances: " + std::to_string(sigmas.size()) + " sigmas for " +
                          std::to_string(profiles.size()) + " layers");
    }
    std::vector<double> tau(profiles.size());
    for (std::size_t i = 0; i < tau.size(); ++i) tau[i] = std::abs(sigmas[i]) * profiles[i].output_std;
    return tau;
}

}  // namespace approxnn::noise
