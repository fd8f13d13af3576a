// gitignore-style path globs, translated to RE2 syntax.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bbreview::rules {

// A glob translated for whole-path matching (RE2::ANCHOR_BOTH).
struct GlobRegex {
  std::string regex;                 // RE2 syntax; empty when `never` is set
  std::optional<std::string> never;  // why the glob can never match a diff path
};

// Translates one glob (without a leading "!") the way .gitignore reads it:
//   - a glob with no "/" except a trailing one matches at any depth
//     ("*.py" matches "a/b/c.py"); with a leading or middle "/" it is
//     anchored at the repository root ("/setup.py", "src/*.py");
//   - "*" and "?" never cross "/", "[...]" is a class ("[!...]" negates);
//   - "**/" at the start, "/**/" in the middle and "/**" at the end span any
//     number of directories; any other "**" also spans directories;
//   - a glob that names a directory matches every file below it, and a
//     trailing "/" makes it match only below ("build/");
//   - "\" escapes the next character.
// Diff paths are normalised, so a glob with an empty segment ("a//b"), a "."
// or ".." segment, an unclosed "[" or a trailing "\" can never match; such a
// glob comes back with `never` set to the reason.
GlobRegex translate_glob(std::string_view glob);

}  // namespace bbreview::rules
