#pragma once
// Loading a catalogue from a directory of table files plus a metadata file, and saving one the same way
// (docs/table-files.md describes the metadata).
//
// Metadata, JSON (catalogue.json):
//   { "approxnn_catalogue": 1,                                   optional format version
//     "exact_power_mw": {"unsigned": 0.391, "signed": 0.425},    optional reference powers
//     "multipliers": [ { "name": "mul8u_1JFF", "file": "mul8u_1JFF.bin", "signedness": "unsigned",
//                        "weight_operand": "second", "power_mw": 0.391, "source": "EvoApproxLib PDK45",
//                        "relative_power": 1.0, "power_origin": "synthesised",
//                        "family": "table", "parameters": {"k": 4} }, ... ] }
// Metadata, CSV (catalogue.csv): a header with the columns name, file, signedness, weight_operand, power_mw,
// relative_power, source, family, power_origin (name, file and one power column required; others optional).
//
// Every entry needs a power: relative_power, or power_mw divided by the exact multiplier's power of the same
// signedness (exact_power_mw, or an entry whose table is exact and has power_mw). File paths are relative to the
// metadata file. Errors name the metadata file and the entry.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "approxnn/core/csv.hpp"
#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/table.hpp"
#include "approxnn/multipliers/table_io.hpp"

