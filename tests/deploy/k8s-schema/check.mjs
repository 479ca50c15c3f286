#!/usr/bin/env node
// check.mjs: offline check of rendered Kubernetes manifests (the output of
// `kubectl kustomize`), run by tests/deploy/k8s_test.sh.
//  1. Schema: every object is validated against the Kubernetes API schema
//     of its apiVersion/kind (the kubernetes-models package: types,
//     required fields, enums, formats); an unknown apiVersion/kind fails.
//     Those validators let unknown fields through, so each object is also
//     typed with the package's TypeScript interface and compiled with tsc,
//     whose excess-property check rejects any field the API does not have
//     (a misspelt `readinessprobe` would otherwise be silently ignored).
//  2. Policy (what issue 5 promises of these manifests): every pod runs
//     non-root with a read-only root filesystem and no privilege
//     escalation, every container has resource requests and limits, the
//     servers have health-check readiness and liveness probes (cddp-health,
//     which presents the pod's certificate), the worker Job is Indexed, the
//     replica counts agree with cddp-config, servers and workers run mutual
//     TLS with their certificates from Secrets (no plaintext anywhere), and
//     the NetworkPolicies of the servers, the workers and Prometheus cover
//     both ingress and egress.
//   node check.mjs RENDERED.yaml [--expect-gpu]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const args = process.argv.slice(2);
if (args.includes("--help") || args.length === 0) {
  console.log("usage: node check.mjs RENDERED.yaml [--expect-gpu]");
  process.exit(args.length ? 0 : 2);
}
const file = args.find((a) => !a.startsWith("--"));
const expectGpu = args.includes("--expect-gpu");
const errors = [];
const objects = [];
for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
  if (doc.errors.length) { errors.push(`YAML: ${doc.errors[0].message}`); continue; }
  const o = doc.toJS();
  if (o) objects.push(o);
}

// 1. Schema.
for (const o of objects) {
  const name = `${o.kind}/${o.metadata?.name}`;
  const [group, version] = String(o.apiVersion).includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
  const path = `kubernetes-models/${group ? `${group}/` : ""}${version}/${o.kind}`;
  let Model;
  try { Model = (await import(path))[o.kind]; } catch { Model = undefined; }
  if (!Model) { errors.push(`${name}: no schema for ${o.apiVersion} ${o.kind}`); continue; }
  try { new Model(o).validate(); } catch (e) { errors.push(`${name}: ${e.message}`); }
}

