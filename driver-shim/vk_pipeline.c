/* Compute pipelines from the embedded SPIR-V, created on first use, and the
 * VkPipelineCache that makes the next start faster. The cache file carries
 * our own header (device identity, length, checksum) in front of the
 * driver's blob; anything that does not check out is discarded, never
 * handed to the driver. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vk_internal.h"
#include "fault.h"

#define CACHE_MAGIC "DUETPC01"

typedef struct cache_header {
	char magic[8];
	uint32_t vendor_id;
	uint32_t device_id;
	uint32_t driver_version;
	uint32_t reserved;
	uint8_t uuid[VK_UUID_SIZE];
	uint64_t data_bytes;
	uint64_t checksum; /* FNV-1a 64 of the data */
} cache_header;

static uint64_t fnv1a(const uint8_t *p, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* mkdir -p for the cache directory; failures show up when saving. */
static void make_dirs(const char *path)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void cache_path(duet_vk_device *d, const char *dir)
{
	char base[900];
	d->cache_path[0] = 0;
	if (dir && !*dir)
		return;
	if (dir) {
		snprintf(base, sizeof base, "%s", dir);
	} else {
		const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(base, sizeof base, "%s/duet", xdg);
		else if (home && *home)
			snprintf(base, sizeof base, "%s/.cache/duet", home);
		else
			return;
	}
	snprintf(d->cache_path, sizeof d->cache_path,
		 "%s/pipelines-%04x-%04x.bin", base, d->caps.vendor_id,
		 d->caps.device_id);
}

/* Reads and checks the cache file; returns the driver blob (malloc'ed) or
 * NULL, and sets startup.cache_state. */
static void *cache_read(duet_vk_device *d, size_t *n)
{
	*n = 0;
	FILE *f = fopen(d->cache_path, "rb");
	if (!f) {
		d->startup.cache_state = "miss";
		return NULL;
	}
	cache_header h;
	void *data = NULL;
	/* a read that fails (duet_fault_read: the test hook) reads as a
	 * damaged file: discarded, and rewritten at close */
	bool ok = !duet_fault_read() && fread(&h, sizeof h, 1, f) == 1 &&
		  !memcmp(h.magic, CACHE_MAGIC, 8) &&
		  h.vendor_id == d->caps.vendor_id &&
		  h.device_id == d->caps.device_id &&
		  h.driver_version == d->caps.driver_version &&
		  !memcmp(h.uuid, d->phys->pipeline_uuid, VK_UUID_SIZE) &&
		  h.data_bytes >= 16 + VK_UUID_SIZE && h.data_bytes < (1ull << 30);
	if (ok && (data = malloc(h.data_bytes)) != NULL)
		ok = fread(data, 1, h.data_bytes, f) == h.data_bytes &&
		     fgetc(f) == EOF && fnv1a(data, h.data_bytes) == h.checksum;
	else
		ok = false;
	fclose(f);
	if (ok) {
		/* the driver's own header (VkPipelineCacheHeaderVersionOne) */
		const uint8_t *p = data;
		uint32_t len, ver, vendor, device;
		memcpy(&len, p, 4);
		memcpy(&ver, p + 4, 4);
		memcpy(&vendor, p + 8, 4);
		memcpy(&device, p + 12, 4);
		ok = len >= 16 + VK_UUID_SIZE && len <= h.data_bytes &&
		     ver == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
		     vendor == d->caps.vendor_id && device == d->caps.device_id &&
		     !memcmp(p + 16, d->phys->pipeline_uuid, VK_UUID_SIZE);
	}
	if (!ok) {
		free(data);
		d->startup.cache_state = "corrupt";
		return NULL;
	}
	d->startup.cache_state = "hit";
	*n = h.data_bytes;
	return data;
}

void duet_vk_cache_open(duet_vk_device *d, const char *dir)
{
	double t0 = duet_vk_now_ms();
	cache_path(d, dir);
	size_t n = 0;
	void *data = NULL;
	if (d->cache_path[0])
		data = cache_read(d, &n);
	else
		d->startup.cache_state = "off";
	VkPipelineCacheCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
		.initialDataSize = n,
		.pInitialData = data,
	};
	if (d->f.vkCreatePipelineCache(d->handle, &ci, NULL, &d->cache) !=
	    VK_SUCCESS) {
		/* the driver refused the blob: start empty */
		ci.initialDataSize = 0;
		ci.pInitialData = NULL;
		n = 0;
		d->startup.cache_state = "corrupt";
		if (d->f.vkCreatePipelineCache(d->handle, &ci, NULL, &d->cache) !=
		    VK_SUCCESS)
			d->cache = VK_NULL_HANDLE;
	}
	free(data);
	d->startup.cache_bytes = n;
	d->startup.cache_load_ms = duet_vk_now_ms() - t0;
}

