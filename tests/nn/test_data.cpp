#include <doctest/doctest.h>

#include "test_support.hpp"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <numeric>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/tensor.hpp"

namespace {

namespace fs = std::filesystem;
namespace nn = approxnn::nn;
using test_support::check_throws_with;
using test_support::contains;
using test_support::read_bytes;
using test_support::write_bytes;

struct scratch_dir : test_support::scratch_dir {
    explicit scratch_dir(const std::string& name) : test_support::scratch_dir("data", name) {}
};

/// An IDX file of unsigned bytes: magic 0x0000 08 <rank>, big-endian dimensions, data.
std::string idx_bytes(const std::vector<std::uint32_t>& dims, const std::string& data) {
    std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
    for (const std::uint32_t d : dims) {
        for (const int shift : {24, 16, 8, 0}) out += static_cast<char>((d >> shift) & 0xFFU);
    }
    return out + data;
}

/// `count` bytes following a pattern.
std::string pattern(std::size_t count, unsigned salt = 0) {
    std::string s(count, '\0');
    for (std::size_t i = 0; i < count; ++i) s[i] = static_cast<char>((i * 37 + salt * 11 + i / 7) & 0xFFU);
    return s;
}

/// Writes `bytes` gzip-compressed through zlib's gzFile interface (mode "wb", or "ab" to append a member).
void write_gzip(const fs::path& path, const std::string& bytes, const char* mode = "wb") {
    fs::create_directories(path.parent_path());
    gzFile f = gzopen(path.string().c_str(), mode);
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                                static_cast<int>(bytes.size()));
    REQUIRE(gzclose(f) == Z_OK);
}

std::string gzip_string(const scratch_dir& dir, const std::string& bytes) {
    write_gzip(dir / "tmp.gz", bytes);
    const std::string z = read_bytes(dir / "tmp.gz");
    fs::remove(dir / "tmp.gz");
    return z;
}

/// prefix + n + suffix (appended step by step: g++ 12 -O3 warns falsely about `"z" + std::to_string(n) + ".gz"`).
std::string numbered(const char* prefix, int n, const char* suffix) {
    std::string s = prefix;
    s += std::to_string(n);
    s += suffix;
    return s;
}

}  // namespace

TEST_CASE("idx: raw and gzip round trips of labels and images") {
    const scratch_dir dir("idx_round_trips");
    const std::string labels = pattern(7);
    const std::string images = pattern(5 * 4 * 3, 1);
    write_bytes(dir / "labels-idx1-ubyte", idx_bytes({7}, labels));
    write_bytes(dir / "images-idx3-ubyte", idx_bytes({5, 4, 3}, images));
    write_gzip(dir / "labels-idx1-ubyte.gz", idx_bytes({7}, labels));
    write_gzip(dir / "images-idx3-ubyte.gz", idx_bytes({5, 4, 3}, images));
    // gzip is recognised by its magic bytes, not by the name.
    write_gzip(dir / "images-misnamed", idx_bytes({5, 4, 3}, images));

    for (const char* name : {"labels-idx1-ubyte", "labels-idx1-ubyte.gz"}) {
        CAPTURE(name);
        const nn::idx_array a = nn::load_idx(dir / name);
        CHECK(a.dims == std::vector<std::size_t>{7});
        CHECK(std::string(a.data.begin(), a.data.end()) == labels);
    }
    for (const char* name : {"images-idx3-ubyte", "images-idx3-ubyte.gz", "images-misnamed"}) {
        CAPTURE(name);
        const nn::idx_array a = nn::load_idx(dir / name);
        CHECK(a.dims == std::vector<std::size_t>{5, 4, 3});
        CHECK(std::string(a.data.begin(), a.data.end()) == images);
    }

    SUBCASE("a gzip file of several members (as gzip appends them)") {
        const std::string whole = idx_bytes({5, 4, 3}, images);
        write_gzip(dir / "multi.gz", whole.substr(0, 10));
        write_gzip(dir / "multi.gz", whole.substr(10, 20), "ab");
        write_gzip(dir / "multi.gz", whole.substr(30), "ab");
        const nn::idx_array a = nn::load_idx(dir / "multi.gz");
        CHECK(a.dims == std::vector<std::size_t>{5, 4, 3});
        CHECK(std::string(a.data.begin(), a.data.end()) == images);
    }
    SUBCASE("empty arrays and a large, highly compressible file") {
        write_gzip(dir / "empty.gz", idx_bytes({0, 28, 28}, ""));
        CHECK(nn::load_idx(dir / "empty.gz").dims == std::vector<std::size_t>{0, 28, 28});
        const std::string zeros(3'000'000, '\0');
        write_gzip(dir / "zeros.gz", idx_bytes({3000, 1000}, zeros));
        CHECK(fs::file_size(dir / "zeros.gz") < 20000);
        const nn::idx_array a = nn::load_idx(dir / "zeros.gz");
        CHECK(a.data.size() == 3'000'000);
        CHECK(std::all_of(a.data.begin(), a.data.end(), [](std::uint8_t v) { return v == 0; }));
    }
}

