#include "tapegrad/autodiff/pool.hpp"

#include <cstring>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace tg {
namespace {

// Under AddressSanitizer, a cached block is poisoned while it waits in a free
// list, and only the requested bytes of a handed-out block are addressable:
// a use after free or an overflow into the class's slack is still caught,
// although the pool never returns the block to malloc.
#if defined(__SANITIZE_ADDRESS__)
void mark_handed_out(void* ptr, std::size_t bytes, std::size_t size) {
  ASAN_POISON_MEMORY_REGION(ptr, size);
  ASAN_UNPOISON_MEMORY_REGION(ptr, bytes);
}
void mark_cached(void* ptr, std::size_t size) { ASAN_POISON_MEMORY_REGION(ptr, size); }
void mark_released(void* ptr, std::size_t size) { ASAN_UNPOISON_MEMORY_REGION(ptr, size); }
#else
void mark_handed_out(void*, std::size_t, std::size_t) {}
void mark_cached(void*, std::size_t) {}
void mark_released(void*, std::size_t) {}
#endif

// Size classes are 2^k and 1.5 * 2^k (at most a third wasted), so that
// batches of slightly different lengths still reuse each other's buffers.
constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMinClass = 64;

// Every class is a multiple of kAlignment, as aligned_alloc requires (so no 96).
std::size_t class_size(std::size_t bytes) {
  if (bytes <= 2 * kMinClass) return bytes <= kMinClass ? kMinClass : 2 * kMinClass;
  std::size_t pow2 = std::bit_ceil(bytes);
  std::size_t three_quarters = pow2 / 4 * 3;
  return bytes <= three_quarters ? three_quarters : pow2;
}

int class_index(std::size_t size) {
  // 2^k -> 2k, 1.5 * 2^(k-1) -> 2k - 1
  int k = std::bit_width(size) - 1;
  bool is_pow2 = std::has_single_bit(size);
  return is_pow2 ? 2 * k : 2 * (k + 1) - 1;
}

struct Pool {
  std::mutex mutex;
  std::vector<std::vector<void*>> free_lists = std::vector<std::vector<void*>>(130);
  MemoryStats stats;
};

Pool& the_pool() {
  // Leaked on purpose: tensors with static storage duration may be freed
  // after any other static object has been destroyed.
  static Pool* pool = new Pool;
  return *pool;
}

}  // namespace

void* pool::allocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  std::size_t size = class_size(bytes);
  int index = class_index(size);
  Pool& p = the_pool();
  {
    std::lock_guard lock(p.mutex);
    ++p.stats.allocations;
    p.stats.bytes_in_use += size;
    p.stats.peak_in_use = std::max(p.stats.peak_in_use, p.stats.bytes_in_use);
    auto& list = p.free_lists[index];
    if (!list.empty()) {
      void* ptr = list.back();
      list.pop_back();
      mark_handed_out(ptr, bytes, size);
      return ptr;
    }
    ++p.stats.fresh_allocations;
    p.stats.bytes_reserved += size;
  }
  void* ptr = std::aligned_alloc(kAlignment, size);
  if (ptr == nullptr) {
    std::lock_guard lock(p.mutex);
    p.stats.bytes_in_use -= size;
    p.stats.bytes_reserved -= size;
    throw std::bad_alloc();
  }
  // Touch the whole block now: a later, larger request of the same class would
  // otherwise fault in its tail, and resident memory would creep up over the
  // first steps of a loop instead of settling after the first.
  std::memset(ptr, 0, size);
  mark_handed_out(ptr, bytes, size);
  return ptr;
}

void pool::deallocate(void* ptr, std::size_t bytes) noexcept {
  if (ptr == nullptr) return;
  if (bytes == 0) bytes = 1;
  std::size_t size = class_size(bytes);
  Pool& p = the_pool();
  std::lock_guard lock(p.mutex);
  p.stats.bytes_in_use -= size;
  try {
    p.free_lists[class_index(size)].push_back(ptr);
    mark_cached(ptr, size);
  } catch (...) {
    // The free list could not grow: give the buffer back to the system.
    p.stats.bytes_reserved -= size;
    mark_released(ptr, size);
    std::free(ptr);
  }
}

MemoryStats memory_stats() {
  Pool& p = the_pool();
  std::lock_guard lock(p.mutex);
  return p.stats;
}

void release_cached_memory() {
  Pool& p = the_pool();
  std::lock_guard lock(p.mutex);
  for (std::size_t i = 0; i < p.free_lists.size(); ++i) {
    std::size_t n = p.free_lists[i].size();
    if (n == 0) continue;
    // Recover the class size from the index: even -> 2^k, odd -> 1.5 * 2^k.
    std::size_t size = (i % 2 == 0) ? (std::size_t{1} << (i / 2)) : (std::size_t{3} << ((i + 1) / 2 - 2));
    for (void* ptr : p.free_lists[i]) {
      mark_released(ptr, size);
      std::free(ptr);
    }
    p.stats.bytes_reserved -= n * size;
    p.free_lists[i].clear();
  }
}

}  // namespace tg
