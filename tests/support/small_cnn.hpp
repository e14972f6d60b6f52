#pragma once
// A small CNN for the synthetic 12x12x1 images (nn::synthetic_dataset), shared by the engine and noise tests:
// conv 3x3 (8) - ReLU - max 2 - conv 3x3 (16) - ReLU - max 2 - FC 10.
#include <cstdint>
#include <memory>

#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/models.hpp"

namespace test_support {

inline std::unique_ptr<approxnn::nn::sequential> small_cnn(std::uint64_t seed) {
    namespace nn = approxnn::nn;
    auto m = std::make_unique<nn::sequential>();
    m->emplace<nn::conv2d>("conv1", 1, 8, nn::conv2d_options::square(3, 1, 1));
    m->emplace<nn::relu>("relu1");
    m->emplace<nn::max_pool2d>("pool1", 2, 2);
    m->emplace<nn::conv2d>("conv2", 8, 16, nn::conv2d_options::square(3, 1, 1));
    m->emplace<nn::relu>("relu2");
    m->emplace<nn::max_pool2d>("pool2", 2, 2);
    m->emplace<nn::flatten>("flatten");
    m->emplace<nn::linear>("fc", 3 * 3 * 16, 10);
    return nn::finish_model(std::move(m), seed);
}

}  // namespace test_support
