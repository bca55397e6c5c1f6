// PNG writing, checked by taking the written file apart here (signature, chunk framing
// and CRCs, IHDR fields, the inflated IDAT rows), and the layout of tile_images.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "datasets/png.h"
#include "tensor/error.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;

using vdm::test::check_error;

namespace {

struct Chunk {
    std::string type;
    std::vector<uint8_t> data;
};

uint32_t big_endian_u32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// The chunks of a PNG file, after checking its signature and every chunk's CRC-32.
std::vector<Chunk> read_png_chunks(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    REQUIRE(file.good());
    std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(file),
                               std::istreambuf_iterator<char>()};
    const std::vector<uint8_t> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    REQUIRE(bytes.size() >= 8);
    CHECK(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 8) == signature);

    std::vector<Chunk> chunks;
    size_t at = 8;
    while (at < bytes.size()) {
        REQUIRE(bytes.size() - at >= 12);
        uint32_t length = big_endian_u32(&bytes[at]);
        REQUIRE(bytes.size() - at - 12 >= length);
        const uint8_t* type_and_data = &bytes[at + 4];
        uint32_t stored_crc = big_endian_u32(type_and_data + 4 + length);
        CHECK(stored_crc == uint32_t(crc32(crc32(0L, Z_NULL, 0), type_and_data, 4 + length)));
        chunks.push_back({std::string(type_and_data, type_and_data + 4),
                          std::vector<uint8_t>(type_and_data + 4, type_and_data + 4 + length)});
        at += 12 + length;
    }
    return chunks;
}

// Checks a written PNG against the pixels (height, width, channels) it should hold.
void check_png(const std::string& path, const std::vector<uint8_t>& pixels, int64_t width,
               int64_t height, int channels) {
    std::vector<Chunk> chunks = read_png_chunks(path);
    REQUIRE(chunks.size() == 3);
    CHECK(chunks[0].type == "IHDR");
    CHECK(chunks[1].type == "IDAT");
    CHECK(chunks[2].type == "IEND");
    CHECK(chunks[2].data.empty());

    const std::vector<uint8_t>& ihdr = chunks[0].data;
    REQUIRE(ihdr.size() == 13);
    CHECK(big_endian_u32(&ihdr[0]) == width);
    CHECK(big_endian_u32(&ihdr[4]) == height);
    CHECK(ihdr[8] == 8);                        // bit depth
    CHECK(ihdr[9] == (channels == 1 ? 0 : 2));  // color type: gray or RGB
    CHECK(ihdr[10] == 0);                       // compression: deflate
    CHECK(ihdr[11] == 0);                       // filter method 0
    CHECK(ihdr[12] == 0);                       // no interlace

    size_t row_bytes = size_t(width * channels);
    std::vector<uint8_t> rows(size_t(height) * (1 + row_bytes));
    uLongf rows_size = uLongf(rows.size());
    REQUIRE(uncompress(rows.data(), &rows_size, chunks[1].data.data(),
                       uLong(chunks[1].data.size())) == Z_OK);
    REQUIRE(rows_size == rows.size());
    std::vector<uint8_t> decoded;
    for (int64_t y = 0; y < height; ++y) {
        const uint8_t* row = &rows[size_t(y) * (1 + row_bytes)];
        CHECK(row[0] == 0);  // filter type: none
        decoded.insert(decoded.end(), row + 1, row + 1 + row_bytes);
    }
    CHECK(decoded == pixels);
}

}  // namespace

TEST_CASE("write_png writes grayscale and RGB images that decode to the same pixels") {
    vdm::test::TempDir tmp("vdm_test_png_");

    SUBCASE("grayscale gradient 7x5") {
        const int64_t width = 7, height = 5;
        std::vector<uint8_t> pixels(width * height);
        for (int64_t y = 0; y < height; ++y)
            for (int64_t x = 0; x < width; ++x)
                pixels[size_t(y * width + x)] = uint8_t(x * 36 + y * 5);
        std::string path = tmp.file("gray.png");
        vdm::write_png(path, pixels.data(), width, height, 1);
        check_png(path, pixels, width, height, 1);
    }
    SUBCASE("RGB 4x3, then overwritten by a 1x1 image") {
        const int64_t width = 4, height = 3;
        std::vector<uint8_t> pixels(width * height * 3);
        for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 21);
        std::string path = tmp.file("rgb.png");
        vdm::write_png(path, pixels.data(), width, height, 3);
        check_png(path, pixels, width, height, 3);

        std::vector<uint8_t> dot = {255, 0, 128};
        vdm::write_png(path, dot.data(), 1, 1, 3);
        check_png(path, dot, 1, 1, 3);
        CHECK_FALSE(fs::exists(path + ".tmp"));
    }
    SUBCASE("a larger image: 300x200 noise") {
        std::vector<uint8_t> pixels(300 * 200);
        uint32_t state = 12345;
        for (uint8_t& p : pixels) p = uint8_t((state = state * 1664525u + 1013904223u) >> 24);
        std::string path = tmp.file("noise.png");
        vdm::write_png(path, pixels.data(), 300, 200, 1);
        check_png(path, pixels, 300, 200, 1);
    }
}

