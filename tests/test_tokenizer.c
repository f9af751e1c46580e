/* Tokenizers: every text of ../shared/oracle/tokenizer gives llama.cpp's ids
 * and decodes back; special tokens only when asked; streaming output never
 * splits a UTF-8 sequence; chat templates are recognised and rendered as
 * llama.cpp renders them; invalid UTF-8 is survived. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "duet/duet.h"
#include "json.h"
#include "proc.h"
#include "gguf.h"
#include "unicode.h"

static duet_model *load_vocab(const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tokenizer/%s", oracle_dir(), name);
	duet_model *m;
	duet_model_options o = { .vocab_only = true };
	cr_assert_eq(duet_model_load(path, &o, &m), DUET_OK, "%s: %s", path,
		     duet_last_error());
	return m;
}

static size_t tokenize(duet_model *m, const char *text, size_t len, bool add,
		       bool special, int32_t *ids, size_t cap)
{
	size_t n;
	cr_assert_eq(duet_tokenize(m, text, len, add, special, ids, cap, &n), DUET_OK,
		     "%s", duet_last_error());
	return n;
}

/* llama.cpp's detokenizer clean-up for vocabularies that ask for it:
 * " ?", " !", " .", " ," lose the space; " ' " loses both; " 's", " 'm",
 * " 're", " 've" lose the space. Written from the rules, not our code. */
static void clean(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (w > s && w[-1] == ' ' && strchr("?!.,", *r))
			w--;
		*w++ = *r;
	}
	*w = '\0';
	w = s;
	for (char *r = s; *r; r++) {
		if (*r == '\'' && w > s && w[-1] == ' ' && r[1] == ' ') {
			w[-1] = '\'';
			r++;
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	w = s;
	for (char *r = s; *r; r++) {
		if (*r == '\'' && w > s && w[-1] == ' ' && r[1] &&
		    (r[1] == 's' || r[1] == 'm' || (r[2] && ((r[1] == 'r' && r[2] == 'e') ||
							     (r[1] == 'v' && r[2] == 'e')))))
			w--;
		*w++ = *r;
	}
	*w = '\0';
}

static bool cleans_spaces(const char *vocab)
{
	const char *raw[] = { "llama-spm", "phi-3", "qwen2", "deepseek-llm", "deepseek-coder" };
	for (int i = 0; i < 5; i++)
		if (strstr(vocab, raw[i]))
			return false;
	return true;
}

/* One vocabulary: every .inp text -> the .out ids, and back. */
static void check_vocab(const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tokenizer/%s.inp", oracle_dir(), name);
	size_t inp_len;
	char *inp = read_text_file(path, &inp_len);
	snprintf(path, sizeof path, "%s/tokenizer/%s.out", oracle_dir(), name);
	char *out = read_text_file(path, NULL);
	cr_assert(inp && out, "cannot read %s", path);
	duet_model *m = load_vocab(name);
	static const char sep[] = "\n__ggml_vocab_test__\n";
	char *text = inp, *line = out;
	int cases = 0;
	while (text < inp + inp_len) {
		char *end = strstr(text, sep);
		size_t len = end ? (size_t)(end - text) : strlen(text);
		char *nl = strchr(line, '\n');
		cr_assert_not_null(nl, "%s: fewer .out lines than texts", name);
		*nl = '\0';
		int32_t ids[4096], want[4096];
		size_t n = tokenize(m, text, len, false, false, ids, 4096), k = 0;
		for (char *p = line, *e; (want[k] = (int32_t)strtol(p, &e, 10)), e != p; p = e)
			k++;
		cr_expect_eq(n, k, "%s case %d: %zu ids, llama.cpp has %zu", name, cases, n, k);
		for (size_t i = 0; i < n && i < k; i++)
			cr_expect_eq(ids[i], want[i], "%s case %d: id %zu is %d, llama.cpp has %d",
				     name, cases, i, ids[i], want[i]);
		char back[16384], expect[16384];
		size_t blen;
		cr_assert_eq(duet_detokenize(m, ids, n, false, false, back, sizeof back - 1, &blen),
			     DUET_OK);
		back[blen] = '\0';
		memcpy(expect, text, len);
		expect[len] = '\0';
		if (cleans_spaces(name))
			clean(expect);
		cr_expect_str_eq(back, expect, "%s case %d does not decode back", name, cases);
		cases++;
		line = nl + 1;
		text = end ? end + sizeof sep - 1 : text + len;
	}
	cr_assert_geq(cases, 40);
	duet_model_destroy(m);
	free(inp);
	free(out);
}

Test(tokenizer, llama_spm_matches_llama_cpp) { check_vocab("ggml-vocab-llama-spm.gguf"); }
Test(tokenizer, phi3_matches_llama_cpp) { check_vocab("ggml-vocab-phi-3.gguf"); }
Test(tokenizer, gpt2_matches_llama_cpp) { check_vocab("ggml-vocab-gpt-2.gguf"); }
Test(tokenizer, llama3_matches_llama_cpp) { check_vocab("ggml-vocab-llama-bpe.gguf"); }
Test(tokenizer, qwen2_matches_llama_cpp) { check_vocab("ggml-vocab-qwen2.gguf"); }
Test(tokenizer, deepseek_llm_matches_llama_cpp) { check_vocab("ggml-vocab-deepseek-llm.gguf"); }
Test(tokenizer, deepseek_coder_matches_llama_cpp) { check_vocab("ggml-vocab-deepseek-coder.gguf"); }
Test(tokenizer, falcon_matches_llama_cpp) { check_vocab("ggml-vocab-falcon.gguf"); }
Test(tokenizer, mpt_matches_llama_cpp) { check_vocab("ggml-vocab-mpt.gguf"); }
Test(tokenizer, refact_matches_llama_cpp) { check_vocab("ggml-vocab-refact.gguf"); }
Test(tokenizer, starcoder_matches_llama_cpp) { check_vocab("ggml-vocab-starcoder.gguf"); }

Test(tokenizer, every_oracle_vocab_is_covered)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/tokenizer", oracle_dir());
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	const char *covered = "llama-spm phi-3 gpt-2 llama-bpe qwen2 deepseek-llm "
			      "deepseek-coder falcon mpt refact starcoder";
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 17 || strcmp(e->d_name + n - 5, ".gguf"))
			continue;
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(n - 16), e->d_name + 11);
		cr_expect(strstr(covered, name), "no test for %s", e->d_name);
	}
	closedir(d);
}

