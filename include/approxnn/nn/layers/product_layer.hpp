#pragma once
// What conv2d and linear share: weights and bias, quantisation of both operands, an optional approximate
// multiplier for the forward product, the output hook (before the bias), operand tracing and operation counts.
//
// Forward of a product layer, in order:
//   1. x' = x, or its fake-quantised value when the layer is quantised (the range is observed in training);
//      w' = w, or its fake-quantised value;
//   2. y = x' * w' (float), or, with a multiplier set, y = s_x * s_w[o] * sum_k M(code_x, code_w) with the
//      zero-point terms applied exactly (the approximate integer product, through the gemm kernels);
//   3. the output hook (if any) transforms y in place; 4. y += bias.
// Backward is the straight-through estimator: the gradients of the exact float product of x' and w'; the
// gradient to x passes where x was inside the quantisation range. The multiplier's error does not enter it.
//
// Operating points (QoS-Nets, docs/noise-and-qos.md section 7): set_operating_points(n) gives the layer n biases
// (the weights, the quantisers and the multiplier stay shared; nn::assign_multipliers sets the multiplier of each
// operating point when it is selected). The bias used by forward / backward and returned by bias() is the active
// operating point's; select_operating_point(i) switches without allocating. visit_parameters names operating point
// 0's bias "bias" and operating point i's "op<i>.bias". A layer without a bias has nothing per operating point but
// still counts and selects them.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/quantisation.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

/// Sees (and may change) a product layer's output before the bias is added: noise injection, statistics.
class output_hook {
public:
    virtual ~output_hook() = default;
    /// y: the (N, ..., out_channels) pre-bias output, changed in place.
    virtual void forward(tensor& y, mode m) = 0;
    /// grad: d loss / d (hook output) on entry, d loss / d (hook input) on return. Only after a training forward.
    virtual void backward(tensor& grad) = 0;
    /// The hook's own learned parameters (named under the layer's prefix + ".hook").
    virtual void visit_parameters(const std::string& prefix, const parameter_visitor& fn) {
        (void)prefix;
        (void)fn;
    }
};

/// The integer operands and exact outputs of one traced forward of a quantised product layer.
/// Activation rows are the im2col rows (linear: the input rows): rows[(g * pixels + p) * depth + k];
/// weights[o * depth + k]; exact_output[p * out_channels + o] = sum_k (a - za)(w - zw). Codes are raw bytes.
struct operand_trace {
    std::string layer;
    signedness scheme = signedness::unsigned_operands;
    std::size_t groups = 1, pixels = 0, depth = 0, out_channels = 0;
    std::vector<std::uint8_t> activation_rows;
    std::vector<std::uint8_t> weights;
    std::vector<std::int32_t> exact_output;
    quant_params activation;
    std::vector<float> weight_scales;
    std::int32_t weight_zero_point = 0;
};

using trace_callback = std::function<void(const operand_trace&)>;

class product_layer : public layer {
public:
    [[nodiscard]] parameter& weight() noexcept { return weight_; }
    [[nodiscard]] const parameter& weight() const noexcept { return weight_; }
    /// Null when the layer was built without a bias.
    [[nodiscard]] parameter* bias() noexcept { return has_bias_ ? &bias_ : nullptr; }
    [[nodiscard]] std::size_t out_channels() const noexcept { return weight_.value.dim(0); }

    /// Quantises both operands from now on (nullopt: float again, which also drops the multiplier). Keeps an
    /// observed range when the scheme stays.
    void set_quantisation(std::optional<quantisation> q) {
        if (!q) plan_ = nullptr;
        if (q && plan_ && plan_->operand_signedness() != q->scheme) {
            throw parameter_error("layer '" + name_ + "': multiplier " + plan_->name() + " does not match the " +
                                  scheme_name(q->scheme) + " quantisation");
        }
        if (q) {
            if (!quant_ || quant_->scheme != q->scheme) input_ = activation_quantiser(q->scheme, q->range_momentum);
            weights_q_ = weight_quantiser(q->scheme, q->per_channel_weights);
        }
        quant_ = q;
    }
    [[nodiscard]] const std::optional<quantisation>& quantisation_config() const noexcept { return quant_; }
    [[nodiscard]] bool quantised() const noexcept { return quant_.has_value(); }
    [[nodiscard]] activation_quantiser& input_quantiser() noexcept { return input_; }
    [[nodiscard]] const activation_quantiser& input_quantiser() const noexcept { return input_; }
    [[nodiscard]] const weight_quantiser& weight_quantisation() const noexcept { return weights_q_; }

