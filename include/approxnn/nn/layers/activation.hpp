#pragma once
// Element-wise activations: relu and relu6, on tensors of any shape (the output has the input's shape).
//
// Gradients at the kinks follow PyTorch: relu'(x) = 1 for x > 0 and 0 for x <= 0 (0 at x = 0); relu6'(x) = 1 for
// 0 < x < 6 and 0 elsewhere (0 at both x = 0 and x = 6). NaN inputs propagate to the output and get gradient 0.
// Input and output may be the same tensor.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::nn {

namespace detail {

/// y = clamp(x, 0, 6) when Six, max(x, 0) otherwise (NaN passes), and, when mask is non-null, the pass-through
/// mask: 0 < x < 6 when Six, 0 < x otherwise.
template <bool Six>
void clamp_forward(const tensor& input, tensor& output, std::uint8_t* mask, unsigned threads) {
    output.resize(input.shape());
    const float* x = input.data();
    float* y = output.data();
    parallel_blocks(input.size(), 16384, 1, threads, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
            const float v = x[i];
            if constexpr (Six) {
                y[i] = v <= 0.0F ? 0.0F : (v >= 6.0F ? 6.0F : v);
                if (mask) mask[i] = static_cast<std::uint8_t>(v > 0.0F && v < 6.0F);
            } else {
                y[i] = v <= 0.0F ? 0.0F : v;
                if (mask) mask[i] = static_cast<std::uint8_t>(v > 0.0F);
            }
        }
    });
}

/// grad_input = grad_output where the mask is set, 0 elsewhere.
inline void masked_backward(const char* kind, const shape_t& cached_shape, const std::vector<std::uint8_t>& mask,
                            bool cached, const tensor& grad_output, tensor& grad_input, unsigned threads) {
    if (!cached) throw parameter_error(std::string(kind) + ": backward() without a training forward()");
    expect_shape(kind, grad_output, cached_shape);
    grad_input.resize(cached_shape);
    const float* g = grad_output.data();
    float* gi = grad_input.data();
    const std::uint8_t* m = mask.data();
    parallel_blocks(grad_output.size(), 16384, 1, threads, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) gi[i] = m[i] ? g[i] : 0.0F;
    });
}

}  // namespace detail

/// y = max(x, 0) (Six = false, relu) or y = min(max(x, 0), 6) (Six = true, relu6).
template <bool Six>
class clamped_activation final : public layer {
public:
    clamped_activation() = default;

    [[nodiscard]] std::string kind() const override { return Six ? "relu6" : "relu"; }
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override { return input; }

    void forward(const tensor& input, tensor& output, mode m) override {
        const bool training = m == mode::training;
        if (training) {
            shape_ = input.shape();
            mask_.resize(input.size());
        }
        detail::clamp_forward<Six>(input, output, training ? mask_.data() : nullptr, threads_);
        cached_ = cached_ || training;
    }
    void backward(const tensor& grad_output, tensor& grad_input) override {
        detail::masked_backward(Six ? "relu6" : "relu", shape_, mask_, cached_, grad_output, grad_input, threads_);
    }
    void release_cache() override {
        mask_ = {};
        shape_.clear();
        cached_ = false;
    }

    /// At most this many threads (0: every hardware thread; small tensors run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    std::vector<std::uint8_t> mask_;
    shape_t shape_;
    bool cached_ = false;
    unsigned threads_ = 0;
};

using relu = clamped_activation<false>;
using relu6 = clamped_activation<true>;

}  // namespace approxnn::nn