namespace approxnn::multipliers {

namespace detail {

/// One entry of a metadata file before its table is loaded.
struct catalogue_record {
    std::string where;  // "metadata-file: entry 'name'" for messages
    std::string name;
    std::filesystem::path file;
    std::optional<signedness> sign;
    operand_position weight = operand_position::second;
    std::optional<double> power_mw;
    std::optional<double> relative_power;
    std::optional<power_origin> origin;
    std::string source;
    std::string family = "table";
    std::vector<parameter_value> parameters;
};

inline signedness parse_signedness(std::string_view text, const std::string& where) {
    if (text == "signed" || text == "s8" || text == "int8") return signedness::signed_operands;
    if (text == "unsigned" || text == "u8" || text == "uint8") return signedness::unsigned_operands;
    throw format_error(where + ": signedness '" + std::string(text) + "' is neither 'signed' nor 'unsigned'");
}

inline operand_position parse_operand_position(std::string_view text, const std::string& where) {
    if (text == "first") return operand_position::first;
    if (text == "second") return operand_position::second;
    throw format_error(where + ": weight_operand '" + std::string(text) + "' is neither 'first' nor 'second'");
}

inline power_origin parse_power_origin(std::string_view text, const std::string& where) {
    for (const power_origin o : {power_origin::synthesised, power_origin::estimated, power_origin::user}) {
        if (to_string(o) == text) return o;
    }
    throw format_error(where + ": power_origin '" + std::string(text) +
                       "' is not one of synthesised, estimated, user");
}

inline std::string json_string(const nlohmann::ordered_json& object, const char* key, const std::string& where) {
    const nlohmann::ordered_json& v = object.at(key);
    if (!v.is_string()) throw format_error(where + ": '" + key + "' must be a string, got " + v.dump());
    return v.get<std::string>();
}

inline double json_number(const nlohmann::ordered_json& object, const char* key, const std::string& where) {
    const nlohmann::ordered_json& v = object.at(key);
    if (!v.is_number()) throw format_error(where + ": '" + key + "' must be a number, got " + v.dump());
    return v.get<double>();
}

inline std::vector<catalogue_record> read_json_metadata(const std::filesystem::path& path,
                                                        std::map<signedness, double>& exact_power_mw) {
    std::ifstream in = approxnn::open_for_reading(path);
    nlohmann::ordered_json doc;
    try {
        doc = nlohmann::ordered_json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
        throw format_error(path.string() + ": not valid JSON (" + e.what() + ")");
    }
    const std::string file = path.string();
    if (!doc.is_object()) throw format_error(file + ": the top level must be a JSON object");
    if (doc.contains("approxnn_catalogue")) {
        const nlohmann::ordered_json& version = doc["approxnn_catalogue"];
        if (!version.is_number_integer() || version.get<long long>() != 1) {
            throw format_error(file + ": unsupported approxnn_catalogue version " + version.dump() + " (expected 1)");
        }
    }
    if (doc.contains("exact_power_mw")) {
        const nlohmann::ordered_json& ref = doc["exact_power_mw"];
        if (!ref.is_object()) throw format_error(file + ": 'exact_power_mw' must be an object {\"signed\": mW, ...}");
        for (const auto& [key, value] : ref.items()) {
            if (!value.is_number()) throw format_error(file + ": exact_power_mw." + key + " must be a number");
            exact_power_mw[parse_signedness(key, file + ": exact_power_mw")] = value.get<double>();
        }
    }
    if (!doc.contains("multipliers") || !doc["multipliers"].is_array()) {
        throw format_error(file + ": needs a 'multipliers' array");
    }
    std::vector<catalogue_record> records;
    std::size_t index = 0;
    for (const nlohmann::ordered_json& item : doc["multipliers"]) {
        std::string where = file + ": multipliers[" + std::to_string(index++) + "]";
        if (!item.is_object()) throw format_error(where + " must be an object");
        catalogue_record r;
        if (!item.contains("file")) throw format_error(where + ": 'file' is required");
        r.file = json_string(item, "file", where);
        r.name = item.contains("name") ? json_string(item, "name", where) : r.file.stem().string();
        where += " ('" + r.name + "')";
        r.where = where;
        if (item.contains("signedness")) r.sign = parse_signedness(json_string(item, "signedness", where), where);
        if (item.contains("weight_operand")) {
            r.weight = parse_operand_position(json_string(item, "weight_operand", where), where);
        }
        if (item.contains("power_mw")) r.power_mw = json_number(item, "power_mw", where);
        if (item.contains("relative_power")) r.relative_power = json_number(item, "relative_power", where);
        if (item.contains("power_origin")) r.origin = parse_power_origin(json_string(item, "power_origin", where), where);
        if (item.contains("source")) r.source = json_string(item, "source", where);
        if (item.contains("family")) r.family = json_string(item, "family", where);
        if (item.contains("parameters")) {
            const nlohmann::ordered_json& p = item["parameters"];
            if (!p.is_object()) throw format_error(where + ": 'parameters' must be an object of integers");
            for (const auto& [key, value] : p.items()) {
                if (!value.is_number_integer() || value.get<long long>() < std::numeric_limits<int>::min() ||
                    value.get<long long>() > std::numeric_limits<int>::max()) {
                    throw format_error(where + ": parameter '" + key + "' must be an int, got " + value.dump());
                }
                r.parameters.push_back({key, value.get<int>()});
            }
        }
        records.push_back(std::move(r));
    }
    return records;
}

inline std::vector<catalogue_record> read_csv_metadata(const std::filesystem::path& path) {
    std::ifstream in = approxnn::open_for_reading(path);
    csv_reader reader(in, path.string());
    std::vector<std::string> header;
    if (!reader.next(header)) throw format_error(path.string() + ": empty metadata file (no header line)");
    const std::vector<std::string> known{"name",   "file",   "signedness", "weight_operand", "power_mw",
                                         "relative_power", "source", "family", "power_origin"};
    std::map<std::string, std::size_t> column;
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (std::find(known.begin(), known.end(), header[i]) == known.end()) {
            throw format_error(reader.where() + ": unknown column '" + header[i] +
                               "' (known: name, file, signedness, weight_operand, power_mw, relative_power, source, "
                               "family, power_origin)");
        }
        if (!column.emplace(header[i], i).second) {
            throw format_error(reader.where() + ": column '" + header[i] + "' appears twice");
        }
    }
    if (!column.contains("file")) throw format_error(reader.where() + ": the 'file' column is required");
    std::vector<catalogue_record> records;
    std::vector<std::string> fields;
    while (reader.next(fields)) {
        if (fields.size() != header.size()) {
            throw format_error(reader.where() + ": expected " + std::to_string(header.size()) + " fields, got " +
                               std::to_string(fields.size()));
        }
        const auto get = [&](const char* key) -> std::string {
            const auto it = column.find(key);
            return it == column.end() ? std::string() : fields[it->second];
        };
        catalogue_record r;
        r.file = get("file");
        if (r.file.empty()) throw format_error(reader.where() + ": empty 'file'");
        r.name = get("name").empty() ? r.file.stem().string() : get("name");
        r.where = reader.where() + " ('" + r.name + "')";
        if (!get("signedness").empty()) r.sign = parse_signedness(get("signedness"), r.where);
        if (!get("weight_operand").empty()) r.weight = parse_operand_position(get("weight_operand"), r.where);
        if (!get("power_mw").empty()) r.power_mw = parse_number(get("power_mw"), r.where + ": power_mw");
        if (!get("relative_power").empty()) {
            r.relative_power = parse_number(get("relative_power"), r.where + ": relative_power");
        }
        if (!get("power_origin").empty()) r.origin = parse_power_origin(get("power_origin"), r.where);
        r.source = get("source");
        if (!get("family").empty()) r.family = get("family");
        records.push_back(std::move(r));
    }
    return records;
}

inline table_multiplier load_record_table(const catalogue_record& r, const std::filesystem::path& base) {
    const std::filesystem::path path = base / r.file;
    table_format format{};
    try {
        format = table_format_from_path(path);
    } catch (const parameter_error& e) {
        throw format_error(r.where + ": " + e.what());
    }
    // The table readers name the table file; prefix the metadata file and the entry, keeping the error type.
    const auto in_entry = [&r](auto&& load) -> table_multiplier {
        try {
            return load();
        } catch (const io_error& e) {
            throw io_error(r.where + ": " + e.what());
        } catch (const format_error& e) {
            throw format_error(r.where + ": " + e.what());
        }
    };
    table_multiplier table = [&] {
        if (format == table_format::csv) {
            table_multiplier t = in_entry([&] { return load_table_csv(path); });
            if (r.sign && *r.sign != t.operand_signedness()) {
                throw format_error(r.where + ": signedness '" + std::string(to_string(*r.sign)) + "' but " +
                                   path.string() + " holds a " + std::string(to_string(t.operand_signedness())) +
                                   " table");
            }
            if (r.weight != t.weight_operand()) {
                throw format_error(r.where + ": weight_operand '" + std::string(to_string(r.weight)) + "' but " +
                                   path.string() + " has the weight as " + std::string(to_string(t.weight_operand())) +
                                   " operand");
            }
            return t;
        }
        if (!r.sign) {
            throw format_error(r.where + ": 'signedness' is required for " + std::string(to_string(format)) +
                               " table files, which do not record it");
        }
        return in_entry([&] { return load_table(path, *r.sign, r.weight); });
    }();
    table.set_name(r.name);
    if (r.power_mw) table.set_power(synthesised_power{*r.power_mw, r.source});
    return table;
}

}  // namespace detail

