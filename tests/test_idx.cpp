// IDX reading and split loading: the real MNIST / Fashion-MNIST files when present,
// then small files written here, good and broken in every way read_idx must catch.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "tensor/error.h"
#include "tests/helpers.h"

namespace fs = std::filesystem;
using vdm::Dataset;
using vdm::Split;

namespace {


// An IDX file of unsigned bytes: magic 00 00 08 ndims, big-endian sizes, data.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> bytes = {0, 0, 0x08, uint8_t(dims.size())};
    for (uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(uint8_t(d >> shift));
    bytes.insert(bytes.end(), data.begin(), data.end());
    return bytes;
}

// The gzip encoding of bytes (deflate with windowBits 16 + MAX_WBITS).
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes) {
    z_stream stream{};
    REQUIRE(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY) == Z_OK);
    std::vector<uint8_t> out(deflateBound(&stream, uLong(bytes.size())));
    stream.next_in = const_cast<Bytef*>(bytes.data());
    stream.avail_in = uInt(bytes.size());
    stream.next_out = out.data();
    stream.avail_out = uInt(out.size());
    int status = deflate(&stream, Z_FINISH);
    deflateEnd(&stream);
    REQUIRE(status == Z_STREAM_END);
    out.resize(stream.total_out);
    return out;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(file.good());
}

std::vector<uint8_t> iota_bytes(size_t n) {
    std::vector<uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = uint8_t(i * 7 + 3);
    return bytes;
}


std::string data_root() {
    const char* root = std::getenv("VDM_DATA");
    return root && *root ? root : "../shared/data";
}

double mean_pixel(const Dataset& data) {
    double sum = 0;
    for (uint8_t v : data.images) sum += v;
    return sum / double(data.images.size());
}

}  // namespace

TEST_CASE("real MNIST and Fashion-MNIST files load with the published sizes and statistics") {
    std::string root = data_root();
    if (!fs::is_directory(root + "/mnist") || !fs::is_directory(root + "/fashion-mnist")) {
        MESSAGE("SKIP: no mnist and fashion-mnist folders under " << root);
        return;
    }
    // Pixel means over each split (the familiar 0.1307 and 0.2860 for the training
    // sets, times 255) and the first training label.
    struct Expected {
        std::string name;
        double train_mean, test_mean;
        int first_train_label;
    };
    for (const Expected& want : {Expected{"mnist", 33.318, 33.791, 5},
                                 Expected{"fashion-mnist", 72.940, 73.147, 9}}) {
        CAPTURE(want.name);
        std::string dir = root + "/" + want.name;
        vdm::IdxArray labels = vdm::read_idx(dir + "/t10k-labels-idx1-ubyte.gz");
        CHECK(labels.dims == std::vector<int64_t>{10000});

        for (Split split : {Split::Train, Split::Test}) {
            Dataset data = vdm::load_split(dir, split);
            int64_t n = split == Split::Train ? 60000 : 10000;
            CHECK(data.n == n);
            CHECK(data.channels == 1);
            CHECK(data.height == 28);
            CHECK(data.width == 28);
            CHECK(int64_t(data.images.size()) == n * 28 * 28);
            REQUIRE(int64_t(data.labels.size()) == n);

            std::vector<int64_t> per_class(10, 0);
            int64_t out_of_range = 0;
            for (uint8_t label : data.labels) {
                if (label < 10)
                    ++per_class[label];
                else
                    ++out_of_range;
            }
            CHECK(out_of_range == 0);
            for (int64_t count : per_class) CHECK(count > n / 20);  // every class well present

            double expected_mean = split == Split::Train ? want.train_mean : want.test_mean;
            CHECK(mean_pixel(data) == doctest::Approx(expected_mean).epsilon(0.001));
            if (split == Split::Train) CHECK(data.labels[0] == want.first_train_label);
        }
    }
}

TEST_CASE("read_idx reads raw and gzip IDX files") {
    vdm::test::TempDir tmp("vdm_test_idx_");
    std::vector<uint8_t> data = iota_bytes(3 * 2 * 4);
    std::vector<uint8_t> bytes = idx_bytes({3, 2, 4}, data);
    write_file(tmp.file("raw-idx3-ubyte"), bytes);
    write_file(tmp.file("packed-idx3-ubyte.gz"), gzip_bytes(bytes));

    for (const std::string name : {"raw-idx3-ubyte", "packed-idx3-ubyte.gz"}) {
        CAPTURE(name);
        vdm::IdxArray array = vdm::read_idx(tmp.file(name));
        CHECK(array.dims == std::vector<int64_t>{3, 2, 4});
        CHECK(array.data == data);
    }
    // A larger file: more than one 64 KiB inflate chunk.
    std::vector<uint8_t> big = iota_bytes(300 * 28 * 28);
    write_file(tmp.file("big.gz"), gzip_bytes(idx_bytes({300, 28, 28}, big)));
    CHECK(vdm::read_idx(tmp.file("big.gz")).data == big);
}

