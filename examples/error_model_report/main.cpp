// error_model_report: how well the probabilistic error model (noise/error_model.hpp) predicts the accumulator error
// of every product layer of a quantised network, for every multiplier of the default catalogue.
//
//   error_model_report --model-dir approxnn-output/engine/resnet8/model    a model saved by train_model
//   error_model_report --epochs 2 --qat-epochs 1                            trains ResNet-8 on Fashion-MNIST first
//   error_model_report --synthetic --epochs 1 --qat-epochs 1                seconds, no data package needed
//
// Per (layer, multiplier): predicted std and mean (layer-wide and per-channel weight histograms), Monte-Carlo on the
// same histograms, and the measured error of the layer's product on the traced operands (gemm kernels).
// Writes to --output (default approxnn-output/noise/error_model): error_model.csv, summary.json (median and
// 90th-percentile relative error |predicted - measured| / measured of both models, predict_all time),
// error_model.png (predicted against measured std, log-log).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/plan.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/noise/error_model.hpp"
#include "approxnn/noise/trace_operands.hpp"
#include "gnuplot.hpp"

namespace fs = std::filesystem;
namespace nn = approxnn::nn;
namespace noise = approxnn::noise;
using approxnn::signedness;

namespace {

struct options {
    std::string model_dir;
    std::string model = "resnet8";
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    bool synthetic = false;
    std::size_t epochs = 2;
    std::size_t qat_epochs = 1;
    std::string scheme = "unsigned";
    std::size_t samples = 128;
    std::size_t fields = 512;
    std::size_t max_rows = 8192;
    std::size_t mc_neurons = 4000;
    std::uint64_t seed = 1;
    std::string output;
    bool plot = true;
};

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

struct pair_result {
    std::size_t layer = 0;
    std::string multiplier;
    noise::error_prediction predicted, predicted_per_channel, predicted_fixed, predicted_per_channel_fixed, monte_carlo,
        measured;
};

double relative_error(double predicted, double measured) { return std::abs(predicted - measured) / measured; }

/// Nearest-rank percentile (q in (0, 1]) of unsorted values; 0 for none.
double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

/// A quantised model: loaded from --model-dir, or trained (float, then QAT) on `data`.
std::unique_ptr<nn::layer> quantised_model(const options& o, const nn::dataset_split& data, signedness& scheme,
                                           std::string& name) {
    nn::model_options mo;
    const nn::shape_t sample = data.train.sample_shape();
    mo.input_height = sample[0];
    mo.input_width = sample[1];
    mo.input_channels = sample[2];
    mo.classes = data.train.classes;
    mo.seed = o.seed;
    nn::quantisation q;
    if (!o.model_dir.empty()) {
        // The model name and scheme travel in the manifest's "extra" (train_model writes them).
        std::ifstream in(fs::path(o.model_dir) / "manifest.json");
        if (!in) throw approxnn::io_error("cannot read " + (fs::path(o.model_dir) / "manifest.json").string());
        const nlohmann::json manifest = nlohmann::json::parse(in);
        const nlohmann::json extra = manifest.value("extra", nlohmann::json::object());
        name = extra.value("model", o.model);
        const std::string s = extra.value("scheme", o.scheme);
        scheme = s == "signed" ? signedness::signed_operands : signedness::unsigned_operands;
        auto model = nn::make_model(name, mo);
        q.scheme = scheme;
        q.per_channel_weights = extra.value("per_channel_weights", true);
        nn::quantise(*model, q);
        nn::load_model(*model, o.model_dir);
        std::printf("loaded %s (%s) from %s\n", name.c_str(), s.c_str(), o.model_dir.c_str());
        return model;
    }
    name = o.model;
    auto model = nn::make_model(name, mo);
    nn::train_options t;
    t.seed = o.seed;
    t.validation = &data.test;
    t.augment.horizontal_flip = true;
    t.optimizer.weight_decay = 5e-4F;
    t.epochs = o.epochs;
    t.schedule = nn::lr_schedule::cosine_annealing(0.1F, std::max<std::size_t>(o.epochs, 1));
    std::printf("training %s on %s: %zu float epochs, then %zu QAT epochs (%s)\n", name.c_str(), data.train.name.c_str(),
                o.epochs, o.qat_epochs, o.scheme.c_str());
    (void)nn::train(*model, data.train, t);
    q.scheme = scheme;
    nn::quantise(*model, q);
    t.epochs = o.qat_epochs;
    t.schedule = nn::lr_schedule::cosine_annealing(0.005F, std::max<std::size_t>(o.qat_epochs, 1));
    t.augment = {};
    (void)nn::train(*model, data.train, t);
    return model;
}

void plot(const fs::path& dat, const fs::path& png, const std::string& title) {
    const std::string script =
        "set terminal pngcairo size 800,700 noenhanced\nset output " + examples::gnuplot_string(png.string()) +
        "\nset title " + examples::gnuplot_string(title) +
        "\nset logscale xy\nset xlabel 'measured error std (accumulator units)'\nset ylabel 'predicted error std'\n"
        "set grid\nset key left top box opaque\nset size ratio -1\n"
        "plot " + examples::gnuplot_string(dat.string()) +
        " using 1:2 with points pt 7 ps 0.6 title 'layer model (the original)', '' using 1:3 with points pt 6 ps 0.6 "
        "title 'per-channel weights', '' using 1:4 with points pt 2 ps 0.6 title 'fixed fields', '' using 1:5 with "
        "points pt 1 ps 0.6 title 'per-channel weights, fixed fields', x with lines "
        "lc rgb 'black' title 'y = x'\n";
    examples::run_gnuplot(script, png);
}

int run(const options& o) {
    const auto start = clock_type::now();
    nn::dataset_split data;
    if (o.synthetic) {
        data.train = nn::synthetic_dataset(4000, o.seed);
        data.test = nn::synthetic_dataset(1000, o.seed + 1000);
    } else {
        data = nn::load_fashion_mnist(o.data_dir);
    }
    signedness scheme = o.scheme == "signed" ? signedness::signed_operands : signedness::unsigned_operands;
    std::string model_name;
    auto model = quantised_model(o, data, scheme, model_name);
    const std::string scheme_text = scheme == signedness::signed_operands ? "signed" : "unsigned";

    // 1. Trace every product layer on the sample images (one evaluation forward).
    const std::size_t samples = std::min(o.samples, data.test.size());
    std::printf("\n1. tracing the product layers on %zu test images\n", samples);
    const std::vector<nn::named_product_layer> layers = nn::product_layers(*model);
    std::vector<nn::operand_trace> traces(layers.size());
    for (std::size_t l = 0; l < layers.size(); ++l) {
        layers[l].layer->set_tracer([&traces, l](const nn::operand_trace& t) { traces[l] = t; });
    }
    nn::tensor logits;
    model->forward(data.test.subset(0, samples).images, logits, nn::mode::evaluation);
    for (const auto& l : layers) l.layer->set_tracer({});
    std::vector<noise::operand_histograms> histograms;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        if (traces[l].depth == 0) throw approxnn::parameter_error("layer '" + layers[l].name + "' was not traced");
        noise::histogram_options ho;
        ho.fields = o.fields;
        ho.seed = o.seed + l;
        ho.per_channel_weights = true;
        histograms.push_back(noise::sample_histograms(noise::operands_of(traces[l]), ho));
        std::printf("  %-24s K %4zu, %6zu rows x %3zu channels (%zu groups), %zu fields sampled\n",
                    layers[l].name.c_str(), traces[l].depth, traces[l].groups * traces[l].pixels,
                    traces[l].out_channels, traces[l].groups, histograms.back().fields());
    }