/// The metadata file of a catalogue directory: catalogue.json, else catalogue.csv; a file path is returned as is.
/// Throws io_error when a directory holds neither.
inline std::filesystem::path catalogue_metadata_path(const std::filesystem::path& path) {
    if (!std::filesystem::is_directory(path)) return path;
    for (const char* name : {"catalogue.json", "catalogue.csv"}) {
        if (std::filesystem::exists(path / name)) return path / name;
    }
    throw io_error("'" + path.string() + "' holds no catalogue.json or catalogue.csv");
}

/// Loads a catalogue from a metadata file (.json or .csv) or a directory holding catalogue.json / catalogue.csv.
inline catalogue load_catalogue(const std::filesystem::path& path) {
    const std::filesystem::path metadata = catalogue_metadata_path(path);
    std::map<signedness, double> exact_power_mw;
    std::vector<detail::catalogue_record> records;
    const std::string ext = metadata.extension().string();
    if (ext == ".json") {
        records = detail::read_json_metadata(metadata, exact_power_mw);
    } else if (ext == ".csv") {
        records = detail::read_csv_metadata(metadata);
    } else {
        throw parameter_error("'" + metadata.string() + "': a catalogue metadata file ends in .json or .csv");
    }
    const std::filesystem::path base = metadata.parent_path();
    std::vector<table_multiplier> tables;
    tables.reserve(records.size());
    for (const detail::catalogue_record& r : records) tables.push_back(detail::load_record_table(r, base));

    // Reference powers not given explicitly come from exact tables that carry a power in mW.
    for (std::size_t i = 0; i < records.size(); ++i) {
        const signedness s = tables[i].operand_signedness();
        if (records[i].power_mw && !exact_power_mw.contains(s) && tables[i].is_exact()) {
            exact_power_mw[s] = *records[i].power_mw;
        }
    }

    catalogue result;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const detail::catalogue_record& r = records[i];
        const signedness s = tables[i].operand_signedness();
        power_figure power;
        power.milliwatts = r.power_mw;
        power.source = r.source;
        if (r.relative_power) {
            power.relative = *r.relative_power;
            power.origin = r.origin.value_or(power_origin::user);
        } else if (r.power_mw) {
            const auto ref = exact_power_mw.find(s);
            if (ref == exact_power_mw.end() || !(ref->second > 0)) {
                throw format_error(r.where + ": power_mw is given but there is no positive exact " +
                                   std::string(to_string(s)) +
                                   " power to normalise it by (add exact_power_mw or an exact table with power_mw)");
            }
            power.relative = *r.power_mw / ref->second;
            power.origin = r.origin.value_or(power_origin::synthesised);
        } else {
            throw format_error(r.where + ": no power figure (give power_mw or relative_power)");
        }
        try {
            result.add(catalogue_entry(tables[i], power, r.family, r.parameters));
        } catch (const parameter_error& e) {
            throw format_error(r.where + ": " + e.what());
        }
    }
    return result;
}

