/* The duet CLI end to end: mkmodel determinism, inspect on every oracle
 * file, and bad input of every kind giving a non-zero exit with one line
 * on stderr, never a signal. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "models.h"
#include "proc.h"

/* Runs duet with the NULL-terminated arguments; a signal fails the test. */
static proc_result run_va(const char *first, ...)
{
	char *argv[32] = { (char *)duet_bin(), (char *)first };
	int n = 2;
	va_list ap;
	va_start(ap, first);
	while (n < 31 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	proc_result r;
	cr_assert(proc_run(argv, &r));
	cr_assert_not(r.signaled, "duet %s died from signal %d: %s", first, r.signal, r.err);
	return r;
}
#define RUN(...) run_va(__VA_ARGS__, (char *)NULL)

/* A failed command: exit non-zero and exactly one line on stderr that says
 * which command failed. */
static void expect_one_line_error(proc_result *r, const char *cmd, int code)
{
	char prefix[64];
	snprintf(prefix, sizeof prefix, "duet %s: error: ", cmd);
	if (code)
		cr_expect_eq(r->exit_code, code, "duet %s: exit %d: %s", cmd, r->exit_code, r->err);
	else
		cr_expect_neq(r->exit_code, 0, "duet %s succeeded on bad input", cmd);
	cr_expect_eq(count_lines(r->err), 1, "duet %s: stderr is not one line: '%s'", cmd,
		     r->err);
	cr_expect_eq(strncmp(r->err, prefix, strlen(prefix)), 0, "duet %s: '%s'", cmd, r->err);
	proc_free(r);
}

static char model[512];

static void make_small_model(void)
{
	snprintf(model, sizeof model, "%s/cli-%d.gguf", test_tmpdir(), getpid());
	proc_result r;
	char *argv[] = { (char *)duet_bin(), "mkmodel", "--arch", "llama", "--dim", "64",
			 "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ff", "96",
			 "--vocab", "300", "--type", "q8_0", "--seed", "11", "-o", model, NULL };
	cr_assert(proc_run(argv, &r));
	cr_assert_eq(r.exit_code, 0, "mkmodel: %s", r.err);
	proc_free(&r);
}

static void drop_small_model(void)
{
	remove(model);
}

static char *slurp(const char *path, size_t *n)
{
	char *s = read_text_file(path, n);
	cr_assert_not_null(s, "cannot read %s", path);
	return s;
}

static void write_bytes(const char *path, const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	fclose(f);
}

Test(cli, mkmodel_is_deterministic_and_its_output_runs, .init = make_small_model,
     .fini = drop_small_model)
{
	char again[600], other[600];
	snprintf(again, sizeof again, "%s.again", model);
	snprintf(other, sizeof other, "%s.other", model);
	char *base[] = { (char *)duet_bin(), "mkmodel", "--arch", "llama", "--dim", "64",
			 "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ff", "96",
			 "--vocab", "300", "--type", "q8_0", "--seed", "11", "-o", again, NULL };
	proc_result r;
	cr_assert(proc_run(base, &r));
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	proc_free(&r);
	base[19] = "12";
	base[21] = other;
	cr_assert(proc_run(base, &r));
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	proc_free(&r);
	size_t n1, n2, n3;
	char *a = slurp(model, &n1), *b = slurp(again, &n2), *c = slurp(other, &n3);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(a, b, n1), 0, "same arguments, different bytes");
	cr_assert(n1 == n3 && memcmp(a, c, n1) != 0, "another seed, same weights");
	free(a); free(b); free(c);
	remove(again);
	remove(other);

	r = RUN("inspect", model);
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "runnable"));
	cr_assert(strstr(r.out, "blk.1.ffn_down.weight"));
	proc_free(&r);
	r = RUN("run", "-m", model, "--tokens", "1,5,9", "-n", "4", "--temp", "0", "--ids");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	int ids[8], k = sscanf(r.out, "%d %d %d %d %d", &ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
	cr_assert_eq(k, 4, "expected 4 ids, got '%s'", r.out);
	proc_free(&r);
	/* seeded sampling repeats itself */
	proc_result s1 = RUN("run", "-m", model, "--tokens", "1", "-n", "12", "--seed", "5", "--ids");
	proc_result s2 = RUN("run", "-m", model, "--tokens", "1", "-n", "12", "--seed", "5", "--ids");
	cr_assert_eq(s1.exit_code, 0, "%s", s1.err);
	cr_assert_str_eq(s1.out, s2.out);
	proc_free(&s1);
	proc_free(&s2);
}

Test(cli, score_reports_json_with_nll_and_positions, .init = make_small_model,
     .fini = drop_small_model)
{
	proc_result r = RUN("score", "-m", model, "--tokens", "1,7,7,42", "--top", "3", "--json");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	json *j = json_parse(r.out);
	cr_assert_not_null(j, "invalid JSON: %s", r.out);
	const json *pos = json_get(j, "positions");
	cr_assert_eq(pos->n, 4);
	cr_assert_eq(json_get(json_at(pos, 1), "next")->num, 7);
	cr_assert_eq(json_get(json_at(pos, 3), "next")->kind, JSON_NULL);
	cr_assert_eq(json_get(json_at(pos, 2), "top")->n, 3);
	double nll = json_get(j, "nll")->num, ppl = json_get(j, "perplexity")->num;
	cr_assert_gt(nll, 0);
	cr_assert_float_eq(ppl, exp(nll), 1e-6 * ppl);
	/* the mean of the per-position values */
	double sum = 0;
	for (int i = 0; i < 3; i++)
		sum += json_get(json_at(pos, (size_t)i), "nll")->num;
	cr_assert_float_eq(nll, sum / 3, 1e-6);
	json_free(j);
	proc_free(&r);
}

