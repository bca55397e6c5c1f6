// Data parallelism across processes (docs/vdm.md has no equation here: this is
// plumbing). One run on N processes, launched by `mpirun -np N`: each process takes a
// share of every batch (share()), computes its rows' part of the loss and gradients,
// and sum() adds the parts up, so every process ends a step with the same gradients
// and takes the same update. Rank 0 alone writes files and progress.
//
// One class, two builds: with MPI (make MPI=1, VDM_MPI) and launched by an MPI
// launcher, world() is MPI_COMM_WORLD; otherwise it is one process, and sum() and
// barrier() do nothing. Every collective waits at most timeout_seconds for the
// others: a rank that died or hangs makes the rest stop with one line, not hang.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/rng.h"

namespace vdm {

// Rows of a batch of `batch` for rank `rank` of `size`: the batch in rank order, the
// first batch % size ranks one row more. Each rank needs at least one row.
BatchShare share_of_batch(int64_t batch, int rank, int size);

class Communicator {
public:
    int rank() const { return rank_; }
    int size() const { return size_; }
    bool root() const { return rank_ == 0; }

    // This rank's rows of a batch (share_of_batch).
    BatchShare share(int64_t batch) const { return share_of_batch(batch, rank_, size_); }

    // values[i] <- sum over ranks of values[i], on every rank. The sum of each element
    // is taken in rank order by one rank (a reduce-scatter, then an all-gather), so
    // all ranks get the same bits and a run with N processes repeats exactly.
    void sum(std::vector<double>& values) const;
    // Waits until every rank has called it.
    void barrier() const;
    // The first non-empty text over ranks in rank order ("" when all are empty).
    std::string first_text(const std::string& text) const;

    // How long a collective waits for the other ranks before stopping the run.
    double timeout_seconds = 300.0;

private:
    friend Communicator& world();
    Communicator() = default;
    int rank_ = 0, size_ = 1;
};

// This process's communicator: MPI_COMM_WORLD when launched by mpirun in an MPI
// build (MPI is initialized on the first call and finalized at exit), else one
// process of one.
Communicator& world();

// Whether this build has MPI (make MPI=1).
bool mpi_built();

// After an error on this rank: the other ranks cannot go on without it, so an MPI
// run is aborted (MPI_Abort: the launcher stops every rank). No-op for one process.
void stop_all_ranks(int exit_code);

}  // namespace vdm
