/* duet tokenize: text to token ids with the model's own tokenizer, printed
 * as llama.cpp's llama-tokenize prints them. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "tokenize"

static const char usage_text[] =
	"usage: duet tokenize -m FILE (-p TEXT | -f FILE) [--ids|--pieces]\n"
	"                     [--no-bos] [--special]\n"
	"  Tokenizes with the GGUF file's tokenizer (weights are not needed).\n"
	"  -f FILE     read the text from FILE (- for stdin), byte for byte\n"
	"  --ids       print [id, id, ...] on one line (as llama-tokenize --ids)\n"
	"  --pieces    print one 'id -> 'piece'' line per token (the default)\n"
	"  --no-bos    do not add the BOS (or EOS) the model asks for\n"
	"  --special   turn control-token texts such as <|im_start|> into ids\n";

static void print_pieces(const duet_model *m, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char buf[512];
		size_t len;
		printf("%6d -> '", ids[i]);
		if (duet_model_token_bytes(m, ids[i], buf, sizeof buf, &len) == DUET_OK)
			fwrite(buf, 1, len, stdout);
		printf("'\n");
	}
}

int cmd_tokenize(int argc, char **argv)
{
	const char *model = NULL, *prompt = NULL, *file = NULL;
	bool ids = false, no_bos = false, special = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is(a, "-h", "--help")) {
			fputs(usage_text, stdout);
			return CLI_OK;
		} else if (cli_is(a, "--ids", NULL)) {
			ids = true;
		} else if (cli_is(a, "--pieces", NULL)) {
			ids = false;
		} else if (cli_is(a, "--no-bos", NULL)) {
			no_bos = true;
		} else if (cli_is(a, "--special", NULL)) {
			special = true;
		} else if (cli_is(a, "-m", "--model")) {
			if (!cli_value(CMD, argc, argv, &i, &model))
				return CLI_USAGE;
		} else if (cli_is(a, "-p", "--prompt")) {
			if (!cli_value(CMD, argc, argv, &i, &prompt))
				return CLI_USAGE;
		} else if (cli_is(a, "-f", "--file")) {
			if (!cli_value(CMD, argc, argv, &i, &file))
				return CLI_USAGE;
		} else {
			return cli_error(CMD, CLI_USAGE, "unknown argument '%s' (see duet "
					 "tokenize --help)", a);
		}
	}
	if (!model || !prompt == !file)
		return cli_error(CMD, CLI_USAGE, "give -m FILE and one of -p TEXT, -f FILE");
	size_t len = 0;
	char *text = prompt ? strdup(prompt) : cli_read_file(file, &len);
	if (!text)
		return cli_error(CMD, CLI_FAIL, "cannot read '%s'", file ? file : "prompt");
	if (prompt)
		len = strlen(prompt);
	duet_model *m = NULL;
	duet_model_options mo = { .vocab_only = true };
	duet_status s = duet_model_load(model, &mo, &m);
	int32_t *out = NULL;
	size_t n = 0;
	if (s == DUET_OK) {
		s = duet_tokenize_all(m, text, len, !no_bos, special, &out, &n);
	}
	if (s == DUET_OK && ids) {
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf(i ? ", %d" : "%d", out[i]);
		printf("]\n");
	} else if (s == DUET_OK) {
		print_pieces(m, out, n);
	}
	if (s == DUET_OK && duet_model_warning(m)[0])
		fprintf(stderr, "duet tokenize: warning: %s\n", duet_model_warning(m));
	free(out);
	free(text);
	int rc = s == DUET_OK ? CLI_OK : cli_fail(CMD, s);
	duet_model_destroy(m);
	return rc;
}
