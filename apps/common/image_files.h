// Images an app writes: n images (n, C, H, W) as a square-ish PNG grid, or as a raw
// IDX file of unsigned bytes (what vdm_score reads), for any model's samples.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/idx.h"
#include "datasets/png.h"

namespace vdm {

struct ImageDims {
    int64_t channels = 1, height = 28, width = 28;
};

// images (n, C, H, W) as a grid of `cols` columns (0: ceil(sqrt(n)), square-ish).
inline void write_png_grid(const ImageDims& dims, const std::vector<uint8_t>& images, int64_t n,
                           const std::string& path, int64_t cols = 0) {
    if (cols <= 0) cols = int64_t(std::ceil(std::sqrt(double(n))));
    int64_t width = 0, height = 0;
    std::vector<uint8_t> grid = tile_images(images.data(), n, dims.channels, dims.height, dims.width,
                                            cols, 2, 128, width, height);
    write_png(path, grid.data(), width, height, int(dims.channels));
}

// images (n, C, H, W) as a raw IDX file of unsigned bytes: (n, H, W) for one channel,
// (n, C, H, W) otherwise, the layout of MNIST's image files.
inline void write_idx_images(const ImageDims& dims, const std::vector<uint8_t>& images, int64_t n,
                             const std::string& path) {
    IdxArray array;
    array.dims = dims.channels == 1 ? std::vector<int64_t>{n, dims.height, dims.width}
                                    : std::vector<int64_t>{n, dims.channels, dims.height, dims.width};
    array.data = images;
    write_idx(path, array);
}

}  // namespace vdm
