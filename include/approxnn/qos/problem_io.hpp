#pragma once
// Reading and writing search problems and results (docs/qos.md, "File formats").
//
// JSON problem:
//   { "layers": [ {"name": "conv1", "operations": 442368, "tolerance": 35.2}, ... ],
//     "multipliers": [ {"name": "exact_u8", "relative_power": 1.0, "exact": true}, ... ],
//     "predicted_error": [ [sigma_hat of layer 0 for each multiplier], ... ] }     one row per layer
// CSV problem (three files):
//   layers.csv        name,operations,tolerance
//   predictions.csv   layer,multiplier,predicted_std       (long format; other columns are ignored)
//   multipliers.csv   name,relative_power[,exact]          (or the powers of a catalogue directory)
//   The multipliers of the problem are those of the power list named in predictions.csv plus every exact entry
//   (whose predictions may be omitted: 0), in the power list's order. Every (layer, multiplier) pair needs a row.
// Powers may come from a catalogue (candidates_from_catalogue): a JSON problem's relative_power / exact are then
// taken from it, by name.
//
// Errors: format_error naming the file, the line or field and the value (including a problem that fails
// search_problem::check(), an unknown layer or multiplier name, a missing pair); io_error for unreadable files.

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "approxnn/core/csv.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/qos/search.hpp"

namespace approxnn::qos {

namespace detail {

using json = nlohmann::ordered_json;

inline const json& json_member(const json& object, const char* key, const std::string& where) {
    if (!object.is_object()) throw format_error(where + ": must be an object, got " + object.dump());
    if (!object.contains(key)) throw format_error(where + ": '" + key + "' is required");
    return object[key];
}

inline double json_to_number(const json& v, const std::string& where) {
    if (!v.is_number()) throw format_error(where + ": must be a number, got " + v.dump());
    const double x = v.get<double>();
    if (!std::isfinite(x)) throw format_error(where + ": " + v.dump() + " is not finite");
    return x;
}

inline double non_negative(double x, const std::string& where) {
    if (x < 0) throw format_error(where + ": " + std::to_string(x) + " is negative");
    return x;
}

inline bool parse_bool(std::string_view text, const std::string& where) {
    if (text == "true" || text == "1" || text == "yes") return true;
    if (text == "false" || text == "0" || text == "no" || text.empty()) return false;
    throw format_error(where + ": '" + std::string(text) + "' is not a boolean (true/false, 1/0)");
}

inline void check_in_file(const search_problem& p, const std::string& file) {
    try {
        p.check();
    } catch (const parameter_error& e) {
        throw format_error(file + ": " + e.what());
    }
}

/// The powers of `names` looked up in `powers`; format_error naming `file` for a name that is not there.
inline const candidate& find_power(std::span<const candidate> powers, const std::string& name, const std::string& where,
                                   const std::string& source) {
    for (const candidate& c : powers) {
        if (c.name == name) return c;
    }
    throw format_error(where + ": unknown multiplier '" + name + "' (not in " + source + ")");
}

/// CSV header -> column index; format_error naming the missing required column.
inline std::map<std::string, std::size_t> csv_columns(csv_reader& reader, const std::string& file,
                                                      std::initializer_list<const char*> required) {
    std::vector<std::string> header;
    if (!reader.next(header)) throw format_error(file + ": empty file (no header line)");
    std::map<std::string, std::size_t> column;
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (!column.emplace(header[i], i).second) {
            throw format_error(reader.where() + ": column '" + header[i] + "' appears twice");
        }
    }
    for (const char* name : required) {
        if (!column.contains(name)) throw format_error(reader.where() + ": the '" + name + "' column is missing");
    }
    return column;
}

inline std::string number_text(double x) {
    std::ostringstream out;
    out.precision(std::numeric_limits<double>::max_digits10);
    out << x;
    return out.str();
}

}  // namespace detail

/// The catalogue's entries as candidates (name, relative power, exact = the table has no error).
[[nodiscard]] inline std::vector<candidate> candidates_from_catalogue(const multipliers::catalogue& c) {
    std::vector<candidate> result;
    for (const multipliers::catalogue_entry& e : c) result.push_back({e.name(), e.power().relative, e.is_exact()});
    return result;
}

