// qos_pipeline: QoS-Nets end to end (Trommer et al., arXiv 2410.07762; docs/qos.md), approxnn's main job:
// float training -> QAT -> AGN (per-layer noise tolerance) -> error model (every catalogue multiplier at every layer)
// -> QoS search (n multipliers, one assignment per operating point) -> shared-weight fine-tuning with per-OP batch
// norm -> evaluation of every OP, in the float engine and in the int8 deployment switching OPs at run time, against
// two baselines: one multiplier for all layers, and full retraining per OP.
//
//   qos_pipeline                         ResNet-8 on Fashion-MNIST, 4 multipliers, 3 OPs (scales 0.3, 1, 2)
//   qos_pipeline --quick                 the same on small subsets, in about a minute
//   qos_pipeline -n 3 --scales 0.5,1,2,4 --model lenet5
//   qos_pipeline --model-dir approxnn-output/qos/resnet8/qat_model    skip float training and QAT
//   qos_pipeline --no-baselines          skip the one-multiplier and per-OP full-retraining baselines
//
// Writes to --output (default approxnn-output/qos/<model>): operating_points.csv, assignment.csv, single.csv
// (the one-multiplier baseline), results.json, qos.png (accuracy vs multiplication-power savings), problem.json
// (tolerances and predicted errors: the search alone runs on it with qos_search --problem), qat_model/.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/deploy.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/operating_points.hpp"
#include "approxnn/nn/trainer.hpp"
#include "approxnn/qos/finetune.hpp"
#include "approxnn/qos/problem_io.hpp"
#include "approxnn/qos/search.hpp"
#include "gnuplot.hpp"
#include "pipeline.hpp"

