// A Vulkan driver (ICD) that is Mesa's lavapipe with three answers changed, so that Dawn (Node's
// WebGPU) accepts it and uses it fully. Debian 12's lavapipe (Mesa 22.3) reports shader{Uniform,
// SampledImage,StorageBuffer,StorageImage}ArrayDynamicIndexing as false, and Dawn refuses any Vulkan
// device without them. WGSL cannot index an array of bindings (it has no binding arrays), so no shader
// Dawn compiles for this project uses them. Lavapipe runs every shader through LLVM, 8 lanes wide on
// AVX2: 2.5-4x SwiftShader's Subzero JIT for this project's kernels (docs/speed.md).
//
// The three answers:
//   - the four flags read true, and a device created with them asks lavapipe for exactly what it reports;
//   - the dynamic uniform / storage buffers per descriptor set read 16 (Dawn cuts lavapipe's 256 to 16
//     anyway, and warns on every start when it has to);
//   - the storage buffer range reads 1 GiB, SwiftShader's, instead of 128 MiB, which would refuse a
//     stories15M-shaped model's logits at batch 8 x 256. Lavapipe was seen to read and write 1 GB
//     bindings through their last element; test/gpu/big-binding.test.ts checks 160 MiB on every run.
// Everything else is lavapipe's own entry points, returned as they are (the loader talks to lavapipe's
// dispatchable handles directly).
//
// Built by scripts/setup.mjs (a shared library from the first C compiler it finds), picked by
// scripts/gpu-env.mjs through the ICD manifest written beside it. No Vulkan headers are needed: the few
// types used are declared here.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint32_t VkBool32;
typedef int32_t VkResult;
typedef void (*PFN_vkVoidFunction)(void);
typedef void *VkInstance;
typedef void *VkPhysicalDevice;
typedef void *VkDevice;

#define FEATURE_COUNT 55
// Indices in VkPhysicalDeviceFeatures of shaderUniformBufferArrayDynamicIndexing and the three after it.
#define FIRST_DYNAMIC_INDEXING 33
#define DYNAMIC_INDEXING_COUNT 4
#define STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2 1000059000

typedef struct { VkBool32 f[FEATURE_COUNT]; } Features;
typedef struct { int32_t sType; void *pNext; Features features; } Features2;
typedef struct { int32_t sType; const void *pNext; } BaseIn;
// VkPhysicalDeviceProperties up to the limits it patches: 5 uint32, deviceName[256], UUID[16], then
// VkPhysicalDeviceLimits (8-aligned: it holds VkDeviceSize fields) with maxDescriptorSetUniformBuffersDynamic
// at byte 104 and maxDescriptorSetStorageBuffersDynamic at 112 of it.
#define PROPERTIES_LIMITS 296
#define UNIFORM_DYNAMIC (PROPERTIES_LIMITS + 104)
#define STORAGE_DYNAMIC (PROPERTIES_LIMITS + 112)
#define DAWN_DYNAMIC_BUFFERS 16
#define STORAGE_RANGE (PROPERTIES_LIMITS + 28) // maxStorageBufferRange
#define LAVAPIPE_STORAGE_RANGE (1u << 27)
#define STORAGE_RANGE_CLAIMED (1u << 30)
#define PROPERTIES2_PROPERTIES 16 // after sType, padding and pNext
typedef struct {
  int32_t sType;
  const void *pNext;
  uint32_t flags;
  uint32_t queueCreateInfoCount;
  const void *pQueueCreateInfos;
  uint32_t enabledLayerCount;
  const char *const *ppEnabledLayerNames;
  uint32_t enabledExtensionCount;
  const char *const *ppEnabledExtensionNames;
  const Features *pEnabledFeatures;
} DeviceCreateInfo;

typedef PFN_vkVoidFunction (*GetProcAddr)(VkInstance, const char *);
typedef VkResult (*Negotiate)(uint32_t *);
typedef void (*GetFeatures)(VkPhysicalDevice, Features *);
typedef void (*GetFeatures2)(VkPhysicalDevice, Features2 *);
typedef void (*GetProperties)(VkPhysicalDevice, void *);
typedef VkResult (*CreateDevice)(VkPhysicalDevice, const DeviceCreateInfo *, const void *, VkDevice *);

static void *lvp;
static GetProcAddr lvp_instance_proc, lvp_physical_device_proc;
static GetFeatures real_features;
static GetFeatures2 real_features2, real_features2_khr;
static CreateDevice real_create_device;
static GetProperties real_properties, real_properties2, real_properties2_khr;

static int load(void) {
  if (lvp) return 1;
  lvp = dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_LOCAL);
  if (!lvp) {
    fprintf(stderr, "lavapipe-for-dawn: cannot load libvulkan_lvp.so (apt-get install mesa-vulkan-drivers): %s\n", dlerror());
    return 0;
  }
  lvp_instance_proc = (GetProcAddr)dlsym(lvp, "vk_icdGetInstanceProcAddr");
  lvp_physical_device_proc = (GetProcAddr)dlsym(lvp, "vk_icdGetPhysicalDeviceProcAddr");
  return lvp_instance_proc != 0;
}

static void claim(Features *f) {
  for (int i = 0; i < DYNAMIC_INDEXING_COUNT; i++) f->f[FIRST_DYNAMIC_INDEXING + i] = 1;
}

static void get_features(VkPhysicalDevice pd, Features *f) {
  real_features(pd, f);
  claim(f);
}
static void get_features2(VkPhysicalDevice pd, Features2 *f) {
  real_features2(pd, f);
  claim(&f->features);
}
static void get_features2_khr(VkPhysicalDevice pd, Features2 *f) {
  real_features2_khr(pd, f);
  claim(&f->features);
}

