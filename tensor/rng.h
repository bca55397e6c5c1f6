// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
// The value at position i of a draw depends only on (seed, offset + i), never on
// thread count or backend, so every run with the same seed sees the same noise.
// The functions are plain inline code so the CUDA backend can reuse them as-is.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/kernels/host_device.h"

namespace vdm {

// One Philox4x32-10 block: 128-bit counter (here a 64-bit index, upper half zero)
// and a 64-bit key (the seed) give four independent 32-bit words.
VDM_HOST_DEVICE inline void philox4x32(uint64_t counter, uint64_t key, uint32_t out[4]) {
    uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int round = 0; round < 10; ++round) {
        uint64_t p0 = uint64_t(0xD2511F53u) * c0;
        uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
        uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = uint32_t(p1);
        c2 = n2;
        c3 = uint32_t(p0);
        k0 += 0x9E3779B9u;  // Weyl key schedule
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// Uniform in the open interval (0, 1) with 53 random bits, from two words.
VDM_HOST_DEVICE inline double uniform_from_words(uint32_t hi, uint32_t lo) {
    uint64_t bits = ((uint64_t(hi) << 32) | lo) >> 11;  // 53 bits
    return (double(bits) + 0.5) * (1.0 / 9007199254740992.0);  // 2^-53
}

// Uniform (0, 1) at stream position `index`.
VDM_HOST_DEVICE inline double uniform_at(uint64_t seed, uint64_t index) {
    uint32_t r[4];
    philox4x32(index, seed, r);
    return uniform_from_words(r[0], r[1]);
}

// Standard normal at stream position `index` (Box-Muller on the block's two uniforms).
VDM_HOST_DEVICE inline double normal_at(uint64_t seed, uint64_t index) {
    uint32_t r[4];
    philox4x32(index, seed, r);
    double u1 = uniform_from_words(r[0], r[1]);
    double u2 = uniform_from_words(r[2], r[3]);
    return kernels::sqrt(-2.0 * kernels::log(u1)) * kernels::cos(6.283185307179586 * u2);
}

// Inverted-dropout keep value at stream position `index`: 1 / (1 - p) if kept, else 0.
VDM_HOST_DEVICE inline double keep_at(uint64_t seed, uint64_t index, double p) {
    return uniform_at(seed, index) >= p ? 1.0 / (1.0 - p) : 0.0;
}

// Rows [begin, begin + rows) of a batch of `batch` rows: one process's share of a batch
// under data parallelism (distributed/communicator.h splits a batch this way).
struct BatchShare {
    int64_t begin = 0, rows = 0, batch = 0;
    static BatchShare whole(int64_t batch) { return {0, batch, batch}; }
};

// A stream: a seed and how many positions have been used. Each draw of n numbers
// takes positions [offset, offset + n) and advances the offset, so the state is two
// integers that a checkpoint can store.
//
// A stream may also stand for one process's share of every batch-shaped draw
// (`share`, not part of the state): take_rows then gives this process's rows of the
// draw that the whole batch would take, and advances past all of it, so the processes'
// rows together are exactly one process's draw of the whole batch.
struct Rng {
    uint64_t seed = 0;
    uint64_t offset = 0;
    BatchShare share;  // batch 0: no share, every draw is whole

    explicit Rng(uint64_t seed_ = 0, uint64_t offset_ = 0) : seed(seed_), offset(offset_) {}
    uint64_t take(uint64_t n) {
        uint64_t start = offset;
        offset += n;
        return start;
    }
    // The share a draw of `rows` rows stands for: `share`, or the whole of `rows`.
    BatchShare share_of(int64_t rows) const;
    // The first position of a draw of `rows` rows of `per_row` numbers each.
    uint64_t take_rows(int64_t rows, uint64_t per_row);
    double uniform() { return uniform_at(seed, take(1)); }
    double normal() { return normal_at(seed, take(1)); }
    // Uniform integer in [0, n).
    uint64_t below(uint64_t n) { return uint64_t(uniform() * double(n)) % n; }
};

// A random permutation of 0..n-1 (Fisher-Yates), advancing the stream.
std::vector<int64_t> random_permutation(int64_t n, Rng& rng);

}  // namespace vdm
