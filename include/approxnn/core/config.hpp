#pragma once
// Version of approxnn. CMakeLists.txt reads the project version from these three lines.

#define APPROXNN_VERSION_MAJOR 0
#define APPROXNN_VERSION_MINOR 1
#define APPROXNN_VERSION_PATCH 0

#define APPROXNN_VERSION_STRING "0.1.0"

namespace approxnn {

inline constexpr int version_major = APPROXNN_VERSION_MAJOR;
inline constexpr int version_minor = APPROXNN_VERSION_MINOR;
inline constexpr int version_patch = APPROXNN_VERSION_PATCH;
inline constexpr const char* version_string = APPROXNN_VERSION_STRING;

}  // namespace approxnn
