/* Command sequences: primary command buffers recorded once and submitted
 * as often as the caller likes (per-step values live in buffers, not in the
 * recording). Descriptor sets come from pools owned by the sequence;
 * submissions signal the device's timeline semaphore (a fence where the
 * device has none); profiling brackets dispatches with timestamps.
 *
 * Gates cut a recording into segments, one command buffer each. Segment 0
 * is submitted at once; segment k > 0 when the host opens gate k-1, after
 * writing what the segment reads (weights streamed into a slot), so the
 * host-write ordering guarantee of vkQueueSubmit covers those writes. Each
 * segment signals the sequence's own timeline semaphore when done, so the
 * host learns when a segment's inputs are free again.
 *
 * An earlier design submitted every segment together, each waiting on a
 * semaphore the host signalled (wait-before-signal): it passed on lavapipe,
 * which runs batches one after another, and gave wrong tokens on an NVIDIA
 * H200 (driver 580), where the host's writes after the submission were not
 * reliably seen. Submitting late relies on nothing beyond the core rules. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

#define SETS_PER_POOL 256
#define MAX_TIMESTAMPS 4096

struct duet_vk_seq {
	duet_vk_device *d;
	VkCommandPool cmd_pool;
	VkCommandBuffer cb;       /* the one being recorded: cbs[n_segs - 1] */
	VkCommandBuffer *cbs;     /* a segment each */
	uint32_t n_cbs, n_segs;
	VkSemaphore segs_done;    /* timeline, created by the first gate */
	uint64_t seg_base;        /* segment k of the pending run: base + k + 1 */
	uint32_t opened;          /* gates of the pending run opened so far */
	VkDescriptorPool *pools;
	uint32_t n_pools, cur_pool;
	VkFence fence;
	VkQueryPool queries;      /* with profiling and timestamps */
	const char **labels;      /* [n_dispatch] */
	uint32_t cap_labels;
	uint32_t n_dispatch;
	uint32_t n_stamps;        /* timestamps recorded */
	bool recording, recorded, pending;
	uint64_t wait_value;      /* timeline value of the pending submit */
	uint64_t *stamps;         /* results of the last run */
	VkBufferView *views;      /* texel views of the recording */
	uint32_t n_views, cap_views;
};

static duet_status add_pool(duet_vk_seq *s)
{
	duet_vk_device *d = s->d;
	VkDescriptorPool *p = realloc(s->pools, (s->n_pools + 1) * sizeof *p);
	if (!p)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	s->pools = p;
	VkDescriptorPoolSize sizes[3] = {
		{ VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * 8 },
		{ VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, SETS_PER_POOL * 2 },
		{ VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * 4 },
	};
	VkDescriptorPoolCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
		.maxSets = SETS_PER_POOL,
		.poolSizeCount = 3,
		.pPoolSizes = sizes,
	};
	duet_status st = DUET_VK_CHECK(d->f.vkCreateDescriptorPool(
					       d->handle, &ci, NULL,
					       &s->pools[s->n_pools]),
				       "vkCreateDescriptorPool");
	if (st == DUET_OK)
		s->n_pools++;
	return st;
}

static duet_status add_cb(duet_vk_seq *s)
{
	duet_vk_device *d = s->d;
	VkCommandBuffer *c = realloc(s->cbs, (s->n_cbs + 1) * sizeof *c);
	if (!c)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	s->cbs = c;
	VkCommandBufferAllocateInfo ai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.commandPool = s->cmd_pool,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	duet_status st = DUET_VK_CHECK(d->f.vkAllocateCommandBuffers(
					       d->handle, &ai, &s->cbs[s->n_cbs]),
				       "vkAllocateCommandBuffers");
	if (st == DUET_OK)
		s->n_cbs++;
	return st;
}

