// The communicator: MPI's nonblocking collectives, each waited for with a deadline.
#include "distributed/communicator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "tensor/error.h"

#ifndef VDM_MPI
#define VDM_MPI 0  // make MPI=1 defines it as 1
#endif
#if VDM_MPI
#define OMPI_SKIP_MPICXX 1   // the C interface only (no C++ bindings)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace vdm {

namespace {

// The process count an MPI launcher gave this process (Open MPI's mpirun, or a PMI
// launcher such as MPICH's Hydra or Slurm), or 0 when none started it.
int launched_size() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* value = std::getenv(var)) return std::max(1, std::atoi(value));
    return 0;
}

#if VDM_MPI
bool mpi_running = false;  // MPI_Init done, and this is a run of several ranks

// MPI_Init on construction, MPI_Finalize at exit (after main returns).
struct MpiSession {
    MpiSession() {
        int provided = 0;  // only the main thread calls MPI (OpenMP threads never do)
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    }
    ~MpiSession() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
    }
};

// Polls a nonblocking collective until it completes; past the deadline, stops the run.
void wait_for(MPI_Request& request, const Communicator& comm, const char* what) {
    const auto start = std::chrono::steady_clock::now();
    for (int polls = 0;; ++polls) {
        int done = 0;
        MPI_Test(&request, &done, MPI_STATUS_IGNORE);
        if (done) return;
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (waited > comm.timeout_seconds) {
            std::fprintf(stderr,
                         "error: rank %d of %d: no answer from the other ranks in %s after %.0f s: a rank died "
                         "or hangs (--mpi-timeout sets the wait); stopping every rank\n",
                         comm.rank(), comm.size(), what, waited);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        // Spin briefly (a step's collectives usually complete in microseconds), then
        // sleep between polls so a waiting rank leaves its core to the others.
        if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
}
#endif

}  // namespace

BatchShare share_of_batch(int64_t batch, int rank, int size) {
    VDM_CHECK(size >= 1 && rank >= 0 && rank < size, "share_of_batch: rank ", rank, " of ", size);
    VDM_CHECK(batch >= size, "a batch of ", batch, " cannot be shared by ", size,
              " processes (each needs at least one image)");
    const int64_t base = batch / size, extra = batch % size;
    BatchShare s;
    s.begin = rank * base + std::min<int64_t>(rank, extra);
    s.rows = base + (rank < extra ? 1 : 0);
    s.batch = batch;
    return s;
}

void Communicator::sum(std::vector<double>& values) const {
    if (size_ == 1) return;
#if VDM_MPI
    VDM_CHECK(values.size() <= size_t(INT32_MAX), "Communicator::sum: ", values.size(), " values is too many");
    const int64_t n = int64_t(values.size());
    // Chunk r of the values is summed by rank r.
    std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
        offsets[size_t(r)] = int(n * r / size_);
        counts[size_t(r)] = int(n * (r + 1) / size_) - offsets[size_t(r)];
    }
    const int mine = counts[size_t(rank_)];
    std::vector<int> part_counts(static_cast<size_t>(size_), mine), part_offsets(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) part_offsets[size_t(r)] = r * mine;
    // Reduce-scatter: every rank's copy of chunk `rank`, one after another in rank order.
    std::vector<double> parts(size_t(mine) * static_cast<size_t>(size_));
    MPI_Request request;
    MPI_Ialltoallv(values.data(), counts.data(), offsets.data(), MPI_DOUBLE, parts.data(),
                   part_counts.data(), part_offsets.data(), MPI_DOUBLE, MPI_COMM_WORLD, &request);
    wait_for(request, *this, "a gradient sum");
    std::vector<double> chunk(parts.begin(), parts.begin() + mine);
    for (int r = 1; r < size_; ++r)
        for (int k = 0; k < mine; ++k) chunk[size_t(k)] += parts[size_t(r * mine + k)];
    // All-gather: every rank gets every summed chunk.
    MPI_Iallgatherv(chunk.data(), mine, MPI_DOUBLE, values.data(), counts.data(), offsets.data(),
                    MPI_DOUBLE, MPI_COMM_WORLD, &request);
    wait_for(request, *this, "a gradient sum");
#else
    (void)values;  // one process: nothing to add
#endif
}

void Communicator::barrier() const {
    if (size_ == 1) return;
#if VDM_MPI
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    wait_for(request, *this, "a barrier");
#endif
}

std::string Communicator::first_text(const std::string& text) const {
    if (size_ == 1) return text;
#if VDM_MPI
    int length = int(text.size());
    std::vector<int> lengths(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    MPI_Request request;
    MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD, &request);
    wait_for(request, *this, "a message exchange");
    int total = 0;
    for (int r = 0; r < size_; ++r) offsets[size_t(r)] = total, total += lengths[size_t(r)];
    std::string all(size_t(total), '\0');
    MPI_Iallgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                    MPI_COMM_WORLD, &request);
    wait_for(request, *this, "a message exchange");
    for (int r = 0; r < size_; ++r)
        if (lengths[size_t(r)] > 0) return all.substr(size_t(offsets[size_t(r)]), size_t(lengths[size_t(r)]));
#endif
    return "";
}

Communicator& world() {
    static Communicator comm = [] {
        Communicator c;
        const int launched = launched_size();
#if VDM_MPI
        if (launched > 0) {
            static MpiSession session;
            MPI_Comm_rank(MPI_COMM_WORLD, &c.rank_);
            MPI_Comm_size(MPI_COMM_WORLD, &c.size_);
            mpi_running = c.size_ > 1;
        }
#else
        VDM_CHECK(launched <= 1, "an MPI launcher started ", launched,
                  " processes, but this build has no MPI: each would train alone and overwrite the others' "
                  "files (build with make MPI=1, which needs mpicxx)");
#endif
        return c;
    }();
    return comm;
}

bool mpi_built() { return VDM_MPI != 0; }

void stop_all_ranks(int exit_code) {
#if VDM_MPI
    if (mpi_running) {
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, exit_code);
    }
#endif
    (void)exit_code;
}

}  // namespace vdm
