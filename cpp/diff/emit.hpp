// Re-emits a parsed diff as git-style unified diff text.
#pragma once

#include <string>

#include "diff/model.hpp"

namespace bbreview::diff {

// Returns a git-style diff equivalent to the parsed input: same files, paths,
// modes, rename/copy data, hunks and line bytes (line endings and "\ No
// newline at end of file" included), with "a/" and "b/" prefixes. Commit
// headers and text between files are not part of the model and are not
// emitted; combined-diff files are skipped. Throws std::invalid_argument for a
// PatchSet parsed in statistics-only mode, which has no lines to emit.
std::string to_text(const PatchSet& patch);

// Appends one file's diff to `out`, under the same contract.
void append_file(std::string& out, const FileDiff& file);

}  // namespace bbreview::diff
