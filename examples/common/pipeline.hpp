#pragma once
// What the method examples (agn_pipeline, qos_pipeline) share: the data, the model and its float + QAT training
// (or loading a trained model directory), model snapshots, the catalogue's kernel plans, progress and output
// helpers. Not part of the library.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/core/parallel.hpp"
#include "approxnn/gemm/catalogue_plan.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/catalogue_io.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/graph.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/noise/agn.hpp"
#include "approxnn/noise/error_model.hpp"
#include "approxnn/noise/layer_profile.hpp"
#include "approxnn/noise/trace_operands.hpp"
#include "approxnn/qos/search.hpp"

namespace examples {

namespace nn = approxnn::nn;
namespace fs = std::filesystem;

/// The options every method example takes: data, model, base training, quantisation, catalogue, output.
struct base_options {
    std::string model = "resnet8";
    std::string data_dir = "/usr/share/datasets/fashion-mnist";
    bool synthetic = false;
    std::size_t train_subset = 0;
    std::size_t test_subset = 0;
    std::string model_dir;  ///< a trained QAT model (save_model directory) instead of steps 1-2
    std::size_t epochs = 4;
    std::size_t qat_epochs = 1;
    std::size_t batch = 128;
    float lr = 0.1F;
    float qat_lr = 0.005F;
    float weight_decay = 5e-4F;
    std::string scheme = "unsigned";
    std::string catalogue_dir;  ///< a catalogue directory (multiplier_report --export-tables) instead of the default
    std::uint64_t seed = 1;
    std::string output;
    bool plot = true;

    void add_to(CLI::App& app) {
        app.add_option("--model", model, "lenet5, resnet8, resnet20 or mobilenet_v2")->capture_default_str();
        app.add_option("--data", data_dir, "Fashion-MNIST directory (Debian package dataset-fashion-mnist)")
            ->capture_default_str();
        app.add_flag("--synthetic", synthetic, "use the built-in synthetic data set instead (seconds)");
        app.add_option("--train-subset", train_subset, "use only the first N training images (0: all)");
        app.add_option("--test-subset", test_subset, "evaluate on the first N test images only (0: all)");
        app.add_option("--model-dir", model_dir,
                       "start from this trained QAT model (a model/ or qat_model/ directory written by train_model or "
                       "a previous run) instead of float training + QAT");
        app.add_option("--epochs", epochs, "float training epochs")->capture_default_str();
        app.add_option("--qat-epochs", qat_epochs, "quantisation-aware training epochs")->capture_default_str();
        app.add_option("--batch", batch, "mini-batch size")->capture_default_str()->check(CLI::PositiveNumber);
        app.add_option("--lr", lr, "float training learning rate (cosine)")->capture_default_str();
        app.add_option("--qat-lr", qat_lr, "QAT learning rate (cosine)")->capture_default_str();
        app.add_option("--scheme", scheme, "quantisation: unsigned (uint8 affine) or signed (int8 symmetric)")
            ->check(CLI::IsMember({"unsigned", "signed"}))->capture_default_str();
        app.add_option("--catalogue", catalogue_dir, "a catalogue directory of your own (tables + catalogue.json), "
                                                     "e.g. from multiplier_report --export-tables");
        app.add_option("--seed", seed, "initialisation, shuffling and noise seed")->capture_default_str();
        app.add_flag("!--no-plot", plot, "skip the PNG plots");
    }

