#pragma once
// Data sets for training: IDX files (MNIST, Fashion-MNIST), a small synthetic set for tests, batch order.
//
// IDX format: magic 0x00 0x00 <type> <rank>, then `rank` big-endian uint32 dimensions, then the elements in C
// order. Arrays of unsigned bytes (type 0x08) of any rank are read; the data sets are 0x00000801 label vectors (N)
// and 0x00000803 image stacks (N, rows, columns). Files may be gzip-compressed (recognised by the gzip magic 1f 8b,
// whatever their name).
// Errors: a file that cannot be read is io_error; a wrong magic or type, a size that does not match the
// dimensions, a truncated or corrupt gzip stream, or bytes after the data (or after the gzip stream) are
// format_error; each message names the file and the offending value.
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/core/file_io.hpp"
#include "approxnn/nn/random.hpp"
#include "approxnn/nn/tensor.hpp"

namespace approxnn::nn {

// ---------------------------------------------------------------------------------------------------------------
// IDX files

/// An IDX array of unsigned bytes: dimensions and elements in C order.
struct idx_array {
    std::vector<std::size_t> dims;
    std::vector<std::uint8_t> data;
};

namespace detail::data {

inline std::vector<std::uint8_t> read_whole_file(const std::filesystem::path& path) {
    std::ifstream in = open_for_reading(path);
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) throw io_error("cannot determine the size of '" + path.string() + "': " + ec.message());
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (static_cast<std::size_t>(in.gcount()) != bytes.size()) {
        throw io_error("reading '" + path.string() + "' failed after " + std::to_string(in.gcount()) + " of " +
                       std::to_string(bytes.size()) + " bytes");
    }
    return bytes;
}

inline bool is_gzip(std::span<const std::uint8_t> bytes) noexcept {
    return bytes.size() >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B;
}

/// Ends a zlib inflate stream on scope exit.
class inflate_stream {
public:
    explicit inflate_stream(const std::string& source) {
        if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw io_error(source + ": cannot initialise zlib");
    }
    ~inflate_stream() { inflateEnd(&z_); }
    inflate_stream(const inflate_stream&) = delete;
    inflate_stream& operator=(const inflate_stream&) = delete;
    z_stream& get() noexcept { return z_; }

private:
    z_stream z_{};
};

/// The decompressed bytes of a gzip file of one or more members; `source` names it in messages.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> in, const std::string& source) {
    constexpr std::size_t max_chunk = std::size_t{1} << 30;  // zlib counts bytes in 32-bit uInt
    // ISIZE, the last four bytes, is the size mod 2^32 of the last member: a hint, bounded by deflate's best
    // ratio (1032:1) so that a forged trailer cannot allocate much.
    std::size_t hint = std::size_t{1} << 16;
    if (in.size() >= 18) {
        const std::size_t isize = std::size_t{in[in.size() - 4]} | std::size_t{in[in.size() - 3]} << 8 |
                                  std::size_t{in[in.size() - 2]} << 16 | std::size_t{in[in.size() - 1]} << 24;
        hint = std::max(hint, std::min(isize + 1, in.size() * 1032));
    }
    std::vector<std::uint8_t> out(hint);
    std::size_t produced = 0;
    std::size_t consumed = 0;
    inflate_stream stream(source);
    z_stream& z = stream.get();
    while (true) {
        if (z.avail_in == 0 && consumed < in.size()) {
            const std::size_t n = std::min(in.size() - consumed, max_chunk);
            z.next_in = const_cast<Bytef*>(in.data() + consumed);
            z.avail_in = static_cast<uInt>(n);
            consumed += n;
        }
        if (produced == out.size()) out.resize(out.size() * 2);
        const std::size_t room = std::min(out.size() - produced, max_chunk);
        z.next_out = out.data() + produced;
        z.avail_out = static_cast<uInt>(room);
        const int rc = inflate(&z, Z_NO_FLUSH);
        produced += room - z.avail_out;
        if (rc == Z_STREAM_END) {
            const std::size_t rest = z.avail_in + (in.size() - consumed);
            if (rest == 0) break;
            const std::size_t at = in.size() - rest;
            if (!is_gzip(in.subspan(at))) {
                throw format_error(source + ": " + std::to_string(rest) + " bytes of trailing garbage after the gzip " +
                                   "stream (at offset " + std::to_string(at) + ")");
            }
            if (inflateReset(&z) != Z_OK) throw format_error(source + ": cannot restart zlib for the next gzip member");
            continue;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR) {
            if (z.avail_in == 0 && consumed == in.size()) {
                throw format_error(source + ": truncated gzip stream (it ends after " + std::to_string(in.size()) +
                                   " compressed bytes, " + std::to_string(produced) + " decompressed)");
            }
            continue;  // more input to feed, or a full buffer the next pass grows
        }
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        throw format_error(source + ": corrupt gzip data (" + std::string(z.msg != nullptr ? z.msg : "zlib error " +
                                                                                        std::to_string(rc)) +
                           ") after " + std::to_string(produced) + " decompressed bytes");
    }
    out.resize(produced);
    return out;
}

