#pragma once
// Pooling over NHWC batches: max_pool2d, avg_pool2d (square windows) and global_avg_pool.
//
// Windows: kernel x kernel, moved by `stride`, over the input padded by `padding` on every side; output height
// (height + 2 * padding - kernel) / stride + 1 (rounded down, as PyTorch's default ceil_mode=false), width alike.
// padding < kernel, so every window holds at least one input element.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::nn {

namespace detail {

/// Channels per backward task of the pooling layers.
inline constexpr std::size_t pool_channel_block = 64;

struct pool_geometry {
    std::size_t batch = 0, height = 0, width = 0, channels = 0;
    std::size_t out_height = 0, out_width = 0;
    std::size_t kernel = 0, stride = 0, padding = 0;

    [[nodiscard]] shape_t output() const { return {batch, out_height, out_width, channels}; }
    /// The first input row (or column) of the window of output row (or column) o; negative in the padding.
    [[nodiscard]] std::ptrdiff_t origin(std::size_t o) const noexcept {
        return static_cast<std::ptrdiff_t>(o * stride) - static_cast<std::ptrdiff_t>(padding);
    }
};

inline void check_pool_parameters(const char* kind, std::size_t kernel, std::size_t stride, std::size_t padding) {
    if (kernel == 0) throw parameter_error(std::string(kind) + ": kernel must be positive, got 0");
    if (stride == 0) throw parameter_error(std::string(kind) + ": stride must be positive, got 0");
    if (padding >= kernel) {
        throw parameter_error(std::string(kind) + ": padding must be smaller than the kernel (" +
                              std::to_string(kernel) + "), got " + std::to_string(padding));
    }
}

inline pool_geometry pool_shape(const char* kind, const shape_t& input, std::size_t kernel, std::size_t stride,
                                 std::size_t padding) {
    if (input.size() != 4) {
        throw shape_error(std::string(kind) + ": expected an NHWC input of rank 4, got " + to_string(input));
    }
    pool_geometry g;
    g.batch = input[0];
    g.height = input[1];
    g.width = input[2];
    g.channels = input[3];
    g.kernel = kernel;
    g.stride = stride;
    g.padding = padding;
    if (g.height == 0 || g.width == 0 || g.height + 2 * padding < kernel || g.width + 2 * padding < kernel) {
        throw shape_error(std::string(kind) + ": the " + std::to_string(kernel) + "x" + std::to_string(kernel) +
                          " window does not fit the input " + to_string(input) + " padded by " +
                          std::to_string(padding));
    }
    g.out_height = (g.height + 2 * padding - kernel) / stride + 1;
    g.out_width = (g.width + 2 * padding - kernel) / stride + 1;
    return g;
}

/// The input rows [begin, end) a window starting at `origin` covers.
struct window_range {
    std::size_t begin, end;
};
inline window_range clip_window(std::ptrdiff_t origin, std::size_t kernel, std::size_t size) noexcept {
    const std::ptrdiff_t last = origin + static_cast<std::ptrdiff_t>(kernel);
    return {static_cast<std::size_t>(std::max<std::ptrdiff_t>(origin, 0)),
            static_cast<std::size_t>(std::min<std::ptrdiff_t>(last, static_cast<std::ptrdiff_t>(size)))};
}

}  // namespace detail

/// Maximum over each window; the padding counts as -infinity (never chosen). Ties go to the first maximum in
/// window order (rows top to bottom, each left to right), as PyTorch's CPU kernel, and the gradient flows to that
/// element only (summed when windows overlap). A NaN in a window is its maximum (the first NaN).
class max_pool2d final : public layer {
public:
    /// kernel > 0, stride > 0, padding < kernel; throws parameter_error naming the value.
    max_pool2d(std::size_t kernel, std::size_t stride, std::size_t padding = 0)
        : kernel_(kernel), stride_(stride), padding_(padding) {
        detail::check_pool_parameters("max_pool2d", kernel, stride, padding);
    }

