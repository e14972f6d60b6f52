#pragma once
// Layers that move values without arithmetic: flatten, and the CIFAR ResNet "option A" shortcut.
#include <algorithm>
#include <cstddef>
#include <string>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::nn {

/// (N, d1, d2, ...) -> (N, d1 * d2 * ...), values in the same (row-major; NHWC for images) order. Rank >= 2.
class flatten final : public layer {
public:
    flatten() = default;

    [[nodiscard]] std::string kind() const override { return "flatten"; }
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        if (input.size() < 2) throw shape_error("flatten: expected an input of rank >= 2, got " + to_string(input));
        std::size_t features = 1;
        for (std::size_t i = 1; i < input.size(); ++i) features *= input[i];
        return {input[0], features};
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        output.resize(output_shape(input.shape()));
        std::copy(input.begin(), input.end(), output.begin());
        if (m == mode::training) {
            input_shape_ = input.shape();
            cached_ = true;
        }
    }
    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("flatten: backward() without a training forward()");
        expect_shape("flatten", grad_output, output_shape(input_shape_));
        grad_input.resize(input_shape_);
        std::copy(grad_output.begin(), grad_output.end(), grad_input.begin());
    }
    void release_cache() override {
        input_shape_.clear();
        cached_ = false;
    }

private:
    shape_t input_shape_;
    bool cached_ = false;
};

/// The parameter-free shortcut of the CIFAR ResNets ("option A" of He et al. 2016): NHWC (N, H, W, C) ->
/// (N, ceil(H / stride), ceil(W / stride), out_channels) with y[n, i, j, before + c] = x[n, i * stride, j * stride, c]
/// and zeros in the other channels, before = (out_channels - C) / 2 (the remaining out_channels - C - before zero
/// channels come after). With out_channels = 2C this is the reference code's
/// F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)) in NHWC.
class option_a_shortcut final : public layer {
public:
    /// stride > 0, out_channels > 0; throws parameter_error naming the value.
    option_a_shortcut(std::size_t stride, std::size_t out_channels) : stride_(stride), out_channels_(out_channels) {
        if (stride == 0) throw parameter_error("option_a_shortcut: stride must be positive, got 0");
        if (out_channels == 0) throw parameter_error("option_a_shortcut: out_channels must be positive, got 0");
    }

    [[nodiscard]] std::string kind() const override { return "option_a_shortcut"; }
    /// Needs an NHWC input with at most out_channels channels.
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        if (input.size() != 4 || input[3] > out_channels_) {
            throw shape_error("option_a_shortcut: expected an NHWC input of rank 4 with at most " +
                              std::to_string(out_channels_) + " channels, got " + to_string(input));
        }
        return {input[0], (input[1] + stride_ - 1) / stride_, (input[2] + stride_ - 1) / stride_, out_channels_};
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        const shape_t out_shape = output_shape(input.shape());
        output.resize(out_shape);
        const std::size_t width = input.dim(2), channels = input.dim(3);
        const std::size_t out_h = out_shape[1], out_w = out_shape[2];
        const std::size_t before = (out_channels_ - channels) / 2;
        const float* x = input.data();
        float* y = output.data();
        parallel_blocks(out_shape[0] * out_h, 1, out_w * out_channels_, threads_, [&](std::size_t r, std::size_t) {
            const std::size_t n = r / out_h, oy = r % out_h;
            const float* in_row = x + (n * input.dim(1) + oy * stride_) * width * channels;
            float* out_row = y + r * out_w * out_channels_;
            for (std::size_t ox = 0; ox < out_w; ++ox) {
                float* out = out_row + ox * out_channels_;
                const float* in = in_row + ox * stride_ * channels;
                std::fill(out, out + before, 0.0F);
                std::copy(in, in + channels, out + before);
                std::fill(out + before + channels, out + out_channels_, 0.0F);
            }
        });
        if (m == mode::training) {
            input_shape_ = input.shape();
            cached_ = true;
        }
    }

    /// grad_input is grad_output's channels [before, before + C) at the sampled positions and 0 elsewhere.
    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("option_a_shortcut: backward() without a training forward()");
        const shape_t out_shape = output_shape(input_shape_);
        expect_shape("option_a_shortcut", grad_output, out_shape);
        grad_input.resize(input_shape_);
        const std::size_t height = input_shape_[1], width = input_shape_[2], channels = input_shape_[3];
        const std::size_t out_h = out_shape[1], out_w = out_shape[2];
        const std::size_t before = (out_channels_ - channels) / 2;
        const float* g = grad_output.data();
        float* gi = grad_input.data();
        parallel_blocks(input_shape_[0] * height, 1, width * channels, threads_, [&](std::size_t r, std::size_t) {
            const std::size_t n = r / height, iy = r % height;
            float* in_row = gi + r * width * channels;
            std::fill(in_row, in_row + width * channels, 0.0F);
            if (iy % stride_ != 0) return;
            const float* out_row = g + (n * out_h + iy / stride_) * out_w * out_channels_;
            for (std::size_t ox = 0; ox < out_w; ++ox) {
                const float* from = out_row + ox * out_channels_ + before;
                std::copy(from, from + channels, in_row + ox * stride_ * channels);
            }
        });
    }

    void release_cache() override {
        input_shape_.clear();
        cached_ = false;
    }

    [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
    [[nodiscard]] std::size_t out_channels() const noexcept { return out_channels_; }
    /// At most this many threads (0: every hardware thread; small tensors run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    std::size_t stride_, out_channels_;
    unsigned threads_ = 0;
    shape_t input_shape_;
    bool cached_ = false;
};

}  // namespace approxnn::nn