inline std::uint32_t big_endian_u32(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | std::uint32_t{p[3]};
}

inline std::string dims_string(const std::vector<std::size_t>& dims) {
    std::string s;
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
    return s;
}

}  // namespace detail::data

namespace detail::data {

/// Checks an IDX byte array (magic, element type, dimensions against the size); returns the dimensions and sets
/// `header` to the byte count before the data.
inline std::vector<std::size_t> check_idx(std::span<const std::uint8_t> bytes, const std::string& source,
                                          std::size_t& header) {
    if (bytes.size() < 4) {
        throw format_error(source + ": truncated IDX file (" + std::to_string(bytes.size()) +
                           " bytes, the magic number alone has 4)");
    }
    if (bytes[0] != 0 || bytes[1] != 0) {
        char magic[16];
        std::snprintf(magic, sizeof magic, "0x%02X%02X%02X%02X", bytes[0], bytes[1], bytes[2], bytes[3]);
        throw format_error(source + ": not an IDX file (magic number " + magic +
                           ", expected 0x00000801 or 0x00000803)");
    }
    if (bytes[2] != 0x08) {
        char type[8];
        std::snprintf(type, sizeof type, "0x%02X", bytes[2]);
        throw format_error(source + ": unsupported IDX element type " + type + " (only unsigned bytes, 0x08)");
    }
    const std::size_t rank = bytes[3];
    if (rank == 0) throw format_error(source + ": IDX rank 0 (the magic number's last byte) is not valid");
    header = 4 + 4 * rank;
    if (bytes.size() < header) {
        throw format_error(source + ": truncated IDX header (" + std::to_string(bytes.size()) + " bytes, rank " +
                           std::to_string(rank) + " needs " + std::to_string(header) + ")");
    }
    std::vector<std::size_t> dims;
    std::size_t count = 1;
    for (std::size_t i = 0; i < rank; ++i) {
        const std::size_t d = big_endian_u32(bytes.data() + 4 + 4 * i);
        dims.push_back(d);
        if (d != 0 && count > std::numeric_limits<std::size_t>::max() / d) {
            throw format_error(source + ": IDX dimensions " + dims_string(dims) + " are too large");
        }
        count *= d;
    }
    const std::size_t present = bytes.size() - header;
    if (present != count) {
        throw format_error(source + ": IDX dimensions " + dims_string(dims) + " need " + std::to_string(count) +
                           " data bytes, the file has " + std::to_string(present) +
                           (present < count ? " (truncated)" : " (trailing garbage)"));
    }
    return dims;
}

/// decode_idx taking over the buffer (no copy of the data).
inline idx_array decode_idx(std::vector<std::uint8_t>&& bytes, const std::string& source) {
    std::size_t header = 0;
    idx_array a;
    a.dims = check_idx(bytes, source, header);
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
    a.data = std::move(bytes);
    return a;
}

}  // namespace detail::data

/// Decodes an uncompressed IDX byte array; `source` names it in messages.
inline idx_array decode_idx(std::span<const std::uint8_t> bytes, const std::string& source) {
    std::size_t header = 0;
    idx_array a;
    a.dims = detail::data::check_idx(bytes, source, header);
    a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
    return a;
}

/// Loads an IDX file, gzip-compressed or not.
inline idx_array load_idx(const std::filesystem::path& path) {
    std::vector<std::uint8_t> bytes = detail::data::read_whole_file(path);
    if (detail::data::is_gzip(bytes)) bytes = detail::data::gunzip(bytes, path.string());
    return detail::data::decode_idx(std::move(bytes), path.string());
}

// ---------------------------------------------------------------------------------------------------------------
// Data sets

/// A labelled image set held in memory.
struct dataset {
    tensor images;                     ///< (N, H, W, C), values in [0, 1]
    std::vector<std::uint8_t> labels;  ///< N class indices, each < classes
    std::size_t classes = 0;
    std::string name;

