#pragma once
// The QoS-Nets multiplier search (docs/qos.md, "The search"): one set of n multipliers and one operating point (OP)
// per tolerance scale, each OP assigning one of the n to every layer. Engine-free: the inputs are per-layer
// operation counts and tolerances (tau_l, from AGN) and predicted output errors sigma_hat[l][m] (from the error
// model), so the search runs on any user's own numbers (qos/problem_io.hpp reads them from files).
//
// Method (QoS-Nets, arXiv 2410.07762):
//   rows (layer l, scale s) for every layer and scale; r = sigma_hat[l][m] / (s * tau_l + 1e-6), r <= 1 means
//   "m is acceptable for layer l at OP s"; X's columns are the multipliers acceptable for at least one row, its
//   values r, with r > 1 compressed to 1 + ln r; k-means (k = n) over all rows; each centroid maps to the cheapest
//   column whose centroid coordinate is <= 1 (an exact multiplier always qualifies); OP s gives layer l the
//   multiplier of the cluster of row (l, s).
// Options closing the original's gaps (search_options::original() switches them off):
//   exactly_n  every row gets the cheapest chosen multiplier acceptable for it (r <= 1, else the cheapest exact
//              entry) and the set is completed to n distinct multipliers whenever a set of n exists in which each
//              member is the cheapest acceptable one of some row. Guarantee: no row gets a multiplier with r > 1;
//              never more than n distinct multipliers.
//   monotone   per layer, a looser OP (larger scale) never gets a more expensive multiplier than a stricter one.
//   restarts   k-means runs, the lowest inertia kept; a fixed seed gives identical results.
// "Cheaper" is the order (relative_power, index): ties in power break by catalogue index.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "approxnn/core/error.hpp"
#include "approxnn/qos/kmeans.hpp"

namespace approxnn::qos {

/// One layer: its multiplications per sample and its tolerance tau_l (output-error standard deviation, in the
/// units of sigma_hat).
struct layer_tolerance {
    std::string name;
    double operations = 0;
    double tolerance = 0;
};

/// One library multiplier: relative_power = P(m) / P(exact); exact entries predict no error.
struct candidate {
    std::string name;
    double relative_power = 1;
    bool exact = false;
};

/// Denominator guard of the acceptance ratio (the original's constant).
inline constexpr double ratio_epsilon = 1e-6;

struct search_problem {
    std::vector<layer_tolerance> layers;
    std::vector<candidate> multipliers;                // must contain at least one exact entry
    std::vector<std::vector<double>> predicted_error;  // [layer][multiplier] = sigma_hat (>= 0); exact -> 0