duet_status duet_vk_seq_create(duet_vk_device *d, bool profile,
			       duet_vk_seq **out)
{
	*out = NULL;
	duet_vk_seq *s = calloc(1, sizeof *s);
	if (!s)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	s->d = d;
	VkCommandPoolCreateInfo pi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
		.queueFamilyIndex = d->phys->queue_family,
	};
	duet_status st = DUET_VK_CHECK(d->f.vkCreateCommandPool(d->handle, &pi,
								 NULL, &s->cmd_pool),
				       "vkCreateCommandPool");
	if (st == DUET_OK)
		st = add_cb(s);
	if (st == DUET_OK)
		s->cb = s->cbs[0];
	VkFenceCreateInfo fi = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
	if (st == DUET_OK)
		st = DUET_VK_CHECK(d->f.vkCreateFence(d->handle, &fi, NULL,
						      &s->fence),
				   "vkCreateFence");
	if (st == DUET_OK)
		st = add_pool(s);
	if (st == DUET_OK && profile && d->caps.timestamps) {
		VkQueryPoolCreateInfo qi = {
			.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
			.queryType = VK_QUERY_TYPE_TIMESTAMP,
			.queryCount = MAX_TIMESTAMPS,
		};
		st = DUET_VK_CHECK(d->f.vkCreateQueryPool(d->handle, &qi, NULL,
							  &s->queries),
				   "vkCreateQueryPool");
		if (st == DUET_OK && !(s->stamps = calloc(MAX_TIMESTAMPS,
							  sizeof *s->stamps)))
			st = DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	if (st != DUET_OK) {
		duet_vk_seq_destroy(s);
		return st;
	}
	*out = s;
	return DUET_OK;
}

static void drop_views(duet_vk_seq *s)
{
	for (uint32_t i = 0; i < s->n_views; i++)
		s->d->f.vkDestroyBufferView(s->d->handle, s->views[i], NULL);
	s->n_views = 0;
}

void duet_vk_seq_destroy(duet_vk_seq *s)
{
	if (!s)
		return;
	duet_vk_device *d = s->d;
	if (s->pending)
		duet_vk_seq_wait(s);
	drop_views(s);
	free(s->views);
	for (uint32_t i = 0; i < s->n_pools; i++)
		d->f.vkDestroyDescriptorPool(d->handle, s->pools[i], NULL);
	if (s->queries)
		d->f.vkDestroyQueryPool(d->handle, s->queries, NULL);
	if (s->fence)
		d->f.vkDestroyFence(d->handle, s->fence, NULL);
	if (s->segs_done)
		d->f.vkDestroySemaphore(d->handle, s->segs_done, NULL);
	if (s->cmd_pool)
		d->f.vkDestroyCommandPool(d->handle, s->cmd_pool, NULL);
	free(s->pools);
	free(s->cbs);
	free(s->labels);
	free(s->stamps);
	free(s);
}

duet_status duet_vk_seq_begin(duet_vk_seq *s)
{
	duet_vk_device *d = s->d;
	duet_status st = DUET_OK;
	if (s->pending && (st = duet_vk_seq_wait(s)) != DUET_OK)
		return st;
	for (uint32_t i = 0; i < s->n_pools; i++)
		d->f.vkResetDescriptorPool(d->handle, s->pools[i], 0);
	drop_views(s);
	s->cur_pool = 0;
	s->n_dispatch = 0;
	s->n_stamps = 0;
	s->recorded = false;
	s->n_segs = 1;
	s->cb = s->cbs[0];
	st = DUET_VK_CHECK(d->f.vkResetCommandPool(d->handle, s->cmd_pool, 0),
			   "vkResetCommandPool");
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
	};
	if (st == DUET_OK)
		st = DUET_VK_CHECK(d->f.vkBeginCommandBuffer(s->cb, &bi),
				   "vkBeginCommandBuffer");
	if (st != DUET_OK)
		return st;
	s->recording = true;
	if (s->queries) {
		d->f.vkCmdResetQueryPool(s->cb, s->queries, 0, MAX_TIMESTAMPS);
		d->f.vkCmdWriteTimestamp(s->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
					 s->queries, s->n_stamps++);
	}
	return DUET_OK;
}

