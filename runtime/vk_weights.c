/* Uploading a model to a Vulkan device: every matrix repacked for the
 * kernels (vk_pack.h), Q/K/V and gate/up fused per layer when their types
 * match, rows reordered for the fused epilogues, big matrices split by rows
 * so each part fits one binding. */
#include <stdlib.h>
#include <string.h>

#include "../shaders/abi/kernels.h"
#include "error.h"
#include "vk_pack.h"
#include "vk_weights.h"

/* Rows of a matrix to upload, in kernel order, each from a GGUF row. */
typedef struct row_src {
	const uint8_t **rows;
	uint32_t n;
} row_src;

duet_status duet_vk_check_model(const duet_vk_device *d, const duet_model_desc *m)
{
	const duet_hparams *hp = &m->hp;
	(void)d;
	if (hp->head_dim % 8 || hp->n_embd_kv % 8)
		return DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan kernels need a "
				"head size and KV width that are multiples of 8 "
				"(head_dim %u)", hp->head_dim);
	if (hp->n_rot % 4 || hp->n_rot > hp->head_dim)
		return DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan kernels need a "
				"rotary dimension that is a multiple of 4 (n_rot %u)",
				hp->n_rot);
	if (!duet_vk_pack_supported(m->output.type))
		return DUET_ERR(DUET_E_UNSUPPORTED, "tensor %s: type %s has no "
				"Vulkan kernel", m->output.name,
				duet_type_name(m->output.type));
	for (uint32_t il = 0; il < hp->n_layer; il++) {
		const duet_layer *L = &m->layers[il];
		const duet_weight *lw[DUET_LAYER_MATRICES] = DUET_LAYER_MATRIX_LIST(L);
		for (size_t i = 0; i < DUET_LAYER_MATRICES; i++)
			if (!duet_vk_pack_supported(lw[i]->type))
				return DUET_ERR(DUET_E_UNSUPPORTED, "tensor %s: "
						"type %s has no Vulkan kernel",
						lw[i]->name, duet_type_name(lw[i]->type));
	}
	return DUET_OK;
}

static duet_status upload_f32(duet_vk_weights *w, const float *v, uint32_t n,
			      duet_vk_range *out)
{
	if (w->mode == VK_UP_FILL || w->mode == VK_UP_MEASURE)
		return DUET_OK; /* vectors stay resident */
	uint64_t bytes = ((uint64_t)n * 4 + 15) / 16 * 16;
	duet_status s = duet_vk_heap_alloc(w->heap, bytes, out);
	if (s == DUET_OK)
		s = duet_vk_upload(w->d, out, 0, v, (uint64_t)n * 4);
	return s;
}

uint64_t duet_vk_binding_reach(const duet_vk_caps *c, bool storage, bool texel)
{
	uint64_t most = c->max_alloc;
	if (storage && c->max_storage_range < most)
		most = c->max_storage_range;
	if (texel && c->max_texel_bytes < most)
		most = c->max_texel_bytes;
	const char *env = getenv("DUET_VK_MAX_RANGE");
	uint64_t play = env ? strtoull(env, NULL, 10) : 0;
	return play >= 4096 && play < most ? play : most;
}

/* Most rows one part may hold: the binding range the variant uses, the
 * allocation cap, and whole groups of `align` rows (quads, pairs). */
static uint32_t rows_per_part(const duet_vk_weights *w, uint64_t row_bytes,
			      uint32_t align)
{
	uint64_t limit = duet_vk_binding_reach(duet_vk_device_get_caps(w->d),
					       w->gpu, !w->gpu);
	uint64_t rows = limit / row_bytes;
	rows -= rows % align;
	return rows > UINT32_MAX ? UINT32_MAX : (uint32_t)rows;
}

static duet_status upload_mat(duet_vk_weights *w, uint32_t type, uint32_t n_in,
			      const row_src *src, uint32_t align, vk_mat *mat);

/* Places `bytes` of a matrix part: from the heap, or (LAYOUT, MEASURE)
 * next in the slot being laid out, in its next chunk when the current one
 * is full (LAYOUT allocates chunks as the slot first needs them). */
