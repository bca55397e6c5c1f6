#include "tensor/rng.h"

#include <numeric>
#include <utility>

#include "tensor/error.h"

namespace vdm {

BatchShare Rng::share_of(int64_t rows) const {
    if (share.batch == 0) return BatchShare::whole(rows);
    VDM_CHECK(rows == share.rows, "Rng: a draw of ", rows, " rows from a stream whose share is ",
              share.rows, " rows (", share.begin, "..", share.begin + share.rows, " of ", share.batch, ")");
    return share;
}

uint64_t Rng::take_rows(int64_t rows, uint64_t per_row) {
    const BatchShare s = share_of(rows);
    const uint64_t start = take(uint64_t(s.batch) * per_row);
    return start + uint64_t(s.begin) * per_row;
}

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
