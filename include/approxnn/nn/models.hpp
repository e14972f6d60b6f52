#pragma once
// The model zoo of the papers, adapted to 28x28x1 inputs (Fashion-MNIST): LeNet-5, CIFAR-style ResNet-8 / 20
// (option-A shortcuts) and a reduced MobileNetV2. Layer names follow PyTorch's reference implementations, so
// parameter names ("layer1.0.block.body.conv1.weight") map onto theirs by a documented rule (docs/engine.md).
#include <cstddef>
#include <memory>
#include <string>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/model.hpp"

namespace approxnn::nn {

/// Finishes a model: initialises it and lets its first layer skip the input gradient (nothing consumes it).
inline std::unique_ptr<sequential> finish_model(std::unique_ptr<sequential> m, std::uint64_t seed) {
    initialise(*m, seed);
    auto layers = product_layers(*m);
    if (!layers.empty()) layers.front().layer->set_input_gradient(false);
    return m;
}

struct model_options {
    std::size_t input_height = 28, input_width = 28, input_channels = 1;
    std::size_t classes = 10;
    std::uint64_t seed = 1;  ///< initialisation
};

/// LeNet-5: conv 5x5 (6, padding 2) - ReLU - max 2 - conv 5x5 (16) - ReLU - max 2 - FC 120 - ReLU - FC 84 - ReLU -
/// FC classes.
inline std::unique_ptr<sequential> lenet5(const model_options& o = {}) {
    auto m = std::make_unique<sequential>();
    m->emplace<conv2d>("conv1", o.input_channels, 6, conv2d_options::square(5, 1, 2));
    m->emplace<relu>("relu1");
    m->emplace<max_pool2d>("pool1", 2, 2);
    m->emplace<conv2d>("conv2", 6, 16, conv2d_options::square(5));
    m->emplace<relu>("relu2");
    m->emplace<max_pool2d>("pool2", 2, 2);
    m->emplace<flatten>("flatten");
    const shape_t features = m->output_shape({1, o.input_height, o.input_width, o.input_channels});
    m->emplace<linear>("fc1", features[1], 120);
    m->emplace<relu>("relu3");
    m->emplace<linear>("fc2", 120, 84);
    m->emplace<relu>("relu4");
    m->emplace<linear>("fc3", 84, o.classes);
    return finish_model(std::move(m), o.seed);
}

/// A CIFAR ResNet basic block: conv3x3 - BN - ReLU - conv3x3 - BN, plus the shortcut (option A when the shape
/// changes), then ReLU.
inline void add_basic_block(sequential& stage, const std::string& name, std::size_t in, std::size_t out,
                            std::size_t stride) {
    auto body = std::make_unique<sequential>();
    body->emplace<conv2d>("conv1", in, out, conv2d_options::square(3, stride, 1, 1, false));
    body->emplace<batch_norm>("bn1", out);
    body->emplace<relu>("relu1");
    body->emplace<conv2d>("conv2", out, out, conv2d_options::square(3, 1, 1, 1, false));
    body->emplace<batch_norm>("bn2", out);
    layer_ptr shortcut;
    if (stride != 1 || in != out) shortcut = std::make_unique<option_a_shortcut>(stride, out);
    auto block = std::make_unique<sequential>();
    block->add("block", std::make_unique<residual>(std::move(body), std::move(shortcut)));
    block->emplace<relu>("relu");
    stage.add(name, std::move(block));
}

/// CIFAR-style ResNet of depth 6n + 2 (8, 14, 20, 32, ...): 16-32-64 channels, option-A shortcuts.
inline std::unique_ptr<sequential> cifar_resnet(std::size_t depth, const model_options& o = {}) {
    if (depth < 8 || (depth - 2) % 6 != 0) {
        throw parameter_error("cifar_resnet: depth " + std::to_string(depth) + " is not 6n + 2 with n >= 1");
    }
    const std::size_t n = (depth - 2) / 6;
    auto m = std::make_unique<sequential>();
    m->emplace<conv2d>("conv1", o.input_channels, 16, conv2d_options::square(3, 1, 1, 1, false));
    m->emplace<batch_norm>("bn1", 16);
    m->emplace<relu>("relu");
    std::size_t in = 16;
    for (std::size_t s = 0; s < 3; ++s) {
        const std::size_t out = 16U << s;
        auto& stage = m->emplace<sequential>("layer" + std::to_string(s + 1));
        for (std::size_t b = 0; b < n; ++b) {
            add_basic_block(stage, std::to_string(b), in, out, b == 0 && s > 0 ? 2 : 1);
            in = out;
        }
    }
    m->emplace<global_avg_pool>("pool");
    m->emplace<linear>("linear", in, o.classes);
    return finish_model(std::move(m), o.seed);
}

inline std::unique_ptr<sequential> resnet8(const model_options& o = {}) { return cifar_resnet(8, o); }
inline std::unique_ptr<sequential> resnet20(const model_options& o = {}) { return cifar_resnet(20, o); }

/// A MobileNetV2 inverted residual: 1x1 expansion (t > 1) - BN - ReLU6 - 3x3 depthwise (stride) - BN - ReLU6 -
/// 1x1 projection - BN, with an identity shortcut when stride is 1 and the channel count stays.
inline void add_inverted_residual(sequential& parent, const std::string& name, std::size_t in, std::size_t out,
                                  std::size_t stride, std::size_t expansion) {
    const std::size_t hidden = in * expansion;
    auto body = std::make_unique<sequential>();
    if (expansion != 1) {
        body->emplace<conv2d>("expand", in, hidden, conv2d_options::square(1, 1, 0, 1, false));
        body->emplace<batch_norm>("expand_bn", hidden);
        body->emplace<relu6>("expand_relu");
    }
    body->emplace<conv2d>("depthwise", hidden, hidden, conv2d_options::square(3, stride, 1, hidden, false));
    body->emplace<batch_norm>("depthwise_bn", hidden);
    body->emplace<relu6>("depthwise_relu");
    body->emplace<conv2d>("project", hidden, out, conv2d_options::square(1, 1, 0, 1, false));
    body->emplace<batch_norm>("project_bn", out);
    if (stride == 1 && in == out) {
        parent.add(name, std::make_unique<residual>(std::move(body)));
    } else {
        parent.add(name, std::move(body));
    }
}

/// MobileNetV2 reduced for 28x28 inputs: stem conv3x3 (16) then inverted residuals (t, c, n, s) =
/// (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 1), a 1x1 conv to 256, global pooling, FC.
inline std::unique_ptr<sequential> mobilenet_v2(const model_options& o = {}) {
    auto m = std::make_unique<sequential>();
    m->emplace<conv2d>("stem", o.input_channels, 16, conv2d_options::square(3, 1, 1, 1, false));
    m->emplace<batch_norm>("stem_bn", 16);
    m->emplace<relu6>("stem_relu");
    struct stage_t {
        std::size_t t, c, n, s;
    };
    constexpr stage_t stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 2, 2}, {6, 64, 2, 1}};
    std::size_t in = 16;
    auto& features = m->emplace<sequential>("features");
    std::size_t index = 0;
    for (const stage_t& st : stages) {
        for (std::size_t i = 0; i < st.n; ++i) {
            add_inverted_residual(features, std::to_string(index++), in, st.c, i == 0 ? st.s : 1, st.t);
            in = st.c;
        }
    }
    m->emplace<conv2d>("head", in, 256, conv2d_options::square(1, 1, 0, 1, false));
    m->emplace<batch_norm>("head_bn", 256);
    m->emplace<relu6>("head_relu");
    m->emplace<global_avg_pool>("pool");
    m->emplace<linear>("classifier", 256, o.classes);
    return finish_model(std::move(m), o.seed);
}

/// A model by name: "lenet5", "resnet8", "resnet20", "mobilenet_v2" (throws not_found_error otherwise).
inline std::unique_ptr<sequential> make_model(const std::string& name, const model_options& o = {}) {
    if (name == "lenet5") return lenet5(o);
    if (name == "resnet8") return resnet8(o);
    if (name == "resnet20") return resnet20(o);
    if (name == "mobilenet_v2") return mobilenet_v2(o);
    throw not_found_error("unknown model '" + name + "' (lenet5, resnet8, resnet20, mobilenet_v2)");
}

}  // namespace approxnn::nn
