#include <doctest/doctest.h>

#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/qos/kmeans.hpp"
#include "approxnn/qos/problem_io.hpp"
#include "approxnn/qos/search.hpp"

namespace {

namespace fs = std::filesystem;
namespace qos = approxnn::qos;
using test_support::check_throws_with;

// ---------------------------------------------------------------------------------------------------------------
// k-means

/// Three well separated 2-D blobs of `per` points each around (0,0), (10,0), (0,10).
std::vector<double> blobs(std::size_t per, std::uint64_t seed) {
    qos::random_generator g(seed);
    const double centres[3][2] = {{0, 0}, {10, 0}, {0, 10}};
    std::vector<double> points;
    for (std::size_t b = 0; b < 3; ++b) {
        for (std::size_t i = 0; i < per; ++i) {
            points.push_back(centres[b][0] + g.uniform() - 0.5);
            points.push_back(centres[b][1] + g.uniform() - 0.5);
        }
    }
    return points;
}

TEST_CASE("kmeans: three separated blobs are recovered (k = 3, several seeds)") {
    const std::size_t per = 20;
    const std::vector<double> points = blobs(per, 7);
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        qos::kmeans_options o;
        o.clusters = 3;
        o.restarts = 3;
        o.seed = seed;
        const qos::kmeans_result r = qos::kmeans(points, 2, o);
        CHECK(r.converged);
        std::set<std::size_t> labels_of_blob[3];
        for (std::size_t p = 0; p < points.size() / 2; ++p) labels_of_blob[p / per].insert(r.labels[p]);
        for (const auto& s : labels_of_blob) CHECK(s.size() == 1);
        CHECK(*labels_of_blob[0].begin() != *labels_of_blob[1].begin());
        CHECK(*labels_of_blob[0].begin() != *labels_of_blob[2].begin());
        CHECK(*labels_of_blob[1].begin() != *labels_of_blob[2].begin());
        for (std::size_t j = 0; j < 3; ++j) CHECK(r.sizes[j] == per);
        // Each centroid within 0.5 of a blob centre.
        for (std::size_t j = 0; j < 3; ++j) {
            const auto c = r.centroid(j);
            const double d = std::min({std::hypot(c[0], c[1]), std::hypot(c[0] - 10, c[1]), std::hypot(c[0], c[1] - 10)});
            CHECK(d < 0.5);
        }
    }
}

TEST_CASE("kmeans: k-means++ seeding and the whole run are deterministic for a seed") {
    const std::vector<double> points = blobs(15, 3);
    qos::random_generator a(42), b(42), c(43);
    const std::vector<double> sa = qos::kmeans_plus_plus(points, 2, 3, a);
    const std::vector<double> sb = qos::kmeans_plus_plus(points, 2, 3, b);
    const std::vector<double> sc = qos::kmeans_plus_plus(points, 2, 3, c);
    CHECK(sa == sb);
    CHECK(sa != sc);
    // Seeds are points of the set.
    for (std::size_t j = 0; j < 3; ++j) {
        bool found = false;
        for (std::size_t p = 0; p < points.size() / 2; ++p) {
            found = found || (points[2 * p] == sa[2 * j] && points[2 * p + 1] == sa[2 * j + 1]);
        }
        CHECK(found);
    }
    qos::kmeans_options o;
    o.clusters = 4;
    o.restarts = 5;
    o.seed = 9;
    const qos::kmeans_result r1 = qos::kmeans(points, 2, o);
    const qos::kmeans_result r2 = qos::kmeans(points, 2, o);
    CHECK(r1.labels == r2.labels);
    CHECK(r1.centroids == r2.centroids);
    CHECK(r1.inertia == r2.inertia);
    // The generator's first outputs are fixed (identical with every standard library).
    qos::random_generator g(1);
    const std::uint64_t first = g.next();
    qos::random_generator h(1);
    CHECK(h.next() == first);
    CHECK(first != qos::random_generator(2).next());
}

TEST_CASE("kmeans: restarts keep the run of lowest inertia") {
    // Points where k = 4 has several local optima.
    qos::random_generator g(11);
    std::vector<double> points;
    for (int i = 0; i < 60; ++i) {
        points.push_back(g.uniform() * 10);
        points.push_back(g.uniform() * 10);
    }
    qos::kmeans_options o;
    o.clusters = 5;
    o.restarts = 12;
    o.seed = 5;
    const qos::kmeans_result r = qos::kmeans(points, 2, o);
    REQUIRE(r.run_inertia.size() == 12);
    const double lowest = *std::min_element(r.run_inertia.begin(), r.run_inertia.end());
    CHECK(r.inertia == lowest);
    CHECK(r.run_inertia[r.kept_run] == lowest);
    // The runs differ (otherwise the test proves nothing), and run 0 is restarts = 1 with the same seed.
    CHECK(*std::max_element(r.run_inertia.begin(), r.run_inertia.end()) > lowest);
    o.restarts = 1;
    const qos::kmeans_result single = qos::kmeans(points, 2, o);
    CHECK(single.inertia == r.run_inertia[0]);
    CHECK(r.inertia <= single.inertia);
    // Run r alone (seed = run_seed(seed, r)) reproduces run r's inertia.
    o.seed = qos::run_seed(5, r.kept_run);
    CHECK(qos::kmeans(points, 2, o).inertia == lowest);
}

