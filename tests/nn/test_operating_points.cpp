// Operating points (QoS-Nets): per-OP batch norm and biases in the float engine, shared-weight fine-tuning
// (qos::train_shared), run-time switching of the int8 deployment, the parameter overhead, and the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/deploy.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/layers/activation.hpp"
#include "approxnn/nn/layers/batch_norm.hpp"
#include "approxnn/nn/layers/conv2d.hpp"
#include "approxnn/nn/layers/linear.hpp"
#include "approxnn/nn/layers/pooling.hpp"
#include "approxnn/nn/layers/reshape.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/operating_points.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/qos/finetune.hpp"
#include "test_support.hpp"

namespace {

namespace nn = approxnn::nn;
namespace qos = approxnn::qos;
using approxnn::parameter_error;
using approxnn::shape_error;
using approxnn::signedness;
using test_support::check_throws_with;
using plan_ptr = std::shared_ptr<const approxnn::gemm::multiplier_plan>;
using plan_list = std::vector<plan_ptr>;

plan_ptr drum(signedness s, int k) {
    return std::make_shared<const approxnn::gemm::multiplier_plan>(approxnn::multipliers::design_instance("drum", s, {k}));
}

const nn::dataset& op_train_set() {
    static const nn::dataset d = nn::synthetic_dataset(320, 11);
    return d;
}
const nn::dataset& op_test_set() {
    static const nn::dataset d = nn::synthetic_dataset(120, 12);
    return d;
}

/// conv 3x3 (8, no bias) - BN - ReLU - max 2 - conv 3x3 (8, bias) - BN - ReLU - flatten - linear 10: every tensor
/// the int8 program reads is a product layer's input, so no quantisation depends on calibration.
std::unique_ptr<nn::sequential> tiny_model(std::uint64_t seed = 3) {
    auto m = std::make_unique<nn::sequential>();
    m->emplace<nn::conv2d>("conv1", 1, 8, nn::conv2d_options::square(3, 1, 1, 1, false));
    m->emplace<nn::batch_norm>("bn1", 8);
    m->emplace<nn::relu>("relu1");
    m->emplace<nn::max_pool2d>("pool", 2, 2);
    m->emplace<nn::conv2d>("conv2", 8, 8, nn::conv2d_options::square(3, 1, 1, 1, true));
    m->emplace<nn::batch_norm>("bn2", 8);
    m->emplace<nn::relu>("relu2");
    m->emplace<nn::flatten>("flatten");
    m->emplace<nn::linear>("fc", 6 * 6 * 8, 10);
    nn::initialise(*m, seed);
    return m;
}

std::vector<std::string> parameter_names(nn::layer& model) {
    std::vector<std::string> names;
    model.visit_parameters("", [&](const std::string& n, nn::parameter&) { names.push_back(n); });
    return names;
}
std::vector<std::string> buffer_names(nn::layer& model) {
    std::vector<std::string> names;
    model.visit_buffers("", [&](const std::string& n, nn::tensor&) { names.push_back(n); });
    return names;
}

/// Every parameter and buffer by name (values only).
std::map<std::string, std::vector<float>> state_of(nn::layer& model) {
    std::map<std::string, std::vector<float>> s;
    model.visit_parameters("", [&](const std::string& n, nn::parameter& p) { s[n].assign(p.value.begin(), p.value.end()); });
    model.visit_buffers("", [&](const std::string& n, nn::tensor& t) { s[n + " (buffer)"].assign(t.begin(), t.end()); });
    return s;
}

bool bit_equal(const nn::tensor& a, const nn::tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

nn::tensor forward(nn::layer& model, const nn::tensor& images) {
    nn::tensor out;
    model.forward(images, out, nn::mode::evaluation);
    return out;
}

nn::train_options quiet(std::size_t epochs, float lr, std::size_t batch = 32) {
    nn::train_options o;
    o.epochs = epochs;
    o.batch_size = batch;
    o.optimizer.learning_rate = lr;
    o.schedule = nn::lr_schedule::constant_rate(lr);
    o.on_epoch = [](const nn::epoch_report&) { return true; };
    return o;
}

/// A float-trained, quantised (uint8) tiny model with its batch norms' statistics settled.
std::unique_ptr<nn::sequential> trained_tiny_model() {
    auto m = tiny_model();
    (void)nn::train(*m, op_train_set(), quiet(2, 0.05F));
    nn::quantise(*m, nn::quantisation{signedness::unsigned_operands, true, 0.1F});
    (void)nn::train(*m, op_train_set(), quiet(1, 0.01F));
    return m;
}

/// Three OPs for a model with `layers` product layers: exact; DRUM(6) everywhere; DRUM(4) on even layers.
std::vector<qos::operating_point_setup> three_setups(std::size_t layers) {
    std::vector<qos::operating_point_setup> ops(3);
    ops[0].multipliers.assign(layers, nullptr);
    ops[1].multipliers.assign(layers, drum(signedness::unsigned_operands, 6));
    for (std::size_t l = 0; l < layers; ++l) {
        ops[2].multipliers.push_back(l % 2 == 0 ? drum(signedness::unsigned_operands, 4) : nullptr);
    }
    return ops;
}

double max_abs_difference(const nn::tensor& a, const nn::tensor& b) {
    double d = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    return d;
}

}  // namespace

TEST_CASE("operating points: a one-OP model keeps its names and its forward; 3 OPs and back to 1 change nothing") {
    auto model = tiny_model();
    const std::vector<std::string> expected_parameters{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight",
                                                       "conv2.bias",   "bn2.weight", "bn2.bias", "fc.weight",
                                                       "fc.bias"};
    const std::vector<std::string> expected_buffers{"bn1.running_mean", "bn1.running_var", "bn2.running_mean",
                                                    "bn2.running_var"};
    CHECK(parameter_names(*model) == expected_parameters);
    CHECK(buffer_names(*model) == expected_buffers);
    CHECK(nn::operating_points(*model) == 1);
    const nn::tensor images = op_test_set().subset(0, 16).images;
    (void)nn::train(*model, op_train_set().subset(0, 64), quiet(1, 0.05F));  // non-trivial statistics
    const nn::tensor before = forward(*model, images);
    const auto state = state_of(*model);

    nn::set_operating_points(*model, 1);
    CHECK(parameter_names(*model) == expected_parameters);
    CHECK(bit_equal(forward(*model, images), before));

    nn::set_operating_points(*model, 3);
    CHECK(nn::operating_points(*model) == 3);
    CHECK(bit_equal(forward(*model, images), before));  // OP 0 is the old state; the copies are equal
    nn::select_operating_point(*model, 2);
    CHECK(bit_equal(forward(*model, images), before));
    nn::set_operating_points(*model, 1);  // keeps the active set (OP 2, a copy)
    CHECK(nn::operating_points(*model) == 1);
    CHECK(parameter_names(*model) == expected_parameters);
    CHECK(buffer_names(*model) == expected_buffers);
    CHECK(state_of(*model) == state);
    CHECK(bit_equal(forward(*model, images), before));
}

TEST_CASE("operating points: 3 OPs expose shared + 3 sets; OP i's BN and biases alone change its forward; "
          "gradients reach the active set only") {
    auto model = tiny_model();
    const std::size_t one_op_count = nn::parameter_count(*model);
    const nn::tensor images = op_test_set().subset(0, 16).images;
    const nn::tensor reference = forward(*model, images);
    nn::set_operating_points(*model, 3);
    const std::vector<std::string> names = parameter_names(*model);
    const std::vector<std::string> expected{
        "conv1.weight",   "bn1.weight",   "bn1.bias",       "bn1.op1.weight", "bn1.op1.bias", "bn1.op2.weight",
        "bn1.op2.bias",   "conv2.weight", "conv2.bias",     "conv2.op1.bias", "conv2.op2.bias", "bn2.weight",
        "bn2.bias",       "bn2.op1.weight", "bn2.op1.bias", "bn2.op2.weight", "bn2.op2.bias", "fc.weight",
        "fc.bias",        "fc.op1.bias",  "fc.op2.bias"};
    CHECK(names == expected);
    const std::vector<std::string> buffers{"bn1.running_mean",     "bn1.running_var",     "bn1.op1.running_mean",
                                           "bn1.op1.running_var",  "bn1.op2.running_mean", "bn1.op2.running_var",
                                           "bn2.running_mean",     "bn2.running_var",     "bn2.op1.running_mean",
                                           "bn2.op1.running_var",  "bn2.op2.running_mean", "bn2.op2.running_var"};
    CHECK(buffer_names(*model) == buffers);
    const std::size_t per_op = 2 * 8 + 8 + 2 * 8 + 10;  // bn1, conv2 bias, bn2, fc bias
    CHECK(nn::parameter_count(*model) == one_op_count + 2 * per_op);

    // Change OP 1's batch norms and biases (through the active accessors) and nothing else.
    nn::select_operating_point(*model, 1);
    auto layers = nn::product_layers(*model);
    auto& bn1 = static_cast<nn::batch_norm&>(model->at(1));
    auto& bn2 = static_cast<nn::batch_norm&>(model->at(5));
    CHECK(bn1.active_operating_point() == 1);
    CHECK(layers[1].layer->active_operating_point() == 1);
    for (float& g : bn1.gamma()) g *= -0.5F;
    for (float& b : bn2.beta()) b += 0.25F;
    bn2.running_mean()[0] += 1.0F;
    layers[2].layer->bias()->value[3] += 2.0F;
    const nn::tensor op1 = forward(*model, images);
    CHECK_FALSE(bit_equal(op1, reference));
    nn::select_operating_point(*model, 0);
    CHECK(bit_equal(forward(*model, images), reference));
    nn::select_operating_point(*model, 2);
    CHECK(bit_equal(forward(*model, images), reference));
    nn::select_operating_point(*model, 1);
    CHECK(bit_equal(forward(*model, images), op1));
    CHECK(model->at(1).kind() == "batch_norm");

    // Gradients: a training step at OP 2 reaches OP 2's sets and the shared weights only.
    nn::zero_gradients(*model);
    nn::select_operating_point(*model, 2);
    nn::tensor logits, grad, grad_input;
    model->forward(images, logits, nn::mode::training);
    const std::vector<std::uint8_t> labels(op_test_set().labels.begin(), op_test_set().labels.begin() + 16);
    (void)nn::softmax_cross_entropy{}.value_and_gradient(logits, labels, grad);
    model->backward(grad, grad_input);
    std::map<std::string, double> grad_norm;
    model->visit_parameters("", [&](const std::string& n, nn::parameter& p) {
        double s = 0.0;
        for (const float g : p.grad) s += std::abs(static_cast<double>(g));
        grad_norm[n] = s;
    });
    for (const auto& entry : grad_norm) {
        const std::string& name = entry.first;
        const double norm = entry.second;
        const bool other_op = name.find("op1.") != std::string::npos || name == "bn1.weight" || name == "bn1.bias" ||
                              name == "bn2.weight" || name == "bn2.bias" || name == "conv2.bias" || name == "fc.bias";
        CAPTURE(name);
        if (other_op) {
            CHECK(norm == 0.0);
        } else {
            CHECK(norm > 0.0);
        }
    }

    check_throws_with<parameter_error>([&] { nn::select_operating_point(*model, 3); }, {"operating point 3", "3 operating"});
    check_throws_with<parameter_error>([&] { bn1.select_operating_point(5); }, {"operating point 5", "3 operating"});
    check_throws_with<parameter_error>([&] { layers[2].layer->select_operating_point(4); }, {"fc", "operating point 4"});
    check_throws_with<parameter_error>([&] { nn::set_operating_points(*model, 0); }, {"got 0"});
    CHECK(nn::operating_points(*model) == 3);
    bn1.set_operating_points(2);  // a part of the model only
    check_throws_with<parameter_error>([&] { (void)nn::operating_points(*model); }, {"bn1", "conv1"});
}

TEST_CASE("operating points: save_model / load_model keep every OP's batch norm and bias") {
    const test_support::scratch_dir dir("operating_points", "save_load");
    auto model = tiny_model();
    nn::set_operating_points(*model, 3);
    (void)nn::train(*model, op_train_set().subset(0, 64), quiet(1, 0.05F));  // OP 0's sets move
    nn::select_operating_point(*model, 1);
    (void)nn::train(*model, op_train_set().subset(64, 64), quiet(1, 0.05F));  // OP 1's sets move differently
    const auto state = state_of(*model);
    nn::save_model(*model, dir / "m");

    auto copy = tiny_model(99);
    nn::set_operating_points(*copy, 3);
    (void)nn::load_model(*copy, dir / "m");
    CHECK(state_of(*copy) == state);
    const nn::tensor images = op_test_set().subset(0, 16).images;
    for (std::size_t k = 0; k < 3; ++k) {
        nn::select_operating_point(*model, k);
        nn::select_operating_point(*copy, k);
        CHECK(bit_equal(forward(*model, images), forward(*copy, images)));
    }
    CHECK(state_of(*copy)["bn1.op1.weight"] != state_of(*copy)["bn1.weight"]);
    auto single = tiny_model();
    CHECK_THROWS_AS((void)nn::load_model(*single, dir / "m"), approxnn::error);
}

TEST_CASE("train_shared: tiny quantised model, 3 OPs (exact, DRUM(6), DRUM(4) on alternate layers), synthetic data") {
    auto model = trained_tiny_model();
    const auto ops = three_setups(nn::product_layers(*model).size());
    nn::set_operating_points(*model, 3);
    const auto before = qos::evaluate_operating_points(*model, op_test_set(), ops, 60);
    nn::train_options o = quiet(3, 0.05F);
    o.validation = &op_test_set();
    const auto reports = qos::train_shared(*model, op_train_set(), ops, o);
    REQUIRE(reports.size() == 3);
    CHECK(reports.back().loss < reports.front().loss);
    REQUIRE(reports.back().validation.has_value());
    const auto after = qos::evaluate_operating_points(*model, op_test_set(), ops);
    REQUIRE(after.size() == 3);
    double mean_before = 0.0, mean_after = 0.0;
    for (std::size_t k = 0; k < 3; ++k) {
        CAPTURE(k);
        CHECK(after[k].top1 > 0.5);
        CHECK(after[k].top5 >= after[k].top1);
        mean_before += before[k].loss / 3.0;
        mean_after += after[k].loss / 3.0;
    }
    CHECK(mean_after < mean_before);
    CHECK(reports.back().validation->loss == doctest::Approx(mean_after).epsilon(1e-9));
    // Left at OP 0 with OP 0's multipliers.
    CHECK(nn::product_layers(*model)[0].layer->active_operating_point() == 0);
    CHECK(nn::product_layers(*model)[0].layer->multiplier() == nullptr);

    // Each OP's batch norm diverged from the others (gamma, beta and running statistics).
    const auto state = state_of(*model);
    for (const std::string bn : {"bn1.", "bn2."}) {
        for (const std::string what : {"weight", "bias", "running_mean (buffer)"}) {
            const auto& a = state.at(bn + what);
            const auto& b = state.at(bn + "op1." + what);
            const auto& c = state.at(bn + "op2." + what);
            CAPTURE(bn + what);
            CHECK(a != b);
            CHECK(a != c);
            CHECK(b != c);
        }
    }
    // An OP's own parameters give it a better loss than another OP's with its multipliers (at least not worse by
    // much): the OPs are not interchangeable.
    nn::select_operating_point(*model, 1);
    nn::assign_multipliers(*model, ops[1].multipliers);
    const nn::tensor images = op_test_set().images;
    const nn::tensor own = forward(*model, images);
    nn::select_operating_point(*model, 0);
    const nn::tensor foreign = forward(*model, images);
    CHECK(max_abs_difference(own, foreign) > 1e-4);

    // Errors.
    nn::set_operating_points(*model, 2);
    check_throws_with<parameter_error>([&] { (void)qos::train_shared(*model, op_train_set(), ops, o); },
                                       {"3 operating point setups", "2 operating point"});
    nn::set_operating_points(*model, 3);
    auto wrong_count = ops;
    wrong_count[1].multipliers.pop_back();
    check_throws_with<shape_error>([&] { (void)qos::train_shared(*model, op_train_set(), wrong_count, o); },
                                   {"operating point 1", "2 multipliers for 3"});
    auto wrong_sign = ops;
    wrong_sign[2].multipliers[1] = drum(signedness::signed_operands, 4);
    check_throws_with<parameter_error>([&] { (void)qos::evaluate_operating_points(*model, op_test_set(), wrong_sign); },
                                       {"conv2", "signed"});
}

TEST_CASE("train_shared: with one OP a step equals nn::train_step bit for bit (DRUM(4), same batch and seed)") {
    const nn::dataset batch = op_train_set().subset(0, 32);
    auto a = trained_tiny_model();
    auto b = trained_tiny_model();
    REQUIRE(state_of(*a) == state_of(*b));
    const plan_list plans(nn::product_layers(*a).size(), drum(signedness::unsigned_operands, 4));
    std::vector<qos::operating_point_setup> ops(1);
    ops[0].multipliers = plans;
    nn::train_options o = quiet(1, 0.02F, 32);
    o.seed = 7;
    const auto reports = qos::train_shared(*a, batch, ops, o);

    nn::assign_multipliers(*b, plans);
    nn::sgd optimizer(o.optimizer);
    optimizer.set_learning_rate(o.schedule.at(0.0));
    const std::vector<std::size_t> order = nn::batch_order(batch.size(), o.seed, 0);
    nn::tensor images;
    std::vector<std::uint8_t> labels;
    nn::gather_batch(batch, order, images, labels);
    const nn::step_result r = nn::train_step(*b, optimizer, images, labels);

    CHECK(state_of(*a) == state_of(*b));
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].loss == r.loss);
    CHECK(reports[0].train_top1 == static_cast<double>(r.correct) / 32.0);
    // And the parameters did move.
    auto c = trained_tiny_model();
    CHECK(state_of(*a) != state_of(*c));
}