    [[nodiscard]] approxnn::signedness signedness() const {
        return scheme == "signed" ? approxnn::signedness::signed_operands : approxnn::signedness::unsigned_operands;
    }
    /// Per-tensor weight scales: the error model and the tolerances are in integer accumulator units, which are
    /// one scale away from the float output only when every channel shares the weight scale.
    [[nodiscard]] nn::quantisation quantisation() const {
        nn::quantisation q;
        q.scheme = signedness();
        q.per_channel_weights = false;
        return q;
    }
};

inline double percent(double v) { return 100.0 * v; }

/// Seconds since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline void stage(int number, const std::string& title) { std::printf("\n%d. %s\n", number, title.c_str()); }

/// A live batch counter on terminals (logs get the epoch lines only).
inline void add_batch_progress(nn::train_options& t) {
    if (isatty(fileno(stderr))) {
        t.on_batch = [](std::size_t epoch, std::size_t b, std::size_t batches) {
            if (b % 10 == 0) std::fprintf(stderr, "\r  epoch %zu: batch %zu/%zu ", epoch + 1, b, batches);
            if (b + 1 == batches) std::fprintf(stderr, "\r%40s\r", "");
        };
    }
}

inline nn::dataset_split load_data(const base_options& o) {
    nn::dataset_split data;
    if (o.synthetic) {
        data.train = nn::synthetic_dataset(4000, o.seed);
        data.test = nn::synthetic_dataset(1000, o.seed + 1000);
    } else {
        data = nn::load_fashion_mnist(o.data_dir);
    }
    if (o.train_subset > 0 && o.train_subset < data.train.size()) data.train = data.train.subset(0, o.train_subset);
    if (o.test_subset > 0 && o.test_subset < data.test.size()) data.test = data.test.subset(0, o.test_subset);
    return data;
}

inline std::unique_ptr<nn::sequential> build_model(const base_options& o, const nn::dataset& train) {
    const nn::shape_t sample = train.sample_shape();
    nn::model_options mo;
    mo.input_height = sample[0];
    mo.input_width = sample[1];
    mo.input_channels = sample[2];
    mo.classes = train.classes;
    mo.seed = o.seed;
    return nn::make_model(o.model, mo);
}

/// The base model: float training and QAT (steps 1-2), or the model of --model-dir, quantised as `o` says.
/// Saves it to <output>/qat_model so later runs can start from it. Returns the QAT test evaluation.
inline nn::evaluation prepare_base_model(nn::sequential& model, const nn::dataset_split& data, const base_options& o,
                                         const fs::path& output, int& step) {
    const approxnn::nn::quantisation q = o.quantisation();
    if (!o.model_dir.empty()) {
        stage(++step, "loading the trained model " + o.model_dir);
        nn::quantise(model, q);
        const nlohmann::json extra = nn::load_model(model, o.model_dir);
        if (extra.contains("scheme") && extra["scheme"].get<std::string>() != o.scheme) {
            throw approxnn::parameter_error("model directory " + o.model_dir + " holds a " +
                                            extra["scheme"].get<std::string>() + " model, --scheme is " + o.scheme);
        }
        if (extra.contains("per_channel_weights") && extra["per_channel_weights"].get<bool>()) {
            throw approxnn::parameter_error("model directory " + o.model_dir +
                                            " was trained with per-channel weight scales; the noise model needs "
                                            "per-tensor scales");
        }
    } else {
        nn::train_options t;
        t.batch_size = o.batch;
        t.seed = o.seed;
        t.validation = &data.test;
        t.optimizer.weight_decay = o.weight_decay;
        t.augment.horizontal_flip = o.model != "lenet5";
        add_batch_progress(t);
        stage(++step, "float training: " + std::to_string(o.epochs) + " epochs, SGD momentum 0.9, lr " +
                          std::to_string(o.lr) + " cosine, batch " + std::to_string(o.batch));
        t.epochs = o.epochs;
        t.schedule = nn::lr_schedule::cosine_annealing(o.lr, std::max<std::size_t>(o.epochs, 1));
        if (o.epochs > 0) (void)nn::train(model, data.train, t);
        nn::quantise(model, q);
        stage(++step, "quantisation-aware training (" + o.scheme + " 8-bit, per-tensor weights): " +
                          std::to_string(o.qat_epochs) + " epochs, lr " + std::to_string(o.qat_lr) + " cosine");
        t.epochs = o.qat_epochs;
        t.augment = {};
        t.schedule = nn::lr_schedule::cosine_annealing(o.qat_lr, std::max<std::size_t>(o.qat_epochs, 1));
        if (o.qat_epochs > 0) (void)nn::train(model, data.train, t);
    }
    const nn::evaluation e = nn::evaluate(model, data.test);
    nn::save_model(model, output / "qat_model",
                   {{"model", o.model}, {"scheme", o.scheme}, {"per_channel_weights", false}, {"test_top1", e.top1}});
    std::printf("   QAT model: test top-1 %.2f %%, top-5 %.2f %% (saved to %s)\n", 100.0 * e.top1, 100.0 * e.top5,
                (output / "qat_model").string().c_str());
    return e;
}

/// Every parameter and buffer value of a model, to return to later.
class model_snapshot {
public:
    explicit model_snapshot(nn::layer& model) {
        model.visit_parameters("", [&](const std::string&, nn::parameter& p) { values_.push_back(p.value); });
        model.visit_buffers("", [&](const std::string&, nn::tensor& t) { values_.push_back(t); });
    }
    /// Restores the values into a model of the same structure (hooks' parameters must be detached as when taken).
    void restore(nn::layer& model) const {
        std::size_t i = 0;
        const auto put = [&](nn::tensor& t) {
            if (i >= values_.size() || values_[i].shape() != t.shape()) {
                throw approxnn::shape_error("model_snapshot: the model's structure changed since the snapshot");
            }
            t = values_[i++];
        };
        model.visit_parameters("", [&](const std::string&, nn::parameter& p) { put(p.value); });
        model.visit_buffers("", [&](const std::string&, nn::tensor& t) { put(t); });
        if (i != values_.size()) throw approxnn::shape_error("model_snapshot: the model's structure changed");
    }

private:
    std::vector<nn::tensor> values_;
};

/// The catalogue for the model's scheme (default or --catalogue) and a kernel plan per entry, built on first use.
class plan_library {
public:
    plan_library(const base_options& o) {
        approxnn::multipliers::catalogue all = o.catalogue_dir.empty()
                                                   ? approxnn::multipliers::default_catalogue()
                                                   : approxnn::multipliers::load_catalogue(o.catalogue_dir);
        catalogue_ = all.subset(o.signedness());
        if (catalogue_.empty()) {
            throw approxnn::parameter_error("the catalogue holds no " + o.scheme + " multipliers");
        }
        bool exact = false;
        for (const auto& e : catalogue_) exact = exact || e.is_exact();
        if (!exact) {
            throw approxnn::parameter_error("the catalogue holds no exact " + o.scheme +
                                            " multiplier (the noise model needs one as its fallback)");
        }
        plans_.resize(catalogue_.size());
    }
    [[nodiscard]] const approxnn::multipliers::catalogue& catalogue() const noexcept { return catalogue_; }
    [[nodiscard]] std::size_t size() const noexcept { return catalogue_.size(); }
    /// The plan of entry i; null for exact entries (the float product of the quantised operands is exact).
    [[nodiscard]] std::shared_ptr<const approxnn::gemm::multiplier_plan> plan(std::size_t i) {
        if (catalogue_[i].is_exact()) return nullptr;
        if (!plans_[i]) plans_[i] = approxnn::gemm::plan_for(catalogue_[i]);
        return plans_[i];
    }
    [[nodiscard]] std::vector<std::shared_ptr<const approxnn::gemm::multiplier_plan>> plans(
        const std::vector<std::size_t>& assignment) {
        std::vector<std::shared_ptr<const approxnn::gemm::multiplier_plan>> out;
        for (const std::size_t m : assignment) out.push_back(plan(m));
        return out;
    }

private:
    approxnn::multipliers::catalogue catalogue_;
    std::vector<std::shared_ptr<const approxnn::gemm::multiplier_plan>> plans_;
};

/// AGN and error-model settings (noise-and-qos.md sections 2-3).
struct noise_settings {
    std::size_t agn_epochs = 1;
    float agn_lr = 0.005F;
    double sigma_init = 0.1;
    double sigma_max = 0.5;
    std::size_t reference = 128;
    std::size_t fields = 512;
    std::string weight_model = "layer";
    std::string field_model = "fixed";
    std::string acceptance = "std";