static duet_status place(duet_vk_weights *w, uint64_t bytes, duet_vk_range *out)
{
	if (!w->bump)
		return duet_vk_heap_alloc(w->heap, bytes, out);
	const duet_vk_caps *c = duet_vk_device_get_caps(w->d);
	uint64_t a = 256; /* covers every binding's offset alignment */
	uint64_t at = (w->bump_used + a - 1) / a * a;
	if (w->mode == VK_UP_MEASURE) {
		w->bump_used = at + bytes;
		return DUET_OK;
	}
	vk_slot *sl = w->bump;
	while (w->bump_chunk < sl->n_chunks &&
	       at + bytes > sl->chunk[w->bump_chunk].bytes) {
		w->bump_chunk++;
		w->bump_used = at = 0;
	}
	if (w->bump_chunk == sl->n_chunks) {
		if (sl->n_chunks == VK_SLOT_CHUNKS)
			return DUET_ERR(DUET_E_UNSUPPORTED, "a streamed layer needs "
					"more than %d allocations", VK_SLOT_CHUNKS);
		uint64_t want = w->slot_bytes > bytes ? w->slot_bytes : bytes;
		if (want > c->max_alloc)
			want = c->max_alloc > bytes ? c->max_alloc : bytes;
		duet_status s = duet_vk_heap_alloc(w->slot_heap, want,
						   &sl->chunk[sl->n_chunks]);
		if (s != DUET_OK)
			return duet_error_wrap(s, "a streaming slot");
		if (!sl->chunk[sl->n_chunks].map)
			return DUET_ERR(DUET_E_UNSUPPORTED, "host-visible memory "
					"for streaming slots is not mapped");
		sl->n_chunks++;
		at = 0;
	}
	*out = duet_vk_sub(sl->chunk[w->bump_chunk], at, bytes);
	w->bump_used = at + bytes;
	return DUET_OK;
}

duet_status duet_vk_mat_upload(duet_vk_weights *w, uint32_t type, uint32_t n_in,
			       const uint8_t **rows, uint32_t n, uint32_t align,
			       vk_mat *out)
{
	row_src src = { rows, n };
	return upload_mat(w, type, n_in, &src, align, out);
}

static duet_status upload_mat(duet_vk_weights *w, uint32_t type, uint32_t n_in,
			      const row_src *src, uint32_t align, vk_mat *mat)
{
	uint64_t row_bytes = duet_vk_pack_row_texels(type, n_in) * 16;
	if (w->mode != VK_UP_FILL) {
		memset(mat, 0, sizeof *mat);
		mat->type = type;
		mat->dot = duet_vk_dot_format(type);
		mat->n_in = n_in;
		mat->n_pad = duet_vk_pad256(n_in);
		mat->n_rows = src->n;
		mat->row_texels = (uint32_t)(row_bytes / 16);
		uint32_t per = rows_per_part(w, row_bytes, align);
		if (per == 0)
			return DUET_ERR(DUET_E_UNSUPPORTED, "a row of %u elements "
					"does not fit one binding of the device", n_in);
		mat->n_parts = (src->n + per - 1) / per;
		mat->parts = calloc(mat->n_parts, sizeof *mat->parts);
		if (!mat->parts)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		for (uint32_t p = 0; p < mat->n_parts; p++) {
			vk_part *part = &mat->parts[p];
			part->row0 = p * per;
			part->n_rows = src->n - part->row0 < per ? src->n - part->row0
								 : per;
			duet_status s = place(w, row_bytes * part->n_rows, &part->range);
			if (s != DUET_OK)
				return s;
		}
	}
	if (w->mode == VK_UP_LAYOUT || w->mode == VK_UP_MEASURE)
		return DUET_OK; /* written when the layer streams in */
	uint8_t *tmp = NULL;
	duet_status s = DUET_OK;
	for (uint32_t p = 0; s == DUET_OK && p < mat->n_parts; p++) {
		vk_part *part = &mat->parts[p];
		for (uint32_t r = 0; s == DUET_OK && r < part->n_rows; r++) {
			uint8_t *dst = part->range.map
					       ? (uint8_t *)part->range.map + r * row_bytes
					       : NULL;
			if (!dst && !tmp && !(tmp = malloc(row_bytes)))
				s = DUET_ERR(DUET_E_NOMEM, "out of memory");
			if (s != DUET_OK)
				break;
			duet_vk_pack_row(type, src->rows[part->row0 + r], n_in,
					 dst ? dst : tmp);
			if (!dst)
				s = duet_vk_upload(w->d, &part->range, r * row_bytes,
						   tmp, row_bytes);
		}
	}
	free(tmp);
	return s;
}

