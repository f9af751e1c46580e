/* An app's use of libduet, through the public header only: one runtime
 * holding an LLM and an SLM, an interactive session that streams a
 * cascade's tokens (each marked with the model that wrote it) while a
 * background session has the LLM write a long text on another thread,
 * which is then canceled.
 *
 *   duet-example-sessions LLM.gguf SLM.gguf [cpu|vulkan]
 *
 * Prints the interactive text, the background session's fate and the
 * sessions' figures; exit status 0 when everything behaved. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <duet/duet.h>

static bool print_token(void *user, int32_t token, const char *text, size_t len,
			duet_source src)
{
	int *last = user;
	(void)token;
	if ((int)src != *last)
		fputs(src == DUET_SOURCE_LLM ? "[llm]" : "[slm]", stdout);
	*last = (int)src;
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	return true;
}

typedef struct background {
	duet_session *s;
	duet_status status;
	unsigned tokens;
} background;

static bool count_token(void *user, int32_t token, const char *text, size_t len,
			duet_source src)
{
	background *b = user;
	(void)token, (void)text, (void)len, (void)src;
	b->tokens++;
	return true;
}

static void *background_main(void *arg)
{
	background *b = arg;
	b->status = duet_session_generate(b->s, "Chapter I. It was a fine morning, and",
					  1000000, count_token, b);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s LLM.gguf SLM.gguf [cpu|vulkan]\n", argv[0]);
		return 2;
	}
	duet_runtime_options ro = { .llm_path = argv[1], .slm_path = argv[2] };
	if (argc > 3)
		ro.backend = strcmp(argv[3], "cpu") ? DUET_BACKEND_VULKAN : DUET_BACKEND_CPU;
	duet_runtime *rt;
	duet_status s = duet_runtime_create(&ro, &rt);
	if (s != DUET_OK) {
		fprintf(stderr, "runtime: %s\n", duet_last_error());
		return 1;
	}
	duet_session_options fg_o = { .mode = DUET_MODE_CASCADE,
				      .priority = DUET_PRIORITY_INTERACTIVE, .n_ctx = 256 };
	duet_session_options bg_o = { .mode = DUET_MODE_LLM,
				      .priority = DUET_PRIORITY_BACKGROUND, .n_ctx = 512,
				      .sampling = { .temperature = 0.8f, .top_k = 40,
						    .top_p = 0.95f, .seed = 7,
						    .repeat_penalty = 1.0f,
						    .repeat_last_n = 64 } };
	duet_session *fg = NULL, *bg = NULL;
	if ((s = duet_session_open(rt, &fg_o, &fg)) != DUET_OK ||
	    (s = duet_session_open(rt, &bg_o, &bg)) != DUET_OK) {
		fprintf(stderr, "session: %s\n", duet_last_error());
		duet_session_close(fg);
		duet_runtime_destroy(rt);
		return 1;
	}
	background b = { .s = bg };
	pthread_t th;
	pthread_create(&th, NULL, background_main, &b);
	int last = -1;
	fputs("It is a truth universally acknowledged", stdout);
	s = duet_session_generate(fg, "It is a truth universally acknowledged", 48,
				  print_token, &last);
	putchar('\n');
	int rc = 0;
	if (s != DUET_OK) {
		fprintf(stderr, "interactive session: %s\n", duet_last_error());
		rc = 1;
	}
	duet_session_stats st;
	duet_session_get_stats(fg, &st);
	printf("interactive: %llu tokens, %llu by the SLM, %llu LLM passes, %.1f ms\n",
	       (unsigned long long)st.tokens, (unsigned long long)st.slm_tokens,
	       (unsigned long long)st.llm_passes, st.gen_ms);
	duet_session_cancel(bg);
	pthread_join(th, NULL);
	printf("background: %s after %u tokens\n",
	       b.status == DUET_E_CANCELED ? "canceled"
	       : b.status == DUET_OK	   ? "finished"
					   : duet_status_str(b.status),
	       b.tokens);
	if (b.status != DUET_OK && b.status != DUET_E_CANCELED)
		rc = 1;
	duet_session_close(fg);
	duet_session_close(bg);
	duet_runtime_destroy(rt);
	return rc;
}