    /// Throws parameter_error naming the offender: no layers or multipliers, duplicate or empty names, operations
    /// or tolerances negative / not finite, all operations 0, a relative power not finite or <= 0, no exact
    /// entry, predicted_error of the wrong shape, a prediction negative / not finite, or non-zero for an exact entry.
    void check() const {
        if (layers.empty()) throw parameter_error("search problem: no layers");
        if (multipliers.empty()) throw parameter_error("search problem: no multipliers");
        std::set<std::string> names;
        double total = 0;
        for (const layer_tolerance& l : layers) {
            const std::string where = "search problem: layer '" + l.name + "'";
            if (l.name.empty()) throw parameter_error("search problem: a layer has an empty name");
            if (!names.insert(l.name).second) throw parameter_error(where + " appears twice");
            if (!std::isfinite(l.operations) || l.operations < 0) {
                throw parameter_error(where + ": operations " + std::to_string(l.operations) +
                                      " is not a finite number >= 0");
            }
            if (!std::isfinite(l.tolerance) || l.tolerance < 0) {
                throw parameter_error(where + ": tolerance " + std::to_string(l.tolerance) +
                                      " is not a finite number >= 0");
            }
            total += l.operations;
        }
        if (!(total > 0)) throw parameter_error("search problem: the layers' operations sum to 0");
        names.clear();
        bool has_exact = false;
        for (const candidate& m : multipliers) {
            const std::string where = "search problem: multiplier '" + m.name + "'";
            if (m.name.empty()) throw parameter_error("search problem: a multiplier has an empty name");
            if (!names.insert(m.name).second) throw parameter_error(where + " appears twice");
            if (!std::isfinite(m.relative_power) || !(m.relative_power > 0)) {
                throw parameter_error(where + ": relative_power " + std::to_string(m.relative_power) +
                                      " is not a finite number > 0");
            }
            has_exact = has_exact || m.exact;
        }
        if (!has_exact) throw parameter_error("search problem: no multiplier is marked exact (one is required)");
        if (predicted_error.size() != layers.size()) {
            throw parameter_error("search problem: predicted_error has " + std::to_string(predicted_error.size()) +
                                  " rows, expected " + std::to_string(layers.size()) + " (one per layer)");
        }
        for (std::size_t l = 0; l < layers.size(); ++l) {
            if (predicted_error[l].size() != multipliers.size()) {
                throw parameter_error("search problem: predicted_error for layer '" + layers[l].name + "' has " +
                                      std::to_string(predicted_error[l].size()) + " values, expected " +
                                      std::to_string(multipliers.size()) + " (one per multiplier)");
            }
            for (std::size_t m = 0; m < multipliers.size(); ++m) {
                const double v = predicted_error[l][m];
                const std::string where =
                    "search problem: predicted_error of layer '" + layers[l].name + "', multiplier '" +
                    multipliers[m].name + "'";
                if (!std::isfinite(v) || v < 0) {
                    throw parameter_error(where + ": " + std::to_string(v) + " is not a finite number >= 0");
                }
                if (multipliers[m].exact && v != 0) {
                    throw parameter_error(where + ": " + std::to_string(v) + ", but an exact multiplier predicts 0");
                }
            }
        }
    }

    /// Layer l's share of all multiplications, ops_l / ops_total.
    [[nodiscard]] double operations_share(std::size_t l) const {
        double total = 0;
        for (const layer_tolerance& x : layers) total += x.operations;
        return layers.at(l).operations / total;
    }

    /// "a is cheaper than b": by relative power, ties by index.
    [[nodiscard]] bool cheaper(std::size_t a, std::size_t b) const {
        const double pa = multipliers[a].relative_power;
        const double pb = multipliers[b].relative_power;
        return pa < pb || (pa == pb && a < b);
    }

    /// The cheapest exact entry (the fallback of every row).
    [[nodiscard]] std::size_t cheapest_exact() const {
        std::size_t best = multipliers.size();
        for (std::size_t m = 0; m < multipliers.size(); ++m) {
            if (multipliers[m].exact && (best == multipliers.size() || cheaper(m, best))) best = m;
        }
        if (best == multipliers.size()) throw parameter_error("search problem: no multiplier is marked exact");
        return best;
    }

    /// r = sigma_hat[l][m] / (scale * tau_l + 1e-6); m is acceptable for (l, scale) when r <= 1.
    [[nodiscard]] double ratio(std::size_t l, std::size_t m, double scale) const {
        return predicted_error.at(l).at(m) / (scale * layers.at(l).tolerance + ratio_epsilon);
    }
};

struct search_options {
    std::size_t multipliers = 4;              ///< n, the number of distinct multipliers (k of k-means), >= 1
    std::vector<double> scales{0.3, 1.0, 2.0};  ///< one OP per scale (finite, > 0), strict (small) to loose
    std::size_t restarts = 10;                ///< k-means runs, lowest inertia kept
    std::size_t max_iterations = 300;         ///< Lloyd iterations per run
    std::uint64_t seed = 1;
    bool exactly_n = true;  ///< n distinct multipliers whenever possible; no row with r > 1
    bool monotone = true;   ///< a looser OP never gives a layer a more expensive multiplier than a stricter OP

