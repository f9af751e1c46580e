/* duet mkmodel: write a deterministic synthetic model (see runtime/synth.h). */
#include <string.h>

#include "cli.h"
#include "synth.h"

#define CMD "mkmodel"

static const char usage_text[] =
	"usage: duet mkmodel --arch llama|qwen2 --dim D --layers L --heads H\n"
	"                    [--kv-heads K] --ff F (--vocab N | --vocab VOCAB.gguf)\n"
	"                    [--type T] [--seed S] [--tied] [--ctx N]\n"
	"                    [--rope-base B] [--name NAME] -o OUT.gguf\n"
	"  Writes a model with random weights from the seed; the same arguments\n"
	"  give a byte-identical file. --vocab N makes a SentencePiece-style\n"
	"  vocabulary of N >= 259 tokens (<unk> <s> </s>, 256 byte tokens, word\n"
	"  pieces); --vocab FILE copies the tokenizer of a GGUF file.\n"
	"  T: f32 (default) f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k,\n"
	"  or q4_k_m (q4_k with q6_k output and some V/FFN-down, like llama.cpp).\n"
	"  K-types need --dim and --ff to be multiples of 256, others of 32.\n";

/* --vocab takes a number or a file name. */
static bool parse_vocab(const char *v, duet_synth_options *o)
{
	size_t n = strspn(v, "0123456789");
	if (n > 0 && v[n] == '\0')
		return cli_u32(CMD, "--vocab", v, 1, 1u << 24, &o->vocab);
	o->vocab_path = v;
	return true;
}

static bool parse(int argc, char **argv, duet_synth_options *o,
		  const char **out, int *rc)
{
	uint32_t big = 1u << 20;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool ok = true;
		if (cli_is(a, "-h", "--help")) {
			fputs(usage_text, stdout);
			*rc = CLI_OK;
			return false;
		} else if (cli_is(a, "--tied", NULL)) {
			o->tied = true;
			continue;
		}
		if (!cli_value(CMD, argc, argv, &i, &v))
			goto usage;
		if (cli_is(a, "--arch", NULL))
			o->arch = v;
		else if (cli_is(a, "--dim", NULL))
			ok = cli_u32(CMD, a, v, 1, big, &o->dim);
		else if (cli_is(a, "--layers", NULL))
			ok = cli_u32(CMD, a, v, 1, 4096, &o->layers);
		else if (cli_is(a, "--heads", NULL))
			ok = cli_u32(CMD, a, v, 1, 4096, &o->heads);
		else if (cli_is(a, "--kv-heads", NULL))
			ok = cli_u32(CMD, a, v, 1, 4096, &o->kv_heads);
		else if (cli_is(a, "--ff", NULL))
			ok = cli_u32(CMD, a, v, 1, big, &o->ff);
		else if (cli_is(a, "--vocab", NULL))
			ok = parse_vocab(v, o);
		else if (cli_is(a, "--type", NULL))
			o->type = v;
		else if (cli_is(a, "--seed", "-s"))
			ok = cli_u64(CMD, a, v, &o->seed);
		else if (cli_is(a, "--ctx", "-c"))
			ok = cli_u32(CMD, a, v, 1, 1u << 24, &o->ctx);
		else if (cli_is(a, "--rope-base", NULL))
			ok = cli_f32(CMD, a, v, 1.0f, 1e12f, &o->rope_base);
		else if (cli_is(a, "--name", NULL))
			o->name = v;
		else if (cli_is(a, "-o", "--output"))
			*out = v;
		else {
			cli_error(CMD, CLI_USAGE, "unknown option '%s' (see duet "
				  "mkmodel --help)", a);
			goto usage;
		}
		if (!ok)
			goto usage;
	}
	const char *missing = !o->arch ? "--arch" : !o->dim ? "--dim"
			    : !o->layers ? "--layers" : !o->heads ? "--heads"
			    : !o->ff ? "--ff" : !o->vocab && !o->vocab_path ? "--vocab"
			    : !*out ? "-o" : NULL;
	if (missing) {
		cli_error(CMD, CLI_USAGE, "%s is required (see duet mkmodel --help)",
			  missing);
		goto usage;
	}
	return true;
usage:
	*rc = CLI_USAGE;
	return false;
}

int cmd_mkmodel(int argc, char **argv)
{
	duet_synth_options o = { .type = "f32" };
	const char *out = NULL;
	int rc = CLI_OK;
	if (!parse(argc, argv, &o, &out, &rc))
		return rc;
	duet_status s = duet_synth_model(&o, out);
	return s == DUET_OK ? CLI_OK : cli_fail(CMD, s);
}