    void add_to(CLI::App& app) {
        app.add_option("--agn-epochs", agn_epochs, "AGN training epochs")->capture_default_str();
        app.add_option("--agn-lr", agn_lr, "AGN learning rate (constant)")->capture_default_str();
        app.add_option("--sigma-init", sigma_init, "initial sigma of every layer")->capture_default_str();
        app.add_option("--sigma-max", sigma_max, "cap of the noise reward per layer")->capture_default_str();
        app.add_option("--reference", reference, "reference images for the tolerances and the error model")
            ->capture_default_str()->check(CLI::PositiveNumber);
        app.add_option("--fields", fields, "receptive fields sampled per layer")->capture_default_str()
            ->check(CLI::PositiveNumber);
        app.add_option("--weight-model", weight_model, "weight histograms: layer (the original) or per_channel")
            ->check(CLI::IsMember({"layer", "per_channel"}))->capture_default_str();
        app.add_option("--field-model", field_model, "receptive fields: fixed (their own codes; measured 4x closer) or "
                                                     "drawn (fresh draws from their histograms, the original)")
            ->check(CLI::IsMember({"fixed", "drawn"}))->capture_default_str();
        app.add_option("--acceptance", acceptance, "compare tau with the predicted std (the original) or with the "
                                                   "rms error including the mean (rms)")
            ->check(CLI::IsMember({"std", "rms"}))->capture_default_str();
    }
    [[nodiscard]] approxnn::noise::field_model fields_as() const {
        return field_model == "drawn" ? approxnn::noise::field_model::drawn : approxnn::noise::field_model::fixed;
    }
    [[nodiscard]] approxnn::noise::weight_model weights() const {
        return weight_model == "per_channel" ? approxnn::noise::weight_model::per_channel
                                             : approxnn::noise::weight_model::layer;
    }
};

/// What AGN and the error model found for one model: per layer sigma, its share of multiplications, tau, the
/// profile, every catalogue multiplier's predicted error; and the search problem built from them.
struct noise_analysis {
    double lambda = 0.0;
    std::vector<double> sigmas, shares, tau;
    std::vector<approxnn::noise::layer_profile> profiles;
    std::vector<std::vector<approxnn::noise::error_prediction>> predictions;
    approxnn::qos::search_problem problem;
    nn::evaluation after_agn;
};

/// The catalogue's error maps and search candidates (power relative to the exact entry), built once.
struct catalogue_model {
    std::vector<approxnn::noise::error_map> maps;
    std::vector<approxnn::qos::candidate> candidates;

