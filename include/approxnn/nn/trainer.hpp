#pragma once
// Training and evaluation loops: mini-batch SGD with a learning-rate schedule, seeded shuffling and augmentation,
// a progress line per epoch (loss, accuracy, time, ETA), top-1 / top-5 evaluation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/loss.hpp"
#include "approxnn/nn/optimizer.hpp"
#include "approxnn/nn/random.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

struct evaluation {
    double loss = 0.0;
    double top1 = 0.0;  ///< fraction in [0, 1]
    double top5 = 0.0;
    std::size_t samples = 0;
};

/// Top-1 / top-5 accuracy and mean loss of `model` (evaluation mode) on `data`; logits_out (optional) receives
/// the logits of every sample (N, classes).
inline evaluation evaluate(layer& model, const dataset& data, std::size_t batch_size = 500,
                           tensor* logits_out = nullptr) {
    if (batch_size == 0) throw parameter_error("evaluate: batch size 0");
    evaluation e;
    e.samples = data.size();
    if (data.size() == 0) return e;
    tensor images, logits;
    std::vector<std::uint8_t> labels;
    std::vector<std::size_t> indices;
    softmax_cross_entropy loss;
    double total = 0.0;
    std::size_t top1 = 0, top5 = 0;
    for (std::size_t first = 0; first < data.size(); first += batch_size) {
        const std::size_t count = std::min(batch_size, data.size() - first);
        indices.resize(count);
        for (std::size_t i = 0; i < count; ++i) indices[i] = first + i;
        gather_batch(data, indices, images, labels);
        model.forward(images, logits, mode::evaluation);
        if (logits_out) {
            if (first == 0) logits_out->resize({data.size(), logits.dim(1)});
            std::copy(logits.begin(), logits.end(), logits_out->data() + first * logits.dim(1));
        }
        total += loss.value(logits, labels) * static_cast<double>(count);
        top1 += top_k_correct(logits, std::span<const std::uint8_t>(labels), 1);
        top5 += top_k_correct(logits, std::span<const std::uint8_t>(labels), std::min<std::size_t>(5, logits.dim(1)));
    }
    const auto n = static_cast<double>(data.size());
    e.loss = total / n;
    e.top1 = static_cast<double>(top1) / n;
    e.top5 = static_cast<double>(top5) / n;
    return e;
}

/// Re-estimates the running statistics of every batch norm (and the quantisers' observed input ranges) for the
/// model as it now computes — e.g. after approximate multipliers were assigned, whose mean error shifts each
/// channel: training-mode forwards over the first `samples` images of `data` in batches of `batch_size`, without
/// gradients or parameter changes. Batch norms average the batches' statistics with equal weights (momentum
/// 1 / (t + 1) for batch t; their momentum is restored afterwards). Output hooks run as in training (detach AGN
/// noise first). parameter_error for batch_size < 2 (batch norm needs two values per channel).
inline void recalibrate_batch_norm(layer& model, const dataset& data, std::size_t samples = 2048,
                                   std::size_t batch_size = 128) {
    if (batch_size < 2) {
        throw parameter_error("recalibrate_batch_norm: batch size " + std::to_string(batch_size) + " (at least 2)");
    }
    std::vector<std::pair<batch_norm*, double>> norms;
    visit_layers(model, [&](const std::string&, layer& l) {
        if (auto* bn = dynamic_cast<batch_norm*>(&l)) norms.emplace_back(bn, bn->momentum());
    });
    const auto restore = [&] {
        for (auto& [bn, momentum] : norms) bn->set_momentum(momentum);
    };
    samples = std::min(samples, data.size());
    tensor images, logits;
    std::vector<std::uint8_t> labels;
    std::vector<std::size_t> indices;
    try {
        std::size_t t = 0;
        for (std::size_t first = 0; first + 1 < samples; first += batch_size, ++t) {
            const std::size_t count = std::min(batch_size, samples - first);
            if (count < 2) break;
            for (auto& [bn, momentum] : norms) bn->set_momentum(1.0 / static_cast<double>(t + 1));
            indices.resize(count);
            for (std::size_t i = 0; i < count; ++i) indices[i] = first + i;
            gather_batch(data, indices, images, labels);
            model.forward(images, logits, mode::training);
        }
    } catch (...) {
        restore();
        throw;
    }
    restore();
    model.release_cache();
}

