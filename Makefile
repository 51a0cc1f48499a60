# entroscope — build, test, demo.
#   make demo     install missing Debian packages, build, run the main job
#   make check    install missing Debian packages, build, run the tests twice:
#                 optimised, then under AddressSanitizer + UBSan; then the
#                 numeric suites once more built by clang
#   make fuzz     fuzz every file parser with libFuzzer, FUZZ_SECONDS each (default
#                 600); FUZZ_TARGET=name runs one (gguf, model, llama2c, tokenizer_json,
#                 safetensors, csv, jsonl, corpus)
#   make          just build (build/entroscope, build/run_tests)
# BUILD=dir SAN=1 CC=clang select the build directory, sanitizers, compiler.

ifeq ($(origin CC),default)
CC      := gcc
endif
BUILD   ?= build
SAN     ?= 0
OPT     ?= -O2
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
# OpenBLAS (its OpenMP build) does the training's matrix products and is
# GSL's CBLAS too.
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# -ffp-contract=off: a * b + c written in C is two roundings under every
# compiler (clang would otherwise fuse it into one FMA, gcc in C11 mode does
# not), so the plain kernels give the same bits under gcc and clang, and the
# SIMD paths that promise the portable path's bits keep that promise.
CFLAGS  := -std=c11 $(OPT) -g $(WARN) -ffp-contract=off -fopenmp -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
           -Iinclude -Isrc $(BLAS_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := -lpcre2-8 -lcjson -lsqlite3 -lutf8proc -lcurl -lgsl $(BLAS_LIBS) -lmicrohttpd -lmvec -lm -fopenmp
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDLIBS  += -fsanitize=address,undefined
endif

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_SRC  := $(filter-out src/cli/%,$(LIB_SRC))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

all: $(BUILD)/entroscope $(BUILD)/run_tests

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libentroscope.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/entroscope: $(CLI_OBJ) $(BUILD)/libentroscope.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/libentroscope.a $(BUILD)/entroscope
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libentroscope.a $(LDLIBS)

deps:
	@./scripts/install-deps.sh

# The tests find the binary under test through ENTROSCOPE_BIN. Passive OpenMP
# waiting keeps them fast when the machine is busy with other work.
test: all
	ENTROSCOPE_BIN=$(BUILD)/entroscope OMP_WAIT_POLICY=passive ./$(BUILD)/run_tests

check: deps
	$(MAKE) BUILD=build EXTRA_CFLAGS=-Werror test
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 test
	$(MAKE) BUILD=build-clang CC=clang EXTRA_CFLAGS=-Werror all
	ENTROSCOPE_BIN=build-clang/entroscope ./build-clang/run_tests kernels kernel_tiles kquant model probes

DEMO_DIR ?= demo
WORLD_MODEL ?= models/world.gguf
E := ./build/entroscope
# The whole study on the model entroscope trained itself on a generated world
# (models/README.md): the world's held-out facts in place of SimpleQA, its word
# problems in place of GSM8K, factual versus creative prompts; graded exactly
# from the world's ground truth, then a confidence model and the report.
demo: deps
	$(MAKE) BUILD=build all
	@mkdir -p $(DEMO_DIR)
	$(E) info $(WORLD_MODEL)
	$(E) world --seed 1 -o $(DEMO_DIR)/world
	rm -rf $(DEMO_DIR)/facts.db* $(DEMO_DIR)/sums.db* $(DEMO_DIR)/sums-entropix.db* $(DEMO_DIR)/fc.db* $(DEMO_DIR)/report-data
	@echo
	$(E) generate -m $(WORLD_MODEL) -p "$$(printf 'Question: In which city was Niron Brencroft born?\nAnswer:')" \
	    --temp 0 -n 8 --stats
	@echo
	$(E) run simpleqa -m $(WORLD_MODEL) --data $(DEMO_DIR)/world/facts.csv --sample 900 --seed 1 -o $(DEMO_DIR)/facts.db
	$(E) run gsm8k -m $(WORLD_MODEL) --data $(DEMO_DIR)/world/sums.jsonl -n 160 -o $(DEMO_DIR)/sums.db
	$(E) run gsm8k -m $(WORLD_MODEL) --data $(DEMO_DIR)/world/sums.jsonl -n 160 --sampler entropix --seed 1 \
	    -o $(DEMO_DIR)/sums-entropix.db
	$(E) run factual-creative -m $(WORLD_MODEL) --prompts $(DEMO_DIR)/world/factual.txt \
	    --prompts $(DEMO_DIR)/world/creative.txt -n 64 --seed 1 -o $(DEMO_DIR)/fc.db
	$(E) confidence fit $(DEMO_DIR)/facts.db $(DEMO_DIR)/sums.db -o $(DEMO_DIR)/confidence.json
	$(E) export $(DEMO_DIR)/sums.db --what tokens --format csv -o $(DEMO_DIR)/sums-tokens.csv
	$(E) report $(DEMO_DIR)/facts.db $(DEMO_DIR)/sums.db $(DEMO_DIR)/sums-entropix.db $(DEMO_DIR)/fc.db --confidence $(DEMO_DIR)/confidence.json \
	    -o $(DEMO_DIR)/report.html --data-dir $(DEMO_DIR)/report-data
	@echo "open $(DEMO_DIR)/report.html (traces: $(DEMO_DIR)/facts.db, sums.db, fc.db; tokens: $(DEMO_DIR)/sums-tokens.csv)"

# libFuzzer targets (tests/fuzz/README.md), run one after the other:
#   gguf            the GGUF parser alone (src/model/gguf.c)
#   model           es_model_load on a GGUF: config, tensors, tokenizer keys
#   llama2c         a llama2.c checkpoint + tokenizer.bin
#   tokenizer_json  a Hugging Face tokenizer.json
# FUZZ_TARGET=name runs one; seeds come from tests/fuzz/corpus (gguf) or
# tests/fuzz/corpus_<name>, what libFuzzer learns goes to build-fuzz/corpus_<name>.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := gguf model llama2c tokenizer_json safetensors csv jsonl corpus
FUZZ_TARGET  ?= $(FUZZ_TARGETS)
FUZZ_RUN     := $(patsubst fuzz_%,%,$(FUZZ_TARGET))
FUZZ_CFLAGS  := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
                -Iinclude -Isrc $(BLAS_CFLAGS)
FUZZ_OBJ     := $(LIB_SRC:%.c=build-fuzz/obj/%.o)

.SECONDARY: $(FUZZ_OBJ) # objects of a pattern chain, kept for the next build
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fopenmp -MMD -MP -c $< -o $@

build-fuzz/fuzz_gguf: tests/fuzz/fuzz_gguf.c src/model/gguf.c src/util/error.c src/tensor/tensor.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) $^ -o $@

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fopenmp $< $(FUZZ_OBJ) -o $@ -lpcre2-8 -lcjson -lsqlite3 -lutf8proc -lcurl -lgsl $(BLAS_LIBS) -lmicrohttpd -lmvec -lm

fuzz: deps
	@for t in $(FUZZ_RUN); do case " $(FUZZ_TARGETS) " in *" $$t "*) ;; \
	  *) echo "unknown FUZZ_TARGET $$t (one of: $(FUZZ_TARGETS))"; exit 1;; esac; done
	$(MAKE) $(FUZZ_RUN:%=build-fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_RUN); do \
	  seeds=tests/fuzz/corpus_$$t; if [ $$t = gguf ]; then seeds=tests/fuzz/corpus; fi; \
	  mkdir -p build-fuzz/corpus_$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
	      -artifact_prefix=build-fuzz/ build-fuzz/corpus_$$t $$seeds; \
	done

clean:
	rm -rf build build-asan build-clang build-fuzz

.PHONY: all deps test check demo fuzz clean
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
