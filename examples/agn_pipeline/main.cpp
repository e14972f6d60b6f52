// agn_pipeline: the noise-model method end to end (Trommer et al., ICCAD 2022; docs/noise-model.md):
// float training -> QAT -> AGN (a learned noise tolerance per layer) -> the probabilistic error model (every
// catalogue multiplier at every layer) -> assignment (per layer the cheapest multiplier the layer tolerates) ->
// approximate retraining (straight-through estimator) -> report.
//
//   agn_pipeline                                   ResNet-8 on Fashion-MNIST, lambda 0.2
//   agn_pipeline --lambdas 0.05,0.1,0.2,0.4        the accuracy / power Pareto front over lambda
//   agn_pipeline --model-dir approxnn-output/agn/resnet8/qat_model   reuse a trained QAT model
//   agn_pipeline --synthetic --model lenet5        seconds, no data package needed
//
// Writes to --output (default approxnn-output/agn/<model>): layers.csv (per lambda and layer: sigma, tau, the chosen
// multiplier, predicted and measured error), pareto.csv (per lambda: power savings, accuracy before and after
// retraining), results.json, pareto.png, errors.png, problem.json (the first lambda's tolerances and predicted errors,
// for qos_search), qat_model/.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/noise/agn.hpp"
#include "approxnn/noise/error_model.hpp"
#include "approxnn/noise/layer_profile.hpp"
#include "approxnn/noise/trace_operands.hpp"
#include "approxnn/qos/problem_io.hpp"
#include "approxnn/qos/search.hpp"
#include "gnuplot.hpp"
#include "pipeline.hpp"