/* Windows: each starts from an empty cache, so scoring 1,7,7,42,9,3,5 in
 * windows of 3 equals scoring the windows one by one; a lone last token
 * predicts nothing. */
Test(cli, score_windows_are_independent, .init = make_small_model,
     .fini = drop_small_model)
{
	proc_result r = RUN("score", "-m", model, "--tokens", "1,7,7,42,9,3,5", "-c", "3",
			    "--json", "--backend", "cpu");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	json *j = json_parse(r.out);
	cr_assert_not_null(j, "invalid JSON: %s", r.out);
	cr_assert_eq(json_get(j, "windows")->num, 2);
	cr_assert_eq(json_get(j, "n_predictions")->num, 4);
	const char *parts[2] = { "1,7,7", "42,9,3" };
	double sum = 0;
	for (int w = 0; w < 2; w++) {
		proc_result p = RUN("score", "-m", model, "--tokens", parts[w], "--json",
				    "--backend", "cpu");
		cr_assert_eq(p.exit_code, 0, "%s", p.err);
		json *pj = json_parse(p.out);
		cr_assert_not_null(pj);
		sum += 2 * json_get(pj, "nll")->num;
		json_free(pj);
		proc_free(&p);
	}
	cr_assert_float_eq(json_get(j, "nll")->num, sum / 4, 1e-6);
	json_free(j);
	proc_free(&r);
}

/* The CPU executor's SIMD kernels (quant_dot_simd.c, attn_simd.c) change
 * no bit of its output: every position's top logits, for every quantized
 * weight type (q4_k_m brings Q6_K), head sizes on the SIMD attention path
 * (16) and off it (12), batches of 64 and of 5 tokens. On a CPU without
 * SIMD kernels both runs are the reference. */
static char *score_cpu(const char *m, const char *batch, bool simd)
{
	if (simd)
		unsetenv("DUET_CPU_SIMD");
	else
		setenv("DUET_CPU_SIMD", "0", 1);
	const char *text = "It is a truth universally acknowledged, that a single man "
			   "in possession of a good fortune, must be in want of a wife.";
	proc_result r = RUN("score", "-m", m, "-p", text, "--top", "6", "--json",
			    "--positions", "--backend", "cpu", "-b", batch, "-t", "2");
	unsetenv("DUET_CPU_SIMD");
	cr_assert_eq(r.exit_code, 0, "score: %s", r.err);
	cr_assert_not_null(strstr(r.out, "\"logit\""), "no logits: %s", r.out);
	char *out = r.out;
	r.out = NULL;
	proc_free(&r);
	return out;
}

Test(cli, cpu_simd_kernels_change_no_bit, .timeout = 120)
{
	static const struct {
		const char *type, *dim, *heads, *ff;
	} cases[] = { /* head size 16 (SIMD attention) and 12 (reference) */
		{ "q8_0", "64", "4", "160" }, { "q8_0", "96", "8", "160" },
		{ "q4_0", "64", "4", "160" }, { "q4_0", "96", "8", "160" },
		{ "q4_1", "64", "4", "160" }, { "q5_0", "96", "8", "160" },
		{ "q5_1", "64", "4", "160" }, { "f16", "96", "8", "160" },
		{ "q4_k_m", "256", "16", "256" }, { "q5_k", "256", "16", "256" },
	};
	char m[512];
	snprintf(m, sizeof m, "%s/simd-%d.gguf", test_tmpdir(), getpid());
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		proc_result mk = RUN("mkmodel", "--arch", "llama", "--dim", cases[c].dim,
				     "--layers", "2", "--heads", cases[c].heads, "--kv-heads", "2",
				     "--ff", cases[c].ff, "--vocab", "300", "--type", cases[c].type,
				     "--seed", "5", "-o", m);
		cr_assert_eq(mk.exit_code, 0, "mkmodel: %s", mk.err);
		proc_free(&mk);
		for (int b = 0; b < 2; b++) {
			const char *batch = b ? "5" : "64";
			char *ref = score_cpu(m, batch, false), *got = score_cpu(m, batch, true);
			cr_expect_str_eq(got, ref, "%s dim %s heads %s batch %s: SIMD and "
					 "reference differ", cases[c].type, cases[c].dim,
					 cases[c].heads, batch);
			free(ref);
			free(got);
		}
	}
	remove(m);
}

Test(cli, inspect_reads_every_oracle_file)
{
	const char *sub[] = { "models", "tokenizer" };
	int seen = 0;
	for (int s = 0; s < 2; s++) {
		char dir[1024];
		snprintf(dir, sizeof dir, "%s/%s", oracle_dir(), sub[s]);
		DIR *d = opendir(dir);
		cr_assert_not_null(d, "cannot open %s", dir);
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t n = strlen(e->d_name);
			if (n < 5 || strcmp(e->d_name + n - 5, ".gguf"))
				continue;
			char path[2048];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			proc_result r = RUN("inspect", path, "--json");
			cr_expect_eq(r.exit_code, 0, "%s: %s", path, r.err);
			json *j = json_parse(r.out);
			cr_expect_not_null(j, "%s: invalid JSON", path);
			cr_expect_not_null(json_get(json_get(j, "metadata"), "tokenizer.ggml.tokens"));
			json_free(j);
			proc_free(&r);
			seen++;
		}
		closedir(d);
	}
	cr_assert_geq(seen, 17);
}