TEST_CASE("idx: malformed files are format_error (io_error when unreadable) naming the file") {
    const scratch_dir dir("idx_malformed");
    const std::string good = idx_bytes({3, 2, 2}, pattern(12));
    int n = 0;
    const auto raw_and_gz = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
        const fs::path raw = dir / numbered("raw", n, "");
        const fs::path gz = dir / numbered("gz", n++, ".gz");
        write_bytes(raw, bytes);
        write_gzip(gz, bytes);
        for (const fs::path& p : {raw, gz}) {
            CAPTURE(p);
            std::vector<std::string> all(parts);
            all.push_back(p.string());
            try {
                (void)nn::load_idx(p);
                FAIL_CHECK("no exception");
            } catch (const approxnn::format_error& e) {
                for (const std::string& part : all) {
                    CHECK_MESSAGE(contains(e.what(), part), e.what() << " does not mention " << part);
                }
            }
        }
    };
    SUBCASE("too short for a magic number") {
        raw_and_gz("", {"truncated IDX file", "0 bytes"});
        raw_and_gz(std::string("\0\0\x08", 3), {"truncated IDX file", "3 bytes"});
    }
    SUBCASE("wrong magic, element type or rank") {
        raw_and_gz("\x12\x34\x08\x01" + good.substr(4), {"magic number 0x12340801"});
        raw_and_gz(std::string("\0\x01\x08\x01", 4), {"magic number 0x00010801"});
        raw_and_gz(std::string("\0\0\x0D\x03", 4) + good.substr(4), {"element type 0x0D"});
        raw_and_gz(std::string("\0\0\x08\x00", 4), {"rank 0"});
    }
    SUBCASE("truncated header") {
        raw_and_gz(good.substr(0, 13), {"truncated IDX header", "13 bytes", "rank 3 needs 16"});
        raw_and_gz(good.substr(0, 4), {"truncated IDX header", "4 bytes"});
    }
    SUBCASE("data shorter or longer than the dimensions say") {
        raw_and_gz(good.substr(0, good.size() - 1), {"3 x 2 x 2", "need 12", "has 11", "truncated"});
        raw_and_gz(good.substr(0, 16), {"need 12", "has 0"});
        raw_and_gz(good + "junk", {"3 x 2 x 2", "need 12", "has 16", "trailing garbage"});
        raw_and_gz(idx_bytes({0xFFFFFFFF, 0xFFFFFFFF}, ""), {"need 18446744065119617025", "has 0"});
        raw_and_gz(idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, ""), {"too large"});
    }
    SUBCASE("broken gzip streams") {
        const std::string z = gzip_string(dir, good);
        const auto fails = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
            const fs::path p = dir / numbered("z", n++, ".gz");
            write_bytes(p, bytes);
            std::vector<std::string> all(parts);
            all.push_back(p.string());
            try {
                (void)nn::load_idx(p);
                FAIL_CHECK("no exception");
            } catch (const approxnn::format_error& e) {
                for (const std::string& part : all) {
                    CHECK_MESSAGE(contains(e.what(), part), e.what() << " does not mention " << part);
                }
            }
        };
        for (const std::size_t keep : {std::size_t{2}, std::size_t{10}, z.size() / 2, z.size() - 4, z.size() - 1}) {
            CAPTURE(keep);
            fails(z.substr(0, keep), {"truncated gzip stream"});
        }
        fails(z + "garbage", {"7 bytes of trailing garbage after the gzip stream"});
        fails(z + std::string(8, '\0'), {"trailing garbage"});
        std::string crc = z;
        crc[z.size() - 6] = static_cast<char>(crc[z.size() - 6] ^ 0x40);  // inside the CRC-32 of the trailer
        fails(crc, {"corrupt gzip data", "incorrect data check"});
        std::string header = z;
        header[2] = 9;  // compression method other than deflate
        fails(header, {"corrupt gzip data"});
        fails(z + z.substr(0, 12), {"truncated gzip stream"});  // a second member cut short
        // Every corruption of the compressed body is reported as a format_error (never a crash or wrong data).
        for (std::size_t i = 10; i + 8 < z.size(); ++i) {
            std::string bad = z;
            bad[i] = static_cast<char>(bad[i] ^ 0x5A);
            write_bytes(dir / "flip.gz", bad);
            CHECK_THROWS_AS((void)nn::load_idx(dir / "flip.gz"), approxnn::format_error);
        }
    }
    SUBCASE("a missing file is io_error") {
        check_throws_with<approxnn::io_error>([&] { (void)nn::load_idx(dir / "none"); }, {(dir / "none").string()});
    }
}

