// The file vdm_compress writes and vdm_decompress reads (docs/vdm.md#bits-back-coding):
// a header naming everything the decoder must match, then the rANS stack, then a
// CRC-32 of all the bytes before it. Little-endian throughout:
//
//   "VDMZ"  u32 version
//   u64 model fingerprint      u64 computation fingerprint   (vdm/bits_back.h)
//   u64 images  u32 channels  u32 rows  u32 cols              u32 CRC-32 of the images' pixels
//   u64 T  f64 bin  f64 range  u64 seed of the initial bits
//   u128 rANS state  u64 initial words read  u64 word count  u32 words[word count]
//   u32 CRC-32 of everything above
//
// Reading checks the magic, the version, the length and the checksum before any
// field is used; each problem is a one-line vdm::Error naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "codec/rans.h"

namespace vdm {

constexpr uint32_t kVdmzVersion = 1;

struct VdmzFile {
    uint64_t model_fingerprint = 0, computation_fingerprint = 0;
    uint64_t images = 0;
    uint32_t channels = 0, rows = 0, cols = 0;
    uint32_t pixels_crc = 0;
    uint64_t T = 0;
    double bin = 0, range = 0;
    uint64_t seed = 0;
    RansState state = 0;
    uint64_t initial_words_read = 0;
    std::vector<uint32_t> words;
};

// The file's bytes, as write_vdmz writes them.
std::vector<uint8_t> vdmz_bytes(const VdmzFile& file);
// Writes atomically (datasets/atomic_file.h); returns the bytes written.
uint64_t write_vdmz(const std::string& path, const VdmzFile& file);
VdmzFile read_vdmz(const std::string& path);

// CRC-32 (zlib's) of a run of bytes.
uint32_t crc32_of(const uint8_t* data, size_t size);

}  // namespace vdm