/* Every command on one bad file: one line, non-zero (code 0: any). */
static void all_commands_fail(const char *path, bool must_fail)
{
	proc_result r[3] = {
		RUN("inspect", path),
		RUN("run", "-m", path, "--tokens", "1,2", "-n", "2", "--temp", "0"),
		RUN("score", "-m", path, "--tokens", "1,2,3"),
	};
	const char *cmd[3] = { "inspect", "run", "score" };
	for (int i = 0; i < 3; i++) {
		if (!must_fail && r[i].exit_code == 0) {
			proc_free(&r[i]);
			continue;
		}
		expect_one_line_error(&r[i], cmd[i], 0);
	}
}

Test(cli, truncated_files_fail_cleanly, .init = make_small_model, .fini = drop_small_model)
{
	size_t n;
	char *data = slurp(model, &n);
	char path[600];
	snprintf(path, sizeof path, "%s.cut", model);
	size_t cuts[] = { 0, 3, 4, 8, 16, 23, 40, 200, 1000, n / 2, n - 4096, n - 64 };
	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		write_bytes(path, data, cuts[i]);
		all_commands_fail(path, true);
	}
	remove(path);
	free(data);
}

Test(cli, hand_corrupted_files_fail_cleanly, .init = make_small_model,
     .fini = drop_small_model)
{
	size_t n;
	char *data = slurp(model, &n), *copy = malloc(n);
	char path[600];
	snprintf(path, sizeof path, "%s.bad", model);
	struct { size_t off; const char *bytes; size_t len; } edits[] = {
		{ 0, "GGML", 4 },                               /* magic */
		{ 4, "\x09\x00\x00\x00", 4 },                   /* version 9 */
		{ 4, "\x01\x00\x00\x00", 4 },                   /* version 1 */
		{ 8, "\xff\xff\xff\xff\xff\xff\x00\x00", 8 },   /* tensor count */
		{ 16, "\xff\xff\xff\xff\x00\x00\x00\x00", 8 },  /* key count */
		{ 24, "\xff\xff\xff\xff\xff\x00\x00\x00", 8 },  /* first key length */
	};
	for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
		memcpy(copy, data, n);
		memcpy(copy + edits[i].off, edits[i].bytes, edits[i].len);
		write_bytes(path, copy, n);
		all_commands_fail(path, true);
	}
	write_bytes(path, "not a model at all\n", 19);
	all_commands_fail(path, true);
	remove(path);
	free(copy);
	free(data);
}

Test(cli, bit_flipped_files_never_crash, .init = make_small_model,
     .fini = drop_small_model)
{
	size_t n;
	char *data = slurp(model, &n), *copy = malloc(n);
	char path[600];
	snprintf(path, sizeof path, "%s.flip", model);
	uint64_t state = 2024;
	for (int i = 0; i < 24; i++) {
		state = state * 6364136223846793005ull + 1442695040888963407ull;
		/* mostly the header (keys, vocabulary, tensor infos) */
		size_t at = (size_t)(state >> 33) % (i < 18 ? 8192 : n);
		memcpy(copy, data, n);
		copy[at] ^= (char)(1 << ((state >> 20) & 7));
		write_bytes(path, copy, n);
		all_commands_fail(path, false);
	}
	remove(path);
	free(copy);
	free(data);
}

Test(cli, usage_errors_are_one_line_with_exit_2, .init = make_small_model,
     .fini = drop_small_model)
{
	proc_result r = RUN("frobnicate");
	cr_assert_eq(r.exit_code, 2);
	proc_free(&r);
	r = RUN("run", "--tokens", "1");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1,x,3");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "--temp", "hot");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "--backend", "cuda");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "-n");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "--mem-budget", "lots");
	expect_one_line_error(&r, "run", 2);
	r = RUN("bench", "-m", model, "--mem-budget", "0%");
	expect_one_line_error(&r, "bench", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "--io", "floppy");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "--mem-budget", "1K");
	expect_one_line_error(&r, "run", 1); /* too small: says the least that works */
	r = RUN("mkmodel", "--arch", "llama", "--dim", "64", "-o", "/tmp/never.gguf");
	expect_one_line_error(&r, "mkmodel", 2);
	r = RUN("score", "-m", model);
	expect_one_line_error(&r, "score", 2);
	r = RUN("inspect");
	expect_one_line_error(&r, "inspect", 2);
}

Test(cli, run_time_errors_name_the_problem, .init = make_small_model,
     .fini = drop_small_model)
{
	proc_result r = RUN("run", "-m", "/nonexistent/model.gguf", "--tokens", "1");
	cr_assert(strstr(r.err, "/nonexistent/model.gguf"), "%s", r.err);
	expect_one_line_error(&r, "run", 1);
	r = RUN("run", "-m", model, "--tokens", "1,300", "--temp", "0");
	cr_assert(strstr(r.err, "300"), "%s", r.err);
	expect_one_line_error(&r, "run", 1);
	r = RUN("score", "-m", model, "--tokens", "5,999999");
	expect_one_line_error(&r, "score", 1);
	r = RUN("mkmodel", "--arch", "llama", "--dim", "64", "--layers", "1", "--heads", "4");
	expect_one_line_error(&r, "mkmodel", 2);
	char *argv[] = { (char *)duet_bin(), "mkmodel", "--arch", "llama", "--dim", "64",
			 "--layers", "1", "--heads", "4", "--ff", "64", "--vocab", "300",
			 "--type", "q4_k", "-o", "/tmp/never.gguf", NULL };
	cr_assert(proc_run(argv, &r));
	cr_assert(strstr(r.err, "256"), "K-types need 256-multiples: %s", r.err);
	expect_one_line_error(&r, "mkmodel", 1);
	r = RUN("run", "-m", model, "--chat", "-p", "hi", "--chat-template", "nope");
	cr_assert(strstr(r.err, "nope"), "%s", r.err);
	expect_one_line_error(&r, "run", 1);
	r = RUN("run", "-m", model, "-f", "/nonexistent/prompt.txt");
	expect_one_line_error(&r, "run", 1);
	r = RUN("tokenize", "-m", model);
	expect_one_line_error(&r, "tokenize", 2);
}