static duet_status alloc_set(duet_vk_seq *s, VkDescriptorSetLayout layout,
			     VkDescriptorSet *set)
{
	duet_vk_device *d = s->d;
	for (;;) {
		VkDescriptorSetAllocateInfo ai = {
			.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
			.descriptorPool = s->pools[s->cur_pool],
			.descriptorSetCount = 1,
			.pSetLayouts = &layout,
		};
		VkResult r = d->f.vkAllocateDescriptorSets(d->handle, &ai, set);
		if (r == VK_SUCCESS)
			return DUET_OK;
		if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
			return DUET_VK_CHECK(r, "vkAllocateDescriptorSets");
		if (s->cur_pool + 1 == s->n_pools) {
			duet_status st = add_pool(s);
			if (st != DUET_OK)
				return st;
		}
		s->cur_pool++;
	}
}

/* Creates the RGBA32UI view a texel binding reads through; the sequence
 * owns it until the next begin. */
static duet_status make_view(duet_vk_seq *s, const duet_vk_range *r,
			     VkBufferView *out)
{
	duet_vk_device *d = s->d;
	if (s->n_views == s->cap_views) {
		uint32_t cap = s->cap_views ? 2 * s->cap_views : 64;
		VkBufferView *v = realloc(s->views, cap * sizeof *v);
		if (!v)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		s->views = v;
		s->cap_views = cap;
	}
	VkBufferViewCreateInfo vi = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
		.buffer = r->block->buffer,
		.format = VK_FORMAT_R32G32B32A32_UINT,
		.offset = r->offset,
		.range = r->bytes,
	};
	duet_status st = DUET_VK_CHECK(d->f.vkCreateBufferView(d->handle, &vi,
								NULL, out),
				       "vkCreateBufferView");
	if (st == DUET_OK)
		s->views[s->n_views++] = *out;
	return st;
}

static duet_status check_bind(const duet_vk_seq *s, const duet_vk_range *r,
			      uint8_t kind, uint32_t i, const char *label)
{
	static const char *const names[] = { "storage", "uniform", "texel" };
	const duet_vk_caps *c = &s->d->caps;
	uint64_t limit = kind == DUET_VK_BIND_UNIFORM ? c->max_uniform_range
			 : kind == DUET_VK_BIND_TEXEL ? c->max_texel_bytes
						      : c->max_storage_range;
	uint64_t align = kind == DUET_VK_BIND_UNIFORM ? c->uniform_align
			 : kind == DUET_VK_BIND_TEXEL ? c->texel_align
						      : c->storage_align;
	if (!r->block)
		return DUET_ERR(DUET_E_INVAL, "%s: binding %u is empty", label, i);
	if (r->bytes > limit)
		return DUET_ERR(DUET_E_RANGE, "%s: binding %u spans %llu bytes, "
				"above the device's %s buffer range of %llu",
				label, i, (unsigned long long)r->bytes,
				names[kind], (unsigned long long)limit);
	if (kind == DUET_VK_BIND_TEXEL && (r->bytes % 16 || r->bytes == 0))
		return DUET_ERR(DUET_E_INVAL, "%s: texel binding %u of %llu bytes "
				"is not a whole number of 16-byte texels", label,
				i, (unsigned long long)r->bytes);
	if (align && r->offset % align)
		return DUET_ERR(DUET_E_INVAL, "%s: binding %u offset %llu is not "
				"aligned to %llu", label, i,
				(unsigned long long)r->offset,
				(unsigned long long)align);
	return DUET_OK;
}

