// multiplier_report: the multiplier catalogue as a table (text, CSV, JSON), sorted by power, and PNG heat maps of
// error maps.
//
//   multiplier_report                              the default catalogue, heat map of drum_u8_k4
//   multiplier_report --catalogue DIR              a catalogue of your own (tables + catalogue.json/.csv)
//   multiplier_report --heatmap mitchell_s8 ...    heat maps of any catalogue entry or closed-form design
//   multiplier_report --export-tables DIR --format npy   write the catalogue as table files + catalogue.json

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "approxnn/core/csv.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/catalogue_io.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/statistics.hpp"
#include "approxnn/multipliers/table_io.hpp"
#include "gnuplot.hpp"

namespace fs = std::filesystem;
namespace amul = approxnn::multipliers;
using approxnn::signedness;

namespace {

void print_table(const amul::catalogue& c, signedness s) {
    const amul::catalogue rows = c.subset(s).sorted_by_power();
    if (rows.empty()) return;
    std::printf("\n%s operands: %zu multipliers, cheapest first\n", std::string(to_string(s)).c_str(), rows.size());
    std::printf("%-34s %-28s %-10s %9s %9s %7s %9s %10s %7s %s\n", "name", "family", "parameters", "MAE%", "WCE%",
                "EP%", "MRE%", "bias", "power", "power source");
    for (const amul::catalogue_entry& e : rows) {
        const amul::error_statistics& st = e.statistics();
        std::printf("%-34s %-28s %-10s %9.4f %9.4f %7.2f %9.3f %10.3f %7.3f %s\n", e.name().c_str(),
                    e.family().c_str(), e.parameter_text().c_str(), st.mae_percent, st.wce_percent, st.ep_percent,
                    st.mre_percent, st.bias, e.power().relative, std::string(to_string(e.power().origin)).c_str());
    }
}

void write_csv(const amul::catalogue& c, const fs::path& path) {
    std::ofstream out(path);
    if (!out) throw approxnn::io_error("cannot write " + path.string());
    out << "name,family,parameters,signedness,weight_operand,mae,mae_percent,wce,wce_percent,ep_percent,"
           "mre_percent,mse,bias,variance,min_error,max_error,commutative,relative_power,power_mw,power_origin,"
           "power_source\n";
    for (const signedness s : {signedness::unsigned_operands, signedness::signed_operands}) {
        for (const amul::catalogue_entry& e : c.subset(s).sorted_by_power()) {
            const amul::error_statistics& st = e.statistics();
            out << approxnn::csv_field(e.name()) << ',' << approxnn::csv_field(e.family()) << ','
                << approxnn::csv_field(e.parameter_text()) << ',' << to_string(s) << ','
                << to_string(e.table().weight_operand()) << ',' << st.mae << ',' << st.mae_percent << ',' << st.wce
                << ',' << st.wce_percent << ',' << st.ep_percent << ',' << st.mre_percent << ',' << st.mse << ','
                << st.bias << ',' << st.variance << ',' << st.min_error << ',' << st.max_error << ','
                << (st.commutative ? "true" : "false") << ',' << e.power().relative << ','
                << (e.power().milliwatts ? std::to_string(*e.power().milliwatts) : "") << ','
                << to_string(e.power().origin) << ',' << approxnn::csv_field(e.power().source) << '\n';
        }
    }
}

void write_json(const amul::catalogue& c, const fs::path& path) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const amul::catalogue_entry& e : c.sorted_by_power()) {
        const amul::error_statistics& st = e.statistics();
        nlohmann::ordered_json parameters = nlohmann::ordered_json::object();
        for (const amul::parameter_value& p : e.parameters()) parameters[p.name] = p.value;
        rows.push_back({{"name", e.name()},
                        {"family", e.family()},
                        {"parameters", parameters},
                        {"signedness", std::string(to_string(e.operand_signedness()))},
                        {"mae", st.mae},
                        {"mae_percent", st.mae_percent},
                        {"wce", st.wce},
                        {"wce_percent", st.wce_percent},
                        {"ep_percent", st.ep_percent},
                        {"mre_percent", st.mre_percent},
                        {"mse", st.mse},
                        {"bias", st.bias},
                        {"variance", st.variance},
                        {"commutative", st.commutative},
                        {"relative_power", e.power().relative},
                        {"power_origin", std::string(to_string(e.power().origin))},
                        {"power_source", e.power().source}});
    }
    std::ofstream out(path);
    if (!out) throw approxnn::io_error("cannot write " + path.string());
    out << rows.dump(2) << '\n';
}

/// The table called `name`: a catalogue entry, else a closed-form design parsed from the name.
amul::table_multiplier find_table(const amul::catalogue& c, const std::string& name) {
    if (const amul::catalogue_entry* e = c.find(name)) return e->table();
    return amul::design_instance::parse(name).table();
}

