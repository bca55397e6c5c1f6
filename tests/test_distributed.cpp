// distributed/: how a batch is shared by processes, and the streams that give each
// process its rows of the one-process draws (tensor/rng.h). The processes themselves
// (mpirun, the sums, the timeout) are tested by tests/mpi_cli_test.sh.
#include <doctest/doctest.h>

#include "distributed/communicator.h"
#include "nn/layers.h"
#include "tests/vdm_helpers.h"

using namespace vdm;

namespace {

// The rows [begin, begin + rows) of a (B, ...) tensor, as values.
std::vector<double> rows_of(const Tensor& t, const BatchShare& s) {
    const std::vector<double> all = t.to_vector();
    const size_t per_row = all.size() / size_t(t.dim(0));
    return std::vector<double>(all.begin() + s.begin * int64_t(per_row),
                               all.begin() + (s.begin + s.rows) * int64_t(per_row));
}

}  // namespace

TEST_CASE("a batch is shared in rank order, the first batch % N ranks one row more") {
    for (int size : {1, 2, 3, 5})
        for (int64_t batch : {int64_t(size), int64_t(7), int64_t(64), int64_t(785)}) {
            if (batch < size) continue;
            int64_t next = 0;
            for (int rank = 0; rank < size; ++rank) {
                const BatchShare s = share_of_batch(batch, rank, size);
                CHECK(s.begin == next);
                CHECK(s.batch == batch);
                CHECK(s.rows == batch / size + (rank < batch % size ? 1 : 0));
                next += s.rows;
            }
            CHECK(next == batch);
        }
    CHECK_THROWS_WITH_AS(share_of_batch(1, 0, 2), doctest::Contains("cannot be shared by 2 processes"), Error);
    CHECK_THROWS_AS(share_of_batch(4, 2, 2), Error);
    // one process: the communicator of this test binary (no launcher started it)
    CHECK(world().size() == 1);
    CHECK(world().share(9).rows == 9);
}

TEST_CASE("the shares' noise and dropout draws are the rows of the one-process draws, bit for bit") {
    VdmConfig config = test::tiny_model("linear", "continuous");
    Rng init(1);
    Vdm model(config, DType::F64, init);
    const int64_t batch = 7;
    for (int size : {2, 3}) {
        CAPTURE(size);
        Rng whole(42, 5);
        const BoundNoise all = model.draw_noise(batch, whole);
        Dropout dropout(0.3);
        Var ones(Tensor::full(Shape{batch, 2, 3, 3}, 1.0, DType::F64));
        const Tensor mask = dropout.forward(ones, &whole).value();
        for (int rank = 0; rank < size; ++rank) {
            CAPTURE(rank);
            Rng mine(42, 5);
            mine.share = share_of_batch(batch, rank, size);
            const BoundNoise part = model.draw_noise(mine.share.rows, mine);
            CHECK(part.t.to_vector() == rows_of(all.t, mine.share));
            CHECK(part.eps.to_vector() == rows_of(all.eps, mine.share));
            CHECK(part.eps0.to_vector() == rows_of(all.eps0, mine.share));
            Var my_ones(Tensor::full(Shape{mine.share.rows, 2, 3, 3}, 1.0, DType::F64));
            CHECK(dropout.forward(my_ones, &mine).value().to_vector() == rows_of(mask, mine.share));
            CHECK(mine.offset == whole.offset);  // every process ends where one process ends
        }
    }
    Rng shared(3);
    shared.share = share_of_batch(batch, 0, 2);
    CHECK_THROWS_WITH_AS(model.draw_noise(batch, shared), doctest::Contains("whose share is 4 rows"), Error);
}
