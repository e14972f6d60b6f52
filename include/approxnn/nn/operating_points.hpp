#pragma once
// Operating points (OPs) of a model (QoS-Nets, docs/noise-and-qos.md section 7): the conv / linear weights are
// shared by all OPs; each OP has its own batch norms (gamma, beta, running mean and variance) and its own conv /
// linear biases (and, assigned from outside, its own multiplier per layer: qos/finetune.hpp). These functions apply
// batch_norm::set_operating_points / select_operating_point and the product_layer ones to every layer of a tree,
// and count what the OPs cost in parameters.
#include <cstddef>
#include <string>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/layers/product_layer.hpp"

namespace approxnn::nn {

namespace detail::operating_points {

/// Calls bn(name, batch_norm&) and product(name, product_layer&) for every such layer of the tree.
template <class BatchNorm, class Product>
void for_each_op_layer(layer& model, BatchNorm&& bn, Product&& product) {
    visit_layers(model, [&](const std::string& name, layer& l) {
        if (auto* b = dynamic_cast<batch_norm*>(&l)) bn(name, *b);
        if (auto* p = dynamic_cast<product_layer*>(&l)) product(name, *p);
    });
}

}  // namespace detail::operating_points

/// Gives every batch_norm and conv2d / linear of `model` n >= 1 operating points (see batch_norm and
/// product_layer::set_operating_points: existing sets below n are kept, new ones copy the active one; n = 1 keeps
/// the active set only). parameter_error for n = 0 (the model is unchanged then).
inline void set_operating_points(layer& model, std::size_t n) {
    if (n == 0) throw parameter_error("set_operating_points: the number of operating points must be at least 1, got 0");
    detail::operating_points::for_each_op_layer(
        model, [&](const std::string&, batch_norm& b) { b.set_operating_points(n); },
        [&](const std::string&, product_layer& p) { p.set_operating_points(n); });
}

/// The number of operating points of `model` (1 when it has no batch_norm, conv2d or linear). parameter_error
/// naming two layers when they disagree (set_operating_points was applied to a part of the model only).
inline std::size_t operating_points(layer& model) {
    std::size_t n = 0;
    std::string first;
    const auto check = [&](const std::string& name, std::size_t count) {
        if (n == 0) {
            n = count;
            first = name;
        } else if (count != n) {
            throw parameter_error("operating_points: layer '" + name + "' has " + std::to_string(count) +
                                  " operating point(s) but layer '" + first + "' has " + std::to_string(n));
        }
    };
    detail::operating_points::for_each_op_layer(
        model, [&](const std::string& name, batch_norm& b) { check(name, b.operating_points()); },
        [&](const std::string& name, product_layer& p) { check(name, p.operating_points()); });
    return n == 0 ? 1 : n;
}

/// Makes operating point i active in every batch_norm and conv2d / linear of `model`. Allocates nothing beyond the
/// traversal. parameter_error naming i and the number of operating points when i is not below it (the model is
/// unchanged then).
inline void select_operating_point(layer& model, std::size_t i) {
    const std::size_t n = operating_points(model);
    if (i >= n) {
        throw parameter_error("select_operating_point: operating point " + std::to_string(i) + " is not below the " +
                              std::to_string(n) + " operating point(s) of the model");
    }
    detail::operating_points::for_each_op_layer(
        model, [&](const std::string&, batch_norm& b) { b.select_operating_point(i); },
        [&](const std::string&, product_layer& p) { p.select_operating_point(i); });
}

/// The parameter cost of the operating points of a model, in learned scalars (nn::parameter: running statistics,
/// quantisation ranges and other buffers are not counted).
struct parameter_overhead {
    std::size_t operating_points = 1;  ///< N_OP
    /// Parameters all OPs share: conv / linear weights, output-hook parameters, any other layer's parameters.
    std::size_t shared = 0;
    /// Parameters of one OP: bn_affine_per_op + the conv / linear biases.
    std::size_t per_op = 0;
    /// Batch-norm gamma and beta of one OP: 2 * channels summed over the batch norms.
    std::size_t bn_affine_per_op = 0;
    /// shared + N_OP * per_op = nn::parameter_count(model).
    std::size_t total = 0;
    /// The paper's figure: (N_OP - 1) * bn_affine_per_op / (shared + per_op), i.e. the extra batch-norm affine
    /// parameters over all parameters of the one-OP model.
    double paper_ratio = 0.0;
    /// (N_OP - 1) * per_op / (shared + per_op): the extra parameters of this engine, biases included.
    double ratio_with_biases = 0.0;
};

/// The parameter_overhead of `model` with its current number of operating points (see the struct).
inline parameter_overhead operating_point_overhead(layer& model) {
    parameter_overhead r;
    r.operating_points = operating_points(model);
    std::size_t biases = 0;
    detail::operating_points::for_each_op_layer(
        model, [&](const std::string&, batch_norm& b) { r.bn_affine_per_op += b.gamma().size() + b.beta().size(); },
        [&](const std::string&, product_layer& p) {
            if (const parameter* bias = p.bias()) biases += bias->value.size();
        });
    r.per_op = r.bn_affine_per_op + biases;
    r.total = parameter_count(model);
    r.shared = r.total - r.operating_points * r.per_op;
    const auto one_op = static_cast<double>(r.shared + r.per_op);
    const auto extra = static_cast<double>(r.operating_points - 1);
    r.paper_ratio = one_op > 0.0 ? extra * static_cast<double>(r.bn_affine_per_op) / one_op : 0.0;
    r.ratio_with_biases = one_op > 0.0 ? extra * static_cast<double>(r.per_op) / one_op : 0.0;
    return r;
}

}  // namespace approxnn::nn
