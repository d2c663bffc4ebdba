/*
 * fuzz_config.c: libFuzzer target for the configuration loader.
 *
 * The input is an INI file.  It is loaded from memory (up to its first NUL,
 * as config_load_string() takes it) and, when it holds a NUL, also as a file
 * through config_load(), which reads every byte.  Whatever loads must dump
 * (config_dump()) to text that loads again, and that second load must dump
 * to the very same text: a dump that does not reload, or that changes on
 * the way, is a bug.
 *
 * A certificate and its key are made at start in tests/fuzz/obj/tls/ (by
 * tools/run_tls.sh, when run from the top of the tree, as make fuzz does),
 * so that inputs that name them (the seed tls.ini) build TLS contexts, and
 * their dumps, with the paths made absolute, load again.
 */
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 file_fd = -1;
static char	 file_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(CONFIG_LOG_CRIT);
	if ((file_fd = memfd_create("fuzz.ini", MFD_CLOEXEC)) < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(file_path, sizeof file_path, "/proc/self/fd/%d", file_fd);
	if (system("tools/run_tls.sh tests/fuzz/obj/tls > /dev/null 2>&1") != 0)
		fprintf(stderr, "fuzz_config: no certificate in "
		    "tests/fuzz/obj/tls (not run from the top of the tree?)\n");
	return 0;
}

/* The effective configuration as text (malloc'd). */
static char *
dump(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		abort();
	config_dump(cfg, f);
	if (fclose(f) != 0)
		abort();
	return text;
}

/* Dump, reload the dump, dump again: both dumps must be the same. */
static void
check_round_trip(const struct config *cfg, const uint8_t *input, size_t size)
{
	struct config *again;
	char *text, *text2, *errors = NULL;

	text = dump(cfg);
	if ((again = config_load_string(text, "fuzz.ini", &errors)) == NULL) {
		fprintf(stderr, "fuzz_config: the dump does not load again:\n"
		    "%s--- dump:\n%s--- input:\n%.*s\n", errors ? errors : "?",
		    text, (int)size, (const char *)input);
		abort();
	}
	text2 = dump(again);
	if (strcmp(text, text2) != 0) {
		fprintf(stderr, "fuzz_config: the dump changes when reloaded:\n"
		    "--- first:\n%s--- second:\n%s", text, text2);
		abort();
	}
	free(text2);
	free(text);
	config_unref(again);
}

/* Load text one way or the other, and check what loads. */
static void
load(struct config *cfg, char *errors, const uint8_t *data, size_t size)
{
	if (cfg != NULL) {
		if (errors != NULL) {
			fprintf(stderr, "fuzz_config: loaded, with errors\n");
			abort();
		}
		check_round_trip(cfg, data, size);
		config_unref(cfg);
	} else if (errors == NULL) {
		fprintf(stderr, "fuzz_config: refused, without a message\n");
		abort();
	}
	free(errors);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *text, *errors = NULL;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cfg = config_load_string(text, "fuzz.ini", &errors);
	load(cfg, errors, data, size);
	free(text);

	if (memchr(data, '\0', size) != NULL) {
		if (ftruncate(file_fd, 0) != 0 ||
		    pwrite(file_fd, data, size, 0) != (ssize_t)size)
			abort();
		errors = NULL;
		cfg = config_load(file_path, &errors);
		load(cfg, errors, data, size);
	}
	return 0;
}
