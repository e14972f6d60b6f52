#include <doctest/doctest.h>

#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/multipliers/catalogue.hpp"
#include "approxnn/multipliers/catalogue_io.hpp"
#include "approxnn/multipliers/families.hpp"
#include "approxnn/multipliers/statistics.hpp"
#include "approxnn/multipliers/table.hpp"
#include "approxnn/multipliers/table_io.hpp"

namespace {

namespace fs = std::filesystem;
namespace am = approxnn::multipliers;
using approxnn::operand_position;
using approxnn::signedness;
using am::catalogue;
using am::catalogue_entry;
using am::design_instance;
using am::parameter_value;
using am::power_figure;
using am::power_origin;
using am::table_multiplier;

constexpr signedness u8 = signedness::unsigned_operands;
constexpr signedness s8 = signedness::signed_operands;
using test_support::check_throws_with;
using test_support::contains;
using test_support::write_bytes;

/// A scratch directory for this file's tests.
struct scratch_dir : test_support::scratch_dir {
    explicit scratch_dir(const std::string& name) : test_support::scratch_dir("catalogue", name) {}
};




/// Saves t as `file` under dir (creating subdirectories).
void save(const scratch_dir& dir, const std::string& file, const table_multiplier& t) {
    fs::create_directories((dir / file).parent_path());
    am::save_table(t, dir / file);
}

/// A policy with neither parameters nor family nor power estimate: M(a, b) = ab + 1.
struct plus_one {
    using operand_type = std::uint8_t;
    using product_type = std::int32_t;
    static constexpr bool is_signed = false;
    static constexpr bool is_exact = false;
    static constexpr operand_position weight_operand = operand_position::second;
    static std::string name() { return "plus_one_u8"; }
    static constexpr product_type multiply(operand_type a, operand_type b) noexcept { return a * b + 1; }
};
static_assert(approxnn::multiplier<plus_one>);
static_assert(!approxnn::has_power_estimate<plus_one>);

template <class M>
concept entry_from_policy_without_power = requires { catalogue_entry::from_policy<M>(); };
static_assert(!entry_from_policy_without_power<plus_one>, "from_policy<M>() needs M's own power estimate");
static_assert(entry_from_policy_without_power<am::drum<std::int8_t, 4>>);

/// The catalogue used for the save/load round trips: closed-form entries of both signednesses, a weight-first
/// entry, a table with a synthesised power in mW and a user table with its own family and parameters.
catalogue round_trip_catalogue() {
    catalogue c;
    for (const char* name : {"exact_u8", "exact_s8", "column_truncation_u8_k4", "broken_array_s8_h2_v6", "drum_s8_k4",
                             "mitchell_u8", "perforation_s8_j1_m2"}) {
        c.add(catalogue_entry::from_design(design_instance::parse(name)));
    }
    c.add(catalogue_entry::from_policy<am::swapped<am::broken_array<std::uint8_t, 2, 6>>>());

    table_multiplier reference = table_multiplier::exact(u8);
    reference.set_name("mul8u_reference");
    c.add(catalogue_entry(reference,
                          power_figure{1.0, 0.391, power_origin::synthesised, "EvoApproxLib mul8u_1JFF, PDK45_PWR"}));

    std::vector<std::int32_t> products(65536);
    for (int first = 0; first < 256; ++first) {
        for (int second = 0; second < 256; ++second) {
            const int a = static_cast<std::int8_t>(first);
            const int b = static_cast<std::int8_t>(second);
            products[static_cast<std::size_t>(first * 256 + second)] = a * b + ((a * 7 + b * 3) % 5) - 2;
        }
    }
    c.add(catalogue_entry(table_multiplier(s8, operand_position::first, products, "custom_s8"),
                          power_figure{0.37, 0.1572, power_origin::user, "lab measurement \"v2\", 2024"},
                          "custom_family", {{"seed", 7}, {"width", 3}}));
    return c;
}

}  // namespace

