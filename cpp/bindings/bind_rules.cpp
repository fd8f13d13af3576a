// Type conversions between bbreview::rules and Python. No matching logic here:
// the public API (Rule, RuleSet, Finding) lives in python/bbreview/rules.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "diff/model.hpp"
#include "rules/engine.hpp"
#include "rules/glob.hpp"
#include "rules/language.hpp"
#include "rules/text.hpp"

namespace py = pybind11;

namespace bbreview::bindings {

namespace {

using namespace bbreview::rules;
using PatchSetPtr = std::shared_ptr<diff::PatchSet>;

py::str text(std::string_view v) {
  PyObject* s = PyUnicode_DecodeUTF8(v.data(), static_cast<Py_ssize_t>(v.size()), "replace");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

// Paths keep undecodable bytes as surrogates, as bbreview.diff does.
py::str path_text(std::string_view v) {
  PyObject* s = PyUnicode_DecodeUTF8(v.data(), static_cast<Py_ssize_t>(v.size()), "surrogateescape");
  if (!s) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

// str -> UTF-8 bytes, keeping lone surrogates from surrogateescape decoding as the original bytes.
std::string utf8(const py::handle& h) {
  if (!PyUnicode_Check(h.ptr())) {
    throw py::type_error(std::string("expected str, got ") + Py_TYPE(h.ptr())->tp_name);
  }
  PyObject* b = PyUnicode_AsEncodedString(h.ptr(), "utf-8", "surrogateescape");
  if (!b) throw py::error_already_set();
  auto bytes = py::reinterpret_steal<py::bytes>(b);
  return std::string(bytes);
}

std::vector<std::string> strings(const py::dict& d, const char* key) {
  std::vector<std::string> out;
  if (!d.contains(key)) return out;
  for (const auto item : py::reinterpret_borrow<py::iterable>(d[key])) out.push_back(utf8(item));
  return out;
}

[[noreturn]] void bad_field(std::size_t rule, const char* field, const std::string& value, const std::string& why) {
  throw RuleCompileError(rule, field, 0, value, why);
}

// A rule as a dict with Rule's field names (validated in Python already;
// enum names are checked again here because C++ must not trust its input).
RuleSpec to_spec(std::size_t index, const py::dict& d) {
  RuleSpec s;
  s.id = utf8(d["id"]);
  s.message = d.contains("message") ? utf8(d["message"]) : "";
  if (d.contains("severity")) {
    const std::string name = utf8(d["severity"]);
    auto severity = parse_severity(name);
    if (!severity) bad_field(index, "severity", name, "severity must be info, warning or error");
    s.severity = *severity;
  }
  if (d.contains("scope")) {
    const std::string name = utf8(d["scope"]);
    auto scope = parse_scope(name);
    if (!scope) bad_field(index, "scope", name, "scope must be added, removed, context or path");
    s.scope = *scope;
  }
  if (d.contains("category")) s.category = utf8(d["category"]);
  s.patterns = strings(d, "patterns");
  s.exclude = strings(d, "exclude");
  s.paths = strings(d, "paths");
  s.path_patterns = strings(d, "path_patterns");
  s.path_exclude_patterns = strings(d, "path_exclude_patterns");
  s.languages = strings(d, "languages");
  s.keywords = strings(d, "keywords");
  if (d.contains("entropy") && !d["entropy"].is_none()) s.entropy = d["entropy"].cast<double>();
  if (d.contains("entropy_group") && !d["entropy_group"].is_none()) {
    s.entropy_group = py::str(d["entropy_group"]).cast<std::string>();
  }
  if (d.contains("suggestion") && !d["suggestion"].is_none()) s.suggestion = utf8(d["suggestion"]);
  if (d.contains("max_per_file") && !d["max_per_file"].is_none()) {
    s.max_per_file = d["max_per_file"].cast<std::uint32_t>();
  }
  if (d.contains("secret")) s.secret = d["secret"].cast<bool>();
  return s;
}

const char* side_name(Side side) {
  switch (side) {
    case Side::New: return "new";
    case Side::Old: return "old";
    case Side::Path: return "path";
  }
  return "new";
}

// (rule, path, line, side, column_start, column_end, match, suggestion,
//  fingerprint, snippet, commit): the Python layer builds Finding from these.
py::list to_python(const std::vector<Finding>& findings, const diff::PatchSet* ps, const diff::FileDiff* single) {
  py::list out(findings.size());
  std::uint32_t cached_file = UINT32_MAX;
  py::object path, commit;
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (f.file != cached_file) {
      const diff::FileDiff& file = single ? *single : ps->files[f.file];
      path = path_text(file.path());
      commit = (ps && file.commit >= 0) ? py::object(py::str(ps->commits[static_cast<std::size_t>(file.commit)].sha))
                                        : py::object(py::none());
      cached_file = f.file;
    }
    py::object line = f.side == Side::Path ? py::object(py::none()) : py::object(py::int_(f.line));
    py::object suggestion = f.suggestion ? py::object(text(*f.suggestion)) : py::object(py::none());
    out[i] = py::make_tuple(f.rule, path, line, side_name(f.side), f.column_start, f.column_end, text(f.match),
                            suggestion, f.fingerprint, text(f.snippet), commit);
  }
  return out;
}

}  // namespace

void register_rules(py::module_& m) {
  // CompileError carries structured fields: args = (rule index or -1, field,
  // item, value, reason); bbreview.rules turns it into RuleError.
  static PyObject* compile_error = PyErr_NewException("bbreview._core.rules.CompileError", PyExc_ValueError, nullptr);
  m.attr("CompileError") = py::handle(compile_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const RuleCompileError& e) {
      const long rule = e.rule() == static_cast<std::size_t>(-1) ? -1L : static_cast<long>(e.rule());
      py::tuple args = py::make_tuple(rule, e.field(), e.item(), text(e.value()), text(e.reason()));
      PyErr_SetObject(compile_error, args.ptr());
    }
  });

