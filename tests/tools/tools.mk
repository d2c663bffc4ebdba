# tests/tools/tools.mk: small load tools for the hardening scenarios
# (tests/scenario/harden_*.sh), and `make soak` (tests/soak/soak.sh, not
# part of `make check`).  Included by the root Makefile.  Each tool is one
# file, tests/tools/X.c -> tests/tools/X, and needs no library.

TOOLS_SRC := $(wildcard tests/tools/*.c)
TOOLS_BIN := $(TOOLS_SRC:.c=)

tests/tools/%: tests/tools/%.c $(FLAGS_STAMP)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

tests: $(TOOLS_BIN)

.PHONY: soak tools-clean
soak: deps
	@$(MAKE) --no-print-directory tests
	@tests/soak/soak.sh

clean: tools-clean
tools-clean:
	rm -f $(TOOLS_BIN) tests/tools/*.d

-include $(wildcard tests/tools/*.d)
