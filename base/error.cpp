#include "tapegrad/base/error.hpp"

#include <cstring>

namespace tg {

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace tg