    /// Runs the forward product through `plan` (null: the exact float product). The layer must be quantised with
    /// the multiplier's signedness.
    void set_multiplier(std::shared_ptr<const gemm::multiplier_plan> plan) {
        if (plan) {
            if (!quant_) {
                throw parameter_error("layer '" + name_ + "': multiplier " + plan->name() +
                                      " needs a quantised layer (set_quantisation first)");
            }
            if (plan->operand_signedness() != quant_->scheme) {
                throw parameter_error("layer '" + name_ + "': multiplier " + plan->name() + " has " +
                                      scheme_name(plan->operand_signedness()) + " operands but the layer uses " +
                                      scheme_name(quant_->scheme) + " quantisation");
            }
        }
        plan_ = std::move(plan);
    }
    [[nodiscard]] const gemm::multiplier_plan* multiplier() const noexcept { return plan_.get(); }
    [[nodiscard]] const std::shared_ptr<const gemm::multiplier_plan>& shared_multiplier() const noexcept {
        return plan_;
    }

    void set_output_hook(std::shared_ptr<output_hook> hook) { hook_ = std::move(hook); }
    [[nodiscard]] output_hook* hook() const noexcept { return hook_.get(); }
    [[nodiscard]] const std::shared_ptr<output_hook>& shared_hook() const noexcept { return hook_; }

    /// Calls fn with the integer operands and exact outputs of every forward of the quantised layer (empty: off).
    void set_tracer(trace_callback fn) { tracer_ = std::move(fn); }

    /// Whether backward() computes d loss / d input (default true). A model's first layer does not need it:
    /// with false, backward() writes zeros there and saves the column scatter.
    void set_input_gradient(bool needed) noexcept { input_gradient_ = needed; }
    [[nodiscard]] bool input_gradient() const noexcept { return input_gradient_; }

    /// Multiplications per sample for an input of shape `input` (batch first).
    [[nodiscard]] virtual std::size_t multiplications_per_sample(const shape_t& input) const = 0;

    /// The name used in messages (set by the model builder; defaults to the kind).
    void set_name(std::string name) { name_ = std::move(name); }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    void visit_parameters(const std::string& prefix, const parameter_visitor& fn) override {
        fn(join_name(prefix, "weight"), weight_);
        if (has_bias_) {
            fn(join_name(prefix, "bias"), bias_of(0));
            for (std::size_t i = 1; i < op_biases_.size(); ++i) {
                fn(join_name(prefix, "op" + std::to_string(i) + ".bias"), bias_of(i));
            }
        }
        if (hook_) hook_->visit_parameters(join_name(prefix, "hook"), fn);
    }

    /// n >= 1 operating points (parameter_error for 0). Biases below min(n, operating_points()) are kept; new ones
    /// are copies of the active bias (gradient zero). The active bias always survives: when its index is not below
    /// n it replaces bias 0. With n = 1 the active bias is the only one left, as operating point 0.
    void set_operating_points(std::size_t n) {
        if (n == 0) {
            throw parameter_error("layer '" + name_ + "': the number of operating points must be at least 1, got 0");
        }
        const std::size_t old = operating_points();
        if (n == old) return;
        std::vector<parameter> all(old);
        for (std::size_t i = 0; i < old; ++i) all[i] = i == active_ ? std::move(bias_) : std::move(op_biases_[i]);
        parameter fresh = all[active_];
        fresh.grad.fill(0.0F);
        std::vector<parameter> next(n);
        for (std::size_t i = 0; i < n; ++i) next[i] = i < old ? std::move(all[i]) : fresh;
        std::size_t active = active_;
        if (active >= n) {
            next[0] = std::move(all[active]);
            active = 0;
        }
        bias_ = std::move(next[active]);
        next[active] = parameter{};
        active_ = active;
        if (n == 1) {
            op_biases_.clear();
        } else {
            op_biases_ = std::move(next);
        }
    }
    /// Makes operating point i's bias the active one (swaps tensors, allocates nothing). parameter_error naming
    /// the layer, i and the number of operating points when i is not below it.
    void select_operating_point(std::size_t i) {
        if (i >= operating_points()) {
            throw parameter_error("layer '" + name_ + "': operating point " + std::to_string(i) + " is not below the " +
                                  std::to_string(operating_points()) + " operating point(s) of the layer");
        }
        if (i == active_) return;
        // op_biases_[active_] is an empty slot while active_ is active.
        std::swap(bias_, op_biases_[active_]);
        std::swap(bias_, op_biases_[i]);
        active_ = i;
    }
    [[nodiscard]] std::size_t operating_points() const noexcept { return op_biases_.empty() ? 1 : op_biases_.size(); }
    [[nodiscard]] std::size_t active_operating_point() const noexcept { return active_; }
    void visit_buffers(const std::string& prefix, const buffer_visitor& fn) override {
        if (quant_) fn(join_name(prefix, "input_range"), input_.range());
    }
    void release_cache() override {
        xq_ = tensor();
        wq_ = tensor();
        x_codes_ = {};
        x_mask_ = {};
        w_codes_ = {};
    }

protected:
    product_layer(shape_t weight_shape, std::size_t out_channels, bool with_bias, std::string kind_name)
        : weight_(std::move(weight_shape)), bias_(shape_t{with_bias ? out_channels : 0}, false), has_bias_(with_bias),
          name_(std::move(kind_name)) {}

