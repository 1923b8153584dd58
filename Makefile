# headwater: the two commands of the README are `make demo` and `make test`.
# Both set up everything a fresh machine needs (Debian packages, .venv, pinned pip packages),
# build the C core and the extension module, and run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Debian packages the build and tests need: cmocka for the C tests, pkg-config to find it, Java 17
# for the differential tests against real PySpark, PostgreSQL for the JDBC tests (they start a
# throwaway cluster of their own), tmux for the progress bar's tests in a real terminal.
APT_PACKAGES := libcmocka-dev pkg-config openjdk-17-jre-headless postgresql tmux

.PHONY: demo test ctest pytest sanitize build setup system-deps clean fuzz fuzz-build fuzz-system-deps fuzz-corpus

demo: build
	$(PY) examples/demo.py

test: ctest pytest

setup: system-deps $(VENV)/.deps-installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.deps-installed: requirements.txt requirements-nodeps.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

# The package as users get it (`pip install .`), built incrementally in build/wheel.
build: setup
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
	  -Cbuild-dir=build/wheel --force-reinstall .

# C unit tests (cmocka) through meson test; prints one summary line of all cmocka counts.
ctest: setup
	@[ -f build/ctest/build.ninja ] || meson setup build/ctest -Dbuildtype=debugoptimized >/dev/null
	meson test -C build/ctest --print-errorlogs
	@tests/c/summarize.sh build/ctest/meson-logs/testlog.txt

pytest: build
	$(PY) -m pytest tests/python -q

# AddressSanitizer + UndefinedBehaviorSanitizer: the C tests with leak checking, then the whole
# pytest suite against a sanitized build of the extension (runtime preloaded into the interpreter).
SAN_ARGS := -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
# Tests that start a JVM (real PySpark) are marked `jvm` and left out: the preloaded sanitizer
# runtime would be inherited by java and the tools its launcher runs (ps deadlocks in ASan's init).
# SPARK_HOME points nowhere so an unmarked one fails at once (no spark-submit) instead of hanging
# in that ps. `make test` runs them.
# The >2 GiB value test (several 2 GiB allocations under ASan) is left out too; `make test` runs it.
SAN_SKIP := -m "not jvm" \
  --deselect=tests/python/test_hardening_convert.py::test_value_over_arrow_offsets_says_which_limit

sanitize: setup
	@[ -f build/asan/build.ninja ] || meson setup build/asan $(SAN_ARGS) >/dev/null
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  meson test -C build/asan --print-errorlogs
	@tests/c/summarize.sh build/asan/meson-logs/testlog.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps --upgrade \
	  --target build/asan-site -Cbuild-dir=build/asan-wheel $(foreach a,$(SAN_ARGS),-Csetup-args=$(a)) .
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 SPARK_HOME=/nonexistent-under-sanitize \
	  PYTHONPATH=build/asan-site $(PY) -m pytest tests/python -q -p no:cacheprovider $(SAN_SKIP)

clean:
	rm -rf build

# --- fuzzing (libFuzzer): `make fuzz`, e.g. `make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=ddl` -----------
# Needs clang (installed here for this target only: `make test` builds with gcc and replays each
# target's seed corpus, tests/fuzz/corpus/<target>/, through a plain main). Each target runs for
# FUZZ_SECONDS on one core; inputs it finds go to build/fuzz/corpus/<target>/, crashes to
# build/fuzz/crashes/. Prints executions and coverage per target; fails if any target crashed.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ARGS ?=
FUZZ_CC ?= clang-14
FUZZ_APT_PACKAGES := clang-14 libclang-rt-14-dev
FUZZ_DIR := build/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -I$(FUZZ_DIR) -Iinclude -Isrc \
  -fsanitize=address,undefined -fno-sanitize-recover=all
# the pure-C core the targets reach (no Python)
FUZZ_CORE := src/common/error.c src/common/text.c src/arrow/allocator.c src/arrow/buffer.c src/arrow/builder.c src/arrow/array.c \
  src/arrow/stream.c src/schema/field.c src/schema/arrow_schema.c src/schema/ddl_parse.c src/schema/ddl_render.c \
  src/schema/spark_json.c src/schema/schema_api.c src/convert/batch_check.c src/ipc/shm.c src/ipc/frame.c \
  src/ipc/messages.c src/ipc/batch_desc.c

fuzz-system-deps:
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES="$(FUZZ_APT_PACKAGES)"

# include/headwater.h takes the version from headwater_version.h, which meson generates for its own
# builds from project(version:) in meson.build (the one place it is written); the same for these.
$(FUZZ_DIR)/headwater_version.h: meson.build
	@mkdir -p $(FUZZ_DIR)
	@v=$$(sed -n "s/^  version: '\(.*\)',/\1/p" meson.build | head -1); IFS=. read -r a b c <<< "$$v"; \
	printf '#define HW_VERSION_MAJOR %s\n#define HW_VERSION_MINOR %s\n#define HW_VERSION_PATCH %s\n#define HW_VERSION_STRING "%s"\n' \
	  "$$a" "$$b" "$$c" "$$v" > $@

