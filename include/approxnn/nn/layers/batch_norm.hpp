#pragma once
// Batch normalisation over the last dimension: the channels of an NHWC batch, the features of an (N, F) batch.
//
//   training     y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch's mean and biased variance per
//                channel (statistics accumulated in double); then running_mean <- (1 - momentum) * running_mean +
//                momentum * mean, running_var <- (1 - momentum) * running_var + momentum * unbiased variance.
//   evaluation   the same with running_mean and running_var in place of the batch statistics.
//
// As PyTorch's BatchNorm: parameters "weight" (gamma, 1) and "bias" (beta, 0), both without weight decay; buffers
// "running_mean" (0) and "running_var" (1); eps 1e-5 and momentum 0.1 by default. Training needs at least two
// values per channel.
//
// Operating points (QoS-Nets, docs/noise-and-qos.md section 7): set_operating_points(n) gives the layer n sets of
// (gamma, beta, running_mean, running_var); forward, backward and the accessors below use the active set only
// (backward accumulates into its gradients), select_operating_point(i) switches in O(1) without allocating.
// visit_parameters / visit_buffers expose every set: operating point 0 under the names above, operating point
// i >= 1 under "op<i>." + name ("bn1.op2.weight", "bn1.op2.running_var"), so optimisers keyed by name and
// save_model / load_model keep all of them. With one operating point (the default) nothing differs from a plain
// batch norm, names included.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::nn {

class batch_norm final : public layer {
public:
    /// `channels` > 0 channels; eps > 0 (finite); momentum in [0, 1]. Throws parameter_error naming the value.
    explicit batch_norm(std::size_t channels, double eps = 1e-5, double momentum = 0.1)
        : channels_(channels), eps_(eps), momentum_(momentum) {
        if (channels == 0) throw parameter_error("batch_norm: channels must be positive, got 0");
        if (!(eps > 0.0) || !std::isfinite(eps)) {
            throw parameter_error("batch_norm: eps must be positive and finite, got " + format(eps));
        }
        if (!(momentum >= 0.0 && momentum <= 1.0)) {
            throw parameter_error("batch_norm: momentum must be in [0, 1], got " + format(momentum));
        }
        weight_ = parameter({channels}, false);
        weight_.value.fill(1.0F);
        bias_ = parameter({channels}, false);
        running_mean_ = tensor({channels}, 0.0F);
        running_var_ = tensor({channels}, 1.0F);
    }

    [[nodiscard]] std::string kind() const override { return "batch_norm"; }

    /// The input's shape; the input must have rank >= 2 and `channels` as its last dimension.
    [[nodiscard]] shape_t output_shape(const shape_t& input) const override {
        if (input.size() < 2 || input.back() != channels_) {
            throw shape_error("batch_norm: expected an input of rank >= 2 with " + std::to_string(channels_) +
                              " channels in the last dimension, got " + to_string(input));
        }
        return input;
    }

    void forward(const tensor& input, tensor& output, mode m) override {
        (void)output_shape(input.shape());
        check_state();
        const std::size_t rows = input.size() / channels_;
        if (m == mode::training) {
            if (rows < 2) {
                throw shape_error("batch_norm: training needs more than one value per channel, got input " +
                                  to_string(input.shape()));
            }
            forward_training(input, output, rows);
        } else {
            forward_evaluation(input, output, rows);
        }
    }

