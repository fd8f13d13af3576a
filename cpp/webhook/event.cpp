#include "webhook/event.hpp"

#include <array>
#include <charconv>
#include <climits>
#include <cstdint>
#include <vector>

#include <openssl/evp.h>

namespace bbreview::webhook {

namespace {

constexpr std::string_view kPullRequestPrefix = "pullrequest:";
constexpr std::string_view kCommentPrefix = "pullrequest:comment_";
constexpr std::string_view kUpdated = "pullrequest:updated";
// Its payload shape is undocumented (reference §7.4), so it is not required to
// name a repository and a pull request.
constexpr std::string_view kPullRequestPush = "pullrequest:push";

// The containers on the way to the fields the intake reads; everything else
// in a payload (most of its bytes) is skipped without being stored.
enum Node : int {
    kOther = -1,
    kRoot,
    kRepository,
    kPullRequest,
    kSource,
    kCommit,
    kComment,
    kActor,
    kDestination,
    kDestinationBranch,
    kDestinationCommit,
    kArray
};
constexpr std::array<std::string_view, 10> kNodeNames = {"",
                                                          "repository",
                                                          "pullrequest",
                                                          "pullrequest.source",
                                                          "pullrequest.source.commit",
                                                          "comment",
                                                          "actor",
                                                          "pullrequest.destination",
                                                          "pullrequest.destination.branch",
                                                          "pullrequest.destination.commit"};

enum class Field : std::uint8_t {
    none,
    repository,
    pr_id,
    source_commit,
    comment_id,
    actor_uuid,
    actor_account_id,
    updated,  // an entry of kUpdatedFields, see Edge::slot
};

struct Edge {
    Node parent;
    std::string_view key;
    Node child;   // kOther when the key names a field
    Field field;  // Field::none when the key names a container
    // Followed only for pullrequest:updated. These edges never make a type
    // error: a value of an unexpected type is only left out of the digest, so
    // that a field the intake does not route on cannot get a delivery refused.
    bool update_only = false;
    std::size_t slot = 0;  // Field::updated: the index in kUpdatedFields
};
constexpr std::array<Edge, 22> kEdges = {{
    {kRoot, "repository", kRepository, Field::none},
    {kRoot, "pullrequest", kPullRequest, Field::none},
    {kRoot, "comment", kComment, Field::none},
    {kRoot, "actor", kActor, Field::none},
    {kRepository, "full_name", kOther, Field::repository},
    {kPullRequest, "id", kOther, Field::pr_id},
    {kPullRequest, "source", kSource, Field::none},
    {kSource, "commit", kCommit, Field::none},
    {kCommit, "hash", kOther, Field::source_commit},
    {kComment, "id", kOther, Field::comment_id},
    {kActor, "uuid", kOther, Field::actor_uuid},
    {kActor, "account_id", kOther, Field::actor_account_id},
    {kPullRequest, "title", kOther, Field::updated, true, 0},
    {kPullRequest, "description", kOther, Field::updated, true, 1},
    {kPullRequest, "draft", kOther, Field::updated, true, 2},
    {kPullRequest, "state", kOther, Field::updated, true, 3},
    {kPullRequest, "destination", kDestination, Field::none, true},
    {kDestination, "branch", kDestinationBranch, Field::none, true},
    {kDestination, "commit", kDestinationCommit, Field::none, true},
    {kDestinationBranch, "name", kOther, Field::updated, true, 4},
    {kDestinationCommit, "hash", kOther, Field::updated, true, 5},
    {kPullRequest, "updated_on", kOther, Field::updated, true, 6},
}};

// kEdges' update fields must match kUpdatedFields, which names them.
constexpr bool update_slots_match() {
    for (const auto& e : kEdges) {
        if (e.field != Field::updated) continue;
        if (e.slot >= kUpdatedFields.size()) return false;
        std::string_view name = kUpdatedFields[e.slot];
        std::string_view parent = kNodeNames[static_cast<std::size_t>(e.parent)];
        if (name.size() != parent.size() + 1 + e.key.size() || !name.starts_with(parent) ||
            name[parent.size()] != '.' || !name.ends_with(e.key))
            return false;
    }
    return true;
}
static_assert(update_slots_match(), "kEdges and kUpdatedFields disagree");

enum class Kind : std::uint8_t { null, object, array, string, boolean, integer, out_of_range, number };

std::string_view kind_name(Kind k) {
    switch (k) {
        case Kind::null: return "null";
        case Kind::object: return "an object";
        case Kind::array: return "an array";
        case Kind::string: return "a string";
        case Kind::boolean: return "a boolean";
        case Kind::integer: return "an integer";
        case Kind::out_of_range: return "an integer out of range";
        case Kind::number: return "a number";
    }
    return "a value";
}

// Receives the values of a JSON document in order, tracks only the containers
// of kEdges, and records the first type error but keeps going, so that a
// syntax error anywhere in the body still wins.
class Extractor {
public:
    // `updates`: also capture the kUpdatedFields (for pullrequest:updated).
    Extractor(Event& ev, bool updates) : ev_(ev), updates_(updates) {}

