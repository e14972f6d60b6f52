#pragma once
// QoS-Nets fine-tuning with shared parameters (docs/noise-and-qos.md section 7): the conv / linear weights are
// shared by all operating points (OPs); each OP has its own batch norms and biases (nn/operating_points.hpp) and
// its own multiplier per layer. Every mini-batch runs every OP on the same images:
//
//   zero the gradients
//   for k in 0 .. N_OP - 1:  select OP k (its batch norms and biases), assign its multipliers,
//                            forward (training mode), loss_k, backward of loss_k / N_OP (gradients accumulate:
//                            the shared weights receive the mean of the OPs' gradients, OP k's own parameters
//                            1 / N_OP of its gradient)
//   regulariser (if any), once, with the last OP selected
//   one SGD step (every OP's parameters and the shared ones)
//
// Batch norm running statistics are updated by the OP that is active, so each OP keeps its own. The input
// quantisers' observed ranges are shared and see every OP's forward. With one OP a step is exactly nn::train_step.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/loss.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/operating_points.hpp"
#include "approxnn/nn/optimizer.hpp"
#include "approxnn/nn/tensor.hpp"
#include "approxnn/nn/trainer.hpp"

namespace approxnn::qos {

/// One operating point: a multiplier per conv / linear layer in nn::product_layers order (null: exact). An empty
/// vector means exact everywhere.
struct operating_point_setup {
    std::vector<std::shared_ptr<const gemm::multiplier_plan>> multipliers;
};

namespace detail {

/// The multipliers of every OP, expanded (empty -> exact everywhere) and checked against `model`: shape_error
/// for a wrong count, parameter_error naming the layer for a multiplier that does not fit (from
/// nn::assign_multipliers). Leaves OP 0's multipliers assigned.
inline std::vector<std::vector<std::shared_ptr<const gemm::multiplier_plan>>> checked_plans(
    nn::layer& model, std::span<const operating_point_setup> ops, const char* who) {
    if (ops.empty()) throw parameter_error(std::string(who) + ": no operating points");
    const std::size_t n = nn::operating_points(model);
    if (ops.size() != n) {
        throw parameter_error(std::string(who) + ": " + std::to_string(ops.size()) +
                              " operating point setups for a model with " + std::to_string(n) +
                              " operating point(s) (call nn::set_operating_points(model, " +
                              std::to_string(ops.size()) + ") first)");
    }
    const std::size_t layers = nn::product_layers(model).size();
    std::vector<std::vector<std::shared_ptr<const gemm::multiplier_plan>>> plans(ops.size());
    for (std::size_t k = ops.size(); k-- > 0;) {
        plans[k] = ops[k].multipliers.empty()
                       ? std::vector<std::shared_ptr<const gemm::multiplier_plan>>(layers, nullptr)
                       : ops[k].multipliers;
        if (plans[k].size() != layers) {
            throw shape_error(std::string(who) + ": operating point " + std::to_string(k) + " has " +
                              std::to_string(plans[k].size()) + " multipliers for " + std::to_string(layers) +
                              " conv / linear layers");
        }
        nn::assign_multipliers(model, plans[k]);  // checks the signedness; ends with OP 0's
    }
    return plans;
}

}  // namespace detail

/// Trains `model` (which must have nn::set_operating_points(model, ops.size())) on `data` with every OP on every
/// batch (see the top of this header); returns one report per epoch as nn::train does: loss is the mean over OPs
/// of the cross-entropy (plus the regulariser), train_top1 the mean over OPs, validation (when o.validation is set)
/// the mean over OPs of loss, top-1 and top-5. Leaves the model at OP 0 with OP 0's multipliers assigned.
/// parameter_error for no OPs, a count that differs from the model's, a multiplier that does not fit a layer (naming
/// it); shape_error for a multiplier list of the wrong length; the errors of nn::train otherwise.
inline std::vector<nn::epoch_report> train_shared(nn::layer& model, const nn::dataset& data,
                                                  std::span<const operating_point_setup> ops,
                                                  const nn::train_options& o) {
    const auto plans = detail::checked_plans(model, ops, "train_shared");
    const std::size_t n = plans.size();
    nn::tensor logits, grad, grad_input;
    nn::softmax_cross_entropy loss;
    const float scale = 1.0F / static_cast<float>(n);
    auto reports = nn::detail::trainer::run_epochs(
        model, data, o, "train_shared", n,
        [&](nn::sgd& optimizer, const nn::tensor& images, std::span<const std::uint8_t> labels) {
            nn::step_result r;
            nn::zero_gradients(model);
            for (std::size_t k = 0; k < n; ++k) {
                nn::select_operating_point(model, k);
                nn::assign_multipliers(model, plans[k]);
                model.forward(images, logits, nn::mode::training);
                const double value = loss.value_and_gradient(logits, labels, grad);
                r.correct += nn::top_k_correct(logits, labels, 1);
                if (n > 1) {
                    for (float& g : grad) g *= scale;
                }
                r.loss += value / static_cast<double>(n);
                model.backward(grad, grad_input);
            }
            if (o.regulariser) r.loss += o.regulariser(model);
            optimizer.step(model);
            return r;
        },
        [&] {
            nn::evaluation mean;
            for (std::size_t k = 0; k < n; ++k) {
                nn::select_operating_point(model, k);
                nn::assign_multipliers(model, plans[k]);
                const nn::evaluation e = nn::evaluate(model, *o.validation);
                mean.loss += e.loss / static_cast<double>(n);
                mean.top1 += e.top1 / static_cast<double>(n);
                mean.top5 += e.top5 / static_cast<double>(n);
                mean.samples = e.samples;
            }
            return mean;
        });
    nn::select_operating_point(model, 0);
    nn::assign_multipliers(model, plans[0]);
    return reports;
}

/// Loss, top-1 and top-5 of every OP of `model` on `data` (evaluation mode, batches of batch_size), in OP order.
/// Leaves the model at OP 0 with OP 0's multipliers assigned. Errors as train_shared, parameter_error for
/// batch_size 0.
inline std::vector<nn::evaluation> evaluate_operating_points(nn::layer& model, const nn::dataset& data,
                                                             std::span<const operating_point_setup> ops,
                                                             std::size_t batch_size = 500) {
    const auto plans = detail::checked_plans(model, ops, "evaluate_operating_points");
    std::vector<nn::evaluation> out;
    for (std::size_t k = 0; k < plans.size(); ++k) {
        nn::select_operating_point(model, k);
        nn::assign_multipliers(model, plans[k]);
        out.push_back(nn::evaluate(model, data, batch_size));
    }
    nn::select_operating_point(model, 0);
    nn::assign_multipliers(model, plans[0]);
    return out;
}

}  // namespace approxnn::qos