    void backward(const tensor& grad_output, tensor& grad_input) override {
        if (!cached_) throw parameter_error("batch_norm: backward() without a training forward()");
        expect_shape("batch_norm", grad_output, xhat_.shape());
        check_state();
        const std::size_t c_count = channels_;
        const std::size_t rows = xhat_.size() / c_count;
        const float* dy = grad_output.data();
        const float* xh = xhat_.data();
        // Per channel: sum dy and sum dy * xhat.
        const std::size_t block = block_rows();
        const std::size_t blocks = (rows + block - 1) / block;
        partial_.assign(2 * blocks * c_count, 0.0);
        parallel_for(blocks, threads_for(rows * c_count, threads_), [&](std::size_t b) {
            double* sum_dy = partial_.data() + 2 * b * c_count;
            double* sum_dyx = sum_dy + c_count;
            const std::size_t end = std::min(rows, (b + 1) * block);
            for (std::size_t r = b * block; r < end; ++r) {
                const float* g = dy + r * c_count;
                const float* h = xh + r * c_count;
                for (std::size_t c = 0; c < c_count; ++c) {
                    sum_dy[c] += g[c];
                    sum_dyx[c] += static_cast<double>(g[c]) * h[c];
                }
            }
        });
        std::vector<double> mean_dy(c_count, 0.0), mean_dyx(c_count, 0.0), coefficient(c_count);
        for (std::size_t b = 0; b < blocks; ++b) {
            for (std::size_t c = 0; c < c_count; ++c) {
                mean_dy[c] += partial_[2 * b * c_count + c];
                mean_dyx[c] += partial_[(2 * b + 1) * c_count + c];
            }
        }
        const float* gamma = weight_.value.data();
        float* gamma_grad = weight_.grad.data();
        float* beta_grad = bias_.grad.data();
        for (std::size_t c = 0; c < c_count; ++c) {
            gamma_grad[c] += static_cast<float>(mean_dyx[c]);
            beta_grad[c] += static_cast<float>(mean_dy[c]);
            mean_dy[c] /= static_cast<double>(rows);
            mean_dyx[c] /= static_cast<double>(rows);
            coefficient[c] = gamma[c] * inv_std_[c];
        }
        // dx = gamma / sigma * (dy - mean(dy) - xhat * mean(dy * xhat)).
        grad_input.resize(xhat_.shape());
        float* dx = grad_input.data();
        parallel_for(blocks, threads_for(rows * c_count, threads_), [&](std::size_t b) {
            const std::size_t end = std::min(rows, (b + 1) * block);
            for (std::size_t r = b * block; r < end; ++r) {
                const float* g = dy + r * c_count;
                const float* h = xh + r * c_count;
                float* d = dx + r * c_count;
                for (std::size_t c = 0; c < c_count; ++c) {
                    d[c] = static_cast<float>(coefficient[c] * (g[c] - mean_dy[c] - h[c] * mean_dyx[c]));
                }
            }
        });
    }

    void visit_parameters(const std::string& prefix, const parameter_visitor& fn) override {
        fn(join_name(prefix, "weight"), weight_of(0));
        fn(join_name(prefix, "bias"), bias_of(0));
        for (std::size_t i = 1; i < sets_.size(); ++i) {
            const std::string op = join_name(prefix, "op" + std::to_string(i));
            fn(join_name(op, "weight"), weight_of(i));
            fn(join_name(op, "bias"), bias_of(i));
        }
    }
    void visit_buffers(const std::string& prefix, const buffer_visitor& fn) override {
        fn(join_name(prefix, "running_mean"), running_mean_of(0));
        fn(join_name(prefix, "running_var"), running_var_of(0));
        for (std::size_t i = 1; i < sets_.size(); ++i) {
            const std::string op = join_name(prefix, "op" + std::to_string(i));
            fn(join_name(op, "running_mean"), running_mean_of(i));
            fn(join_name(op, "running_var"), running_var_of(i));
        }
    }

    /// n >= 1 operating points (parameter_error for 0). Sets below min(n, operating_points()) are kept; new ones
    /// are copies of the active set (gradients zero). The active set always survives: when its index is not below
    /// n it replaces set 0. With n = 1 the active set is the only one left, as operating point 0.
    void set_operating_points(std::size_t n) {
        if (n == 0) throw parameter_error("batch_norm: the number of operating points must be at least 1, got 0");
        const std::size_t old = operating_points();
        if (n == old) return;
        std::vector<op_set> all(old);
        for (std::size_t i = 0; i < old; ++i) {
            if (i == active_) {
                all[i] = op_set{std::move(weight_), std::move(bias_), std::move(running_mean_), std::move(running_var_)};
            } else {
                all[i] = std::move(sets_[i]);
            }
        }
        op_set fresh = all[active_];
        fresh.weight.grad.fill(0.0F);
        fresh.bias.grad.fill(0.0F);
        std::vector<op_set> next(n);
        for (std::size_t i = 0; i < n; ++i) next[i] = i < old ? std::move(all[i]) : fresh;
        std::size_t active = active_;
        if (active >= n) {
            next[0] = std::move(all[active]);
            active = 0;
        }
        weight_ = std::move(next[active].weight);
        bias_ = std::move(next[active].bias);
        running_mean_ = std::move(next[active].running_mean);
        running_var_ = std::move(next[active].running_var);
        next[active] = op_set{};
        active_ = active;
        if (n == 1) {
            sets_.clear();
        } else {
            sets_ = std::move(next);
        }
        release_cache();
    }
    /// Makes operating point i the active one: swaps tensors, allocates nothing. parameter_error naming i and the
    /// number of operating points when i is not below it.
    void select_operating_point(std::size_t i) {
        if (i >= operating_points()) {
            throw parameter_error("batch_norm: operating point " + std::to_string(i) + " is not below the " +
                                  std::to_string(operating_points()) + " operating point(s) of the layer");
        }
        if (i == active_) return;
        // sets_[active_] is an empty slot while active_ is active: park the active set there, take set i out.
        swap_with(sets_[active_]);
        swap_with(sets_[i]);
        active_ = i;
        cached_ = false;
    }
    [[nodiscard]] std::size_t operating_points() const noexcept { return sets_.empty() ? 1 : sets_.size(); }
    [[nodiscard]] std::size_t active_operating_point() const noexcept { return active_; }
    void release_cache() override {
        xhat_ = tensor();
        inv_std_ = {};
        partial_ = {};
        cached_ = false;
    }

