/* duet inspect FILE [--json] [--full]: a GGUF file's header, metadata and
 * tensor table, and whether duet can run it (and if not, why). */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "gguf.h"
#include "model.h"
#include "quant.h"

#define CMD "inspect"
#define ARRAY_HEAD 8 /* array elements shown unless --full */

static const char usage_text[] =
	"usage: duet inspect FILE [--json] [--full]\n"
	"  Shows the GGUF header, every metadata key, the tensor table (name,\n"
	"  type, shape, bytes, offset) and whether duet can run the model.\n"
	"  --json   one JSON object instead of text\n"
	"  --full   print arrays whole (token lists can be long)\n";

static void scalar_text(FILE *f, const duet_gguf_value *v, bool json)
{
	switch (v->type) {
	case DUET_GGUF_U8: case DUET_GGUF_U16: case DUET_GGUF_U32:
	case DUET_GGUF_U64:
		fprintf(f, "%" PRIu64, v->u);
		break;
	case DUET_GGUF_I8: case DUET_GGUF_I16: case DUET_GGUF_I32:
	case DUET_GGUF_I64:
		fprintf(f, "%" PRId64, v->i);
		break;
	case DUET_GGUF_F32: case DUET_GGUF_F64:
		json_num(f, v->f);
		break;
	case DUET_GGUF_BOOL:
		fputs(v->b ? "true" : "false", f);
		break;
	case DUET_GGUF_STRING:
		json_str(f, v->str.s, (size_t)v->str.n);
		(void)json;
		break;
	default:
		break;
	}
}

/* Element i of an array of fixed-size scalars, as a value. */
static duet_gguf_value array_elem(const duet_gguf_value *a, uint64_t i)
{
	duet_gguf_value v = { .type = a->arr.type };
	const uint8_t *p = (const uint8_t *)a->arr.data +
			   i * duet_gguf_type_size(a->arr.type);
	switch (a->arr.type) {
	case DUET_GGUF_U8: v.u = *p; break;
	case DUET_GGUF_I8: v.i = *(const int8_t *)p; break;
	case DUET_GGUF_BOOL: v.b = *p != 0; break;
	case DUET_GGUF_U16: v.u = *(const uint16_t *)p; break;
	case DUET_GGUF_I16: v.i = *(const int16_t *)p; break;
	case DUET_GGUF_U32: v.u = *(const uint32_t *)p; break;
	case DUET_GGUF_I32: v.i = *(const int32_t *)p; break;
	case DUET_GGUF_F32: v.f = *(const float *)p; break;
	case DUET_GGUF_U64: v.u = *(const uint64_t *)p; break;
	case DUET_GGUF_I64: v.i = *(const int64_t *)p; break;
	case DUET_GGUF_F64: v.f = *(const double *)p; break;
	default: break;
	}
	return v;
}

static void value_out(FILE *f, const duet_gguf_value *v, bool json, bool full);

/* Text and JSON both show elements as a JSON-style list; JSON wraps it in
 * an object that says whether the list is complete. */
static void array_out(FILE *f, const duet_gguf_value *v, bool json, bool full)
{
	uint64_t n = v->arr.n, shown = full || n <= ARRAY_HEAD ? n : ARRAY_HEAD;
	if (json)
		fprintf(f, "{\"array\":\"%s\",\"n\":%" PRIu64 ",\"%s\":",
			duet_gguf_type_name(v->arr.type), n,
			shown == n ? "values" : "head");
	fputc('[', f);
	for (uint64_t i = 0; i < shown; i++) {
		if (i)
			fputs(json ? "," : ", ", f);
		if (v->arr.type == DUET_GGUF_STRING) {
			const duet_gguf_str *s = (const duet_gguf_str *)v->arr.data + i;
			json_str(f, s->s, (size_t)s->n);
		} else if (v->arr.type == DUET_GGUF_ARRAY) {
			value_out(f, (const duet_gguf_value *)v->arr.data + i, json,
				  full);
		} else {
			duet_gguf_value e = array_elem(v, i);
			scalar_text(f, &e, json);
		}
	}
	if (shown < n && !json)
		fprintf(f, ", ... %" PRIu64 " more", n - shown);
	fputc(']', f);
	if (json)
		fputc('}', f);
}

static void value_out(FILE *f, const duet_gguf_value *v, bool json, bool full)
{
	if (v->type == DUET_GGUF_ARRAY)
		array_out(f, v, json, full);
	else
		scalar_text(f, v, json);
}

static void type_label(char *buf, size_t cap, const duet_gguf_value *v)
{
	if (v->type == DUET_GGUF_ARRAY)
		snprintf(buf, cap, "%s[%" PRIu64 "]",
			 duet_gguf_type_name(v->arr.type), v->arr.n);
	else
		snprintf(buf, cap, "%s", duet_gguf_type_name(v->type));
}

static void shape_text(char *buf, size_t cap, const duet_gguf_tensor *t)
{
	size_t n = 0;
	for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
		n += (size_t)snprintf(buf + n, cap - n, d ? " x %" PRId64 : "%" PRId64,
				      t->ne[d]);
}