/// Writes every table of the catalogue into `directory` as <name><extension of format> and the metadata as
/// catalogue.json, so that load_catalogue(directory) gives the same catalogue back.
inline void save_catalogue(const catalogue& c, const std::filesystem::path& directory,
                           table_format format = table_format::csv) {
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec) throw io_error("cannot create directory '" + directory.string() + "': " + ec.message());
    for (const catalogue_entry& e : c) {
        if (e.name().empty() || e.name().find_first_of("/\\") != std::string::npos || e.name() == "." ||
            e.name() == "..") {
            throw parameter_error("cannot save multiplier '" + e.name() + "': its name is not a valid file name");
        }
    }
    // Every table must fit the format before any file is written.
    for (const catalogue_entry& e : c) detail::check_writable(e.table(), format);
    nlohmann::ordered_json entries = nlohmann::ordered_json::array();
    for (const catalogue_entry& e : c) {
        const std::string file = e.name() + std::string(file_extension(format));
        save_table(e.table(), directory / file);
        nlohmann::ordered_json item = {{"name", e.name()},
                               {"file", file},
                               {"signedness", std::string(to_string(e.operand_signedness()))},
                               {"weight_operand", std::string(to_string(e.table().weight_operand()))},
                               {"family", e.family()},
                               {"relative_power", e.power().relative},
                               {"power_origin", std::string(to_string(e.power().origin))},
                               {"source", e.power().source}};
        if (e.power().milliwatts) item["power_mw"] = *e.power().milliwatts;
        if (!e.parameters().empty()) {
            nlohmann::ordered_json p = nlohmann::ordered_json::object();
            for (const parameter_value& v : e.parameters()) p[v.name] = v.value;
            item["parameters"] = p;
        }
        entries.push_back(std::move(item));
    }
    const nlohmann::ordered_json doc = {{"approxnn_catalogue", 1}, {"multipliers", entries}};
    const std::string text = doc.dump(2) + "\n";
    write_file_atomically(directory / "catalogue.json", text);
}

}  // namespace approxnn::multipliers
