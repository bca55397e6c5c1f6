// Strict number parsing for flags and checkpoint metadata: the whole text must be
// one number ("12abc", "" and out-of-range values are rejected), unlike std::stoll.
#pragma once
#include <cstdint>
#include <exception>
#include <string>

namespace vdm {

inline bool parse_int64(const std::string& text, int64_t* out) {
    size_t used = 0;
    try {
        *out = std::stoll(text, &used);
    } catch (const std::exception&) {
        return false;
    }
    return !text.empty() && used == text.size();
}

inline bool parse_double(const std::string& text, double* out) {
    size_t used = 0;
    try {
        *out = std::stod(text, &used);
    } catch (const std::exception&) {
        return false;
    }
    return !text.empty() && used == text.size();
}

}  // namespace vdm
