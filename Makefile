# vdm.cpp build.  make | make test | make clean
# Switches: SANITIZE=1 (address+undefined), DEBUG=1 (-O0 -g), WERROR=1, CXX=clang++, BUILD_DIR=dir, FUZZ=1 (make fuzz),
# CUDA=1 / CUDA=0 (default: 1 when nvcc is found on PATH or in /usr/local/cuda/bin),
# MPI=1 / MPI=0 (default: 1 when mpicxx is found on PATH; data-parallel runs under mpirun).
# Objects go to build/<variant>/, app binaries to the repo root.

CXX      ?= g++
VARIANT  := release
OPTFLAGS := -O3 -march=native
ifeq ($(DEBUG),1)
  VARIANT  := debug
  OPTFLAGS := -O0 -g -march=native
endif
ifeq ($(SANITIZE),1)
  VARIANT  := sanitize
  OPTFLAGS := -O1 -g -march=native -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all
endif
# FUZZ=1 (with CXX=clang++ CUDA=0, as `make fuzz` sets): the library instrumented for
# libFuzzer, with address+undefined sanitizers.
ifeq ($(FUZZ),1)
  VARIANT  := fuzz
  OPTFLAGS := -O1 -g -march=native -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
endif
ifneq ($(findstring clang,$(CXX)),)
  VARIANT  := $(VARIANT)-clang
endif

