// safetensors: round trips, the exact bytes of a small file, a hand-written file in the
// layout other writers use, every kind of broken file load_safetensors must reject, and
// the atomic write.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "nn/safetensors.h"
#include "tensor/error.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using vdm::DType;
using vdm::NamedTensor;
using vdm::Shape;
using vdm::Tensor;

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    REQUIRE(file.good());
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(file.good());
}

// A safetensors file by hand: the 8-byte little-endian header length, the header as
// given (no padding), then data_bytes bytes of tensor data.
std::vector<uint8_t> file_bytes(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < 8; ++i) bytes.push_back(uint8_t(uint64_t(header.size()) >> (8 * i)));
    bytes.insert(bytes.end(), header.begin(), header.end());
    for (size_t i = 0; i < data_bytes; ++i) bytes.push_back(uint8_t(i * 13 + 1));
    return bytes;
}


}  // namespace

TEST_CASE("safetensors round trip keeps names, order, dtypes, shapes, values and metadata") {
    vdm::test::TempDir tmp("vdm_test_safetensors_");
    std::vector<NamedTensor> tensors = {
        {"z.weight", vdm::test::randn(Shape{2, 3}, 1, 1.0, DType::F32)},
        {"a.bias", vdm::test::randn(Shape{4}, 2, 1.0, DType::F64)},
        {"indices",
         Tensor::from_vector(Shape{2, 1, 3}, {0, -1, 7, 2147483647, -2147483647, 5}, DType::I32)},
        {"step", Tensor::scalar(12345.0, DType::I32)},
        {"loss", Tensor::scalar(0.25)},
        {"conv", vdm::test::randn(Shape{3, 2, 3, 3}, 3, 1.0, DType::F32)},
        {"empty", Tensor::zeros(Shape{0, 5})},
        {"name with \"quotes\", \\ and /", vdm::test::randn(Shape{1, 2}, 4, 1.0, DType::F64)},
    };
    std::map<std::string, std::string> metadata = {
        {"quote", "say \"hi\""},
        {"back\\slash", "C:\\path\\"},
        {"lines", "a\nb\r\nc\td\b\f"},
        {"control", std::string("\x01\x1f\x7f", 3) + std::string(1, '\0') + "end"},
        {"utf8", "\xc3\xa9t\xc3\xa9 \xe2\x88\x9e"},
        {"json", "{\"a\": [1, 2.5, null]}"},
        {"empty", ""},
        {"", "empty key"},
    };
    std::string path = tmp.file("ckpt.safetensors");
    vdm::save_safetensors(path, tensors, metadata);
    vdm::SafetensorsFile loaded = vdm::load_safetensors(path);

    CHECK(loaded.metadata == metadata);
    REQUIRE(loaded.tensors.size() == tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
        const Tensor& want = tensors[i].tensor;
        const Tensor& got = loaded.tensors[i].tensor;
        CAPTURE(tensors[i].name);
        CHECK(loaded.tensors[i].name == tensors[i].name);
        CHECK(got.dtype() == want.dtype());
        CHECK(got.shape() == want.shape());
        CHECK(got.to_vector() == want.to_vector());  // exact: the bits are copied
        CHECK(loaded.get(tensors[i].name).same_storage(got));
    }
    CHECK_THROWS_WITH_AS(loaded.get("absent"), "checkpoint has no tensor 'absent'", vdm::Error);

    // Nothing at all: no tensors, no metadata.
    vdm::save_safetensors(path, {}, {});
    vdm::SafetensorsFile nothing = vdm::load_safetensors(path);
    CHECK(nothing.tensors.empty());
    CHECK(nothing.metadata.empty());
}