namespace {

namespace nn = approxnn::nn;
namespace noise = approxnn::noise;
namespace qos = approxnn::qos;
namespace fs = std::filesystem;
using examples::percent;

struct options {
    examples::base_options base;
    examples::noise_settings noise;
    std::vector<double> lambdas{0.2};
    std::size_t retrain_epochs = 1;
    float retrain_lr = 0.002F;
};

struct layer_row {
    double lambda;
    std::string layer;
    double share, sigma, tau, output_std;
    std::string multiplier;
    double power, predicted_std, predicted_mean, measured_std, measured_mean;
};

struct lambda_result {
    double lambda = 0.0;
    double relative_power = 1.0;
    nn::evaluation agn, assigned, recalibrated, retrained;
    std::vector<std::string> multipliers;
    double seconds = 0.0;
};

int run(const options& o) {
    const auto start = std::chrono::steady_clock::now();
    const nn::dataset_split data = examples::load_data(o.base);
    auto model = examples::build_model(o.base, data.train);
    const fs::path out = o.base.output.empty() ? fs::path("approxnn-output/agn") / o.base.model : fs::path(o.base.output);
    fs::create_directories(out);
    examples::plan_library library(o.base);
    std::printf("approxnn agn_pipeline: %s on %s (%zu training, %zu test images), %zu multipliers (%s), %u threads\n",
                o.base.model.c_str(), data.train.name.c_str(), data.train.size(), data.test.size(), library.size(),
                o.base.scheme.c_str(), approxnn::hardware_threads());

    int step = 0;
    const nn::evaluation qat = examples::prepare_base_model(*model, data, o.base, out, step);
    const examples::model_snapshot base(*model);

    const examples::catalogue_model cat(library.catalogue());
    const auto& candidates = cat.candidates;

    std::vector<layer_row> rows;
    std::vector<lambda_result> results;
    for (const double lambda : o.lambdas) {
        const auto lambda_start = std::chrono::steady_clock::now();
        lambda_result r;
        r.lambda = lambda;
        base.restore(*model);
        nn::assign_multiplier(*model, nullptr);
        const examples::noise_analysis n = examples::analyse_noise(*model, data, o.base, o.noise, lambda, cat, step);
        r.agn = n.after_agn;
        const auto& problem = n.problem;
        const auto& profiles = n.profiles;
        const auto& predictions = n.predictions;
        const auto& sigmas = n.sigmas;
        const auto& shares = n.shares;
        const auto& tau = n.tau;
        if (&lambda == &o.lambdas.front()) qos::write_problem_json(problem, out / "problem.json");
        const std::vector<std::size_t> assignment = qos::cheapest_admissible(problem, 1.0);
        r.relative_power = qos::relative_power(problem, assignment);

        // Measured error of the chosen multipliers on the same operands.
        examples::stage(++step, "assignment: per layer the cheapest multiplier with predicted std <= tau");
        std::printf("   %-28s %6s %7s %10s  %-26s %6s %10s %10s\n", "layer", "ops %", "sigma", "tau", "multiplier",
                    "power", "pred. std", "meas. std");
        for (std::size_t l = 0; l < profiles.size(); ++l) {
            const std::size_t m = assignment[l];
            noise::error_prediction measured{};
            if (!candidates[m].exact) measured = noise::measure(*library.plan(m), noise::operands_of(profiles[l].trace));
            const auto& pred = predictions[l][m];
            rows.push_back({lambda, profiles[l].name, shares[l], sigmas[l], tau[l], profiles[l].output_std,
                            candidates[m].name, candidates[m].relative_power, pred.std, pred.mean, measured.std,
                            measured.mean});
            r.multipliers.push_back(candidates[m].name);
            std::printf("   %-28s %6.2f %7.3f %10.1f  %-26s %6.3f %10.1f %10.1f\n", profiles[l].name.c_str(),
                        percent(shares[l]), sigmas[l], tau[l], candidates[m].name.c_str(), candidates[m].relative_power,
                        pred.std, measured.std);
        }
        std::printf("   relative multiplication power %.3f: %.1f %% savings\n", r.relative_power,
                    percent(1.0 - r.relative_power));

        // Approximate retraining with the straight-through estimator.
        nn::assign_multipliers(*model, library.plans(assignment));
        r.assigned = nn::evaluate(*model, data.test);
        nn::recalibrate_batch_norm(*model, data.train);
        r.recalibrated = nn::evaluate(*model, data.test);
        std::printf("   with the assigned multipliers, before retraining: test top-1 %.2f %% (%.2f %% after re-estimating "
                    "the batch-norm statistics on 2048 training images)\n",
                    percent(r.assigned.top1), percent(r.recalibrated.top1));
        examples::stage(++step, "approximate retraining: " + std::to_string(o.retrain_epochs) + " epoch(s), lr " +
                                    std::to_string(o.retrain_lr) + " cosine, straight-through gradients");
        nn::train_options t;
        t.epochs = o.retrain_epochs;
        t.batch_size = o.base.batch;
        t.seed = o.base.seed + 2;
        t.optimizer.learning_rate = o.retrain_lr;
        t.optimizer.weight_decay = o.base.weight_decay;
        t.schedule = nn::lr_schedule::cosine_annealing(o.retrain_lr, std::max<std::size_t>(o.retrain_epochs, 1));
        examples::add_batch_progress(t);
        if (o.retrain_epochs > 0) (void)nn::train(*model, data.train, t);
        r.retrained = nn::evaluate(*model, data.test);
        nn::assign_multiplier(*model, nullptr);
        r.seconds = examples::seconds_since(lambda_start);
        std::printf("   lambda %.3g: %.1f %% multiplication-power savings, test top-1 %.2f %% (QAT %.2f %%, %+.2f pp)\n",
                    lambda, percent(1.0 - r.relative_power), percent(r.retrained.top1), percent(qat.top1),
                    percent(r.retrained.top1 - qat.top1));
        results.push_back(r);
    }

    // Outputs.
    {
        std::ostringstream csv;
        csv << "lambda,layer,operation_share,sigma,tau,output_std,multiplier,relative_power,predicted_std,"
               "predicted_mean,measured_std,measured_mean\n";
        for (const auto& r : rows) {
            csv << r.lambda << ',' << r.layer << ',' << r.share << ',' << r.sigma << ',' << r.tau << ',' << r.output_std
                << ',' << r.multiplier << ',' << r.power << ',' << r.predicted_std << ',' << r.predicted_mean << ','
                << r.measured_std << ',' << r.measured_mean << '\n';
        }
        examples::write_text(out / "layers.csv", csv.str());
    }
    {
        std::ostringstream csv;
        csv << "lambda,relative_power,power_savings_percent,qat_top1,agn_top1,assigned_top1,retrained_top1,"
               "retrained_top5,top1_loss_pp,recalibrated_top1\n";
        for (const auto& r : results) {
            csv << r.lambda << ',' << r.relative_power << ',' << percent(1.0 - r.relative_power) << ','
                << percent(qat.top1) << ',' << percent(r.agn.top1) << ',' << percent(r.assigned.top1) << ','
                << percent(r.retrained.top1) << ',' << percent(r.retrained.top5) << ','
                << percent(qat.top1 - r.retrained.top1) << ',' << percent(r.recalibrated.top1) << '\n';
        }
        examples::write_text(out / "pareto.csv", csv.str());
    }
    nlohmann::json j;
    j["model"] = o.base.model;
    j["data"] = data.train.name;
    j["scheme"] = o.base.scheme;
    j["qat"] = {{"top1", percent(qat.top1)}, {"top5", percent(qat.top5)}};
    j["settings"] = {{"agn_epochs", o.noise.agn_epochs},         {"agn_lr", o.noise.agn_lr},
                     {"sigma_init", o.noise.sigma_init},         {"sigma_max", o.noise.sigma_max},
                     {"retrain_epochs", o.retrain_epochs},       {"retrain_lr", o.retrain_lr},
                     {"reference_images", o.noise.reference},    {"fields", o.noise.fields},
                     {"weight_model", o.noise.weight_model},     {"field_model", o.noise.field_model},
                     {"acceptance", o.noise.acceptance}};
    for (const auto& r : results) {
        j["lambdas"].push_back({{"lambda", r.lambda},
                                {"relative_power", r.relative_power},
                                {"power_savings_percent", percent(1.0 - r.relative_power)},
                                {"agn_top1", percent(r.agn.top1)},
                                {"assigned_top1", percent(r.assigned.top1)},
                                {"recalibrated_top1", percent(r.recalibrated.top1)},
                                {"retrained_top1", percent(r.retrained.top1)},
                                {"retrained_top5", percent(r.retrained.top5)},
                                {"multipliers", r.multipliers},
                                {"seconds", r.seconds}});
    }
    j["seconds"] = examples::seconds_since(start);
    examples::write_text(out / "results.json", j.dump(2) + "\n");

    std::printf("\n%-8s %10s %10s %12s %12s %12s %12s\n", "lambda", "power", "savings %", "AGN top-1", "assigned",
                "BN re-est.", "retrained");
    for (const auto& r : results) {
        std::printf("%-8.3g %10.3f %10.1f %12.2f %12.2f %12.2f %12.2f\n", r.lambda, r.relative_power,
                    percent(1.0 - r.relative_power), percent(r.agn.top1), percent(r.assigned.top1),
                    percent(r.recalibrated.top1), percent(r.retrained.top1));
    }
    std::printf("QAT (exact) top-1 %.2f %%\n", percent(qat.top1));

    if (o.base.plot) {
        const std::string pareto = (out / "pareto.csv").string();
        examples::run_gnuplot(
            "set terminal pngcairo size 900,560 noenhanced\nset output " +
                examples::gnuplot_string((out / "pareto.png").string()) +
                "\nset datafile separator ','\nset title " +
                examples::gnuplot_string(o.base.model + " on " + data.train.name +
                                         ": accuracy vs multiplication-power savings over lambda") +
                "\nset xlabel 'multiplication-power savings (%)'\nset ylabel 'test top-1 (%)'\nset grid\n"
                "set key bottom left box opaque\n"
                "plot " + examples::gnuplot_string(pareto) +
                " skip 1 using 3:7 with linespoints pt 7 title 'after approximate retraining', '' skip 1 using 3:10 "
                "with linespoints pt 6 title 'assigned, batch norm re-estimated, not retrained', '' skip 1 using 3:4 "
                "with lines dt 2 "
                "title 'QAT, exact', '' skip 1 using 3:7:(sprintf('%g', $1)) with labels offset 0,1 notitle\n",
            out / "pareto.png");
        const std::string layers = (out / "layers.csv").string();
        examples::run_gnuplot(
            "set terminal pngcairo size 900,560 noenhanced\nset output " +
                examples::gnuplot_string((out / "errors.png").string()) +
                "\nset datafile separator ','\nset title " +
                examples::gnuplot_string("chosen multipliers: predicted vs measured output-error std, and tau") +
                "\nset logscale xy\nset xlabel 'measured std (accumulator units)'\nset ylabel 'std (accumulator "
                "units)'\nset grid\nset key top left box opaque\n"
                "plot " + examples::gnuplot_string(layers) +
                " skip 1 using ($11 > 0 ? $11 : 1/0):9 with points pt 7 title 'predicted', '' skip 1 using "
                "($11 > 0 ? $11 : 1/0):5 with points pt 4 title 'tolerance tau', x with lines dt 2 title 'y = x'\n",
            out / "errors.png");
    }
    std::printf("\nwrote %s/{layers.csv, pareto.csv, results.json%s, problem.json, qat_model/} in %.0f s\n",
                out.string().c_str(),
                o.base.plot ? ", pareto.png, errors.png" : "", examples::seconds_since(start));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    options o;
    CLI::App app{"approxnn agn_pipeline: learned noise tolerances, the error model and heterogeneous multipliers"};
    o.base.add_to(app);
    app.add_option("--lambdas", o.lambdas, "AGN reward weights, one run each (several: the Pareto front)")
        ->delimiter(',')->capture_default_str()->check(CLI::NonNegativeNumber);
    o.noise.add_to(app);
    app.add_option("--retrain-epochs", o.retrain_epochs, "approximate retraining epochs")->capture_default_str();
    app.add_option("--retrain-lr", o.retrain_lr, "approximate retraining learning rate (cosine)")->capture_default_str();
    app.add_option("--output", o.base.output, "output directory (default approxnn-output/agn/<model>)");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "agn_pipeline: %s\n", e.what());
        return 1;
    }
}