# --- CUDA backend (tensor/cuda/*.cu): Hopper machine code plus PTX for newer GPUs.
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
CUDA ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found (put it on PATH or set NVCC=/path/to/nvcc))
  endif
  VARIANT   := $(VARIANT)-cuda
  # The toolkit is the one this nvcc belongs to; ask nvcc, since the nvcc on PATH
  # may be a wrapper script outside the toolkit (NVCC=... picks another toolkit).
  CUDA_ROOT := $(realpath $(shell $(NVCC) -dryrun -x cu -c /dev/null -o /dev/null 2>&1 | \
                 sed -n 's/^#\$$ _HERE_=//p')/..)
  CUDA_ARCH := -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  NVCCFLAGS := -std=c++17 $(filter -O%,$(OPTFLAGS)) $(CUDA_ARCH) -DVDM_CUDA=1 -I. -MMD -MP \
               --extended-lambda \
               -Xcompiler -Wall,-Wextra
  ifeq ($(DEBUG),1)
    NVCCFLAGS += -g -lineinfo
  else
    NVCCFLAGS += -lineinfo
  endif
  ifeq ($(WERROR),1)
    NVCCFLAGS += -Werror all-warnings -Xcompiler -Werror
  endif
  CUDA_LIBDIR := $(dir $(firstword $(wildcard $(CUDA_ROOT)/lib64/libcudart.so $(CUDA_ROOT)/lib/libcudart.so \
                                              $(CUDA_ROOT)/targets/*/lib/libcudart.so)))
  ifeq ($(CUDA_LIBDIR),)
    $(error CUDA=1 but libcudart.so was not found in the toolkit of $(NVCC) ('$(CUDA_ROOT)'; set NVCC=/path/to/cuda/bin/nvcc, or CUDA=0))
  endif
  CUDA_LIBS := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublas -lcudart
endif

# --- MPI (distributed/): the compiler stays $(CXX); mpicxx only says where MPI is.
MPICXX ?= $(shell command -v mpicxx 2>/dev/null)
MPI ?= $(if $(MPICXX),1,0)
ifeq ($(FUZZ),1)
  MPI := 0
endif
ifeq ($(MPI),1)
  ifeq ($(MPICXX),)
    $(error MPI=1 but mpicxx was not found (install an MPI, e.g. Debian's libopenmpi-dev, or MPI=0))
  endif
  VARIANT   := $(VARIANT)-mpi
  # MPI's headers as system headers (no warnings of theirs), and its C library only.
  MPI_FLAGS := $(patsubst -I%,-isystem %,$(shell $(MPICXX) --showme:compile 2>/dev/null || \
                                                 $(MPICXX) -compile-info | cut -d' ' -f2-))
  MPI_LIBS  := $(filter-out -lmpi_cxx -lmpicxx,$(shell $(MPICXX) --showme:link 2>/dev/null || \
                                                      $(MPICXX) -link-info | cut -d' ' -f2-))
endif

# BUILD_DIR=path puts a build elsewhere (apps too), e.g. to keep two builds apart.
BUILD    := $(or $(BUILD_DIR),build/$(VARIANT))
# The default build puts the apps at the repo root; other variants keep theirs in BUILD.
APP_DIR  := $(if $(and $(filter release release-cuda release-mpi release-cuda-mpi,$(VARIANT)),$(if $(BUILD_DIR),,1)),.,$(BUILD))
# The apps at the repo root come from whichever variant built them last: a stamp
# named after the variant makes a switch (CUDA=0 <-> CUDA=1) relink them.
ROOT_STAMP := $(if $(filter .,$(APP_DIR)),build/root-apps.$(VARIANT))

CXXFLAGS := -std=c++17 $(OPTFLAGS) -fopenmp -Wall -Wextra -I. -MMD -MP
ifeq ($(WERROR),1)
  CXXFLAGS += -Werror
endif
# clang reports each `omp simd` loop it leaves scalar (the decoder's max/min reductions);
# that is a speed note, not an error: the loop is still correct.
ifneq ($(findstring clang,$(CXX)),)
  CXXFLAGS += -Wno-pass-failed
endif
LDFLAGS  := $(OPTFLAGS) -fopenmp
LDLIBS   := -lz
# Headers and static libraries carried to a machine that lacks them (zlib, doctest on a
# lent GPU machine: see scripts/gpu_check.sh); git ignores the folder.
ifneq ($(wildcard .deps/include),)
  CXXFLAGS += -isystem .deps/include
  LDFLAGS  += -L.deps/lib
endif
ifeq ($(CUDA),1)
  CXXFLAGS += -DVDM_CUDA=1
  LDLIBS   += $(CUDA_LIBS)
endif
ifeq ($(MPI),1)
  CXXFLAGS += -DVDM_MPI=1 $(MPI_FLAGS)
  LDLIBS   += $(MPI_LIBS)
endif

LIB_DIRS := tensor tensor/cpu autodiff nn vdm datasets codec distributed baselines
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.cpp))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
ifeq ($(CUDA),1)
  CU_SRCS  := $(wildcard tensor/cuda/*.cu)
  LIB_OBJS += $(CU_SRCS:%.cu=$(BUILD)/%.o)
endif
APP_SRCS := $(wildcard apps/*.cpp)
APPS     := $(APP_SRCS:apps/%.cpp=$(APP_DIR)/%)
TEST_SRCS := $(wildcard tests/*.cpp)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
TEST_BIN := $(BUILD)/run_tests

.PHONY: all test bench clean probe fuzz fuzzers
all: probe $(APPS)

# Report what the toolchain offers (STYLE.md point 11).
probe:
	@echo "vdm.cpp build ($(VARIANT), $(CXX))"
	@printf 'int main(){\n#ifdef _OPENMP\nreturn 0;\n#else\nreturn 1;\n#endif\n}\n' | \
	  $(CXX) -fopenmp -x c++ - -o /dev/null 2>/dev/null && echo "  ✓ OpenMP" || echo "  ✗ OpenMP"
	@echo 'int main(){}' | $(CXX) -march=native -dM -E -x c++ - 2>/dev/null | grep -q __AVX512F__ \
	  && echo "  ✓ AVX-512" || echo "  ✗ AVX-512 (generic SIMD)"
ifeq ($(CUDA),1)
	@echo "  ✓ CUDA backend: $(NVCC) ($$($(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')), sm_90 + PTX, cuBLAS"
	@command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU \
	  && echo "  ✓ GPU: $$(nvidia-smi -L | head -n 1)" || echo "  ✗ no GPU visible: CUDA tests will skip"
else
	@echo "  ✗ CUDA backend off (CUDA=0 or no nvcc): CPU only"
endif
ifeq ($(MPI),1)
	@echo "  ✓ MPI: $$($(MPICXX) --showme:version 2>/dev/null || echo $(MPICXX)) (mpirun -np N for data parallelism)"
else
	@echo "  ✗ MPI off (MPI=0 or no mpicxx): one process per run"
endif

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(BUILD)/libvdm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(APPS): $(APP_DIR)/%: $(BUILD)/apps/%.o $(BUILD)/libvdm.a $(ROOT_STAMP)
	$(CXX) $(LDFLAGS) $(filter-out $(ROOT_STAMP),$^) -o $@ $(LDLIBS)

ifneq ($(ROOT_STAMP),)
$(ROOT_STAMP):
	@mkdir -p build && rm -f build/root-apps.* && touch $@
endif

$(TEST_BIN): $(TEST_OBJS) $(BUILD)/libvdm.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# The test command (README, .ci/run): the doctest suite, then the script tests.
test: $(TEST_BIN) $(APPS) $(BUILD)/bench_vdm
	@VDM_APP_DIR=$(APP_DIR) VDM_BENCH=$(BUILD)/bench_vdm bash tests/run_suite.sh $(TEST_BIN)

# Kernel benchmarks (GFLOP/s, ms): speed is measured here, never asserted in tests.
BENCH_SRCS := $(wildcard bench/*.cpp)
BENCHES  := $(BENCH_SRCS:bench/%.cpp=$(BUILD)/%)
# Keep the bench objects, which only this pattern rule names.
.PRECIOUS: $(BUILD)/bench/%.o
$(BUILD)/bench_%: $(BUILD)/bench/bench_%.o $(BUILD)/libvdm.a
	$(CXX) $(LDFLAGS) $^ -o $@ $(LDLIBS)

bench: $(BENCHES)
	@for b in $(BENCHES); do $$b; done

# libFuzzer targets, one binary per tests/fuzz/fuzz_<target>.cpp, in build/fuzz-clang/;
# run one with a corpus folder: build/fuzz-clang/fuzz_idx -max_total_time=60 CORPUS
# (tests/fuzz/run.sh makes the seed corpus and runs each briefly).
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.cpp)
FUZZERS   := $(FUZZ_SRCS:tests/fuzz/%.cpp=$(BUILD)/%)
fuzz:
	$(MAKE) FUZZ=1 CXX=clang++ CUDA=0 fuzzers
fuzzers: $(FUZZERS)
.PRECIOUS: $(BUILD)/%.o
$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libvdm.a
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)

clean:
	rm -rf build $(APP_SRCS:apps/%.cpp=%)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(APP_SRCS:%.cpp=$(BUILD)/%.d) $(BENCH_SRCS:%.cpp=$(BUILD)/%.d)
