// Atomic file writes: the bytes go to path + ".tmp", which is flushed, fsync'ed and
// renamed over path, so a crash or a full disk leaves either the old file or the
// new one, never half of one. Used for checkpoints and images.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace vdm {

// A run of bytes to write.
struct ByteSpan {
    const void* data;
    size_t size;
};

// Writes the spans in order. On failure the temporary file is removed, path is left
// untouched, and a one-line vdm::Error names path and the failing step.
void write_atomically(const std::string& path, const std::vector<ByteSpan>& spans);

}  // namespace vdm
