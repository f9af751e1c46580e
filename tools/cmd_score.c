/* duet score: teacher-forced evaluation of a token sequence: the top-K
 * next-token candidates at every position, and NLL / perplexity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"

#define CMD "score"

static const char usage_text[] =
	"usage: duet score -m FILE (--tokens IDS | -f FILE | -p TEXT) [options]\n"
	"  Teacher-forced evaluation: the mean NLL (nats/token) and perplexity\n"
	"  of the sequence, and for every position the K most likely next\n"
	"  tokens, their logits and the NLL of the token that follows.\n"
	"  --tokens IDS     token ids (\"1,2,3\"), used as they are\n"
	"  -f, --file FILE  text to tokenize (BOS added), \"-\" for stdin\n"
	"  -p, --prompt T   text to tokenize (BOS added)\n"
	"  -c, --ctx-size N score in consecutive windows of N tokens, each from\n"
	"                   an empty cache (default: the model's trained context)\n"
	"  --top K          candidates per position (default 5)\n"
	"  --positions      print every position (default with --tokens only)\n"
	"  --json           one JSON object: n_tokens, n_predictions, windows,\n"
	"                   nll, perplexity and, with positions, positions[]\n"
	"                   (pos, token, next, nll, top[] of {id, logit})\n"
	"  -b, --batch-size N   tokens per forward pass (default 64)\n"
	"  -t, --threads N      CPU threads\n"
	"";

typedef struct cand {
	int32_t id;
	float logit;
} cand;

/* The k largest logits in descending order (ties: lower id first). */
static void top_k(const float *l, uint32_t n, uint32_t k, cand *out)
{
	uint32_t have = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (have == k && !(l[i] > out[k - 1].logit))
			continue;
		uint32_t j = have < k ? have++ : k - 1;
		while (j > 0 && l[i] > out[j - 1].logit) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = (cand){ (int32_t)i, l[i] };
	}
}

/* -log softmax(l)[target], in double. */
static double nll_of(const float *l, uint32_t n, int32_t target)
{
	double max = -INFINITY, sum = 0;
	for (uint32_t i = 0; i < n; i++)
		max = l[i] > max ? l[i] : max;
	for (uint32_t i = 0; i < n; i++)
		sum += exp((double)l[i] - max);
	return -((double)l[target] - max - log(sum));
}

/* Prints the positions of one window (tok[0..n), global index `base`) and
 * returns the sum of the NLL of its n - 1 predictions. */
static double report_window(const int32_t *tok, uint32_t n, uint32_t base,
			    const float *logits, uint32_t n_vocab, uint32_t k,
			    bool json, bool positions, cand *c)
{
	double total = 0;
	for (uint32_t i = 0; i < n; i++) {
		const float *l = logits + (uint64_t)i * n_vocab;
		double nll = i + 1 < n ? nll_of(l, n_vocab, tok[i + 1]) : NAN;
		if (i + 1 < n)
			total += nll;
		if (!positions)
			continue;
		top_k(l, n_vocab, k, c);
		if (json) {
			printf("%s{\"pos\":%u,\"token\":%d,\"next\":", base + i ? "," : "",
			       base + i, tok[i]);
			if (i + 1 < n)
				printf("%d", tok[i + 1]);
			else
				printf("null");
			printf(",\"nll\":");
			json_num(stdout, nll);
			printf(",\"top\":[");
			for (uint32_t j = 0; j < k; j++) {
				printf("%s{\"id\":%d,\"logit\":", j ? "," : "", c[j].id);
				json_num(stdout, c[j].logit);
				putchar('}');
			}
			printf("]}");
		} else {
			printf("%5u %7d", base + i, tok[i]);
			if (i + 1 < n)
				printf(" -> %7d  nll %8.4f ", tok[i + 1], nll);
			else
				printf("    %7s  nll %8s ", "", "-");
			for (uint32_t j = 0; j < k; j++)
				printf(" %d:%.4f", c[j].id, (double)c[j].logit);
			putchar('\n');
		}
	}
	return total;
}

/* Tokenizes text (BOS added) into a new array. */
static duet_status text_tokens(const duet_model *m, const char *text, size_t len,
			       int32_t **out, uint32_t *n)
{
	size_t count = 0;
	int32_t *ids;
	duet_status s = duet_tokenize_all(m, text, len, true, false, &ids, &count);
	if (s == DUET_OK && count > UINT32_MAX)
		s = DUET_ERR(DUET_E_INVAL, "text too long: %zu tokens", count);
	if (s != DUET_OK) {
		free(ids);
		return s;
	}
	*out = ids;
	*n = (uint32_t)count;
	return DUET_OK;
}

/* Scores tok[0..n) in windows of `win` tokens; prints positions and the
 * summary. */
