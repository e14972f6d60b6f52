#include <doctest/doctest.h>

#include "approxnn/core/error.hpp"

TEST_CASE("every approxnn exception is an approxnn::error with its status code") {
    using namespace approxnn;
    CHECK_THROWS_AS(throw parameter_error("p"), error);
    CHECK_THROWS_AS(throw format_error("f"), error);
    CHECK_THROWS_AS(throw io_error("i"), error);
    CHECK_THROWS_AS(throw shape_error("s"), error);
    CHECK_THROWS_AS(throw not_found_error("n"), error);
    CHECK(parameter_error("p").code() == status::invalid_parameter);
    CHECK(format_error("f").code() == status::format_error);
    CHECK(io_error("i").code() == status::io_error);
    CHECK(shape_error("s").code() == status::shape_error);
    CHECK(not_found_error("n").code() == status::not_found);
    CHECK(to_string(status::format_error) == "format error");
    CHECK(std::string(format_error("table.bin: truncated").what()) == "table.bin: truncated");
}