    // 2. Predictions for every (layer, multiplier) at once.
    std::vector<noise::error_map> maps;
    std::vector<approxnn::gemm::multiplier_plan> plans;
    for (const auto& entry : approxnn::multipliers::default_catalogue(scheme)) {
        if (entry.is_exact()) continue;
        maps.emplace_back(entry.table());
        plans.emplace_back(entry.table());
    }
    std::printf("\n2. predicting %zu multipliers x %zu layers\n", maps.size(), layers.size());
    auto t0 = clock_type::now();
    const auto predicted = noise::predict_all(maps, histograms, noise::weight_model::layer, noise::field_model::drawn);
    const double predict_seconds = seconds_since(t0);
    t0 = clock_type::now();
    const auto predicted_per_channel =
        noise::predict_all(maps, histograms, noise::weight_model::per_channel, noise::field_model::drawn);
    const double predict_per_channel_seconds = seconds_since(t0);
    const auto predicted_fixed =
        noise::predict_all(maps, histograms, noise::weight_model::layer, noise::field_model::fixed);
    const auto predicted_per_channel_fixed =
        noise::predict_all(maps, histograms, noise::weight_model::per_channel, noise::field_model::fixed);
    std::printf("  predict_all: %.3f s (layer model), %.3f s (per-channel model)\n", predict_seconds,
                predict_per_channel_seconds);

