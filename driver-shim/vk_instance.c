/* Loading Vulkan at run time and creating the instance: the library has no
 * link-time dependency on libvulkan, so a machine without Vulkan still runs
 * the CPU backend. Also: the validation layer and its error counter, and
 * device enumeration and choice. */
#ifdef DUET_PIN_DRIVER_LLVM
#define _GNU_SOURCE /* RTLD_NODELETE */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vk_internal.h"

double duet_vk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

duet_status duet_vk_check(VkResult r, const char *file, int line,
			  const char *what)
{
	switch (r) {
	case VK_SUCCESS:
		return DUET_OK;
	case VK_ERROR_OUT_OF_HOST_MEMORY:
		return duet_error_set(DUET_E_NOMEM, file, line,
				      "%s: out of host memory", what);
	case VK_ERROR_OUT_OF_DEVICE_MEMORY:
	case VK_ERROR_TOO_MANY_OBJECTS:
	case VK_ERROR_OUT_OF_POOL_MEMORY:
	case VK_ERROR_FRAGMENTED_POOL:
		return duet_error_set(DUET_E_DEVICE_NOMEM, file, line,
				      "%s: out of device memory (VkResult %d)",
				      what, (int)r);
	case VK_ERROR_DEVICE_LOST:
		return duet_error_set(DUET_E_DEVICE_LOST, file, line,
				      "%s: the Vulkan device was lost", what);
	case VK_TIMEOUT:
	case VK_NOT_READY:
		return duet_error_set(DUET_E_AGAIN, file, line,
				      "%s: not ready (VkResult %d)", what, (int)r);
	case VK_ERROR_LAYER_NOT_PRESENT:
	case VK_ERROR_EXTENSION_NOT_PRESENT:
	case VK_ERROR_FEATURE_NOT_PRESENT:
	case VK_ERROR_INCOMPATIBLE_DRIVER:
	case VK_ERROR_INITIALIZATION_FAILED:
	default:
		return duet_error_set(DUET_E_UNSUPPORTED, file, line,
				      "%s failed (VkResult %d)", what, (int)r);
	}
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
		 VkDebugUtilsMessageTypeFlagsEXT types,
		 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
	(void)types;
	duet_vk *vk = user;
	if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
		atomic_fetch_add(&vk->validation_errors, 1);
		fprintf(stderr, "duet: Vulkan validation error: %s\n",
			data->pMessage ? data->pMessage : "(no message)");
	} else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
		fprintf(stderr, "duet: Vulkan validation warning: %s\n",
			data->pMessage ? data->pMessage : "(no message)");
	}
	return VK_FALSE;
}

static bool has_layer(duet_vk *vk, const char *name)
{
	uint32_t n = 0;
	if (vk->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n)
		return false;
	VkLayerProperties *p = calloc(n, sizeof *p);
	bool found = false;
	if (p && vk->vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
		for (uint32_t i = 0; i < n && !found; i++)
			found = !strcmp(p[i].layerName, name);
	free(p);
	return found;
}

static bool has_instance_ext(duet_vk *vk, const char *layer, const char *name)
{
	uint32_t n = 0;
	if (vk->vkEnumerateInstanceExtensionProperties(layer, &n, NULL) !=
		    VK_SUCCESS || !n)
		return false;
	VkExtensionProperties *p = calloc(n, sizeof *p);
	bool found = false;
	if (p && vk->vkEnumerateInstanceExtensionProperties(layer, &n, p) ==
			 VK_SUCCESS)
		for (uint32_t i = 0; i < n && !found; i++)
			found = !strcmp(p[i].extensionName, name);
	free(p);
	return found;
}

static duet_status load_loader(duet_vk *vk)
{
	/* Android ships the loader as libvulkan.so only. */
	static const char *const names[] = { "libvulkan.so.1", "libvulkan.so" };
#ifdef DUET_PIN_DRIVER_LLVM
	/* Sanitizer builds only: lavapipe's LLVM leaves one small block
	 * allocated each time it is loaded, and the loader loads and unloads
	 * the driver (with LLVM) several times, so LeakSanitizer would report
	 * stacks in unknown modules that no suppression can name. Loaded here
	 * once for good, LLVM stays mapped and tests/lsan.supp names it. */
	dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
#endif
	for (size_t i = 0; i < 2 && !vk->lib; i++)
		vk->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!vk->lib)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"no Vulkan loader (libvulkan.so.1): install "
				"libvulkan1 and a driver (mesa-vulkan-drivers)");
	vk->gipa = (PFN_vkGetInstanceProcAddr)dlsym(vk->lib,
						    "vkGetInstanceProcAddr");
	if (!vk->gipa)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"the Vulkan loader has no vkGetInstanceProcAddr");
