// libFuzzer target: the PNG writer (datasets/png.h) on images that come from a file,
// the way vdm_score and the sample grids get them: an IDX file of any bytes, read,
// tiled into a grid of 1..16 columns and encoded. A vdm::Error is fine.
#include <cstdint>
#include <vector>

#include "datasets/idx.h"
#include "datasets/png.h"
#include "tensor/error.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const int64_t cols = 1 + data[0] % 16;  // the first byte picks the grid's width
    const std::string path = vdm::fuzz::input_file(data + 1, size - 1, ".idx");
    try {
        vdm::IdxArray images = vdm::read_idx(path);
        if (images.dims.size() != 3 && images.dims.size() != 4) return 0;
        const int64_t n = images.dims[0], channels = images.dims.size() == 4 ? images.dims[1] : 1;
        const int64_t height = images.dims[images.dims.size() - 2], width = images.dims.back();
        if (channels != 1 && channels != 3) return 0;
        if (n * channels * height * width > (int64_t(1) << 22)) return 0;  // keep each input fast
        int64_t grid_width = 0, grid_height = 0;
        std::vector<uint8_t> grid = vdm::tile_images(images.data.data(), n, channels, height, width, cols, 1, 128,
                                                     grid_width, grid_height);
        vdm::write_png(path + ".png", grid.data(), grid_width, grid_height, int(channels));
    } catch (const vdm::Error&) {
    }
    return 0;
}