/// Reads a JSON problem. With `powers`, each multiplier's relative_power and exact come from the entry of the
/// same name there (`powers_source` names it in errors) and may be omitted in the file.
[[nodiscard]] inline search_problem read_problem_json(const std::filesystem::path& path,
                                                      std::span<const candidate> powers = {},
                                                      const std::string& powers_source = "the catalogue") {
    using detail::json;
    const std::string file = path.string();
    std::ifstream in = approxnn::open_for_reading(path);
    json doc;
    try {
        doc = json::parse(in);
    } catch (const json::parse_error& e) {
        throw format_error(file + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_object()) throw format_error(file + ": the top level must be a JSON object");
    search_problem p;
    const json& layers = detail::json_member(doc, "layers", file);
    if (!layers.is_array()) throw format_error(file + ": 'layers' must be an array");
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const std::string where = file + ": layers[" + std::to_string(i) + "]";
        const json& name = detail::json_member(layers[i], "name", where);
        if (!name.is_string()) throw format_error(where + ".name: must be a string, got " + name.dump());
        layer_tolerance l;
        l.name = name.get<std::string>();
        const std::string at = where + " ('" + l.name + "')";
        l.operations = detail::non_negative(
            detail::json_to_number(detail::json_member(layers[i], "operations", at), at + ".operations"),
            at + ".operations");
        l.tolerance = detail::non_negative(
            detail::json_to_number(detail::json_member(layers[i], "tolerance", at), at + ".tolerance"),
            at + ".tolerance");
        p.layers.push_back(std::move(l));
    }
    const json& mults = detail::json_member(doc, "multipliers", file);
    if (!mults.is_array()) throw format_error(file + ": 'multipliers' must be an array");
    for (std::size_t i = 0; i < mults.size(); ++i) {
        const std::string where = file + ": multipliers[" + std::to_string(i) + "]";
        const json& name = detail::json_member(mults[i], "name", where);
        if (!name.is_string()) throw format_error(where + ".name: must be a string, got " + name.dump());
        candidate c;
        c.name = name.get<std::string>();
        const std::string at = where + " ('" + c.name + "')";
        if (!powers.empty()) {
            const candidate& known = detail::find_power(powers, c.name, at, powers_source);
            c.relative_power = known.relative_power;
            c.exact = known.exact;
        } else {
            c.relative_power = detail::json_to_number(detail::json_member(mults[i], "relative_power", at),
                                                      at + ".relative_power");
            if (mults[i].contains("exact")) {
                if (!mults[i]["exact"].is_boolean()) {
                    throw format_error(at + ".exact: must be true or false, got " + mults[i]["exact"].dump());
                }
                c.exact = mults[i]["exact"].get<bool>();
            }
        }
        p.multipliers.push_back(std::move(c));
    }
    const json& pred = detail::json_member(doc, "predicted_error", file);
    if (!pred.is_array()) throw format_error(file + ": 'predicted_error' must be an array (one row per layer)");
    if (pred.size() != p.layers.size()) {
        throw format_error(file + ": predicted_error has " + std::to_string(pred.size()) + " rows, expected " +
                           std::to_string(p.layers.size()) + " (one per layer)");
    }
    for (std::size_t l = 0; l < pred.size(); ++l) {
        const std::string where = file + ": predicted_error[" + std::to_string(l) + "] ('" + p.layers[l].name + "')";
        if (!pred[l].is_array() || pred[l].size() != p.multipliers.size()) {
            throw format_error(where + ": must be an array of " + std::to_string(p.multipliers.size()) +
                               " numbers (one per multiplier), got " + pred[l].dump());
        }
        std::vector<double> row;
        for (std::size_t m = 0; m < pred[l].size(); ++m) {
            const std::string at = where + "[" + std::to_string(m) + "] ('" + p.multipliers[m].name + "')";
            row.push_back(detail::non_negative(detail::json_to_number(pred[l][m], at), at));
        }
        p.predicted_error.push_back(std::move(row));
    }
    detail::check_in_file(p, file);
    return p;
}

/// Writes a problem as JSON (read_problem_json gives it back exactly).
inline void write_problem_json(const search_problem& p, const std::filesystem::path& path) {
    using detail::json;
    json layers = json::array(), mults = json::array(), pred = json::array();
    for (const layer_tolerance& l : p.layers) {
        layers.push_back({{"name", l.name}, {"operations", l.operations}, {"tolerance", l.tolerance}});
    }
    for (const candidate& c : p.multipliers) {
        mults.push_back({{"name", c.name}, {"relative_power", c.relative_power}, {"exact", c.exact}});
    }
    for (const std::vector<double>& row : p.predicted_error) pred.push_back(row);
    const json doc = {{"layers", layers}, {"multipliers", mults}, {"predicted_error", pred}};
    write_file_atomically(path, doc.dump(2) + "\n");
}

