#pragma once
// nn::linear: y (N, out) = x (N, in) * W^T + b, W of shape (out, in). See product_layer.hpp for quantisation.
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

#include "approxnn/conv/conv2d.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/gemm/matrix.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families/exact.hpp"
#include "approxnn/nn/detail/float_gemm.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

class linear final : public product_layer {
public:
    linear(std::size_t in_features, std::size_t out_features, bool with_bias = true)
        : product_layer({out_features, in_features}, out_features, with_bias, "linear"), in_(in_features) {
        if (in_features == 0 || out_features == 0) {
            throw parameter_error("linear: feature counts must be positive, got " + std::to_string(in_features) +
                                  " in and " + std::to_string(out_features) + " out");
        }
    }

    [[nodiscard]] std::string kind() const override { return "linear"; }
    [[nodiscard]] std::size_t in_features() const noexcept { return in_; }
    [[nodiscard]] std::size_t fan_in() const noexcept { return in_; }

    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        if (input.size() != 2 || input[1] != in_) {
            throw shape_error("linear '" + name_ + "': expected an input of shape [N, " + std::to_string(in_) +
                              "], got " + to_string(input));
        }
        return {input[0], out_channels()};
    }
    [[nodiscard]] std::size_t multiplications_per_sample(const shape_t& input) const override {
        (void)output_shape(input);
        return in_ * out_channels();
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        output.resize(output_shape(input.shape()));
        const tensor& x = effective_input(input, m);
        const tensor& w = effective_weight();
        const std::size_t n = input.dim(0);
        const std::size_t o = out_channels();
        if (approximate()) {
            acc_.resize(output.size());
            run_integer(*plan_, n, acc_.data());
            const quant_params a = input_.params();
            for (std::size_t i = 0; i < output.size(); i += o) {
                for (std::size_t c = 0; c < o; ++c) output[i + c] = static_cast<float>(acc_[i + c]) * a.scale * w_scales_[c];
            }
        } else {
            detail::float_gemm(n, o, in_, {x.data(), in_}, {w.data(), in_, true}, output.data(), o, 0.0F);
        }
        if (tracing()) {
            operand_trace t;
            t.layer = name_;
            t.scheme = quant_->scheme;
            t.pixels = n;
            t.depth = in_;
            t.out_channels = o;
            t.activation = input_.params();
            t.weight_scales = w_scales_;
            t.weight_zero_point = weights_q_.zero_point();
            t.activation_rows = x_codes_;
            t.weights = w_codes_;
            t.exact_output.resize(output.size());
            const auto& exact = quant_->scheme == signedness::signed_operands
                                    ? gemm::multiplier_plan::of<multipliers::exact<std::int8_t>>()
                                    : gemm::multiplier_plan::of<multipliers::exact<std::uint8_t>>();
            run_integer(exact, n, t.exact_output.data());
            emit_trace(t);
        }
        // backward() reads x': the cached xq_ when quantised, else a copy of the input.
        if (m == mode::training && &x != &xq_) x_copy_ = x;
        x_ = m == mode::training ? (&x == &xq_ ? &xq_ : &x_copy_) : nullptr;
        finish_forward(output, m);
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (x_ == nullptr) throw parameter_error("linear '" + name_ + "': backward() without a training forward()");
        expect_shape(("linear '" + name_ + "': backward").c_str(), grad_output, {x_->dim(0), out_channels()});
        const tensor& g = begin_backward(grad_output);
        const tensor& w = quant_ ? wq_ : weight_.value;
        const std::size_t n = g.dim(0);
        const std::size_t o = out_channels();
        grad_input.resize({n, in_});
        detail::float_gemm(o, in_, n, {g.data(), o, true}, {x_->data(), in_}, weight_.grad.data(), in_, 1.0F);
        if (!input_gradient_) {
            grad_input.fill(0.0F);
            return;
        }
        detail::float_gemm(n, in_, o, {g.data(), o}, {w.data(), in_}, grad_input.data(), in_, 0.0F);
        finish_backward(grad_input);
    }

    void release_cache() override {
        product_layer::release_cache();
        acc_ = {};
        x_ = nullptr;
        x_copy_ = tensor();
    }

private:
    void run_integer(const gemm::multiplier_plan& plan, std::size_t n, std::int32_t* out) const {
        gemm::gemm_options opts;
        opts.activation_zero_point = input_.params().zero_point;
        opts.weight_zero_point = weights_q_.zero_point();
        const std::size_t o = out_channels();
        const auto run = [&](auto tag) {
            using T = decltype(tag);
            conv::linear<T>(plan, gemm::row_major<const T>(reinterpret_cast<const T*>(x_codes_.data()), n, in_),
                            gemm::row_major<const T>(reinterpret_cast<const T*>(w_codes_.data()), o, in_),
                            gemm::row_major<std::int32_t>(out, n, o), std::tuple<>{}, opts);
        };
        if (quant_->scheme == signedness::signed_operands) run(std::int8_t{});
        else run(std::uint8_t{});
    }

    std::size_t in_;
    const tensor* x_ = nullptr;
    tensor x_copy_;
    std::vector<std::int32_t> acc_;
};

}  // namespace approxnn::nn