    /// The paper's behaviour: one k-means run, the centroid rule as is, no monotonicity repair.
    static search_options original() {
        search_options o;
        o.restarts = 1;
        o.exactly_n = false;
        o.monotone = false;
        return o;
    }
};

struct operating_point {
    double scale = 1;
    std::vector<std::size_t> assignment;  ///< per layer: index into search_problem::multipliers
    double relative_power = 1;            ///< rho = sum_l ops_l / ops_total * P(m_l) / P(exact)
    [[nodiscard]] double savings() const { return 1 - relative_power; }
};

struct search_result {
    std::vector<std::size_t> chosen;      ///< distinct multipliers used by some OP, cheapest first
    std::vector<operating_point> points;  ///< one per scale, in options.scales order
    double inertia = 0;                   ///< of the kept k-means run

    std::vector<std::size_t> columns;               ///< X's columns: multipliers acceptable for some row
    std::vector<std::size_t> centroid_multiplier;   ///< per cluster: the centroid rule's multiplier
    std::vector<std::size_t> original_assignment;   ///< per row: the centroid rule's multiplier (before repairs)
    kmeans_result clustering;                       ///< points = rows, row index = scale_index * layers + layer
    std::size_t completed_by = 0;  ///< exactly_n: multipliers added beyond the centroid rule's distinct ones
};

/// rho of an assignment (one index per layer): sum_l ops_l / ops_total * relative_power(m_l).
[[nodiscard]] inline double relative_power(const search_problem& problem, std::span<const std::size_t> assignment) {
    if (assignment.size() != problem.layers.size()) {
        throw parameter_error("relative_power: the assignment has " + std::to_string(assignment.size()) +
                              " entries for " + std::to_string(problem.layers.size()) + " layers");
    }
    double total = 0, sum = 0;
    for (std::size_t l = 0; l < assignment.size(); ++l) {
        if (assignment[l] >= problem.multipliers.size()) {
            throw parameter_error("relative_power: layer '" + problem.layers[l].name + "' uses multiplier index " +
                                  std::to_string(assignment[l]) + ", but there are only " +
                                  std::to_string(problem.multipliers.size()));
        }
        total += problem.layers[l].operations;
        sum += problem.layers[l].operations * problem.multipliers[assignment[l]].relative_power;
    }
    return sum / total;
}

/// AGN (§4): per layer the cheapest multiplier with sigma_hat <= tolerance * scale (an exact one always qualifies).
[[nodiscard]] inline std::vector<std::size_t> cheapest_admissible(const search_problem& problem, double scale = 1.0) {
    problem.check();
    if (!std::isfinite(scale) || scale < 0) {
        throw parameter_error("cheapest_admissible: scale " + std::to_string(scale) + " is not a finite number >= 0");
    }
    std::vector<std::size_t> result(problem.layers.size());
    for (std::size_t l = 0; l < problem.layers.size(); ++l) {
        std::size_t best = problem.multipliers.size();
        for (std::size_t m = 0; m < problem.multipliers.size(); ++m) {
            const bool admissible =
                problem.multipliers[m].exact || problem.predicted_error[l][m] <= problem.layers[l].tolerance * scale;
            if (admissible && (best == problem.multipliers.size() || problem.cheaper(m, best))) best = m;
        }
        result[l] = best;
    }
    return result;
}

/// The centroid rule: the cheapest of `columns` whose coordinate in `centroid` is <= 1; an exact column always
/// qualifies (its coordinate is 0); when no column qualifies (cannot happen when an exact one is among them), the
/// cheapest exact entry of the problem.
[[nodiscard]] inline std::size_t centroid_multiplier(const search_problem& problem,
                                                     std::span<const std::size_t> columns,
                                                     std::span<const double> centroid) {
    if (centroid.size() != columns.size()) {
        throw parameter_error("centroid_multiplier: " + std::to_string(centroid.size()) + " coordinates for " +
                              std::to_string(columns.size()) + " columns");
    }
    std::size_t best = problem.multipliers.size();
    for (std::size_t c = 0; c < columns.size(); ++c) {
        const std::size_t m = columns[c];
        if (m >= problem.multipliers.size()) throw parameter_error("centroid_multiplier: column index out of range");
        const bool qualifies = problem.multipliers[m].exact || centroid[c] <= 1.0;
        if (qualifies && (best == problem.multipliers.size() || problem.cheaper(m, best))) best = m;
    }
    return best == problem.multipliers.size() ? problem.cheapest_exact() : best;
}

/// The largest ratio r any layer gets at an OP (> 1: some layer's multiplier exceeds its scaled tolerance).
[[nodiscard]] inline double worst_ratio(const search_problem& problem, const operating_point& point) {
    double worst = 0;
    for (std::size_t l = 0; l < point.assignment.size(); ++l) {
        worst = std::max(worst, problem.ratio(l, point.assignment.at(l), point.scale));
    }
    return worst;
}

/// One line of an OP's table.
struct assignment_row {
    std::string layer;
    std::string multiplier;
    std::size_t multiplier_index = 0;
    double ratio = 0;               ///< sigma_hat / (scale * tau + 1e-6)
    double operations_share = 0;    ///< ops_l / ops_total
    double relative_power = 1;      ///< of the multiplier
};

/// The table of one OP: per layer its multiplier, r and share of the operations.
[[nodiscard]] inline std::vector<assignment_row> operating_point_table(const search_problem& problem,
                                                                       const operating_point& point) {
    std::vector<assignment_row> rows;
    for (std::size_t l = 0; l < problem.layers.size(); ++l) {
        const std::size_t m = point.assignment.at(l);
        rows.push_back({problem.layers[l].name, problem.multipliers.at(m).name, m, problem.ratio(l, m, point.scale),
                        problem.operations_share(l), problem.multipliers[m].relative_power});
    }
    return rows;
}

namespace detail {

/// Rows as (scale index, layer) with their ratios r[row][m], and the evaluation of a multiplier set under
/// "cheapest acceptable member, else the cheapest exact entry".
struct row_table {
    std::size_t layers = 0, scales = 0, multipliers = 0;
    std::vector<double> ratio;  // rows x multipliers
    std::vector<double> share;  // per layer
    std::vector<double> power;  // per multiplier
    std::size_t exact = 0;

