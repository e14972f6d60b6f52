// error_model_report: how well the probabilistic error model (noise/error_model.hpp) predicts the accumulator error
// of every product layer of a quantised network, for every multiplier of the catalogue (default or --catalogue).
//
//   error_model_report --model-dir approxnn-output/engine/resnet8/model    a model saved by train_model
//   error_model_report --epochs 2 --qat-epochs 1                            trains ResNet-8 on Fashion-MNIST first
//                                                                           (as the pipelines do: per-tensor weights)
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
#include "approxnn/multipliers/catalogue_io.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/noise/error_model.hpp"
#include "approxnn/noise/trace_operands.hpp"
#include "gnuplot.hpp"
#include "pipeline.hpp"

namespace fs = std::filesystem;
namespace nn = approxnn::nn;
namespace noise = approxnn::noise;
using approxnn::signedness;

namespace {

struct options {
    examples::base_options base;  // data, model, training, --model-dir, scheme, catalogue, seed, output, plot
    std::size_t samples = 128;
    std::size_t fields = 512;
    std::size_t max_rows = 8192;
    std::size_t mc_neurons = 4000;
};

using clock_type = std::chrono::steady_clock;

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

/// A quantised model: loaded from --model-dir (model name, scheme and weight scales from its manifest), or trained
/// as the pipelines train it (float, then QAT; the QAT model is saved to <output>/qat_model).
std::unique_ptr<nn::sequential> quantised_model(const options& o, const nn::dataset_split& data, const fs::path& out,
                                                signedness& scheme, std::string& name) {
    const examples::base_options& b = o.base;
    if (!b.model_dir.empty()) {
        // The model name and scheme travel in the manifest's "extra" (train_model and the pipelines write them).
        std::ifstream in(fs::path(b.model_dir) / "manifest.json");
        if (!in) throw approxnn::io_error("cannot read " + (fs::path(b.model_dir) / "manifest.json").string());
        const nlohmann::json manifest = nlohmann::json::parse(in);
        const nlohmann::json extra = manifest.value("extra", nlohmann::json::object());
        examples::base_options loaded = b;
        loaded.model = extra.value("model", b.model);
        loaded.scheme = extra.value("scheme", b.scheme);
        name = loaded.model;
        scheme = loaded.signedness();
        auto model = examples::build_model(loaded, data.train);
        nn::quantisation q;
        q.scheme = scheme;
        q.per_channel_weights = extra.value("per_channel_weights", true);
        nn::quantise(*model, q);
        nn::load_model(*model, b.model_dir);
        std::printf("loaded %s (%s) from %s\n", name.c_str(), loaded.scheme.c_str(), b.model_dir.c_str());
        return model;
    }
    name = b.model;
    scheme = b.signedness();
    auto model = examples::build_model(b, data.train);
    int step = 0;
    (void)examples::prepare_base_model(*model, data, b, out, step);
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
    const nn::dataset_split data = examples::load_data(o.base);
    const fs::path out =
        o.base.output.empty() ? fs::path("approxnn-output/noise/error_model") : fs::path(o.base.output);
    fs::create_directories(out);
    signedness scheme = o.base.signedness();
    std::string model_name;
    auto model = quantised_model(o, data, out, scheme, model_name);
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
        ho.seed = o.base.seed + l;
        ho.per_channel_weights = true;
        histograms.push_back(noise::sample_histograms(noise::operands_of(traces[l]), ho));
        std::printf("  %-24s K %4zu, %6zu rows x %3zu channels (%zu groups), %zu fields sampled\n",
                    layers[l].name.c_str(), traces[l].depth, traces[l].groups * traces[l].pixels,
                    traces[l].out_channels, traces[l].groups, histograms.back().fields());
    }

    // 2. Predictions for every (layer, multiplier) at once.
    std::vector<noise::error_map> maps;
    std::vector<approxnn::gemm::multiplier_plan> plans;
    const approxnn::multipliers::catalogue catalogue =
        (o.base.catalogue_dir.empty() ? approxnn::multipliers::default_catalogue()
                                      : approxnn::multipliers::load_catalogue(o.base.catalogue_dir))
            .subset(scheme);
    for (const auto& entry : catalogue) {
        if (entry.is_exact()) continue;
        maps.emplace_back(entry.table());
        plans.emplace_back(entry.table());
    }
    std::printf("\n2. predicting %zu multipliers x %zu layers\n", maps.size(), layers.size());
    auto t0 = clock_type::now();
    const auto predicted = noise::predict_all(maps, histograms, noise::weight_model::layer, noise::field_model::drawn);
    const double predict_seconds = examples::seconds_since(t0);
    t0 = clock_type::now();
    const auto predicted_per_channel =
        noise::predict_all(maps, histograms, noise::weight_model::per_channel, noise::field_model::drawn);
    const double predict_per_channel_seconds = examples::seconds_since(t0);
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
            r.monte_carlo = noise::monte_carlo(maps[m], histograms[l], o.mc_neurons, o.base.seed + m);
            r.measured = noise::measure(plans[m], ops, o.max_rows, o.base.seed);
            results.push_back(r);
        }
        std::printf("  layer %zu/%zu %-24s %.1f s\n", l + 1, layers.size(), layers[l].name.c_str(), examples::seconds_since(t0));
    }

    // 4. Tables, files, summary.
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
        {"seconds", examples::seconds_since(start)}};
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
    if (o.base.plot) {
        plot(out / "error_model.dat", out / "error_model.png",
             "error model: " + model_name + " on " + data.test.name + " (" + scheme_text + ")");
    }
    std::printf("wrote %s/{error_model.csv, summary.json%s} in %.0f s\n", out.string().c_str(),
                o.base.plot ? ", error_model.png" : "", examples::seconds_since(start));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen, also in logs
    options o;
    CLI::App app{"approxnn error_model_report: predicted against measured accumulator errors, per layer and multiplier"};
    o.base.add_to(app);
    app.add_option("--samples", o.samples, "test images traced")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--fields", o.fields, "receptive fields sampled per layer")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--max-rows", o.max_rows, "im2col rows measured per layer (a seeded subset beyond)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--mc-neurons", o.mc_neurons, "Monte-Carlo neurons per (layer, multiplier)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--output", o.base.output, "output directory (default approxnn-output/noise/error_model)");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error_model_report: %s\n", e.what());
        return 1;
    }
}