  py::class_<RuleSet>(m, "RuleSet", "A compiled rule set. Immutable; scans may run concurrently.")
      .def_property_readonly("warnings",
                             [](const RuleSet& rs) {
                               py::list out;
                               for (const auto& w : rs.warnings()) {
                                 out.append(py::make_tuple(w.rule, w.field, w.item, text(w.message)));
                               }
                               return out;
                             })
      .def_property_readonly("dfa_fallbacks", &RuleSet::dfa_fallbacks)
      .def("__len__", [](const RuleSet& rs) { return rs.rules().size(); })
      .def(
          "scan",
          [](const RuleSet& rs, const PatchSetPtr& ps) {
            std::vector<Finding> findings;
            {
              // Safe without the GIL: `ps` is a shared_ptr copy that keeps the
              // immutable PatchSet alive, and the scan touches no Python object.
              py::gil_scoped_release release;
              findings = rs.scan(*ps);
            }
            return to_python(findings, ps.get(), nullptr);
          },
          py::arg("patchset"), "Findings for a PatchSet, as tuples.")
      .def(
          "scan_file",
          [](const RuleSet& rs, const diff::FileDiff& file) {
            std::vector<Finding> findings;
            {
              // Safe without the GIL: the caller's FileDiff argument, which keeps
              // its PatchSet alive, is held for the whole call.
              py::gil_scoped_release release;
              findings = rs.scan(file, 0);
            }
            return to_python(findings, nullptr, &file);
          },
          py::arg("file"), "Findings for one FileDiff, as tuples.")
      .def(
          "scan_many",
          [](const RuleSet& rs, const std::vector<PatchSetPtr>& patchsets, unsigned threads) {
            std::vector<const diff::PatchSet*> raw;
            raw.reserve(patchsets.size());
            for (const auto& p : patchsets) {
              if (!p) throw py::type_error("scan_many() got None instead of a PatchSet");
              raw.push_back(p.get());
            }
            std::vector<std::vector<Finding>> results;
            {
              // Safe without the GIL: `patchsets` holds a shared_ptr to each
              // immutable PatchSet until we return, and the worker threads
              // read only those and the immutable rule set.
              py::gil_scoped_release release;
              results = rs.scan_many(raw, threads);
            }
            py::list out(results.size());
            for (std::size_t i = 0; i < results.size(); ++i) out[i] = to_python(results[i], raw[i], nullptr);
            return out;
          },
          py::arg("patchsets"), py::arg("threads") = 0,
          "Findings for each PatchSet, scanned on up to `threads` threads (0: one per CPU).");

  m.def(
      "compile",
      [](const py::list& rules, std::int64_t max_mem) {
        std::vector<RuleSpec> specs;
        specs.reserve(rules.size());
        for (std::size_t i = 0; i < rules.size(); ++i) specs.push_back(to_spec(i, rules[i].cast<py::dict>()));
        CompileOptions options;
        options.max_mem = max_mem;
        // Compiling hundreds of regexes takes a while and needs no Python object.
        py::gil_scoped_release release;
        return std::make_unique<RuleSet>(RuleSet::compile(std::move(specs), options));
      },
      py::arg("rules"), py::arg("max_mem"),
      "Compile rule dicts (Rule's field names). Raises CompileError with .args = (rule, field, item, value, reason).");

  m.def("language_of", [](const std::string& path) -> py::object {
    const auto lang = language_of(path);
    return lang.empty() ? py::object(py::none()) : py::object(py::str(std::string(lang)));
  });
  m.def("canonical_language", [](const std::string& name) -> py::object {
    const auto lang = canonical_language(name);
    return lang.empty() ? py::object(py::none()) : py::object(py::str(std::string(lang)));
  });
  m.def("known_languages", [] {
    std::vector<std::string> out;
    for (const auto name : known_languages()) out.emplace_back(name);
    return out;
  });
  m.def("example_file_name", [](const std::string& language) { return example_file_name(language); });
  m.def("glob_to_regex", [](const std::string& glob) -> py::tuple {
    const GlobRegex g = translate_glob(glob);
    return py::make_tuple(g.never ? py::object(py::none()) : py::object(py::str(g.regex)),
                          g.never ? py::object(py::str(*g.never)) : py::object(py::none()));
  });
  m.def("shannon_entropy", [](const py::str& s) { return shannon_entropy(utf8(s)); });
  m.def("redact", [](const py::str& s) { return text(redact(utf8(s))); });
  m.def("fingerprint", [](const py::str& rule_id, const py::str& path, const py::str& content, std::uint32_t occurrence) {
    return fingerprint(utf8(rule_id), utf8(path), utf8(content), occurrence);
  }, py::arg("rule_id"), py::arg("path"), py::arg("content"), py::arg("occurrence") = 1);
}

}  // namespace bbreview::bindings
