#pragma once
// SGD with momentum and weight decay (PyTorch semantics), and learning-rate schedules.
#include <cmath>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layer.hpp"

namespace approxnn::nn {

struct sgd_options {
    float learning_rate = 0.1F;
    float momentum = 0.9F;
    float weight_decay = 5e-4F;  ///< applied to parameters with decay = true
    bool nesterov = false;
};

/// PyTorch's SGD: g' = g + wd * w; v = momentum * v + g'; w -= lr * (nesterov ? g' + momentum * v : v).
class sgd {
public:
    explicit sgd(sgd_options options = {}) : options_(options) {
        if (!(options.learning_rate >= 0.0F) || !(options.momentum >= 0.0F && options.momentum < 1.0F) ||
            !(options.weight_decay >= 0.0F)) {
            throw parameter_error("sgd: learning rate " + std::to_string(options.learning_rate) + ", momentum " +
                                  std::to_string(options.momentum) + " and weight decay " +
                                  std::to_string(options.weight_decay) +
                                  " must be non-negative (momentum below 1)");
        }
    }

    [[nodiscard]] const sgd_options& options() const noexcept { return options_; }
    void set_learning_rate(float lr) noexcept { options_.learning_rate = lr; }

    /// One update of every parameter of `model` from its gradient (gradients are left as they are).
    void step(layer& model) {
        model.visit_parameters("", [&](const std::string& name, parameter& p) {
            std::vector<float>& v = velocity_[name];
            if (v.size() != p.value.size()) v.assign(p.value.size(), 0.0F);
            const float wd = p.decay ? options_.weight_decay : 0.0F;
            const float mu = options_.momentum;
            const float lr = options_.learning_rate;
            float* w = p.value.data();
            const float* g = p.grad.data();
            for (std::size_t i = 0; i < v.size(); ++i) {
                const float gi = g[i] + wd * w[i];
                v[i] = mu * v[i] + gi;
                w[i] -= lr * (options_.nesterov ? gi + mu * v[i] : v[i]);
            }
        });
    }
    void reset() { velocity_.clear(); }

private:
    sgd_options options_;
    std::unordered_map<std::string, std::vector<float>> velocity_;
};

/// Learning rate of an epoch: constant, step (x gamma every `step` epochs), multi-step (x gamma at each
/// milestone), or cosine annealing to 0 over `epochs`; an optional linear warm-up over the first epochs.
struct lr_schedule {
    enum class kind { constant, step, multi_step, cosine } type = kind::constant;
    float base = 0.1F;
    float gamma = 0.1F;
    std::size_t step = 30;
    std::vector<std::size_t> milestones;
    std::size_t epochs = 1;  ///< cosine: the epoch count

    static lr_schedule constant_rate(float lr) { return {kind::constant, lr, 1.0F, 1, {}, 1}; }
    static lr_schedule step_decay(float lr, std::size_t every, float factor) { return {kind::step, lr, factor, every, {}, 1}; }
    static lr_schedule multi_step_decay(float lr, std::vector<std::size_t> at, float factor) {
        return {kind::multi_step, lr, factor, 1, std::move(at), 1};
    }
    static lr_schedule cosine_annealing(float lr, std::size_t total_epochs) {
        return {kind::cosine, lr, 1.0F, 1, {}, total_epochs};
    }

    /// The rate at `progress` epochs (fractional: epoch + batch / batches), epochs counted from 0.
    [[nodiscard]] float at(double progress) const {
        switch (type) {
        case kind::constant: return base;
        case kind::step: {
            if (step == 0) throw parameter_error("lr_schedule: step 0");
            return base * std::pow(gamma, static_cast<float>(static_cast<std::size_t>(progress) / step));
        }
        case kind::multi_step: {
            float lr = base;
            for (std::size_t m : milestones) {
                if (progress >= static_cast<double>(m)) lr *= gamma;
            }
            return lr;
        }
        case kind::cosine: {
            const double t = std::min(progress / static_cast<double>(std::max<std::size_t>(epochs, 1)), 1.0);
            return static_cast<float>(0.5 * base * (1.0 + std::cos(3.14159265358979323846 * t)));
        }
        }
        return base;
    }
};

}  // namespace approxnn::nn