TEST_CASE("int8 operating points: tiny model, 3 OPs; each OP is bit-identical to compiling that OP alone, in any "
          "switching order; switching allocates nothing") {
    auto model = trained_tiny_model();
    const std::size_t layer_count = nn::product_layers(*model).size();
    const auto setups = three_setups(layer_count);
    nn::set_operating_points(*model, 3);
    (void)qos::train_shared(*model, op_train_set(), setups, quiet(2, 0.05F));
    std::vector<plan_list> ops;
    for (const auto& s : setups) ops.push_back(s.multipliers);
    const nn::tensor calibration = op_train_set().subset(0, 64).images;
    const nn::tensor images = op_test_set().images;

    // The references: OP k selected in the float model, compiled alone, OP k's multipliers.
    std::vector<nn::tensor> reference(3);
    for (std::size_t k = 0; k < 3; ++k) {
        nn::select_operating_point(*model, k);
        nn::assign_multipliers(*model, ops[k]);
        nn::int8_model alone = nn::compile_int8(*model, calibration);
        alone.set_multipliers(ops[k]);
        alone.forward(images, reference[k]);
    }
    CHECK_FALSE(bit_equal(reference[0], reference[1]));
    CHECK_FALSE(bit_equal(reference[1], reference[2]));
    CHECK_FALSE(bit_equal(reference[0], reference[2]));

    // The float model's state is restored by the compiler.
    nn::select_operating_point(*model, 1);
    nn::assign_multipliers(*model, ops[2]);
    nn::int8_model deployed = nn::compile_int8_operating_points(*model, calibration, ops);
    CHECK(nn::product_layers(*model)[0].layer->active_operating_point() == 1);
    CHECK(static_cast<nn::batch_norm&>(model->at(1)).active_operating_point() == 1);
    CHECK(nn::product_layers(*model)[0].layer->multiplier() == ops[2][0].get());
    CHECK(nn::product_layers(*model)[1].layer->multiplier() == nullptr);

    REQUIRE(deployed.operating_points() == 3);
    CHECK(deployed.active_operating_point() == 0);
    nn::tensor logits;
    deployed.forward(images, logits);
    CHECK(bit_equal(logits, reference[0]));

    // Storage that switching writes into, and the workspace, must stay where they are.
    std::vector<const void*> storage;
    std::vector<std::size_t> capacity;
    for (std::size_t l = 0; l < layer_count; ++l) {
        const nn::requantisation& r = deployed.layer_requantisation(l);
        storage.insert(storage.end(), {r.integer.data(), r.real_scale.data(), r.real_shift.data()});
        capacity.insert(capacity.end(), {r.integer.capacity(), r.real_scale.capacity(), r.real_shift.capacity()});
    }
    const std::size_t workspace = deployed.workspace_bytes();
    const float* logits_data = logits.data();
    for (const std::size_t k : std::vector<std::size_t>{2, 1, 0, 2, 2, 0, 1}) {
        CAPTURE(k);
        deployed.set_operating_point(k);
        CHECK(deployed.active_operating_point() == k);
        deployed.forward(images, logits);
        CHECK(bit_equal(logits, reference[k]));
        for (std::size_t l = 0; l < layer_count; ++l) CHECK(deployed.multiplier(l) == ops[k][l]);
    }
    std::vector<const void*> storage_after;
    std::vector<std::size_t> capacity_after;
    for (std::size_t l = 0; l < layer_count; ++l) {
        const nn::requantisation& r = deployed.layer_requantisation(l);
        storage_after.insert(storage_after.end(), {r.integer.data(), r.real_scale.data(), r.real_shift.data()});
        capacity_after.insert(capacity_after.end(), {r.integer.capacity(), r.real_scale.capacity(), r.real_shift.capacity()});
    }
    CHECK(storage_after == storage);
    CHECK(capacity_after == capacity);
    CHECK(deployed.workspace_bytes() == workspace);
    CHECK(logits.data() == logits_data);

    // Errors: counts, signedness, sizes, indices; nothing is registered by a rejected call.
    plan_list short_list(layer_count - 1);
    std::vector<nn::requantisation> rqs;
    for (std::size_t l = 0; l < layer_count; ++l) rqs.push_back(deployed.layer_requantisation(l));
    check_throws_with<shape_error>([&] { (void)deployed.add_operating_point(short_list, rqs); },
                                   {"2 multipliers for 3"});
    check_throws_with<shape_error>(
        [&] { (void)deployed.add_operating_point(ops[0], std::vector<nn::requantisation>(rqs.begin(), rqs.begin() + 1)); },
        {"1 requantisations for 3"});
    plan_list signed_plans(layer_count, nullptr);
    signed_plans[2] = drum(signedness::signed_operands, 4);
    check_throws_with<parameter_error>([&] { (void)deployed.add_operating_point(signed_plans, rqs); },
                                       {"fc", "signed"});
    auto swapped = rqs;
    std::swap(swapped[0], swapped[2]);
    check_throws_with<shape_error>([&] { (void)deployed.add_operating_point(ops[0], swapped); }, {"conv1"});
    CHECK(deployed.operating_points() == 3);
    check_throws_with<parameter_error>([&] { deployed.set_operating_point(3); }, {"operating point 3", "3 registered"});
    CHECK(deployed.add_operating_point(ops[1], rqs) == 3);  // OP 0's requantisation with DRUM(6)
    deployed.set_operating_point(3);
    CHECK(deployed.active_operating_point() == 3);

    const std::vector<plan_list> two(ops.begin(), ops.begin() + 2);
    check_throws_with<shape_error>([&] { (void)nn::compile_int8_operating_points(*model, calibration, two); },
                                   {"2 multiplier lists", "3 operating point"});
    auto bad = ops;
    bad[1][0] = drum(signedness::signed_operands, 4);
    check_throws_with<parameter_error>([&] { (void)nn::compile_int8_operating_points(*model, calibration, bad); },
                                       {"conv1", "signed"});
    CHECK(nn::product_layers(*model)[0].layer->multiplier() == ops[2][0].get());  // restored after the error
    CHECK(static_cast<nn::batch_norm&>(model->at(1)).active_operating_point() == 1);
    bad = ops;
    bad[2].pop_back();
    check_throws_with<shape_error>([&] { (void)nn::compile_int8_operating_points(*model, calibration, bad); },
                                   {"operating point 2", "2 multipliers for 3"});
}

