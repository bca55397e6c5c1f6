// A small command-line parser shared by the apps: --name value pairs, typed and
// validated, with --help generated from the registered flags. Errors are vdm::Error
// with one line naming the flag; run_app turns them into "error: ..." and exit 1.
#pragma once
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "tensor/error.h"
#include "tensor/parse_number.h"

namespace vdm {

class Flags {
public:
    Flags(std::string program, std::string summary)
        : program_(std::move(program)), summary_(std::move(summary)) {}

    void add(const std::string& name, std::string* target, const std::string& help) {
        add_parser(name, *target, help, [target](const std::string& v) { *target = v; });
    }
    // Integer flag in [lo, hi].
    void add(const std::string& name, int64_t* target, int64_t lo, int64_t hi,
             const std::string& help) {
        add_parser(name, std::to_string(*target), help, [=](const std::string& v) {
            int64_t x = 0;
            VDM_CHECK(parse_int64(v, &x), "--", name, ": '", v, "' is not an integer");
            VDM_CHECK(x >= lo && x <= hi, "--", name, ": ", x, " is outside [", lo, ", ", hi, "]");
            *target = x;
        });
    }
    // Real flag in (lo, hi], or in [lo, hi] when lo_included.
    void add(const std::string& name, double* target, double lo, double hi,
             const std::string& help, bool lo_included = false) {
        add_parser(name, std::to_string(*target), help, [=](const std::string& v) {
            double x = 0;
            VDM_CHECK(parse_double(v, &x), "--", name, ": '", v, "' is not a number");
            VDM_CHECK((lo_included ? x >= lo : x > lo) && x <= hi, "--", name, ": ", v,
                      " is outside ", lo_included ? "[" : "(", lo, ", ", hi, "]");
            *target = x;
        });
    }
    // One of a fixed set of words.
    void add_choice(const std::string& name, std::string* target,
                    const std::vector<std::string>& choices, const std::string& help) {
        std::string all;
        for (const auto& c : choices) all += (all.empty() ? "" : "|") + c;
        add_parser(name, *target, help + " (" + all + ")", [=](const std::string& v) {
            bool ok = false;
            for (const auto& c : choices) ok = ok || c == v;
            VDM_CHECK(ok, "--", name, ": '", v, "' is not one of ", all);
            *target = v;
        });
    }

    // A switch: a bare --name turns it on; it takes no value.
    void add_switch(const std::string& name, bool* target, const std::string& help) {
        add_parser(name, *target ? "on" : "off", help, [=](const std::string&) { *target = true; });
        flags_.back().is_switch = true;
    }

    // Starts a group: the flags added after this call are listed in --help under
    // "<name>:". Flags added before any group come first, without a heading.
    void group(const std::string& name) { group_ = name; }

    // Returns false when --help was given (usage already printed).
    bool parse(int argc, char** argv) {
        for (int i = 1; i < argc; ++i) {
            std::string arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                print_usage();
                return false;
            }
            VDM_CHECK(arg.rfind("--", 0) == 0, "unexpected argument '", arg, "' (see --help)");
            std::string name = arg.substr(2), value;
            const size_t eq = name.find('=');
            if (eq != std::string::npos) name = name.substr(0, eq);
            const Flag* flag = find(name);
            VDM_CHECK(flag != nullptr, "unknown flag --", name, " (see --help)");
            if (eq != std::string::npos) {
                value = arg.substr(2 + eq + 1);
                VDM_CHECK(!flag->is_switch, "--", name, " takes no value");
            } else if (!flag->is_switch) {
                VDM_CHECK(i + 1 < argc, "--", name, ": missing value");
                value = argv[++i];
            }
            flag->set(value);
            given_.insert(name);
        }
        return true;
    }

    // Whether the command line set this flag (as opposed to its default).
    bool given(const std::string& name) const { return given_.count(name) > 0; }
    // A one-line error for the first of `names` the command line did not set.
    void require(std::initializer_list<const char*> names) const {
        for (const char* name : names) VDM_CHECK(given(name), "--", name, " is required (see --help)");
    }
    // Every flag the command line set.
    const std::set<std::string>& given_flags() const { return given_; }

    void print_usage() const {
        std::printf("%s: %s\n\nusage: %s [flags]\n", program_.c_str(), summary_.c_str(),
                    program_.c_str());
        const std::string* group = nullptr;  // the heading printed last
        for (const Flag& f : flags_) {
            if (!f.group.empty() && (group == nullptr || *group != f.group))
                std::printf("\n%s:\n", f.group.c_str());
            group = &f.group;
            std::printf("  --%-14s %s (default: %s)\n", f.name.c_str(), f.help.c_str(),
                        f.default_value.empty() ? "none" : f.default_value.c_str());
        }
    }

private:
    struct Flag {
        std::string name, default_value, help, group;
        std::function<void(const std::string&)> set;
        bool is_switch = false;
    };
    void add_parser(const std::string& name, const std::string& default_value,
                    const std::string& help, std::function<void(const std::string&)> set) {
        flags_.push_back({name, default_value, help, group_, std::move(set)});
    }
    const Flag* find(const std::string& name) const {
        for (const Flag& f : flags_)
            if (f.name == name) return &f;
        return nullptr;
    }

    std::string program_, summary_, group_;
    std::vector<Flag> flags_;
    std::set<std::string> given_;
};

// Runs an app's body; a vdm::Error (or any exception) becomes one line on stderr and exit 1.
inline int run_app(const std::function<int()>& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        stop_all_ranks(1);  // under mpirun the others cannot go on without this one
        return 1;
    }
}

}  // namespace vdm
