/* Model description: hyperparameters and weights from metadata, and a
 * named error for every missing or inconsistent piece. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "models.h"
#include "proc.h"
#include "quant.h"

static char base_llama[512], base_qwen[512];

static void setup(void)
{
	duet_synth_options o = { .arch = "llama", .dim = 64, .layers = 2,
				 .heads = 4, .kv_heads = 2, .ff = 96, .vocab = 300,
				 .type = "q8_0", .seed = 1 };
	make_model(&o, "model-llama", base_llama, sizeof base_llama);
	o.arch = "qwen2";
	o.tied = true;
	make_model(&o, "model-qwen", base_qwen, sizeof base_qwen);
}

static void teardown(void)
{
	remove(base_llama);
	remove(base_qwen);
}

TestSuite(model, .init = setup, .fini = teardown);

/* Loads path into m; returns the status (m is finished on success). */
static duet_status load(const char *path, duet_model_desc *m)
{
	duet_gguf *g;
	duet_status s = duet_gguf_open(path, &g);
	if (s != DUET_OK)
		return s;
	s = duet_model_desc_init(m, g);
	if (s == DUET_OK)
		duet_model_desc_finish(m);
	duet_gguf_destroy(g);
	return s;
}

static void expect_edit_error(const char *base, const model_edit *e,
			      duet_status want, const char *needle)
{
	char path[600];
	snprintf(path, sizeof path, "%s.edit.gguf", base);
	edit_model(base, path, e);
	duet_model_desc m;
	duet_status s = load(path, &m);
	cr_assert_eq(s, want, "status %d: %s", s, duet_last_error());
	cr_assert(strstr(duet_last_error(), needle), "message '%s' lacks '%s'",
		  duet_last_error(), needle);
	remove(path);
}