TEST_CASE("idx data set: images and labels to a dataset, with checks") {
    const scratch_dir dir("idx_dataset");
    std::string pixels = pattern(4 * 3 * 2);
    pixels[0] = '\0';
    pixels[1] = static_cast<char>(255);
    write_gzip(dir / "img.gz", idx_bytes({4, 3, 2}, pixels));
    write_bytes(dir / "lab", idx_bytes({4}, std::string("\x02\x00\x01\x02", 4)));
    const nn::dataset d = nn::load_idx_dataset(dir / "img.gz", dir / "lab", 3, "tiny");
    CHECK(d.size() == 4);
    CHECK(d.images.shape() == nn::shape_t{4, 3, 2, 1});
    CHECK(d.labels == std::vector<std::uint8_t>{2, 0, 1, 2});
    CHECK(d.classes == 3);
    CHECK(d.name == "tiny");
    CHECK(d.images[0] == 0.0F);
    CHECK(d.images[1] == 1.0F);
    for (std::size_t i = 0; i < d.images.size(); ++i) {
        CHECK(d.images[i] == static_cast<float>(static_cast<unsigned char>(pixels[i])) / 255.0F);
    }
    CHECK_NOTHROW(d.validate());

    write_bytes(dir / "lab5", idx_bytes({5}, std::string(5, '\0')));
    check_throws_with<approxnn::format_error>(
        [&] { (void)nn::load_idx_dataset(dir / "img.gz", dir / "lab5", 3, "x"); },
        {(dir / "lab5").string(), "5 labels", (dir / "img.gz").string(), "4 images"});
    check_throws_with<approxnn::format_error>([&] { (void)nn::load_idx_dataset(dir / "img.gz", dir / "lab", 2, "x"); },
                                              {(dir / "lab").string(), "label 2 of sample 0", "class count 2"});
    check_throws_with<approxnn::format_error>([&] { (void)nn::load_idx_dataset(dir / "lab", dir / "lab", 3, "x"); },
                                              {(dir / "lab").string(), "3 dimensions"});
    check_throws_with<approxnn::format_error>(
        [&] { (void)nn::load_idx_dataset(dir / "img.gz", dir / "img.gz", 3, "x"); },
        {(dir / "img.gz").string(), "1 dimension", "4 x 3 x 2"});
}