TEST_CASE("safetensors byte layout: length field, header JSON, padding, raw float bits") {
    vdm::test::TempDir tmp("vdm_test_safetensors_");
    std::string path = tmp.file("tiny.safetensors");
    vdm::save_safetensors(path,
                          {{"w", Tensor::from_vector(Shape{2}, {1.5, -2.0})},
                           {"n", Tensor::scalar(-3.0, DType::I32)}},
                          {{"step", "7"}});
    std::vector<uint8_t> bytes = read_file(path);
    REQUIRE(bytes.size() >= 8);
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | bytes[size_t(i)];

    std::string json =
        "{\"__metadata__\":{\"step\":\"7\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"n\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[8,12]}}";
    size_t padded = (json.size() + 7) / 8 * 8;
    CHECK(header_bytes == padded);
    REQUIRE(bytes.size() == 8 + padded + 12);
    std::string header(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(padded));
    CHECK(header == json + std::string(padded - json.size(), ' '));

    // 1.5f = 0x3FC00000, -2.0f = 0xC0000000, int32 -3 = 0xFFFFFFFD, little-endian.
    std::vector<uint8_t> data(bytes.begin() + 8 + std::ptrdiff_t(padded), bytes.end());
    CHECK(data == std::vector<uint8_t>{0x00, 0x00, 0xC0, 0x3F,  0x00, 0x00, 0x00, 0xC0,
                                       0xFD, 0xFF, 0xFF, 0xFF});
}

TEST_CASE("load_safetensors reads a hand-written file: key order, whitespace, escapes") {
    // Other writers sort the header keys by name, so the header order (a, b) need not be
    // the data order (b, a); tensors come back in data order.
    vdm::test::TempDir tmp("vdm_test_safetensors_");
    std::string path = tmp.file("hand.safetensors");
    std::string header =
        "{ \"a\" : {\"data_offsets\": [4, 12], \"dtype\": \"F32\", \"shape\": [1, 2]},\n"
        "  \"__metadata__\": {\"format\": \"pt\", \"note\": \"\\u0041\\/\\\"\\\\\\t\"},\n"
        "  \"b\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [0, 4]} }\r\n";
    std::vector<uint8_t> bytes = file_bytes(header, 0);
    std::vector<uint8_t> b_bits = {0x2A, 0, 0, 0};                       // int32 42
    std::vector<uint8_t> a_bits = {0, 0, 0x80, 0x3F, 0, 0, 0x40, 0xC0};  // 1.0f, -3.0f
    bytes.insert(bytes.end(), b_bits.begin(), b_bits.end());
    bytes.insert(bytes.end(), a_bits.begin(), a_bits.end());
    write_file(path, bytes);

    vdm::SafetensorsFile loaded = vdm::load_safetensors(path);
    REQUIRE(loaded.tensors.size() == 2);
    CHECK(loaded.tensors[0].name == "b");
    CHECK(loaded.tensors[1].name == "a");
    CHECK(loaded.get("b").dtype() == DType::I32);
    CHECK(loaded.get("b").shape() == Shape{});
    CHECK(loaded.get("b").item() == 42.0);
    CHECK(loaded.get("a").shape() == Shape{1, 2});
    CHECK(loaded.get("a").to_vector() == std::vector<double>{1.0, -3.0});
    CHECK(loaded.metadata ==
          std::map<std::string, std::string>{{"format", "pt"}, {"note", "A/\"\\\t"}});
}