#define LOAD_GLOBAL(name)                                                    \
	vk->name = (PFN_##name)vk->gipa(NULL, #name);                        \
	if (!vk->name)                                                       \
		return DUET_ERR(DUET_E_UNSUPPORTED, "Vulkan loader lacks %s", #name);
	DUET_VK_GLOBAL_FUNCS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
	return DUET_OK;
}

static duet_status create_instance(duet_vk *vk)
{
	PFN_vkEnumerateInstanceVersion ver =
		(PFN_vkEnumerateInstanceVersion)vk->gipa(NULL,
							 "vkEnumerateInstanceVersion");
	uint32_t api = VK_API_VERSION_1_0;
	if (ver)
		ver(&api);
	if (api < VK_API_VERSION_1_1)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"the Vulkan loader only offers %u.%u; duet needs 1.1",
				VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
	vk->api_version = api >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : api;
	const char *layers[1], *exts[2];
	uint32_t n_layers = 0, n_exts = 0;
	if (vk->validation) {
		const char *name = "VK_LAYER_KHRONOS_validation";
		if (!has_layer(vk, name))
			return DUET_ERR(DUET_E_UNSUPPORTED,
					"validation asked for but %s is not installed "
					"(apt-get install vulkan-validationlayers)", name);
		layers[n_layers++] = name;
		if (!has_instance_ext(vk, NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) &&
		    !has_instance_ext(vk, name, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
			return DUET_ERR(DUET_E_UNSUPPORTED, "validation needs %s",
					VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
		exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
	}
	VkApplicationInfo app = {
		.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
		.pApplicationName = "duet",
		.pEngineName = "duet",
		.apiVersion = vk->api_version,
	};
	VkInstanceCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
		.pApplicationInfo = &app,
		.enabledLayerCount = n_layers,
		.ppEnabledLayerNames = layers,
		.enabledExtensionCount = n_exts,
		.ppEnabledExtensionNames = exts,
	};
	duet_status s = DUET_VK_CHECK(vk->vkCreateInstance(&ci, NULL, &vk->instance),
				      "vkCreateInstance");
	if (s != DUET_OK)
		return s;
#define LOAD_INSTANCE(name)                                                  \
	vk->f.name = (PFN_##name)vk->gipa(vk->instance, #name);              \
	if (!vk->f.name)                                                     \
		return DUET_ERR(DUET_E_UNSUPPORTED, "Vulkan instance lacks %s", #name);
	DUET_VK_INSTANCE_FUNCS(LOAD_INSTANCE)
	if (vk->validation) {
		DUET_VK_DEBUG_FUNCS(LOAD_INSTANCE)
	}
#undef LOAD_INSTANCE
	if (vk->validation) {
		VkDebugUtilsMessengerCreateInfoEXT mi = {
			.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
			.messageSeverity =
				VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
				VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
			.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
				       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
				       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
			.pfnUserCallback = on_debug_message,
			.pUserData = vk,
		};
		s = DUET_VK_CHECK(vk->f.vkCreateDebugUtilsMessengerEXT(
					  vk->instance, &mi, NULL, &vk->messenger),
				  "vkCreateDebugUtilsMessengerEXT");
	}
	return s;
}

static duet_status enumerate(duet_vk *vk)
{
	uint32_t n = 0;
	duet_status s = DUET_VK_CHECK(
		vk->f.vkEnumeratePhysicalDevices(vk->instance, &n, NULL),
		"vkEnumeratePhysicalDevices");
	if (s != DUET_OK || n == 0)
		return s;
	VkPhysicalDevice *h = calloc(n, sizeof *h);
	vk->phys = calloc(n, sizeof *vk->phys);
	if (!h || !vk->phys) {
		free(h);
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	s = DUET_VK_CHECK(vk->f.vkEnumeratePhysicalDevices(vk->instance, &n, h),
			  "vkEnumeratePhysicalDevices");
	for (uint32_t i = 0; s == DUET_OK && i < n; i++) {
		duet_vk_phys *p = &vk->phys[vk->n_phys];
		memset(p, 0, sizeof *p);
		p->handle = h[i];
		duet_vk_probe(vk, p);
		/* usable: Vulkan 1.1 and a compute queue */
		if (p->caps.api_version >= VK_API_VERSION_1_1 &&
		    p->queue_family != UINT32_MAX)
			vk->n_phys++;
	}
	free(h);
	return s;
}

duet_status duet_vk_create(const duet_vk_options *opts, duet_vk **out)
{
	*out = NULL;
	duet_vk *vk = calloc(1, sizeof *vk);
	if (!vk)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	const char *env = getenv("DUET_VK_VALIDATION");
	vk->validation = (opts && opts->validation) || (env && !strcmp(env, "1"));
	atomic_init(&vk->validation_errors, 0);
	duet_status s = load_loader(vk);
	if (s == DUET_OK)
		s = create_instance(vk);
	if (s == DUET_OK)
		s = enumerate(vk);
	if (s != DUET_OK) {
		duet_vk_destroy(vk);
		return s;
	}
	*out = vk;
	return DUET_OK;
}

void duet_vk_destroy(duet_vk *vk)
{
	if (!vk)
		return;
	if (vk->instance) {
		if (vk->messenger)
			vk->f.vkDestroyDebugUtilsMessengerEXT(vk->instance,
							      vk->messenger, NULL);
		vk->f.vkDestroyInstance(vk->instance, NULL);
	}
	free(vk->phys);
	if (vk->lib)
		dlclose(vk->lib);
	free(vk);
}

uint32_t duet_vk_device_count(const duet_vk *vk)
{
	return vk->n_phys;
}

const duet_vk_caps *duet_vk_device_caps(const duet_vk *vk, uint32_t i)
{
	return i < vk->n_phys ? &vk->phys[i].caps : NULL;
}

uint64_t duet_vk_validation_errors(const duet_vk *vk)
{
	return atomic_load(&((duet_vk *)vk)->validation_errors);
}

bool duet_vk_validation_enabled(const duet_vk *vk)
{
	return vk->validation;
}

int duet_vk_pick_device(const duet_vk *vk, int requested)
{
	if (vk->n_phys == 0) {
		DUET_ERR(DUET_E_NOT_FOUND, "no Vulkan 1.1 device with a compute queue");
		return -1;
	}
	const char *env = getenv("DUET_DEVICE");
	if (requested < 0 && env && *env) {
		char *end;
		long v = strtol(env, &end, 10);
		if (*end || v < 0) {
			DUET_ERR(DUET_E_INVAL, "DUET_DEVICE='%s' is not a device "
				 "index", env);
			return -1;
		}
		requested = v > 1000 ? 1000 : (int)v;
	}
	if (requested >= 0) {
		if ((uint32_t)requested >= vk->n_phys) {
			DUET_ERR(DUET_E_INVAL, "device %d does not exist (%u "
				 "device%s: 0..%u; see duet info)", requested,
				 vk->n_phys, vk->n_phys == 1 ? "" : "s",
				 vk->n_phys - 1);
			return -1;
		}
		return requested;
	}
	static const int rank[] = {
		[DUET_VK_DEVICE_DISCRETE] = 5, [DUET_VK_DEVICE_INTEGRATED] = 4,
		[DUET_VK_DEVICE_VIRTUAL] = 3,  [DUET_VK_DEVICE_CPU] = 2,
		[DUET_VK_DEVICE_OTHER] = 1,
	};
	int best = 0;
	for (uint32_t i = 1; i < vk->n_phys; i++)
		if (rank[vk->phys[i].caps.type] > rank[vk->phys[best].caps.type])
			best = (int)i;
	return best;
}

const char *duet_vk_device_type_name(duet_vk_device_type t)
{
	switch (t) {
	case DUET_VK_DEVICE_INTEGRATED: return "integrated";
	case DUET_VK_DEVICE_DISCRETE: return "discrete";
	case DUET_VK_DEVICE_VIRTUAL: return "virtual";
	case DUET_VK_DEVICE_CPU: return "cpu";
	default: return "other";
	}
}

const char *duet_vk_variant_name(duet_vk_variant v)
{
	return v == DUET_VK_VARIANT_GPU ? "gpu" : "cpu";
}
