// Where a K or V row lives (see runtime/kv.h and runtime/kv_pool.h): one
// of four cache bindings ("chunks") and a byte offset in it. pc.kv_tpp ==
// 0: one contiguous cache per layer (its K bound as chunk 0, its V as
// chunk 1), position pos at pos x row bytes. Otherwise pages of a shared
// pool, in up to four chunks: position pos of stream 2 layer + which
// (pc.kv_off = 2 layer) is row pos % kv_tpp of the page whose entry is
// PT[(pos / kv_tpp) * streams + stream]; pc.kv_page = streams | (bytes
// per page / 64) << 16. The includer declares PT[] and pc, and reads or
// writes the chunk's binding.
layout(constant_id = 5) const uint KVT = 0; // DUET_KVT_*: the row format

// Bytes of a row of n values: f16, f32, or q8_0 (the n / 32 f16 scales
// padded to 16 bytes, then n int8 values).
uint kv_scale_bytes(uint n)
{
	return (n / 32u * 2u + 15u) & ~15u;
}

uint kv_row_bytes(uint n)
{
	return KVT == DUET_KVT_F32 ? 4u * n
	     : KVT == DUET_KVT_Q8_0 ? kv_scale_bytes(n) + n : 2u * n;
}

// The byte offset of position pos's K (which 0) or V row in the cache
// binding *chunk: contiguous, 0 for K and 1 for V; paged, the chunk of the
// pool holding its page (page-table entries: chunk << 24 | page in chunk).
uint kv_row(uint pos, uint which, uint n, out uint chunk)
{
	uint rb = kv_row_bytes(n);
	if (pc.kv_tpp == 0u) {
		chunk = which;
		return pos * rb;
	}
	uint streams = pc.kv_page & 0xffffu, page_bytes = (pc.kv_page >> 16) * 64u;
	uint e = PT[(pos / pc.kv_tpp) * streams + pc.kv_off + which];
	chunk = e >> 24;
	return (e & 0xffffffu) * page_bytes + (pos % pc.kv_tpp) * rb;
}
