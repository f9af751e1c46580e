/* Public Vulkan devices (see device.h and duet.h). */
#include "device.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct dev_model {
	const duet_model_desc *m;
	duet_vk_weights *w;
	uint32_t refs;
	struct dev_model *next;
} dev_model;

struct duet_device {
	duet_vk *vk;
	duet_vk_device *d;
	uint32_t index;
	bool profile;
	char quirks[128];
	dev_model *models;
};

duet_status duet_device_open(const duet_device_options *opts,
			     duet_device **out)
{
	*out = NULL;
	duet_device_options o = { 0 };
	if (opts)
		o = *opts;
	if (o.variant < 0 || o.variant > 2)
		return DUET_ERR(DUET_E_INVAL, "kernel variant %d (0 auto, 1 cpu, "
				"2 gpu)", o.variant);
	duet_device *dev = calloc(1, sizeof *dev);
	if (!dev)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_vk_options vo = { .validation = o.validation };
	duet_status s = duet_vk_create(&vo, &dev->vk);
	int idx = -1;
	if (s == DUET_OK) {
		idx = duet_vk_pick_device(dev->vk, o.device ? (int)o.device - 1 : -1);
		if (idx < 0)
			s = duet_vk_device_count(dev->vk) ? DUET_E_INVAL
							  : DUET_E_UNSUPPORTED;
	}
	if (s == DUET_OK) {
		duet_vk_device_options dopts = {
			.variant_set = o.variant != 0,
			.variant = o.variant == 2 ? DUET_VK_VARIANT_GPU
						  : DUET_VK_VARIANT_CPU,
			.cache_dir = o.cache_dir,
		};
		dev->index = (uint32_t)idx;
		s = duet_vk_device_create(dev->vk, (uint32_t)idx, &dopts, &dev->d);
	}
	if (s != DUET_OK) {
		duet_device_close(dev);
		return s;
	}
	dev->profile = o.profile;
	duet_vk_quirk_names(duet_vk_device_get_caps(dev->d)->quirks, dev->quirks,
			    sizeof dev->quirks);
	*out = dev;
	return DUET_OK;
}

void duet_device_close(duet_device *dev)
{
	if (!dev)
		return;
	for (dev_model *m = dev->models, *next; m; m = next) {
		next = m->next;
		duet_vk_weights_destroy(m->w);
		free(m);
	}
	duet_vk_device_destroy(dev->d);
	duet_vk_destroy(dev->vk);
	free(dev);
}

void duet_device_get_info(const duet_device *dev, duet_device_info *out)
{
	const duet_vk_caps *c = duet_vk_device_get_caps(dev->d);
	const duet_vk_startup *st = duet_vk_device_startup(dev->d);
	*out = (duet_device_info){
		.name = c->name,
		.driver = c->driver_name,
		.driver_info = c->driver_info,
		.type = duet_vk_device_type_name(c->type),
		.variant = duet_vk_variant_name(c->variant),
		.quirks = dev->quirks,
		.api_version = c->api_version,
		.index = dev->index,
		.validation_errors = duet_vk_validation_errors(dev->vk),
		.device_ms = st->device_ms,
		.cache_load_ms = st->cache_load_ms,
		.cache_state = st->cache_state ? st->cache_state : "off",
		.pipeline_ms = st->pipeline_ms,
		.pipelines = st->pipelines,
	};
}

duet_vk_device *duet_device_vk(duet_device *dev)
{
	return dev->d;
}

bool duet_device_profiling(const duet_device *dev)
{
	return dev->profile;
}

duet_status duet_device_acquire_weights(duet_device *dev, const duet_model_desc *m,
					struct duet_weights *stream,
					duet_progress_fn progress, void *user,
					duet_vk_weights **out)
{
	for (dev_model *e = dev->models; e; e = e->next)
		if (e->m == m) {
			e->refs++;
			*out = e->w;
			return DUET_OK;
		}
	dev_model *e = calloc(1, sizeof *e);
	if (!e)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = duet_vk_weights_create(dev->d, m, stream, progress, user, &e->w);
	if (s != DUET_OK) {
		free(e);
		return s;
	}
	e->m = m;
	e->refs = 1;
	e->next = dev->models;
	dev->models = e;
	*out = e->w;
	return DUET_OK;
}

void duet_device_release_weights(duet_device *dev, duet_vk_weights *w)
{
	for (dev_model **pp = &dev->models; *pp; pp = &(*pp)->next)
		if ((*pp)->w == w) {
			dev_model *e = *pp;
			if (--e->refs == 0) {
				*pp = e->next;
				duet_vk_weights_destroy(e->w);
				free(e);
			}
			return;
		}
}
