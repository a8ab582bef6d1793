# recur -- plain Makefile.
#   make            librecur.a, build/recur, build/refcheck
#   make test       unit tests + reference vectors (exit non-zero on any failure)
#   make asan       the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      benchmarks (prints figures; PyTorch beside when available)
#   make BLAS=0     naive GEMM instead of OpenBLAS
#   make deps       install missing Debian packages (scripts/deps.sh)

BUILD   ?= build
BLAS    ?= 1
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= -std=c11 -Wall -Wextra -Wshadow -pedantic $(OPT) -g -MMD -MP
# -fno-math-errno: sqrt needs no errno path, so loops such as the optimizer
# steps vectorise (IEEE sqrt either way: results are unchanged).
CFLAGS  += -fno-math-errno -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(EXTRA_CFLAGS)
LDFLAGS += $(EXTRA_LDFLAGS)

# hdf5 (Debian's serial build) and libzip: Keras files (src/io/keras_*.c).
PKGS     = jansson plplot hdf5 libzip
ifeq ($(BLAS),1)
PKGS    += openblas
CFLAGS  += -DRECUR_BLAS=1
endif
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TESTLIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

# Library: every file under src/ by concern (core, nn, train, data, io).
LIB_SRC  = $(wildcard src/core/*.c src/nn/*.c src/train/*.c src/data/*.c src/io/*.c src/forecast/*.c src/export/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# Double-precision twin of the math (core, nn, train) for gradient checks.
F64_SRC  = $(wildcard src/core/*.c src/nn/*.c src/train/*.c)
F64_OBJ  = $(F64_SRC:%.c=$(BUILD)/f64/%.o)
CLI_SRC  = $(filter-out cli/refcheck.c cli/refparse.c,$(wildcard cli/*.c))
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
REF_OBJ  = $(BUILD)/obj/cli/refcheck.o $(BUILD)/obj/cli/refparse.o
TEST_SRC = $(filter-out tests/test_gradcheck.c,$(wildcard tests/test_*.c))
TESTS    = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(BUILD)/tests/test_gradcheck
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCH_SRC = $(wildcard bench/*.c)
BENCHES  = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib test asan valgrind fuzz bench clean deps demo
all: $(BUILD)/librecur.a $(BUILD)/recur $(BUILD)/refcheck $(EXAMPLES)
lib: $(BUILD)/librecur.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/f64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DRECUR_DOUBLE -c $< -o $@

$(BUILD)/librecur.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/librecur_f64.a: $(F64_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/recur: $(CLI_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/librecur.a $(LIBS)

$(BUILD)/refcheck: $(REF_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(REF_OBJ) $(BUILD)/librecur.a $(LIBS)

$(BUILD)/tests/test_gradcheck: tests/test_gradcheck.c $(BUILD)/librecur_f64.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DRECUR_DOUBLE $(LDFLAGS) -o $@ $< $(BUILD)/librecur_f64.a $(TESTLIBS) $(LIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/librecur.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecur.a $(TESTLIBS) $(LIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/librecur.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecur.a $(LIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/librecur.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecur.a $(LIBS)

# The test command the README gives. Each test binary prints cmocka's summary;
# tests/run.sh stops at the first failing binary and prints the overall count.
test: all $(TESTS)
	@BUILD=$(BUILD) sh tests/run.sh $(TESTS)
	@sh tests/test_cli.sh $(BUILD)/recur
	@sh tests/test_errors.sh $(BUILD)/recur
	@sh tests/test_resume.sh $(BUILD)/recur
	@sh tests/test_kill.sh $(BUILD)/recur
	@sh tests/test_limits.sh $(BUILD)/recur
	@sh tests/test_keras.sh $(BUILD)/recur

# fontconfig (under PLplot's cairo driver) keeps a one-time cache that
# LeakSanitizer reports; tests/lsan.supp suppresses exactly that library.
asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

# Every test binary and refcheck under valgrind's leak checker. The
# training-heavy tests of test_model are skipped (RECUR_SKIP_SLOW): they take
# over half an hour under valgrind; `make asan` runs them in full.
valgrind: all $(TESTS)
	@set -e; for t in $(TESTS); do echo "== valgrind $$t"; \
	  RECUR_SKIP_SLOW=1 valgrind -q --leak-check=full --suppressions=tests/valgrind.supp --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=9 $$t > $(BUILD)/valgrind.log 2>&1 || { cat $(BUILD)/valgrind.log; exit 1; }; \
	  tail -1 $(BUILD)/valgrind.log; done
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
	  $(BUILD)/refcheck tests/ref/lstm.txt tests/ref/gru.txt tests/ref/optimizers.txt tests/ref/seed_model_small.txt

bench: all $(BENCHES)
	@sh bench/run.sh $(BUILD)

# libFuzzer targets (clang) for the CSV reader, model files and layer specs,
# each for FUZZ_SECONDS (default 600) on a copy of its corpus.
fuzz:
	sh tests/fuzz/run.sh

demo: all
	$(BUILD)/recur demo

deps:
	sh scripts/deps.sh

clean:
	rm -rf build build-asan

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/f64/*/*/*.d)
# The numerical kernels are loops over contiguous floats: -O3 lets GCC
# vectorise them fully (-O2 only tries the very cheap cases). No fast-math.
$(BUILD)/obj/src/nn/%.o: OPT = -O3
$(BUILD)/obj/src/core/gemm.o: OPT = -O3
$(BUILD)/obj/src/core/pgemm.o: OPT = -O3
$(BUILD)/obj/src/train/optim.o: OPT = -O3
