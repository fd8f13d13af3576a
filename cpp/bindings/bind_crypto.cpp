// Type conversions between bbreview::crypto and Python. No cryptography here.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/crypto.hpp"

namespace py = pybind11;

namespace bbreview::bindings {

namespace {

namespace c = bbreview::crypto;

// Copies Python bytes into an owned string, so the GIL can be released afterwards.
std::string owned(const py::bytes& b) { return std::string(b); }

}  // namespace

void register_crypto(py::module_& m) {
  m.attr("KEY_BYTES") = c::kKeyBytes;
  m.attr("NONCE_BYTES") = c::kNonceBytes;
  m.attr("TAG_BYTES") = c::kTagBytes;
  m.attr("SEAL_VERSION") = static_cast<int>(c::kSealVersion);
  m.attr("SEAL_OVERHEAD") = c::kSealOverhead;

  // open()'s error values become this exception; its message never contains the inputs.
  static PyObject* open_error = PyErr_NewException("bbreview._core.crypto.OpenError", PyExc_ValueError, nullptr);
  m.attr("OpenError") = py::handle(open_error);

  m.def(
      "seal",
      [](const py::bytes& key, const py::bytes& plaintext, const py::bytes& associated) {
        std::string out;
        try {
          out = c::seal(owned(key), owned(plaintext), owned(associated));
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
        return py::bytes(out);
      },
      py::arg("key"), py::arg("plaintext"), py::arg("associated") = py::bytes());

  m.def(
      "open",
      [](const py::bytes& key, const py::bytes& sealed, const py::bytes& associated) {
        c::Opened opened = c::open(owned(key), owned(sealed), owned(associated));
        if (!opened) {
          PyErr_SetString(open_error, std::string(c::describe(opened.error)).c_str());
          throw py::error_already_set();
        }
        return py::bytes(*opened.plaintext);
      },
      py::arg("key"), py::arg("sealed"), py::arg("associated") = py::bytes());

  m.def(
      "random_bytes", [](std::size_t n) { return py::bytes(c::random_bytes(n)); }, py::arg("n"));

  // scrypt takes about 0.1 s of CPU and 32 MiB by design. The GIL is released
  // around it so other threads (the console's server, the workers) keep
  // running; this is safe because the arguments are owned std::strings and the
  // C++ side never touches a Python object.
  m.def(
      "hash_password",
      [](const std::string& password, std::uint32_t log2_n, std::uint32_t r, std::uint32_t p) {
        std::string out;
        try {
          py::gil_scoped_release release;
          out = c::hash_password(password, c::ScryptParams{log2_n, r, p});
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
        return out;
      },
      py::arg("password"), py::arg("log2_n") = c::ScryptParams{}.log2_n, py::arg("r") = c::ScryptParams{}.r,
      py::arg("p") = c::ScryptParams{}.p);

  m.def(
      "verify_password",
      [](const std::string& password, const std::string& encoded) {
        py::gil_scoped_release release;  // as for hash_password: owned strings only
        return c::verify_password(password, encoded);
      },
      py::arg("password"), py::arg("encoded"));

  m.def(
      "password_params",
      [](const std::string& encoded) -> py::object {
        auto params = c::password_params(encoded);
        if (!params) return py::none();
        return py::make_tuple(params->log2_n, params->r, params->p);
      },
      py::arg("encoded"));
}

}  // namespace bbreview::bindings