/// layers.csv: name,operations,tolerance.
[[nodiscard]] inline std::vector<layer_tolerance> read_layers_csv(const std::filesystem::path& path) {
    const std::string file = path.string();
    std::ifstream in = approxnn::open_for_reading(path);
    csv_reader reader(in, file);
    const auto column = detail::csv_columns(reader, file, {"name", "operations", "tolerance"});
    std::vector<layer_tolerance> layers;
    std::vector<std::string> f;
    while (reader.next(f)) {
        if (f.size() < column.size()) {
            throw format_error(reader.where() + ": expected " + std::to_string(column.size()) + " fields, got " +
                               std::to_string(f.size()));
        }
        layer_tolerance l;
        l.name = f[column.at("name")];
        if (l.name.empty()) throw format_error(reader.where() + ": empty layer name");
        const std::string where = reader.where() + " ('" + l.name + "')";
        l.operations = detail::non_negative(parse_number(f[column.at("operations")], where + ": operations"),
                                            where + ": operations");
        l.tolerance = detail::non_negative(parse_number(f[column.at("tolerance")], where + ": tolerance"),
                                           where + ": tolerance");
        for (const layer_tolerance& other : layers) {
            if (other.name == l.name) throw format_error(where + ": layer '" + l.name + "' appears twice");
        }
        layers.push_back(std::move(l));
    }
    if (layers.empty()) throw format_error(file + ": no layers");
    return layers;
}

/// multipliers.csv: name,relative_power[,exact].
[[nodiscard]] inline std::vector<candidate> read_candidates_csv(const std::filesystem::path& path) {
    const std::string file = path.string();
    std::ifstream in = approxnn::open_for_reading(path);
    csv_reader reader(in, file);
    const auto column = detail::csv_columns(reader, file, {"name", "relative_power"});
    std::vector<candidate> result;
    std::vector<std::string> f;
    while (reader.next(f)) {
        if (f.size() < column.size()) {
            throw format_error(reader.where() + ": expected " + std::to_string(column.size()) + " fields, got " +
                               std::to_string(f.size()));
        }
        candidate c;
        c.name = f[column.at("name")];
        if (c.name.empty()) throw format_error(reader.where() + ": empty multiplier name");
        const std::string where = reader.where() + " ('" + c.name + "')";
        c.relative_power = parse_number(f[column.at("relative_power")], where + ": relative_power");
        if (!(c.relative_power > 0)) {
            throw format_error(where + ": relative_power " + f[column.at("relative_power")] + " is not > 0");
        }
        if (column.contains("exact")) c.exact = detail::parse_bool(f[column.at("exact")], where + ": exact");
        result.push_back(std::move(c));
    }
    return result;
}

/// The CSV problem: layers.csv + predictions.csv (long format) + the multipliers' powers.
[[nodiscard]] inline search_problem read_problem_csv(const std::filesystem::path& layers_path,
                                                     const std::filesystem::path& predictions_path,
                                                     std::span<const candidate> powers,
                                                     const std::string& powers_source = "the multiplier list") {
    search_problem p;
    p.layers = read_layers_csv(layers_path);
    const std::string file = predictions_path.string();
    std::ifstream in = approxnn::open_for_reading(predictions_path);
    csv_reader reader(in, file);
    const auto column = detail::csv_columns(reader, file, {"layer", "multiplier", "predicted_std"});
    std::map<std::string, std::size_t> layer_index;
    for (std::size_t l = 0; l < p.layers.size(); ++l) layer_index[p.layers[l].name] = l;
    std::map<std::string, std::size_t> power_index;
    for (std::size_t i = 0; i < powers.size(); ++i) power_index.emplace(powers[i].name, i);
    // value[layer][power index], with the line that gave it
    std::map<std::pair<std::size_t, std::size_t>, std::pair<double, std::string>> values;
    std::vector<std::string> f;
    while (reader.next(f)) {
        if (f.size() < column.size()) {
            throw format_error(reader.where() + ": expected " + std::to_string(column.size()) + " fields, got " +
                               std::to_string(f.size()));
        }
        const std::string& layer = f[column.at("layer")];
        const std::string& mult = f[column.at("multiplier")];
        const auto li = layer_index.find(layer);
        if (li == layer_index.end()) {
            throw format_error(reader.where() + ": unknown layer '" + layer + "' (not in " + layers_path.string() +
                               ")");
        }
        const auto mi = power_index.find(mult);
        if (mi == power_index.end()) {
            throw format_error(reader.where() + ": unknown multiplier '" + mult + "' (not in " + powers_source + ")");
        }
        const std::string where = reader.where() + " ('" + layer + "', '" + mult + "')";
        const double v = detail::non_negative(parse_number(f[column.at("predicted_std")], where + ": predicted_std"),
                                              where + ": predicted_std");
        if (!values.emplace(std::pair{li->second, mi->second}, std::pair{v, reader.where()}).second) {
            throw format_error(where + ": a second prediction for this pair (the first is at " +
                               values.at({li->second, mi->second}).second + ")");
        }
    }
    std::vector<bool> named(powers.size(), false);
    for (const auto& [key, value] : values) named[key.second] = true;
    std::vector<std::size_t> kept;
    for (std::size_t i = 0; i < powers.size(); ++i) {
        if (named[i] || powers[i].exact) kept.push_back(i);
    }
    for (const std::size_t i : kept) p.multipliers.push_back(powers[i]);
    p.predicted_error.assign(p.layers.size(), std::vector<double>(kept.size(), 0.0));
    for (std::size_t l = 0; l < p.layers.size(); ++l) {
        for (std::size_t k = 0; k < kept.size(); ++k) {
            const auto it = values.find({l, kept[k]});
            if (it != values.end()) {
                p.predicted_error[l][k] = it->second.first;
            } else if (!powers[kept[k]].exact) {
                throw format_error(file + ": no prediction for layer '" + p.layers[l].name + "' and multiplier '" +
                                   powers[kept[k]].name + "'");
            }
        }
    }
    detail::check_in_file(p, file);
    return p;
}

