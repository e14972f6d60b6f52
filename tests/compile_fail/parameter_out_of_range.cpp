// Must not compile: column truncation of 16 columns (an 8x8 array has columns 0..14; k is in [0, 15]).
#include <cstdint>

#include "approxnn/multipliers/families/column_truncation.hpp"

int main() { return approxnn::multipliers::column_truncation<std::uint8_t, 16>::multiply(3, 5); }