    [[nodiscard]] std::string kind() const override { return "max_pool2d"; }
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        return detail::pool_shape("max_pool2d", input, kernel_, stride_, padding_).output();
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        const detail::pool_geometry g = detail::pool_shape("max_pool2d", input.shape(), kernel_, stride_, padding_);
        const bool training = m == mode::training;
        output.resize(g.output());
        if (training) argmax_.resize(output.size());
        const float* x = input.data();
        float* y = output.data();
        std::size_t* arg = argmax_.data();
        const std::size_t c_count = g.channels;
        const std::size_t rows = g.batch * g.out_height;
        parallel_blocks(rows, 1, g.out_width * c_count * kernel_ * kernel_, threads_, [&](std::size_t r0, std::size_t) {
            const std::size_t n = r0 / g.out_height, oy = r0 % g.out_height;
            const detail::window_range wy = detail::clip_window(g.origin(oy), kernel_, g.height);
            std::vector<std::size_t> best_index(c_count);
            for (std::size_t ox = 0; ox < g.out_width; ++ox) {
                const detail::window_range wx = detail::clip_window(g.origin(ox), kernel_, g.width);
                float* best = y + ((n * g.out_height + oy) * g.out_width + ox) * c_count;
                // The window's first element, then the others in window order: a later one replaces the best only
                // when strictly greater (or the first NaN).
                const std::size_t first = ((n * g.height + wy.begin) * g.width + wx.begin) * c_count;
                for (std::size_t c = 0; c < c_count; ++c) {
                    best[c] = x[first + c];
                    best_index[c] = first + c;
                }
                for (std::size_t iy = wy.begin; iy < wy.end; ++iy) {
                    for (std::size_t ix = (iy == wy.begin ? wx.begin + 1 : wx.begin); ix < wx.end; ++ix) {
                        const std::size_t at = ((n * g.height + iy) * g.width + ix) * c_count;
                        for (std::size_t c = 0; c < c_count; ++c) {
                            const float v = x[at + c];
                            if (v > best[c] || (std::isnan(v) && !std::isnan(best[c]))) {
                                best[c] = v;
                                best_index[c] = at + c;
                            }
                        }
                    }
                }
                if (training) std::copy(best_index.begin(), best_index.end(), arg + (best - y));
            }
        });
        if (training) {
            input_shape_ = input.shape();
            output_shape_ = output.shape();
            cached_ = true;
        }
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("max_pool2d: backward() without a training forward()");
        expect_shape("max_pool2d", grad_output, output_shape_);
        grad_input.resize(input_shape_);
        grad_input.fill(0.0F);
        const std::size_t batch = input_shape_[0], c_count = input_shape_[3];
        const std::size_t pixels = output_shape_[1] * output_shape_[2];
        const std::size_t blocks = (c_count + detail::pool_channel_block - 1) / detail::pool_channel_block;
        const float* g = grad_output.data();
        const std::size_t* arg = argmax_.data();
        float* gi = grad_input.data();
        // Task (image, channel block): outputs of one channel only reach inputs of that channel.
        parallel_for(batch * blocks, threads_for(grad_output.size(), threads_), [&](std::size_t t) {
            const std::size_t n = t / blocks, c0 = (t % blocks) * detail::pool_channel_block;
            const std::size_t c1 = std::min(c_count, c0 + detail::pool_channel_block);
            for (std::size_t p = 0; p < pixels; ++p) {
                const std::size_t out = (n * pixels + p) * c_count;
                for (std::size_t c = c0; c < c1; ++c) gi[arg[out + c]] += g[out + c];
            }
        });
    }

    void release_cache() override {
        argmax_ = {};
        input_shape_.clear();
        output_shape_.clear();
        cached_ = false;
    }

    [[nodiscard]] std::size_t kernel() const noexcept { return kernel_; }
    [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
    [[nodiscard]] std::size_t padding() const noexcept { return padding_; }
    /// At most this many threads (0: every hardware thread; small tensors run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    std::size_t kernel_, stride_, padding_;
    unsigned threads_ = 0;
    std::vector<std::size_t> argmax_;  // per output element, the flat index of the input element chosen
    shape_t input_shape_, output_shape_;
    bool cached_ = false;
};