duet_status duet_vk_seq_dispatch(duet_vk_seq *s, duet_vk_kernel *k,
				 const duet_vk_range *binds, uint32_t n,
				 const void *pc, uint32_t pc_bytes,
				 const uint32_t groups[3],
				 const duet_vk_range *indirect,
				 const char *label)
{
	duet_vk_device *d = s->d;
	const duet_vk_spirv *m = k->key.module;
	if (!label)
		label = m->name;
	if (!s->recording)
		return DUET_ERR(DUET_E_INVAL, "%s: the sequence is not recording",
				label);
	if (n != m->n_bindings || pc_bytes > DUET_VK_PUSH_BYTES)
		return DUET_ERR(DUET_E_INVAL, "%s: %u bindings given, kernel has "
				"%u (push constants %u bytes)", label, n,
				m->n_bindings, pc_bytes);
	VkDescriptorBufferInfo info[DUET_VK_MAX_BINDINGS];
	VkBufferView views[DUET_VK_MAX_BINDINGS];
	VkWriteDescriptorSet w[DUET_VK_MAX_BINDINGS];
	VkDescriptorSet set;
	duet_status st = alloc_set(s, k->set_layout, &set);
	for (uint32_t i = 0; st == DUET_OK && i < n; i++) {
		uint8_t kind = m->binding_kind[i];
		st = check_bind(s, &binds[i], kind, i, label);
		if (st != DUET_OK)
			break;
		w[i] = (VkWriteDescriptorSet){
			.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
			.dstSet = set,
			.dstBinding = i,
			.descriptorCount = 1,
			.descriptorType = duet_vk_descriptor_type(kind),
		};
		if (kind == DUET_VK_BIND_TEXEL) {
			st = make_view(s, &binds[i], &views[i]);
			w[i].pTexelBufferView = &views[i];
		} else {
			info[i] = (VkDescriptorBufferInfo){ binds[i].block->buffer,
							    binds[i].offset,
							    binds[i].bytes };
			w[i].pBufferInfo = &info[i];
		}
	}
	if (st != DUET_OK)
		return st;
	if (s->n_dispatch == s->cap_labels) {
		uint32_t cap = s->cap_labels ? 2 * s->cap_labels : 256;
		const char **l = realloc(s->labels, cap * sizeof *l);
		if (!l)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		s->labels = l;
		s->cap_labels = cap;
	}
	d->f.vkUpdateDescriptorSets(d->handle, n, w, 0, NULL);
	d->f.vkCmdBindPipeline(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipeline);
	d->f.vkCmdBindDescriptorSets(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE,
				     k->layout, 0, 1, &set, 0, NULL);
	if (pc_bytes)
		d->f.vkCmdPushConstants(s->cb, k->layout,
					VK_SHADER_STAGE_COMPUTE_BIT, 0, pc_bytes, pc);
	if (indirect)
		d->f.vkCmdDispatchIndirect(s->cb, indirect->block->buffer,
					   indirect->offset);
	else
		d->f.vkCmdDispatch(s->cb, groups[0], groups[1], groups[2]);
	s->labels[s->n_dispatch++] = label;
	if (s->queries && s->n_stamps < MAX_TIMESTAMPS)
		d->f.vkCmdWriteTimestamp(s->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
					 s->queries, s->n_stamps++);
	return DUET_OK;
}