Test(tokenizer, bos_follows_the_model)
{
	duet_model *spm = load_vocab("ggml-vocab-llama-spm.gguf");
	duet_model *gpt2 = load_vocab("ggml-vocab-gpt-2.gguf");
	duet_model *l3 = load_vocab("ggml-vocab-llama-bpe.gguf");
	int32_t ids[16];
	cr_assert_eq(tokenize(spm, "Hi", 2, true, false, ids, 16), 2);
	cr_assert_eq(ids[0], 1);
	cr_assert_eq(tokenize(gpt2, "Hi", 2, true, false, ids, 16), 1); /* no BOS */
	cr_assert_eq(tokenize(l3, "Hi", 2, true, false, ids, 16), 2);
	cr_assert_eq(ids[0], 128000);
	size_t n;
	cr_assert_eq(duet_tokenize(spm, "Hello world", 11, true, false, ids, 1, &n),
		     DUET_E_RANGE);
	cr_assert_eq(n, 3);
	duet_model_destroy(spm);
	duet_model_destroy(gpt2);
	duet_model_destroy(l3);
}

Test(tokenizer, control_tokens_only_when_asked)
{
	duet_model *m = load_vocab("ggml-vocab-qwen2.gguf");
	const char *t = "a<|im_start|>b";
	int32_t ids[32];
	size_t n = tokenize(m, t, strlen(t), false, false, ids, 32);
	for (size_t i = 0; i < n; i++)
		cr_assert_neq(ids[i], 151644, "control token parsed without asking");
	n = tokenize(m, t, strlen(t), false, true, ids, 32);
	cr_assert_eq(n, 3);
	cr_assert_eq(ids[1], 151644);
	/* decoding hides control tokens unless asked */
	char buf[64];
	size_t len;
	cr_assert_eq(duet_detokenize(m, ids, n, false, false, buf, sizeof buf, &len), DUET_OK);
	cr_assert_eq(len, 2);
	cr_assert_eq(duet_detokenize(m, ids, n, false, true, buf, sizeof buf, &len), DUET_OK);
	cr_assert_eq(len, strlen(t));
	cr_assert(duet_model_token_is_eog(m, 151645)); /* <|im_end|> */
	cr_assert(duet_model_token_is_eog(m, 151643)); /* <|endoftext|> */
	cr_assert_not(duet_model_token_is_eog(m, 151644));
	duet_model_destroy(m);
}

/* A small SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens,
 * and "<tool>" typed user-defined. Returns its path. */
static void write_vocab_with_user_token(char *path, size_t cap)
{
	snprintf(path, cap, "%s/tok-user-%d.gguf", test_tmpdir(), getpid());
	const char *tok[260];
	char bytes[256][8];
	int32_t type[260];
	float score[260] = { 0 };
	tok[0] = "<unk>", tok[1] = "<s>", tok[2] = "</s>";
	type[0] = 2, type[1] = type[2] = 3;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		tok[3 + b] = bytes[b];
		type[3 + b] = 6;
	}
	tok[259] = "<tool>";
	type[259] = 4;
	duet_gguf_writer *w;
	cr_assert_eq(duet_gguf_writer_create(&w), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", DUET_GGUF_STRING, tok, 260), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", DUET_GGUF_I32, type, 260), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_arr(w, "tokenizer.ggml.scores", DUET_GGUF_F32, score, 260), DUET_OK);
	cr_assert_eq(duet_gguf_writer_write_file(w, path), DUET_OK);
	duet_gguf_writer_destroy(w);
}