duet_status duet_vk_device_save_cache(duet_vk_device *d)
{
	if (!d->cache || !d->cache_dirty || !d->cache_path[0])
		return DUET_OK;
	size_t n = 0;
	if (d->f.vkGetPipelineCacheData(d->handle, d->cache, &n, NULL) !=
		    VK_SUCCESS || n == 0)
		return DUET_OK;
	uint8_t *data = malloc(n);
	if (!data)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = DUET_OK;
	if (d->f.vkGetPipelineCacheData(d->handle, d->cache, &n, data) !=
	    VK_SUCCESS) {
		free(data);
		return DUET_OK;
	}
	cache_header h = { .vendor_id = d->caps.vendor_id,
			   .device_id = d->caps.device_id,
			   .driver_version = d->caps.driver_version,
			   .data_bytes = n, .checksum = fnv1a(data, n) };
	memcpy(h.magic, CACHE_MAGIC, 8);
	memcpy(h.uuid, d->phys->pipeline_uuid, VK_UUID_SIZE);
	char dir[1024], tmp[1100];
	snprintf(dir, sizeof dir, "%s", d->cache_path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		make_dirs(dir);
	}
	/* write aside and rename: a crash never leaves half a file */
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", d->cache_path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	bool ok = f && fwrite(&h, sizeof h, 1, f) == 1 &&
		  fwrite(data, 1, n, f) == n;
	if (f && fclose(f) != 0)
		ok = false;
	if (ok && rename(tmp, d->cache_path) != 0)
		ok = false;
	if (!ok) {
		s = DUET_ERR(DUET_E_IO, "cannot save the pipeline cache %s: %s",
			     d->cache_path, strerror(errno));
		unlink(tmp);
	} else {
		d->cache_dirty = false;
	}
	free(data);
	return s;
}

static bool key_equal(const duet_vk_pipeline_key *a, const duet_vk_pipeline_key *b)
{
	return a->module == b->module && a->n_spec == b->n_spec &&
	       !memcmp(a->spec, b->spec, a->n_spec * sizeof a->spec[0]);
}

static void kernel_free(duet_vk_device *d, duet_vk_kernel *k)
{
	if (k->pipeline)
		d->f.vkDestroyPipeline(d->handle, k->pipeline, NULL);
	if (k->layout)
		d->f.vkDestroyPipelineLayout(d->handle, k->layout, NULL);
	if (k->set_layout)
		d->f.vkDestroyDescriptorSetLayout(d->handle, k->set_layout, NULL);
	free(k);
}

void duet_vk_kernels_destroy(duet_vk_device *d)
{
	for (duet_vk_kernel *k = d->kernels, *next; k; k = next) {
		next = k->next;
		kernel_free(d, k);
	}
	d->kernels = NULL;
	if (d->cache)
		d->f.vkDestroyPipelineCache(d->handle, d->cache, NULL);
	d->cache = VK_NULL_HANDLE;
}