    std::string type_error;  // first wrong type, e.g. "pullrequest.id is a string, expected an integer"
    std::string top_error;   // the body is not an object

    // A scalar; `raw` is its JSON text as sent, `text` the unescaped string
    // for Kind::string (see Scanner) and `integer` the value for Kind::integer.
    void value(Kind kind, std::string_view raw, std::string_view text = {}, std::int64_t integer = 0) {
        if (stack_.empty()) {
            top_error = "the body is " + std::string(kind_name(kind)) + ", expected a JSON object";
            return;
        }
        const Edge* e = edge();
        if (e && e->field == Field::updated) {  // the last duplicate wins, as in nlohmann; null reads as absent
            auto& slot = ev_.updated_fields[e->slot];
            if (kind == Kind::null)
                slot.reset();
            else
                slot = std::string(raw);
            return;
        }
        if (!e || kind == Kind::null) return;  // null reads as absent
        if (e->update_only) return;            // a scalar where an object belongs: nothing to digest
        if (e->field == Field::none) return wrong(*e, kind, "an object");
        bool wants_int = e->field == Field::pr_id || e->field == Field::comment_id;
        if (wants_int != (kind == Kind::integer) || (!wants_int && kind != Kind::string))
            return wrong(*e, kind, wants_int ? "an integer" : "a string");
        switch (e->field) {
            case Field::repository: ev_.repository = std::string(text); break;
            case Field::pr_id: ev_.pr_id = integer; break;
            case Field::source_commit: ev_.source_commit = std::string(text); break;
            case Field::comment_id: ev_.comment_id = integer; break;
            case Field::actor_uuid: ev_.actor_uuid = std::string(text); break;
            case Field::actor_account_id: ev_.actor_account_id = std::string(text); break;
            case Field::none:
            case Field::updated: break;
        }
    }
    // Whether the value about to be reported is a string field the intake
    // stores, so that the scanner unescapes it (the only strings it copies).
    bool wants_string() const {
        const Edge* e = edge();
        return e && e->field != Field::none && e->field != Field::pr_id && e->field != Field::comment_id &&
               e->field != Field::updated;
    }
    void start(Kind kind) {  // an object or array begins
        Node child = container(kind);
        stack_.push_back(kind == Kind::object ? child : kArray);
    }
    void end() { stack_.pop_back(); }
    // `k` must stay valid until the next key (the scanner's buffer or the body).
    void key(std::string_view k) { key_ = k; }

private:
    const Edge* edge() const {
        if (stack_.empty()) return nullptr;
        Node parent = stack_.back();
        if (parent == kOther || parent == kArray) return nullptr;
        for (const auto& e : kEdges)
            if (e.parent == parent && e.key == key_) return e.update_only && !updates_ ? nullptr : &e;
        return nullptr;
    }

    std::string where(const Edge& e) const {
        std::string parent(kNodeNames[static_cast<std::size_t>(e.parent)]);
        return parent.empty() ? std::string(e.key) : parent + "." + std::string(e.key);
    }

    void wrong(const Edge& e, Kind got, std::string_view expected) {
        if (type_error.empty())
            type_error = where(e) + " is " + std::string(kind_name(got)) + ", expected " + std::string(expected);
    }

    // The node of a container starting here, checking it against kEdges.
    Node container(Kind kind) {
        if (stack_.empty()) {
            if (kind != Kind::object) top_error = "the body is " + std::string(kind_name(kind)) + ", expected a JSON object";
            return kind == Kind::object ? kRoot : kOther;
        }
        const Edge* e = edge();
        if (!e) return kOther;
        if (e->update_only) {
            if (e->field == Field::updated) ev_.updated_fields[e->slot].reset();  // not a scalar: left out
            return e->field == Field::none && kind == Kind::object ? e->child : kOther;
        }
        if (e->field != Field::none) {
            wrong(*e, kind, e->field == Field::pr_id || e->field == Field::comment_id ? "an integer" : "a string");
            return kOther;
        }
        if (kind != Kind::object) {
            wrong(*e, kind, "an object");
            return kOther;
        }
        return e->child;
    }

