/* duet-bench-tokenize: how long tokenizing about 1 MB of English takes with
 * each oracle vocabulary, single-threaded, as JSON (median of several runs).
 *
 *   duet-bench-tokenize [-f TEXT_FILE] [-r RUNS] [VOCAB.gguf ...]
 *
 * Without -f the text is generated deterministically from common English
 * words, punctuation and paragraph breaks (1 MiB). Without vocabularies it
 * uses the SentencePiece and Llama-3 files in ../shared/oracle/tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duet/duet.h"

#ifndef DUET_ORACLE_PATH
#define DUET_ORACLE_PATH "../shared/oracle"
#endif

static const char *const words[] = {
	"the", "of", "and", "to", "a", "in", "was", "her", "it", "that", "she", "not",
	"be", "he", "his", "as", "had", "with", "for", "you", "I", "but", "have", "at",
	"is", "which", "by", "so", "all", "on", "my", "could", "would", "been", "very",
	"no", "they", "were", "him", "Mr.", "Elizabeth", "Darcy", "must", "said", "Mrs.",
	"much", "such", "any", "more", "than", "Jane", "Bennet", "every", "think",
	"herself", "sister", "nothing", "little", "before", "after", "thought", "great",
	"however", "acquaintance", "understanding", "immediately", "particularly",
	"circumstances", "satisfaction", "conversation", "Netherfield", "Longbourn",
	"don't", "I'm", "it's", "1811", "twenty", "o'clock", "engagement", "ball",
};

static char *make_text(size_t target, size_t *len)
{
	char *t = malloc(target + 64);
	size_t n = 0;
	uint64_t s = 12345;
	int in_sentence = 0;
	while (t && n < target) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		const char *w = words[(s >> 33) % (sizeof words / sizeof *words)];
		size_t wl = strlen(w);
		memcpy(t + n, w, wl);
		if (in_sentence == 0 && t[n] >= 'a' && t[n] <= 'z')
			t[n] = (char)(t[n] - 32);
		n += wl;
		in_sentence++;
		unsigned r = (unsigned)(s >> 20) % 40;
		const char *sep = r == 0 ? ".\n" : r < 3 ? ". " : r < 6 ? ", " : r == 6 ? "; " : " ";
		if (sep[0] == '.')
			in_sentence = 0;
		memcpy(t + n, sep, strlen(sep));
		n += strlen(sep);
	}
	*len = n;
	return t;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *vocab_args[16];
	int runs = 5, n_vocab = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (n_vocab < 16)
			vocab_args[n_vocab++] = argv[i];
	}
	if (runs < 1 || runs > 50)
		runs = 5;
	char defaults[2][1024];
	if (!n_vocab) {
		snprintf(defaults[0], 1024, "%s/tokenizer/ggml-vocab-llama-spm.gguf", DUET_ORACLE_PATH);
		snprintf(defaults[1], 1024, "%s/tokenizer/ggml-vocab-llama-bpe.gguf", DUET_ORACLE_PATH);
		vocab_args[0] = defaults[0];
		vocab_args[1] = defaults[1];
		n_vocab = 2;
	}
	size_t len = 0;
	char *text = NULL;
	if (file) {
		FILE *f = fopen(file, "rb");
		if (f && !fseek(f, 0, SEEK_END) && (len = (size_t)ftell(f)) &&
		    !fseek(f, 0, SEEK_SET) && (text = malloc(len)))
			len = fread(text, 1, len, f);
		if (f)
			fclose(f);
	} else {
		text = make_text(1 << 20, &len);
	}
	if (!text) {
		fprintf(stderr, "duet-bench-tokenize: cannot read the text\n");
		return 1;
	}
	int32_t *ids = malloc((len + 16) * sizeof *ids);
	printf("{\"bench\":\"tokenize\",\"bytes\":%zu,\"threads\":1,\"runs\":%d,\"vocabs\":[",
	       len, runs);
	for (int v = 0; v < n_vocab; v++) {
		duet_model *m;
		duet_model_options o = { .vocab_only = true };
		if (duet_model_load(vocab_args[v], &o, &m) != DUET_OK) {
			fprintf(stderr, "duet-bench-tokenize: %s\n", duet_last_error());
			return 1;
		}
		double t[50];
		size_t n = 0;
		for (int r = 0; r < runs; r++) {
			double t0 = now_s();
			if (duet_tokenize(m, text, len, false, false, ids, len + 16, &n) != DUET_OK) {
				fprintf(stderr, "duet-bench-tokenize: %s\n", duet_last_error());
				return 1;
			}
			t[r] = now_s() - t0;
		}
		qsort(t, (size_t)runs, sizeof *t, cmp_d);
		const char *name = strrchr(vocab_args[v], '/');
		printf("%s{\"vocab\":\"%s\",\"tokens\":%zu,\"seconds_median\":%.4f,"
		       "\"mb_per_s\":%.2f}", v ? "," : "", name ? name + 1 : vocab_args[v], n,
		       t[runs / 2], len / 1048576.0 / t[runs / 2]);
		duet_model_destroy(m);
	}
	printf("]}\n");
	free(ids);
	free(text);
	return 0;
}
