# Atoll: one non-recursive Makefile.
#   make            build build/atoll
#   make check      dependencies, build, unit tests, fuzz corpus replay,
#                   integration tests on loopback
#   make demo       dependencies, build, a local cluster running an example
#   make SANITIZE=address,undefined check   (builds into build-san/)
#   make fuzz       libFuzzer runs (clang), FUZZ_SECONDS each
#   make bench      benchmarks, results in bench/RESULTS.md
#   make lint       clang-tidy + cppcheck;  make format-check;  make valgrind

CC ?= cc
NPROC := $(shell nproc 2>/dev/null || echo 2)
SANITIZE ?=
ifeq ($(SANITIZE),)
B := build
SANFLAGS :=
else
B := build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wundef -Wwrite-strings -Wno-format-nonliteral
WERROR ?= -Werror
OPT ?= -O2 -g
CPPFLAGS += -Isrc -Iinclude -I$(LLHTTP_INC) -D_GNU_SOURCE -MMD -MP
CFLAGS ?= $(OPT)
CFLAGS += -std=c17 $(WARN) $(WERROR) $(SANFLAGS) -pthread
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS := -luv -ljansson -lsqlite3 -lcurl -larchive -lzookeeper_mt -lm

LIB_SRC := $(wildcard src/lib/*.c src/model/*.c src/alloc/*.c src/sched/*.c src/up/*.c src/services/*.c \
	src/master/*.c src/agent/*.c src/executor/*.c src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LLHTTP_OBJ := $(B)/llhttp/api.o $(B)/llhttp/http.o $(B)/llhttp/llhttp.o
LIBATOLL := $(B)/libatoll.a
ATOLL := $(B)/atoll

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%-replay)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)
TESTBIN_SRC := $(wildcard tests/integration/*.c)
TESTBIN := $(TESTBIN_SRC:tests/integration/%.c=$(B)/tests/%)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all deps check unit fuzz-replay integration demo fuzz bench bench-smoke lint \
	format format-check valgrind clean
all: $(ATOLL) $(EXAMPLE_BIN) $(TESTBIN) $(BENCH_BIN)

deps:
	@scripts/deps.sh

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) -I$(LLHTTP_INC) -O2 -g -fPIC $(SANFLAGS) -w -c $< -o $@

$(LIBATOLL): $(LIB_OBJ) $(LLHTTP_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ATOLL): $(B)/src/main.o $(LIBATOLL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(LIBATOLL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/examples/%: $(B)/examples/%.o $(LIBATOLL)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBATOLL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(B)/tests/%: $(B)/tests/integration/%.o $(LIBATOLL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets double as corpus-replay programs (a tiny driver, any
# compiler) so make check exercises every checked-in input.
$(B)/fuzz/%-replay: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/driver.o $(LIBATOLL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

check: deps
	$(MAKE) --no-print-directory -j$(NPROC) all $(UNIT_BIN) $(FUZZ_REPLAY)
	$(MAKE) --no-print-directory unit fuzz-replay bench-smoke integration

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_REPLAY); do \
		n=$$(basename $$t -replay); \
		echo "== $$n corpus"; $$t tests/fuzz/corpus/$$n/*; done

integration: all
	@ATOLL=$(abspath $(ATOLL)) BUILD=$(abspath $(B)) tests/integration/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@ATOLL=$(abspath $(ATOLL)) BUILD=$(abspath $(B)) scripts/demo.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang >/dev/null || scripts/deps.sh --dev
	@set -e; mkdir -p build-fuzz; for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
			-std=c17 -o build-fuzz/$$n $$f $(LIB_SRC) \
			$(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c \
			$(LLHTTP_DIR)/llhttp.c $(LDLIBS); \
		mkdir -p build-fuzz/$$n-corpus; \
		build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) \
			build-fuzz/$$n-corpus tests/fuzz/corpus/$$n; done

bench-smoke: all
	@BUILD=$(abspath $(B)) BENCH_SMOKE=1 BENCH_RUNS=1 bench/run.sh

bench: deps all
	@ATOLL=$(abspath $(ATOLL)) BUILD=$(abspath $(B)) bench/run.sh

lint:
	clang-tidy $(LIB_SRC) src/main.c -- $(CPPFLAGS) -std=c17
	cppcheck --quiet --enable=warning,style,performance,portability \
		--suppress=missingIncludeSystem -Isrc -Iinclude $(LIB_SRC) src/main.c

FORMAT_SRC = $(LIB_SRC) src/main.c $(wildcard src/*/*.h include/atoll/*.h \
	tests/unit/*.c tests/fuzz/*.c tests/integration/*.c examples/*.c bench/*.c)

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

valgrind: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do \
		valgrind -q --error-exitcode=1 --leak-check=full $$t; done

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
