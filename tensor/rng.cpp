#include "tensor/rng.h"

#include <numeric>
#include <utility>

namespace vdm {

std::vector<int64_t> random_permutation(int64_t n, Rng& rng) {
    std::vector<int64_t> perm(size_t(n > 0 ? n : 0));
    std::iota(perm.begin(), perm.end(), int64_t(0));
    for (int64_t i = n - 1; i > 0; --i) {
        int64_t j = int64_t(rng.below(uint64_t(i + 1)));
        std::swap(perm[size_t(i)], perm[size_t(j)]);
    }
    return perm;
}

}  // namespace vdm
