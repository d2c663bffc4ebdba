"""tests/promql_names.py: the PromQL queries of Prometheus rule files (YAML)
and Grafana dashboards (JSON), for tests/scenario/ops_contrib.sh.

  promql_names.py names FILE...   one line "WHERE NAME" for each metric name
                                  a query uses ("WHERE -" when it uses none)
  promql_names.py rules FILE...   every query as a recording rule, Grafana
                                  variables replaced, for promtool check rules
  promql_names.py labels METRICS FILE...
                                  for each selector with label matchers, that
                                  a sample of METRICS (a /metrics text) has
                                  each label (job and instance aside: the
                                  scrape adds them), and each value a literal
                                  "=" matcher asks for; and that the labels of
                                  by/without/on/ignoring lists are the
                                  metrics' own (or le, job, instance, or made
                                  by label_replace): "ok: ..." or "FAIL: ..."
  promql_names.py selftest        check the name extraction on known queries

WHERE is FILE:PLACE, PLACE naming the rule or panel the query is in.  The
names are read off the query with a small lexer: strings, label matchers,
ranges and the label lists of by/without/on/ignoring/group_* are dropped;
an identifier followed by "(" is a function or an aggregation; keywords
and numbers are not names; what is left is a metric name.
"""
import json
import re
import sys

import yaml

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
            "ignoring", "group_left", "group_right", "inf", "nan"}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
LABELS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[[^\[\]]*\]")
LABEL_LIST = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
IDENT = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
GRAFANA_VAR = re.compile(r"\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*")


def grafana_plain(q):
    """A Grafana query as plain PromQL: interval variables become 5m, every
    other variable (inside a matcher's string) .*."""
    q = re.sub(r"\$\{?__(?:rate_interval|interval|range)\}?", "5m", q)
    return GRAFANA_VAR.sub(".*", q)


def template_promql(q):
    """The PromQL inside a Grafana variable query (label_values(SEL, L),
    query_result(Q)), or None when it has none."""
    q = q.strip()
    m = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_]\w*\s*\)", q, re.S)
    if m:
        return m.group(1)
    if re.fullmatch(r"label_values\(\s*[A-Za-z_]\w*\s*\)", q):
        return None
    m = re.fullmatch(r"query_result\((.*)\)", q, re.S)
    if m:
        return m.group(1)
    if re.match(r"(label_names|metrics)\(", q):
        return None
    return q


def names(q):
    """The metric names a PromQL query uses, in order, once each."""
    q = grafana_plain(q)
    hidden = "__name__" in q
    q = STRING.sub(" ", q)
    q = LABELS.sub(" ", q)
    q = RANGE.sub(" ", q)
    q = LABEL_LIST.sub(" ", q)
    out = ["__name__"] if hidden else []
    for m in IDENT.finditer(q):
        w = m.group(0)
        if re.match(r"\s*\(", q[m.end():]) or w.lower() in KEYWORDS:
            continue
        if w not in out:
            out.append(w)
    return out


def rule_queries(path):
    """(place, query) of every rule of a Prometheus rule file."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            yield "%s/%s" % (g.get("name"), r.get("alert") or r.get("record")), r["expr"]


def dashboard_queries(path):
    """(place, query) of every query of a Grafana dashboard: panel targets
    (rows' nested panels too), annotations, and query variables."""
    with open(path) as f:
        doc = json.load(f)

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(doc.get("panels", [])):
        for t in p.get("targets", []):
            if "expr" in t:
                yield "panel %r/%s" % (p.get("title"), t.get("refId")), t["expr"]
    for a in doc.get("annotations", {}).get("list", []):
        if "expr" in a:
            yield "annotation %r" % a.get("name"), a["expr"]
    for v in doc.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        q = template_promql(q or "")
        if q is not None:
            yield "variable %s" % v.get("name"), q


def queries(path):
    """(FILE:place, query) of a rule file or a dashboard, by its name."""
    src = dashboard_queries(path) if path.endswith(".json") else rule_queries(path)
    for place, q in src:
        yield "%s:%s" % (path, place), q


SELECTOR = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^{}]*)\}")
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# Labels Prometheus adds to every series it scrapes.
TARGET_LABELS = {"job", "instance"}
SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s")


def live_labels(path):
    """{metric: {label: {values}}} from a Prometheus text exposition."""
    out = {}
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line)
            if line.startswith("#") or not m:
                continue
            labels = out.setdefault(m.group(1), {})
            for k, _, v in MATCHER.findall(m.group(2) or ""):
                labels.setdefault(k, set()).add(v)
    return out


def cmd_labels(metrics, paths):
    live = live_labels(metrics)
    for p in paths:
        for where, q in queries(p):
            if all(n in live for n in names(q)):
                cmd_grouping(live, where, q)
            for name, body in SELECTOR.findall(STRING.sub(
                    lambda m: m.group(0).replace("{", "(").replace("}", ")"), q)):
                if name.lower() in KEYWORDS or name not in live:
                    continue    # keywords; unknown names: the names check
                for label, op, value in MATCHER.findall(body):
                    if label in TARGET_LABELS:
                        continue
                    have = live[name].get(label)
                    if have is None:
                        print("FAIL: %s: %s has no label %s" % (where, name, label))
                    elif op == "=" and "$" not in value and value not in have:
                        print("FAIL: %s: %s{%s=\"%s\"}: no such series (%s: %s)"
                              % (where, name, label, value, label, " ".join(sorted(have))))
                    else:
                        print("ok: %s{%s%s\"%s\"} matches live series (%s)"
                              % (name, label, op, value, where))


