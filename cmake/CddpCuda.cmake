# The CUDA language for common/compress/cuda/ (CDDP_WITH_CUDA=ON): finds nvcc (on
# PATH, in CUDACXX, or /usr/local/cuda/bin), targets sm_90 with compute_90
# PTX embedded (override with -DCMAKE_CUDA_ARCHITECTURES=...), and defines
# cddp_cuda_options(<target>), the flags of our .cu targets.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(CDDP_NVCC nvcc PATHS /usr/local/cuda/bin NO_CACHE)
  if(NOT CDDP_NVCC)
    message(FATAL_ERROR
      "CDDP_WITH_CUDA=ON but nvcc was not found (looked on PATH and in "
      "/usr/local/cuda/bin). Install the CUDA toolkit, pass "
      "-DCMAKE_CUDA_COMPILER=/path/to/nvcc, or configure with "
      "-DCDDP_WITH_CUDA=OFF.")
  endif()
  set(CMAKE_CUDA_COMPILER "${CDDP_NVCC}" CACHE FILEPATH "CUDA compiler")
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  # "90": sm_90 machine code plus compute_90 PTX (JIT-compiled on newer GPUs).
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures")
endif()
# The shared runtime: the one a CUDA LibTorch in the same worker uses too.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
enable_language(CUDA)
# CMake 3.25 (Debian 12) knows no CUDA standard past 17 for nvcc; nvcc 12+
# takes -std=c++20. Teach it, so CUDA_STANDARD 20 (which CMake also derives
# from CXX_STANDARD for targets with .cu files) works.
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)
find_package(CUDAToolkit REQUIRED)
message(STATUS "CUDA: nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
               "${CMAKE_CUDA_ARCHITECTURES}")

# cddp_cuda_options(<target>): the warnings we hold our code to, and
# -fmad=false: no multiply-add contraction, so every float
# operation rounds exactly as on the CPU (the kernels are bound by memory,
# not arithmetic).
function(cddp_cuda_options target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra -fmad=false>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>)
endfunction()