TEST_CASE("kmeans: k larger than the number of distinct points") {
    // 6 points, 2 distinct positions, k = 4: two clusters hold the points, the others stay empty; inertia 0.
    const std::vector<double> points{1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5};
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        qos::kmeans_options o;
        o.clusters = 4;
        o.restarts = 2;
        o.seed = seed;
        const qos::kmeans_result r = qos::kmeans(points, 2, o);
        CHECK(r.inertia == 0);
        CHECK(r.converged);
        std::size_t non_empty = 0;
        for (const std::size_t s : r.sizes) non_empty += s > 0 ? 1 : 0;
        CHECK(non_empty == 2);
        CHECK(r.labels[0] == r.labels[2]);
        CHECK(r.labels[0] != r.labels[3]);
    }
    // One point, k = 3.
    const std::vector<double> one{2.5};
    qos::kmeans_options o;
    o.clusters = 3;
    const qos::kmeans_result r = qos::kmeans(one, 1, o);
    CHECK(r.labels == std::vector<std::size_t>{0});
    CHECK(r.inertia == 0);
}

TEST_CASE("kmeans: an empty cluster is re-seeded at the farthest point") {
    // Centroids seeded so that one cluster starts empty: with max_iterations = 0 we see the seeding; with more,
    // every cluster ends non-empty when there are at least k distinct points.
    std::vector<double> points{0, 0.1, 0.2, 10, 10.1, 20};
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        qos::kmeans_options o;
        o.clusters = 3;
        o.seed = seed;
        const qos::kmeans_result r = qos::kmeans(points, 1, o);
        for (const std::size_t s : r.sizes) CHECK(s > 0);
    }
    // A constructed empty cluster: two identical seeds on a 3-point set. The k-means++ seeding never duplicates
    // while distinct points remain, so drive Lloyd with 2 clusters on points where one mean captures all:
    // points {0, 0, 0, 9}: whichever seeding, the result separates 9 from the zeros.
    const std::vector<double> skew{0, 0, 0, 9};
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        qos::kmeans_options o;
        o.clusters = 2;
        o.seed = seed;
        const qos::kmeans_result r = qos::kmeans(skew, 1, o);
        CHECK(r.labels[0] != r.labels[3]);
        CHECK(r.inertia == 0);
    }
}

TEST_CASE("kmeans: empty-cluster re-seeding inside Lloyd (k-means++ forced onto a duplicate)") {
    // 5 points at 0 and one at 1, k = 3: at most 2 non-empty clusters can exist; the re-seeding must put the point
    // at 1 in its own cluster and must not loop.
    const std::vector<double> points{0, 0, 0, 0, 0, 1};
    qos::kmeans_options o;
    o.clusters = 3;
    o.max_iterations = 50;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        o.seed = seed;
        const qos::kmeans_result r = qos::kmeans(points, 1, o);
        CHECK(r.labels[5] != r.labels[0]);
        CHECK(r.inertia == 0);
        CHECK(r.converged);
    }
}

TEST_CASE("kmeans: k = 0, n = 0 and bad points are parameter errors") {
    qos::kmeans_options o;
    o.clusters = 0;
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::kmeans(std::vector<double>{1, 2}, 1, o); },
                                                 {"k = 0"});
    o.clusters = 2;
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::kmeans(std::vector<double>{}, 1, o); },
                                                 {"n = 0"});
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::kmeans(std::vector<double>{1, 2, 3}, 2, o); },
                                                 {"3 coordinates"});
    check_throws_with<approxnn::parameter_error>(
        [&] { (void)qos::kmeans(std::vector<double>{1, NAN}, 1, o); }, {"point 1"});
    o.restarts = 0;
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::kmeans(std::vector<double>{1, 2}, 1, o); },
                                                 {"restarts = 0"});
}

// ---------------------------------------------------------------------------------------------------------------
// The search

/// prefix + i (appending avoids g++ 12's false -Wrestrict on "literal" + std::string).
template <class I>
std::string numbered(const char* prefix, I i) {
    std::string s(prefix);
    s.append(std::to_string(i));
    return s;
}

/// A problem with named layers (ops, tau) and multipliers (power, exact), sigma given per layer.
qos::search_problem make_problem(std::vector<qos::layer_tolerance> layers, std::vector<qos::candidate> mults,
                                 std::vector<std::vector<double>> sigma) {
    qos::search_problem p;
    p.layers = std::move(layers);
    p.multipliers = std::move(mults);
    p.predicted_error = std::move(sigma);
    return p;
}