    [[nodiscard]] std::size_t channels() const noexcept { return channels_; }
    [[nodiscard]] double eps() const noexcept { return eps_; }
    [[nodiscard]] double momentum() const noexcept { return momentum_; }
    /// momentum in [0, 1]; parameter_error naming the value otherwise.
    void set_momentum(double momentum) {
        if (!(momentum >= 0.0 && momentum <= 1.0)) {
            throw parameter_error("batch_norm: momentum must be in [0, 1], got " + format(momentum));
        }
        momentum_ = momentum;
    }
    /// gamma and its gradient ("weight"), shape (channels).
    [[nodiscard]] parameter& weight() noexcept { return weight_; }
    [[nodiscard]] const parameter& weight() const noexcept { return weight_; }
    /// beta and its gradient ("bias"), shape (channels).
    [[nodiscard]] parameter& bias() noexcept { return bias_; }
    [[nodiscard]] const parameter& bias() const noexcept { return bias_; }
    [[nodiscard]] tensor& gamma() noexcept { return weight_.value; }
    [[nodiscard]] const tensor& gamma() const noexcept { return weight_.value; }
    [[nodiscard]] tensor& beta() noexcept { return bias_.value; }
    [[nodiscard]] const tensor& beta() const noexcept { return bias_.value; }
    /// Shape (channels); the statistics evaluation uses.
    [[nodiscard]] tensor& running_mean() noexcept { return running_mean_; }
    [[nodiscard]] const tensor& running_mean() const noexcept { return running_mean_; }
    [[nodiscard]] tensor& running_var() noexcept { return running_var_; }
    [[nodiscard]] const tensor& running_var() const noexcept { return running_var_; }

    /// At most this many threads (0: every hardware thread; small tensors run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    /// One operating point's state; with several, sets_[active_] is an empty slot (its state is in the members).
    struct op_set {
        parameter weight, bias;
        tensor running_mean, running_var;
    };

    void swap_with(op_set& s) noexcept {
        std::swap(weight_, s.weight);
        std::swap(bias_, s.bias);
        std::swap(running_mean_, s.running_mean);
        std::swap(running_var_, s.running_var);
    }
    parameter& weight_of(std::size_t i) noexcept { return i == active_ ? weight_ : sets_[i].weight; }
    parameter& bias_of(std::size_t i) noexcept { return i == active_ ? bias_ : sets_[i].bias; }
    tensor& running_mean_of(std::size_t i) noexcept { return i == active_ ? running_mean_ : sets_[i].running_mean; }
    tensor& running_var_of(std::size_t i) noexcept { return i == active_ ? running_var_ : sets_[i].running_var; }

    static std::string format(double v) {
        std::ostringstream s;
        s << v;
        return s.str();
    }

    /// Rows per task: the tasks (and the order of every sum) depend on the shape only.
    [[nodiscard]] std::size_t block_rows() const noexcept { return std::max<std::size_t>(1, 16384 / channels_); }

    void check_state() const {
        const shape_t expected{channels_};
        const auto check = [&](const char* name, const tensor& t) {
            if (t.shape() != expected) {
                throw shape_error(std::string("batch_norm: ") + name + " has shape " + to_string(t.shape()) +
                                  ", expected " + to_string(expected));
            }
        };
        check("weight", weight_.value);
        check("weight gradient", weight_.grad);
        check("bias", bias_.value);
        check("bias gradient", bias_.grad);
        check("running_mean", running_mean_);
        check("running_var", running_var_);
    }

