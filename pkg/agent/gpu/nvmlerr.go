package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// InitMessage turns an nvml.Init failure into what an ops engineer should do about it.
func InitMessage(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "NVIDIA driver not installed (libnvidia-ml.so.1 not found): install the driver package for this kernel"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "NVIDIA kernel module not loaded (nvidia.ko): run 'modprobe nvidia' and read dmesg; after a kernel update, rebuild the driver (DKMS) or reinstall it"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "kernel module and user-space driver differ: reboot or reinstall the driver"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to open /dev/nvidia*: run node-agent as root"
	case nvml.ERROR_GPU_IS_LOST:
		return "a GPU has fallen off the bus: power-cycle the node (a reboot is not enough) and reseat the GPU if it recurs"
	case nvml.ERROR_IRQ_ISSUE:
		return "the NVIDIA driver has an interrupt problem: check dmesg for MSI/IOMMU errors and the BIOS settings"
	case nvml.ERROR_CORRUPTED_INFOROM:
		return "a GPU's InfoROM is corrupted: its ECC and page-retirement records are unreliable; RMA the GPU"
	case nvml.ERROR_RESET_REQUIRED:
		return "a GPU needs a reset: run 'nvidia-smi -r' on an idle GPU or reboot"
	case nvml.ERROR_FUNCTION_NOT_FOUND:
		return "libnvidia-ml.so.1 is older than this agent expects: upgrade the NVIDIA driver"
	case nvml.ERROR_OPERATING_SYSTEM:
		return "the operating system refused an NVML call: check dmesg for NVRM errors"
	case nvml.ERROR_TIMEOUT:
		return "the NVIDIA driver did not answer in time: check dmesg for NVRM errors and Xids"
	}
	return fmt.Sprintf("NVML failed to start: %s (%d)", errorName(ret), int32(ret))
}

// errorName is the NVML error's name. nvml.Return.Error needs the library loaded to
// name most codes, so keep our own table.
func errorName(ret nvml.Return) string {
	if n, ok := returnNames[ret]; ok {
		return n
	}
	return fmt.Sprintf("NVML error %d", int32(ret))
}

var returnNames = map[nvml.Return]string{
	nvml.SUCCESS:                       "SUCCESS",
	nvml.ERROR_UNINITIALIZED:           "ERROR_UNINITIALIZED",
	nvml.ERROR_INVALID_ARGUMENT:        "ERROR_INVALID_ARGUMENT",
	nvml.ERROR_NOT_SUPPORTED:           "ERROR_NOT_SUPPORTED",
	nvml.ERROR_NO_PERMISSION:           "ERROR_NO_PERMISSION",
	nvml.ERROR_ALREADY_INITIALIZED:     "ERROR_ALREADY_INITIALIZED",
	nvml.ERROR_NOT_FOUND:               "ERROR_NOT_FOUND",
	nvml.ERROR_INSUFFICIENT_SIZE:       "ERROR_INSUFFICIENT_SIZE",
	nvml.ERROR_INSUFFICIENT_POWER:      "ERROR_INSUFFICIENT_POWER",
	nvml.ERROR_DRIVER_NOT_LOADED:       "ERROR_DRIVER_NOT_LOADED",
	nvml.ERROR_TIMEOUT:                 "ERROR_TIMEOUT",
	nvml.ERROR_IRQ_ISSUE:               "ERROR_IRQ_ISSUE",
	nvml.ERROR_LIBRARY_NOT_FOUND:       "ERROR_LIBRARY_NOT_FOUND",
	nvml.ERROR_FUNCTION_NOT_FOUND:      "ERROR_FUNCTION_NOT_FOUND",
	nvml.ERROR_CORRUPTED_INFOROM:       "ERROR_CORRUPTED_INFOROM",
	nvml.ERROR_GPU_IS_LOST:             "ERROR_GPU_IS_LOST",
	nvml.ERROR_RESET_REQUIRED:          "ERROR_RESET_REQUIRED",
	nvml.ERROR_OPERATING_SYSTEM:        "ERROR_OPERATING_SYSTEM",
	nvml.ERROR_LIB_RM_VERSION_MISMATCH: "ERROR_LIB_RM_VERSION_MISMATCH",
	nvml.ERROR_IN_USE:                  "ERROR_IN_USE",
	nvml.ERROR_MEMORY:                  "ERROR_MEMORY",
	nvml.ERROR_NO_DATA:                 "ERROR_NO_DATA",
	nvml.ERROR_GPU_NOT_FOUND:           "ERROR_GPU_NOT_FOUND",
	nvml.ERROR_UNKNOWN:                 "ERROR_UNKNOWN",
}

// callErr wraps a failed per-device NVML call for a message.
func callErr(call string, ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_GPU_IS_LOST:
		return call + ": GPU has fallen off the bus (power-cycle the node)"
	case nvml.ERROR_NO_PERMISSION:
		return call + ": no permission (run as root)"
	}
	return call + ": " + errorName(ret)
}
