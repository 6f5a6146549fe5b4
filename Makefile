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

TOOL_SRCS := $(wildcard tools/dartpass/*.c)

.PHONY: unit qtest check qemu kernels tools
tools: $(B)/dartpass
$(B)/dartpass: $(TOOL_SRCS) tools/dartpass/dartpass.h $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -Ilib -Iinclude -o $@ $(TOOL_SRCS) $(LIB_SRCS)

unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do echo "# $$t"; $$t || { echo "not ok - $$t exited $$?"; rc=1; }; done; exit $$rc

$(B)/unit/%: tests/unit/%.c $(LIB_SRCS) $(LIB_HDRS) tests/unit/dp_test.h
	@mkdir -p $(@D)
	$(CC) $(DP_CFLAGS) -o $@ $< $(LIB_SRCS)

qtest:
	QEMU_EXTRA_TARGETS=tests/qtest/pvdma-test bash qemu/build.sh
	bash tests/qemu/run.sh
check:
	bash tests/check
qemu:
	bash qemu/build.sh
kernels:
	bash rig/kernels.sh