/// Random horizontal flips and translations (zero fill) of a batch of NHWC images, deterministic for the source.
struct augmentation {
    bool horizontal_flip = false;
    std::size_t max_shift = 0;  ///< pixels in each direction

    [[nodiscard]] bool enabled() const noexcept { return horizontal_flip || max_shift > 0; }

    void apply(tensor& images, random_source& rng) const {
        if (!enabled()) return;
        const std::size_t n = images.dim(0), h = images.dim(1), w = images.dim(2), c = images.dim(3);
        std::vector<float> copy(h * w * c);
        for (std::size_t b = 0; b < n; ++b) {
            float* img = images.data() + b * h * w * c;
            const bool flip = horizontal_flip && rng.below(2) == 1;
            const auto span = static_cast<std::uint64_t>(2 * max_shift + 1);
            const std::ptrdiff_t dy = max_shift ? static_cast<std::ptrdiff_t>(rng.below(span)) - static_cast<std::ptrdiff_t>(max_shift) : 0;
            const std::ptrdiff_t dx = max_shift ? static_cast<std::ptrdiff_t>(rng.below(span)) - static_cast<std::ptrdiff_t>(max_shift) : 0;
            if (!flip && dy == 0 && dx == 0) continue;
            std::copy(img, img + h * w * c, copy.begin());
            for (std::size_t y = 0; y < h; ++y) {
                for (std::size_t x = 0; x < w; ++x) {
                    const std::ptrdiff_t sy = static_cast<std::ptrdiff_t>(y) + dy;
                    std::ptrdiff_t sx = static_cast<std::ptrdiff_t>(x) + dx;
                    if (flip) sx = static_cast<std::ptrdiff_t>(w) - 1 - sx;
                    float* dst = img + (y * w + x) * c;
                    if (sy < 0 || sx < 0 || sy >= static_cast<std::ptrdiff_t>(h) || sx >= static_cast<std::ptrdiff_t>(w)) {
                        std::fill(dst, dst + c, 0.0F);
                    } else {
                        const float* src = copy.data() + (static_cast<std::size_t>(sy) * w + static_cast<std::size_t>(sx)) * c;
                        std::copy(src, src + c, dst);
                    }
                }
            }
        }
    }
};

struct epoch_report {
    std::size_t epoch = 0;  ///< from 1
    std::size_t epochs = 0;
    double loss = 0.0;            ///< mean training loss (cross-entropy plus the regulariser)
    double train_top1 = 0.0;      ///< on the augmented training batches, in training mode
    double learning_rate = 0.0;   ///< at the epoch's start
    double seconds = 0.0;
    double eta_seconds = 0.0;
    std::optional<evaluation> validation;
};

/// Prints a report as one line: "epoch  3/10  loss 0.4123  train 85.2%  test 87.1% (top-5 99.0%)  lr 0.1  12.3 s
/// ETA 1m26s".
inline std::string format_report(const epoch_report& r) {
    char buf[256];
    const auto eta = static_cast<long>(std::lround(r.eta_seconds));
    int at = std::snprintf(buf, sizeof buf, "epoch %3zu/%zu  loss %.4f  train %5.1f%%", r.epoch, r.epochs, r.loss,
                           100.0 * r.train_top1);
    if (r.validation) {
        at += std::snprintf(buf + at, sizeof buf - static_cast<std::size_t>(at), "  test %5.2f%% (top-5 %5.2f%%)",
                            100.0 * r.validation->top1, 100.0 * r.validation->top5);
    }
    std::snprintf(buf + at, sizeof buf - static_cast<std::size_t>(at), "  lr %.4g  %.1f s  ETA %ldm%02lds",
                  r.learning_rate, r.seconds, eta / 60, eta % 60);
    return buf;
}

struct train_options {
    std::size_t epochs = 10;
    std::size_t batch_size = 128;
    sgd_options optimizer{};
    lr_schedule schedule = lr_schedule::constant_rate(0.1F);
    augmentation augment{};
    std::uint64_t seed = 1;
    const dataset* validation = nullptr;  ///< evaluated after every epoch when set
    /// Extra loss terms (e.g. the AGN noise reward): called after each backward with the model; adds its gradient
    /// to parameters and returns its value (added to the reported loss).
    std::function<double(layer&)> regulariser;
    /// Called after every epoch (default: prints format_report to stdout). Return false to stop early.
    std::function<bool(const epoch_report&)> on_epoch;
    /// Called before each mini-batch with (epoch from 0, batch index, batches per epoch).
    std::function<void(std::size_t, std::size_t, std::size_t)> on_batch;
};

