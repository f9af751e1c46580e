/* Device memory by role (weights, activations, host-visible I/O): each heap
 * hands out ranges from large blocks, one VkBuffer per block, so a model
 * costs a handful of allocations however many tensors it has. Uploads go
 * straight through a mapping when the memory is host-visible (UMA devices,
 * lavapipe) and through a staging copy otherwise. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t range_align(const duet_vk_device *d)
{
	uint64_t a = 64;
	if (d->caps.storage_align > a)
		a = d->caps.storage_align;
	if (d->caps.uniform_align > a)
		a = d->caps.uniform_align;
	if (d->caps.texel_align > a)
		a = d->caps.texel_align;
	return a;
}

duet_status duet_vk_heap_create(duet_vk_device *d, duet_vk_role role,
				uint64_t block_bytes, duet_vk_heap **out)
{
	*out = NULL;
	duet_vk_heap *h = calloc(1, sizeof *h);
	if (!h)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	h->d = d;
	h->role = role;
	if (block_bytes == 0)
		block_bytes = 64ull << 20;
	h->block_bytes = block_bytes < d->caps.max_alloc ? block_bytes
							 : d->caps.max_alloc;
	*out = h;
	return DUET_OK;
}

static void block_free(duet_vk_block *b)
{
	duet_vk_device *d = b->d;
	if (b->buffer)
		d->f.vkDestroyBuffer(d->handle, b->buffer, NULL);
	if (b->memory)
		d->f.vkFreeMemory(d->handle, b->memory, NULL);
	free(b);
}

void duet_vk_heap_destroy(duet_vk_heap *h)
{
	if (!h)
		return;
	for (duet_vk_block *b = h->blocks, *next; b; b = next) {
		next = b->next;
		block_free(b);
	}
	free(h);
}

uint64_t duet_vk_heap_bytes(const duet_vk_heap *h)
{
	return h->total;
}

/* Fault injection for the tests: DUET_VK_FAIL_ALLOC=N makes the Nth
 * device memory allocation of the process fail as out of device memory
 * (tests/test_cli.c runs every N of a model's run). */
static bool fault_now(void)
{
	static atomic_ulong count;
	const char *e = getenv("DUET_VK_FAIL_ALLOC");
	unsigned long at = e ? strtoul(e, NULL, 10) : 0;
	return at && atomic_fetch_add(&count, 1) + 1 == at;
}

static duet_status block_create(duet_vk_heap *h, uint64_t bytes,
				duet_vk_block **out)
{
	duet_vk_device *d = h->d;
	duet_vk_block *b = calloc(1, sizeof *b);
	if (!b)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	b->d = d;
	b->bytes = bytes;
	VkBufferCreateInfo bi = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		.size = bytes,
		.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
			 VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT |
			 VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
			 VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
			 VK_BUFFER_USAGE_TRANSFER_DST_BIT |
			 VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT,
		.sharingMode = VK_SHARING_MODE_EXCLUSIVE,
	};
	duet_status s = DUET_VK_CHECK(d->f.vkCreateBuffer(d->handle, &bi, NULL,
							   &b->buffer),
				      "vkCreateBuffer");
	VkMemoryRequirements req = { 0 };
	if (s == DUET_OK) {
		d->f.vkGetBufferMemoryRequirements(d->handle, b->buffer, &req);
		uint32_t type = d->memory_type[h->role];
		if (!(req.memoryTypeBits & (1u << type)))
			s = DUET_ERR(DUET_E_UNSUPPORTED, "buffers cannot use memory "
				     "type %u on %s", type, d->caps.name);
		VkMemoryAllocateInfo ai = {
			.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
			.allocationSize = req.size,
			.memoryTypeIndex = type,
		};
		if (s == DUET_OK &&
		    (fault_now() ||
		     d->f.vkAllocateMemory(d->handle, &ai, NULL, &b->memory) !=
			     VK_SUCCESS))
			s = DUET_ERR(DUET_E_DEVICE_NOMEM,
				     "cannot allocate %llu MiB of device memory "
				     "(%llu MiB already in this heap)",
				     (unsigned long long)(req.size >> 20),
				     (unsigned long long)(h->total >> 20));
	}
	if (s == DUET_OK)
		s = DUET_VK_CHECK(d->f.vkBindBufferMemory(d->handle, b->buffer,
							  b->memory, 0),
				  "vkBindBufferMemory");
	if (s == DUET_OK && d->role_host_visible[h->role])
		s = DUET_VK_CHECK(d->f.vkMapMemory(d->handle, b->memory, 0,
						   VK_WHOLE_SIZE, 0, &b->map),
				  "vkMapMemory");
	if (s != DUET_OK) {
		block_free(b);
		return s;
	}
	h->total += req.size;
	*out = b;
	return DUET_OK;
}