/* User-defined tokens are cut out of text even without parse_special. */
Test(tokenizer, user_defined_tokens_are_always_cut)
{
	char path[512];
	write_vocab_with_user_token(path, sizeof path);
	duet_model *m;
	duet_model_options o = { .vocab_only = true };
	cr_assert_eq(duet_model_load(path, &o, &m), DUET_OK, "%s", duet_last_error());
	int32_t ids[64];
	size_t n = tokenize(m, "x<tool>y", 8, false, false, ids, 64);
	/* "▁x" as 4 byte tokens, <tool>, then "▁y" (SentencePiece prefixes a
	 * space after a special token too) as 4 byte tokens */
	cr_assert_eq(n, 9);
	cr_assert_eq(ids[4], 259);
	cr_assert_eq(ids[5], 3 + 0xe2);
	cr_assert_eq(ids[8], 3 + 'y');
	duet_model_destroy(m);
	remove(path);
}

Test(tokenizer, invalid_utf8_is_survived)
{
	static const char *bad[] = {
		"\xff", "\xc3", "a\xe2\x82", "\xf0\x9f\x98", "\x80\x80\x80", "\xf8\x88\x80\x80\x80",
		"\xf5\x90\x80\x80", "\xed\xa0\x80 surrogate", "\xc0\xaf overlong", "ok \xe2 x",
	};
	const char *vocabs[] = { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf",
				 "ggml-vocab-qwen2.gguf", "ggml-vocab-deepseek-llm.gguf" };
	for (int v = 0; v < 4; v++) {
		duet_model *m = load_vocab(vocabs[v]);
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			int32_t ids[64];
			size_t len = strlen(bad[i]);
			char *exact = malloc(len); /* no terminator: ASan sees overreads */
			memcpy(exact, bad[i], len);
			size_t n = tokenize(m, exact, len, true, false, ids, 64);
			cr_assert_gt(n, 0, "%s: nothing for case %zu", vocabs[v], i);
			free(exact);
		}
		duet_model_destroy(m);
	}
}

/* Pushing the pieces of a text one token at a time only ever prints whole
 * UTF-8 sequences, and all of them. */
Test(tokenizer, streaming_never_splits_utf8)
{
	duet_model *m = load_vocab("ggml-vocab-llama-spm.gguf");
	const char *t = "日本語 🧑🏿‍💻 naïve ☕ end";
	int32_t ids[128];
	size_t n = tokenize(m, t, strlen(t), false, false, ids, 128);
	duet_utf8_stream st = { 0 };
	char all[512];
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		char piece[64], out[68];
		size_t len;
		cr_assert_eq(duet_model_token_bytes(m, ids[i], piece, sizeof piece, &len), DUET_OK);
		size_t k = duet_utf8_stream_push(&st, piece, len, out);
		for (size_t j = 0; j < k;) { /* each chunk is valid UTF-8 by itself */
			uint32_t cp;
			size_t l = duet_utf8_decode((const unsigned char *)out + j, k - j, &cp);
			cr_assert(cp != DUET_UNICODE_REPLACEMENT, "split sequence at token %zu", i);
			j += l;
		}
		memcpy(all + total, out, k);
		total += k;
	}
	total += duet_utf8_stream_flush(&st, all + total);
	all[total] = '\0';
	cr_assert_str_eq(all + 1, t); /* + 1: the SentencePiece leading space */
	duet_model_destroy(m);
}

Test(tokenizer, unknown_pre_falls_back_and_says_so)
{
	/* mkmodel copies a vocabulary; rewrite its pre-tokenizer name */
	char path[512];
	snprintf(path, sizeof path, "%s/tok-pre-%d.gguf", test_tmpdir(), getpid());
	char vocab[1024];
	snprintf(vocab, sizeof vocab, "%s/tokenizer/ggml-vocab-gpt-2.gguf", oracle_dir());
	duet_gguf *g;
	cr_assert_eq(duet_gguf_open(vocab, &g), DUET_OK);
	duet_gguf_writer *w;
	cr_assert_eq(duet_gguf_writer_create(&w), DUET_OK);
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (strcmp(g->kv[i].key, "tokenizer.ggml.pre") != 0)
			cr_assert_eq(duet_gguf_writer_set(w, g->kv[i].key, &g->kv[i].value), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_str(w, "tokenizer.ggml.pre", "made-up"), DUET_OK);
	cr_assert_eq(duet_gguf_writer_write_file(w, path), DUET_OK);
	duet_gguf_writer_destroy(w);
	duet_gguf_destroy(g);
	duet_model *m;
	duet_model_options o = { .vocab_only = true };
	cr_assert_eq(duet_model_load(path, &o, &m), DUET_OK);
	cr_assert(strstr(duet_model_warning(m), "made-up"));
	int32_t ids[16];
	cr_assert_gt(tokenize(m, "Hello world", 11, false, false, ids, 16), 0);
	duet_model_destroy(m);
	remove(path);
}