static void print_text(const char *path, const duet_gguf *g,
		       const duet_model_desc *m, duet_status ms, bool full)
{
	printf("file: %s\n", path);
	printf("gguf version %u, alignment %u, %" PRIu64 " bytes, tensor data "
	       "at offset %" PRIu64 "\n\n",
	       g->version, g->alignment, g->size, g->data_offset);
	printf("metadata (%" PRIu64 " keys):\n", g->n_kv);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		char label[48];
		type_label(label, sizeof label, &g->kv[i].value);
		printf("  %-42s %-14s ", g->kv[i].key, label);
		value_out(stdout, &g->kv[i].value, false, full);
		putchar('\n');
	}
	printf("\ntensors (%" PRIu64 "):\n", g->n_tensors);
	printf("  %-32s %-8s %-22s %12s %12s\n", "name", "type", "shape", "bytes",
	       "offset");
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const duet_gguf_tensor *t = &g->tensors[i];
		char shape[96] = "";
		shape_text(shape, sizeof shape, t);
		printf("  %-32s %-8s %-22s %12" PRIu64 " %12" PRIu64 "\n", t->name,
		       duet_type_name(t->type), shape, t->bytes, t->offset);
	}
	if (ms == DUET_OK)
		printf("\nmodel: %s, %u layers, %u embd, %u heads (%u kv), %u ff, "
		       "vocab %u, %.2fM parameters%s: runnable\n",
		       m->hp.arch_name, m->hp.n_layer, m->hp.n_embd, m->hp.n_head,
		       m->hp.n_head_kv, m->hp.n_ff, m->hp.n_vocab,
		       (double)m->n_params / 1e6,
		       m->tied_output ? ", tied output" : "");
	else
		printf("\nmodel: not runnable: %s\n", duet_last_error());
}

static void print_json(const char *path, const duet_gguf *g,
		       const duet_model_desc *m, duet_status ms, bool full)
{
	printf("{\"file\":");
	json_str(stdout, path, strlen(path));
	printf(",\"version\":%u,\"alignment\":%u,\"size\":%" PRIu64
	       ",\"data_offset\":%" PRIu64 ",\"metadata\":{",
	       g->version, g->alignment, g->size, g->data_offset);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		if (i)
			putchar(',');
		json_str(stdout, g->kv[i].key, strlen(g->kv[i].key));
		putchar(':');
		value_out(stdout, &g->kv[i].value, true, full);
	}
	printf("},\"tensors\":[");
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const duet_gguf_tensor *t = &g->tensors[i];
		printf("%s{\"name\":", i ? "," : "");
		json_str(stdout, t->name, strlen(t->name));
		printf(",\"type\":\"%s\",\"shape\":[", duet_type_name(t->type));
		for (uint32_t d = 0; d < t->n_dims; d++)
			printf(d ? ",%" PRId64 : "%" PRId64, t->ne[d]);
		printf("],\"bytes\":%" PRIu64 ",\"offset\":%" PRIu64 "}", t->bytes,
		       t->offset);
	}
	printf("],\"model\":");
	if (ms == DUET_OK)
		printf("{\"runnable\":true,\"arch\":\"%s\",\"n_layer\":%u,"
		       "\"n_embd\":%u,\"n_head\":%u,\"n_head_kv\":%u,\"n_ff\":%u,"
		       "\"n_vocab\":%u,\"n_params\":%" PRIu64 ",\"tied_output\":%s}",
		       m->hp.arch_name, m->hp.n_layer, m->hp.n_embd, m->hp.n_head,
		       m->hp.n_head_kv, m->hp.n_ff, m->hp.n_vocab, m->n_params,
		       m->tied_output ? "true" : "false");
	else {
		printf("{\"runnable\":false,\"error\":");
		json_str(stdout, duet_last_error(), strlen(duet_last_error()));
		putchar('}');
	}
	printf("}\n");
}

int cmd_inspect(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false, full = false;
	for (int i = 1; i < argc; i++) {
		if (cli_is(argv[i], "-h", "--help")) {
			fputs(usage_text, stdout);
			return CLI_OK;
		} else if (cli_is(argv[i], "--json", NULL)) {
			json = true;
		} else if (cli_is(argv[i], "--full", NULL)) {
			full = true;
		} else if (cli_is(argv[i], "-m", "--model")) {
			if (!cli_value(CMD, argc, argv, &i, &path))
				return CLI_USAGE;
		} else if (argv[i][0] == '-' || path) {
			return cli_error(CMD, CLI_USAGE, "unexpected argument '%s' "
					 "(see duet inspect --help)", argv[i]);
		} else {
			path = argv[i];
		}
	}
	if (!path)
		return cli_error(CMD, CLI_USAGE, "no file given (duet inspect FILE)");
	duet_gguf *g;
	duet_status s = duet_gguf_open(path, &g);
	if (s != DUET_OK)
		return cli_fail(CMD, s);
	duet_model_desc m;
	duet_status ms = duet_model_desc_init(&m, g);
	if (json)
		print_json(path, g, &m, ms, full);
	else
		print_text(path, g, &m, ms, full);
	if (ms == DUET_OK)
		duet_model_desc_finish(&m);
	duet_gguf_destroy(g);
	fflush(stdout);
	return ferror(stdout) ? cli_error(CMD, CLI_FAIL, "writing output failed")
			      : CLI_OK;
}
