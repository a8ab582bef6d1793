# recur -- plain Makefile.
#   make            librecur.a, build/recur, build/refcheck
#   make test       unit tests + reference vectors (exit non-zero on any failure)
#   make asan       the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan       the tests of threads sharing a model under ThreadSanitizer
#   make bench      benchmarks (prints figures; PyTorch beside when available)
#   make BLAS=0     naive GEMM instead of OpenBLAS
#   make MPI=1      recur under mpirun: data-parallel training across ranks
#                   (Open MPI: sh scripts/deps.sh mpi); the library is unchanged
#   make test-mpi   the MPI build and tests/test_mpi.sh (mpirun -np 2 and 3)
#   make bench-mpi  training time with 1 and 2 ranks against 2 threads
#   make deps       install missing Debian packages (scripts/deps.sh)
#   make install    librecur.a, librecur.so, recur.h, recur.pc, recur and its man
#                   pages under $(DESTDIR)$(PREFIX) (default /usr/local);
#                   make uninstall removes them; SHARED=0 leaves the .so out

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

# MPI=1: src/mpi/ and the MPI side of cli/mpi_glue.c go into the recur
# program (not into librecur). Flags from pkg-config's ompi-c, else mpicc.
# cli/mpi_glue.o is rebuilt whenever MPI changes (the stamp file).
MPI     ?= 0
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)
ifeq ($(strip $(MPI_LIBS)),)
$(error make MPI=1: Open MPI is missing (sh scripts/deps.sh mpi installs libopenmpi-dev and openmpi-bin))
endif
MPI_OBJ  = $(BUILD)/obj/src/mpi/mpi.o
$(MPI_OBJ) $(BUILD)/obj/cli/mpi_glue.o: EXTRA_CFLAGS += -DRECUR_MPI=1 $(MPI_CFLAGS)
endif

