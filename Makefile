# hourglass: plain GNU make.  `make`, `make check`, `make run`, `make install`,
# `make deb`.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
# The daemon; the Debian package puts it in /usr/sbin.
SBINDIR    ?= $(BINDIR)
SYSCONFDIR ?= $(PREFIX)/etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=
PKG_CONFIG ?= pkg-config
INSTALL    ?= install

# llhttp is compiled from Debian's node-llhttp sources; override for another copy.
# It parses a third faster with SSE4.2, used when this machine's CPU has it.
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
LLHTTP_CFLAGS ?= -O2 $(if $(shell grep -qw sse4_2 /proc/cpuinfo 2>/dev/null && echo y),-msse4.2)

CC     ?= cc
CFLAGS ?= -O2 -g
WARN    = -Wall -Wextra -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
          -Wshadow -Wpointer-arith
ifneq ($(CI),)
WARN   += -Werror
endif
ifneq ($(SANITIZE),)
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# The daemon is linked with link-time optimisation: the request path runs
# through several modules and llhttp's callbacks, and inlining across them
# saves a tenth of its instructions.  The objects stay fat, so the tests and
# tools link without it.  Sanitizer builds and LTO= skip it.
ifeq ($(SANITIZE),)
LTO ?= -flto=auto
endif
LTO_CF = $(if $(LTO),$(LTO) -ffat-lto-objects)

PKGS      = libevent_core libevent_extra libevent_pthreads inih libsystemd libssl libcrypto
PKG_CF   := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CF := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

ALL_CFLAGS  = -std=gnu11 -D_GNU_SOURCE $(WARN) $(SANFLAGS) $(LTO_CF) -MMD -MP \
              -Ilib -I$(LLHTTP_INC) $(PKG_CF) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL    = lib/libhourglass.a $(PKG_LIBS) -lpthread -lm

LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:.c=.o)
LLHTTP_OBJ := lib/llhttp/api.o lib/llhttp/http.o lib/llhttp/llhttp.o
DAEMON_OBJ := $(patsubst %.c,%.o,$(wildcard daemon/*.c))
ORIGIN_OBJ := $(patsubst %.c,%.o,$(wildcard tests/origin/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:.c=)
BENCH_SRC  := $(wildcard bench/bench_*.c)
BENCH_BIN  := $(BENCH_SRC:.c=)

ORIGIN = tests/origin/hourglass-origin

# Rebuild everything when the compiler flags change (SANITIZE, CFLAGS, CI).
FLAGS_STAMP = .build-flags
FLAGS_NOW   = $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LLHTTP_SRC) $(LLHTTP_CFLAGS)
# (Not for `make mutate`, which builds only in its scratch copy.)
ifneq ($(MAKECMDGOALS),mutate)
$(shell echo '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) 2>/dev/null || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif
$(FLAGS_STAMP):
	@echo '$(FLAGS_NOW)' > $@

# The install directories compiled into the daemon (the default config
# path): when one changes, e.g. `make install SYSCONFDIR=/etc` after a plain
# `make`, the daemon's objects are built again.
PATHS_STAMP = .build-paths
PATHS_NOW   = SYSCONFDIR=$(SYSCONFDIR)
$(shell echo '$(PATHS_NOW)' | cmp -s - $(PATHS_STAMP) 2>/dev/null || echo '$(PATHS_NOW)' > $(PATHS_STAMP))
$(PATHS_STAMP):
	@echo '$(PATHS_NOW)' > $@

.PHONY: all deps deps-test check run install clean tests bench-progs bench \
	bench-instr bench-tunnel bench-hedge mutate deb
all: lib/libhourglass.a hourglass $(ORIGIN)

lib/%.o: lib/%.c $(FLAGS_STAMP)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Third-party code: built with its own (quiet) flags, never with -Werror.
lib/llhttp/%.o: $(LLHTTP_SRC)/%.c $(FLAGS_STAMP)
	@mkdir -p lib/llhttp
	$(CC) -std=gnu11 $(LLHTTP_CFLAGS) -g -w $(SANFLAGS) $(LTO_CF) -I$(LLHTTP_INC) -c -o $@ $<

lib/libhourglass.a: $(LIB_OBJ) $(LLHTTP_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

daemon/%.o tests/%.o bench/%.o: ALL_CFLAGS += $(CHECK_CF)
daemon/%.o: ALL_CFLAGS += -DSYSCONFDIR=\"$(SYSCONFDIR)\"
$(DAEMON_OBJ): $(PATHS_STAMP)
%.o: %.c $(FLAGS_STAMP)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

hourglass: $(DAEMON_OBJ) lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) $(if $(LTO),$(LTO) $(CFLAGS)) -o $@ $(DAEMON_OBJ) $(LIBS_ALL)

$(ORIGIN): $(ORIGIN_OBJ) lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(ORIGIN_OBJ) $(LIBS_ALL)

tests/unit/test_%: tests/unit/test_%.o lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBS_ALL) $(CHECK_LIBS)

# The conn test makes its certificates with testcert.c, and moves the clock
# tls.c reads (time()) to rotate ticket keys.
tests/unit/test_conn: tests/unit/test_conn.o tests/unit/testcert.o lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) -Wl,--wrap=time -o $@ $< tests/unit/testcert.o $(LIBS_ALL) $(CHECK_LIBS)

# The metrics test also drives the daemon's /metrics listener.
tests/unit/test_metrics: tests/unit/test_metrics.o daemon/metricsd.o lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< daemon/metricsd.o $(LIBS_ALL) $(CHECK_LIBS)

bench/%: bench/%.o lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBS_ALL)

# The floor-l7 contender (bench/run.sh): libevent and llhttp, linked like
# the daemon (LTO, llhttp's objects from lib/libhourglass.a).
bench/floor_l7: bench/floor_l7.o lib/libhourglass.a
	$(CC) $(ALL_LDFLAGS) $(if $(LTO),$(LTO) $(CFLAGS)) -o $@ $< $(LIBS_ALL)

tests: all $(UNIT_BIN) fuzz-syntax
bench-progs: all $(BENCH_BIN) bench/floor_l7

# Install the Debian packages the build needs, if any is missing; the
# tests need a few more tools (TEST_DEPS), which no test skips: the
# packaging tests build the .deb (DEB_DEPS) and check it and the man pages.
DEB_DEPS  = build-essential debhelper dpkg-dev
TEST_DEPS = logrotate prometheus perl systemd python3 python3-websockets \
            openssl strace python3-yaml iproute2 mandoc lintian $(DEB_DEPS)
deps:
	@tools/deps.sh

deps-test:
	@tools/deps.sh $(TEST_DEPS)

# deps first, then a fresh make so pkg-config sees what was just installed.
check: deps-test
	@$(MAKE) --no-print-directory tests
	@tests/run

# Mutation testing (tests/mutations/README.md), not part of check or CI:
# each mutation of tests/mutations/*.mut in a scratch copy under /tmp.
#   make mutate MUTATIONS=request.retry-post,'upstream.*' MUTATE_TESTS=all
mutate: deps
	@tools/deps.sh python3
	@tests/mutations/run $(if $(MUTATIONS),--only '$(MUTATIONS)') \
	    $(if $(MUTATE_TESTS),--tests '$(MUTATE_TESTS)') $(MUTATE_ARGS)

run: deps
	@$(MAKE) --no-print-directory all
	@tools/run.sh

# The side-by-side bench (bench/run.sh), then the hedging bench.
bench: deps
	@$(MAKE) --no-print-directory bench-progs
	@bench/run.sh
	@bench/hedge.sh

# Tail latency behind two servers with a 5% slow tail: hourglass with and
# without hedged requests, nginx and HAProxy plain and retrying on a
# timeout (bench/hedge.sh, bench/README.md).  Part of make bench.
bench-hedge: deps
	@$(MAKE) --no-print-directory all
	@bench/hedge.sh

# WebSocket tunnels side by side: memory per idle tunnel, CPU per echoed
# message (bench/tunnel.sh, bench/README.md).  Not part of make bench.
bench-tunnel: deps
	@$(MAKE) --no-print-directory all
	@bench/tunnel.sh

# Instructions per proxied request, counted by callgrind (bench/README.md).
bench-instr: deps
	@$(MAKE) --no-print-directory bench-progs
	@bench/instr.sh

# The Debian packages, built in a copy of the tree (tools/deb.sh); the
# .deb files land in build/deb/.
deb: deps
	@tools/deps.sh $(DEB_DEPS)
	@tools/deb.sh

# The man pages name the configuration directory: /etc/hourglass in the
# source, SYSCONFDIR/hourglass once installed.
MAN_SED = -e 's|/etc/hourglass|$(SYSCONFDIR)/hourglass|g' \
          -e 's|/etc/logrotate.d|$(SYSCONFDIR)/logrotate.d|g'

# The HTTPS part of make bench alone (bench/tls.sh, bench/README.md).
.PHONY: bench-tls
bench-tls: deps
	@$(MAKE) --no-print-directory bench-progs
	@bench/run.sh tls

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/hourglass $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 755 hourglass $(DESTDIR)$(SBINDIR)/hourglass
	$(INSTALL) -m 755 $(ORIGIN) $(DESTDIR)$(BINDIR)/hourglass-origin
	sed $(MAN_SED) man/hourglass.8 > $(DESTDIR)$(MANDIR)/man8/hourglass.8
	sed $(MAN_SED) man/hourglass.ini.5 > $(DESTDIR)$(MANDIR)/man5/hourglass.ini.5
	sed $(MAN_SED) man/hourglass-origin.1 > $(DESTDIR)$(MANDIR)/man1/hourglass-origin.1
	chmod 644 $(DESTDIR)$(MANDIR)/man8/hourglass.8 \
	    $(DESTDIR)$(MANDIR)/man5/hourglass.ini.5 $(DESTDIR)$(MANDIR)/man1/hourglass-origin.1
	$(INSTALL) -m 644 conf/hourglass.ini $(DESTDIR)$(SYSCONFDIR)/hourglass/hourglass.ini.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/hourglass/hourglass.ini ] || \
	    $(INSTALL) -m 644 conf/hourglass.ini $(DESTDIR)$(SYSCONFDIR)/hourglass/hourglass.ini
	sed -e 's|@BINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/hourglass.service > $(DESTDIR)$(UNITDIR)/hourglass.service
	chmod 644 $(DESTDIR)$(UNITDIR)/hourglass.service
	$(INSTALL) -m 644 systemd/hourglass.socket $(DESTDIR)$(UNITDIR)/hourglass.socket
	$(INSTALL) -d $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	$(INSTALL) -m 644 conf/logrotate.hourglass $(DESTDIR)$(SYSCONFDIR)/logrotate.d/hourglass

clean:
	rm -f lib/*.o lib/*.d lib/llhttp/*.o lib/llhttp/*.d lib/libhourglass.a \
	      daemon/*.o daemon/*.d hourglass tests/origin/*.o tests/origin/*.d $(ORIGIN) \
	      tests/unit/*.o tests/unit/*.d $(UNIT_BIN) bench/*.o bench/*.d $(BENCH_BIN) bench/floor_l7 \
	      $(FLAGS_STAMP) $(PATHS_STAMP)
	rm -rf tests/out build

# Fuzz targets (make fuzz) and test tools have their own fragments.
-include tests/fuzz/fuzz.mk
-include tests/tools/tools.mk

-include $(wildcard lib/*.d daemon/*.d tests/origin/*.d tests/unit/*.d bench/*.d)
