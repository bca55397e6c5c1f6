// --ckpt takes a checkpoint file or a run folder: a folder stands for the
// checkpoint.safetensors that train_mnist writes into its --out folder.
#pragma once
#include <filesystem>
#include <string>

#include "tensor/error.h"

namespace vdm {

// The file `--ckpt path` names: path itself, or <path>/checkpoint.safetensors when path
// is a folder (a folder without one is a one-line error naming both). An empty path, or
// a path that does not exist, is returned as is for the loader to report.
inline std::string resolve_checkpoint(const std::string& path) {
    std::error_code ec;
    if (path.empty() || !std::filesystem::is_directory(path, ec)) return path;
    const std::string file = path + (path.back() == '/' ? "" : "/") + "checkpoint.safetensors";
    VDM_CHECK(std::filesystem::is_regular_file(file, ec), "no checkpoint in ", path,
              " (looked for ", file, ")");
    return file;
}

}  // namespace vdm