Test(model, reads_llama_hyperparameters)
{
	duet_gguf *g;
	duet_model_desc m;
	cr_assert_eq(duet_gguf_open(base_llama, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&m, g), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(m.hp.arch, DUET_ARCH_LLAMA);
	cr_assert_eq(m.hp.n_embd, 64);
	cr_assert_eq(m.hp.n_layer, 2);
	cr_assert_eq(m.hp.n_head, 4);
	cr_assert_eq(m.hp.n_head_kv, 2);
	cr_assert_eq(m.hp.head_dim, 16);
	cr_assert_eq(m.hp.n_embd_kv, 32);
	cr_assert_eq(m.hp.n_ff, 96);
	cr_assert_eq(m.hp.n_vocab, 300);
	cr_assert_eq(m.hp.n_rot, 16);
	cr_assert_eq(m.hp.rope_mode, DUET_ROPE_NORM);
	cr_assert_eq(m.hp.rope_freq_base, 10000.0f);
	cr_assert_eq(m.hp.rope_freq_scale, 1.0f);
	cr_assert_float_eq(m.hp.norm_eps, 1e-5f, 1e-10);
	cr_assert_not(m.tied_output);
	cr_assert_eq(m.output.type, DUET_TYPE_Q8_0);
	cr_assert_null(m.layers[0].bq.name);
	cr_assert_eq(m.layers[1].w_down.n_in, 96);
	cr_assert_eq(m.layers[1].w_down.n_out, 64);
	/* vectors are decoded to f32 at load */
	cr_assert_eq(m.layers[0].attn_norm.type, DUET_TYPE_F32);
	duet_model_desc_finish(&m);
	duet_gguf_destroy(g);
}

Test(model, reads_qwen2_with_biases_and_tied_output)
{
	duet_gguf *g;
	duet_model_desc m;
	cr_assert_eq(duet_gguf_open(base_qwen, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&m, g), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(m.hp.arch, DUET_ARCH_QWEN2);
	cr_assert_eq(m.hp.rope_mode, DUET_ROPE_NEOX);
	cr_assert(m.tied_output);
	cr_assert_eq(m.output.data, m.tok_embd.data);
	cr_assert_not_null(m.layers[1].bk.name);
	cr_assert_eq(m.layers[1].bk.n_in, 32);
	duet_model_desc_finish(&m);
	duet_gguf_destroy(g);
}

Test(model, oracle_models_describe_as_llama_cpp_wrote_them)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/models/llama-spm-f32.gguf", oracle_dir());
	duet_gguf *g;
	duet_model_desc m;
	cr_assert_eq(duet_gguf_open(path, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&m, g), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(m.hp.n_vocab, 32000);
	cr_assert_eq(m.hp.n_head_kv, 2);
	cr_assert(m.tied_output);
	duet_model_desc_finish(&m);
	duet_gguf_destroy(g);
	snprintf(path, sizeof path, "%s/models/llama-spm-256-q4_k_m.gguf", oracle_dir());
	cr_assert_eq(duet_gguf_open(path, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&m, g), DUET_OK, "%s", duet_last_error());
	cr_assert_not(m.tied_output);
	cr_assert_eq(m.output.type, DUET_TYPE_Q6_K);
	cr_assert_eq(m.layers[0].wq.type, DUET_TYPE_Q4_K);
	duet_model_desc_finish(&m);
	duet_gguf_destroy(g);
}

Test(model, missing_key_is_named)
{
	model_edit e = { .drop_key = "llama.embedding_length" };
	expect_edit_error(base_llama, &e, DUET_E_CORRUPT, "llama.embedding_length");
	model_edit e2 = { .drop_key = "general.architecture" };
	expect_edit_error(base_llama, &e2, DUET_E_CORRUPT, "general.architecture");
}

Test(model, missing_tensor_is_named)
{
	model_edit e = { .drop_tensor = "blk.1.attn_k.weight" };
	expect_edit_error(base_llama, &e, DUET_E_CORRUPT, "blk.1.attn_k.weight");
	model_edit e2 = { .drop_tensor = "blk.0.attn_v.bias" };
	expect_edit_error(base_qwen, &e2, DUET_E_CORRUPT, "blk.0.attn_v.bias");
}

Test(model, wrong_shape_is_named)
{
	model_edit e = { .reshape_tensor = "blk.0.ffn_up.weight" };
	expect_edit_error(base_llama, &e, DUET_E_CORRUPT, "blk.0.ffn_up.weight");
	cr_assert(strstr(duet_last_error(), "[96, 64"));
}

Test(model, inconsistent_sizes_are_reported)
{
	model_edit e = { .set_u32_key = "llama.attention.head_count", .set_u32_val = 5 };
	expect_edit_error(base_llama, &e, DUET_E_CORRUPT, "head count");
	model_edit e2 = { .set_u32_key = "llama.attention.head_count_kv", .set_u32_val = 3 };
	expect_edit_error(base_llama, &e2, DUET_E_CORRUPT, "KV head");
	model_edit e3 = { .set_u32_key = "llama.block_count", .set_u32_val = 1000000 };
	expect_edit_error(base_llama, &e3, DUET_E_CORRUPT, "block_count");
	model_edit e5 = { .set_u32_key = "llama.rope.dimension_count", .set_u32_val = 17 };
	expect_edit_error(base_llama, &e5, DUET_E_CORRUPT, "rope dimension");
	model_edit e6 = { .set_str_key = "llama.embedding_length", .set_str_val = "64" };
	expect_edit_error(base_llama, &e6, DUET_E_CORRUPT, "llama.embedding_length");
}

Test(model, unsupported_architecture_is_named)
{
	model_edit e = { .set_str_key = "general.architecture", .set_str_val = "mamba" };
	expect_edit_error(base_llama, &e, DUET_E_UNSUPPORTED, "mamba");
}

Test(model, mixture_of_experts_is_refused)
{
	model_edit e = { .set_u32_key = "llama.expert_count", .set_u32_val = 8 };
	expect_edit_error(base_llama, &e, DUET_E_UNSUPPORTED, "expert_count");
}

Test(model, rope_scaling_linear_and_unsupported)
{
	char p1[600], p2[600];
	snprintf(p1, sizeof p1, "%s.linear.gguf", base_llama);
	snprintf(p2, sizeof p2, "%s.linear2.gguf", base_llama);
	model_edit e = { .set_str_key = "llama.rope.scaling.type", .set_str_val = "linear",
			 .set_f32_key = "llama.rope.scaling.factor", .set_f32_val = 4.0f };
	edit_model(base_llama, p1, &e);
	duet_gguf *g;
	duet_model_desc m;
	cr_assert_eq(duet_gguf_open(p1, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&m, g), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(m.hp.rope_freq_scale, 0.25f);
	duet_model_desc_finish(&m);
	duet_gguf_destroy(g);
	model_edit e2 = { .set_str_key = "llama.rope.scaling.type", .set_str_val = "yarn" };
	expect_edit_error(base_llama, &e2, DUET_E_UNSUPPORTED, "yarn");
	model_edit e3 = { .set_f32_key = "llama.rope.freq_base", .set_f32_val = -1.0f };
	expect_edit_error(base_llama, &e3, DUET_E_CORRUPT, "rope base");
	remove(p1);
	(void)p2;
}

Test(model, uncomputable_tensor_type_is_named)
{
	char path[512];
	duet_synth_options o = { .arch = "llama", .dim = 256, .layers = 1, .heads = 2,
				 .ff = 256, .vocab = 260, .type = "q4_k", .seed = 2 };
	make_model(&o, "model-k", path, sizeof path);
	model_edit e = { .retype_tensor = "blk.0.attn_q.weight", .retype = DUET_TYPE_Q2_K };
	expect_edit_error(path, &e, DUET_E_UNSUPPORTED, "blk.0.attn_q.weight");
	cr_assert(strstr(duet_last_error(), "q2_K"));
	remove(path);
}
