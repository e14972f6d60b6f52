// The engine's speed: training steps (forward + backward + SGD) of LeNet-5 and ResNet-8 on 28x28x1 batches of 128,
// reported as seconds per Fashion-MNIST epoch (469 batches), and the forward throughput of ResNet-8 in images per
// second with the exact multiplier (float and quantised), the exact integer path and a table multiplier.
// Every benchmark uses all hardware threads (the engine's default).
//
//   build/release/benchmarks/bench_nn
//   benchmarks/engine_vs_pytorch.py build/release/benchmarks/bench_nn     (the side-by-side table of docs/engine.md)

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/random.hpp"
#include "approxnn/nn/trainer.hpp"

namespace {

namespace nn = approxnn::nn;
constexpr std::size_t batch = 128;
constexpr double batches_per_epoch = 469.0;  // ceil(60000 / 128)

struct batch_data {
    nn::tensor images{nn::shape_t{batch, 28, 28, 1}};
    std::vector<std::uint8_t> labels = std::vector<std::uint8_t>(batch);
    batch_data() {
        nn::random_source rng(7);
        for (float& v : images) v = static_cast<float>(rng.uniform());
        for (auto& l : labels) l = static_cast<std::uint8_t>(rng.below(10));
    }
};

void training_step(benchmark::State& state, const std::string& model_name, bool quantised) {
    const batch_data data;
    auto model = nn::make_model(model_name);
    if (quantised) nn::quantise(*model, nn::quantisation{});
    nn::sgd optimizer(nn::sgd_options{0.01F, 0.9F, 5e-4F, false});
    nn::train_step(*model, optimizer, data.images, data.labels);  // warm-up: buffers
    for (auto _ : state) {
        const nn::step_result r = nn::train_step(*model, optimizer, data.images, data.labels);
        benchmark::DoNotOptimize(r.loss);
    }
    // kIsRate | kInvert: seconds per (iterations / batches_per_epoch), i.e. per epoch.
    state.counters["s_per_epoch"] = benchmark::Counter(static_cast<double>(state.iterations()) / batches_per_epoch,
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

void forward(benchmark::State& state, const std::string& model_name, int variant) {
    const batch_data data;
    auto model = nn::make_model(model_name);
    if (variant > 0) nn::quantise(*model, nn::quantisation{});
    if (variant == 2) {
        nn::assign_multiplier(*model, std::make_shared<const approxnn::gemm::multiplier_plan>(
                                          approxnn::gemm::multiplier_plan::of<approxnn::multipliers::exact<std::uint8_t>>()));
    } else if (variant == 3) {
        const auto design = approxnn::multipliers::design_instance::parse("drum_u8_k4");
        nn::assign_multiplier(*model, std::make_shared<const approxnn::gemm::multiplier_plan>(design.table()));
    }
    nn::tensor logits;
    model->forward(data.images, logits, nn::mode::training);  // observes the quantisation ranges
    for (auto _ : state) {
        model->forward(data.images, logits, nn::mode::evaluation);
        benchmark::DoNotOptimize(logits.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

void register_all() {
    for (const char* m : {"lenet5", "resnet8"}) {
        benchmark::RegisterBenchmark((std::string("train/") + m + "/float").c_str(), training_step, m, false)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark((std::string("train/") + m + "/qat").c_str(), training_step, m, true)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
    const char* variants[] = {"float", "fake_quantised", "integer_exact", "integer_table_drum_u8_k4"};
    for (int v = 0; v < 4; ++v) {
        benchmark::RegisterBenchmark((std::string("forward/resnet8/") + variants[v]).c_str(), forward, "resnet8", v)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
}

const int registered = (register_all(), 0);

}  // namespace
