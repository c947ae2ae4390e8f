// A distributed training loop that loses a rank (check_lost_rank.sh runs it):
//
//   mpirun -np 2 dist_lost_rank OUT_DIR   trains; rank 0 saves OUT_DIR/model.safetensors after
//                                         every step; at step 5 rank 1 kills itself (SIGKILL)
//                                         while rank 0 goes on to the next allreduce
//   dist_lost_rank --check OUT_DIR        loads the checkpoint: it must be whole
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "tapegrad/dist/distributed_data_parallel.hpp"
#include "tapegrad/io/checkpoint.hpp"
#include "tapegrad/models/linear.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/optim/adam.hpp"

using namespace tg;

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::string(argv[1]) == "--check";
  if (argc != 2 && !check) {
    std::fprintf(stderr, "usage: dist_lost_rank OUT_DIR | --check OUT_DIR\n");
    return 2;
  }
  const std::filesystem::path checkpoint = std::filesystem::path(argv[argc - 1]) / "model.safetensors";
  Generator gen(3);
  Linear model({64, 64, true, DType::f32}, gen);
  if (check) {
    load_checkpoint(model, checkpoint);
    std::printf("dist_lost_rank: %s loads\n", checkpoint.c_str());
    return 0;
  }
  ProcessGroup& world = ProcessGroup::world();
  DistributedDataParallel ddp(model, world);
  Adam adam(model.parameters());
  Var x(Tensor::normal({8, 64}, 0, 1, 10 + std::uint64_t(world.rank())));
  for (int step = 0; step < 1000; ++step) {
    if (step == 5 && world.rank() == 1) kill(getpid(), SIGKILL);
    model.zero_grad();
    ddp.backward(sum(model.forward(x)));
    ddp.synchronize();
    adam.step();
    if (world.rank() == 0) save_checkpoint(model, checkpoint);
  }
  std::fprintf(stderr, "dist_lost_rank: rank %d finished 1000 steps although rank 1 died at step 5\n", world.rank());
  return 1;
}
