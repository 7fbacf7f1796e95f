package llamacpp

/*
#include <stddef.h>

// Declared here rather than through ggml-backend.h, whose include path lives
// in the module cache: the symbols come from the ggml objects the llama
// package links. The device type is an enum in ggml; enums are passed as int.
typedef struct ggml_backend_device * ggml_backend_dev_t;
size_t ggml_backend_dev_count(void);
ggml_backend_dev_t ggml_backend_dev_get(size_t index);
const char * ggml_backend_dev_name(ggml_backend_dev_t device);
const char * ggml_backend_dev_description(ggml_backend_dev_t device);
void ggml_backend_dev_memory(ggml_backend_dev_t device, size_t * free, size_t * total);
int ggml_backend_dev_type(ggml_backend_dev_t device);
*/
import "C"

import (
	"fmt"
)

// DeviceType is ggml's kind of backend device (enum ggml_backend_dev_type).
type DeviceType int

// The device types, numbered as ggml numbers them.
const (
	DeviceCPU   DeviceType = 0 // system memory
	DeviceGPU   DeviceType = 1 // dedicated memory: CUDA, ROCm, Vulkan
	DeviceIGPU  DeviceType = 2 // integrated GPU sharing system memory
	DeviceAccel DeviceType = 3 // helpers of the CPU backend, such as BLAS
)

func (t DeviceType) String() string {
	switch t {
	case DeviceCPU:
		return "CPU"
	case DeviceGPU:
		return "GPU"
	case DeviceIGPU:
		return "iGPU"
	case DeviceAccel:
		return "accelerator"
	}
	return fmt.Sprintf("DeviceType(%d)", int(t))
}

// Device is one ggml backend device as llama.cpp will use it.
type Device struct {
	Name        string // ggml's name: "CPU", "CUDA0", "Metal"
	Description string // the hardware, e.g. "NVIDIA H100 80GB HBM3"
	Type        DeviceType
	Total       uint64 // bytes
	Free        uint64 // bytes; for the CPU ggml reports all memory as free
}

// Devices lists the backend devices ggml found, loading its backends first
// if no model has been loaded yet.
func Devices() []Device {
	initBackends()
	n := int(C.ggml_backend_dev_count())
	devices := make([]Device, 0, n)
	for i := range n {
		d := C.ggml_backend_dev_get(C.size_t(i))
		var free, total C.size_t
		C.ggml_backend_dev_memory(d, &free, &total)
		devices = append(devices, Device{
			Name:        C.GoString(C.ggml_backend_dev_name(d)),
			Description: C.GoString(C.ggml_backend_dev_description(d)),
			Type:        DeviceType(C.ggml_backend_dev_type(d)),
			Total:       uint64(total),
			Free:        uint64(free),
		})
	}
	return devices
}