TEST_CASE("data set: size, subset and validate") {
    nn::dataset d = nn::synthetic_dataset(20, 7);
    CHECK(d.size() == 20);
    CHECK(d.sample_shape() == nn::shape_t{12, 12, 1});
    const nn::dataset s = d.subset(5, 10);
    CHECK(s.size() == 10);
    CHECK(s.images.shape() == nn::shape_t{10, 12, 12, 1});
    CHECK(s.classes == d.classes);
    CHECK(contains(s.name, "[5:15]"));
    CHECK(std::equal(s.images.begin(), s.images.end(), d.images.begin() + 5 * 144));
    CHECK(std::equal(s.labels.begin(), s.labels.end(), d.labels.begin() + 5));
    CHECK(d.subset(20, 0).size() == 0);
    check_throws_with<approxnn::parameter_error>([&] { (void)d.subset(15, 6); }, {d.name, "15", "6", "20 samples"});
    check_throws_with<approxnn::parameter_error>([&] { (void)d.subset(21, 0); }, {"21"});

    CHECK_NOTHROW(d.validate());
    d.labels[13] = 10;
    check_throws_with<approxnn::format_error>([&] { d.validate(); }, {d.name, "label 10 of sample 13", "10"});
    d.labels.pop_back();
    check_throws_with<approxnn::shape_error>([&] { d.validate(); }, {d.name, "[20, 12, 12, 1]", "19 labels"});
}

TEST_CASE("data: Fashion-MNIST from /usr/share/datasets/fashion-mnist") {
    const fs::path dir = "/usr/share/datasets/fashion-mnist";
    if (!fs::is_directory(dir)) {
        MESSAGE("skipped: " << dir << " is absent (apt install dataset-fashion-mnist)");
        return;
    }
    const auto start = std::chrono::steady_clock::now();
    const nn::dataset_split f = nn::load_fashion_mnist();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("Fashion-MNIST loaded in " << seconds << " s");
    CHECK(seconds < 5.0);  // generous for sanitizer builds; about 0.4 s in a release build

    CHECK(f.train.size() == 60000);
    CHECK(f.test.size() == 10000);
    CHECK(f.train.images.shape() == nn::shape_t{60000, 28, 28, 1});
    CHECK(f.test.images.shape() == nn::shape_t{10000, 28, 28, 1});
    CHECK(f.train.classes == 10);
    CHECK(f.train.name == "fashion-mnist/train");
    CHECK(f.test.name == "fashion-mnist/test");
    CHECK_NOTHROW(f.train.validate());
    CHECK_NOTHROW(f.test.validate());
    // The official files start with these labels (9 = ankle boot).
    CHECK(std::vector<std::uint8_t>(f.train.labels.begin(), f.train.labels.begin() + 12) ==
          std::vector<std::uint8_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9});
    CHECK(std::vector<std::uint8_t>(f.test.labels.begin(), f.test.labels.begin() + 12) ==
          std::vector<std::uint8_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5});
    CHECK(nn::fashion_mnist_classes[f.train.labels[0]] == "Ankle boot");
    // Balanced: 6000 / 1000 images per class.
    for (const auto* d : {&f.train, &f.test}) {
        std::vector<std::size_t> count(10);
        for (const std::uint8_t l : d->labels) ++count[l];
        for (const std::size_t c : count) CHECK(c == d->size() / 10);
    }
    // Pixel sums of the first images (bytes 76247 and 33456) and the value range.
    const auto byte_sum = [](const nn::dataset& d) {
        double s = 0;
        for (std::size_t i = 0; i < 784; ++i) s += std::round(d.images[i] * 255.0F);
        return s;
    };
    CHECK(byte_sum(f.train) == 76247.0);
    CHECK(byte_sum(f.test) == 33456.0);
    const auto [lo, hi] = std::minmax_element(f.train.images.begin(), f.train.images.end());
    CHECK(*lo == 0.0F);
    CHECK(*hi == 1.0F);
}