    [[nodiscard]] std::size_t size() const noexcept { return labels.size(); }
    /// (H, W, C) of one image.
    [[nodiscard]] shape_t sample_shape() const {
        if (images.rank() != 4) return {};
        return {images.dim(1), images.dim(2), images.dim(3)};
    }

    /// Throws shape_error unless images is (N, H, W, C) with N = size(), format_error naming the data set, the
    /// sample and the label when a label is not below `classes`.
    void validate() const {
        if (images.rank() != 4 || images.dim(0) != labels.size()) {
            throw shape_error("data set '" + name + "': images of shape " + to_string(images.shape()) + " for " +
                              std::to_string(labels.size()) + " labels (expected (N, H, W, C) with N = " +
                              std::to_string(labels.size()) + ")");
        }
        for (std::size_t i = 0; i < labels.size(); ++i) {
            if (labels[i] >= classes) {
                throw format_error("data set '" + name + "': label " + std::to_string(labels[i]) + " of sample " +
                                   std::to_string(i) + " is not below the class count " + std::to_string(classes));
            }
        }
    }

    /// Samples [first, first + count) as a new data set named "<name>[first:first+count]"; parameter_error when
    /// the range exceeds size().
    [[nodiscard]] dataset subset(std::size_t first, std::size_t count) const {
        if (images.rank() != 4) {
            throw shape_error("data set '" + name + "': images of shape " + to_string(images.shape()) +
                              ", expected (N, H, W, C)");
        }
        if (first > size() || count > size() - first) {
            throw parameter_error("data set '" + name + "': subset [" + std::to_string(first) + ", " +
                                  std::to_string(first) + " + " + std::to_string(count) + ") exceeds its " +
                                  std::to_string(size()) + " samples");
        }
        const shape_t sample = sample_shape();
        const std::size_t per = element_count(sample);
        dataset d;
        d.images = tensor({count, sample.at(0), sample.at(1), sample.at(2)},
                          std::vector<float>(images.data() + first * per, images.data() + (first + count) * per));
        d.labels.assign(labels.begin() + static_cast<std::ptrdiff_t>(first),
                        labels.begin() + static_cast<std::ptrdiff_t>(first + count));
        d.classes = classes;
        d.name = name + "[" + std::to_string(first) + ":" + std::to_string(first + count) + "]";
        return d;
    }
};

/// A training set and a test set.
struct dataset_split {
    dataset train;
    dataset test;
};

/// A data set from an IDX image file (N, H, W) and an IDX label file (N), either possibly gzip-compressed;
/// pixels p become p / 255 with one channel. format_error names the file when ranks or counts disagree or a
/// label is not below `classes`.
inline dataset load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path,
                                std::size_t classes, std::string name) {
    idx_array images = load_idx(images_path);
    idx_array labels = load_idx(labels_path);
    if (images.dims.size() != 3) {
        throw format_error(images_path.string() + ": an image file has 3 dimensions (N x rows x columns), " +
                           "this one has " + detail::data::dims_string(images.dims));
    }
    if (labels.dims.size() != 1) {
        throw format_error(labels_path.string() + ": a label file has 1 dimension (N), this one has " +
                           detail::data::dims_string(labels.dims));
    }
    if (images.dims[0] != labels.dims[0]) {
        throw format_error(labels_path.string() + " holds " + std::to_string(labels.dims[0]) + " labels but " +
                           images_path.string() + " holds " + std::to_string(images.dims[0]) + " images");
    }
    for (std::size_t i = 0; i < labels.data.size(); ++i) {
        if (labels.data[i] >= classes) {
            throw format_error(labels_path.string() + ": label " + std::to_string(labels.data[i]) + " of sample " +
                               std::to_string(i) + " is not below the class count " + std::to_string(classes));
        }
    }
    std::array<float, 256> scale{};
    for (std::size_t p = 0; p < 256; ++p) scale[p] = static_cast<float>(p) / 255.0F;
    std::vector<float> pixels(images.data.size());
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = scale[images.data[i]];
    dataset d;
    d.images = tensor({images.dims[0], images.dims[1], images.dims[2], 1}, std::move(pixels));
    d.labels = std::move(labels.data);
    d.classes = classes;
    d.name = std::move(name);
    return d;
}

