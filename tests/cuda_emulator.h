// A CPU stand-in for the CUDA execution model, just enough to run the CuPy
// backend's kernels (impls/**/cupy_kernels.cu) compiled by g++ -- for tests
// on machines without a GPU (tests/fake_cupy.py builds and drives it).
//
// A launch runs the grid's blocks one after another; within a block every
// CUDA thread is an OS thread, so __syncthreads() is a real barrier and a
// kernel that omits one can be caught computing from data not yet written.
// `__shared__` variables become function statics (one copy, shared by the
// block's threads; blocks never overlap), the dynamic shared array points
// into a buffer sized as the launch asked. A thread that returns leaves the
// block's barrier, as on the GPU. A barrier not reached by every live thread
// within the timeout poisons the launch, which then reports failure instead
// of hanging.
#pragma once

#include <math.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace ka_emu {

class Barrier {
 public:
  explicit Barrier(unsigned count) : expected_(count) {}

  void reset(unsigned count) {
    std::lock_guard<std::mutex> lock(mutex_);
    expected_ = count;
    arrived_ = 0;
  }

  // Returns false if the barrier timed out (or had timed out before).
  template <typename OnRelease>
  bool wait(OnRelease on_release) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (poisoned_) return false;
    const unsigned long long generation = generation_;
    if (++arrived_ >= expected_) {
      on_release();
      release();
      return true;
    }
    if (!condition_.wait_for(lock, std::chrono::seconds(60), [&] { return generation_ != generation || poisoned_; })) {
      poisoned_ = true;
      condition_.notify_all();
    }
    return !poisoned_;
  }
  bool wait() {
    return wait([] {});
  }

  // A thread that has returned from the kernel no longer takes part.
  void drop() {
    std::lock_guard<std::mutex> lock(mutex_);
    --expected_;
    if (arrived_ > 0 && arrived_ >= expected_) release();
  }

  bool poisoned() {
    std::lock_guard<std::mutex> lock(mutex_);
    return poisoned_;
  }

 private:
  void release() {
    arrived_ = 0;
    ++generation_;
    condition_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable condition_;
  unsigned expected_;
  unsigned arrived_ = 0;
  unsigned long long generation_ = 0;
  bool poisoned_ = false;
};

inline Barrier* block_barrier = nullptr;
inline unsigned char* dynamic_shared = nullptr;

inline void syncthreads() { block_barrier->wait(); }

template <typename T>
std::string type_code() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_pointer_v<U>) {
    return "p" + type_code<std::remove_pointer_t<U>>();
  } else if constexpr (std::is_same_v<U, float>) {
    return "f4";
  } else if constexpr (std::is_same_v<U, double>) {
    return "f8";
  } else if constexpr (std::is_same_v<U, bool>) {
    return "b1";
  } else if constexpr (std::is_integral_v<U>) {
    return std::string(std::is_signed_v<U> ? "i" : "u") + std::to_string(sizeof(U));
  } else {
    return "?";
  }
}

// "pf4,i8,f4,..." for the kernel's parameters, checked by fake_cupy against
// the arguments a launch passes (as CuPy would pass them).
template <typename... Args>
std::string signature(void (*)(Args...)) {
  std::string codes;
  ((codes += type_code<Args>() + ","), ...);
  return codes;
}

template <typename... Args, std::size_t... I>
void call(void (*kernel)(Args...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_cv_t<Args>*>(args[I])...);
}

// Runs kernel<<<grid, block, shared_bytes>>>(args...); args[i] points at the
// i-th argument's value. Returns 0; 1 if a barrier timed out; 2 if the kernel
// wrote past the end of its dynamic shared memory.
template <typename... Args>
int launch(void (*kernel)(Args...), const unsigned* grid, const unsigned* block, std::size_t shared_bytes,
           void** args) {
  const unsigned threads = block[0] * block[1] * block[2];
  // The dynamic shared array starts as garbage (0xFF bytes: NaN as floats), as
  // on the GPU, and is followed by a guard band checked after the launch.
  constexpr std::size_t kGuard = 256;
  std::vector<std::max_align_t> shared((shared_bytes + kGuard) / sizeof(std::max_align_t) + 1);
  dynamic_shared = reinterpret_cast<unsigned char*>(shared.data());
  std::memset(dynamic_shared, 0xFF, shared_bytes + kGuard);
  Barrier in_block(threads), between_blocks(threads);
  block_barrier = &in_block;
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      blockDim = dim3{block[0], block[1], block[2]};
      gridDim = dim3{grid[0], grid[1], grid[2]};
      threadIdx = dim3{t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
      for (unsigned bz = 0; bz < grid[2]; ++bz) {
        for (unsigned by = 0; by < grid[1]; ++by) {
          for (unsigned bx = 0; bx < grid[0]; ++bx) {
            blockIdx = dim3{bx, by, bz};
            call(kernel, args, std::index_sequence_for<Args...>{});
            in_block.drop();
            // The last thread out of the block restores the count for the next one.
            if (!between_blocks.wait([&] { in_block.reset(threads); })) return;
          }
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  block_barrier = nullptr;
  dynamic_shared = nullptr;
  if (in_block.poisoned() || between_blocks.poisoned()) return 1;
  for (std::size_t i = 0; i < kGuard; ++i) {
    if (reinterpret_cast<unsigned char*>(shared.data())[shared_bytes + i] != 0xFF) return 2;
  }
  return 0;
}

}  // namespace ka_emu

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __syncthreads() ka_emu::syncthreads()
