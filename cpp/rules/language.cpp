#include "rules/language.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace bbreview::rules {

namespace {

using Pair = std::pair<std::string_view, std::string_view>;

// Extension (lower case, no dot) -> canonical language.
constexpr std::array kExtensions = std::to_array<Pair>({
    {"py", "python"},       {"pyi", "python"},       {"pyw", "python"},      {"pyx", "python"},
    {"ipynb", "notebook"},  {"js", "javascript"},    {"mjs", "javascript"},  {"cjs", "javascript"},
    {"jsx", "javascript"},  {"ts", "typescript"},    {"tsx", "typescript"},  {"mts", "typescript"},
    {"cts", "typescript"},  {"java", "java"},        {"go", "go"},           {"rs", "rust"},
    {"c", "c"},             {"h", "c"},              {"cc", "cpp"},          {"cpp", "cpp"},
    {"cxx", "cpp"},         {"c++", "cpp"},          {"hpp", "cpp"},         {"hh", "cpp"},
    {"hxx", "cpp"},         {"h++", "cpp"},          {"ipp", "cpp"},         {"inl", "cpp"},
    {"tpp", "cpp"},         {"cs", "csharp"},        {"rb", "ruby"},         {"rake", "ruby"},
    {"gemspec", "ruby"},    {"php", "php"},          {"sh", "shell"},        {"bash", "shell"},
    {"zsh", "shell"},       {"ksh", "shell"},        {"yml", "yaml"},        {"yaml", "yaml"},
    {"json", "json"},       {"jsonc", "json"},       {"sql", "sql"},         {"md", "markdown"},
    {"markdown", "markdown"}, {"kt", "kotlin"},      {"kts", "kotlin"},      {"swift", "swift"},
    {"scala", "scala"},     {"sc", "scala"},         {"toml", "toml"},       {"xml", "xml"},
    {"html", "html"},       {"htm", "html"},         {"css", "css"},         {"scss", "scss"},
    {"tf", "terraform"},    {"tfvars", "terraform"}, {"hcl", "terraform"},   {"ini", "ini"},
    {"cfg", "ini"},         {"r", "r"},              {"lua", "lua"},         {"pl", "perl"},
    {"pm", "perl"},         {"dart", "dart"},        {"ex", "elixir"},       {"exs", "elixir"},
    {"erl", "erlang"},      {"hs", "haskell"},       {"clj", "clojure"},     {"vue", "vue"},
    {"groovy", "groovy"},   {"gradle", "groovy"},    {"ps1", "powershell"},  {"psm1", "powershell"},
    {"bat", "batch"},       {"cmd", "batch"},        {"proto", "protobuf"},  {"properties", "properties"},
    {"txt", "text"},        {"rst", "rst"},          {"cmake", "cmake"},     {"jl", "julia"},
    {"env", "dotenv"},      {"dockerfile", "dockerfile"}, {"mk", "make"},
});

// Whole file name (exact case) -> canonical language.
constexpr std::array kFileNames = std::to_array<Pair>({
    {"Dockerfile", "dockerfile"}, {"Containerfile", "dockerfile"}, {"Makefile", "make"},
    {"makefile", "make"},         {"GNUmakefile", "make"},         {"CMakeLists.txt", "cmake"},
    {"Gemfile", "ruby"},          {"Rakefile", "ruby"},            {"Jenkinsfile", "groovy"},
    {".bashrc", "shell"},         {".zshrc", "shell"},             {".profile", "shell"},
    {".env", "dotenv"},
});

// Aliases accepted in a rule's `languages` (lower case) -> canonical language.
constexpr std::array kAliases = std::to_array<Pair>({
    {"py", "python"},        {"python3", "python"},   {"js", "javascript"},   {"node", "javascript"},
    {"ts", "typescript"},    {"golang", "go"},        {"rs", "rust"},         {"c++", "cpp"},
    {"cxx", "cpp"},          {"cs", "csharp"},        {"c#", "csharp"},       {"rb", "ruby"},
    {"sh", "shell"},         {"bash", "shell"},       {"zsh", "shell"},       {"yml", "yaml"},
    {"md", "markdown"},      {"ipynb", "notebook"},   {"jupyter", "notebook"}, {"kt", "kotlin"},
    {"tf", "terraform"},     {"hcl", "terraform"},    {"docker", "dockerfile"}, {"makefile", "make"},
    {"ps1", "powershell"},   {"pwsh", "powershell"},  {"env", "dotenv"},      {"txt", "text"},
});

// Extensions that also count as a second language.
constexpr std::array kAlso = std::to_array<Pair>({{"h", "cpp"}});

struct KnownNames {
  std::array<std::string_view, kExtensions.size() + kFileNames.size()> names{};
  std::size_t size = 0;
};

// Sorted, de-duplicated canonical names, computed at compile time.
constexpr KnownNames kKnown = [] {
  KnownNames k;
  for (const auto& p : kExtensions) k.names[k.size++] = p.second;
  for (const auto& p : kFileNames) k.names[k.size++] = p.second;
  std::sort(k.names.begin(), k.names.end());
  k.size = static_cast<std::size_t>(std::unique(k.names.begin(), k.names.end()) - k.names.begin());
  return k;
}();

template <std::size_t N>
std::string_view lookup(const std::array<Pair, N>& table, std::string_view key) {
  for (const auto& [k, v] : table) {
    if (k == key) return v;
  }
  return {};
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view basename(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Extension of a file name, lower-cased; "" when it has none. A leading dot
// (".bashrc") does not start an extension.
std::string extension(std::string_view name) {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return ascii_lower(name.substr(dot + 1));
}

}  // namespace

std::string_view language_of_extension(std::string_view ext) { return lookup(kExtensions, ascii_lower(ext)); }

std::string_view language_of(std::string_view path) {
  const std::string_view name = basename(path);
  if (auto lang = lookup(kFileNames, name); !lang.empty()) return lang;
  return lookup(kExtensions, extension(name));
}

std::vector<std::string_view> languages_of(std::string_view path) {
  std::vector<std::string_view> out;
  const std::string_view primary = language_of(path);
  if (primary.empty()) return out;
  out.push_back(primary);
  if (auto also = lookup(kAlso, extension(basename(path))); !also.empty()) out.push_back(also);
  return out;
}

std::string_view canonical_language(std::string_view name) {
  const std::string lower = ascii_lower(name);
  if (auto alias = lookup(kAliases, lower); !alias.empty()) return alias;
  const auto known = known_languages();
  const auto it = std::lower_bound(known.begin(), known.end(), std::string_view(lower));
  return it != known.end() && *it == lower ? *it : std::string_view{};
}

std::string example_file_name(std::string_view language) {
  for (const auto& [ext, lang] : kExtensions) {
    if (lang == language) return "example." + std::string(ext);
  }
  for (const auto& [name, lang] : kFileNames) {
    if (lang == language) return std::string(name);
  }
  return {};
}

std::span<const std::string_view> known_languages() { return {kKnown.names.data(), kKnown.size}; }

}  // namespace bbreview::rules
