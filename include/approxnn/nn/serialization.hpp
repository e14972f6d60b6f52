#pragma once
// Saving and loading model tensors; importing PyTorch weights.
//
// Model directory (save_model / load_model):
//   <name>.npy      one float32 .npy file per parameter and buffer, named by its hierarchical name
//                   ("block1.body.conv1.weight.npy"), in the engine's layout
//   manifest.json   {"format": "approxnn-model", "version": 1,
//                    "tensors": [{"name": ..., "file": ..., "shape": [...], "kind": "parameter" | "buffer"}, ...],
//                    "extra": <the caller's JSON>}
// Every file is replaced atomically; save_model removes an existing manifest first and writes the new one last, so
// a directory with a manifest always holds a complete model.
//
// PyTorch import (import_pytorch): a directory of .npy files named after state_dict keys, as written by
//     for key, t in model.state_dict().items(): numpy.save(f"{dir}/{key}.npy", t.detach().cpu().numpy())
// Conversions into the engine's layouts:
//   - every 4-d array is a convolution weight: PyTorch OIHW (out, in per group, kernel h, kernel w) becomes OHWI
//     (out, kernel h, kernel w, in per group): dst[o][y][x][i] = src[o][i][y][x]. This covers dense convolutions
//     (O, C, KH, KW), depthwise (O, 1, KH, KW) and grouped (O, C/g, KH, KW) weights alike.
//   - a 2-d linear weight named in linear_input_chw, with {C, H, W}, reads a flattened C x H x W feature map:
//     PyTorch flattens it in CHW order, the engine (NHWC) in HWC order, so the columns are permuted:
//     dst[o][(y * W + x) * C + c] = src[o][(c * H + y) * W + x].
//   - every other array is copied as is (linear weights (out, in), biases, batch-norm vectors).
//   - float64 arrays are converted to float32; other dtypes are format_error.
//   - keys "num_batches_tracked" and "*.num_batches_tracked", and the keys listed in `ignore`, are skipped; files
//     not ending in ".npy" are not looked at.
//
// Both loaders check everything before changing anything: the set of names equals the model's (the error lists
// the missing and the unexpected names), every shape matches (shape_error naming the file, the tensor and both
// shapes), every dtype is acceptable. A failed load leaves the model unchanged.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/core/npy.hpp"
#include "approxnn/nn/layer.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

namespace detail::serialization {

/// A parameter's value or a buffer of a model, by hierarchical name.
struct model_tensor {
    tensor* value = nullptr;
    bool is_parameter = true;
};

[[nodiscard]] inline const char* kind_name(bool is_parameter) noexcept {
    return is_parameter ? "parameter" : "buffer";
}

/// Throws parameter_error unless `name` can be a file name in the model directory.
inline void check_tensor_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name == "manifest" ||
        name.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
        throw parameter_error("the model tensor name '" + name +
                              "' cannot be a file name (empty, '.', '..', 'manifest', or containing '/', '\\')");
    }
}

/// Every parameter and buffer of `model` by name; parameter_error when two share a name.
inline std::map<std::string, model_tensor> model_tensors(layer& model) {
    std::map<std::string, model_tensor> tensors;
    const auto add = [&](const std::string& name, tensor& t, bool is_parameter) {
        if (!tensors.emplace(name, model_tensor{&t, is_parameter}).second) {
            throw parameter_error("the model has two tensors named '" + name + "'");
        }
    };
    model.visit_parameters("", [&](const std::string& name, parameter& p) { add(name, p.value, true); });
    model.visit_buffers("", [&](const std::string& name, tensor& t) { add(name, t, false); });
    return tensors;
}

/// Throws format_error naming `source` unless the names of `found` (name -> how to show it in a message) and the
/// model's agree; the message lists the missing and the unexpected names.
inline void check_same_names(const std::map<std::string, model_tensor>& model,
                             const std::map<std::string, std::string>& found, const std::string& source) {
    std::string missing;
    std::string unexpected;
    for (const auto& [name, t] : model) {
        if (found.find(name) == found.end()) missing += (missing.empty() ? "'" : ", '") + name + "'";
    }
    for (const auto& [name, shown] : found) {
        if (model.find(name) == model.end()) unexpected += (unexpected.empty() ? "" : ", ") + shown;
    }
    if (missing.empty() && unexpected.empty()) return;
    std::string message = source + " does not match the model's tensors:";
    if (!missing.empty()) message += " missing " + missing + (unexpected.empty() ? "" : ";");
    if (!unexpected.empty()) message += " unexpected " + unexpected;
    throw format_error(message);
}

/// Reads a JSON file; io_error when it cannot be opened, format_error naming it when it does not parse.
inline nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in = open_for_reading(path);
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw format_error(path.string() + ": not valid JSON (" + e.what() + ")");
    }
}

