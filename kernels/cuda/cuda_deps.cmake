# cuda_deps.cmake -- df_cuda_backend(<target>): the CUDA backend library
# (kernels/cuda/*.cu, *.c) with its dependencies found wherever they are, for
# the main build (kernels/CMakeLists.txt) and the device check
# (bench/gpu/CMakeLists.txt, which runs on machines whose cuDNN and NCCL come
# from NVIDIA's pip wheels).  The caller has enabled CUDA and found
# CUDAToolkit.  Hints, in order: the GPUCHECK_CUDNN_ROOT / GPUCHECK_NCCL_ROOT
# cache paths, the CUDNN_ROOT / NCCL_ROOT environment variables, the toolkit.
#
# cuDNN is optional: found, the backend's attention runs on its fused SDPA
# (DITFARM_HAVE_CUDNN); not found, on our own kernel.  NCCL is linked when
# found (the worker's comm_nccl.c needs it; the top-level CMakeLists.txt
# requires it for the main build).
#
# Architectures: sm_80 (A100) and sm_90 (H100/H200) as SASS, plus compute_90
# PTX so newer GPUs JIT it.  No sm_90a: nothing here uses wgmma directly (the
# tensor-core work is cuBLASLt's and cuDNN's, which ship their own sm_90a code).
set(DF_CUDA_ARCHS "80-real;90-real;90-virtual" CACHE STRING "ditfarm: CUDA_ARCHITECTURES of the CUDA backend")

function(df_find_cuda_deps)
  set(hints_inc ${GPUCHECK_CUDNN_ROOT}/include $ENV{CUDNN_ROOT}/include ${CUDAToolkit_INCLUDE_DIRS})
  set(hints_lib ${GPUCHECK_CUDNN_ROOT}/lib $ENV{CUDNN_ROOT}/lib ${CUDAToolkit_LIBRARY_DIR})
  find_path(DF_CUDNN_INCLUDE cudnn_graph.h HINTS ${hints_inc})
  find_library(DF_CUDNN_LIB NAMES cudnn libcudnn.so.9 NAMES_PER_DIR HINTS ${hints_lib})
  set(hints_inc ${GPUCHECK_NCCL_ROOT}/include $ENV{NCCL_ROOT}/include ${CUDAToolkit_INCLUDE_DIRS})
  set(hints_lib ${GPUCHECK_NCCL_ROOT}/lib $ENV{NCCL_ROOT}/lib ${CUDAToolkit_LIBRARY_DIR})
  find_path(DF_NCCL_INCLUDE nccl.h HINTS ${hints_inc})
  find_library(DF_NCCL_LIB NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${hints_lib})
endfunction()

function(df_cuda_backend target)
  df_find_cuda_deps()
  file(GLOB srcs CONFIGURE_DEPENDS ${DF_GPUCHECK_ROOT}/kernels/cuda/*.cu
       ${DF_GPUCHECK_ROOT}/kernels/cuda/*.c)
  add_library(${target} STATIC ${srcs})
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES "${DF_CUDA_ARCHS}"
                                             CUDA_STANDARD 17 POSITION_INDEPENDENT_CODE ON)
  # nvcc: warnings of the host compiler are errors too, like the C files.
  target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Werror>
      $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>)
  target_include_directories(${target} PUBLIC ${DF_GPUCHECK_ROOT}/kernels ${DF_GPUCHECK_ROOT}/lib)
  target_compile_definitions(${target} PUBLIC DITFARM_HAVE_CUDA=1)
  target_link_libraries(${target} PUBLIC CUDA::cudart CUDA::cublas CUDA::cublasLt)
  if(DF_CUDNN_INCLUDE AND DF_CUDNN_LIB)
    message(STATUS "ditfarm: cuDNN for attention: ${DF_CUDNN_LIB}")
    target_include_directories(${target} PUBLIC ${DF_CUDNN_INCLUDE})
    target_link_libraries(${target} PUBLIC ${DF_CUDNN_LIB})
    target_compile_definitions(${target} PUBLIC DITFARM_HAVE_CUDNN=1)
  else()
    message(STATUS "ditfarm: no cuDNN found: attention on our own kernel")
  endif()
  if(DF_NCCL_INCLUDE AND DF_NCCL_LIB)
    target_include_directories(${target} PUBLIC ${DF_NCCL_INCLUDE})
    target_link_libraries(${target} PUBLIC ${DF_NCCL_LIB})
    set(DF_NCCL_FOUND ON PARENT_SCOPE)
  endif()
endfunction()
