/* Test model helpers (see models.h). */
#include "models.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duet/duet.h"
#include "gguf.h"
#include "proc.h"
#include "quant.h"

void make_model(const duet_synth_options *o, const char *tag, char *out,
		size_t cap)
{
	snprintf(out, cap, "%s/%s-%d.gguf", test_tmpdir(), tag, getpid());
	duet_status s = duet_synth_model(o, out);
	cr_assert_eq(s, DUET_OK, "synth %s: %s", tag, duet_last_error());
}

static void copy_keys(duet_gguf_writer *w, const duet_gguf *g,
		      const model_edit *e)
{
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const char *k = g->kv[i].key;
		if ((e->drop_key && !strcmp(k, e->drop_key)) ||
		    (e->set_str_key && !strcmp(k, e->set_str_key)) ||
		    (e->set_u32_key && !strcmp(k, e->set_u32_key)) ||
		    (e->set_f32_key && !strcmp(k, e->set_f32_key)))
			continue;
		cr_assert_eq(duet_gguf_writer_set(w, k, &g->kv[i].value), DUET_OK);
	}
	if (e->set_str_key)
		cr_assert_eq(duet_gguf_writer_set_str(w, e->set_str_key, e->set_str_val),
			     DUET_OK);
	if (e->set_u32_key)
		cr_assert_eq(duet_gguf_writer_set_u32(w, e->set_u32_key, e->set_u32_val),
			     DUET_OK);
	if (e->set_f32_key)
		cr_assert_eq(duet_gguf_writer_set_f32(w, e->set_f32_key, e->set_f32_val),
			     DUET_OK);
}

static void copy_tensor(duet_gguf_writer *w, const duet_gguf_tensor *t,
			const model_edit *e)
{
	int64_t ne[4] = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] };
	uint32_t type = t->type;
	const void *data = t->data;
	uint64_t bytes = t->bytes;
	void *tmp = NULL;
	if (e->reshape_tensor && !strcmp(t->name, e->reshape_tensor)) {
		ne[0] = t->ne[1];
		ne[1] = t->ne[0];
	}
	if (e->retype_tensor && !strcmp(t->name, e->retype_tensor)) {
		type = e->retype;
		uint64_t rows = (uint64_t)(ne[1] * ne[2] * ne[3]);
		bytes = duet_type_row_bytes(type, (uint64_t)ne[0]) * rows;
		tmp = calloc(1, bytes);
		data = tmp;
	}
	cr_assert_eq(duet_gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne,
						 data, bytes),
		     DUET_OK, "%s", duet_last_error());
	free(tmp);
}

void edit_model(const char *src, const char *dst, const model_edit *e)
{
	duet_gguf *g;
	duet_gguf_writer *w;
	cr_assert_eq(duet_gguf_open(src, &g), DUET_OK);
	cr_assert_eq(duet_gguf_writer_create(&w), DUET_OK);
	copy_keys(w, g, e);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const duet_gguf_tensor *t = &g->tensors[i];
		if (e->drop_tensor && !strcmp(t->name, e->drop_tensor))
			continue;
		copy_tensor(w, t, e);
	}
	cr_assert_eq(duet_gguf_writer_write_file(w, dst), DUET_OK);
	duet_gguf_writer_destroy(w);
	duet_gguf_destroy(g);
}

bool vulkan_present(void)
{
	duet_device *d;
	duet_device_options o = { .cache_dir = "" };
	if (duet_device_open(&o, &d) != DUET_OK)
		return false;
	duet_device_close(d);
	return true;
}

bool family_in_full(const char *kernels)
{
	const char *all = getenv("DUET_ORACLE_ALL");
	if (!kernels || !*kernels || (all && !strcmp(all, "1")))
		return true;
	duet_device *d;
	duet_device_options o = { .cache_dir = "" };
	if (duet_device_open(&o, &d) != DUET_OK)
		return false;
	duet_device_info di;
	duet_device_get_info(d, &di);
	bool own = !strcmp(di.variant, kernels);
	duet_device_close(d);
	return own;
}

void need_vulkan(void)
{
	if (!vulkan_present())
		cr_skip_test("no Vulkan device: %s", duet_last_error());
}