def replaced_labels(q):
    """The labels label_replace(V, "DST", ...) calls of a query make: the
    first string after the first argument (strings blanked to find it)."""
    out = set()
    blank = STRING.sub(lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', q)
    for m in re.finditer(r"\blabel_replace\s*\(", blank):
        depth, i = 0, m.end()
        while i < len(blank):
            c = blank[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == "," and depth == 0:
                break
            i += 1
        d = STRING.search(q, i)
        if d:
            out.add(d.group(0)[1:-1])
    return out


def grouping_labels(q):
    """The labels of a query's by/without/on/ignoring/group_* lists."""
    q = STRING.sub(" ", q)
    out = []
    for m in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)"
                         r"\s*\(([^()]*)\)", LABELS.sub(" ", q)):
        out += [w.strip() for w in m.group(1).split(",") if w.strip()]
    return out


def cmd_grouping(live, where, q):
    """That each label a query groups or matches on is one of its metrics'
    labels, a label the scrape adds, le, or one label_replace makes."""
    have = set(TARGET_LABELS) | {"le"}
    for n in names(q):
        for label in live.get(n, {}):
            have.add(label)
    have |= replaced_labels(q)
    for label in grouping_labels(q):
        if label in have:
            print("ok: grouping on %s (%s)" % (label, where))
        else:
            print("FAIL: %s: groups or matches on %s, which none of %s has"
                  % (where, label, " ".join(names(q))))


def cmd_names(paths):
    for p in paths:
        for where, q in queries(p):
            ns = names(q)
            for n in ns or ["-"]:
                print("%s\t%s" % (where, n))


def cmd_rules(paths):
    rules = []
    for p in paths:
        for i, (where, q) in enumerate(queries(p)):
            rules.append({"record": "contrib:query_%d" % (len(rules) + 1),
                          "expr": grafana_plain(q),
                          "labels": {"source": where.replace("'", "")}})
    yaml.safe_dump({"groups": [{"name": "contrib", "rules": rules}]},
                   sys.stdout, sort_keys=False)


SELFTEST = [
    ('sum by (le) (rate(a_bucket{job=~"$job", le!="x"}[$__rate_interval]))', ["a_bucket"]),
    ('sum(rate(b_total[5m])) by (route) / ignoring (kind) group_left(x) c', ["b_total", "c"]),
    ('histogram_quantile(0.99, sum by (instance, le) (rate(d[5m]))) > 0.005', ["d"]),
    ('label_replace(rate(e{code="5xx"}[5m]), "kind", "$1", "outcome", "([a-z]+).*")', ["e"]),
    ('f offset 5m and on (job, instance) g unless h > bool 1e3', ["f", "g", "h"]),
    ('max_over_time(i[1h:5m]) * 1000 - Inf', ["i"]),
    ('{__name__="j"}', ["__name__"]),
    ('vector(1)', []),
    ('sum without (instance) (k:recorded:rate5m)', ["k:recorded:rate5m"]),
]


def cmd_selftest():
    bad = 0
    for q, want in SELFTEST:
        got = names(q)
        if got != want:
            print("FAIL: names(%s): got %s, want %s" % (q, got, want))
            bad += 1
        else:
            print("ok: names(%s) = %s" % (q, " ".join(got) or "none"))
    for q, want in [("label_values(x{a=\"b\"}, instance)", 'x{a="b"}'),
                    ("label_values(instance)", None),
                    ("query_result(sum(y))", "sum(y)")]:
        got = template_promql(q)
        if got != want:
            print("FAIL: template_promql(%s): got %r, want %r" % (q, got, want))
            bad += 1
        else:
            print("ok: template_promql(%s) = %r" % (q, got))
    for q, want in [('sum by (kind) (label_replace(rate(x{code="5xx"}[5m]), "kind", "$1", "o", "(a)"))'
                     ' / ignoring (kind) group_left sum without (le, route) (y)',
                     (["kind", "kind", "le", "route"], {"kind"}))]:
        got = (grouping_labels(q), replaced_labels(q))
        if got != want:
            print("FAIL: grouping_labels, replaced_labels(%s): got %s, want %s" % (q, got, want))
            bad += 1
        else:
            print("ok: grouping_labels, replaced_labels(%s) = %s" % (q, got))
    return 1 if bad else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "selftest":
        sys.exit(cmd_selftest())
    if len(sys.argv) >= 4 and sys.argv[1] == "labels":
        cmd_labels(sys.argv[2], sys.argv[3:])
        return
    if len(sys.argv) < 3 or sys.argv[1] not in ("names", "rules"):
        sys.exit(__doc__)
    (cmd_names if sys.argv[1] == "names" else cmd_rules)(sys.argv[2:])


if __name__ == "__main__":
    main()