/// A random problem: L layers, M multipliers (index 0 exact, power 1), the others cheaper with larger errors.
qos::search_problem random_problem(std::uint64_t seed, std::size_t max_layers = 12, std::size_t max_mults = 10) {
    qos::random_generator g(seed);
    const std::size_t layers = 2 + g.below(max_layers - 1);
    const std::size_t mults = 2 + g.below(max_mults - 1);
    qos::search_problem p;
    for (std::size_t l = 0; l < layers; ++l) {
        p.layers.push_back({numbered("layer", l), 1 + std::floor(g.uniform() * 1000),
                            0.5 + g.uniform() * 20});
    }
    p.multipliers.push_back({"exact", 1.0, true});
    for (std::size_t m = 1; m < mults; ++m) {
        p.multipliers.push_back({numbered("m", m), 0.05 + 0.9 * g.uniform(), false});
    }
    for (std::size_t l = 0; l < layers; ++l) {
        std::vector<double> row{0.0};
        const double sensitivity = 0.3 + 3 * g.uniform();
        for (std::size_t m = 1; m < mults; ++m) {
            // Cheaper multipliers err more, with noise, so that acceptability differs between layers.
            const double base = (1.1 - p.multipliers[m].relative_power) * 30;
            row.push_back(base * sensitivity * (0.5 + g.uniform()));
        }
        p.predicted_error.push_back(std::move(row));
    }
    return p;
}

/// A random problem with independent errors per (layer, multiplier): sigma = exp(U(-2, 4)).
qos::search_problem wild_problem(std::uint64_t seed) {
    qos::random_generator g(seed);
    const std::size_t layers = 3 + g.below(20);
    const std::size_t mults = 3 + g.below(10);
    qos::search_problem p;
    for (std::size_t l = 0; l < layers; ++l) {
        p.layers.push_back({numbered("layer", l), 1 + g.uniform() * 1000, 0.5 + g.uniform() * 20});
    }
    p.multipliers.push_back({"exact", 1.0, true});
    for (std::size_t m = 1; m < mults; ++m) p.multipliers.push_back({numbered("m", m), 0.05 + 0.9 * g.uniform(), false});
    for (std::size_t l = 0; l < layers; ++l) {
        std::vector<double> row{0.0};
        for (std::size_t m = 1; m < mults; ++m) row.push_back(std::exp(g.uniform() * 6 - 2));
        p.predicted_error.push_back(std::move(row));
    }
    return p;
}

TEST_CASE("search: the centroid rule on a hand-built preference matrix") {
    // Multipliers: 0 exact (1.0), 1 cheap (0.2), 2 medium (0.5), 3 medium-cheap (0.4).
    const qos::search_problem p = make_problem({{"a", 1, 1}}, {{"exact", 1.0, true}, {"cheap", 0.2, false},
                                                               {"medium", 0.5, false}, {"medcheap", 0.4, false}},
                                               {{0, 1, 1, 1}});
    const std::vector<std::size_t> columns{0, 1, 2, 3};
    // Coordinates: cheap 1.3 (no), medium 0.7 (yes), medcheap 0.9 (yes) -> medcheap (0.4 < 0.5).
    CHECK(qos::centroid_multiplier(p, columns, std::vector<double>{0, 1.3, 0.7, 0.9}) == 3);
    // cheap qualifies exactly at 1.0.
    CHECK(qos::centroid_multiplier(p, columns, std::vector<double>{0, 1.0, 0.7, 0.9}) == 1);
    // Nothing approximate qualifies -> exact.
    CHECK(qos::centroid_multiplier(p, columns, std::vector<double>{0, 2, 1.5, 1.01}) == 0);
    // A subset of columns.
    const std::vector<std::size_t> sub{0, 2};
    CHECK(qos::centroid_multiplier(p, sub, std::vector<double>{0, 0.99}) == 2);
    // Ties in power break by index.
    const qos::search_problem tie = make_problem({{"a", 1, 1}}, {{"exact", 1.0, true}, {"x", 0.3, false},
                                                                 {"y", 0.3, false}},
                                                 {{0, 1, 1}});
    const std::vector<std::size_t> c3{0, 2, 1};
    CHECK(qos::centroid_multiplier(tie, c3, std::vector<double>{0, 0.5, 0.5}) == 1);
}

