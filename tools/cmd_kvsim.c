/* duet kv-sim: replays a workload of chat requests through the real KV
 * arbiter (runtime/kv_pool, pages counted, not backed) and prints its
 * figures beside a fixed-reservation baseline. Format: bench/kv_workload.md. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kv.h"
#include "kv_pool.h"
#include "weights.h"

#define MAX_MODELS 8
#define MAX_PREFIX 16
#define MAX_PER_REQ 4

typedef struct sim_model {
	char name[32];
	duet_kv_model m;
	uint32_t ctx;   /* what a fixed reservation holds per request */
	uint32_t id;
} sim_model;

typedef struct sim_prefix {
	char name[32];
	uint32_t model, tokens;
	duet_kv_seq *seq;
} sim_prefix;

typedef enum req_state { R_PENDING, R_ACTIVE, R_DONE, R_FAILED } req_state;

typedef struct sim_req {
	uint32_t at, prompt, output, min;
	duet_kv_prio prio;
	uint32_t n_models, model[MAX_PER_REQ];
	int prefix;              /* -1: none */
	req_state state;
	duet_kv_seq *seq[MAX_PER_REQ];
	uint32_t pos[MAX_PER_REQ];
	bool baseline_in;        /* admitted by the fixed-reservation baseline */
	uint32_t line;
} sim_req;

typedef struct sim {
	sim_model models[MAX_MODELS];
	uint32_t n_models;
	sim_prefix prefixes[MAX_PREFIX];
	uint32_t n_prefixes;
	sim_req *reqs;
	uint32_t n_reqs, cap_reqs;
} sim;

static const char *CMD = "kv-sim";

static int find_model(const sim *s, const char *name, size_t n)
{
	for (uint32_t i = 0; i < s->n_models; i++)
		if (strlen(s->models[i].name) == n && !strncmp(s->models[i].name, name, n))
			return (int)i;
	return -1;
}

