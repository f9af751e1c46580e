/* libFuzzer target: any bytes through the GGUF reader, the model checks and
 * the vocabulary; inputs that describe a small valid model also run one
 * forward step, so whatever the checks accept must be safe to execute. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu.h"
#include "gguf.h"
#include "graph.h"
#include "kv.h"
#include "model.h"
#include "tokenizer.h"

static void run_small_model(const duet_model_desc *m)
{
	const duet_hparams *hp = &m->hp;
	if (hp->n_layer > 4 || (uint64_t)hp->n_embd * hp->n_vocab > (1u << 20) ||
	    (uint64_t)hp->n_embd * hp->n_ff > (1u << 20))
		return;
	duet_graph *g = NULL;
	duet_cpu *cpu = NULL;
	duet_kv_cache kv = { 0 };
	if (duet_graph_build(m, 2, DUET_LOGITS_ALL, &g) == DUET_OK &&
	    duet_cpu_create(1, &cpu) == DUET_OK &&
	    duet_kv_cache_init(&kv, hp->n_layer, 4, hp->n_embd_kv, DUET_KV_F16) == DUET_OK) {
		int32_t tok[2] = { 0, (int32_t)(hp->n_vocab - 1) };
		duet_step st = { .tokens = tok, .n_tokens = 2, .pos0 = 1 };
		const float *logits;
		duet_cpu_run(cpu, g, &kv, &st, &logits);
	}
	duet_kv_cache_finish(&kv);
	duet_cpu_destroy(cpu);
	duet_graph_destroy(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	duet_gguf *g;
	if (duet_gguf_parse(data, size, &g) != DUET_OK)
		return 0;
	duet_vocab v;
	if (duet_vocab_init(&v, g) == DUET_OK) {
		if (v.kind != DUET_VOCAB_NONE) {
			char buf[64];
			size_t len;
			for (uint32_t t = 0; t < v.n_tokens && t < 4096; t++)
				duet_vocab_token_piece(&v, (int32_t)t, true, 1, buf,
						       sizeof buf, &len);
			duet_tokens ids = { 0 };
			static const char text[] = "Hello world, it's 2024!\n\xe2\x96\x81<s> \xff";
			duet_vocab_tokenize(&v, text, sizeof text - 1, true, true, &ids);
			free(ids.ids);
		}
		duet_vocab_finish(&v);
	}
	duet_model_desc m;
	if (duet_model_desc_init(&m, g) == DUET_OK) {
		run_small_model(&m);
		duet_model_desc_finish(&m);
	}
	duet_gguf_destroy(g);
	return 0;
}