TEST_CASE("int8 operating points: ResNet-8 (calibrated residual and pooling tensors) with 3 OPs") {
    auto model = nn::resnet8({.input_height = 12, .input_width = 12, .input_channels = 1, .classes = 10, .seed = 2});
    nn::quantise(*model, nn::quantisation{signedness::unsigned_operands, true, 0.1F});
    (void)nn::train(*model, op_train_set(), quiet(1, 0.05F));
    const std::size_t layer_count = nn::product_layers(*model).size();
    const nn::tensor calibration = op_train_set().subset(0, 64).images;
    const nn::tensor images = op_test_set().images;

    // Three equal OPs: the calibration over all OPs is the calibration of one, so each OP equals compile_int8.
    nn::set_operating_points(*model, 3);
    const std::vector<plan_list> same(3, plan_list(layer_count, drum(signedness::unsigned_operands, 6)));
    nn::assign_multipliers(*model, same[0]);
    nn::int8_model alone = nn::compile_int8(*model, calibration);
    alone.set_multipliers(same[0]);
    nn::tensor expected, logits;
    alone.forward(images, expected);
    nn::int8_model deployed = nn::compile_int8_operating_points(*model, calibration, same);
    for (const std::size_t k : std::vector<std::size_t>{0, 2, 1}) {
        deployed.set_operating_point(k);
        deployed.forward(images, logits);
        CHECK(bit_equal(logits, expected));
    }

    // Distinct OPs: each agrees with the QAT model at that OP (shared quantisation ranges cover every OP).
    const auto setups = three_setups(layer_count);
    (void)qos::train_shared(*model, op_train_set().subset(0, 128), setups, quiet(1, 0.02F));
    std::vector<plan_list> ops;
    for (const auto& s : setups) ops.push_back(s.multipliers);
    deployed = nn::compile_int8_operating_points(*model, calibration, ops);
    for (const std::size_t k : std::vector<std::size_t>{1, 0, 2}) {
        CAPTURE(k);
        nn::select_operating_point(*model, k);
        nn::assign_multipliers(*model, ops[k]);
        const nn::tensor qat = forward(*model, images);
        deployed.set_operating_point(k);
        deployed.forward(images, logits);
        std::size_t same_argmax = 0;
        for (std::size_t i = 0; i < images.dim(0); ++i) {
            const float* a = qat.data() + i * 10;
            const float* b = logits.data() + i * 10;
            same_argmax += std::max_element(a, a + 10) - a == std::max_element(b, b + 10) - b ? 1U : 0U;
        }
        CHECK(static_cast<double>(same_argmax) >= 0.9 * static_cast<double>(images.dim(0)));
    }
}

