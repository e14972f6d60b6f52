// Save -> load of the zoo models gives identical outputs; a mismatched model is refused without changes.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "approxnn/core/error.hpp"
#include "approxnn/nn/data.hpp"
#include "approxnn/nn/model.hpp"
#include "approxnn/nn/models.hpp"
#include "approxnn/nn/serialization.hpp"
#include "approxnn/nn/trainer.hpp"

namespace nn = approxnn::nn;
namespace fs = std::filesystem;

namespace {

fs::path work_dir(const std::string& name) {
    const fs::path dir = fs::path(APPROXNN_TEST_WORK_DIR) / "model_io" / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

bool bit_identical(const nn::tensor& a, const nn::tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("serialization: zoo models saved and loaded give bit-identical outputs, float and quantised") {
    const nn::dataset data = nn::synthetic_dataset(256, 3, {.classes = 10, .height = 28, .width = 28});
    for (const char* name : {"lenet5", "resnet8", "mobilenet_v2"}) {
        CAPTURE(name);
        for (const bool quantised : {false, true}) {
            CAPTURE(quantised);
            auto trained = nn::make_model(name, {.seed = 1});
            if (quantised) nn::quantise(*trained, nn::quantisation{});
            nn::train_options o;
            o.epochs = 1;
            o.batch_size = 64;
            o.schedule = nn::lr_schedule::constant_rate(0.01F);
            o.on_epoch = [](const nn::epoch_report&) { return true; };
            nn::train(*trained, data, o);  // moves weights, batch-norm statistics and quantisation ranges

            const fs::path dir = work_dir(std::string(name) + (quantised ? "_q" : "_f"));
            nn::save_model(*trained, dir, {{"model", name}});
            auto loaded = nn::make_model(name, {.seed = 99});
            if (quantised) nn::quantise(*loaded, nn::quantisation{});
            const nlohmann::json extra = nn::load_model(*loaded, dir);
            CHECK(extra["model"] == name);

            nn::tensor a, b;
            trained->forward(data.images, a, nn::mode::evaluation);
            loaded->forward(data.images, b, nn::mode::evaluation);
            CHECK(bit_identical(a, b));
        }
    }
}

TEST_CASE("serialization: a model directory does not load into another architecture") {
    auto lenet = nn::lenet5();
    const fs::path dir = work_dir("lenet_into_resnet");
    nn::save_model(*lenet, dir);
    auto resnet = nn::resnet8({.seed = 5});
    auto reference = nn::resnet8({.seed = 5});
    CHECK_THROWS_AS(nn::load_model(*resnet, dir), approxnn::format_error);
    // Unchanged: same outputs as an untouched twin.
    const nn::dataset data = nn::synthetic_dataset(8, 1, {.classes = 10, .height = 28, .width = 28});
    nn::tensor a, b;
    resnet->forward(data.images, a, nn::mode::evaluation);
    reference->forward(data.images, b, nn::mode::evaluation);
    CHECK(bit_identical(a, b));
    // A quantised model's directory holds input ranges a float model does not have.
    auto quantised = nn::lenet5();
    nn::quantise(*quantised, nn::quantisation{});
    const fs::path qdir = work_dir("quantised_into_float");
    nn::save_model(*quantised, qdir);
    try {
        nn::load_model(*lenet, qdir);
        FAIL("expected format_error");
    } catch (const approxnn::format_error& e) {
        CHECK(std::string(e.what()).find("conv1.input_range") != std::string::npos);
    }
}
