// Languages derived from file names, for a rule's `languages` filter.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bbreview::rules {

// The canonical language of a path, from its extension (case-insensitive) or
// its whole file name (Dockerfile, Makefile, ...). Returns "" when unknown.
// Only the last path component is looked at.
std::string_view language_of(std::string_view path);

// Every language a path counts as: the canonical one first, then any that a
// rule for another language should also see (a ".h" header is both "c" and
// "cpp"). Empty when the language is unknown.
std::vector<std::string_view> languages_of(std::string_view path);

// The canonical name for a language name or alias ("py" -> "python",
// "c++" -> "cpp"), case-insensitive. Returns "" when the name is unknown.
std::string_view canonical_language(std::string_view name);

// All canonical language names, sorted.
std::span<const std::string_view> known_languages();

// A file name in `language` (canonical name), for building examples:
// "example.py" for python, "Dockerfile" for dockerfile; "" when unknown.
std::string example_file_name(std::string_view language);

// The canonical language of a file with extension `ext` (no dot), or "".
std::string_view language_of_extension(std::string_view ext);

}  // namespace bbreview::rules
