#pragma once
// nn::conv2d: 2-D convolution on NHWC tensors with OHWI weights (stride, padding, dilation, groups incl. depthwise).
// Float path: im2col + Eigen GEMM per group (depthwise: direct loops); approximate path: conv::conv2d on the
// integer codes through the layer's multiplier plan. See product_layer.hpp for the quantisation contract.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "approxnn/conv/conv2d.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/nn/detail/float_gemm.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

struct conv2d_options {
    std::size_t kernel_h = 3, kernel_w = 3;
    conv::conv2d_params params{};
    bool bias = true;

    /// A square kernel with the same stride and padding on every side.
    static conv2d_options square(std::size_t kernel, std::size_t stride = 1, std::size_t padding = 0,
                                 std::size_t groups = 1, bool with_bias = true) {
        conv2d_options o;
        o.kernel_h = o.kernel_w = kernel;
        o.params = conv::conv2d_params{}.with_stride(stride).with_padding(padding);
        o.params.groups = groups;
        o.bias = with_bias;
        return o;
    }
};

class conv2d final : public product_layer {
public:
    conv2d(std::size_t in_channels, std::size_t out_channels, const conv2d_options& options)
        : product_layer(weight_shape(in_channels, out_channels, options), out_channels, options.bias, "conv2d"),
          in_channels_(in_channels), options_(options) {
        // Validates kernel, strides, dilations, groups and padding (a 1x1 input cannot fail on size here); 0 groups
        // reach the check that names them (not a division by zero).
        (void)conv::conv2d_output_size(options.params.pad_top + options.params.pad_bottom + 64,
                                       options.params.pad_left + options.params.pad_right + 64, in_channels,
                                       options.kernel_h, options.kernel_w,
                                       in_channels / std::max<std::size_t>(options.params.groups, 1), out_channels,
                                       options.params);
        if (in_channels == 0 || out_channels == 0) {
            throw parameter_error("conv2d: channel counts must be positive, got " + std::to_string(in_channels) +
                                  " in and " + std::to_string(out_channels) + " out");
        }
    }

    [[nodiscard]] std::string kind() const override { return "conv2d"; }
    [[nodiscard]] std::size_t in_channels() const noexcept { return in_channels_; }
    [[nodiscard]] const conv2d_options& options() const noexcept { return options_; }
    [[nodiscard]] std::size_t groups() const noexcept { return options_.params.groups; }
    [[nodiscard]] std::size_t in_per_group() const noexcept { return in_channels_ / groups(); }
    [[nodiscard]] bool depthwise() const noexcept { return groups() > 1 && in_per_group() == 1; }
    [[nodiscard]] std::size_t fan_in() const noexcept { return options_.kernel_h * options_.kernel_w * in_per_group(); }

    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        if (input.size() != 4 || input[3] != in_channels_) {
            throw shape_error("conv2d '" + name_ + "': expected an NHWC input with " + std::to_string(in_channels_) +
                              " channels, got " + to_string(input));
        }
        conv::output_size s;
        try {
            s = size_for(input);
        } catch (const shape_error& e) {
            throw shape_error("conv2d '" + name_ + "': input " + to_string(input) + ": " + e.what());
        }
        return {input[0], s.height, s.width, out_channels()};
    }

    [[nodiscard]] std::size_t multiplications_per_sample(const shape_t& input) const override {
        const shape_t out = output_shape(input);
        return out[1] * out[2] * out[3] * fan_in();
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        output.resize(output_shape(input.shape()));
        shape_in_ = input.shape();
        const tensor& x = effective_input(input, m);
        const tensor& w = effective_weight();
        const bool train = m == mode::training;
        const bool lowered = !depthwise();
        if (approximate()) {
            approximate_product(input.shape(), output);
        } else if (lowered) {
            float_product(x, w, output);
        } else {
            depthwise_forward(x, w, output);
        }
        if (tracing()) trace(input.shape(), output.shape());
        // backward() reads x': the cached xq_ when quantised, else a copy of the input.
        if (train && &x != &xq_) x_ = x;
        x_saved_ = train ? (&x == &xq_ ? &xq_ : &x_) : nullptr;
        cached_ = train;
        finish_forward(output, m);
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("conv2d '" + name_ + "': backward() without a training forward()");
        expect_shape(("conv2d '" + name_ + "': backward").c_str(), grad_output, output_shape(shape_in_));
        const tensor& g = begin_backward(grad_output);
        const tensor& w = quant_ ? wq_ : weight_.value;
        grad_input.resize(shape_in_);
        if (depthwise()) {
            depthwise_backward(g, w, grad_input);
        } else {
            lowered_backward(g, w, grad_input);
        }
        finish_backward(grad_input);
    }

    void release_cache() override {
        product_layer::release_cache();
        x_saved_ = nullptr;
        x_ = tensor();
        acc_ = {};
        cached_ = false;
    }

