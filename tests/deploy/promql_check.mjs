#!/usr/bin/env node
// promql_check.mjs: evaluates every PromQL expression of Grafana dashboards
// and of the alerting rules a Prometheus server has loaded, through that
// server's HTTP API, and fails unless
//   - every dashboard panel target and template-variable query returns data
//     (a query naming a metric that no process exports returns none), and
//   - every alerting/recording rule evaluates without error, and the server
//     has loaded at least --expect-rules rules, all healthy.
// Used by prometheus_scrape_test.sh against a live local cluster.
//
//   node promql_check.mjs --prometheus=http://127.0.0.1:9090 [--time=UNIX]
//        [--rate-interval=15s] [--expect-rules=N] DASHBOARD.json...
//
// Grafana variables are substituted the way an "All" selection would:
// $__rate_interval / $__interval by --rate-interval, $__range by 5m, any
// other $var / ${var} / [[var]] by the regex .* (the dashboards only use
// variables inside =~ matchers).
import { readFileSync } from "node:fs";
import { basename } from "node:path";

function usage(code) {
  const text = readFileSync(new URL(import.meta.url), "utf8")
    .split("\n").slice(1, 17).map((l) => l.replace(/^\/\/ ?/, "")).join("\n");
  (code ? console.error : console.log)(text);
  process.exit(code);
}

const opts = { prometheus: "", time: "", "rate-interval": "15s", "expect-rules": "0" };
const files = [];
for (const arg of process.argv.slice(2)) {
  if (arg === "--help" || arg === "-h") usage(0);
  const m = arg.match(/^--([a-z-]+)=(.*)$/);
  if (m && m[1] in opts) opts[m[1]] = m[2];
  else if (arg.startsWith("--")) { console.error(`unknown flag ${arg}`); usage(2); }
  else files.push(arg);
}
if (!opts.prometheus) { console.error("--prometheus is required"); usage(2); }

function substitute(expr, rateInterval) {
  return expr
    .replaceAll(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}/g, rateInterval)
    .replaceAll(/\$__range|\$\{__range\}/g, "5m")
    .replaceAll(/\$\{(\w+)(:\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, ".*");
}

async function query(expr) {
  const params = new URLSearchParams({ query: expr });
  if (opts.time) params.set("time", opts.time);
  const res = await fetch(`${opts.prometheus}/api/v1/query`, {
    method: "POST", body: params,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  const body = await res.json().catch(() => ({ status: "error", error: `HTTP ${res.status}` }));
  if (body.status !== "success") return { error: `${body.errorType ?? ""} ${body.error ?? ""}`.trim() };
  const r = body.data.result;
  const n = Array.isArray(r) ? r.length : (r == null ? 0 : 1);  // scalar/string: one value
  return { count: n };
}

// Every panel (rows nest theirs) with its targets' expressions.
function* panelExprs(dashboard) {
  const walk = function* (panels) {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === "string" && t.expr.trim()) yield { title: p.title, ref: t.refId, expr: t.expr };
      }
      yield* walk(p.panels);
    }
  };
  yield* walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query?.query ?? "";
    // label_values(metric, label) is answered from series; ask the same.
    const m = q.match(/^label_values\((.+),\s*(\w+)\)$/);
    if (m) yield { title: `variable $${v.name}`, ref: "-", expr: `count by (${m[2]}) (${m[1]})` };
  }
}

const failures = [];
let checked = 0;
for (const file of files) {
  let dashboard;
  try { dashboard = JSON.parse(readFileSync(file, "utf8")); }
  catch (e) { failures.push(`${file}: not readable JSON: ${e.message}`); continue; }
  let panels = 0;
  for (const { title, ref, expr } of panelExprs(dashboard)) {
    const q = substitute(expr, opts["rate-interval"]);
    const r = await query(q);
    checked++; panels++;
    const where = `${basename(file)} / "${title}" [${ref}]`;
    if (r.error) failures.push(`${where}: query error: ${r.error}\n      ${q}`);
    else if (r.count === 0) failures.push(`${where}: no data (a metric no process exports?)\n      ${q}`);
    else console.log(`ok    ${where}: ${r.count} series`);
  }
  if (panels === 0) failures.push(`${file}: no panel expressions found`);
}

// The rules the server loaded (from the shipped rule file): evaluate each
// rule's query at the same time; an alert may well be empty, not an error.
const rules = await fetch(`${opts.prometheus}/api/v1/rules`).then((r) => r.json());
let ruleCount = 0;
for (const g of rules.data?.groups ?? []) {
  for (const rule of g.rules) {
    ruleCount++;
    const r = await query(rule.query);
    const where = `rule ${g.name}/${rule.name}`;
    if (r.error) failures.push(`${where}: query error: ${r.error}`);
    else if (rule.health !== "ok") failures.push(`${where}: health ${rule.health}: ${rule.lastError ?? ""}`);
    else console.log(`ok    ${where}: evaluates (${r.count} series${rule.state ? `, ${rule.state}` : ""})`);
  }
}
if (ruleCount < Number(opts["expect-rules"])) {
  failures.push(`Prometheus loaded ${ruleCount} rules, expected ${opts["expect-rules"]}`);
}

console.log(`\n${checked} dashboard queries and ${ruleCount} rules checked, ${failures.length} failed`);
for (const f of failures) console.error(`FAIL  ${f}`);
process.exit(failures.length ? 1 : 0);