/// Mean over each window. count_include_pad (PyTorch's default): divide by kernel * kernel, the padding counting
/// as zeros; otherwise divide by the number of input elements in the window.
class avg_pool2d final : public layer {
public:
    /// kernel > 0, stride > 0, padding < kernel; throws parameter_error naming the value.
    avg_pool2d(std::size_t kernel, std::size_t stride, std::size_t padding = 0, bool count_include_pad = true)
        : kernel_(kernel), stride_(stride), padding_(padding), count_include_pad_(count_include_pad) {
        detail::check_pool_parameters("avg_pool2d", kernel, stride, padding);
    }

    [[nodiscard]] std::string kind() const override { return "avg_pool2d"; }
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        return detail::pool_shape("avg_pool2d", input, kernel_, stride_, padding_).output();
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        const detail::pool_geometry g = detail::pool_shape("avg_pool2d", input.shape(), kernel_, stride_, padding_);
        output.resize(g.output());
        const float* x = input.data();
        float* y = output.data();
        const std::size_t c_count = g.channels;
        parallel_blocks(g.batch * g.out_height, 1, g.out_width * c_count * kernel_ * kernel_, threads_,
                        [&](std::size_t r0, std::size_t) {
                            const std::size_t n = r0 / g.out_height, oy = r0 % g.out_height;
                            const detail::window_range wy = detail::clip_window(g.origin(oy), kernel_, g.height);
                            std::vector<float> sum(c_count);
                            for (std::size_t ox = 0; ox < g.out_width; ++ox) {
                                const detail::window_range wx = detail::clip_window(g.origin(ox), kernel_, g.width);
                                std::fill(sum.begin(), sum.end(), 0.0F);
                                for (std::size_t iy = wy.begin; iy < wy.end; ++iy) {
                                    for (std::size_t ix = wx.begin; ix < wx.end; ++ix) {
                                        const float* row = x + ((n * g.height + iy) * g.width + ix) * c_count;
                                        for (std::size_t c = 0; c < c_count; ++c) sum[c] += row[c];
                                    }
                                }
                                const float scale = 1.0F / static_cast<float>(divisor(wy, wx));
                                float* out = y + ((n * g.out_height + oy) * g.out_width + ox) * c_count;
                                for (std::size_t c = 0; c < c_count; ++c) out[c] = sum[c] * scale;
                            }
                        });
        if (m == mode::training) {
            input_shape_ = input.shape();
            cached_ = true;
        }
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("avg_pool2d: backward() without a training forward()");
        const detail::pool_geometry g = detail::pool_shape("avg_pool2d", input_shape_, kernel_, stride_, padding_);
        expect_shape("avg_pool2d", grad_output, g.output());
        grad_input.resize(input_shape_);
        grad_input.fill(0.0F);
        const std::size_t c_count = g.channels;
        const std::size_t blocks = (c_count + detail::pool_channel_block - 1) / detail::pool_channel_block;
        const float* go = grad_output.data();
        float* gi = grad_input.data();
        // Task (image, channel block); each input element sums its windows in output order.
        parallel_for(g.batch * blocks, threads_for(grad_output.size() * kernel_ * kernel_, threads_),
                     [&](std::size_t t) {
                         const std::size_t n = t / blocks, c0 = (t % blocks) * detail::pool_channel_block;
                         const std::size_t c1 = std::min(c_count, c0 + detail::pool_channel_block);
                         for (std::size_t oy = 0; oy < g.out_height; ++oy) {
                             const detail::window_range wy = detail::clip_window(g.origin(oy), kernel_, g.height);
                             for (std::size_t ox = 0; ox < g.out_width; ++ox) {
                                 const detail::window_range wx = detail::clip_window(g.origin(ox), kernel_, g.width);
                                 const float scale = 1.0F / static_cast<float>(divisor(wy, wx));
                                 const float* gout = go + ((n * g.out_height + oy) * g.out_width + ox) * c_count;
                                 for (std::size_t iy = wy.begin; iy < wy.end; ++iy) {
                                     for (std::size_t ix = wx.begin; ix < wx.end; ++ix) {
                                         float* gin = gi + ((n * g.height + iy) * g.width + ix) * c_count;
                                         for (std::size_t c = c0; c < c1; ++c) gin[c] += gout[c] * scale;
                                     }
                                 }
                             }
                         }
                     });
    }

    void release_cache() override {
        input_shape_.clear();
        cached_ = false;
    }

    [[nodiscard]] std::size_t kernel() const noexcept { return kernel_; }
    [[nodiscard]] std::size_t stride() const noexcept { return stride_; }
    [[nodiscard]] std::size_t padding() const noexcept { return padding_; }
    [[nodiscard]] bool count_include_pad() const noexcept { return count_include_pad_; }
    /// At most this many threads (0: every hardware thread; small tensors run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    [[nodiscard]] std::size_t divisor(detail::window_range wy, detail::window_range wx) const noexcept {
        return count_include_pad_ ? kernel_ * kernel_ : (wy.end - wy.begin) * (wx.end - wx.begin);
    }

    std::size_t kernel_, stride_, padding_;
    bool count_include_pad_;
    unsigned threads_ = 0;
    shape_t input_shape_;
    bool cached_ = false;
};

