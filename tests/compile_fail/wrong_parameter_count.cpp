// Must not compile: the broken-array multiplier takes two parameters (h, v).
#include <cstdint>

#include "approxnn/multipliers/closed_form.hpp"
#include "approxnn/multipliers/families/broken_array.hpp"

int main() {
    using bam = approxnn::multipliers::closed_form<std::uint8_t, approxnn::multipliers::broken_array_family, 2>;
    return bam::multiply(3, 5);
}