duet_status duet_vk_heap_alloc(duet_vk_heap *h, uint64_t bytes,
			       duet_vk_range *out)
{
	memset(out, 0, sizeof *out);
	uint64_t a = range_align(h->d), need = align_up(bytes ? bytes : 1, a);
	if (need > h->d->caps.max_alloc)
		return DUET_ERR(DUET_E_RANGE, "%llu bytes exceed the device's "
				"allocation cap of %llu",
				(unsigned long long)bytes,
				(unsigned long long)h->d->caps.max_alloc);
	duet_vk_block *b = h->blocks;
	if (!b || align_up(b->used, a) + need > b->bytes) {
		/* a big request gets a block of its own; the current block
		 * keeps serving small ones */
		uint64_t size = need > h->block_bytes ? need : h->block_bytes;
		duet_status s = block_create(h, size, &b);
		if (s != DUET_OK)
			return s;
		if (need > h->block_bytes && h->blocks) {
			b->next = h->blocks->next;
			h->blocks->next = b;
		} else {
			b->next = h->blocks;
			h->blocks = b;
		}
	}
	uint64_t off = align_up(b->used, a);
	b->used = off + need;
	*out = (duet_vk_range){ b, off, bytes,
				b->map ? (char *)b->map + off : NULL };
	return DUET_OK;
}

/* Runs one copy between a range and a host-visible staging range. */
static duet_status staged_copy(duet_vk_device *d, const duet_vk_range *src,
			       const duet_vk_range *dst, uint64_t bytes)
{
	VkCommandBufferAllocateInfo ai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.commandPool = d->cmd_pool,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	VkCommandBuffer cb;
	duet_status s = DUET_VK_CHECK(d->f.vkAllocateCommandBuffers(d->handle,
								     &ai, &cb),
				      "vkAllocateCommandBuffers");
	if (s != DUET_OK)
		return s;
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
		.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
	};
	VkBufferCopy region = { src->offset, dst->offset, bytes };
	VkMemoryBarrier mb = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
		.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT,
	};
	d->f.vkBeginCommandBuffer(cb, &bi);
	d->f.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
				  VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0,
				  NULL, 0, NULL);
	d->f.vkCmdCopyBuffer(cb, src->block->buffer, dst->block->buffer, 1, &region);
	d->f.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
				  VK_PIPELINE_STAGE_ALL_COMMANDS_BIT |
					  VK_PIPELINE_STAGE_HOST_BIT,
				  0, 1, &mb, 0, NULL, 0, NULL);
	s = DUET_VK_CHECK(d->f.vkEndCommandBuffer(cb), "vkEndCommandBuffer");
	VkFenceCreateInfo fi = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
	VkFence fence = VK_NULL_HANDLE;
	if (s == DUET_OK)
		s = DUET_VK_CHECK(d->f.vkCreateFence(d->handle, &fi, NULL, &fence),
				  "vkCreateFence");
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.commandBufferCount = 1,
		.pCommandBuffers = &cb,
	};
	if (s == DUET_OK)
		s = DUET_VK_CHECK(d->f.vkQueueSubmit(d->queue, 1, &si, fence),
				  "vkQueueSubmit");
	if (s == DUET_OK)
		s = DUET_VK_CHECK(d->f.vkWaitForFences(d->handle, 1, &fence, VK_TRUE,
						       UINT64_MAX),
				  "vkWaitForFences");
	if (fence)
		d->f.vkDestroyFence(d->handle, fence, NULL);
	d->f.vkResetCommandPool(d->handle, d->cmd_pool, 0);
	return s;
}

#define STAGING_BYTES (16ull << 20)

static duet_status staging(duet_vk_device *d, duet_vk_range *out)
{
	if (!d->staging) {
		duet_status s = duet_vk_heap_create(d, DUET_VK_HOST, STAGING_BYTES,
						    &d->staging);
		if (s == DUET_OK)
			s = duet_vk_heap_alloc(d->staging, STAGING_BYTES,
					       &d->staging_range);
		if (s != DUET_OK) {
			duet_vk_heap_destroy(d->staging);
			d->staging = NULL;
			return s;
		}
	}
	*out = d->staging_range;
	return DUET_OK;
}

duet_status duet_vk_upload(duet_vk_device *d, const duet_vk_range *r,
			   uint64_t offset, const void *src, uint64_t bytes)
{
	if (offset > r->bytes || bytes > r->bytes - offset)
		return DUET_ERR(DUET_E_INVAL, "upload past the end of a range");
	if (r->map) {
		memcpy((char *)r->map + offset, src, bytes);
		return DUET_OK;
	}
	duet_vk_range st;
	duet_status s = staging(d, &st);
	for (uint64_t done = 0; s == DUET_OK && done < bytes;) {
		uint64_t n = bytes - done < STAGING_BYTES ? bytes - done
							   : STAGING_BYTES;
		memcpy(st.map, (const char *)src + done, n);
		duet_vk_range dst = duet_vk_sub(*r, offset + done, n);
		s = staged_copy(d, &st, &dst, n);
		done += n;
	}
	return s;
}

duet_status duet_vk_download(duet_vk_device *d, const duet_vk_range *r,
			     uint64_t offset, void *dst, uint64_t bytes)
{
	if (offset > r->bytes || bytes > r->bytes - offset)
		return DUET_ERR(DUET_E_INVAL, "download past the end of a range");
	if (r->map) {
		memcpy(dst, (const char *)r->map + offset, bytes);
		return DUET_OK;
	}
	duet_vk_range st;
	duet_status s = staging(d, &st);
	for (uint64_t done = 0; s == DUET_OK && done < bytes;) {
		uint64_t n = bytes - done < STAGING_BYTES ? bytes - done
							   : STAGING_BYTES;
		duet_vk_range src = duet_vk_sub(*r, offset + done, n);
		s = staged_copy(d, &src, &st, n);
		if (s == DUET_OK)
			memcpy((char *)dst + done, st.map, n);
		done += n;
	}
	return s;
}
