"""Rule scanning throughput: bbreview's RE2 engine against a pure-Python `re` loop and Hyperscan.

The input is real ``git log -p -M`` output of a generated repository, built the
way ``benchmarks/diff_parse.py`` builds it (its generator is reused), except
that a seeded planter writes the kind of lines review rules exist for into the
files: debug prints, TODOs, ``verify=False``, ``yaml.load``, plain ``http://``
URLs, fabricated tokens of many providers, notebook-style and ML code... at a
rate of about one line in PLANT_EVERY. The rules are the built-in packs plus
GITLEAKS_RULES, a gitleaks-format TOML of provider-token rules written by this
script and loaded with ``RuleSet.from_gitleaks``: more than 200 rules in all.

In one run, on that input, it measures:

  (a) bbreview  ``RuleSet.scan(patchset)``: one thread, the whole diff
      (findings built, redacted and fingerprinted; parsing is not timed).
      Also ``scan_many`` over the diff cut into commit-aligned chunks, on all cores.
  (b) re loop   the same rules, the same semantics (keyword prefilter, paths and
      languages, exclude, entropy, suppression comments, max_per_file), in pure
      Python with the standard ``re`` module: what a user would write. It runs
      on a slice (the first ``--slice-mb`` MiB, cut at a commit boundary)
      because it is slow; bbreview scans the same slice for the ratio, and
      the two finding lists must be identical.
  (c) Hyperscan the ``hyperscan`` PyPI package: every pattern of the same rules
      in one database, one block-mode scan over all added lines (joined by
      newlines, MULTILINE), counting match events. It only answers "which
      pattern matches where": no spans per line, no exclude/entropy/keyword
      logic. It is the speed limit for multi-pattern matching, not an
      equivalent tool.

Throughput is diff bytes per second (MiB = 2^20 bytes), best of ``--runs``.

    .venv/bin/python benchmarks/rules_scan.py            # 64 MiB diff, 8 MiB re slice
    .venv/bin/python benchmarks/rules_scan.py --quick    # 8 MiB, 1 MiB slice: a smoke test

Hyperscan: ``.venv/bin/python -m pip install hyperscan`` (skipped when absent).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import string
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diff_parse  # noqa: E402  (the sibling benchmark: its history generator)

MiB = 1 << 20

# Targets from the issue: bbreview at least 200x the pure-Python loop, within
# 3x of Hyperscan's time, and the same findings as the loop.
SPEED_VS_RE = 200.0
WITHIN_HYPERSCAN = 3.0
MIN_RULES = 200

DEFAULT_SIZE_MB = 64
DEFAULT_SLICE_MB = 8
QUICK_SIZE_MB = 8
QUICK_SLICE_MB = 1
SEED = 20240611
PLANT_EVERY = 250  # about one planted line per this many generated lines
CHUNKS = 32  # commit-aligned pieces for scan_many

WORK = Path(__file__).resolve().parent / ".work" / "rules_scan"  # gitignored


# --------------------------------------------------------------------------
# gitleaks-style rules (written here, loaded through RuleSet.from_gitleaks)
# --------------------------------------------------------------------------

_END = r"""(?:[\x60'"\s;]|\\[nr]|$)"""


def _semi(keywords: str, secret: str) -> str:
    """A gitleaks "semi-generic" rule: a secret assigned to a name containing a keyword."""
    return (r"""(?i)[\w.-]{0,50}?(?:""" + keywords + r""")(?:[ \t\w.-]{0,20})[\s'"]{0,3}"""
            r"""(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}(""" + secret + ")" + _END)


def _prefixed(secret: str, *, caseless: bool = False) -> str:
    """A rule for a token with a distinctive prefix."""
    return ("(?i)" if caseless else "") + r"\b(" + secret + ")" + _END


# (id, description, keywords, regex, entropy)
GITLEAKS_RULES: list[tuple[str, str, list[str], str, float | None]] = [
    ("adafruit-api-key", "Adafruit API key", ["adafruit"], _semi("adafruit", r"[a-z0-9_-]{32}"), None),
    ("adobe-client-id", "Adobe OAuth client id", ["adobe"], _semi("adobe", r"[a-f0-9]{32}"), 2.0),
    ("adobe-client-secret", "Adobe client secret", ["p8e-"], _prefixed(r"p8e-[a-z0-9]{32}", caseless=True), 2.0),
    ("age-secret-key", "age encryption secret key", ["AGE-SECRET-KEY-1"],
     r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", None),
    ("airtable-api-key", "Airtable API key", ["airtable"], _semi("airtable", r"[a-z0-9]{17}"), None),
    ("airtable-pat", "Airtable personal access token", ["airtable"],
     _semi("airtable", r"pat[a-zA-Z0-9]{14}\.[a-f0-9]{64}"), None),
    ("algolia-api-key", "Algolia API key", ["algolia"], _semi("algolia", r"[a-z0-9]{32}"), None),
    ("alibaba-access-key-id", "Alibaba Cloud AccessKey id", ["LTAI"], _prefixed(r"LTAI[a-z0-9]{20}", caseless=True),
     None),
    ("alibaba-secret-key", "Alibaba Cloud AccessKey secret", ["alibaba"], _semi("alibaba", r"[a-z0-9]{30}"), 2.0),
    ("artifactory-api-key", "JFrog Artifactory API key", ["AKCp"], _prefixed(r"AKCp[A-Za-z0-9]{69}"), 4.5),
    ("artifactory-reference-token", "JFrog Artifactory reference token", ["cmVmdGtu"],
     _prefixed(r"cmVmdGtu[A-Za-z0-9]{56}"), 4.5),
    ("asana-client-id", "Asana client id", ["asana"], _semi("asana", r"[0-9]{16}"), None),
    ("asana-client-secret", "Asana client secret", ["asana"], _semi("asana", r"[a-z0-9]{32}"), None),
    ("atlassian-api-token-semi", "Atlassian API token assigned to a Jira/Confluence name",
     ["atlassian", "confluence", "jira"], _semi("atlassian|confluence|jira", r"[a-z0-9]{20}[a-f0-9]{4}"), 3.5),
    ("authress-service-client-access-key", "Authress service client key", ["sc_", "ext_", "scauth_", "authress_"],
     _prefixed(r"(?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120}",
               caseless=True), 2.0),
    ("azure-devops-pat", "Azure DevOps personal access token", ["azure_devops", "azdo", "ado_pat"],
     _semi("azure_devops|azdo|ado_pat", r"[a-z0-9]{52}"), 3.0),
    ("azure-sas-signature", "Azure shared access signature", ["sig="], r"[?&]sig=[A-Za-z0-9%]{43,64}%3D", None),
    ("beamer-api-token", "Beamer API token", ["beamer"], _semi("beamer", r"b_[a-z0-9=_\-]{44}"), None),
    ("bitbucket-client-id", "Bitbucket OAuth consumer key", ["bitbucket"], _semi("bitbucket", r"[a-z0-9]{32}"), None),
    ("bitbucket-client-secret", "Bitbucket OAuth consumer secret", ["bitbucket"],
     _semi("bitbucket", r"[a-z0-9=_\-]{64}"), None),
    ("bittrex-access-key", "Bittrex access key", ["bittrex"], _semi("bittrex", r"[a-z0-9]{32}"), None),
    ("buildkite-agent-token", "Buildkite API token", ["bkua_"], _prefixed(r"bkua_[a-f0-9]{40}"), None),
    ("circleci-pat", "CircleCI personal API token", ["CCIPAT_"], _prefixed(r"CCIPAT_[a-zA-Z0-9]{22}_[a-f0-9]{40}"),
     None),
    ("clickhouse-cloud-api-secret", "ClickHouse Cloud API secret", ["4b1d"], _prefixed(r"4b1d[A-Za-z0-9]{38}"), 3.0),
    ("clojars-api-token", "Clojars deploy token", ["CLOJARS_"], r"(?i)CLOJARS_[a-z0-9]{60}", 2.0),
    ("cloudflare-api-key", "Cloudflare API key", ["cloudflare"], _semi("cloudflare", r"[a-z0-9_-]{40}"), 2.0),
    ("cloudflare-global-api-key", "Cloudflare global API key", ["cloudflare"], _semi("cloudflare", r"[a-f0-9]{37}"),
     2.0),
    ("cloudflare-origin-ca-key", "Cloudflare origin CA key", ["v1.0-"], _prefixed(r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
     2.0),
    ("codecov-access-token", "Codecov upload token", ["codecov"], _semi("codecov", r"[a-z0-9]{32}"), None),
    ("cohere-api-token", "Cohere API key", ["cohere", "co_api_key"], _semi("cohere|co_api_key", r"[a-zA-Z0-9]{40}"),
     4.0),
    ("coinbase-access-token", "Coinbase access token", ["coinbase"], _semi("coinbase", r"[a-z0-9_-]{64}"), None),
    ("confluent-access-token", "Confluent access token", ["confluent"], _semi("confluent", r"[a-z0-9]{16}"), None),
    ("confluent-secret-key", "Confluent secret key", ["confluent"], _semi("confluent", r"[a-z0-9]{64}"), None),
    ("contentful-delivery-api-token", "Contentful delivery API token", ["contentful"],
     _semi("contentful", r"[a-z0-9=_\-]{43}"), None),
    ("databricks-api-token", "Databricks API token", ["dapi"], _prefixed(r"dapi[a-f0-9]{32}(?:-\d)?"), 3.0),
    ("datadog-access-token", "Datadog access token", ["datadog"], _semi("datadog", r"[a-z0-9]{40}"), None),
    ("defined-networking-api-token", "Defined Networking API token", ["dnkey"],
     _semi("dnkey", r"dnkey-[a-z0-9=_\-]{26}-[a-z0-9=_\-]{52}"), None),
    ("digitalocean-access-token", "DigitalOcean OAuth access token", ["doo_v1_"], _prefixed(r"doo_v1_[a-f0-9]{64}"),
     3.0),
    ("digitalocean-pat", "DigitalOcean personal access token", ["dop_v1_"], _prefixed(r"dop_v1_[a-f0-9]{64}"), 3.0),
    ("digitalocean-refresh-token", "DigitalOcean OAuth refresh token", ["dor_v1_"],
     _prefixed(r"dor_v1_[a-f0-9]{64}", caseless=True), None),
    ("discord-api-token", "Discord API key", ["discord"], _semi("discord", r"[a-f0-9]{64}"), None),
    ("discord-client-id", "Discord client id", ["discord"], _semi("discord", r"[0-9]{18}"), 2.0),
    ("discord-client-secret", "Discord client secret", ["discord"], _semi("discord", r"[a-z0-9=_\-]{32}"), 2.0),
    ("discord-webhook-url", "Discord webhook URL", ["discord.com/api/webhooks", "discordapp.com/api/webhooks"],
     r"https://discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,70}", None),
    ("docker-hub-pat", "Docker Hub personal access token", ["dckr_pat_"], _prefixed(r"dckr_pat_[a-zA-Z0-9_-]{27}"),
     None),
    ("doppler-api-token", "Doppler API token", ["dp.pt."], _prefixed(r"dp\.pt\.[a-z0-9]{43}", caseless=True), 2.0),
    ("droneci-access-token", "Drone CI access token", ["droneci"], _semi("droneci", r"[a-z0-9]{32}"), None),
    ("dropbox-api-token", "Dropbox API secret", ["dropbox"], _semi("dropbox", r"[a-z0-9]{15}"), None),
    ("dropbox-long-lived-api-token", "Dropbox long-lived API token", ["dropbox"],
     _semi("dropbox", r"[a-z0-9]{11}(?:AAAAAAAAAA)[a-z0-9\-_=]{43}"), None),
    ("dropbox-short-lived-api-token", "Dropbox short-lived API token", ["dropbox"],
     _semi("dropbox", r"sl\.[a-z0-9\-=_]{135}"), None),
    ("duffel-api-token", "Duffel API token", ["duffel_"], r"duffel_(?:test|live)_(?i:[a-z0-9_\-=]{43})", 2.0),
    ("dynatrace-api-token", "Dynatrace API token", ["dt0c01."], r"dt0c01\.(?i:[a-z0-9]{24})\.(?i:[a-z0-9]{64})", 4.0),
    ("easypost-api-token", "EasyPost API token", ["EZAK"], r"\bEZAK(?i:[a-z0-9]{54})", 2.0),
    ("easypost-test-api-token", "EasyPost test API token", ["EZTK"], r"\bEZTK(?i:[a-z0-9]{54})", 2.0),
    ("etsy-access-token", "Etsy access token", ["etsy"], _semi("etsy", r"[a-z0-9]{24}"), 3.0),
    ("facebook-access-token", "Facebook access token", ["facebook"], _semi("facebook", r"[0-9]{15,16}\|[0-9a-z\-_]{27}"),
     None),
    ("facebook-page-access-token", "Facebook page access token", ["EAAM", "EAAC"],
     _prefixed(r"EAA[MC][a-zA-Z0-9]{100,}"), 4.0),
    ("facebook-secret", "Facebook application secret", ["facebook"], _semi("facebook", r"[a-f0-9]{32}"), 3.0),
    ("fastly-api-token", "Fastly API key", ["fastly"], _semi("fastly", r"[a-z0-9=_\-]{32}"), None),
    ("finicity-api-token", "Finicity API token", ["finicity"], _semi("finicity", r"[a-f0-9]{32}"), None),
    ("finicity-client-secret", "Finicity client secret", ["finicity"], _semi("finicity", r"[a-z0-9]{20}"), None),
    ("finnhub-access-token", "Finnhub access token", ["finnhub"], _semi("finnhub", r"[a-z0-9]{20}"), None),
    ("flickr-access-token", "Flickr access token", ["flickr"], _semi("flickr", r"[a-z0-9]{32}"), None),
    ("flutterwave-encryption-key", "Flutterwave encryption key", ["FLWSECK_TEST"],
     r"FLWSECK_TEST-(?i:[a-h0-9]{12})", 2.0),
    ("flutterwave-public-key", "Flutterwave public key", ["FLWPUBK_TEST"], r"FLWPUBK_TEST-(?i:[a-h0-9]{32})-X", 2.0),
    ("flutterwave-secret-key", "Flutterwave secret key", ["FLWSECK_TEST"], r"FLWSECK_TEST-(?i:[a-h0-9]{32})-X", 2.0),
    ("fly-io-access-token", "Fly.io access token", ["fo1_", "fm1", "fm2_"],
     _prefixed(r"fo1_[\w-]{43}|fm1[ar]_[a-zA-Z0-9+/]{100,}={0,3}|fm2_[a-zA-Z0-9+/]{100,}={0,3}"), 4.0),
    ("frameio-api-token", "Frame.io API token", ["fio-u-"], r"fio-u-(?i:[a-z0-9\-_=]{64})", None),
    ("freshbooks-access-token", "Freshbooks access token", ["freshbooks"], _semi("freshbooks", r"[a-z0-9]{64}"), None),
    ("gcp-oauth-access-token", "Google OAuth access token", ["ya29."], _prefixed(r"ya29\.[0-9A-Za-z_\-]{30,}"), None),
    ("gitlab-cicd-job-token", "GitLab CI/CD job token", ["glcbt-"],
     r"glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}", 3.0),
    ("gitlab-incoming-mail-token", "GitLab incoming mail token", ["glimt-"], r"glimt-[0-9a-zA-Z_\-]{25}", 3.0),
    ("gitlab-kubernetes-agent-token", "GitLab Kubernetes agent token", ["glagent-"], r"glagent-[0-9a-zA-Z_\-]{50}",
     3.0),
    ("gitlab-oauth-app-secret", "GitLab OAuth application secret", ["gloas-"], r"gloas-[0-9a-zA-Z_\-]{64}", 3.0),
    ("gitter-access-token", "Gitter access token", ["gitter"], _semi("gitter", r"[a-z0-9_-]{40}"), None),
    ("gocardless-api-token", "GoCardless API token", ["live_", "gocardless"],
     _semi("gocardless", r"live_(?i:[a-z0-9\-_=]{40})"), None),
    ("grafana-api-key", "Grafana API key", ["eyJrIjoi"], _prefixed(r"eyJrIjoi[A-Za-z0-9]{70,400}={0,3}", caseless=True),
     3.0),
    ("grafana-cloud-api-token", "Grafana Cloud API token", ["glc_"],
     _prefixed(r"glc_[A-Za-z0-9+/]{32,400}={0,3}", caseless=True), 3.0),
    ("grafana-service-account-token", "Grafana service account token", ["glsa_"],
     _prefixed(r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}", caseless=True), 3.0),
    ("groq-api-key", "Groq API key", ["gsk_"], _prefixed(r"gsk_[a-zA-Z0-9]{52}"), 3.0),
    ("harness-api-key", "Harness API key", ["pat.", "sat."],
     r"(?:pat|sat)\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{20}", None),
    ("hashicorp-tf-api-token", "Terraform Cloud API token", ["atlasv1"],
     r"(?i)[a-z0-9]{14}\.(?-i:atlasv1)\.[a-z0-9\-_=]{60,70}", 3.5),
    ("hashicorp-tf-password", "Terraform password in HCL", ["administrator_login_password", "password"],
     r"""(?i)[\w.-]{0,50}?(?:administrator_login_password|password)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}("[a-z0-9=_\-]{8,20}")""" + _END,
     2.0),
    ("heroku-api-key", "Heroku API key", ["heroku"], _semi("heroku",
     r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"), None),
    ("heroku-api-key-v2", "Heroku API key (v2)", ["HRKU-AA"], _prefixed(r"HRKU-AA[0-9a-zA-Z_-]{58}"), 4.0),
    ("hubspot-api-key", "HubSpot API key", ["hubspot"], _semi("hubspot",
     r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}"), None),
    ("huggingface-organization-api-token", "Hugging Face organisation token", ["api_org_"],
     _prefixed(r"api_org_[a-zA-Z]{34}"), 2.0),
    ("infracost-api-token", "Infracost API token", ["ico-"], _prefixed(r"ico-[a-zA-Z0-9]{32}"), 3.0),
    ("intercom-api-key", "Intercom API key", ["intercom"], _semi("intercom", r"[a-z0-9=_\-]{60}"), None),
    ("intra42-client-secret", "42 intra client secret", ["s-s4t2ud-", "s-s4t2af-"],
     _prefixed(r"s-s4t2(?:ud|af)-[abcdef0123456789]{64}"), 3.0),
    ("jfrog-identity-token", "JFrog identity token", ["jfrog", "artifactory", "bintray", "xray"],
     _semi("jfrog|artifactory|bintray|xray", r"[a-z0-9]{64}"), None),
    ("kraken-access-token", "Kraken access token", ["kraken"], _semi("kraken", r"[a-z0-9/=_+\-]{80,90}"), None),
    ("kucoin-access-token", "KuCoin access token", ["kucoin"], _semi("kucoin", r"[a-f0-9]{24}"), None),
    ("kucoin-secret-key", "KuCoin secret key", ["kucoin"], _semi("kucoin",
     r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), None),
    ("langsmith-api-key", "LangSmith API key", ["lsv2_"], _prefixed(r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"), None),
    ("launchdarkly-access-token", "LaunchDarkly access token", ["launchdarkly"],
     _semi("launchdarkly", r"[a-z0-9=_\-]{40}"), None),
    ("linear-api-key", "Linear API key", ["lin_api_"], r"lin_api_(?i:[a-z0-9]{40})", 2.0),
    ("linear-client-secret", "Linear client secret", ["linear"], _semi("linear", r"[a-f0-9]{32}"), 2.0),
    ("linkedin-client-secret", "LinkedIn client secret", ["linkedin", "linked-in"],
     _semi("linkedin|linked-in", r"[a-z0-9]{16}"), 2.0),
    ("lob-api-key", "Lob API key", ["test_", "live_"], _semi("lob", r"(?:live|test)_[a-f0-9]{35}"), None),
    ("mailchimp-api-key", "Mailchimp API key", ["mailchimp"], _semi("mailchimp", r"[a-f0-9]{32}-us\d\d?"), None),
    ("mailgun-private-api-token", "Mailgun private API token", ["mailgun"], _semi("mailgun", r"key-[a-f0-9]{32}"), None),
    ("mailgun-signing-key", "Mailgun webhook signing key", ["mailgun"],
     _semi("mailgun", r"[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}"), None),
    ("mapbox-api-token", "Mapbox access token", ["pk.eyJ"], _prefixed(r"pk\.eyJ[A-Za-z0-9_\-]{50,}\.[A-Za-z0-9_\-]{22}"),
     None),
    ("mattermost-access-token", "Mattermost access token", ["mattermost"], _semi("mattermost", r"[a-z0-9]{26}"), None),
    ("messagebird-api-token", "MessageBird API token", ["messagebird", "message-bird", "message_bird"],
     _semi("messagebird|message-bird|message_bird", r"[a-z0-9]{25}"), None),
    ("microsoft-teams-webhook", "Microsoft Teams incoming webhook", ["webhook.office.com", "webhookb2"],
     r"https://[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}@"
     r"[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}",
     None),
    ("mistral-api-key", "Mistral AI API key", ["mistral"], _semi("mistral", r"[a-zA-Z0-9]{32}"), 3.5),
    ("netlify-access-token", "Netlify access token", ["netlify"], _semi("netlify", r"[a-z0-9=_\-]{40,46}"), None),
    ("new-relic-browser-api-token", "New Relic browser token", ["NRJS-"], _prefixed(r"NRJS-[a-f0-9]{19}"), None),
    ("new-relic-insert-key", "New Relic insert key", ["NRII-"], _prefixed(r"NRII-[a-z0-9-]{32}", caseless=True), None),
    ("new-relic-user-api-key", "New Relic user API key", ["NRAK-"], _prefixed(r"NRAK-[a-z0-9]{27}", caseless=True),
     None),
    ("notion-api-token", "Notion integration token", ["ntn_"], _prefixed(r"ntn_[0-9]{11}[A-Za-z0-9]{35}"), 4.0),
    ("npm-access-token-semi", "npm token assigned to an npm name", ["npm"], _semi("npm", r"npm_[a-z0-9]{36}"), 2.0),
    ("nytimes-access-token", "New York Times API key", ["nytimes", "new-york-times", "newyorktimes"],
     _semi("nytimes|new-york-times|newyorktimes", r"[a-z0-9=_\-]{32}"), None),
    ("octopus-deploy-api-key", "Octopus Deploy API key", ["API-"], _prefixed(r"API-[A-Z0-9]{26}"), 3.0),
    ("okta-access-token", "Okta access token", ["okta"], _semi("okta", r"00[\w=\-]{40}"), 4.0),
    ("onepassword-secret-key", "1Password account secret key", ["A3-"],
     r"\bA3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}\b", 3.8),
    ("onepassword-service-account-token", "1Password service account token", ["ops_"],
     r"ops_eyJ[a-zA-Z0-9+/]{250,}={0,3}", 4.0),
    ("openshift-user-token", "OpenShift user token", ["sha256~"], _prefixed(r"sha256~[\w-]{43}"), 3.5),
    ("perplexity-api-key", "Perplexity API key", ["pplx-"], _prefixed(r"pplx-[a-zA-Z0-9]{48}"), 4.0),
    ("pinecone-api-key", "Pinecone API key", ["pcsk_"], _prefixed(r"pcsk_[a-zA-Z0-9_]{50,90}"), 3.5),
    ("plaid-api-token", "Plaid API token", ["plaid"], _semi("plaid",
     r"access-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), None),
    ("plaid-client-id", "Plaid client id", ["plaid"], _semi("plaid", r"[a-z0-9]{24}"), 3.5),
    ("plaid-secret-key", "Plaid secret", ["plaid"], _semi("plaid", r"[a-z0-9]{30}"), 3.5),
    ("planetscale-api-token", "PlanetScale API token", ["pscale_tkn_"],
     _prefixed(r"pscale_tkn_[\w=.-]{32,64}", caseless=True), 3.0),
    ("planetscale-oauth-token", "PlanetScale OAuth token", ["pscale_oauth_"],
     _prefixed(r"pscale_oauth_[\w=.-]{32,64}"), 3.0),
    ("planetscale-password", "PlanetScale password", ["pscale_pw_"], _prefixed(r"pscale_pw_[\w=.-]{32,64}",
     caseless=True), 3.0),
    ("posthog-personal-api-key", "PostHog personal API key", ["phx_"], _prefixed(r"phx_[a-zA-Z0-9_]{43}"), 3.0),
    ("posthog-project-api-key", "PostHog project API key", ["phc_"], _prefixed(r"phc_[a-zA-Z0-9_]{43}"), 3.0),
    ("postman-api-token", "Postman API token", ["PMAK-"], _prefixed(r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"), 3.0),
    ("prefect-api-token", "Prefect API token", ["pnu_"], _prefixed(r"pnu_[a-zA-Z0-9]{36}"), 2.0),
    ("pulumi-api-token", "Pulumi access token", ["pul-"], _prefixed(r"pul-[a-f0-9]{40}"), 2.0),
    ("rapidapi-access-token", "RapidAPI access token", ["rapidapi"], _semi("rapidapi", r"[a-z0-9_-]{50}"), None),
    ("readme-api-token", "ReadMe API token", ["rdme_"], _prefixed(r"rdme_[a-z0-9]{70}"), 2.0),
    ("render-api-key", "Render API key", ["rnd_"], _prefixed(r"rnd_[a-zA-Z0-9]{32}"), 3.0),
    ("replicate-api-token", "Replicate API token", ["r8_"], _prefixed(r"r8_[a-zA-Z0-9]{37}"), 3.0),
    ("rubygems-api-token", "RubyGems API token", ["rubygems_"], _prefixed(r"rubygems_[a-f0-9]{48}"), 2.0),
    ("scalingo-api-token", "Scalingo API token", ["tk-us-"], _prefixed(r"tk-us-[\w-]{48}"), 2.0),
    ("sendbird-access-id", "Sendbird access id", ["sendbird"], _semi("sendbird",
     r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), None),
    ("sendbird-access-token", "Sendbird access token", ["sendbird"], _semi("sendbird", r"[a-f0-9]{40}"), None),
    ("sendgrid-api-token", "SendGrid API key", ["SG."], _prefixed(r"SG\.[a-z0-9=_\-.]{66}", caseless=True), 2.0),
    ("sendinblue-api-token", "Brevo (Sendinblue) API key", ["xkeysib-"],
     _prefixed(r"xkeysib-[a-f0-9]{64}-[a-z0-9]{16}", caseless=True), 2.0),
    ("sentry-access-token", "Sentry access token", ["sentry"], _semi("sentry", r"[a-f0-9]{64}"), 3.0),
    ("sentry-org-token", "Sentry organisation token", ["sntrys_"], r"\bsntrys_eyJ[a-zA-Z0-9=_+/]{100,300}", 4.5),
    ("sentry-user-token", "Sentry user token", ["sntryu_"], _prefixed(r"sntryu_[a-f0-9]{64}"), 3.5),
    ("settlemint-application-access-token", "SettleMint application token", ["sm_aat_"],
     _prefixed(r"sm_aat_[a-zA-Z0-9]{16}"), 3.0),
    ("settlemint-personal-access-token", "SettleMint personal token", ["sm_pat_"], _prefixed(r"sm_pat_[a-zA-Z0-9]{16}"),
     3.0),
    ("settlemint-service-access-token", "SettleMint service token", ["sm_sat_"], _prefixed(r"sm_sat_[a-zA-Z0-9]{16}"),
     3.0),
    ("shippo-api-token", "Shippo API token", ["shippo_"], _prefixed(r"shippo_(?:live|test)_[a-fA-F0-9]{40}"), 2.0),
    ("shopify-access-token", "Shopify access token", ["shpat_"], r"shpat_[a-fA-F0-9]{32}", 2.0),
    ("shopify-custom-access-token", "Shopify custom app token", ["shpca_"], r"shpca_[a-fA-F0-9]{32}", 2.0),
    ("shopify-private-app-access-token", "Shopify private app token", ["shppa_"], r"shppa_[a-fA-F0-9]{32}", 2.0),
    ("shopify-shared-secret", "Shopify shared secret", ["shpss_"], r"shpss_[a-fA-F0-9]{32}", 2.0),
    ("sidekiq-secret", "Sidekiq Enterprise credentials", ["BUNDLE_ENTERPRISE__CONTRIBSYS__COM", "BUNDLE_GEMS__CONTRIBSYS__COM"],
     _semi("BUNDLE_ENTERPRISE__CONTRIBSYS__COM|BUNDLE_GEMS__CONTRIBSYS__COM", r"[a-f0-9]{8}:[a-f0-9]{8}"), None),
    ("slack-config-access-token", "Slack configuration access token", ["xoxe.xoxb-", "xoxe.xoxp-"],
     _prefixed(r"xoxe\.xox[bp]-\d-[A-Z0-9]{163,166}", caseless=True), 2.0),
    ("slack-config-refresh-token", "Slack configuration refresh token", ["xoxe-"],
     _prefixed(r"xoxe-\d-[A-Z0-9]{146}", caseless=True), 2.0),
    ("snyk-api-token", "Snyk API token", ["snyk"], _semi("snyk",
     r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), None),
    ("sonar-api-token", "SonarQube/SonarCloud token", ["squ_", "sqp_", "sqa_"],
     _prefixed(r"(?:squ|sqp|sqa)_[a-f0-9]{40}"), 3.0),
    ("square-access-token", "Square access token", ["sq0atp-", "EAAA"], _prefixed(r"(?:EAAA|sq0atp-)[\w-]{22,60}"), 2.0),
    ("square-secret", "Square application secret", ["sq0csp-"], _prefixed(r"sq0csp-[\w-]{43}"), 2.0),
    ("squarespace-access-token", "Squarespace access token", ["squarespace"], _semi("squarespace",
     r"[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}"), None),
    ("sumologic-access-id", "Sumo Logic access id", ["sumo"], _semi("sumo", r"su[a-zA-Z0-9]{12}"), 3.0),
    ("sumologic-access-token", "Sumo Logic access token", ["sumo"], _semi("sumo", r"[a-z0-9]{64}"), 3.0),
    ("supabase-service-key", "Supabase personal access token", ["sbp_"], _prefixed(r"sbp_[a-f0-9]{40}"), 3.0),
    ("telegram-bot-api-token", "Telegram bot token", ["telegr"], _semi("telegr", r"[0-9]{5,16}:A[a-z0-9_\-]{34}"), None),
    ("travisci-access-token", "Travis CI access token", ["travis"], _semi("travis", r"[a-z0-9]{22}"), None),
    ("trello-access-token", "Trello access token", ["trello"], _semi("trello", r"[a-zA-Z-0-9]{32}"), None),
    ("twilio-api-key", "Twilio API key", ["SK"], r"\bSK[0-9a-fA-F]{32}\b", 3.0),
    ("twitch-api-token", "Twitch API token", ["twitch"], _semi("twitch", r"[a-z0-9]{30}"), None),
    ("twitter-access-secret", "Twitter access secret", ["twitter"], _semi("twitter", r"[a-z0-9]{45}"), None),
    ("twitter-access-token", "Twitter access token", ["twitter"], _semi("twitter", r"[0-9]{15,25}-[a-zA-Z0-9]{20,40}"),
     None),
    ("twitter-api-key", "Twitter API key", ["twitter"], _semi("twitter", r"[a-z0-9]{25}"), None),
    ("twitter-bearer-token", "Twitter bearer token", ["twitter"], _semi("twitter", r"A{22}[a-zA-Z0-9%]{80,100}"), None),
    ("typeform-api-token", "Typeform API token", ["tfp_"], _semi("typeform", r"tfp_[a-z0-9\-_.=]{59}"), None),
    ("vault-batch-token", "HashiCorp Vault batch token", ["hvb."], _prefixed(r"hvb\.[\w-]{138,300}"), 4.0),
    ("vault-service-token", "HashiCorp Vault service token", ["hvs.", "s."],
     _prefixed(r"(?:hvs\.[\w-]{90,120}|s\.(?i:[a-z0-9]{24}))"), 3.5),
    ("vercel-access-token", "Vercel access token", ["vercel"], _semi("vercel", r"[a-z0-9]{24}"), 3.0),
    ("wandb-api-key", "Weights & Biases API key", ["wandb"], _semi("wandb", r"[a-f0-9]{40}"), 3.0),
    ("xai-api-key", "xAI API key", ["xai-"], _prefixed(r"xai-[a-zA-Z0-9]{80}"), 4.0),
    ("yandex-access-token", "Yandex access token", ["yandex"], _semi("yandex", r"t1\.[A-Z0-9a-z_-]+=*\.[A-Z0-9a-z_-]{86}=*"),
     None),
    ("yandex-api-key", "Yandex API key", ["yandex"], _semi("yandex", r"AQVN[A-Za-z0-9_\-]{35,38}"), None),
    ("yandex-aws-access-token", "Yandex AWS-style access token", ["yandex"], _semi("yandex", r"YC[a-zA-Z0-9_\-]{38}"),
     None),
    ("zendesk-secret-key", "Zendesk secret key", ["zendesk"], _semi("zendesk", r"[a-z0-9]{40}"), None),
]


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gitleaks_toml() -> str:
    """GITLEAKS_RULES in gitleaks' configuration format."""
    out = ['title = "bbreview benchmark: extra provider-token rules (gitleaks format)"', ""]
    for rule_id, description, keywords, regex, entropy in GITLEAKS_RULES:
        if "'''" in regex:
            raise ValueError(f"{rule_id}: a regex may not contain ''' in a TOML literal string")
        out += ["[[rules]]", f"id = {_toml_string(rule_id)}", f"description = {_toml_string(description)}",
                f"regex = '''{regex}'''"]
        if entropy is not None:
            out.append(f"entropy = {entropy}")
        out += ["keywords = [" + ", ".join(_toml_string(k) for k in keywords) + "]", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------
# The input: diff_parse's generated history, with planted findings
# --------------------------------------------------------------------------

B32 = string.ascii_uppercase + "234567"
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
HOSTS = ("api.payments.acme.io", "cdn.assets-mirror.net", "metrics.corp.example.org", "10.0.3.17:8080",
         "registry.internal.acme.io", "localhost:8000", "127.0.0.1:5000", "www.w3.org/2000/svg")


class Planter:
    """Lines of the kinds the rules look for, with fresh fabricated values."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _s(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def secret(self) -> str:
        r, s = self.rng, self._s
        return r.choice((
            lambda: f'aws_access_key_id = "AKIA{s(B32, 16)}"',
            lambda: f'"private_key_id": "{s(HEX, 40)}",',
            lambda: f'token = "ghp_{s(ALNUM, 36)}"',
            lambda: f"GITLAB_TOKEN: glpat-{s(ALNUM, 20)}",
            lambda: f'stripe.api_key = "sk_test_{s(ALNUM, 24)}"',
            lambda: f'SLACK_TOKEN = "xoxb-{s(string.digits, 10)}-{s(string.digits, 12)}-{s(ALNUM, 24)}"',
            lambda: f'OPENAI_API_KEY = "sk-proj-{s(ALNUM, 20)}T3BlbkFJ{s(ALNUM, 20)}"',
            lambda: f'API_TOKEN = "{s(ALNUM, 32)}"',
            lambda: f'client_secret: "{s(ALNUM + "-_", 40)}"',
            lambda: f'DATABASE_URL = "postgres://app:{s(ALNUM, 12)}@db.internal:5432/app"',
            lambda: f'password = "{s(ALNUM, 14)}"',
            lambda: f"SENDGRID_API_KEY=SG.{s(ALNUM, 22)}.{s(ALNUM, 43)}",
            lambda: f'DATABRICKS_TOKEN = "dapi{s(HEX, 32)}"',
            lambda: f'shopify_token = "shpat_{s(HEX, 32)}"',
            lambda: f"datadog_api_key = {s(HEX, 40)}",
            lambda: f'hf_token = "hf_{s(ALNUM, 34)}"',
            lambda: f'NEW_RELIC_KEY="NRAK-{s(B32, 27)}"',
            lambda: f'twilio_key = "SK{s(HEX, 32)}"',
            lambda: f"linear_key = lin_api_{s(ALNUM, 40)}",
        ))()

    def python(self, ident: str) -> str:
        r, s = self.rng, self._s
        if r.random() < 0.25:
            return "    " + self.secret()
        return r.choice((
            f"    print({ident})",
            f"    print({ident}, file=sys.stderr)",
            "    import pdb; pdb.set_trace()",
            "    breakpoint()",
            f"    resp = requests.get({ident}, verify=False)",
            f"    cfg = yaml.load({ident})",
            f"    cfg = yaml.load({ident}, Loader=yaml.SafeLoader)",
            f"    # TODO: revisit {ident}",
            f"    # TODO(PROJ-{r.randint(1, 9999)}): revisit {ident}",
            f"    # FIXME #{r.randint(1, 999)} {ident}",
            f'    url = "http://{r.choice(HOSTS)}/{ident}"',
            f"    subprocess.run({ident}, shell=True, check=True)",
            f'    os.system("rm -rf " + {ident})',
            f"    obj = pickle.load({ident})",
            f"    os.chmod({ident}, 0o777)",
            f'    cur.execute(f"SELECT * FROM {ident} WHERE id = {{key}}")',
            f'    cur.execute("SELECT * FROM {ident} WHERE id = %s", (key,))',
            f"    {ident} = {ident}.cuda()",
            '    device = torch.device("cuda")',
            "    x_test_scaled = scaler.fit_transform(X_test)",
            f"    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.{r.randint(1, 4)})",
            f'    df["{ident}"][df["{ident}"] < 0] = 0',
            f"    result = eval({ident})",
            f"    state = torch.load({ident})",
            f"    digest = hashlib.md5({ident}).hexdigest()",
            f"    print({ident})  # bbreview: ignore[hygiene/python-print]",
            "    # bbreview: ignore[security/tls-verify-disabled]",
            f"    {ident} = compute(" + ", ".join(f"{ident}_{i}" for i in range(r.randint(20, 30))) + ")",
            '<<<<<<< HEAD',
            '>>>>>>> feature/' + ident,
        ))

    def c(self, ident: str) -> str:
        r = self.rng
        if r.random() < 0.2:
            return '    static const char *k = "' + self.secret().replace('"', "'") + '";'
        return r.choice((
            f"    // TODO: {ident}",
            f"    /* FIXME {ident} */",
            f"    // TODO(ENG-{r.randint(1, 9999)}) {ident}",
            f'    const char *url = "http://{r.choice(HOSTS)}/{ident}";',
            f'    snprintf(q, sizeof q, "SELECT * FROM {ident} WHERE id = %d", id);',
            f"    chmod({ident}, 0777);",
            "<<<<<<< ours",
        ))

    def data(self, kind: str, ident: str) -> str:
        r, s = self.rng, self._s
        if kind == "json":
            return r.choice((
                f'  "{ident}_token": "{s(ALNUM, 32)}",',
                f'  "endpoint": "http://{r.choice(HOSTS)}/{ident}",',
                f'  "password": "{s(ALNUM, 10)}",',
                f'  "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJ{s(ALNUM, 30)}.{s(ALNUM + "-_", 43)}",',
                f'  "aws": "AKIA{s(B32, 16)}",',
            ))
        if kind == "yaml":
            return r.choice((
                f"  password: {s(ALNUM, 16)}",
                f"  url: http://{r.choice(HOSTS)}/{ident}",
                f"  token: ghp_{s(ALNUM, 36)}",
                f"  - curl -k https://{r.choice(HOSTS)}/{ident}",
                f"  datadog_api_key: {s(HEX, 40)}",
                f"  NODE_TLS_REJECT_UNAUTHORIZED: '0'",
            ))
        if kind == "sql":
            return r.choice((f"-- TODO: {ident}", f"-- TODO PROJ-{r.randint(1, 999)} {ident}"))
        return r.choice((  # markdown
            f"See http://{r.choice(HOSTS)}/{ident} for details.",
            f"<!-- TODO: {ident} -->",
            f"Set `API_TOKEN = \"{s(ALNUM, 32)}\"` in your environment.",
        ))

    def line(self, kind: str, ident: str) -> str:
        if kind == "py":
            return self.python(ident)
        if kind == "c":
            return self.c(ident)
        return self.data(kind, ident)


class PlantingWriter(diff_parse.Writer):
    """diff_parse's writer, replacing about one line in PLANT_EVERY by a planted one."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.planter = Planter(rng)

    def lines(self, kind: str, count: int) -> list[str]:
        out = super().lines(kind, count)
        for i in range(len(out)):
            if self.rng.random() * PLANT_EVERY < 1:
                out[i] = self.planter.line(kind, self._ident())
        return out


def build_history(work: Path, target_bytes: int, seed: int) -> tuple[Path, int]:
    """`git log -p -M` of a generated repository with planted findings, at least target_bytes long.

    The result is cached in `work` under a name made of the seed and size, so
    that later runs with the same arguments skip the build.
    """
    out = work / f"history-{seed}-{target_bytes}.diff"
    meta = out.with_suffix(".commits")
    if out.exists() and meta.exists():
        return out, int(meta.read_text())
    git_dir = work / f"repo-{seed}-{target_bytes}"
    if git_dir.exists():
        shutil.rmtree(git_dir)
    subprocess.run(["git", "init", "-q", "-b", "main", str(git_dir)], check=True, env=diff_parse.GIT_ENV)
    repo = diff_parse.Repo(random.Random(seed))
    repo.writer = PlantingWriter(repo.rng)
    batch = 50
    partial = out.with_suffix(".partial")
    while True:
        diff_parse._fast_import(git_dir, repo, batch)
        with open(partial, "wb") as fh:
            subprocess.run(["git", "log", "-p", "-M", "--no-color", "--no-ext-diff", "main"],
                           cwd=git_dir, stdout=fh, check=True, env=diff_parse.GIT_ENV)
        size = partial.stat().st_size
        if size >= target_bytes:
            break
        batch = max(10, int((target_bytes - size) / (size / repo.commits) * 1.05) + 1)
    partial.rename(out)
    meta.write_text(str(repo.commits))
    shutil.rmtree(git_dir)
    return out, repo.commits


def commit_chunks(data: bytes, count: int) -> list[bytes]:
    """`data` cut into about `count` pieces at commit boundaries."""
    step = max(1, len(data) // count)
    pieces, start = [], 0
    while start < len(data):
        cut = data.find(b"\ncommit ", start + step)
        end = len(data) if cut < 0 else cut + 1
        pieces.append(data[start:end])
        start = end
    return pieces


# --------------------------------------------------------------------------
# The pure-Python loop: the same rules and semantics with the `re` module
# --------------------------------------------------------------------------

# Extension -> languages, for the extensions the rules name (bbreview's own
# table is larger; the generated repository uses only a few of these).
LANGUAGE_OF_EXT = {
    "py": ("python",), "pyi": ("python",), "ipynb": ("notebook",), "js": ("javascript",), "mjs": ("javascript",),
    "cjs": ("javascript",), "jsx": ("javascript",), "ts": ("typescript",), "tsx": ("typescript",),
    "java": ("java",), "go": ("go",), "rs": ("rust",), "c": ("c",), "h": ("c", "cpp"), "cc": ("cpp",),
    "cpp": ("cpp",), "cxx": ("cpp",), "hpp": ("cpp",), "cs": ("csharp",), "rb": ("ruby",), "php": ("php",),
    "sh": ("shell",), "bash": ("shell",), "zsh": ("shell",), "yml": ("yaml",), "yaml": ("yaml",),
    "json": ("json",), "sql": ("sql",), "md": ("markdown",), "markdown": ("markdown",),
}


def languages_of(path: str) -> tuple[str, ...]:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0:
        return ()
    return LANGUAGE_OF_EXT.get(name[dot + 1 :].lower(), ())


def glob_to_regex(glob: str) -> str:
    """A gitignore-style glob as a Python regex over the whole path (see bbreview's rule docs)."""
    only_below = glob.endswith("/")
    body = glob.rstrip("/")
    anchored = "/" in body
    body = body.lstrip("/")
    out, i = [], 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("/**", i) and i + 3 == len(body):
            out.append("/.*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "[":
            close = body.index("]", i + 2 if body.startswith("[!", i) else i + 1)
            inner = body[i + 1 : close]
            out.append("[^" + inner[1:] + "]" if inner.startswith("!") else "[" + inner + "]")
            i = close + 1
        elif body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "/.*" if only_below else "(?:/.*)?"
    return prefix + "".join(out) + suffix


@dataclass
class PyRule:
    index: int
    id: str
    scope: str
    patterns: list[tuple[re.Pattern[str], int]]  # (regex, secret group)
    exclude: list[re.Pattern[str]]
    keywords: tuple[bytes, ...]
    entropy: float | None
    max_per_file: int
    include: list[re.Pattern[str]]
    exclude_paths: list[re.Pattern[str]]
    languages: frozenset[str]

    def applies(self, path: str) -> bool:
        if self.languages and not self.languages.intersection(languages_of(path)):
            return False
        if self.include and not any(g.fullmatch(path) for g in self.include):
            return False
        return not any(g.fullmatch(path) for g in self.exclude_paths)


def _group_index(regex: re.Pattern[str], spec: object) -> int:
    if spec in (None, ""):
        return 1 if regex.groups >= 1 else 0
    if isinstance(spec, int) or str(spec).isdigit():
        return int(spec)  # type: ignore[arg-type]
    return regex.groupindex[str(spec)]


def python_rules(ruleset: Iterable[object]) -> list[PyRule]:
    """The rules of a bbreview RuleSet, compiled for the `re` module.

    RE2's \\w, \\d, \\s and \\b are ASCII-only, hence re.ASCII.
    """
    out = []
    for index, rule in enumerate(ruleset):
        patterns = []
        for p in rule.patterns:  # type: ignore[attr-defined]
            regex = re.compile(p, re.ASCII)
            patterns.append((regex, _group_index(regex, rule.entropy_group)))  # type: ignore[attr-defined]
        include = [re.compile(glob_to_regex(g)) for g in rule.paths if not g.startswith("!")]  # type: ignore[attr-defined]
        excl = [re.compile(glob_to_regex(g[1:])) for g in rule.paths if g.startswith("!")]  # type: ignore[attr-defined]
        out.append(PyRule(
            index=index, id=rule.id, scope=rule.scope, patterns=patterns,  # type: ignore[attr-defined]
            exclude=[re.compile(p, re.ASCII) for p in rule.exclude],  # type: ignore[attr-defined]
            keywords=tuple(k.lower().encode() for k in rule.keywords),  # type: ignore[attr-defined]
            entropy=rule.entropy, max_per_file=rule.max_per_file or 0,  # type: ignore[attr-defined]
            include=include, exclude_paths=excl, languages=frozenset(rule.languages),  # type: ignore[attr-defined]
        ))
    return out


SUPPRESS = re.compile(r"bbreview:[ \t]*ignore(?:\[([^\]]*)\]|(?![A-Za-z0-9_-]))")


def suppressed_ids(line: str) -> tuple[bool, set[str]]:
    everything, ids = False, set()
    for m in SUPPRESS.finditer(line):
        if m.group(1) is None:
            everything = True
        else:
            ids.update(x for x in re.split(r"[,\s]+", m.group(1)) if x)
    return everything, ids


def entropy_bits(text: str) -> float:
    data = text.encode("utf-8", "surrogateescape")
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def python_scan(rules: list[PyRule], files: list[tuple[str, list[tuple[int, str, str | None]]]],
                ) -> list[tuple[str, str, int, int, int]]:
    """Findings (rule id, path, line, column start, column end) of `rules` over added lines.

    `files` holds, per file diff, its path and its added lines as (new line
    number, content, the line just above on the new side or None). Semantics
    follow bbreview's engine: a rule runs on a line when one of its keywords
    occurs (ASCII case-insensitive) and a pattern matches; exclude patterns
    veto the line; suppression comments on the line or the one above; every
    non-overlapping match of each pattern, in pattern order; entropy on the
    secret group; at most max_per_file per file.
    """
    findings: list[tuple[str, str, int, int, int]] = []
    path_rules = [r for r in rules if r.scope == "path"]
    line_rules = [r for r in rules if r.scope == "added"]
    for path, lines in files:
        counts = [0] * len(rules)
        for rule in path_rules:
            if rule.applies(path):
                _scan_line(rule, path, path, None, 0, counts, findings, suppress=False)
        active = [r for r in line_rules if r.applies(path)]
        if not active:
            continue
        for number, text, previous in lines:
            low = text.encode("utf-8", "surrogateescape").lower()
            for rule in active:
                if rule.keywords and not any(k in low for k in rule.keywords):
                    continue
                _scan_line(rule, path, text, previous, number, counts, findings, suppress=True)
    return findings


def _scan_line(rule: PyRule, path: str, text: str, previous: str | None, number: int, counts: list[int],
               findings: list[tuple[str, str, int, int, int]], *, suppress: bool) -> None:
    matching = [(p, g) for p, g in rule.patterns if p.search(text)]
    if not matching:
        return
    if rule.max_per_file and counts[rule.index] >= rule.max_per_file:
        return
    if any(e.search(text) for e in rule.exclude):
        return
    if suppress:
        for line in (text, previous) if previous is not None else (text,):
            everything, ids = suppressed_ids(line)
            if everything or rule.id in ids:
                return
    spans: list[tuple[int, int]] = []
    for regex, group in matching:
        for m in regex.finditer(text):
            if rule.max_per_file and counts[rule.index] >= rule.max_per_file:
                break
            begin, end = m.span()
            if any((begin < e and b < end) or begin == b for b, e in spans):
                continue
            if rule.entropy is not None:
                secret = m.group(group)
                if secret is None or entropy_bits(secret) < rule.entropy:
                    continue
            spans.append((begin, end))
            counts[rule.index] += 1
            findings.append((rule.id, path, number, begin + 1, end + 1))


def added_lines(ps: object) -> list[tuple[str, list[tuple[int, str, str | None]]]]:
    """Per file: path and added lines with the line above on the new side (for suppression comments)."""
    files = []
    for f in ps:  # type: ignore[attr-defined]
        if f.path is None:
            continue
        rows = []
        for hunk in f.hunks:
            previous: str | None = None
            for line in hunk.lines:
                if line.kind == "+":
                    rows.append((line.new_lineno, line.content, previous))
                if line.kind != "-":
                    previous = line.content
        files.append((f.path, rows))
    return files


# --------------------------------------------------------------------------
# Hyperscan: the multi-pattern matching speed limit
# --------------------------------------------------------------------------


def hyperscan_database(rules: Iterable[object]) -> tuple[object, int, int, int]:
    """(database, patterns, compiled as prefilter, skipped) for every added-scope pattern."""
    import hyperscan

    exprs: list[bytes] = []
    flags: list[int] = []
    prefilter = skipped = 0
    base = hyperscan.HS_FLAG_MULTILINE | hyperscan.HS_FLAG_ALLOWEMPTY
    for rule in rules:
        if rule.scope != "added":  # type: ignore[attr-defined]
            continue
        for p in rule.patterns:  # type: ignore[attr-defined]
            # Lines are joined by "\n" for one scan: keep negated classes inside a line.
            expr = re.sub(r"(?<!\\)\[\^", r"[^\\n", p).encode()
            for extra in (0, hyperscan.HS_FLAG_PREFILTER):
                try:
                    probe = hyperscan.Database()
                    probe.compile(expressions=[expr], flags=[base | extra])
                except hyperscan.error:
                    continue
                exprs.append(expr)
                flags.append(base | extra)
                prefilter += bool(extra)
                break
            else:
                skipped += 1
    db = hyperscan.Database()
    db.compile(expressions=exprs, ids=list(range(len(exprs))), flags=flags)
    return db, len(exprs), prefilter, skipped


def hyperscan_scan(db: object, buffer: bytes) -> int:
    events = 0

    def on_match(pattern_id: int, start: int, end: int, flags: int, context: object) -> None:
        nonlocal events
        events += 1

    db.scan(buffer, match_event_handler=on_match)  # type: ignore[attr-defined]
    return events


# --------------------------------------------------------------------------
# Measurement and report
# --------------------------------------------------------------------------


def best_time(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _mib(n: float) -> str:
    return f"{n / MiB:,.1f} MiB"


def key_of(finding: object) -> tuple[str, str, int, int, int]:
    f = finding
    return (f.rule_id, f.path, f.line, f.column_start, f.column_end)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, help=f"diff size to build, MiB (default {DEFAULT_SIZE_MB})")
    ap.add_argument("--slice-mb", type=float, help=f"slice for the re loop (default {DEFAULT_SLICE_MB})")
    ap.add_argument("--runs", type=int, help="runs per measurement; the best is reported (default 3)")
    ap.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_SIZE_MB} MiB, {QUICK_SLICE_MB} MiB slice")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--max-mem-mb", type=int,
                    help="RE2 memory budget of the rule set, MiB (default: bbreview's DEFAULT_MAX_MEM)")
    args = ap.parse_args(argv)
    size_mb = args.size_mb or (QUICK_SIZE_MB if args.quick else DEFAULT_SIZE_MB)
    slice_mb = args.slice_mb or (QUICK_SLICE_MB if args.quick else DEFAULT_SLICE_MB)
    runs = args.runs or (1 if args.quick else 3)
    if shutil.which("git") is None:
        print("git is not on PATH", file=sys.stderr)
        return 2

    import bbreview
    from bbreview.rules import DEFAULT_MAX_MEM, RuleSet

    max_mem = args.max_mem_mb * MiB if args.max_mem_mb else DEFAULT_MAX_MEM

    WORK.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    path, commits = build_history(WORK, int(size_mb * MiB), args.seed)
    built = time.perf_counter() - t0
    toml = WORK / "gitleaks_extra.toml"
    toml.write_text(gitleaks_toml())
    data = path.read_bytes()
    size = len(data)
    cut = diff_parse.slice_at_commit(data, int(slice_mb * MiB))

    builtin = RuleSet.builtin(max_mem=max_mem)
    extra = RuleSet.from_gitleaks(toml, max_mem=max_mem)
    rules = builtin + extra
    ps = bbreview.parse_diff(data)
    part = bbreview.parse_diff(data[:cut])
    added_bytes = sum(len(line.content_bytes) for f in ps for h in f.hunks for line in h.lines if line.kind == "+")
    print(f"input: `git log -p -M` of a generated repository with planted findings: {commits} commits, "
          f"{len(ps):,} file diffs, {ps.added:,} added lines ({_mib(added_bytes)} of added text), "
          f"{_mib(size)} ({size:,} bytes); {'reused' if built < 1 else f'built in {built:.1f} s'}")
    print(f"rules: {len(rules)} = {len(builtin)} built-in ({', '.join(sorted({r.id.split('/')[0] for r in builtin}))}) "
          f"+ {len(extra)} gitleaks-format rules from {toml.relative_to(Path.cwd()) if toml.is_relative_to(Path.cwd()) else toml}; "
          f"{sum(len(r.patterns) for r in rules)} patterns; max_mem {max_mem // MiB} MiB"
          f"{' (--max-mem-mb)' if args.max_mem_mb else ' (the default)'}")
    print(f"slice: the re loop (and bbreview again, for the equal-input ratio) reads the first {_mib(cut)}, "
          f"cut at a commit boundary: {len(part):,} file diffs, {part.added:,} added lines")
    print(f"time: best of {runs} run(s); throughput is diff bytes per second; MiB = 2^20 bytes")
    print()

    rows: list[tuple[str, str, float, float, str]] = []  # tool, input, seconds, MiB/s, note

    full_s, full_findings = best_time(lambda: rules.scan(ps), runs)
    rows.append(("bbreview scan", _mib(size), full_s, size / MiB / full_s, f"{len(full_findings):,} findings"))

    chunks = [bbreview.parse_diff(c) for c in commit_chunks(data, CHUNKS)]
    many_s, many = best_time(lambda: rules.scan_many(chunks), runs)
    many_count = sum(len(x) for x in many)
    rows.append(("bbreview scan_many", _mib(size), many_s, size / MiB / many_s,
                 f"{many_count:,} findings; {len(chunks)} chunks on {os.cpu_count()} CPUs"))

    slice_s, slice_findings = best_time(lambda: rules.scan(part), runs)
    rows.append(("bbreview scan (slice)", _mib(cut), slice_s, cut / MiB / slice_s,
                 f"{len(slice_findings):,} findings"))

    py_rules = python_rules(rules)
    files = added_lines(part)
    re_s, re_findings = best_time(lambda: python_scan(py_rules, files), 1)
    rows.append(("python re loop (slice)", _mib(cut), re_s, cut / MiB / re_s, f"{len(re_findings):,} findings; 1 run"))

    hs_s = None
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        print("hyperscan is not installed: `.venv/bin/python -m pip install hyperscan`; skipping it\n")
    else:
        db, n_patterns, n_prefilter, n_skipped = hyperscan_database(rules)
        buffer = b"\n".join(line.content_bytes for f in ps for h in f.hunks for line in h.lines if line.kind == "+")
        hs_s, events = best_time(lambda: hyperscan_scan(db, buffer), runs)
        note = f"{events:,} match events; {n_patterns} patterns"
        if n_prefilter or n_skipped:
            note += f" ({n_prefilter} as prefilter, {n_skipped} unsupported)"
        rows.append(("hyperscan (added lines)", _mib(size), hs_s, size / MiB / hs_s, note))

    head = f"{'tool':<26}{'input':>11}{'best time':>12}{'MiB/s':>11}  note"
    print(head)
    print("-" * len(head))
    for tool, inp, secs, rate, note in rows:
        print(f"{tool:<26}{inp:>11}{secs:>10.3f} s{rate:>11,.1f}  {note}")
    print()

    ours = Counter(key_of(f) for f in slice_findings)
    theirs = Counter(re_findings)
    same = ours == theirs
    print(f"check: bbreview and the re loop on the slice: {len(slice_findings):,} vs {len(re_findings):,} findings; "
          f"(rule, path, line, columns) multisets {'identical' if same else 'DIFFER'}")
    if not same:
        only_ours = list((ours - theirs).elements())[:5]
        only_theirs = list((theirs - ours).elements())[:5]
        print(f"  only bbreview: {only_ours}\n  only re loop: {only_theirs}")
    same_many = sorted(key_of(f) for x in many for f in x) == sorted(key_of(f) for f in full_findings)
    print(f"check: scan_many over {len(chunks)} chunks vs scan of the whole diff: "
          f"{'identical' if same_many else 'DIFFER'} findings")
    by_pack = Counter(f.rule_id.split("/")[0] if "/" in f.rule_id else "gitleaks" for f in full_findings)
    print(f"findings on the whole diff by pack: {dict(sorted(by_pack.items()))}")
    print()

    speed_re = re_s / slice_s
    print("targets")
    print(f"  rules: {len(rules)}   target >= {MIN_RULES}   {verdict(len(rules) >= MIN_RULES)}")
    print(f"  bbreview vs python re loop (same {_mib(cut)} slice): {speed_re:,.0f}x   target >= {SPEED_VS_RE:.0f}x   "
          f"{verdict(speed_re >= SPEED_VS_RE)}")
    if hs_s is not None:
        vs_hs = full_s / hs_s
        print(f"  bbreview time / hyperscan time (whole diff): {vs_hs:.2f}x   target <= {WITHIN_HYPERSCAN:.0f}x   "
              f"{verdict(vs_hs <= WITHIN_HYPERSCAN)}")
    else:
        print("  bbreview vs hyperscan: not measured (hyperscan missing)")
    print(f"  identical findings to the re loop: {'yes' if same else 'no'}   {verdict(same)}")
    return 0 if same and same_many else 1


if __name__ == "__main__":
    sys.exit(main())