static const uint8_t *row_ptr(const duet_weight *wt, uint32_t r)
{
	return (const uint8_t *)wt->data + (uint64_t)r * wt->row_bytes;
}

/* Q, K and V in quad order: each 4 rows hold the members of two rope pairs
 * (see shaders/epilogue.glsl); the same mapping as qkv_row() there. */
static uint32_t qkv_source_row(const duet_hparams *hp, uint32_t q, uint32_t m)
{
	uint32_t hd = hp->head_dim, k = q % (hd / 4), base = q / (hd / 4) * hd;
	bool roped = base < hp->n_embd + hp->n_embd_kv;
	if (roped && hp->rope_mode == DUET_ROPE_NEOX && 4 * k < hp->n_rot) {
		uint32_t i = 2 * k;
		return base + (m < 2 ? i + m : i + hp->n_rot / 2 + m - 2);
	}
	return base + 4 * k + m;
}

static const uint8_t *qkv_row_ptr(const duet_layer *L, const duet_hparams *hp,
				  uint32_t o)
{
	if (o < hp->n_embd)
		return row_ptr(&L->wq, o);
	if (o < hp->n_embd + hp->n_embd_kv)
		return row_ptr(&L->wk, o - hp->n_embd);
	return row_ptr(&L->wv, o - hp->n_embd - hp->n_embd_kv);
}

static duet_status upload_qkv(duet_vk_weights *w, const duet_layer *L,
			      vk_layer *V)
{
	const duet_hparams *hp = &w->m->hp;
	uint32_t n_all = hp->n_embd + 2 * hp->n_embd_kv;
	const uint8_t **rows = malloc(n_all * sizeof *rows);
	if (!rows)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = DUET_OK;
	bool same = L->wq.type == L->wk.type && L->wq.type == L->wv.type;
	if (same) {
		for (uint32_t r = 0; r < n_all; r++)
			rows[r] = qkv_row_ptr(L, hp, qkv_source_row(hp, r / 4, r % 4));
		row_src src = { rows, n_all };
		V->n_qkv = 1;
		s = upload_mat(w, L->wq.type, hp->n_embd, &src, hp->head_dim,
			       &V->qkv[0]);
	} else {
		/* one matrix each; rows still in quad order within each */
		const duet_weight *ws[3] = { &L->wq, &L->wk, &L->wv };
		uint32_t base = 0;
		V->n_qkv = 3;
		for (int i = 0; i < 3 && s == DUET_OK; i++) {
			uint32_t n = (uint32_t)ws[i]->n_out;
			for (uint32_t r = 0; r < n; r++)
				rows[r] = qkv_row_ptr(L, hp, qkv_source_row(
					hp, (base + r) / 4, (base + r) % 4));
			row_src src = { rows, n };
			s = upload_mat(w, ws[i]->type, hp->n_embd, &src, hp->head_dim,
				       &V->qkv[i]);
			V->qkv[i].row_base = base;
			base += n;
		}
	}
	free(rows);
	if (s != DUET_OK || !(L->bq.name || L->bk.name || L->bv.name) ||
	    w->mode == VK_UP_FILL || w->mode == VK_UP_MEASURE)
		return s;
	float *bias = calloc(n_all, sizeof *bias);
	if (!bias)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	const duet_weight *bs[3] = { &L->bq, &L->bk, &L->bv };
	uint32_t off[3] = { 0, hp->n_embd, hp->n_embd + hp->n_embd_kv };
	for (int i = 0; i < 3; i++)
		if (bs[i]->name)
			memcpy(bias + off[i], bs[i]->data, bs[i]->n_in * sizeof(float));
	s = upload_f32(w, bias, n_all, &V->qkv_bias);
	free(bias);
	return s;
}

