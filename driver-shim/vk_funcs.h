/* The Vulkan entry points duet uses, as X-macro lists: the loader-level
 * (global) ones, the instance-level ones and the device-level ones. Each
 * list expands into a table of function pointers (see vk_internal.h), so no
 * vk* symbol is global and two instances or devices never share state. */

#define DUET_VK_GLOBAL_FUNCS(X)                  \
	X(vkCreateInstance)                      \
	X(vkEnumerateInstanceExtensionProperties) \
	X(vkEnumerateInstanceLayerProperties)

#define DUET_VK_INSTANCE_FUNCS(X)                 \
	X(vkDestroyInstance)                      \
	X(vkEnumeratePhysicalDevices)             \
	X(vkGetPhysicalDeviceProperties)          \
	X(vkGetPhysicalDeviceProperties2)         \
	X(vkGetPhysicalDeviceFeatures2)           \
	X(vkGetPhysicalDeviceMemoryProperties)    \
	X(vkGetPhysicalDeviceQueueFamilyProperties) \
	X(vkEnumerateDeviceExtensionProperties)   \
	X(vkCreateDevice)                         \
	X(vkGetDeviceProcAddr)

/* Present only when VK_EXT_debug_utils is enabled (validation runs). */
#define DUET_VK_DEBUG_FUNCS(X)               \
	X(vkCreateDebugUtilsMessengerEXT)    \
	X(vkDestroyDebugUtilsMessengerEXT)

#define DUET_VK_DEVICE_FUNCS(X)                \
	X(vkDestroyDevice)                     \
	X(vkGetDeviceQueue)                    \
	X(vkDeviceWaitIdle)                    \
	X(vkAllocateMemory)                    \
	X(vkFreeMemory)                        \
	X(vkMapMemory)                         \
	X(vkUnmapMemory)                       \
	X(vkFlushMappedMemoryRanges)           \
	X(vkInvalidateMappedMemoryRanges)      \
	X(vkCreateBuffer)                      \
	X(vkCreateBufferView)                  \
	X(vkDestroyBufferView)                 \
	X(vkDestroyBuffer)                     \
	X(vkGetBufferMemoryRequirements)       \
	X(vkBindBufferMemory)                  \
	X(vkCreateShaderModule)                \
	X(vkDestroyShaderModule)               \
	X(vkCreateDescriptorSetLayout)         \
	X(vkDestroyDescriptorSetLayout)        \
	X(vkCreatePipelineLayout)              \
	X(vkDestroyPipelineLayout)             \
	X(vkCreatePipelineCache)               \
	X(vkDestroyPipelineCache)              \
	X(vkGetPipelineCacheData)              \
	X(vkCreateComputePipelines)            \
	X(vkDestroyPipeline)                   \
	X(vkCreateDescriptorPool)              \
	X(vkDestroyDescriptorPool)             \
	X(vkResetDescriptorPool)               \
	X(vkAllocateDescriptorSets)            \
	X(vkUpdateDescriptorSets)              \
	X(vkCreateCommandPool)                 \
	X(vkDestroyCommandPool)                \
	X(vkResetCommandPool)                  \
	X(vkAllocateCommandBuffers)            \
	X(vkBeginCommandBuffer)                \
	X(vkEndCommandBuffer)                  \
	X(vkCmdBindPipeline)                   \
	X(vkCmdBindDescriptorSets)             \
	X(vkCmdPushConstants)                  \
	X(vkCmdDispatch)                       \
	X(vkCmdDispatchIndirect)               \
	X(vkCmdPipelineBarrier)                \
	X(vkCmdCopyBuffer)                     \
	X(vkCmdFillBuffer)                     \
	X(vkCmdResetQueryPool)                 \
	X(vkCmdWriteTimestamp)                 \
	X(vkCreateQueryPool)                   \
	X(vkDestroyQueryPool)                  \
	X(vkGetQueryPoolResults)               \
	X(vkCreateFence)                       \
	X(vkDestroyFence)                      \
	X(vkResetFences)                       \
	X(vkWaitForFences)                     \
	X(vkCreateSemaphore)                   \
	X(vkDestroySemaphore)                  \
	X(vkQueueSubmit)

/* Core in Vulkan 1.2; loaded under the KHR name on 1.1 devices that have
 * VK_KHR_timeline_semaphore. */
#define DUET_VK_TIMELINE_FUNCS(X)    \
	X(vkWaitSemaphores)          \
	X(vkSignalSemaphore)         \
	X(vkGetSemaphoreCounterValue)

/* VK_EXT_external_memory_host (weights read from storage straight into
 * memory the device can use). */
#define DUET_VK_HOST_MEMORY_FUNCS(X)           \
	X(vkGetMemoryHostPointerPropertiesEXT)
