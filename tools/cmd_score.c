/* duet score: teacher-forced evaluation of a token sequence: the top-K
 * next-token candidates at every position, and NLL / perplexity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "score"

static const char usage_text[] =
	"usage: duet score -m FILE --tokens IDS [--top K] [--json] [options]\n"
	"  Feeds the whole sequence and reports, for every position, the K most\n"
	"  likely next tokens with their logits, the NLL of the token that\n"
	"  actually follows, and the mean NLL and perplexity over the sequence.\n"
	"  --top K          candidates per position (default 5)\n"
	"  --json           one JSON object: nll, perplexity, positions[] (each\n"
	"                   with pos, token, next, nll and top[] of {id, logit})\n"
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

static void report(const int32_t *tok, uint32_t n, const float *logits,
		   uint32_t n_vocab, uint32_t k, bool json)
{
	cand *c = malloc(k * sizeof *c);
	double total = 0;
	if (!c)
		return;
	if (json)
		printf("{\"n_tokens\":%u,\"positions\":[", n);
	for (uint32_t i = 0; i < n; i++) {
		const float *l = logits + (uint64_t)i * n_vocab;
		top_k(l, n_vocab, k, c);
		double nll = i + 1 < n ? nll_of(l, n_vocab, tok[i + 1]) : NAN;
		if (i + 1 < n)
			total += nll;
		if (json) {
			printf("%s{\"pos\":%u,\"token\":%d,\"next\":", i ? "," : "", i,
			       tok[i]);
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
			printf("%5u %7d", i, tok[i]);
			if (i + 1 < n)
				printf(" -> %7d  nll %8.4f ", tok[i + 1], nll);
			else
				printf("    %7s  nll %8s ", "", "-");
			for (uint32_t j = 0; j < k; j++)
				printf(" %d:%.4f", c[j].id, (double)c[j].logit);
			putchar('\n');
		}
	}
	double mean = n > 1 ? total / (n - 1) : NAN;
	if (json) {
		printf("],\"nll\":");
		json_num(stdout, mean);
		printf(",\"perplexity\":");
		json_num(stdout, exp(mean));
		printf("}\n");
	} else if (n > 1) {
		printf("mean nll %.6f over %u predictions, perplexity %.4f\n", mean,
		       n - 1, exp(mean));
	} else {
		printf("one token: nothing to predict, no nll\n");
	}
	free(c);
}

int cmd_score(int argc, char **argv)
{
	const char *model = NULL, *tokens = NULL;
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
	if (!model || !tokens)
		return cli_error(CMD, CLI_USAGE, "-m FILE and --tokens IDS are required");
	int32_t *tok;
	uint32_t n;
	if (!cli_tokens(CMD, tokens, &tok, &n))
		return CLI_USAGE;
	duet_model *m = NULL;
	duet_context *ctx = NULL;
	duet_device *dev = NULL;
	const float *logits;
	co.n_ctx = n;
	duet_status s = duet_model_load(model, NULL, &m);
	if (s != DUET_OK) {
		free(tok);
		return cli_fail(CMD, s);
	}
	int rc = cli_context(CMD, m, &be, &co, &dev, &ctx);
	if (rc == CLI_OK) {
		s = duet_context_eval(ctx, tok, n, true, &logits);
		if (s == DUET_OK) {
			duet_model_info info;
			duet_model_get_info(m, &info);
			report(tok, n, logits, info.n_vocab,
			       k < info.n_vocab ? k : info.n_vocab, json);
		}
		rc = cli_context_close(CMD, ctx, dev,
				       s == DUET_OK ? CLI_OK : cli_fail(CMD, s));
	}
	duet_model_destroy(m);
	free(tok);
	return rc;
}
