#pragma once
// Whole-model operations: the product layers (conv2d / linear) in forward order with their names, initialisation,
// quantisation, per-layer multiplier assignment and operation counts.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/random.hpp"

namespace approxnn::nn {

struct named_product_layer {
    std::string name;
    product_layer* layer;
};

/// Every conv2d / linear of the tree in forward order (residual: body before shortcut), with hierarchical names.
/// Also gives each layer its name for messages.
inline std::vector<named_product_layer> product_layers(layer& model) {
    std::vector<named_product_layer> out;
    visit_layers(model, [&](const std::string& name, layer& l) {
        if (auto* p = dynamic_cast<product_layer*>(&l)) {
            p->set_name(name);
            out.push_back({name, p});
        }
    });
    return out;
}

/// He (Kaiming) normal initialisation of conv2d weights (std = sqrt(2 / fan_out), as torchvision's ResNets),
/// PyTorch's default uniform for linear layers (U(+-1/sqrt(fan_in)) for weights and bias), conv biases 0.
inline void initialise(layer& model, std::uint64_t seed) {
    random_source rng(seed);
    for (auto& [name, l] : product_layers(model)) {
        tensor& w = l->weight().value;
        if (auto* c = dynamic_cast<conv2d*>(l)) {
            const double fan_out = static_cast<double>(c->out_channels() * c->options().kernel_h * c->options().kernel_w) /
                                   static_cast<double>(c->groups());
            const double std = std::sqrt(2.0 / fan_out);
            for (float& v : w) v = static_cast<float>(std * rng.normal());
            if (parameter* b = l->bias()) b->value.fill(0.0F);
        } else {
            const double bound = 1.0 / std::sqrt(static_cast<double>(w.size() / w.dim(0)));
            for (float& v : w) v = static_cast<float>(rng.uniform(-bound, bound));
            if (parameter* b = l->bias()) {
                for (float& v : b->value) v = static_cast<float>(rng.uniform(-bound, bound));
            }
        }
    }
}

/// Quantises every product layer with q (nullopt: back to float).
inline void quantise(layer& model, const std::optional<quantisation>& q) {
    for (auto& [name, l] : product_layers(model)) l->set_quantisation(q);
}

/// One multiplier per product layer in forward order (null: exact). Throws when the count does not match or a
/// multiplier does not fit a layer's quantisation (the message names the layer).
inline void assign_multipliers(layer& model, const std::vector<std::shared_ptr<const gemm::multiplier_plan>>& plans) {
    auto layers = product_layers(model);
    if (plans.size() != layers.size()) {
        throw shape_error("assign_multipliers: " + std::to_string(plans.size()) + " multipliers for " +
                          std::to_string(layers.size()) + " conv / linear layers");
    }
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i].layer->set_multiplier(plans[i]);
}

/// The same multiplier (null: exact) for every product layer.
inline void assign_multiplier(layer& model, const std::shared_ptr<const gemm::multiplier_plan>& plan) {
    for (auto& [name, l] : product_layers(model)) l->set_multiplier(plan);
}

struct layer_operations {
    std::string name;
    std::string kind;
    std::size_t multiplications = 0;  ///< per sample
    shape_t output;                   ///< output shape for a batch of one
};

/// Multiplications per sample of every product layer for one input of shape `sample` (without the batch
/// dimension, e.g. {28, 28, 1}). Runs one evaluation forward on zeros to learn the layers' input shapes.
inline std::vector<layer_operations> operation_counts(layer& model, const shape_t& sample) {
    shape_t batch_shape{1};
    batch_shape.insert(batch_shape.end(), sample.begin(), sample.end());
    std::vector<std::pair<product_layer*, shape_t>> seen;
    struct recorder final : output_hook {
        std::vector<std::pair<product_layer*, shape_t>>* log = nullptr;
        product_layer* owner = nullptr;
        std::shared_ptr<output_hook> previous;
        void forward(tensor& y, mode m) override {
            log->push_back({owner, y.shape()});
            if (previous) previous->forward(y, m);
        }
        void backward(tensor& grad) override {
            if (previous) previous->backward(grad);
        }
    };
    auto layers = product_layers(model);
    std::vector<std::shared_ptr<output_hook>> saved;
    for (auto& [name, l] : layers) {
        auto r = std::make_shared<recorder>();
        r->log = &seen;
        r->owner = l;
        r->previous = l->shared_hook();
        saved.push_back(l->shared_hook());
        l->set_output_hook(r);
    }
    std::vector<layer_operations> out;
    std::exception_ptr failure;
    try {
        tensor x(batch_shape);
        tensor y;
        model.forward(x, y, mode::evaluation);
    } catch (...) {
        failure = std::current_exception();
    }
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i].layer->set_output_hook(saved[i]);
    if (failure) std::rethrow_exception(failure);
    for (auto& [name, l] : layers) {
        for (auto& [owner, out_shape] : seen) {
            if (owner != l) continue;
            std::size_t mults = 0;
            if (auto* c = dynamic_cast<conv2d*>(l)) {
                mults = out_shape[1] * out_shape[2] * out_shape[3] * c->fan_in();
            } else {
                mults = out_shape[1] * static_cast<linear*>(l)->fan_in();
            }
            out.push_back({name, l->kind(), mults, out_shape});
            break;
        }
    }
    return out;
}

}  // namespace approxnn::nn
