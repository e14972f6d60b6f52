#pragma once
// The layer interface of the engine: forward / backward on nn::tensor, named parameters and buffers, traversal.
//
// Contract: backward() may only follow a forward() in mode::training on the same layer; it uses what that forward
// cached, accumulates (+=) into the parameters' gradients and overwrites grad_input.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

enum class mode { training, evaluation };

/// A learned tensor and its gradient (same shape).
struct parameter {
    tensor value;
    tensor grad;
    bool decay = true;  ///< whether weight decay applies (false for biases and batch-norm affine parameters)

    parameter() = default;
    explicit parameter(shape_t shape, bool decays = true) : value(shape), grad(shape), decay(decays) {}
};

class layer;
using parameter_visitor = std::function<void(const std::string& name, parameter&)>;
/// Buffers: state that is saved with a model but not learned by gradients (running statistics, ranges).
using buffer_visitor = std::function<void(const std::string& name, tensor&)>;
using layer_visitor = std::function<void(const std::string& name, layer&)>;

/// Joins a hierarchical name: join("block1", "conv") = "block1.conv"; join("", "conv") = "conv".
inline std::string join_name(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

class layer {
public:
    layer() = default;
    layer(const layer&) = delete;
    layer& operator=(const layer&) = delete;
    virtual ~layer() = default;

    /// A short type name ("conv2d", "batch_norm", ...), used in manifests and messages.
    [[nodiscard]] virtual std::string kind() const = 0;
    /// The output shape for an input shape; throws shape_error naming the layer and shapes when they do not fit.
    [[nodiscard]] virtual shape_t output_shape(const shape_t& input) const = 0;
    /// output = f(input). In training mode the layer caches what backward() needs.
    virtual void forward(const tensor& input, tensor& output, mode m) = 0;
    /// grad_input = d loss / d input from grad_output = d loss / d output of the last training forward.
    virtual void backward(const tensor& grad_output, tensor& grad_input) = 0;

    /// Calls fn for every parameter of this layer and its children, with names joined to `prefix`.
    virtual void visit_parameters(const std::string& prefix, const parameter_visitor& fn) {
        (void)prefix;
        (void)fn;
    }
    virtual void visit_buffers(const std::string& prefix, const buffer_visitor& fn) {
        (void)prefix;
        (void)fn;
    }
    /// Calls fn for every direct and indirect child (not for this layer itself), parents before children.
    virtual void visit_children(const std::string& prefix, const layer_visitor& fn) {
        (void)prefix;
        (void)fn;
    }
    /// Frees the training caches.
    virtual void release_cache() {}
};

using layer_ptr = std::unique_ptr<layer>;

/// Every layer of a tree, `root` first, with its hierarchical name ("" for the root).
inline void visit_layers(layer& root, const layer_visitor& fn) {
    fn("", root);
    root.visit_children("", fn);
}

/// Sets every parameter gradient to zero.
inline void zero_gradients(layer& root) {
    root.visit_parameters("", [](const std::string&, parameter& p) { p.grad.fill(0.0F); });
}

/// The number of learned scalars.
inline std::size_t parameter_count(layer& root) {
    std::size_t n = 0;
    root.visit_parameters("", [&](const std::string&, parameter& p) { n += p.value.size(); });
    return n;
}

}  // namespace approxnn::nn