/// The shape in a manifest entry; format_error naming the manifest and tensor otherwise.
inline shape_t json_shape(const nlohmann::json& value, const std::string& where) {
    if (!value.is_array()) throw format_error(where + ": \"shape\" is " + value.dump() + ", not an array");
    shape_t shape;
    for (const nlohmann::json& d : value) {
        if (!d.is_number_unsigned()) {
            throw format_error(where + ": \"shape\" " + value.dump() + " holds " + d.dump() +
                               ", not a non-negative integer");
        }
        shape.push_back(d.get<std::size_t>());
    }
    return shape;
}

/// Throws format_error unless `file` is a plain file name (no directory part).
inline void check_plain_file_name(const std::string& file, const std::string& where) {
    const std::filesystem::path p(file);
    if (file.empty() || file == "." || file == ".." || p.has_parent_path() || p.is_absolute() ||
        file.find('\\') != std::string::npos) {
        throw format_error(where + ": \"file\" '" + file + "' is not a plain file name in the model directory");
    }
}

/// Copies staged values into the model; cannot fail (shapes were checked).
inline void commit(std::vector<std::pair<tensor*, std::vector<float>>>& staged) {
    for (auto& [target, values] : staged) {
        if (!values.empty()) std::memcpy(target->data(), values.data(), values.size() * sizeof(float));
    }
}

}  // namespace detail::serialization

/// Saves every parameter value and buffer of `model` into `dir` (created when missing) with `extra` in the
/// manifest (see the top of this header). parameter_error, before anything is written, when two tensors share a
/// name or a name cannot be a file name; io_error when a file cannot be written.
inline void save_model(layer& model, const std::filesystem::path& dir, const nlohmann::json& extra = {}) {
    const auto tensors = detail::serialization::model_tensors(model);
    for (const auto& [name, t] : tensors) detail::serialization::check_tensor_name(name);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir)) {
        throw io_error("cannot create the model directory '" + dir.string() + "'" +
                       (ec ? " (" + ec.message() + ")" : std::string()));
    }
    const std::filesystem::path manifest_path = dir / "manifest.json";
    std::filesystem::remove(manifest_path, ec);
    if (ec) throw io_error("cannot remove the old manifest '" + manifest_path.string() + "' (" + ec.message() + ")");

    nlohmann::json entries = nlohmann::json::array();
    // Parameters first, then buffers, each in traversal order.
    for (const bool parameters : {true, false}) {
        const auto write = [&](const std::string& name, const tensor& t) {
            const std::string file = name + ".npy";
            save_npy<float>(dir / file, t.values(), t.shape());
            entries.push_back({{"name", name},
                               {"file", file},
                               {"shape", t.shape()},
                               {"kind", detail::serialization::kind_name(parameters)}});
        };
        if (parameters) {
            model.visit_parameters("", [&](const std::string& name, parameter& p) { write(name, p.value); });
        } else {
            model.visit_buffers("", [&](const std::string& name, tensor& t) { write(name, t); });
        }
    }
    const nlohmann::json manifest = {
        {"format", "approxnn-model"}, {"version", 1}, {"tensors", std::move(entries)}, {"extra", extra}};
    write_file_atomically(manifest_path, manifest.dump(2) + "\n");
}

