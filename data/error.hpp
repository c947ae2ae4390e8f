#pragma once
/// Errors of the data readers (data/). A missing or unreadable file is a
/// FileError (base/error.hpp), naming the path.

#include <cstddef>
#include <string>
#include <utility>

#include "tapegrad/base/error.hpp"

namespace tg {

/// Malformed data: a corpus or dictionary line, a vocabulary's JSON, an
/// example that cannot be batched. The message names the file, the line and,
/// where one applies, the byte offset.
struct DataError : Error {
  using Error::Error;
};

/// Bytes that are not UTF-8. offset() is the first offending byte, counted
/// from the start of the text that was checked.
struct Utf8Error : DataError {
  /// `message` is the whole message; `offset` the offending byte's offset.
  Utf8Error(const std::string& message, std::size_t offset, std::string reason)
      : DataError(message), offset_(offset), reason_(std::move(reason)) {}
  /// Offset of the first byte that is not part of a valid sequence.
  std::size_t offset() const { return offset_; }
  /// What is wrong there, without the offset ("truncated sequence", ...).
  const std::string& reason() const { return reason_; }

 private:
  std::size_t offset_;
  std::string reason_;
};

}  // namespace tg