/// NHWC (N, H, W, C) -> (N, C): the mean over every position of each channel (summed in double).
class global_avg_pool final : public layer {
public:
    global_avg_pool() = default;

    [[nodiscard]] std::string kind() const override { return "global_avg_pool"; }
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        if (input.size() != 4 || input[1] == 0 || input[2] == 0) {
            throw shape_error("global_avg_pool: expected an NHWC input of rank 4 with positive height and width, got " +
                              to_string(input));
        }
        return {input[0], input[3]};
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        output.resize(output_shape(input.shape()));
        const std::size_t batch = input.dim(0), pixels = input.dim(1) * input.dim(2), c_count = input.dim(3);
        const float* x = input.data();
        float* y = output.data();
        parallel_for(batch, threads_for(input.size(), threads_), [&](std::size_t n) {
            std::vector<double> sum(c_count, 0.0);
            const float* image = x + n * pixels * c_count;
            for (std::size_t p = 0; p < pixels; ++p) {
                for (std::size_t c = 0; c < c_count; ++c) sum[c] += image[p * c_count + c];
            }
            for (std::size_t c = 0; c < c_count; ++c) {
                y[n * c_count + c] = static_cast<float>(sum[c] / static_cast<double>(pixels));
            }
        });
        if (m == mode::training) {
            input_shape_ = input.shape();
            cached_ = true;
        }
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("global_avg_pool: backward() without a training forward()");
        expect_shape("global_avg_pool", grad_output, output_shape(input_shape_));
        grad_input.resize(input_shape_);
        const std::size_t batch = input_shape_[0], pixels = input_shape_[1] * input_shape_[2];
        const std::size_t c_count = input_shape_[3];
        const float scale = 1.0F / static_cast<float>(pixels);
        const float* g = grad_output.data();
        float* gi = grad_input.data();
        parallel_for(batch, threads_for(grad_input.size(), threads_), [&](std::size_t n) {
            float* image = gi + n * pixels * c_count;
            for (std::size_t p = 0; p < pixels; ++p) {
                for (std::size_t c = 0; c < c_count; ++c) image[p * c_count + c] = g[n * c_count + c] * scale;
            }
        });
    }

    void release_cache() override {
        input_shape_.clear();
        cached_ = false;
    }

    /// At most this many threads (0: every hardware thread; small tensors run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    unsigned threads_ = 0;
    shape_t input_shape_;
    bool cached_ = false;
};

}  // namespace approxnn::nn
