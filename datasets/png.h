// Writing PNG images: sample grids and dataset previews.
//
// An encoder only (no reader), for 8-bit grayscale or RGB, non-interlaced, every row
// stored with filter 0 (none) and deflated by zlib in a single IDAT chunk. Failures
// throw a vdm::Error whose one-line message starts with the file path.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vdm {

// Writes pixels (height, width, channels) row-major, channels 1 (gray) or 3 (RGB), as a
// PNG. Atomic: written to path + ".tmp", flushed, fsync'ed and renamed over path.
void write_png(const std::string& path, const uint8_t* pixels, int64_t width, int64_t height,
               int channels);

// Tiles n images (n, C, H, W), planar, into a grid `cols` images wide, with `pad` pixels
// of pad_value around and between them (empty cells of the last row are pad_value too).
// Returns the grid interleaved as (grid_height, grid_width, C), ready for write_png, with
//   grid_height = rows * H + (rows + 1) * pad,  rows = ceil(n / cols)
//   grid_width  = cols * W + (cols + 1) * pad.
std::vector<uint8_t> tile_images(const uint8_t* images, int64_t n, int64_t channels, int64_t height,
                                 int64_t width, int64_t cols, int64_t pad, uint8_t pad_value,
                                 int64_t& grid_width, int64_t& grid_height);

}  // namespace vdm