Test(cli, text_prompts_and_chat_run, .init = make_small_model, .fini = drop_small_model)
{
	proc_result r = RUN("run", "-m", model, "-p", "hello there", "-n", "3", "--temp", "0",
			    "--ids");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	int a, b, c;
	cr_assert_eq(sscanf(r.out, "%d %d %d", &a, &b, &c), 3, "%s", r.out);
	proc_free(&r);
	r = RUN("run", "-m", model, "--system", "Be brief.", "--user", "hi", "-n", "2",
		"--temp", "0");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	proc_free(&r);
	/* -p echoes the prompt text, then the continuation */
	r = RUN("run", "-m", model, "-p", "hello there", "-n", "2", "--temp", "0");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert_eq(strncmp(r.out, "hello there", 11), 0, "%s", r.out);
	proc_free(&r);
}

/* A vocabulary without a token for its word-start space spells each
 * space as three byte tokens, so a prompt may have more tokens than
 * bytes: tokenize, score and run (through the session API's tokenizer
 * too) take it whole. */
Test(cli, prompts_of_more_tokens_than_bytes_run, .init = make_small_model,
     .fini = drop_small_model)
{
	const char *spaced = "0 1 2 3 4 5 6 7 8 9"; /* 41 tokens, 19 bytes */
	proc_result r = RUN("tokenize", "-m", model, "-p", spaced, "--ids");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	uint32_t n = 1;
	for (const char *p = r.out; *p; p++)
		n += *p == ',';
	cr_assert_gt(n, strlen(spaced) + 8, "%u tokens: %s", n, r.out);
	proc_free(&r);
	r = RUN("run", "-m", model, "-p", spaced, "-n", "2", "--temp", "0", "--ids");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	proc_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/spaced-%d.txt", test_tmpdir(), getpid());
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(spaced, f);
	fclose(f);
	r = RUN("score", "-m", model, "-f", path);
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	proc_free(&r);
	/* run's own prompt buffer (bytes + 4096) for text and chat: 6,000
	 * bytes of digits and spaces are 12,000 tokens, past a context of 64
	 * (so nothing runs): the error must be the context's, not the
	 * tokenizer's */
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "%d ", i % 10);
	fclose(f);
	r = RUN("run", "-m", model, "-f", path, "-n", "1", "-c", "64", "--backend", "cpu");
	cr_assert_eq(r.exit_code, 1);
	cr_assert(strstr(r.err, "raise the context size"), "%s", r.err);
	proc_free(&r);
	r = RUN("run", "-m", model, "-f", path, "-n", "1", "-c", "64", "--backend", "cpu",
		"--chat", "--chat-template", "chatml");
	cr_assert_eq(r.exit_code, 1);
	cr_assert(strstr(r.err, "raise the context size"), "%s", r.err);
	proc_free(&r);
	remove(path);
}

/* The KV cache type as llama.cpp spells it (-ctk/-ctv, --cache-type-k/-v):
 * bad names, K and V of different types and a q8_0 cache for heads of 16
 * are one-line errors; on the demo LLM an f32 cache gives the f16 cache's
 * greedy tokens and q8_0 starts the same way; bench --json names the type
 * and the --kv-page of a pool. */
Test(cli, kv_cache_types_are_options_like_llama_cpp, .init = make_small_model,
     .fini = drop_small_model, .timeout = 120)
{
	proc_result r = RUN("run", "-m", model, "--tokens", "1", "-ctk", "q4_0");
	cr_assert(strstr(r.err, "q4_0"), "%s", r.err);
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "-ctk", "q8_0", "-ctv", "f16");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", model, "--tokens", "1", "--cache-type-v", "q8_0",
		"--backend", "cpu");
	cr_assert(strstr(r.err, "multiple of 32"), "heads of 16: %s", r.err);
	expect_one_line_error(&r, "run", 1);
	char llm[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	char *ids[3];
	const char *types[3] = { "f16", "f32", "q8_0" };
	for (int t = 0; t < 3; t++) {
		r = RUN("run", "-m", llm, "-p", "It is a truth universally acknowledged",
			"-n", "24", "--temp", "0", "--ids", "--backend", "cpu", "-ctk", types[t],
			"-ctv", types[t]);
		cr_assert_eq(r.exit_code, 0, "%s: %s", types[t], r.err);
		ids[t] = strdup(r.out);
		proc_free(&r);
	}
	cr_assert_str_eq(ids[1], ids[0], "f32 cache: %s, f16: %s", ids[1], ids[0]);
	int same = 0;
	for (char *a = ids[0], *b = ids[2]; *a && *a == *b; a++, b++)
		same += *a == ' ';
	cr_assert_geq(same, 8, "q8_0 cache: %s, f16: %s", ids[2], ids[0]);
	for (int t = 0; t < 3; t++)
		free(ids[t]);
	/* in a pool of 4 KiB pages (15 q8_0 rows of 272 bytes each) */
	r = RUN("bench", "-m", llm, "-p", "8", "-n", "4", "-r", "1", "--json", "--backend",
		"cpu", "-ctk", "q8_0", "--kv-pool", "4M", "--kv-page", "4K");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	json *j = json_parse(r.out);
	cr_assert_not_null(j, "%s", r.out);
	cr_assert_str_eq(json_get(j, "kv_type")->str, "q8_0");
	cr_assert_gt(json_get(j, "tg_tps")->num, 0);
	const json *pool = json_get(j, "kv_pool");
	cr_assert(pool && json_get(pool, "page_bytes"), "%s", r.out);
	cr_assert_eq(json_get(pool, "page_bytes")->num, 4096);
	json_free(j);
	proc_free(&r);
	r = RUN("run", "-m", llm, "-p", "x", "--kv-pool", "1M", "--kv-page", "100");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", llm, "-p", "x", "--kv-page", "4K");
	expect_one_line_error(&r, "run", 2);
}