    /// Per channel, the sum over rows of f(x, c) in double, in an order fixed by the shape.
    template <class F>
    void channel_sums(const float* x, std::size_t rows, std::vector<double>& sums, F&& f) {
        const std::size_t c_count = channels_;
        const std::size_t block = block_rows();
        const std::size_t blocks = (rows + block - 1) / block;
        partial_.assign(blocks * c_count, 0.0);
        parallel_for(blocks, threads_for(rows * c_count, threads_), [&](std::size_t b) {
            double* sum = partial_.data() + b * c_count;
            const std::size_t end = std::min(rows, (b + 1) * block);
            for (std::size_t r = b * block; r < end; ++r) {
                const float* row = x + r * c_count;
                for (std::size_t c = 0; c < c_count; ++c) sum[c] += f(row[c], c);
            }
        });
        sums.assign(c_count, 0.0);
        for (std::size_t b = 0; b < blocks; ++b) {
            for (std::size_t c = 0; c < c_count; ++c) sums[c] += partial_[b * c_count + c];
        }
    }

    void forward_training(const tensor& input, tensor& output, std::size_t rows) {
        const std::size_t c_count = channels_;
        const float* x = input.data();
        const double n = static_cast<double>(rows);
        std::vector<double> mean, var;
        channel_sums(x, rows, mean, [](float v, std::size_t) { return static_cast<double>(v); });
        for (double& m : mean) m /= n;
        channel_sums(x, rows, var, [&](float v, std::size_t c) {
            const double d = v - mean[c];
            return d * d;
        });
        for (double& v : var) v /= n;
        inv_std_.resize(c_count);
        for (std::size_t c = 0; c < c_count; ++c) inv_std_[c] = 1.0 / std::sqrt(var[c] + eps_);

        xhat_.resize(input.shape());
        output.resize(input.shape());
        float* xh = xhat_.data();
        float* y = output.data();
        const float* gamma = weight_.value.data();
        const float* beta = bias_.value.data();
        const std::size_t block = block_rows();
        parallel_for((rows + block - 1) / block, threads_for(rows * c_count, threads_), [&](std::size_t b) {
            const std::size_t end = std::min(rows, (b + 1) * block);
            for (std::size_t r = b * block; r < end; ++r) {
                for (std::size_t c = 0; c < c_count; ++c) {
                    const std::size_t i = r * c_count + c;
                    const double h = (x[i] - mean[c]) * inv_std_[c];
                    xh[i] = static_cast<float>(h);
                    y[i] = static_cast<float>(gamma[c] * h + beta[c]);
                }
            }
        });
        cached_ = true;

        const double unbiased = n / (n - 1.0);
        float* running_mean = running_mean_.data();
        float* running_var = running_var_.data();
        for (std::size_t c = 0; c < c_count; ++c) {
            running_mean[c] = static_cast<float>((1.0 - momentum_) * running_mean[c] + momentum_ * mean[c]);
            running_var[c] = static_cast<float>((1.0 - momentum_) * running_var[c] + momentum_ * var[c] * unbiased);
        }
    }

    void forward_evaluation(const tensor& input, tensor& output, std::size_t rows) {
        const std::size_t c_count = channels_;
        std::vector<float> scale(c_count);
        for (std::size_t c = 0; c < c_count; ++c) {
            scale[c] = static_cast<float>(weight_.value[c] / std::sqrt(static_cast<double>(running_var_[c]) + eps_));
        }
        const float* mean = running_mean_.data();
        const float* beta = bias_.value.data();
        output.resize(input.shape());
        const float* x = input.data();
        float* y = output.data();
        parallel_blocks(rows, block_rows(), c_count, threads_, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                for (std::size_t c = 0; c < c_count; ++c) {
                    y[r * c_count + c] = (x[r * c_count + c] - mean[c]) * scale[c] + beta[c];
                }
            }
        });
    }

    std::size_t channels_;
    double eps_;
    double momentum_;
    parameter weight_, bias_;
    tensor running_mean_, running_var_;
    std::vector<op_set> sets_;  // empty with one operating point
    std::size_t active_ = 0;
    unsigned threads_ = 0;
    // Training cache.
    tensor xhat_;
    std::vector<double> inv_std_;
    bool cached_ = false;
    std::vector<double> partial_;  // per-task partial sums (scratch)
};

}  // namespace approxnn::nn