    [[nodiscard]] std::size_t rows() const { return layers * scales; }
    [[nodiscard]] bool acceptable(std::size_t row, std::size_t m) const { return ratio[row * multipliers + m] <= 1.0; }
};

struct set_evaluation {
    std::vector<std::size_t> assignment;  // per row
    std::vector<std::size_t> used;        // distinct, ascending index
    double cost = 0;                      // sum over rows of share * power (proportional to the mean rho over OPs)
};

/// `members` sorted cheapest first.
inline set_evaluation evaluate_set(const search_problem& problem, const row_table& t,
                                   std::vector<std::size_t> members) {
    std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) { return problem.cheaper(a, b); });
    set_evaluation e;
    e.assignment.resize(t.rows());
    std::vector<bool> used(t.multipliers, false);
    for (std::size_t row = 0; row < t.rows(); ++row) {
        std::size_t pick = t.exact;
        for (const std::size_t m : members) {
            if (t.acceptable(row, m)) {
                pick = m;
                break;
            }
        }
        e.assignment[row] = pick;
        used[pick] = true;
        e.cost += t.share[row % t.layers] * t.power[pick];
    }
    for (std::size_t m = 0; m < t.multipliers; ++m) {
        if (used[m]) e.used.push_back(m);
    }
    return e;
}

inline bool better(const set_evaluation& a, const set_evaluation& b) {
    return a.cost < b.cost || (a.cost == b.cost && a.used < b.used);
}

