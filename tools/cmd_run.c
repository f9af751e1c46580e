/* duet run: generate tokens from a prompt, streaming them as they come. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "error.h"

#define CMD "run"

static const char usage_text[] =
	"usage: duet run -m FILE (-p TEXT | -f FILE | --tokens IDS | --chat ...)\n"
	"                [options]\n"
	"  -m, --model FILE        GGUF model\n"
	"  -p, --prompt TEXT       prompt text (BOS added as the model asks)\n"
	"  -f, --file FILE         prompt text from a file\n"
	"  --tokens IDS            prompt as token ids, e.g. 1,450,4996 (used as\n"
	"                          given: no BOS is added)\n"
	"  --special               turn control-token texts in the prompt into ids\n"
	"  --chat                  apply the model's chat template, -p being the\n"
	"                          user message\n"
	"  --system S, --user U    chat messages (imply --chat)\n"
	"  --chat-template NAME    use this template family instead of the model's\n"
	"                          (chatml, llama2, llama3, mistral-v7, gemma, phi3,\n"
	"                          zephyr, deepseek, plain, ...)\n"
	"  -n, --n-predict N       tokens to generate; -1 (default): until an\n"
	"                          end-of-generation token or a full context\n"
	"  --temp T                temperature, 0 = greedy (default 0.8)\n"
	"  --top-k K               keep the K most likely, 0 = off (default 40)\n"
	"  --top-p P               nucleus mass, 1 = off (default 0.95)\n"
	"  --min-p P               drop below P x the top prob (default 0.05)\n"
	"  --repeat-penalty R      1 = off (default 1.0)\n"
	"  --repeat-last-n N       history for the penalty (default 64)\n"
	"  -s, --seed S            sampling seed (default: random, printed)\n"
	"  -c, --ctx-size N        context positions (default min(model, 4096))\n"
	"  -b, --batch-size N      prompt tokens per forward pass (default 64)\n"
	"  -t, --threads N         CPU threads (default: CPUs, at most 8)\n"
	"  --ignore-eos            keep going after an end-of-generation token\n"
	"  --ids                   print the generated ids on one line, space\n"
	"                          separated, and nothing else on stdout\n"
	"  --no-display-prompt     do not echo the prompt\n"
	"  -md, --model-draft FILE a small model of the same vocabulary that\n"
	"                          drafts tokens for -m (also --draft)\n"
	"  --mode M                with a draft: spec (default; speculative\n"
	"                          decoding: at --temp 0 the output of -m alone,\n"
	"                          token for token; above, tokens drawn from -m's\n"
	"                          softmax(logits / temp) exactly, by rejection\n"
	"                          sampling; top-k/p, min-p and penalties do not\n"
	"                          apply), cascade (the draft writes while it is\n"
	"                          confident, -m takes over where it is not),\n"
	"                          llm (-m alone) or slm (the draft alone)\n"
	"  --draft-max K           tokens drafted per round, at most (default\n"
	"                          8, up to 16; adapts to the acceptance)\n"
	"  --show-source           cascade: mark each span with the model that\n"
	"                          wrote it, <slm>...</slm> and <llm>...</llm>\n"
	"                          (with --ids: s:ID and l:ID)\n"
	"  --cascade-metric M      margin (top-1 minus top-2 probability,\n"
	"                          default) or entropy (1 - normalised entropy)\n"
	"  --cascade-threshold X   the draft keeps the turn while its mean\n"
	"                          confidence is at least X (default 0.3 margin,\n"
	"                          0.6 entropy)\n"
	"  --cascade-window N      tokens that mean is taken over (default 2)\n"
	"  --cascade-span N        tokens -m writes per turn (default 8)\n";


typedef struct run_opts {
	const char *model, *tokens, *prompt, *file, *draft;
	duet_mode mode;
	bool mode_given, show_source;
	duet_cascade_params cp;
	uint32_t draft_max;
	cli_backend be;
	const char *system, *user, *chat_template;
	int32_t n_predict;
	duet_sampler_params sp;
	bool seed_given, ids, ignore_eos, no_prompt, special, chat;
	duet_context_options co;
} run_opts;

static bool parse(int argc, char **argv, run_opts *o, int *rc)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool ok = true;
		if (cli_is(a, "-h", "--help")) {
			fputs(usage_text, stdout);
			fputs(cli_backend_usage, stdout);
			*rc = CLI_OK;
			return false;
		}
		if (cli_is(a, "--ids", NULL)) { o->ids = true; continue; }
		if (cli_is(a, "--ignore-eos", NULL)) { o->ignore_eos = true; continue; }
		if (cli_is(a, "--no-display-prompt", NULL)) { o->no_prompt = true; continue; }
		if (cli_is(a, "--special", NULL)) { o->special = true; continue; }
		if (cli_is(a, "--show-source", NULL)) { o->show_source = true; continue; }
		if (cli_is(a, "--chat", NULL)) { o->chat = true; continue; }
		int be = cli_backend_option(CMD, argc, argv, &i, &o->be);
		if (be < 0)
			goto usage;
		if (be > 0)
			continue;
		if (a[0] != '-') {
			cli_error(CMD, CLI_USAGE, "unexpected argument '%s'", a);
			goto usage;
		}
		if (!cli_value(CMD, argc, argv, &i, &v))
			goto usage;
		if (cli_is(a, "-m", "--model")) o->model = v;
		else if (cli_is(a, "-md", "--model-draft") || cli_is(a, "--draft", NULL))
			o->draft = v;
		else if (cli_is(a, "--mode", NULL)) {
			static const duet_mode modes[] = { DUET_MODE_LLM, DUET_MODE_SLM,
							   DUET_MODE_SPEC, DUET_MODE_CASCADE };
			ok = cli_mode(CMD, v, modes, 4, &o->mode);
			o->mode_given = true;
		} else if (cli_is(a, "--cascade-metric", NULL)) {
			ok = !strcmp(v, "margin") || !strcmp(v, "entropy");
			o->cp.metric = strcmp(v, "entropy") ? DUET_CONF_MARGIN : DUET_CONF_ENTROPY;
			if (!ok)
				cli_error(CMD, CLI_USAGE, "unknown --cascade-metric '%s' "
					  "(margin or entropy)", v);
		} else if (cli_is(a, "--cascade-threshold", NULL)) {
			ok = cli_f32(CMD, a, v, 0.0f, 1.0f, &o->cp.threshold);
			if (ok && o->cp.threshold <= 0) {
				cli_error(CMD, CLI_USAGE, "--cascade-threshold must be above 0");
				ok = false;
			}
		} else if (cli_is(a, "--cascade-window", NULL))
			ok = cli_u32(CMD, a, v, 1, 64, &o->cp.window);
		else if (cli_is(a, "--cascade-span", NULL))
			ok = cli_u32(CMD, a, v, 1, 1u << 20, &o->cp.llm_span);
		else if (cli_is(a, "--draft-max", NULL))
			ok = cli_u32(CMD, a, v, 1, 16, &o->draft_max);
		else if (cli_is(a, "--tokens", NULL)) o->tokens = v;
		else if (cli_is(a, "-p", "--prompt")) o->prompt = v;
		else if (cli_is(a, "-f", "--file")) o->file = v;
		else if (cli_is(a, "--system", NULL)) { o->system = v; o->chat = true; }
		else if (cli_is(a, "--user", NULL)) { o->user = v; o->chat = true; }
		else if (cli_is(a, "--chat-template", NULL)) { o->chat_template = v; o->chat = true; }
		else if (cli_is(a, "-n", "--n-predict"))
			ok = cli_i32(CMD, a, v, -1, INT32_MAX, &o->n_predict);
		else if (cli_is(a, "--temp", NULL))
			ok = cli_f32(CMD, a, v, 0.0f, 100.0f, &o->sp.temperature);
		else if (cli_is(a, "--top-k", NULL))
			ok = cli_i32(CMD, a, v, 0, INT32_MAX, &o->sp.top_k);
		else if (cli_is(a, "--top-p", NULL))
			ok = cli_f32(CMD, a, v, 0.0f, 1.0f, &o->sp.top_p);
		else if (cli_is(a, "--min-p", NULL))
			ok = cli_f32(CMD, a, v, 0.0f, 1.0f, &o->sp.min_p);
		else if (cli_is(a, "--repeat-penalty", NULL))
			ok = cli_f32(CMD, a, v, 0.0f, 100.0f, &o->sp.repeat_penalty);
		else if (cli_is(a, "--repeat-last-n", NULL))
			ok = cli_i32(CMD, a, v, 1, 1 << 20, &o->sp.repeat_last_n);
		else if (cli_is(a, "-s", "--seed")) {
			ok = cli_u64(CMD, a, v, &o->sp.seed);
			o->seed_given = true;
		} else if (cli_is(a, "-c", "--ctx-size"))
			ok = cli_u32(CMD, a, v, 1, 1u << 24, &o->co.n_ctx);
		else if (cli_is(a, "-b", "--batch-size"))
			ok = cli_u32(CMD, a, v, 1, 1u << 16, &o->co.n_batch);
		else if (cli_is(a, "-t", "--threads"))
			ok = cli_u32(CMD, a, v, 1, 256, &o->co.n_threads);
		else {
			cli_error(CMD, CLI_USAGE, "unknown option '%s' (see duet run "
				  "--help)", a);
			goto usage;
		}
		if (!ok)
			goto usage;
	}
	if (!o->model) {
		cli_error(CMD, CLI_USAGE, "-m FILE is required");
		goto usage;
	}
	if (o->draft && !o->mode_given)
		o->mode = DUET_MODE_SPEC;
	if (o->mode != DUET_MODE_LLM && !o->draft) {
		cli_error(CMD, CLI_USAGE, "--mode %s needs a draft model (-md FILE)",
			  cli_mode_name(o->mode));
		goto usage;
	}
	if (o->show_source && o->mode != DUET_MODE_CASCADE) {
		cli_error(CMD, CLI_USAGE, "--show-source goes with --mode cascade");
		goto usage;
	}

	int sources = !!o->tokens + !!o->prompt + !!o->file;
	if (o->chat ? (o->tokens || (o->user && (o->prompt || o->file)) ||
		       (!o->user && !o->prompt && !o->file))
		    : sources != 1) {
		cli_error(CMD, CLI_USAGE, o->chat
			  ? "--chat takes the user message from --user, -p or -f"
			  : "give the prompt as -p TEXT, -f FILE or --tokens IDS");
		goto usage;
	}
	return true;
usage:
	*rc = CLI_USAGE;
	return false;
}

/* Prints a token's bytes, holding back an incomplete UTF-8 tail. */
static void put_token(const duet_model *m, duet_utf8_stream *st, int32_t tok)
{
	char buf[256], out[sizeof buf + 4];
	size_t len;
	if (duet_model_token_bytes(m, tok, buf, sizeof buf, &len) == DUET_OK)
		fwrite(out, 1, duet_utf8_stream_push(st, buf, len, out), stdout);
}

