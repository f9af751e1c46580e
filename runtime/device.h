/* The public duet_device (a Vulkan instance + logical device) and the
 * models uploaded to it, shared by every context on the device: two
 * contexts of one model share one copy of its weights. */
#ifndef DUET_RUNTIME_DEVICE_H
#define DUET_RUNTIME_DEVICE_H

#include "duet/duet.h"
#include "exec_vk.h"

/* Returns the shim device behind d. */
duet_vk_device *duet_device_vk(duet_device *d);

/* Returns whether kernels should be timed (the device's profile option). */
bool duet_device_profiling(const duet_device *d);

/* Returns (uploading on first use, with stream, progress as in
 * duet_vk_weights_create) the weights of m on d, counting a reference;
 * release with duet_device_release_weights(). */
duet_status duet_device_acquire_weights(duet_device *d, const duet_model_desc *m,
					struct duet_weights *stream,
					duet_progress_fn progress, void *user,
					duet_vk_weights **out);

/* Drops a reference; the weights are freed with the last. */
void duet_device_release_weights(duet_device *d, duet_vk_weights *w);

#endif
