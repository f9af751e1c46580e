/* The committed demo pair (models/, tools/train) stays what it was trained
 * to be: greedy continuations of three prompts per model equal the golden
 * ids (whose texts equal llama.cpp's, tests/llamacpp/austen_greedy.mjs) on
 * the CPU and on Vulkan with both kernel families, and `duet score` of a
 * held-out passage gives the NLL the trainer reported for the checkpoint,
 * with the LLM's perplexity at least 10% below the SLM's. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "json.h"
#include "models.h"
#include "proc.h"

static json *golden(char **text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/golden/austen.json", DUET_SRC_DIR);
	*text = read_text_file(path, NULL);
	cr_assert_not_null(*text, "cannot read %s", path);
	json *root = json_parse(*text);
	cr_assert_not_null(root, "%s is not valid JSON", path);
	return root;
}

static void model_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/models/%s", DUET_SRC_DIR, name);
}

static char *run_out(char *const argv[])
{
	proc_result r;
	cr_assert(proc_run(argv, &r));
	cr_assert_not(r.signaled, "%s died from signal %d", argv[1], r.signal);
	cr_assert_eq(r.exit_code, 0, "duet %s failed: %s", argv[1], r.err);
	char *out = r.out;
	r.out = NULL;
	proc_free(&r);
	return out;
}

/* Gap between the CPU's top-1 and top-2 logits after prompt + ids[:k]
 * (teacher-forced with duet score). */
static double cpu_top_gap(const char *model, const char *prompt, const json *ids,
			  size_t k)
{
	char *targv[] = { (char *)duet_bin(), "tokenize", "-m", (char *)model, "-p",
			  (char *)prompt, "--ids", NULL };
	char *toks = run_out(targv);
	size_t cap = strlen(toks) + 12 * (k + 1) + 1;
	char *seq = malloc(cap), *q = seq;
	for (char *p = toks; *p; p++)
		if ((*p >= '0' && *p <= '9') || *p == ',')
			*q++ = *p;
	for (size_t i = 0; i < k; i++)
		q += sprintf(q, ",%.0f", json_at(ids, i)->num);
	*q = '\0';
	char *sargv[] = { (char *)duet_bin(), "score", "-m", (char *)model, "--tokens",
			  seq, "--top", "2", "--json", "--positions", "--backend", "cpu",
			  NULL };
	char *out = run_out(sargv);
	json *j = json_parse(out);
	cr_assert_not_null(j, "score printed invalid JSON: %s", out);
	const json *pos = json_get(j, "positions");
	const json *top = json_get(json_at(pos, pos->n - 1), "top");
	double gap = json_get(json_at(top, 0), "logit")->num -
		     json_get(json_at(top, 1), "logit")->num;
	json_free(j);
	free(out);
	free(seq);
	free(toks);
	return gap;
}

/* Vulkan on a real GPU may sum and round activations differently from the
 * CPU (an H200 moved these logits by up to 0.04): there a greedy id may
 * differ where the CPU's top two were closer than this; the run has then
 * left the golden path and the rest of the case is not compared. */
#define TIE_GAP 0.1

/* kernels: NULL for the CPU backend, else the Vulkan kernel family ("":
 * the device's own). */