TEST_CASE("operating_point_overhead: ResNet-8 (28x28x1, 10 classes) with 3 OPs, counted by hand") {
    auto model = nn::make_model("resnet8");
    const std::size_t one_op = nn::parameter_count(*model);
    CHECK(one_op == 75002);
    const nn::parameter_overhead single = nn::operating_point_overhead(*model);
    CHECK(single.operating_points == 1);
    CHECK(single.paper_ratio == 0.0);
    nn::set_operating_points(*model, 3);
    const nn::parameter_overhead r = nn::operating_point_overhead(*model);
    // Batch norms: bn1 (16), layer1.0.bn1 / bn2 (16 + 16), layer2.0 (32 + 32), layer3.0 (64 + 64) = 240 channels,
    // 2 affine parameters each; the convolutions have no bias, the linear layer 10.
    const std::size_t bn_affine = 2 * (16 + 16 + 16 + 32 + 32 + 64 + 64);
    CHECK(bn_affine == 480);
    CHECK(r.operating_points == 3);
    CHECK(r.bn_affine_per_op == bn_affine);
    CHECK(r.per_op == bn_affine + 10);
    CHECK(r.shared == one_op - (bn_affine + 10));
    CHECK(r.total == one_op + 2 * (bn_affine + 10));
    CHECK(r.total == nn::parameter_count(*model));
    CHECK(r.paper_ratio == doctest::Approx(2.0 * 480.0 / 75002.0).epsilon(1e-12));
    CHECK(r.ratio_with_biases == doctest::Approx(2.0 * 490.0 / 75002.0).epsilon(1e-12));
    MESSAGE("ResNet-8, 3 OPs: paper ratio " << 100.0 * r.paper_ratio << " %, with biases "
                                            << 100.0 * r.ratio_with_biases << " %");
}
