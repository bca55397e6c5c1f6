// libFuzzer target: the flag parser (apps/common/flags.h) on any command line: the
// input split at newlines into argv, parsed against one flag of each kind. A
// vdm::Error is fine (the apps print it as one line).
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/flags.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> args = {"fuzz_flags"};
    std::string current;
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == '\n') {
            args.push_back(current);
            current.clear();
        } else {
            current += char(data[i]);
        }
    }
    args.push_back(current);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());

    std::string text, choice = "a";
    int64_t count = 1;
    double rate = 0.5;
    bool on = false;
    vdm::Flags flags("fuzz_flags", "every kind of flag");
    flags.group("g");
    flags.add("text", &text, "a string");
    flags.add("count", &count, 0, 100, "an integer in [0, 100]");
    flags.add("rate", &rate, 0.0, 1.0, "a double in (0, 1]");
    flags.add_choice("choice", &choice, {"a", "b"}, "a choice");
    flags.add_switch("on", &on, "a switch");
    try {
        flags.parse(int(argv.size()), argv.data());  // --help prints the usage: fine
    } catch (const vdm::Error&) {
    }
    return 0;
}