/// Writes the problem as layers.csv, predictions.csv and multipliers.csv (read_problem_csv with
/// read_candidates_csv gives it back).
inline void write_problem_csv(const search_problem& p, const std::filesystem::path& layers_path,
                              const std::filesystem::path& predictions_path,
                              const std::filesystem::path& multipliers_path) {
    using detail::number_text;
    std::string layers = "name,operations,tolerance\n";
    for (const layer_tolerance& l : p.layers) {
        layers += csv_field(l.name) + "," + number_text(l.operations) + "," + number_text(l.tolerance) + "\n";
    }
    std::string pred = "layer,multiplier,predicted_std\n";
    for (std::size_t l = 0; l < p.layers.size(); ++l) {
        for (std::size_t m = 0; m < p.multipliers.size(); ++m) {
            pred += csv_field(p.layers[l].name) + "," + csv_field(p.multipliers[m].name) + "," +
                    number_text(p.predicted_error.at(l).at(m)) + "\n";
        }
    }
    std::string mults = "name,relative_power,exact\n";
    for (const candidate& c : p.multipliers) {
        mults += csv_field(c.name) + "," + number_text(c.relative_power) + "," + (c.exact ? "true" : "false") + "\n";
    }
    write_file_atomically(layers_path, layers);
    write_file_atomically(predictions_path, pred);
    write_file_atomically(multipliers_path, mults);
}

/// result.json: the options, the chosen multipliers and every OP (per layer: multiplier, r, share).
inline void write_result_json(const search_problem& p, const search_options& options, const search_result& r,
                              const std::filesystem::path& path) {
    using detail::json;
    json chosen = json::array();
    for (const std::size_t m : r.chosen) {
        chosen.push_back({{"name", p.multipliers[m].name}, {"relative_power", p.multipliers[m].relative_power}});
    }
    json points = json::array();
    for (const operating_point& op : r.points) {
        json layers = json::array();
        for (const assignment_row& row : operating_point_table(p, op)) {
            layers.push_back({{"layer", row.layer},
                              {"multiplier", row.multiplier},
                              {"ratio", row.ratio},
                              {"operations_share", row.operations_share}});
        }
        points.push_back({{"scale", op.scale},
                          {"relative_power", op.relative_power},
                          {"savings", op.savings()},
                          {"layers", layers}});
    }
    const json doc = {{"options",
                       {{"multipliers", options.multipliers},
                        {"scales", options.scales},
                        {"restarts", options.restarts},
                        {"max_iterations", options.max_iterations},
                        {"seed", options.seed},
                        {"exactly_n", options.exactly_n},
                        {"monotone", options.monotone}}},
                      {"chosen", chosen},
                      {"inertia", r.inertia},
                      {"operating_points", points}};
    write_file_atomically(path, doc.dump(2) + "\n");
}

/// result.csv: one line per (OP, layer): op,scale,layer,multiplier,ratio,operations_share,relative_power.
inline void write_result_csv(const search_problem& p, const search_result& r, const std::filesystem::path& path) {
    using detail::number_text;
    std::string text = "op,scale,layer,multiplier,ratio,operations_share,relative_power\n";
    for (std::size_t i = 0; i < r.points.size(); ++i) {
        for (const assignment_row& row : operating_point_table(p, r.points[i])) {
            text += std::to_string(i) + "," + number_text(r.points[i].scale) + "," + csv_field(row.layer) + "," +
                    csv_field(row.multiplier) + "," + number_text(row.ratio) + "," +
                    number_text(row.operations_share) + "," + number_text(row.relative_power) + "\n";
        }
    }
    write_file_atomically(path, text);
}

}  // namespace approxnn::qos
