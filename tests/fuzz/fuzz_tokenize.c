/* libFuzzer target: arbitrary bytes (invalid UTF-8 included) through every
 * oracle vocabulary's tokenizer, with and without special-token parsing,
 * then back through the detokenizer. The first input byte picks the
 * vocabulary and flags. Vocabularies come from $DUET_ORACLE_DIR/tokenizer
 * (default: the oracle folder next to the source tree). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

#define MAX_VOCABS 16

static duet_gguf *files[MAX_VOCABS];
static duet_vocab vocabs[MAX_VOCABS];
static int n_vocabs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *root = getenv("DUET_ORACLE_DIR");
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/tokenizer", root ? root : DUET_ORACLE_PATH);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "fuzz_tokenize: cannot open %s\n", dir);
		exit(1);
	}
	struct dirent *e;
	while ((e = readdir(d)) && n_vocabs < MAX_VOCABS) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".gguf"))
			continue;
		char path[2048];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (duet_gguf_open(path, &files[n_vocabs]) == DUET_OK &&
		    duet_vocab_init(&vocabs[n_vocabs], files[n_vocabs]) == DUET_OK)
			n_vocabs++;
	}
	closedir(d);
	if (!n_vocabs) {
		fprintf(stderr, "fuzz_tokenize: no vocabulary in %s\n", dir);
		exit(1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const duet_vocab *v = &vocabs[data[0] % n_vocabs];
	bool add = data[0] & 0x40, special = data[0] & 0x80;
	duet_tokens ids = { 0 };
	if (duet_vocab_tokenize(v, (const char *)data + 1, size - 1, add, special, &ids) ==
	    DUET_OK) {
		char *text;
		size_t len;
		if (duet_vocab_detokenize(v, ids.ids, ids.n, add, special, &text, &len) == DUET_OK)
			free(text);
	}
	free(ids.ids);
	return 0;
}
