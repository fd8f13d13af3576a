// Type conversions between bbreview::diff and Python. No parsing logic here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "diff/anchor.hpp"
#include "diff/emit.hpp"
#include "diff/model.hpp"
#include "diff/parser.hpp"

namespace py = pybind11;

namespace bbreview::bindings {

namespace {

using namespace bbreview::diff;
using PatchSetPtr = std::shared_ptr<PatchSet>;

// Paths follow the os.fsdecode convention: undecodable bytes survive as surrogates.
py::object path_or_none(const std::optional<std::string>& p) {
  if (!p) return py::none();
  PyObject* s = PyUnicode_DecodeUTF8(p->data(), static_cast<Py_ssize_t>(p->size()), "surrogateescape");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(s);
}

// Display text: undecodable bytes become U+FFFD; exact bytes are on content_bytes.
py::str text(std::string_view v) {
  PyObject* s = PyUnicode_DecodeUTF8(v.data(), static_cast<Py_ssize_t>(v.size()), "replace");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

py::object mode_or_none(const std::optional<std::uint32_t>& mode) {
  if (!mode) return py::none();
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06o", *mode);
  return py::str(buf);
}

py::object lineno(std::uint32_t n) { return n ? py::object(py::int_(n)) : py::object(py::none()); }

template <typename T>
py::list references(std::span<const T> items, py::handle parent) {
  py::list out(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    out[i] = py::cast(&items[i], py::return_value_policy::reference_internal, parent);
  }
  return out;
}

// A statistics-only parse keeps no hunks, so it cannot answer anchoring questions.
void require_lines(const FileDiff& f) {
  if (f.hunks.empty() && (f.added > 0 || f.removed > 0)) {
    throw py::value_error("this file comes from a statistics-only parse (diffstat) and has no hunks to anchor to; "
                          "use bbreview.parse_diff() instead");
  }
}

Side parse_side(const std::string& side) {
  if (side == "new") return Side::New;
  if (side == "old") return Side::Old;
  throw py::value_error("side must be \"new\" or \"old\", got \"" + side + "\"");
}

struct Input {
  std::string_view text;
  std::shared_ptr<const void> owner;
};

// Keeps a Python object alive from C++. The last owner may be released on any
// thread, so the reference is dropped with the GIL held; at interpreter exit
// it is leaked instead, as Python objects can no longer be touched.
std::shared_ptr<const void> hold(const py::object& obj) {
  PyObject* ref = obj.ptr();
  Py_INCREF(ref);
  return std::shared_ptr<const void>(ref, [](const void* p) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(static_cast<PyObject*>(const_cast<void*>(p)));
  });
}

// The diff bytes without a copy where the object is immutable (bytes, and the
// UTF-8 form CPython caches inside a str); mutable buffers are copied.
Input input_of(const py::object& data) {
  Py_ssize_t size = 0;
  if (PyBytes_Check(data.ptr())) {
    char* ptr = nullptr;
    if (PyBytes_AsStringAndSize(data.ptr(), &ptr, &size) != 0) throw py::error_already_set();
    return {std::string_view(ptr, static_cast<std::size_t>(size)), hold(data)};
  }
  if (PyUnicode_Check(data.ptr())) {
    const char* ptr = PyUnicode_AsUTF8AndSize(data.ptr(), &size);
    if (ptr) return {std::string_view(ptr, static_cast<std::size_t>(size)), hold(data)};
    // Lone surrogates: text such as str(patchset) that carries undecodable
    // bytes as surrogateescape; encode them back to those bytes.
    PyErr_Clear();
    PyObject* encoded = PyUnicode_AsEncodedString(data.ptr(), "utf-8", "surrogateescape");
    if (!encoded) throw py::error_already_set();
    auto bytes = py::reinterpret_steal<py::object>(encoded);
    char* raw = nullptr;
    if (PyBytes_AsStringAndSize(bytes.ptr(), &raw, &size) != 0) throw py::error_already_set();
    return {std::string_view(raw, static_cast<std::size_t>(size)), hold(bytes)};
  }
  if (PyObject_CheckBuffer(data.ptr())) {
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(data).request();
    auto copy = std::make_shared<const std::string>(static_cast<const char*>(info.ptr),
                                                    static_cast<std::size_t>(info.size * info.itemsize));
    return {std::string_view(*copy), copy};
  }
  throw py::type_error("diff text must be str, bytes or a bytes-like object, not " +
                       std::string(Py_TYPE(data.ptr())->tp_name));
}

py::dict file_record(const PatchSet& ps, const FileDiff& f) {
  py::dict d;
  if (f.commit >= 0) d["commit"] = ps.commits[static_cast<std::size_t>(f.commit)].sha;
  else d["commit"] = py::none();
  d["path"] = path_or_none(f.path());
  d["old_path"] = path_or_none(f.old_path);
  d["new_path"] = path_or_none(f.new_path);
  d["status"] = py::str(std::string(to_string(f.status)));
  d["is_binary"] = f.is_binary;
  d["old_mode"] = mode_or_none(f.old_mode);
  d["new_mode"] = mode_or_none(f.new_mode);
  d["similarity"] = f.similarity ? py::object(py::int_(*f.similarity)) : py::object(py::none());
  d["added"] = f.added;
  d["removed"] = f.removed;
  d["hunks"] = f.hunks.size();
  return d;
}

}  // namespace

void register_diff(py::module_& m) {
  // ParseError carries structured fields, so it is raised with
  // args = (line, text, reason) rather than a bare message.
  static PyObject* parse_error = PyErr_NewException("bbreview._core.diff.ParseError", PyExc_ValueError, nullptr);
  m.attr("ParseError") = py::handle(parse_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ParseError& e) {
      py::tuple args = py::make_tuple(e.line(), text(e.text()), e.reason());
      PyErr_SetObject(parse_error, args.ptr());
    }
  });

  py::class_<Line>(m, "Line", "One line of a hunk. Read-only; valid while its PatchSet lives.")
      .def_property_readonly("kind", [](const Line& l) { return std::string(1, static_cast<char>(l.kind)); })
      .def_property_readonly("old_lineno", [](const Line& l) { return lineno(l.old_lineno); })
      .def_property_readonly("new_lineno", [](const Line& l) { return lineno(l.new_lineno); })
      .def_property_readonly("content", [](const Line& l) { return text(l.content); })
      .def_property_readonly("content_bytes", [](const Line& l) { return py::bytes(l.content.data(), l.content.size()); })
      .def_property_readonly("no_newline_at_eof", [](const Line& l) { return l.no_newline_at_eof; })
      .def_property_readonly("line_ending", [](const Line& l) {
        return l.ending == LineEnding::CRLF ? "\r\n" : l.ending == LineEnding::LF ? "\n" : "";
      })
      .def_property_readonly("input_lineno", [](const Line& l) { return l.input_lineno; })
      .def("__repr__", [](const Line& l) {
        return "<Line " + std::string(1, static_cast<char>(l.kind)) + " old=" + std::to_string(l.old_lineno) +
               " new=" + std::to_string(l.new_lineno) + " " + py::repr(text(l.content)).cast<std::string>() + ">";
      });

  py::class_<Hunk>(m, "Hunk", "A hunk: its header ranges and its lines.")
      .def_readonly("old_start", &Hunk::old_start)
      .def_readonly("old_count", &Hunk::old_count)
      .def_readonly("new_start", &Hunk::new_start)
      .def_readonly("new_count", &Hunk::new_count)
      .def_readonly("input_lineno", &Hunk::input_lineno)
      .def_property_readonly("section", [](const Hunk& h) { return text(h.section); })
      .def_property_readonly("lines", [](py::object self) {
        return references(self.cast<const Hunk&>().lines, self);
      })
      .def("__len__", [](const Hunk& h) { return h.lines.size(); })
      .def("__repr__", [](const Hunk& h) {
        return "<Hunk -" + std::to_string(h.old_start) + "," + std::to_string(h.old_count) + " +" +
               std::to_string(h.new_start) + "," + std::to_string(h.new_count) + ">";
      });

  py::class_<Commit>(m, "Commit", "A commit header that preceded file diffs (git log -p, format-patch).")
      .def_readonly("sha", &Commit::sha)
      .def_readonly("author", &Commit::author)
      .def_readonly("date", &Commit::date)
      .def_readonly("subject", &Commit::subject)
      .def_readonly("message", &Commit::message)
      .def_readonly("input_lineno", &Commit::input_lineno);

  py::class_<Anchor>(m, "Anchor", "Where an inline comment can attach.")
      .def_property_readonly("side", [](const Anchor& a) { return a.side == Side::New ? "new" : "old"; })
      .def_readonly("start", &Anchor::start)
      .def_readonly("end", &Anchor::end)
      .def_readonly("exact", &Anchor::exact)
      .def_property_readonly("hunk", [](const Anchor& a) { return a.hunk; }, py::return_value_policy::reference_internal)
      .def("__repr__", [](const Anchor& a) {
        return std::string("<Anchor ") + (a.side == Side::New ? "new" : "old") + " " + std::to_string(a.start) + "-" +
               std::to_string(a.end) + (a.exact ? " exact" : "") + ">";
      });

  py::class_<FileDiff>(m, "FileDiff", "One file's diff. Read-only; valid while its PatchSet lives.")
      .def_property_readonly("old_path", [](const FileDiff& f) { return path_or_none(f.old_path); })
      .def_property_readonly("new_path", [](const FileDiff& f) { return path_or_none(f.new_path); })
      .def_property_readonly("path", [](const FileDiff& f) { return path_or_none(f.path()); })
      .def_property_readonly("status", [](const FileDiff& f) { return std::string(to_string(f.status)); })
      .def_readonly("is_binary", &FileDiff::is_binary)
      .def_readonly("is_combined", &FileDiff::is_combined)
      .def_readonly("is_git", &FileDiff::is_git)
      .def_property_readonly("old_mode", [](const FileDiff& f) { return mode_or_none(f.old_mode); })
      .def_property_readonly("new_mode", [](const FileDiff& f) { return mode_or_none(f.new_mode); })
      .def_readonly("similarity", &FileDiff::similarity)
      .def_readonly("dissimilarity", &FileDiff::dissimilarity)
      .def_readonly("old_hash", &FileDiff::old_hash)
      .def_readonly("new_hash", &FileDiff::new_hash)
      .def_readonly("added", &FileDiff::added)
      .def_readonly("removed", &FileDiff::removed)
      .def_readonly("input_lineno", &FileDiff::input_lineno)
      .def_readonly("commit_index", &FileDiff::commit)
      .def_property_readonly("hunks", [](py::object self) {
        return references(self.cast<const FileDiff&>().hunks, self);
      })
      .def(
          "anchor",
          [](const FileDiff& f, std::optional<std::uint32_t> new_line, std::optional<std::uint32_t> old_line) {
            if (new_line.has_value() == old_line.has_value()) {
              throw py::type_error("anchor() takes exactly one of new_line= or old_line=");
            }
            require_lines(f);
            return new_line ? anchor_hunk(f, Side::New, *new_line) : anchor_hunk(f, Side::Old, *old_line);
          },
          py::kw_only(), py::arg("new_line") = py::none(), py::arg("old_line") = py::none(),
          py::return_value_policy::reference_internal,
          "The hunk in which the line can carry an inline comment, or None.")
      .def(
          "nearest_anchor",
          [](const FileDiff& f, std::uint32_t start, std::optional<std::uint32_t> end, const std::string& side,
             std::uint32_t max_distance) {
            require_lines(f);
            const Side s = parse_side(side);
            std::optional<Anchor> a;
            {
              py::gil_scoped_release release;  // pure C++ over the immutable model
              a = nearest_anchor(f, s, start, end.value_or(start), max_distance);
            }
            return a ? py::cast(*a, py::return_value_policy::move) : py::object(py::none());
          },
          py::arg("start"), py::arg("end") = py::none(), py::kw_only(), py::arg("side") = "new",
          py::arg("max_distance") = 0, py::keep_alive<0, 1>(),
          "The commentable range that best covers [start, end], or None when none exists.")
      .def("__repr__", [](const FileDiff& f) {
        return "<FileDiff " + std::string(to_string(f.status)) + " " + py::repr(path_or_none(f.path())).cast<std::string>() +
               (f.is_binary ? " binary" : "") + " +" + std::to_string(f.added) + " -" + std::to_string(f.removed) + ">";
      })
      .def("to_text", [](const FileDiff& f) {
        std::string out;
        append_file(out, f);
        return py::bytes(out);
      });

  py::class_<PatchSet, PatchSetPtr>(m, "PatchSet", "A parsed diff: files, commits and warnings.")
      .def_property_readonly("files", [](py::object self) {
        const auto& ps = self.cast<const PatchSet&>();
        return references(std::span<const FileDiff>(ps.files), self);
      })
      .def_property_readonly("commits", [](py::object self) {
        const auto& ps = self.cast<const PatchSet&>();
        return references(std::span<const Commit>(ps.commits), self);
      })
      .def_property_readonly("warnings", [](const PatchSet& ps) {
        py::list out;
        for (const auto& w : ps.warnings) out.append(py::make_tuple(w.input_lineno, w.message));
        return out;
      })
      .def_readonly("added", &PatchSet::added)
      .def_readonly("removed", &PatchSet::removed)
      .def_readonly("stats_only", &PatchSet::stats_only)
      .def_property_readonly("input_size", [](const PatchSet& ps) { return ps.input.size(); })
      .def("__len__", [](const PatchSet& ps) { return ps.files.size(); })
      .def("to_text", [](const PatchSet& ps) {
        std::string out;
        {
          py::gil_scoped_release release;  // emission reads only the immutable model
          out = to_text(ps);
        }
        return py::bytes(out);
      })
      .def("file_records", [](const PatchSet& ps) {
        py::list out;
        for (const auto& f : ps.files) out.append(file_record(ps, f));
        return out;
      })
      .def("line_records", [](const PatchSet& ps) {
        py::list out;
        for (const auto& f : ps.files) {
          py::object path = path_or_none(f.path());
          for (const Hunk& h : f.hunks) {
            for (const Line& l : h.lines) {
              py::dict d;
              d["path"] = path;
              d["kind"] = std::string(1, static_cast<char>(l.kind));
              d["old_lineno"] = lineno(l.old_lineno);
              d["new_lineno"] = lineno(l.new_lineno);
              d["content"] = text(l.content);
              out.append(std::move(d));
            }
          }
        }
        return out;
      });

  m.def(
      "parse",
      [](const py::object& data, bool strict, bool keep_lines) {
        Input in = input_of(data);
        ParseOptions options;
        options.strict = strict;
        options.keep_lines = keep_lines;
        // Safe without the GIL: the input bytes are immutable and held by
        // `in.owner`; parsing touches no Python object.
        py::gil_scoped_release release;
        return std::make_shared<PatchSet>(parse(in.text, std::move(in.owner), options));
      },
      py::arg("data"), py::arg("strict") = true, py::arg("keep_lines") = true,
      "Parse diff text into a PatchSet. Raises ParseError (strict mode) with .args = (line, text, reason).");
}

}  // namespace bbreview::bindings