typedef struct gen {
	duet_model *model;
	duet_context *ctx;
	duet_sampler *smp;
	const run_opts *o;
	uint32_t n_vocab;
	uint32_t n_gen;
	int src;                /* model of the open --show-source span, or -1 */
	double t_prompt, t_gen;
	duet_utf8_stream out;
} gen;

/* --show-source: ends the open span, its held-back bytes before the mark. */
static void close_span(gen *g)
{
	char tail[4];
	fwrite(tail, 1, duet_utf8_stream_flush(&g->out, tail), stdout);
	if (g->src >= 0)
		fputs(g->src == DUET_SOURCE_LLM ? "</llm>" : "</slm>", stdout);
}

/* Prints one generated token; false when generation ends with it. src:
 * the cascade's model of the token, or -1. */
static bool emit_from(gen *g, int32_t tok, bool first, int src)
{
	g->n_gen++;
	bool mark = g->o->show_source && src >= 0;
	if (g->o->ids && mark) {
		printf(first ? "%c:%d" : " %c:%d", src == DUET_SOURCE_LLM ? 'l' : 's', tok);
	} else if (g->o->ids) {
		printf(first ? "%d" : " %d", tok);
	} else {
		if (mark && src != g->src) {
			close_span(g);
			fputs(src == DUET_SOURCE_LLM ? "<llm>" : "<slm>", stdout);
			g->src = src;
		}
		if (!duet_model_token_is_eog(g->model, tok))
			put_token(g->model, &g->out, tok);
	}
	fflush(stdout);
	if (!g->o->ignore_eos && duet_model_token_is_eog(g->model, tok))
		return false;
	return g->o->n_predict < 0 || g->n_gen < (uint32_t)g->o->n_predict;
}