TEST_CASE("search: two groups of layers with distinct tolerances (known answer)") {
    // Layers t0..t3 tight (tau 1), l0..l3 loose (tau 10). cheap (0.2) errs 5: only loose layers accept it;
    // medium (0.6) errs 0.8: everyone accepts it. n = 2, one scale: tight -> medium, loose -> cheap.
    std::vector<qos::layer_tolerance> layers;
    std::vector<std::vector<double>> sigma;
    for (int i = 0; i < 4; ++i) {
        layers.push_back({numbered("t", i), 100, 1.0 + 0.01 * i});
        sigma.push_back({0, 5, 0.8});
    }
    for (int i = 0; i < 4; ++i) {
        layers.push_back({numbered("l", i), 100, 10.0 + 0.1 * i});
        sigma.push_back({0, 5, 0.8});
    }
    const qos::search_problem p =
        make_problem(layers, {{"exact", 1.0, true}, {"cheap", 0.2, false}, {"medium", 0.6, false}}, sigma);
    for (const bool original : {false, true}) {
        qos::search_options o = original ? qos::search_options::original() : qos::search_options{};
        o.multipliers = 2;
        o.scales = {1.0};
        const qos::search_result r = qos::search(p, o);
        CAPTURE(original);
        REQUIRE(r.points.size() == 1);
        CHECK(r.chosen == std::vector<std::size_t>{1, 2});
        for (std::size_t l = 0; l < 4; ++l) CHECK(r.points[0].assignment[l] == 2);
        for (std::size_t l = 4; l < 8; ++l) CHECK(r.points[0].assignment[l] == 1);
        CHECK(r.points[0].relative_power == doctest::Approx(0.4));
        CHECK(r.points[0].savings() == doctest::Approx(0.6));
    }
}

/// For the oracle: the assignment "cheapest member acceptable for the row, else the cheapest exact".
std::set<std::size_t> used_by(const qos::search_problem& p, const std::vector<double>& scales,
                              std::vector<std::size_t> members) {
    std::sort(members.begin(), members.end(), [&](auto a, auto b) { return p.cheaper(a, b); });
    std::set<std::size_t> used;
    for (const double s : scales) {
        for (std::size_t l = 0; l < p.layers.size(); ++l) {
            std::size_t pick = p.cheapest_exact();
            for (const std::size_t m : members) {
                if (p.ratio(l, m, s) <= 1) {
                    pick = m;
                    break;
                }
            }
            used.insert(pick);
        }
    }
    return used;
}

/// Whether some n-subset of the multipliers has all n members used (brute force).
bool n_distinct_possible(const qos::search_problem& p, const std::vector<double>& scales, std::size_t n) {
    const std::size_t m = p.multipliers.size();
    if (n > m) return false;
    for (std::uint32_t mask = 0; mask < (1u << m); ++mask) {
        if (static_cast<std::size_t>(__builtin_popcount(mask)) != n) continue;
        std::vector<std::size_t> members;
        for (std::size_t i = 0; i < m; ++i) {
            if (mask & (1u << i)) members.push_back(i);
        }
        if (used_by(p, scales, members).size() == n) return true;
    }
    return false;
}

TEST_CASE("search: properties on random problems (many seeds)") {
    std::size_t possible_cases = 0, shortfall_original = 0, nonmonotone_original = 0, over_original = 0;
    for (std::uint64_t seed = 1; seed <= 300; ++seed) {
        CAPTURE(seed);
        const qos::search_problem p = seed % 2 == 0 ? random_problem(seed) : wild_problem(seed);
        qos::search_options o;
        o.multipliers = 1 + seed % 5;
        o.seed = seed;
        o.restarts = 3;
        const qos::search_result r = qos::search(p, o);
        REQUIRE(r.points.size() == 3);
        // Never more than n; exactly n when some set of n can all be used.
        CHECK(r.chosen.size() <= o.multipliers);
        const bool possible = n_distinct_possible(p, o.scales, o.multipliers);
        possible_cases += possible ? 1 : 0;
        if (possible) CHECK(r.chosen.size() == o.multipliers);
        // chosen = the multipliers the OPs use, cheapest first.
        std::set<std::size_t> used;
        for (const auto& op : r.points) used.insert(op.assignment.begin(), op.assignment.end());
        CHECK(used == std::set<std::size_t>(r.chosen.begin(), r.chosen.end()));
        for (std::size_t i = 1; i < r.chosen.size(); ++i) CHECK(p.cheaper(r.chosen[i - 1], r.chosen[i]));
        for (std::size_t s = 0; s < r.points.size(); ++s) {
            const auto& op = r.points[s];
            // No row with r > 1.
            CHECK(qos::worst_ratio(p, op) <= 1.0);
            CHECK(op.relative_power > 0);
            CHECK(op.relative_power <= 1.0);
            CHECK(op.relative_power == doctest::Approx(qos::relative_power(p, op.assignment)));
            // Monotone: scales are 0.3 < 1 < 2.
            if (s > 0) {
                for (std::size_t l = 0; l < p.layers.size(); ++l) {
                    CHECK(!p.cheaper(r.points[s - 1].assignment[l], op.assignment[l]));
                }
            }
        }
        // Determinism.
        const qos::search_result again = qos::search(p, o);
        CHECK(again.chosen == r.chosen);
        for (std::size_t s = 0; s < 3; ++s) CHECK(again.points[s].assignment == r.points[s].assignment);
        CHECK(again.inertia == r.inertia);

        // The original on the same input: count its gaps (they are allowed there).
        qos::search_options orig = qos::search_options::original();
        orig.multipliers = o.multipliers;
        orig.seed = seed;
        const qos::search_result ro = qos::search(p, orig);
        CHECK(ro.chosen.size() <= o.multipliers);
        if (possible && ro.chosen.size() < o.multipliers) ++shortfall_original;
        bool monotone = true;
        for (std::size_t s = 1; s < 3; ++s) {
            for (std::size_t l = 0; l < p.layers.size(); ++l) {
                if (p.cheaper(ro.points[s - 1].assignment[l], ro.points[s].assignment[l])) monotone = false;
            }
        }
        nonmonotone_original += monotone ? 0 : 1;
        for (const auto& op : ro.points) over_original += qos::worst_ratio(p, op) > 1 ? 1 : 0;
    }
    MESSAGE("random problems: n possible in " << possible_cases << "/300; original: fewer than n in "
                                              << shortfall_original << ", non-monotone in " << nonmonotone_original
                                              << ", OPs with r > 1: " << over_original);
    CHECK(possible_cases > 100);
    // The gaps exist on these inputs (otherwise the comparison shows nothing).
    CHECK(shortfall_original > 0);
    CHECK(nonmonotone_original > 0);
}