// 1b. Unknown fields: tsc in this script's folder (where node_modules is).
const modelPath = (o) => {
  const [g, v] = String(o.apiVersion).includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
  return `kubernetes-models/${g ? `${g}/` : ""}${v}/${o.kind}`;
};
{
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = mkdtempSync(join(here, "tsc-"));
  let ts = "", line = 1;
  const starts = [];
  objects.forEach((o, i) => {
    const body = `export const o${i}: import("${modelPath(o)}").I${o.kind} = ${JSON.stringify(o, null, 2)};\n`;
    starts.push(line);
    ts += body;
    line += body.split("\n").length - 1;
  });
  writeFileSync(join(dir, "objects.ts"), ts);
  try {
    execFileSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "--noEmit", "--strict",
      "--module", "esnext", "--moduleResolution", "node", "--target", "es2020", "--skipLibCheck",
      join(dir, "objects.ts")], { encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    for (const l of String(e.stdout).split("\n").filter((x) => x.includes("error TS"))) {
      const at = Number(l.match(/\((\d+),\d+\)/)?.[1] ?? 0);
      let i = starts.length - 1;
      while (i > 0 && starts[i] > at) i--;
      const o = objects[i];
      errors.push(`${o?.kind}/${o?.metadata?.name}: ${l.replace(/^.*error TS\d+: /, "")}`);
    }
    if (!String(e.stdout).includes("error TS")) errors.push(`tsc failed: ${e.stderr || e.message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// 2. Policy.
const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata?.name === name);
const podSpecs = objects
  .map((o) => [o, o.spec?.template?.spec])
  .filter(([, spec]) => spec);
for (const [o, spec] of podSpecs) {
  const name = `${o.kind}/${o.metadata.name}`;
  if (spec.securityContext?.runAsNonRoot !== true) errors.push(`${name}: pod not runAsNonRoot`);
  for (const c of spec.containers ?? []) {
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) errors.push(`${name}/${c.name}: root filesystem not read-only`);
    if (sc.allowPrivilegeEscalation !== false) errors.push(`${name}/${c.name}: privilege escalation allowed`);
    if (!c.resources?.requests || !c.resources?.limits) errors.push(`${name}/${c.name}: no resource requests/limits`);
  }
}
const config = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("cddp-config"))?.data ?? {};
const servers = find("StatefulSet", "cddp-server");
const workers = find("Job", "cddp-worker");
if (!servers || !workers) errors.push("StatefulSet/cddp-server or Job/cddp-worker missing");
else {
  const c = servers.spec.template.spec.containers[0];
  const health = (p) => p?.exec?.command?.[0] === "cddp-health";
  if (!health(c.readinessProbe) || !health(c.livenessProbe)) errors.push("cddp-server: no cddp-health readiness/liveness probes");
  for (const [name, o, prefix] of [["cddp-server", servers, "server-"], ["cddp-worker", workers, "worker-"]]) {
    const spec = o.spec.template.spec;
    const env = Object.fromEntries((spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
    if (env.CDDP_TLS_DIR !== "/certs") errors.push(`${name}: CDDP_TLS_DIR is not /certs`);
    if ("CDDP_PLAINTEXT" in env || "CDDP_PLAINTEXT" in config) errors.push(`${name}: CDDP_PLAINTEXT set`);
    if (/--plaintext/.test(`${config.CDDP_SERVER_FLAGS} ${config.CDDP_WORKER_FLAGS}`)) errors.push("cddp-config: --plaintext in the flags");
    const mount = spec.containers[0].volumeMounts?.find((m) => m.mountPath === "/certs");
    const volume = spec.volumes?.find((v) => v.name === mount?.name);
    const paths = (volume?.projected?.sources ?? []).flatMap((s) => (s.secret?.items ?? []).map((i) => i.path));
    const count = Number(name === "cddp-server" ? config.CDDP_NUM_SERVERS : config.CDDP_NUM_WORKERS);
    for (let i = 0; i < count; ++i) {
      for (const f of [`${prefix}${i}.crt`, `${prefix}${i}.key`]) {
        if (!paths.includes(f)) errors.push(`${name}: /certs has no ${f} from a Secret`);
      }
    }
    if (!paths.includes("ca.crt")) errors.push(`${name}: /certs has no ca.crt`);
    if (mount?.readOnly !== true) errors.push(`${name}: /certs not mounted read-only`);
  }
  if (String(servers.spec.replicas) !== config.CDDP_NUM_SERVERS)
    errors.push(`cddp-server replicas ${servers.spec.replicas} != CDDP_NUM_SERVERS ${config.CDDP_NUM_SERVERS}`);
  if (workers.spec.completionMode !== "Indexed") errors.push("cddp-worker: not an Indexed Job");
  if (String(workers.spec.completions) !== config.CDDP_NUM_WORKERS || workers.spec.parallelism !== workers.spec.completions)
    errors.push(`cddp-worker completions/parallelism ${workers.spec.completions}/${workers.spec.parallelism} != CDDP_NUM_WORKERS ${config.CDDP_NUM_WORKERS}`);
  if (!servers.spec.volumeClaimTemplates?.length) errors.push("cddp-server: no persistent volume for checkpoints");
  const gpu = workers.spec.template.spec.containers[0].resources?.limits?.["nvidia.com/gpu"];
  if (expectGpu && !gpu) errors.push("cddp-worker: no nvidia.com/gpu limit in the gpu overlay");
  if (!expectGpu && gpu) errors.push("cddp-worker: requests a GPU outside the gpu overlay");
}
for (const kind of ["PodDisruptionBudget", "NetworkPolicy", "Service"]) {
  if (!objects.some((o) => o.kind === kind)) errors.push(`no ${kind}`);
}
for (const name of ["cddp-server", "cddp-worker", "cddp-prometheus"]) {
  const types = find("NetworkPolicy", name)?.spec?.policyTypes ?? [];
  if (!types.includes("Ingress") || !types.includes("Egress"))
    errors.push(`NetworkPolicy/${name}: does not cover both Ingress and Egress`);
}

for (const e of errors) console.error(`  ${file}: ${e}`);
console.log(`${file}: ${objects.length} objects, ${errors.length} problems`);
process.exit(errors.length ? 1 : 0);
