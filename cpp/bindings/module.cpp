// bbreview._core: the compiled half of the bbreview package. Private; users
// import bbreview. Each area registers its own submodule.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace bbreview::bindings {
void register_diff(py::module_& m);
void register_rules(py::module_& m);
void register_http(py::module_& m);
void register_bitbucket(py::module_& m);
void register_webhook(py::module_& m);
void register_crypto(py::module_& m);
}  // namespace bbreview::bindings

PYBIND11_MODULE(_core, m) {
  m.doc() = "bbreview native core (private: import bbreview instead)";
  auto diff = m.def_submodule("diff", "Unified diff parsing, emission and anchoring");
  bbreview::bindings::register_diff(diff);
  auto rules = m.def_submodule("rules", "The RE2 multi-pattern rule engine");
  bbreview::bindings::register_rules(rules);
  auto http = m.def_submodule("http", "The asynchronous HTTP client (Beast, Asio, OpenSSL)");
  bbreview::bindings::register_http(http);
  auto bitbucket = m.def_submodule("bitbucket", "Bitbucket Cloud calls: auth, budget, errors, batches");
  bbreview::bindings::register_bitbucket(bitbucket);
  auto webhook = m.def_submodule("webhook", "Webhook signatures, event decoding and the durable intake server");
  bbreview::bindings::register_webhook(webhook);
  auto crypto = m.def_submodule("crypto", "AES-256-GCM sealing, random bytes and scrypt password hashes");
  bbreview::bindings::register_crypto(crypto);
}