TEST_CASE("default_catalogue(): contents") {
    const catalogue c = am::default_catalogue();
    const catalogue unsigned_entries = c.subset(u8);
    const catalogue signed_entries = c.subset(s8);
    CHECK(unsigned_entries.size() >= 40);
    CHECK(signed_entries.size() >= 40);
    CHECK(unsigned_entries.size() + signed_entries.size() == c.size());
    CHECK_FALSE(c.empty());

    std::set<std::string> names;
    for (const catalogue_entry& e : c) names.insert(e.name());
    CHECK(names.size() == c.size());

    SUBCASE("an exact entry per signedness, relative power 1 and no error") {
        for (const char* name : {"exact_u8", "exact_s8"}) {
            CAPTURE(name);
            const catalogue_entry& e = c.at(name);
            CHECK(e.power().relative == 1.0);
            CHECK(e.is_exact());
            CHECK(e.table().is_exact());
            CHECK(e.statistics().wce == 0);
            CHECK(e.statistics().mae == 0.0);
            CHECK(e.statistics().ep_percent == 0.0);
            CHECK(e.statistics().bias == 0.0);
            CHECK(e.family() == "exact");
            CHECK(e.parameters().empty());
        }
        CHECK(c.at("exact_u8").operand_signedness() == u8);
        CHECK(c.at("exact_s8").operand_signedness() == s8);
        // Only the exact designs are exact.
        std::size_t exact_count = 0;
        for (const catalogue_entry& e : c) exact_count += e.is_exact() ? 1 : 0;
        CHECK(exact_count == 2);
    }

    SUBCASE("every entry is its design: same table as design_instance::parse(name), estimated power") {
        for (const catalogue_entry& e : c) {
            CAPTURE(e.name());
            const design_instance d = design_instance::parse(e.name());
            CHECK(e.table() == d.table());
            CHECK(e.table().name() == e.name());
            CHECK(e.operand_signedness() == d.operand_signedness());
            CHECK(e.table().weight_operand() == operand_position::second);
            CHECK(e.family() == d.family().name);
            const std::vector<approxnn::parameter> p = d.parameters();
            REQUIRE(e.parameters().size() == p.size());
            for (std::size_t i = 0; i < p.size(); ++i) {
                CHECK(e.parameters()[i].name == p[i].name);
                CHECK(e.parameters()[i].value == p[i].value);
            }
            CHECK(e.power().origin == power_origin::estimated);
            CHECK(e.power().relative == d.relative_power());
            CHECK_FALSE(e.power().milliwatts.has_value());
            CHECK_FALSE(e.power().source.empty());
            CHECK(std::isfinite(e.power().relative));
            CHECK(e.power().relative > 0.0);
            const am::error_statistics st = am::compute_statistics(e.table());
            CHECK(e.statistics().mae == st.mae);
            CHECK(e.statistics().wce == st.wce);
            CHECK(e.statistics().bias == st.bias);
            CHECK(e.statistics().commutative == st.commutative);
            CHECK(e.is_exact() == (st.wce == 0));
        }
    }

    SUBCASE("the issue's anchor is in the catalogue") {
        const catalogue_entry& ct4 = c.at("column_truncation_u8_k4");
        CHECK(ct4.statistics().mae == 12.25);
        CHECK(ct4.statistics().wce == 49);
        CHECK(ct4.statistics().ep_percent == 81.25);
        CHECK(ct4.statistics().bias == -12.25);
        CHECK(ct4.parameter_text() == "k=4");
        CHECK(ct4.power().relative < 1.0);
    }

    SUBCASE("default_catalogue(s) is the subset of that signedness") {
        for (const signedness s : {u8, s8}) {
            const catalogue one = am::default_catalogue(s);
            const catalogue sub = c.subset(s);
            REQUIRE(one.size() == sub.size());
            CHECK(one.size() == am::default_designs(s).size());
            for (std::size_t i = 0; i < one.size(); ++i) {
                CHECK(one[i].name() == sub[i].name());
                CHECK(one[i].table() == sub[i].table());
                CHECK(one[i].power() == sub[i].power());
            }
        }
    }
}