    explicit catalogue_model(const approxnn::multipliers::catalogue& c) {
        double exact_power = 0.0;
        for (const auto& e : c) {
            if (e.is_exact()) exact_power = e.power().relative;
        }
        for (const auto& e : c) {
            maps.emplace_back(e.table());
            candidates.push_back({e.name(), exact_power > 0 ? e.power().relative / exact_power : e.power().relative,
                                  e.is_exact()});
        }
    }
};

/// AGN training of `model` (quantised, exact multipliers) with reward weight lambda, then the tolerances and the
/// error model's predictions for every multiplier of `cat` at every layer. The model keeps its AGN-trained weights.
inline noise_analysis analyse_noise(nn::sequential& model, const nn::dataset_split& data, const base_options& o,
                                    const noise_settings& s, double lambda, const catalogue_model& cat, int& step) {
    namespace noise = approxnn::noise;
    noise_analysis r;
    r.lambda = lambda;
    char title[200];
    std::snprintf(title, sizeof title, "AGN (lambda %.3g, sigma_init %.3g, sigma_max %.3g): %zu epoch(s), lr %.3g",
                  lambda, s.sigma_init, s.sigma_max, s.agn_epochs, static_cast<double>(s.agn_lr));
    stage(++step, title);
    {
        noise::agn_options a;
        a.lambda = lambda;
        a.sigma_init = s.sigma_init;
        a.sigma_max = s.sigma_max;
        a.seed = o.seed;
        noise::noise_injection agn(model, data.train.sample_shape(), a);
        nn::train_options t;
        t.epochs = s.agn_epochs;
        t.batch_size = o.batch;
        t.seed = o.seed + 1;
        t.optimizer.learning_rate = s.agn_lr;
        t.optimizer.weight_decay = o.weight_decay;
        t.schedule = nn::lr_schedule::constant_rate(s.agn_lr);
        t.regulariser = agn.regulariser();
        add_batch_progress(t);
        if (s.agn_epochs > 0) (void)nn::train(model, data.train, t);
        r.sigmas = agn.sigmas();
        for (std::size_t l = 0; l < agn.size(); ++l) r.shares.push_back(agn.operation_share(l));
    }
    r.after_agn = nn::evaluate(model, data.test);
    std::printf("   after AGN (noise off): test top-1 %.2f %%\n", percent(r.after_agn.top1));

    const nn::dataset reference = data.train.subset(0, std::min(s.reference, data.train.size()));
    stage(++step, "error model: " + std::to_string(cat.maps.size()) + " multipliers x " +
                      std::to_string(r.sigmas.size()) + " layers, " + std::to_string(reference.size()) +
                      " reference images, " + std::to_string(s.fields) + " receptive fields per layer");
    const auto start = std::chrono::steady_clock::now();
    r.profiles = noise::profile_layers(model, reference.images);
    r.tau = noise::tolerances(r.profiles, r.sigmas);
    std::vector<noise::operand_histograms> histograms;
    noise::histogram_options h;
    h.fields = s.fields;
    h.seed = o.seed;
    h.per_channel_weights = s.weights() == noise::weight_model::per_channel;
    for (const auto& p : r.profiles) histograms.push_back(noise::sample_histograms(noise::operands_of(p.trace), h));
    r.predictions = noise::predict_all(cat.maps, histograms, s.weights(), s.fields_as());
    std::printf("   profiled %zu layers and predicted %zu errors in %.2f s\n", r.profiles.size(),
                r.profiles.size() * cat.maps.size(), seconds_since(start));

    r.problem.multipliers = cat.candidates;
    for (std::size_t l = 0; l < r.profiles.size(); ++l) {
        r.problem.layers.push_back({r.profiles[l].name, static_cast<double>(r.profiles[l].operations), r.tau[l]});
        std::vector<double> row;
        for (const auto& p : r.predictions[l]) {
            row.push_back(s.acceptance == "rms" ? std::sqrt(p.std * p.std + p.mean * p.mean) : p.std);
        }
        r.problem.predicted_error.push_back(std::move(row));
    }
    return r;
}

inline void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    if (!out) throw approxnn::io_error("cannot write " + path.string());
    out << text;
}

}  // namespace examples
