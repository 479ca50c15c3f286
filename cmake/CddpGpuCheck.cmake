# The kernels-only build of scripts/gpu_check.sh (-DCDDP_GPU_CHECK_ONLY=ON),
# for a GPU machine with nvcc and CMake but none of our Debian packages:
# the CUDA kernels (cddp_cuda_kernels), their absl-free CPU reference
# (cddp_topk_core), the kernel tests with GoogleTest built from source, and
# cddp_gpu_bench. It looks for no absl, gRPC, protobuf, prometheus-cpp or
# Google Benchmark. With -DCDDP_GPU_CHECK_WITH_ABSL=ON (absl and zlib
# installed) it also builds cddp_common, DeviceErrorFeedback and its tests.
set(CDDP_WITH_CUDA ON)
set(CDDP_GTEST_SOURCE_DIR "${PROJECT_SOURCE_DIR}/.gpu_deps/googletest"
    CACHE PATH "GoogleTest sources for the GPU check (scripts/gpu_check.sh --prepare copies /usr/src/googletest there)")
option(CDDP_GPU_CHECK_WITH_ABSL
  "GPU check: also build DeviceErrorFeedback and its tests (needs absl, zlib)" OFF)

include(CddpCuda)

if(NOT EXISTS "${CDDP_GTEST_SOURCE_DIR}/CMakeLists.txt")
  message(FATAL_ERROR
    "CDDP_GPU_CHECK_ONLY: no GoogleTest sources in '${CDDP_GTEST_SOURCE_DIR}'. "
    "Run scripts/gpu_check.sh --prepare where Debian's googletest package is "
    "installed, or pass -DCDDP_GTEST_SOURCE_DIR=<googletest checkout>.")
endif()
set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
add_subdirectory("${CDDP_GTEST_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/googletest"
                 EXCLUDE_FROM_ALL)

if(CDDP_GPU_CHECK_WITH_ABSL)
  find_package(absl CONFIG REQUIRED)
  find_package(ZLIB REQUIRED)
endif()

enable_testing()
include(GoogleTest)
add_subdirectory(common)
add_subdirectory(tests/common/compress/cuda)
add_subdirectory(bench)