namespace {

namespace nn = approxnn::nn;
namespace qos = approxnn::qos;
namespace fs = std::filesystem;
using examples::percent;
using plan_vector = std::vector<std::shared_ptr<const approxnn::gemm::multiplier_plan>>;

struct options {
    examples::base_options base;
    examples::noise_settings noise;
    double lambda = 0.2;
    std::size_t multipliers = 4;
    std::vector<double> scales{0.3, 1.0, 2.0};
    std::size_t restarts = 10;
    bool original = false;
    std::size_t finetune_epochs = 1;
    float finetune_lr = 0.002F;
    std::size_t finetune_subset = 20000;
    bool baselines = true;
    bool full_retraining = true;
    std::size_t baseline_images = 2000;
    bool quick = false;
};

struct op_result {
    double scale = 0.0;
    double relative_power = 1.0;
    nn::evaluation before, shared, full;
    double int8_top1 = 0.0;
    bool has_full = false;
    // the one-multiplier baseline at this OP's power
    std::string single;
    double single_power = 1.0;
    nn::evaluation single_eval;
    bool has_single = false;
};

nn::train_options finetune_options(const options& o, std::uint64_t seed_offset) {
    nn::train_options t;
    t.epochs = o.finetune_epochs;
    t.batch_size = o.base.batch;
    t.seed = o.base.seed + seed_offset;
    t.optimizer.learning_rate = o.finetune_lr;
    t.optimizer.weight_decay = o.base.weight_decay;
    t.schedule = nn::lr_schedule::cosine_annealing(o.finetune_lr, std::max<std::size_t>(o.finetune_epochs, 1));
    examples::add_batch_progress(t);
    return t;
}

double top1_of(const nn::tensor& logits, const std::vector<std::uint8_t>& labels) {
    return static_cast<double>(nn::top_k_correct(logits, std::span<const std::uint8_t>(labels), 1)) /
           static_cast<double>(labels.size());
}

int run(options o) {
    if (o.quick) {
        o.base.train_subset = o.base.train_subset ? o.base.train_subset : 4000;
        o.base.test_subset = o.base.test_subset ? o.base.test_subset : 1000;
        o.base.epochs = std::min<std::size_t>(o.base.epochs, 2);
        o.base.qat_epochs = std::min<std::size_t>(o.base.qat_epochs, 1);
        o.noise.reference = std::min<std::size_t>(o.noise.reference, 64);
        o.finetune_subset = std::min<std::size_t>(o.finetune_subset, 2000);
        o.baseline_images = std::min<std::size_t>(o.baseline_images, 500);
    }
    const auto start = std::chrono::steady_clock::now();
    const nn::dataset_split data = examples::load_data(o.base);
    auto model = examples::build_model(o.base, data.train);
    const fs::path out = o.base.output.empty() ? fs::path("approxnn-output/qos") / o.base.model : fs::path(o.base.output);
    fs::create_directories(out);
    examples::plan_library library(o.base);
    std::printf("approxnn qos_pipeline: %s on %s (%zu training, %zu test images), %zu candidate multipliers (%s), "
                "n = %zu, %zu operating points, %u threads%s\n",
                o.base.model.c_str(), data.train.name.c_str(), data.train.size(), data.test.size(), library.size(),
                o.base.scheme.c_str(), o.multipliers, o.scales.size(), approxnn::hardware_threads(),
                o.quick ? " (--quick)" : "");

    int step = 0;
    const nn::evaluation qat = examples::prepare_base_model(*model, data, o.base, out, step);
    const examples::catalogue_model cat(library.catalogue());
    const examples::noise_analysis noise = examples::analyse_noise(*model, data, o.base, o.noise, o.lambda, cat, step);
    const examples::model_snapshot after_agn(*model);

    // The search.
    qos::search_options so = o.original ? qos::search_options::original() : qos::search_options{};
    so.multipliers = o.multipliers;
    so.scales = o.scales;
    if (!o.original) so.restarts = o.restarts;
    so.seed = o.base.seed;
    examples::stage(++step, std::string("QoS search: ") + std::to_string(o.multipliers) + " multipliers, " +
                                std::to_string(o.scales.size()) + " operating points" +
                                (o.original ? " (the original method)" : ""));
    const qos::search_result found = qos::search(noise.problem, so);
    qos::write_problem_json(noise.problem, out / "problem.json");  // the search alone: qos_search --problem
    std::printf("   chosen:");
    for (const std::size_t m : found.chosen) {
        std::printf(" %s (%.3f)", cat.candidates[m].name.c_str(), cat.candidates[m].relative_power);
    }
    std::printf("\n   %-28s %7s %10s", "layer", "ops %", "tau");
    for (const auto& p : found.points) std::printf("  %-22s", ("OP s=" + std::to_string(p.scale).substr(0, 4)).c_str());
    std::printf("\n");
    for (std::size_t l = 0; l < noise.problem.layers.size(); ++l) {
        std::printf("   %-28s %7.2f %10.1f", noise.problem.layers[l].name.c_str(), percent(noise.shares[l]),
                    noise.tau[l]);
        for (const auto& p : found.points) std::printf("  %-22s", cat.candidates[p.assignment[l]].name.c_str());
        std::printf("\n");
    }
    const std::size_t ops = found.points.size();
    std::vector<op_result> results(ops);
    std::vector<plan_vector> op_plans;
    std::vector<qos::operating_point_setup> setups;
    for (std::size_t i = 0; i < ops; ++i) {
        results[i].scale = found.points[i].scale;
        results[i].relative_power = found.points[i].relative_power;
        op_plans.push_back(library.plans(found.points[i].assignment));
        setups.push_back({op_plans.back()});
        std::printf("   OP %zu (scale %.3g): relative multiplication power %.3f, %.1f %% savings\n", i,
                    found.points[i].scale, found.points[i].relative_power, percent(found.points[i].savings()));
    }

    // Shared fine-tuning.
    const nn::dataset finetune_data = data.train.subset(0, std::min(o.finetune_subset, data.train.size()));
    // Each OP starts from the AGN-trained model with its own batch norm, re-estimated under its multipliers (their
    // mean error shifts every channel).
    nn::set_operating_points(*model, ops);
    for (std::size_t i = 0; i < ops; ++i) {
        nn::select_operating_point(*model, i);
        nn::assign_multipliers(*model, op_plans[i]);
        nn::recalibrate_batch_norm(*model, data.train);
        results[i].before = nn::evaluate(*model, data.test);
        std::printf("   OP %zu before fine-tuning (batch norm re-estimated): test top-1 %.2f %%\n", i,
                    percent(results[i].before.top1));
    }
    examples::stage(++step, "shared fine-tuning: every mini-batch runs all " + std::to_string(ops) +
                                " OPs (shared weights, per-OP batch norm and biases), " +
                                std::to_string(o.finetune_epochs) + " epoch(s) on " +
                                std::to_string(finetune_data.size()) + " images, lr " + std::to_string(o.finetune_lr));
    (void)qos::train_shared(*model, finetune_data, setups, finetune_options(o, 3));
    const auto shared_evals = qos::evaluate_operating_points(*model, data.test, setups);
    for (std::size_t i = 0; i < ops; ++i) results[i].shared = shared_evals[i];
    const nn::parameter_overhead overhead = nn::operating_point_overhead(*model);
    std::printf("   per-OP parameters: %.2f %% of the model (paper's measure: batch-norm affine parameters), %.2f %% "
                "with biases\n",
                percent(overhead.paper_ratio), percent(overhead.ratio_with_biases));

    // Int8 deployment with run-time switching.
    examples::stage(++step, "int8 deployment: one model, set_operating_point(i) switches multipliers and "
                            "requantisation");
    nn::select_operating_point(*model, 0);
    const nn::dataset calibration = data.train.subset(0, std::min<std::size_t>(data.train.size(), 512));
    nn::int8_model deployed = nn::compile_int8_operating_points(*model, calibration.images, op_plans);
    double switch_ns = 0.0;
    for (std::size_t i = 0; i < ops; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        deployed.set_operating_point(i);
        switch_ns = std::max(switch_ns, 1e9 * examples::seconds_since(t0));
        nn::tensor logits;
        deployed.forward(data.test.images, logits);
        results[i].int8_top1 = top1_of(logits, data.test.labels);
        std::printf("   OP %zu: int8 top-1 %.2f %%\n", i, percent(results[i].int8_top1));
    }

    // Baselines.
    std::vector<std::pair<std::size_t, nn::evaluation>> single_curve;
    if (o.baselines) {
        auto baseline = examples::build_model(o.base, data.train);
        nn::quantise(*baseline, o.base.quantisation());
        const nn::dataset curve_data = data.test.subset(0, std::min(o.baseline_images, data.test.size()));
        examples::stage(++step, "baseline: one multiplier in every layer, each catalogue multiplier, on " +
                                    std::to_string(curve_data.size()) +
                                    " test images (batch norm re-estimated on 512 training images, no retraining)");
        for (std::size_t m = 0; m < cat.candidates.size(); ++m) {
            if (cat.candidates[m].exact || cat.candidates[m].relative_power >= 1.0) continue;
            after_agn.restore(*baseline);
            nn::assign_multiplier(*baseline, library.plan(m));
            nn::recalibrate_batch_norm(*baseline, data.train, 512);
            single_curve.push_back({m, nn::evaluate(*baseline, curve_data)});
        }
        nn::assign_multiplier(*baseline, nullptr);
        for (std::size_t i = 0; i < ops; ++i) {
            // The single multiplier with the best curve accuracy among those saving at least as much as OP i.
            std::size_t best = cat.candidates.size();
            double best_acc = -1.0;
            for (const auto& [m, e] : single_curve) {
                if (cat.candidates[m].relative_power <= results[i].relative_power + 1e-12 && e.top1 > best_acc) {
                    best = m;
                    best_acc = e.top1;
                }
            }
            if (best == cat.candidates.size()) continue;
            examples::stage(++step, "baseline for OP " + std::to_string(i) + ": " + cat.candidates[best].name +
                                        " in every layer, retrained as the shared fine-tuning (" +
                                        std::to_string(o.finetune_epochs) + " epoch(s))");
            after_agn.restore(*baseline);
            nn::assign_multiplier(*baseline, library.plan(best));
            nn::recalibrate_batch_norm(*baseline, data.train);
            (void)nn::train(*baseline, finetune_data, finetune_options(o, 4));
            results[i].single = cat.candidates[best].name;
            results[i].single_power = cat.candidates[best].relative_power;
            results[i].single_eval = nn::evaluate(*baseline, data.test);
            results[i].has_single = true;
        }
        for (std::size_t i = 0; i < ops && o.full_retraining; ++i) {
            examples::stage(++step, "baseline for OP " + std::to_string(i) + ": full retraining of a separate model "
                                                                             "with this OP's multipliers");
            after_agn.restore(*baseline);
            nn::assign_multipliers(*baseline, op_plans[i]);
            nn::recalibrate_batch_norm(*baseline, data.train);
            (void)nn::train(*baseline, finetune_data, finetune_options(o, 3));
            results[i].full = nn::evaluate(*baseline, data.test);
            results[i].has_full = true;
        }
    }

    // Report.
    std::printf("\n%-4s %6s %9s %9s %9s %9s %9s %9s %12s  %s\n", "OP", "scale", "power", "savings", "top-1", "top-5",
                "loss pp", "int8", "full retr.", "one multiplier (power): top-1");
    for (std::size_t i = 0; i < ops; ++i) {
        const auto& r = results[i];
        std::printf("%-4zu %6.3g %9.3f %8.1f%% %9.2f %9.2f %9.2f %9.2f %12s  %s\n", i, r.scale, r.relative_power,
                    percent(1.0 - r.relative_power), percent(r.shared.top1), percent(r.shared.top5),
                    percent(qat.top1 - r.shared.top1), percent(r.int8_top1),
                    r.has_full ? std::to_string(percent(r.full.top1)).substr(0, 5).c_str() : "-",
                    r.has_single ? (r.single + " (" + std::to_string(r.single_power).substr(0, 5) + "): " +
                                    std::to_string(percent(r.single_eval.top1)).substr(0, 5))
                                       .c_str()
                                 : "-");
    }
    std::printf("QAT (exact): top-1 %.2f %%, top-5 %.2f %%; per-OP parameter overhead %.2f %%; OP switch %.0f ns\n",
                percent(qat.top1), percent(qat.top5), percent(overhead.paper_ratio), switch_ns);

    {
        std::ostringstream csv;
        csv << "op,scale,relative_power,power_savings_percent,top1,top5,top1_loss_pp,int8_top1,top1_before_finetuning,"
               "full_retraining_top1,single_multiplier,single_relative_power,single_top1\n";
        for (std::size_t i = 0; i < ops; ++i) {
            const auto& r = results[i];
            csv << i << ',' << r.scale << ',' << r.relative_power << ',' << percent(1.0 - r.relative_power) << ','
                << percent(r.shared.top1) << ',' << percent(r.shared.top5) << ',' << percent(qat.top1 - r.shared.top1)
                << ',' << percent(r.int8_top1) << ',' << percent(r.before.top1) << ','
                << (r.has_full ? std::to_string(percent(r.full.top1)) : "") << ',' << r.single << ','
                << (r.has_single ? std::to_string(r.single_power) : "") << ','
                << (r.has_single ? std::to_string(percent(r.single_eval.top1)) : "") << '\n';
        }
        examples::write_text(out / "operating_points.csv", csv.str());
    }
    {
        std::ostringstream csv;
        csv << "layer,operations,operation_share,sigma,tau";
        for (std::size_t i = 0; i < ops; ++i) csv << ",op" << i;
        csv << '\n';
        for (std::size_t l = 0; l < noise.problem.layers.size(); ++l) {
            csv << noise.problem.layers[l].name << ',' << noise.problem.layers[l].operations << ','
                << noise.shares[l] << ',' << noise.sigmas[l] << ',' << noise.tau[l];
            for (const auto& p : found.points) csv << ',' << cat.candidates[p.assignment[l]].name;
            csv << '\n';
        }
        examples::write_text(out / "assignment.csv", csv.str());
    }
    {
        std::ostringstream csv;
        csv << "multiplier,relative_power,power_savings_percent,top1\n";
        for (const auto& [m, e] : single_curve) {
            csv << cat.candidates[m].name << ',' << cat.candidates[m].relative_power << ','
                << percent(1.0 - cat.candidates[m].relative_power) << ',' << percent(e.top1) << '\n';
        }
        examples::write_text(out / "single.csv", csv.str());
    }
    nlohmann::json j;
    j["model"] = o.base.model;
    j["data"] = data.train.name;
    j["scheme"] = o.base.scheme;
    j["quick"] = o.quick;
    j["qat"] = {{"top1", percent(qat.top1)}, {"top5", percent(qat.top5)}};
    j["after_agn"] = {{"top1", percent(noise.after_agn.top1)}};
    j["lambda"] = o.lambda;
    j["search"] = {{"multipliers", o.multipliers}, {"scales", o.scales}, {"original", o.original},
                   {"inertia", found.inertia}};
    for (const std::size_t m : found.chosen) {
        j["chosen"].push_back({{"name", cat.candidates[m].name}, {"relative_power", cat.candidates[m].relative_power}});
    }
    j["overhead"] = {{"paper_ratio_percent", percent(overhead.paper_ratio)},
                     {"with_biases_percent", percent(overhead.ratio_with_biases)},
                     {"per_op_parameters", overhead.per_op},
                     {"total_parameters", overhead.total}};
    j["switch_nanoseconds"] = switch_ns;
    for (std::size_t i = 0; i < ops; ++i) {
        const auto& r = results[i];
        nlohmann::json p = {{"scale", r.scale},
                            {"relative_power", r.relative_power},
                            {"power_savings_percent", percent(1.0 - r.relative_power)},
                            {"top1", percent(r.shared.top1)},
                            {"top5", percent(r.shared.top5)},
                            {"top1_loss_pp", percent(qat.top1 - r.shared.top1)},
                            {"int8_top1", percent(r.int8_top1)},
                            {"top1_before_finetuning", percent(r.before.top1)}};
        if (r.has_full) p["full_retraining_top1"] = percent(r.full.top1);
        if (r.has_single) {
            p["single_multiplier"] = {{"name", r.single}, {"relative_power", r.single_power},
                                      {"top1", percent(r.single_eval.top1)}};
        }
        std::vector<std::string> names;
        for (const std::size_t m : found.points[i].assignment) names.push_back(cat.candidates[m].name);
        p["assignment"] = names;
        j["operating_points"].push_back(p);
    }
    j["seconds"] = examples::seconds_since(start);
    examples::write_text(out / "results.json", j.dump(2) + "\n");

    if (o.base.plot) {
        const std::string op_csv = (out / "operating_points.csv").string();
        const std::string single_csv = (out / "single.csv").string();
        char qat_line[64];
        std::snprintf(qat_line, sizeof qat_line, "%.4f", percent(qat.top1));
        std::string script =
            "set terminal pngcairo size 960,600 noenhanced\nset output " +
            examples::gnuplot_string((out / "qos.png").string()) + "\nset datafile separator ','\nset title " +
            examples::gnuplot_string(o.base.model + " on " + data.train.name + ": operating points vs one multiplier "
                                                                               "for all layers") +
            "\nset xlabel 'multiplication-power savings (%)'\nset ylabel 'test top-1 (%)'\nset grid\n"
            "set key bottom left box opaque\nset yrange [" + std::to_string(std::max(0.0, percent(qat.top1) - 25.0)) +
            ":" + std::to_string(std::min(100.0, percent(qat.top1) + 2.0)) + "]\n"
            "plot " + examples::gnuplot_string(op_csv) +
            " skip 1 using 4:5 with linespoints pt 7 ps 1.5 lw 2 title 'QoS operating points (shared fine-tuning)', "
            "'' skip 1 using 4:($10 > 0 ? $10 : 1/0) with points pt 6 ps 1.8 title 'full retraining per OP', "
            "'' skip 1 using (100 * (1 - $12)):($13 > 0 ? $13 : 1/0) with points pt 5 ps 1.3 title 'one multiplier, "
            "retrained', " + examples::gnuplot_string(single_csv) +
            " skip 1 using 3:4 with points pt 1 title 'one multiplier, not retrained (" +
            std::to_string(o.baseline_images) + " images)', " + qat_line + " with lines dt 2 title 'QAT, exact'\n";
        examples::run_gnuplot(script, out / "qos.png");
    }
    std::printf("\nwrote %s/{operating_points.csv, assignment.csv, single.csv, results.json%s, problem.json, qat_model/} "
                "in %.0f s\n",
                out.string().c_str(), o.base.plot ? ", qos.png" : "", examples::seconds_since(start));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    options o;
    CLI::App app{"approxnn qos_pipeline: n approximate multipliers, several operating points, shared fine-tuning, "
                 "run-time switching (the main job)"};
    o.base.add_to(app);
    o.noise.add_to(app);
    app.add_flag("--quick", o.quick, "small subsets and short training (about a minute; CI runs this)");
    app.add_option("--lambda", o.lambda, "AGN reward weight")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("-n,--multipliers", o.multipliers, "number of distinct multipliers to choose")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--scales", o.scales, "one operating point per scale of the tolerances, strict to loose")
        ->delimiter(',')->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--restarts", o.restarts, "k-means restarts")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("--original", o.original, "the original search (one k-means run, no exactly-n, no monotone OPs)");
    app.add_option("--finetune-epochs", o.finetune_epochs, "shared fine-tuning epochs")->capture_default_str();
    app.add_option("--finetune-lr", o.finetune_lr, "fine-tuning learning rate (cosine)")->capture_default_str();
    app.add_option("--finetune-subset", o.finetune_subset, "fine-tune on the first N training images")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("!--no-baselines", o.baselines, "skip the baselines (one multiplier everywhere; full retraining per OP)");
    app.add_flag("!--no-full-retraining", o.full_retraining,
                 "skip retraining a separate model per OP with the same budget (the shared fine-tuning's reference; "
                 "about a minute: 3 x 22 s measured in the main job)");
    app.add_option("--baseline-images", o.baseline_images, "test images for the one-multiplier curve")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--output", o.base.output, "output directory (default approxnn-output/qos/<model>)");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qos_pipeline: %s\n", e.what());
        return 1;
    }
}