    static std::string scheme_name(signedness s) { return s == signedness::signed_operands ? "signed" : "unsigned"; }

    /// Step 1: the operands of the product (x' and w'), keeping codes and masks when quantised.
    const tensor& effective_input(const tensor& x, mode m) {
        if (!quant_) return x;
        if (m == mode::training) input_.observe(x);
        input_.quantise(x, xq_, &x_codes_, m == mode::training ? &x_mask_ : nullptr);
        return xq_;
    }
    const tensor& effective_weight() {
        if (!quant_) return weight_.value;
        w_scales_ = weights_q_.quantise(weight_.value, wq_, &w_codes_);
        return wq_;
    }
    [[nodiscard]] bool approximate() const noexcept { return plan_ != nullptr && quant_.has_value(); }
    [[nodiscard]] bool tracing() const noexcept { return quant_.has_value() && static_cast<bool>(tracer_); }

    /// Steps 3 and 4 on y (last dimension = channels).
    void finish_forward(tensor& y, mode m) {
        if (hook_) hook_->forward(y, m);
        if (has_bias_) {
            const std::size_t c = out_channels();
            float* out = y.data();
            const float* b = bias_.value.data();
            for (std::size_t i = 0; i < y.size(); i += c) {
                for (std::size_t o = 0; o < c; ++o) out[i + o] += b[o];
            }
        }
    }

    /// The bias gradient and the hook's backward: returns d loss / d y (the product's output).
    const tensor& begin_backward(const tensor& grad_output) {
        if (has_bias_) {
            const std::size_t c = out_channels();
            std::vector<double> sum(c, 0.0);
            for (std::size_t i = 0; i < grad_output.size(); i += c) {
                for (std::size_t o = 0; o < c; ++o) sum[o] += grad_output[i + o];
            }
            for (std::size_t o = 0; o < c; ++o) bias_.grad[o] += static_cast<float>(sum[o]);
        }
        if (!hook_) return grad_output;
        grad_y_ = grad_output;
        hook_->backward(grad_y_);
        return grad_y_;
    }

    /// The straight-through mask on d loss / d x'.
    void finish_backward(tensor& grad_input) const {
        if (!quant_) return;
        for (std::size_t i = 0; i < grad_input.size(); ++i) {
            if (x_mask_[i] == 0) grad_input[i] = 0.0F;
        }
    }

    void emit_trace(const operand_trace& t) const { tracer_(t); }

    parameter& bias_of(std::size_t i) noexcept { return i == active_ ? bias_ : op_biases_[i]; }

    parameter weight_;
    parameter bias_;
    bool has_bias_;
    std::vector<parameter> op_biases_;  // per operating point; empty with one (the active bias is in bias_)
    std::size_t active_ = 0;
    bool input_gradient_ = true;
    std::string name_;
    std::optional<quantisation> quant_;
    activation_quantiser input_;
    weight_quantiser weights_q_;
    std::shared_ptr<const gemm::multiplier_plan> plan_;
    std::shared_ptr<output_hook> hook_;
    trace_callback tracer_;
    // Caches of the last forward.
    tensor xq_, wq_, grad_y_;
    std::vector<std::uint8_t> x_codes_, x_mask_, w_codes_;
    std::vector<float> w_scales_;
};

}  // namespace approxnn::nn