TEST_CASE("load_safetensors rejects broken files with a one-line error naming the file") {
    vdm::test::TempDir tmp("vdm_test_safetensors_");
    auto broken = [&](const std::string& name, const std::vector<uint8_t>& bytes,
                      const std::string& keyword) {
        CAPTURE(name);
        std::string path = tmp.file(name);
        write_file(path, bytes);
        vdm::test::check_error([&] { vdm::load_safetensors(path); }, path, keyword);
    };
    // A header describing one tensor "w" with the given fields.
    auto one = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
        return "{\"w\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
               ",\"data_offsets\":" + offsets + "}}";
    };

    // A good file, cut and extended.
    std::string good_path = tmp.file("good.safetensors");
    vdm::save_safetensors(good_path, {{"w", Tensor::from_vector(Shape{2, 2}, {1, 2, 3, 4})}}, {});
    std::vector<uint8_t> good = read_file(good_path);
    size_t data_at = good.size() - 16;
    auto cut = [&](size_t size) {
        return std::vector<uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(size));
    };
    vdm::test::check_error([&] { vdm::load_safetensors(tmp.file("absent")); }, tmp.file("absent"),
                "cannot open");
    vdm::test::check_error([&] { vdm::load_safetensors(tmp.path.string()); }, tmp.path.string(), "cannot");
    broken("empty", {}, "too short");
    broken("cut-in-length", cut(5), "too short");
    broken("length-only", cut(8), "header length");
    broken("cut-in-header", cut(20), "header length");
    broken("cut-at-data", cut(data_at), "truncated (header says 16 bytes of tensors, file has 0)");
    broken("cut-in-data", cut(data_at + 7),
           "truncated (header says 16 bytes of tensors, file has 7)");
    broken("cut-last-byte", cut(good.size() - 1), "truncated");
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    broken("trailing", longer, "1 trailing bytes");

    // The length field.
    std::vector<uint8_t> flipped = good;
    flipped[7] = 0xFF;
    broken("length-flipped", flipped, "absurd");
    flipped = good;
    flipped[3] = 0x10;  // 256 MiB
    broken("length-256mb", flipped, "absurd");
    flipped = good;
    flipped[0] = uint8_t(flipped[0] + 24);  // longer than the rest of the file
    broken("length-past-end", flipped, "runs past the end");
    flipped = good;
    flipped[0] = uint8_t(flipped[0] - 8);  // cuts the JSON
    broken("length-short", flipped, "invalid JSON");

    // Invalid JSON.
    broken("json-cut", file_bytes("{\"w\":", 0), "invalid JSON header at byte 5");
    broken("json-array", file_bytes("[1, 2]", 0), "not an object");
    broken("json-empty", file_bytes("", 0), "invalid JSON");
    broken("json-after", file_bytes("{} x", 0), "after the end");
    broken("json-comma", file_bytes("{\"a\":1,}", 0), "quoted key");
    broken("json-colon", file_bytes("{\"a\" 1}", 0), "expected ':'");
    broken("json-true", file_bytes("{\"a\":true}", 0), "where a value should start");
    broken("json-float", file_bytes(one("\"F32\"", "[2.0]", "[0,8]"), 8), "only integers");
    broken("json-exponent", file_bytes(one("\"F32\"", "[2e0]", "[0,8]"), 8), "only integers");
    broken("json-leading-zero", file_bytes(one("\"F32\"", "[02]", "[0,8]"), 8), "leading zero");
    broken("json-huge-int", file_bytes(one("\"F32\"", "[99999999999999999999]", "[0,8]"), 8),
           "integer too large");
    broken("json-escape", file_bytes("{\"__metadata__\":{\"a\":\"\\q\"}}", 0), "unknown escape");
    broken("json-non-ascii", file_bytes("{\"__metadata__\":{\"a\":\"\\u00e9\"}}", 0), "ASCII");
    broken("json-bad-hex", file_bytes("{\"__metadata__\":{\"a\":\"\\u00g1\"}}", 0), "hex digit");
    broken("json-raw-newline", file_bytes("{\"__metadata__\":{\"a\":\"x\ny\"}}", 0),
           "control character");
    broken("json-unterminated", file_bytes("{\"__metadata__\":{\"a\":\"abc", 0), "unterminated");
    broken("json-deep", file_bytes(std::string(100, '[') + std::string(100, ']'), 0), "nested");

    // Entries that parse but make no sense.
    broken("duplicate",
           file_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}",
                      8),
           "duplicate key 'w'");
    broken("dtype-bf16", file_bytes(one("\"BF16\"", "[2]", "[0,4]"), 4),
           "unsupported dtype 'BF16'");
    broken("dtype-lower", file_bytes(one("\"f32\"", "[2]", "[0,8]"), 8), "unsupported dtype 'f32'");
    broken("dtype-number", file_bytes(one("32", "[2]", "[0,8]"), 8), "dtype is not a string");
    broken("shape-negative", file_bytes(one("\"F32\"", "[2,-2]", "[0,16]"), 16),
           "negative dimension -2");
    broken("shape-5d", file_bytes(one("\"F32\"", "[1,1,1,1,2]", "[0,8]"), 8), "5 dimensions");
    broken("shape-string", file_bytes(one("\"F32\"", "\"2\"", "[0,8]"), 8),
           "shape is not an array");
    broken("shape-huge",
           file_bytes(one("\"F64\"", "[2147483648,2147483648,2147483648]", "[0,8]"), 8),
           "too large");
    broken("offsets-size", file_bytes(one("\"F32\"", "[2]", "[0,4]"), 4),
           "span 4 bytes, but F32 shape (2) needs 8");
    broken("offsets-reversed", file_bytes(one("\"F32\"", "[]", "[8,4]"), 8), "out of order");
    broken("offsets-negative", file_bytes(one("\"F32\"", "[]", "[-4,0]"), 4), "negative");
    broken("offsets-triple", file_bytes(one("\"F32\"", "[2]", "[0,8,8]"), 8), "pair of integers");
    broken("offsets-past-end", file_bytes(one("\"F32\"", "[2]", "[0,8]"), 4),
           "truncated (header says 8 bytes of tensors, file has 4)");
    broken("missing-shape", file_bytes("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
           "missing");
    broken("unknown-key",
           file_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],"
                      "\"strides\":[]}}",
                      4),
           "unknown key 'strides'");
    broken("entry-not-object", file_bytes("{\"w\":[1]}", 0), "expected an object");
    broken("metadata-array", file_bytes("{\"__metadata__\":[]}", 0), "__metadata__");
    broken("metadata-number", file_bytes("{\"__metadata__\":{\"epoch\":3}}", 0),
           "'epoch' is not a string");

    // Offsets of two tensors that do not tile the data section.
    auto two = [](const std::string& a_offsets, const std::string& b_offsets) {
        return "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + a_offsets +
               "},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + b_offsets + "}}";
    };
    broken("overlap", file_bytes(two("[0,8]", "[4,12]"), 12), "overlap");
    broken("same-offsets", file_bytes(two("[0,8]", "[0,8]"), 8), "overlap");
    broken("gap-between", file_bytes(two("[0,8]", "[12,20]"), 20), "gap");
    broken("gap-at-start", file_bytes(two("[4,12]", "[12,20]"), 20), "gap");
    broken("out-of-range", file_bytes(two("[0,8]", "[8,16]"), 8),
           "truncated (header says 16 bytes of tensors, file has 8)");
    broken("trailing-data", file_bytes(two("[0,8]", "[8,16]"), 20), "4 trailing bytes");
}