static duet_status score(duet_context *ctx, const int32_t *tok, uint32_t n,
			 uint32_t win, uint32_t n_vocab, uint32_t k, bool json,
			 bool positions)
{
	cand *c = malloc(k * sizeof *c);
	if (!c)
		return DUET_E_NOMEM;
	double total = 0;
	uint32_t preds = 0, windows = 0;
	duet_status s = DUET_OK;
	if (json)
		printf("{\"n_tokens\":%u%s", n, positions ? ",\"positions\":[" : "");
	for (uint32_t off = 0; off < n && s == DUET_OK; off += win) {
		uint32_t len = n - off < win ? n - off : win;
		if (len < 2 && windows > 0)
			break; /* a lone last token predicts nothing */
		const float *logits;
		duet_context_truncate(ctx, 0);
		s = duet_context_eval(ctx, tok + off, len, true, &logits);
		if (s != DUET_OK)
			break;
		total += report_window(tok + off, len, off, logits, n_vocab, k, json,
				       positions, c);
		preds += len - 1;
		windows++;
	}
	free(c);
	if (s != DUET_OK) {
		if (json)
			printf("%s}\n", positions ? "]" : "");
		return s;
	}
	double mean = preds ? total / preds : NAN;
	if (json) {
		printf("%s,\"n_predictions\":%u,\"windows\":%u,\"nll\":",
		       positions ? "]" : "", preds, windows);
		json_num(stdout, mean);
		printf(",\"perplexity\":");
		json_num(stdout, exp(mean));
		printf("}\n");
	} else if (preds) {
		printf("mean nll %.6f over %u predictions in %u window%s, perplexity %.4f\n",
		       mean, preds, windows, windows == 1 ? "" : "s", exp(mean));
	} else {
		printf("one token: nothing to predict, no nll\n");
	}
	return DUET_OK;
}

int cmd_score(int argc, char **argv)
{
	const char *model = NULL, *tokens = NULL, *file = NULL, *prompt = NULL;
	bool positions = false;
	uint32_t win = 0;
	cli_backend be = { 0 };
	uint32_t k = 5;
	bool json = false;
	duet_context_options co = { 0 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool ok = true;
		if (cli_is(a, "-h", "--help")) {
			fputs(usage_text, stdout);
			fputs(cli_backend_usage, stdout);
			return CLI_OK;
		}
		if (cli_is(a, "--json", NULL)) {
			json = true;
			continue;
		}
		if (cli_is(a, "--positions", NULL)) {
			positions = true;
			continue;
		}
		int bo = cli_backend_option(CMD, argc, argv, &i, &be);
		if (bo < 0)
			return CLI_USAGE;
		if (bo > 0)
			continue;
		if (a[0] != '-')
			return cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", a);
		if (!cli_value(CMD, argc, argv, &i, &v))
			return CLI_USAGE;
		if (cli_is(a, "-m", "--model")) model = v;
		else if (cli_is(a, "--tokens", NULL)) tokens = v;
		else if (cli_is(a, "-f", "--file")) file = v;
		else if (cli_is(a, "-p", "--prompt")) prompt = v;
		else if (cli_is(a, "-c", "--ctx-size")) ok = cli_u32(CMD, a, v, 2, 1u << 20, &win);
		else if (cli_is(a, "--top", NULL)) ok = cli_u32(CMD, a, v, 1, 1000, &k);
		else if (cli_is(a, "-b", "--batch-size"))
			ok = cli_u32(CMD, a, v, 1, 1u << 16, &co.n_batch);
		else if (cli_is(a, "-t", "--threads"))
			ok = cli_u32(CMD, a, v, 1, 256, &co.n_threads);
		else
			return cli_error(CMD, CLI_USAGE, "unknown option '%s' (see duet "
					 "score --help)", a);
		if (!ok)
			return CLI_USAGE;
	}
	if (!model || (!!tokens + !!file + !!prompt) != 1)
		return cli_error(CMD, CLI_USAGE, "give -m FILE and one of --tokens IDS, "
				 "-f FILE, -p TEXT");
	int32_t *tok = NULL;
	uint32_t n = 0;
	if (tokens) {
		if (!cli_tokens(CMD, tokens, &tok, &n))
			return CLI_USAGE;
		positions = true;
	}
	duet_model *m = NULL;
	duet_context *ctx = NULL;
	duet_device *dev = NULL;
	duet_status s = duet_model_load(model, &be.mo, &m);
	if (s == DUET_OK && !tokens) {
		size_t len = prompt ? strlen(prompt) : 0;
		char *text = prompt ? NULL : cli_read_file(file, &len);
		if (!prompt && !text)
			s = DUET_ERR(DUET_E_IO, "cannot read '%s'", file);
		else
			s = text_tokens(m, prompt ? prompt : text, len, &tok, &n);
		free(text);
	}
	if (s != DUET_OK) {
		duet_model_destroy(m);
		free(tok);
		return cli_fail(CMD, s);
	}
	duet_model_info info;
	duet_model_get_info(m, &info);
	/* like llama.cpp's perplexity: windows of the trained context unless
	 * -c says otherwise */
	if (!win)
		win = info.n_ctx_train ? info.n_ctx_train : n;
	if (win > n)
		win = n;
	co.n_ctx = win;
	int rc = cli_context(CMD, m, &be, &co, &dev, &ctx);
	if (rc == CLI_OK) {
		s = score(ctx, tok, n, win, info.n_vocab, k < info.n_vocab ? k : info.n_vocab,
			  json, positions);
		rc = cli_context_close(CMD, ctx, dev,
				       s == DUET_OK ? CLI_OK : cli_fail(CMD, s));
	}
	duet_model_destroy(m);
	free(tok);
	return rc;
}