static void barrier(duet_vk_seq *s, VkPipelineStageFlags dst_stage,
		    VkAccessFlags dst_access)
{
	VkMemoryBarrier mb = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT |
				 VK_ACCESS_TRANSFER_WRITE_BIT,
		.dstAccessMask = dst_access,
	};
	s->d->f.vkCmdPipelineBarrier(s->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
					     VK_PIPELINE_STAGE_TRANSFER_BIT,
				     dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

void duet_vk_seq_barrier(duet_vk_seq *s)
{
	if (s->recording)
		barrier(s, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
				   VK_PIPELINE_STAGE_TRANSFER_BIT |
				   VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT,
			VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
				VK_ACCESS_UNIFORM_READ_BIT |
				VK_ACCESS_INDIRECT_COMMAND_READ_BIT |
				VK_ACCESS_TRANSFER_READ_BIT |
				VK_ACCESS_TRANSFER_WRITE_BIT);
}

duet_status duet_vk_seq_copy(duet_vk_seq *s, const duet_vk_range *src,
			     const duet_vk_range *dst, uint64_t bytes)
{
	if (!s->recording || bytes > src->bytes || bytes > dst->bytes)
		return DUET_ERR(DUET_E_INVAL, "bad copy of %llu bytes",
				(unsigned long long)bytes);
	VkBufferCopy region = { src->offset, dst->offset, bytes };
	s->d->f.vkCmdCopyBuffer(s->cb, src->block->buffer, dst->block->buffer, 1,
				&region);
	return DUET_OK;
}

duet_status duet_vk_seq_fill(duet_vk_seq *s, const duet_vk_range *r,
			     uint32_t v)
{
	if (!s->recording || r->offset % 4 || r->bytes % 4)
		return DUET_ERR(DUET_E_INVAL, "fill needs 4-byte alignment");
	s->d->f.vkCmdFillBuffer(s->cb, r->block->buffer, r->offset, r->bytes, v);
	return DUET_OK;
}

duet_status duet_vk_seq_end(duet_vk_seq *s)
{
	if (!s->recording)
		return DUET_ERR(DUET_E_INVAL, "the sequence is not recording");
	/* results in host-visible memory are read by the host after the wait */
	barrier(s, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
	s->recording = false;
	duet_status st = DUET_VK_CHECK(s->d->f.vkEndCommandBuffer(s->cb),
				       "vkEndCommandBuffer");
	s->recorded = st == DUET_OK;
	return st;
}

duet_status duet_vk_seq_gate(duet_vk_seq *s, uint32_t *gate)
{
	duet_vk_device *d = s->d;
	if (!s->recording)
		return DUET_ERR(DUET_E_INVAL, "gate in a sequence that is not "
				"recording");
	if (!d->timeline)
		return DUET_ERR(DUET_E_UNSUPPORTED, "gated sequences need timeline "
				"semaphores, which %s lacks", d->caps.name);
	duet_status st = DUET_OK;
	if (!s->segs_done)
		st = duet_vk_timeline_create(d, &s->segs_done);
	if (st == DUET_OK && s->n_segs == s->n_cbs)
		st = add_cb(s);
	if (st == DUET_OK)
		st = DUET_VK_CHECK(d->f.vkEndCommandBuffer(s->cb),
				   "vkEndCommandBuffer");
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
	};
	if (st == DUET_OK)
		st = DUET_VK_CHECK(d->f.vkBeginCommandBuffer(s->cbs[s->n_segs], &bi),
				   "vkBeginCommandBuffer");
	if (st != DUET_OK) {
		s->recording = false; /* begin again */
		return st;
	}
	s->cb = s->cbs[s->n_segs++];
	*gate = s->n_segs - 2;
	return DUET_OK;
}

uint32_t duet_vk_seq_gates(const duet_vk_seq *s)
{
	return s->n_segs ? s->n_segs - 1 : 0;
}

/* Submits segment k of a gated run, signalling segs_done when it is done. */
static duet_status submit_segment(duet_vk_seq *s, uint32_t k)
{
	duet_vk_device *d = s->d;
	uint64_t v = s->seg_base + k + 1;
	VkTimelineSemaphoreSubmitInfo ti = {
		.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
		.signalSemaphoreValueCount = 1,
		.pSignalSemaphoreValues = &v,
	};
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.pNext = &ti,
		.commandBufferCount = 1,
		.pCommandBuffers = &s->cbs[k],
		.signalSemaphoreCount = 1,
		.pSignalSemaphores = &s->segs_done,
	};
	return DUET_VK_CHECK(d->f.vkQueueSubmit(d->queue, 1, &si, VK_NULL_HANDLE),
			     "vkQueueSubmit");
}

duet_status duet_vk_seq_submit(duet_vk_seq *s)
{
	duet_vk_device *d = s->d;
	if (!s->recorded)
		return DUET_ERR(DUET_E_INVAL, "submit of a sequence that is not "
				"recorded");
	duet_status st = DUET_OK;
	if (s->pending && (st = duet_vk_seq_wait(s)) != DUET_OK)
		return st;
	if (s->n_segs > 1) { /* gated: the rest goes as the gates open */
		st = submit_segment(s, 0);
		if (st == DUET_OK) {
			s->opened = 0;
			s->pending = true;
		}
		return st;
	}
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.commandBufferCount = 1,
		.pCommandBuffers = &s->cbs[0],
	};
	uint64_t v = d->timeline_value + 1;
	VkTimelineSemaphoreSubmitInfo ti = {
		.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
		.signalSemaphoreValueCount = 1,
		.pSignalSemaphoreValues = &v,
	};
	if (d->timeline) {
		si.pNext = &ti;
		si.signalSemaphoreCount = 1;
		si.pSignalSemaphores = &d->timeline;
	}
	VkFence fence = d->timeline ? VK_NULL_HANDLE : s->fence;
	if (!d->timeline)
		st = DUET_VK_CHECK(d->f.vkResetFences(d->handle, 1, &s->fence),
				   "vkResetFences");
	if (st == DUET_OK)
		st = DUET_VK_CHECK(d->f.vkQueueSubmit(d->queue, 1, &si, fence),
				   "vkQueueSubmit");
	if (st == DUET_OK) {
		if (d->timeline)
			d->timeline_value = v;
		s->wait_value = v;
		s->pending = true;
	}
	return st;
}