static bool emit(gen *g, int32_t tok, bool first)
{
	return emit_from(g, tok, first, -1);
}

/* The cascade: the draft writes while confident, -m where it is not. */
static duet_status generate_cascade(gen *g, duet_context *dctx, const int32_t *prompt,
				    uint32_t n_prompt, duet_cascade_stats *st)
{
	duet_cascade *cs;
	int32_t tok;
	duet_source src;
	duet_cascade_params prm = g->o->cp;
	prm.temperature = g->o->sp.temperature;
	prm.seed = g->o->sp.seed;
	double t0 = duet_now_ms();
	duet_status s = duet_cascade_create(g->ctx, dctx, prompt, n_prompt, &prm, &tok,
					    &src, &cs);
	g->t_prompt = duet_now_ms() - t0;
	if (s != DUET_OK)
		return s;
	bool more = g->o->n_predict != 0 && emit_from(g, tok, true, (int)src);
	while (more && duet_context_n_past(g->ctx) < duet_context_n_ctx(g->ctx) &&
	       duet_context_n_past(dctx) < duet_context_n_ctx(dctx)) {
		t0 = duet_now_ms();
		s = duet_cascade_step(cs, &tok, &src);
		g->t_gen += duet_now_ms() - t0;
		if (s != DUET_OK)
			break;
		more = emit_from(g, tok, false, (int)src);
	}
	if (g->o->show_source && !g->o->ids && g->src >= 0)
		close_span(g);
	duet_cascade_get_stats(cs, st);
	duet_cascade_destroy(cs);
	return s;
}