Test(cli, tokenize_prints_like_llama_tokenize)
{
	char vocab[1024];
	snprintf(vocab, sizeof vocab, "%s/tokenizer/ggml-vocab-llama-spm.gguf", oracle_dir());
	proc_result r = RUN("tokenize", "-m", vocab, "-p", "Hello world", "--ids");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[1, 15043, 3186]\n");
	proc_free(&r);
	r = RUN("tokenize", "-m", vocab, "-p", "Hello world", "--ids", "--no-bos");
	cr_assert_str_eq(r.out, "[15043, 3186]\n");
	proc_free(&r);
	r = RUN("tokenize", "-m", vocab, "-p", "Hello", "--no-bos");
	cr_assert_str_eq(r.out, " 15043 -> ' Hello'\n");
	proc_free(&r);
	char qwen[1024];
	snprintf(qwen, sizeof qwen, "%s/tokenizer/ggml-vocab-qwen2.gguf", oracle_dir());
	r = RUN("tokenize", "-m", qwen, "-p", "<|im_start|>", "--ids", "--special");
	cr_assert_str_eq(r.out, "[151644]\n");
	proc_free(&r);
	r = RUN("tokenize", "-m", qwen, "-p", "<|im_start|>", "--ids");
	cr_assert_neq(strcmp(r.out, "[151644]\n"), 0);
	proc_free(&r);
}

Test(cli, every_command_has_help)
{
	const char *cmds[] = { "run", "score", "inspect", "mkmodel", "tokenize" };
	for (int i = 0; i < 5; i++) {
		proc_result r = RUN(cmds[i], "--help");
		cr_expect_eq(r.exit_code, 0);
		cr_expect(strstr(r.out, "usage: duet"), "%s --help: %s", cmds[i], r.out);
		proc_free(&r);
	}
	proc_result r = RUN("--help");
	cr_assert_eq(r.exit_code, 0);
	cr_assert(strstr(r.out, "mkmodel"));
	proc_free(&r);
}

/* duet info names the weight readers this process may use: the default
 * is one that works, and the pread pool always does. */
Test(cli, info_lists_the_weight_readers_and_cpu_kernels)
{
	proc_result r = RUN("info", "--json");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	json *j = json_parse(r.out);
	cr_assert_not_null(j, "invalid JSON: %s", r.out);
	const json *io = json_get(j, "io");
	cr_assert_not_null(io, "no io in %s", r.out);
	const json *def = json_get(io, "default");
	cr_assert_eq(def->kind, JSON_STR);
	cr_assert(!strcmp(def->str, "uring") || !strcmp(def->str, "aio") ||
		  !strcmp(def->str, "pread"), "default %s", def->str);
	cr_assert_eq(json_get(io, def->str)->kind, JSON_NULL, "%s", r.out);
	cr_assert_eq(json_get(io, "pread")->kind, JSON_NULL);
	cr_assert_not_null(json_get(io, "mmap"));
	/* the CPU backend's kernels: SIMD where the CPU has them, scalar when
	 * DUET_CPU_SIMD=0 asks */
	const json *simd = json_get(j, "cpu_simd");
	cr_assert(simd && simd->kind == JSON_STR, "no cpu_simd in %s", r.out);
#if defined(__x86_64__) || defined(__aarch64__)
	cr_expect(!strcmp(simd->str, "avx2") || !strcmp(simd->str, "neon") ||
		  !strcmp(simd->str, "none"), "cpu_simd %s", simd->str);
#endif
	json_free(j);
	proc_free(&r);
	r = RUN("info");
	cr_assert_eq(r.exit_code, 0);
	cr_assert(strstr(r.out, "weight readers (default "), "%s", r.out);
	cr_assert(strstr(r.out, "cpu backend: "), "%s", r.out);
	proc_free(&r);
	setenv("DUET_CPU_SIMD", "0", 1);
	r = RUN("info");
	unsetenv("DUET_CPU_SIMD");
	cr_assert(strstr(r.out, "cpu backend: scalar kernels"), "%s", r.out);
	proc_free(&r);
}

/* kv-sim replays the committed chat workload: every request completes
 * with internal waste under 4% beside a fixed reservation that wastes far
 * more; a smaller pool preempts; a bad workload names its line. */
