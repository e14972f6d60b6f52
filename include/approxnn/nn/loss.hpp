#pragma once
// Classification loss and accuracy on logits (N, K) with one integer label in [0, K) per sample.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/threading.hpp"

namespace approxnn::nn {

namespace detail {

template <class Label>
concept class_label = std::same_as<Label, std::uint8_t> || std::same_as<Label, int>;

/// Throws shape_error unless logits is (N, K) with N, K > 0 and one label per sample, and parameter_error naming
/// the first label outside [0, K) and its index.
template <class Label>
void check_classification(const char* who, const tensor& logits, std::span<const Label> labels) {
    if (logits.rank() != 2 || logits.dim(0) == 0 || logits.dim(1) == 0) {
        throw shape_error(std::string(who) + ": expected logits (N, K) with N, K > 0, got " +
                          to_string(logits.shape()));
    }
    if (labels.size() != logits.dim(0)) {
        throw shape_error(std::string(who) + ": " + std::to_string(labels.size()) + " labels for logits " +
                          to_string(logits.shape()));
    }
    const std::size_t classes = logits.dim(1);
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const Label label = labels[i];
        bool outside = static_cast<std::size_t>(label) >= classes;
        if constexpr (std::is_signed_v<Label>) outside = outside || label < 0;
        if (outside) {
            throw parameter_error(std::string(who) + ": label " + std::to_string(label) + " at index " +
                                  std::to_string(i) + " is outside [0, " + std::to_string(classes) + ")");
        }
    }
}

}  // namespace detail

/// Mean softmax cross-entropy: value = (1 / N) sum_i (log sum_j exp(z_ij) - z_i,label_i), computed per sample as
/// m + log sum_j exp(z_ij - m) with m = max_j z_ij (no overflow), in double. The gradient with respect to the
/// logits is (softmax(z) - onehot(labels)) / N, shape (N, K). Logits must be (N, K) with N, K > 0 and one label in
/// [0, K) per sample: shape_error otherwise, or parameter_error naming a label out of range and its index.
class softmax_cross_entropy {
public:
    [[nodiscard]] double value(const tensor& logits, std::span<const std::uint8_t> labels) const {
        return evaluate(logits, labels, nullptr);
    }
    [[nodiscard]] double value(const tensor& logits, std::span<const int> labels) const {
        return evaluate(logits, labels, nullptr);
    }
    /// The value, and its gradient written to `gradient` (resized to (N, K)).
    double value_and_gradient(const tensor& logits, std::span<const std::uint8_t> labels, tensor& gradient) const {
        return evaluate(logits, labels, &gradient);
    }
    double value_and_gradient(const tensor& logits, std::span<const int> labels, tensor& gradient) const {
        return evaluate(logits, labels, &gradient);
    }

    /// At most this many threads (0: every hardware thread; small batches run serially).
    void set_threads(unsigned threads) noexcept { threads_ = threads; }
    [[nodiscard]] unsigned threads() const noexcept { return threads_; }

private:
    template <detail::class_label Label>
    double evaluate(const tensor& logits, std::span<const Label> labels, tensor* gradient) const {
        detail::check_classification("softmax_cross_entropy", logits, labels);
        const std::size_t batch = logits.dim(0), classes = logits.dim(1);
        if (gradient) gradient->resize(logits.shape());
        std::vector<double> losses(batch);
        const float* z = logits.data();
        float* g = gradient ? gradient->data() : nullptr;
        const double inv_batch = 1.0 / static_cast<double>(batch);
        parallel_blocks(batch, 64, 4 * classes, threads_, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i) {
                const float* row = z + i * classes;
                const double top = *std::max_element(row, row + classes);
                double sum = 0.0;
                for (std::size_t j = 0; j < classes; ++j) sum += std::exp(row[j] - top);
                const auto label = static_cast<std::size_t>(labels[i]);
                losses[i] = top + std::log(sum) - row[label];
                if (g) {
                    float* grad_row = g + i * classes;
                    for (std::size_t j = 0; j < classes; ++j) {
                        const double p = std::exp(row[j] - top) / sum;
                        grad_row[j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) * inv_batch);
                    }
                }
            }
        });
        double total = 0.0;
        for (double loss : losses) total += loss;
        return total * inv_batch;
    }

    unsigned threads_ = 0;
};

namespace detail {

template <class_label Label>
std::size_t top_k_correct(const tensor& logits, std::span<const Label> labels, std::size_t k) {
    check_classification("top_k_correct", logits, labels);
    const std::size_t classes = logits.dim(1);
    if (k == 0 || k > classes) {
        throw parameter_error("top_k_correct: k must be in [1, " + std::to_string(classes) + "], got " +
                              std::to_string(k));
    }
    std::size_t correct = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const float* row = logits.data() + i * classes;
        const float target = row[static_cast<std::size_t>(labels[i])];
        if (std::isnan(target)) continue;
        std::size_t above = 0;
        for (std::size_t j = 0; j < classes; ++j) above += static_cast<std::size_t>(!(row[j] <= target));
        correct += static_cast<std::size_t>(above < k);
    }
    return correct;
}

}  // namespace detail

/// The number of samples whose label is among the k largest logits: those with fewer than k logits strictly
/// greater than the label's logit. Ties favour the label (logits equal to it never count against it), so a
/// sample whose logits are all equal is correct for every k; a NaN logit counts as greater than the label's, and
/// a sample whose label logit is NaN is never correct. k in [1, K] (parameter_error naming k otherwise); the
/// checks of softmax_cross_entropy apply to logits and labels.
[[nodiscard]] inline std::size_t top_k_correct(const tensor& logits, std::span<const std::uint8_t> labels,
                                               std::size_t k) {
    return detail::top_k_correct(logits, labels, k);
}
[[nodiscard]] inline std::size_t top_k_correct(const tensor& logits, std::span<const int> labels, std::size_t k) {
    return detail::top_k_correct(logits, labels, k);
}

}  // namespace approxnn::nn