TEST_CASE("catalogue: sorted_by_power, subset, find and at") {
    const catalogue c = am::default_catalogue();

    SUBCASE("sorted_by_power is non-decreasing, ties by name, and a permutation") {
        const catalogue sorted = c.sorted_by_power();
        REQUIRE(sorted.size() == c.size());
        for (std::size_t i = 1; i < sorted.size(); ++i) {
            CAPTURE(sorted[i].name());
            CHECK(sorted[i - 1].power().relative <= sorted[i].power().relative);
            if (sorted[i - 1].power().relative == sorted[i].power().relative) {
                CHECK(sorted[i - 1].name() < sorted[i].name());
            }
        }
        std::set<std::string> a;
        std::set<std::string> b;
        for (const catalogue_entry& e : c) a.insert(e.name());
        for (const catalogue_entry& e : sorted) b.insert(e.name());
        CHECK(a == b);
        // Removing partial-product columns saves power.
        CHECK(c.at("column_truncation_u8_k9").power().relative < c.at("exact_u8").power().relative);
    }

    SUBCASE("subset keeps catalogue order and only the given signedness") {
        for (const signedness s : {u8, s8}) {
            const catalogue sub = c.subset(s);
            std::vector<std::string> expected;
            for (const catalogue_entry& e : c) {
                if (e.operand_signedness() == s) expected.push_back(e.name());
            }
            std::vector<std::string> got;
            for (const catalogue_entry& e : sub) got.push_back(e.name());
            CHECK(got == expected);
        }
        CHECK(catalogue().subset(u8).empty());
    }

    SUBCASE("find and at") {
        const catalogue_entry* drum = c.find("drum_s8_k4");
        REQUIRE(drum != nullptr);
        CHECK(drum->name() == "drum_s8_k4");
        CHECK(&c.at("drum_s8_k4") == drum);
        CHECK(c.find("drum_s8_k99") == nullptr);
        CHECK(c.find("") == nullptr);
        check_throws_with<approxnn::not_found_error>([&] { (void)c.at("no_such_multiplier"); },
                                                     {"'no_such_multiplier'"});
        catalogue mutable_copy = c;
        check_throws_with<approxnn::not_found_error>([&] { (void)mutable_copy.at("mul8u_1JFF"); }, {"'mul8u_1JFF'"});
    }
}

TEST_CASE("catalogue: add, set_power and entries from policies") {
    catalogue c = am::default_catalogue(u8);
    const std::size_t size = c.size();

    SUBCASE("adding a duplicate name is a parameter_error naming it") {
        check_throws_with<approxnn::parameter_error>(
            [&] { c.add(catalogue_entry::from_design(design_instance::parse("drum_u8_k4"))); }, {"'drum_u8_k4'"});
        CHECK(c.size() == size);
        table_multiplier t = table_multiplier::exact(s8);
        t.set_name("exact_u8");  // same name, other table: still a clash
        check_throws_with<approxnn::parameter_error>([&] { c.add(catalogue_entry(t, power_figure{})); },
                                                     {"'exact_u8'"});
        std::vector<catalogue_entry> twice{catalogue_entry::from_design(design_instance::parse("mitchell_s8")),
                                           catalogue_entry::from_design(design_instance::parse("mitchell_s8"))};
        check_throws_with<approxnn::parameter_error>(
            [&] {
                const catalogue both(twice);
                (void)both;
            },
            {"'mitchell_s8'"});
        c.add(catalogue_entry::from_design(design_instance::parse("drum_s8_k4")));  // a new name is fine
        CHECK(c.size() == size + 1);
        CHECK(c[size].name() == "drum_s8_k4");
    }

    SUBCASE("set_power overrides a figure; invalid figures are refused") {
        const power_figure mine{0.5, 0.2, power_origin::user, "my synthesis, 22 nm"};
        c.at("drum_u8_k4").set_power(mine);
        CHECK(c.at("drum_u8_k4").power() == mine);
        const catalogue sorted = c.sorted_by_power();
        std::size_t position = 0;
        while (sorted[position].name() != "drum_u8_k4") ++position;
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            if (i < position) CHECK(sorted[i].power().relative <= 0.5);
            if (i > position) CHECK(sorted[i].power().relative >= 0.5);
        }

        const double nan = std::numeric_limits<double>::quiet_NaN();
        const double inf = std::numeric_limits<double>::infinity();
        for (const power_figure& bad : {power_figure{-0.1, std::nullopt, power_origin::user, ""},
                                        power_figure{nan, std::nullopt, power_origin::user, ""},
                                        power_figure{inf, std::nullopt, power_origin::user, ""},
                                        power_figure{0.5, -1.0, power_origin::user, ""},
                                        power_figure{0.5, nan, power_origin::user, ""}}) {
            check_throws_with<approxnn::parameter_error>([&] { c.at("drum_u8_k4").set_power(bad); }, {"drum_u8_k4"});
        }
        CHECK(c.at("drum_u8_k4").power() == mine);  // unchanged
        check_throws_with<approxnn::parameter_error>(
            [] {
                const catalogue_entry e(table_multiplier::exact(u8),
                                        power_figure{-1.0, std::nullopt, power_origin::user, ""});
                (void)e;
            },
            {"exact_u8"});
    }

    SUBCASE("catalogue_entry::from_policy with the policy's estimate") {
        using ct4 = am::column_truncation<std::uint8_t, 4>;
        const catalogue_entry e = catalogue_entry::from_policy<ct4>();
        CHECK(e.name() == "column_truncation_u8_k4");
        CHECK(e.family() == "column_truncation");
        CHECK(e.parameters() == std::vector<parameter_value>{{"k", 4}});
        CHECK(e.parameter_text() == "k=4");
        CHECK(e.power().relative == ct4::relative_power());
        CHECK(e.power().origin == power_origin::estimated);
        CHECK_FALSE(e.power().milliwatts.has_value());
        CHECK(e.table() == table_multiplier::from_policy<ct4>());
        // The same design through the run-time path.
        const catalogue_entry d = catalogue_entry::from_design(design_instance::parse("column_truncation_u8_k4"));
        CHECK(d.table() == e.table());
        CHECK(d.power().relative == e.power().relative);
        CHECK(d.statistics().mae == e.statistics().mae);

        const catalogue_entry bam = catalogue_entry::from_policy<am::broken_array<std::int8_t, 2, 6>>();
        CHECK(bam.parameters() == std::vector<parameter_value>{{"h", 2}, {"v", 6}});
        CHECK(contains(bam.parameter_text(), "h=2"));
        CHECK(contains(bam.parameter_text(), "v=6"));

        const catalogue_entry w = catalogue_entry::from_policy<am::swapped<am::broken_array<std::uint8_t, 2, 6>>>();
        CHECK(w.name() == "broken_array_u8_h2_v6_swapped");
        CHECK(w.table().weight_operand() == operand_position::first);
        CHECK(w.parameters() == std::vector<parameter_value>{{"h", 2}, {"v", 6}});
        CHECK(w.power().relative == am::broken_array<std::uint8_t, 2, 6>::relative_power());
    }

    SUBCASE("catalogue_entry::from_policy with an explicit power") {
        const power_figure lab{0.42, 0.164, power_origin::synthesised, "lab"};
        const catalogue_entry e = catalogue_entry::from_policy<am::drum<std::int8_t, 4>>(lab);
        CHECK(e.power() == lab);
        CHECK(e.family() == "drum");
        CHECK(e.name() == "drum_s8_k4");

        const catalogue_entry p = catalogue_entry::from_policy<plus_one>(power_figure{0.9, std::nullopt,
                                                                                      power_origin::user, "guess"});
        CHECK(p.name() == "plus_one_u8");
        CHECK(p.family() == "policy");
        CHECK(p.parameters().empty());
        CHECK(p.parameter_text().empty());
        CHECK(p.power().relative == 0.9);
        CHECK(p.power().origin == power_origin::user);
        CHECK(p.statistics().bias == 1.0);  // e = +1 everywhere
        CHECK(p.statistics().ep_percent == 100.0);
        CHECK_FALSE(p.is_exact());
    }

    SUBCASE("an entry for any table") {
        const catalogue_entry e(table_multiplier::exact(s8), power_figure{});
        CHECK(e.family() == "table");
        CHECK(e.parameters().empty());
        CHECK(e.power().relative == 1.0);
        CHECK(e.power().origin == power_origin::user);
        CHECK(e.is_exact());
    }
}