TEST_CASE("write_idx writes what read_idx reads back, byte for byte, and refuses bad dims") {
    vdm::test::TempDir tmp("vdm_test_idx_");
    std::vector<uint8_t> data = iota_bytes(5 * 3 * 7);
    vdm::write_idx(tmp.file("out-idx3-ubyte"), {{5, 3, 7}, data});
    std::ifstream file(tmp.file("out-idx3-ubyte"), std::ios::binary);
    std::vector<uint8_t> written((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    CHECK(written == idx_bytes({5, 3, 7}, data));  // the layout the reader is tested on
    vdm::IdxArray back = vdm::read_idx(tmp.file("out-idx3-ubyte"));
    CHECK(back.dims == std::vector<int64_t>{5, 3, 7});
    CHECK(back.data == data);

    CHECK_THROWS_WITH_AS(vdm::write_idx(tmp.file("bad"), {{5, 3, 6}, data}),
                         doctest::Contains("hold 90 bytes, but 105 were given"), vdm::Error);
    CHECK_THROWS_WITH_AS(vdm::write_idx(tmp.file("bad"), {{}, {}}),
                         doctest::Contains("expected 1 to 4"), vdm::Error);
    CHECK_THROWS_WITH_AS(vdm::write_idx(tmp.file("bad"), {{0, 1}, {}}),
                         doctest::Contains("each must be in [1, 2^32)"), vdm::Error);
    CHECK_FALSE(fs::exists(tmp.file("bad")));
}

TEST_CASE("load_split reads a folder of small IDX files") {
    vdm::test::TempDir tmp("vdm_test_idx_");
    std::vector<uint8_t> images = iota_bytes(3 * 2 * 4);
    std::vector<uint8_t> labels = {7, 0, 9};

    SUBCASE("gzip files, 3-D images") {
        write_file(tmp.file("train-images-idx3-ubyte.gz"), gzip_bytes(idx_bytes({3, 2, 4}, images)));
        write_file(tmp.file("train-labels-idx1-ubyte.gz"), gzip_bytes(idx_bytes({3}, labels)));
        Dataset data = vdm::load_split(tmp.path.string(), Split::Train);
        CHECK(data.n == 3);
        CHECK(data.channels == 1);
        CHECK(data.height == 2);
        CHECK(data.width == 4);
        CHECK(data.images == images);
        CHECK(data.labels == labels);

        std::vector<uint8_t> batch(2 * 8);
        vdm::gather_images(data, {2, 0}, batch.data());
        CHECK(std::vector<uint8_t>(batch.begin(), batch.begin() + 8) ==
              std::vector<uint8_t>(images.begin() + 16, images.end()));
        CHECK(std::vector<uint8_t>(batch.begin() + 8, batch.end()) ==
              std::vector<uint8_t>(images.begin(), images.begin() + 8));
        vdm::test::check_error([&] { vdm::gather_images(data, {3}, batch.data()); }, "gather_images", "range");
    }
    SUBCASE("uncompressed files, 4-D images (n, C, H, W)") {
        write_file(tmp.file("t10k-images-idx3-ubyte"), idx_bytes({3, 2, 1, 4}, images));
        write_file(tmp.file("t10k-labels-idx1-ubyte"), idx_bytes({3}, labels));
        Dataset data = vdm::load_split(tmp.path.string(), Split::Test);
        CHECK(data.n == 3);
        CHECK(data.channels == 2);
        CHECK(data.height == 1);
        CHECK(data.width == 4);
        CHECK(data.image_size() == 8);
    }
}

TEST_CASE("read_idx rejects broken files with a one-line error naming the file") {
    vdm::test::TempDir tmp("vdm_test_idx_");
    std::vector<uint8_t> good = idx_bytes({3, 2, 4}, iota_bytes(24));
    auto broken = [&](const std::string& name, const std::vector<uint8_t>& bytes,
                      const std::string& keyword) {
        CAPTURE(name);
        std::string path = tmp.file(name);
        write_file(path, bytes);
        vdm::test::check_error([&] { vdm::read_idx(path); }, path, keyword);
    };

    vdm::test::check_error([&] { vdm::read_idx(tmp.file("absent.gz")); }, tmp.file("absent.gz"), "cannot open");
    broken("empty-idx3-ubyte", {}, "empty");
    broken("empty.gz", {}, "empty");
    broken("notgzip.gz", good, "not a gzip file");
    broken("tiny-idx3-ubyte", {0, 0}, "too short");

    std::vector<uint8_t> wrong = good;
    wrong[2] = 0x0D;  // type 0x0D is float32
    broken("float-idx3-ubyte", wrong, "wrong IDX magic 0x00000d03");
    wrong = good;
    wrong[0] = 1;
    broken("nonzero-idx3-ubyte", wrong, "wrong IDX magic");
    broken("gzipped-without-gz", gzip_bytes(good), "gzip magic");
    broken("zero-dims", {0, 0, 8, 0}, "0 dimensions");
    broken("five-dims", {0, 0, 8, 5, 0, 0, 0, 1}, "5 dimensions");

    broken("header-cut", std::vector<uint8_t>(good.begin(), good.begin() + 10), "header cut short");
    broken("size-zero", idx_bytes({3, 0, 4}, {}), "size 0");
    broken("huge-dims", idx_bytes({65536, 65536, 2}, {1, 2, 3}), "limit");
    broken("data-cut", std::vector<uint8_t>(good.begin(), good.end() - 5), "truncated");
    broken("claims-more", idx_bytes({5, 2, 4}, iota_bytes(24)), "(40 bytes), but only 24");
    broken("trailing", idx_bytes({3, 2, 4}, iota_bytes(25)), "1 trailing bytes");

    std::vector<uint8_t> gz = gzip_bytes(good);
    broken("cut.gz", std::vector<uint8_t>(gz.begin(), gz.end() - 12), "truncated gzip");
    broken("header-only.gz", std::vector<uint8_t>(gz.begin(), gz.begin() + 10), "truncated gzip");
    std::vector<uint8_t> corrupt = gz;
    corrupt[gz.size() - 6] ^= 0xFF;  // inside the CRC-32 trailer
    broken("crc.gz", corrupt, "corrupt gzip");
    std::vector<uint8_t> two = gz;
    two.insert(two.end(), {0, 0, 0});
    broken("after.gz", two, "after the end of the gzip stream");
    broken("data-cut.gz", gzip_bytes(std::vector<uint8_t>(good.begin(), good.end() - 5)), "truncated");
    broken("trailing.gz", gzip_bytes(idx_bytes({3, 2, 4}, iota_bytes(30))), "6 trailing bytes");
}

TEST_CASE("load_split rejects missing files, mismatched counts and bad labels") {
    vdm::test::TempDir tmp("vdm_test_idx_");
    std::string dir = tmp.path.string();
    std::string images = tmp.file("train-images-idx3-ubyte.gz");
    std::string labels = tmp.file("train-labels-idx1-ubyte.gz");
    write_file(images, gzip_bytes(idx_bytes({3, 2, 4}, iota_bytes(24))));

    vdm::test::check_error([&] { vdm::load_split(dir, Split::Train); }, "train-labels-idx1-ubyte", "missing");
    vdm::test::check_error([&] { vdm::load_split(dir, Split::Test); }, "t10k-images-idx3-ubyte", "missing");

    write_file(labels, gzip_bytes(idx_bytes({4}, {1, 2, 3, 4})));
    vdm::test::check_error([&] { vdm::load_split(dir, Split::Train); }, labels, "count mismatch");
    vdm::test::check_error([&] { vdm::load_split(dir, Split::Train); }, images, "3 images");

    write_file(labels, gzip_bytes(idx_bytes({3}, {1, 10, 3})));
    vdm::test::check_error([&] { vdm::load_split(dir, Split::Train); }, labels, "index 1 is 10");

    write_file(labels, gzip_bytes(idx_bytes({3, 1}, {1, 2, 3})));
    vdm::test::check_error([&] { vdm::load_split(dir, Split::Train); }, labels, "1 dim");

    write_file(images, gzip_bytes(idx_bytes({24}, iota_bytes(24))));
    vdm::test::check_error([&] { vdm::load_split(dir, Split::Train); }, images, "3 dims");
}
