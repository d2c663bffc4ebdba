# tests/fuzz/fuzz.mk: libFuzzer targets, included by the root Makefile.
#
#   make fuzz                       each target for FUZZ_SECONDS (60) seconds
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=fuzz_config
#   make fuzz-build                 build only
#
# Everything is built with clang, -fsanitize=fuzzer,address,undefined, into
# tests/fuzz/obj/: the library and llhttp are compiled again there, never
# mixed with the gcc objects in lib/.  A run reads the seeds in
# tests/fuzz/corpus/<target>/ and writes what it finds to the working corpus
# tests/fuzz/obj/corpus/<target>/, so the seed corpus stays as committed.
# Crashes are saved as tests/fuzz/obj/artifacts/<target>-crash-*; the run
# ends with a failure and the log's tail.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_request fuzz_response fuzz_config
FUZZ_FLAGS   ?=

FUZZ_DIR  = tests/fuzz
FUZZ_OBJ  = $(FUZZ_DIR)/obj
FUZZ_SAN  = -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
FUZZ_CF   = -std=gnu11 -D_GNU_SOURCE -g -O1 $(FUZZ_SAN) \
            -fsanitize=fuzzer-no-link -MMD -MP \
            -Ilib -I$(LLHTTP_INC) $(PKG_CF)
# The library keeps its warnings but never fails on clang-only ones here.
FUZZ_LIBWARN = $(filter-out -Werror,$(WARN))

FUZZ_LIB_OBJ    := $(patsubst lib/%.c,$(FUZZ_OBJ)/lib/%.o,$(LIB_SRC))
FUZZ_LLHTTP_OBJ := $(FUZZ_OBJ)/llhttp/api.o $(FUZZ_OBJ)/llhttp/http.o \
                   $(FUZZ_OBJ)/llhttp/llhttp.o
FUZZ_BINS       := $(addprefix $(FUZZ_OBJ)/,$(FUZZ_TARGETS))

FUZZ_LINK = $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ \
            $(PKG_LIBS) -lpthread -lm
# The rig shrinks the proxy's upstream socket buffers (fuzz_rig.c).
FUZZ_WRAP = -Wl,--wrap=connect

.PHONY: fuzz fuzz-build fuzz-run fuzz-syntax fuzz-clean

# Install clang and its fuzzer runtime if missing, then build and run.
fuzz:
	@tools/deps.sh clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory fuzz-run

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OBJ)/lib/%.o: lib/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) $(FUZZ_LIBWARN) -c -o $@ $<

$(FUZZ_OBJ)/llhttp/%.o: $(LLHTTP_SRC)/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) -w -c -o $@ $<

$(FUZZ_OBJ)/%.o: $(FUZZ_DIR)/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) $(WARN) -c -o $@ $<

$(FUZZ_OBJ)/fuzz_request: $(FUZZ_OBJ)/fuzz_request.o $(FUZZ_OBJ)/fuzz_rig.o \
    $(FUZZ_LIB_OBJ) $(FUZZ_LLHTTP_OBJ)
	$(FUZZ_LINK) $(FUZZ_WRAP)

$(FUZZ_OBJ)/fuzz_response: $(FUZZ_OBJ)/fuzz_response.o $(FUZZ_OBJ)/fuzz_rig.o \
    $(FUZZ_LIB_OBJ) $(FUZZ_LLHTTP_OBJ)
	$(FUZZ_LINK) $(FUZZ_WRAP)

$(FUZZ_OBJ)/fuzz_config: $(FUZZ_OBJ)/fuzz_config.o $(FUZZ_LIB_OBJ) \
    $(FUZZ_LLHTTP_OBJ)
	$(FUZZ_LINK)

# One target at a time (the machine may be shared); see run.sh.
fuzz-run: fuzz-build
	@FUZZ_FLAGS='$(FUZZ_FLAGS)' $(FUZZ_DIR)/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# make tests compiles the fuzz sources with the usual compiler and warnings,
# so a change to the library cannot leave them broken until the next fuzz run.
fuzz-syntax:
	@$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -fsyntax-only -Ilib \
	    -I$(LLHTTP_INC) $(PKG_CF) $(wildcard $(FUZZ_DIR)/*.c)

fuzz-clean:
	rm -rf $(FUZZ_OBJ)

-include $(wildcard $(FUZZ_OBJ)/*.d $(FUZZ_OBJ)/lib/*.d $(FUZZ_OBJ)/llhttp/*.d)
