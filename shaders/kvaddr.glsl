// Where a K or V row lives (see runtime/kv_pool.h). pc.kv_tpp == 0: one
// contiguous cache per layer, position pos at word pc.kv_off + pos * n / 2.
// Otherwise pages of a shared pool: position pos of stream 2 layer + which
// (pc.kv_off = 2 layer) is row pos % kv_tpp of page
// PT[(pos / kv_tpp) * streams + stream]; pc.kv_page = streams | (words per
// page / 16) << 16. The includer declares PT[] and pc.
uint kv_word(uint pos, uint col, uint which, uint n)
{
	if (pc.kv_tpp == 0u)
		return pc.kv_off + (pos * n + col) / 2u;
	uint streams = pc.kv_page & 0xffffu, words = (pc.kv_page >> 16) * 16u;
	uint page = PT[(pos / pc.kv_tpp) * streams + pc.kv_off + which];
	return page * words + ((pos % pc.kv_tpp) * n + col) / 2u;
}