Test(cli, kv_sim_replays_the_chat_workload)
{
	char wl[512];
	snprintf(wl, sizeof wl, "%s/bench/kv_chat.workload", DUET_SRC_DIR);
	const char *pools[] = { "4G", "2G" };
	for (int i = 0; i < 2; i++) {
		char *argv[] = { (char *)duet_bin(), "kv-sim", wl, "--pool", (char *)pools[i],
				 "--json", NULL };
		proc_result r;
		cr_assert(proc_run(argv, &r));
		cr_assert_eq(r.exit_code, 0, "%s", r.err);
		json *j = json_parse(r.out);
		cr_assert_not_null(j, "%s", r.out);
		cr_assert_eq(json_get(j, "failed_requests")->num, 0, "%s", r.out);
		cr_assert_eq(json_get(j, "completed")->num, 160);
		cr_assert_lt(json_get(j, "waste_pct")->num, 4.0, "%s", r.out);
		cr_assert_gt(json_get(j, "baseline_waste_pct")->num, 30.0, "%s", r.out);
		if (i == 1)
			cr_assert_gt(json_get(j, "preemptions")->num, 0, "%s", r.out);
		json_free(j);
		proc_free(&r);
	}
	char bad[512];
	snprintf(bad, sizeof bad, "%s/kvsim-bad.workload", test_tmpdir());
	FILE *f = fopen(bad, "w");
	cr_assert_not_null(f);
	fprintf(f, "model m layers=2 kv_dim=64\n\nrequest 0 urgent m 10 10\n");
	fclose(f);
	char *argv[] = { (char *)duet_bin(), "kv-sim", bad, NULL };
	proc_result r;
	cr_assert(proc_run(argv, &r));
	cr_assert_eq(r.exit_code, 1);
	cr_assert(strstr(r.err, "kvsim-bad.workload:3: priority"), "%s", r.err);
	proc_free(&r);
}

/* Runs `duet run ... --ids --temp 0` with extra arguments; returns stdout. */
static char *greedy_ids(const char *m, const char *draft, const char *prompt,
			const char *backend)
{
	char *argv[24];
	int n = 0;
	argv[n++] = (char *)duet_bin();
	argv[n++] = "run";
	argv[n++] = "-m";
	argv[n++] = (char *)m;
	if (draft) {
		argv[n++] = "-md";
		argv[n++] = (char *)draft;
	}
	char *rest[] = { "-p", (char *)prompt, "-n", "48", "--temp", "0", "--ids",
			 "--ignore-eos", "--backend", (char *)backend, "--quiet", NULL };
	for (int i = 0; rest[i]; i++)
		argv[n++] = rest[i];
	argv[n] = NULL;
	proc_result r;
	cr_assert(proc_run(argv, &r));
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	if (draft)
		cr_assert(strstr(r.err, "target passes"), "%s", r.err);
	char *out = r.out;
	r.out = NULL;
	proc_free(&r);
	return out;
}

/* Greedy speculative decoding gives the target's greedy output token for
 * token on one backend: the demo pair, and an oracle model with a draft of
 * its own vocabulary (mkmodel --vocab). */
