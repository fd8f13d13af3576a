"""JSON shapes of emulated objects, following reference §2.5, §6 and §7.4.

Each function returns a fresh dict. ``full=False`` gives the condensed form
that Bitbucket embeds in other objects (§1, "Condensed vs full").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bbreview.testing._model import (
    Annotation,
    BuildStatus,
    Comment,
    Hook,
    Participant,
    Project,
    PullRequest,
    Report,
    Repository,
    Task,
    User,
    Workspace,
)

__all__ = ["Urls", "markdown_html", "short"]

#: PR objects and payloads carry 12-character hashes (reference §1).
SHORT_HASH = 12


@dataclass(frozen=True)
class Urls:
    """Where links point: ``api`` is the API base (ending in ``/2.0``), ``web`` the web UI."""

    api: str = "https://api.bitbucket.org/2.0"
    web: str = "https://bitbucket.org"


def short(commit: str | None) -> str | None:
    return commit[:SHORT_HASH] if commit else commit


def enc_uuid(uuid: str) -> str:
    """A braced UUID as it appears in a URL path: ``%7B…%7D``."""
    return quote(uuid, safe="")


def _href(url: str) -> dict[str, str]:
    return {"href": url}


def markdown_html(raw: str) -> str:
    """A small, safe-mode rendering of markdown (§8: HTML is escaped, not rendered)."""
    blocks: list[str] = []
    fence = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.M | re.S)
    pos = 0
    for m in fence.finditer(raw):
        blocks.extend(_paragraphs(raw[pos : m.start()]))
        blocks.append(f'<div class="codehilite"><pre><span></span>{html.escape(m.group(2))}</pre></div>')
        pos = m.end()
    blocks.extend(_paragraphs(raw[pos:]))
    return "\n".join(blocks)


def _paragraphs(text: str) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        if not para.strip():
            continue
        escaped = html.escape(para.strip())
        escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
        escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
        out.append(f"<p>{escaped}</p>")
    return out


def rendered(raw: str, *, with_type: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"raw": raw, "markup": "markdown", "html": markdown_html(raw)}
    if with_type:
        out = {"type": "rendered", **out}
    return out


class Renderer:
    """Renders model objects with links under ``urls``."""

    def __init__(self, urls: Urls) -> None:
        self.urls = urls

    # -- accounts ---------------------------------------------------------------------

    def user(self, u: User, full: bool = False) -> dict[str, Any]:
        api, web = self.urls.api, self.urls.web
        links = {
            "self": _href(f"{api}/users/{enc_uuid(u.uuid)}"),
            "avatar": _href(f"{web}/account/{enc_uuid(u.uuid)}/avatar/"),
            "html": _href(f"{web}/{enc_uuid(u.uuid)}/"),
        }
        out: dict[str, Any] = {
            "type": u.type,
            "uuid": u.uuid,
            "account_id": u.account_id,
            "nickname": u.nickname,
            "display_name": u.display_name,
            "links": links,
        }
        if u.type == "app_user":
            out["kind"] = u.kind
        if full:
            links["repositories"] = _href(f"{api}/repositories/{enc_uuid(u.uuid)}")
            out.update(
                account_status="active",
                created_on=u.created_on,
                is_staff=False,
                has_2fa_enabled=None,
            )
        return out

    def workspace(self, ws: Workspace, full: bool = True, base: bool = False) -> dict[str, Any]:
        api, web = self.urls.api, self.urls.web
        links = {
            "self": _href(f"{api}/workspaces/{ws.slug}"),
            "avatar": _href(f"{web}/workspaces/{ws.slug}/avatar/"),
        }
        if base:
            return {"type": "workspace_base", "uuid": ws.uuid, "slug": ws.slug, "links": links}
        out: dict[str, Any] = {"type": "workspace", "uuid": ws.uuid, "name": ws.name, "slug": ws.slug, "links": links}
        if full:
            links.update(
                html=_href(f"{web}/{ws.slug}/"),
                members=_href(f"{api}/workspaces/{ws.slug}/members"),
                projects=_href(f"{api}/workspaces/{ws.slug}/projects"),
                repositories=_href(f"{api}/repositories/{ws.slug}"),
                hooks=_href(f"{api}/workspaces/{ws.slug}/hooks"),
            )
            out.update(is_private=ws.is_private, created_on=ws.created_on)
        return out

    def project(self, p: Project) -> dict[str, Any]:
        api, web = self.urls.api, self.urls.web
        return {
            "type": "project",
            "key": p.key,
            "uuid": p.uuid,
            "name": p.name,
            "links": {
                "self": _href(f"{api}/workspaces/{p.workspace.slug}/projects/{p.key}"),
                "html": _href(f"{web}/{p.workspace.slug}/workspace/projects/{p.key}"),
                "avatar": _href(f"{web}/{p.workspace.slug}/workspace/projects/{p.key}/avatar"),
            },
        }

    # -- repositories -----------------------------------------------------------------

    def repository(self, r: Repository, full: bool = True) -> dict[str, Any]:
        api, web = self.urls.api, self.urls.web
        base = f"{api}/repositories/{r.full_name}"
        links: dict[str, Any] = {
            "self": _href(base),
            "html": _href(f"{web}/{r.full_name}"),
            "avatar": _href(f"{web}/{r.full_name}/avatar/32/"),
        }
        out: dict[str, Any] = {
            "type": "repository",
            "full_name": r.full_name,
            "name": r.name,
            "uuid": r.uuid,
            "links": links,
        }
        if not full:
            return out
        links.update(
            pullrequests=_href(f"{base}/pullrequests"),
            commits=_href(f"{base}/commits"),
            forks=_href(f"{base}/forks"),
            watchers=_href(f"{base}/watchers"),
            downloads=_href(f"{base}/downloads"),
            hooks=_href(f"{base}/hooks"),
            clone=[
                {"href": f"{web}/{r.full_name}.git", "name": "https"},
                {"href": f"git@bitbucket.org:{r.full_name}.git", "name": "ssh"},
            ],
        )
        owner = self.workspace(r.workspace, full=False)
        owner["type"] = "team"
        owner["display_name"] = r.workspace.name
        owner["username"] = r.workspace.slug
        out.update(
            slug=r.slug,
            description=r.description,
            is_private=r.is_private,
            scm="git",
            owner=owner,
            workspace=self.workspace(r.workspace, full=False),
            project=self.project(r.project),
            mainbranch={"type": "branch", "name": r.mainbranch},
            fork_policy="allow_forks" if not r.is_private else "no_public_forks",
            language=r.language,
            size=0,
            has_issues=False,
            has_wiki=False,
            website=None,
            created_on=r.created_on,
            updated_on=r.updated_on,
        )
        if r.parent is not None:
            out["parent"] = self.repository(r.parent, full=False)  # forks only (§6.2)
        return out

    def repository_payload(self, r: Repository) -> dict[str, Any]:
        """The repository entity of webhook payloads (§7.4): condensed + extras."""
        out = self.repository(r, full=False)
        full = self.repository(r, full=True)
        for key in ("workspace", "project", "owner", "is_private", "scm", "website"):
            out[key] = full[key]
        out["parent"] = self.repository(r.parent, full=False) if r.parent is not None else None
        return out

    # -- commits ----------------------------------------------------------------------

    def commit_ref(self, r: Repository, commit: str | None, length: int = SHORT_HASH) -> dict[str, Any] | None:
        if commit is None:
            return None
        base = f"{self.urls.api}/repositories/{r.full_name}"
        return {
            "type": "commit",
            "hash": commit[:length],
            "links": {
                "self": _href(f"{base}/commit/{commit[:length]}"),
                "html": _href(f"{self.urls.web}/{r.full_name}/commits/{commit[:length]}"),
            },
        }

    def commit(self, r: Repository, info: Any, author_user: User | None, full: bool = True) -> dict[str, Any]:
        """A commit object with its full 40-character hash (§1)."""
        base = f"{self.urls.api}/repositories/{r.full_name}"
        author: dict[str, Any] = {"type": "author", "raw": f"{info.author_name} <{info.author_email}>"}
        if author_user is not None:
            author["user"] = self.user(author_user)
        out: dict[str, Any] = {
            "type": "commit",
            "hash": info.hash,
            "date": info.date,
            "author": author,
            "message": info.message,
            "summary": rendered(info.message),
            "parents": [self.commit_ref(r, p, 40) for p in info.parents],
            "repository": self.repository(r, full=False),
            "links": {
                "self": _href(f"{base}/commit/{info.hash}"),
                "html": _href(f"{self.urls.web}/{r.full_name}/commits/{info.hash}"),
                "diff": _href(f"{base}/diff/{info.hash}"),
                "patch": _href(f"{base}/patch/{info.hash}"),
                "comments": _href(f"{base}/commit/{info.hash}/comments"),
                "approve": _href(f"{base}/commit/{info.hash}/approve"),
                "statuses": _href(f"{base}/commit/{info.hash}/statuses"),
            },
        }
        if not full:
            del out["repository"], out["summary"]
        return out

    # -- pull requests ----------------------------------------------------------------

    def pr_links(self, pr: PullRequest) -> dict[str, Any]:
        r = pr.repo
        base = f"{self.urls.api}/repositories/{r.full_name}/pullrequests/{pr.id}"
        # The source side names the source repository: the fork, for fork PRs (§6.4).
        spec = f"{pr.source_repository.full_name}:{short(pr.source_commit)}%0D{short(pr.destination_commit)}"
        repo_base = f"{self.urls.api}/repositories/{r.full_name}"
        query = f"?from_pullrequest_id={pr.id}&topic=true"
        return {
            "self": _href(base),
            "html": _href(f"{self.urls.web}/{r.full_name}/pull-requests/{pr.id}"),
            "commits": _href(f"{base}/commits"),
            "approve": _href(f"{base}/approve"),
            "request-changes": _href(f"{base}/request-changes"),
            "diff": _href(f"{repo_base}/diff/{spec}{query}"),
            "diffstat": _href(f"{repo_base}/diffstat/{spec}{query}"),
            "comments": _href(f"{base}/comments"),
            "activity": _href(f"{base}/activity"),
            "merge": _href(f"{base}/merge"),
            "decline": _href(f"{base}/decline"),
            "statuses": _href(f"{base}/statuses"),
        }

    def participant(self, p: Participant) -> dict[str, Any]:
        return {
            "type": "participant",
            "user": self.user(p.user),
            "role": p.role,
            "approved": p.approved,
            "state": p.state,
            "participated_on": p.participated_on,
        }

    def pr_endpoint(self, pr: PullRequest, side: str) -> dict[str, Any]:
        r = pr.source_repository if side == "source" else pr.repo
        if side == "source":
            branch: dict[str, Any] = {"name": pr.source_branch, "links": {}, "sync_strategies": ["merge_commit", "rebase"]}
            commit = pr.source_commit
        else:
            branch = {
                "name": pr.destination_branch,
                "merge_strategies": ["merge_commit", "squash", "fast_forward"],
                "default_merge_strategy": "merge_commit",
            }
            commit = pr.destination_commit
        return {"branch": branch, "commit": self.commit_ref(r, commit), "repository": self.repository(r, full=False)}

    def pullrequest(self, pr: PullRequest, full: bool = True) -> dict[str, Any]:
        """The PR object of §6.3. ``full=False`` is the list form (no reviewers/participants, §4.2)."""
        task_count = sum(1 for t in pr.tasks.values() if t.state == "UNRESOLVED")
        comment_count = sum(1 for c in pr.comments.values() if not c.deleted and not c.pending)
        out: dict[str, Any] = {
            "type": "pullrequest",
            "id": pr.id,
            "title": pr.title,
            "description": pr.description,
            "rendered": {
                "title": rendered(pr.title),
                "description": rendered(pr.description),
                "reason": rendered(pr.reason),
            },
            "summary": rendered(pr.description),
            "state": pr.state,
            "draft": pr.draft,
            "queued": False,
            "author": self.user(pr.author),
            "source": self.pr_endpoint(pr, "source"),
            "destination": self.pr_endpoint(pr, "destination"),
            "merge_commit": self.commit_ref(pr.repo, pr.merge_commit),
            "close_source_branch": pr.close_source_branch,
            "closed_by": self.user(pr.closed_by) if pr.closed_by else None,
            "reason": pr.reason,
            "comment_count": comment_count,
            "task_count": task_count,
            "created_on": pr.created_on,
            "updated_on": pr.updated_on,
            "links": self.pr_links(pr),
        }
        if full:
            out["reviewers"] = [self.user(u) for u in pr.reviewers]
            out["participants"] = [self.participant(p) for p in pr.participants.values()]
        return out

    def pr_condensed(self, pr: PullRequest) -> dict[str, Any]:
        links = self.pr_links(pr)
        return {
            "type": "pullrequest",
            "id": pr.id,
            "title": pr.title,
            "links": {"self": links["self"], "html": links["html"]},
        }

    # -- comments and tasks -----------------------------------------------------------

    def comment(self, c: Comment) -> dict[str, Any]:
        r = c.pr.repo
        base = f"{self.urls.api}/repositories/{r.full_name}/pullrequests/{c.pr.id}/comments"
        html_link = f"{self.urls.web}/{r.full_name}/pull-requests/{c.pr.id}/_/diff#comment-{c.id}"
        content = rendered("" if c.deleted else c.raw)
        out: dict[str, Any] = {
            "type": "pullrequest_comment",
            "id": c.id,
            "created_on": c.created_on,
            "updated_on": c.updated_on,
            "content": content,
            "user": self.user(c.user),
            "deleted": c.deleted,
            "pending": c.pending,
            "pullrequest": self.pr_condensed(c.pr),
            "links": {"self": _href(f"{base}/{c.id}"), "html": _href(html_link)},
        }
        if c.parent is not None:
            out["parent"] = {"id": c.parent.id, "links": {"self": _href(f"{base}/{c.parent.id}"), "html": _href(
                f"{self.urls.web}/{r.full_name}/pull-requests/{c.pr.id}/_/diff#comment-{c.parent.id}")}}
        if c.inline is not None:
            inline = {
                "path": c.inline["path"],
                "from": c.inline.get("from"),
                "to": c.inline.get("to"),
                "start_from": c.inline.get("start_from"),
                "start_to": c.inline.get("start_to"),
                "outdated": c.outdated,
                "context_lines": "",
            }
            out["inline"] = inline
            out["links"]["code"] = _href(
                f"{self.urls.api}/repositories/{r.full_name}/diff/"
                f"{c.pr.source_repository.full_name}:{short(c.pr.source_commit)}..{short(c.pr.destination_commit)}"
                f"?path={quote(c.inline['path'])}"
            )
        if c.resolution is not None:
            out["resolution"] = self.resolution(c)
        return out

    def resolution(self, c: Comment) -> dict[str, Any]:
        assert c.resolution is not None
        who, when = c.resolution
        return {"type": "comment_resolution", "user": self.user(who), "created_on": when}

    def task(self, t: Task) -> dict[str, Any]:
        r = t.pr.repo
        base = f"{self.urls.api}/repositories/{r.full_name}/pullrequests/{t.pr.id}/tasks/{t.id}"
        out: dict[str, Any] = {
            "type": "task",
            "id": t.id,
            "created_on": t.created_on,
            "updated_on": t.updated_on,
            "state": t.state,
            "content": rendered(t.raw, with_type=False),
            "creator": self.user(t.creator),
            "pending": t.pending,
            "resolved_on": t.resolved_on,
            "resolved_by": self.user(t.resolved_by) if t.resolved_by else None,
            "links": {
                "self": _href(base),
                "html": _href(f"{self.urls.web}/{r.full_name}/pull-requests/{t.pr.id}"),
            },
        }
        if t.comment is not None:
            out["comment"] = {"type": "pullrequest_comment", "id": t.comment.id,
                              "links": self.comment(t.comment)["links"]}
        return out

    # -- statuses, insights, hooks ----------------------------------------------------

    def build_status(self, r: Repository, s: BuildStatus) -> dict[str, Any]:
        base = f"{self.urls.api}/repositories/{r.full_name}/commit/{s.commit}"
        url = s.url.replace("{repository.full_name}", r.full_name).replace("{commit}", s.commit)
        return {
            "type": "build",
            "uuid": s.uuid,
            "key": s.key,
            "refname": s.refname,
            "url": url,
            "state": s.state,
            "name": s.name,
            "description": s.description,
            "created_on": s.created_on,
            "updated_on": s.updated_on,
            "repository": self.repository(r, full=False),
            "commit": self.commit_ref(r, s.commit, 40),
            "links": {
                "self": _href(f"{base}/statuses/build/{quote(s.key, safe='')}"),
                "commit": _href(base),
            },
        }

    def report(self, rep: Report) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "report", "uuid": rep.uuid, "external_id": rep.external_id}
        for key in ("title", "details", "reporter", "link", "logo_url", "remote_link_enabled",
                    "report_type", "result", "data"):
            if key in rep.fields:
                out[key] = rep.fields[key]
        out.update(commit_hash=rep.commit, created_on=rep.created_on, updated_on=rep.updated_on)
        return out

    def annotation(self, a: Annotation) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "report_annotation", "uuid": a.uuid, "external_id": a.external_id}
        for key in ("annotation_type", "path", "line", "summary", "details", "result", "severity", "link"):
            if key in a.fields:
                out[key] = a.fields[key]
        out.update(created_on=a.created_on, updated_on=a.updated_on)
        return out

    def hook(self, h: Hook) -> dict[str, Any]:
        if h.subject_type == "repository":
            subject = self.repository(h.subject, full=False)
            self_link = f"{self.urls.api}/repositories/{h.subject.full_name}/hooks/{enc_uuid(h.uuid)}"
        else:
            subject = self.workspace(h.subject, full=False)
            self_link = f"{self.urls.api}/workspaces/{h.subject.slug}/hooks/{enc_uuid(h.uuid)}"
        return {
            "type": "webhook_subscription",
            "uuid": h.uuid,
            "url": h.url,
            "description": h.description,
            "subject_type": h.subject_type,
            "subject": subject,
            "active": h.active,
            "created_at": h.created_at,
            "events": list(h.events),
            "secret_set": h.secret_set,
            "skip_cert_verification": h.skip_cert_verification,
            "links": {"self": _href(self_link)},
        }