/* "key=value" with a number in [1, hi]. */
static bool kv_num(const char *tok, const char *key, uint32_t hi, uint32_t *out,
		   bool *matched)
{
	size_t n = strlen(key);
	if (strncmp(tok, key, n) || tok[n] != '=')
		return true;
	*matched = true;
	char *end;
	unsigned long v = strtoul(tok + n + 1, &end, 10);
	if (*end || v == 0 || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int parse_error(const char *path, uint32_t line, const char *what)
{
	return cli_error(CMD, CLI_FAIL, "%s:%u: %s", path, line, what);
}

static int parse(sim *s, const char *path, char *text)
{
	uint32_t line = 0;
	for (char *l = text, *nl; l; l = nl) {
		nl = strchr(l, '\n');
		if (nl)
			*nl++ = 0;
		line++;
		char *hash = strchr(l, '#');
		if (hash)
			*hash = 0;
		char *tok[16];
		int n = 0;
		for (char *sv = NULL, *t = strtok_r(l, " \t\r", &sv); t && n < 16;
		     t = strtok_r(NULL, " \t\r", &sv))
			tok[n++] = t;
		if (n == 0)
			continue;
		if (!strcmp(tok[0], "model")) {
			if (n < 2 || s->n_models == MAX_MODELS || strlen(tok[1]) >= 32 ||
			    find_model(s, tok[1], strlen(tok[1])) >= 0)
				return parse_error(path, line, "model NAME layers=L kv_dim=D "
						   "[elt=B] [tps=T] [ctx=C] (a new name, at most 8)");
			sim_model *m = &s->models[s->n_models];
			memset(m, 0, sizeof *m);
			strcpy(m->name, tok[1]);
			m->ctx = 4096;
			uint32_t tps = 1000, elt = 2;
			const char *type = NULL;
			for (int i = 2; i < n; i++) {
				bool hit = false, ok = kv_num(tok[i], "layers", 1024, &m->m.n_layer, &hit) &&
						      kv_num(tok[i], "kv_dim", 1 << 20, &m->m.n_embd_kv, &hit) &&
						      kv_num(tok[i], "elt", 8, &elt, &hit) &&
						      kv_num(tok[i], "tps", 10000000, &tps, &hit) &&
						      kv_num(tok[i], "ctx", 1 << 24, &m->ctx, &hit);
				if (!strncmp(tok[i], "type=", 5))
					type = tok[i] + 5, hit = true;
				if (!ok || !hit)
					return parse_error(path, line, "model: bad or unknown "
							   "field (layers= kv_dim= elt= type= tps= ctx=)");
			}
			if (!m->m.n_layer || !m->m.n_embd_kv)
				return parse_error(path, line, "model needs layers= and kv_dim=");
			duet_kv_type kt;
			if (type && !duet_kv_type_parse(type, &kt))
				return parse_error(path, line, "model: type= is f16, f32 or q8_0");
			m->m.row_bytes = type ? duet_kv_row_bytes(kt, m->m.n_embd_kv)
					      : m->m.n_embd_kv * elt;
			if (!m->m.row_bytes)
				return parse_error(path, line, "model: a q8_0 kv_dim is a "
						   "multiple of 32");
			m->m.recompute_tps = tps;
			s->n_models++;
		} else if (!strcmp(tok[0], "prefix")) {
			uint32_t tokens;
			int mi = n == 4 ? find_model(s, tok[2], strlen(tok[2])) : -1;
			if (mi < 0 || s->n_prefixes == MAX_PREFIX || strlen(tok[1]) >= 32 ||
			    !cli_u32(CMD, "prefix tokens", tok[3], 1, 1 << 24, &tokens))
				return parse_error(path, line, "prefix NAME MODEL TOKENS (a "
						   "declared model, at most 16 prefixes)");
			sim_prefix *p = &s->prefixes[s->n_prefixes++];
			memset(p, 0, sizeof *p);
			strcpy(p->name, tok[1]);
			p->model = (uint32_t)mi;
			p->tokens = tokens;
		} else if (!strcmp(tok[0], "request")) {
			if (n < 6)
				return parse_error(path, line, "request AT PRIO MODELS PROMPT "
						   "OUTPUT [prefix=NAME] [min=N]");
			if (s->n_reqs == s->cap_reqs) {
				uint32_t cap = s->cap_reqs ? 2 * s->cap_reqs : 64;
				sim_req *r = realloc(s->reqs, cap * sizeof *r);
				if (!r)
					return cli_error(CMD, CLI_FAIL, "out of memory");
				s->reqs = r;
				s->cap_reqs = cap;
			}
			sim_req *r = &s->reqs[s->n_reqs];
			memset(r, 0, sizeof *r);
			r->prefix = -1;
			r->line = line;
			if (!cli_u32(CMD, "request AT", tok[1], 0, 1u << 30, &r->at) ||
			    !cli_u32(CMD, "request PROMPT", tok[4], 1, 1 << 24, &r->prompt) ||
			    !cli_u32(CMD, "request OUTPUT", tok[5], 0, 1 << 24, &r->output))
				return parse_error(path, line, "request: bad number");
			if (!strcmp(tok[2], "interactive"))
				r->prio = DUET_KV_INTERACTIVE;
			else if (!strcmp(tok[2], "normal"))
				r->prio = DUET_KV_NORMAL;
			else if (!strcmp(tok[2], "background"))
				r->prio = DUET_KV_BACKGROUND;
			else
				return parse_error(path, line, "priority: interactive, "
						   "normal or background");
			for (const char *m = tok[3]; *m;) {
				size_t len = strcspn(m, "+");
				int mi = find_model(s, m, len);
				if (mi < 0 || r->n_models == MAX_PER_REQ)
					return parse_error(path, line, "MODELS: declared model "
							   "names joined by '+'");
				r->model[r->n_models++] = (uint32_t)mi;
				m += len + (m[len] == '+');
			}
			for (int i = 6; i < n; i++) {
				bool hit = false;
				if (!strncmp(tok[i], "prefix=", 7)) {
					for (uint32_t k = 0; k < s->n_prefixes; k++)
						if (!strcmp(s->prefixes[k].name, tok[i] + 7) &&
						    (r->prefix < 0 || s->prefixes[k].tokens >
									      s->prefixes[r->prefix].tokens))
							r->prefix = (int)k; /* the longest of the name */
					if (r->prefix < 0)
						return parse_error(path, line, "unknown prefix");
				} else if (!kv_num(tok[i], "min", 1 << 24, &r->min, &hit) || !hit) {
					return parse_error(path, line, "request: unknown field "
							   "(prefix= min=)");
				}
			}
			if (r->prefix >= 0 && s->prefixes[r->prefix].tokens >= r->prompt)
				return parse_error(path, line, "the prefix must be shorter "
						   "than the prompt");
			s->n_reqs++;
		} else {
			return parse_error(path, line, "unknown line (model, prefix, request)");
		}
	}
	if (!s->n_models || !s->n_reqs)
		return cli_error(CMD, CLI_FAIL, "%s: no model or no request", path);
	return CLI_OK;
}

static void close_req(sim_req *r)
{
	for (uint32_t k = 0; k < r->n_models; k++) {
		duet_kv_seq_close(r->seq[k]);
		r->seq[k] = NULL;
	}
}

/* Opens request r's sequences; sharing the prefix of the model it is for. */
static duet_status admit(sim *s, duet_kv_pool *p, sim_req *r)
{
	for (uint32_t k = 0; k < r->n_models; k++) {
		const sim_model *m = &s->models[r->model[k]];
		duet_status st = duet_kv_seq_open(p, m->id, r->prio, r->min, &r->seq[k]);
		if (st != DUET_OK)
			return st;
		r->pos[k] = 0;
		/* the prefix of that name declared for this model, if any */
		const char *name = r->prefix >= 0 ? s->prefixes[r->prefix].name : NULL;
		for (uint32_t i = 0; name && i < s->n_prefixes; i++) {
			sim_prefix *px = &s->prefixes[i];
			if (!strcmp(px->name, name) && px->model == r->model[k] &&
			    duet_kv_seq_share(r->seq[k], px->seq, px->tokens) == DUET_OK)
				r->pos[k] = px->tokens;
		}
	}
	return DUET_OK;
}

/* One tick of r: prefill what is left of the prompt, else one token, per
 * model. Returns DUET_E_AGAIN while it waits, DUET_E_NOMEM when it can
 * never be served. */
static duet_status advance(sim_req *r, uint64_t *recompute)
{
	duet_status res = DUET_OK;
	for (uint32_t k = 0; k < r->n_models; k++) {
		uint32_t target = r->prompt + r->output, pos = r->pos[k], valid;
		if (pos >= target)
			continue;
		uint32_t n = pos < r->prompt ? r->prompt - pos : 1;
		duet_status st = duet_kv_seq_begin(r->seq[k], pos, n, &valid);
		if (st == DUET_OK && valid < pos) {
			/* preempted by drop: recompute every known position
			 * from valid on in one batch */
			*recompute += pos - valid;
			n = pos - valid;
			pos = valid;
			st = duet_kv_seq_begin(r->seq[k], pos, n, &valid);
		}
		if (st != DUET_OK) {
			res = st == DUET_E_NOMEM || res == DUET_E_NOMEM ? DUET_E_NOMEM : st;
			continue;
		}
		duet_kv_seq_end(r->seq[k], pos + n);
		r->pos[k] = pos + n;
	}
	return res;
}

static bool finished(const sim_req *r)
{
	for (uint32_t k = 0; k < r->n_models; k++)
		if (r->pos[k] < r->prompt + r->output)
			return false;
	return true;
}

static int cmp_req(const void *a, const void *b)
{
	const sim_req *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at ? 1 : (int)x->line - (int)y->line;
}

int cmd_kvsim(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t pool_bytes = 4ull << 30;
	uint32_t page = 0, pct;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (cli_is(argv[i], "--pool", NULL) || cli_is(argv[i], "--page", NULL)) {
			bool is_pool = !strcmp(argv[i], "--pool");
			uint64_t b;
			if (!cli_value(CMD, argc, argv, &i, &v))
				return CLI_USAGE;
			if (!duet_weights_parse_budget(v, &b, &pct) || pct || b > UINT32_MAX * (is_pool ? 1ull << 20 : 1ull))
				return cli_error(CMD, CLI_USAGE, "%s %s: give bytes (K/M/G)",
						 is_pool ? "--pool" : "--page", v);
			if (is_pool)
				pool_bytes = b;
			else
				page = (uint32_t)b;
		} else if (cli_is(argv[i], "--json", NULL)) {
			json = true;
		} else if (cli_is(argv[i], "-h", "--help")) {
			printf("usage: duet kv-sim WORKLOAD [--pool BYTES] [--page BYTES] [--json]\n"
			       "  Replays WORKLOAD (format: bench/kv_workload.md) through the KV\n"
			       "  arbiter with a pool of BYTES (default 4G) in pages of --page\n"
			       "  (default 16K), one decode step per tick, and prints its waste,\n"
			       "  preemptions and failures beside a fixed reservation of each\n"
			       "  model's ctx per request.\n");
			return CLI_OK;
		} else if (argv[i][0] == '-' || path) {
			return cli_error(CMD, CLI_USAGE, "unknown argument %s (usage: duet "
					 "kv-sim WORKLOAD [--pool BYTES] [--page BYTES] [--json])",
					 argv[i]);
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return cli_error(CMD, CLI_USAGE, "usage: duet kv-sim WORKLOAD [--pool BYTES] "
				 "[--page BYTES] [--json]");
	size_t len;
	char *text = cli_read_file(path, &len);
	if (!text)
		return cli_error(CMD, CLI_FAIL, "cannot read %s", path);
	sim s = { 0 };
	int rc = parse(&s, path, text);
	free(text);
	duet_kv_pool *p = NULL;
	duet_kv_pool_opts po = { .pool_bytes = pool_bytes, .page_bytes = page,
				 .virtual_pages = true };
	duet_status st = DUET_OK;
	if (rc == CLI_OK && (st = duet_kv_pool_create(&po, &p)) != DUET_OK)
		rc = cli_fail(CMD, st);
	for (uint32_t i = 0; rc == CLI_OK && i < s.n_models; i++)
		if ((st = duet_kv_pool_add_model(p, &s.models[i].m, &s.models[i].id)) != DUET_OK)
			rc = cli_fail(CMD, st);
	for (uint32_t i = 0; rc == CLI_OK && i < s.n_prefixes; i++) {
		sim_prefix *px = &s.prefixes[i];
		uint32_t valid;
		st = duet_kv_seq_open(p, s.models[px->model].id, DUET_KV_NORMAL, px->tokens,
				      &px->seq);
		if (st == DUET_OK)
			st = duet_kv_seq_begin(px->seq, 0, px->tokens, &valid);
		if (st != DUET_OK)
			rc = cli_fail(CMD, st);
		else
			duet_kv_seq_end(px->seq, px->tokens);
	}
	if (rc != CLI_OK) {
		for (uint32_t i = 0; i < s.n_prefixes; i++)
			duet_kv_seq_close(s.prefixes[i].seq);
		duet_kv_pool_destroy(p);
		free(s.reqs);
		return rc;
	}
	qsort(s.reqs, s.n_reqs, sizeof *s.reqs, cmp_req);
	uint64_t last_at = s.reqs[s.n_reqs - 1].at, longest = 0;
	for (uint32_t i = 0; i < s.n_reqs; i++)
		if (s.reqs[i].prompt + s.reqs[i].output > longest)
			longest = s.reqs[i].prompt + s.reqs[i].output;
	/* a request that waits this long is counted as failed */
	uint64_t patience = 4 * longest + 1000, limit = last_at + 2 * patience;
	double used_sum = 0, waste_sum = 0, base_res_sum = 0, base_waste_sum = 0;
	uint64_t recompute = 0, waits = 0, base_reserved = 0, ticks = 0;
	uint32_t failed = 0, done = 0, base_failed = 0, peak_used = 0, next = 0;
	for (uint64_t t = 0; done + failed < s.n_reqs && t < limit; t++, ticks++) {
		for (; next < s.n_reqs && s.reqs[next].at <= t; next++) {
			sim_req *r = &s.reqs[next];
			uint64_t res = 0;
			for (uint32_t k = 0; k < r->n_models; k++)
				res += (uint64_t)s.models[r->model[k]].ctx *
				       duet_kv_pool_token_bytes(p, s.models[r->model[k]].id);
			r->baseline_in = base_reserved + res <= pool_bytes;
			if (r->baseline_in)
				base_reserved += res;
			else
				base_failed++;
			if (admit(&s, p, r) != DUET_OK) {
				close_req(r);
				r->state = R_FAILED;
				failed++;
				if (r->baseline_in)
					base_reserved -= res;
			} else {
				r->state = R_ACTIVE;
			}
		}
		/* interactive first, then by arrival */
		for (int prio = DUET_KV_INTERACTIVE; prio >= DUET_KV_BACKGROUND; prio--)
			for (uint32_t i = 0; i < next; i++) {
				sim_req *r = &s.reqs[i];
				if (r->state != R_ACTIVE || (int)r->prio != prio)
					continue;
				duet_status a = advance(r, &recompute);
				if (a == DUET_E_AGAIN)
					waits++;
				bool gave_up = a == DUET_E_AGAIN && t > r->at + patience;
				if (a == DUET_E_NOMEM || gave_up || finished(r)) {
					bool ok = a == DUET_OK && finished(r);
					close_req(r);
					r->state = ok ? R_DONE : R_FAILED;
					ok ? done++ : failed++;
					if (r->baseline_in)
						for (uint32_t k = 0; k < r->n_models; k++)
							base_reserved -= (uint64_t)s.models[r->model[k]].ctx *
									 duet_kv_pool_token_bytes(p, s.models[r->model[k]].id);
				}
			}
		duet_kv_stats ks;
		duet_kv_pool_stats(p, &ks);
		double used = (double)ks.pages_used * (double)ks.page_bytes;
		used_sum += used;
		waste_sum += used * ks.waste_pct / 100.0;
		peak_used = ks.pages_used > peak_used ? ks.pages_used : peak_used;
		/* the baseline holds ctx positions per admitted request */
		double bheld = 0;
		for (uint32_t i = 0; i < next; i++) {
			const sim_req *r = &s.reqs[i];
			if (r->state != R_ACTIVE || !r->baseline_in)
				continue;
			for (uint32_t k = 0; k < r->n_models; k++) {
				uint32_t pos = r->pos[k] < s.models[r->model[k]].ctx ? r->pos[k]
										 : s.models[r->model[k]].ctx;
				bheld += (double)pos * (double)duet_kv_pool_token_bytes(
							       p, s.models[r->model[k]].id);
			}
		}
		base_res_sum += (double)base_reserved;
		base_waste_sum += (double)base_reserved - bheld;
	}
	for (uint32_t i = 0; i < s.n_reqs; i++)
		if (s.reqs[i].state == R_ACTIVE || s.reqs[i].state == R_PENDING) {
			close_req(&s.reqs[i]);
			failed++;
		}
	duet_kv_stats ks;
	duet_kv_pool_stats(p, &ks);
	double waste = used_sum > 0 ? 100.0 * waste_sum / used_sum : 0;
	double bwaste = base_res_sum > 0 ? 100.0 * base_waste_sum / base_res_sum : 0;
	if (json) {
		printf("{\"workload\": ");
		json_str(stdout, path, strlen(path));
		printf(", \"pool_bytes\": %llu, \"page_bytes\": %llu, \"requests\": %u, "
		       "\"completed\": %u, \"failed_requests\": %u, \"waste_pct\": ",
		       (unsigned long long)pool_bytes, (unsigned long long)ks.page_bytes,
		       s.n_reqs, done, failed);
		json_num(stdout, waste);
		printf(", \"baseline_waste_pct\": ");
		json_num(stdout, bwaste);
		printf(", \"baseline_failed_requests\": %u, \"preemptions\": %llu, "
		       "\"swapped_pages\": %llu, \"recomputes\": %llu, "
		       "\"recompute_tokens\": %llu, \"cow_copies\": %llu, "
		       "\"wait_ticks\": %llu, \"ticks\": %llu, \"peak_pages_used\": %u, "
		       "\"pages_total\": %u}\n", base_failed,
		       (unsigned long long)ks.preemptions, (unsigned long long)ks.swaps,
		       (unsigned long long)ks.recomputes, (unsigned long long)recompute,
		       (unsigned long long)ks.cow_copies, (unsigned long long)waits,
		       (unsigned long long)ticks, peak_used, ks.pages_total);
	} else {
		printf("%s: %u requests over %llu ticks, pool %llu MiB in pages of %llu bytes\n",
		       path, s.n_reqs, (unsigned long long)ticks,
		       (unsigned long long)(pool_bytes >> 20), (unsigned long long)ks.page_bytes);
		printf("  paged arbiter:      waste %6.2f%%, %u failed, %llu preemptions "
		       "(%llu pages swapped, %llu recomputes of %llu tokens), %llu waits, "
		       "peak %u of %u pages\n", waste, failed,
		       (unsigned long long)ks.preemptions, (unsigned long long)ks.swaps,
		       (unsigned long long)ks.recomputes, (unsigned long long)recompute,
		       (unsigned long long)waits, peak_used, ks.pages_total);
		printf("  fixed reservation:  waste %6.2f%%, %u refused at arrival\n", bwaste,
		       base_failed);
	}
	for (uint32_t i = 0; i < s.n_prefixes; i++)
		duet_kv_seq_close(s.prefixes[i].seq);
	duet_kv_pool_destroy(p);
	free(s.reqs);
	return CLI_OK;
}