    Event& ev_;
    bool updates_;
    std::vector<Node> stack_;
    std::string_view key_;
};

// A validating JSON (RFC 8259) scanner that feeds an Extractor without
// building anything: strings are checked in place (escapes, UTF-8, no control
// characters) and copied only when the Extractor keeps them. It accepts exactly
// what nlohmann::json::parse accepts (a leading UTF-8 BOM, no comments, no
// trailing commas, no number that overflows a double, nothing after the
// value but a NUL byte and whatever follows it), which
// tests/cpp/webhook/test_event.cpp checks against nlohmann.
// Iterative, so that deep nesting costs heap (bounded by the body size), not
// stack.
class Scanner {
public:
    Scanner(std::string_view text, Extractor& x) : b_(text.data()), p_(text.data()), e_(text.data() + text.size()), x_(x) {}

    // The offset of the first syntax error, or nullopt for a valid document.
    std::optional<std::size_t> run() {
        if (e_ - p_ >= 3 && std::string_view(p_, 3) == "\xEF\xBB\xBF") p_ += 3;
        std::vector<bool> in_object;  // the open containers, innermost last
        for (;;) {
            // A value starts here.
            ws();
            if (p_ == e_) return fail();
            const char* start = p_;
            auto raw = [this, start] { return std::string_view(start, static_cast<std::size_t>(p_ - start)); };
            switch (*p_) {
                case '{':
                    ++p_;
                    x_.start(Kind::object);
                    ws();
                    if (p_ != e_ && *p_ == '}') {
                        ++p_;
                        x_.end();
                        break;
                    }
                    in_object.push_back(true);
                    if (!member_key()) return fail();
                    continue;
                case '[':
                    ++p_;
                    x_.start(Kind::array);
                    ws();
                    if (p_ != e_ && *p_ == ']') {
                        ++p_;
                        x_.end();
                        break;
                    }
                    in_object.push_back(false);
                    continue;
                case '"': {
                    ++p_;
                    bool keep = x_.wants_string();
                    if (!string(keep)) return fail();
                    x_.value(Kind::string, raw(), keep ? std::string_view(buf_) : std::string_view{});
                    break;
                }
                case 't':
                    if (!literal("true")) return fail();
                    x_.value(Kind::boolean, raw());
                    break;
                case 'f':
                    if (!literal("false")) return fail();
                    x_.value(Kind::boolean, raw());
                    break;
                case 'n':
                    if (!literal("null")) return fail();
                    x_.value(Kind::null, raw());
                    break;
                default:
                    if (!number()) return fail();
                    break;
            }
            // A value ended: close containers until one continues.
            for (;;) {
                ws();
                if (in_object.empty()) {
                    // nlohmann's lexer takes a NUL byte outside a string for the
                    // end of the input; kept so that no body changes verdict.
                    if (p_ != e_ && *p_ != '\0') return fail();
                    return std::nullopt;
                }
                if (p_ == e_) return fail();
                char c = *p_++;
                if (c == ',') {
                    if (in_object.back() && !member_key()) return fail();
                    break;
                }
                if (c != (in_object.back() ? '}' : ']')) {
                    --p_;
                    return fail();
                }
                in_object.pop_back();
                x_.end();
            }
        }
    }

private:
    std::optional<std::size_t> fail() const { return static_cast<std::size_t>(p_ - b_); }

    void ws() {
        while (p_ != e_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }

    // `"key"` then `:`; leaves p_ at the value.
    bool member_key() {
        ws();
        if (p_ == e_ || *p_ != '"') return false;
        ++p_;
        const char* start = p_;
        if (!string(false)) return false;
        if (escaped_) {
            // Rare: a key with escapes is compared unescaped, as nlohmann does.
            p_ = start;
            if (!string(true)) return false;
            key_ = buf_;
            x_.key(key_);
        } else {
            x_.key(std::string_view(start, static_cast<std::size_t>(p_ - 1 - start)));
        }
        ws();
        if (p_ == e_ || *p_ != ':') return false;
        ++p_;
        return true;
    }

    bool literal(std::string_view word) {
        for (char c : word) {
            if (p_ == e_ || *p_ != c) return false;
            ++p_;
        }
        return true;
    }

    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // Four hex digits after "\u"; -1 when malformed.
    long code_unit() {
        if (e_ - p_ < 4) return -1;
        long v = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hex(*p_);
            if (h < 0) return -1;
            v = v * 16 + h;
            ++p_;
        }
        return v;
    }

