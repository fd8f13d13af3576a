"""SARIF 2.1.0 output (bbreview.sarif)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from bbreview import __version__
from bbreview.rules import Rule, RuleSet
from bbreview.sarif import LEVELS, SARIF_VERSION, to_sarif, write_sarif

DIFF = """\
diff --git a/src/my client.py b/src/my client.py
index 83db48f..bf269f4 100644
--- a/src/my client.py
+++ b/src/my client.py
@@ -1,3 +1,5 @@
 import requests
-DEBUG_HOST = "localhost"
+resp = requests.get(url, verify=False)
+token = "ghp_FAKEu8jzPde0IgxLd6GncfBAepfJBd0KTEST"
+# TODO: retry
 x = 1
diff --git a/deploy/id_rsa b/deploy/id_rsa
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/deploy/id_rsa
@@ -0,0 +1 @@
+not really a key
"""
SECRET = "ghp_FAKEu8jzPde0IgxLd6GncfBAepfJBd0KTEST"

REMOVED_RULE = Rule(
    "local/removed-debug-host",
    "A debug host setting was removed; check that nothing still reads it.",
    r"DEBUG_HOST\s*=",
    scope="removed",
    severity="info",
)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.builtin() + RuleSet([REMOVED_RULE])


@pytest.fixture(scope="module")
def findings(rules):
    return rules.scan(DIFF)


@pytest.fixture(scope="module")
def log(rules, findings) -> dict:
    return to_sarif(findings, rules=rules)


def test_log_header_and_driver(log, rules):
    assert log["version"] == SARIF_VERSION == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "bbreview"
    assert driver["version"] == __version__
    assert run["columnKind"] == "unicodeCodePoints"
    assert [d["id"] for d in driver["rules"]] == rules.ids


def test_rule_descriptors_carry_metadata(log, rules):
    descriptors = {d["id"]: d for d in log["runs"][0]["tool"]["driver"]["rules"]}
    tls = descriptors["security/tls-verify-disabled"]
    rule = rules["security/tls-verify-disabled"]
    assert tls["defaultConfiguration"] == {"level": "error"}
    assert tls["shortDescription"]["text"].startswith("verify=False turns off TLS certificate checking")
    assert tls["fullDescription"]["text"] == " ".join(rule.message.split())
    assert tls["properties"]["category"] == "security"
    assert "security" in tls["properties"]["tags"]
    assert descriptors["hygiene/todo-without-ticket"]["defaultConfiguration"] == {"level": "note"}


def test_results_map_findings(log, findings):
    results = log["runs"][0]["results"]
    assert len(results) == len(findings)
    driver_rules = log["runs"][0]["tool"]["driver"]["rules"]
    for result, finding in zip(results, findings):
        assert result["ruleId"] == finding.rule_id
        assert driver_rules[result["ruleIndex"]]["id"] == finding.rule_id
        assert result["level"] == LEVELS[finding.severity]
        assert result["message"]["text"] == " ".join(finding.message.split())
        assert result["partialFingerprints"] == {"bbreview/v1": finding.fingerprint}
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_region_and_uri_of_a_line_finding(log):
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "security/tls-verify-disabled"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/my%20client.py"
    line = "resp = requests.get(url, verify=False)"
    start = line.index("verify=False") + 1
    assert location["region"] == {
        "startLine": 2,
        "startColumn": start,
        "endColumn": start + len("verify=False"),
        "snippet": {"text": "verify=False"},
    }
    assert result["level"] == "error"


def test_suggestion_becomes_a_fix(log):
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "security/tls-verify-disabled"]
    [fix] = result["fixes"]
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "src/my%20client.py"
    assert change["replacements"] == [
        {"deletedRegion": {"startLine": 2}, "insertedContent": {"text": "resp = requests.get(url, verify=True)"}}
    ]
    todo = [r for r in log["runs"][0]["results"] if r["ruleId"] == "hygiene/todo-without-ticket"]
    assert todo and "fixes" not in todo[0]
    assert todo[0]["level"] == "note"


def test_secrets_never_reach_the_log(log):
    text = json.dumps(log)
    assert SECRET not in text
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "secrets/github-token"]
    snippet = result["locations"][0]["physicalLocation"]["region"]["snippet"]["text"]
    assert snippet.startswith("ghp_") and set(snippet[4:]) == {"*"}


def test_path_finding_has_no_region(log):
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "secrets/key-file"]
    location = result["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "deploy/id_rsa", "uriBaseId": "%SRCROOT%"}}
    assert result["properties"]["side"] == "path"


def test_removed_line_finding_keeps_old_line_number(log):
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == REMOVED_RULE.id]
    assert result["properties"]["side"] == "old"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert "fixes" not in result


def test_findings_without_rule_list_get_descriptors(findings):
    log = to_sarif(findings)
    driver_rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert sorted(d["id"] for d in driver_rules) == sorted({f.rule_id for f in findings})
    for result in log["runs"][0]["results"]:
        assert driver_rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_empty_scan_is_a_valid_log(rules):
    log = to_sarif([], rules=rules)
    assert log["runs"][0]["results"] == []
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == len(rules)


@pytest.mark.parametrize(("severity", "level"), [("info", "note"), ("warning", "warning"), ("error", "error")])
def test_level_mapping(severity, level):
    finding = SimpleNamespace(
        rule_id="x/y", severity=severity, category="general", message="m", path="a.py", line=1, side="new",
        end_line=1, column_start=1, column_end=2, match="a", suggestion=None, fingerprint="f" * 32,
    )
    [result] = to_sarif([finding])["runs"][0]["results"]
    assert result["level"] == level


def test_unknown_severity_is_an_error():
    finding = SimpleNamespace(
        rule_id="x/y", severity="fatal", category="general", message="m", path="a.py", line=1, side="new",
        end_line=1, column_start=1, column_end=2, match="a", suggestion=None, fingerprint="f" * 32,
    )
    with pytest.raises(ValueError, match="unknown severity 'fatal'"):
        to_sarif([finding])


def test_write_sarif_writes_indented_utf8_json(findings, rules):
    buf = io.StringIO()
    write_sarif(findings, buf, rules=rules)
    text = buf.getvalue()
    assert text.endswith("}\n")
    assert json.loads(text) == to_sarif(findings, rules=rules)
