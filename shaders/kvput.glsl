// Writes to a KV cache chunk (kvaddr.glsl); the includer declares the four
// chunk bindings KC[], VC[], KC2[], KC3[] writable.
#ifndef DUET_KVPUT_GLSL
#define DUET_KVPUT_GLSL

// Word i of cache chunk c := w.
void kv_put(uint c, uint i, uint w)
{
	if (c == 0u)
		KC[i] = w;
	else if (c == 1u)
		VC[i] = w;
	else if (c == 2u)
		KC2[i] = w;
	else
		KC3[i] = w;
}

#endif