TEST_CASE("data: Fashion-MNIST from a directory: names without .gz, missing directory and files") {
    const scratch_dir dir("fashion");
    const auto images = [](std::uint32_t n) { return idx_bytes({n, 28, 28}, pattern(n * 784)); };
    const auto labels = [](std::uint32_t n) { return idx_bytes({n}, std::string(n, '\x09')); };
    write_bytes(dir / "train-images-idx3-ubyte", images(3));
    write_gzip(dir / "train-labels-idx1-ubyte.gz", labels(3));
    write_bytes(dir / "t10k-images-idx3-ubyte", images(2));

    check_throws_with<approxnn::not_found_error>(
        [&] { (void)nn::load_fashion_mnist(dir.path()); },
        {(dir / "t10k-labels-idx1-ubyte.gz").string(), "dataset-fashion-mnist", "apt install"});
    write_bytes(dir / "t10k-labels-idx1-ubyte", labels(2));
    const nn::dataset_split f = nn::load_fashion_mnist(dir.path());
    CHECK(f.train.size() == 3);
    CHECK(f.test.size() == 2);
    CHECK(f.test.labels[1] == 9);

    write_bytes(dir / "t10k-images-idx3-ubyte", idx_bytes({2, 27, 28}, pattern(2 * 27 * 28)));
    check_throws_with<approxnn::format_error>([&] { (void)nn::load_fashion_mnist(dir.path()); },
                                              {(dir / "t10k-images-idx3-ubyte").string(), "27 x 28"});
    fs::remove(dir / "train-images-idx3-ubyte");
    check_throws_with<approxnn::not_found_error>(
        [&] { (void)nn::load_fashion_mnist(dir.path()); },
        {(dir / "train-images-idx3-ubyte.gz").string(), "dataset-fashion-mnist"});
    check_throws_with<approxnn::not_found_error>([&] { (void)nn::load_fashion_mnist(dir / "nowhere"); },
                                                 {(dir / "nowhere").string(), "apt install dataset-fashion-mnist"});
}

TEST_CASE("data: the synthetic data set is deterministic, varied and learnable") {
    const nn::dataset a = nn::synthetic_dataset(500, 42);
    const nn::dataset b = nn::synthetic_dataset(500, 42);
    const nn::dataset c = nn::synthetic_dataset(500, 43);
    CHECK(a.images.shape() == nn::shape_t{500, 12, 12, 1});
    CHECK(a.classes == 10);
    CHECK(std::memcmp(a.images.data(), b.images.data(), a.images.size() * sizeof(float)) == 0);
    CHECK(a.labels == b.labels);
    CHECK(std::memcmp(a.images.data(), c.images.data(), a.images.size() * sizeof(float)) != 0);
    CHECK_NOTHROW(a.validate());
    for (std::size_t i = 0; i < 500; ++i) CHECK(a.labels[i] == i % 10);
    CHECK(std::all_of(a.images.begin(), a.images.end(), [](float v) { return v >= 0.0F && v <= 1.0F; }));
    // A prefix is the same whatever the sample count.
    const nn::dataset shorter = nn::synthetic_dataset(30, 42);
    CHECK(std::memcmp(shorter.images.data(), a.images.data(), shorter.images.size() * sizeof(float)) == 0);

    // Two samples of one class differ (shifts, intensity, noise).
    CHECK(std::memcmp(a.images.data(), a.images.data() + 10 * 144, 144 * sizeof(float)) != 0);

    // Learnable but not trivial: nearest class mean, fitted on 2000 samples, on 1000 others.
    const nn::dataset train = nn::synthetic_dataset(2000, 1);
    const nn::dataset test = nn::synthetic_dataset(1000, 2);
    std::vector<double> mean(10 * 144, 0.0);
    for (std::size_t i = 0; i < train.size(); ++i) {
        for (std::size_t p = 0; p < 144; ++p) mean[train.labels[i] * 144 + p] += train.images[i * 144 + p] / 200.0;
    }
    std::size_t correct = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
        std::size_t best = 0;
        double best_distance = 1e300;
        for (std::size_t k = 0; k < 10; ++k) {
            double distance = 0;
            for (std::size_t p = 0; p < 144; ++p) {
                const double d = test.images[i * 144 + p] - mean[k * 144 + p];
                distance += d * d;
            }
            if (distance < best_distance) {
                best_distance = distance;
                best = k;
            }
        }
        correct += best == test.labels[i] ? 1 : 0;
    }
    const double accuracy = static_cast<double>(correct) / 1000.0;
    MESSAGE("synthetic data: nearest-class-mean accuracy " << accuracy);
    CHECK(accuracy > 0.5);
    CHECK(accuracy < 0.999);

    nn::synthetic_options options;
    options.classes = 3;
    options.height = 16;
    options.width = 9;
    options.max_shift = 0;
    options.noise = 0.0F;
    const nn::dataset plain = nn::synthetic_dataset(6, 5, options);
    CHECK(plain.images.shape() == nn::shape_t{6, 16, 9, 1});
    CHECK(plain.classes == 3);
    // Class 1 without shift or noise is the vertical bar: glyph columns 3 and 4 at image columns 3 and 4 (offset 0).
    const float* bar = plain.images.data() + 1 * 16 * 9;
    CHECK(bar[4 * 9 + 3] >= 0.6F);
    CHECK(bar[4 * 9 + 5] == 0.0F);
    CHECK(bar[1 * 9 + 3] == 0.0F);  // above the glyph (offset (16 - 8) / 2 = 4)

    options = {};
    options.classes = 11;
    check_throws_with<approxnn::parameter_error>([&] { (void)nn::synthetic_dataset(1, 0, options); }, {"11 classes"});
    options = {};
    options.width = 7;
    check_throws_with<approxnn::parameter_error>([&] { (void)nn::synthetic_dataset(1, 0, options); }, {"12 x 7"});
    options = {};
    options.noise = -1.0F;
    check_throws_with<approxnn::parameter_error>([&] { (void)nn::synthetic_dataset(1, 0, options); }, {"noise"});
}