# Library: every file under src/ by concern (core, nn, train, data, io).
LIB_SRC  = $(wildcard src/core/*.c src/nn/*.c src/train/*.c src/data/*.c src/io/*.c src/forecast/*.c src/export/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# Double-precision twin of the math (core, nn, train) for gradient checks.
F64_SRC  = $(wildcard src/core/*.c src/nn/*.c src/train/*.c)
F64_OBJ  = $(F64_SRC:%.c=$(BUILD)/f64/%.o)
CLI_SRC  = $(wildcard cli/*.c)
# The reference-vector checker: a test harness of its own (tests/refcheck/).
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
REF_OBJ  = $(BUILD)/obj/tests/refcheck/refcheck.o $(BUILD)/obj/tests/refcheck/refparse.o
TEST_SRC = $(filter-out tests/test_gradcheck.c,$(wildcard tests/test_*.c))
TESTS    = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(BUILD)/tests/test_gradcheck
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCH_SRC = $(wildcard bench/*.c)
BENCHES  = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib shared man test asan tsan valgrind fuzz bench clean deps demo install uninstall bench-m4 test-mpi bench-mpi
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

$(BUILD)/recur: $(CLI_OBJ) $(MPI_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(MPI_OBJ) $(BUILD)/librecur.a $(LIBS) $(MPI_LIBS)

$(BUILD)/obj/cli/mpi_glue.o: $(BUILD)/mpi-$(MPI).stamp
$(BUILD)/mpi-$(MPI).stamp:
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/mpi-*.stamp
	@touch $@

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
	@sh tests/test_stream.sh $(BUILD)/recur
	@sh tests/test_docs.sh $(BUILD)/recur
	@EXTRA_LDFLAGS="$(EXTRA_LDFLAGS)" sh tests/test_install.sh "$(MAKE)" $(BUILD)
	@sh tests/test_forecast.sh $(BUILD)/recur
	@sh tests/test_forecaster.sh $(BUILD)/recur
	@sh tests/test_export.sh $(BUILD)/recur
	@sh tests/test_keras.sh $(BUILD)/recur

# fontconfig (under PLplot's cairo driver) keeps a one-time cache that
# LeakSanitizer reports; tests/lsan.supp suppresses exactly that library.
asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

# Threads sharing one model (recur_stream) under ThreadSanitizer: the test
# binary that runs predictions from several threads at once. No
# target_clones there: their resolvers run before
# the sanitizer's runtime is up.
TSAN_TESTS = test_stream
tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 EXTRA_CFLAGS="-fsanitize=thread -DRECUR_NO_CLONES" EXTRA_LDFLAGS="-fsanitize=thread" \
	  $(TSAN_TESTS:%=build-tsan/tests/%)
	@set -e; for t in $(TSAN_TESTS); do TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/$$t; done

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

# The M4 competition's Hourly set end to end with the CLI (train, forecast,
# score beside the competition's table; docs/forecasting.md).
$(BUILD)/bench/m4: bench/m4/m4.c $(BUILD)/librecur.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/librecur.a $(LIBS)

bench-m4: all $(BUILD)/bench/m4
	@sh bench/m4/run.sh $(BUILD)
# recur under mpirun with loopback ranks: model files byte for byte against
# one process (a plain build's, kept as $(BUILD)/recur-plain), and the fault
# cases. Leaves $(BUILD)/recur an MPI build.
test-mpi:
	$(MAKE) MPI=0 $(BUILD)/recur
	cp $(BUILD)/recur $(BUILD)/recur-plain
	$(MAKE) MPI=1 $(BUILD)/recur
	@sh tests/test_mpi.sh $(BUILD)/recur $(BUILD)/recur-plain
# Training time with 1 and 2 ranks (1 thread each) against one process with
# 2 threads, and the bytes exchanged per step (bench/mpi.sh; RECUR_BENCH_CMD
# names another training command).
bench-mpi:
	$(MAKE) MPI=1 $(BUILD)/recur
	$(MAKE) $(BUILD)/bench/m4
	@sh bench/mpi.sh $(BUILD)/recur

# libFuzzer targets (clang) for the CSV reader, model files and layer specs,
# each for FUZZ_SECONDS (default 600) on a copy of its corpus.
fuzz:
	sh tests/fuzz/run.sh

demo: all
	$(BUILD)/recur demo

# ====== Installing ======
# The shared library has soname librecur.so.$(VERSION_MAJOR) and exports only
# the public API (src/recur.map); its objects are compiled apart, with -fPIC.
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
PCDIR   ?= $(LIBDIR)/pkgconfig
SHARED  ?= 1
VERSION       := $(shell sed -n 's/^\#define RECUR_VERSION "\(.*\)"/\1/p' include/recur.h)
VERSION_MAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME   = librecur.so.$(VERSION_MAJOR)
PIC_OBJ  = $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
# One man page for recur and one per command (recur-train.1, ...), made from
# their --help texts by help2man, so the pages say what the program says.
COMMANDS = $(shell $(BUILD)/recur --help 2>/dev/null | sed -n '/^Commands:/,/^$$/s/^  \([a-z][a-z]*\) .*/\1/p')

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/librecur.so.$(VERSION): $(PIC_OBJ) src/recur.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/recur.map \
	  -o $@ $(PIC_OBJ) $(LIBS)

shared: $(BUILD)/librecur.so.$(VERSION)

# A folder under the prefix is written relative to it, so that
# `pkg-config --define-prefix` finds a relocated (DESTDIR) install.
under_prefix = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

$(BUILD)/recur.pc: recur.pc.in include/recur.h Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call under_prefix,$(LIBDIR))|' \
	    -e 's|@INCDIR@|$(call under_prefix,$(INCDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES@|$(PKGS)|' recur.pc.in > $@.tmp && mv $@.tmp $@

man: $(BUILD)/recur
	@command -v help2man >/dev/null || { echo "make man: help2man is missing (sh scripts/deps.sh installs it)" >&2; exit 1; }
	@mkdir -p $(BUILD)/man
	help2man -N --version-string=$(VERSION) -n "recurrent neural networks for time-series forecasting" \
	  -o $(BUILD)/man/recur.1 $(BUILD)/recur
	@set -e; for c in $(COMMANDS); do \
	  printf '#!/bin/sh\nexec "%s" %s "$$@"\n' "$(abspath $(BUILD)/recur)" $$c > $(BUILD)/man/recur-$$c; \
	  chmod +x $(BUILD)/man/recur-$$c; \
	  what=$$($(BUILD)/recur --help | sed -n "s/^  $$c  *//p"); \
	  help2man -N --version-string=$(VERSION) -n "$$what" -o $(BUILD)/man/recur-$$c.1 $(BUILD)/man/recur-$$c; \
	  rm -f $(BUILD)/man/recur-$$c; done

install: all $(BUILD)/recur.pc man $(if $(filter 1,$(SHARED)),shared)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(BUILD)/librecur.a $(DESTDIR)$(LIBDIR)/librecur.a
ifeq ($(SHARED),1)
	install -m 755 $(BUILD)/librecur.so.$(VERSION) $(DESTDIR)$(LIBDIR)/librecur.so.$(VERSION)
	ln -sf librecur.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/librecur.so
endif
	install -m 644 include/recur.h $(DESTDIR)$(INCDIR)/recur.h
	install -m 644 $(BUILD)/recur.pc $(DESTDIR)$(PCDIR)/recur.pc
	install -m 755 $(BUILD)/recur $(DESTDIR)$(BINDIR)/recur
	install -m 644 $(BUILD)/man/*.1 $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/librecur.a $(DESTDIR)$(LIBDIR)/librecur.so $(DESTDIR)$(LIBDIR)/librecur.so.*
	rm -f $(DESTDIR)$(INCDIR)/recur.h $(DESTDIR)$(PCDIR)/recur.pc $(DESTDIR)$(BINDIR)/recur
	rm -f $(DESTDIR)$(MANDIR)/man1/recur.1 $(DESTDIR)$(MANDIR)/man1/recur-*.1

deps:
	sh scripts/deps.sh

clean:
	rm -rf build build-asan build-tsan

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/f64/*/*/*.d $(BUILD)/pic/*/*/*.d)
# The numerical kernels are loops over contiguous floats: -O3 lets GCC
# vectorise them fully (-O2 only tries the very cheap cases). No fast-math.
$(BUILD)/obj/src/nn/%.o: OPT = -O3
$(BUILD)/obj/src/core/gemm.o: OPT = -O3
$(BUILD)/obj/src/core/pgemm.o: OPT = -O3
$(BUILD)/obj/src/train/optim.o: OPT = -O3
$(BUILD)/pic/src/nn/%.o: OPT = -O3
$(BUILD)/pic/src/core/gemm.o: OPT = -O3
$(BUILD)/pic/src/core/pgemm.o: OPT = -O3
$(BUILD)/pic/src/train/optim.o: OPT = -O3