TEST_CASE("save_safetensors writes atomically and refuses bad input with one line") {
    vdm::test::TempDir tmp("vdm_test_safetensors_");
    std::string path = tmp.file("ckpt.safetensors");
    Tensor first = Tensor::from_vector(Shape{3}, {1, 2, 3});
    Tensor second = Tensor::from_vector(Shape{2}, {9, 8}, DType::F64);

    // Saving over an existing file replaces it and leaves no temporary file behind.
    vdm::save_safetensors(path, {{"x", first}}, {});
    vdm::save_safetensors(path, {{"y", second}}, {{"step", "2"}});
    vdm::SafetensorsFile loaded = vdm::load_safetensors(path);
    REQUIRE(loaded.tensors.size() == 1);
    CHECK(loaded.tensors[0].name == "y");
    CHECK(loaded.tensors[0].tensor.to_vector() == std::vector<double>{9, 8});
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(tmp.path))
        names.push_back(entry.path().filename());
    CHECK(names == std::vector<std::string>{"ckpt.safetensors"});

    // Refused input leaves the existing file as it was.
    std::vector<uint8_t> before = read_file(path);
    vdm::test::check_error([&] { vdm::save_safetensors(path, {{"", first}}, {}); }, path, "empty name");
    vdm::test::check_error([&] { vdm::save_safetensors(path, {{"__metadata__", first}}); }, path, "reserved");
    vdm::test::check_error(
        [&] {
            vdm::save_safetensors(path, {{"x", first}, {"x", second}});
        },
        path, "two tensors named 'x'");
    vdm::test::check_error([&] { vdm::save_safetensors(path, {{"x", Tensor()}}, {}); }, path, "undefined");

    // A failing write (the temporary name is taken by a folder) leaves it as it was too.
    fs::create_directory(path + ".tmp");
    vdm::test::check_error([&] { vdm::save_safetensors(path, {{"x", first}}, {}); }, path, "cannot create");
    fs::remove(path + ".tmp");
    CHECK(read_file(path) == before);

    // A missing folder: nothing is created.
    std::string nowhere = tmp.file("missing/ckpt.safetensors");
    vdm::test::check_error([&] { vdm::save_safetensors(nowhere, {{"x", first}}); }, nowhere, "cannot create");
    CHECK_FALSE(fs::exists(tmp.file("missing")));

    // A failing rename (the target is a non-empty folder) removes the temporary file.
    std::string folder = tmp.file("folder");
    fs::create_directories(folder + "/inside");
    vdm::test::check_error([&] { vdm::save_safetensors(folder, {{"x", first}}); }, folder, "cannot rename");
    CHECK_FALSE(fs::exists(folder + ".tmp"));
    CHECK(fs::is_directory(folder + "/inside"));
}
