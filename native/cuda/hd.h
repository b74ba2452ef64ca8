// F2G_HD marks a function body shared by the CUDA kernels and the host: nvcc
// compiles it as __host__ __device__, a plain C++ compiler sees an inline
// function. The same source is therefore run by the GPU kernels (native/cuda/*.cu)
// and by host tests (native/tests) on machines without a GPU.
#pragma once

#if defined(__CUDACC__)
#define F2G_HD __host__ __device__ __forceinline__
#else
#define F2G_HD inline
#endif