void write_heatmap(const amul::table_multiplier& table, const fs::path& directory) {
    const amul::error_map map = amul::compute_error_map(table);
    const amul::error_statistics st = amul::compute_statistics(table);
    const fs::path data = directory / ("error_map_" + table.name() + ".dat");
    const fs::path png = directory / ("error_map_" + table.name() + ".png");
    const int lo = table.is_signed() ? -128 : 0;
    {
        // Rows: first operand (activation), columns: second operand (weight), both in increasing value order.
        std::ofstream out(data);
        if (!out) throw approxnn::io_error("cannot write " + data.string());
        for (int first = lo; first < lo + 256; ++first) {
            for (int second = lo; second < lo + 256; ++second) {
                out << map.at(first, second) << (second + 1 < lo + 256 ? ' ' : '\n');
            }
        }
    }
    const long long range = st.wce > 0 ? st.wce : 1;
    const bool weight_second = table.weight_operand() == approxnn::operand_position::second;
    char title[256];
    std::snprintf(title, sizeof title, "%s  (MAE %.2f, WCE %lld, EP %.1f%%, bias %.3f)", table.name().c_str(), st.mae,
                  static_cast<long long>(st.wce), st.ep_percent, st.bias);
    std::string script;
    script += "set terminal pngcairo size 900,800 font 'sans,11'\n";
    script += "set output " + examples::gnuplot_string(png.string()) + "\n";
    script += "set title " + examples::gnuplot_string(title) + " noenhanced\n";
    script += "set xlabel " + examples::gnuplot_string(std::string("second operand") +
                                                       (weight_second ? " (weight)" : " (activation)")) + "\n";
    script += "set ylabel " + examples::gnuplot_string(std::string("first operand") +
                                                       (weight_second ? " (activation)" : " (weight)")) + "\n";
    script += "set cblabel 'error M(a,b) - a*b'\n";
    script += "set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n";
    script += "set cbrange [" + std::to_string(-range) + ":" + std::to_string(range) + "]\n";
    script += "set xrange [" + std::to_string(lo) + "-0.5:" + std::to_string(lo + 255) + ".5]\n";
    script += "set yrange [" + std::to_string(lo) + "-0.5:" + std::to_string(lo + 255) + ".5]\n";
    script += "set size ratio -1\n";
    script += "plot " + examples::gnuplot_string(data.string()) + " matrix using ($1+(" + std::to_string(lo) +
              ")):($2+(" + std::to_string(lo) + ")):3 with image notitle\n";
    examples::run_gnuplot(script, png);
    std::printf("heat map: %s\n", png.string().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"approxnn multiplier report: error statistics and power of a multiplier catalogue"};
    std::string catalogue_path;
    std::string output = "approxnn-output/multipliers";
    std::vector<std::string> heatmaps;
    std::string export_dir;
    std::string export_format = "csv";
    std::string only;
    app.add_option("--catalogue", catalogue_path,
                   "directory (or metadata file) of a catalogue of your own; default: the built-in catalogue");
    app.add_option("--output", output, "directory for the CSV, JSON and PNG files")->capture_default_str();
    app.add_option("--heatmap", heatmaps,
                   "write the error-map heat map of this multiplier (a catalogue name or a design name such as "
                   "drum_u8_k4; repeatable; default drum_u8_k4)");
    app.add_option("--export-tables", export_dir, "also write every table and catalogue.json into this directory");
    app.add_option("--format", export_format, "table format for --export-tables")
        ->check(CLI::IsMember({"csv", "npy", "tfapprox"}))
        ->capture_default_str();
    app.add_option("--signedness", only, "report only signed or unsigned multipliers")
        ->check(CLI::IsMember({"signed", "unsigned"}));
    CLI11_PARSE(app, argc, argv);

    try {
        amul::catalogue c = catalogue_path.empty() ? amul::default_catalogue() : amul::load_catalogue(catalogue_path);
        if (!only.empty()) {
            c = c.subset(only == "signed" ? signedness::signed_operands : signedness::unsigned_operands);
        }
        std::printf("approxnn multiplier report: %zu multipliers from %s\n", c.size(),
                    catalogue_path.empty() ? "the built-in default catalogue" : catalogue_path.c_str());
        std::printf("power: relative to the exact multiplier of the same signedness; 'estimated' figures come from "
                    "approxnn's gate-count model (docs/power-estimate.md), not from synthesis\n");
        print_table(c, signedness::unsigned_operands);
        print_table(c, signedness::signed_operands);

        fs::create_directories(output);
        write_csv(c, fs::path(output) / "multipliers.csv");
        write_json(c, fs::path(output) / "multipliers.json");
        std::printf("\ntable: %s, %s\n", (fs::path(output) / "multipliers.csv").string().c_str(),
                    (fs::path(output) / "multipliers.json").string().c_str());
        if (heatmaps.empty()) heatmaps.push_back(catalogue_path.empty() ? "drum_u8_k4" : c[0].name());
        for (const std::string& name : heatmaps) write_heatmap(find_table(c, name), output);
        if (!export_dir.empty()) {
            amul::save_catalogue(c, export_dir, amul::parse_table_format(export_format));
            std::printf("tables: %zu files and catalogue.json in %s\n", c.size(), export_dir.c_str());
        }
    } catch (const approxnn::error& e) {
        std::fprintf(stderr, "multiplier_report: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "multiplier_report: %s\n", e.what());
        return 1;
    }
    return 0;
}