private:
    static shape_t weight_shape(std::size_t in_channels, std::size_t out_channels, const conv2d_options& o) {
        const std::size_t groups = std::max<std::size_t>(o.params.groups, 1);
        return {out_channels, o.kernel_h, o.kernel_w, in_channels / groups};
    }

    [[nodiscard]] conv::output_size size_for(const shape_t& input) const {
        return conv::conv2d_output_size(input[1], input[2], input[3], options_.kernel_h, options_.kernel_w,
                                        in_per_group(), out_channels(), options_.params);
    }

    [[nodiscard]] bool pointwise() const noexcept {
        const auto& p = options_.params;
        return options_.kernel_h == 1 && options_.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
               p.pad_top == 0 && p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0 && groups() == 1;
    }

    /// Images per im2col block: about 512 KiB of columns, so that a block stays in cache between its im2col and
    /// its GEMMs (several small images per block keep the GEMMs efficient).
    [[nodiscard]] std::size_t block_images(std::size_t per_image) const noexcept {
        const std::size_t bytes = per_image * fan_in() * groups() * sizeof(float);
        return std::max<std::size_t>(1, (std::size_t{512} << 10) / std::max<std::size_t>(bytes, 1));
    }

    /// The im2col rows of images [b0, b0 + n) of x', every group: cols[(g * n * per_image + r) * K + k].
    void block_columns(const tensor& x, std::size_t b0, std::size_t n, const conv::output_size& s, float* cols) const {
        const shape_t& in = x.shape();
        const std::size_t depth = fan_in();
        const std::size_t cg = in_per_group();
        const auto& p = options_.params;
        const std::size_t per_image = s.height * s.width;
        const std::size_t rows = n * per_image;
        for (std::size_t g = 0; g < groups(); ++g) {
            for (std::size_t r = 0; r < rows; ++r) {
                const std::size_t b = b0 + r / per_image;
                const std::size_t q = r % per_image;
                const std::size_t oy = q / s.width;
                const std::size_t ox = q % s.width;
                float* row = cols + (g * rows + r) * depth;
                const std::ptrdiff_t ix0 =
                    static_cast<std::ptrdiff_t>(ox * p.stride_w) - static_cast<std::ptrdiff_t>(p.pad_left);
                // Dense convolutions with undilated rows inside the image: each kernel row is one contiguous run.
                const bool contiguous = groups() == 1 && p.dilation_w == 1 && ix0 >= 0 &&
                                        ix0 + static_cast<std::ptrdiff_t>(options_.kernel_w) <=
                                            static_cast<std::ptrdiff_t>(in[2]);
                const std::size_t run = options_.kernel_w * cg;
                for (std::size_t i = 0; i < options_.kernel_h; ++i) {
                    const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * p.stride_h + i * p.dilation_h) -
                                              static_cast<std::ptrdiff_t>(p.pad_top);
                    if (contiguous) {
                        if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(in[1])) {
                            std::fill(row, row + run, 0.0F);
                        } else {
                            const float* src = x.data() + ((b * in[1] + static_cast<std::size_t>(iy)) * in[2] +
                                                           static_cast<std::size_t>(ix0)) * in[3];
                            std::copy(src, src + run, row);
                        }
                        row += run;
                        continue;
                    }
                    for (std::size_t j = 0; j < options_.kernel_w; ++j, row += cg) {
                        const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(ox * p.stride_w + j * p.dilation_w) -
                                                  static_cast<std::ptrdiff_t>(p.pad_left);
                        if (iy < 0 || ix < 0 || iy >= static_cast<std::ptrdiff_t>(in[1]) ||
                            ix >= static_cast<std::ptrdiff_t>(in[2])) {
                            for (std::size_t c = 0; c < cg; ++c) row[c] = 0.0F;
                        } else {
                            const float* src = x.data() +
                                               ((b * in[1] + static_cast<std::size_t>(iy)) * in[2] +
                                                static_cast<std::size_t>(ix)) * in[3] + g * cg;
                            if (cg == 1) row[0] = src[0];
                            else std::memcpy(row, src, cg * sizeof(float));
                        }
                    }
                }
            }
        }
    }

    /// A per-thread buffer of at least n floats.
    static float* scratch(std::size_t which, std::size_t n) {
        thread_local std::vector<float> buffers[2];
        if (buffers[which].size() < n) buffers[which].resize(n);
        return buffers[which].data();
    }

    /// y = x' * w' per image: the image's im2col block stays in cache (pointwise: one GEMM over x' itself).
    void float_product(const tensor& x, const tensor& w, tensor& y) const {
        const std::size_t og = out_channels() / groups();
        const std::size_t depth = fan_in();
        const std::size_t oc = out_channels();
        if (pointwise()) {
            detail::float_gemm(y.size() / oc, oc, depth, {x.data(), depth}, {w.data(), depth, true}, y.data(), oc, 0.0F);
            return;
        }
        const conv::output_size s = size_for(x.shape());
        const std::size_t per_image = s.height * s.width;
        const std::size_t images = x.dim(0);
        const std::size_t block = block_images(per_image);
        parallel_for((images + block - 1) / block, 0, [&](std::size_t task) {
            const std::size_t b0 = task * block;
            const std::size_t n = std::min(block, images - b0);
            const std::size_t rows = n * per_image;
            float* cols = scratch(0, groups() * rows * depth);
            block_columns(x, b0, n, s, cols);
            for (std::size_t g = 0; g < groups(); ++g) {
                detail::float_gemm(rows, og, depth, {cols + g * rows * depth, depth}, {w.data() + g * og * depth, depth, true},
                                   y.data() + b0 * per_image * oc + g * og, oc, 0.0F, 1);
            }
        });
    }

    void approximate_product(const shape_t& in, tensor& y) {
        const conv::output_size s = size_for(in);
        acc_.resize(y.size());
        const quant_params a = input_.params();
        gemm::gemm_options opts;
        opts.activation_zero_point = a.zero_point;
        opts.weight_zero_point = weights_q_.zero_point();
        const auto run = [&](auto tag) {
            using T = decltype(tag);
            conv::conv2d<T>(*plan_, conv::nhwc_view<const T>{reinterpret_cast<const T*>(x_codes_.data()), in[0], in[1], in[2], in[3]},
                            conv::ohwi_view<const T>{reinterpret_cast<const T*>(w_codes_.data()), out_channels(),
                                                     options_.kernel_h, options_.kernel_w, in_per_group()},
                            conv::nhwc_view<std::int32_t>{acc_.data(), in[0], s.height, s.width, out_channels()},
                            options_.params, std::tuple<>{}, opts);
        };
        if (quant_->scheme == signedness::signed_operands) run(std::int8_t{});
        else run(std::uint8_t{});
        const std::size_t c = out_channels();
        for (std::size_t i = 0; i < y.size(); i += c) {
            for (std::size_t o = 0; o < c; ++o) y[i + o] = static_cast<float>(acc_[i + o]) * a.scale * w_scales_[o];
        }
    }

    void trace(const shape_t& in, const shape_t& out) const {
        const conv::output_size s = size_for(in);
        operand_trace t;
        t.layer = name_;
        t.scheme = quant_->scheme;
        t.groups = groups();
        t.pixels = in[0] * s.height * s.width;
        t.depth = fan_in();
        t.out_channels = out_channels();
        t.activation = input_.params();
        t.weight_scales = w_scales_;
        t.weight_zero_point = weights_q_.zero_point();
        t.weights = w_codes_;
        t.activation_rows.resize(t.groups * t.pixels * t.depth);
        t.exact_output.resize(element_count(out));
        gemm::gemm_options opts;
        opts.activation_zero_point = t.activation.zero_point;
        opts.weight_zero_point = t.weight_zero_point;
        const auto run = [&](auto tag) {
            using T = decltype(tag);
            const conv::nhwc_view<const T> x{reinterpret_cast<const T*>(x_codes_.data()), in[0], in[1], in[2], in[3]};
            for (std::size_t g = 0; g < t.groups; ++g) {
                conv::detail::im2col(x, options_.kernel_h, options_.kernel_w, in_per_group(), g, options_.params, s,
                                     static_cast<T>(t.activation.zero_point),
                                     reinterpret_cast<T*>(t.activation_rows.data()) + g * t.pixels * t.depth, 0,
                                     t.pixels);
            }
            conv::conv2d<T>(gemm::multiplier_plan::of<multipliers::exact<T>>(), x,
                            conv::ohwi_view<const T>{reinterpret_cast<const T*>(w_codes_.data()), out_channels(),
                                                     options_.kernel_h, options_.kernel_w, in_per_group()},
                            conv::nhwc_view<std::int32_t>{t.exact_output.data(), in[0], s.height, s.width, out_channels()},
                            options_.params, std::tuple<>{}, opts);
        };
        if (t.scheme == signedness::signed_operands) run(std::int8_t{});
        else run(std::uint8_t{});
        emit_trace(t);
    }

    void lowered_backward(const tensor& g, const tensor& w, tensor& grad_input) {
        const tensor& x = *x_saved_;
        const std::size_t oc = out_channels();
        const std::size_t og = oc / groups();
        const std::size_t depth = fan_in();
        grad_input.fill(0.0F);
        if (pointwise()) {
            const std::size_t pixels = g.size() / oc;
            detail::float_gemm(oc, depth, pixels, {g.data(), oc, true}, {x.data(), depth}, weight_.grad.data(), depth, 1.0F);
            if (input_gradient_) {
                detail::float_gemm(pixels, depth, oc, {g.data(), oc}, {w.data(), depth}, grad_input.data(), depth, 0.0F);
            }
            return;
        }
        // Fixed chunks of images (the same for any thread count); per image: im2col, dW_chunk += g^T cols,
        // dcols = g W scattered into the image's input gradient; chunk sums added in chunk order.
        const conv::output_size s = size_for(x.shape());
        const std::size_t per_image = s.height * s.width;
        const std::size_t images = x.dim(0);
        constexpr std::size_t chunks = 8;
        const std::size_t per_chunk = (images + chunks - 1) / chunks;
        std::vector<float> partial(chunks * weight_.grad.size(), 0.0F);
        const std::size_t block = block_images(per_image);
        parallel_for(chunks, 0, [&](std::size_t chunk) {
            const std::size_t last = std::min(images, (chunk + 1) * per_chunk);
            float* cols = scratch(0, groups() * block * per_image * depth);
            float* dcols = scratch(1, block * per_image * depth);
            float* dw = partial.data() + chunk * weight_.grad.size();
            for (std::size_t b0 = chunk * per_chunk; b0 < last; b0 += block) {
                const std::size_t n = std::min(block, last - b0);
                const std::size_t rows = n * per_image;
                block_columns(x, b0, n, s, cols);
                const float* gb = g.data() + b0 * per_image * oc;
                for (std::size_t gr = 0; gr < groups(); ++gr) {
                    detail::float_gemm(og, depth, rows, {gb + gr * og, oc, true}, {cols + gr * rows * depth, depth},
                                       dw + gr * og * depth, depth, 1.0F, 1);
                    if (!input_gradient_) continue;
                    detail::float_gemm(rows, depth, og, {gb + gr * og, oc}, {w.data() + gr * og * depth, depth}, dcols,
                                       depth, 0.0F, 1);
                    scatter_block(dcols, b0, n, gr, s, grad_input);
                }
            }
        });
        float* dw = weight_.grad.data();
        for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
            const float* part = partial.data() + chunk * weight_.grad.size();
            for (std::size_t i = 0; i < weight_.grad.size(); ++i) dw[i] += part[i];
        }
    }

    /// grad_input[b0, b0 + n) += col2im(dcols) for group g.
    void scatter_block(const float* dcols, std::size_t b0, std::size_t n, std::size_t g, const conv::output_size& s,
                       tensor& grad_input) const {
        const shape_t& in = shape_in_;
        const std::size_t cg = in_per_group();
        const auto& p = options_.params;
        const std::size_t per_image = s.height * s.width;
        const float* row = dcols;
        for (std::size_t r = 0; r < n * per_image; ++r) {
            const std::size_t b = b0 + r / per_image;
            const std::size_t q = r % per_image;
            const std::size_t oy = q / s.width;
            const std::size_t ox = q % s.width;
            const std::ptrdiff_t ix0 = static_cast<std::ptrdiff_t>(ox * p.stride_w) - static_cast<std::ptrdiff_t>(p.pad_left);
            const bool contiguous = groups() == 1 && p.dilation_w == 1 && ix0 >= 0 &&
                                    ix0 + static_cast<std::ptrdiff_t>(options_.kernel_w) <= static_cast<std::ptrdiff_t>(in[2]);
            const std::size_t run = options_.kernel_w * cg;
            for (std::size_t i = 0; i < options_.kernel_h; ++i) {
                const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * p.stride_h + i * p.dilation_h) -
                                          static_cast<std::ptrdiff_t>(p.pad_top);
                if (contiguous) {
                    if (iy >= 0 && iy < static_cast<std::ptrdiff_t>(in[1])) {
                        float* dst = grad_input.data() + ((b * in[1] + static_cast<std::size_t>(iy)) * in[2] +
                                                          static_cast<std::size_t>(ix0)) * in[3];
                        for (std::size_t c = 0; c < run; ++c) dst[c] += row[c];
                    }
                    row += run;
                    continue;
                }
                for (std::size_t j = 0; j < options_.kernel_w; ++j, row += cg) {
                    const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(ox * p.stride_w + j * p.dilation_w) -
                                              static_cast<std::ptrdiff_t>(p.pad_left);
                    if (iy < 0 || ix < 0 || iy >= static_cast<std::ptrdiff_t>(in[1]) ||
                        ix >= static_cast<std::ptrdiff_t>(in[2])) {
                        continue;
                    }
                    float* dst = grad_input.data() +
                                 ((b * in[1] + static_cast<std::size_t>(iy)) * in[2] + static_cast<std::size_t>(ix)) *
                                     in[3] + g * cg;
                    for (std::size_t c = 0; c < cg; ++c) dst[c] += row[c];
                }
            }
        }
    }

    /// Calls fn(o, i, j, iy, ix) for every in-bounds tap of output pixel (oy, ox).
    template <class F>
    void for_each_tap(std::size_t oy, std::size_t ox, const shape_t& in, F&& fn) const {
        const auto& p = options_.params;
        for (std::size_t i = 0; i < options_.kernel_h; ++i) {
            const std::ptrdiff_t iy =
                static_cast<std::ptrdiff_t>(oy * p.stride_h + i * p.dilation_h) - static_cast<std::ptrdiff_t>(p.pad_top);
            if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(in[1])) continue;
            for (std::size_t j = 0; j < options_.kernel_w; ++j) {
                const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(ox * p.stride_w + j * p.dilation_w) -
                                          static_cast<std::ptrdiff_t>(p.pad_left);
                if (ix < 0 || ix >= static_cast<std::ptrdiff_t>(in[2])) continue;
                fn(i, j, static_cast<std::size_t>(iy), static_cast<std::size_t>(ix));
            }
        }
    }

    // Depthwise (one input channel per group): output channel o reads input channel o / multiplier.
    void depthwise_forward(const tensor& x, const tensor& w, tensor& y) const {
        const shape_t& in = x.shape();
        const std::size_t oh = y.dim(1), ow = y.dim(2), oc = out_channels();
        const std::size_t mult = oc / in[3];
        const std::size_t kw = options_.kernel_w;
        const std::size_t taps = options_.kernel_h * kw;
        parallel_for(in[0], 0, [&](std::size_t b) {
            std::vector<float> acc(oc);
            for (std::size_t oy = 0; oy < oh; ++oy) {
                for (std::size_t ox = 0; ox < ow; ++ox) {
                    std::fill(acc.begin(), acc.end(), 0.0F);
                    for_each_tap(oy, ox, in, [&](std::size_t i, std::size_t j, std::size_t iy, std::size_t ix) {
                        const float* src = x.data() + ((b * in[1] + iy) * in[2] + ix) * in[3];
                        const float* wt = w.data() + i * kw + j;
                        for (std::size_t o = 0; o < oc; ++o) acc[o] += src[o / mult] * wt[o * taps];
                    });
                    std::copy(acc.begin(), acc.end(), y.data() + ((b * oh + oy) * ow + ox) * oc);
                }
            }
        });
    }

    void depthwise_backward(const tensor& g, const tensor& w, tensor& grad_input) {
        const shape_t& in = shape_in_;
        const std::size_t oh = g.dim(1), ow = g.dim(2), oc = out_channels();
        const std::size_t mult = oc / in[3];
        const std::size_t kw = options_.kernel_w;
        const std::size_t taps = options_.kernel_h * kw;
        grad_input.fill(0.0F);
        tensor unused;
        tensor& dx = input_gradient_ ? grad_input : unused;
        if (!input_gradient_) dx.resize(grad_input.shape());
        // Weight gradients: fixed chunks of images, summed in chunk order (deterministic for any thread count).
        constexpr std::size_t chunks = 8;
        std::vector<std::vector<double>> partial(chunks, std::vector<double>(oc * taps, 0.0));
        const std::size_t per_chunk = (in[0] + chunks - 1) / chunks;
        parallel_for(chunks, 0, [&](std::size_t chunk) {
            std::vector<double>& dw = partial[chunk];
            for (std::size_t b = chunk * per_chunk; b < std::min(in[0], (chunk + 1) * per_chunk); ++b) {
                for (std::size_t oy = 0; oy < oh; ++oy) {
                    for (std::size_t ox = 0; ox < ow; ++ox) {
                        const float* go = g.data() + ((b * oh + oy) * ow + ox) * oc;
                        for_each_tap(oy, ox, in, [&](std::size_t i, std::size_t j, std::size_t iy, std::size_t ix) {
                            const std::size_t at = ((b * in[1] + iy) * in[2] + ix) * in[3];
                            const float* src = x_saved_->data() + at;
                            float* dst = dx.data() + at;
                            const float* wt = w.data() + i * kw + j;
                            for (std::size_t o = 0; o < oc; ++o) {
                                dst[o / mult] += go[o] * wt[o * taps];
                                dw[o * taps + i * kw + j] += static_cast<double>(go[o]) * src[o / mult];
                            }
                        });
                    }
                }
            }
        });
        for (std::size_t k = 0; k < oc * taps; ++k) {
            double sum = 0.0;
            for (std::size_t c = 0; c < chunks; ++c) sum += partial[c][k];
            weight_.grad[k] += static_cast<float>(sum);
        }
    }

    std::size_t in_channels_;
    conv2d_options options_;
    shape_t shape_in_;
    const tensor* x_saved_ = nullptr;  ///< x' of the last training forward
    tensor x_;
    std::vector<std::int32_t> acc_;
    bool cached_ = false;  ///< the last forward was a training forward
};

}  // namespace approxnn::nn
