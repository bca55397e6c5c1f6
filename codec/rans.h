// rANS, range asymmetric numeral systems (Duda 2013), as a stack of bits
// (docs/vdm.md#bits-back-coding). The state x is one 128-bit integer in [L, 2^32 L),
// L = 2^63, with 32-bit words below it; a symbol is an interval [start, start + freq)
// of [0, M), M = 2^31, whose width is its probability times M. A symbol costs
// log2(M / freq) bits up to a relative error of order M / L = 2^-32; with a 64-bit
// state (L = 2^31 = M) that error is a few thousandths of a bit per symbol, more
// than the bound's gap we want to see.
//   push (encode): x -> floor(x / freq) M + start + (x mod freq)        costs log2(M / freq) bits
//   pop  (decode): slot = x mod M names the symbol; x -> freq floor(x / M) + slot - start
// Pop exactly undoes push, and push exactly undoes pop: a pop with any distribution
// draws a sample from it and shortens the stack by that sample's code length, which
// is how bits-back coding spends the bits it later gets back. Words move between the
// state and the stack to keep x in range.
//
// Bits-back starts by popping from an empty stack: below the stack lie the initial
// bits, an endless stream of words derived from a seed (and the first state too), so
// both sides know them. The stack counts the initial words it has read; a decoder
// that undoes everything ends holding exactly those words (at_start()).
#pragma once
#include <cstdint>
#include <vector>

namespace vdm {

constexpr int kRansPrecision = 31;
constexpr uint64_t kRansTotal = uint64_t(1) << kRansPrecision;  // M

// A symbol's slots [start, start + freq) of [0, M); freq >= 1.
struct RansInterval {
    uint64_t start = 0, freq = 0;
};

using RansState = unsigned __int128;

// splitmix64's finalizer: a bijection of 64-bit words that spreads every input bit
// over the output (used where a slot position must look random).
inline uint64_t mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class RansStack {
public:
    // An empty stack on the initial bits of seed.
    explicit RansStack(uint64_t seed);
    // A stack as a file stored it: its state and words, having read initial_words_read
    // initial words of seed.
    RansStack(uint64_t seed, RansState state, std::vector<uint32_t> words, uint64_t initial_words_read);

    void push(RansInterval symbol);
    // The slot the next pop decodes, in [0, M): the caller finds the symbol whose
    // interval holds it, then pops that interval.
    uint64_t peek() const { return uint64_t(state_) & (kRansTotal - 1); }
    void pop(RansInterval symbol);
    // XORs the slot bits (the low 31 bits of the state) with a hash of the bits above
    // them. A bijection of the state, its own inverse, that leaves the code length as it
    // is: a pop after it reads bits that look random even when the pushes below did not
    // leave random ones (a symbol the model found unlikely, a model that is off).
    void whiten();

    RansState state() const { return state_; }
    const std::vector<uint32_t>& words() const { return words_; }
    uint64_t initial_words_read() const { return initial_read_; }
    // Bits held beyond the start: 32 per word, plus the state's growth, minus the
    // initial words borrowed (their bits count as spent by the pops that read them).
    double net_bits() const;
    // Back at the start: the first state, and on the stack exactly the initial words
    // read, in the order that puts the first one read on top.
    bool at_start() const;

private:
    uint32_t initial_word(uint64_t index) const;

    uint64_t seed_;
    RansState state_;
    std::vector<uint32_t> words_;
    uint64_t initial_read_ = 0;
};

}  // namespace vdm
