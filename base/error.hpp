#pragma once
/// Exceptions thrown by tapegrad, at the bottom of every layer. Every message names what was wrong: the op,
/// its name scope, and the shapes or indices involved.

#include <stdexcept>
#include <string>

namespace tg {

/// Base class of every tapegrad error.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Operand shapes that do not fit the op.
struct ShapeError : Error {
  using Error::Error;
};
/// An index outside the range of the dimension it indexes.
struct IndexError : Error {
  using Error::Error;
};
/// Operands of different dtypes, or a dtype the op does not accept.
struct DTypeError : Error {
  using Error::Error;
};
/// backward() called where it cannot run (non-scalar without a seed, freed graph, ...).
struct BackwardError : Error {
  using Error::Error;
};
/// Anomaly mode found a NaN or inf; the message names the op, its scope and input shapes.
struct AnomalyError : Error {
  using Error::Error;
};
/// The file system refused (cannot open, read, write, sync or rename); names the file.
struct FileError : Error {
  using Error::Error;
};
/// A malformed file (a safetensors header, say); the message names the file and the rule broken.
struct FormatError : Error {
  using Error::Error;
};

/// The system's text for an errno value ("No such file or directory").
std::string errno_text(int error);

}  // namespace tg
