// The distributed tests run as every rank of an MPI job (tests/CMakeLists.txt starts them
// with mpirun on 1, 2 and 3 ranks); MPI starts here and ends when the program exits.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tapegrad/dist/process_group.hpp"

int main(int argc, char** argv) {
  tg::ProcessGroup& world = tg::ProcessGroup::world();
  doctest::Context context(argc, argv);
  // One report per job: the other ranks print only their failures.
  if (world.rank() != 0) context.setOption("minimal", true);
  return context.run();
}