/// One training step on a batch: forward, loss, backward, optimiser step. Returns (loss, correct top-1).
struct step_result {
    double loss = 0.0;
    std::size_t correct = 0;
};

inline step_result train_step(layer& model, sgd& optimizer, const tensor& images, std::span<const std::uint8_t> labels,
                              const std::function<double(layer&)>& regulariser = {}) {
    tensor logits, grad, grad_input;
    softmax_cross_entropy loss;
    zero_gradients(model);
    model.forward(images, logits, mode::training);
    step_result r;
    r.loss = loss.value_and_gradient(logits, labels, grad);
    r.correct = top_k_correct(logits, labels, 1);
    model.backward(grad, grad_input);
    if (regulariser) r.loss += regulariser(model);
    optimizer.step(model);
    return r;
}

namespace detail::trainer {

/// The epoch loop of nn::train, shared with trainers that run several passes per batch (qos::train_shared):
/// seeded batch order, gathering, augmentation, the learning-rate schedule, on_batch / on_epoch and the reports.
/// step(optimizer, images, labels) trains on one batch and returns its loss (already averaged over its passes) and
/// the top-1 hits summed over `passes` passes; validate() gives the epoch's validation result. `who` names the
/// caller in errors.
template <class Step, class Validate>
std::vector<epoch_report> run_epochs(layer& model, const dataset& data, const train_options& o, const char* who,
                                     std::size_t passes, Step&& step, Validate&& validate) {
    if (o.batch_size == 0) throw parameter_error(std::string(who) + ": batch size 0");
    if (data.size() == 0) throw parameter_error(std::string(who) + ": the data set '" + data.name + "' is empty");
    sgd optimizer(o.optimizer);
    random_source rng(o.seed ^ 0x5bd1e995ULL);
    std::vector<epoch_report> reports;
    tensor images;
    std::vector<std::uint8_t> labels;
    const std::size_t batches = (data.size() + o.batch_size - 1) / o.batch_size;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t epoch = 0; epoch < o.epochs; ++epoch) {
        const auto epoch_start = std::chrono::steady_clock::now();
        const std::vector<std::size_t> order = batch_order(data.size(), o.seed, epoch);
        double loss_sum = 0.0;
        std::size_t correct = 0;
        epoch_report r;
        r.epoch = epoch + 1;
        r.epochs = o.epochs;
        r.learning_rate = o.schedule.at(static_cast<double>(epoch));
        for (std::size_t b = 0; b < batches; ++b) {
            if (o.on_batch) o.on_batch(epoch, b, batches);
            optimizer.set_learning_rate(o.schedule.at(static_cast<double>(epoch)));
            const std::size_t first = b * o.batch_size;
            const std::size_t count = std::min(o.batch_size, data.size() - first);
            gather_batch(data, std::span<const std::size_t>(order.data() + first, count), images, labels);
            o.augment.apply(images, rng);
            const step_result s = step(optimizer, images, std::span<const std::uint8_t>(labels));
            loss_sum += s.loss * static_cast<double>(count);
            correct += s.correct;
        }
        model.release_cache();
        r.loss = loss_sum / static_cast<double>(data.size());
        r.train_top1 = static_cast<double>(correct) / (static_cast<double>(data.size()) * static_cast<double>(passes));
        if (o.validation) r.validation = validate();
        const auto now = std::chrono::steady_clock::now();
        r.seconds = std::chrono::duration<double>(now - epoch_start).count();
        const double elapsed = std::chrono::duration<double>(now - start).count();
        r.eta_seconds = elapsed / static_cast<double>(epoch + 1) * static_cast<double>(o.epochs - epoch - 1);
        reports.push_back(r);
        const bool go_on = o.on_epoch ? o.on_epoch(r) : (std::printf("%s\n", format_report(r).c_str()), std::fflush(stdout), true);
        if (!go_on) break;
    }
    return reports;
}

}  // namespace detail::trainer

/// Trains `model` on `data`; returns one report per epoch run.
inline std::vector<epoch_report> train(layer& model, const dataset& data, const train_options& o) {
    return detail::trainer::run_epochs(
        model, data, o, "train", 1,
        [&](sgd& optimizer, const tensor& images, std::span<const std::uint8_t> labels) {
            return train_step(model, optimizer, images, labels, o.regulariser);
        },
        [&] { return evaluate(model, *o.validation); });
}

}  // namespace approxnn::nn
