// Uses the installed headers: a policy, the statistics and the default catalogue.
#include <approxnn/approxnn.hpp>

#include <cstdio>

int main() {
    using namespace approxnn::multipliers;
    const error_statistics s = compute_statistics<column_truncation<std::uint8_t, 4>>();
    const catalogue c = default_catalogue();
    std::printf("approxnn %s: column_truncation_u8_k4 MAE %.2f, default catalogue of %zu multipliers\n",
                approxnn::version_string, s.mae, c.size());
    return s.mae == 12.25 && c.size() >= 80 ? 0 : 1;
}