fuzz-build: fuzz-system-deps $(FUZZ_DIR)/headwater_version.h
	@mkdir -p $(FUZZ_DIR)/obj
	@echo "building the core for fuzzing ($(FUZZ_CC), ASan + UBSan + libFuzzer coverage)"
	@rm -f $(FUZZ_DIR)/libhw_fuzz.a; for c in $(FUZZ_CORE); do \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $$c -o $(FUZZ_DIR)/obj/$$(echo $$c | tr / _).o; \
	done; ar rcs $(FUZZ_DIR)/libhw_fuzz.a $(FUZZ_DIR)/obj/*.o
	@for t in $(FUZZ_TARGETS); do \
	  echo "building $(FUZZ_DIR)/fuzz_$$t"; \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $(FUZZ_DIR)/fuzz_$$t tests/fuzz/fuzz_$$t.c \
	    $(FUZZ_DIR)/libhw_fuzz.a -lpthread; \
	done

# Regenerates the seed corpora (committed): DDL and JSON strings from the C tests, and from them
# encoded messages, descriptors and batches made by the encoders (tests/fuzz/gen_corpus.c).
fuzz-corpus: $(FUZZ_DIR)/headwater_version.h
	@mkdir -p $(FUZZ_DIR)
	python3 tests/fuzz/extract_seeds.py
	$(CC) $(FUZZ_CFLAGS) -o $(FUZZ_DIR)/gen_corpus tests/fuzz/gen_corpus.c $(FUZZ_CORE) -lpthread
	$(FUZZ_DIR)/gen_corpus tests/fuzz/corpus tests/fuzz/corpus/ddl/seed-*

fuzz: fuzz-build
	@mkdir -p $(FUZZ_DIR)/crashes; failed=""; : > $(FUZZ_DIR)/summary.txt; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s (log: $(FUZZ_DIR)/$$t.log)"; \
	  rc=0; $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/$$t- $(FUZZ_ARGS) $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t \
	    > $(FUZZ_DIR)/$$t.log 2>&1 || rc=$$?; \
	  last=$$(grep -a -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' $(FUZZ_DIR)/$$t.log | tail -1 || true); \
	  units=$$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' $(FUZZ_DIR)/$$t.log | grep -o '[0-9]*$$' || echo '?'); \
	  speed=$$(grep -a -o 'stat::average_exec_per_sec: *[0-9]*' $(FUZZ_DIR)/$$t.log | grep -o '[0-9]*$$' || echo '?'); \
	  cov=$$(echo "$$last" | grep -o 'cov: [0-9]*' || true); ft=$$(echo "$$last" | grep -o 'ft: [0-9]*' || true); \
	  corp=$$(echo "$$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || true); \
	  status=ok; [ $$rc = 0 ] || { status="CRASH (exit $$rc; see $(FUZZ_DIR)/$$t.log)"; failed="$$failed $$t"; }; \
	  line=$$(printf '%-14s executions %-10s execs/s %-7s %-9s %-10s %-16s %s' $$t "$$units" "$$speed" "$$cov" "$$ft" "$$corp" "$$status"); \
	  echo "$$line"; echo "$$line" >> $(FUZZ_DIR)/summary.txt; \
	done; \
	echo "--- fuzz summary ($(FUZZ_SECONDS) s per target)"; cat $(FUZZ_DIR)/summary.txt; \
	[ -z "$$failed" ] || { echo "crashed:$$failed"; exit 1; }

# --- benchmarks (bench/README.md): `make bench`, or e.g. `make bench BENCH_ARGS=--quick` --------
# Never part of `make test`. A peer that cannot run (headwater broken, no Java, no Lakesail venv)
# is reported as unavailable and the others still run.
BENCH_ARGS ?=
S6_ARGS ?=
S7_ARGS ?=
SAIL_VENV := bench/.venv-sail

.PHONY: bench bench-s6 bench-s7
bench: setup $(VENV)/.bench-deps-installed $(SAIL_VENV)/.deps-installed
	@$(MAKE) --no-print-directory build || echo "bench: building headwater failed; its peers will say why"
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/s6_write.py $(S6_ARGS)
	$(PY) bench/s7_stream.py $(S7_ARGS)

# S6 (writes) alone, e.g. `make bench-s6 S6_ARGS="--rows 1000000 --reps 1"`
bench-s6: setup $(VENV)/.bench-deps-installed $(SAIL_VENV)/.deps-installed
	@$(MAKE) --no-print-directory build || echo "bench: building headwater failed; its peers will say why"
	$(PY) bench/s6_write.py $(S6_ARGS)

# S7 (streaming) alone, e.g. `make bench-s7 S7_ARGS="--rows 400000 --no-pyspark"`
bench-s7: setup
	@$(MAKE) --no-print-directory build || echo "bench: building headwater failed"
	$(PY) bench/s7_stream.py $(S7_ARGS)

$(VENV)/.bench-deps-installed: bench/requirements.txt $(VENV)/.deps-installed
	$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $@

$(SAIL_VENV)/.deps-installed: bench/requirements-sail.txt
	test -x $(SAIL_VENV)/bin/python || python3 -m venv $(SAIL_VENV)
	$(SAIL_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements-sail.txt \
	  && touch $@ || echo "bench: setting up $(SAIL_VENV) failed; the Lakesail peers will say why"