TEST_CASE("write_png refuses bad arguments and unwritable paths with one line") {
    vdm::test::TempDir tmp("vdm_test_png_");
    std::vector<uint8_t> pixels(4 * 4 * 3, 7);
    std::string path = tmp.file("out.png");
    check_error([&] { vdm::write_png(path, pixels.data(), 4, 4, 2); },
                path + ": write_png takes 1");
    check_error([&] { vdm::write_png(path, pixels.data(), 4, 4, 4); }, "got 4");
    check_error([&] { vdm::write_png(path, pixels.data(), 0, 4, 1); }, "positive size, got 0x4");
    check_error([&] { vdm::write_png(path, pixels.data(), 4, -1, 1); }, "positive size");
    check_error([&] { vdm::write_png(path, nullptr, 4, 4, 1); }, "no pixels");
    check_error([&] { vdm::write_png(path, pixels.data(), int64_t(1) << 20, int64_t(1) << 20, 1); },
                "limit");
    CHECK_FALSE(fs::exists(path));

    std::string nowhere = tmp.file("missing/out.png");
    check_error([&] { vdm::write_png(nowhere, pixels.data(), 4, 4, 1); },
                nowhere + ": cannot create");
    CHECK_FALSE(fs::exists(tmp.file("missing")));
}

TEST_CASE("tile_images lays images out row by row with padding around and between") {
    // Three 1-channel 2x2 images, 2 columns, pad 1 of value 9: a 2-row grid, 7 x 5.
    //   9 9 9 9 9 9 9
    //   9 0 1 9 4 5 9
    //   9 2 3 9 6 7 9
    //   9 9 9 9 9 9 9
    //   9 8 9 9 9 9 9      <- image 2 holds 8..11; the empty last cell is padding
    //   9 a b 9 9 9 9
    //   9 9 9 9 9 9 9
    std::vector<uint8_t> images(3 * 4);
    for (size_t i = 0; i < images.size(); ++i) images[i] = uint8_t(i);
    int64_t grid_width = 0, grid_height = 0;
    std::vector<uint8_t> grid =
        vdm::tile_images(images.data(), 3, 1, 2, 2, 2, 1, 9, grid_width, grid_height);
    CHECK(grid_width == 7);
    CHECK(grid_height == 7);
    std::vector<uint8_t> expected = {
        9, 9, 9, 9, 9, 9, 9,
        9, 0, 1, 9, 4, 5, 9,
        9, 2, 3, 9, 6, 7, 9,
        9, 9, 9, 9, 9, 9, 9,
        9, 8, 9, 9, 9, 9, 9,
        9, 10, 11, 9, 9, 9, 9,
        9, 9, 9, 9, 9, 9, 9,
    };
    CHECK(grid == expected);

    // Two RGB 1x2 images (planar in, interleaved out), one column, no padding: 2 x 2 x 3.
    std::vector<uint8_t> rgb = {
        10, 11,  20, 21,  30, 31,   // image 0: R plane, G plane, B plane
        40, 41,  50, 51,  60, 61,   // image 1
    };
    grid = vdm::tile_images(rgb.data(), 2, 3, 1, 2, 1, 0, 0, grid_width, grid_height);
    CHECK(grid_width == 2);
    CHECK(grid_height == 2);
    CHECK(grid == std::vector<uint8_t>{10, 20, 30, 11, 21, 31, 40, 50, 60, 41, 51, 61});

    // The grid goes straight to write_png.
    vdm::test::TempDir tmp("vdm_test_png_");
    vdm::write_png(tmp.file("grid.png"), grid.data(), grid_width, grid_height, 3);
    check_png(tmp.file("grid.png"), grid, grid_width, grid_height, 3);

    check_error(
        [&] { vdm::tile_images(images.data(), 0, 1, 2, 2, 2, 1, 9, grid_width, grid_height); },
        "tile_images: need at least one");
    check_error(
        [&] { vdm::tile_images(images.data(), 3, 1, 2, 2, 0, 1, 9, grid_width, grid_height); },
        "cols > 0");
    check_error(
        [&] { vdm::tile_images(images.data(), 3, 1, 2, 2, 2, -1, 9, grid_width, grid_height); },
        "pad >= 0");
}