    // 3. References: Monte-Carlo and measured, layer by layer.
    std::printf("\n3. Monte-Carlo (%zu neurons) and measured (at most %zu rows per layer) references\n", o.mc_neurons,
                o.max_rows);
    std::vector<pair_result> results;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        t0 = clock_type::now();
        const noise::layer_operands ops = noise::operands_of(traces[l]);
        for (std::size_t m = 0; m < maps.size(); ++m) {
            pair_result r;
            r.layer = l;
            r.multiplier = maps[m].name();
            r.predicted = predicted[l][m];
            r.predicted_per_channel = predicted_per_channel[l][m];
            r.predicted_fixed = predicted_fixed[l][m];
            r.predicted_per_channel_fixed = predicted_per_channel_fixed[l][m];
            r.monte_carlo = noise::monte_carlo(maps[m], histograms[l], o.mc_neurons, o.seed + m);
            r.measured = noise::measure(plans[m], ops, o.max_rows, o.seed);
            results.push_back(r);
        }
        std::printf("  layer %zu/%zu %-24s %.1f s\n", l + 1, layers.size(), layers[l].name.c_str(), seconds_since(t0));
    }

    // 4. Tables, files, summary.
    const fs::path out = o.output.empty() ? fs::path("approxnn-output/noise/error_model") : fs::path(o.output);
    fs::create_directories(out);
    std::ofstream csv(out / "error_model.csv");
    if (!csv) throw approxnn::io_error("cannot write " + (out / "error_model.csv").string());
    csv << "layer,fan_in,multiplier,predicted_std,predicted_std_per_channel,monte_carlo_std,measured_std,"
           "predicted_mean,predicted_mean_per_channel,monte_carlo_mean,measured_mean,relative_error,"
           "relative_error_per_channel,predicted_std_fixed_fields,relative_error_fixed_fields,"
           "predicted_std_per_channel_fixed_fields,relative_error_per_channel_fixed_fields\n";
    std::ofstream dat(out / "error_model.dat");
    std::vector<double> errors, errors_per_channel, errors_fixed, errors_per_channel_fixed;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        std::printf("\n%s (K = %zu)\n%-30s %12s %12s %12s %12s %12s %12s %8s %8s\n", layers[l].name.c_str(),
                    traces[l].depth, "multiplier", "pred std", "pred/ch std", "MC std", "meas std", "pred mean",
                    "meas mean", "rel err", "rel/ch");
        for (const pair_result& r : results) {
            if (r.layer != l) continue;
            const bool counted = r.measured.std > 0;
            const double e = counted ? relative_error(r.predicted.std, r.measured.std) : 0.0;
            const double ec = counted ? relative_error(r.predicted_per_channel.std, r.measured.std) : 0.0;
            const double ef = counted ? relative_error(r.predicted_fixed.std, r.measured.std) : 0.0;
            const double ecf = counted ? relative_error(r.predicted_per_channel_fixed.std, r.measured.std) : 0.0;
            if (counted) {
                errors.push_back(e);
                errors_per_channel.push_back(ec);
                errors_fixed.push_back(ef);
                errors_per_channel_fixed.push_back(ecf);
                dat << r.measured.std << ' ' << r.predicted.std << ' ' << r.predicted_per_channel.std << ' '
                    << r.predicted_fixed.std << ' ' << r.predicted_per_channel_fixed.std << '\n';
            }
            std::printf("%-30s %12.4g %12.4g %12.4g %12.4g %12.4g %12.4g %7.1f%% %7.1f%%\n", r.multiplier.c_str(),
                        r.predicted.std, r.predicted_per_channel.std, r.monte_carlo.std, r.measured.std,
                        r.predicted.mean, r.measured.mean, 100 * e, 100 * ec);
            csv << layers[l].name << ',' << traces[l].depth << ',' << r.multiplier << ',' << r.predicted.std << ','
                << r.predicted_per_channel.std << ',' << r.monte_carlo.std << ',' << r.measured.std << ','
                << r.predicted.mean << ',' << r.predicted_per_channel.mean << ',' << r.monte_carlo.mean << ','
                << r.measured.mean << ',' << (counted ? std::to_string(e) : "") << ','
                << (counted ? std::to_string(ec) : "") << ',' << r.predicted_fixed.std << ','
                << (counted ? std::to_string(ef) : "") << ',' << r.predicted_per_channel_fixed.std << ','
                << (counted ? std::to_string(ecf) : "") << '\n';
        }
    }
    dat.close();
    const nlohmann::json summary = {
        {"model", model_name},
        {"data", data.test.name},
        {"scheme", scheme_text},
        {"samples", samples},
        {"fields", o.fields},
        {"max_rows", o.max_rows},
        {"monte_carlo_neurons", o.mc_neurons},
        {"layers", layers.size()},
        {"multipliers", maps.size()},
        {"pairs_with_measured_error", errors.size()},
        {"layer_model", {{"median_relative_error", percentile(errors, 0.5)},
                         {"p90_relative_error", percentile(errors, 0.9)}}},
        {"per_channel_model", {{"median_relative_error", percentile(errors_per_channel, 0.5)},
                               {"p90_relative_error", percentile(errors_per_channel, 0.9)}}},
        {"fixed_field_model", {{"median_relative_error", percentile(errors_fixed, 0.5)},
                               {"p90_relative_error", percentile(errors_fixed, 0.9)}}},
        {"per_channel_fixed_field_model", {{"median_relative_error", percentile(errors_per_channel_fixed, 0.5)},
                                           {"p90_relative_error", percentile(errors_per_channel_fixed, 0.9)}}},
        {"predict_all_seconds", predict_seconds},
        {"predict_all_per_channel_seconds", predict_per_channel_seconds},
        {"seconds", seconds_since(start)}};
    std::ofstream(out / "summary.json") << summary.dump(2) << '\n';
    std::printf("\nsummary over %zu (layer, multiplier) pairs with a measured error (%s, %s):\n", errors.size(),
                model_name.c_str(), scheme_text.c_str());
    std::printf("  layer model:        median relative error %.1f %%, 90th percentile %.1f %%\n",
                100 * percentile(errors, 0.5), 100 * percentile(errors, 0.9));
    std::printf("  per-channel model:  median relative error %.1f %%, 90th percentile %.1f %%\n",
                100 * percentile(errors_per_channel, 0.5), 100 * percentile(errors_per_channel, 0.9));
    std::printf("  fixed-field model:  median relative error %.1f %%, 90th percentile %.1f %%\n",
                100 * percentile(errors_fixed, 0.5), 100 * percentile(errors_fixed, 0.9));
    std::printf("  per-channel, fixed:  median relative error %.1f %%, 90th percentile %.1f %%\n",
                100 * percentile(errors_per_channel_fixed, 0.5), 100 * percentile(errors_per_channel_fixed, 0.9));
    std::printf("  predict_all: %.3f s for %zu x %zu\n", predict_seconds, layers.size(), maps.size());
    if (o.plot) {
        plot(out / "error_model.dat", out / "error_model.png",
             "error model: " + model_name + " on " + data.test.name + " (" + scheme_text + ")");
    }
    std::printf("wrote %s/{error_model.csv, summary.json%s} in %.0f s\n", out.string().c_str(),
                o.plot ? ", error_model.png" : "", seconds_since(start));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen, also in logs
    options o;
    CLI::App app{"approxnn error_model_report: predicted against measured accumulator errors, per layer and multiplier"};
    app.add_option("--model-dir", o.model_dir, "a model directory saved by nn::save_model (train_model's model/)");
    app.add_option("--model", o.model, "model to train when no --model-dir is given")->capture_default_str();
    app.add_option("--data", o.data_dir, "Fashion-MNIST directory")->capture_default_str();
    app.add_flag("--synthetic", o.synthetic, "use the built-in synthetic data set instead");
    app.add_option("--epochs", o.epochs, "float training epochs (without --model-dir)")->capture_default_str();
    app.add_option("--qat-epochs", o.qat_epochs, "quantisation-aware epochs (without --model-dir)")->capture_default_str();
    app.add_option("--scheme", o.scheme, "unsigned or signed (a --model-dir's manifest takes precedence)")
        ->check(CLI::IsMember({"unsigned", "signed"}))->capture_default_str();
    app.add_option("--samples", o.samples, "test images traced")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--fields", o.fields, "receptive fields sampled per layer")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--max-rows", o.max_rows, "im2col rows measured per layer (a seeded subset beyond)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--mc-neurons", o.mc_neurons, "Monte-Carlo neurons per (layer, multiplier)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--seed", o.seed, "training, sampling and Monte-Carlo seed")->capture_default_str();
    app.add_option("--output", o.output, "output directory (default approxnn-output/noise/error_model)");
    app.add_flag("!--no-plot", o.plot, "skip the PNG");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error_model_report: %s\n", e.what());
        return 1;
    }
}
