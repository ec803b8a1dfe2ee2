#!/usr/bin/env python3
"""An independent reader of Herald's metrics, for the tests.

    check_metrics.py SCRAPE [DASHBOARD ALERTS]

Parses SCRAPE (the text of one GET /metrics) with the Prometheus project's
own Python client, as OpenMetrics and as the Prometheus text format; with
DASHBOARD (a Grafana dashboard) and ALERTS (Prometheus alerting rules),
parses every PromQL expression in them and checks that each metric they
use is in the scrape. Prints what it found as JSON; exits 1 on any problem.
"""

import json
import sys

import promql_parser
import yaml
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

# Grafana's variables, as a query sent to Prometheus has them.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".+",
}


def parse_scrape(text):
    """The sample names of the scrape, read by both parsers; they must agree."""
    strict = {s.name for f in openmetrics_families(text) for s in f.samples}
    plain = {s.name for f in text_families(text) for s in f.samples}
    if strict != plain:
        raise ValueError(f"the two parsers disagree: {sorted(strict ^ plain)}")
    return strict


def dashboard_expressions(dashboard):
    """Every PromQL expression of a Grafana dashboard: its panels' targets
    (rows' panels too) and its query variables."""
    found = []

    def panels(items):
        for panel in items:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append(("panel " + panel["title"], target["expr"]))
            panels(panel.get("panels", []))

    panels(dashboard["panels"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query" and isinstance(query, dict):
            text = query["query"]
            # label_values(metric, label) names a metric, and is no PromQL.
            if text.startswith("label_values("):
                metric = text[len("label_values(") :].split(",")[0].strip()
                found.append(("variable " + variable["name"], metric))
            else:
                found.append(("variable " + variable["name"], text))
    return found


def alert_expressions(rules):
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for key in ("alert", "expr", "labels", "annotations"):
                if key not in rule:
                    raise ValueError(f"rule {rule} has no {key}")
            found.append(("alert " + rule["alert"], rule["expr"]))
    return found


def metric_names(expression):
    """The metric names a PromQL expression selects."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    names = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def main(argv):
    with open(argv[1]) as scrape:
        samples = parse_scrape(scrape.read())
    report = {"samples": sorted(samples), "used": {}, "missing": []}
    if len(argv) > 2:
        with open(argv[2]) as dashboard:
            expressions = dashboard_expressions(json.load(dashboard))
        with open(argv[3]) as rules:
            expressions += alert_expressions(yaml.safe_load(rules))
        for where, expression in expressions:
            for name in metric_names(expression):
                report["used"].setdefault(name, []).append(where)
                if name not in samples:
                    report["missing"].append(f"{name} ({where})")
    print(json.dumps(report, indent=1))
    return 1 if report["missing"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
