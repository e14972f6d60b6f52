// train_model: the engine end to end on Fashion-MNIST (or the built-in synthetic set): float training,
// quantisation-aware fine-tuning, int8 deployment, evaluation with an optional approximate multiplier.
//
//   train_model                                  ResNet-8, the recipe of docs/engine.md
//   train_model --model lenet5 --epochs 15       another model / schedule
//   train_model --synthetic --epochs 3           seconds, no data package needed
//   train_model --multiplier drum_u8_k4          also evaluate with an approximate multiplier in every layer
//
// Writes to --output (default approxnn-output/engine/<model>): history.csv (one row per epoch), results.json,
// training.png (loss and accuracy curves), model/ (the QAT model: .npy tensors + manifest.json).

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/deploy.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/trainer.hpp"
#include "gnuplot.hpp"

namespace fs = std::filesystem;
namespace nn = approxnn::nn;
using approxnn::signedness;

namespace {

struct options {
    std::string model = "resnet8";
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    bool synthetic = false;
    std::size_t epochs = 15;
    std::size_t qat_epochs = 2;
    std::size_t batch = 128;
    float lr = 0.0F;  // 0: 0.05 for lenet5, 0.1 otherwise
    float qat_lr = 0.005F;
    float weight_decay = 5e-4F;
    std::string scheme = "unsigned";
    std::size_t train_subset = 0;
    std::uint64_t seed = 1;
    std::string multiplier;
    std::string augment = "auto";
    std::string output;
    bool plot = true;
};

struct history_row {
    std::string phase;
    nn::epoch_report report;
};

double percent(double v) { return 100.0 * v; }

void write_history(const std::vector<history_row>& rows, const fs::path& path) {
    std::ofstream out(path);
    if (!out) throw approxnn::io_error("cannot write " + path.string());
    out << "phase,epoch,loss,train_top1,test_top1,test_top5,learning_rate,seconds\n";
    std::size_t index = 0;
    for (const auto& [phase, r] : rows) {
        out << phase << ',' << ++index << ',' << r.loss << ',' << percent(r.train_top1) << ','
            << (r.validation ? percent(r.validation->top1) : 0.0) << ','
            << (r.validation ? percent(r.validation->top5) : 0.0) << ',' << r.learning_rate << ',' << r.seconds << '\n';
    }
}

void plot_history(const fs::path& csv, const fs::path& png, const std::string& title) {
    const std::string script =
        "set terminal pngcairo size 900,500 noenhanced\nset output " + examples::gnuplot_string(png.string()) +
        "\nset datafile separator ','\nset key autotitle columnhead\nset title " +
        examples::gnuplot_string(title) +
        "\nset key right center box opaque\nset xlabel 'epoch (float, then QAT)'\nset ylabel 'accuracy (%)'\nset y2label 'training loss'\n"
        "set ytics nomirror\nset y2tics\nset grid\n"
        "plot " + examples::gnuplot_string(csv.string()) +
        " using 2:5 with linespoints title 'test top-1', '' using 2:4 with linespoints title 'train top-1', "
        "'' using 2:3 axes x1y2 with lines title 'loss'\n";
    examples::run_gnuplot(script, png);
}

/// Fraction of rows whose argmax agrees.
double argmax_agreement(const nn::tensor& a, const nn::tensor& b) {
    const std::size_t n = a.dim(0), k = a.dim(1);
    std::size_t same = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t ia = 0, ib = 0;
        for (std::size_t j = 1; j < k; ++j) {
            if (a[i * k + j] > a[i * k + ia]) ia = j;
            if (b[i * k + j] > b[i * k + ib]) ib = j;
        }
        same += ia == ib ? 1 : 0;
    }
    return n ? static_cast<double>(same) / static_cast<double>(n) : 1.0;
}

double top1(const nn::tensor& logits, const std::vector<std::uint8_t>& labels) {
    return static_cast<double>(nn::top_k_correct(logits, std::span<const std::uint8_t>(labels), 1)) /
           static_cast<double>(labels.size());
}