duet_status duet_vk_seq_open_gate(duet_vk_seq *s, uint32_t gate)
{
	if (!s->pending || gate >= s->n_segs - 1)
		return DUET_ERR(DUET_E_INVAL, "gate %u of a sequence with %u "
				"gates%s", gate, s->n_segs - 1,
				s->pending ? "" : " that is not running");
	duet_status st = DUET_OK;
	while (st == DUET_OK && s->opened <= gate) {
		st = submit_segment(s, s->opened + 1);
		if (st == DUET_OK)
			s->opened++;
	}
	return st;
}

static duet_status wait_value(duet_vk_device *d, VkSemaphore sem, uint64_t v)
{
	VkSemaphoreWaitInfo wi = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
		.semaphoreCount = 1,
		.pSemaphores = &sem,
		.pValues = &v,
	};
	return DUET_VK_CHECK(d->f.vkWaitSemaphores(d->handle, &wi, UINT64_MAX),
			     "vkWaitSemaphores");
}

duet_status duet_vk_seq_wait_gate(duet_vk_seq *s, uint32_t gate)
{
	if (!s->pending)
		return DUET_OK;
	if (gate >= s->n_segs - 1 || gate >= s->opened)
		return DUET_ERR(DUET_E_INVAL, "wait for the segment of gate %u "
				"(%u gates, %u opened)", gate, s->n_segs - 1,
				s->opened);
	return wait_value(s->d, s->segs_done, s->seg_base + gate + 2);
}

duet_status duet_vk_seq_wait(duet_vk_seq *s)
{
	duet_vk_device *d = s->d;
	if (!s->pending)
		return DUET_OK;
	duet_status st = DUET_OK;
	if (s->n_segs > 1) {
		/* the rest runs now; if a submission fails, wait for the
		 * segments that went, so nothing of this run stays in flight */
		st = duet_vk_seq_open_gate(s, s->n_segs - 2);
		uint64_t last = s->seg_base + s->opened + 1;
		duet_status w = wait_value(d, s->segs_done, last);
		s->seg_base = last;
		if (st == DUET_OK)
			st = w;
	} else if (d->timeline) {
		st = wait_value(d, d->timeline, s->wait_value);
	} else {
		st = DUET_VK_CHECK(d->f.vkWaitForFences(d->handle, 1, &s->fence,
							VK_TRUE, UINT64_MAX),
				   "vkWaitForFences");
	}
	s->pending = false;
	if (st == DUET_OK && s->queries && s->n_stamps > 1) {
		VkResult r = d->f.vkGetQueryPoolResults(
			d->handle, s->queries, 0, s->n_stamps,
			s->n_stamps * sizeof(uint64_t), s->stamps, sizeof(uint64_t),
			VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
		if (r != VK_SUCCESS)
			memset(s->stamps, 0, s->n_stamps * sizeof(uint64_t));
	}
	return st;
}

duet_status duet_vk_seq_run(duet_vk_seq *s)
{
	duet_status st = duet_vk_seq_submit(s);
	return st == DUET_OK ? duet_vk_seq_wait(s) : st;
}

uint32_t duet_vk_seq_dispatches(const duet_vk_seq *s)
{
	return s->n_dispatch;
}

uint32_t duet_vk_seq_timings(duet_vk_seq *s, duet_vk_timing *out,
			     uint32_t cap)
{
	if (!s->queries || s->n_stamps < 2)
		return 0;
	uint32_t n = s->n_stamps - 1;
	double ns = s->d->caps.timestamp_ns;
	for (uint32_t i = 0; i < n && i < cap; i++) {
		out[i].label = s->labels[i];
		out[i].start_us = (double)(s->stamps[i] - s->stamps[0]) * ns / 1e3;
		out[i].us = (double)(s->stamps[i + 1] - s->stamps[i]) * ns / 1e3;
	}
	return n;
}