/* Greedy speculative decoding with the draft context: the target's own
 * greedy tokens, several per target pass. */
static duet_status generate_spec(gen *g, duet_context *dctx, const int32_t *prompt,
				 uint32_t n_prompt, duet_spec_stats *st)
{
	int32_t tok, buf[17];
	duet_spec *sp;
	double t0 = duet_now_ms();
	duet_spec_params prm = { .k = g->o->draft_max, .temperature = g->o->sp.temperature,
				 .seed = g->o->sp.seed };
	duet_status s = duet_spec_create(g->ctx, dctx, prompt, n_prompt, &prm, &tok, &sp);
	g->t_prompt = duet_now_ms() - t0;
	if (s != DUET_OK)
		return s;
	bool more = g->o->n_predict != 0 && emit(g, tok, true);
	while (more && duet_context_n_past(g->ctx) < duet_context_n_ctx(g->ctx)) {
		uint32_t cap = 17, n;
		if (g->o->n_predict >= 0 && (uint32_t)g->o->n_predict - g->n_gen < cap)
			cap = (uint32_t)g->o->n_predict - g->n_gen;
		t0 = duet_now_ms();
		s = duet_spec_step(sp, buf, cap, &n);
		g->t_gen += duet_now_ms() - t0;
		for (uint32_t i = 0; s == DUET_OK && i < n && more; i++)
			more = emit(g, buf[i], false);
		if (s != DUET_OK)
			break;
	}
	duet_spec_get_stats(sp, st);
	duet_spec_destroy(sp);
	return s;
}

/* Samples, prints and feeds back tokens until -n, end of generation or a
 * full context. */