TEST_CASE("search: an exact-only catalogue gives all exact") {
    const qos::search_problem p =
        make_problem({{"a", 10, 1}, {"b", 20, 0}, {"c", 5, 3}}, {{"exact", 1.0, true}}, {{0}, {0}, {0}});
    for (const bool original : {false, true}) {
        qos::search_options o = original ? qos::search_options::original() : qos::search_options{};
        const qos::search_result r = qos::search(p, o);
        CHECK(r.chosen == std::vector<std::size_t>{0});
        for (const auto& op : r.points) {
            CHECK(op.assignment == std::vector<std::size_t>{0, 0, 0});
            CHECK(op.relative_power == 1.0);
        }
    }
}

/// Two centroids that map to the same multiplier in the original (see docs/qos.md).
qos::search_problem shortfall_problem() {
    // Columns: exact (1.0), m0 (0.2), m1 (0.5), m2 (0.8). Group A (a1, a2) accepts m1 and m2, m0 only a1 (r 0.8);
    // a2 rejects m0 (r 3). Group B accepts m1 only (r 0.9), rejects m0 (r 5) and m2 (r 8). With k = 2 the
    // clusters are {a1, a2} and {b1, b2}; the A centroid's m0 coordinate is (0.8 + 1 + ln 3) / 2 > 1, so both
    // centroids map to m1.
    return make_problem({{"a1", 10, 1}, {"a2", 10, 1}, {"b1", 10, 1}, {"b2", 10, 1}},
                        {{"exact", 1.0, true}, {"m0", 0.2, false}, {"m1", 0.5, false}, {"m2", 0.8, false}},
                        {{0, 0.8, 0.5, 0.1}, {0, 3.0, 0.5, 0.1}, {0, 5.0, 0.9, 8.0}, {0, 5.0, 0.9, 8.0}});
}

TEST_CASE("search: original() can give fewer than n distinct; exactly_n completes the set") {
    const qos::search_problem p = shortfall_problem();
    qos::search_options orig = qos::search_options::original();
    orig.multipliers = 2;
    orig.scales = {1.0};
    const qos::search_result ro = qos::search(p, orig);
    // The clusters are {a1, a2} and {b1, b2}, both mapped to m1.
    CHECK(ro.clustering.labels[0] == ro.clustering.labels[1]);
    CHECK(ro.clustering.labels[2] == ro.clustering.labels[3]);
    CHECK(ro.clustering.labels[0] != ro.clustering.labels[2]);
    CHECK(ro.centroid_multiplier[0] == 2);
    CHECK(ro.centroid_multiplier[1] == 2);
    CHECK(ro.chosen == std::vector<std::size_t>{2});
    CHECK(ro.points[0].relative_power == doctest::Approx(0.5));

    qos::search_options o = orig;
    o.exactly_n = true;
    const qos::search_result r = qos::search(p, o);
    CHECK(r.chosen == std::vector<std::size_t>{1, 2});
    CHECK(r.points[0].assignment == std::vector<std::size_t>{1, 2, 2, 2});
    CHECK(r.points[0].relative_power == doctest::Approx((0.2 + 0.5 * 3) / 4));
    CHECK(r.completed_by == 1);
}

