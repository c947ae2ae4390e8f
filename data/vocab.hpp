#pragma once
/// A token vocabulary: ids for strings, with four special tokens at fixed ids
/// (those the zoo's Seq2SeqOptions expects by default):
///   0 "<pad>"  padding         1 "<s>"    begin of sequence
///   2 "</s>"   end of sequence  3 "<unk>"  a token not in the vocabulary
/// Ordinary tokens follow from id 4, by descending count in the data the
/// vocabulary was built from, ties by their bytes (ascending), so the same
/// data always gives the same ids.
///
/// Stored as JSON (to_json / from_json), e.g. in a checkpoint's safetensors
/// metadata: {"format": "tapegrad.vocab", "version": 1, "tokens": [...]},
/// tokens in id order, the specials first.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tapegrad/data/error.hpp"

namespace tg {

/// Token <-> id, with the specials of the header comment.
class Vocab {
 public:
  static constexpr std::int64_t pad_id = 0;       ///< "<pad>"
  static constexpr std::int64_t bos_id = 1;       ///< "<s>"
  static constexpr std::int64_t eos_id = 2;       ///< "</s>"
  static constexpr std::int64_t unk_id = 3;       ///< "<unk>"
  static constexpr std::size_t num_specials = 4;  ///< ordinary tokens start at this id
  /// The specials' strings, by id.
  static const std::vector<std::string>& special_tokens();

  /// Only the four specials.
  Vocab();

  /// The tokens of `sequences` seen at least `min_count` times (min_count 0
  /// counts as 1), after the specials. A token spelled like a special counts
  /// as that special and is not added again. Throws DataError for an empty
  /// token or one that is not UTF-8 (JSON stores only UTF-8), naming the
  /// sequence and position.
  static Vocab build(const std::vector<std::vector<std::string>>& sequences, std::size_t min_count = 1);

  /// The vocabulary with exactly these tokens in id order; the first four
  /// must be the specials, the rest unique, non-empty UTF-8. Throws DataError.
  static Vocab from_tokens(std::vector<std::string> tokens);

  /// Number of tokens, specials included.
  std::size_t size() const { return tokens_.size(); }
  /// The id of `token`, or unk_id when it is not in the vocabulary.
  std::int64_t id(std::string_view token) const;
  /// True when `token` has an id of its own.
  bool contains(std::string_view token) const;
  /// The token of `id`. Throws IndexError when id is not in [0, size()).
  const std::string& token(std::int64_t id) const;
  /// All tokens in id order.
  const std::vector<std::string>& tokens() const { return tokens_; }

  /// id() of each token, no BOS or EOS added.
  std::vector<std::int64_t> encode(const std::vector<std::string>& tokens) const;
  /// The tokens of `ids` up to the first eos_id (excluded), pad and bos
  /// skipped. unk_id stays "<unk>": dropping it would shorten a wrong
  /// prediction and could even make it equal a reference. Throws IndexError
  /// for an id outside the vocabulary.
  std::vector<std::string> decode(std::span<const std::int64_t> ids) const;

  /// The JSON text described in the header comment (compact, one line).
  std::string to_json() const;
  /// Reads to_json's text. Throws DataError naming what is wrong: not JSON
  /// (with the parser's byte offset), not an object, a wrong "format" or
  /// "version", "tokens" missing or not an array of strings, specials not
  /// first, an empty or duplicate token.
  static Vocab from_json(const std::string& json);

  /// Same tokens at the same ids.
  bool operator==(const Vocab& other) const { return tokens_ == other.tokens_; }

 private:
  /// Checks `tokens` as from_tokens documents and indexes them.
  explicit Vocab(std::vector<std::string> tokens, int);

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

}  // namespace tg