static duet_status generate(gen *g, const float *logits)
{
	bool first = true;
	while (g->o->n_predict < 0 || g->n_gen < (uint32_t)g->o->n_predict) {
		int32_t tok;
		duet_status s = duet_sampler_sample(g->smp, logits, g->n_vocab, &tok);
		if (s != DUET_OK)
			return s;
		duet_sampler_accept(g->smp, tok);
		bool more = emit(g, tok, first);
		first = false;
		if (!more || duet_context_n_past(g->ctx) == duet_context_n_ctx(g->ctx))
			break;
		double t0 = duet_now_ms();
		s = duet_context_eval(g->ctx, &tok, 1, false, &logits);
		g->t_gen += duet_now_ms() - t0;
		if (s != DUET_OK)
			return s;
	}
	return DUET_OK;
}

static int run(const run_opts *o, duet_model *m, const int32_t *prompt,
	       uint32_t n_prompt)
{
	duet_model_info info;
	duet_model_get_info(m, &info);
	gen g = { .model = m, .o = o, .n_vocab = info.n_vocab, .src = -1 };
	duet_device *dev;
	duet_context_options co = o->co;
	int rc = cli_context(CMD, m, &o->be, &co, &dev, &g.ctx);
	if (rc != CLI_OK)
		return rc;
	duet_status s = duet_sampler_create(&o->sp, &g.smp);
	duet_model *dm = NULL;
	duet_context *dctx = NULL;
	duet_spec_stats sst = { 0 };
	duet_cascade_stats cst = { 0 };
	if (s == DUET_OK && (o->mode == DUET_MODE_SPEC || o->mode == DUET_MODE_CASCADE))
		s = cli_draft_context(&o->be, &co, g.ctx, dev, o->draft, &dm, &dctx);
	if (s != DUET_OK)
		goto out;
	for (uint32_t i = 0; i < n_prompt; i++)
		duet_sampler_accept(g.smp, prompt[i]);
	if (!o->ids && !o->no_prompt && o->tokens)
		for (uint32_t i = 0; i < n_prompt; i++)
			put_token(m, &g.out, prompt[i]);
	else if (!o->ids && !o->no_prompt && !o->chat)
		fputs(o->prompt ? o->prompt : "", stdout);
	const float *logits;
	if (o->mode == DUET_MODE_SPEC) {
		s = generate_spec(&g, dctx, prompt, n_prompt, &sst);
	} else if (o->mode == DUET_MODE_CASCADE) {
		s = generate_cascade(&g, dctx, prompt, n_prompt, &cst);
	} else {
		double t0 = duet_now_ms();
		s = duet_context_eval(g.ctx, prompt, n_prompt, false, &logits);
		g.t_prompt = duet_now_ms() - t0;
		if (s == DUET_OK)
			s = generate(&g, logits);
	}
	char tail[4];
	fwrite(tail, 1, duet_utf8_stream_flush(&g.out, tail), stdout);
	putchar('\n');
	fflush(stdout);
	/* Stats only on success, so an error stays a single line. */
	char desc[400];
	if (s == DUET_OK)
		fprintf(stderr,
			"duet run: prompt %u tokens in %.1f ms (%.1f t/s), "
			"generated %u tokens in %.1f ms (%.1f t/s), seed %llu, "
			"%s\n",
			n_prompt, g.t_prompt, n_prompt / (g.t_prompt / 1e3),
			g.n_gen, g.t_gen,
			g.n_gen > 1 ? (g.n_gen - 1) / (g.t_gen / 1e3) : 0.0,
			(unsigned long long)o->sp.seed,
			cli_backend_desc(g.ctx, desc, sizeof desc));
	if (s == DUET_OK && o->mode == DUET_MODE_CASCADE)
		fprintf(stderr, "duet run: cascade: %llu of %llu tokens by the draft "
			"(%.1f%%), %llu handovers, %llu target passes over %llu tokens\n",
			(unsigned long long)cst.slm_tokens, (unsigned long long)cst.tokens,
			cst.tokens ? 100.0 * (double)cst.slm_tokens / (double)cst.tokens : 0.0,
			(unsigned long long)cst.handovers, (unsigned long long)cst.llm_passes,
			(unsigned long long)cst.llm_evaluated);
	if (s == DUET_OK && o->mode == DUET_MODE_SPEC)
		fprintf(stderr, "duet run: spec: %llu of %llu drafted tokens accepted "
			"(%.1f%%), %llu tokens in %llu target passes (%.2f per pass)\n",
			(unsigned long long)sst.accepted, (unsigned long long)sst.drafted,
			sst.drafted ? 100.0 * (double)sst.accepted / (double)sst.drafted : 0.0,
			(unsigned long long)sst.tokens, (unsigned long long)sst.llm_passes,
			sst.llm_passes ? (double)sst.tokens / (double)sst.llm_passes : 0.0);
out:
	duet_context_destroy(dctx);
	duet_model_destroy(dm);
	duet_sampler_destroy(g.smp);
	return cli_context_close(CMD, g.ctx, dev,
				 s == DUET_OK ? CLI_OK : cli_fail(CMD, s));
}

