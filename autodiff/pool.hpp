#pragma once
/// A caching allocator for tensor storage (and the graph's nodes).
///
/// Training repeats the same shapes every step, so freed buffers are kept in
/// size-class free lists and handed out again instead of going back to malloc.
/// After the first step a training loop allocates nothing new, which is what
/// makes "memory after step 2 == memory after step 1000" hold.

#include <cstddef>
#include <cstdint>

namespace tg {

/// Counters of the pool (tensor storage and graph nodes), in bytes.
struct MemoryStats {
  std::size_t bytes_in_use = 0;         ///< held by live tensors
  std::size_t bytes_reserved = 0;       ///< in use plus cached for reuse
  std::size_t peak_in_use = 0;          ///< high-water mark of bytes_in_use
  std::uint64_t allocations = 0;        ///< requests served (cached or fresh)
  std::uint64_t fresh_allocations = 0;  ///< requests that reached the system allocator
};

MemoryStats memory_stats();
/// Returns every cached (unused) buffer to the system allocator.
void release_cached_memory();

namespace pool {
void* allocate(std::size_t bytes);
void deallocate(void* ptr, std::size_t bytes) noexcept;
}  // namespace pool

/// std-style allocator over the pool; stateless, so all instances compare equal.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(pool::allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool::deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const PoolAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace tg
