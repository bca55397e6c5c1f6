// PNG encoding: the 8-byte signature, then the chunks IHDR (size and pixel format),
// IDAT (the zlib stream of the filtered rows) and IEND, each framed as
// [length, big-endian u32][type, 4 ASCII bytes][data][CRC-32 of type and data].
#include "datasets/png.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "datasets/atomic_file.h"
#include "tensor/error.h"

namespace vdm {
namespace {

// Raw image data we accept (1 GiB): its deflated form then fits one chunk (< 2^31 bytes).
constexpr int64_t kMaxRawBytes = int64_t(1) << 30;

void append_big_endian_u32(std::vector<uint8_t>& out, uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(value >> shift));
}

// Appends one chunk: length, type, data, CRC-32 over type and data.
void append_chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& data) {
    append_big_endian_u32(png, uint32_t(data.size()));
    size_t type_at = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, png.data() + type_at, uInt(png.size() - type_at));
    append_big_endian_u32(png, uint32_t(crc));
}

}  // namespace

void write_png(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
               int channels) {
    VDM_CHECK(channels == 1 || channels == 3, path, ": write_png takes 1 (gray) or 3 (RGB) ",
              "channels, got ", channels);
    VDM_CHECK(width > 0 && height > 0, path, ": write_png needs a positive size, got ", width, "x",
              height);
    VDM_CHECK(pixels != nullptr, path, ": write_png got no pixels");
    VDM_CHECK(width <= kMaxRawBytes && height <= kMaxRawBytes / (width * channels + 1), path,
              ": a ", width, "x", height, " image is larger than the ", kMaxRawBytes,
              "-byte limit");
    int64_t row_bytes = width * channels;

    // Each row is prefixed with its filter type, 0 (none): (height, 1 + width * channels).
    std::vector<uint8_t> filtered;
    filtered.reserve(size_t(height * (row_bytes + 1)));
    for (int64_t y = 0; y < height; ++y) {
        filtered.push_back(0);
        filtered.insert(filtered.end(), pixels + y * row_bytes, pixels + (y + 1) * row_bytes);
    }
    uLongf deflated_size = compressBound(uLong(filtered.size()));
    std::vector<uint8_t> deflated(deflated_size);
    int status = compress2(deflated.data(), &deflated_size, filtered.data(), uLong(filtered.size()),
                           Z_DEFAULT_COMPRESSION);
    VDM_CHECK(status == Z_OK, path, ": zlib compress2 failed (error ", status, ")");
    deflated.resize(deflated_size);

    std::vector<uint8_t> header;  // IHDR: width, height, bit depth, color type, 3 zero methods
    append_big_endian_u32(header, uint32_t(width));
    append_big_endian_u32(header, uint32_t(height));
    const uint8_t kGray = 0, kRgb = 2;
    header.insert(header.end(), {8, channels == 1 ? kGray : kRgb, 0, 0, 0});

    std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    append_chunk(png, "IHDR", header);
    append_chunk(png, "IDAT", deflated);
    append_chunk(png, "IEND", {});
    write_atomically(path, {{png.data(), png.size()}});
}

std::vector<uint8_t> tile_images(const uint8_t* images, int64_t n, int64_t channels, int64_t height,
                                 int64_t width, int64_t cols, int64_t pad, uint8_t pad_value,
                                 int64_t& grid_width, int64_t& grid_height) {
    VDM_CHECK(n > 0 && channels > 0 && height > 0 && width > 0, "tile_images: need at least one ",
              "non-empty image, got (", n, ", ", channels, ", ", height, ", ", width, ")");
    VDM_CHECK(cols > 0 && pad >= 0, "tile_images: need cols > 0 and pad >= 0, got cols ", cols,
              ", pad ", pad);
    VDM_CHECK(images != nullptr, "tile_images: got no images");
    int64_t rows = (n + cols - 1) / cols;
    grid_height = rows * height + (rows + 1) * pad;
    grid_width = cols * width + (cols + 1) * pad;

    // (grid_height, grid_width, C), filled with the border, then each image copied in.
    std::vector<uint8_t> grid(size_t(grid_height * grid_width * channels), pad_value);
    for (int64_t i = 0; i < n; ++i) {
        int64_t top = pad + (i / cols) * (height + pad);
        int64_t left = pad + (i % cols) * (width + pad);
        for (int64_t c = 0; c < channels; ++c)
            for (int64_t y = 0; y < height; ++y)
                for (int64_t x = 0; x < width; ++x)
                    grid[size_t(((top + y) * grid_width + left + x) * channels + c)] =
                        images[((i * channels + c) * height + y) * width + x];
    }
    return grid;
}

}  // namespace vdm