/// Completes (or trims) a multiplier set so that n distinct members are used: single additions, then swaps of one
/// member for two candidates, then (when C(|A|, n) <= 200000) an exhaustive search; each step takes the lowest cost.
inline set_evaluation complete_set(const search_problem& problem, const row_table& t,
                                   std::vector<std::size_t> start, const std::vector<std::size_t>& acceptable,
                                   std::size_t n) {
    set_evaluation current = evaluate_set(problem, t, std::move(start));
    // Too many (the exact fallback came on top of n): drop the member whose removal costs least.
    while (current.used.size() > n) {
        set_evaluation best;
        bool found = false;
        for (const std::size_t x : current.used) {
            if (x == t.exact) continue;
            std::vector<std::size_t> members;
            for (const std::size_t m : current.used) {
                if (m != x) members.push_back(m);
            }
            set_evaluation e = evaluate_set(problem, t, members);
            if (!found || better(e, best)) {
                best = std::move(e);
                found = true;
            }
        }
        if (!found) break;
        current = std::move(best);
    }
    const auto outside = [&](const set_evaluation& e) {
        std::vector<std::size_t> out;
        for (const std::size_t m : acceptable) {
            if (!std::binary_search(e.used.begin(), e.used.end(), m)) out.push_back(m);
        }
        return out;
    };
    while (current.used.size() < n) {
        const std::size_t have = current.used.size();
        const std::vector<std::size_t> others = outside(current);
        set_evaluation best;
        bool found = false;
        const auto consider = [&](std::vector<std::size_t> members) {
            set_evaluation e = evaluate_set(problem, t, std::move(members));
            if (e.used.size() > have && e.used.size() <= n && (!found || better(e, best))) {
                best = std::move(e);
                found = true;
            }
        };
        for (const std::size_t m : others) {
            std::vector<std::size_t> members = current.used;
            members.push_back(m);
            consider(std::move(members));
        }
        if (!found) {
            for (const std::size_t x : current.used) {
                for (std::size_t i = 0; i < others.size(); ++i) {
                    for (std::size_t j = i + 1; j < others.size(); ++j) {
                        std::vector<std::size_t> members;
                        for (const std::size_t m : current.used) {
                            if (m != x) members.push_back(m);
                        }
                        members.push_back(others[i]);
                        members.push_back(others[j]);
                        consider(std::move(members));
                    }
                }
            }
        }
        if (!found) {
            // Exhaustive over the n-subsets of the acceptable multipliers, when affordable.
            const std::size_t a = acceptable.size();
            double subsets = 1;
            for (std::size_t i = 0; i < n && i < a; ++i) {
                subsets = subsets * static_cast<double>(a - i) / static_cast<double>(i + 1);
            }
            if (a >= n && subsets <= 200000) {
                std::vector<std::size_t> pick(n);
                std::iota(pick.begin(), pick.end(), std::size_t{0});
                while (true) {
                    std::vector<std::size_t> members;
                    for (const std::size_t i : pick) members.push_back(acceptable[i]);
                    set_evaluation e = evaluate_set(problem, t, std::move(members));
                    if (e.used.size() == n && (!found || better(e, best))) {
                        best = std::move(e);
                        found = true;
                    }
                    std::size_t i = n;
                    while (i > 0 && pick[i - 1] == a - n + (i - 1)) --i;
                    if (i == 0) break;
                    ++pick[i - 1];
                    for (std::size_t j = i; j < n; ++j) pick[j] = pick[j - 1] + 1;
                }
            }
            if (found) current = std::move(best);
            break;
        }
        current = std::move(best);
    }
    return current;
}

}  // namespace detail