/// The Fashion-MNIST class names, by label.
inline constexpr std::array<std::string_view, 10> fashion_mnist_classes{
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// Fashion-MNIST (60 000 training and 10 000 test images, 28 x 28 x 1, 10 classes) from `dir`, holding
/// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each with
/// or without ".gz". A missing directory or file is not_found_error naming the path and the Debian package
/// dataset-fashion-mnist, which installs the files into the default directory.
inline dataset_split load_fashion_mnist(const std::filesystem::path& dir = "/usr/share/datasets/fashion-mnist") {
    const std::string install = "; install the Debian package dataset-fashion-mnist (apt install "
                                "dataset-fashion-mnist), which puts the files into /usr/share/datasets/fashion-mnist";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        throw not_found_error("the Fashion-MNIST directory '" + dir.string() + "' does not exist" + install);
    }
    const auto find = [&](const std::string& stem) {
        for (const std::filesystem::path& candidate : {dir / (stem + ".gz"), dir / stem}) {
            if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
        }
        throw not_found_error("the Fashion-MNIST file '" + (dir / (stem + ".gz")).string() + "' (or '" +
                              (dir / stem).string() + "') is missing" + install);
    };
    const std::filesystem::path train_images = find("train-images-idx3-ubyte");
    const std::filesystem::path train_labels = find("train-labels-idx1-ubyte");
    const std::filesystem::path test_images = find("t10k-images-idx3-ubyte");
    const std::filesystem::path test_labels = find("t10k-labels-idx1-ubyte");
    dataset_split split{load_idx_dataset(train_images, train_labels, 10, "fashion-mnist/train"),
                        load_idx_dataset(test_images, test_labels, 10, "fashion-mnist/test")};
    for (const auto& [d, path] : {std::pair{&split.train, &train_images}, std::pair{&split.test, &test_images}}) {
        if (d->images.dim(1) != 28 || d->images.dim(2) != 28) {
            throw format_error(path->string() + ": Fashion-MNIST images are 28 x 28, these are " +
                               std::to_string(d->images.dim(1)) + " x " + std::to_string(d->images.dim(2)));
        }
    }
    return split;
}

// ---------------------------------------------------------------------------------------------------------------
// Synthetic data

namespace detail::data {

/// SplitMix64's finaliser: decorrelates nearby seeds.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/// The 8 x 8 glyphs of the synthetic classes ('#' on).
inline constexpr std::array<std::array<std::string_view, 8>, 10> synthetic_glyphs{{
    {"........", "........", "........", "########", "########", "........", "........", "........"},  // bar -
    {"...##...", "...##...", "...##...", "...##...", "...##...", "...##...", "...##...", "...##..."},  // bar |
    {"##......", "###.....", ".###....", "..###...", "...###..", "....###.", ".....###", "......##"},  // diagonal
    {"......##", ".....###", "....###.", "...###..", "..###...", ".###....", "###.....", "##......"},  // anti-diagonal
    {"...##...", "...##...", "...##...", "########", "########", "...##...", "...##...", "...##..."},  // plus
    {"########", "#......#", "#......#", "#......#", "#......#", "#......#", "#......#", "########"},  // box
    {"........", "........", "..####..", "..####..", "..####..", "..####..", "........", "........"},  // blob
    {"##....##", ".##..##.", "..####..", "...##...", "..####..", ".##..##.", "##....##", "#......#"},  // X
    {"########", "########", "........", "........", "........", "........", "########", "########"},  // two bars
    {"##......", "##......", "##......", "##......", "##......", "##......", "########", "########"},  // L
}};

}  // namespace detail::data

/// Settings of synthetic_dataset.
struct synthetic_options {
    std::size_t classes = 10;    ///< 1 ... 10
    std::size_t height = 12;     ///< image height, >= 8
    std::size_t width = 12;      ///< image width, >= 8
    std::size_t max_shift = 2;   ///< each glyph moves by up to this many pixels along each axis
    float noise = 0.15F;         ///< standard deviation of the Gaussian pixel noise (before clamping to [0, 1])
};

