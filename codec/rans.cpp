// The rANS stack: push, pop, and the initial bits below an empty stack.
#include "codec/rans.h"

#include <cmath>

#include "tensor/error.h"
#include "tensor/rng.h"

namespace vdm {

namespace {

constexpr RansState kLower = RansState(1) << 63;  // L: the state stays in [L, 2^32 L)

// The first state: 94 random bits of the seed below a leading 1 at bit 94, so it is
// in range. Its counter is one the initial words never reach.
RansState first_state(uint64_t seed) {
    uint32_t r[4];
    philox4x32(~uint64_t(0), seed, r);
    const RansState bits = (RansState(r[0]) << 64) | (RansState(r[1]) << 32) | r[2];
    return (RansState(1) << 94) | (bits >> 2);
}

}  // namespace

RansStack::RansStack(uint64_t seed) : seed_(seed), state_(first_state(seed)) {}

RansStack::RansStack(uint64_t seed, RansState state, std::vector<uint32_t> words,
                     uint64_t initial_words_read)
    : seed_(seed), state_(state), words_(std::move(words)), initial_read_(initial_words_read) {
    VDM_CHECK(state_ >= kLower && state_ < (kLower << 32), "rANS: the state is out of range");
}

uint32_t RansStack::initial_word(uint64_t index) const {
    uint32_t r[4];
    philox4x32(index, seed_, r);
    return r[0];
}

void RansStack::push(RansInterval s) {
    VDM_CHECK(s.freq >= 1 && s.start + s.freq <= kRansTotal, "rANS: bad interval [", s.start, ", ",
              s.start + s.freq, ")");
    // Renormalize first, so that the state after the push is below 2^32 L again.
    const RansState limit = ((kLower >> kRansPrecision) << 32) * s.freq;
    if (state_ >= limit) {
        words_.push_back(uint32_t(state_));
        state_ >>= 32;
    }
    state_ = ((state_ / s.freq) << kRansPrecision) + state_ % s.freq + s.start;
}

void RansStack::pop(RansInterval s) {
    const uint64_t slot = peek();
    VDM_CHECK(s.freq >= 1 && slot >= s.start && slot < s.start + s.freq,
              "rANS: pop of an interval that does not hold the slot");
    state_ = RansState(s.freq) * (state_ >> kRansPrecision) + slot - s.start;
    if (state_ < kLower) {
        uint32_t word;
        if (!words_.empty()) {
            word = words_.back();
            words_.pop_back();
        } else {
            word = initial_word(initial_read_++);
        }
        state_ = (state_ << 32) | word;
    }
}

void RansStack::whiten() {
    const RansState high = state_ >> kRansPrecision;
    const uint64_t h = mix64(uint64_t(high) ^ uint64_t(high >> 64) * 0x9e3779b97f4a7c15ull);
    state_ ^= RansState(h & (kRansTotal - 1));
}

double RansStack::net_bits() const {
    return 32.0 * (double(words_.size()) - double(initial_read_)) + std::log2(double(state_)) -
           std::log2(double(first_state(seed_)));
}

bool RansStack::at_start() const {
    if (state_ != first_state(seed_) || words_.size() != initial_read_) return false;
    for (uint64_t k = 0; k < initial_read_; ++k)  // the first word read is on top
        if (words_[size_t(initial_read_ - 1 - k)] != initial_word(k)) return false;
    return true;
}

}  // namespace vdm
