#include "ops/host_outputs.h"

#include <sys/mman.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "ops/checks.h"

namespace kernel_arena {
namespace {

constexpr size_t kMinPooledBytes = size_t(4) << 20;  // below this, page faults cost little
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kMaxPooledBytes = size_t(1) << 30;  // kept for reuse at most; the rest is freed

std::mutex pool_mutex;
std::multimap<size_t, void*> free_blocks;  // capacity -> block
size_t free_bytes = 0;

void release(void* block, size_t capacity) {
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (free_bytes + capacity <= kMaxPooledBytes) {
      free_blocks.emplace(capacity, block);
      free_bytes += capacity;
      return;
    }
  }
  std::free(block);
}

// A free block of capacity in [bytes, 2 * bytes) -- larger ones would waste
// memory -- or a new one, aligned and advised for transparent huge pages.
void* acquire(size_t bytes, size_t& capacity) {
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    auto it = free_blocks.lower_bound(bytes);
    if (it != free_blocks.end() && it->first < 2 * bytes) {
      void* block = it->second;
      capacity = it->first;
      free_bytes -= capacity;
      free_blocks.erase(it);
      return block;
    }
  }
  capacity = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* block = nullptr;
  if (posix_memalign(&block, kHugePage, capacity) != 0) throw std::bad_alloc();
  madvise(block, capacity, MADV_HUGEPAGE);  // advisory: fewer faults where the kernel allows it
  return block;
}

}  // namespace

at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options, const char* what) {
  const size_t bytes = size_t(checked_numel(sizes, options.dtype().itemsize(), what)) * options.dtype().itemsize();
  if (!options.device().is_cpu() || bytes < kMinPooledBytes) return at::empty(sizes, options);
  size_t capacity = 0;
  void* block = acquire(bytes, capacity);
  return at::from_blob(block, sizes, [capacity](void* p) { release(p, capacity); }, options);
}

int64_t pooled_output_bytes() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  return int64_t(free_bytes);
}

}  // namespace kernel_arena