static duet_status create_layouts(duet_vk_device *d, duet_vk_kernel *k)
{
	const duet_vk_spirv *m = k->key.module;
	VkDescriptorSetLayoutBinding b[DUET_VK_MAX_BINDINGS];
	for (uint32_t i = 0; i < m->n_bindings; i++)
		b[i] = (VkDescriptorSetLayoutBinding){
			.binding = i,
			.descriptorType = duet_vk_descriptor_type(m->binding_kind[i]),
			.descriptorCount = 1,
			.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
		};
	VkDescriptorSetLayoutCreateInfo si = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
		.bindingCount = m->n_bindings,
		.pBindings = b,
	};
	duet_status s = DUET_VK_CHECK(d->f.vkCreateDescriptorSetLayout(
					      d->handle, &si, NULL, &k->set_layout),
				      "vkCreateDescriptorSetLayout");
	if (s != DUET_OK)
		return s;
	VkPushConstantRange pr = { VK_SHADER_STAGE_COMPUTE_BIT, 0,
				   DUET_VK_PUSH_BYTES };
	VkPipelineLayoutCreateInfo li = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
		.setLayoutCount = 1,
		.pSetLayouts = &k->set_layout,
		.pushConstantRangeCount = 1,
		.pPushConstantRanges = &pr,
	};
	return DUET_VK_CHECK(d->f.vkCreatePipelineLayout(d->handle, &li, NULL,
							 &k->layout),
			     "vkCreatePipelineLayout");
}

static duet_status create_pipeline(duet_vk_device *d, duet_vk_kernel *k)
{
	const duet_vk_spirv *m = k->key.module;
	VkShaderModuleCreateInfo mi = {
		.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
		.codeSize = (size_t)m->words * 4,
		.pCode = m->code,
	};
	VkShaderModule sm;
	duet_status s = DUET_VK_CHECK(d->f.vkCreateShaderModule(d->handle, &mi,
								 NULL, &sm),
				      "vkCreateShaderModule");
	if (s != DUET_OK)
		return s;
	VkSpecializationMapEntry e[DUET_VK_MAX_SPEC];
	for (uint32_t i = 0; i < k->key.n_spec; i++)
		e[i] = (VkSpecializationMapEntry){ i, i * 4, 4 };
	VkSpecializationInfo spec = { k->key.n_spec, e, k->key.n_spec * 4,
				      k->key.spec };
	VkComputePipelineCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
		.stage = {
			.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
			.stage = VK_SHADER_STAGE_COMPUTE_BIT,
			.module = sm,
			.pName = "main",
			.pSpecializationInfo = k->key.n_spec ? &spec : NULL,
		},
		.layout = k->layout,
	};
	s = DUET_VK_CHECK(d->f.vkCreateComputePipelines(d->handle, d->cache, 1,
							&ci, NULL, &k->pipeline),
			  m->name);
	d->f.vkDestroyShaderModule(d->handle, sm, NULL);
	return s;
}

duet_status duet_vk_kernel_get(duet_vk_device *d, const char *name,
			       const uint32_t *spec, uint32_t n_spec,
			       duet_vk_kernel **out)
{
	*out = NULL;
	const duet_vk_spirv *m = duet_vk_spirv_find(name);
	if (!m)
		return DUET_ERR(DUET_E_NOT_FOUND, "no kernel '%s' in this build",
				name);
	if (n_spec > DUET_VK_MAX_SPEC || m->n_bindings > DUET_VK_MAX_BINDINGS)
		return DUET_ERR(DUET_E_INVAL, "kernel '%s': too many constants "
				"or bindings", name);
	duet_vk_pipeline_key key = { .module = m, .n_spec = n_spec };
	if (n_spec)
		memcpy(key.spec, spec, n_spec * sizeof *spec);
	for (duet_vk_kernel *k = d->kernels; k; k = k->next)
		if (key_equal(&k->key, &key)) {
			*out = k;
			return DUET_OK;
		}
	duet_vk_kernel *k = calloc(1, sizeof *k);
	if (!k)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	k->key = key;
	double t0 = duet_vk_now_ms();
	duet_status s = create_layouts(d, k);
	if (s == DUET_OK)
		s = create_pipeline(d, k);
	d->startup.pipeline_ms += duet_vk_now_ms() - t0;
	if (s != DUET_OK) {
		kernel_free(d, k);
		return duet_error_wrap(s, "creating kernel '%s'", name);
	}
	d->startup.pipelines++;
	d->cache_dirty = true;
	k->next = d->kernels;
	d->kernels = k;
	*out = k;
	return DUET_OK;
}