/// The search (see the top of this header). Throws parameter_error for an invalid problem or options.
[[nodiscard]] inline search_result search(const search_problem& problem, const search_options& options = {}) {
    problem.check();
    if (options.multipliers == 0) throw parameter_error("qos search: n = 0 multipliers (at least 1)");
    if (options.scales.empty()) throw parameter_error("qos search: no scales (one per operating point)");
    for (const double s : options.scales) {
        if (!std::isfinite(s) || !(s > 0)) {
            throw parameter_error("qos search: scale " + std::to_string(s) + " is not a finite number > 0");
        }
    }
    if (options.restarts == 0) throw parameter_error("qos search: restarts = 0 (at least 1)");

    detail::row_table t;
    t.layers = problem.layers.size();
    t.scales = options.scales.size();
    t.multipliers = problem.multipliers.size();
    t.exact = problem.cheapest_exact();
    for (std::size_t l = 0; l < t.layers; ++l) t.share.push_back(problem.operations_share(l));
    for (const candidate& c : problem.multipliers) t.power.push_back(c.relative_power);
    t.ratio.resize(t.rows() * t.multipliers);
    for (std::size_t s = 0; s < t.scales; ++s) {
        for (std::size_t l = 0; l < t.layers; ++l) {
            for (std::size_t m = 0; m < t.multipliers; ++m) {
                t.ratio[(s * t.layers + l) * t.multipliers + m] = problem.ratio(l, m, options.scales[s]);
            }
        }
    }

    search_result result;
    for (std::size_t m = 0; m < t.multipliers; ++m) {
        for (std::size_t row = 0; row < t.rows(); ++row) {
            if (t.acceptable(row, m)) {
                result.columns.push_back(m);
                break;
            }
        }
    }
    const std::size_t d = result.columns.size();
    std::vector<double> x(t.rows() * d);
    for (std::size_t row = 0; row < t.rows(); ++row) {
        for (std::size_t c = 0; c < d; ++c) {
            const double r = t.ratio[row * t.multipliers + result.columns[c]];
            x[row * d + c] = r <= 1.0 ? r : 1.0 + std::log(r);
        }
    }
    kmeans_options ko;
    ko.clusters = options.multipliers;
    ko.restarts = options.restarts;
    ko.max_iterations = options.max_iterations;
    ko.seed = options.seed;
    result.clustering = kmeans(x, d, ko);
    result.inertia = result.clustering.inertia;
    for (std::size_t j = 0; j < ko.clusters; ++j) {
        result.centroid_multiplier.push_back(centroid_multiplier(problem, result.columns, result.clustering.centroid(j)));
    }
    result.original_assignment.resize(t.rows());
    for (std::size_t row = 0; row < t.rows(); ++row) {
        result.original_assignment[row] = result.centroid_multiplier[result.clustering.labels[row]];
    }

    std::vector<std::size_t> rows = result.original_assignment;
    if (options.exactly_n) {
        std::vector<std::size_t> start = rows;
        std::sort(start.begin(), start.end());
        start.erase(std::unique(start.begin(), start.end()), start.end());
        const std::size_t before = start.size();
        detail::set_evaluation e = detail::complete_set(problem, t, std::move(start), result.columns, options.multipliers);
        rows = std::move(e.assignment);
        result.completed_by = e.used.size() > before ? e.used.size() - before : 0;
    }
    if (options.monotone) {
        std::vector<std::size_t> order(t.scales);
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return options.scales[a] < options.scales[b]; });
        for (std::size_t l = 0; l < t.layers; ++l) {
            for (std::size_t i = 1; i < order.size(); ++i) {
                const std::size_t prev = rows[order[i - 1] * t.layers + l];
                std::size_t& cur = rows[order[i] * t.layers + l];
                if (problem.cheaper(prev, cur)) cur = prev;
            }
        }
    }

    std::vector<bool> used(t.multipliers, false);
    for (std::size_t s = 0; s < t.scales; ++s) {
        operating_point p;
        p.scale = options.scales[s];
        p.assignment.assign(rows.begin() + static_cast<std::ptrdiff_t>(s * t.layers),
                            rows.begin() + static_cast<std::ptrdiff_t>((s + 1) * t.layers));
        p.relative_power = relative_power(problem, p.assignment);
        for (const std::size_t m : p.assignment) used[m] = true;
        result.points.push_back(std::move(p));
    }
    for (std::size_t m = 0; m < t.multipliers; ++m) {
        if (used[m]) result.chosen.push_back(m);
    }
    std::sort(result.chosen.begin(), result.chosen.end(),
              [&](std::size_t a, std::size_t b) { return problem.cheaper(a, b); });
    return result;
}

}  // namespace approxnn::qos