static void check_greedy(const char *kernels)
{
	char *text;
	json *root = golden(&text);
	const json *cases = json_get(root, "cases");
	cr_assert(cases && cases->n >= 9, "golden file lists %zu cases", cases ? cases->n : 0);
	/* the family the device does not run by default: the first 8 ids
	 * of each case (the gpu family on lavapipe: 90 s for all 32) */
	bool other = !family_in_full(kernels);
	for (size_t i = 0; i < cases->n; i++) {
		const json *c = json_at(cases, i);
		const json *ids = json_get(c, "ids");
		size_t n_cmp = other && ids->n > 8 ? 8 : ids->n;
		char n[16];
		snprintf(n, sizeof n, "%zu", other ? n_cmp : (size_t)json_get(root, "n_predict")->num);
		char model[1024];
		model_path(model, sizeof model, json_get(c, "model")->str);
		const char *prompt = json_get(c, "prompt")->str;
		char *argv[] = { (char *)duet_bin(), "run", "-m", model, "-p", (char *)prompt,
				 "-n", n, "--temp", "0", "--ids", "--no-display-prompt",
				 "--backend", kernels ? "vulkan" : "cpu",
				 kernels ? "--kernels" : NULL, (char *)kernels, NULL };
		char *out = run_out(argv);
		char *p = out;
		for (size_t k = 0; k < n_cmp; k++) {
			char *end;
			long id = strtol(p, &end, 10);
			cr_assert(end != p, "%s \"%s\" (%s): %zu ids, want %zu", model, prompt,
				  kernels ? kernels : "cpu", k, ids->n);
			if (kernels && id != (long)json_at(ids, k)->num) {
				double gap = cpu_top_gap(model, prompt, ids, k);
				cr_assert_lt(gap, TIE_GAP, "%s \"%s\" (%s): id %zu is %ld, "
					     "want %.0f (CPU top-2 gap %.4f)", model, prompt,
					     kernels, k, id, json_at(ids, k)->num, gap);
				cr_log_info("%s \"%s\" (%s): id %zu is %ld at a near tie "
					    "(gap %.4f); the rest is not compared", model,
					    prompt, kernels, k, id, gap);
				p = NULL;
				break;
			}
			cr_assert_eq(id, (long)json_at(ids, k)->num,
				     "%s \"%s\" (%s): id %zu is %ld, want %.0f", model, prompt,
				     kernels ? kernels : "cpu", k, id, json_at(ids, k)->num);
			p = end;
		}
		if (p) {
			strtol(p, &p, 10);
			cr_assert(strspn(p, " \n") == strlen(p), "%s \"%s\": more ids than "
				  "the golden %zu", model, prompt, n_cmp);
		}
		free(out);
	}
	json_free(root);
	free(text);
}

static double score_nll(const char *model, const char *passage, const char *kernels)
{
	char *argv[] = { (char *)duet_bin(), "score", "-m", (char *)model, "-f",
			 (char *)passage, "-c", "256", "--json",
			 "--backend", kernels ? "vulkan" : "cpu",
			 kernels && *kernels ? "--kernels" : NULL, (char *)kernels, NULL };
	char *out = run_out(argv);
	json *j = json_parse(out);
	cr_assert_not_null(j, "score printed invalid JSON: %s", out);
	double nll = json_get(j, "nll")->num;
	json_free(j);
	free(out);
	return nll;
}

/* f16 weights: only rounding; Q8_0: 8-bit weights and activations move the
 * mean NLL by a few thousandths (measured 0.0001 on these files). */
static void check_heldout(const char *kernels)
{
	char *text;
	json *root = golden(&text);
	const json *h = json_get(root, "heldout");
	char passage[1024];
	snprintf(passage, sizeof passage, "%s/tests/golden/%s", DUET_SRC_DIR,
		 json_get(h, "file")->str);
	static const struct { const char *file, *who; double tol; } files[] = {
		{ "austen-slm-f16.gguf", "slm", 0.005 },
		{ "austen-slm-q8_0.gguf", "slm", 0.02 },
		{ "austen-llm-q8_0.gguf", "llm", 0.02 },
	};
	double got[3];
	for (size_t i = 0; i < 3; i++) {
		char model[1024];
		model_path(model, sizeof model, files[i].file);
		double want = json_get(json_get(h, "nll"), files[i].who)->num;
		got[i] = score_nll(model, passage, kernels);
		cr_expect(fabs(got[i] - want) <= files[i].tol,
			  "%s (%s): held-out NLL %.5f, the trainer reported %.5f",
			  files[i].file, kernels ? "vulkan" : "cpu", got[i], want);
	}
	double ratio = exp(got[2]) / exp(got[1]);
	cr_expect(ratio <= 0.9, "LLM perplexity %.3f is not 10%% below the SLM's %.3f",
		  exp(got[2]), exp(got[1]));
	json_free(root);
	free(text);
}

Test(austen, greedy_continuations_match_golden_cpu, .timeout = 300)
{
	check_greedy(NULL);
}

Test(austen, heldout_nll_matches_trainer_cpu, .timeout = 300)
{
	check_heldout(NULL);
}

Test(gpu_austen, greedy_continuations_match_golden_cpu_kernels, .timeout = 600)
{
	need_vulkan();
	check_greedy("cpu");
}

Test(gpu_austen, greedy_continuations_match_golden_gpu_kernels, .timeout = 600)
{
	need_vulkan();
	check_greedy("gpu");
}

/* With the device's own kernel family: the gpu family scores 5k tokens
 * slowly on lavapipe (160 s), and its numerics are covered above and by
 * gpu_oracle. */
Test(gpu_austen, heldout_nll_matches_trainer_vulkan, .timeout = 600)
{
	need_vulkan();
	check_heldout("");
}
