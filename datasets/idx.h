// Reader and writer for IDX files, the format MNIST and Fashion-MNIST ship in.
//
// An IDX file is a 4-byte magic 00 00 TT ND (TT = element type, ND = number of
// dimensions), then ND big-endian uint32 sizes, then the elements in row-major order.
// We read only TT = 0x08 (unsigned byte), the type of every MNIST file. Files whose
// name ends in ".gz" are gunzipped in memory first; any other name is read raw.
// Every problem (missing file, bad gzip, bad header, short or long data) throws a
// vdm::Error whose one-line message starts with the file path.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vdm {

// The largest data section we accept (2^31 bytes): guards size arithmetic and memory.
constexpr uint64_t kIdxMaxDataBytes = uint64_t(1) << 31;

// An IDX array of unsigned bytes: its sizes and its elements, row-major.
struct IdxArray {
    std::vector<int64_t> dims;  // e.g. (60000, 28, 28) for MNIST training images
    std::vector<uint8_t> data;  // product(dims) bytes
};

// Reads an IDX file of unsigned bytes, raw or gzip-compressed (by the ".gz" name).
IdxArray read_idx(const std::string& path);

// Writes an IDX file of unsigned bytes, raw (never gzipped, whatever the name),
// atomically (datasets/atomic_file.h). The dims must be 1 to 4 sizes, each in [1, 2^32),
// whose product is data.size().
void write_idx(const std::string& path, const IdxArray& array);

}  // namespace vdm