TEST_CASE("save_catalogue + load_catalogue round trip through every table format") {
    const catalogue original = round_trip_catalogue();
    for (const am::table_format format : {am::table_format::csv, am::table_format::npy, am::table_format::tfapprox}) {
        CAPTURE(am::to_string(format));
        const scratch_dir dir(std::string("round_trip_") + std::string(am::to_string(format)));
        const fs::path target = dir / "saved";  // created by save_catalogue
        am::save_catalogue(original, target, format);
        CHECK(fs::exists(target / "catalogue.json"));
        std::size_t table_files = 0;
        for (const auto& file : fs::directory_iterator(target)) {
            if (file.path().extension() == am::file_extension(format)) ++table_files;
        }
        CHECK(table_files == original.size());

        const catalogue loaded = am::load_catalogue(target);
        REQUIRE(loaded.size() == original.size());
        for (std::size_t i = 0; i < original.size(); ++i) {
            const catalogue_entry& a = original[i];
            const catalogue_entry& b = loaded[i];
            CAPTURE(a.name());
            CHECK(b.name() == a.name());
            CHECK(b.family() == a.family());
            CHECK(b.parameters() == a.parameters());
            CHECK(b.table().same_products(a.table()));
            CHECK(b.operand_signedness() == a.operand_signedness());
            CHECK(b.table().weight_operand() == a.table().weight_operand());
            CHECK(b.power().relative == a.power().relative);
            CHECK(b.power().origin == a.power().origin);
            CHECK(b.power().milliwatts == a.power().milliwatts);
            CHECK(b.power().source == a.power().source);
            CHECK(b.power() == a.power());
            CHECK(b.statistics().mae == a.statistics().mae);
            CHECK(b.statistics().bias == a.statistics().bias);
        }
        // The metadata file itself works as the argument too.
        const catalogue again = am::load_catalogue(target / "catalogue.json");
        CHECK(again.size() == original.size());

        // Saving again over the same directory replaces the files.
        am::save_catalogue(loaded, target, format);
        CHECK(am::load_catalogue(target).size() == original.size());
    }
}