static duet_status upload_plain(duet_vk_weights *w, const duet_weight *wt,
				vk_mat *mat)
{
	uint32_t n = (uint32_t)wt->n_out;
	const uint8_t **rows = malloc(n * sizeof *rows);
	if (!rows)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t r = 0; r < n; r++)
		rows[r] = row_ptr(wt, r);
	row_src src = { rows, n };
	duet_status s = upload_mat(w, wt->type, (uint32_t)wt->n_in, &src, 4, mat);
	free(rows);
	return s;
}

static duet_status upload_ffn(duet_vk_weights *w, const duet_layer *L,
			      vk_layer *V)
{
	if (L->w_gate.type != L->w_up.type) {
		V->n_ffn = 2;
		duet_status s = upload_plain(w, &L->w_gate, &V->ffn[0]);
		return s == DUET_OK ? upload_plain(w, &L->w_up, &V->ffn[1]) : s;
	}
	uint32_t n_ff = (uint32_t)L->w_gate.n_out;
	const uint8_t **rows = malloc(2 * (size_t)n_ff * sizeof *rows);
	if (!rows)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t p = 0; p < n_ff; p++) { /* gate and up rows alternate */
		rows[2 * p] = row_ptr(&L->w_gate, p);
		rows[2 * p + 1] = row_ptr(&L->w_up, p);
	}
	row_src src = { rows, 2 * n_ff };
	V->n_ffn = 1;
	duet_status s = upload_mat(w, L->w_gate.type, (uint32_t)L->w_gate.n_in,
				   &src, 2, &V->ffn[0]);
	free(rows);
	return s;
}

static duet_status upload_layer(duet_vk_weights *w, uint32_t il, vk_layer *V)
{
	const duet_layer *L = &w->m->layers[il];
	uint32_t n_embd = w->m->hp.n_embd;
	duet_status s = upload_f32(w, L->attn_norm.data, n_embd, &V->attn_norm);
	if (s == DUET_OK)
		s = upload_f32(w, L->ffn_norm.data, n_embd, &V->ffn_norm);
	if (s == DUET_OK)
		s = upload_qkv(w, L, V);
	if (s == DUET_OK)
		s = upload_plain(w, &L->wo, &V->wo);
	if (s == DUET_OK)
		s = upload_ffn(w, L, V);
	if (s == DUET_OK)
		s = upload_plain(w, &L->w_down, &V->down);
	return s;
}

static void layer_free(vk_layer *V)
{
	for (int i = 0; i < 3; i++)
		free(V->qkv[i].parts);
	free(V->wo.parts);
	free(V->ffn[0].parts);
	free(V->ffn[1].parts);
	free(V->down.parts);
	memset(V, 0, sizeof *V);
}

uint64_t duet_vk_weights_slot_bytes(duet_vk_device *d, const duet_model_desc *m)
{
	if (duet_vk_check_model(d, m) != DUET_OK)
		return 0;
	vk_slot none = { 0 };
	vk_layer V;
	duet_vk_weights w = { .d = d, .m = m, .mode = VK_UP_MEASURE, .bump = &none };
	w.gpu = duet_vk_device_get_caps(d)->variant == DUET_VK_VARIANT_GPU;
	uint64_t most = 0;
	for (uint32_t il = 0; il < m->hp.n_layer; il++) {
		memset(&V, 0, sizeof V);
		w.bump_used = 0;
		duet_status s = upload_layer(&w, il, &V);
		layer_free(&V);
		if (s != DUET_OK)
			return 0;
		most = w.bump_used > most ? w.bump_used : most;
	}
	return (most + 255) / 256 * 256;
}

bool duet_vk_weights_streamed(const duet_vk_weights *w, uint32_t il)
{
	return w->stream && il >= w->first_streamed && il < w->m->hp.n_layer;
}

int duet_vk_weights_mat_layer(const duet_vk_weights *w, const vk_mat *mat)
{
	const char *p = (const char *)mat, *b = (const char *)w->layers;
	if (p < b || p >= b + sizeof *w->layers * w->m->hp.n_layer)
		return -1;
	return (int)((size_t)(p - b) / sizeof *w->layers);
}

duet_status duet_vk_weights_fill(duet_vk_weights *w, uint32_t il)
{
	if (!duet_vk_weights_streamed(w, il))
		return DUET_ERR(DUET_E_INVAL, "layer %u does not stream", il);
	w->mode = VK_UP_FILL;
	duet_status s = upload_layer(w, il, &w->layers[il]);
	w->mode = VK_UP_ALL;
	return s;
}