static void limit(void *properties) {
  char *p = (char *)properties;
  // Only where the layout checks out: the device name sits at byte 20.
  if (strncmp(p + 20, "llvmpipe", 8) != 0) return;
  uint32_t *u = (uint32_t *)(p + UNIFORM_DYNAMIC), *s = (uint32_t *)(p + STORAGE_DYNAMIC);
  if (*u > DAWN_DYNAMIC_BUFFERS) *u = DAWN_DYNAMIC_BUFFERS;
  if (*s > DAWN_DYNAMIC_BUFFERS) *s = DAWN_DYNAMIC_BUFFERS;
  uint32_t *range = (uint32_t *)(p + STORAGE_RANGE);
  if (*range == LAVAPIPE_STORAGE_RANGE) *range = STORAGE_RANGE_CLAIMED;
}
static void get_properties(VkPhysicalDevice pd, void *p) {
  real_properties(pd, p);
  limit(p);
}
static void get_properties2(VkPhysicalDevice pd, void *p) {
  real_properties2(pd, p);
  limit((char *)p + PROPERTIES2_PROPERTIES);
}
static void get_properties2_khr(VkPhysicalDevice pd, void *p) {
  real_properties2_khr(pd, p);
  limit((char *)p + PROPERTIES2_PROPERTIES);
}

// Lavapipe refuses a device that asks for a feature it does not report: ask for what it reports.
static void to_real(VkPhysicalDevice pd, Features *wanted) {
  Features real;
  real_features(pd, &real);
  for (int i = 0; i < DYNAMIC_INDEXING_COUNT; i++) wanted->f[FIRST_DYNAMIC_INDEXING + i] &= real.f[FIRST_DYNAMIC_INDEXING + i];
}

static VkResult create_device(VkPhysicalDevice pd, const DeviceCreateInfo *info, const void *alloc, VkDevice *device) {
  DeviceCreateInfo copy = *info;
  Features enabled;
  if (info->pEnabledFeatures) {
    enabled = *info->pEnabledFeatures;
    to_real(pd, &enabled);
    copy.pEnabledFeatures = &enabled;
  }
  // A VkPhysicalDeviceFeatures2 in the chain: patched in place for the call, restored after.
  Features2 *f2 = 0;
  Features saved;
  for (const BaseIn *s = (const BaseIn *)info->pNext; s; s = (const BaseIn *)s->pNext) {
    if (s->sType == STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2) f2 = (Features2 *)s;
  }
  if (f2) {
    saved = f2->features;
    to_real(pd, &f2->features);
  }
  VkResult r = real_create_device(pd, &copy, alloc, device);
  if (f2) f2->features = saved;
  return r;
}

static PFN_vkVoidFunction wrap(const char *name, PFN_vkVoidFunction real) {
  if (!real) return real;
  if (!strcmp(name, "vkGetPhysicalDeviceFeatures")) { real_features = (GetFeatures)real; return (PFN_vkVoidFunction)get_features; }
  if (!strcmp(name, "vkGetPhysicalDeviceFeatures2")) { real_features2 = (GetFeatures2)real; return (PFN_vkVoidFunction)get_features2; }
  if (!strcmp(name, "vkGetPhysicalDeviceFeatures2KHR")) { real_features2_khr = (GetFeatures2)real; return (PFN_vkVoidFunction)get_features2_khr; }
  if (!strcmp(name, "vkGetPhysicalDeviceProperties")) { real_properties = (GetProperties)real; return (PFN_vkVoidFunction)get_properties; }
  if (!strcmp(name, "vkGetPhysicalDeviceProperties2")) { real_properties2 = (GetProperties)real; return (PFN_vkVoidFunction)get_properties2; }
  if (!strcmp(name, "vkGetPhysicalDeviceProperties2KHR")) { real_properties2_khr = (GetProperties)real; return (PFN_vkVoidFunction)get_properties2_khr; }
  if (!strcmp(name, "vkCreateDevice")) { real_create_device = (CreateDevice)real; return (PFN_vkVoidFunction)create_device; }
  return real;
}

__attribute__((visibility("default"))) VkResult vk_icdNegotiateLoaderICDInterfaceVersion(uint32_t *version) {
  if (!load()) return -3; // VK_ERROR_INITIALIZATION_FAILED
  Negotiate n = (Negotiate)dlsym(lvp, "vk_icdNegotiateLoaderICDInterfaceVersion");
  return n ? n(version) : 0;
}

__attribute__((visibility("default"))) PFN_vkVoidFunction vk_icdGetInstanceProcAddr(VkInstance instance, const char *name) {
  if (!load()) return 0;
  PFN_vkVoidFunction real = lvp_instance_proc(instance, name);
  // to_real() needs vkGetPhysicalDeviceFeatures even when the loader only asked for the others.
  if (!real_features && instance) real_features = (GetFeatures)lvp_instance_proc(instance, "vkGetPhysicalDeviceFeatures");
  return wrap(name, real);
}

__attribute__((visibility("default"))) PFN_vkVoidFunction vk_icdGetPhysicalDeviceProcAddr(VkInstance instance, const char *name) {
  if (!load() || !lvp_physical_device_proc) return 0;
  PFN_vkVoidFunction real = lvp_physical_device_proc(instance, name);
  if (!real_features && instance) real_features = (GetFeatures)lvp_instance_proc(instance, "vkGetPhysicalDeviceFeatures");
  return wrap(name, real);
}