TEST_CASE("search: the original's centroid rule can give a row r > 1; exactly_n never does") {
    // a1 accepts m0 (r 0.2), a2 does not (r 1.5 -> 1.405): centroid m0 = 0.80 <= 1, so the original gives a2 m0.
    const qos::search_problem p = make_problem({{"a1", 10, 1}, {"a2", 10, 1}, {"b", 10, 1}},
                                               {{"exact", 1.0, true}, {"m0", 0.2, false}, {"m1", 0.6, false}},
                                               {{0, 0.2, 0.1}, {0, 1.5, 0.1}, {0, 40, 30}});
    qos::search_options orig = qos::search_options::original();
    orig.multipliers = 2;
    orig.scales = {1.0};
    const qos::search_result ro = qos::search(p, orig);
    REQUIRE(ro.clustering.labels[0] == ro.clustering.labels[1]);
    CHECK(ro.points[0].assignment[1] == 1);
    CHECK(qos::worst_ratio(p, ro.points[0]) > 1.0);
    qos::search_options o = orig;
    o.exactly_n = true;
    const qos::search_result r = qos::search(p, o);
    CHECK(qos::worst_ratio(p, r.points[0]) <= 1.0);
    CHECK(r.points[0].assignment == std::vector<std::size_t>{1, 0, 0});  // {m0, exact}: a2 falls back
    CHECK(r.chosen.size() <= 2);
}

TEST_CASE("search: monotone repairs a looser OP that is more expensive") {
    // Find a random problem where the original is not monotone and check that monotone alone repairs it.
    bool seen = false;
    for (std::uint64_t seed = 1; seed <= 400 && !seen; ++seed) {
        const qos::search_problem p = wild_problem(seed);
        qos::search_options o = qos::search_options::original();
        o.multipliers = 3;
        o.seed = seed;
        const qos::search_result ro = qos::search(p, o);
        bool monotone = true;
        for (std::size_t s = 1; s < 3; ++s) {
            for (std::size_t l = 0; l < p.layers.size(); ++l) {
                monotone = monotone && !p.cheaper(ro.points[s - 1].assignment[l], ro.points[s].assignment[l]);
            }
        }
        if (monotone) continue;
        seen = true;
        o.monotone = true;
        const qos::search_result rm = qos::search(p, o);
        for (std::size_t s = 1; s < 3; ++s) {
            for (std::size_t l = 0; l < p.layers.size(); ++l) {
                CHECK(!p.cheaper(rm.points[s - 1].assignment[l], rm.points[s].assignment[l]));
            }
            CHECK(rm.points[s].relative_power <= ro.points[s].relative_power + 1e-12);
        }
    }
    CHECK(seen);
}

TEST_CASE("search: scales in any order; invalid options and problems are parameter errors") {
    const qos::search_problem p = random_problem(5);
    qos::search_options o;
    o.scales = {2.0, 0.3, 1.0};
    const qos::search_result r = qos::search(p, o);
    REQUIRE(r.points.size() == 3);
    CHECK(r.points[0].scale == 2.0);
    for (std::size_t l = 0; l < p.layers.size(); ++l) {
        CHECK(!p.cheaper(r.points[1].assignment[l], r.points[2].assignment[l]));
        CHECK(!p.cheaper(r.points[2].assignment[l], r.points[0].assignment[l]));
    }
    o.multipliers = 0;
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::search(p, o); }, {"n = 0"});
    o.multipliers = 2;
    o.scales = {};
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::search(p, o); }, {"no scales"});
    o.scales = {1.0, -1.0};
    check_throws_with<approxnn::parameter_error>([&] { (void)qos::search(p, o); }, {"scale -1"});

    qos::search_problem bad = p;
    bad.multipliers[0].exact = false;
    check_throws_with<approxnn::parameter_error>([&] { bad.check(); }, {"exact"});
    bad = p;
    bad.predicted_error[1][1] = -0.5;
    check_throws_with<approxnn::parameter_error>([&] { bad.check(); }, {"layer1", "m1", "-0.5"});
    bad = p;
    bad.layers[0].tolerance = -1;
    check_throws_with<approxnn::parameter_error>([&] { bad.check(); }, {"layer0", "tolerance"});
    bad = p;
    bad.predicted_error[0].pop_back();
    check_throws_with<approxnn::parameter_error>([&] { bad.check(); }, {"layer0", "expected"});
    bad = p;
    bad.predicted_error[0][0] = 1;
    check_throws_with<approxnn::parameter_error>([&] { bad.check(); }, {"exact multiplier predicts 0"});
}

TEST_CASE("cheapest_admissible: the cheapest admissible multiplier, never an inadmissible one") {
    for (std::uint64_t seed = 1; seed <= 100; ++seed) {
        const qos::search_problem p = random_problem(seed);
        for (const double scale : {0.3, 1.0, 2.0}) {
            const std::vector<std::size_t> a = qos::cheapest_admissible(p, scale);
            for (std::size_t l = 0; l < p.layers.size(); ++l) {
                const double bound = p.layers[l].tolerance * scale;
                CHECK(p.predicted_error[l][a[l]] <= bound);
                for (std::size_t m = 0; m < p.multipliers.size(); ++m) {
                    if (p.predicted_error[l][m] <= bound) CHECK(!p.cheaper(m, a[l]));
                }
            }
        }
    }
    const qos::search_problem p = make_problem({{"a", 1, 2}}, {{"exact", 1.0, true}, {"x", 0.3, false},
                                                               {"y", 0.3, false}, {"z", 0.1, false}},
                                               {{0, 2, 2, 2.01}});
    CHECK(qos::cheapest_admissible(p) == std::vector<std::size_t>{1});      // z inadmissible, x/y tie -> x
    CHECK(qos::cheapest_admissible(p, 0.5) == std::vector<std::size_t>{0});  // only exact
}

