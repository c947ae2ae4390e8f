#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/base/error.hpp"
#include "tapegrad/dist/process_group.hpp"

using namespace tg;

TEST_CASE("broadcast, allreduce and allgather over every rank, in float32 and float64") {
  ProcessGroup& world = ProcessGroup::world();
  const int rank = world.rank(), size = world.size();
  if (size > 1) CHECK(launched_by_mpi());
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    Tensor t = Tensor::full({2, 3}, rank + 1, dtype);
    world.broadcast(t, size - 1);
    CHECK(t.to_vector() == std::vector<double>(6, size));
    Tensor s = Tensor::from_vector({1.0 * rank, 0.5, -2.0 * rank}, {3}, dtype);
    world.allreduce_sum(s);
    const double ranks = size * (size - 1) / 2.0;
    CHECK(s.to_vector() == std::vector<double>{ranks, 0.5 * size, -2 * ranks});
    Tensor p = Tensor::full({4}, 1.0, dtype);
    PendingReduce pending = world.start_allreduce_sum(p);
    pending.wait();
    CHECK_FALSE(pending.active());
    CHECK(p.to_vector() == std::vector<double>(4, size));
  }
  std::vector<std::int64_t> counts{rank, 1};
  world.allreduce_sum(std::span<std::int64_t>(counts));
  CHECK(counts == std::vector<std::int64_t>{size * (size - 1) / 2, size});
  const std::vector<std::string> texts = world.allgather(std::string(static_cast<std::size_t>(rank), 'x'));
  REQUIRE(texts.size() == static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r)
    CHECK(texts[static_cast<std::size_t>(r)] == std::string(static_cast<std::size_t>(r), 'x'));
  world.barrier();
}

TEST_CASE("a broadcast from a rank that does not exist is refused before MPI sees it") {
  ProcessGroup& world = ProcessGroup::world();
  Tensor t = Tensor::zeros({1});
  const std::string expected = "broadcast: root " + std::to_string(world.size()) + " is not a rank";
  CHECK_THROWS_WITH_AS(world.broadcast(t, world.size()), doctest::Contains(expected.c_str()), Error);
}
