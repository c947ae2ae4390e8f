#include "tapegrad/models/module_list.hpp"

#include <string>

namespace tg {

void ModuleList::append(Module& m) { register_module(std::to_string(size()), m); }

}  // namespace tg