/// Loads a directory written by save_model into `model` and returns the manifest's "extra" (null when absent).
/// Errors: io_error for a file that cannot be opened; format_error naming the manifest for a malformed manifest
/// or a set of names different from the model's (listing the missing and unexpected ones), and naming the file
/// for a tensor file that is not float32 .npy; shape_error naming the file, the tensor and both shapes. The model
/// changes only when everything checks out.
inline nlohmann::json load_model(layer& model, const std::filesystem::path& dir) {
    namespace ser = detail::serialization;
    const auto tensors = ser::model_tensors(model);
    const std::filesystem::path manifest_path = dir / "manifest.json";
    const std::string source = manifest_path.string();
    const nlohmann::json manifest = ser::read_json(manifest_path);
    if (!manifest.is_object()) throw format_error(source + ": the manifest is " + manifest.dump() + ", not an object");
    if (!manifest.contains("format") || manifest["format"] != "approxnn-model") {
        throw format_error(source + ": \"format\" is " + (manifest.contains("format") ? manifest["format"].dump()
                                                                                       : std::string("missing")) +
                           ", expected \"approxnn-model\"");
    }
    if (!manifest.contains("version") || manifest["version"] != 1) {
        throw format_error(source + ": unsupported manifest \"version\" " +
                           (manifest.contains("version") ? manifest["version"].dump() : std::string("(missing)")) +
                           " (1 is read)");
    }
    if (!manifest.contains("tensors") || !manifest["tensors"].is_array()) {
        throw format_error(source + ": \"tensors\" is missing or not an array");
    }

    struct entry {
        std::string name, file;
        shape_t shape;
        bool is_parameter = true;
    };
    std::vector<entry> entries;
    std::map<std::string, std::string> found;
    for (const nlohmann::json& e : manifest["tensors"]) {
        const std::string where = source + ", tensor " + e.dump();
        if (!e.is_object()) throw format_error(where + ": not an object");
        for (const char* key : {"name", "file", "kind"}) {
            if (!e.contains(key) || !e[key].is_string()) {
                throw format_error(where + ": \"" + key + "\" is missing or not a string");
            }
        }
        if (!e.contains("shape")) throw format_error(where + ": \"shape\" is missing");
        entry x;
        x.name = e["name"].get<std::string>();
        x.file = e["file"].get<std::string>();
        const std::string kind = e["kind"].get<std::string>();
        if (kind != "parameter" && kind != "buffer") {
            throw format_error(where + ": \"kind\" is '" + kind + "', expected 'parameter' or 'buffer'");
        }
        x.is_parameter = kind == "parameter";
        x.shape = ser::json_shape(e["shape"], where);
        ser::check_plain_file_name(x.file, where);
        if (!found.emplace(x.name, "'" + x.name + "'").second) {
            throw format_error(source + ": the tensor '" + x.name + "' is listed twice");
        }
        entries.push_back(std::move(x));
    }
    ser::check_same_names(tensors, found, source);

    std::vector<std::pair<tensor*, std::vector<float>>> staged;
    for (const entry& e : entries) {
        const ser::model_tensor& target = tensors.at(e.name);
        if (target.is_parameter != e.is_parameter) {
            throw format_error(source + ": '" + e.name + "' is listed as a " + ser::kind_name(e.is_parameter) +
                               ", the model has a " + ser::kind_name(target.is_parameter) + " of that name");
        }
        const shape_t& expected = target.value->shape();
        if (e.shape != expected) {
            throw shape_error(source + ": tensor '" + e.name + "' has shape " + to_string(e.shape) +
                              " in the manifest, the model's is " + to_string(expected));
        }
        const std::filesystem::path path = dir / e.file;
        npy_array a = load_npy(path);
        if (a.dtype != npy_type::float32) {
            throw format_error(path.string() + ": tensor '" + e.name + "' is " + std::string(to_string(a.dtype)) +
                               ", a model file holds float32");
        }
        if (a.shape != expected) {
            throw shape_error(path.string() + ": tensor '" + e.name + "' has shape " + to_string(a.shape) +
                              ", the model's is " + to_string(expected));
        }
        staged.emplace_back(target.value, convert_npy<float>(a, path.string()).values);
    }
    ser::commit(staged);
    return manifest.contains("extra") ? manifest["extra"] : nlohmann::json();
}

/// Options of import_pytorch.
struct pytorch_import_options {
    /// PyTorch state_dict key -> approxnn tensor name; keys not listed keep their name.
    std::map<std::string, std::string> name_map;
    /// approxnn linear weight name -> {C, H, W} of the feature map flattened into its input (see the top of this
    /// header).
    std::map<std::string, shape_t> linear_input_chw;
    /// PyTorch keys to skip (besides "*.num_batches_tracked").
    std::set<std::string> ignore;
};

/// What import_pytorch did.
struct pytorch_import_report {
    std::vector<std::string> imported;  ///< approxnn names, in file name order
    std::vector<std::string> ignored;   ///< PyTorch keys skipped
};

