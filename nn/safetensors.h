// The safetensors file format: how checkpoints are saved and loaded.
//
// A file is an 8-byte little-endian u64 N, then N bytes of JSON header, then the raw
// little-endian bytes of every tensor, back to back. The header maps each tensor name to
//   {"dtype": "F32" | "F64" | "I32", "shape": [d0, ...], "data_offsets": [begin, end]}
// with offsets relative to the start of the data section, plus an optional
// "__metadata__" object of string -> string. Same format as the Python `safetensors`
// package, restricted to the three dtypes a vdm::Tensor holds and to at most 4-D shapes.
//
// This file does not know what a model or an optimizer is: it moves named tensors and
// string metadata; the callers decide the names. Loading checks everything and throws a
// vdm::Error whose one-line message starts with the file path.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace vdm {

struct NamedTensor {
    std::string name;
    Tensor tensor;
};

struct SafetensorsFile {
    std::vector<NamedTensor> tensors;             // in file order (by data offset)
    std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent

    // The tensor called `name`; throws "checkpoint has no tensor 'name'" when absent.
    const Tensor& get(const std::string& name) const;
};

// Writes the tensors (CPU, names unique, non-empty and not "__metadata__") in the given
// order, header padded with spaces to a multiple of 8 bytes. Atomic: the bytes go to
// path + ".tmp", which is flushed, fsync'ed and renamed over path, so a crash leaves
// either the old file or the new one, never half of one.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and checks a whole file: header, dtypes, shapes, offsets that tile the data
// section exactly, and a file length that matches.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace vdm
