#pragma once
// Additive Gaussian noise (AGN): how much noise each conv / linear layer tolerates, learned by gradient descent
// (Trommer et al., ICCAD 2022; docs/noise-model.md).
//
// In training only, every product layer's output before the bias becomes
//     y' = y + eps * std(y) * sigma_l,   eps ~ N(0, 1) elementwise,
// std(y) the standard deviation of the whole batch output of that layer (one scalar per batch, treated as a
// constant by the gradient), sigma_l one learned scalar per layer. The loss gains the reward
//     - lambda * sum_l (ops_l / ops_total) * min(|sigma_l|, sigma_max),
// so layers with many multiplications are pushed hardest towards noise. After training, a layer tolerates an
// output error of standard deviation tau_l = |sigma_l| * std(Y_l), Y_l its exact integer output on a reference
// sample (layer_profile.hpp).
//
// Noise is drawn in fixed blocks of the output, each from its own generator seeded by (seed, layer, forward call,
// block): results are identical for any thread count.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/product_layer.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::noise {

struct agn_options {
    double sigma_init = 0.1;  ///< initial sigma_l of every layer (> 0)
    double sigma_max = 0.5;   ///< cap of the reward per layer (> 0)
    double lambda = 0.2;      ///< weight of the reward (>= 0)
    std::uint64_t seed = 1;   ///< noise seed

    /// Throws parameter_error naming the first value out of range.
    void check() const {
        if (!(sigma_init > 0.0) || !std::isfinite(sigma_init)) {
            throw parameter_error("agn: sigma_init must be positive and finite, got " + std::to_string(sigma_init));
        }
        if (!(sigma_max > 0.0) || !std::isfinite(sigma_max)) {
            throw parameter_error("agn: sigma_max must be positive and finite, got " + std::to_string(sigma_max));
        }
        if (!(lambda >= 0.0) || !std::isfinite(lambda)) {
            throw parameter_error("agn: lambda must be non-negative and finite, got " + std::to_string(lambda));
        }
    }
};

namespace detail {

[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/// Fills out[0, n) with standard normals (Box-Muller on a splitmix64 stream started at `seed`).
inline void fill_normal(float* out, std::size_t n, std::uint64_t seed) noexcept {
    std::uint64_t state = seed;
    constexpr double two_pi = 6.283185307179586476925286766559;
    for (std::size_t i = 0; i < n; i += 2) {
        const double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
        const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[i] = static_cast<float>(r * std::cos(two_pi * u2));
        if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(two_pi * u2));
    }
}

}  // namespace detail

/// The AGN output hook of one layer: sigma is its parameter (named "<layer>.hook.sigma", no weight decay).
class gaussian_noise final : public nn::output_hook {
public:
    static constexpr std::size_t block = 4096;  ///< elements per noise generator

    explicit gaussian_noise(double sigma_init, std::uint64_t seed = 1) : sigma_(nn::shape_t{1}, false), seed_(seed) {
        if (!std::isfinite(sigma_init)) throw parameter_error("gaussian_noise: sigma must be finite");
        sigma_.value[0] = static_cast<float>(sigma_init);
    }

    [[nodiscard]] double sigma() const noexcept { return sigma_.value[0]; }
    void set_sigma(double s) noexcept { sigma_.value[0] = static_cast<float>(s); }
    [[nodiscard]] nn::parameter& sigma_parameter() noexcept { return sigma_; }
    /// The std(y) of the last training forward.
    [[nodiscard]] double last_output_std() const noexcept { return output_std_; }
    /// Turns the noise off (and on) without detaching the hook; while off, forward and backward are identities.
    void set_enabled(bool on) noexcept { enabled_ = on; }
    [[nodiscard]] bool enabled() const noexcept { return enabled_; }
    /// At most this many threads (0: every hardware thread); the noise drawn does not depend on it.
    void set_threads(unsigned threads) noexcept { threads_ = threads; }

    void forward(nn::tensor& y, nn::mode m) override {
        noisy_ = enabled_ && m == nn::mode::training && y.size() > 1;
        if (!noisy_) return;
        output_std_ = standard_deviation(y);
        eps_.resize(y.shape());
        const std::uint64_t call = calls_++;
        const float scale = static_cast<float>(output_std_) * sigma_.value[0];
        float* out = y.data();
        float* eps = eps_.data();
        nn::parallel_blocks(y.size(), block, 16, threads_, [&](std::size_t begin, std::size_t end) {
            std::uint64_t s = seed_ ^ (call * 0xD1B54A32D192ED03ULL) ^ ((begin / block) * 0x8CB92BA72F3D8DD7ULL);
            detail::fill_normal(eps + begin, end - begin, detail::splitmix64(s));
            for (std::size_t i = begin; i < end; ++i) out[i] += scale * eps[i];
        });
    }

    /// d loss / d y = d loss / d y' (std(y) is a constant); d loss / d sigma += sum grad * eps * std(y).
    void backward(nn::tensor& grad) override {
        if (!noisy_) return;
        if (grad.size() != eps_.size()) {
            throw shape_error("gaussian_noise: gradient of " + std::to_string(grad.size()) + " values after a forward of " +
                              std::to_string(eps_.size()));
        }
        const std::size_t blocks = (grad.size() + block - 1) / block;
        std::vector<double> partial(blocks, 0.0);
        const float* g = grad.data();
        const float* eps = eps_.data();
        nn::parallel_blocks(grad.size(), block, 2, threads_, [&](std::size_t begin, std::size_t end) {
            double s = 0.0;
            for (std::size_t i = begin; i < end; ++i) s += static_cast<double>(g[i]) * eps[i];
            partial[begin / block] = s;
        });
        double sum = 0.0;
        for (const double p : partial) sum += p;
        sigma_.grad[0] += static_cast<float>(sum * output_std_);
    }

