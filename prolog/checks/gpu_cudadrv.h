/*
 * gpu_cudadrv.h -- the few CUDA driver API entry points the GPU check uses for dma-buf
 * registration, declared without the CUDA headers (libcuda.so.1 is loaded with dlopen at run
 * time, like libcudart: gpu_cudart.h).
 *
 * One list, three users:
 *   prolog/checks/cudadrv.c            function-pointer table resolved with dlsym
 *   tests/doubles/cuda-double/         the CPU test double defines exactly these symbols
 *   tests/cuda-abi-check.sh            compiles the list against the real cuda.h under -Werror
 *
 * Why these: aws-ofi-nccl decides whether NCCL gets dma-buf file descriptors with
 * cuCtxGetDevice + cuDeviceGetAttribute(CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED)
 * (aws/aws-ofi-nccl src/nccl_ofi_cuda.cpp, nccl_net_ofi_cuda_have_dma_buf_attr, v1.14-v1.17),
 * and the fd comes from cuMemGetHandleForAddressRange(CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD),
 * first with CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE, again without flags when the driver
 * refuses the flag (nccl_net_ofi_cuda_get_dma_buf_fd, v1.17.0). The check names the device by
 * ordinal (cuDeviceGet) instead of the current context's device: same device, no context
 * juggling. cuGetErrorString names errors. The real symbols of these five carry no _v2 suffix.
 *
 * CUresult, CUdevice and the enums are int-sized in the real ABI; CUdeviceptr is unsigned long
 * long on 64-bit hosts.
 */
#ifndef EFA_CHECK_GPU_CUDADRV_H
#define EFA_CHECK_GPU_CUDADRV_H

#include <stddef.h>

#ifndef EFA_CU_RESULT
#define EFA_CU_RESULT int                 /* CUresult */
#endif
#ifndef EFA_CU_DEVICE
#define EFA_CU_DEVICE int                 /* CUdevice */
#endif
#ifndef EFA_CU_DEVICE_ATTR
#define EFA_CU_DEVICE_ATTR int            /* CUdevice_attribute */
#endif
#ifndef EFA_CU_RANGE_HANDLE_TYPE
#define EFA_CU_RANGE_HANDLE_TYPE int      /* CUmemRangeHandleType */
#endif
#ifndef EFA_CU_DEVICEPTR
#define EFA_CU_DEVICEPTR unsigned long long /* CUdeviceptr */
#endif

#define EFA_CUDADRV_FUNCS(X)                                                                 \
	X(EFA_CU_RESULT, cuInit, (unsigned int Flags))                                       \
	X(EFA_CU_RESULT, cuDeviceGet, (EFA_CU_DEVICE *device, int ordinal))                  \
	X(EFA_CU_RESULT, cuDeviceGetAttribute, (int *pi, EFA_CU_DEVICE_ATTR attrib,          \
						EFA_CU_DEVICE dev))                          \
	X(EFA_CU_RESULT, cuMemGetHandleForAddressRange, (void *handle, EFA_CU_DEVICEPTR dptr,\
							 size_t size,                        \
							 EFA_CU_RANGE_HANDLE_TYPE handleType,\
							 unsigned long long flags))          \
	X(EFA_CU_RESULT, cuGetErrorString, (EFA_CU_RESULT error, const char **pStr))

/* cuda.h values; the ABI check asserts they match. */
#define EFA_CU_SUCCESS                          0   /* CUDA_SUCCESS */
#define EFA_CU_ERROR_INVALID_VALUE              1   /* CUDA_ERROR_INVALID_VALUE */
#define EFA_CU_ERROR_NOT_SUPPORTED              801 /* CUDA_ERROR_NOT_SUPPORTED */
#define EFA_CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED 124 /* CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED */
#define EFA_CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD 1   /* CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD */
#define EFA_CU_MEM_RANGE_FLAG_DMA_BUF_MAPPING_TYPE_PCIE 1 /* CUDA 12.8+ */

#endif