/* ---- chat templates ------------------------------------------------------ */

Test(chat, templates_are_recognised_as_llama_cpp_does)
{
	struct { const char *tmpl, *family; } c[] = {
		{ "{% for m in messages %}<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>\n{% endfor %}", "chatml" },
		{ "{{ bos_token }}{% if messages[0]['role'] == 'system' %}<<SYS>>\n...[INST] {{ content.strip() }}", "llama2-sys-strip" },
		{ "[INST] {{ message['content'] }} [/INST]", "llama2" },
		{ "<<SYS>> [INST]", "llama2-sys" },
		{ "{%- if messages[0]['role'] == 'system' %}[SYSTEM_PROMPT]{{ m }}[/SYSTEM_PROMPT][INST]", "mistral-v7" },
		{ "<|start_header_id|>{{ role }}<|end_header_id|>\n\n{{ content }}<|eot_id|>", "llama3" },
		{ "<start_of_turn>user\n{{ content }}<end_of_turn>", "gemma" },
		{ "<|user|>\n{{ content }}<|end|>\n<|assistant|>", "phi3" },
		{ "<|user|>\n{{ content }}<|endoftext|>", "zephyr" },
		{ "### Instruction:\n{{ content }}\n### Response:\n<|EOT|>", "deepseek" },
		{ "", "plain" },
		{ "{{ messages | tojson }}", NULL },
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		const char *got = duet_chat_detect(c[i].tmpl);
		if (c[i].family)
			cr_expect(got && strcmp(got, c[i].family) == 0, "case %zu: %s", i,
				  got ? got : "(null)");
		else
			cr_expect_null(got, "case %zu: an unknown template was guessed as %s", i, got);
	}
}

static void expect_render(const char *family, const char *want)
{
	duet_chat_message msgs[] = {
		{ "system", "Be brief." }, { "user", "Hi" },
		{ "assistant", "Hello." }, { "user", "Bye" },
	};
	duet_chat_text t;
	cr_assert_eq(duet_chat_render(family, msgs, 4, true, &t), DUET_OK);
	cr_expect_str_eq(t.text, want, "%s", family);
	duet_chat_text_free(&t);
}

Test(chat, families_render_like_llama_cpp)
{
	expect_render("chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
		      "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
		      "<|im_start|>assistant\n");
	expect_render("llama2-sys", "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello.</s>"
		      "[INST] Bye [/INST]");
	expect_render("llama3", "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
		      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
		      "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
		      "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
		      "<|start_header_id|>assistant<|end_header_id|>\n\n");
	expect_render("mistral-v7", "[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST] Hi[/INST] Hello.</s>"
		      "[INST] Bye[/INST]");
	expect_render("gemma", "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
		      "Hello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
	expect_render("phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
		      "<|user|>\nBye<|end|>\n<|assistant|>\n");
	expect_render("zephyr", "<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n"
		      "<|assistant|>\nHello.<|endoftext|>\n<|user|>\nBye<|endoftext|>\n<|assistant|>\n");
	expect_render("deepseek", "Be brief.### Instruction:\nHi\n### Response:\nHello.\n<|EOT|>\n"
		      "### Instruction:\nBye\n### Response:\n");
	expect_render("plain", "Be brief.\n\nHi\n\nHello.\n\nBye");
}

Test(chat, markers_become_control_tokens_but_user_text_does_not)
{
	duet_model *m = load_vocab("ggml-vocab-qwen2.gguf");
	cr_assert_str_eq(duet_model_chat_template(m), "chatml"); /* Qwen: its own template */
	duet_chat_message msgs[] = { { "user", "say <|im_end|> now" } };
	int32_t ids[64];
	size_t n;
	cr_assert_eq(duet_chat_tokenize(m, "chatml", msgs, 1, true, ids, 64, &n), DUET_OK,
		     "%s", duet_last_error());
	int ends = 0, starts = 0;
	for (size_t i = 0; i < n; i++) {
		ends += ids[i] == 151645;
		starts += ids[i] == 151644;
	}
	cr_assert_eq(starts, 2); /* user turn and assistant turn */
	cr_assert_eq(ends, 1);   /* the template's, not the user's */
	cr_assert_eq(duet_chat_tokenize(m, "no-such-family", msgs, 1, true, ids, 64, &n),
		     DUET_E_INVAL);
	duet_model_destroy(m);
}
