// exp for float written as straight-line code, so loops that call it vectorize
// (libm's expf is an opaque call that keeps a loop scalar). Doubles use std::exp:
// the f64 path serves the gradient checks, where speed does not matter.
//
// exp(x) = 2^n exp(r) with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2, ln2/2]
// (ln 2 split in two parts, Cody-Waite, so r is exact); exp(r) by its Taylor series to
// r^7 (truncation below 5e-9 relative, under float's 6e-8 epsilon); 2^n built in the
// exponent bits. Results below float's normal range flush to 0; above it, +inf.
// Tested against std::exp in tests/test_kernels.cpp.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace vdm::cpu {

template <typename T> inline T simd_exp(T x) { return std::exp(x); }

template <> inline float simd_exp<float>(float x) {
    constexpr float kLog2e = 1.44269504088896341f;
    constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
    constexpr float kMax = 88.72283905f, kMin = -87.33654475f;  // exp(kMin) = 2^-126
    // NaN computes as 0 (converting NaN to an integer below is undefined) and is
    // returned as NaN at the end.
    const float clamped = x < kMin ? kMin : (x > kMax ? kMax : (x == x ? x : 0.0f));
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const float n = (clamped * kLog2e + kRound) - kRound;
    const float r = (clamped - n * kLn2Hi) - n * kLn2Lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^n in the exponent bits, n in [-126, 128]; 2^128 is not a float, so the top
    // case is 2 * 2^127 (the product stays finite because p < 1 there).
    const int32_t m = n > 127.0f ? 127 : int32_t(n);
    const int32_t bits = (m + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    float result = (n > 127.0f ? 2.0f : 1.0f) * p * scale;
    result = x < kMin ? 0.0f : result;
    result = x > kMax ? INFINITY : result;
    return x != x ? x : result;  // NaN in, NaN out
}

}  // namespace vdm::cpu
