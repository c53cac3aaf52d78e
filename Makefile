# Sluice — top-level build. GNU make, C17, out-of-tree objects.
#
#   make            build the library, tools (build/bin/) and test runner
#   make deps       install missing Debian packages (apt-get as root, else print the command)
#   make test       deps + build + every unit suite and simulator scenario (< 10 min on 2 cores)
#   make test-long  long sweeps (thousands of seeds)
#   make san        ASan + UBSan build in build/san, all tests
#   make coverage   gcov/lcov build in build/cov, HTML report in build/coverage/
#   make bench      benchmarks (figures next to same-run baselines)
#   make demo       deps + build + the main demo on a local default
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (default 60)
#   make docs       render docs/*.dot to build/docs/*.svg
#
# Focused builds for working on one module:
#   make BUILD=build-x MODULES="base sim" SUITES="varint crc32c" unit
# builds only those module folders and test suites (suite NAME lives in
# tests/unit/test_NAME.c) and runs them.

# Compile on every core unless told otherwise (make -jN still wins).
ifeq ($(MAKELEVEL),0)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
endif

BUILD   ?= build
MODULES ?= base sim broker compute labs
SUITES  ?= $(patsubst tests/unit/test_%.c,%,$(sort $(wildcard tests/unit/test_*.c)))
PROGRAMS ?= $(notdir $(patsubst %/,%,$(sort $(dir $(wildcard tools/*/*.c)))))

CC      ?= gcc
PKGS    := glib-2.0 libuv libcgraph libgvc cunit zlib liblz4 libzstd snappy
OPT     ?= -O2
CFLAGS_EXTRA ?=
LDFLAGS_EXTRA ?=
CFLAGS  := -std=c17 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror \
           -Wno-unused-parameter -I. $(CFLAGS_EXTRA) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
LDFLAGS := $(LDFLAGS_EXTRA)

LIB_SRC  := $(sort $(shell find $(MODULES) -name '*.c' 2>/dev/null))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
LIB      := $(BUILD)/libsluice.a
UNIT_SRC := tests/unit/main.c $(patsubst %,tests/unit/test_%.c,$(SUITES))
UNIT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRC))
# Helpers shared by several suites (tests/unit/lib_*.c) go in an archive,
# so a focused build links only the helpers its suites use.
UNIT_LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard tests/unit/lib_*.c)))
UNIT_LIB := $(BUILD)/libunit.a
UNIT_BIN := $(BUILD)/bin/sluice-unit
BINS     := $(patsubst %,$(BUILD)/bin/%,$(PROGRAMS))

.PHONY: all deps test test-long unit san coverage bench demo docs clean \
        build-all unit-run test-run long-run bench-run demo-run fuzz

all: $(LIB) $(BINS) $(UNIT_BIN)

deps:
	@sh tools/deps.sh

# The public entry points install what is missing first, then re-read this
# Makefile (pkg-config flags are only known once the packages are there).
test: deps
	@$(MAKE) --no-print-directory test-run
test-long: deps
	@$(MAKE) --no-print-directory long-run
demo: deps
	@$(MAKE) --no-print-directory demo-run
bench: deps
	@$(MAKE) --no-print-directory bench-run

test-run: all
	@sh tests/run.sh $(BUILD)

long-run: all
	@sh tests/run-long.sh $(BUILD)

unit: $(UNIT_BIN)
	$(UNIT_BIN)

bench-run: all
	@sh tools/bench.sh $(BUILD)

demo-run: all
	@sh tools/demo.sh $(BUILD)

san: deps
	@$(MAKE) --no-print-directory BUILD=build/san OPT=-O1 \
	  CFLAGS_EXTRA="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS_EXTRA="-fsanitize=address,undefined" test-run

coverage: deps
	@command -v lcov >/dev/null || { echo "lcov missing: run make deps"; exit 1; }
	@rm -rf build/cov/obj build/coverage && mkdir -p build/coverage
	@$(MAKE) --no-print-directory BUILD=build/cov OPT=-O0 \
	  CFLAGS_EXTRA="--coverage -fprofile-update=atomic" LDFLAGS_EXTRA="--coverage" test-run
	@lcov --quiet --capture --rc lcov_branch_coverage=1 --directory build/cov/obj \
	  --output-file build/coverage/all.info
	@lcov --quiet --rc lcov_branch_coverage=1 --remove build/coverage/all.info \
	  '/usr/*' '*/tests/*' --output-file build/coverage/sluice.info
	@genhtml --quiet --branch-coverage --output-directory build/coverage \
	  build/coverage/sluice.info
	@lcov --rc lcov_branch_coverage=1 --summary build/coverage/sluice.info
	@echo "report: build/coverage/index.html"

docs:
	@mkdir -p $(BUILD)/docs
	@for f in docs/*.dot; do \
	  dot -Tsvg "$$f" -o $(BUILD)/docs/$$(basename "$$f" .dot).svg && \
	  echo "rendered $(BUILD)/docs/$$(basename "$$f" .dot).svg"; done

fuzz: deps
	@sh tests/fuzz/run.sh $(BUILD) $${FUZZ_SECONDS:-60}

clean:
	rm -rf build build-*

# ---- rules ----

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The suite table: one SUITE(name) line per linked test file.
$(BUILD)/gen/suites.inc: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(patsubst %,'SUITE(%)',$(SUITES)) > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/obj/tests/unit/main.o: $(BUILD)/gen/suites.inc
$(BUILD)/obj/tests/unit/main.o: CFLAGS += -I$(BUILD)/gen

$(UNIT_LIB): $(UNIT_LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	@ar rcs $@ $^

$(UNIT_BIN): $(UNIT_OBJ) $(UNIT_LIB) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(UNIT_LIB) $(LIB) $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/bin/%: $$(addprefix $(BUILD)/obj/,$$(addsuffix .o,$$(basename $$(wildcard tools/$$*/*.c)))) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS)

.PHONY: FORCE
# Keep objects of programs (make would treat them as intermediate).
.SECONDARY:
FORCE:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
