// IDX reading: load the file, gunzip it with zlib's inflate if named *.gz, then
// check and split the header (magic, sizes) from the data.
#include "datasets/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <memory>
#include <sstream>
#include <utility>

#include "datasets/atomic_file.h"
#include "tensor/error.h"

namespace vdm {
namespace {

constexpr size_t kMaxHeaderBytes = 4 + 4 * 4;  // magic + at most 4 sizes
constexpr uint64_t kMaxFileBytes = kIdxMaxDataBytes + kMaxHeaderBytes;

struct FileCloser {
    void operator()(FILE* file) const { std::fclose(file); }
};

struct InflateEnder {
    void operator()(z_stream* stream) const { inflateEnd(stream); }
};

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string hex32(uint32_t value) {
    std::ostringstream os;
    os << "0x" << std::hex << std::setw(8) << std::setfill('0') << value;
    return os.str();
}

// (60000, 28, 28) -> "60000x28x28"
std::string dims_string(const std::vector<int64_t>& dims) {
    std::string text;
    for (size_t i = 0; i < dims.size(); ++i) text += (i ? "x" : "") + std::to_string(dims[i]);
    return text;
}

uint32_t read_big_endian_u32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// The whole file, refusing anything larger than a valid IDX file can be.
std::vector<uint8_t> read_file(const std::string& path) {
    std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) fail(path, ": cannot open file (", std::strerror(errno), ")");
    std::vector<uint8_t> bytes;
    uint8_t chunk[1 << 16];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) {
        bytes.insert(bytes.end(), chunk, chunk + got);
        if (bytes.size() > kMaxFileBytes)
            fail(path, ": file is larger than the ", kMaxFileBytes, "-byte limit for IDX files");
    }
    if (std::ferror(file.get())) fail(path, ": read error (", std::strerror(errno), ")");
    return bytes;
}

// Inflates a gzip file held in memory. windowBits 16 + MAX_WBITS makes zlib expect
// the gzip wrapper and check its CRC-32 and length trailer.
std::vector<uint8_t> gunzip(const std::string& path, const std::vector<uint8_t>& gz) {
    if (gz.size() < 2 || gz[0] != 0x1f || gz[1] != 0x8b)
        fail(path, ": not a gzip file (the name ends in .gz but the data does not start with "
                   "the gzip magic 1f 8b)");
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) fail(path, ": zlib inflateInit2 failed");
    std::unique_ptr<z_stream, InflateEnder> ender(&stream);
    stream.next_in = const_cast<Bytef*>(gz.data());  // zlib only reads the input
    stream.avail_in = uInt(gz.size());                // fits: gz.size() <= kMaxFileBytes < 2^32

    std::vector<uint8_t> out;
    uint8_t chunk[1 << 16];
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        stream.next_out = chunk;
        stream.avail_out = sizeof chunk;
        status = inflate(&stream, Z_NO_FLUSH);
        // With fresh output space, "no progress possible" means the input ran out.
        if (status == Z_BUF_ERROR)
            fail(path, ": truncated gzip stream (the file ends before the compressed data does)");
        if (status != Z_OK && status != Z_STREAM_END)
            fail(path, ": corrupt gzip stream (zlib error ", status, ": ",
                 stream.msg ? stream.msg : "no message", ")");
        out.insert(out.end(), chunk, chunk + (sizeof chunk - stream.avail_out));
        if (out.size() > kMaxFileBytes)
            fail(path, ": decompressed data is larger than the ", kMaxFileBytes,
                 "-byte limit for IDX files");
    }
    if (stream.avail_in != 0)
        fail(path, ": ", stream.avail_in, " unexpected bytes after the end of the gzip stream");
    return out;
}

// Checks the header of a whole IDX file and splits it from the data.
IdxArray parse_idx(const std::string& path, std::vector<uint8_t> bytes) {
    if (bytes.size() < 4)
        fail(path, ": too short for the 4-byte IDX magic (", bytes.size(), " bytes)");
    uint32_t magic = read_big_endian_u32(bytes.data());
    if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08) {
        bool looks_gzip = bytes[0] == 0x1f && bytes[1] == 0x8b;
        fail(path, ": wrong IDX magic ", hex32(magic),
             ", expected 0x000008NN (unsigned bytes in NN dimensions)",
             looks_gzip ? "; the data starts with the gzip magic 1f 8b, so name the file *.gz"
                        : "");
    }
    uint32_t ndims = bytes[3];
    if (ndims < 1 || ndims > 4)
        fail(path, ": IDX magic ", hex32(magic), " declares ", ndims, " dimensions, expected 1 to 4");
    size_t header_bytes = 4 + 4 * size_t(ndims);
    if (bytes.size() < header_bytes)
        fail(path, ": IDX header cut short: ", ndims, " dimensions need a ", header_bytes,
             "-byte header, but there are only ", bytes.size(), " bytes");

    IdxArray array;
    for (uint32_t i = 0; i < ndims; ++i) {
        uint32_t size = read_big_endian_u32(&bytes[4 + 4 * size_t(i)]);
        if (size == 0) fail(path, ": IDX dimension ", i, " has size 0");
        array.dims.push_back(size);
    }
    // The element count, refusing products over the limit before they can overflow.
    uint64_t count = 1;
    for (int64_t size : array.dims) {
        if (count > kIdxMaxDataBytes / uint64_t(size))
            fail(path, ": IDX dims ", dims_string(array.dims), " exceed the ", kIdxMaxDataBytes,
                 "-byte (2 GiB) limit");
        count *= uint64_t(size);
    }
    uint64_t present = bytes.size() - header_bytes;
    if (present < count)
        fail(path, ": truncated IDX data: the header declares dims ", dims_string(array.dims),
             " (", count, " bytes), but only ", present, " data bytes are present");
    if (present > count)
        fail(path, ": ", present - count, " trailing bytes after the ", count,
             " data bytes declared by the header (", dims_string(array.dims), ")");

    bytes.erase(bytes.begin(), bytes.begin() + std::ptrdiff_t(header_bytes));
    array.data = std::move(bytes);
    return array;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    if (bytes.empty()) fail(path, ": empty file (0 bytes)");
    if (ends_with(path, ".gz")) bytes = gunzip(path, bytes);
    return parse_idx(path, std::move(bytes));
}

void write_idx(const std::string& path, const IdxArray& array) {
    if (array.dims.empty() || array.dims.size() > 4)
        fail(path, ": cannot write ", array.dims.size(), " IDX dimensions, expected 1 to 4");
    uint64_t count = 1;
    for (int64_t size : array.dims) {
        if (size < 1 || uint64_t(size) > 0xffffffffu)
            fail(path, ": cannot write IDX dims ", dims_string(array.dims), ": each must be in [1, 2^32)");
        count *= uint64_t(size);
    }
    if (count != array.data.size())
        fail(path, ": IDX dims ", dims_string(array.dims), " hold ", count, " bytes, but ",
             array.data.size(), " were given");
    std::vector<uint8_t> header{0, 0, 0x08, uint8_t(array.dims.size())};
    for (int64_t size : array.dims)
        for (int shift = 24; shift >= 0; shift -= 8) header.push_back(uint8_t(uint64_t(size) >> shift));
    write_atomically(path, {{header.data(), header.size()}, {array.data.data(), array.data.size()}});
}

}  // namespace vdm
