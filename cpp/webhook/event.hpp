// bbreview::webhook events: the few fields of a Bitbucket Cloud delivery that
// the intake needs to route and deduplicate it (reference §7.1, §7.4), and the
// delivery's dedup key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bbreview::webhook {

// Longest X-Event-Key accepted; the longest key in the 2026 enum
// ("pullrequest:changes_request_created", reference §6.10) has 35 characters.
inline constexpr std::size_t kMaxEventKeyLength = 100;

// The pull request fields whose values tell two `pullrequest:updated`
// deliveries apart. That event fires for title, description and destination
// edits and for draft toggles, not only for new commits (reference §7.4), so
// the source commit alone would merge distinct updates into one; state and
// updated_on separate two edits that end on the same values (A → B → A).
inline constexpr std::array<std::string_view, 7> kUpdatedFields = {
    "pullrequest.title",
    "pullrequest.description",
    "pullrequest.draft",
    "pullrequest.state",
    "pullrequest.destination.branch.name",
    "pullrequest.destination.commit.hash",
    "pullrequest.updated_on",
};

struct Event {
    std::string event_key;                   // X-Event-Key, e.g. "pullrequest:created"
    std::optional<std::string> repository;   // repository.full_name, "workspace/slug"
    std::optional<std::int64_t> pr_id;       // pullrequest.id
    std::optional<std::string> source_commit;  // pullrequest.source.commit.hash
    std::optional<std::int64_t> comment_id;  // comment.id
    std::optional<std::string> actor_uuid;   // actor.uuid, braces kept as sent
    std::optional<std::string> actor_account_id;  // actor.account_id
    // For `pullrequest:updated` only (empty otherwise): the JSON text of each
    // kUpdatedFields entry as sent, in that order; nullopt when the field is
    // absent, null or not a scalar. Read by dedup_key.
    std::array<std::optional<std::string>, kUpdatedFields.size()> updated_fields;

    // "pullrequest:*" events.
    bool is_pull_request() const;
    // "pullrequest:comment_*" events.
    bool is_comment() const;
    // "pullrequest:updated".
    bool is_update() const;
};

// An Event, or the reason the delivery cannot be decoded.
struct Decoded {
    Event event;
    std::string error;  // empty on success; names the offending field or byte offset, never quotes the body

    bool ok() const { return error.empty(); }
};

// True for a plausible event key: 1..kMaxEventKeyLength characters from
// [A-Za-z0-9_:.-] with at least one ':'. Unknown keys are accepted so that new
// Bitbucket events are stored rather than refused.
bool is_valid_event_key(std::string_view key);

// Decodes `body` (the raw JSON payload) of an `event_key` delivery. Missing
// fields stay nullopt; the result is an error when the event key is not valid,
// the body is not JSON, the top level is not an object, or a field the intake
// reads has the wrong type (e.g. "pullrequest.id is a string, expected an
// integer").
Decoded decode(std::string_view event_key, std::string_view body);

// The event dedup key, which makes retries and duplicate hooks queue one job:
//   pull-request events: "event_key|repository|pr_id|source_commit", plus
//     "|comment_id" for comment events, and for `pullrequest:updated`
//     "|fields:<hex SHA-256 of Event::updated_fields>", so that a draft toggle
//     or a title edit on the same commit is a new event, while the same update
//     sent by two hooks (same field values, any formatting) is not;
//   other events, or pull-request events lacking one of those fields:
//     "event_key|sha256:<hex of the body>" (the body names the commits, so an
//     identical body is the same event).
// X-Request-UUID is the other, independent key and is not part of this one.
std::string dedup_key(const Event& event, std::string_view body);

// Why a pull-request event cannot be routed, or "" when it can: every
// `pullrequest:*` payload carries `repository` and `pullrequest` (reference
// §7.4), and the service needs repository.full_name ("workspace/slug") and
// pullrequest.id to find the pull request. E.g. "the pullrequest:created
// payload has no repository.full_name". Always "" for other events and for
// `pullrequest:push`, whose payload shape the reference leaves undocumented.
std::string missing_routing_field(const Event& event);

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace bbreview::webhook