static void check_spec_equals_target(const char *backend)
{
	char llm[512], slm[512], oracle[512], draft[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	snprintf(slm, sizeof slm, "%s/models/austen-slm-q8_0.gguf", DUET_SRC_DIR);
	snprintf(oracle, sizeof oracle, "%s/models/llama-spm-q8_0.gguf", oracle_dir());
	snprintf(draft, sizeof draft, "%s/spec-draft-%d.gguf", test_tmpdir(), getpid());
	char *mk[] = { (char *)duet_bin(), "mkmodel", "--arch", "llama", "--dim", "64",
		       "--layers", "1", "--heads", "2", "--ff", "64", "--vocab", oracle,
		       "--type", "f16", "--seed", "3", "-o", draft, NULL };
	proc_result r;
	cr_assert(proc_run(mk, &r));
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	proc_free(&r);
	const char *pairs[2][2] = { { llm, slm }, { oracle, draft } };
	for (int p = 0; p < 2; p++) {
		char *want = greedy_ids(pairs[p][0], NULL, "It is a truth", backend);
		char *got = greedy_ids(pairs[p][0], pairs[p][1], "It is a truth", backend);
		cr_assert_str_eq(got, want, "%s, pair %d", backend, p);
		free(want);
		free(got);
	}
	remove(draft);
}

Test(cli, speculative_decoding_equals_the_target_alone, .timeout = 120)
{
	check_spec_equals_target("cpu");
}

/* Apart from the CPU case: under ASan, with the pipelines compiled cold,
 * both did not fit in one test's 120 s. (Criterion 2.4 leaks a timeout's
 * watch entry when the runner exits before its deadline; tests/lsan.supp
 * keeps LeakSanitizer from failing the suite on it.) */
Test(cli, speculative_decoding_equals_the_target_alone_vulkan, .timeout = 120)
{
	need_vulkan();
	check_spec_equals_target("vulkan");
}

/* A draft of another vocabulary is refused, naming the difference;
 * sampled speculative decoding repeats itself for a seed. */
Test(cli, speculative_decoding_needs_one_vocabulary, .init = make_small_model,
     .fini = drop_small_model)
{
	char llm[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	char *argv[] = { (char *)duet_bin(), "run", "-m", llm, "-md", model, "-p", "It",
			 "-n", "4", "--temp", "0", "--backend", "cpu", NULL };
	proc_result r;
	cr_assert(proc_run(argv, &r));
	cr_assert_eq(r.exit_code, 1, "%s", r.err);
	cr_assert(strstr(r.err, "vocabulary") || strstr(r.err, "differ"), "%s", r.err);
	proc_free(&r);
	/* sampled speculative decoding is reproducible with a seed */
	char slm[512];
	snprintf(slm, sizeof slm, "%s/models/austen-slm-q8_0.gguf", DUET_SRC_DIR);
	char *sampled[] = { (char *)duet_bin(), "run", "-m", llm, "-md", slm, "-p", "It",
			    "-n", "24", "--seed", "7", "--temp", "0.9", "--ids",
			    "--ignore-eos", "--backend", "cpu", NULL };
	proc_result r2;
	cr_assert(proc_run(sampled, &r));
	cr_assert(proc_run(sampled, &r2));
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert_str_eq(r.out, r2.out);
	cr_assert_eq(count_lines(r.out), 1);
	proc_free(&r);
	proc_free(&r2);
}

/* bench --mode spec reports the figures of issue 8 measured in one run. */
/* `duet bench -m llm -md slm --mode MODE --json` (CPU, -p 8 -n 24 -r
 * REPS): the parsed object, whose mode is MODE and whose `keys` are all
 * numbers, none negative. The caller frees it. */
static json *bench_pair_json(const char *llm, const char *slm, const char *mode,
			     const char *reps, const char *const *keys, int n_keys)
{
	proc_result r = RUN("bench", "-m", llm, "-md", slm, "--mode", mode, "-p", "8", "-n",
			    "24", "-r", reps, "--json", "--backend", "cpu");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	json *j = json_parse(r.out);
	cr_assert_not_null(j, "%s", r.out);
	cr_assert_str_eq(json_get(j, "mode")->str, mode);
	for (int k = 0; k < n_keys; k++) {
		const json *v = json_get(j, keys[k]);
		cr_assert(v && v->kind == JSON_NUM, "%s missing: %s", keys[k], r.out);
		cr_assert_geq(v->num, 0, "%s", keys[k]);
	}
	proc_free(&r);
	return j;
}

Test(cli, bench_spec_reports_acceptance_and_the_target_alone, .timeout = 120)
{
	char llm[512], slm[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	snprintf(slm, sizeof slm, "%s/models/austen-slm-q8_0.gguf", DUET_SRC_DIR);
	const char *num[] = { "tg_tps", "llm_alone_tg_tps", "speedup", "accept_rate",
			      "tokens_per_llm_pass", "slm_token_share" };
	json *j = bench_pair_json(llm, slm, "spec", "2", num, 6);
	cr_assert_gt(json_get(j, "tg_tps")->num, 0);
	cr_assert_gt(json_get(j, "llm_alone_tg_tps")->num, 0);
	double acc = json_get(j, "accept_rate")->num, tpp = json_get(j, "tokens_per_llm_pass")->num;
	cr_assert(acc >= 0 && acc <= 1, "%f", acc);
	cr_assert(tpp >= 1, "%f", tpp);
	json_free(j);
}

/* Strips <slm>, </slm>, <llm> and </llm> from s, in place. */
static void strip_sources(char *s)
{
	static const char *const tags[] = { "<slm>", "</slm>", "<llm>", "</llm>" };
	char *w = s;
	for (char *p = s; *p;) {
		size_t k = 0;
		for (int t = 0; t < 4 && !k; t++)
			if (!strncmp(p, tags[t], strlen(tags[t])))
				k = strlen(tags[t]);
		if (k) {
			p += k;
			continue;
		}
		*w++ = *p++;
	}
	*w = '\0';
}

/* The cascade through the CLI: --show-source marks spans, the marks
 * removed give the plain text; every id is tagged s: or l:; at threshold 1
 * the LLM writes all and the output is its greedy output; --mode slm is
 * the draft alone; misuse is a usage error. */
Test(cli, cascade_marks_its_sources, .timeout = 120)
{
	char llm[512], slm[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	snprintf(slm, sizeof slm, "%s/models/austen-slm-q8_0.gguf", DUET_SRC_DIR);
	proc_result r = RUN("run", "-m", llm, "-md", slm, "--mode", "cascade",
			    "--show-source", "-p", "It is a truth", "-n", "40", "--temp", "0",
			    "--ignore-eos", "--no-display-prompt", "--backend", "cpu",
			    "--cascade-threshold", "0.3");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert(strstr(r.out, "<llm>") && strstr(r.out, "</llm>"), "%s", r.out);
	cr_assert(strstr(r.err, "cascade:") && strstr(r.err, "handovers"), "%s", r.err);
	proc_result plain = RUN("run", "-m", llm, "-md", slm, "--mode", "cascade",
				"-p", "It is a truth", "-n", "40", "--temp", "0",
				"--ignore-eos", "--no-display-prompt", "--backend", "cpu",
				"--cascade-threshold", "0.3");
	cr_assert_eq(plain.exit_code, 0, "%s", plain.err);
	strip_sources(r.out);
	cr_assert_str_eq(r.out, plain.out);
	proc_free(&r);
	proc_free(&plain);

	/* tagged ids; threshold 1: all the LLM's, equal to its greedy ids */
	r = RUN("run", "-m", llm, "-md", slm, "--mode", "cascade", "--show-source",
		"--ids", "-p", "It is a truth", "-n", "48", "--temp", "0", "--ignore-eos",
		"--backend", "cpu", "--cascade-threshold", "1");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	char *want = greedy_ids(llm, NULL, "It is a truth", "cpu");
	char got[4096], *w = got;
	for (char *p = strtok(r.out, " \n"); p; p = strtok(NULL, " \n")) {
		cr_assert(!strncmp(p, "l:", 2), "'%s' is not the LLM's", p);
		w += sprintf(w, "%s%s", w == got ? "" : " ", p + 2);
	}
	strip_sources(want);
	want[strcspn(want, "\n")] = '\0';
	cr_assert_str_eq(got, want);
	free(want);
	proc_free(&r);

	/* --mode slm: the draft alone */
	r = RUN("run", "-m", llm, "-md", slm, "--mode", "slm", "--ids", "-p", "It is a truth",
		"-n", "48", "--temp", "0", "--ignore-eos", "--backend", "cpu", "--quiet");
	want = greedy_ids(slm, NULL, "It is a truth", "cpu");
	cr_assert_eq(r.exit_code, 0, "%s", r.err);
	cr_assert_str_eq(r.out, want);
	free(want);
	proc_free(&r);

	/* the draft on the CPU beside the target on Vulkan: still the
	 * target's own output */
	if (vulkan_present()) {
		r = RUN("run", "-m", llm, "-md", slm, "-p", "It is a truth", "-n", "48",
			"--temp", "0", "--ids", "--ignore-eos", "--backend", "vulkan",
			"--backend-draft", "cpu", "--quiet");
		cr_assert_eq(r.exit_code, 0, "%s", r.err);
		want = greedy_ids(llm, NULL, "It is a truth", "vulkan");
		cr_assert_str_eq(r.out, want);
		free(want);
		proc_free(&r);
	}
	r = RUN("run", "-m", llm, "--mode", "cascade", "-p", "It");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", llm, "-md", slm, "--show-source", "-p", "It");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", llm, "-md", slm, "--mode", "cascade", "--cascade-threshold",
		"0", "-p", "It");
	expect_one_line_error(&r, "run", 2);
	r = RUN("run", "-m", llm, "-md", slm, "--mode", "cascade", "--cascade-metric",
		"vibes", "-p", "It");
	expect_one_line_error(&r, "run", 2);

	/* bench: the figures of the cascade */
	const char *keys[] = { "tg_tps", "llm_alone_tg_tps", "speedup", "slm_token_share",
			       "tokens_per_llm_pass", "handovers" };
	json *j = bench_pair_json(llm, slm, "cascade", "1", keys, 6);
	cr_assert_gt(json_get(j, "tg_tps")->num, 0);
	cr_assert_leq(json_get(j, "slm_token_share")->num, 1);
	json_free(j);
}

/* Fault injection through the environment: `duet run ARGS` clean, then
 * with VAR=1, 2, ... (at most max) until `quiet` runs in a row succeed
 * after a failure. A failing run must exit 1 with one line that contains
 * needle; a succeeding one must print the clean run's output. Returns
 * how many failed. */
static int fail_in_turn(const char *var, int max, int quiet, const char *needle,
			const char *const args[])
{
	char *argv[32] = { (char *)duet_bin(), "run" };
	int n = 2;
	while (n < 31 && args[n - 2])
		argv[n] = (char *)args[n - 2], n++;
	argv[n] = NULL;
	proc_result clean;
	cr_assert(proc_run(argv, &clean));
	cr_assert_eq(clean.exit_code, 0, "%s", clean.err);
	int failed = 0, ok_after = 0;
	for (int k = 1; k <= max && ok_after < quiet; k++) {
		char v[16];
		snprintf(v, sizeof v, "%d", k);
		setenv(var, v, 1);
		proc_result r;
		cr_assert(proc_run(argv, &r));
		unsetenv(var);
		cr_assert_not(r.signaled, "%s=%d: signal %d: %s", var, k, r.signal, r.err);
		if (r.exit_code == 0) {
			cr_assert_str_eq(r.out, clean.out, "%s=%d: the run went on to other "
					 "tokens", var, k);
			proc_free(&r);
			ok_after += failed > 0;
			continue;
		}
		failed++;
		ok_after = 0;
		cr_assert(strstr(r.err, needle), "%s=%d: %s", var, k, r.err);
		expect_one_line_error(&r, "run", 1);
	}
	cr_assert_eq(ok_after, quiet, "runs kept failing past %s=%d", var, max);
	proc_free(&clean);
	return failed;
}

/* Each device memory allocation of a Vulkan run failing in turn
 * (DUET_VK_FAIL_ALLOC=N, driver-shim/vk_memory.c): a one-line error naming
 * device memory and exit status 1, never a crash (under ASan: no leak);
 * past the run's allocations the output is the clean run's. */
Test(cli, vulkan_allocation_failures_are_errors, .timeout = 120)
{
	if (!vulkan_present())
		cr_skip_test("no Vulkan device: allocation faults not injected");
	char llm[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	const char *args[] = { "-m", llm, "-p", "It is", "-n", "8", "--temp", "0", "--ids",
			       "--backend", "vulkan", "--quiet", NULL };
	int failed = fail_in_turn("DUET_VK_FAIL_ALLOC", 64, 2, "device memory", args);
	cr_log_info("%d device allocations failed in turn, each an error", failed);
	cr_assert_gt(failed, 0, "no allocation was failed");
}

/* A file read failing (DUET_FAIL_READ=N, runtime/fault.h) in a streamed
 * CPU run: the model's opening and each layer read in turn give a one-line
 * error that names the read and exit status 1; past the run's reads the
 * output is the clean run's (tests/fault_read_main.c fails every read of
 * the library's readers in-process). */
Test(cli, read_failures_are_errors, .timeout = 120)
{
	char llm[512];
	snprintf(llm, sizeof llm, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	const char *args[] = { "-m", llm, "-p", "It is", "-n", "4", "--temp", "0", "--ids",
			       "--backend", "cpu", "--mem-budget", "60%", "--quiet", NULL };
	int failed = fail_in_turn("DUET_FAIL_READ", 200, 3, "Input/output error", args);
	cr_log_info("%d file reads failed in turn, each an error", failed);
	cr_assert_gt(failed, 2, "only %d reads were failed", failed);
}
