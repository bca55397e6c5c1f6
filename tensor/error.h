// vdm::Error and the checks that raise it.
// Every user-facing failure (bad file, bad flag, shape mismatch) is an Error whose
// what() is one line; apps print it and exit non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace vdm {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Builds a message from any streamable parts: fail("conv2d: expected ", 4, "-D").
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    throw Error(os.str());
}

}  // namespace vdm

// VDM_CHECK(cond, parts...): throws vdm::Error with the parts when cond is false.
#define VDM_CHECK(cond, ...)                 \
    do {                                     \
        if (!(cond)) ::vdm::fail(__VA_ARGS__); \
    } while (0)