    void visit_parameters(const std::string& prefix, const nn::parameter_visitor& fn) override {
        fn(nn::join_name(prefix, "sigma"), sigma_);
    }

private:
    [[nodiscard]] double standard_deviation(const nn::tensor& y) const {
        const std::size_t blocks = (y.size() + block - 1) / block;
        std::vector<double> sums(blocks, 0.0), squares(blocks, 0.0);
        const float* v = y.data();
        nn::parallel_blocks(y.size(), block, 2, threads_, [&](std::size_t begin, std::size_t end) {
            double s = 0.0, q = 0.0;
            for (std::size_t i = begin; i < end; ++i) {
                s += v[i];
                q += static_cast<double>(v[i]) * v[i];
            }
            sums[begin / block] = s;
            squares[begin / block] = q;
        });
        double s = 0.0, q = 0.0;
        for (std::size_t b = 0; b < blocks; ++b) {
            s += sums[b];
            q += squares[b];
        }
        const double n = static_cast<double>(y.size());
        const double mean = s / n;
        return std::sqrt(std::max(0.0, (q - n * mean * mean) / (n - 1.0)));  // unbiased, as torch.std
    }

    nn::parameter sigma_;
    std::uint64_t seed_;
    std::uint64_t calls_ = 0;
    unsigned threads_ = 0;
    bool enabled_ = true;
    bool noisy_ = false;
    double output_std_ = 0.0;
    nn::tensor eps_;
};

/// AGN attached to every product layer of a model: the hooks, their operation weights and the reward term.
class noise_injection {
public:
    /// Attaches a gaussian_noise hook to every conv2d / linear of `model` (replacing any hook they had) and counts
    /// each layer's multiplications for an input sample of shape `sample` (without the batch dimension).
    noise_injection(nn::layer& model, const nn::shape_t& sample, const agn_options& options = {}) : options_(options) {
        options_.check();
        const auto counts = nn::operation_counts(model, sample);
        layers_ = nn::product_layers(model);
        double total = 0.0;
        for (const auto& c : counts) total += static_cast<double>(c.multiplications);
        if (total <= 0.0) throw shape_error("agn: the model has no multiplications");
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            auto hook = std::make_shared<gaussian_noise>(options_.sigma_init,
                                                         options_.seed + 0x9E3779B97F4A7C15ULL * (i + 1));
            layers_[i].layer->set_output_hook(hook);
            hooks_.push_back(hook);
            names_.push_back(layers_[i].name);
            weights_.push_back(static_cast<double>(counts[i].multiplications) / total);
        }
    }
    noise_injection(const noise_injection&) = delete;
    noise_injection& operator=(const noise_injection&) = delete;
    ~noise_injection() { detach(); }

    [[nodiscard]] std::size_t size() const noexcept { return hooks_.size(); }
    [[nodiscard]] const std::string& layer_name(std::size_t i) const { return names_.at(i); }
    /// ops_l / ops_total of layer i.
    [[nodiscard]] double operation_share(std::size_t i) const { return weights_.at(i); }
    [[nodiscard]] gaussian_noise& hook(std::size_t i) { return *hooks_.at(i); }
    /// sigma_l of every layer, in product-layer order.
    [[nodiscard]] std::vector<double> sigmas() const {
        std::vector<double> s;
        for (const auto& h : hooks_) s.push_back(std::abs(h->sigma()));
        return s;
    }
    [[nodiscard]] const agn_options& options() const noexcept { return options_; }

    /// The reward term of the loss, - lambda * sum_l w_l * min(|sigma_l|, sigma_max), at the current sigmas.
    [[nodiscard]] double penalty() const {
        double r = 0.0;
        for (std::size_t i = 0; i < hooks_.size(); ++i) {
            r += weights_[i] * std::min(std::abs(hooks_[i]->sigma()), options_.sigma_max);
        }
        return -options_.lambda * r;
    }

    /// Adds the reward's gradient to every sigma's gradient and returns its value: pass as train_options::regulariser.
    double add_penalty_gradient() {
        for (std::size_t i = 0; i < hooks_.size(); ++i) {
            nn::parameter& p = hooks_[i]->sigma_parameter();
            const double s = p.value[0];
            if (std::abs(s) < options_.sigma_max) {
                const double sign = s > 0.0 ? 1.0 : (s < 0.0 ? -1.0 : 0.0);
                p.grad[0] += static_cast<float>(-options_.lambda * weights_[i] * sign);
            }
        }
        return penalty();
    }
    [[nodiscard]] std::function<double(nn::layer&)> regulariser() {
        return [this](nn::layer&) { return add_penalty_gradient(); };
    }

    /// Removes the hooks (the model is as before, its weights as trained). Called by the destructor.
    void detach() noexcept {
        for (std::size_t i = 0; i < layers_.size() && i < hooks_.size(); ++i) {
            if (layers_[i].layer->hook() == hooks_[i].get()) layers_[i].layer->set_output_hook(nullptr);
        }
        layers_.clear();
    }

private:
    agn_options options_;
    std::vector<nn::named_product_layer> layers_;
    std::vector<std::shared_ptr<gaussian_noise>> hooks_;
    std::vector<std::string> names_;
    std::vector<double> weights_;
};

}  // namespace approxnn::noise