/// A small learnable image set: sample i has label i % classes; its image is the label's 8 x 8 glyph (a bar,
/// a diagonal, a cross, a box, ...) centred in a height x width x 1 image, shifted by a random offset, drawn with a
/// random intensity in [0.6, 1], plus Gaussian noise, clamped to [0, 1]. The same (samples, seed, options) give the
/// same bits with any standard library. parameter_error for options outside their ranges.
inline dataset synthetic_dataset(std::size_t samples, std::uint64_t seed, const synthetic_options& options = {}) {
    if (options.classes < 1 || options.classes > detail::data::synthetic_glyphs.size()) {
        throw parameter_error("synthetic_dataset: " + std::to_string(options.classes) + " classes (1 ... 10)");
    }
    if (options.height < 8 || options.width < 8) {
        throw parameter_error("synthetic_dataset: images of " + std::to_string(options.height) + " x " +
                              std::to_string(options.width) + " pixels (at least 8 x 8)");
    }
    if (!(options.noise >= 0.0F) || !std::isfinite(options.noise)) {
        throw parameter_error("synthetic_dataset: noise " + std::to_string(options.noise) + " (finite, >= 0)");
    }
    const std::size_t h = options.height;
    const std::size_t w = options.width;
    const auto shift = static_cast<std::int64_t>(std::min<std::size_t>(options.max_shift, 64));
    dataset d;
    d.images = tensor({samples, h, w, 1});
    d.labels.resize(samples);
    d.classes = options.classes;
    d.name = "synthetic(" + std::to_string(samples) + ", seed " + std::to_string(seed) + ")";
    random_source rng(detail::data::mix64(seed));
    const auto top = static_cast<std::int64_t>((h - 8) / 2);
    const auto left = static_cast<std::int64_t>((w - 8) / 2);
    for (std::size_t i = 0; i < samples; ++i) {
        const std::size_t label = i % options.classes;
        d.labels[i] = static_cast<std::uint8_t>(label);
        const auto& glyph = detail::data::synthetic_glyphs[label];
        const auto positions = static_cast<std::uint64_t>(2 * shift + 1);
        const std::int64_t dy = static_cast<std::int64_t>(rng.below(positions)) - shift;
        const std::int64_t dx = static_cast<std::int64_t>(rng.below(positions)) - shift;
        const double intensity = rng.uniform(0.6, 1.0);
        float* image = d.images.data() + i * h * w;
        for (std::size_t y = 0; y < h; ++y) {
            for (std::size_t x = 0; x < w; ++x) {
                const std::int64_t gy = static_cast<std::int64_t>(y) - top - dy;
                const std::int64_t gx = static_cast<std::int64_t>(x) - left - dx;
                const bool on = gy >= 0 && gy < 8 && gx >= 0 && gx < 8 &&
                                glyph[static_cast<std::size_t>(gy)][static_cast<std::size_t>(gx)] == '#';
                const double v = (on ? intensity : 0.0) + options.noise * rng.normal();
                image[y * w + x] = static_cast<float>(std::clamp(v, 0.0, 1.0));
            }
        }
    }
    return d;
}

// ---------------------------------------------------------------------------------------------------------------
// Batches

/// A permutation of [0, n), the same for the same (n, seed, epoch) with any standard library (Fisher-Yates on a
/// random_source seeded from seed and epoch).
inline std::vector<std::size_t> batch_order(std::size_t n, std::uint64_t seed, std::size_t epoch) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    random_source rng(detail::data::mix64(detail::data::mix64(seed) ^ static_cast<std::uint64_t>(epoch)));
    for (std::size_t i = n; i-- > 1;) {
        const auto j = static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i) + 1));
        std::swap(order[i], order[j]);
    }
    return order;
}

/// Copies the samples `indices` of `data` into images (resized to (B, H, W, C), B = indices.size(); its buffer is
/// reused) and labels (resized to B). parameter_error naming the index when one is not below data.size().
inline void gather_batch(const dataset& data, std::span<const std::size_t> indices, tensor& images,
                         std::vector<std::uint8_t>& labels) {
    if (data.images.rank() != 4 || data.images.dim(0) != data.size()) {
        throw shape_error("gather_batch: data set '" + data.name + "' has images of shape " +
                          to_string(data.images.shape()) + " for " + std::to_string(data.size()) + " labels");
    }
    for (const std::size_t index : indices) {
        if (index >= data.size()) {
            throw parameter_error("gather_batch: sample index " + std::to_string(index) + " is not below the size " +
                                  std::to_string(data.size()) + " of data set '" + data.name + "'");
        }
    }
    const shape_t sample = data.sample_shape();
    const std::size_t per = element_count(sample);
    images.resize({indices.size(), sample[0], sample[1], sample[2]});
    labels.resize(indices.size());
    for (std::size_t b = 0; b < indices.size(); ++b) {
        if (per != 0) std::memcpy(images.data() + b * per, data.images.data() + indices[b] * per, per * sizeof(float));
        labels[b] = data.labels[indices[b]];
    }
}

}  // namespace approxnn::nn