TEST_CASE("save_catalogue refuses names that are not file names before writing anything") {
    const scratch_dir dir("bad_names");
    for (const std::string bad : {"a/b", "..", "back\\slash", ""}) {
        CAPTURE(bad);
        table_multiplier t = table_multiplier::exact(u8);
        t.set_name(bad);
        catalogue c;
        c.add(catalogue_entry(t, power_figure{}));
        check_throws_with<approxnn::parameter_error>([&] { am::save_catalogue(c, dir / "out"); }, {"'" + bad + "'"});
        CHECK_FALSE(fs::exists(dir / "out" / "catalogue.json"));
        CHECK(fs::is_empty(dir / "out"));
    }
}

TEST_CASE("load_catalogue of a user directory") {
    const scratch_dir dir("user");
    const table_multiplier exact_u = table_multiplier::exact(u8);
    const table_multiplier exact_s = table_multiplier::exact(s8);
    const table_multiplier ct4 = table_multiplier::from_policy<am::column_truncation<std::uint8_t, 4>>();
    const table_multiplier bam = table_multiplier::from_policy<am::broken_array<std::int8_t, 2, 6>>();
    const table_multiplier bam_w = table_multiplier::from_policy<am::swapped<am::broken_array<std::uint8_t, 2, 6>>>();
    const table_multiplier perf = table_multiplier::from_policy<am::perforation<std::int8_t, 1, 2>>();

    SUBCASE("catalogue.json with power_mw and exact_power_mw") {
        save(dir, "a/mul8u_exact.bin", exact_u);
        save(dir, "a/mul8u_ct4.bin", ct4);
        save(dir, "a/tables/mul8s_bam.npy", bam);
        write_bytes(dir / "a/catalogue.json", R"({
  "approxnn_catalogue": 1,
  "exact_power_mw": {"unsigned": 0.391, "signed": 0.425},
  "multipliers": [
    {"name": "mul8u_exact", "file": "mul8u_exact.bin", "signedness": "unsigned", "power_mw": 0.391,
     "source": "EvoApproxLib PDK45"},
    {"file": "mul8u_ct4.bin", "signedness": "u8", "power_mw": 0.25, "family": "column_truncation",
     "parameters": {"k": 4}},
    {"name": "bam_s8", "file": "tables/mul8s_bam.npy", "signedness": "signed", "weight_operand": "second",
     "power_mw": 0.2125}
  ]
})");
        const catalogue c = am::load_catalogue(dir / "a");
        REQUIRE(c.size() == 3);
        CHECK(c[0].name() == "mul8u_exact");
        CHECK(c[1].name() == "mul8u_ct4");  // from the file name
        CHECK(c[2].name() == "bam_s8");

        const catalogue_entry& e = c.at("mul8u_exact");
        CHECK(e.power().relative == 1.0);
        CHECK(e.power().milliwatts == 0.391);
        CHECK(e.power().origin == power_origin::synthesised);
        CHECK(e.power().source == "EvoApproxLib PDK45");
        CHECK(e.family() == "table");
        CHECK(e.is_exact());
        REQUIRE(e.table().power().has_value());
        CHECK(e.table().power()->milliwatts == 0.391);

        const catalogue_entry& t = c.at("mul8u_ct4");
        CHECK(t.power().relative == doctest::Approx(0.25 / 0.391).epsilon(1e-15));
        CHECK(t.power().origin == power_origin::synthesised);
        CHECK(t.family() == "column_truncation");
        CHECK(t.parameters() == std::vector<parameter_value>{{"k", 4}});
        CHECK(t.table().same_products(ct4));
        CHECK(t.statistics().mae == 12.25);

        const catalogue_entry& b = c.at("bam_s8");
        CHECK(b.power().relative == doctest::Approx(0.5).epsilon(1e-15));  // 0.2125 / 0.425
        CHECK(b.operand_signedness() == s8);
        CHECK(b.table().same_products(bam));

        // The metadata file path works as well.
        CHECK(am::load_catalogue(dir / "a" / "catalogue.json").size() == 3);
    }

    SUBCASE("an exact table with power_mw is the reference, wherever it is listed") {
        save(dir, "b/approx.csv", perf);
        save(dir, "b/ref.npy", exact_s);
        write_bytes(dir / "b/catalogue.json", R"({"multipliers": [
    {"file": "approx.csv", "power_mw": 0.1, "source": "synthesis"},
    {"file": "ref.npy", "signedness": "signed", "power_mw": 0.4}
]})");
        const catalogue c = am::load_catalogue(dir / "b");
        REQUIRE(c.size() == 2);
        CHECK(c.at("approx").power().relative == doctest::Approx(0.25).epsilon(1e-15));  // 0.1 / 0.4
        CHECK(c.at("approx").operand_signedness() == s8);  // from the CSV table itself
        CHECK(c.at("approx").table().same_products(perf));
        CHECK(c.at("ref").power().relative == 1.0);
        CHECK(c.at("ref").power().origin == power_origin::synthesised);
    }

    SUBCASE("relative_power, with and without power_origin") {
        save(dir, "c/half.bin", ct4);
        save(dir, "c/est.bin", bam_w);
        save(dir, "c/both.bin", exact_u);
        write_bytes(dir / "c/catalogue.json", R"({"approxnn_catalogue": 1, "multipliers": [
    {"file": "half.bin", "signedness": "unsigned", "relative_power": 0.6},
    {"file": "est.bin", "signedness": "unsigned", "weight_operand": "first", "relative_power": 0.45,
     "power_origin": "estimated", "source": "my model"},
    {"file": "both.bin", "signedness": "unsigned", "relative_power": 1.0, "power_mw": 0.391}
]})");
        const catalogue c = am::load_catalogue(dir / "c");
        REQUIRE(c.size() == 3);
        CHECK(c.at("half").power() == power_figure{0.6, std::nullopt, power_origin::user, ""});
        CHECK(c.at("est").power() == power_figure{0.45, std::nullopt, power_origin::estimated, "my model"});
        CHECK(c.at("est").table().weight_operand() == operand_position::first);
        CHECK(c.at("est").table().same_products(bam_w));
        CHECK(c.at("both").power().relative == 1.0);
        CHECK(c.at("both").power().milliwatts == 0.391);
    }

    SUBCASE("catalogue.csv") {
        save(dir, "d/exact_u8.bin", exact_u);
        save(dir, "d/bam_w1.bin", bam_w);
        save(dir, "d/tables/perf.csv", perf);
        write_bytes(dir / "d/catalogue.csv",
                   "# user catalogue\n"
                   "name,file,signedness,weight_operand,power_mw,relative_power,source,family,power_origin\n"
                   "exact,exact_u8.bin,unsigned,second,0.391,,\"EvoApproxLib, PDK45\",table,\n"
                   "bam first,bam_w1.bin,unsigned,first,,0.5,my estimate,broken_array,estimated\n"
                   ",tables/perf.csv,,,,0.8,,,\n");
        const catalogue c = am::load_catalogue(dir / "d");
        REQUIRE(c.size() == 3);
        const catalogue_entry& e = c.at("exact");
        CHECK(e.power().relative == 1.0);  // its own power_mw is the unsigned reference
        CHECK(e.power().milliwatts == 0.391);
        CHECK(e.power().source == "EvoApproxLib, PDK45");
        CHECK(e.power().origin == power_origin::synthesised);
        const catalogue_entry& w = c.at("bam first");
        CHECK(w.power() == power_figure{0.5, std::nullopt, power_origin::estimated, "my estimate"});
        CHECK(w.family() == "broken_array");
        CHECK(w.table().weight_operand() == operand_position::first);
        CHECK(w.table().same_products(bam_w));
        const catalogue_entry& p = c.at("perf");  // named after the file
        CHECK(p.operand_signedness() == s8);
        CHECK(p.power().relative == 0.8);
        CHECK(p.power().origin == power_origin::user);
        CHECK(p.family() == "table");
        CHECK(p.table().same_products(perf));
        CHECK(am::load_catalogue(dir / "d" / "catalogue.csv").size() == 3);
    }

    SUBCASE("catalogue.json is preferred when both metadata files are present") {
        save(dir, "e/t.bin", exact_u);
        write_bytes(dir / "e/catalogue.json",
                   R"({"multipliers": [{"name": "from_json", "file": "t.bin", "signedness": "unsigned",
                        "relative_power": 1}]})");
        write_bytes(dir / "e/catalogue.csv", "name,file,signedness,relative_power\nfrom_csv,t.bin,unsigned,1\n");
        CHECK(am::catalogue_metadata_path(dir / "e") == dir / "e" / "catalogue.json");
        CHECK(am::load_catalogue(dir / "e")[0].name() == "from_json");
        CHECK(am::load_catalogue(dir / "e" / "catalogue.csv")[0].name() == "from_csv");
    }
}