TEST_CASE("data: batch_order is a permutation fixed by (seed, epoch)") {
    const std::vector<std::size_t> p = nn::batch_order(1000, 9, 0);
    std::vector<std::size_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::size_t> iota(1000);
    std::iota(iota.begin(), iota.end(), std::size_t{0});
    CHECK(sorted == iota);
    CHECK(p != iota);
    CHECK(nn::batch_order(1000, 9, 0) == p);
    CHECK(nn::batch_order(1000, 9, 1) != p);
    CHECK(nn::batch_order(1000, 10, 0) != p);
    CHECK(nn::batch_order(0, 1, 2).empty());
    CHECK(nn::batch_order(1, 1, 2) == std::vector<std::size_t>{0});
    // Only std::mt19937_64's raw output is used: this permutation is the same with every standard library.
    CHECK(nn::batch_order(10, 42, 3) == std::vector<std::size_t>{5, 2, 0, 1, 8, 7, 9, 6, 4, 3});
}

TEST_CASE("data: gather_batch copies samples into a reused tensor") {
    const nn::dataset d = nn::synthetic_dataset(30, 3);
    nn::tensor images;
    std::vector<std::uint8_t> labels;
    const std::vector<std::size_t> indices{29, 0, 7, 7};
    nn::gather_batch(d, indices, images, labels);
    CHECK(images.shape() == nn::shape_t{4, 12, 12, 1});
    CHECK(labels == std::vector<std::uint8_t>{9, 0, 7, 7});
    for (std::size_t b = 0; b < 4; ++b) {
        CHECK(std::equal(images.begin() + static_cast<std::ptrdiff_t>(b * 144),
                         images.begin() + static_cast<std::ptrdiff_t>((b + 1) * 144),
                         d.images.begin() + static_cast<std::ptrdiff_t>(indices[b] * 144)));
    }
    const float* buffer = images.data();
    const std::vector<std::size_t> fewer{1, 2};
    nn::gather_batch(d, fewer, images, labels);
    CHECK(images.shape() == nn::shape_t{2, 12, 12, 1});
    CHECK(images.data() == buffer);  // no reallocation when the batch shrinks
    CHECK(labels == std::vector<std::uint8_t>{1, 2});
    const std::vector<std::size_t> bad{3, 30};
    check_throws_with<approxnn::parameter_error>([&] { nn::gather_batch(d, bad, images, labels); },
                                                 {"index 30", "size 30", d.name});
    nn::gather_batch(d, std::span<const std::size_t>(), images, labels);
    CHECK(images.shape() == nn::shape_t{0, 12, 12, 1});
    CHECK(labels.empty());
}
