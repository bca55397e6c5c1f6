// The .vdmz file: little-endian fields, checked on the way in.
#include "codec/vdmz_file.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "datasets/atomic_file.h"
#include "tensor/error.h"

namespace vdm {

namespace {

constexpr char kMagic[4] = {'V', 'D', 'M', 'Z'};
// Bytes before the words: magic, version, and the fixed fields listed in the header.
constexpr size_t kFixedBytes = 4 + 4 + 8 + 8 + 8 + 4 * 4 + 8 + 8 + 8 + 8 + 16 + 8 + 8;

struct Writer {
    std::vector<uint8_t> bytes;
    void u32(uint32_t v) {
        for (int k = 0; k < 4; ++k) bytes.push_back(uint8_t(v >> (8 * k)));
    }
    void u64(uint64_t v) {
        for (int k = 0; k < 8; ++k) bytes.push_back(uint8_t(v >> (8 * k)));
    }
    void f64(double v) {
        uint64_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        u64(bits);
    }
};

struct Reader {
    const std::vector<uint8_t>& bytes;
    size_t at = 0;
    uint32_t u32() {
        uint32_t v = 0;
        for (int k = 0; k < 4; ++k) v |= uint32_t(bytes[at++]) << (8 * k);
        return v;
    }
    uint64_t u64() {
        uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v |= uint64_t(bytes[at++]) << (8 * k);
        return v;
    }
    double f64() {
        const uint64_t bits = u64();
        double v;
        std::memcpy(&v, &bits, sizeof v);
        return v;
    }
};

}  // namespace

uint32_t crc32_of(const uint8_t* data, size_t size) {
    uLong crc = crc32(0L, Z_NULL, 0);
    while (size > 0) {  // zlib takes the length as a 32-bit uInt
        const uInt chunk = uInt(std::min<size_t>(size, size_t(1) << 30));
        crc = crc32(crc, data, chunk);
        data += chunk, size -= chunk;
    }
    return uint32_t(crc);
}

std::vector<uint8_t> vdmz_bytes(const VdmzFile& f) {
    Writer w;
    w.bytes.insert(w.bytes.end(), kMagic, kMagic + 4);
    w.u32(kVdmzVersion);
    w.u64(f.model_fingerprint), w.u64(f.computation_fingerprint);
    w.u64(f.images), w.u32(f.channels), w.u32(f.rows), w.u32(f.cols), w.u32(f.pixels_crc);
    w.u64(f.T), w.f64(f.bin), w.f64(f.range), w.u64(f.seed);
    w.u64(uint64_t(f.state)), w.u64(uint64_t(f.state >> 64));
    w.u64(f.initial_words_read), w.u64(f.words.size());
    for (uint32_t word : f.words) w.u32(word);
    w.u32(crc32_of(w.bytes.data(), w.bytes.size()));
    return w.bytes;
}

uint64_t write_vdmz(const std::string& path, const VdmzFile& file) {
    const std::vector<uint8_t> bytes = vdmz_bytes(file);
    write_atomically(path, {{bytes.data(), bytes.size()}});
    return bytes.size();
}

VdmzFile read_vdmz(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    VDM_CHECK(in, path, ": cannot open");
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    VDM_CHECK(bytes.size() >= 8 && std::memcmp(bytes.data(), kMagic, 4) == 0, path,
              ": not a vdm_compress file (no VDMZ magic)");
    Reader r{bytes, 4};
    const uint32_t version = r.u32();
    VDM_CHECK(version == kVdmzVersion, path, ": format version ", version, ", this build reads version ",
              kVdmzVersion);
    VDM_CHECK(bytes.size() >= kFixedBytes + 4, path, ": truncated (", bytes.size(), " bytes, the header alone is ",
              kFixedBytes + 4, ")");
    // The length the header's word count implies (saturated: a damaged count can be anything).
    const uint64_t word_count = Reader{bytes, kFixedBytes - 8}.u64();
    const uint64_t expected = word_count > (uint64_t(1) << 60) ? UINT64_MAX : kFixedBytes + 4 * word_count + 4;
    const size_t body = bytes.size() - 4;
    if (crc32_of(bytes.data(), body) != Reader{bytes, body}.u32()) {
        VDM_CHECK(bytes.size() == expected, path, ": truncated or damaged (", bytes.size(),
                  " bytes where its header implies ", expected, ")");
        fail(path, ": checksum mismatch: the file is corrupted");
    }
    VDM_CHECK(bytes.size() == expected, path, ": ", bytes.size(), " bytes where its header implies ", expected);

    VdmzFile f;
    f.model_fingerprint = r.u64(), f.computation_fingerprint = r.u64();
    f.images = r.u64(), f.channels = r.u32(), f.rows = r.u32(), f.cols = r.u32(), f.pixels_crc = r.u32();
    f.T = r.u64(), f.bin = r.f64(), f.range = r.f64(), f.seed = r.u64();
    f.state = r.u64();
    f.state |= RansState(r.u64()) << 64;
    f.initial_words_read = r.u64();
    r.u64();  // the word count, read above
    f.words.resize(size_t(word_count));
    for (uint32_t& word : f.words) word = r.u32();
    return f;
}

}  // namespace vdm