/* Sets up the slots of a streaming plan (see duet_vk_weights_create). */
static duet_status stream_setup(duet_vk_weights *w, duet_weights *stream)
{
	duet_weights_info wi;
	duet_weights_get_info(stream, &wi);
	w->stream = stream;
	w->first_streamed = wi.n_resident_layers;
	w->n_slots = wi.n_slots;
	w->slot_bytes = duet_vk_weights_slot_bytes(w->d, w->m);
	if (!w->slot_bytes || !w->n_slots)
		return DUET_ERR(DUET_E_UNSUPPORTED, "no streaming slots");
	w->slots = calloc(w->n_slots, sizeof *w->slots);
	if (!w->slots)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t i = 0; i < w->n_slots; i++)
		w->slots[i].held = -1;
	return duet_vk_heap_create(w->d, DUET_VK_HOST, w->slot_bytes, &w->slot_heap);
}

duet_status duet_vk_weights_create(duet_vk_device *d, const duet_model_desc *m,
				   duet_weights *stream,
				   duet_progress_fn progress, void *user,
				   duet_vk_weights **out)
{
	*out = NULL;
	duet_status s = duet_vk_check_model(d, m);
	if (s != DUET_OK)
		return s;
	duet_vk_weights *w = calloc(1, sizeof *w);
	if (!w)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	w->d = d;
	w->m = m;
	w->gpu = duet_vk_device_get_caps(d)->variant == DUET_VK_VARIANT_GPU;
	w->layers = calloc(m->hp.n_layer, sizeof *w->layers);
	s = w->layers ? duet_vk_heap_create(d, DUET_VK_WEIGHTS, 256ull << 20, &w->heap)
		      : DUET_ERR(DUET_E_NOMEM, "out of memory");
	if (s == DUET_OK && duet_weights_streaming(stream))
		s = stream_setup(w, stream);
	static const float zeros[64];
	if (s == DUET_OK)
		s = upload_f32(w, zeros, 64, &w->dummy);
	if (s == DUET_OK)
		s = upload_f32(w, m->output_norm.data, m->hp.n_embd, &w->output_norm);
	if (s == DUET_OK && m->rope_factors)
		s = upload_f32(w, m->rope_factors, m->hp.n_rot / 2, &w->factors);
	uint64_t total = duet_weight_bytes(&m->output), done = 0;
	for (uint32_t il = 0; il < m->hp.n_layer; il++)
		total += duet_layer_bytes(&m->layers[il]);
	for (uint32_t il = 0; s == DUET_OK && il < m->hp.n_layer; il++) {
		if (duet_vk_weights_streamed(w, il)) {
			/* placed now, written while a step runs */
			w->mode = VK_UP_LAYOUT;
			w->bump = &w->slots[(il - w->first_streamed) % w->n_slots];
			w->bump_chunk = 0;
			w->bump_used = 0;
		}
		s = upload_layer(w, il, &w->layers[il]);
		w->mode = VK_UP_ALL;
		w->bump = NULL;
		done += duet_layer_bytes(&m->layers[il]);
		if (s == DUET_OK && progress && done < total)
			progress(user, done, total);
	}
	if (s == DUET_OK)
		s = upload_plain(w, &m->output, &w->output);
	if (s != DUET_OK) {
		duet_vk_weights_destroy(w);
		return duet_error_wrap(s, "uploading the model to the device");
	}
	*out = w;
	return DUET_OK;
}

void duet_vk_weights_destroy(duet_vk_weights *w)
{
	if (!w)
		return;
	for (uint32_t il = 0; w->layers && il < w->m->hp.n_layer; il++)
		layer_free(&w->layers[il]);
	free(w->output.parts);
	free(w->layers);
	free(w->slots);
	duet_vk_heap_destroy(w->slot_heap);
	duet_vk_heap_destroy(w->heap);
	free(w);
}

uint64_t duet_vk_weights_bytes(const duet_vk_weights *w)
{
	return duet_vk_heap_bytes(w->heap) +
	       (w->slot_heap ? duet_vk_heap_bytes(w->slot_heap) : 0);
}