TEST_CASE("load_catalogue errors name the metadata file and the entry") {
    const scratch_dir dir("errors");
    save(dir, "t_u8.bin", table_multiplier::exact(u8));
    save(dir, "approx_u8.bin", table_multiplier::from_policy<am::column_truncation<std::uint8_t, 4>>());
    save(dir, "signed.csv", table_multiplier::exact(s8));
    const auto json = [&](const std::string& name, const std::string& text) {
        write_bytes(dir / name / "catalogue.json", text);
        return (dir / name / "catalogue.json").string();
    };

    SUBCASE("invalid JSON") {
        const std::string meta = json("invalid", "{\"multipliers\": [ {\"file\": ");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "invalid"); },
                                                  {meta, "not valid JSON"});
    }
    SUBCASE("not an object") {
        const std::string meta = json("array", "[1, 2]");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "array"); }, {meta, "object"});
    }
    SUBCASE("wrong version") {
        const std::string meta = json("version", R"({"approxnn_catalogue": 2, "multipliers": []})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "version"); },
                                                  {meta, "version 2"});
        const std::string text = json("version_text", R"({"approxnn_catalogue": "1", "multipliers": []})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "version_text"); },
                                                  {text, "\"1\""});
    }
    SUBCASE("missing 'multipliers'") {
        const std::string meta = json("no_list", R"({"approxnn_catalogue": 1})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "no_list"); },
                                                  {meta, "'multipliers'"});
        const std::string wrong = json("not_list", R"({"multipliers": {"file": "x.bin"}})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "not_list"); },
                                                  {wrong, "'multipliers'"});
    }
    SUBCASE("an entry without a power figure") {
        const std::string meta = json("no_power", R"({"multipliers": [
            {"name": "ok", "file": "../t_u8.bin", "signedness": "unsigned", "relative_power": 1},
            {"name": "nopower", "file": "../approx_u8.bin", "signedness": "unsigned"}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "no_power"); },
                                                  {meta, "multipliers[1]", "'nopower'", "power"});
    }
    SUBCASE("power_mw without any exact reference") {
        const std::string meta = json("no_reference", R"({"multipliers": [
            {"name": "approx", "file": "../approx_u8.bin", "signedness": "unsigned", "power_mw": 0.2}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "no_reference"); },
                                                  {meta, "multipliers[0]", "'approx'", "power_mw", "unsigned"});
        // A reference for the other signedness does not help.
        const std::string other = json("other_reference", R"({"exact_power_mw": {"signed": 0.425}, "multipliers": [
            {"name": "approx", "file": "../approx_u8.bin", "signedness": "unsigned", "power_mw": 0.2}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "other_reference"); },
                                                  {other, "'approx'", "power_mw"});
    }
    SUBCASE(".bin without signedness") {
        const std::string meta = json("no_sign", R"({"multipliers": [
            {"name": "nosign", "file": "../t_u8.bin", "relative_power": 1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "no_sign"); },
                                                  {meta, "'nosign'", "'signedness' is required"});
    }
    SUBCASE("a missing table file is an io_error") {
        const std::string meta = json("missing_table", R"({"multipliers": [
            {"name": "ghost", "file": "ghost.bin", "signedness": "unsigned", "relative_power": 1}]})");
        check_throws_with<approxnn::io_error>([&] { (void)am::load_catalogue(dir / "missing_table"); },
                                              {meta, "'ghost'", "ghost.bin"});
    }
    SUBCASE("a corrupt table file is a format_error naming the entry") {
        write_bytes(dir / "corrupt" / "short.bin", "too short");
        const std::string meta = json("corrupt", R"({"multipliers": [
            {"name": "short", "file": "short.bin", "signedness": "unsigned", "relative_power": 1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "corrupt"); },
                                                  {meta, "'short'", "short.bin", "131072"});
    }
    SUBCASE("a table file whose signedness disagrees with the metadata") {
        const std::string meta = json("mismatch", R"({"multipliers": [
            {"name": "claims_unsigned", "file": "../signed.csv", "signedness": "unsigned", "relative_power": 1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "mismatch"); },
                                                  {meta, "'claims_unsigned'", "signed.csv"});
    }
    SUBCASE("invalid field values") {
        const std::string sign = json("bad_sign", R"({"multipliers": [
            {"name": "x", "file": "../t_u8.bin", "signedness": "int", "relative_power": 1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "bad_sign"); },
                                                  {sign, "'x'", "'int'"});
        const std::string number = json("bad_number", R"({"multipliers": [
            {"name": "y", "file": "../t_u8.bin", "signedness": "unsigned", "relative_power": "high"}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "bad_number"); },
                                                  {number, "'y'", "relative_power"});
        const std::string negative = json("negative", R"({"multipliers": [
            {"name": "z", "file": "../t_u8.bin", "signedness": "unsigned", "relative_power": -1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "negative"); },
                                                  {negative, "'z'"});
        const std::string extension = json("bad_extension", R"({"multipliers": [
            {"name": "w", "file": "table.txt", "signedness": "unsigned", "relative_power": 1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "bad_extension"); },
                                                  {extension, "'w'", ".txt"});
        const std::string no_file = json("no_file", R"({"multipliers": [{"name": "v", "relative_power": 1}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "no_file"); },
                                                  {no_file, "multipliers[0]", "'file'"});
    }
    SUBCASE("duplicate names") {
        const std::string meta = json("duplicates", R"({"multipliers": [
            {"name": "dup", "file": "../t_u8.bin", "signedness": "unsigned", "relative_power": 1},
            {"name": "dup", "file": "../approx_u8.bin", "signedness": "unsigned", "relative_power": 0.5}]})");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "duplicates"); },
                                                  {meta, "multipliers[1]", "'dup'"});
    }
    SUBCASE("CSV metadata with an unknown column") {
        write_bytes(dir / "csv_column" / "catalogue.csv",
                   "name,file,signedness,relative_power,colour\nx,../t_u8.bin,unsigned,1,red\n");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(dir / "csv_column"); },
                                                  {(dir / "csv_column" / "catalogue.csv").string() + ":1", "'colour'"});
    }
    SUBCASE("CSV metadata: duplicate names, bad numbers, wrong field counts") {
        const fs::path meta = dir / "csv_rows" / "catalogue.csv";
        write_bytes(meta, "name,file,signedness,relative_power\n"
                         "dup,../t_u8.bin,unsigned,1\n"
                         "dup,../approx_u8.bin,unsigned,0.5\n");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(meta); },
                                                  {meta.string() + ":3", "'dup'"});
        write_bytes(meta, "name,file,signedness,power_mw\nbad,../t_u8.bin,unsigned,lots\n");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(meta); },
                                                  {meta.string() + ":2", "'bad'", "'lots'"});
        write_bytes(meta, "name,file,signedness,relative_power\nshort,../t_u8.bin,unsigned\n");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(meta); },
                                                  {meta.string() + ":2", "expected 4 fields, got 3"});
        write_bytes(meta, "name,file,signedness,relative_power\nnopower,../t_u8.bin,unsigned,\n");
        check_throws_with<approxnn::format_error>([&] { (void)am::load_catalogue(meta); },
                                                  {meta.string() + ":2", "'nopower'", "power"});
        write_bytes(meta, "name,file,signedness,relative_power\nghost,ghost.bin,unsigned,1\n");
        check_throws_with<approxnn::io_error>([&] { (void)am::load_catalogue(meta); },
                                              {meta.string() + ":2", "'ghost'", "ghost.bin"});
    }
    SUBCASE("no metadata at all, or metadata of another kind") {
        fs::create_directories(dir / "empty");
        check_throws_with<approxnn::io_error>([&] { (void)am::load_catalogue(dir / "empty"); },
                                              {(dir / "empty").string()});
        write_bytes(dir / "other" / "catalogue.yaml", "multipliers: []\n");
        check_throws_with<approxnn::parameter_error>(
            [&] { (void)am::load_catalogue(dir / "other" / "catalogue.yaml"); }, {"catalogue.yaml"});
        check_throws_with<approxnn::io_error>([&] { (void)am::load_catalogue(dir / "nowhere" / "catalogue.json"); },
                                              {"catalogue.json"});
    }
    SUBCASE("every failure is an approxnn::error") {
        const std::string meta = json("base", R"({"approxnn_catalogue": 3})");
        CHECK_THROWS_AS((void)am::load_catalogue(dir / "base"), approxnn::error);
        CHECK(meta.size() > 0);
    }
}
