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
# throwaway cluster of their own).
APT_PACKAGES := libcmocka-dev pkg-config openjdk-17-jre-headless postgresql

.PHONY: demo test ctest pytest sanitize build setup system-deps clean

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

$(VENV)/.deps-installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
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
# The modules that start a JVM (real PySpark) are left out: the preloaded sanitizer runtime would be
# inherited by java and by Spark's Python workers. `make test` runs them.
SAN_SKIP := --ignore=tests/python/test_differential.py --ignore=tests/python/test_generic_spark.py \
  --ignore=tests/python/test_query_spark.py \
  --deselect=tests/python/test_write.py::test_rows_match_pyspark \
  --deselect=tests/python/test_formats.py::test_pyspark_reads_what_headwater_writes \
  --deselect=tests/python/test_formats.py::test_headwater_reads_what_pyspark_writes \
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
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  PYTHONPATH=build/asan-site $(PY) -m pytest tests/python -q -p no:cacheprovider $(SAN_SKIP)

clean:
	rm -rf build

# --- benchmarks (bench/README.md): `make bench`, or e.g. `make bench BENCH_ARGS=--quick` --------
# Never part of `make test`. A peer that cannot run (headwater broken, no Java, no Lakesail venv)
# is reported as unavailable and the others still run.
BENCH_ARGS ?=
S6_ARGS ?=
SAIL_VENV := bench/.venv-sail

.PHONY: bench bench-s6
bench: setup $(VENV)/.bench-deps-installed $(SAIL_VENV)/.deps-installed
	@$(MAKE) --no-print-directory build || echo "bench: building headwater failed; its peers will say why"
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/s6_write.py $(S6_ARGS)

# S6 (writes) alone, e.g. `make bench-s6 S6_ARGS="--rows 1000000 --reps 1"`
bench-s6: setup $(VENV)/.bench-deps-installed $(SAIL_VENV)/.deps-installed
	@$(MAKE) --no-print-directory build || echo "bench: building headwater failed; its peers will say why"
	$(PY) bench/s6_write.py $(S6_ARGS)

$(VENV)/.bench-deps-installed: bench/requirements.txt $(VENV)/.deps-installed
	$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	touch $@

$(SAIL_VENV)/.deps-installed: bench/requirements-sail.txt
	test -x $(SAIL_VENV)/bin/python || python3 -m venv $(SAIL_VENV)
	$(SAIL_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements-sail.txt \
	  && touch $@ || echo "bench: setting up $(SAIL_VENV) failed; the Lakesail peers will say why"
