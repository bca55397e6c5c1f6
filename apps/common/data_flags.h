// The "data" flags every app that reads a dataset has (--data, --no-download), and the
// first-run download: with neither --data nor $VDM_DATA, and no dataset files in
// ./data/<dataset>/, the app fetches them with the project's scripts/download_data.sh
// (md5-verified; the base URL from $VDM_DATA_URL when set) and says so.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "apps/common/flags.h"
#include "datasets/dataset.h"
#include "distributed/communicator.h"

namespace vdm {

class DataFlags {
public:
    explicit DataFlags(Flags& flags) {
        flags.add("data", &dir, "folder with the four IDX files (else $VDM_DATA/<dataset>, else ./data/<dataset>)");
        flags.add_switch("no-download", &no_download,
                         "never download: without data, print the download command and stop");
    }
    DataFlags(const DataFlags&) = delete;
    DataFlags& operator=(const DataFlags&) = delete;

    // The dataset's folder (resolve_data_dir), after fetching it into ./data on a first run.
    std::string resolve(const std::string& dataset) const {
        const char* root = std::getenv("VDM_DATA");
        const std::string fallback = default_data_dir(dataset);
        if (dir.empty() && !(root && *root) && !has_dataset_files(fallback)) download(dataset, fallback);
        return resolve_data_dir(dir, dataset);
    }

    // The same over several processes (mpirun): rank 0 first, so that only it fetches.
    std::string resolve(const std::string& dataset, const Communicator& comm) const {
        std::string found;
        if (comm.root()) found = resolve(dataset);
        comm.barrier();
        return comm.root() ? found : resolve(dataset);
    }

    std::string dir;
    bool no_download = false;

private:
    void download(const std::string& dataset, const std::string& into) const {
        const std::string name = into.substr(into.rfind('/') + 1);  // mnist or fashion-mnist
        const std::string manual = "bash scripts/download_data.sh " + name;
        VDM_CHECK(!no_download, "no ", name, " data in ", into, " (--no-download): get it with '", manual,
                  "', or point --data or VDM_DATA at the files");
        const std::string script = find_script();
        VDM_CHECK(!script.empty(), "no ", name, " data in ", into,
                  " and no scripts/download_data.sh beside this app: get the files with '", manual, "'");
        const std::string command = "bash '" + script + "' " + name + " ./data";
        std::fprintf(stderr, "no %s data in %s: fetching it with %s (--no-download to refuse)\n", name.c_str(),
                     into.c_str(), command.c_str());
        VDM_CHECK(std::system(command.c_str()) == 0, "downloading ", dataset, " failed (see above); retry with '",
                  manual, "', or point --data or VDM_DATA at the files");
    }

    // scripts/download_data.sh in the folder of this executable or one of its parents
    // (the apps live at the repository root, or in build/<variant>/).
    static std::string find_script() {
        std::error_code ec;
        std::filesystem::path at = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
        for (int up = 0; !ec && up < 4 && !at.empty(); ++up, at = at.parent_path()) {
            const std::filesystem::path script = at / "scripts" / "download_data.sh";
            if (std::filesystem::exists(script, ec)) return script.string();
        }
        return "";
    }
};

}  // namespace vdm
