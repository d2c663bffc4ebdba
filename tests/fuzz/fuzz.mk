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
#
# The proxy targets also link a second llhttp, built with
# LLHTTP_STRICT_MODE=1, whose global symbols are renamed llhttp_* ->
# strict_llhttp_* so that it sits beside the library's copy: the judge of
# what hourglass forwards (fuzz_framing.c).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_request fuzz_response fuzz_config fuzz_tls
FUZZ_FLAGS   ?=

FUZZ_DIR  = tests/fuzz
FUZZ_OBJ  = $(FUZZ_DIR)/obj
FUZZ_SAN  = -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
FUZZ_CF   = -std=gnu11 -D_GNU_SOURCE -g -O1 $(FUZZ_SAN) \
            -fsanitize=fuzzer-no-link -MMD -MP \
            -Ilib -Itests/unit -I$(LLHTTP_INC) $(PKG_CF)
# The library keeps its warnings but never fails on clang-only ones here.
FUZZ_LIBWARN = $(filter-out -Werror,$(WARN))

FUZZ_LIB_OBJ    := $(patsubst lib/%.c,$(FUZZ_OBJ)/lib/%.o,$(LIB_SRC))
FUZZ_LLHTTP_OBJ := $(FUZZ_OBJ)/llhttp/api.o $(FUZZ_OBJ)/llhttp/http.o \
                   $(FUZZ_OBJ)/llhttp/llhttp.o
FUZZ_STRICT_OBJ := $(FUZZ_OBJ)/llhttp-strict/api.o \
                   $(FUZZ_OBJ)/llhttp-strict/http.o \
                   $(FUZZ_OBJ)/llhttp-strict/llhttp.o
FUZZ_STRICT     := $(FUZZ_OBJ)/llhttp_strict.o
FUZZ_BINS       := $(addprefix $(FUZZ_OBJ)/,$(FUZZ_TARGETS))
FUZZ_LD      ?= ld
FUZZ_NM      ?= nm
FUZZ_OBJCOPY ?= objcopy

FUZZ_LINK = $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ \
            $(PKG_LIBS) -lpthread -lm
# The rig shrinks the proxy's upstream socket buffers (fuzz_rig.c).
FUZZ_WRAP = -Wl,--wrap=connect

.PHONY: fuzz fuzz-build fuzz-run fuzz-syntax fuzz-clean

# Install clang and its fuzzer runtime if missing, then build and run.
fuzz:
	@tools/deps.sh clang libclang-rt-14-dev binutils
	@$(MAKE) --no-print-directory fuzz-run

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OBJ)/lib/%.o: lib/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) $(FUZZ_LIBWARN) -c -o $@ $<

$(FUZZ_OBJ)/llhttp/%.o: $(LLHTTP_SRC)/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) -w -c -o $@ $<

$(FUZZ_OBJ)/llhttp-strict/%.o: $(LLHTTP_SRC)/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) -DLLHTTP_STRICT_MODE=1 -w -c -o $@ $<

# The strict copy as one object, every global symbol it defines prefixed
# with strict_ (references between its parts follow, as they name the
# same symbol-table entries).
$(FUZZ_STRICT): $(FUZZ_STRICT_OBJ)
	$(FUZZ_LD) -r -o $@.tmp $^
	$(FUZZ_NM) --defined-only -g $@.tmp | \
	    awk 'NF == 3 { print $$3, "strict_" $$3 }' >$@.syms
	$(FUZZ_OBJCOPY) --redefine-syms=$@.syms $@.tmp $@
	rm -f $@.tmp $@.syms

$(FUZZ_OBJ)/%.o: $(FUZZ_DIR)/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) $(WARN) -c -o $@ $<

$(FUZZ_OBJ)/fuzz_request: $(FUZZ_OBJ)/fuzz_request.o $(FUZZ_OBJ)/fuzz_rig.o \
    $(FUZZ_OBJ)/fuzz_framing.o $(FUZZ_LIB_OBJ) $(FUZZ_LLHTTP_OBJ) \
    $(FUZZ_STRICT)
	$(FUZZ_LINK) $(FUZZ_WRAP)

$(FUZZ_OBJ)/fuzz_response: $(FUZZ_OBJ)/fuzz_response.o $(FUZZ_OBJ)/fuzz_rig.o \
    $(FUZZ_OBJ)/fuzz_framing.o $(FUZZ_LIB_OBJ) $(FUZZ_LLHTTP_OBJ) \
    $(FUZZ_STRICT)
	$(FUZZ_LINK) $(FUZZ_WRAP)

$(FUZZ_OBJ)/fuzz_config: $(FUZZ_OBJ)/fuzz_config.o $(FUZZ_LIB_OBJ) \
    $(FUZZ_LLHTTP_OBJ)
	$(FUZZ_LINK)

# The TLS target makes its certificates with the unit tests' testcert.c.
$(FUZZ_OBJ)/testcert.o: tests/unit/testcert.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CF) $(WARN) -c -o $@ $<

$(FUZZ_OBJ)/fuzz_tls: $(FUZZ_OBJ)/fuzz_tls.o $(FUZZ_OBJ)/fuzz_rig.o \
    $(FUZZ_OBJ)/fuzz_framing.o $(FUZZ_OBJ)/testcert.o $(FUZZ_LIB_OBJ) \
    $(FUZZ_LLHTTP_OBJ) $(FUZZ_STRICT)
	$(FUZZ_LINK) $(FUZZ_WRAP)

# One target at a time (the machine may be shared); see run.sh.
fuzz-run: fuzz-build
	@FUZZ_FLAGS='$(FUZZ_FLAGS)' $(FUZZ_DIR)/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# make tests compiles the fuzz sources with the usual compiler and warnings,
# so a change to the library cannot leave them broken until the next fuzz run.
fuzz-syntax:
	@$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -fsyntax-only -Ilib \
	    -Itests/unit -I$(LLHTTP_INC) $(PKG_CF) $(wildcard $(FUZZ_DIR)/*.c)

fuzz-clean:
	rm -rf $(FUZZ_OBJ)

-include $(wildcard $(FUZZ_OBJ)/*.d $(FUZZ_OBJ)/lib/*.d $(FUZZ_OBJ)/llhttp/*.d \
    $(FUZZ_OBJ)/llhttp-strict/*.d)