int run(const options& o) {
    const auto start = std::chrono::steady_clock::now();
    nn::dataset_split data;
    if (o.synthetic) {
        data.train = nn::synthetic_dataset(4000, o.seed);
        data.test = nn::synthetic_dataset(1000, o.seed + 1000);
    } else {
        data = nn::load_fashion_mnist(o.data_dir);
    }
    if (o.train_subset > 0 && o.train_subset < data.train.size()) data.train = data.train.subset(0, o.train_subset);
    const nn::shape_t sample = data.train.sample_shape();
    nn::model_options mo;
    mo.input_height = sample[0];
    mo.input_width = sample[1];
    mo.input_channels = sample[2];
    mo.classes = data.train.classes;
    mo.seed = o.seed;
    auto model = nn::make_model(o.model, mo);
    const fs::path out = o.output.empty() ? fs::path("approxnn-output/engine") / o.model : fs::path(o.output);
    fs::create_directories(out);
    std::printf("approxnn train_model: %s on %s (%zu training, %zu test images), %zu parameters, %zu threads\n",
                o.model.c_str(), data.train.name.c_str(), data.train.size(), data.test.size(),
                nn::parameter_count(*model), static_cast<std::size_t>(approxnn::hardware_threads()));

    std::vector<history_row> history;
    nn::train_options t;
    t.batch_size = o.batch;
    t.seed = o.seed;
    t.validation = &data.test;
    // The recipe of docs/engine.md: LeNet-5 underfits with augmentation, the ResNets gain from flips.
    const float lr = o.lr > 0.0F ? o.lr : (o.model == "lenet5" ? 0.05F : 0.1F);
    const std::string augment = o.augment != "auto" ? o.augment : (o.model == "lenet5" ? "none" : "flip");
    t.augment.horizontal_flip = augment != "none";
    t.augment.max_shift = augment == "flip-shift" ? 2 : 0;
    t.optimizer.weight_decay = o.weight_decay;
    if (isatty(fileno(stderr))) {  // a live batch counter on terminals; logs get the epoch lines only
        t.on_batch = [](std::size_t epoch, std::size_t b, std::size_t batches) {
            if (b % 20 == 0) std::fprintf(stderr, "\r  epoch %zu: batch %zu/%zu ", epoch + 1, b, batches);
            if (b + 1 == batches) std::fprintf(stderr, "\r%40s\r", "");
        };
    }

    // 1. Float training.
    std::printf("\n1. float training: %zu epochs, SGD momentum 0.9, lr %.3g cosine, weight decay %.1e, batch %zu, "
                "augmentation %s\n",
                o.epochs, static_cast<double>(lr), static_cast<double>(o.weight_decay), o.batch, augment.c_str());
    t.epochs = o.epochs;
    t.schedule = nn::lr_schedule::cosine_annealing(lr, o.epochs);
    for (const auto& r : nn::train(*model, data.train, t)) history.push_back({"float", r});
    nn::tensor float_logits;
    const nn::evaluation float_eval = nn::evaluate(*model, data.test, 500, &float_logits);

    // 2. Quantisation-aware fine-tuning.
    const signedness scheme = o.scheme == "signed" ? signedness::signed_operands : signedness::unsigned_operands;
    nn::quantisation q;
    q.scheme = scheme;
    nn::quantise(*model, q);
    std::printf("\n2. quantisation-aware training (%s 8-bit, per-channel weights): %zu epochs, lr %.3g cosine\n",
                o.scheme.c_str(), o.qat_epochs, static_cast<double>(o.qat_lr));
    t.epochs = o.qat_epochs;
    t.schedule = nn::lr_schedule::cosine_annealing(o.qat_lr, std::max<std::size_t>(o.qat_epochs, 1));
    t.augment = {};
    for (const auto& r : nn::train(*model, data.train, t)) history.push_back({"qat", r});
    nn::tensor qat_logits;
    const nn::evaluation qat_eval = nn::evaluate(*model, data.test, 500, &qat_logits);
    nn::save_model(*model, out / "model",
                   {{"model", o.model}, {"scheme", o.scheme}, {"test_top1", qat_eval.top1}});

    // 3. Int8 deployment.
    std::printf("\n3. int8 deployment (batch norm folded into per-channel requantisation)\n");
    const nn::dataset calibration = data.train.subset(0, std::min<std::size_t>(data.train.size(), 512));
    nn::int8_model deployed = nn::compile_int8(*model, calibration.images);
    nn::tensor int8_logits;
    deployed.forward(data.test.images, int8_logits);
    const double int8_top1 = top1(int8_logits, data.test.labels);
    const double agreement = argmax_agreement(int8_logits, qat_logits);

    // 4. Optional: every layer through an approximate multiplier.
    nlohmann::json approximate = nullptr;
    if (!o.multiplier.empty()) {
        const auto catalogue = approxnn::multipliers::default_catalogue();
        const approxnn::multipliers::catalogue_entry* e = catalogue.find(o.multiplier);
        if (e == nullptr) throw approxnn::not_found_error("no multiplier named '" + o.multiplier + "' in the default catalogue");
        auto plan = std::make_shared<const approxnn::gemm::multiplier_plan>(e->table());
        nn::assign_multiplier(*model, plan);
        const nn::evaluation approx_eval = nn::evaluate(*model, data.test);
        std::vector<std::shared_ptr<const approxnn::gemm::multiplier_plan>> plans(nn::product_layers(*model).size(), plan);
        deployed.set_multipliers(plans);
        nn::tensor approx_logits;
        deployed.forward(data.test.images, approx_logits);
        approximate = {{"multiplier", o.multiplier},
                       {"qat_top1", percent(approx_eval.top1)},
                       {"int8_top1", percent(top1(approx_logits, data.test.labels))}};
        nn::assign_multiplier(*model, nullptr);
    }

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("\n%-28s %8s %8s\n", "model", "top-1 %", "top-5 %");
    std::printf("%-28s %8.2f %8.2f\n", "float", percent(float_eval.top1), percent(float_eval.top5));
    std::printf("%-28s %8.2f %8.2f\n", "QAT (fake-quantised)", percent(qat_eval.top1), percent(qat_eval.top5));
    std::printf("%-28s %8.2f %8s   argmax agrees with QAT on %.2f %% of the test set\n", "int8 deployed",
                percent(int8_top1), "", percent(agreement));
    if (!approximate.is_null()) {
        std::printf("%-28s %8.2f %8s   (int8: %.2f)\n", ("QAT, " + o.multiplier).c_str(),
                    approximate["qat_top1"].get<double>(), "", approximate["int8_top1"].get<double>());
    }

    write_history(history, out / "history.csv");
    nlohmann::json results = {
        {"model", o.model},
        {"data", data.train.name},
        {"parameters", nn::parameter_count(*model)},
        {"epochs", o.epochs},
        {"qat_epochs", o.qat_epochs},
        {"scheme", o.scheme},
        {"float", {{"top1", percent(float_eval.top1)}, {"top5", percent(float_eval.top5)}}},
        {"qat", {{"top1", percent(qat_eval.top1)}, {"top5", percent(qat_eval.top5)}}},
        {"int8", {{"top1", percent(int8_top1)}, {"argmax_agreement_with_qat", percent(agreement)}}},
        {"approximate", approximate},
        {"seconds", seconds},
        {"seconds_per_float_epoch", history.empty() ? 0.0 : history.front().report.seconds}};
    std::ofstream(out / "results.json") << results.dump(2) << '\n';
    if (o.plot) plot_history(out / "history.csv", out / "training.png", o.model + " on " + data.train.name);
    std::printf("\nwrote %s/{history.csv, results.json%s, model/} in %.0f s\n", out.string().c_str(),
                o.plot ? ", training.png" : "", seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen, also in logs
    options o;
    CLI::App app{"approxnn train_model: float training, QAT, int8 deployment on Fashion-MNIST"};
    app.add_option("--model", o.model, "lenet5, resnet8, resnet20 or mobilenet_v2")->capture_default_str();
    app.add_option("--data", o.data_dir, "Fashion-MNIST directory (Debian package dataset-fashion-mnist)")
        ->capture_default_str();
    app.add_flag("--synthetic", o.synthetic, "use the built-in synthetic data set instead");
    app.add_option("--epochs", o.epochs, "float training epochs")->capture_default_str();
    app.add_option("--qat-epochs", o.qat_epochs, "quantisation-aware fine-tuning epochs")->capture_default_str();
    app.add_option("--batch", o.batch, "mini-batch size")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--lr", o.lr, "initial learning rate, cosine schedule (default 0.05 for lenet5, 0.1 otherwise)");
    app.add_option("--qat-lr", o.qat_lr, "initial learning rate of QAT")->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "weight decay")->capture_default_str();
    app.add_option("--scheme", o.scheme, "quantisation: unsigned (uint8 affine) or signed (int8 symmetric)")
        ->check(CLI::IsMember({"unsigned", "signed"}))->capture_default_str();
    app.add_option("--augment", o.augment, "training augmentation: auto (none for lenet5, flip otherwise), none, "
                                           "flip, flip-shift")
        ->check(CLI::IsMember({"auto", "none", "flip", "flip-shift"}))->capture_default_str();
    app.add_option("--train-subset", o.train_subset, "use only the first N training images (0: all)");
    app.add_option("--seed", o.seed, "initialisation and shuffling seed")->capture_default_str();
    app.add_option("--multiplier", o.multiplier, "also evaluate with this default-catalogue multiplier everywhere");
    app.add_option("--output", o.output, "output directory (default approxnn-output/engine/<model>)");
    app.add_flag("!--no-plot", o.plot, "skip the PNG");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "train_model: %s\n", e.what());
        return 1;
    }
}