/// Imports PyTorch weights (see the top of this header). Errors: not_found_error for a missing directory;
/// parameter_error for a linear_input_chw entry that names no rank-2 tensor of the model or is not {C, H, W};
/// format_error for two keys mapped to the same name, a set of names different from the model's (listing the
/// missing and unexpected ones) or a dtype other than float32/float64; shape_error naming the file, the tensor,
/// the PyTorch shape, the converted shape and the model's. The model changes only when everything checks out.
inline pytorch_import_report import_pytorch(layer& model, const std::filesystem::path& dir,
                                            const pytorch_import_options& options = {}) {
    namespace ser = detail::serialization;
    const auto tensors = ser::model_tensors(model);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        throw not_found_error("the PyTorch weight directory '" + dir.string() + "' does not exist");
    }
    const std::string source = "the PyTorch weights in '" + dir.string() + "'";

    pytorch_import_report report;
    std::vector<std::pair<std::string, std::filesystem::path>> files;  // key, path
    for (const auto& item : std::filesystem::directory_iterator(dir)) {
        const std::string file = item.path().filename().string();
        if (!item.is_regular_file() || file.size() <= 4 || file.compare(file.size() - 4, 4, ".npy") != 0) continue;
        files.emplace_back(file.substr(0, file.size() - 4), item.path());
    }
    std::sort(files.begin(), files.end());

    struct source_tensor {
        std::string key, name;
        std::filesystem::path path;
    };
    std::vector<source_tensor> sources;
    std::map<std::string, std::string> found;  // approxnn name -> how to show it in messages
    std::map<std::string, std::string> key_of;
    for (const auto& [key, path] : files) {
        const std::string suffix = "num_batches_tracked";
        const bool counter = key == suffix || (key.size() > suffix.size() + 1 &&
                                               key.compare(key.size() - suffix.size() - 1, std::string::npos,
                                                           "." + suffix) == 0);
        if (counter || options.ignore.count(key) != 0) {
            report.ignored.push_back(key);
            continue;
        }
        const auto mapped = options.name_map.find(key);
        const std::string name = mapped == options.name_map.end() ? key : mapped->second;
        if (const auto [it, inserted] = key_of.emplace(name, key); !inserted) {
            throw format_error(source + ": the keys '" + it->second + "' and '" + key + "' both map to '" + name +
                               "'");
        }
        found.emplace(name, name == key ? "'" + key + "'" : "'" + key + "' (as '" + name + "')");
        sources.push_back({key, name, path});
    }
    ser::check_same_names(tensors, found, source);

    for (const auto& [name, chw] : options.linear_input_chw) {
        const auto it = tensors.find(name);
        if (it == tensors.end() || it->second.value->rank() != 2) {
            throw parameter_error("import_pytorch: linear_input_chw names '" + name +
                                  "', which is not a rank-2 tensor of the model");
        }
        if (chw.size() != 3) {
            throw parameter_error("import_pytorch: linear_input_chw of '" + name + "' is " + to_string(chw) +
                                  ", expected {C, H, W}");
        }
    }

    std::vector<std::pair<tensor*, std::vector<float>>> staged;
    for (const source_tensor& s : sources) {
        const ser::model_tensor& target = tensors.at(s.name);
        const shape_t& expected = target.value->shape();
        const std::string file = s.path.string();
        const npy_array a = load_npy(s.path);
        if (a.dtype != npy_type::float32 && a.dtype != npy_type::float64) {
            throw format_error(file + ": '" + s.key + "' is " + std::string(to_string(a.dtype)) +
                               ", float32 or float64 expected");
        }
        std::vector<float> src = convert_npy<float>(a, file).values;
        shape_t converted = a.shape;
        std::vector<float> dst;
        const auto shapes = [&] {
            return "'" + s.key + "' (PyTorch shape " + to_string(a.shape) +
                   (converted != a.shape ? ", converted " + to_string(converted) : std::string()) + ") for '" +
                   s.name + "', whose shape is " + to_string(expected);
        };
        const auto chw = options.linear_input_chw.find(s.name);
        if (a.shape.size() == 4) {
            const std::size_t o = a.shape[0], in = a.shape[1], kh = a.shape[2], kw = a.shape[3];
            converted = {o, kh, kw, in};
            if (converted != expected) throw shape_error(file + ": " + shapes());
            dst.resize(src.size());
            for (std::size_t oc = 0; oc < o; ++oc) {
                for (std::size_t i = 0; i < in; ++i) {
                    for (std::size_t y = 0; y < kh; ++y) {
                        for (std::size_t x = 0; x < kw; ++x) {
                            dst[((oc * kh + y) * kw + x) * in + i] = src[((oc * in + i) * kh + y) * kw + x];
                        }
                    }
                }
            }
        } else if (chw != options.linear_input_chw.end()) {
            const std::size_t c = chw->second[0], h = chw->second[1], w = chw->second[2];
            if (a.shape != expected || a.shape[1] != c * h * w) {
                throw shape_error(file + ": " + shapes() + "; its columns should be a flattened " + std::to_string(c) +
                                  " x " + std::to_string(h) + " x " + std::to_string(w) + " (C x H x W) map");
            }
            const std::size_t rows = a.shape[0];
            const std::size_t cols = a.shape[1];
            dst.resize(src.size());
            for (std::size_t r = 0; r < rows; ++r) {
                for (std::size_t ch = 0; ch < c; ++ch) {
                    for (std::size_t y = 0; y < h; ++y) {
                        for (std::size_t x = 0; x < w; ++x) {
                            dst[r * cols + (y * w + x) * c + ch] = src[r * cols + (ch * h + y) * w + x];
                        }
                    }
                }
            }
        } else {
            if (a.shape != expected) throw shape_error(file + ": " + shapes());
            dst = std::move(src);
        }
        staged.emplace_back(target.value, std::move(dst));
        report.imported.push_back(s.name);
    }
    ser::commit(staged);
    return report;
}

}  // namespace approxnn::nn
