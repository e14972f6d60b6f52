// qos_search: the QoS-Nets multiplier search (docs/qos.md) on per-layer tolerances and predicted errors from files,
// without the engine.
//
//   qos_search --problem examples/qos_search/resnet8_problem.json --output out
//   qos_search --layers layers.csv --predictions predictions.csv --powers multipliers.csv -n 4 --output out
//   qos_search --layers layers.csv --predictions predictions.csv --catalogue DIR --output out
//   qos_search --problem p.json --original                          the paper's behaviour, for comparison
//
// Prints the chosen multipliers and, per operating point, a table (layer, multiplier, r, ops share) with the
// relative multiplication power and the savings; writes result.json and result.csv into --output.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/catalogue_io.hpp"
#include "approxnn/qos/problem_io.hpp"
#include "approxnn/qos/search.hpp"

namespace fs = std::filesystem;
namespace qos = approxnn::qos;

int main(int argc, char** argv) {
    CLI::App app{"approxnn qos_search: n multipliers and one operating point per tolerance scale (QoS-Nets)"};
    std::string problem_file, layers_file, predictions_file, powers_file, catalogue_dir, output = "qos_search_out";
    qos::search_options options;
    bool original = false;
    auto* problem_opt = app.add_option("--problem", problem_file, "search problem as JSON (layers, multipliers, "
                                                                  "predicted_error)");
    auto* layers_opt = app.add_option("--layers", layers_file, "layers.csv: name,operations,tolerance");
    auto* pred_opt = app.add_option("--predictions", predictions_file,
                                    "predictions.csv: layer,multiplier,predicted_std (long format)");
    auto* powers_opt = app.add_option("--powers", powers_file, "multipliers.csv: name,relative_power[,exact]");
    app.add_option("--catalogue", catalogue_dir,
                   "catalogue directory or metadata file: the multipliers' powers (and exactness) by name");
    problem_opt->excludes(layers_opt)->excludes(pred_opt)->excludes(powers_opt);
    layers_opt->needs(pred_opt);
    pred_opt->needs(layers_opt);
    std::size_t n = options.multipliers;
    app.add_option("-n,--multipliers", n, "number of distinct multipliers")->check(CLI::PositiveNumber);
    std::vector<double> scales = options.scales;
    app.add_option("--scales", scales, "tolerance scales, one OP each (comma separated)")->delimiter(',');
    std::size_t restarts = options.restarts;
    app.add_option("--restarts", restarts, "k-means runs (ignored with --original: 1)")->check(CLI::PositiveNumber);
    std::uint64_t seed = options.seed;
    app.add_option("--seed", seed, "random seed");
    app.add_flag("--original", original, "the paper's behaviour: 1 run, no exactly-n completion, no monotonicity");
    app.add_option("--output", output, "output directory (result.json, result.csv)");
    CLI11_PARSE(app, argc, argv);

    try {
        if (problem_file.empty() && layers_file.empty()) {
            throw approxnn::parameter_error("give --problem FILE.json or --layers and --predictions");
        }
        std::vector<qos::candidate> powers;
        std::string powers_source;
        if (!catalogue_dir.empty()) {
            powers = qos::candidates_from_catalogue(approxnn::multipliers::load_catalogue(catalogue_dir));
            powers_source = "catalogue " + catalogue_dir;
        } else if (!powers_file.empty()) {
            powers = qos::read_candidates_csv(powers_file);
            powers_source = powers_file;
        }
        qos::search_problem problem;
        if (!problem_file.empty()) {
            problem = qos::read_problem_json(problem_file, powers, powers_source);
        } else {
            if (powers.empty()) {
                throw approxnn::parameter_error("--layers/--predictions need the multipliers' powers: --powers FILE "
                                                "or --catalogue DIR");
            }
            problem = qos::read_problem_csv(layers_file, predictions_file, powers, powers_source);
        }
        if (original) options = qos::search_options::original();
        options.multipliers = n;
        options.scales = scales;
        if (!original) options.restarts = restarts;
        options.seed = seed;

        const qos::search_result result = qos::search(problem, options);

        std::printf("%zu layers, %zu candidate multipliers (%zu acceptable somewhere), n = %zu, %s\n",
                    problem.layers.size(), problem.multipliers.size(), result.columns.size(), options.multipliers,
                    original ? "original method" : "exactly-n, monotone");
        std::printf("chosen (%zu), cheapest first:", result.chosen.size());
        for (const std::size_t m : result.chosen) {
            std::printf(" %s (%.3f)", problem.multipliers[m].name.c_str(), problem.multipliers[m].relative_power);
        }
        std::printf("\n");
        for (const qos::operating_point& op : result.points) {
            std::printf("\nOP scale %g: relative power %.4f, savings %.1f %%, worst r %.3f\n", op.scale,
                        op.relative_power, 100 * op.savings(), qos::worst_ratio(problem, op));
            std::printf("  %-24s %-28s %8s %9s\n", "layer", "multiplier", "r", "ops share");
            for (const qos::assignment_row& row : qos::operating_point_table(problem, op)) {
                std::printf("  %-24s %-28s %8.3f %8.2f%%\n", row.layer.c_str(), row.multiplier.c_str(), row.ratio,
                            100 * row.operations_share);
            }
        }
        std::error_code ec;
        fs::create_directories(output, ec);
        if (ec) throw approxnn::io_error("cannot create directory '" + output + "': " + ec.message());
        qos::write_result_json(problem, options, result, fs::path(output) / "result.json");
        qos::write_result_csv(problem, result, fs::path(output) / "result.csv");
        std::printf("\nwrote %s and %s\n", (fs::path(output) / "result.json").string().c_str(),
                    (fs::path(output) / "result.csv").string().c_str());
    } catch (const approxnn::error& e) {
        std::fprintf(stderr, "qos_search: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qos_search: %s\n", e.what());
        return 1;
    }
    return 0;
}
