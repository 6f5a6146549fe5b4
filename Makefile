# Developer entry points; tests/check is the one command that does everything.
B := build
CFLAGS ?= -O2 -g
# Uninitialized stack bytes hold a pattern, never zero by luck, so a test that reads
# them behaves the same on every machine.
DP_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -fsanitize=address,undefined \
	-ftrivial-auto-var-init=pattern -Ilib -Iinclude
LIB_SRCS := $(wildcard lib/*.c)
LIB_HDRS := $(wildcard lib/*.h include/*.h)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/unit/%,$(wildcard tests/unit/test_*.c))

# On Linux the tool carries the Linux provider (`dartpass provider`), static: nested
# guests run it from a busybox initramfs. macOS's provider is the DriverKit driver
# (provider/macos/), and Apple's linker links nothing statically.
TOOL_SRCS := $(wildcard tools/dartpass/*.c provider/linux/*.c)
TOOL_HDRS := tools/dartpass/dartpass.h provider/linux/provider.h
TOOL_LDFLAGS := -static
ifeq ($(shell uname -s),Darwin)
TOOL_SRCS := $(filter-out tools/dartpass/cmd-provider.c provider/linux/%,$(TOOL_SRCS))
TOOL_LDFLAGS :=
endif

.PHONY: unit qtest check qemu kernels tools provider-client dma-bench
tools: $(B)/dartpass
$(B)/dartpass: $(TOOL_SRCS) $(TOOL_HDRS) $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror $(TOOL_LDFLAGS) -Ilib -Iinclude -o $@ $(TOOL_SRCS) $(LIB_SRCS)

# The provider's test client, static for the same initramfs; lib/ gives it status names
# and the DART model for its bench's emulated column.
PC_SRCS := $(wildcard tests/provider/*.c) $(LIB_SRCS)
provider-client: $(B)/prov-client
$(B)/prov-client: $(PC_SRCS) tests/provider/pc.h $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -static -Ilib -Iinclude -o $@ $(PC_SRCS)

# The guest DMA microbenchmark's driver program (bench/dma.sh), static for the same
# initramfs; its module is bench/dma/.
dma-bench: $(B)/dma-bench
$(B)/dma-bench: bench/dma-bench.c include/pvdma_bench.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -static -Iinclude -o $@ $<

unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do echo "# $$t"; $$t || { echo "not ok - $$t exited $$?"; rc=1; }; done; exit $$rc

$(B)/unit/%: tests/unit/%.c $(LIB_SRCS) $(LIB_HDRS) tests/unit/dp_test.h
	@mkdir -p $(@D)
	$(CC) $(DP_CFLAGS) -pthread -o $@ $< $(LIB_SRCS)

qtest:
	QEMU_EXTRA_TARGETS=tests/qtest/pvdma-test bash qemu/build.sh
	bash tests/qemu/run.sh
check:
	bash tests/check
qemu:
	bash qemu/build.sh
kernels:
	bash rig/kernels.sh

# libFuzzer harnesses (tests/fuzz/, docs/fuzzing.md): clang with libFuzzer's runtime
# (Debian: clang, libclang-rt-14-dev). UBSan aborts, so libFuzzer counts it a crash.
FUZZ_CC ?= clang
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror -fno-sanitize-recover=undefined \
	-fsanitize=fuzzer,address,undefined -Ilib -Iinclude
FUZZERS := prov serve trace map pvdma
FUZZ_BINS := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZERS))
.PHONY: fuzz fuzz-replay
fuzz: $(FUZZ_BINS)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS)
# The Linux provider's message path: serve.c is included by the harness, vfio.c linked.
$(B)/fuzz/fuzz_serve: tests/fuzz/fuzz_serve.c tests/fuzz/fuzz.h provider/linux/serve.c \
		provider/linux/vfio.c provider/linux/provider.h $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iprovider/linux -o $@ $< provider/linux/vfio.c $(LIB_SRCS)
# Every seed and regression input through its harness, once: seconds (CI).
fuzz-replay:
	bash tests/fuzz/replay.sh