    void append_utf8(unsigned long cp) {
        if (cp < 0x80) {
            buf_.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            buf_.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            buf_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            buf_.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            buf_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            buf_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            buf_.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            buf_.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            buf_.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            buf_.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    // One well-formed UTF-8 sequence of 2..4 bytes (Unicode 15, table 3-7);
    // p_ is at its lead byte.
    bool utf8() {
        auto u = [this](std::ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
        unsigned char c = u(0);
        auto cont = [&](std::ptrdiff_t i, unsigned char lo, unsigned char hi) {
            return e_ - p_ > i && u(i) >= lo && u(i) <= hi;
        };
        std::ptrdiff_t n = 0;
        if (c >= 0xC2 && c <= 0xDF) n = cont(1, 0x80, 0xBF) ? 2 : 0;
        else if (c == 0xE0) n = cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) n = cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
        else if (c == 0xED) n = cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) ? 3 : 0;
        else if (c == 0xF0) n = cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
        else if (c >= 0xF1 && c <= 0xF3) n = cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
        else if (c == 0xF4) n = cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
        if (n == 0) return false;
        p_ += n;
        return true;
    }

    // The rest of a string whose opening quote was consumed; p_ ends after the
    // closing quote. With `keep`, buf_ receives the unescaped text. Sets escaped_.
    bool string(bool keep) {
        escaped_ = false;
        if (keep) buf_.clear();
        const char* run = p_;  // start of the bytes not yet copied to buf_
        for (;;) {
            if (p_ == e_) return false;
            auto c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                if (keep) buf_.append(run, p_);
                ++p_;
                return true;
            }
            if (c < 0x20) return false;
            if (c >= 0x80) {
                if (!utf8()) return false;
                continue;
            }
            if (c != '\\') {
                ++p_;
                continue;
            }
            escaped_ = true;
            if (keep) buf_.append(run, p_);
            ++p_;
            if (p_ == e_) return false;
            char esc = *p_++;
            char plain = 0;
            switch (esc) {
                case '"': plain = '"'; break;
                case '\\': plain = '\\'; break;
                case '/': plain = '/'; break;
                case 'b': plain = '\b'; break;
                case 'f': plain = '\f'; break;
                case 'n': plain = '\n'; break;
                case 'r': plain = '\r'; break;
                case 't': plain = '\t'; break;
                case 'u': {
                    long hi = code_unit();
                    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return false;
                    unsigned long cp = static_cast<unsigned long>(hi);
                    if (hi >= 0xD800 && hi <= 0xDBFF) {  // a high surrogate needs its low half
                        if (e_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
                        p_ += 2;
                        long lo = code_unit();
                        if (lo < 0xDC00 || lo > 0xDFFF) return false;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + static_cast<unsigned long>(lo - 0xDC00);
                    }
                    if (keep) append_utf8(cp);
                    break;
                }
                default: return false;
            }
            if (plain && keep) buf_.push_back(plain);
            run = p_;
        }
    }

    // A number, reported as an integer when it has no fraction or exponent and
    // fits int64 (or uint64: out of range), else as a float, as nlohmann does.
    bool number() {
        const char* start = p_;
        auto raw = [this, start] { return std::string_view(start, static_cast<std::size_t>(p_ - start)); };
        bool negative = *p_ == '-';
        if (negative) ++p_;
        auto digit = [this] { return p_ != e_ && *p_ >= '0' && *p_ <= '9'; };
        if (!digit()) return false;
        const char* int_begin = p_;
        if (*p_ == '0')
            ++p_;
        else
            while (digit()) ++p_;
        const char* int_end = p_;
        bool integral = true;
        if (p_ != e_ && *p_ == '.') {
            ++p_;
            if (!digit()) return false;
            while (digit()) ++p_;
            integral = false;
        }
        if (p_ != e_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            if (p_ != e_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (!digit()) return false;
            while (digit()) ++p_;
            integral = false;
        }
        if (integral) {
            std::uint64_t magnitude = 0;
            auto [end, ec] = std::from_chars(int_begin, int_end, magnitude);
            if (ec == std::errc() && end == int_end) {
                constexpr auto kMax = static_cast<std::uint64_t>(INT64_MAX);
                if (!negative && magnitude > kMax) {
                    x_.value(Kind::out_of_range, raw());
                    return true;
                }
                if (!negative || magnitude <= kMax + 1) {
                    std::int64_t v = negative ? (magnitude == kMax + 1 ? INT64_MIN : -static_cast<std::int64_t>(magnitude))
                                              : static_cast<std::int64_t>(magnitude);
                    x_.value(Kind::integer, raw(), {}, v);
                    return true;
                }
            }
        }
        // A float, or an integer too large for 64 bits: nlohmann refuses one
        // that overflows a double, and takes one that underflows as zero.
        double d = 0;
        auto [end, ec] = std::from_chars(start, p_, d);
        if (ec == std::errc::result_out_of_range && overflows(int_begin, int_end)) {
            p_ = start;
            return false;
        }
        x_.value(Kind::number, raw());
        return true;
    }

    // For a number from_chars found out of a double's range: whether it is too
    // large (rather than too close to zero), from its decimal exponent.
    bool overflows(const char* int_begin, const char* int_end) const {
        long exponent = 0;
        const char* q = int_end;
        long scale = 0;  // position of the first significant digit relative to the point
        const char* first = int_begin;
        while (first != int_end && *first == '0') ++first;
        if (first != int_end) {
            scale = static_cast<long>(int_end - first);
        } else if (q != p_ && *q == '.') {
            const char* f = q + 1;
            while (f != p_ && *f == '0') ++f;
            scale = -static_cast<long>(f - (q + 1));
        }
        while (q != p_ && *q != 'e' && *q != 'E') ++q;
        if (q != p_) {
            ++q;
            bool neg = *q == '-';
            if (*q == '+' || *q == '-') ++q;
            for (; q != p_ && exponent < 100000; ++q) exponent = exponent * 10 + (*q - '0');
            if (neg) exponent = -exponent;
        }
        return exponent + scale > 0;
    }

    const char* b_;
    const char* p_;
    const char* e_;
    Extractor& x_;
    std::string buf_;  // the last unescaped string kept
    std::string key_;  // the last unescaped key that had escapes
    bool escaped_ = false;
};

}  // namespace

bool Event::is_pull_request() const { return event_key.starts_with(kPullRequestPrefix); }
bool Event::is_comment() const { return event_key.starts_with(kCommentPrefix); }
bool Event::is_update() const { return event_key == kUpdated; }

bool is_valid_event_key(std::string_view key) {
    if (key.empty() || key.size() > kMaxEventKeyLength || key.find(':') == std::string_view::npos) return false;
    for (char c : key) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == ':' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

Decoded decode(std::string_view event_key, std::string_view body) {
    Decoded out;
    if (!is_valid_event_key(event_key)) {
        out.error = "X-Event-Key is not an event key (expected e.g. \"pullrequest:created\")";
        return out;
    }
    out.event.event_key = std::string(event_key);
    // A scan rather than a DOM: payloads carry kilobytes of links and nested
    // repositories the intake never reads, and building (or even copying) them
    // would dominate the cost of a delivery.
    Extractor x(out.event, out.event.is_update());
    if (auto at = Scanner(body, x).run()) {
        out.error = "the body is not valid JSON (error at byte " + std::to_string(*at) + ")";
    } else if (!x.top_error.empty()) {
        out.error = x.top_error;
    } else if (!x.type_error.empty()) {
        out.error = "malformed " + out.event.event_key + " payload: " + x.type_error;
    }
    if (!out.error.empty()) {  // no half-decoded fields next to an error
        Event bare;
        bare.event_key = std::move(out.event.event_key);
        out.event = std::move(bare);
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
    std::string out;
    out.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 0x0f]);
    }
    return out;
}

std::string dedup_key(const Event& event, std::string_view body) {
    bool pr_complete = event.is_pull_request() && event.repository && event.pr_id && event.source_commit &&
                       (!event.is_comment() || event.comment_id);
    if (!pr_complete) return event.event_key + "|sha256:" + sha256_hex(body);
    std::string key = event.event_key + "|" + *event.repository + "|" + std::to_string(*event.pr_id) + "|" +
                      *event.source_commit;
    if (event.is_comment()) key += "|" + std::to_string(*event.comment_id);
    if (event.is_update()) {
        // Length-prefixed, so that no two different sets of values serialize alike.
        std::string fields;
        for (const auto& f : event.updated_fields) {
            if (f)
                fields += std::to_string(f->size()) + ":" + *f + ";";
            else
                fields += "-;";
        }
        key += "|fields:" + sha256_hex(fields);
    }
    return key;
}

std::string missing_routing_field(const Event& event) {
    if (!event.is_pull_request() || event.event_key == kPullRequestPush) return "";
    const char* what = nullptr;
    if (!event.repository)
        what = "has no repository.full_name";
    else if (event.repository->find('/') == std::string::npos)
        what = "has a repository.full_name that is not of the form workspace/slug";
    else if (!event.pr_id)
        what = "has no pullrequest.id";
    return what ? "the " + event.event_key + " payload " + what : "";
}

}  // namespace bbreview::webhook