// ---------------------------------------------------------------------------------------------------------------
// problem_io

fs::path work_dir(const std::string& name) {
    const fs::path dir = fs::path(APPROXNN_TEST_WORK_DIR) / "problem_io" / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

TEST_CASE("problem_io: JSON and CSV round trips") {
    const fs::path dir = work_dir("round_trip");
    qos::search_problem p = random_problem(17);
    p.layers[0].operations = 123456789.0 / 7;
    p.layers[1].name = "block, \"quoted\"";
    qos::write_problem_json(p, dir / "p.json");
    const qos::search_problem j = qos::read_problem_json(dir / "p.json");
    qos::write_problem_csv(p, dir / "layers.csv", dir / "predictions.csv", dir / "multipliers.csv");
    const std::vector<qos::candidate> powers = qos::read_candidates_csv(dir / "multipliers.csv");
    const qos::search_problem c = qos::read_problem_csv(dir / "layers.csv", dir / "predictions.csv", powers);
    for (const qos::search_problem* q : {&j, &c}) {
        REQUIRE(q->layers.size() == p.layers.size());
        for (std::size_t l = 0; l < p.layers.size(); ++l) {
            CHECK(q->layers[l].name == p.layers[l].name);
            CHECK(q->layers[l].operations == p.layers[l].operations);
            CHECK(q->layers[l].tolerance == p.layers[l].tolerance);
        }
        REQUIRE(q->multipliers.size() == p.multipliers.size());
        for (std::size_t m = 0; m < p.multipliers.size(); ++m) {
            CHECK(q->multipliers[m].name == p.multipliers[m].name);
            CHECK(q->multipliers[m].relative_power == p.multipliers[m].relative_power);
            CHECK(q->multipliers[m].exact == p.multipliers[m].exact);
        }
        CHECK(q->predicted_error == p.predicted_error);
    }
    // A JSON problem with powers from a list: names looked up, powers taken from there.
    std::vector<qos::candidate> other = powers;
    for (auto& x : other) x.relative_power *= 0.5;
    std::reverse(other.begin(), other.end());
    const qos::search_problem o = qos::read_problem_json(dir / "p.json", other, "the list");
    CHECK(o.multipliers[1].relative_power == p.multipliers[1].relative_power * 0.5);

    // Results.
    const qos::search_result r = qos::search(p);
    qos::write_result_json(p, qos::search_options{}, r, dir / "result.json");
    qos::write_result_csv(p, r, dir / "result.csv");
    const std::string csv = test_support::read_bytes(dir / "result.csv");
    CHECK(test_support::contains(csv, "op,scale,layer,multiplier,ratio,operations_share,relative_power"));
    CHECK(test_support::contains(test_support::read_bytes(dir / "result.json"), "\"operating_points\""));
}

TEST_CASE("problem_io: CSV predictions may omit exact entries; extra columns are ignored") {
    const fs::path dir = work_dir("csv_exact");
    test_support::write_bytes(dir / "layers.csv", "name,operations,tolerance\nconv1,100,2\nfc,50,1\n");
    test_support::write_bytes(dir / "predictions.csv",
                              "layer,multiplier,predicted_std,measured_std\nconv1,cheap,1.5,1.4\nfc,cheap,3,2.9\n");
    const std::vector<qos::candidate> powers{{"unused", 0.1, false}, {"cheap", 0.3, false}, {"exact8", 1.0, true}};
    const qos::search_problem p = qos::read_problem_csv(dir / "layers.csv", dir / "predictions.csv", powers);
    REQUIRE(p.multipliers.size() == 2);
    CHECK(p.multipliers[0].name == "cheap");
    CHECK(p.multipliers[1].name == "exact8");
    CHECK(p.predicted_error == std::vector<std::vector<double>>{{1.5, 0}, {3, 0}});
}

TEST_CASE("problem_io: malformed files are format errors naming file, line / field and value") {
    const fs::path dir = work_dir("malformed");
    const std::vector<qos::candidate> powers{{"exact", 1.0, true}, {"cheap", 0.3, false}};
    const auto layers = [&](const std::string& text) {
        test_support::write_bytes(dir / "layers.csv", text);
        return dir / "layers.csv";
    };
    const auto preds = [&](const std::string& text) {
        test_support::write_bytes(dir / "predictions.csv", text);
        return dir / "predictions.csv";
    };
    using approxnn::format_error;
    // Missing column.
    check_throws_with<format_error>([&] { (void)qos::read_layers_csv(layers("name,operations\nc,1\n")); },
                                    {"layers.csv", "'tolerance' column is missing"});
    // Non-numeric.
    check_throws_with<format_error>(
        [&] { (void)qos::read_layers_csv(layers("name,operations,tolerance\nc,1,x2\n")); },
        {"layers.csv:2", "tolerance", "'x2'"});
    // Negative tolerance.
    check_throws_with<format_error>(
        [&] { (void)qos::read_layers_csv(layers("name,operations,tolerance\nc,1,2\nd,1,-3\n")); },
        {"layers.csv:3", "'d'", "tolerance", "-3"});
    // Unknown multiplier / layer names; a missing pair.
    const fs::path l = layers("name,operations,tolerance\nc,1,2\n");
    check_throws_with<format_error>(
        [&] { (void)qos::read_problem_csv(l, preds("layer,multiplier,predicted_std\nc,mystery,1\n"), powers); },
        {"predictions.csv:2", "unknown multiplier 'mystery'"});
    check_throws_with<format_error>(
        [&] { (void)qos::read_problem_csv(l, preds("layer,multiplier,predicted_std\nq,cheap,1\n"), powers); },
        {"predictions.csv:2", "unknown layer 'q'"});
    check_throws_with<format_error>(
        [&] { (void)qos::read_problem_csv(l, preds("layer,multiplier\nc,cheap\n"), powers); },
        {"predictions.csv", "'predicted_std' column is missing"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_csv(layers("name,operations,tolerance\nc,1,2\nd,1,2\n"),
                                        preds("layer,multiplier,predicted_std\nc,cheap,1\n"), powers);
        },
        {"predictions.csv", "no prediction for layer 'd' and multiplier 'cheap'"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_csv(layers("name,operations,tolerance\nc,1,2\n"),
                                        preds("layer,multiplier,predicted_std\nc,cheap,1\nc,cheap,2\n"), powers);
        },
        {"predictions.csv:3", "second prediction"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_csv(layers("name,operations,tolerance\nc,1,2\n"),
                                        preds("layer,multiplier,predicted_std\nc,cheap,-1\n"), powers);
        },
        {"predictions.csv:2", "predicted_std", "-1"});
    // A non-zero prediction for an exact multiplier.
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_csv(layers("name,operations,tolerance\nc,1,2\n"),
                                        preds("layer,multiplier,predicted_std\nc,cheap,1\nc,exact,1\n"), powers);
        },
        {"predictions.csv", "exact multiplier predicts 0"});

    // JSON.
    const auto json = [&](const std::string& text) {
        test_support::write_bytes(dir / "p.json", text);
        return dir / "p.json";
    };
    const std::string mults = R"("multipliers":[{"name":"exact","relative_power":1,"exact":true},)"
                              R"({"name":"cheap","relative_power":0.3}])";
    check_throws_with<format_error>([&] { (void)qos::read_problem_json(json("{ not json")); },
                                    {"p.json", "not valid JSON"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_json(
                json(R"({"layers":[{"name":"c","operations":1,"tolerance":-2}],)" + mults +
                     R"(,"predicted_error":[[0,1]]})"));
        },
        {"p.json", "layers[0]", "'c'", "tolerance", "-2"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_json(json(R"({"layers":[{"name":"c","operations":"many","tolerance":2}],)" +
                                              mults + R"(,"predicted_error":[[0,1]]})"));
        },
        {"p.json", "operations", "\"many\""});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_json(json(R"({"layers":[{"name":"c","tolerance":2}],)" + mults +
                                              R"(,"predicted_error":[[0,1]]})"));
        },
        {"p.json", "'operations' is required"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_json(json(R"({"layers":[{"name":"c","operations":1,"tolerance":2}],)" + mults +
                                              R"(,"predicted_error":[[0,1,2]]})"));
        },
        {"p.json", "predicted_error[0]", "2 numbers"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_json(json(R"({"layers":[{"name":"c","operations":1,"tolerance":2}],)" + mults +
                                              R"(,"predicted_error":[[0,1]]})"),
                                         std::vector<qos::candidate>{{"exact", 1, true}}, "catalogue X");
        },
        {"p.json", "unknown multiplier 'cheap'", "catalogue X"});
    check_throws_with<format_error>(
        [&] {
            (void)qos::read_problem_json(json(
                R"({"layers":[{"name":"c","operations":1,"tolerance":2}],"multipliers":[{"name":"a","relative_power":0.5}],"predicted_error":[[1]]})"));
        },
        {"p.json", "no multiplier is marked exact"});
    check_throws_with<approxnn::io_error>([&] { (void)qos::read_problem_json(dir / "missing.json"); },
                                          {"missing.json"});
}

}  // namespace
