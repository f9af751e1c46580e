/* Test helper for the llama.cpp cross-check: reads a JSON array of strings
 * on stdin, tokenizes each with the model's tokenizer as llama.cpp's
 * tokenize() does there (no BOS, special tokens parsed) and prints a JSON
 * array of id arrays.   usage: tokenize_batch VOCAB.gguf < texts.json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "json.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tokenize_batch VOCAB.gguf < texts.json\n");
		return 2;
	}
	char *in = read_text_stream(stdin, NULL);
	json *texts = in ? json_parse(in) : NULL;
	if (!texts || texts->kind != JSON_ARR) {
		fprintf(stderr, "tokenize_batch: stdin is not a JSON array\n");
		return 2;
	}
	duet_model *m;
	duet_model_options o = { .vocab_only = true };
	if (duet_model_load(argv[1], &o, &m) != DUET_OK) {
		fprintf(stderr, "tokenize_batch: %s\n", duet_last_error());
		return 1;
	}
	printf("[");
	for (size_t i = 0; i < texts->n; i++) {
		const char *t = texts->items[i]->str ? texts->items[i]->str : "";
		size_t len = strlen(t), n, cap = len + 8;
		int32_t *ids = malloc(cap * sizeof *ids);
		if (!ids || duet_tokenize(m, t, len, false, true, ids, cap, &n) != DUET_OK) {
			fprintf(stderr, "tokenize_batch: %s\n", duet_last_error());
			return 1;
		}
		printf("%s[", i ? "," : "");
		for (size_t k = 0; k < n; k++)
			printf(k ? ",%d" : "%d", ids[k]);
		printf("]");
		free(ids);
	}
	printf("]\n");
	duet_model_destroy(m);
	json_free(texts);
	free(in);
	return 0;
}
