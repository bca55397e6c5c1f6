// Temp file + fsync + rename.
#include "datasets/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tensor/error.h"

namespace vdm {

void write_atomically(const std::string& path, const std::vector<ByteSpan>& spans) {
    std::string tmp = path + ".tmp";
    FILE* file = std::fopen(tmp.c_str(), "wb");
    if (!file) fail(path, ": cannot create ", tmp, " (", std::strerror(errno), ")");
    const char* failed_step = nullptr;
    for (const ByteSpan& span : spans)
        if (!failed_step && std::fwrite(span.data, 1, span.size, file) != span.size)
            failed_step = "write";
    if (!failed_step && std::fflush(file) != 0) failed_step = "flush";
    if (!failed_step && fsync(fileno(file)) != 0) failed_step = "fsync";
    int error = errno;
    if (std::fclose(file) != 0 && !failed_step) {
        failed_step = "close";
        error = errno;
    }
    if (failed_step) {
        std::remove(tmp.c_str());
        fail(path, ": cannot ", failed_step, " ", tmp, " (", std::strerror(error), ")");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        error = errno;
        std::remove(tmp.c_str());
        fail(path, ": cannot rename ", tmp, " over it (", std::strerror(error), ")");
    }
}

}  // namespace vdm