/* Tokenizes the text prompt, or the chat messages through the template. */
static duet_status prompt_tokens(const run_opts *o, const duet_model *m,
				 int32_t **ids, uint32_t *n)
{
	size_t len = 0, count = 0;
	char *file = NULL;
	const char *text = o->user ? o->user : o->prompt;
	if (o->file && !(file = cli_read_file(o->file, &len)))
		return DUET_ERR(DUET_E_IO, "cannot read '%s'", o->file);
	if (file)
		text = file;
	else
		len = strlen(text);
	int32_t *out = NULL;
	duet_status s;
	if (o->chat) {
		duet_chat_message msgs[2];
		size_t k = 0;
		if (o->system)
			msgs[k++] = (duet_chat_message){ "system", o->system };
		msgs[k++] = (duet_chat_message){ "user", text };
		/* the first call counts, the second fills: a prompt may have
		 * more tokens than bytes */
		s = duet_chat_tokenize(m, o->chat_template, msgs, k, true, NULL, 0, &count);
		if (s == DUET_E_RANGE) {
			out = malloc(count * sizeof *out);
			s = out ? duet_chat_tokenize(m, o->chat_template, msgs, k, true, out,
						     count, &count)
				: DUET_ERR(DUET_E_NOMEM, "out of memory");
		}
	} else {
		s = duet_tokenize_all(m, text, len, true, o->special, &out, &count);
	}
	free(file);
	if (s == DUET_OK && count == 0)
		s = DUET_ERR(DUET_E_INVAL, "the prompt gives no tokens");
	if (s != DUET_OK) {
		free(out);
		return s;
	}
	*ids = out;
	*n = (uint32_t)count;
	return DUET_OK;
}

int cmd_run(int argc, char **argv)
{
	run_opts o = { .n_predict = -1 };
	o.sp = (duet_sampler_params){ .temperature = 0.8f, .top_k = 40,
				      .top_p = 0.95f, .min_p = 0.05f,
				      .repeat_penalty = 1.0f, .repeat_last_n = 64 };
	int rc = CLI_OK;
	if (!parse(argc, argv, &o, &rc))
		return rc;
	if (!o.seed_given)
		o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int32_t *prompt = NULL;
	uint32_t n_prompt = 0;
	if (o.tokens && !cli_tokens(CMD, o.tokens, &prompt, &n_prompt))
		return CLI_USAGE;
	duet_model *m;
	duet_status s = duet_model_load(o.mode == DUET_MODE_SLM ? o.draft : o.model,
					&o.be.mo, &m);
	if (s != DUET_OK) {
		free(prompt);
		return cli_fail(CMD, s);
	}
	if (!o.tokens && (s = prompt_tokens(&o, m, &prompt, &n_prompt)) != DUET_OK) {
		duet_model_destroy(m);
		return cli_fail(CMD, s);
	}
	if (duet_model_warning(m)[0])
		fprintf(stderr, "duet run: warning: %s\n", duet_model_warning(m));
	rc = run(&o, m, prompt, n_prompt);
	duet_model_destroy(m);
	free(prompt);
	return rc;
}
