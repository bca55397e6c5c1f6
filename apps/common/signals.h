// The signals a long loop (train_mnist) handles. SIGINT and SIGTERM: the first asks
// the loop to stop after its current step (the loop polls interrupt_requested(), saves
// and exits 130); a second one exits at once with 130. Exiting mid-write is safe
// because every file is written to a temp file and renamed (datasets/atomic_file.h):
// the last good checkpoint is never touched. SIGXFSZ (a write over `ulimit -f`) is
// ignored, so that the write fails with EFBIG and is reported like any failed write.
#pragma once
#include <csignal>

#include <unistd.h>

namespace vdm {

namespace interrupt_detail {
inline volatile std::sig_atomic_t requested = 0;

inline void on_signal(int) {
    if (requested) {
        static const char message[] = "second signal: exiting now\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
        _exit(130);
    }
    requested = 1;
}
}  // namespace interrupt_detail

inline void install_signal_handlers() {
    struct sigaction action = {};
    action.sa_handler = interrupt_detail::on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    std::signal(SIGXFSZ, SIG_IGN);
}

inline bool interrupt_requested() { return interrupt_detail::requested != 0; }

}  // namespace vdm
